"""`neuroq`: one command line for every stage of the pipeline.

Each subcommand lives in its own module, which defines

    HELP: str                         one line for `neuroq --help`
    add_arguments(parser) -> None     its options (a docstring-style description goes in
                                      the module docstring, shown by `neuroq <cmd> --help`)
    run(args) -> int                  the work; heavy imports (torch, SB3) happen in here

so that `neuroq --help` and robot-side subcommands never import torch.
User errors are `NeuroqError`: printed as one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from neuroq.deploy.errors import NeuroqError

#: subcommand -> module implementing it, in pipeline order.
COMMANDS: dict[str, str] = {
    "train": "neuroq.agents.cli.train",
    "show": "neuroq.agents.cli.show",
    "convert": "neuroq.agents.cli.convert",
    "finetune": "neuroq.agents.cli.finetune",
    "export": "neuroq.agents.cli.export",
    "deploy": "neuroq.agents.cli.deploy",
    "eval": "neuroq.agents.cli.eval",
    "demo": "neuroq.agents.cli.demo",
    "energy": "neuroq.agents.cli.energy",
    "robustness": "neuroq.agents.cli.robustness",
    "replay": "neuroq.agents.cli.replay",
}

EXIT_USER_ERROR = 2


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neuroq")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuroq",
        description=(
            "Train DQN control policies, convert them to 8-bit spiking Q-networks and run "
            "them on SpiNNaker2 (or its emulator), closed loop or inside ROS 2. "
            "Run `neuroq <command> --help` for each stage."
        ),
    )
    parser.add_argument("--version", action="version", version=f"neuroq {_version()}")
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
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except NeuroqError as exc:
        print(f"neuroq {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"neuroq {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that closed early (`| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
