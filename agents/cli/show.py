"""Show the result of a run folder (any stage): its result.json, summarised.

example:
  neuroq show runs/CartPole-v1/train-seed0-20261122-153012
"""

from __future__ import annotations

import argparse
import json

HELP = "print the result of a run folder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a run folder, e.g. runs/CartPole-v1/train-seed0-<time>")
    p.add_argument("--json", action="store_true", help="print result.json as is")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.runs import RESULT_FILE, read_json, require_run_dir

    run_dir = require_run_dir(args.run)
    result = read_json(run_dir / RESULT_FILE)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    width = max(map(len, result), default=0)
    for key, value in result.items():
        if not isinstance(value, (dict, list)):
            print(f"{key:<{width}}  {value}")
    return 0
