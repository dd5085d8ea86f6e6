"""CartPole closed loop over ROS 2 (real DDS, loopback only), nodes in separate processes.

    python bench/bench_ros_loop.py --artifact runs/CartPole-v1/<export>/artifact \
        --rates 100 500 --duration 60

For each control rate it starts the simulated robot, the policy node (the artifact on the
chosen backend) and the actuator node as three processes, with config/cartpole_sim.yaml plus
the rate's own settings, and watches the loop from this process for `duration` seconds:

- lost commands: readings this process saw that no command answered (commands carry the
  stamp of the reading they answer), and the simulated robot's own count of answers it gave
  up waiting for; late ticks: ticks at which the answer had not arrived yet;
- latency from sensor message to command message: the command's arrival here minus the
  reading's stamp (both this machine's system clock), so it covers reading transport,
  policy node, action transport, actuator node and command transport; median and p99;
- peak resident memory (VmHWM) of the policy node process, which imports no torch;
- the policy node's own figures (from /diagnostics): act latency, spikes and modeled energy
  per action; watchdog trips of the actuator; episode returns.

DDS stays on loopback: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a domain id of this run
are set below before rclpy is imported, and the node processes inherit them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# ROS 2 domain ids 0-101 are safe on Linux
ROS_DOMAIN_IDS = 102


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", help="deploy artifact folder (default: newest CartPole-v1 "
                   "artifact under runs/)")
    p.add_argument("--backend", default="emulator", choices=["emulator", "reference"])
    p.add_argument("--rates", type=float, nargs="+", default=[100.0, 500.0],
                   help="control rates in Hz (default: 100 500)")
    p.add_argument("--duration", type=float, default=60.0,
                   help="seconds measured per rate (default: 60)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    p.add_argument("--domain-id", type=int, default=os.getpid() % ROS_DOMAIN_IDS)
    p.add_argument("--out", default=str(REPO / "runs"), help="where the run folder goes")
    return p.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:  # before rclpy is imported: keep DDS on loopback, on our own domain
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_DOMAIN_ID"] = str(ARGS.domain_id)

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64  # noqa: E402

from deploy.errors import NeuroqError  # noqa: E402
from deploy.runs import make_run_dir  # noqa: E402
from ros_nodes.common import command_qos, latched_qos, sensor_qos, stamp_ns  # noqa: E402

CONFIG = REPO / "config" / "cartpole_sim.yaml"
# the watchdog fires after this many control periods without an action
WATCHDOG_PERIODS = 1.5
# readings younger than this at the end are still in flight, not lost
IN_FLIGHT_S = 0.5
STOP_TIMEOUT_S = 5.0
START_TIMEOUT_S = 30.0


def find_artifact() -> Path:
    manifests = sorted((REPO / "runs").glob("CartPole-v1/**/manifest.json"),
                       key=lambda p: p.stat().st_mtime)
    for m in reversed(manifests):
        try:
            if json.loads(m.read_text()).get("env_id") == "CartPole-v1":
                return m.parent
        except (OSError, json.JSONDecodeError):
            continue
    raise NeuroqError("no CartPole-v1 artifact under runs/: export one, or pass --artifact")


class Watcher(Node):
    """Records readings, commands (arrival, system clock), returns and diagnostics."""

    def __init__(self) -> None:
        super().__init__("bench_ros_loop_watcher")
        self.readings: dict[int, int] = {}  # stamp -> arrival ns
        self.commands: dict[int, int] = {}  # answered stamp -> arrival ns
        self.safe_commands = 0
        self.returns: list[float] = []
        self.status: dict[str, dict[str, str]] = {}
        self.create_subscription(JointState, "joint_states", self._reading, sensor_qos(100))
        self.create_subscription(JointState, "joint_commands", self._command, command_qos(1000))
        self.create_subscription(Float64, "episode_return",
                                 lambda m: self.returns.append(m.data), latched_qos())
        self.create_subscription(DiagnosticArray, "/diagnostics", self._diag, command_qos(100))

    def _reading(self, msg: JointState) -> None:
        self.readings[stamp_ns(msg.header.stamp)] = time.time_ns()

    def _command(self, msg: JointState) -> None:
        now = time.time_ns()
        if msg.effort and msg.effort[0] == 0.0:
            self.safe_commands += 1
            return
        self.commands.setdefault(stamp_ns(msg.header.stamp), now)

    def _diag(self, msg: DiagnosticArray) -> None:
        for s in msg.status:
            self.status[s.name] = {kv.key: kv.value for kv in s.values}


def _peak_rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _start(rate: float, artifact: Path, backend: str,
           log_dir: Path) -> dict[str, subprocess.Popen]:
    period = 1.0 / rate
    common = ["--ros-args", "--params-file", str(CONFIG)]
    commands = {
        "sim_robot": ["ros_nodes.sim_robot_node", "-p", f"control_rate_hz:={rate}"],
        "policy": ["ros_nodes.policy_node", "-p", f"artifact:={artifact}",
                   "-p", f"backend:={backend}", "-p", "latency_window:=100000"],
        "actuator": ["ros_nodes.actuator_node",
                     "-p", f"watchdog_timeout_s:={WATCHDOG_PERIODS * period:.6f}"],
    }
    procs = {}
    for name, (module, *params) in commands.items():
        log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", module, *common, *params], cwd=REPO,
            env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
    return procs


def _stop(procs: dict[str, subprocess.Popen]) -> dict[str, int | None]:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    codes = {}
    for name, p in procs.items():
        try:
            p.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=STOP_TIMEOUT_S)
        codes[name] = p.returncode
    return codes


def _spin_for(node: Node, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=min(0.05, max(end - time.monotonic(), 0.0)))


def run_rate(rate: float, artifact: Path, args: argparse.Namespace, log_dir: Path) -> dict:
    log_dir.mkdir(parents=True, exist_ok=True)
    watcher = Watcher()
    procs = _start(rate, artifact, args.backend, log_dir)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not watcher.commands and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs.values()):
                break
            rclpy.spin_once(watcher, timeout_sec=0.05)
        if not watcher.commands:
            raise NeuroqError(f"no command within {START_TIMEOUT_S:.0f} s at {rate:g} Hz; "
                              f"see the logs in {log_dir}")
        _spin_for(watcher, args.warmup)
        watcher.readings.clear()
        watcher.commands.clear()
        watcher.safe_commands = 0
        t0 = time.time_ns()
        start_status = {k: dict(v) for k, v in watcher.status.items()}
        _spin_for(watcher, args.duration)
        t_end = time.time_ns()
        pids = {name: p.pid for name, p in procs.items()}
        peak = {name: _peak_rss_kib(pid) for name, pid in pids.items()}
        _spin_for(watcher, 1.2)  # the last diagnostics of the run
    finally:
        codes = _stop(procs)
    settled = {s: t for s, t in watcher.readings.items()
               if t0 <= s and s < t_end - IN_FLIGHT_S * 1e9}
    matched = [watcher.commands[s] - s for s in settled if s in watcher.commands]
    lost = [s for s in settled if s not in watcher.commands]
    lat_ms = np.array(matched, float) * 1e-6
    sim = watcher.status.get("neuroq: /neuroq_sim_robot", {})
    sim0 = start_status.get("neuroq: /neuroq_sim_robot", {})
    pol = watcher.status.get("neuroq: /neuroq_policy", {})
    act = watcher.status.get("neuroq: /neuroq_actuator", {})

    def delta(key: str) -> int | None:
        if key not in sim or key not in sim0:
            return None
        return int(sim[key]) - int(sim0[key])

    watcher.destroy_node()
    return {
        "rate_hz": rate,
        "duration_s": (t_end - t0) * 1e-9,
        "readings_seen": len(settled),
        "commands_matched": len(matched),
        "lost_commands_seen": len(lost),
        "sim_lost_commands": delta("lost_commands"),
        "sim_late_ticks": delta("late_ticks"),
        "sim_ticks": delta("ticks"),
        "sim_steps": delta("steps"),
        "latency_sensor_to_command_ms": {
            "median": float(np.median(lat_ms)) if lat_ms.size else None,
            "p99": float(np.percentile(lat_ms, 99)) if lat_ms.size else None,
            "max": float(lat_ms.max()) if lat_ms.size else None,
        },
        "policy_node_peak_rss_mib": None if peak["policy"] is None else peak["policy"] / 1024,
        "peak_rss_mib": {k: None if v is None else v / 1024 for k, v in peak.items()},
        "policy_diagnostics": pol,
        "actuator_watchdog_trips": act.get("watchdog_trips"),
        "safe_commands_seen": watcher.safe_commands,
        "episode_returns": list(watcher.returns),
        "exit_codes": codes,
    }


def main() -> int:
    args = ARGS
    try:
        artifact = Path(args.artifact) if args.artifact else find_artifact()
        out = make_run_dir(args.out, "CartPole-v1", "bench-ros-loop")
    except NeuroqError as exc:
        print(f"bench_ros_loop: error: {exc}", file=sys.stderr)
        return 2
    print(f"artifact {artifact}, backend {args.backend}, ROS_DOMAIN_ID {args.domain_id} "
          f"(loopback only), {args.duration:g} s per rate; results in {out}", flush=True)
    rclpy.init()
    results = []
    try:
        for rate in args.rates:
            print(f"-- {rate:g} Hz ...", flush=True)
            r = run_rate(rate, artifact, args, out / f"logs-{rate:g}hz")
            results.append(r)
            lat = r["latency_sensor_to_command_ms"]
            pol = r["policy_diagnostics"]
            rets = r["episode_returns"]
            mean_return = float(np.mean(rets)) if rets else float("nan")
            print(f"   readings {r['readings_seen']}, commands {r['commands_matched']}, "
                  f"lost {r['lost_commands_seen']} (sim: lost {r['sim_lost_commands']}, late "
                  f"ticks {r['sim_late_ticks']} of {r['sim_ticks']})\n"
                  f"   sensor->command latency median {lat['median']:.3f} ms, "
                  f"p99 {lat['p99']:.3f} ms, max {lat['max']:.3f} ms\n"
                  f"   policy node peak RSS {r['policy_node_peak_rss_mib']:.1f} MiB; act "
                  f"latency median {pol.get('act_latency_median_ms', '?')} ms p99 "
                  f"{pol.get('act_latency_p99_ms', '?')} ms; spikes/action "
                  f"{pol.get('spikes_per_action', '?')}; modeled energy/action "
                  f"{pol.get('modeled_energy_per_action_j', '?')} J\n"
                  f"   watchdog trips {r['actuator_watchdog_trips']}, safe commands "
                  f"{r['safe_commands_seen']}, episodes {len(rets)} (mean return "
                  f"{mean_return:.1f})",
                  flush=True)
    except NeuroqError as exc:
        print(f"bench_ros_loop: error: {exc}", file=sys.stderr)
        return 2
    finally:
        rclpy.try_shutdown()
    result = {"artifact": str(artifact), "backend": args.backend, "results": results,
              "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()}}
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
