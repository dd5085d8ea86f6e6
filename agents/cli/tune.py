"""Search DQN hyperparameters with Optuna (TPE sampler, median pruning), trials on Ray.

Each trial trains one DQN (the env's config/dqn.yaml section, or the default section, with
the sampled hyperparameters; --steps sets n_timesteps) and scores it by the mean return of
its chosen checkpoint over the report episodes. Trials below the median of earlier trials at
the same evaluation step are stopped early. Trials run on a local Ray (127.0.0.1, no
dashboard, --workers CPUs) or an existing cluster (--address); --serial runs them here.

Writes <out>/<env>/tune-<name>/: best.yaml (a config section ready for config/dqn.yaml),
trials.csv, result.json, the trials' run folders, and study.journal (the Optuna study):
running the same command again resumes the study up to --trials finished trials.

examples:
  neuroq tune --env CartPole-v1 --trials 20 --steps 30000
  neuroq tune --env MountainCar-v0 --trials 40 --space my_space.yaml --workers 2
  neuroq tune --env CartPole-v1 --trials 40 --address 10.0.0.5:6379
"""

from __future__ import annotations

import argparse
import sys

from neuroq.deploy.argtypes import positive_int, seed

HELP = "search DQN hyperparameters (Optuna TPE + median pruning) on Ray; resumable"


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    del args
    return ("train", "scale")


def _study_name(text: str) -> str:
    from neuroq.agents.tune import check_study_name
    from neuroq.deploy.errors import NeuroqError

    try:
        return check_study_name(text, what="")  # argparse names the option itself
    except NeuroqError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", required=True,
                   help="Gymnasium env id, or module.path:ClassName of your own env class")
    p.add_argument("--gym-package", metavar="PKG", help="import PKG first (it registers --env)")
    p.add_argument("--trials", type=int, default=20,
                   help="finished trials the study should hold (default: %(default)s)")
    p.add_argument("--steps", type=positive_int, metavar="N", help="n_timesteps of every trial")
    p.add_argument("--seed", type=seed, default=0,
                   help="training seed of every trial, and the sampler's (default: 0)")
    p.add_argument("--name", type=_study_name, default="dqn",
                   help="study name: folder <out>/<env>/tune-<name>; not empty, no '/', '\\' "
                        "or '..' (default: %(default)s)")
    p.add_argument("--space", metavar="YAML",
                   help="search space (hyperparameter: distribution; default: built in, "
                        "see docs/scale.md)")
    p.add_argument("--config", metavar="YAML", help="hyperparameter file for the settings "
                   "not searched (default: the shipped config/dqn.yaml)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override settings not searched, e.g. eval_freq=2000")
    p.add_argument("--workers", type=positive_int, default=2,
                   help="trials at once (default: %(default)s)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--address", metavar="HOST:PORT",
                       help="connect to an existing Ray cluster instead of a local one")
    where.add_argument("--serial", action="store_true", help="no Ray: one trial at a time")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress (by default a bar, or a line per trial ended where "
                   "stderr is no terminal, such as a log file)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.cli import checks
    from neuroq.agents.hyperparams import load_hyperparameters
    from neuroq.agents.tune import load_space, objective_seeds, run_tune
    from neuroq.deploy.envref import with_package
    from neuroq.deploy.errors import counted, printable, printable_lines
    from neuroq.deploy.seeds import seed_span

    checks.writable(args.out)
    # the files, read once here: a wrong one is one line before Ray starts; no --space: the
    # default space, given as None so that run_tune may fit its learning_starts to --steps
    # (given as the loaded default it was refused as a space of the user's, the review)
    space = load_space(args.space) if args.space is not None else None
    env_id = with_package(args.env, args.gym_package)
    hyperparameters = load_hyperparameters(env_id, args.config)
    result = run_tune(env_id, args.trials, args.out, args.name, args.steps, args.seed,
                      args.workers, space, hyperparameters, args.set, args.address,
                      args.serial, show_progress=not args.no_progress)
    states = {s: sum(t["state"] == s for t in result.trials)
              for s in ("complete", "pruned", "fail", "interrupted")}
    again = (f", {states['interrupted']} interrupted and run again"
             if states["interrupted"] else "")
    print(f"{counted(len(result.trials), 'trial')} ({states['complete']} complete, "
          f"{states['pruned']} pruned, {states['fail']} failed{again}) in "
          f"{result.wall_s:.1f} s; study {result.folder}")
    if result.best is None:  # exit 0 read as success (an outsider's scripts)
        print(f"neuroq tune: no trial completed: no best settings (see {result.folder})",
              file=sys.stderr)
        return 1
    held = result.held_out or {}
    held_text = (f"held out {held['mean_return']:.2f} +- {held['std_return']:.2f} over "
                 f"{held['episodes']} episodes, seeds {seed_span(held['seeds'])}"
                 if "mean_return" in held else
                 f"held out: not played ({held.get('error', 'no result')})")
    # a study's journal may come from someone else: what it recorded is printed escaped (an
    # outsider's run_dir of escape sequences reached the terminal raw)
    print(printable(f"best: trial {result.best['number']}, mean return "
                    f"{result.best['value']:.2f} on the report episodes that chose it "
                    f"({objective_seeds(result.best)}); {held_text}; config section "
                    f"{result.best_yaml}:"))
    print(printable_lines(result.best_yaml.read_text()))
    return 0
