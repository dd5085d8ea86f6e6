"""`neuroq replay`: its options, run and description are the robot side's
(`neuroq.ros_nodes.replay_command`, also the robot install's `neuroq_event_replay`)."""

from __future__ import annotations

import argparse

from neuroq.ros_nodes.replay_command import DESCRIPTION, add_arguments, run

HELP = "replay a recorded event file (.raw EVT3, AEDAT4) onto the ROS 2 event topic"
TAKES_ROS_ARGS = True  # `neuroq replay FILE --ros-args -r events:=/dvs/events`
__doc__ = DESCRIPTION  # noqa: A001 - `neuroq replay --help` shows the module docstring

__all__ = ["HELP", "TAKES_ROS_ARGS", "add_arguments", "required_extras", "run"]


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    del args
    return ("ros",)
