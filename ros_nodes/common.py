"""What the neuroq nodes share: QoS profiles, topic names, parameter and diagnostics helpers.

QoS, chosen for a control loop:
- Sensor streams (`joint_states`): best effort, keep last 1. A late reading is worth
  nothing once a newer one exists; retransmitting it would only add delay.
- Commands (`action`, `joint_commands`, `cmd_vel`): reliable, keep last 10. Each command
  answers one reading; losing one silently would stall or jolt the loop.
- `episode_return`: reliable, transient local, keep last 10: infrequent events that a
  monitor started late still wants (it receives the last 10 on joining).
- `/diagnostics`: reliable, keep last 10.
"""

from __future__ import annotations

import gc
import os
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

# Topic names, relative so that namespaces and remappings apply.
TOPIC_JOINT_STATES = "joint_states"
TOPIC_ACTION = "action"
TOPIC_JOINT_COMMANDS = "joint_commands"
TOPIC_CMD_VEL = "cmd_vel"
TOPIC_EPISODE_RETURN = "episode_return"
TOPIC_DIAGNOSTICS = "/diagnostics"

COMMAND_QUEUE_DEPTH = 10
SENSOR_QUEUE_DEPTH = 1


def sensor_qos(depth: int = SENSOR_QUEUE_DEPTH) -> QoSProfile:
    """Best effort, keep last `depth`: for sensor streams."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def command_qos(depth: int = COMMAND_QUEUE_DEPTH) -> QoSProfile:
    """Reliable, keep last `depth`: for commands, returns and diagnostics."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos(depth: int = COMMAND_QUEUE_DEPTH) -> QoSProfile:
    """Reliable, transient local, keep last `depth`: late joiners get the last `depth`."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def stamp_ns(stamp: Any) -> int:
    """A builtin_interfaces/Time as integer nanoseconds (the key that pairs messages)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def set_stamp(stamp: Any, ns: int) -> None:
    """Write integer nanoseconds into a builtin_interfaces/Time in place (no new message)."""
    stamp.sec, stamp.nanosec = divmod(int(ns), 1_000_000_000)


def describe(text: str, *, read_only: bool = True, int_range: tuple[int, int] | None = None,
             float_range: tuple[float, float] | None = None,
             choices: Sequence[str] | None = None) -> ParameterDescriptor:
    """A parameter descriptor: description, read-only flag and an optional range or set of
    choices (stated in `additional_constraints`; `check_choice` enforces it)."""
    desc = ParameterDescriptor(description=text, read_only=read_only)
    if choices is not None:
        desc.additional_constraints = f"one of: {', '.join(choices)}"
    if int_range is not None:
        desc.integer_range = [IntegerRange(from_value=int_range[0], to_value=int_range[1],
                                           step=1)]
    if float_range is not None:
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(float_range[0]), to_value=float(float_range[1]), step=0.0)]
    return desc


def declare(node: Node, name: str, default: Any, text: str, **kwargs: Any) -> Any:
    """Declare a parameter with a descriptor and return its value (override or default)."""
    return node.declare_parameter(name, default, describe(text, **kwargs)).value


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """Return `value` if it is one of `choices`, else raise ValueError naming them."""
    if value not in choices:
        raise ValueError(f"parameter {name} must be one of {list(choices)}, got {value!r}")
    return value


def diagnostic_array(node: Node, level: bytes, message: str, hardware_id: str,
                     values: dict[str, Any]) -> DiagnosticArray:
    """One DiagnosticStatus named after the node, with `values` as key/value strings."""
    status = DiagnosticStatus(
        level=level, name=f"neuroq: {node.get_fully_qualified_name()}", message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=_fmt(v)) for k, v in values.items()])
    out = DiagnosticArray(status=[status])
    out.header.stamp = node.get_clock().now().to_msg()
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


LEVEL_OK = DiagnosticStatus.OK
LEVEL_WARN = DiagnosticStatus.WARN
LEVEL_ERROR = DiagnosticStatus.ERROR


#: At most one throttled log line per this many seconds.
LOG_THROTTLE_S = 1.0


