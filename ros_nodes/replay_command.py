"""`neuroq replay` and the robot install's `neuroq_event_replay`: a recorded event file onto
a ROS 2 event topic (event_camera_msgs/EventPacket). The command's options and its run, for
both: `neuroq.agents.cli.replay` adds them to the `neuroq` command (the full install); a
robot install (colcon, NEUROQ_INSTALL=robot) has no `neuroq` command, and runs `main` as
`neuroq_event_replay` (an outsider's robot install could not replay: `python -m
neuroq.ros_nodes.event_replay FILE` exited 0 and published nothing). Robot side: argparse,
numpy and rclpy, never torch.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

from neuroq.deploy.argtypes import (
    OneLineParser,
    nonnegative_int,
    positive_int,
    positive_or_inf,
    within,
)
from neuroq.deploy.control import MAX_COPIED_STRING_CHARS, check_frame_id
from neuroq.deploy.errors import EXIT_USER_ERROR, NeuroqError, one_line

#: the robot install's executable (lib/neuroq, `ros2 run neuroq neuroq_event_replay`)
EXECUTABLE = "neuroq_event_replay"
#: where a command line's ROS arguments start (`ros2 run`, a launch file's Node action)
ROS_ARGS = "--ros-args"


def split_ros_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the command's own arguments, ROS_ARGS and what follows it) of a command line."""
    cut = argv.index(ROS_ARGS) if ROS_ARGS in argv else len(argv)
    return argv[:cut], argv[cut:]

DESCRIPTION = """Replay a recorded event file onto a ROS 2 event topic
(event_camera_msgs/EventPacket).

Reads a Prophesee EVT 3.0 .raw file or an AEDAT 4 file (.aedat4, needs the `aedat` package),
cuts it into packets of --packet-us of camera time (1 ms, as metavision_driver and
libcaer_driver do) and publishes them at the recorded speed times --speed (`inf`: as fast
as possible) in evt3 (or mono) encoding. Stops at the end of the file, after --max-packets
or after --max-seconds of camera time. A .raw file is decoded by the `evt3` package where it
is installed, else by numpy (--evt3-decoder picks one; the summary line names it). Robot
side: needs numpy and rclpy, not torch; a robot install (colcon) has it as
`neuroq_event_replay`, with the same options and ROS arguments after them (--ros-args -r
events:=/dvs/events).

Ctrl-C (SIGINT), SIGTERM or SIGHUP (a closed terminal) ends the replay at once, even in a
long silence of the recording: the summary line then starts `stopped by SIGINT:` (or the
signal's name) and the exit status is 0. A file that is empty, a folder, not EVT 3.0 (or
AEDAT 4), an invalid --topic, or --width without --height: one line `neuroq replay: error:
...`, status 2. A file with no events, whose decoding skipped words or events, or that
holds external triggers (not replayed), is replayed with a warning on stderr.

examples:
  neuroq replay recording.raw                         # recorded speed, topic `events`
  neuroq replay recording.aedat4 --speed 10 --topic /dvs/events
  neuroq replay recording.raw --speed inf --max-seconds 2
"""


MAX_PACKET_US = 10**9
"""Longest --packet-us (1000 s of camera time per packet): an outsider's 1e20 passed the
positive-integer check and was an OverflowError traceback in the packet cutter."""


def packet_us(text: str) -> int:
    """--packet-us: a positive integer up to MAX_PACKET_US."""
    value = positive_int(text)
    return within(value, value <= MAX_PACKET_US, f"be at most {MAX_PACKET_US:.0e}", text)


