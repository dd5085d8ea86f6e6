"""Closed-loop runs behind `neuroq energy`: the spiking network, the float DQN, the int8 ANN;
where the float DQN comes from (`find_float_dqn`, also for `neuroq robustness`); the
plain-conversion baseline.

Every policy plays the same episodes: episode i is reset with seed `seed + i`, all episodes
run side by side (one batched call per step). The spiking network runs on the emulator
(bit-identical to the reference) and every action's counts go through the MODELED energy
of `neuroq.deploy.energy` at each performance level and static scope; if the network does not fit
the chip it runs on the reference model and has no SpiNNaker2 figures.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.agents.mlp import FloatMLP
from neuroq.agents.runs import load_array, read_yaml_mapping
from neuroq.deploy.errors import NeuroqError, given_path
from neuroq.deploy.network import SpikingQNetwork
from neuroq.deploy.rollout import run_episodes

#: (performance level, static scope) pairs the report models.
LEVELS = ("low", "high")
SCOPES = ("chip", "pes_used")


def closed_loop(env_id: str, act_batch: Callable[..., np.ndarray], episodes: int,
                seed: int, max_steps: int | None = None, with_infos: bool = False
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """(returns (episodes,), every observation acted on (n_actions, n_obs) float32, the
    episodes cut at `max_steps`), played by `neuroq.deploy.rollout.run_episodes` (episode i
    seeded seed + i). with_infos: `act_batch(obs, infos)`, the episodes' last infos too
    (an event task's step events)."""
    seen: list[np.ndarray] = []

    def act(obs: np.ndarray, infos: Any) -> np.ndarray:
        seen.append(obs.copy())
        return act_batch(obs, infos) if with_infos else act_batch(obs)

    result = run_episodes(env_id, act, episodes, seed, max_steps=max_steps)
    cut = 0 if max_steps is None else int(np.count_nonzero(result.lengths >= max_steps))
    return result.returns, np.concatenate(seen), cut


@dataclass
class SnnRun:
    """Per-action records of a spiking network's closed-loop run.

    spikes: int64 (n_actions, n_populations) spikes per action, input source first.
    neurons: neurons per population; acs: effective ACs per action (chip synaptic events:
    spikes delivered x non-zero weights), None without the emulator.
    energy[(level, scope)]: MODELED {"dynamic_j", "total_j", "tick_load"} arrays.
    energy_hw[level]: MODELED total energy per action with host I/O (one hw.run per action).
    """

    network: SpikingQNetwork
    returns: np.ndarray
    observations: np.ndarray
    spikes: np.ndarray
    population_names: tuple[str, ...]
    acs: np.ndarray | None
    dense_events: np.ndarray
    energy: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    energy_hw: dict[str, np.ndarray] = field(default_factory=dict)
    chip_time_s: dict[str, float] = field(default_factory=dict)
    chip_time_hw_s: float | None = None
    n_pes: int | None = None
    sram_bytes: int | None = None
    compile_error: str | None = None
    model_settings: dict[str, Any] = field(default_factory=dict)
    #: episodes cut at --max-steps (their returns are the cap's as much as the network's)
    cut_episodes: int = 0


def run_snn(network: SpikingQNetwork, encoder: Any, env_id: str, episodes: int, seed: int,
            max_steps: int | None = None) -> SnnRun:
    """Closed loop on the emulator with the modeled cost of every action."""
    from neuroq.deploy.compiler import compile_program
    from neuroq.deploy.emulator import Emulator
    from neuroq.deploy.encoders import step_spikes
    from neuroq.deploy.energy import EnergyModel
    from neuroq.deploy.network import run_reference

    rng = np.random.default_rng(seed)
    names = ("input", *(layer.name for layer in network.layers[:-1]))
    rec: dict[str, list] = {"spikes": [], "acs": [], "dense": []}
    energy_parts: dict[Any, list] = {}
    try:
        program = compile_program(network)
        compile_error = None
    except NeuroqError as exc:
        program, compile_error = None, str(exc)
    models: dict[Any, Any] = {}
    if program is not None:
        emu = Emulator(program)
        for lv in LEVELS:
            for sc in SCOPES:
                models[(lv, sc)] = EnergyModel(program, lv, sc)
            models[("hw", lv)] = EnergyModel(program, lv, "chip", on_hardware=True)

    def act(obs: np.ndarray, infos: Any) -> np.ndarray:
        # an event task's events, as eval and the nodes give them (an outsider: the report
        # played the DVS artifact on the observation's event counts)
        spikes_in = step_spikes(encoder, obs, infos, network.timesteps, rng=rng)
        if program is None:
            r = run_reference(network, spikes_in)
            rec["spikes"].append(np.stack([c.sum(axis=1) for c in r.spike_counts], axis=1))
            rec["dense"].append(r.synaptic_events)
            return np.argmax(r.q, axis=1)
        r = emu.run(spikes_in)
        rec["spikes"].append(np.stack([c.sum(axis=1) for c in r.spike_counts], axis=1))
        rec["acs"].append(r.events_per_pe.sum(axis=1))
        rec["dense"].append(r.synaptic_events)
        for key, m in models.items():
            c = m.cost(r.events_per_pe, r.spikes_per_pe, r.neuron_updates_per_pe)
            energy_parts.setdefault(key, []).append(
                (c.energy_dynamic_j, c.energy_total_j, c.tick_load))
        return r.actions

    returns, seen, cut = closed_loop(env_id, act, episodes, seed, max_steps, with_infos=True)
    run = SnnRun(network, returns, seen, np.concatenate(rec["spikes"]), names,
                 np.concatenate(rec["acs"]) if rec["acs"] else None,
                 np.concatenate(rec["dense"]), compile_error=compile_error, cut_episodes=cut)
    if program is not None:
        run.n_pes = program.n_pes
        run.sram_bytes = int(sum(s.sram_bytes for s in program.placement))
        for key, parts in energy_parts.items():
            dyn, tot, load = (np.concatenate(x) for x in zip(*parts, strict=True))
            if key[0] == "hw":
                run.energy_hw[key[1]] = tot
                run.chip_time_hw_s = models[key].chip_time_s
            else:
                run.energy[key] = {"dynamic_j": dyn, "total_j": tot, "tick_load": load}
                run.chip_time_s[key[0]] = models[key].chip_time_s
                run.model_settings[f"{key[0]}/{key[1]}"] = models[key].describe()
    return run


# --- the float DQN the artifact came from ---------------------------------------------------


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)


