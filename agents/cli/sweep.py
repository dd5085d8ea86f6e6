"""Run a grid or random sweep over any stage's settings on Ray, resumable.

SPEC.yaml names the env, the stages to run (train, convert, finetune, export, eval, energy),
settings fixed for all trials, and a grid and/or random sample of `stage.key` settings
(docs/scale.md has the format). Each trial writes the usual run folders; stage runs that
trials share (one training run under an encoder x T grid) run once. Trials run on a local
Ray on this machine (bound to 127.0.0.1, no dashboard, `workers` CPUs) or on an existing
cluster (--address). A failed trial is recorded, not fatal; running the same spec again
resumes: finished trials are skipped, failed ones tried again; when every trial failed the
exit status is 1. Whenever a worker is
free, the ready stage run of the largest trial starts (size: the product of its time steps,
epochs, steps and episodes), so long trials start first and short ones fill the end.

Writes <out>/<env>/sweep-<name>/: results.csv and results.md (one row per trial),
pareto.png (return against synaptic events and MODELED energy per action), trials.json,
the run folders under trials/ and a log per stage run under logs/.

examples:
  neuroq sweep docs/sweeps/cartpole_encoder_T_20ep.yaml --train-run RUN  # checkout; RUN: train run
  neuroq sweep SPEC.yaml --workers 2
  neuroq sweep SPEC.yaml --address 10.0.0.5:6379      # after `ray start --head` there
  neuroq sweep SPEC.yaml --serial                      # no Ray: one trial after another
  neuroq sweep docs/sweeps/cartpole_encoder_T.yaml --train-run runs/CartPole-v1/train-seed0-<time>
"""

from __future__ import annotations

import argparse
import sys

from neuroq.deploy.argtypes import positive_int

#: exit status when every trial failed (a user error is 2, as for every command)
EXIT_FAILED = 1

HELP = "run a grid or random sweep over stage settings on Ray (resumable)"


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    return ("train",) if args.serial else ("train", "scale")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="sweep spec (YAML; see docs/scale.md)")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="trials at once on the local Ray (default: the spec's, else 2)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--address", metavar="HOST:PORT",
                       help="connect to an existing Ray cluster instead of a local one "
                            "('auto': the one `ray start` began on this machine)")
    where.add_argument("--serial", action="store_true",
                       help="run the stage runs one after another in this process, no Ray")
    p.add_argument("--train-run", metavar="RUN", nargs="+",
                   help="start at convert from these finished train runs (sets the spec's "
                        "train_run; the spec's stages must then begin at convert)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress (by default a bar, or a line per trial ended where "
                   "stderr is no terminal, such as a log file)")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from neuroq.agents.cli import checks
    from neuroq.agents.sweep import check_workers, run_sweep
    from neuroq.agents.sweep_spec import load_spec
    from neuroq.deploy.errors import counted, printable_lines

    checks.writable(args.out)
    spec = load_spec(args.spec, train_run=args.train_run)
    if args.workers is not None:
        spec = dataclasses.replace(spec, workers=check_workers(args.workers))
    result = run_sweep(spec, args.out, address=args.address, serial=args.serial,
                       show_progress=not args.no_progress)
    # the table holds what stage runs recorded, which a sweep folder from someone else may
    # fill with escape sequences (an outsider): printed escaped
    print(printable_lines(result.table_md.read_text()))
    print(f"{counted(len(result.rows), 'trial')} ({result.skipped} already finished, "
          f"{result.failed} failed) in {result.wall_s:.1f} s; table {result.table_csv}, "
          f"{result.table_md}"
          + (f"; plot {result.plot}" if result.plot else
             "; no pareto.png: no trial has both a return and a cost per action (synaptic "
             "events come from convert, finetune and eval, energy from eval)"))
    if result.rows and result.failed == len(result.rows):  # exit 0 read as success (an
        print(f"neuroq sweep: every trial failed: see {result.folder / 'logs'} and the "
              "table's error column", file=sys.stderr)  # outsider's scripts)
        return EXIT_FAILED
    return 0
