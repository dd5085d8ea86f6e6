"""Run the simulated closed loop as three node processes and watch it over DDS.

`run_closed_loop` starts the simulated robot, the policy node and the actuator node as
separate processes (with a parameters file plus the run's own settings), watches the loop
from the calling process, stops the nodes and returns a `LoopReport`: episode returns and
outcomes (success, collision, time to goal, where the environment reports them), lost
commands, latency from sensor message to command message, peak memory of each node
process (resident set size sampled every SPIN_STEP_S from start to end: psutil has no
high-water mark on Linux), CPU (psutil), and the nodes' last diagnostics. `neuroq demo` and
`bench/bench_ros_loop.py` use it.

DDS discovery is left as the environment says: callers on a development machine set
`ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST` and a `ROS_DOMAIN_ID` of their own before rclpy is
first imported (the node processes inherit the whole environment).

Latency: a command carries the stamp of the reading it answers (the sim robot's clock when
it published the reading); its latency is its arrival in this process minus that stamp,
both this machine's system clock. It covers reading transport, policy node, action
transport, actuator node and command transport, plus this process's own dispatch delay.
The actuator also reports the path without that last hop (reading stamp to the command's
publication; `actuator_reading_to_command_ms` in the summary).

What the watcher subscribes to follows the robot interface of the run (the sim robot's
`interface` parameter in the parameters file): the trigger source's readings and the
command topic, of whatever types the interface declares.

The nodes and the watcher spin on the executor NEUROQ_ROS_EXECUTOR names ("events" by
default; see neuroq.ros_nodes.executor.make_executor).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.context import Context
from rclpy.node import Node
from std_msgs.msg import Float64

from neuroq.deploy.errors import NeuroqError, load_yaml, yaml_problem
from neuroq.deploy.interface import RobotInterface, load_interface
from neuroq.deploy.paths import shipped_data
from neuroq.ros_nodes.executor import make_executor
from neuroq.ros_nodes.messages import command_values, message_class
from neuroq.ros_nodes.params import node_section
from neuroq.ros_nodes.processes import stop_processes
from neuroq.ros_nodes.qos import command_qos, latched_qos, sensor_qos, stamp_ns
from neuroq.ros_nodes.sim_robot_node import TOPIC_EPISODE_OUTCOME

#: node parameters of the simulated loop, shipped in config/ (neuroq.deploy.paths finds them)
DEFAULT_CONFIG_NAME = "cartpole_sim.yaml"
NODE_MODULES = {"sim_robot": "neuroq.ros_nodes.sim_robot_node",
                "policy": "neuroq.ros_nodes.policy_node",
                "actuator": "neuroq.ros_nodes.actuator_node"}
# the watchdog fires after this many control periods without an action
WATCHDOG_PERIODS = 1.5
# readings younger than this when watching ends are still in flight, not lost
IN_FLIGHT_S = 0.5
SPIN_STEP_S = 0.05
#: After the run, wait at most this long for a fresh diagnostics message from every node
#: (they publish once per diagnostics_period_s, 1 s by default; a node discovered late on a
#: loaded machine may need several periods). The wait ends as soon as all have reported.
DIAGNOSTICS_WAIT_S = 6.0
#: status names the nodes publish under (neuroq.ros_nodes.diagnostics.diagnostic_array)
STATUS = {"sim_robot": "neuroq: /neuroq_sim_robot", "policy": "neuroq: /neuroq_policy",
          "actuator": "neuroq: /neuroq_actuator"}


@dataclass
class LoopReport:
    """What one closed-loop run measured. Times in seconds unless named otherwise."""

    rate_hz: float
    watched_s: float
    readings_seen: int
    commands_matched: int
    lost_commands_seen: int
    latency_ms: np.ndarray
    reading_transport_ms: np.ndarray
    returns: list[float]
    safe_commands_seen: int
    peak_rss_kib: dict[str, int | None]
    diagnostics: dict[str, dict[str, str]]
    cpu: dict[str, float | None] = field(default_factory=dict)
    node_cpu: dict[str, float | None] = field(default_factory=dict)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    #: the sim robot's diagnostics as last received before watching started
    diagnostics_at_start: dict[str, str] = field(default_factory=dict)
    #: each ended episode's outcome as the sim robot published it (return, seed and, where
    #: the environment reports them, is_success, collision, time_to_goal_s)
    outcomes: list[dict[str, float]] = field(default_factory=list)
    #: the episodes ended within the warm-up, so the counts and latencies are of the whole
    #: run from the first command on (the CPU shares are then of what was left: ~nothing)
    warmup_included: bool = False

    def summary(self) -> dict[str, Any]:
        """Plain numbers for printing and JSON."""
        lat = self.latency_ms
        sim = self.diagnostics.get("sim_robot", {})
        act = self.diagnostics.get("actuator", {})

        def stats(x: np.ndarray) -> dict[str, float | None]:
            return {"median": float(np.median(x)) if x.size else None,
                    "p99": float(np.percentile(x, 99)) if x.size else None,
                    "max": float(x.max()) if x.size else None}

        return {
            "rate_hz": self.rate_hz,
            "watched_s": self.watched_s,
            "warmup_included": self.warmup_included,
            "readings_seen": self.readings_seen,
            "commands_matched": self.commands_matched,
            "lost_commands_seen": self.lost_commands_seen,
            "sim_lost_commands": sim.get("lost_commands"),
            # since the last diagnostics before watching (<= 1 period earlier): the warm-up,
            # when DDS discovery may still be matching endpoints, is left out
            "sim_lost_commands_watched": _difference(sim, self.diagnostics_at_start,
                                                     "lost_commands"),
            "sim_late_ticks": sim.get("late_ticks"),
            "sim_ticks": sim.get("ticks"),
            "sim_startup_ticks": sim.get("startup_ticks"),
            "sim_burst_ticks_skipped": sim.get("burst_ticks_skipped"),
            "sim_answers_after_loss": sim.get("answers_after_loss"),
            # the loop as the sim robot sees it: reading stamp -> command arrival there
            "robot_loop_latency_ms": {
                k: _float(sim.get(f"loop_latency_{k}_ms")) for k in ("median", "p99", "max")},
            "robot_loop_latency_samples": _float(sim.get("loop_latency_samples")),
            "latency_sensor_to_command_ms": stats(lat),
            # the same path without the hop to this process: the actuator's own figure,
            # reading stamp -> command published (its last latency_window commands)
            "actuator_reading_to_command_ms": {
                "median": _float(act.get("reading_to_command_latency_median_ms")),
                "p99": _float(act.get("reading_to_command_latency_p99_ms"))},
            # one hop alone, for scale: reading stamp to its arrival in the watching process
            "reading_transport_ms": stats(self.reading_transport_ms),
            "episode_returns": list(self.returns),
            **self.outcome_summary(),
            "safe_commands_seen": self.safe_commands_seen,
            "watchdog_trips": act.get("watchdog_trips"),
            "peak_rss_mib": {k: None if v is None else v / 1024
                             for k, v in self.peak_rss_kib.items()},
            "policy_diagnostics": self.diagnostics.get("policy", {}),
            "exit_codes": self.exit_codes,
            # machine-wide CPU shares over the watched window (steal: taken by the host)
            "cpu_shares": self.cpu,
            # CPU time of each node process over the watched window / window (1.0 = a core)
            "node_cpu_cores": self.node_cpu,
        }


    def outcome_summary(self) -> dict[str, Any]:
        """Success and collision rates and the mean time to goal over the ended episodes,
        where the environment reports them (empty otherwise)."""
        out: dict[str, Any] = {}
        for key, name in (("is_success", "success_rate"), ("collision", "collision_rate")):
            flags = [o[key] for o in self.outcomes if key in o]
            if flags:
                out[name] = float(np.mean(np.asarray(flags) > 0.5))
        times = [o["time_to_goal_s"] for o in self.outcomes
                 if np.isfinite(o.get("time_to_goal_s", np.nan))]
        if "success_rate" in out:
            out["time_to_goal_s_mean"] = float(np.mean(times)) if times else None
            out["episode_seeds"] = [int(o["seed"]) for o in self.outcomes if "seed" in o]
        return out


def _float(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


class _Watcher(Node):
    """Collects returns and diagnostics; with `observe`, also every reading and command."""

    def __init__(self, context: Context, robot: RobotInterface, observe: bool = True) -> None:
        super().__init__("neuroq_closed_loop_watcher", context=context)
        self.robot = robot
        self.readings: dict[int, int] = {}  # reading stamp -> arrival, ns
        self.commands: dict[int, int] = {}  # answered reading stamp -> arrival, ns
        self.safe_commands = 0
        self.returns: list[float] = []
        self.outcomes: list[dict[str, float]] = []
        self.status: dict[str, dict[str, str]] = {}
        self._commands_sub = None  # observe: the readings are subscribed to once it matched
        self._readings_sub = None
        if observe:  # one more reader on the loop's own topics: each publish costs more
            self._commands_sub = self.create_subscription(
                message_class(robot.command.type), robot.command.topic, self._command,
                command_qos(1000))
        self.create_subscription(Float64, "episode_return",
                                 lambda m: self.returns.append(m.data), latched_qos(1000))
        self.create_subscription(DiagnosticStatus, TOPIC_EPISODE_OUTCOME, self._outcome,
                                 latched_qos(1000))
        self.create_subscription(DiagnosticArray, "/diagnostics", self._diag, command_qos(100))

    def subscribe_readings_once_matched(self) -> None:
        """Subscribe to the readings once the command subscription has matched the
        actuator: the simulated robot starts its episodes when this subscription is matched
        too (wait_subscribers), so no command of them is missed here. A full suite's run saw
        96 of 96 readings and 0 of their commands: the readings had matched, the commands
        not yet, and the 2 episodes ended within that second."""
        if (self._readings_sub is None and self._commands_sub is not None
                and self._commands_sub.get_publisher_count() > 0):
            trigger = self.robot.trigger
            self._readings_sub = self.create_subscription(
                message_class(trigger.type), trigger.topic, self._reading, sensor_qos(100))

    def _reading(self, msg: Any) -> None:
        self.readings[stamp_ns(msg.header.stamp)] = time.time_ns()

    def _command(self, msg: Any) -> None:
        now = time.time_ns()
        stamp = stamp_ns(msg.header.stamp)
        values = command_values(msg, self.robot.command)
        if (stamp not in self.readings and values is not None
                and np.array_equal(values, self.robot.command.safe)):
            self.safe_commands += 1  # the watchdog's safe command: stamped when sent
            return
        self.commands.setdefault(stamp, now)

    def _outcome(self, msg: DiagnosticStatus) -> None:
        self.outcomes.append({kv.key: _float(kv.value) for kv in msg.values})

    def _diag(self, msg: DiagnosticArray) -> None:
        for s in msg.status:
            self.status[s.name] = {kv.key: kv.value for kv in s.values}

    def loop_running(self) -> bool:
        """Whether a command has closed the loop (seen here, or counted by the robot)."""
        steps = _float(self.status.get(STATUS["sim_robot"], {}).get("steps"))
        return bool(self.commands or self.returns or (steps or 0) > 0)


def _difference(after: dict[str, str], before: dict[str, str], key: str) -> int | None:
    """A diagnostics counter's growth between two snapshots (None when either lacks it)."""
    a, b = _float(after.get(key)), _float(before.get(key, "0"))
    return None if a is None or b is None else int(a - b)