def _candidates(s: str, artifact_dir: Path) -> Iterator[Path]:
    """Where a run the provenance names may be: as named; a relative name under any folder
    above the artifact; an absolute one that is not there (a runs root moved or copied
    since), by its folder name beside any folder above the artifact (`recorded_run`)."""
    p = Path(s)
    yield p
    if not p.is_absolute():
        for parent in artifact_dir.resolve().parents:
            yield parent / p
    elif not p.exists() and p.name:
        for parent in artifact_dir.resolve().parents:
            yield parent / p.name


def _is_train_run(p: Path) -> bool:
    from neuroq.agents.runs import read_json

    if not (p.is_dir() and p.name.startswith("train-") and (p / "result.json").is_file()):
        return False
    try:
        model = read_json(p / "result.json").get("model")
    except NeuroqError:
        return False
    return isinstance(model, str) and (p / model).is_file()


def find_train_run(manifest: dict[str, Any], artifact_dir: Path) -> tuple[Path | None, str]:
    """The train run named in the manifest's provenance (directly, or in the result.json or
    manifest of a run it names); (None, why) when there is none on this machine."""
    from neuroq.agents.runs import read_json

    named = [s for s in _strings(manifest.get("provenance")) if "/" in s or "-" in s]
    if not named:
        return None, "the artifact's provenance names no run"
    seen: set[Path] = set()
    queue = list(named)
    for _ in range(64):  # provenance chains are short; bound the walk
        if not queue:
            break
        s = queue.pop(0)
        for p in _candidates(s, artifact_dir):
            if p in seen or not p.exists():
                continue
            seen.add(p)
            if _is_train_run(p):
                return p, ""
            for name in ("result.json", "manifest.json", "artifact/manifest.json"):
                f = p / name if p.is_dir() else None
                if f is not None and f.is_file():
                    try:
                        queue += [x for x in _strings(read_json(f)) if "train-" in x]
                    except NeuroqError:
                        pass
    return None, (f"no finished train run found on this machine for provenance "
                  f"{', '.join(named)}")


