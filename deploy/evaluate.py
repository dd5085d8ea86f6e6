"""Closed-loop evaluation of a deployed policy in Gymnasium, with per-action accounting.

The episodes run through the one evaluator, `neuroq.deploy.rollout.run_episodes`: episode i
is reset with seed `seed + i`, episodes stream through at most `batch` environments, and the
policy is called once per step for all running episodes (one emulator run of T steps over
the batch). Two backends given the same seed see the same episodes; since the emulator and
the reference compute the same thing their returns are identical.

Figures and what they are:
- returns: MEASURED in the environment (mean, std, mean of the worst 5 % of episodes).
- outcomes, for environments that report them (`neuroq.deploy.rollout.OUTCOME_KEYS`):
  success and collision rates with 95 % intervals, time to goal, per-episode success.
- host time per action: MEASURED wall time of the policy on this host, per action, both
  amortized over the batch and for single actions (`act`, one observation at a time).
- chip time, synaptic events' energy, dynamic and total energy per action: MODELED
  (`neuroq.deploy.energy`, constants in `neuroq.deploy.chip`). Event counts are COUNTED by
  the emulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.rollout import (
    DEFAULT_BATCH,
    EnvWrapper,
    episode_seed,
    outcome_summary,
    run_episodes,
)
from neuroq.deploy.stats import bootstrap_ci, worst_fraction_mean

#: single actions timed with `act` after the episodes, for the per-action host latency.
SINGLE_ACTION_SAMPLES = 200


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
    batch: int = DEFAULT_BATCH,
    wrappers: Sequence[EnvWrapper] = (),
) -> dict[str, Any]:
    """Run `episodes` episodes of `policy` (a `neuroq.deploy.policy.SpikingPolicy`); return
    results.

    env_id: defaults to the artifact manifest's. max_steps: cap per episode (default: the
    environment's own time limit). progress(done, total) is called as episodes finish.
    batch: episodes running at once. wrappers: extra Gymnasium wrappers (perturbations).
    """
    env_id = env_id or policy.manifest.get("env_id")
    if not env_id:
        raise NeuroqError("the artifact manifest names no env_id; pass one")
    acc = {"synaptic_events": 0.0, "chip_synaptic_events": 0.0, "spikes": 0.0,
           "energy_dynamic_j": 0.0, "energy_total_j": 0.0}
    tally = {"actions": 0, "host_policy_s": 0.0, "max_tick_load": 0.0}
    chip_time_s: list[float | None] = [None]
    sample_obs: list[np.ndarray] = []

    def act(obs: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
        b = policy.run_step(obs, infos)  # an event task's events, else the observations
        tally["host_policy_s"] += b.host_time_s
        tally["actions"] += len(obs)
        chip_time_s[0] = b.chip_time_s
        acc["synaptic_events"] += float(np.sum(b.synaptic_events))
        acc["spikes"] += float(np.sum(b.spikes))
        if b.chip_synaptic_events is not None:
            acc["chip_synaptic_events"] += float(np.sum(b.chip_synaptic_events))
            acc["energy_dynamic_j"] += float(np.sum(b.energy_dynamic_j))
            acc["energy_total_j"] += float(np.sum(b.energy_total_j))
            tally["max_tick_load"] = max(tally["max_tick_load"], float(np.max(b.tick_load)))
        if len(sample_obs) < SINGLE_ACTION_SAMPLES:
            sample_obs.extend(obs[: SINGLE_ACTION_SAMPLES - len(sample_obs)].copy())
        return b.actions

    start = time.perf_counter()
    result = run_episodes(env_id, act, episodes, seed, max_steps=max_steps, batch=batch,
                          wrappers=wrappers, progress=progress)
    loop_s = time.perf_counter() - start
    returns, lengths = result.returns, result.lengths
    n_actions = tally["actions"]
    single = []
    if policy.backend != "spinnaker2":  # on a board every action is already a single one
        for o in sample_obs:
            single.append(policy.act(o).host_latency_s)
    modeled = chip_time_s[0] is not None

    def per_action(key: str) -> float | None:
        return acc[key] / n_actions if modeled or key in ("synaptic_events", "spikes") else None

    return {
        "env_id": env_id,
        "backend": policy.backend,
        "episodes": episodes,
        "seed": seed,
        "episode_seeds": [episode_seed(seed, 0), episode_seed(seed, episodes - 1)],
        "timesteps_per_action": policy.timesteps,
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_ci95": list(bootstrap_ci(returns)),
        "return_worst5pct_mean": worst_fraction_mean(returns),
        "returns": returns.tolist(),
        **outcome_summary(result.outcomes),
        **({"success": [bool(x > 0.5) for x in np.nan_to_num(result.outcomes["is_success"])]}
           if "is_success" in result.outcomes else {}),
        "episode_length": _stats(lengths),
        "actions": n_actions,
        "measured": {
            "host_time_per_action_batched_s": tally["host_policy_s"] / n_actions,
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
            "chip_time_s": chip_time_s[0],
            "energy_dynamic_j": per_action("energy_dynamic_j"),
            "energy_total_j": per_action("energy_total_j"),
            "max_tick_load": tally["max_tick_load"],
            "energy_model": policy.energy.describe(),
        },
    }
