"""The demo's ROS 2 stage: the exported policy closed loop over real DDS.

Starts the simulated robot, the policy node and the actuator node as separate processes
(`neuroq.ros_nodes.closed_loop.run_closed_loop`) for a few episodes and prints the returns and the
latency from sensor message to command message as the simulated robot measures it (a
reading's stamp to the arrival of the command answering it).

The demo runs on a development machine, so like every test and benchmark it keeps DDS on
loopback: `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST` and a `ROS_DOMAIN_ID` of its own are set
here, before rclpy is first imported (the node processes inherit them). The nodes
themselves never force this: on a robot they talk to other machines.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: ROS 2 domain ids 0-101 are safe on Linux; the demo takes one from its pid.
ROS_DOMAIN_IDS = 102
#: The demo's simulated robot ticks this many times faster than its config's real-time rate
#: (CartPole 50 -> 100 Hz, the mobile robot 5 -> 10 Hz). The loop is lockstep, so the
#: episodes are the same at any rate.
DEMO_SPEEDUP = 2.0


def confine_dds_to_loopback() -> None:
    """Keep DDS discovery on this machine; must run before rclpy is imported."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % ROS_DOMAIN_IDS))


#: Control rate of the parameters file written for an interface without a shipped one
#: (the sim robot's default rate); the loop is lockstep, so episodes do not depend on it.
GENERIC_RATE_HZ = 50.0


def sim_config(artifact: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """The parameters file of the simulated loop of the artifact's robot interface: the
    shipped config/<interface name>_sim.yaml (cartpole_sim.yaml, acrobot_sim.yaml,
    nav_sim.yaml) where there is one; else one written into `folder` whose sim robot runs
    the interface (a copy of it, so one recorded only in the manifest works too) at
    GENERIC_RATE_HZ, and whose policy and actuator take the artifact's interface."""
    import yaml

    from neuroq.deploy.artifact import read_manifest
    from neuroq.deploy.interface import resolve_interface
    from neuroq.deploy.paths import shipped_data

    robot = resolve_interface("", read_manifest(artifact)[1])
    shipped = shipped_data().config_dir / f"{robot.name}_sim.yaml"
    if shipped.is_file():
        return shipped
    interface = Path(folder) / f"{robot.name}.yaml"
    interface.write_text(yaml.safe_dump(robot.to_dict(), sort_keys=False))
    config = Path(folder) / f"{robot.name}_sim.yaml"
    config.write_text(yaml.safe_dump({
        "/**/neuroq_sim_robot": {"ros__parameters": {"interface": str(interface),
                                                     "control_rate_hz": GENERIC_RATE_HZ}},
        "/**/neuroq_policy": {"ros__parameters": {"backend": "emulator"}},
        "/**/neuroq_actuator": {"ros__parameters": {}}}))
    return config


def against_in_process(artifact: str | os.PathLike, returns: list[float], episodes: int,
                       seed: int) -> dict:
    """Whether `returns` over ROS 2 are the in-process returns of the same episodes (seeds
    seed..seed + episodes - 1): the demo printed them bare, and an outsider could not tell
    whether a 343 among 500s was the network's or the loop's. Returns {"text": what to
    print, "equal": True / False / None (not compared), "local": `evaluate`'s result or
    None}. A stochastic encoder (poisson) draws its random numbers per batch of episodes in
    process and per reading in the node, so its returns are not compared."""
    import numpy as np

    from neuroq.deploy.evaluate import evaluate
    from neuroq.deploy.policy import load_policy

    policy = load_policy(artifact)
    if policy.encoder.kind == "poisson":
        return {"text": "not compared with in process (a stochastic encoder draws its random "
                        "numbers otherwise there)", "equal": None, "local": None}
    local = evaluate(policy, episodes, seed)
    equal = bool(len(returns) == len(local["returns"]) and np.allclose(
        returns, local["returns"], rtol=1e-9, atol=1e-9))
    text = ("equal to the in-process returns on those seeds" if equal else
            "DIFFER from the in-process returns on those seeds: "
            + ", ".join(f"{r:.4g}" for r in local["returns"]))
    return {"text": text, "equal": equal, "local": local}


def run_ros_demo(artifact: str | os.PathLike, episodes: int = 3, seed: int = 0,
                 rate_hz: float | None = None) -> dict:
    """Run `episodes` episodes over ROS 2 (episode k seeded seed + k) with the simulated
    robot of the artifact's interface at `rate_hz` (default: DEMO_SPEEDUP x its config's
    rate, see `sim_config`); print and return the loop's summary."""
    confine_dds_to_loopback()
    from neuroq.ros_nodes.closed_loop import run_closed_loop, sim_rate_hz

    with tempfile.TemporaryDirectory(prefix="neuroq-ros-demo-") as logs:
        config = sim_config(artifact, logs)
        rate = rate_hz or DEMO_SPEEDUP * sim_rate_hz(config)
        # the nodes' own figures: no extra reader on the loop's topics
        report = run_closed_loop(Path(artifact), logs, rate_hz=rate, episodes=episodes,
                                 seed=seed, observe=False, config=config)
    s = report.summary()
    lat = s["robot_loop_latency_ms"]
    returns = ", ".join(f"{r:.6g}" for r in s["episode_returns"])  # as played (an outsider's
    # -11.540 printed as -12 beside "equal to the in-process returns")
    s["in_process"] = against_in_process(artifact, s["episode_returns"], episodes, seed)
    print(f"      returns over ROS 2 ({episodes} episodes at {rate:g} Hz, seeds "
          f"{seed}..{seed + episodes - 1}): {returns}; {s['in_process']['text']}")
    if "success_rate" in s:
        print(f"      success over ROS 2: {100 * s['success_rate']:.0f} % of {episodes} "
              f"episodes (seeds {seed}..{seed + episodes - 1}), collisions "
              f"{100 * s.get('collision_rate', 0.0):.0f} %")
    if lat["median"] is not None:
        print(f"      sensor -> command latency at the robot: median {lat['median']:.2f} ms, "
              f"p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms (measured); lost commands "
              f"{s['sim_lost_commands']}, late ticks {s['sim_late_ticks']}")
    return s


if __name__ == "__main__":  # a library module: say what runs it (it ran nothing, silently)
    import sys

    sys.exit("neuroq.ros_nodes.demo_ros is the ROS 2 stage of `neuroq demo`, not a command: "
             "run `neuroq demo` (its ROS 2 stage included), `python -m "
             "neuroq.ros_nodes.demo_nav` or `python -m neuroq.ros_nodes.demo_events`, or call "
             "run_ros_demo(artifact) from Python")
