"""The export stage: a fine-tuned network written as the deploy artifact (NIR + manifest).

Reads runs/<env>/finetune-<id>/ and writes runs/<env>/export-<time>/:

    artifact/manifest.json    env id, spaces, encoder and its parameters, T, per-layer
                              scales, threshold comparison and reset, q_scale, SHA-256 of
                              the weights file, provenance (train, convert, finetune runs)
    artifact/network.nir.h5   the network as an NIR graph (int8 weights in Affine nodes)
    result.json               the artifact's return, loaded back and run by the numpy
                              reference model (none when eval_episodes is 0)

Loading the artifact (`neuroq.deploy.artifact.load_artifact`) needs numpy, h5py and nir only.

`nir_profiles` adds artifact/network.<profile>.nir, the graph snnTorch, Norse or
py-spinnaker2 imports (deploy/nir_profiles.py, docs/nir.md). A network fine-tuned from an
import run (`neuroq import`) has no float DQN: its teacher, the imported source network,
plays the gate instead and no float_dqn.npz is written. The source may also be an artifact
folder: it is written again in the current format, same network, its float_dqn.npz (if any)
copied; that is how the shipped artifacts are re-exported after a format change. An
artifact that passed its gate keeps that gate's figures (the network is unchanged); one that
never passed it (a network/ folder of an import or finetune run, an export with --force or
without a gate) plays the gate against its float_dqn.npz or its import run's source network,
and is refused without either unless forced (an outsider exported an import run's
network/, return 8.8, without a word).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.deploy.stats import MIN_INTERVAL_EPISODES, SHARE_MIXED_SIGNS

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
#: Times more episodes that halve a bootstrap interval of a mean (its width goes as
#: 1/sqrt(n)).
HALVING_EPISODES = 4
#: Returns of the gate's first episodes recorded one by one in the manifest (to replay).
GATE_RETURNS_RECORDED = 10


def gate_passes(fraction: float, snn_mean: float, float_mean: float, threshold: float,
                difference_lo: float | None = None, margin: float = 0.0) -> bool:
    """Whether the gate passes: gate 0 always; else the SNN keeps `threshold` of the float
    return (`fraction`, `fraction_of`); where that fraction is not defined (a float return
    of 0 or below with an SNN return at or above 0), an SNN return above the float one
    passes (an SNN at 0.2 beat a float DQN at -0.5, and the NaN fraction refused it), an
    equal one passes a gate up to 1.

    difference_lo, margin: given where a share of the float return means nothing on these
    episodes (its resampled means take both signs: `fraction_ci` is not defined), the lower
    end of the paired 95 % interval of SNN - float (`difference_ci`) and the loss the gate
    allows, (1 - threshold) x the standard deviation of the float returns (`gate_margin`):
    the gate passes when the episodes show the SNN within it (difference_lo >= -margin),
    a non-inferiority test. An outsider's task with returns of 3.9 +- 14 was refused at
    65.6 % and passed at 99.5 % on the draw of the episodes; a first rule of stop 40,
    "passes unless shown worse", passed a network 4 below a float DQN at 2 +- 14 in 24 of
    96 draws of 100 episodes, whatever the gate (a review)."""
    if threshold == 0:
        return True
    if difference_lo is not None:
        return bool(difference_lo >= -margin)
    if math.isnan(fraction):
        return snn_mean > float_mean or (snn_mean == float_mean and threshold <= 1)
    return bool(fraction >= threshold)


def gate_figures(artifact_dir: Path, teacher: Any, episodes: int, threshold: float,
                 teacher_name: str = "float DQN") -> dict[str, Any]:
    """The SNN artifact and its float DQN on the gate's held-out episodes (same seeds):
    both summaries, the fraction and whether it passes `threshold` (`gate_passes`). The
    gate is on the
    return; where the environment reports outcomes (success, collision) both networks'
    rates are recorded too (`outcomes`), and the success fraction beside them."""
    from neuroq.agents.robustness import policy_act
    from neuroq.deploy import seeds
    from neuroq.deploy.artifact import load_artifact
    from neuroq.deploy.policy import load_policy
    from neuroq.deploy.rollout import outcome_summary, run_episodes
    from neuroq.deploy.stats import (
        difference_ci,
        fraction_ci,
        fraction_of,
        share_undefined_reason,
        summarize,
    )

    # the artifact export is writing (artifact.partial/): read as such, here only
    policy = load_policy(load_artifact(artifact_dir, partial=True), backend="emulator")
    env_id = policy.manifest["env_id"]
    snn = run_episodes(env_id, policy_act(policy), episodes, seeds.GATE_BASE)
    ann = run_episodes(env_id, lambda obs, _i: teacher.act(obs), episodes, seeds.GATE_BASE)
    rnd = run_episodes(env_id, random_act(int(policy.manifest["n_actions"]), seeds.GATE_BASE),
                       episodes, seeds.GATE_BASE)
    s, a = summarize(snn.returns), summarize(ann.returns)
    frac = fraction_of(s["mean"], a["mean"])
    # the first episodes' returns themselves: anyone can replay them from the manifest;
    # None where a fraction is not defined (a float return of 0): the manifest is plain JSON
    first = slice(0, GATE_RETURNS_RECORDED)
    ci = fraction_ci(snn.returns, ann.returns)  # paired: both played the same episodes
    diff = difference_ci(snn.returns, ann.returns)
    # a share of a float return whose resampled means take both signs is no quantity: the
    # gate then asks that the SNN be shown within a margin of it (gate_passes)
    by_difference = not np.isfinite(ci[0]) and a["min"] < 0 < a["max"]
    margin = gate_margin(threshold, a["std"])
    out = {"seeds": [seeds.GATE_BASE, seeds.GATE_BASE + episodes - 1], "snn": s,
           "float_dqn": a, "fraction": _finite(frac),
           "fraction_ci95": [_finite(ci[0]), _finite(ci[1])], "threshold": threshold,
           "difference": float(s["mean"] - a["mean"]), "difference_ci95": list(diff),
           "difference_margin": margin,
           "rule": "difference" if by_difference else "share",
           **({"rule_reason": share_undefined_reason(snn.returns, ann.returns)}
              if by_difference else {}),
           "passed": gate_passes(frac, s["mean"], a["mean"], threshold,
                                 diff[0] if by_difference else None, margin),
           "teacher": teacher_name,
           "random_policy": summarize(rnd.returns),
           "teacher_beats_random": bool(difference_ci(ann.returns, rnd.returns)[0] > 0),
           "first_returns": {"snn": [float(r) for r in snn.returns[first]],
                             "float_dqn": [float(r) for r in ann.returns[first]]}}
    if snn.outcomes:
        so, ao = outcome_summary(snn.outcomes), outcome_summary(ann.outcomes)
        out["outcomes"] = {"snn": so, "float_dqn": ao}
        if "success_rate" in so:
            out["success_fraction"] = _finite(fraction_of(so["success_rate"],
                                                          ao["success_rate"]))
    return out


def random_act(n_actions: int, seed: int) -> Any:
    """A policy of actions drawn uniformly from `n_actions` (numpy generator seeded `seed`),
    as `run_episodes` takes it: the baseline the gate's reference must beat."""
    rng = np.random.default_rng(seed)
    return lambda obs, _infos: rng.integers(n_actions, size=len(obs))


