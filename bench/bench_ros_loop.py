"""CartPole closed loop over ROS 2 (real DDS, loopback only), nodes in separate processes.

    python bench/bench_ros_loop.py --artifact runs/CartPole-v1/<run>/network \
        --rates 100 500 --duration 60

For each control rate, `neuroq.ros_nodes.closed_loop.run_closed_loop` starts the simulated robot,
the policy node (the artifact on the chosen backend) and the actuator node as three
processes with config/cartpole_sim.yaml plus the rate's own settings, and watches the loop
from this process for `duration` seconds after a warm-up. Reported per rate:

- lost commands and late ticks, from the sim robot's own counters (lockstep: every reading
  must be answered; a late tick is one at which the answer had not arrived yet, so the
  loop ran slower; waiting for the very first command is counted apart as start-up);
- latency from sensor message to command message as the robot sees it: the reading's
  stamp to the arrival of the command answering it, in the sim robot's process (one system
  clock): median, p99 (log-binned, 0.5 % resolution) and max; and the actuator's figure,
  reading stamp to command published;
- with --observer, the same seen from this process: every reading and command, exact
  percentiles, lost commands seen from outside, and one hop (reading -> here) for scale.
  The observer is one more reader on the loop's topics, so it slows each publish a little;
- the machine's own wake-up lateness just before the loop (--probe seconds of sleeping one
  period at a time): a floor under the loop's tail that no node code removes;
- the machine's CPU shares while watched, steal included (time the hypervisor gave to
  other guests: on a shared virtual machine it is what latency tails suffer from);
- peak resident memory (VmHWM) of the policy node process (it imports no torch);
- the policy node's own figures from /diagnostics: act latency, spikes and modeled energy
  per action; the actuator's watchdog trips; episode returns.

DDS stays on loopback: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a domain id of this run
are set below before rclpy is imported; the node processes inherit them. Results go to
runs/CartPole-v1/bench-ros-loop-<time>/result.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# ROS 2 domain ids 0-101 are safe on Linux
ROS_DOMAIN_IDS = 102


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", help="deploy artifact folder (default: newest CartPole-v1 "
                   "artifact under runs/)")
    p.add_argument("--backend", default="emulator", choices=["emulator", "reference"])
    p.add_argument("--rates", type=float, nargs="+", default=[100.0, 500.0],
                   help="control rates in Hz (default: 100 500)")
    p.add_argument("--duration", type=float, default=60.0,
                   help="seconds watched per rate (default: 60)")
    p.add_argument("--warmup", type=float, default=5.0,
                   help="seconds of running loop before watching (default: 5; DDS discovery "
                   "stalls a process for 333 ms at most once per new peer, at the first periodic "
                   "announcement about 3 s after start; see docs/ros.md)")
    p.add_argument("--returns-episodes", type=int, default=3,
                   help="then run this many episodes at the first rate and compare their "
                   "returns with the in-process evaluation of the same seeds (0: skip)")
    p.add_argument("--observer", action="store_true",
                   help="also watch every reading and command from this process (exact "
                   "per-reading latencies and losses seen from outside, at the cost of one "
                   "more reader on the loop's topics); default: the nodes' own figures")
    p.add_argument("--probe", type=float, default=5.0,
                   help="seconds of the machine wake-up probe before each rate (0: skip)")
    p.add_argument("--wakeup-latency-us", type=int, default=-1,
                   help="hold the CPUs' wake-up latency under this many us during the probe "
                   "and the loop (PM QoS /dev/cpu_dma_latency; every node gets "
                   "cpu_wakeup_latency_us; needs write access to the device; default -1: "
                   "leave the machine as it is)")
    p.add_argument("--prewarm-lead-s", type=float, default=None,
                   help="the policy node's prewarm_lead_s (default: the config file's)")
    p.add_argument("--domain-id", type=int, default=os.getpid() % ROS_DOMAIN_IDS)
    p.add_argument("--out", default=str(REPO / "runs"), help="root of the run folder")
    return p.parse_args()


def _pct(x: float | None) -> str:
    return "?" if x is None else f"{100 * x:.0f} %"


def _mib(x: float | None) -> str:
    return "?" if x is None else f"{x:.1f} MiB"


def _ms(x: float | None) -> str:
    return "?" if x is None else f"{x:.3f} ms"


def wakeup_probe(period_s: float, duration_s: float) -> dict[str, float | int]:
    """How late this machine wakes a sleeping thread (a cyclictest-like figure), ms.

    Sleeps one control period at a time for `duration_s` and records how much later than
    asked each wake-up came. Every message of the loop wakes a process, three per action,
    so this lateness is a floor under the loop's latency tail that no node code can remove.
    """
    late: list[float] = []
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        t = time.monotonic()
        time.sleep(period_s)
        late.append(time.monotonic() - t - period_s)
    a = np.asarray(late) * 1e3
    median, p99 = np.percentile(a, [50, 99], method="inverted_cdf")  # nearest rank
    return {"samples": len(a), "median_ms": float(median), "p99_ms": float(p99),
            "max_ms": float(a.max()), "over_1ms": float(np.mean(a > 1.0))}


def print_report(r: dict) -> None:
    """One rate's figures, as `LoopReport.summary()` gives them."""
    pol, robot = r["policy_diagnostics"], r["robot_loop_latency_ms"]
    act_lat = r["actuator_reading_to_command_ms"]
    rets = r["episode_returns"]
    mean_return = sum(rets) / len(rets) if rets else float("nan")
    lines = [
        f"sim robot: lost commands while watched {r['sim_lost_commands_watched']}, in the "
        f"whole run {r['sim_lost_commands']} (answered later "
        f"{r['sim_answers_after_loss']}), late ticks "
        f"{r['sim_late_ticks']} of {r['sim_ticks']} (start-up waits {r['sim_startup_ticks']}; "
        f"timer catch-up ticks skipped {r['sim_burst_ticks_skipped']})",
        f"sensor->command latency at the robot (reading stamp -> command arrival, "
        f"{r['robot_loop_latency_samples'] or 0:.0f} commands incl. warm-up): median "
        f"{_ms(robot['median'])}, p99 {_ms(robot['p99'])}, max {_ms(robot['max'])}",
        f"reading stamp -> command published (actuator): median {_ms(act_lat['median'])}, "
        f"p99 {_ms(act_lat['p99'])}",
    ]
    if r["readings_seen"]:
        lat, hop = r["latency_sensor_to_command_ms"], r["reading_transport_ms"]
        lines.append(
            f"observer: readings {r['readings_seen']}, answered {r['commands_matched']}, lost "
            f"{r['lost_commands_seen']}; reading stamp -> command arrival here median "
            f"{_ms(lat['median'])}, p99 {_ms(lat['p99'])}, max {_ms(lat['max'])}; one hop "
            f"(reading -> here) median {_ms(hop['median'])}, p99 {_ms(hop['p99'])}")
    probe = r.get("machine_wakeup_lateness")
    if probe:
        lines.append(
            f"machine wake-up lateness before the loop (sleep one period, {probe['samples']} "
            f"wake-ups): median {_ms(probe['median_ms'])}, p99 {_ms(probe['p99_ms'])}, max "
            f"{_ms(probe['max_ms'])}; {_pct(probe['over_1ms'])} over 1 ms")
    lines += [
        f"policy node peak RSS {_mib(r['peak_rss_mib']['policy'])}; act latency median "
        f"{pol.get('act_latency_median_ms', '?')} ms, p99 {pol.get('act_latency_p99_ms', '?')} "
        f"ms (reading stamp -> action published: median "
        f"{pol.get('reading_to_action_latency_median_ms', '?')} ms); pre-warm runs "
        f"{pol.get('prewarm_runs', '?')}; spikes/action {pol.get('spikes_per_action', '?')}; "
        f"modeled energy/action {pol.get('modeled_energy_per_action_j', '?')} J",
        f"watchdog trips {r['watchdog_trips']}; episodes {len(rets)} (mean return "
        f"{mean_return:.1f})",
        f"machine CPU while watched: busy {_pct(r['cpu_shares'].get('busy'))}, steal "
        f"{_pct(r['cpu_shares'].get('steal'))} (taken by the hypervisor); node CPU (share of "
        f"one core): " + ", ".join(f"{k} {_pct(v)}" for k, v in r["node_cpu_cores"].items()),
    ]
    print("\n".join("   " + line for line in lines), flush=True)


