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
#: Control rate of the demo's simulated robot, Hz (the bench measures 100 and 500 Hz).
DEMO_RATE_HZ = 100.0


def confine_dds_to_loopback() -> None:
    """Keep DDS discovery on this machine; must run before rclpy is imported."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % ROS_DOMAIN_IDS))


def run_ros_demo(artifact: str | os.PathLike, episodes: int = 3, seed: int = 0) -> dict:
    """Run `episodes` episodes over ROS 2; print and return the loop's summary."""
    confine_dds_to_loopback()
    from neuroq.ros_nodes.closed_loop import run_closed_loop

    with tempfile.TemporaryDirectory(prefix="neuroq-ros-demo-") as logs:
        # the nodes' own figures: no extra reader on the loop's topics
        report = run_closed_loop(Path(artifact), logs, rate_hz=DEMO_RATE_HZ,
                                 episodes=episodes, seed=seed, observe=False)
    s = report.summary()
    lat = s["robot_loop_latency_ms"]
    returns = ", ".join(f"{r:.0f}" for r in s["episode_returns"])
    print(f"      returns over ROS 2 ({episodes} episodes at {DEMO_RATE_HZ:.0f} Hz): {returns}")
    if lat["median"] is not None:
        print(f"      sensor -> command latency at the robot: median {lat['median']:.2f} ms, "
              f"p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms (measured); lost commands "
              f"{s['sim_lost_commands']}, late ticks {s['sim_late_ticks']}")
    return s