def random_warning(figures: dict[str, Any]) -> str | None:
    """For a gate whose reference did not beat actions drawn at random on its episodes (the
    lower end of their paired 95 % interval at 0 or below): the gate, a share of that
    reference, says nothing about control (an outsider's MountainCar DQN at -200, never
    reaching the flag, passed at 100 % without a word). None otherwise, and for gates
    recorded before it was played."""
    if figures.get("teacher_beats_random", True):
        return None
    teacher = figures.get("teacher", "float DQN")
    return (f"the {teacher}'s return {figures['float_dqn']['mean']:.1f} on the gate's episodes "
            f"is no better than actions drawn at random ({figures['random_policy']['mean']:.1f},"
            " the same episodes): passing the gate says only that the SNN does as well as a "
            f"{teacher} that has not learned the task; train longer, or check the task's "
            "reward")


def gate_margin(threshold: float, float_std: float) -> float:
    """The loss of return a gate of `threshold` allows where a share is not defined (a float
    return near 0, `gate_passes`): (1 - threshold) x the spread (standard deviation) of the
    float DQN's returns; negative for a gate above 1 (the SNN must be ahead by that much)."""
    return float((1.0 - threshold) * float_std)


def interval_text(figures: dict[str, Any]) -> str:
    """"; paired 95 % interval of the fraction 93.1-100.4 %": a gate's `fraction_ci95`, or
    "" where it is not defined or not recorded (older manifests); for a gate judged by the
    paired difference (`gate_passes`), that difference, its interval and why. One episode
    gives no interval ("95 % interval 105.8-105.8 %" was quoted: an outsider)."""
    if _episodes(figures) == 1:
        return "; one episode gives no interval"
    if figures.get("rule") == "difference":
        lo, hi = figures["difference_ci95"]
        margin = figures.get("difference_margin", 0.0)
        asks = (f"to lose at most {margin:.2f}" if margin >= 0 else
                f"to be ahead by at least {-margin:.2f}")
        why = figures.get("rule_reason") or SHARE_MIXED_SIGNS  # (older manifests: that)
        return (f"; a share means nothing here ({why}): the gate asks the SNN {asks} "
                f"((1 - gate) x the float "
                f"returns' spread): SNN - float {figures['difference']:+.2f}, paired 95 % "
                f"interval {lo:+.2f} to {hi:+.2f}")
    lo, hi = (figures.get("fraction_ci95") or [None, None])[:2]
    if lo is None or hi is None:
        return ""
    return f"; paired 95 % interval of the fraction {100 * lo:.1f}-{100 * hi:.1f} %"


