"""Shared, cached fixtures of the spiking tests: a tiny trained DQN as a train run folder.

Built once per test session (a few seconds): SB3 DQN, CartPole-v1, net [32, 32], 2,000
steps. Not a good policy; the tests check mechanics and agreement, not returns.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

TINY_STEPS = 2000
TINY_ARCH = [32, 32]


@functools.lru_cache(maxsize=1)
def tiny_train_run() -> Path:
    import torch
    from stable_baselines3 import DQN

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="neuroq-spiking-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    run = root / "runs" / "CartPole-v1" / "train-seed0-test"
    run.mkdir(parents=True)
    model = DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": TINY_ARCH}, seed=0,
                learning_starts=200, train_freq=64, gradient_steps=16, learning_rate=2e-3,
                target_update_interval=10, device="cpu")
    model.learn(TINY_STEPS)
    model.save(run / "final_model.zip")
    (run / "config.yaml").write_text("env_id: CartPole-v1\n")
    (run / "result.json").write_text(json.dumps({
        "env_id": "CartPole-v1", "seed": 0, "steps": TINY_STEPS, "wall_s": 1.0,
        "mean_return": 0.0, "std_return": 0.0, "checkpoint": "final",
        "model": "final_model.zip"}))
    return run


@functools.lru_cache(maxsize=1)
def tiny_convert_run() -> Path:
    """A convert run of the tiny DQN: population code, T = 4, 10,000 recorded observations."""
    from neuroq.agents.convert import run_convert

    train = tiny_train_run()
    return run_convert(train, train.parents[1], "population", 4, (8,), n_per_dim=8,
                       record_steps=10_000, eval_episodes=3, log=lambda s: None)


@functools.lru_cache(maxsize=1)
def tiny_finetune_run() -> Path:
    """A short fine-tuning run (2 epochs) of the tiny convert run."""
    from neuroq.agents.finetune import FinetuneConfig, run_finetune

    conv = tiny_convert_run()
    cfg = FinetuneConfig(epochs=2, batch_size=512, dagger_steps=400, validation_episodes=2)
    return run_finetune(conv, conv.parents[1], cfg, eval_episodes=3, progress=False,
                        log=lambda s: None)