def find_artifact() -> Path | None:
    """The newest artifact folder under runs/ whose manifest names CartPole-v1."""
    manifests = sorted((REPO / "runs").glob("CartPole-v1/**/manifest.json"),
                       key=lambda p: p.stat().st_mtime)
    for m in reversed(manifests):
        try:
            if json.loads(m.read_text()).get("env_id") == "CartPole-v1":
                return m.parent
        except (OSError, json.JSONDecodeError):
            continue
    return None


def main() -> int:
    args = parse_args()
    # before rclpy is imported anywhere: DDS on loopback, on this run's own domain
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    sys.path.insert(0, str(REPO))
    from neuroq.agents.runs import make_run_dir
    from neuroq.deploy.errors import NeuroqError
    from neuroq.ros_nodes.closed_loop import run_closed_loop
    from neuroq.ros_nodes.realtime import hold_wakeup_latency

    artifact = Path(args.artifact) if args.artifact else find_artifact()
    if artifact is None:
        print("bench_ros_loop: error: no CartPole-v1 artifact under runs/; pass --artifact",
              file=sys.stderr)
        return 2
    held = args.wakeup_latency_us >= 0
    if held:  # one request, held until this process exits: probe and loop see one machine
        try:  # (the nodes hold their own too); failing here beats three node logs
            hold_wakeup_latency(args.wakeup_latency_us)
        except OSError as exc:
            print(f"bench_ros_loop: error: --wakeup-latency-us: {exc}", file=sys.stderr)
            return 2
    node_params: dict[str, dict] = {}
    if held:
        node_params = {n: {"cpu_wakeup_latency_us": args.wakeup_latency_us}
                       for n in ("sim_robot", "policy", "actuator")}
    if args.prewarm_lead_s is not None:
        node_params.setdefault("policy", {})["prewarm_lead_s"] = args.prewarm_lead_s
    out = make_run_dir(args.out, "CartPole-v1", "bench-ros-loop")
    print(f"artifact {artifact}, backend {args.backend}, ROS_DOMAIN_ID {args.domain_id}, "
          f"executor {os.environ.get('NEUROQ_ROS_EXECUTOR') or 'events'} "
          f"(loopback only), {args.duration:g} s per rate; results in {out}", flush=True)
    lead = "the config's" if args.prewarm_lead_s is None else f"{args.prewarm_lead_s:g} s"
    hold = f"{args.wakeup_latency_us} us" if held else "none"
    print(f"wake-up latency hold: {hold}; policy pre-warm lead: {lead}", flush=True)
    results = []
    for rate in args.rates:
        print(f"-- {rate:g} Hz ...", flush=True)
        probe = wakeup_probe(1.0 / rate, args.probe) if args.probe > 0 else None
        try:
            report = run_closed_loop(artifact, out / f"logs-{rate:g}hz", backend=args.backend,
                                     rate_hz=rate, duration_s=args.duration,
                                     warmup_s=args.warmup, observe=args.observer,
                                     node_params=node_params)
        except NeuroqError as exc:
            print(f"bench_ros_loop: error: {exc}", file=sys.stderr)
            return 2
        r = report.summary()
        r["machine_wakeup_lateness"] = probe
        results.append(r)
        print_report(r)
    returns_check = None
    if args.returns_episodes > 0:
        from neuroq.deploy.evaluate import evaluate
        from neuroq.deploy.policy import load_policy

        rate = args.rates[0]
        print(f"-- {args.returns_episodes} episodes at {rate:g} Hz, seeds 0.. ...", flush=True)
        try:
            report = run_closed_loop(artifact, out / "logs-returns", backend=args.backend,
                                     rate_hz=rate, episodes=args.returns_episodes,
                                     node_params=node_params)
        except NeuroqError as exc:
            print(f"bench_ros_loop: error: {exc}", file=sys.stderr)
            return 2
        in_process = evaluate(load_policy(artifact, backend=args.backend),
                              episodes=args.returns_episodes, seed=0)["returns"]
        returns_check = {"rate_hz": rate, "ros2": report.returns,
                         "in_process": list(in_process),
                         "equal": report.returns == list(in_process)}
        print(f"   returns over ROS 2 {report.returns}; in process {list(in_process)}; "
              f"{'equal' if returns_check['equal'] else 'DIFFERENT'}", flush=True)
    result = {"artifact": str(artifact), "backend": args.backend, "results": results,
              "node_params": node_params,
              "returns_check": returns_check,
              "machine": {"cpus": os.cpu_count(), "load_avg_1_5_15": os.getloadavg()}}
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