def _episodes(figures: dict[str, Any]) -> int | None:
    """The gate's episode count, None where it is not recorded."""
    n = (figures.get("snn") or {}).get("n")
    return int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else None


def _undecided(figures: dict[str, Any]) -> str:
    """For a refusal whose interval reaches the gate: the episodes cannot tell it from a
    network that passes (an outsider's 97.1 % on a task whose returns spread by 53 read as
    a verdict, where fine-tuning had just reported 100.1 % on other episodes); and for one
    played on fewer than MIN_INTERVAL_EPISODES, whatever its interval says."""
    n = _episodes(figures)
    if n is not None and n < MIN_INTERVAL_EPISODES:
        return (f": {n} episode{'s are' if n != 1 else ' is'} too few to tell this network "
                f"from one that passes (fewer than {MIN_INTERVAL_EPISODES}); --gate-episodes "
                f"{DEFAULT_GATE_EPISODES} (the default) gives an interval to judge by")
    if figures.get("rule") == "difference":
        hi, bound = figures["difference_ci95"][1], -figures.get("difference_margin", 0.0)
    else:
        hi, bound = (figures.get("fraction_ci95") or [None, None])[1], figures["threshold"]
    if hi is None or hi < bound or n is None:
        return ""
    return (f": the interval reaches the gate, so these {n} episodes do not tell this network "
            f"from one that passes; --gate-episodes {HALVING_EPISODES * n} narrows it by half")


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def percent(x: float | None) -> str:
    """A gate fraction as `12.3 %`; "no share" where it is not defined (a float return of
    0, or the SNN's above a negative one) or the two returns differ in sign ("-532.9 %" of a
    float return of 0.6 read as nonsense to an outsider)."""
    if x is None:
        return "no share"
    return f"{100 * x:.1f} %" if x >= 0 else "no share: of the other sign"


def share_clause(x: float | None) -> str:
    """How the SNN's return stands to the float DQN's in a refusal: "is 93.1 % of", "is
    below, and of the other sign from," or "cannot be put as a share of"."""
    if x is None:
        return "cannot be put as a share of"
    return f"is {percent(x)} of" if x >= 0 else "is below, and of the other sign from,"


@dataclass(frozen=True)
class Exported:
    """An export run: its folder, the artifact folder in it and its result.json."""

    run_dir: Path
    artifact: Path
    result: dict[str, Any]


