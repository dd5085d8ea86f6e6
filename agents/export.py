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

import numpy as np

EXPORT_STAGE = "export"
ARTIFACT_DIR = "artifact"
#: Episodes of the exported artifact's return check by default.
DEFAULT_EVAL_EPISODES = 100
#: The export gate: the SNN must keep at least this fraction of the float DQN's return on
#: the gate's held-out episodes (neuroq.deploy.stats.fraction_of: for negative returns
#: reference / value).
DEFAULT_GATE = 0.99
#: Held-out episodes the gate plays (seeds neuroq.deploy.seeds.GATE_BASE + i).
DEFAULT_GATE_EPISODES = 100


def gate_figures(artifact_dir: Path, teacher: Any, episodes: int, threshold: float
                 ) -> dict[str, Any]:
    """The SNN artifact and its float DQN on the gate's held-out episodes (same seeds):
    both summaries, the fraction and whether it passes `threshold`. The gate is on the
    return; where the environment reports outcomes (success, collision) both networks'
    rates are recorded too (`outcomes`), and the success fraction beside them."""
    from neuroq.agents.robustness import policy_act
    from neuroq.deploy import seeds
    from neuroq.deploy.policy import load_policy
    from neuroq.deploy.rollout import outcome_summary, run_episodes
    from neuroq.deploy.stats import fraction_of, summarize

    policy = load_policy(artifact_dir, backend="emulator")
    env_id = policy.manifest["env_id"]
    event = hasattr(policy.encoder, "encode_events")
    snn = run_episodes(env_id, policy_act(policy, event), episodes, seeds.GATE_BASE)
    ann = run_episodes(env_id, lambda obs, _i: teacher.act(obs), episodes, seeds.GATE_BASE)
    s, a = summarize(snn.returns), summarize(ann.returns)
    frac = fraction_of(s["mean"], a["mean"])
    # NaN where a fraction is not defined (a float return of 0): the manifest is plain JSON
    out = {"seeds": [seeds.GATE_BASE, seeds.GATE_BASE + episodes - 1], "snn": s,
           "float_dqn": a, "fraction": _finite(frac), "threshold": threshold,
           "passed": bool(frac >= threshold)}
    if snn.outcomes:
        so, ao = outcome_summary(snn.outcomes), outcome_summary(ann.outcomes)
        out["outcomes"] = {"snn": so, "float_dqn": ao}
        if "success_rate" in so:
            out["success_fraction"] = _finite(fraction_of(so["success_rate"],
                                                          ao["success_rate"]))
    return out


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def percent(x: float | None) -> str:
    """A fraction as `12.3 %`, or "n/a" where it is not defined."""
    return "n/a" if x is None else f"{100 * x:.1f} %"


@dataclass(frozen=True)
class Exported:
    """An export run: its folder, the artifact folder in it and its result.json."""

    run_dir: Path
    artifact: Path
    result: dict[str, Any]


