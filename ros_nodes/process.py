"""The life of a node process: init, build the node, spin until asked to stop, tear down.

`run_node` is the body of every node's `main()`; `spin_until_stopped` is the one spin
loop. SIGINT and SIGTERM only set a flag (`stop_requested`): the spin loop ends after the
callback running at that moment, and the context is shut down after that. rclpy's own handler would shut the context down at once,
under a callback that may be publishing (which then fails with "publisher's context is
invalid"). Teardown is bounded by TEARDOWN_LIMIT_S.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from neuroq.ros_nodes.executor import make_executor
from neuroq.ros_nodes.realtime import apply_wakeup_latency, freeze_startup_objects

#: The executor is spun in slices this long so that a stop request is noticed.
SPIN_SLICE_S = 0.1

#: Seconds a node process may take to destroy its node and shut rclpy down after the spin
#: loop ends. Once, after about 150 node runs here, `Node.destroy_node` never returned and
#: the process spun at 95 % CPU (an actuator on the EventsExecutor, 36 minutes until
#: killed); past this limit SIGALRM ends the process (exit status -14 / 142).
TEARDOWN_LIMIT_S = 5

#: Set by SIGINT/SIGTERM in a node process (`run_node`); the spin loop stops between slices.
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


def spin_until_stopped(node: Node, executor: Any | None = None) -> None:
    """Spin `node` in SPIN_SLICE_S slices until its context ends or a stop is requested.

    executor: default `make_executor(node.context)` (NEUROQ_ROS_EXECUTOR); shut down at the
    end either way.
    """
    executor = executor if executor is not None else make_executor(node.context)
    executor.add_node(node)
    try:
        while node.context.ok() and not stop_requested():
            executor.spin_once(timeout_sec=SPIN_SLICE_S)
    finally:
        executor.shutdown()


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
    spin: how to spin the node (default: `spin_until_stopped` on the executor
    NEUROQ_ROS_EXECUTOR names; a bad value there is a usage error, status 2); it should
    return once `stop_requested()`.

    Teardown is bounded: TEARDOWN_LIMIT_S after the stop request (or after the loop ends),
    SIGALRM ends the process.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    executor = None
    if spin is None:
        try:
            executor = make_executor(rclpy.get_default_context())
        except ValueError as exc:
            rclpy.try_shutdown()
            return _usage_error(label, exc)
    try:
        return _run(make_node, label, spin, executor)
    finally:
        if executor is not None:
            executor.shutdown()  # spin_until_stopped did if it ran; a second call is a no-op


def _run(make_node: Callable[[], Node], label: str, spin: Callable[[Node], None] | None,
         executor: Any) -> int:
    from neuroq.deploy.errors import NeuroqError

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
        if spin is None:
            spin_until_stopped(node, executor)
        else:
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
