"""The export stage: a fine-tuned network written as the deploy artifact (NIR + manifest).

Reads runs/<env>/finetune-<id>/ and writes runs/<env>/export-<time>/:

    artifact/manifest.json    env id, spaces, encoder and its parameters, T, per-layer
                              scales, threshold comparison and reset, q_scale, SHA-256 of
                              the weights file, provenance (train, convert, finetune runs)
    artifact/network.nir.h5   the network as an NIR graph (int8 weights in Affine nodes)
    result.json               the artifact's return, loaded back and run by the numpy
                              reference model (none when eval_episodes is 0)

Loading the artifact (`neuroq.deploy.artifact.load_artifact`) needs numpy, h5py and nir only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXPORT_STAGE = "export"
ARTIFACT_DIR = "artifact"
#: Episodes of the exported artifact's return check by default.
DEFAULT_EVAL_EPISODES = 100


@dataclass(frozen=True)
class Exported:
    """An export run: its folder, the artifact folder in it and its result.json."""

    run_dir: Path
    artifact: Path
    result: dict[str, Any]


def export(finetune_run: str | os.PathLike, out_root: str | os.PathLike = "runs",
           eval_episodes: int = DEFAULT_EVAL_EPISODES) -> Exported:
    """Write the export run of `finetune_run`; return what it made."""
    from neuroq.agents.convert import NETWORK_DIR, evaluate_returns, spiking_act
    from neuroq.agents.runs import (
        make_run_dir,
        read_json,
        removed_on_failure,
        require_run_dir,
        write_json,
    )
    from neuroq.deploy.artifact import load_artifact, save_artifact
    from neuroq.deploy.errors import NeuroqError

    src = require_run_dir(finetune_run)
    result = read_json(src / "result.json")
    if result.get("stage") != "finetune" or not src.name.startswith("finetune-"):
        raise NeuroqError(f"{src} is not a finetune run (expected runs/<env>/finetune-<id>/)")
    if isinstance(eval_episodes, bool) or not isinstance(eval_episodes, int) or eval_episodes < 0:
        raise NeuroqError(f"--eval-episodes must be an integer >= 0, got {eval_episodes!r}")
    art = load_artifact(src / NETWORK_DIR)
    run_dir = make_run_dir(out_root, art.manifest["env_id"], EXPORT_STAGE)
    with removed_on_failure(run_dir):
        manifest = {k: v for k, v in art.manifest.items()
                    if k in ("env_id", "observation_space", "action_space")}
        manifest["provenance"] = {**art.manifest["provenance"],
                                  "export_run": str(run_dir.resolve())}
        manifest["finetune_mean_return"] = result["mean_return"]
        manifest["ann_mean_return"] = result["ann_mean_return"]
        save_artifact(run_dir / ARTIFACT_DIR, art.network, art.encoder, manifest)
        out: dict[str, Any] = {
            "stage": EXPORT_STAGE, "env_id": art.manifest["env_id"], "finetune_run": str(src),
            "artifact": ARTIFACT_DIR, "timesteps": art.network.timesteps,
            "encoder": art.encoder.kind, "ann_mean_return": result["ann_mean_return"]}
        if eval_episodes:
            loaded = load_artifact(run_dir / ARTIFACT_DIR)
            r = evaluate_returns(out["env_id"], spiking_act(loaded.network, loaded.encoder),
                                 eval_episodes)
            out.update(episodes=eval_episodes, mean_return=float(r.mean()),
                       std_return=float(r.std()), backend="neuroq.deploy.network.run_reference")
        write_json(run_dir / "result.json", out)
        return Exported(Path(run_dir), Path(run_dir) / ARTIFACT_DIR, out)
