"""DQN training with stable-baselines3: one seed, or several in parallel processes.

A run trains `DQN("MlpPolicy")` on a Gymnasium env with the hyperparameters of
config/dqn.yaml, evaluates the greedy policy every `eval_freq` steps on `n_eval_episodes`
episodes (selection episodes, seeded apart from training) and keeps the best checkpoint,
then reports the chosen checkpoint on `final_eval_episodes` fresh episodes (report
episodes, seeded apart from both). It writes `runs/<env>/train-seed<seed>-<time>/`:

    config.yaml         env, seed, hyperparameters, library versions
    best_model.zip      best checkpoint by the selection episodes (SB3 format)
    final_model.zip     the model after the last step
    evaluations.npz     SB3's evaluation history; eval_history.json the same as JSON
    tb/                 TensorBoard logs (training loss, exploration, eval/mean_reward)
    result.json         env_id, seed, steps, wall_s, mean_return, std_return, episodes,
                        checkpoint ("best"|"final"), model (file name), and more

Seeding: python, numpy and torch through SB3's `set_random_seed(seed)`, the training env
and its action space through `DQN(seed=seed)`, the selection env with
`seed + SELECTION_SEED_OFFSET`, the report env with `seed + REPORT_SEED_OFFSET`.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from neuroq.agents.hyperparams import DQNConfig
from neuroq.agents.runs import make_run_dir, removed_on_failure, write_json
from neuroq.deploy import seeds
from neuroq.deploy.envref import package_of
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.rollout import make_env, run_episodes

#: Seed offsets keep selection and report episodes disjoint from training and each other.
SELECTION_SEED_OFFSET = seeds.SELECTION_BASE
SELECTION_PERTURBED_OFFSET = seeds.SELECTION_PERTURBED_BASE - seeds.SELECTION_BASE
REPORT_SEED_OFFSET = seeds.REPORT_BASE
#: Training steps between progress reports.
PROGRESS_EVERY_STEPS = 250

ProgressFn = Callable[[int], None]
#: Called after every selection evaluation with (steps, mean return); it may raise to stop
#: the run (`neuroq tune` prunes trials this way; the run folder is then removed).
EvalHook = Callable[[int, float], None]


def check_env_id(env_id: str) -> None:
    """Raise NeuroqError unless `env_id` is an env reference (a registered id, ours
    included, 'package:EnvId' or 'module:ClassName'; see neuroq.deploy.envref) whose spaces
    a Q-network can take (a Box observation, a Discrete action space; agents/envspec.py)."""
    from neuroq.agents.envspec import check_trainable

    check_trainable(env_id)


def _versions() -> dict[str, str]:
    import gymnasium
    import stable_baselines3
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "stable_baselines3": stable_baselines3.__version__,
                "gymnasium": gymnasium.__version__, "numpy": np.__version__}
    return {k: str(v) for k, v in versions.items()}


def greedy_act(model: Any) -> Callable[[np.ndarray, Any], np.ndarray]:
    """Batched greedy actions of an SB3 DQN, for `run_episodes`."""
    return lambda obs, _infos: np.asarray(model.predict(obs, deterministic=True)[0])


def evaluate(model: Any, env_id: str, episodes: int, seed: int,
             wrappers: tuple = ()) -> np.ndarray:
    """Returns of `episodes` greedy episodes of `model` (episode i seeded seed + i)."""
    return run_episodes(env_id, greedy_act(model), episodes, seed, wrappers=wrappers).returns


def randomization(cfg: DQNConfig, selection: bool = False) -> tuple:
    """The env wrappers of the config's domain randomization (none when it is empty);
    selection: those of `select_randomize` instead."""
    from neuroq.envs.perturb import RandomizationSpec

    spec = RandomizationSpec.from_dict((cfg.select_randomize if selection else cfg.randomize)
                                       or None)
    return (spec.wrapper(),) if spec.active else ()


def selection_returns(model: Any, env_id: str, seed: int, cfg: DQNConfig) -> np.ndarray:
    """Returns of a checkpoint's selection episodes (seeds seed + SELECTION_SEED_OFFSET + i):
    n_eval_episodes under `randomize`, and with `select_randomize` also n_eval_episodes
    under it (seeds offset by SELECTION_PERTURBED_OFFSET), so the score is the mean of both."""
    base = seed + SELECTION_SEED_OFFSET
    r = evaluate(model, env_id, cfg.n_eval_episodes, base, randomization(cfg))
    perturbed = randomization(cfg, selection=True)
    if perturbed:
        r = np.concatenate([r, evaluate(model, env_id, cfg.n_eval_episodes,
                                        base + SELECTION_PERTURBED_OFFSET, perturbed)])
    return r


def _selection_callback(model_dir: Path, env_id: str, seed: int, cfg: DQNConfig,
                        progress: ProgressFn | None, on_eval: EvalHook | None = None) -> Any:
    """Every eval_freq steps: the greedy return over the selection episodes
    (`selection_returns`: under the config's domain randomization when it has one, and as
    many again under `select_randomize` when it is set); the model is saved as
    best_model.zip on a strict improvement, and the history kept for eval_history.json."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Selection(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list[float]] = {"steps": [], "mean_return": [],
                                                    "std_return": []}
            self.best = -np.inf

        def _on_step(self) -> bool:
            if progress is not None and self.num_timesteps % PROGRESS_EVERY_STEPS == 0:
                progress(self.num_timesteps)
            if self.num_timesteps % cfg.eval_freq == 0:
                r = selection_returns(self.model, env_id, seed, cfg)
                self.history["steps"].append(int(self.num_timesteps))
                self.history["mean_return"].append(float(r.mean()))
                self.history["std_return"].append(float(r.std()))
                self.logger.record("eval/mean_reward", float(r.mean()))
                if r.mean() > self.best:
                    self.best = float(r.mean())
                    self.model.save(model_dir / "best_model.zip")
                if on_eval is not None:
                    on_eval(int(self.num_timesteps), float(r.mean()))
            return True

    return Selection()


