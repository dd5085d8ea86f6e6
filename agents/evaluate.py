"""The eval stage: an artifact closed loop in Gymnasium, saved as a run folder.

Robot side: needs numpy, gymnasium, nir and h5py, never torch. Writes
runs/<env>/eval-<backend>-<time>/result.json (what `neuroq.deploy.evaluate.evaluate`
returns, plus the settings); with more than MAX_RETURNS_IN_JSON episodes the per-episode
returns go to returns.npy instead of result.json.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from neuroq.deploy.artifact import Artifact

#: Largest number of per-episode returns written into result.json; more go to returns.npy.
MAX_RETURNS_IN_JSON = 10_000
RETURNS_FILE = "returns.npy"


@dataclass(frozen=True)
class Evaluation:
    """An eval run: its folder and its result."""

    run_dir: Path
    result: dict[str, Any]


def check_eval_settings(backend: Any = "emulator", episodes: Any = 100, seed: Any = 0,
                        board_ip: Any = None, performance_level: Any = "low",
                        static_scope: Any = "chip", max_steps: Any = None) -> None:
    """NeuroqError naming the first of `evaluate_artifact`'s settings (same defaults) that
    is not usable, before anything is loaded: `evaluate_artifact` and sweep specs."""
    from neuroq.deploy.policy import check_policy_settings
    from neuroq.deploy.rollout import check_settings
    from neuroq.deploy.seeds import check_episode_seeds, check_seed

    check_settings(episodes, seed, max_steps)
    check_seed(seed)  # (its upper end; an eval's seed is no optional one)
    check_episode_seeds(seed, episodes, "--episodes")
    check_policy_settings(backend, performance_level, static_scope, board_ip)


def evaluate_artifact(artifact: str | os.PathLike | Artifact, backend: str = "emulator",
                      episodes: int = 100, seed: int = 0, out: str | os.PathLike = "runs",
                      board_ip: str | None = None, performance_level: str = "low",
                      static_scope: str = "chip", max_steps: int | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      say: Callable[[str], None] | None = None) -> Evaluation:
    """Evaluate `artifact` (its folder or manifest.json, or the `Artifact` that `neuroq
    eval` loaded first; episode i seeded seed + i) and write the eval run folder; `say`
    hears one line once the policy is loaded."""
    from neuroq.agents.runs import make_run_dir, removed_on_failure, save_array, write_json
    from neuroq.deploy.artifact import artifact_name
    from neuroq.deploy.errors import counted
    from neuroq.deploy.evaluate import evaluate
    from neuroq.deploy.policy import load_policy
    from neuroq.deploy.rollout import check_artifact_env

    check_eval_settings(backend, episodes, seed, board_ip, performance_level, static_scope,
                        max_steps)
    policy = load_policy(artifact, backend=backend, performance_level=performance_level,
                         board_ip=board_ip, static_scope=static_scope, seed=seed)
    check_artifact_env(policy.manifest)  # an env that cannot be made or does not fit: now
    where = artifact_name(artifact)
    if say is not None:
        say(f"evaluating {where} on {policy.manifest['env_id']}, backend {backend}, "
            f"{counted(episodes, 'episode')}, T = {policy.timesteps}")
    result = evaluate(policy, episodes, seed, max_steps=max_steps, progress=progress)
    if policy.board_check is not None:  # the board's Q-values against the emulator's
        result["board_vs_emulator"] = policy.board_check.to_dict()
    result["config"] = {"artifact": where, "backend": backend, "episodes": episodes,
                        "seed": seed, "performance_level": performance_level,
                        "static_scope": static_scope, "board_ip": board_ip,
                        "max_steps": max_steps}
    run_dir = make_run_dir(out, policy.manifest["env_id"], "eval", backend)
    with removed_on_failure(run_dir):
        if len(result["returns"]) > MAX_RETURNS_IN_JSON:
            save_array(run_dir / RETURNS_FILE, np.asarray(result.pop("returns"), np.float64))
            result["returns_file"] = RETURNS_FILE
        write_json(run_dir / "result.json", result)
        return Evaluation(Path(run_dir), result)
