"""The demo's ROS 2 stage for the DVS event task: simulated event camera + event node.

Starts `neuroq.ros_nodes.event_camera_node` (neuroq/DVSPanTrackingPooled-v0 publishing 1 ms evt3
EventPackets) and `neuroq.ros_nodes.event_node` (the exported artifact, events as input spikes) as
separate processes for a few lockstep episodes, and prints the returns and the event node's
counters. DDS stays on loopback (`neuroq.ros_nodes.demo_ros.confine_dds_to_loopback`), set
before any
rclpy import; the node processes inherit it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Longest the demo waits for its episodes, seconds (200 steps each, lockstep).
MAX_WALL_S = 300.0
#: Seconds the event node gets to exit after SIGTERM before it is killed.
NODE_STOP_TIMEOUT_S = 10.0
EPISODE_LINE = re.compile(r"episode (\d+) return ([-0-9.eE+]+)")


def run_event_ros_demo(artifact: str | os.PathLike, episodes: int = 3, seed: int = 0) -> dict:
    """Run `episodes` episodes of the event loop; print and return the returns."""
    from neuroq.deploy.errors import NeuroqError
    from neuroq.ros_nodes.demo_ros import confine_dds_to_loopback
    from neuroq.ros_nodes.processes import stop_processes

    confine_dds_to_loopback()
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="neuroq-event-demo-") as logs:
        cam_log, node_log = Path(logs) / "camera.log", Path(logs) / "event_node.log"
        with open(cam_log, "wb") as c, open(node_log, "wb") as n:
            node = subprocess.Popen(
                [sys.executable, "-m", "neuroq.ros_nodes.event_node", "--ros-args",
                 "-p", f"artifact:={artifact}", "-p", "reliable:=true"], cwd=root,
                env=os.environ.copy(),
                stdout=n, stderr=subprocess.STDOUT)
            cam = subprocess.Popen(
                [sys.executable, "-m", "neuroq.ros_nodes.event_camera_node", "--ros-args",
                 "-p", f"max_episodes:={episodes}", "-p", f"seed:={seed}"], cwd=root,
                env=os.environ.copy(), stdout=c, stderr=subprocess.STDOUT)
            start = time.monotonic()
            try:
                cam.wait(timeout=MAX_WALL_S)
            except subprocess.TimeoutExpired:
                cam.kill()
            finally:
                stop_processes({"event node": node}, signal.SIGTERM, NODE_STOP_TIMEOUT_S)
        wall = time.monotonic() - start
        returns = [float(m.group(2)) for m in EPISODE_LINE.finditer(cam_log.read_text())]
        if len(returns) < episodes:
            raise NeuroqError(f"the event loop ran {len(returns)} of {episodes} episodes; "
                              f"camera log:\n{cam_log.read_text()[-1500:]}\nevent node log:\n"
                              f"{node_log.read_text()[-1500:]}")
    from neuroq.ros_nodes.demo_ros import against_in_process

    print(f"      returns over ROS 2 (event camera -> event node, {episodes} episodes, seeds "
          f"{seed}..{seed + episodes - 1}, lockstep, {wall:.1f} s): "
          f"{', '.join(f'{r:.6g}' for r in returns)}; "
          f"{against_in_process(artifact, returns, episodes, seed)['text']}")
    return {"episode_returns": returns, "wall_s": wall}
