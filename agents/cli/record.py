"""Record an event env's DVS stream into a Prophesee EVT 3.0 .raw file.

A recording to try `neuroq replay` and the event node with when no camera is at hand:
--seconds of camera time of the env (default neuroq/DVSPanTracking-v0, its 32 x 32 DVS),
episodes back to back (episode i seeded --seed + i; camera time runs on across them),
actions from --artifact (an event artifact for that env, run on the emulator) or random
(seeded). Writes the file and prints what it holds. Needs the env's packages (gymnasium),
not torch or ROS.

examples:
  neuroq record pan.raw                                   # 10 s, random actions
  neuroq record pan.raw --seconds 60 --artifact dvs_pan_tracking
  neuroq replay pan.raw                                   # then onto the event topic
"""

from __future__ import annotations

import argparse
import shlex
import sys

from neuroq.deploy.argtypes import positive_float, seed, within

HELP = "record an event env's DVS stream into a .raw (EVT 3.0) file, to replay"
MAX_SECONDS = 3600.0
"""Longest recording (s of camera time): about 1 GB of EVT 3.0 at the pan-tracking
task's event rate is far beyond what a trial needs."""


def _seconds(text: str) -> float:
    """--seconds: a number in (0, MAX_SECONDS]."""
    value = positive_float(text)
    return within(value, value <= MAX_SECONDS, f"be at most {MAX_SECONDS:g}", f"{value:g}")


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    del args
    return ()


def add_arguments(p: argparse.ArgumentParser) -> None:
    from neuroq.agents.record import DEFAULT_ENV

    p.add_argument("file", help="the .raw file to write (replaced if it exists)")
    p.add_argument("--env", default=None,
                   help=f"an event env (events in info['events']; default: the artifact's, "
                        f"else {DEFAULT_ENV})")
    p.add_argument("--seconds", type=_seconds, default=10.0,
                   help=f"camera time to record, s (default: %(default)s, at most "
                        f"{MAX_SECONDS:g})")
    p.add_argument("--seed", type=seed, default=0,
                   help="episode i uses seed + i; random actions too (default: 0)")
    p.add_argument("--artifact", default=None,
                   help="an event artifact for --env that chooses the actions "
                        "(default: random actions)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.record import record_events
    from neuroq.deploy.artifact import load_artifact
    from neuroq.deploy.errors import NeuroqError, counted, given_path

    given_path(args.file, "file")
    if not args.file.endswith(".raw"):
        raise NeuroqError(f"the file must end in .raw (EVT 3.0), got {args.file}")
    art = None if args.artifact is None else load_artifact(args.artifact, "--artifact")
    shown = [-1]

    def progress(camera_s: float) -> None:
        whole = int(camera_s)
        if sys.stderr.isatty() and whole != shown[0]:
            shown[0] = whole
            print(f"\rrecording: {camera_s:5.0f} / {args.seconds:g} s", end="",
                  file=sys.stderr, flush=True)

    rec = record_events(args.file, args.env, args.seconds, args.seed, art, progress)
    if shown[0] >= 0:
        print(file=sys.stderr)
    print(f"wrote {rec.path}: {rec.events:,} event{'s' if rec.events != 1 else ''}, "
          f"{rec.camera_s:g} s of camera time, "
          f"{rec.width}x{rec.height} sensor, {counted(rec.episodes, 'episode')} "
          f"({counted(rec.steps, 'step')}) of "
          f"{rec.env_id}, actions {rec.actions}, {rec.bytes / 1e6:.2f} MB")
    print(f"replay it with: neuroq replay {shlex.quote(str(rec.path))}")
    return 0
