"""Train a DQN on a Gymnasium environment with stable-baselines3.

Hyperparameters come from config/dqn.yaml (or --config), one section per env id; --set
overrides single keys. Each seed writes runs/<env>/train-seed<N>-<time>/ with the config
used, TensorBoard logs (tb/), the best and final models, the evaluation history and
result.json (mean and std return over the report episodes, which checkpoint).

examples:
  neuroq train --env CartPole-v1 --seed 0
  neuroq train --env Acrobot-v1 --seeds 0 1 2 3 4          # parallel processes
  neuroq train --env CartPole-v1 --set n_timesteps=20000 learning_rate=1e-3
  tensorboard --logdir runs/CartPole-v1
"""

from __future__ import annotations

import argparse
import sys

HELP = "train a DQN (stable-baselines3) for one or several seeds"


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    del args
    return ("train",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default="CartPole-v1", help="Gymnasium env id (default: %(default)s)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="one seed (default: %(default)s)")
    seeds.add_argument("--seeds", type=int, nargs="+", metavar="N",
                       help="several seeds, trained in parallel processes")
    p.add_argument("--config", metavar="YAML", help="hyperparameter file "
                   "(default: the shipped config/dqn.yaml)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override hyperparameters, e.g. n_timesteps=20000")
    p.add_argument("--steps", type=int, metavar="N",
                   help="shorthand for --set n_timesteps=N")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="parallel processes for --seeds (default: min(seeds, CPU cores))")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for a single-seed run (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents import hyperparams
    from neuroq.agents.runs import ensure_writable, read_json
    from neuroq.agents.train import check_env_id, train_many, train_one
    from neuroq.deploy.errors import NeuroqError

    check_env_id(args.env)
    cfg = hyperparams.load_config(args.env, args.config)
    overrides = list(args.set) + ([f"n_timesteps={args.steps}"] if args.steps else [])
    cfg = hyperparams.override(cfg, overrides)
    if args.workers is not None and args.workers < 1:
        raise NeuroqError("--workers must be at least 1")
    ensure_writable(f"{args.out}/{args.env}")
    progress = not args.no_progress and sys.stderr.isatty()
    if args.seeds:
        runs = train_many(args.env, args.seeds, cfg, args.out, args.workers,
                          show_progress=not args.no_progress)
    else:
        runs = [train_one(args.env, args.seed, cfg, args.out, progress_bar=progress,
                          threads=args.threads)]
    print(f"{'seed':>4}  {'mean return':>11}  {'std':>6}  {'ckpt':>5}  {'wall s':>7}  run")
    for run_dir in runs:
        r = read_json(run_dir / "result.json")
        print(f"{r['seed']:>4}  {r['mean_return']:>11.1f}  {r['std_return']:>6.1f}  "
              f"{r['checkpoint']:>5}  {r['wall_s']:>7.1f}  {run_dir}")
    return 0