#: the machine's CPU time counters (psutil.cpu_times field names) in each share
BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")
IDLE_FIELDS = ("idle", "iowait")
STEAL_FIELDS = ("steal",)


def machine_cpu_times() -> Any | None:
    """The machine's CPU time counters summed over CPUs (psutil.cpu_times), s; None where
    unreadable."""
    try:
        return psutil.cpu_times()
    except (OSError, psutil.Error):
        return None


def cpu_shares(before: Any | None, after: Any | None) -> dict[str, float | None]:
    """Fractions of all CPU time between two `machine_cpu_times` readings: busy (user, nice,
    system, irq, softirq), idle (idle, iowait) and steal (taken by the hypervisor for other
    guests: on a shared virtual machine, the noise that latency tails suffer from)."""
    none: dict[str, float | None] = {"busy": None, "idle": None, "steal": None}
    if before is None or after is None:
        return none

    def spent(fields: tuple[str, ...]) -> float:
        return sum(getattr(after, f, 0.0) - getattr(before, f, 0.0) for f in fields)

    busy, idle, steal = spent(BUSY_FIELDS), spent(IDLE_FIELDS), spent(STEAL_FIELDS)
    total = busy + idle + steal
    if total <= 0:
        return none
    return {"busy": busy / total, "idle": idle / total, "steal": steal / total}


