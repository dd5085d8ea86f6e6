"""Safety soak: the policy and actuator nodes as a robot runs them, under faults and fuzz.

    python bench/bench_safety_soak.py --rates 100 500 --duration 600

Per control rate, four processes over real DDS (loopback only, a domain of this run):
- `neuroq.ros_nodes.policy_node` and `neuroq.ros_nodes.actuator_node`, with
  config/cartpole_robot.yaml, the artifact (default: the shipped CartPole one) and the
  rate's watchdog timeout (`--watchdog-periods` periods; 1.5 = the config's 15 ms at
  100 Hz);
- a robot (this script, `--role robot`): a CartPole-v1 stepped once per period on a
  thread of its own that sleeps to absolute deadlines (no catch-up after a stall), each
  step with the last commanded push (a safe zero keeps the previous one), the state
  published as `joint_states` stamped when read. Every `--fault-every` seconds it injects
  a fault, alternately: a sensor loss (no readings for `--fault-s`) and a stopped policy
  (SIGSTOP to the policy process for `--fault-s`, then SIGCONT);
- a fuzzer (`--role fuzz`): malformed readings on `joint_states` and malformed actions on
  `action` at `--fuzz-hz` (NaN and inf, wrong counts, 100,000-element arrays, unicode and
  look-alike names, a 1 MB frame_id, stamps not normalized, negative, zero or an hour
  ahead, out-of-range values and action indices), and every `--burst-every` seconds a
  burst of `--burst-n` malformed readings at 2 kHz. Each message is malformed in at least
  one way the nodes must catch: none may reach the robot as a command.

- a stall meter per CPU (`--role meter`, as rt-tests' cyclictest does it): a process bound
  to one CPU that sleeps 1 ms at a time and records every wake-up more than STALL_LATE_MS
  late (a virtual machine's CPUs stall one at a time, so one meter sees only its own), at
  SCHED_FIFO
  `--rt-priority` + METER_PRIORITY_ABOVE (above the nodes, so that their own work cannot
  delay it: a late wake-up means no CPU was given to any of this machine's tasks, the
  kernel's or the hypervisor's doing) or at normal priority without `--rt-priority`.

Reported per rate (from the robot's own view: command arrival, monotonic clock):
- false watchdog trips: a safe command that starts a run of safe commands outside a fault
  window (fault start to `--settle` after its end), except the one that follows the robot's
  very last reading (the end of the run);
  goal 0. Each is split into where its time went: the robot's gap between its last
  answered reading and the next, that reading to its action's arrival at the robot (the
  robot listens to `action` too), the action to its command; and timed from the last
  burst and the last megabyte message;
- safe command latency after each fault: the first safe command's arrival minus the
  publication of the reading that the last answered command answered (the watchdog's
  reference); goal within two control periods, every time;
- good readings answered: readings published outside stopped-policy windows whose command
  arrived; goal all (unanswered ones are listed with the time to the nearest burst);
- RSS growth of the policy and actuator processes from the end of warm-up to the end
  (psutil, sampled each second); goal < 10 MB;
- the stall meter's wake-ups over 2 and 5 ms late and its worst, and for each false trip
  the meter's worst lateness while that trip's action was due (STALL_WINDOW_S before the
  trip): a trip with the meter over 2 ms late then came with a stall of the machine;
- the nodes' own figures from /diagnostics: drops per reason, bad actions, watchdog trips,
  the watchdog margin (time left when a fresh action came) and the timer's lateness.

Every loop is bounded in count and in time. DDS: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and
the domain id of this run are set before rclpy is imported; the node processes inherit
them. Results: runs/bench-safety-soak-<time>/result.json.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "cartpole_robot.yaml"
ARTIFACT = REPO / "config" / "artifacts" / "cartpole"
# ROS 2 domain ids 0-101 are safe on Linux
ROS_DOMAIN_IDS = 102
#: a fuzz array this long (the issue's 100k-element arrays)
HUGE = 100_000
#: a frame_id this long (1 MB)
HUGE_FRAME_ID = 1_000_000
#: burst rate of malformed readings, Hz
BURST_HZ = 2000.0
#: at most one 100k-element or 1 MB message per this many seconds (each is about 1 MB)
HUGE_EVERY_S = 1.0
#: seconds the nodes get to start (import, load the artifact, discover each other)
START_TIMEOUT_S = 60.0
#: extra seconds after the soak for the robot's last commands and the nodes' diagnostics
TAIL_S = 3.0
#: seconds the fuzzer runs on after the robot's counted time ends
FUZZ_OVERRUN_S = 2.0
#: trips and unanswered readings listed one by one in the result, at most
MAX_LISTED = 200
#: the robot records actions up to this size (a real one is ~100 bytes); larger ones are
#: the fuzzer's and stay undecoded
ACTION_PROBE_MAX_BYTES = 4096
#: a process asked to stop gets this long before it is killed
STOP_TIMEOUT_S = 10.0
NS = 1_000_000_000
#: the stall meter's sleep, s
METER_SLEEP_S = 0.001
#: the stall meter records wake-ups later than this, ms
STALL_LATE_MS = 1.0
#: the meter's SCHED_FIFO priority above --rt-priority (98 at most)
METER_PRIORITY_ABOVE = 10
#: a false trip's window for the meter: the last this many seconds before it (a timeout
#: and a period at 100 Hz: from the reading whose action was late to the trip)
STALL_WINDOW_S = 0.03
#: wake-ups this late (ms) count as a stall of the machine in the report
STALL_MS = 2.0
#: a false trip this soon (s) after a megabyte reading went out counts as behind it: DDS
#: takes milliseconds to pass a 3 MB sample, and a good reading on the same topic waits
MEGABYTE_WINDOW_S = 0.05


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", type=float, nargs="+", default=[100.0, 500.0])
    p.add_argument("--duration", type=float, default=600.0,
                   help="seconds soaked per rate after the warm-up (default 600)")
    p.add_argument("--warmup", type=float, default=10.0,
                   help="seconds of running loop before anything is counted (default 10)")
    p.add_argument("--artifact", default=str(ARTIFACT))
    p.add_argument("--watchdog-periods", type=float, default=1.5,
                   help="actuator watchdog_timeout_s in control periods (default 1.5)")
    p.add_argument("--fault-every", type=float, default=10.0)
    p.add_argument("--fault-s", type=float, default=0.3)
    p.add_argument("--settle", type=float, default=0.3,
                   help="seconds after a fault still counted as its window")
    p.add_argument("--fuzz-hz", type=float, default=20.0)
    p.add_argument("--burst-every", type=float, default=5.0)
    p.add_argument("--burst-n", type=int, default=100)
    p.add_argument("--huge-every", type=float, default=HUGE_EVERY_S,
                   help="seconds between the fuzzer's megabyte messages (a reading and an "
                   f"action; 0: none; default {HUGE_EVERY_S:g})")
    p.add_argument("--no-fuzz", action="store_true", help="run without the fuzzer")
    p.add_argument("--nice", type=int, default=0,
                   help="nice increment of the policy, actuator and robot processes (e.g. -10:"
                   " a robot gives its control loop priority; negative needs CAP_SYS_NICE); "
                   "the fuzzer keeps 0 (default 0)")
    p.add_argument("--rt-priority", type=int, default=0,
                   help="SCHED_FIFO priority (1-98) of the policy node and the robot "
                   "process; the actuator gets one more (the nodes through their "
                   "realtime_priority parameter, docs/ros.md); needs CAP_SYS_NICE or an "
                   "rtprio limit; the fuzzer stays SCHED_OTHER (default 0: normal "
                   "scheduling)")
    p.add_argument("--policy-param", action="append", default=[], metavar="NAME:=VALUE",
                   help="extra policy node parameter (repeatable)")
    p.add_argument("--domain-id", type=int, default=os.getpid() % ROS_DOMAIN_IDS)
    p.add_argument("--out", default=None, help="result folder (default runs/...)")
    # internal: the robot and the fuzzer run this script in their own processes
    p.add_argument("--role", choices=["main", "robot", "fuzz", "meter"], default="main",
                   help=argparse.SUPPRESS)
    p.add_argument("--rate", type=float, default=100.0, help=argparse.SUPPRESS)
    p.add_argument("--policy-pid", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--result", default="", help=argparse.SUPPRESS)
    p.add_argument("--cpu", type=int, default=-1, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def confine_dds(domain_id: int) -> None:
    """Loopback only, a domain of this run: before rclpy is imported (children inherit)."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)