def export(finetune_run: str | os.PathLike, out_root: str | os.PathLike = "runs",
           eval_episodes: int = DEFAULT_EVAL_EPISODES, gate: float = DEFAULT_GATE,
           gate_episodes: int = DEFAULT_GATE_EPISODES, force: bool = False,
           interface: str | os.PathLike | None = None) -> Exported:
    """Write the export run of `finetune_run`; return what it made.

    The artifact carries its float DQN (float_dqn.npz, no pickle). The gate plays the SNN
    and the float DQN on `gate_episodes` held-out episodes: below `gate` x the float
    return the export is refused (NeuroqError with both numbers, nothing written) unless
    `force`, which exports and marks the manifest `"gate": {"passed": false, ...}`.
    gate_episodes 0 skips the gate (the manifest says so).
    interface: the robot interface recorded in the manifest (a name in config/interfaces/
    or a YAML file; checked against the network's spaces); default: the shipped interface
    that names the environment, if there is one.
    """
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
    for name, value in (("--eval-episodes", eval_episodes), ("--gate-episodes", gate_episodes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise NeuroqError(f"{name} must be an integer >= 0, got {value!r}")
    if not 0.0 <= gate <= 2.0:
        raise NeuroqError(f"--gate must lie in [0, 2] (a fraction of the float return), "
                          f"got {gate}")
    art = load_artifact(src / NETWORK_DIR)
    robot = _robot_interface(interface, art.manifest)
    from neuroq.agents.convert import load_mlp, open_train_run
    from neuroq.agents.mlp import save_mlp
    from neuroq.agents.robustness import FLOAT_DQN_FILE
    from neuroq.deploy.artifact import sha256_file

    teacher = load_mlp(open_train_run(art.manifest["provenance"]["train_run"]))
    run_dir = make_run_dir(out_root, art.manifest["env_id"], EXPORT_STAGE)
    with removed_on_failure(run_dir):
        manifest = {k: v for k, v in art.manifest.items()
                    if k in ("env_id", "observation_space", "action_space")}
        manifest["provenance"] = {**art.manifest["provenance"],
                                  "export_run": str(run_dir.resolve())}
        if robot is not None:
            manifest["interface"] = robot.to_dict()
        manifest["finetune_mean_return"] = result["mean_return"]
        manifest["ann_mean_return"] = result["ann_mean_return"]
        folder = run_dir / ARTIFACT_DIR
        folder.mkdir()
        save_mlp(folder / FLOAT_DQN_FILE, teacher)
        manifest["float_dqn"] = {"file": FLOAT_DQN_FILE,
                                 "sha256": sha256_file(folder / FLOAT_DQN_FILE)}
        save_artifact(folder, art.network, art.encoder, manifest)
        if gate_episodes:
            figures = gate_figures(folder, teacher, gate_episodes, gate)
            if not figures["passed"] and not force:
                raise NeuroqError(
                    f"export refused: the SNN's return {figures['snn']['mean']:.1f} is "
                    f"{percent(figures['fraction'])} of the float DQN's "
                    f"{figures['float_dqn']['mean']:.1f} on held-out episodes "
                    f"{figures['seeds'][0]}..{figures['seeds'][1]} (gate "
                    f"{100 * gate:.0f} %); fine-tune further, or --force to export anyway")
        else:
            figures = {"skipped": True, "passed": None, "threshold": gate}
        manifest["gate"] = figures
        save_artifact(folder, art.network, art.encoder, manifest)
        out: dict[str, Any] = {
            "stage": EXPORT_STAGE, "env_id": art.manifest["env_id"], "finetune_run": str(src),
            "artifact": ARTIFACT_DIR, "timesteps": art.network.timesteps,
            "encoder": art.encoder.kind, "ann_mean_return": result["ann_mean_return"],
            "gate": figures, "forced": bool(force and figures.get("passed") is False),
            "interface": None if robot is None else robot.name}
        if eval_episodes:
            loaded = load_artifact(run_dir / ARTIFACT_DIR)
            r = evaluate_returns(out["env_id"], spiking_act(loaded.network, loaded.encoder),
                                 eval_episodes)
            out.update(episodes=eval_episodes, mean_return=float(r.mean()),
                       std_return=float(r.std()), backend="neuroq.deploy.network.run_reference")
        write_json(run_dir / "result.json", out)
        return Exported(Path(run_dir), Path(run_dir) / ARTIFACT_DIR, out)


def _robot_interface(interface: str | os.PathLike | None, manifest: dict[str, Any]) -> Any:
    """The interface to record: the one named, else the shipped one for the env (or None);
    NeuroqError if it does not fit the network's spaces."""
    from neuroq.deploy.interface import interface_for_env, load_interface

    robot = (load_interface(interface) if interface is not None
             else interface_for_env(manifest["env_id"]))
    if robot is not None:
        robot.check_artifact(manifest)
    return robot