def process_cpu_s(pid: int) -> float | None:
    """CPU time (user + system, s) a live process has used so far; None if unreadable."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def rss_kib(pid: int) -> int | None:
    """Resident set size of a live process now, KiB; None if unreadable."""
    try:
        return psutil.Process(pid).memory_info().rss // 1024
    except psutil.Error:
        return None


def update_peaks(peaks: dict[str, int | None], pids: dict[str, int]) -> None:
    """Raise each process's entry in `peaks` to its resident set size now (KiB)."""
    for name, pid in pids.items():
        now = rss_kib(pid)
        if now is not None:
            peaks[name] = max(peaks.get(name) or 0, now)


def _start(params: dict[str, list[str]], config: Path, log_dir: Path
           ) -> dict[str, subprocess.Popen]:
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, module in NODE_MODULES.items():
            with open(log_dir / f"{name}.log", "wb") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", module, "--ros-args", "--params-file", str(config),
                     *params[name]], env=os.environ.copy(), stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True)
    except BaseException:
        stop_processes(procs)
        raise
    return procs


def _node_params(config: str | os.PathLike) -> Any:
    """A parameters file, parsed (NeuroqError, one line, when it cannot be read or parsed)."""
    import yaml

    try:
        return load_yaml(Path(config).read_text())
    except OSError as exc:
        raise NeuroqError(f"{config}: cannot read the parameters ({type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        raise NeuroqError(f"{config}: the parameters are not valid YAML "
                          f"{yaml_problem(exc)}") from None


