"""Run the whole pipeline on CartPole-v1 and print what each stage produced.

Stages: train a DQN (seed 0, the shipped hyperparameters). Each stage writes its run
folder under --out; the summary at the end lists them.
"""

from __future__ import annotations

import argparse

HELP = "run the whole pipeline on CartPole-v1 (what `make demo` runs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default="CartPole-v1", help="Gymnasium env id (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")
    p.add_argument("--steps", type=int, metavar="N",
                   help="training steps (default: the config's n_timesteps)")


def run(args: argparse.Namespace) -> int:
    import sys

    from agents import hyperparams
    from agents.train import check_env_id, train_one
    from deploy.runs import ensure_writable, read_json

    check_env_id(args.env)
    cfg = hyperparams.load_config(args.env)
    if args.steps:
        cfg = hyperparams.override(cfg, [f"n_timesteps={args.steps}"])
    ensure_writable(f"{args.out}/{args.env}")
    print(f"[1/1] train: DQN on {args.env}, seed {args.seed}, {cfg.n_timesteps} steps",
          flush=True)
    train_dir = train_one(args.env, args.seed, cfg, args.out, progress_bar=sys.stderr.isatty())
    r = read_json(train_dir / "result.json")
    print(f"      mean return {r['mean_return']:.1f} +- {r['std_return']:.1f} over "
          f"{r['episodes']} episodes ({r['checkpoint']} checkpoint, {r['wall_s']:.0f} s)")
    print(f"      {train_dir}")
    return 0