def train_one(env_id: str, seed: int, cfg: DQNConfig, out_root: str | os.PathLike,
              progress: ProgressFn | None = None, progress_bar: bool = False,
              threads: int = 1, defaults: bool = False,
              on_eval: EvalHook | None = None) -> Path:
    """Train one seed; return its run folder (with result.json written last).

    defaults: `cfg` is the default hyperparameters (no section for the env), recorded as
    `default_hyperparameters` in config.yaml and result.json. on_eval: see EvalHook.
    """
    check_env_id(env_id)
    run_dir = make_run_dir(out_root, env_id, "train", f"seed{seed}")
    with removed_on_failure(run_dir):

        import torch
        from stable_baselines3 import DQN
        from stable_baselines3.common.utils import set_random_seed

        torch.set_num_threads(threads)
        set_random_seed(seed)
        config_doc = {"env_id": env_id, "gym_package": package_of(env_id), "seed": seed,
                      "default_hyperparameters": defaults, "hyperparameters": cfg.to_dict(),
                      "threads": threads, "versions": _versions()}
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config_doc, sort_keys=False))

        from stable_baselines3.common.monitor import Monitor

        env = Monitor(make_env(env_id, randomization(cfg)))
        model = DQN("MlpPolicy", env, seed=seed, verbose=0, device="cpu",
                    tensorboard_log=str(run_dir / "tb"), **cfg.sb3_kwargs())
        selection = _selection_callback(run_dir, env_id, seed, cfg, progress, on_eval)
        t0 = time.perf_counter()
        model.learn(total_timesteps=cfg.n_timesteps, callback=selection, tb_log_name="dqn",
                    progress_bar=progress_bar)
        wall_s = time.perf_counter() - t0
        if not all(torch.isfinite(w).all() for w in model.policy.parameters()):
            raise NeuroqError(f"training diverged: the Q-network's weights are NaN or inf "
                              f"after {model.num_timesteps} steps; lower learning_rate")
        model.save(run_dir / "final_model.zip")

        history = _eval_history(run_dir, selection.history)
        best = run_dir / "best_model.zip"
        checkpoint = "best" if best.exists() else "final"
        chosen = DQN.load(best, device="cpu") if checkpoint == "best" else model
        report_seed = seed + REPORT_SEED_OFFSET
        returns = evaluate(chosen, env_id, cfg.final_eval_episodes, report_seed)
        final_returns = (returns if checkpoint == "final"
                         else evaluate(model, env_id, cfg.final_eval_episodes, report_seed))
        result = {
            "env_id": env_id, "seed": seed, "steps": int(model.num_timesteps),
            "wall_s": round(wall_s, 2),
            "wall_s_per_10k_steps": round(wall_s * 1e4 / max(model.num_timesteps, 1), 2),
            "mean_return": float(returns.mean()), "std_return": float(returns.std()),
            "min_return": float(returns.min()), "episodes": int(returns.size),
            "checkpoint": checkpoint, "model": f"{checkpoint}_model.zip",
            "best_eval_step": history["best_step"],
            "final_model_mean_return": float(final_returns.mean()),
            "report_seed": report_seed,
            "gym_package": package_of(env_id), "default_hyperparameters": defaults,
        }
        write_json(run_dir / "result.json", result)
        return run_dir


def _eval_history(run_dir: Path, history: dict[str, Any]) -> dict[str, Any]:
    """Write the selection history as eval_history.json; return it with the best step."""
    means = history["mean_return"]
    # the best model is replaced only on a strict improvement: the first maximum
    best = history["steps"][int(np.argmax(means))] if means else None
    out = {**history, "best_step": best}
    write_json(run_dir / "eval_history.json", out)
    return out


def _worker(args: tuple[str, int, dict[str, Any], str, Any, bool]) -> str:
    env_id, seed, cfg_dict, out_root, queue, defaults = args
    cfg = dataclasses.replace(DQNConfig(), **{**cfg_dict, "net_arch": tuple(cfg_dict["net_arch"])})

    def report(steps: int) -> None:
        queue.put((seed, steps))

    return str(train_one(env_id, seed, cfg, out_root, progress=report, defaults=defaults))


def train_many(env_id: str, seeds: list[int], cfg: DQNConfig, out_root: str | os.PathLike,
               workers: int | None = None, show_progress: bool = True,
               defaults: bool = False) -> list[Path]:
    """Train `seeds` in parallel processes (one torch thread each); return run folders."""
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import ProcessPoolExecutor

    check_env_id(env_id)
    workers = workers or min(len(seeds), os.cpu_count() or 1)
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    q = manager.Queue()
    bars = {}
    if show_progress:
        from tqdm.auto import tqdm

        bars = {s: tqdm(total=cfg.n_timesteps, desc=f"{env_id} seed {s}", position=i,
                        unit="step", leave=True, dynamic_ncols=True)
                for i, s in enumerate(seeds)}
    jobs = [(env_id, s, cfg.to_dict(), str(out_root), q, defaults) for s in seeds]
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(_worker, job) for job in jobs]
        while not all(f.done() for f in futures):
            try:
                seed, steps = q.get(timeout=0.5)
            except queue_mod.Empty:
                continue
            if seed in bars:
                bars[seed].update(steps - bars[seed].n)
        paths = [Path(f.result()) for f in futures]
    for bar in bars.values():
        bar.update(cfg.n_timesteps - bar.n)
        bar.close()
    manager.shutdown()
    return paths
