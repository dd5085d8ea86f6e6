"""`neuroq`: one command line for every stage of the pipeline.

Each subcommand lives in its own module, which defines

    HELP: str                         one line for `neuroq --help`
    add_arguments(parser) -> None     its options (a docstring-style description goes in
                                      the module docstring, shown by `neuroq <cmd> --help`)
    run(args) -> int                  the work; heavy imports (torch, SB3) happen in here
    required_extras(args) -> tuple    optional: extras it needs ("train", "ros"), checked
                                      before run (agents/cli/extras.py)

so that `neuroq --help` and robot-side subcommands never import torch.
User errors are `NeuroqError`: printed as one line on stderr, exit code 2; so are a missing
extra and a bad command line (`OneLineParser`: an unknown option, a value of the wrong
kind or range, from `neuroq.deploy.argtypes`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from neuroq.agents.cli.extras import require as require_extras
from neuroq.deploy.argtypes import OneLineParser
from neuroq.deploy.blas import one_blas_thread
from neuroq.deploy.errors import EXIT_USER_ERROR, NeuroqError, one_line
from neuroq.deploy.output import output_status, usable_streams

#: subcommand -> module implementing it, in pipeline order.
COMMANDS: dict[str, str] = {
    "train": "neuroq.agents.cli.train",
    "show": "neuroq.agents.cli.show",
    "convert": "neuroq.agents.cli.convert",
    "import": "neuroq.agents.cli.import_",
    "finetune": "neuroq.agents.cli.finetune",
    "export": "neuroq.agents.cli.export",
    "deploy": "neuroq.agents.cli.deploy",
    "eval": "neuroq.agents.cli.eval",
    "demo": "neuroq.agents.cli.demo",
    "energy": "neuroq.agents.cli.energy",
    "robustness": "neuroq.agents.cli.robustness",
    "replay": "neuroq.agents.cli.replay",
    "record": "neuroq.agents.cli.record",
    "paths": "neuroq.agents.cli.paths",
    # many runs (issue 20): sweeps and hyperparameter search on Ray
    "sweep": "neuroq.agents.cli.sweep",
    "tune": "neuroq.agents.cli.tune",
}

#: how an interrupted command goes on, said after "interrupted" (train says its own
#: --resume line; sweep and tune said nothing, where the docs say to run them again: an
#: outsider)
RESUME_HINTS = {
    "sweep": "; run the same command again (same spec and --out) to go on: finished stage "
             "runs are kept, the rest runs again",
    "tune": "; run the same command again (same --name and --out) to go on: finished trials "
            "are kept, interrupted ones run again with their parameters",
}
#: exit status after Ctrl-C (SIGINT), as shells report a process it ended: 128 + 2
EXIT_INTERRUPTED = 130


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neuroq")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _data_location() -> str:
    """Where the shipped configs and artifacts are (`neuroq paths` says more)."""
    from neuroq.deploy.paths import shipped_data

    try:
        data = shipped_data()
    except NeuroqError as exc:
        return str(exc)
    return f"{data.layout} data in {data.root}"


class _VersionAction(argparse.Action):
    """`--version`: one unwrapped line (argparse's own action wraps long paths)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(f"neuroq {_version()} ({_data_location()})")
        parser.exit()


def _no_extras(args: argparse.Namespace) -> tuple[str, ...]:
    del args
    return ()


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="neuroq",
        description=(
            "Train DQN control policies, convert them to 8-bit spiking Q-networks and run "
            "them on SpiNNaker2 (or its emulator), closed loop or inside ROS 2. "
            "Run `neuroq <command> --help` for each stage."
        ),
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print the version and where the shipped data is, then exit")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        # a module's required_extras(args) names the extras the command needs
        p.set_defaults(_run=module.run,
                       _extras=getattr(module, "required_extras", _no_extras),
                       _ros_args=getattr(module, "TAKES_ROS_ARGS", False))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    usable_streams()
    argv = list(sys.argv[1:] if argv is None else argv)
    # what follows --ros-args is rcl's (remaps), for the commands that take it (replay, as
    # the robot install's neuroq_event_replay: it was "unrecognized arguments", a recheck)
    from neuroq.ros_nodes.replay_command import split_ros_args

    argv, ros_args = split_ros_args(argv)
    try:  # building the parser imports every command's module: up to a second, cold
        parser = build_parser()
        args, unknown = parser.parse_known_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a bad command line (2)
        try:  # their lines: a full disk shows here, not at exit
            sys.stdout.flush()
        except OSError as failed:
            return output_status(failed, "neuroq")
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    except KeyboardInterrupt:  # Ctrl-C right after start: a line, not a traceback
        print("neuroq: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as failed:  # --version's line written at once into a closed pipe
        return output_status(failed, "neuroq")
    if ros_args and not args._ros_args:
        unknown += ros_args
    args.ros_args = ros_args
    if unknown:  # named by the subcommand, as its other errors are
        from neuroq.deploy.argtypes import close_options

        sub = next(a for a in parser._actions  # noqa: SLF001 - argparse has no public view
                   if isinstance(a, argparse._SubParsersAction)).choices[args.command]
        hint = close_options(unknown, [o for a in sub._actions for o in a.option_strings])
        print(f"neuroq {args.command}: error: unrecognized arguments: {' '.join(unknown)}"
              f"{hint} (see neuroq {args.command} --help)", file=sys.stderr)
        return EXIT_USER_ERROR
    from neuroq.agents.runs import sigterm_as_interrupt

    try:
        require_extras(args._extras(args))
        with sigterm_as_interrupt():  # a supervisor's `kill`: stopped as for a Ctrl-C
            status = int(args._run(args) or 0)
        sys.stdout.flush()  # buffered output: a full disk or a closed pipe shows here
        return status
    except NeuroqError as exc:  # one line, whatever the message quotes (a name with a newline)
        print(f"neuroq {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"neuroq {args.command}: interrupted{RESUME_HINTS.get(args.command, '')}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # a reader that closed early, a full disk: not a traceback
        return output_status(exc, f"neuroq {args.command}")


def console_main() -> None:
    """The `neuroq` command: `main`, then exit with its status (`ignore_late_signals`)."""
    one_blas_thread()  # before numpy loads (deploy/blas.py)
    status = main()
    ignore_late_signals()
    sys.exit(status)


def ignore_late_signals() -> None:
    """Ignore Ctrl-C and SIGTERM once the command has finished, so Python's shutdown (up to
    a second with torch loaded) ends with the command's status: a signal then ended
    finished runs with status 130 or 143 and no word (an outsider's train, its table
    printed and result.json written; an export, its artifact complete). SIG_IGN, not a
    Python handler: shutdown gives Python's handlers back to the default within
    milliseconds (a recheck: 130 in 8 of 8 tries 10-300 ms after the output), an
    ignored signal stays ignored. Main thread only; for the command, not for `main`
    called in-process (a test runner keeps its own Ctrl-C)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


if __name__ == "__main__":
    console_main()