@dataclass(frozen=True)
class FloatDqn:
    """The float DQN an artifact came from: `mlp`, `source` (the artifact's float_dqn.npz
    or the train run folder it was read from) and `train_run` (that folder; None when it
    came from float_dqn.npz)."""

    mlp: FloatMLP
    source: str
    train_run: Path | None = None


def find_float_dqn(artifact_dir: Path, manifest: dict[str, Any]) -> tuple[FloatDqn | None, str]:
    """(the float DQN the artifact came from, "") or (None, why not), for `neuroq energy`
    and `neuroq robustness` alike.

    The artifact's float_dqn.npz (`neuroq export` writes it and records its SHA-256 in the
    manifest) comes first, checked against that SHA-256 when the manifest records one; else
    the SB3 checkpoint of the train run the provenance names (`find_train_run`), which needs
    the `train` extra to read. A float_dqn.npz that does not match its SHA-256 or cannot be
    read is a damaged artifact: NeuroqError (one line). A train run that is not on this
    machine, cannot be loaded or needs the `train` extra gives (None, why): both commands
    then report the float DQN (and the int8 ANN made from it) as unavailable.
    """
    from neuroq.agents.mlp import FLOAT_DQN_FILE, load_mlp_file

    stored = Path(artifact_dir) / FLOAT_DQN_FILE
    if stored.is_file():
        from neuroq.deploy.artifact import sha256_file

        want = (manifest.get("float_dqn") or {}).get("sha256")
        if want is not None and sha256_file(stored) != want:
            raise NeuroqError(f"{stored} does not match the SHA-256 in its manifest")
        return FloatDqn(load_mlp_file(stored), str(stored)), ""
    named = (manifest.get("float_dqn") or {}).get("file")
    missing = (f"no {FLOAT_DQN_FILE} in the artifact, although its manifest names one (not "
               "copied with it, or deleted)" if named else f"no {FLOAT_DQN_FILE} in the artifact")
    train_dir, why = find_train_run(manifest, Path(artifact_dir))
    if train_dir is None:
        return None, f"{missing} and {why}"
    from neuroq.agents.convert import check_teacher, load_mlp, open_train_run

    try:
        mlp = load_mlp(open_train_run(train_dir))
        # the run converted, where its convert run is here to tell (a run of that name,
        # found by name after a move, may be another: an outsider's)
        named = (manifest.get("provenance") or {}).get("convert_run")
        convert = next((p for p in _candidates(named, artifact_dir) if p.is_dir()),
                       None) if isinstance(named, str) and named else None
        if convert is not None:
            check_teacher(mlp, convert, train_dir)
    except ImportError:
        return None, (f"the SB3 checkpoint of the train run {train_dir} needs the `train` "
                      "extra to read")
    except NeuroqError as exc:
        return None, f"{missing} and {exc}"
    return FloatDqn(mlp, str(train_dir), train_dir), ""


