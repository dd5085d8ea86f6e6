"""The executables' entry points (setup.py: `neuroq_policy_node` ... `neuroq_event_replay`).

A node process spends its first half second importing numpy, rclpy and the node's module,
before `process.run_node` makes SIGINT and SIGTERM a stop request. A stop signal in that
time ended it with a KeyboardInterrupt traceback and status -2 (SIGINT) or -15 (SIGTERM),
where the docs promise 0 (an outsider stopped a node 0.3 s after starting it). Each entry
point here, light to import, first makes either signal end the process with status 0, then
imports the node's module and runs its `main`, which installs the node's own handlers.
(`python -m neuroq.ros_nodes.<node>` imports the module itself first: not covered; nor is
a signal before the interpreter reaches this module, in its first 0.05-0.1 s.)
"""

from __future__ import annotations

import importlib
import signal
from typing import Any


def _stop_while_starting(signum: int, _frame: Any) -> None:
    """Nothing runs yet (no node, no command): end the process, status 0."""
    raise SystemExit(0)


def run(module: str) -> int:
    """Make SIGINT and SIGTERM end the process with status 0, then import `module` (a
    dotted name) and return what its `main()` returns."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop_while_starting)
    return importlib.import_module(module).main()


def policy_node() -> int:
    return run("neuroq.ros_nodes.policy_node")


def actuator_node() -> int:
    return run("neuroq.ros_nodes.actuator_node")


def sim_robot() -> int:
    return run("neuroq.ros_nodes.sim_robot_node")


def event_node() -> int:
    return run("neuroq.ros_nodes.event_node")


def event_camera() -> int:
    return run("neuroq.ros_nodes.event_camera_node")


def event_replay() -> int:
    return run("neuroq.ros_nodes.replay_command")