def check_export_settings(eval_episodes: Any = DEFAULT_EVAL_EPISODES, gate: Any = DEFAULT_GATE,
                          gate_episodes: Any = DEFAULT_GATE_EPISODES, force: Any = False) -> None:
    """NeuroqError naming the first of `export`'s settings that is not usable, before any
    work (`export` and sweep specs)."""
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.seeds import check_count, check_room

    for name, value, purpose in (("eval_episodes", eval_episodes, "stage_eval"),
                                 ("gate_episodes", gate_episodes, "export_gate")):
        check_count(name, value, 0)
        check_room(name, value, purpose)
    if (isinstance(gate, bool) or not isinstance(gate, int | float)
            or not 0.0 <= gate <= 2.0):
        raise NeuroqError(f"gate must lie in [0, 2] (a fraction of the float return), "
                          f"got {gate!r}")
    if not isinstance(force, bool):
        raise NeuroqError(f"force must be true or false, got {force!r}")


def export(finetune_run: str | os.PathLike, out_root: str | os.PathLike = "runs",
           eval_episodes: int = DEFAULT_EVAL_EPISODES, gate: float = DEFAULT_GATE,
           gate_episodes: int = DEFAULT_GATE_EPISODES, force: bool = False,
           nir_profiles: tuple[str, ...] = (),
           interface: str | os.PathLike | None = None,
           to_force: str = ("--gate FRACTION to accept a lower share of its return, or "
                            "--force to export anyway")) -> Exported:
    """Write the export run of `finetune_run` (or of an artifact folder, module docstring);
    return what it made.

    The artifact carries its float DQN (float_dqn.npz, no pickle). The gate plays the SNN
    and the float DQN on `gate_episodes` held-out episodes: below `gate` x the float
    return the export is refused (NeuroqError with both numbers, nothing written) unless
    `force`, which exports and marks the manifest `"gate": {"passed": false, ...}`.
    gate_episodes 0 skips the gate (the manifest says so).
    interface: the robot interface recorded in the manifest (a name in config/interfaces/
    or a YAML file; checked against the network's spaces); default: the shipped interface
    that names the environment, if there is one. to_force: how the caller's user exports
    anyway, for the refusal's message (`neuroq export` has --force, `neuroq demo` --gate, a
    sweep spec `force: true`).
    """
    from neuroq.agents.convert import (
        NETWORK_DIR,
        eval_seed_range,
        evaluate_returns,
        spiking_act,
    )
    from neuroq.agents.runs import (
        make_run_dir,
        read_json,
        removed_on_failure,
        require_run_dir,
        write_json,
    )
    from neuroq.deploy.artifact import (
        MANIFEST_FILE,
        PARTIAL_SUFFIX,
        load_artifact,
        read_manifest,
        save_artifact,
    )
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.seeds import seed_span

    given: Any = finetune_run
    if not Path(given).exists():  # a shipped artifact by name, as eval and show take it
        try:
            given, _ = read_manifest(given, verify=False)
        except NeuroqError:
            pass  # not one: require_run_dir says the folder does not exist
    src = require_run_dir(given, must_contain="")  # first: one line before any work
    reexport = (src / MANIFEST_FILE).is_file()
    if not reexport:  # (a re-export's result comes from the manifest, below)
        result = read_json(require_run_dir(src) / "result.json")
        if result.get("stage") != "finetune" or not src.name.startswith("finetune-"):
            inner = src / ARTIFACT_DIR
            hint = (f"; did you mean {inner}?" if (inner / MANIFEST_FILE).is_file() else "")
            raise NeuroqError(f"{src} is not a finetune run (expected runs/<env>/finetune-"
                              f"<id>/) or an artifact folder{hint}")
    check_export_settings(eval_episodes, gate, gate_episodes, force)
    art = load_artifact(src if reexport else src / NETWORK_DIR)
    robot = _robot_interface(interface, art.manifest)
    if reexport:
        result = {k: art.manifest[m] for k, m in (("mean_return", "finetune_mean_return"),
                                                   ("ann_mean_return", "ann_mean_return"))
                  if m in art.manifest}

    from neuroq.agents.mlp import FLOAT_DQN_FILE, save_mlp
    from neuroq.deploy.artifact import sha256_file

    # a re-export keeps a gate passed at the threshold asked for, or above; else it plays
    # the gate (or is refused without a reference) as an export does
    carried = _passed_gate(art.manifest, gate) if reexport else None
    if reexport and carried is None:
        teacher, teacher_name = _reexport_teacher(src, art.manifest["provenance"])
        if (teacher is None or not gate_episodes) and not force:
            origin = art.manifest["provenance"].get("finetune_run")
            # the advice fits the case: it named the finetune run of the shipped nav
            # artifact, a path on our build machine, where the artifact's own float DQN
            # could play the gate (an outsider)
            if teacher is not None:
                what = (f"--gate-episodes 0 would skip it: leave --gate-episodes at its "
                        f"default (or above 0) to play it here against its {teacher_name}")
            elif origin and Path(origin).is_dir():
                what = ("it holds no reference to play it against (no float_dqn.npz, no "
                        f"import run): export the finetune run it came from ({origin}), "
                        "which plays the gate")
            else:
                what = ("it holds no reference to play it against (no float_dqn.npz, no "
                        "import run): export the finetune run it came from"
                        + (f" (its provenance names {origin}, not on this machine)"
                           if origin else ""))
            raise NeuroqError(
                f"{src} has not passed the export gate at {100 * gate:.0f} % "
                f"({_gate_state(art.manifest)}) and {what}; or {to_force}")
    else:
        teacher, teacher_name = _teacher(art.manifest["provenance"], reexport, src)
    run_dir = make_run_dir(out_root, art.manifest["env_id"], EXPORT_STAGE)
    with removed_on_failure(run_dir):
        manifest = {k: v for k, v in art.manifest.items()
                    if k in ("env_id", "observation_space", "action_space")}
        # re-exporting an artifact keeps the run that first exported it
        key = "reexport_run" if reexport else "export_run"
        manifest["provenance"] = {**_provenance_here(art.manifest["provenance"], src,
                                                     reexport),
                                  key: str(run_dir.resolve())}
        if robot is not None:
            manifest["interface"] = robot.to_dict()
        for key, res in (("finetune_mean_return", "mean_return"),
                         ("ann_mean_return", "ann_mean_return")):
            if res in result:
                manifest[key] = result[res]
        # written under another name and renamed once the gate is passed: an export stopped
        # during its gate (Ctrl-C, a kill) left an artifact that never passed it, and eval
        # played it without a word (an outsider)
        folder = run_dir / f"{ARTIFACT_DIR}{PARTIAL_SUFFIX}"
        folder.mkdir()
        if reexport and (src / FLOAT_DQN_FILE).exists():
            # its arrays, read and written again, not the file copied: an outsider's
            # float_dqn.npz, a link to /etc/passwd, travelled into the new artifact
            save_mlp(folder / FLOAT_DQN_FILE, _source_float_dqn(src, art.manifest))
        elif teacher is not None and teacher_name == "float DQN":
            save_mlp(folder / FLOAT_DQN_FILE, teacher)
        if (folder / FLOAT_DQN_FILE).is_file():
            manifest["float_dqn"] = {"file": FLOAT_DQN_FILE,
                                     "sha256": sha256_file(folder / FLOAT_DQN_FILE)}
        save_artifact(folder, art.network, art.encoder, manifest)
        if carried is not None:
            figures = {**carried, "carried": "re-export of an artifact that passed its "
                       "gate: the network is unchanged, the figures are its export's"}
        elif reexport and (teacher is None or not gate_episodes):  # --force (else refused)
            before = art.manifest.get("gate")
            figures = {"skipped": True, "threshold": gate, "forced": True,
                       # a failed gate stays failed: eval and the nodes keep warning
                       "passed": False if isinstance(before, dict) and before.get(
                           "passed") is False else None,
                       "before": before if isinstance(before, dict) else None,
                       "reason": "re-export, forced, of an artifact that has not passed the "
                                 "gate, without playing it"}
        elif gate_episodes:
            figures = gate_figures(folder, teacher, gate_episodes, gate, teacher_name)
            if not figures["passed"] and not force:
                # under the difference rule a share means nothing: not the lead
                stands = ("against" if figures.get("rule") == "difference"
                          else share_clause(figures["fraction"]))
                raise NeuroqError(
                    f"export refused: the SNN's return {figures['snn']['mean']:.1f} "
                    f"{stands} "
                    f"the {teacher_name}'s "
                    f"{figures['float_dqn']['mean']:.1f} on held-out episodes "
                    f"{seed_span(figures['seeds'])} (gate {100 * gate:.0f} %"
                    f"{interval_text(figures)}){_undecided(figures)}; fine-tune further, or "
                    f"{to_force}")
        else:
            figures = {"skipped": True, "passed": None, "threshold": gate}
        manifest["gate"] = figures
        save_artifact(folder, art.network, art.encoder, manifest, nir_profiles)
        os.replace(folder, run_dir / ARTIFACT_DIR)
        out: dict[str, Any] = {
            "stage": EXPORT_STAGE, "env_id": art.manifest["env_id"], "finetune_run": str(src),
            "artifact": ARTIFACT_DIR, "timesteps": art.network.timesteps,
            "encoder": art.encoder.kind, "ann_mean_return": result.get("ann_mean_return"),
            "gate": figures, "forced": bool(force and (figures.get("passed") is False
                                                       or figures.get("forced"))),
            "nir_profiles": list(nir_profiles),
            "interface": None if robot is None else robot.name}
        if eval_episodes:
            loaded = load_artifact(run_dir / ARTIFACT_DIR)
            r = evaluate_returns(out["env_id"], spiking_act(loaded.network, loaded.encoder),
                                 eval_episodes)
            out.update(episodes=eval_episodes, episode_seeds=eval_seed_range(eval_episodes),
                       mean_return=float(r.mean()),
                       std_return=float(r.std()), backend="neuroq.deploy.network.run_reference")
        write_json(run_dir / "result.json", out)
        return Exported(Path(run_dir), Path(run_dir) / ARTIFACT_DIR, out)


