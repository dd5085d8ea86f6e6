"""The mobile robot over ROS 2 (real DDS, loopback only): success against in process, and
what the policy node costs with 360-beam scans.

    python bench/bench_nav_ros.py [--artifact config/artifacts/nav] [--rates 5 10 20]
        [--episodes 20] [--seed 1000000]

For each rate, `neuroq.ros_nodes.closed_loop.run_closed_loop` starts the simulated robot
(neuroq/DiffDriveNav-v0: LaserScan with 360 beams, Odometry and the goal), the policy node
(the artifact on the emulator) and the actuator (TwistStamped) as three processes with
config/nav_sim.yaml, runs `episodes` lockstep episodes (episode k seeded seed + k), and
plays the same episodes in process (`neuroq.deploy.evaluate`). Reported per rate:

- success and collision rates and the returns over ROS 2 and in process (equal returns:
  the same episodes, action for action);
- the policy node's CPU (CPU time of its process over the watched window / window, 1.0 =
  one core) and peak resident memory;
- its act latency (callback to action published: decoding the scan, binning 360 beams into
  sectors, the goal from odometry, the network) and reading-to-action latency (the scan's
  stamp to the action's publication), median and p99 from its diagnostics;
- the loop latency as the simulated robot sees it (scan stamp to the command's arrival);
- the machine's CPU shares while watched (steal: time the hypervisor gave other guests).

DDS stays on loopback: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a domain id of this run
are set below before rclpy is imported. Results go to bench/results/nav_ros.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# ROS 2 domain ids 0-101 are safe on Linux
ROS_DOMAIN_IDS = 102


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--artifact", default=str(REPO / "config" / "artifacts" / "nav"))
    p.add_argument("--rates", type=float, nargs="+", default=[5.0, 10.0, 20.0])
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=1_000_000)
    args = p.parse_args()
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % ROS_DOMAIN_IDS))

    from neuroq.deploy.evaluate import evaluate
    from neuroq.deploy.policy import load_policy
    from neuroq.ros_nodes.closed_loop import run_closed_loop

    config = REPO / "config" / "nav_sim.yaml"
    local = evaluate(load_policy(args.artifact), args.episodes, args.seed)
    print(f"in process: success {100 * local['success_rate']:.0f} %, collisions "
          f"{100 * local['collision_rate']:.0f} %, mean return {local['return_mean']:.2f} "
          f"(seeds {args.seed}..{args.seed + args.episodes - 1})")
    rows = []
    for rate in args.rates:
        with tempfile.TemporaryDirectory(prefix="neuroq-nav-bench-") as logs:
            t0 = time.monotonic()
            report = run_closed_loop(args.artifact, logs, rate_hz=rate, episodes=args.episodes,
                                     seed=args.seed, config=config, observe=False,
                                     max_wall_s=args.episodes * 600 / rate + 120)
            wall = time.monotonic() - t0
        s = report.summary()
        pol = s["policy_diagnostics"]

        def num(key: str, d: dict = pol) -> float | None:
            try:
                return float(d[key])
            except (KeyError, TypeError, ValueError):
                return None

        row = {
            "rate_hz": rate, "wall_s": wall, "episodes": args.episodes,
            "success_rate_ros": s.get("success_rate"), "success_rate_in_process":
                local["success_rate"],
            "collision_rate_ros": s.get("collision_rate"),
            "returns_equal": s["episode_returns"] == local["returns"],
            "policy_cpu_cores": s["node_cpu_cores"].get("policy"),
            "policy_peak_rss_mib": s["peak_rss_mib"].get("policy"),
            "act_latency_ms": {"median": num("act_latency_median_ms"),
                               "p99": num("act_latency_p99_ms")},
            "scan_to_action_ms": {"median": num("reading_to_action_latency_median_ms"),
                                  "p99": num("reading_to_action_latency_p99_ms")},
            "robot_loop_latency_ms": s["robot_loop_latency_ms"],
            "lost_commands": s["sim_lost_commands"], "late_ticks": s["sim_late_ticks"],
            "dropped_inputs": num("dropped_inputs"),
            "cpu_shares": s["cpu_shares"],
        }
        rows.append(row)
        cpu = row["policy_cpu_cores"]
        steal = (s["cpu_shares"] or {}).get("steal")
        print(f"{rate:g} Hz: success over ROS 2 {100 * (row['success_rate_ros'] or 0):.0f} % "
              f"(in process {100 * local['success_rate']:.0f} %), returns "
              f"{'equal' if row['returns_equal'] else 'DIFFER'}; policy node "
              f"{'-' if cpu is None else format(100 * cpu, '.1f')} % of a core, act "
              f"{row['act_latency_ms']['median']:.2f} ms median / "
              f"{row['act_latency_ms']['p99']:.2f} ms p99, scan -> action "
              f"{row['scan_to_action_ms']['median']:.2f} / "
              f"{row['scan_to_action_ms']['p99']:.2f} ms, loop at the robot "
              f"{row['robot_loop_latency_ms']['median']:.2f} / "
              f"{row['robot_loop_latency_ms']['p99']:.2f} ms; lost {row['lost_commands']}, "
              f"late ticks {row['late_ticks']}, steal "
              f"{'-' if steal is None else format(100 * steal, '.0f')} %")
    out = REPO / "bench" / "results" / "nav_ros.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"artifact": args.artifact, "seed": args.seed,
                               "episodes": args.episodes, "load_average": os.getloadavg(),
                               "in_process": {k: local[k] for k in (
                                   "success_rate", "collision_rate", "return_mean")},
                               "rates": rows}, indent=2))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
