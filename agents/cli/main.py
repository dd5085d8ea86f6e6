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
kind or range, from `neuroq.agents.cli.argtypes`).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from neuroq.agents.cli.extras import require as require_extras
from neuroq.deploy.errors import NeuroqError

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

EXIT_USER_ERROR = 2
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


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose command-line errors are one line on stderr ("neuroq <cmd>:
    error: argument --seed: ..."), exit status 2, as every other user error; `--help`
    shows the usage. Subcommand parsers are made of the same class."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


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
                       _extras=getattr(module, "required_extras", _no_extras))
    return parser


def _full_disk(exc: OSError, label: str) -> int | None:
    """The exit status for a full disk (one line naming the file, or "the output" for
    stdout: `neuroq paths > /dev/full` was a traceback); None for any other OSError."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    if exc.filename is None:  # stdout: nothing more to flush there at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    print(f"{label}: error: cannot write {exc.filename or 'the output'}: {exc.strerror}",
          file=sys.stderr)
    return EXIT_USER_ERROR


def _closed_streams_to_devnull() -> None:
    """A command started with stdout or stderr closed (`>&-`, a daemon) has None there:
    output goes nowhere instead of every print failing (an outsider's `neuroq show cartpole
    >&-` was an AttributeError traceback, exit 1; `eval ... 2>&-` exited 1 silently)."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - for the process


def _output_failed(exc: OSError, label: str) -> int | None:
    """The exit status for output that cannot be written: 0 for a reader that closed early
    (`| head`, `| true`; nothing more goes there), `_full_disk`'s for a full disk, None for
    any other error."""
    if isinstance(exc, BrokenPipeError) and _stdout_reader_gone():
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return _full_disk(exc, label)


def _output_status(exc: OSError, label: str) -> int:
    """`_output_failed`'s exit status, or `exc` raised again for any other error."""
    status = _output_failed(exc, label)
    if status is None:
        raise exc
    return status


def _stdout_reader_gone() -> bool:
    """Whether stdout's reader has closed it (poll: POLLERR for a pipe, POLLHUP for a
    socket), so that a BrokenPipeError from a pipe of the command's own (multiprocessing,
    Ray, a subprocess) is not taken for a reader gone (a reviewer)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        gone = select.POLLERR | select.POLLHUP  # a pipe's reader: ERR; a socket's peer: HUP
        return any(events & gone for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    _closed_streams_to_devnull()
    try:  # building the parser imports every command's module: up to a second, cold
        parser = build_parser()
        args, unknown = parser.parse_known_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a bad command line (2)
        try:  # their lines: a full disk shows here, not at exit
            sys.stdout.flush()
        except OSError as failed:
            return _output_status(failed, "neuroq")
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    except KeyboardInterrupt:  # Ctrl-C right after start: a line, not a traceback
        print("neuroq: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as failed:  # --version's line written at once into a closed pipe
        return _output_status(failed, "neuroq")
    if unknown:  # named by the subcommand, as its other errors are
        print(f"neuroq {args.command}: error: unrecognized arguments: {' '.join(unknown)} "
              f"(see neuroq {args.command} --help)", file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        require_extras(args._extras(args))
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # buffered output: a full disk or a closed pipe shows here
        return status
    except NeuroqError as exc:  # one line, whatever the message quotes (a name with a newline)
        text = str(exc).replace("\n", "\\n").replace("\r", "\\r")
        print(f"neuroq {args.command}: error: {text}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"neuroq {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # a reader that closed early, a full disk: not a traceback
        return _output_status(exc, f"neuroq {args.command}")


if __name__ == "__main__":
    sys.exit(main())