def _robot_interface(interface: str | os.PathLike | None, manifest: dict[str, Any]) -> Any:
    """The interface to record: the one named, else the one the artifact records (a
    re-export), else the shipped one for the env (or None); NeuroqError if it does not fit
    the network's spaces."""
    from neuroq.deploy.interface import RobotInterface, interface_for_env, load_interface

    if interface is not None:
        robot = load_interface(interface)
    elif "interface" in manifest:
        robot = RobotInterface.from_dict(manifest["interface"], "the artifact's interface")
    else:
        robot = interface_for_env(manifest["env_id"])
    if robot is not None:
        robot.check_artifact(manifest)
    return robot


def loads_float_dqn(finetune_run: str | os.PathLike) -> bool:
    """Whether exporting `finetune_run` loads a stable-baselines3 DQN (`_teacher`: the
    gate's reference, also written into the artifact), so needs the train extra: a finetune
    run of a converted DQN. Not an artifact folder (a re-export), not a network from
    `neuroq import` (its source network is numpy), and False for a path that holds no
    readable network (export itself then says what is wrong)."""
    import json

    from neuroq.agents.convert import NETWORK_DIR
    from neuroq.deploy.artifact import MANIFEST_FILE

    network = Path(finetune_run) / NETWORK_DIR / MANIFEST_FILE
    if not network.is_file():
        return False
    try:
        provenance = json.loads(network.read_text()).get("provenance") or {}
    except (OSError, ValueError, AttributeError):
        return False
    return not _from_import(provenance)