def _node_param(doc: Any, config: str | os.PathLike, node: str, name: str) -> Any:
    """Parameter `name` of `node`'s section in the parsed parameters file `doc` (from
    `config`); NeuroqError (one line) when it lacks the parameter."""
    try:
        return node_section(doc, node)[name]
    except (KeyError, TypeError) as exc:
        raise NeuroqError(f"{config}: no {node} {name} parameter "
                          f"({type(exc).__name__})") from None


def config_interface(config: str | os.PathLike, doc: Any) -> RobotInterface:
    """The robot interface a parameters file gives its sim robot (`interface`); `doc`: the
    file parsed (`_node_params`)."""
    return load_interface(_node_param(doc, config, "neuroq_sim_robot", "interface"))


def _actuator_interface(config: str | os.PathLike, doc: Any) -> str:
    """The interface a parameters file gives its actuator ('' where it names none)."""
    try:
        return str(_node_param(doc, config, "neuroq_actuator", "interface") or "")
    except NeuroqError:
        return ""


def sim_rate_hz(config: str | os.PathLike) -> float:
    """The control rate a parameters file gives its sim robot (control_rate_hz)."""
    return float(_node_param(_node_params(config), config, "neuroq_sim_robot",
                             "control_rate_hz"))


def run_closed_loop(
    artifact: str | os.PathLike,
    log_dir: str | os.PathLike,
    *,
    backend: str = "emulator",
    rate_hz: float = 50.0,
    duration_s: float | None = None,
    episodes: int | None = None,
    warmup_s: float = 0.0,
    seed: int = 0,
    config: str | os.PathLike | None = None,
    start_timeout_s: float = 30.0,
    max_wall_s: float = 600.0,
    observe: bool = True,
    node_params: dict[str, dict[str, Any]] | None = None,
) -> LoopReport:
    """Run the loop until `duration_s` has been watched or `episodes` episodes have ended.

    artifact/backend: what the policy node runs. rate_hz: the sim robot's control rate (the
    actuator's watchdog is set to WATCHDOG_PERIODS periods). episodes: the sim robot stops
    after this many (episode k uses seed + k, as neuroq.deploy.evaluate does). warmup_s: seconds
    of running loop before watching starts (counts and latencies, not returns). Raises
    NeuroqError if a node exits early or no command arrives within start_timeout_s.
    observe: also subscribe here to every reading and command (exact per-reading latencies
    and lost commands seen from outside). Without it, nothing is added to the loop's own
    topics and its figures are the nodes' own: the sim robot's loop latency (reading stamp
    to command arrival, over the whole run) and its late-tick and lost-command counters.
    node_params: more parameters per node ("sim_robot", "policy", "actuator"), applied
    after the config file and the run's own, e.g. {"policy": {"prewarm_lead_s": 0.0}}.
    config: the parameters file (default: the shipped config/cartpole_sim.yaml); the robot
    interface is the one its sim robot section names. The policy gets `artifact`, and the
    actuator too where its section names no interface, so that it takes the artifact's
    (recorded in its manifest, else the shipped one naming its environment).
    """
    if (duration_s is None) == (episodes is None):
        raise NeuroqError("give either a duration or a number of episodes")
    config = Path(config) if config is not None else shipped_data().config_file(
        DEFAULT_CONFIG_NAME)
    doc = _node_params(config)
    robot = config_interface(config, doc)
    log = Path(log_dir)
    log.mkdir(parents=True, exist_ok=True)
    params = {
        "sim_robot": ["-p", f"control_rate_hz:={float(rate_hz)}", "-p", f"seed:={seed}",
                      "-p", f"max_episodes:={episodes or 0}", "-p", "latency_window:=1000000",
                      # observed: the episodes start once this process's watcher is matched
                      # too (a short run ended before it was, and reported no latency)
                      "-p", f"wait_subscribers:={2 if observe else 1}"],
        "policy": ["-p", f"artifact:={artifact}", "-p", f"backend:={backend}",
                   "-p", "latency_window:=100000"],
        # the artifact too where its section names no interface: it reads the one the
        # policy resolves (the manifest's, else the shipped one naming its environment);
        # with an interface named it would only check the artifact as the policy does
        "actuator": [*([] if _actuator_interface(config, doc)
                       else ["-p", f"artifact:={artifact}"]),
                     "-p", f"watchdog_timeout_s:={WATCHDOG_PERIODS / rate_hz:.6f}",
                     "-p", "latency_window:=100000"],
    }
    for name, extra in (node_params or {}).items():
        if name not in params:
            raise NeuroqError(f"node_params: no node {name!r}; the nodes are {list(params)}")
        # JSON is YAML, the syntax `-p name:=value` reads
        params[name] += [a for k, v in extra.items() for a in ("-p", f"{k}:={json.dumps(v)}")]
    context = Context()
    rclpy.init(context=context)
    try:  # the watcher spins as the nodes do (NEUROQ_ROS_EXECUTOR)
        executor = make_executor(context)
    except ValueError as exc:
        rclpy.try_shutdown(context=context)
        raise NeuroqError(str(exc)) from None
    watcher = _Watcher(context, robot, observe)
    executor.add_node(watcher)
    procs: dict[str, subprocess.Popen] = {}
    codes: dict[str, int | None] = {}
    sim_at_start: dict[str, str] = {}
    peaks: dict[str, int | None] = {name: None for name in NODE_MODULES}

    def spin_until(done: Any, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not done() and time.monotonic() < end:
            early = [n for n, p in procs.items() if p.poll() is not None]
            if early:
                raise NeuroqError(f"the {early[0]} node exited early; see {log / early[0]}.log")
            update_peaks(peaks, {name: p.pid for name, p in procs.items()})
            watcher.subscribe_readings_once_matched()
            executor.spin_once(timeout_sec=SPIN_STEP_S)

    try:
        t_started = time.time_ns()  # this process spins only once the nodes are started
        times_started = machine_cpu_times()
        procs = _start(params, config, log)
        # a short run may end its episodes before this process discovers the command topic;
        # the returns are latched, so either shows the loop ran
        spin_until(watcher.loop_running, start_timeout_s)
        if not watcher.loop_running():
            raise NeuroqError(f"no command within {start_timeout_s:g} s (the simulated robot "
                              f"starts once {2 if observe else 1} subscriptions to its "
                              "readings are matched: the policy's"
                              f"{' and this watcher' if observe else ''}); see the logs in "
                              f"{log}")

        def all_ended() -> bool:
            return episodes is not None and len(watcher.returns) >= episodes

        spin_until(all_ended, warmup_s)
        if all_ended():  # the episodes ended within the warm-up: watch all of it (an
            # outsider's run on a loaded machine reported no latency sample at all), from
            # the nodes' start: what was queued here before this process spun counts too
            t0, warmup_included = t_started, True
        else:
            watcher.readings.clear()
            watcher.commands.clear()
            watcher.safe_commands = 0
            t0, warmup_included = time.time_ns(), False
        sim_at_start = dict(watcher.status.get(STATUS["sim_robot"], {}))
        if warmup_included:  # CPU over the same span as the counts: from the nodes' start
            times0 = times_started
            node_cpu0: dict[str, float | None] = dict.fromkeys(procs, 0.0)
        else:
            times0 = machine_cpu_times()
            node_cpu0 = {name: process_cpu_s(p.pid) for name, p in procs.items()}
        if episodes is not None:
            spin_until(lambda: len(watcher.returns) >= episodes, max_wall_s)
        else:
            spin_until(lambda: False, min(duration_s, max_wall_s))
        t_end = time.time_ns()
        cpu = cpu_shares(times0, machine_cpu_times())
        node_cpu = {}
        for name, p in procs.items():
            used, before = process_cpu_s(p.pid), node_cpu0[name]
            node_cpu[name] = (None if used is None or before is None
                              else (used - before) / max((t_end - t0) * 1e-9, 1e-9))
        update_peaks(peaks, {name: p.pid for name, p in procs.items()})
        if episodes is not None:  # the robot publishes nothing after its last episode: every
            # reading before it was answered; their commands may still be on their way here
            spin_until(lambda: False, IN_FLIGHT_S)
        # the nodes' diagnostics of the whole run: one more period's worth
        before = dict(watcher.status)
        spin_until(lambda: all(watcher.status.get(s) is not before.get(s)
                               for s in STATUS.values()), DIAGNOSTICS_WAIT_S)
    finally:
        codes = stop_processes(procs)
        executor.shutdown(timeout_sec=1.0)
        watcher.destroy_node()
        rclpy.try_shutdown(context=context)
    # readings whose commands may still be in flight are left out, unless the episodes had
    # all ended (the in-flight wait above)
    cutoff = t_end if episodes is not None else t_end - IN_FLIGHT_S * 1e9
    settled = [s for s in watcher.readings if t0 <= s < cutoff]
    latency = np.array([watcher.commands[s] - s for s in settled if s in watcher.commands],
                       float) * 1e-6
    return LoopReport(
        rate_hz=float(rate_hz), watched_s=(t_end - t0) * 1e-9, readings_seen=len(settled),
        commands_matched=int(latency.size), lost_commands_seen=len(settled) - latency.size,
        latency_ms=latency,
        reading_transport_ms=np.array([watcher.readings[s] - s for s in settled], float) * 1e-6,
        returns=list(watcher.returns),
        safe_commands_seen=watcher.safe_commands, peak_rss_kib=peaks, cpu=cpu,
        node_cpu=node_cpu,
        diagnostics={k: watcher.status.get(v, {}) for k, v in STATUS.items()},
        exit_codes=codes, diagnostics_at_start=sim_at_start, outcomes=list(watcher.outcomes),
        warmup_included=warmup_included)
