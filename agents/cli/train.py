"""Train a DQN on a Gymnasium environment with stable-baselines3.

Hyperparameters come from config/dqn.yaml (or --config), one section per env id; an env
without a section gets the file's `default` section (flagged in config.yaml and result.json);
--set overrides single keys. Any env with a Box observation and a Discrete action space can
be trained; the env is stored as one reference ('my_pkg:GridWorld-v0' for --gym-package
my_pkg --env GridWorld-v0) that every later stage makes again.

Each seed writes runs/<env>/train-seed<N>-<time>/ with the config used, TensorBoard logs
(tb/), the best and final models, the evaluation history and result.json (mean and std
return over the report episodes, which checkpoint). While it trains, the folder keeps a
checkpoint (resume/, at a selection evaluation at most every --checkpoint-every seconds):
an interrupted run (Ctrl-C, SIGTERM, a crash) goes on from it with --resume RUN.

examples:
  neuroq train --env CartPole-v1 --seed 0
  neuroq train --env Acrobot-v1 --seeds 0 1 2 3 4          # parallel processes
  neuroq train --env CartPole-v1 --set n_timesteps=20000 learning_rate=1e-3
  neuroq train --env LunarLander-v3 --seeds 0 1 2 3 4      # in the clone: pip install ".[box2d]"
  neuroq train --env my_pkg.envs:GridWorld                # your own gymnasium.Env class
  neuroq train --gym-package my_pkg --env GridWorld-v0    # an id my_pkg registers on import
  neuroq train --resume runs/LunarLander-v3/train-seed0-<time>   # after an interruption
  neuroq train --env CartPole-v1 --from-sb3 my_dqn.zip    # a DQN trained elsewhere
  tensorboard --logdir runs/CartPole-v1

--from-sb3 ZIP trains nothing: it makes a train run of a stable-baselines3 DQN you trained
yourself (DQN.save's zip; MlpPolicy, ReLU, any net_arch), for convert and the later stages.
The zip is read without running code from it, checked against --env's spaces, copied in
and played on 100 report episodes for result.json. It must take the env's observations as
they are: normalisation or wrappers it was trained behind (VecNormalize) are not in the zip.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuroq.deploy.argtypes import nonnegative_float, positive_int, seed

HELP = "train a DQN (stable-baselines3) for one or several seeds"


DEFAULT_ENV = "CartPole-v1"


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    del args
    return ("train",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env",
                   help="Gymnasium env id, or module.path:ClassName of your own env class "
                        f"(default: {DEFAULT_ENV})")
    p.add_argument("--gym-package", metavar="PKG",
                   help="import PKG first (it registers the env id given to --env); later "
                        "stages import it again from the run folder")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=seed, help="one seed (default: 0)")
    seeds.add_argument("--seeds", type=seed, nargs="+", metavar="N",
                       help="several seeds, trained in parallel processes")
    p.add_argument("--config", metavar="YAML", help="hyperparameter file "
                   "(default: the shipped config/dqn.yaml)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override hyperparameters, e.g. n_timesteps=20000")
    p.add_argument("--steps", type=positive_int, metavar="N",
                   help="shorthand for --set n_timesteps=N")
    p.add_argument("--out", help="root of run folders (default: runs)")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="parallel processes for --seeds (default: min(seeds, CPU cores))")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads for a single-seed run (default: 1; with --resume, "
                        "the run's own)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--resume", metavar="RUN",
                   help="go on with an interrupted train run from its last checkpoint, with "
                        "its own env, seed and hyperparameters (--threads may be given)")
    p.add_argument("--from-sb3", metavar="ZIP",
                   help="make a train run of a stable-baselines3 DQN zip trained elsewhere, "
                        "instead of training (needs --env; see above)")
    p.add_argument("--checkpoint-every", type=nonnegative_float, default=60.0, metavar="S",
                   help="seconds at least between checkpoints for --resume, each at a "
                        "selection evaluation (0: at every one; default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents import hyperparams
    from neuroq.agents.runs import ensure_writable, env_folder
    from neuroq.agents.train import (
        check_env_id,
        check_randomizations,
        resume_run,
        train_many,
        train_one,
        training_warnings,
    )
    from neuroq.deploy.envref import with_package
    from neuroq.deploy.errors import NeuroqError

    progress = not args.no_progress and sys.stderr.isatty()
    if args.resume is not None:  # an empty --resume is an error, not a new run
        given = [flag for flag, value in (("--env", args.env), ("--seed", args.seed),
                                          ("--out", args.out), ("--workers", args.workers),
                                          ("--seeds", args.seeds), ("--config", args.config),
                                          ("--set", args.set or None), ("--steps", args.steps),
                                          ("--gym-package", args.gym_package),
                                          ("--from-sb3", args.from_sb3))
                 if value is not None]
        if given:
            raise NeuroqError(f"--resume takes the run's own settings: drop {', '.join(given)}")
        runs = [resume_run(args.resume, progress_bar=progress,
                           threads=args.threads,
                           checkpoint_every_s=args.checkpoint_every)]
        _print_runs(runs)
        return 0

    if args.from_sb3 is not None:
        return _adopt(args)
    env_id = with_package(args.env if args.env is not None else DEFAULT_ENV, args.gym_package)
    out = args.out if args.out is not None else "runs"
    one_seed = args.seed if args.seed is not None else 0
    check_env_id(env_id, reset=True)
    loaded = hyperparams.load_hyperparameters(env_id, args.config)
    if loaded.defaults:
        print(f"neuroq train: no section for {env_id} in the config: using the default "
              f"hyperparameters: {loaded.source} (see docs/training.md)", file=sys.stderr)
    cfg = hyperparams.override(loaded.config, hyperparams.with_steps(args.set, args.steps))
    repeated = sorted({s for s in args.seeds or [] if args.seeds.count(s) > 1})
    if repeated:  # each would train the same network again
        raise NeuroqError(f"--seeds: {', '.join(map(str, repeated))} given more than once")
    ensure_writable(Path(out) / env_folder(env_id))
    check_randomizations(env_id, cfg)  # (train_one checks too): errors before warnings
    for warning in training_warnings(env_id, cfg, args.seeds or [one_seed]):  # the
        # settings are good: what they do
        print(f"neuroq train: warning: {warning}", file=sys.stderr)
    if args.seeds and args.workers:
        from neuroq.agents.runs import oversubscribed

        said = oversubscribed(min(args.workers, len(args.seeds)), "seeds")
        if said:
            print(f"neuroq train: warning: {said}", file=sys.stderr)
    if args.seeds:
        runs = train_many(env_id, args.seeds, cfg, out, args.workers,
                          show_progress=progress, defaults=loaded.defaults,
                          checkpoint_every_s=args.checkpoint_every)
    else:
        runs = [train_one(env_id, one_seed, cfg, out, progress_bar=progress,
                          threads=args.threads or 1, defaults=loaded.defaults,
                          checkpoint_every_s=args.checkpoint_every)]
    _print_runs(runs)
    return 0


def _adopt(args: argparse.Namespace) -> int:
    """--from-sb3: a train run of a DQN zip trained elsewhere (`adopt_sb3`)."""
    from neuroq.agents.runs import ensure_writable, env_folder, read_json, read_yaml_mapping
    from neuroq.agents.train import adopt_sb3
    from neuroq.deploy.envref import with_package
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.seeds import seed_span

    given = [flag for flag, value in (("--seed", args.seed), ("--seeds", args.seeds),
                                      ("--config", args.config), ("--set", args.set or None),
                                      ("--steps", args.steps), ("--workers", args.workers),
                                      ("--threads", args.threads))
             if value is not None]
    if given:
        raise NeuroqError(f"--from-sb3 trains nothing: drop {', '.join(given)}")
    if args.env is None:
        raise NeuroqError("--from-sb3 needs --env: a stable-baselines3 zip does not name the "
                          "environment it was trained on")
    env_id = with_package(args.env, args.gym_package)
    out = args.out if args.out is not None else "runs"
    ensure_writable(Path(out) / env_folder(env_id))
    run_dir = adopt_sb3(args.from_sb3, env_id, out,
                        log=lambda text: print(f"neuroq train: {text}", file=sys.stderr))
    r = read_json(run_dir / "result.json")
    span = seed_span((r["report_seed"], r["report_seed"] + r["episodes"] - 1))
    arch = read_yaml_mapping(run_dir / "config.yaml")["hyperparameters"]["net_arch"]
    print(f"adopted: mean return {r['mean_return']:.1f} +- {r['std_return']:.1f} over "
          f"{r['episodes']} episodes (seeds {span}), net_arch {arch}\n{run_dir}\n"
          f"next: neuroq convert {run_dir}")
    return 0


def _print_runs(runs) -> None:
    from neuroq.agents.runs import read_json

    print(f"{'seed':>4}  {'mean return':>11}  {'std':>6}  {'ckpt':>5}  {'wall s':>7}  run")
    means = []
    for run_dir in runs:
        r = read_json(run_dir / "result.json")
        means.append(r["mean_return"])
        print(f"{r['seed']:>4}  {r['mean_return']:>11.1f}  {r['std_return']:>6.1f}  "
              f"{r['checkpoint']:>5}  {r['wall_s']:>7.1f}  {run_dir}")
    if len(means) > 1:
        print(across_seeds(means))


def across_seeds(means: list[float]) -> str:
    """The line under several seeds' table: the mean and spread of their mean returns, and
    a 95 % bootstrap interval of that mean (an outsider computed it by hand from the table).
    Each seed's own return is over its report episodes (docs/training.md)."""
    import numpy as np

    from neuroq.deploy.stats import bootstrap_ci

    x = np.asarray(means, np.float64)
    lo, hi = bootstrap_ci(x)
    return (f"across {len(x)} seeds: {x.mean():.1f} +- {x.std(ddof=1):.1f} (mean +- std of "
            f"their mean returns), 95 % bootstrap interval of the mean [{lo:.1f}, {hi:.1f}]")