def torch_act(seq: Any) -> tuple[Callable[[np.ndarray], np.ndarray],
                                 Callable[[np.ndarray], int]]:
    """(batched greedy actions, single-observation action) of a torch Q-network."""
    import torch

    def batch(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return seq(torch.from_numpy(np.asarray(obs, np.float32))).argmax(dim=1).numpy()

    def single(o: np.ndarray) -> int:
        with torch.no_grad():
            return int(seq(torch.from_numpy(o[None])).argmax(dim=1).item())

    return batch, single


# --- the baseline (a plain conversion of the same DQN) ----------------------------------------


def resolve_artifact_dir(path: str | os.PathLike) -> Path:
    """An artifact's folder from a folder, its manifest.json, or a run folder holding one:
    for `--baseline` (NeuroqError, one line naming --baseline, for an empty path, a missing
    one or one without an artifact) and for the convert runs the provenance names
    (`baseline_from_provenance`, which passes over those errors: the user never sees them)."""
    p = given_path(path, "--baseline")
    if not p.exists():  # a shipped artifact by name, as the artifact argument takes them
        from neuroq.deploy.artifact import read_manifest

        return read_manifest(path, "baseline")[0]
    if p.is_file() and p.name == "manifest.json":
        return p.parent
    if (p / "manifest.json").is_file():
        return p
    found = sorted(p.glob("*/manifest.json")) + sorted(p.glob("*/*/manifest.json"))
    if not found:
        raise NeuroqError(f"baseline {p} is neither an artifact nor a run folder holding one")
    return found[0].parent


def convert_run_candidates(manifest: dict[str, Any], artifact_dir: Path) -> Iterator[Path]:
    """Existing folders that the provenance's convert-run entries may name, in order."""
    prov = manifest.get("provenance")
    if not isinstance(prov, dict):
        return
    for key, value in prov.items():
        if "convert" in str(key) and isinstance(value, str):
            yield from (p for p in _candidates(value, artifact_dir) if p.is_dir())


def baseline_from_provenance(manifest: dict[str, Any], artifact_dir: Path) -> Path | None:
    """An artifact inside the convert run the provenance names, if there is one here."""
    own = artifact_dir.resolve()
    for p in convert_run_candidates(manifest, artifact_dir):
        if p.resolve() == own:
            continue
        try:
            found = resolve_artifact_dir(p)
        except NeuroqError:
            continue
        if found.resolve() != own:
            return found
    return None


# --- an automatic baseline: the plain conversion of the same DQN at larger T ----------------

#: T values tried for the plain-conversion baseline, smallest first (the first that reaches
#: the artifact's return is used; the largest is used as a lower bound when none does).
BASELINE_TIMESTEPS = (8, 16, 32, 64, 128)
#: Recorded observations used to re-convert (an even subsample of the convert run's, or
#: recorded here by the float DQN when the convert run is not on this machine).
BASELINE_CONVERT_OBS = 4000


def find_convert_run(manifest: dict[str, Any], artifact_dir: Path) -> Path | None:
    """The convert run named in the provenance, if it is here with its recorded data."""
    for p in convert_run_candidates(manifest, artifact_dir):
        if (p / "result.json").is_file() and (p / "observations.npy").is_file():
            return p
    return None


#: The reset of a convert run whose config.yaml names none: such runs predate `--reset`, and
#: every conversion then reset by subtraction (the converter's default is now "zero").
RESET_BEFORE_OPTION = "subtract"


@dataclass(frozen=True)
class ConversionInputs:
    """What `plain_conversion` converts with besides the DQN: the encoder, the recorded
    observations it calibrates on, the percentile, the neuron reset mode (a
    `neuroq.deploy.neuron.Reset` value, as `convert(reset=...)` takes it), and `origin`,
    where they came from (a phrase: "... re-converted here with <origin>"); compare: the
    threshold comparison (a `Compare` value; every `neuroq convert` run uses ">=", an
    imported network may not)."""

    encoder: Any
    observations: np.ndarray
    percentile: float
    reset: str
    origin: str
    compare: str = ">="


def conversion_inputs_of_run(convert_dir: Path) -> ConversionInputs:
    """The encoder, percentile and reset of the convert run in `convert_dir` (its
    result.json and config.yaml; RESET_BEFORE_OPTION when config.yaml names no reset) and an
    even subsample (BASELINE_CONVERT_OBS) of the observations it recorded."""

    from neuroq.agents.convert import DEFAULT_PERCENTILE, RESETS
    from neuroq.agents.runs import read_json
    from neuroq.deploy.encoders import encoder_from_dict

    res = read_json(convert_dir / "result.json")
    if "encoder" not in res:
        raise NeuroqError(f"{convert_dir}/result.json names no encoder")
    encoder = encoder_from_dict(res["encoder"])
    config: Any = {}
    if (convert_dir / "config.yaml").is_file():
        config = read_yaml_mapping(convert_dir / "config.yaml")
    if not isinstance(config, dict):
        config = {}
    choice = config.get("reset", RESET_BEFORE_OPTION)
    if choice not in RESETS:
        raise NeuroqError(f"{convert_dir}/config.yaml: unknown reset {choice!r}")
    obs = load_array(convert_dir / "observations.npy", "recorded observations")
    step = max(1, len(obs) // BASELINE_CONVERT_OBS)
    obs = np.asarray(obs[::step][:BASELINE_CONVERT_OBS], np.float32)
    return ConversionInputs(encoder, obs, float(res.get("percentile", DEFAULT_PERCENTILE)),
                            RESETS[choice],
                            f"the encoder, percentile and reset ({RESETS[choice]}) of "
                            f"{convert_dir} and {len(obs)} of its recorded observations")


def spiking_neuron(network: SpikingQNetwork) -> tuple[str, str]:
    """(reset mode, threshold comparison) of the network's first spiking layer, as `Reset`
    and `Compare` values (a conversion gives every spiking layer the same); the converter's
    defaults for a network without one (they change nothing there)."""
    from neuroq.agents.convert import DEFAULT_RESET, RESETS
    from neuroq.deploy.neuron import Compare

    params = next((layer.params for layer in network.layers if layer.spiking), None)
    if params is None:
        return RESETS[DEFAULT_RESET], Compare.GE.value
    return params.reset.value, params.compare.value


#: `record_observations` seed of the baseline's recording: `neuroq convert`'s default seed.
BASELINE_RECORD_SEED = 0


def conversion_inputs_of_artifact(artifact: Any, mlp: FloatMLP) -> ConversionInputs:
    """Inputs for a convert run that is not on this machine: the artifact's encoder (the
    convert run's: fine-tuning keeps it), the reset of its spiking neurons, the converter's
    default percentile (the convert run's own is not in the artifact) and
    BASELINE_CONVERT_OBS observations recorded here by the float DQN as `neuroq convert`
    records them by default (`record_observations` with seed BASELINE_RECORD_SEED: the
    recording range of neuroq.deploy.seeds, whatever the report's --seed)."""
    from neuroq.agents.convert import DEFAULT_PERCENTILE, record_observations

    obs = record_observations(mlp, str(artifact.manifest["env_id"]), BASELINE_CONVERT_OBS,
                              BASELINE_RECORD_SEED)
    reset, compare = spiking_neuron(artifact.network)
    return ConversionInputs(
        artifact.encoder, obs, DEFAULT_PERCENTILE, reset,
        f"the artifact's encoder, reset ({reset}) and threshold comparison ({compare}), the "
        f"converter's default percentile {DEFAULT_PERCENTILE:g} and {len(obs)} observations "
        f"recorded here by the float DQN; the convert run with its recorded observations is "
        f"not on this machine", compare)


def plain_conversion(inputs: ConversionInputs, mlp: FloatMLP, timesteps: int
                     ) -> SpikingQNetwork:
    """The DQN converted (agents/convert.py, no fine-tuning) at `timesteps` with `inputs`
    (their reset and threshold comparison too)."""
    from neuroq.agents.convert import convert

    return convert(mlp, inputs.encoder, inputs.observations, int(timesteps),
                   inputs.percentile, compare=inputs.compare, reset=inputs.reset)