# --- robot ---------------------------------------------------------------------------------


def run_robot(args: argparse.Namespace) -> None:
    """The robot harness (own process): readings at the rate, faults, command bookkeeping."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import JointState, Joy

    from neuroq.deploy.rollout import make_env
    from neuroq.ros_nodes.executor import make_executor
    from neuroq.ros_nodes.qos import command_qos, sensor_qos, set_stamp, stamp_ns

    rclpy.init()
    node = rclpy.create_node("bench_soak_robot")
    pub = node.create_publisher(JointState, "joint_states", sensor_qos())
    lock = threading.Lock()
    period = 1.0 / args.rate
    published: dict[int, float] = {}  # reading stamp (ns) -> publication (monotonic)
    commands: list[tuple[float, int, bool]] = []  # (arrival, stamp, safe)
    status: dict[str, dict[str, str]] = {}
    margins: list[tuple[float, float]] = []  # (arrival, actuator's margin over its period)
    push = [1]  # action applied at each step: the last commanded push

    def on_command(msg: JointState) -> None:
        t = time.monotonic()
        effort = msg.effort[0] if len(msg.effort) else float("nan")
        safe = effort == 0.0
        with lock:
            commands.append((t, stamp_ns(msg.header.stamp), safe))
        if not safe and np.isfinite(effort):
            push[0] = 1 if effort > 0 else 0

    def on_diag(msg: DiagnosticArray) -> None:
        t = time.monotonic()
        for s in msg.status:
            status[s.name] = values = {kv.key: kv.value for kv in s.values}
            if s.name.endswith("neuroq_actuator") and "watchdog_margin_min_ms" in values:
                with lock:
                    margins.append((t, float(values["watchdog_margin_min_ms"])))

    actions: dict[int, float] = {}  # action stamp (= its reading's) -> arrival here

    def on_action(data: bytes) -> None:  # raw: the fuzzer's megabyte actions stay bytes
        t = time.monotonic()
        if len(data) > ACTION_PROBE_MAX_BYTES:
            return
        try:
            msg = deserialize_message(data, Joy)
        except Exception:  # noqa: BLE001 - the fuzzer's garbage
            return
        with lock:
            actions.setdefault(stamp_ns(msg.header.stamp), t)

    node.create_subscription(JointState, "joint_commands", on_command, command_qos(1000))
    node.create_subscription(Joy, "action", on_action, command_qos(1000), raw=True)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, command_qos(100))
    executor = make_executor(node.context)
    executor.add_node(node)
    stop = threading.Event()
    faults: list[dict[str, Any]] = []
    t_start = time.monotonic()
    t_count = t_start + args.warmup  # counting starts here
    t_end = t_count + args.duration

    def sensor_loop() -> None:
        env = make_env("CartPole-v1")
        obs, _ = env.reset(seed=0)
        msg = JointState(name=["cart_slider", "pole_hinge"])
        episodes = 0
        returns: list[float] = []
        ret = 0.0
        next_fault = t_count + args.fault_every / 2
        kind = "sensor_loss"
        fault: dict[str, Any] | None = None
        k = 0
        max_ticks = int((t_end - t_start) * args.rate) + 10  # bounded in count and time
        while not stop.is_set() and k < max_ticks:
            k += 1
            due = t_start + k * period
            now = time.monotonic()
            if due < now:  # a stall: skip the missed periods, no catch-up burst
                k = int((now - t_start) / period) + 1
                due = t_start + k * period
            time.sleep(max(due - time.monotonic(), 0.0))
            now = time.monotonic()
            if now >= t_end:
                break
            if fault is None and now >= next_fault and now + args.fault_s + 1.0 < t_end:
                fault = {"kind": kind, "start": now, "end": now + args.fault_s}
                if kind == "policy_stop":
                    os.kill(args.policy_pid, signal.SIGSTOP)
                faults.append(fault)
            if fault is not None and now >= fault["end"]:
                if fault["kind"] == "policy_stop":
                    os.kill(args.policy_pid, signal.SIGCONT)
                fault["end"] = now
                fault = None
                next_fault = now + args.fault_every
                kind = "policy_stop" if kind == "sensor_loss" else "sensor_loss"
            if fault is not None and fault["kind"] == "sensor_loss":
                continue
            obs, reward, terminated, truncated, _ = env.step(push[0])
            ret += float(reward)
            if terminated or truncated:
                returns.append(ret)
                ret = 0.0
                episodes += 1
                obs, _ = env.reset(seed=episodes)
            msg.position = [float(obs[0]), float(obs[2])]
            msg.velocity = [float(obs[1]), float(obs[3])]
            stamp = node.get_clock().now().nanoseconds
            set_stamp(msg.header.stamp, stamp)
            pub.publish(msg)
            with lock:
                published[stamp] = time.monotonic()
        if fault is not None and fault["kind"] == "policy_stop":
            os.kill(args.policy_pid, signal.SIGCONT)
        sensor_result["returns"] = returns

    sensor_result: dict[str, Any] = {}
    thread = threading.Thread(target=sensor_loop, daemon=True)
    thread.start()
    deadline = t_end + TAIL_S
    while time.monotonic() < deadline:  # bounded in time
        executor.spin_once(timeout_sec=0.05)
    stop.set()
    thread.join(timeout=5.0)
    executor.shutdown()
    with lock:
        result = analyse(published, commands, faults, t_count, t_end, period, args.settle,
                         args.watchdog_periods * period, actions)
        # the actuator's own margin, per diagnostics period (1 s), outside fault windows
        # (a period that saw a fault, or its recovery, is left out)
        clear = [m for t, m in margins if t_count <= t < t_end and not any(
            f["start"] <= t <= f["end"] + args.settle + 1.0 for f in faults)]
        result["actuator_margin_min_ms"] = min(clear) if clear else None
        result["actuator_margin_periods"] = len(clear)
    result["episode_returns"] = sensor_result.get("returns", [])
    result["diagnostics"] = status
    Path(args.result).write_text(json.dumps(result))
    node.destroy_node()
    rclpy.try_shutdown()


def analyse(published: dict[int, float], commands: list[tuple[float, int, bool]],
            faults: list[dict[str, Any]], t_count: float, t_end: float, period: float,
            settle: float, timeout: float,
            actions: dict[int, float] | None = None) -> dict[str, Any]:
    """Trips, safe command latencies and answered readings from the robot's records.

    actions: arrival here of each action by its stamp (the reading it answers), to split
    each false trip into where the time went: the gap between the last answered reading
    and the next one the robot published, the policy (that reading -> its action's
    arrival) and the actuator (action -> command arrival)."""
    windows = [(f["start"], f["end"] + settle) for f in faults]

    def in_fault(t: float) -> dict[str, Any] | None:
        for f, (a, b) in zip(faults, windows, strict=True):
            if a <= t <= b:
                return f
        return None

    trips_false: list[float] = []
    sensor_late: list[float] = []  # false trips where the robot's own next reading was late
    trip_parts: list[dict[str, float | None]] = []
    by_pub: dict[float, int] = {}  # publication -> reading stamp, built at the first trip
    pub_times = sorted(published.values())
    latency: dict[str, list[float]] = {"sensor_loss": [], "policy_stop": []}
    foreign = 0  # commands answering no reading of ours (must be 0: fuzz never gets through)
    answered: set[int] = set()
    last_answer_pub: float | None = None
    margins: list[float] = []  # robot's view: previous answer's reading + timeout - arrival
    was_safe = True
    for t, stamp, safe in commands:
        if not safe:
            if stamp in published:
                answered.add(stamp)
                if (last_answer_pub is not None and t_count <= t < t_end
                        and in_fault(t) is None):
                    margins.append(last_answer_pub + timeout - t)
                last_answer_pub = published[stamp]
            else:
                foreign += 1
            was_safe = False
            continue
        if was_safe or t < t_count:  # not the start of a run of safe commands
            was_safe = True
            continue
        was_safe = True
        fault = in_fault(t)
        if fault is None:
            next_pub = None  # the robot's first reading after the last answered one
            if last_answer_pub is not None:
                i = bisect.bisect_right(pub_times, last_answer_pub)
                if i == len(pub_times):
                    continue  # no reading after the last answered one: the robot stopped
                next_pub = pub_times[i]
                if next_pub - last_answer_pub >= timeout:
                    sensor_late.append(t)
            trips_false.append(t)
            if len(trip_parts) < MAX_LISTED:
                by_pub = by_pub or {v: k for k, v in published.items()}
                trip_parts.append(_trip_parts(t, last_answer_pub, next_pub, by_pub,
                                              commands, actions or {}))
        elif "latency_s" not in fault and last_answer_pub is not None:
            fault["latency_s"] = t - last_answer_pub
            latency[fault["kind"]].append(fault["latency_s"])
    stopped = [(f["start"], f["end"]) for f in faults if f["kind"] == "policy_stop"]
    good = [(s, t) for s, t in published.items() if t_count <= t < t_end - 1.0
            and not any(a <= t <= b for a, b in stopped)]
    unanswered = sorted(t for s, t in good if s not in answered)
    bound = 2 * period
    margin = np.array(margins) * 1e3
    return {
        "robot_margin_ms": ({"min": float(margin.min()),
                             "p0.1": float(np.percentile(margin, 0.1)),
                             "p1": float(np.percentile(margin, 1)),
                             "median": float(np.median(margin)), "n": int(margin.size)}
                            if margin.size else None),
        "faults": len(faults),
        "faults_without_trip": sum("latency_s" not in f for f in faults),
        "false_trips": len(trips_false),
        # of those, trips where the robot's next reading came a whole watchdog timeout after
        # the last answered one (the harness itself stalled: no reading, a real loss)
        "false_trips_reading_late": len(sensor_late),
        "false_trip_at": trips_false[:MAX_LISTED],  # monotonic, this machine
        "false_trip_parts_ms": trip_parts,
        "safe_latency_ms": {k: [round(v * 1e3, 3) for v in vals]
                            for k, vals in latency.items()},
        "safe_latency_over_two_periods": sum(v > bound for vals in latency.values()
                                             for v in vals),
        "good_readings": len(good),
        "good_unanswered": len(unanswered),
        "unanswered_at": unanswered[:MAX_LISTED],  # monotonic, this machine
        "foreign_commands": foreign,
        "commands": len(commands),
    }


def _trip_parts(trip: float, last_pub: float | None, next_pub: float | None,
                by_pub: dict[float, int], commands: list[tuple[float, int, bool]],
                actions: dict[int, float]) -> dict[str, float | None]:
    """Where a false trip's time went (ms): `reading_gap` from the last answered reading's
    publication to the next reading's (`next_pub`), `policy` from that reading to its
    action's arrival here, `actuator` from the action to its command's arrival (None: not
    seen)."""
    parts: dict[str, float | None] = {"reading_gap": None, "policy": None, "actuator": None}
    if last_pub is None or next_pub is None:
        return parts
    parts["reading_gap"] = round((next_pub - last_pub) * 1e3, 3)
    stamp = by_pub.get(next_pub)
    if stamp is None or stamp not in actions:
        return parts
    parts["policy"] = round((actions[stamp] - next_pub) * 1e3, 3)
    answer = next((t for t, s, safe in commands if s == stamp and not safe and t >= trip),
                  None)
    if answer is not None:
        parts["actuator"] = round((answer - actions[stamp]) * 1e3, 3)
    return parts


# --- fuzzer --------------------------------------------------------------------------------


def fuzz_readings(now_ns: int) -> list[tuple[str, dict[str, Any]]]:
    """Malformed readings (kind, fields): each breaks at least one rule the policy checks."""
    sec, nsec = divmod(now_ns, NS)
    good_pos, good_vel = [0.0, 0.02], [0.0, 0.0]
    names = ["cart_slider", "pole_hinge"]
    stamp = (sec, nsec)
    return [
        ("nan", dict(names=names, pos=[float("nan"), 0.0], vel=good_vel, stamp=stamp)),
        ("inf", dict(names=names, pos=good_pos, vel=[0.0, float("-inf")], stamp=stamp)),
        ("wrong_count", dict(names=names[:1], pos=[0.0], vel=[0.0], stamp=stamp)),
        ("wrong_count", dict(names=names, pos=[0.0, 0.0, 0.0], vel=good_vel, stamp=stamp)),
        ("look_alike", dict(names=["cart_slider", "p\u043ele_hinge"], pos=good_pos,
                            vel=good_vel, stamp=stamp)),
        ("unicode", dict(names=["\U0001f916", "pole\u200bhinge"], pos=good_pos,
                         vel=good_vel, stamp=stamp)),
        ("out_of_range", dict(names=names, pos=[0.0, 3.0], vel=good_vel, stamp=stamp)),
        ("stamp_not_normalized", dict(names=names, pos=good_pos, vel=good_vel,
                                      stamp=(sec, 1_500_000_000))),
        ("stamp_negative", dict(names=names, pos=good_pos, vel=good_vel, stamp=(-7, 0))),
        ("stamp_zero", dict(names=names, pos=good_pos, vel=good_vel, stamp=(0, 0))),
        ("stamp_future", dict(names=names, pos=good_pos, vel=good_vel,
                              stamp=(sec + 3600, nsec))),
    ]


def huge_readings(now_ns: int) -> list[tuple[str, dict[str, Any]]]:
    """About 1 MB each: 100k-element arrays, a 1 MB name, a 1 MB frame_id."""
    sec, nsec = divmod(now_ns, NS)
    big = [0.0] * HUGE
    return [
        ("huge_arrays", dict(names=["cart_slider"] * HUGE, pos=big, vel=big, stamp=(sec, nsec))),
        ("huge_positions", dict(names=["cart_slider", "pole_hinge"], pos=big, vel=[0.0, 0.0],
                                stamp=(sec, nsec))),
        ("huge_name", dict(names=["cart_slider", "p" * HUGE_FRAME_ID], pos=[0.0, 0.02],
                           vel=[0.0, 0.0], stamp=(sec, nsec))),
        ("huge_frame_id", dict(names=["cart_slider", "pole_hinge"], pos=[0.0, 0.02],
                               vel=[0.0, 0.0], stamp=(sec, nsec), frame_id="f" * HUGE_FRAME_ID)),
    ]


def fuzz_actions(now_ns: int) -> list[tuple[str, dict[str, Any]]]:
    """Malformed actions: each one the actuator must drop (none may command the robot)."""
    sec, nsec = divmod(now_ns, NS)
    return [
        ("no_button", dict(buttons=[], stamp=(sec, nsec))),
        ("two_buttons", dict(buttons=[1, 0], stamp=(sec, nsec))),
        ("index_negative", dict(buttons=[-1], stamp=(sec, nsec))),
        ("index_too_big", dict(buttons=[2**31 - 1], stamp=(sec, nsec))),
        ("stamp_not_normalized", dict(buttons=[1], stamp=(sec, 2_000_000_000))),
        ("stamp_negative", dict(buttons=[1], stamp=(-1, 0))),
        ("stamp_zero", dict(buttons=[0], stamp=(0, 0))),
        ("huge_buttons", dict(buttons=[1] * HUGE, stamp=(sec, nsec))),
        ("huge_axes", dict(buttons=[7], axes=[0.0] * HUGE, stamp=(sec, nsec))),
    ]


def run_fuzz(args: argparse.Namespace) -> None:
    """The fuzzer (own process): malformed input at a steady rate plus 2 kHz bursts."""
    import rclpy
    from sensor_msgs.msg import JointState, Joy

    from neuroq.ros_nodes.qos import command_qos, sensor_qos

    rclpy.init()
    node = rclpy.create_node("bench_soak_fuzzer")
    readings = node.create_publisher(JointState, "joint_states", sensor_qos())
    actions = node.create_publisher(Joy, "action", command_qos())
    counts: dict[str, int] = {}
    bursts: list[float] = []
    huge: list[float] = []  # when each megabyte reading went out

    def reading(kind: str, f: dict[str, Any]) -> None:
        msg = JointState(name=f["names"], position=f["pos"], velocity=f["vel"])
        msg.header.stamp.sec, msg.header.stamp.nanosec = f["stamp"]
        msg.header.frame_id = f.get("frame_id", "")
        readings.publish(msg)
        counts[f"reading_{kind}"] = counts.get(f"reading_{kind}", 0) + 1

    def action(kind: str, f: dict[str, Any]) -> None:
        msg = Joy(buttons=f["buttons"], axes=f.get("axes", []))
        msg.header.stamp.sec, msg.header.stamp.nanosec = f["stamp"]
        actions.publish(msg)
        counts[f"action_{kind}"] = counts.get(f"action_{kind}", 0) + 1

    t0 = time.monotonic()
    t_end = t0 + args.duration
    max_messages = int(args.duration * (args.fuzz_hz + 1) * 2
                       + (args.duration / args.burst_every + 1) * args.burst_n) + 100
    sent = 0
    k = 0
    huge_every = args.huge_every if args.huge_every > 0 else float("inf")
    next_huge = t0 + huge_every
    next_burst = t0 + args.burst_every
    while time.monotonic() < t_end and sent < max_messages:  # bounded in time and count
        now = time.monotonic()
        now_ns = node.get_clock().now().nanoseconds
        if now >= next_burst:
            bursts.append(now)
            small = fuzz_readings(now_ns)
            for i in range(args.burst_n):
                due = now + i / BURST_HZ
                time.sleep(max(due - time.monotonic(), 0.0))
                reading(*small[i % len(small)])
            sent += args.burst_n
            next_burst = now + args.burst_every
            continue
        if now >= next_huge:
            kind, f = huge_readings(now_ns)[k % 4]
            huge.append(now)
            reading(kind, f)
            big = fuzz_actions(now_ns)[-2 + k % 2]
            action(*big)
            sent += 2
            next_huge = now + huge_every
        small = fuzz_readings(now_ns)
        reading(*small[k % len(small)])
        acts = fuzz_actions(now_ns)[:-2]
        action(*acts[k % len(acts)])
        sent += 2
        k += 1
        time.sleep(1.0 / args.fuzz_hz)
    Path(args.result).write_text(json.dumps({"counts": counts, "sent": sent,
                                             "bursts": bursts, "huge": huge}))
    node.destroy_node()
    rclpy.try_shutdown()


# --- stall meter ---------------------------------------------------------------------------


def run_meter(args: argparse.Namespace) -> None:
    """A stall meter (own process, module docstring), on CPU `--cpu`: sleeps METER_SLEEP_S
    until its duration is over, records (monotonic time the wake-up was due, ms late) for
    each wake-up over STALL_LATE_MS late. No garbage collection runs in it."""
    import gc

    os.sched_setaffinity(0, {args.cpu})
    gc.disable()
    late: list[tuple[float, float]] = []
    wakeups = 0
    end = time.monotonic() + args.duration
    while (t0 := time.monotonic()) < end:
        time.sleep(METER_SLEEP_S)
        wakeups += 1
        ms = (time.monotonic() - t0 - METER_SLEEP_S) * 1e3
        if ms > STALL_LATE_MS:
            late.append((round(t0 + METER_SLEEP_S, 4), round(ms, 3)))
    Path(args.result).write_text(json.dumps({"cpu": args.cpu, "wakeups": wakeups,
                                             "late": late}))


def meter_priority_for(rt_priority: int) -> int | None:
    """The meters' SCHED_FIFO priority: METER_PRIORITY_ABOVE above the nodes (98 at most,
    so above them only for --rt-priority up to 96: the actuator takes one more), None for
    normal scheduling."""
    return min(rt_priority + METER_PRIORITY_ABOVE, 98) if rt_priority else None


def merge_meters(meters: list[dict[str, Any]]) -> dict[str, Any]:
    """The meters of all CPUs as one: wake-ups summed, late ones in time order."""
    return {"cpus": [m["cpu"] for m in meters], "wakeups": sum(m["wakeups"] for m in meters),
            "late": sorted(x for m in meters for x in m["late"])}


def stall_summary(meter: dict[str, Any], trips: list[float],
                  after_megabyte_s: list[float]) -> dict[str, Any]:
    """The meter's counts, per false trip (monotonic s) its worst lateness (ms) in the
    STALL_WINDOW_S before the trip (0.0: none over STALL_LATE_MS), and the trips sorted by
    what came before them: a stall of the machine (the meter over STALL_MS late), else a
    megabyte reading within MEGABYTE_WINDOW_S (`after_megabyte_s`: per trip, s since the
    last one), else neither."""
    late = meter["late"]  # (due, ms late): the stall spans [due, due + ms]
    times = [t for t, _ in late]
    longest_s = max((ms for _, ms in late), default=0.0) / 1e3
    per_trip = []
    for trip in trips:  # every stall that overlaps the window, a long one begun before it too
        lo = bisect.bisect_left(times, trip - STALL_WINDOW_S - longest_s)
        hi = bisect.bisect_right(times, trip)
        per_trip.append(max((ms for due, ms in late[lo:hi]
                             if due + ms / 1e3 >= trip - STALL_WINDOW_S), default=0.0))
    return {"cpus": meter.get("cpus"), "wakeups": meter["wakeups"],
            "over_2ms": sum(ms > STALL_MS for _, ms in late),
            "over_5ms": sum(ms > 5.0 for _, ms in late),
            "max_ms": max((ms for _, ms in late), default=0.0),
            "trip_worst_ms": per_trip,
            "trips_in_a_stall": sum(ms > STALL_MS for ms in per_trip),
            "trips_after_a_megabyte_reading": sum(
                ms <= STALL_MS and since < MEGABYTE_WINDOW_S
                for ms, since in zip(per_trip, after_megabyte_s, strict=True)),
            "trips_neither": sum(ms <= STALL_MS and since >= MEGABYTE_WINDOW_S
                                 for ms, since in zip(per_trip, after_megabyte_s, strict=True))}


# --- orchestration -------------------------------------------------------------------------


def rss_mib(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return None


def stop(procs: dict[str, subprocess.Popen]) -> dict[str, int | None]:
    from neuroq.ros_nodes.processes import stop_processes

    for p in procs.values():  # a stopped policy must be able to handle its signal
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
    return stop_processes(procs, signal.SIGTERM, STOP_TIMEOUT_S)


def soak(args: argparse.Namespace, rate: float, out: Path) -> dict[str, Any]:
    """One rate: start the four processes, sample memory, gather the results."""
    folder = out / f"{rate:g}hz"
    folder.mkdir(parents=True, exist_ok=True)
    period = 1.0 / rate
    timeout = args.watchdog_periods * period
    node_args = {
        "policy": ["-p", f"artifact:={args.artifact}", "-p", "latency_window:=100000",
                   "-p", f"realtime_priority:={args.rt_priority}",
                   *[a for kv in args.policy_param for a in ("-p", kv)]],
        "actuator": ["-p", f"watchdog_timeout_s:={timeout:.6f}", "-p",
                     "latency_window:=100000", "-p",
                     f"realtime_priority:={args.rt_priority + 1 if args.rt_priority else 0}"],
    }
    procs: dict[str, subprocess.Popen] = {}
    logs = []
    script = [sys.executable, str(Path(__file__).resolve())]
    common = ["--watchdog-periods", str(args.watchdog_periods),
              "--duration", str(args.duration), "--warmup", str(args.warmup), "--rate",
              str(rate), "--fault-every", str(args.fault_every), "--fault-s",
              str(args.fault_s), "--settle", str(args.settle), "--fuzz-hz", str(args.fuzz_hz),
              "--burst-every", str(args.burst_every), "--burst-n", str(args.burst_n),
              "--huge-every", str(args.huge_every),
              "--domain-id", str(args.domain_id)]
    rss: dict[str, list[tuple[float, float]]] = {"policy": [], "actuator": []}

    def niced() -> None:  # in the child, before exec
        if args.nice:
            os.nice(args.nice)

    def robot_scheduling() -> None:  # the nodes take --rt-priority as their parameter
        niced()
        if args.rt_priority:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.rt_priority))

    meter_priority = meter_priority_for(args.rt_priority)

    def meter_scheduling() -> None:  # above the nodes (module docstring)
        if meter_priority:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(meter_priority))

    try:
        for name in ("policy", "actuator"):
            log = open(folder / f"{name}.log", "w")  # noqa: SIM115 - closed below
            logs.append(log)
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", f"neuroq.ros_nodes.{name}_node", "--ros-args",
                 "--params-file", str(CONFIG), *node_args[name]], cwd=REPO, stdout=log,
                stderr=subprocess.STDOUT, preexec_fn=niced)
        started = time.monotonic()
        while "active" not in (folder / "policy.log").read_text():  # artifact loaded
            if time.monotonic() - started > START_TIMEOUT_S or procs["policy"].poll() is not None:
                raise RuntimeError(f"the policy node did not start; see {folder}/policy.log")
            time.sleep(0.2)
        def role(name: str, extra: list[str], preexec: Any = None, kind: str = "") -> None:
            """This script in `--role kind` (default: name), its output in <name>.log, its
            result in <name>.json."""
            log = open(folder / f"{name}.log", "w")  # noqa: SIM115 - closed below
            logs.append(log)
            procs[name] = subprocess.Popen(
                [*script, "--role", kind or name, *common, *extra,
                 "--result", str(folder / f"{name}.json")], stdout=log,
                stderr=subprocess.STDOUT, preexec_fn=preexec)

        # the fuzzer and the meter run until after the robot's last reading: a participant
        # leaving DDS is an event of its own (the robot's readings came 15-16 ms apart when
        # the fuzzer left 5 s before the end)
        overrun = ["--duration", str(args.warmup + args.duration + FUZZ_OVERRUN_S)]
        role("robot", ["--policy-pid", str(procs["policy"].pid)], robot_scheduling)
        if not args.no_fuzz:
            role("fuzz", overrun)
        for cpu in sorted(os.sched_getaffinity(0)):
            role(f"meter{cpu}", [*overrun, "--cpu", str(cpu)], meter_scheduling, "meter")
        t0 = time.monotonic()
        limit = t0 + args.warmup + args.duration + TAIL_S + 60.0  # bounded in time
        while procs["robot"].poll() is None and time.monotonic() < limit:
            t = time.monotonic() - t0
            for name in rss:
                value = rss_mib(procs[name].pid)
                if value is not None:
                    rss[name].append((t, value))
            time.sleep(1.0)
        robot_code = procs["robot"].wait(timeout=30.0)
        for name in procs:
            if name == "fuzz" or name.startswith("meter"):
                procs[name].wait(timeout=30.0)
    finally:
        codes = stop(procs)
        for log in logs:
            log.close()
    if robot_code != 0:
        raise RuntimeError(f"the robot harness failed ({robot_code}); see {folder}/robot.log")
    result = json.loads((folder / "robot.json").read_text())
    fuzz = (json.loads((folder / "fuzz.json").read_text())
            if (folder / "fuzz.json").exists() else {"counts": {}, "sent": 0, "bursts": []})
    bursts = fuzz["bursts"]  # the robot's and the fuzzer's clock: this machine's monotonic
    result["unanswered_nearest_burst_s"] = _since_last(result["unanswered_at"], bursts)
    result["false_trip_after_burst_s"] = _since_last(result["false_trip_at"], bursts)
    result["false_trip_after_huge_s"] = _since_last(result["false_trip_at"],
                                                    fuzz.get("huge", []))
    meters = [json.loads(f.read_text()) for f in sorted(folder.glob("meter*.json"))]
    result["stalls"] = (stall_summary(merge_meters(meters), result["false_trip_at"],
                                      result["false_trip_after_huge_s"])
                        if meters else None)
    result["meter_priority"] = meter_priority
    result["fuzz_sent"] = fuzz["sent"]
    result["fuzz_counts"] = fuzz["counts"]
    growth = {}
    for name, samples in rss.items():
        after = [v for t, v in samples if t >= args.warmup]
        growth[name] = {"every_10s_mib": [round(v, 2) for t, v in samples[::10]],
                        "at_warmup_mib": after[0] if after else None,
                        "at_end_mib": after[-1] if after else None,
                        "max_mib": max(after) if after else None,
                        "growth_mib": (after[-1] - after[0]) if after else None}
    result["rss"] = growth
    result["exit_codes"] = codes
    safe_stop_lines = [ln for ln in (folder / "actuator.log").read_text().splitlines()
                       if "safe stop" in ln]
    result["actuator_safe_stop_log"] = safe_stop_lines
    # what each node made of realtime_priority (its start-up line), as it logged it
    result["node_scheduling"] = {
        name: next((ln.split("]: ", 1)[-1] for ln in (folder / f"{name}.log").read_text()
                    .splitlines() if "SCHED_FIFO" in ln), "normal scheduling")
        for name in ("policy", "actuator")}
    result.update(rate_hz=rate, period_ms=period * 1e3, watchdog_timeout_ms=timeout * 1e3,
                  duration_s=args.duration, nice=args.nice,
                  rt_priority=args.rt_priority, fuzz=not args.no_fuzz)
    return result


def _since_last(times: list[float], events: list[float]) -> list[float]:
    """For each of `times`, seconds since the last of `events` at or before it (inf: none)."""
    return [round(min((u - b for b in events if b <= u), default=float("inf")), 3)
            for u in times]


def machine_state() -> dict[str, Any]:
    import psutil

    t = psutil.cpu_times()
    return {"cpus": psutil.cpu_count(), "load_avg": os.getloadavg(),
            "steal_s": getattr(t, "steal", None), "total_s": sum(t)}


def steal_share(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    if before["steal_s"] is None:
        return None
    total = after["total_s"] - before["total_s"]
    return (after["steal_s"] - before["steal_s"]) / total if total > 0 else None


def report(r: dict[str, Any]) -> str:
    """A few lines per rate."""
    lat = [v for vals in r["safe_latency_ms"].values() for v in vals]
    diag = r["diagnostics"]
    act = next((v for k, v in diag.items() if k.endswith("neuroq_actuator")), {})
    pol = next((v for k, v in diag.items() if k.endswith("neuroq_policy")), {})
    drops = {k[len("dropped_"):]: v for k, v in pol.items()
             if k.startswith("dropped_") and v != "0"}

    def ms(vals: list[float]) -> str:
        if not vals:
            return "none"
        return (f"median {np.median(vals):.1f} ms, max {max(vals):.1f} ms "
                f"({len(vals)} faults)")

    return "\n".join([
        f"{r['rate_hz']:g} Hz ({r['period_ms']:.1f} ms period, watchdog "
        f"{r['watchdog_timeout_ms']:.1f} ms), {r['duration_s']:g} s soaked, fuzz "
        f"{'on' if r['fuzz'] else 'off'}, nice {r['nice']}, robot SCHED_FIFO "
        f"{r.get('rt_priority') or 'off'}, nodes {r.get('node_scheduling')}, steal "
        f"{_pct(r.get('steal'))}, load average {r.get('load_avg_after')}:",
        f"  false watchdog trips: {r['false_trips']}, of which the robot's own next reading "
        f"was a timeout late: {r['false_trips_reading_late']} (actuator counted "
        f"{act.get('watchdog_trips')} trips for {r['faults']} faults); faults without a "
        f"trip: {r['faults_without_trip']}; s after the last burst began: "
        f"{r['false_trip_after_burst_s'][:10]}; after the last megabyte reading: "
        f"{r.get('false_trip_after_huge_s', [])[:10]}",
        f"  where each false trip's time went (ms: last answered reading -> next reading, "
        f"that reading -> its action here, action -> command): "
        f"{[_parts(p) for p in r.get('false_trip_parts_ms', [])[:10]]}",
        f"  {_stalls(r)}",
        f"  safe command after a sensor loss: {ms(r['safe_latency_ms']['sensor_loss'])}",
        f"  safe command after a stopped policy: {ms(r['safe_latency_ms']['policy_stop'])}",
        f"  over two periods ({2 * r['period_ms']:.0f} ms): "
        f"{r['safe_latency_over_two_periods']} of {len(lat)}",
        f"  good readings answered: {r['good_readings'] - r['good_unanswered']} of "
        f"{r['good_readings']} (unanswered, s after the last burst began: "
        f"{r['unanswered_nearest_burst_s'][:10]})",
        f"  commands not answering a reading of the robot: {r['foreign_commands']}",
        f"  RSS growth after warm-up: policy {_mib(r['rss']['policy']['growth_mib'])}, "
        f"actuator {_mib(r['rss']['actuator']['growth_mib'])} (policy "
        f"{_mib(r['rss']['policy']['at_warmup_mib'])} -> "
        f"{_mib(r['rss']['policy']['at_end_mib'])})",
        f"  watchdog margin (robot's view: last answer's reading + timeout - next command's "
        f"arrival, ms): {_margin(r['robot_margin_ms'])}; actuator's own, min over periods "
        f"outside faults {r['actuator_margin_min_ms']} ms ({r['actuator_margin_periods']} "
        f"periods); timer late max {act.get('watchdog_late_max_ms')} ms; actuator "
        f"reading->command p99 {act.get('reading_to_command_latency_p99_ms')} ms",
        f"  fuzz sent {r['fuzz_sent']}; policy drops {drops}; actuator bad actions "
        f"{act.get('bad_actions')}",
        f"  exit codes {r['exit_codes']}; actuator: {r['actuator_safe_stop_log'][-1:]}",
    ])


def _stalls(r: dict[str, Any]) -> str:
    st = r.get("stalls")
    if not st:
        return "stall meters: no result"
    prio = r.get("meter_priority")
    return (f"stall meters (1 ms sleeps, one on each of CPUs {st.get('cpus')}, "
            f"{f'SCHED_FIFO {prio}' if prio else 'normal priority'}): {st['wakeups']} "
            f"wake-ups, {st['over_2ms']} over {STALL_MS:g} ms late, {st['over_5ms']} over 5 "
            f"ms, worst {st['max_ms']:.1f} ms; false trips with a meter over {STALL_MS:g} ms "
            f"late in the {STALL_WINDOW_S * 1e3:g} ms before them: {st['trips_in_a_stall']} "
            f"of {len(st['trip_worst_ms'])}"
            f"{' listed' if len(st['trip_worst_ms']) < r['false_trips'] else ''}; of the "
            f"others, {st['trips_after_a_megabyte_reading']} within "
            f"{MEGABYTE_WINDOW_S * 1e3:g} ms after a megabyte reading, {st['trips_neither']} "
            f"after neither (the meters' worst per trip, ms: {st['trip_worst_ms'][:10]})")


def _parts(p: dict[str, float | None]) -> str:
    return "/".join("-" if p[k] is None else f"{p[k]:.1f}"
                    for k in ("reading_gap", "policy", "actuator"))


def _margin(m: dict[str, float] | None) -> str:
    if not m:
        return "n/a"
    return (f"min {m['min']:.2f}, p0.1 {m['p0.1']:.2f}, p1 {m['p1']:.2f}, median "
            f"{m['median']:.2f} over {m['n']} commands")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f} %"


def _mib(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    confine_dds(args.domain_id)
    if args.role == "robot":
        run_robot(args)
        return 0
    if args.role == "fuzz":
        run_fuzz(args)
        return 0
    if args.role == "meter":
        run_meter(args)
        return 0
    out = Path(args.out or REPO / "runs" / time.strftime("bench-safety-soak-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for rate in args.rates:
        before = machine_state()
        r = soak(args, rate, out)
        after = machine_state()
        r["steal"] = steal_share(before, after)
        r["load_avg_after"] = [round(x, 2) for x in after["load_avg"]]
        results.append(r)
        print(report(r), flush=True)
        (out / "result.json").write_text(json.dumps(results, indent=1))
    print(f"results: {out / 'result.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