class ThrottledLog:
    """At most one line per `period_s` from a node's logger.

    rclpy's own throttle inspects the caller's frames on every call (about 0.5 ms): too slow
    for something that can happen every control period or under a flood of bad input, so
    the throttling happens here, before rclpy is called.
    """

    def __init__(self, logger: Any, period_s: float = LOG_THROTTLE_S) -> None:
        self._logger = logger
        self._period_s = period_s
        self._last_s = -period_s

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last_s < self._period_s:
            return False
        self._last_s = now
        return True

    def warning(self, text: str) -> None:
        if self._due():
            self._logger.warning(text)

    def info(self, text: str) -> None:
        if self._due():
            self._logger.info(text)


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive now out of the garbage collector's reach.

    A node imports numpy, rclpy, the backend and its messages: tens of thousands of objects
    that live as long as the process. A full collection walks all of them (about 10-20 ms
    here), and one can fall in the middle of a control period. `gc.freeze()` parks them in
    a permanent generation, so later collections walk only what the loop itself allocates.
    """
    gc.collect()
    gc.freeze()


#: Linux PM QoS device. While a process keeps it open after writing a 32-bit integer N, no
#: CPU enters an idle state that takes more than N microseconds to leave (kernel
#: documentation, Documentation/power/pm_qos_interface.rst); closing it (or exiting) drops
#: the request. cyclictest holds 0 by default while it measures.
CPU_DMA_LATENCY_DEVICE = "/dev/cpu_dma_latency"
#: `cpu_wakeup_latency_us` value that leaves the machine's idle states alone
WAKEUP_LATENCY_UNSET = -1
#: largest `cpu_wakeup_latency_us` accepted, us (1 s: beyond any idle state's exit latency)
WAKEUP_LATENCY_MAX_US = 1_000_000


def hold_wakeup_latency(max_us: int, device: str = CPU_DMA_LATENCY_DEVICE) -> int:
    """Ask the kernel to keep CPU wake-up latency under `max_us` microseconds while the
    returned file descriptor stays open (close it to let go). Raises OSError (typically
    PermissionError: the device is root's unless the robot's set-up grants it)."""
    if max_us < 0:
        raise ValueError(f"max_us must be >= 0, got {max_us}")
    fd = os.open(device, os.O_WRONLY)
    try:
        os.write(fd, struct.pack("=i", max_us))
    except OSError:
        os.close(fd)
        raise
    return fd


def apply_wakeup_latency(node: Node, device: str = CPU_DMA_LATENCY_DEVICE) -> int | None:
    """Declare `cpu_wakeup_latency_us` on `node` and hold it if set; the fd or None.

    -1 (default) leaves the machine alone. 0 keeps idle CPUs polling instead of halting:
    on the development VM a thread sleeping one 10 ms period then woke a median 0.11 ms
    late with a p99 of 0.18-0.73 ms, against 0.18 ms and 2.2-6.0 ms without, in 5 s
    probes taken back to back (more in docs/ros.md). The price is idle power: a CPU that
    polls never sleeps. A node that may not open the device logs a warning and runs
    without the hold.
    """
    want = declare(node, "cpu_wakeup_latency_us", WAKEUP_LATENCY_UNSET,
                   "hold CPU wake-up latency under this many us while running (PM QoS "
                   f"{device}; -1: leave the machine alone; 0: idle CPUs poll)",
                   int_range=(WAKEUP_LATENCY_UNSET, WAKEUP_LATENCY_MAX_US))
    if want < 0:
        return None
    try:
        fd = hold_wakeup_latency(want, device)
    except OSError as exc:
        node.get_logger().warning(
            f"cpu_wakeup_latency_us {want}: cannot hold it ({exc.strerror or exc} on "
            f"{device}; it needs write access, e.g. root or a udev rule); running without")
        return None
    node.get_logger().info(f"holding CPU wake-up latency <= {want} us ({device})")
    return fd


#: Environment variable choosing how the nodes spin: "events" (default) or "single".
EXECUTOR_ENV = "NEUROQ_ROS_EXECUTOR"
EXECUTORS = ("events", "single")
#: Both executors are spun in slices this long so that a stop request is noticed.
SPIN_SLICE_S = 0.1


#: Seconds a node process may take to destroy its node and shut rclpy down after the spin
#: loop ends. Once, after about 150 node runs here, `Node.destroy_node` never returned and
#: the process spun at 95 % CPU (an actuator on the EventsExecutor, 36 minutes until
#: killed); past this limit SIGALRM ends the process (exit status -14 / 142).
TEARDOWN_LIMIT_S = 5


#: Set by SIGINT/SIGTERM in a node process (`run_node`); the spin loops stop between slices.
_STOP = threading.Event()


def _arm_teardown_limit() -> None:
    """From now on the process has TEARDOWN_LIMIT_S to end: SIGALRM's default action ends
    it even if the GIL is never released. Never cancelled: it also covers what rclpy and
    DDS destroy at interpreter exit."""
    remaining = signal.alarm(TEARDOWN_LIMIT_S)
    if 0 < remaining < TEARDOWN_LIMIT_S:  # keep an earlier, shorter deadline
        signal.alarm(remaining)


def _request_stop(*_: Any) -> None:
    """SIGINT/SIGTERM handler: ask the spin loop to stop; teardown is bounded from here."""
    if not _STOP.is_set():
        _STOP.set()
        _arm_teardown_limit()


def stop_requested() -> bool:
    """Whether this node process was asked to stop (SIGINT or SIGTERM, see `run_node`)."""
    return _STOP.is_set()


def _spin_in_slices(node: Node, executor: Any) -> None:
    executor.add_node(node)
    try:
        while node.context.ok() and not stop_requested():
            executor.spin_once(timeout_sec=SPIN_SLICE_S)
    finally:
        executor.shutdown()


def spin_events(node: Node) -> None:
    """Spin `node` on rclpy's EventsExecutor (C++ dispatch) until asked to stop.

    With these wheels (rclpy 9.1.2) one hop between two processes took a median 530 us and
    a p99 0.7 ms on this executor against 680 us and 1.2 ms on SingleThreadedExecutor, at
    half the CPU (bench/bench_ros_loop.py gives the whole loop). Its `spin()` never returned
    and fired no timers here, so it is spun in `spin_once` slices instead.
    """
    from rclpy.experimental import EventsExecutor

    _spin_in_slices(node, EventsExecutor(context=node.context))


def spin_single(node: Node) -> None:
    """Spin `node` on rclpy's SingleThreadedExecutor until asked to stop."""
    from rclpy.executors import SingleThreadedExecutor

    _spin_in_slices(node, SingleThreadedExecutor(context=node.context))


