"""Export a fine-tuned spiking Q-network as the deploy artifact (NIR graph + manifest).

Reads runs/<env>/finetune-<id>/ and writes runs/<env>/export-<time>/:

    artifact/manifest.json    env id, spaces, encoder and its parameters, T, per-layer
                              scales, threshold comparison and reset, q_scale, SHA-256 of
                              the weights file, provenance (train, convert, finetune runs)
    artifact/network.nir.h5   the network as an NIR graph (int8 weights in Affine nodes)
    result.json               the artifact's return, loaded back and run by the deploy/
                              numpy model (skip with --eval-episodes 0)

Loading the artifact (neuroq.deploy.artifact.load_artifact) needs numpy, h5py and nir only.

example:
  neuroq export runs/CartPole-v1/finetune-population-<time>
"""

from __future__ import annotations

import argparse

HELP = "write the deploy artifact (NIR + manifest) of a fine-tuned network"
EXPORT_STAGE = "export"
ARTIFACT_DIR = "artifact"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("finetune_run", help="a finetune run folder, runs/<env>/finetune-<id>")
    p.add_argument("--eval-episodes", type=int, default=100,
                   help="episodes to check the exported artifact's return (default: "
                        "%(default)s; 0 = skip)")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")


def export(finetune_run: str, out_root: str = "runs", eval_episodes: int = 100) -> dict:
    """Write the export run; return its result (with `run_dir`)."""
    from pathlib import Path

    from neuroq.agents.convert import NETWORK_DIR
    from neuroq.agents.runs import make_run_dir, read_json, require_run_dir, write_json
    from neuroq.deploy.artifact import load_artifact, save_artifact
    from neuroq.deploy.errors import NeuroqError

    src = require_run_dir(finetune_run)
    result = read_json(src / "result.json")
    if result.get("stage") != "finetune" or not src.name.startswith("finetune-"):
        raise NeuroqError(f"{src} is not a finetune run (expected runs/<env>/finetune-<id>/)")
    if eval_episodes < 0:
        raise NeuroqError("--eval-episodes must be >= 0")
    art = load_artifact(src / NETWORK_DIR)
    run_dir = make_run_dir(out_root, art.manifest["env_id"], EXPORT_STAGE)
    manifest = {k: v for k, v in art.manifest.items()
                if k in ("env_id", "observation_space", "action_space")}
    manifest["provenance"] = {**art.manifest["provenance"], "export_run": str(run_dir.resolve())}
    manifest["finetune_mean_return"] = result["mean_return"]
    manifest["ann_mean_return"] = result["ann_mean_return"]
    save_artifact(run_dir / ARTIFACT_DIR, art.network, art.encoder, manifest)
    out = {"stage": EXPORT_STAGE, "env_id": art.manifest["env_id"], "finetune_run": str(src),
           "artifact": ARTIFACT_DIR, "timesteps": art.network.timesteps,
           "encoder": art.encoder.kind, "ann_mean_return": result["ann_mean_return"]}
    if eval_episodes:
        from neuroq.agents.convert import evaluate_returns, spiking_act

        loaded = load_artifact(run_dir / ARTIFACT_DIR)
        r = evaluate_returns(out["env_id"], spiking_act(loaded.network, loaded.encoder),
                             eval_episodes)
        out.update(episodes=eval_episodes, mean_return=float(r.mean()),
                   std_return=float(r.std()), backend="neuroq.deploy.network.run_reference")
    write_json(run_dir / "result.json", out)
    return {**out, "run_dir": Path(run_dir)}


def run(args: argparse.Namespace) -> int:
    r = export(args.finetune_run, args.out, args.eval_episodes)
    if "mean_return" in r:
        print(f"artifact return: {r['mean_return']:.1f} +- {r['std_return']:.1f} over "
              f"{r['episodes']} episodes (float DQN {r['ann_mean_return']:.1f})")
    print(r["run_dir"] / ARTIFACT_DIR)
    return 0