def _from_import(provenance: dict[str, Any]) -> bool:
    """Whether the network was fine-tuned from `neuroq import` (its teacher the source)."""
    return "import_run" in provenance


def _source_float_dqn(src: Path, manifest: dict[str, Any]) -> Any:
    """The float DQN an artifact being exported again carries: a regular file (not a link),
    its SHA-256 the one its manifest records (where it records one), readable as a Q-MLP."""
    from neuroq.agents.mlp import FLOAT_DQN_FILE, load_mlp_file
    from neuroq.deploy.artifact import sha256_file
    from neuroq.deploy.errors import NeuroqError

    path = src / FLOAT_DQN_FILE
    if path.is_symlink() or not path.is_file():
        raise NeuroqError(f"{path} is not a regular file (a link?): not carried into a new "
                          "artifact; export from the finetune run instead")
    recorded = (manifest.get("float_dqn") or {}).get("sha256")
    if recorded is not None and sha256_file(path) != recorded:
        raise NeuroqError(f"{path} does not match its manifest (SHA-256): the file was "
                          "changed after export; export from the finetune run instead")
    return load_mlp_file(path)


def _passed_gate(manifest: dict[str, Any], threshold: float) -> dict[str, Any] | None:
    """The manifest's gate figures if the gate was played and passed at `threshold` or
    above, else None (a gate passed at 0.9 does not stand for one asked at 1.0)."""
    gate = manifest.get("gate")
    if not isinstance(gate, dict) or gate.get("passed") is not True:
        return None
    try:
        return gate if float(gate["threshold"]) >= threshold else None
    except (KeyError, TypeError, ValueError):
        return None