def executor_choice() -> str:
    """What `NEUROQ_ROS_EXECUTOR` asks for: "events" (default) or "single". Raises
    ValueError for anything else."""
    choice = os.environ.get(EXECUTOR_ENV, "events") or "events"
    if choice not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV} must be one of {list(EXECUTORS)}, got {choice!r}")
    return choice


def new_executor(context: Any) -> Any:
    """An executor of the kind `executor_choice()` names, on `context`."""
    if executor_choice() == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    from rclpy.executors import SingleThreadedExecutor

    return SingleThreadedExecutor(context=context)


def default_spin() -> Callable[[Node], None]:
    """The spin function `NEUROQ_ROS_EXECUTOR` asks for: `spin_events` for "events"
    (default), `spin_single` (SingleThreadedExecutor) for "single". Raises ValueError
    otherwise."""
    return spin_events if executor_choice() == "events" else spin_single


def _usage_error(label: str, exc: Exception) -> int:
    """One line on stderr for a node that cannot start as configured; exit status 2."""
    print(f"neuroq {label}: error: {exc}", file=sys.stderr)
    return 2


def run_node(make_node: Callable[[], Node], label: str, args: list[str] | None,
             spin: Callable[[Node], None] | None = None) -> int:
    """The body of every node's `main()`: init, build the node, spin until shut down.

    Exit status 2 with one line on stderr when the node cannot be built (bad parameters:
    NeuroqError, ValueError, or rclpy's ParameterException for a value of the wrong type or
    out of its range), 1 when it was built but refused to activate (`active` False, e.g.
    an artifact that does not load), 0 after a normal shutdown or Ctrl-C.
    spin: how to spin the node (default: `default_spin()`, from NEUROQ_ROS_EXECUTOR); it
    should return once `stop_requested()`.

    SIGINT and SIGTERM only set a flag (`stop_requested`): the spin loop ends after the
    callback running at that moment, and the context is shut down after that. Teardown is
    bounded: TEARDOWN_LIMIT_S after the stop request (or after the loop ends), SIGALRM
    ends the process. rclpy's own handler would shut the context down at once, under a
    callback that may be publishing (which then fails with "publisher's context is
    invalid").
    """
    from neuroq.deploy.errors import NeuroqError

    try:
        spin = spin or default_spin()
    except ValueError as exc:
        return _usage_error(label, exc)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # ends the process (bounded teardown)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _request_stop)
    try:
        node = make_node()
    except (NeuroqError, ValueError, ParameterException) as exc:
        rclpy.try_shutdown()
        return _usage_error(label, exc)
    hold = None
    try:
        if not getattr(node, "active", True):
            return 1
        try:
            hold = apply_wakeup_latency(node)
        except ParameterException as exc:
            return _usage_error(label, exc)
        freeze_startup_objects()
        spin(node)
    except ExternalShutdownException:
        pass
    except RuntimeError:
        # a context shut down from elsewhere (not by our signal handlers) can make a take
        # fail inside rclpy. After shutdown that is the normal end, not an error.
        if rclpy.ok():
            raise
    finally:
        if hold is not None:
            os.close(hold)
        _arm_teardown_limit()  # if no stop signal armed it already
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
