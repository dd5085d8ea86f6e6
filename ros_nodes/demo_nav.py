"""The mobile robot over ROS 2 with the shipped artifact: a few episodes, the success rate.

    python -m neuroq.ros_nodes.demo_nav [--artifact DIR] [--episodes 5] [--seed 1000000]
                                        [--rate 10]

Starts the simulated robot (neuroq/DiffDriveNav-v0 publishing LaserScan, Odometry and the
goal), the policy node and the actuator (TwistStamped) as separate processes for a few
lockstep episodes (`neuroq.ros_nodes.demo_ros.run_ros_demo`, DDS kept on loopback), then
plays the same episodes in process (`neuroq.deploy.evaluate`) and prints both success
rates. `make demo` runs it. The default seeds (1,000,000 + i) are held out from every stage
(neuroq.deploy.seeds).
"""

from __future__ import annotations

import sys

#: Episodes `make demo` drives over ROS 2.
DEMO_EPISODES = 5
#: The held-out seed range (neuroq.deploy.seeds.HELD_OUT_BASE).
DEMO_SEED = 1_000_000
#: The shipped artifact's name (config/artifacts/nav).
ARTIFACT_NAME = "nav"


def main(argv: list[str] | None = None) -> int:
    from neuroq.ros_nodes.demo_ros import confine_dds_to_loopback

    confine_dds_to_loopback()  # before rclpy is imported anywhere
    from neuroq.deploy.argtypes import OneLineParser, episode_count, positive_float, seed

    p = OneLineParser(prog="python -m neuroq.ros_nodes.demo_nav",
                      description=__doc__.splitlines()[0])
    p.add_argument("--artifact", help="deploy artifact (default: the shipped nav artifact)")
    # checked as the CLI's options are (an outsider's --episodes 0 printed the empty seed
    # range "1000000..999999" before its error)
    p.add_argument("--episodes", type=episode_count, default=DEMO_EPISODES,
                   help="default: %(default)s")
    p.add_argument("--seed", type=seed, default=DEMO_SEED,
                   help="seed of the first episode (default: %(default)s, held out)")
    p.add_argument("--rate", type=positive_float, help="scans per second of the simulated "
                   "robot (default: twice the real-time 5 Hz)")
    args = p.parse_args(argv)
    from neuroq.deploy.artifact import read_manifest
    from neuroq.deploy.errors import EXIT_USER_ERROR, NeuroqError, one_line
    from neuroq.deploy.paths import shipped_data
    from neuroq.deploy.seeds import check_episode_seeds
    from neuroq.ros_nodes.entry import ros_missing_text

    try:  # what can be checked is, before the banner (a recheck: it came first)
        missing = ros_missing_text()
        if missing is not None:  # (a traceback on rclpy, exit 1: a recheck)
            raise NeuroqError(missing)
        check_episode_seeds(args.seed, args.episodes, "--episodes")
        # the folder (a shipped name resolved), the env its manifest names
        artifact, manifest = read_manifest(args.artifact or
                                           shipped_data().artifact(ARTIFACT_NAME))
        print(f"=== {manifest['env_id']} over ROS 2: {artifact}, {args.episodes} episodes, "
              f"seeds {args.seed}..{args.seed + args.episodes - 1}")
        from neuroq.ros_nodes.demo_ros import run_ros_demo

        summary = run_ros_demo(artifact, args.episodes, args.seed, args.rate)
    except NeuroqError as exc:
        print(f"{p.prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    # compared by run_ros_demo (the in-process episodes played once: a review); success
    # rates where the env reports them (another artifact's env: returns only; it ended in
    # a KeyError, a recheck)
    local, same = summary["in_process"]["local"], summary["in_process"]["equal"]
    for where, rate in (("over ROS 2: ", summary.get("success_rate")),
                        ("in process: ", local.get("success_rate"))):
        print(f"success {where} {100 * rate:.0f} %" if rate is not None else
              f"success {where} not reported (the env reports no goal reached)")
    print(f"returns {'equal' if same else 'DIFFER'} over ROS 2 and in process")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