def _gate_state(manifest: dict[str, Any]) -> str:
    """What an artifact's manifest says of its gate, for messages."""
    gate = manifest.get("gate")
    if not isinstance(gate, dict):
        return "its manifest holds no gate: a network/ folder of an import, convert or " \
               "finetune run?"
    if gate.get("passed") is False:
        return "it failed its gate and was exported with --force"
    if gate.get("passed") is True:
        return f"it passed at {100 * float(gate.get('threshold', 0)):.0f} %"
    return "its gate was skipped"


def _provenance_here(provenance: dict[str, Any], src: Path, reexport: bool) -> dict[str, Any]:
    """The provenance an export passes on: the runs it names where they are now (recorded
    where they were made; `recorded_run` finds a moved runs root's beside `src`), and for
    an export of a finetune run, that run's folder as given (a copied runs root's export
    named the old root's runs, which no longer existed: an outsider)."""
    from neuroq.agents.runs import recorded_run

    here = {k: recorded_run(v, src) if k in ("train_run", "convert_run", "import_run") else v
            for k, v in provenance.items()}
    if not reexport:
        here["finetune_run"] = str(src.resolve())
    return here


def _reexport_teacher(src: Path, provenance: dict[str, Any]) -> tuple[Any, str]:
    """The gate's reference for an artifact that never passed the gate: its own
    float_dqn.npz, or the source network of the import run it came from; (None, "") if
    neither is there. (A train run's DQN is not looked for: loading it needs the train
    extra, which a re-export does not ask for.)"""
    from neuroq.agents.mlp import FLOAT_DQN_FILE, load_mlp_file

    if (src / FLOAT_DQN_FILE).is_file():
        return load_mlp_file(src / FLOAT_DQN_FILE), "float DQN"
    if _from_import(provenance) and Path(str(provenance["import_run"])).is_dir():
        return _teacher(provenance, False, src)
    return None, ""


def _teacher(provenance: dict[str, Any], reexport: bool, src: Path) -> tuple[Any, str]:
    """The gate's reference: the float DQN of the train run, or for a network fine-tuned
    from `neuroq import` its source network; none for a re-export (no gate). The run is
    looked for where the provenance recorded it, else beside `src` (`recorded_run`)."""
    from neuroq.agents.runs import recorded_run

    if reexport:
        return None, "float DQN"
    if _from_import(provenance):
        from neuroq.agents.nir_import import source_teacher

        return (source_teacher(recorded_run(provenance["import_run"], src)),
                "imported source network")
    from neuroq.agents.convert import recorded_teacher

    convert = recorded_run(provenance.get("convert_run"), src)
    mlp, _ = recorded_teacher(provenance["train_run"], src,
                              Path(convert) if isinstance(convert, str) and convert
                              and Path(convert).is_dir() else None,
                              f"{src} (its float DQN, which the artifact carries and the "
                              "gate plays against)")
    return mlp, "float DQN"
