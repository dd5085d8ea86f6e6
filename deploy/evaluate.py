"""Closed-loop evaluation of a deployed policy in Gymnasium, with per-action accounting.

All episodes run at once: every loop iteration collects the observations of the episodes
still running, runs one batched action for them (one emulator run of T steps over the
batch), and steps each environment. Episode i is reset with seed `seed + i`, so two
backends given the same seed see the same episodes, and since the emulator and the reference
compute the same thing their returns are identical.

Figures and what they are:
- returns: MEASURED in the environment (mean, std, mean of the worst 5 % of episodes).
- host time per action: MEASURED wall time of the policy on this host, per action, both
  amortized over the batch and for single actions (`act`, one observation at a time).
- chip time, synaptic events' energy, dynamic and total energy per action: MODELED
  (`neuroq.deploy.energy`, constants in `neuroq.deploy.chip`). Event counts are COUNTED by the emulator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError

#: fraction of episodes whose mean return is the "worst-5 %" figure (NeuroBench's risk).
WORST_FRACTION = 0.05
#: single actions timed with `act` after the episodes, for the per-action host latency.
SINGLE_ACTION_SAMPLES = 200


def worst_fraction_mean(returns: np.ndarray, fraction: float = WORST_FRACTION) -> float:
    """Mean of the lowest ceil(fraction * n) returns."""
    r = np.sort(np.asarray(returns, np.float64))
    return float(r[: max(1, math.ceil(fraction * len(r)))].mean())


def _make_envs(env_id: str, n: int) -> list:
    import gymnasium as gym

    import neuroq.envs  # noqa: F401 - registers neuroq's own environments

    try:
        return [gym.make(env_id, disable_env_checker=True) for _ in range(n)]
    except gym.error.Error as exc:
        raise NeuroqError(f"cannot make environment {env_id!r}: {exc}") from None


def _stats(x: list[float] | np.ndarray) -> dict[str, float]:
    a = np.asarray(x, np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
            "max": float(a.max())}


def evaluate(
    policy: Any,
    episodes: int = 100,
    seed: int = 0,
    env_id: str | None = None,
    max_steps: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run `episodes` episodes of `policy` (a `neuroq.deploy.policy.SpikingPolicy`); return results.

    env_id: defaults to the artifact manifest's. max_steps: cap per episode (default: the
    environment's own time limit). progress(done, total) is called as episodes finish.
    """
    if episodes < 1:
        raise NeuroqError("--episodes must be at least 1")
    env_id = env_id or policy.manifest.get("env_id")
    if not env_id:
        raise NeuroqError("the artifact manifest names no env_id; pass one")
    envs_ = _make_envs(env_id, episodes)
    resets = [e.reset(seed=seed + i) for i, e in enumerate(envs_)]
    # multi-dimensional observations (the DVS envs' counts) are flattened in C order
    obs = np.stack([np.asarray(o, np.float32).reshape(-1) for o, _ in resets])
    # step the bare environments (the wrappers' per-step checks cost more than the
    # policy); the time limit the wrappers would apply is applied here
    limit = envs_[0].spec.max_episode_steps if envs_[0].spec is not None else None
    if max_steps is not None:
        limit = max_steps if limit is None else min(limit, max_steps)
    cores = [e.unwrapped for e in envs_]
    # an event encoder takes each control period's events as input spikes, not the counts
    by_events = hasattr(getattr(policy, "encoder", None), "encode_events")
    events = [info.get("events") for _, info in resets]
    window_start = np.zeros(episodes, np.int64)
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, np.int64)
    running = np.ones(episodes, bool)
    acc = {"synaptic_events": 0.0, "chip_synaptic_events": 0.0, "spikes": 0.0,
           "energy_dynamic_j": 0.0, "energy_total_j": 0.0}
    n_actions = 0
    max_tick_load = 0.0
    host_policy_s = 0.0
    chip_time_s = None
    sample_obs = []
    start = time.perf_counter()
    try:
        while running.any():
            idx = np.flatnonzero(running)
            if by_events:
                b = policy.run_events([events[i] for i in idx], window_start[idx])
            else:
                b = policy.run_batch(obs[idx])
            host_policy_s += b.host_time_s
            n_actions += len(idx)
            chip_time_s = b.chip_time_s
            acc["synaptic_events"] += float(np.sum(b.synaptic_events))
            acc["spikes"] += float(np.sum(b.spikes))
            if b.chip_synaptic_events is not None:
                acc["chip_synaptic_events"] += float(np.sum(b.chip_synaptic_events))
                acc["energy_dynamic_j"] += float(np.sum(b.energy_dynamic_j))
                acc["energy_total_j"] += float(np.sum(b.energy_total_j))
                max_tick_load = max(max_tick_load, float(np.max(b.tick_load)))
            if len(sample_obs) < SINGLE_ACTION_SAMPLES:
                sample_obs.extend(obs[idx[: SINGLE_ACTION_SAMPLES - len(sample_obs)]])
            for i, a in zip(idx.tolist(), b.actions.tolist(), strict=True):
                o, r, term, trunc, info = cores[i].step(a)
                obs[i] = np.asarray(o, np.float32).reshape(-1)
                if by_events:
                    events[i] = info["events"]
                    window_start[i] = cores[i].t_us - cores[i].period_us
                returns[i] += r
                lengths[i] += 1
                if term or trunc or (limit is not None and lengths[i] >= limit):
                    running[i] = False
            if progress is not None and not running[idx].all():
                progress(episodes - int(running.sum()), episodes)
    finally:
        for e in envs_:
            e.close()
    loop_s = time.perf_counter() - start
    single = []
    if policy.backend != "spinnaker2":  # on a board every action is already a single one
        for o in sample_obs:
            single.append(policy.act(o).host_latency_s)
    modeled = chip_time_s is not None

    def per_action(key: str) -> float | None:
        return acc[key] / n_actions if modeled or key in ("synaptic_events", "spikes") else None

    return {
        "env_id": env_id,
        "backend": policy.backend,
        "episodes": episodes,
        "seed": seed,
        "timesteps_per_action": policy.timesteps,
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_worst5pct_mean": worst_fraction_mean(returns),
        "returns": returns.tolist(),
        "episode_length": _stats(lengths),
        "actions": n_actions,
        "measured": {
            "host_time_per_action_batched_s": host_policy_s / n_actions,
            "host_latency_single_action_median_s": float(np.median(single)) if single else None,
            "host_latency_single_action_p99_s": (float(np.percentile(single, 99))
                                                 if single else None),
            "evaluation_wall_s": loop_s,
        },
        "counted_per_action": {
            "synaptic_events": per_action("synaptic_events"),
            "chip_synaptic_events": per_action("chip_synaptic_events"),
            "spikes": per_action("spikes"),
        },
        "modeled_per_action": None if not modeled else {
            "chip_time_s": chip_time_s,
            "energy_dynamic_j": per_action("energy_dynamic_j"),
            "energy_total_j": per_action("energy_total_j"),
            "max_tick_load": max_tick_load,
            "energy_model": policy.energy.describe(),
        },
    }