def frame_id(text: str) -> str:
    """--frame-id: one the event node takes (`check_frame_id`)."""
    try:
        return check_frame_id(text, "--frame-id")
    except NeuroqError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--frame-id ")) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a Prophesee .raw (EVT 3.0) or AEDAT 4 (.aedat4) file")
    p.add_argument("--speed", type=positive_or_inf, default=1.0,
                   help="replay speed as a multiple of recorded time; inf = no waiting "
                        "(default: %(default)s)")
    p.add_argument("--topic", default="events", help="topic (default: %(default)s)")
    p.add_argument("--encoding", default="evt3", choices=("evt3", "mono"),
                   help="EventPacket encoding (default: %(default)s)")
    p.add_argument("--packet-us", type=packet_us, default=1000,
                   help="camera time per packet, microseconds, at most 1e9 (1000 s) "
                        "(default: %(default)s)")
    p.add_argument("--frame-id", type=frame_id, default="dvs",
                   help=f"header.frame_id, at most {MAX_COPIED_STRING_CHARS} characters "
                        "(default: %(default)s)")
    p.add_argument("--max-packets", type=nonnegative_int, default=0,
                   help="stop after N packets (0: all)")
    p.add_argument("--max-seconds", type=positive_or_inf, default=math.inf,
                   help="stop after this much camera time, seconds (default: all)")
    p.add_argument("--width", type=positive_int, default=None,
                   help="sensor width in pixels, for a .raw file whose header gives none")
    p.add_argument("--height", type=positive_int, default=None,
                   help="sensor height in pixels, for a .raw file whose header gives none")
    p.add_argument("--evt3-decoder", default="auto", choices=("auto", "evt3", "numpy"),
                   help="what decodes a .raw file: the evt3 package (Rust), numpy, or auto "
                        "(evt3 where installed; default: %(default)s)")


def run(args: argparse.Namespace, prog: str = "neuroq replay") -> int:
    """Replay as `args` say; warnings on stderr as "<prog>: warning: ..."; NeuroqError for
    a user error (one without ROS 2 too: its executable ended in an ImportError traceback on
    a robot install without the `ros` extra, an outsider)."""
    from neuroq.ros_nodes.entry import ros_missing_text

    missing = ros_missing_text()
    if missing is not None:
        raise NeuroqError(missing)
    from neuroq.ros_nodes.process import init_rclpy, stop_handlers

    if (args.width is None) != (args.height is None):
        raise NeuroqError("--width and --height go together (the sensor size of a .raw file "
                          "whose header gives none); got only "
                          f"{'--width' if args.height is None else '--height'}")

    with stop_handlers() as stop:  # first: a signal during start-up stops it too
        import rclpy

        from neuroq.ros_nodes.event_replay import replay

        # rclpy's own handlers would shut the context down under a publish ("publisher's
        # context is invalid", exit 1): the stop request ends the replay instead, and the
        # teardown after it is bounded as a node's (TEARDOWN_LIMIT_S). neuroq_event_replay's
        # --ros-args go to rcl
        init_rclpy([prog, *(getattr(args, "ros_args", None) or [])])
        try:
            replay(args.file, args.speed, args.packet_us, args.encoding, args.topic,
                   args.frame_id, args.max_packets, args.max_seconds,
                   decoder=args.evt3_decoder, width=args.width, height=args.height, stop=stop,
                   warn=lambda text: print(f"{prog}: warning: {text}",
                                           file=sys.stderr, flush=True))
        finally:
            rclpy.try_shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`neuroq_event_replay FILE [options]`: `neuroq replay` for a robot install. A user
    error is one line on stderr, "neuroq_event_replay: error: ...", exit 2."""
    parser = OneLineParser(
        prog=EXECUTABLE, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DESCRIPTION.replace("neuroq replay", EXECUTABLE))
    add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    # what follows --ros-args goes to rclpy (remaps, a launch file's additions; an argparse
    # error, exit 2, for `ros2 run ... --ros-args -r events:=/dvs/events`, a review)
    own, ros_args = split_ros_args(argv)
    args = parser.parse_args(own)
    args.ros_args = ros_args
    try:
        return run(args, EXECUTABLE)
    except NeuroqError as exc:
        print(f"{EXECUTABLE}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
