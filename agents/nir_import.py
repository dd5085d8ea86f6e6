"""`neuroq import`: a user's spiking Q-network (a NIR graph) made into a chip artifact.

Reads the graph with `neuroq.agents.nir_source` (source semantics: float32, delay-free
unless the graph has one-step Delay nodes, the source library's reset and `>`), then:

1. Chip mapping. The input spikes come from the neuroq encoder the source was trained
   with (`--encoder FILE`, the manifest's `encoder` mapping). A delay-free source of T'
   steps becomes a chip network of T = T' + L steps (L projections, one step each) whose
   encoder keeps its last L steps silent, so the hidden spikes of source step t reach the
   readout in chip step t + L and the readout is read after the same T' input steps. The
   readout integrates its bias over T steps instead of T': its i_offset is scaled by
   S(T')/S(T) with S(n) = sum_{j<n} alpha^j (T'/T for alpha = 1). What stays different:
   hidden layer k integrates its bias for k+1 steps before the first input spike arrives.
   A source with a one-step Delay before every projection already has the chip's timing:
   T = T'.
2. 8 bit, per layer (percentile-based threshold scaling): c_k = 127 / the `percentile` of
   |gain_k W_k|; int8 weights round(clip(c_k gain_k W_k)), and threshold, i_offset
   (c_k gain_k b_k) and v_reset scaled by the same c_k, so spikes are unchanged up to the
   weight rounding (weights that are already integers in [-127, 127] keep c_k = 1). Chip
   v_k = c_k v_source; weight_scale = 1/c_k; q_scale = 1/c_L, so Q = v_out q_scale is in the
   source's units. Comparison `>` (NIR's, both libraries'); reset as the source's.
3. Recorded observations: `record_steps` environment steps driven by the source network
   (a fraction RECORD_EPSILON random). Reported: greedy-action agreement of the chip network
   (`run_reference`) with the source on them, and both returns on the evaluation episodes
   (episode i seeded EVAL_SEED_BASE + i, as every stage).

Writes runs/<env>/import-<source>-<time>/: config.yaml, source.nir (the graph as given: the
teacher `neuroq finetune` distils from), observations.npy, teacher_q.npy (the source's
Q-values on them), network/ (the artifact) and result.json (agreement, returns, notes on
every semantics the chip imposes that the source did not have).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.agents.convert import (
    DEFAULT_EVAL_EPISODES,
    RECORD_ENVS,
    RECORD_EPSILON,
    WEIGHT_MAX,
    eval_seed_range,
    evaluate_returns,
    space_descriptions,
    spiking_act,
)
from neuroq.agents.nir_source import SourceNetwork, read_source, run_source_traced
from neuroq.deploy.artifact import plain
from neuroq.deploy.encoders import Encoder, encoder_from_dict, with_silent_tail
from neuroq.deploy.errors import (
    NeuroqError,
    given_path,
    load_yaml,
    read_text_file,
    yaml_problem,
)
from neuroq.deploy.network import Layer, SpikingQNetwork, run_reference
from neuroq.deploy.neuron import RESET_BY_NAME, make_params
from neuroq.deploy.nir_file import read_capped_bytes, read_graph_bytes
from neuroq.deploy.seeds import check_room, seed_span

IMPORT_STAGE = "import"
SOURCE_FILE = "source.nir"
NETWORK_DIR = "network"
OBS_FILE = "observations.npy"
TEACHER_Q_FILE = "teacher_q.npy"
#: Percentile of |gain W| mapped to 127 weight units (100 = the largest weight, no clipping).
DEFAULT_PERCENTILE = 100.0
DEFAULT_RECORD_STEPS = 20_000
#: Observations per batched run of the source network or the reference model.
CHUNK = 2000


def _sum_powers(alpha: np.ndarray, n: int) -> np.ndarray:
    a = alpha.astype(np.float64)
    return np.where(a == 1.0, float(n), (1.0 - a ** n) / np.where(a == 1.0, 0.5, 1.0 - a))


def to_chip(src: SourceNetwork, source_timesteps: int, percentile: float = DEFAULT_PERCENTILE
            ) -> tuple[SpikingQNetwork, list[str]]:
    """The chip network of `src` (module docstring, steps 1-2) and notes on what changed."""
    if not 0 < percentile <= 100:
        raise NeuroqError(f"--percentile must lie in (0, 100], got {percentile}")
    n_layers = len(src.layers)
    timesteps = source_timesteps if src.delays else source_timesteps + n_layers
    if timesteps <= n_layers:
        raise NeuroqError(f"T = {source_timesteps} steps: with {n_layers} projections of one "
                          f"step delay each the source needs at least {n_layers + 1}")
    notes = []
    if not src.delays:
        notes.append(
            f"the source runs delay-free (each layer sees the same step's spikes); on the chip "
            f"every projection takes one step: T = {source_timesteps} + {n_layers} = "
            f"{timesteps}, input in the source's steps and none in the last {n_layers}, "
            f"readout bias scaled "
            f"to T; hidden layer k integrates its bias for k+1 steps before input arrives "
            "(measured by the agreement below; `neuroq finetune` removes it)")
    layers, q_scale, clipped, scaled = [], src.q_scale, 0, []
    for k, la in enumerate(src.layers):
        a = la.gain.astype(np.float64)[:, None] * la.weight.astype(np.float64)
        b = la.gain.astype(np.float64) * la.bias
        integral = np.all(a == np.round(a)) and np.abs(a).max(initial=0) <= WEIGHT_MAX
        top = float(np.percentile(np.abs(a), percentile))
        c = 1.0 if integral else WEIGHT_MAX / max(top, 1e-12)
        if not integral:
            scaled.append(la.name)
        w = np.round(np.clip(a * c, -WEIGHT_MAX, WEIGHT_MAX))
        clipped += int(np.sum(np.abs(a * c) > WEIGHT_MAX + 0.5))
        if not la.spiking and not src.delays:
            b = b * _sum_powers(la.alpha, source_timesteps) / _sum_powers(la.alpha, timesteps)
        params = make_params(
            la.weight.shape[0], threshold=(la.threshold * c) if la.spiking else 1.0,
            alpha_decay=la.alpha, i_offset=(b * c).astype(np.float32),
            v_reset=(la.v_reset * c).astype(np.float32) if la.spiking else 0.0,
            reset=RESET_BY_NAME[src.reset], compare=">")
        layers.append(Layer(f"fc{k}", w.astype(np.int8), 1.0 / c, params, la.spiking))
        q_scale = src.q_scale / c
    if clipped:
        notes.append(f"{clipped} weights beyond the {percentile} percentile clipped to "
                     f"+-{WEIGHT_MAX}")
    if scaled:  # integer weights within +-127 are kept as they are (an outsider read this
        # note on a re-import of neuroq's own int8 graph, whose weights came back unchanged)
        notes.append(f"weights quantized to int8 (one scale per layer; thresholds, biases and "
                     f"v_reset scaled with it): {', '.join(map(repr, scaled))}")
    return SpikingQNetwork(tuple(layers), timesteps, q_scale), notes


@dataclass(frozen=True)
class SourceTeacher:
    """The source network as a teacher: `q(obs)` is its readout membrane after T' steps."""

    network: SourceNetwork
    encoder: Encoder
    timesteps: int
    seed: int = 0

    def q(self, obs: np.ndarray) -> np.ndarray:
        return self.q_traced(obs)[0]

    def q_traced(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`q` and, per observation, whether a readout the graph has as a spiking node rose
        above its threshold (`run_source_traced`)."""
        rng = np.random.default_rng(self.seed)
        obs = np.asarray(obs, np.float32)
        if not len(obs):
            return np.zeros((0, self.network.n_actions), np.float32), np.zeros(0, bool)
        parts = [run_source_traced(self.network, self.encoder.encode(
            obs[i:i + CHUNK], self.timesteps, rng=rng)) for i in range(0, len(obs), CHUNK)]
        return (np.concatenate([q for q, _ in parts]),
                np.concatenate([c for _, c in parts]))

    def act(self, obs: np.ndarray, _infos: Any = None) -> np.ndarray:
        return self.q(obs).argmax(axis=1)


def read_graph(path: str | os.PathLike) -> Any:
    """The NIR graph in the file at `path` (`read_graph_file`'s graph)."""
    return read_graph_file(path)[0]


def read_graph_file(path: str | os.PathLike) -> tuple[Any, bytes]:
    """The NIR graph in the file at `path`, and the file's bytes it was read from (checked:
    everything after uses them, not the file again, a review); NeuroqError (one line) for
    an empty path, one that does not exist, a folder ("is a folder, not a NIR graph file"),
    a file that asks HDF5 for more than a graph (`neuroq.deploy.nir_file`) and a file nir
    cannot read."""

    p = given_path(path, "NIR graph file")
    if not p.exists():
        raise NeuroqError(f"NIR graph file {p} does not exist")
    if p.is_dir():
        raise NeuroqError(f"{p} is a folder, not a NIR graph file")
    data = read_capped_bytes(p)
    try:  # a file from anyone: checked, then read from the bytes checked (nir_file)
        return read_graph_bytes(data, str(p)), data
    except NeuroqError:
        raise
    except Exception as exc:  # noqa: BLE001 - nir/h5py raise many types on malformed files
        failing = _failing_node(io.BytesIO(data))
        key = exc.args[0] if isinstance(exc, KeyError) and exc.args else ""
        if isinstance(key, str) and " " in key:  # h5py's own KeyError: a sentence, not a key
            # (an HDF5 file without NIR's `node` group read "has no \"Unable to ...\" field")
            raise NeuroqError(f"{p} is not a readable NIR graph: it holds no NIR graph where "
                              f"NIR keeps one ({key})") from None
        if isinstance(exc, KeyError):  # str(KeyError) is only the key, quoted: "'type'"
            field = repr(key)
            raise NeuroqError(f"{p} is not a readable NIR graph: "
                              + (f"node {failing[0]!r} has no {field} field" if failing
                                 else f"a node (or the graph) has no {field} field")) from None
        loop = _stored_cycle(io.BytesIO(data))
        said = (f" (its edges form a cycle, {' -> '.join(loop)}: a recurrent connection; "
                "neuroq reads feed-forward sequential graphs only)" if loop else "")
        where = f"node {failing[0]!r}: " if failing else ""
        # nir.read's own error may say nothing (a bare AssertionError for an unknown node
        # type, a recheck): then the node reader's ("Unknown unit type: b'Bogus'")
        reason = (str(exc).strip() or (str(failing[1]).strip() if failing else "")
                  or type(exc).__name__)
        batched = _BATCHED_INPUT.search(reason)
        if batched and batched[1] == batched[2]:  # snnTorch's and Norse's exporters alike
            said += (f" (a (1, {batched[1]}) output before a layer of {batched[1]} inputs: "
                     "the exporter was given a batched sample; export with one unbatched "
                     f"sample, e.g. torch.zeros({batched[1]}))")
        raise NeuroqError(f"{p} is not a readable NIR graph: {where}{reason}{said}") from None


def nir_version_notes(path: str | os.PathLike | io.BytesIO) -> list[str]:
    """A note where the NIR file at `path` states a version newer (major.minor) than the
    nir package installed here, or one that is no version: nir.read ignores it, so a graph
    of a later NIR read on as if of this one (an outsider's "99.0.0" imported without a
    word). [] otherwise, also for a file that states none."""
    import h5py
    import nir

    try:
        with h5py.File(path, "r") as f:
            raw = f["version"][()] if "version" in f else None
    except (OSError, KeyError, TypeError, ValueError):
        return []
    if raw is None:
        return []
    said = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    here = _major_minor(nir.__version__)
    theirs = _major_minor(said)
    if theirs is None:
        return [f"the file states NIR version {said!r}, which is no version number; it is "
                f"read as NIR {nir.__version__} (installed here)"]
    if here is not None and theirs > here:
        return [f"the file was written by NIR {said}, newer than the nir {nir.__version__} "
                "installed here: what that version added is not read (pip install -U nir)"]
    return []


def _major_minor(version: str) -> tuple[int, int] | None:
    m = re.match(r"\s*(\d+)\.(\d+)", version)
    return (int(m[1]), int(m[2])) if m else None


_BATCHED_INPUT = re.compile(r"type mismatch: \S+\.output: \[\[\s*1\s+(\d+)\]\] -> "
                            r"\S+\.input: \[\[\s*(\d+)\]\]")
"""nir.read's type error for a graph exported with a batched sample input (an outsider's
Norse export: "type mismatch: input.output: [[ 1 64]] -> 0.input: [[64]]")."""


def _failing_node(path: Path | io.BytesIO) -> tuple[str, Exception] | None:
    """(name, error) of the first node of the NIR file at `path` that nir's own node reader
    (nir.serialization.read_node) fails on, a nested graph's named "outer/inner"; None if
    none does or the file cannot be walked. nir.read's errors name the field or the class,
    never the node (an outsider's deleted 'type' was "a node (or the graph)")."""
    import h5py
    from nir.serialization import read_node

    def failing(nodes: Any, prefix: str) -> tuple[str, Exception] | None:
        for name in nodes:
            group = nodes[name]
            try:
                read_node(group)
            except Exception as exc:  # noqa: BLE001 - whatever nir raises for this node
                nested = ("type" in group and group["type"][()] == b"NIRGraph"
                          and "nodes" in group)
                return (failing(group["nodes"], f"{prefix}{name}/") if nested else None
                        ) or (f"{prefix}{name}", exc)
        return None

    try:
        with h5py.File(path, "r") as f:
            return failing(f["node"]["nodes"], "")
    except Exception:  # noqa: BLE001 - any malformed file: no node to name
        return None


def _stored_cycle(path: Path | io.BytesIO) -> list[str]:
    """A cycle among the edges stored in the NIR file at `path` (node names), [] if none or
    if they cannot be read: nir.read refuses a recurrent graph whose shapes do not line up
    with a "type mismatch" that does not say it is a cycle (an outsider)."""
    import h5py

    from neuroq.deploy.artifact import cycle_through

    try:
        with h5py.File(path, "r") as f:
            edges = [(a.decode() if isinstance(a, bytes) else str(a),
                      b.decode() if isinstance(b, bytes) else str(b))
                     for a, b in f["node"]["edges"][()]]
    except Exception:  # noqa: BLE001 - any malformed file: no cycle to name
        return []
    successors: dict[str, list[str]] = {}
    for a, b in edges:
        successors.setdefault(a, []).append(b)
    for start in successors:
        loop = cycle_through(start, successors)
        if loop:
            return loop
    return []


def read_encoder(path: str | os.PathLike) -> Encoder:
    """A neuroq encoder from a YAML/JSON file with the mapping an artifact manifest's
    `encoder` holds (kind and parameters); NeuroqError (one line, naming --encoder) for a
    file that cannot be read as text (`read_text_file`) or holds no such mapping."""
    import yaml

    text = read_text_file(path, "--encoder")
    p = Path(path)
    try:
        d = load_yaml(text)
    except yaml.YAMLError as exc:
        raise NeuroqError(f"--encoder {p} is not valid YAML {yaml_problem(exc)}") from None
    if isinstance(d, dict) and isinstance(d.get("encoder"), dict):
        d = d["encoder"]  # a whole manifest.json
    if not isinstance(d, dict):
        raise NeuroqError(f"--encoder {p}: expected a mapping with 'kind' and parameters")
    try:
        return encoder_from_dict(d)
    except NeuroqError as exc:
        raise NeuroqError(f"--encoder {p}: {exc}") from None


def encoder_tail_note(silent_tail: int, source_timesteps: int) -> str:
    """The warning for a source encoder that leaves steps without input: the source then
    sees input in source_timesteps - silent_tail of its steps, which is right only if it
    was trained so (an artifact manifest's encoder keeps that artifact's chip tail)."""
    active = source_timesteps - silent_tail
    return (f"the encoder (--encoder) leaves the last {silent_tail} of the source's "
            f"{source_timesteps} steps without input (its silent_tail), so the source sees "
            f"input in {active} step{'s' if active != 1 else ''}; if it was trained with "
            "input in every step, set silent_tail: 0 in the encoder file (the encoder of an "
            "artifact manifest keeps the silent tail of that artifact's chip timing)")


def metadata_timesteps(graph: Any) -> float | None:
    """The graph metadata's `timesteps` as a number (its first value), None where it has
    none or one that is no number."""
    meta_t = (graph.metadata or {}).get("timesteps")
    if meta_t is None:
        return None
    try:
        return float(np.asarray(meta_t).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        return None


def source_timesteps_of(graph: Any, timesteps: int | None) -> int:
    """T of the source: --timesteps, else the graph metadata's `timesteps` (each named in
    its error: a graph's timesteps of -4 was refused as "--timesteps must be ...", with no
    --timesteps given, an outsider)."""
    given = "--timesteps"
    if timesteps is None:
        meta_t = (graph.metadata or {}).get("timesteps")
        if meta_t is None:
            raise NeuroqError("the graph does not say how many steps the source runs per "
                              "action (no 'timesteps' in its metadata): pass --timesteps T")
        given = "the graph metadata's timesteps (pass --timesteps T to override it)"
        timesteps = metadata_timesteps(graph)
        if timesteps is None:
            raise NeuroqError(f"{given} must be a positive integer, got {meta_t!r}")
    if (isinstance(timesteps, bool) or not np.isfinite(timesteps)
            or int(timesteps) != timesteps or timesteps < 1):
        raise NeuroqError(f"{given} must be a positive integer, got {timesteps!r}")
    return int(timesteps)


def _record(act: Callable[[np.ndarray], np.ndarray], env_id: str, steps: int, seed: int,
            n_actions: int) -> np.ndarray:
    from neuroq.deploy.rollout import run_episodes

    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []

    def eps_act(obs: np.ndarray, _infos: Any) -> np.ndarray:
        out.append(obs.copy())
        a = np.asarray(act(obs))
        return np.where(rng.random(len(obs)) < RECORD_EPSILON,
                        rng.integers(0, n_actions, len(obs)), a)

    run_episodes(env_id, eps_act, episodes=steps, seed=seed, batch=RECORD_ENVS,
                 max_total_steps=steps)
    return np.concatenate(out)[:steps]


def chip_q(network: SpikingQNetwork, encoder: Encoder, obs: np.ndarray, seed: int = 0
           ) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([
        run_reference(network, encoder.encode(obs[i:i + CHUNK], network.timesteps, rng=rng)).q
        for i in range(0, len(obs), CHUNK)])


@dataclass(frozen=True)
class ImportSettings:
    """`neuroq import` options (see agents/cli/import_.py)."""

    source: str = "auto"
    dt: float | None = None
    reset: str | None = None
    timesteps: int | None = None
    percentile: float = DEFAULT_PERCENTILE
    record_steps: int = DEFAULT_RECORD_STEPS
    eval_episodes: int = DEFAULT_EVAL_EPISODES
    seed: int = 0


def run_import(graph_path: str | os.PathLike, graph: Any, env_id: str, encoder: Encoder,
               settings: ImportSettings = ImportSettings(), out_root: str | os.PathLike = "runs",
               log: Callable[[str], None] = print,
               warn: Callable[[str], None] = print, data: bytes | None = None) -> Path:
    """The `neuroq import` stage; returns the new run folder (result.json written last).

    graph: the graph in the file `graph_path` as `read_graph_file` read it, from `data`,
    the bytes it checked (written into the run as source.nir; None: the file is read
    again); encoder: the source's encoder as `read_encoder` read it.
    The command reads both before anything else, so a wrong file is one line first, and
    each file is read once."""
    import yaml

    from neuroq.agents.runs import make_run_dir, removed_on_failure, save_array, write_json
    from neuroq.deploy.artifact import save_artifact
    from neuroq.deploy.seeds import check_episode_seeds

    s = settings
    if s.record_steps < 100:
        raise NeuroqError("--record-steps must be at least 100")
    # the recording plays up to one episode per step, seeded seed + i: the message names
    # --record-steps (it said "episodes", which `neuroq import` has no option for)
    check_episode_seeds(s.seed, s.record_steps, "--record-steps")
    if s.eval_episodes < 1:
        raise NeuroqError("--eval-episodes must be at least 1")
    check_room("--eval-episodes", s.eval_episodes, "stage_eval")
    src, notes = read_source(graph, s.source, s.dt, s.reset, str(graph_path))
    if data is None:
        data = read_capped_bytes(Path(graph_path))
    notes += nir_version_notes(io.BytesIO(data))
    t_src = source_timesteps_of(graph, s.timesteps)
    said_t = metadata_timesteps(graph)
    if s.timesteps is not None and said_t is not None and said_t != t_src:
        # an outsider's -T 5 on a T = 4 network played 270 against its 500, with no word
        notes.append(f"--timesteps {t_src} differs from the {said_t:g} steps the graph's "
                     "metadata says the source runs per action: the network runs at "
                     f"{t_src} (leave --timesteps out to take the graph's)")
    if encoder.n_inputs != src.n_inputs:
        raise NeuroqError(f"the encoder gives {encoder.n_inputs} inputs, the graph's first "
                          f"layer takes {src.n_inputs}")
    obs_space, act_space = space_descriptions(env_id)
    if obs_space["shape"] != [encoder.n_obs] or act_space["n"] != src.n_actions:
        raise NeuroqError(f"{env_id} has {obs_space['shape'][0]} observations and "
                          f"{act_space['n']} actions; the encoder takes {encoder.n_obs} and "
                          f"the graph has {src.n_actions} outputs")
    network, chip_notes = to_chip(src, t_src, s.percentile)
    notes += chip_notes
    if encoder.silent_tail and not src.delays:  # meant, or a manifest's chip tail
        if encoder.silent_tail >= t_src:
            raise NeuroqError(f"the encoder (--encoder) leaves all {t_src} of the source's "
                              f"steps without input (silent_tail {encoder.silent_tail}): set "
                              "silent_tail: 0 in the encoder file (an artifact manifest's "
                              "encoder keeps that artifact's chip tail)")
        notes.append(encoder_tail_note(encoder.silent_tail, t_src))
    for n in notes:
        warn(n)
    chip_encoder = encoder if src.delays else with_silent_tail(
        encoder, encoder.silent_tail + len(src.layers))
    teacher = SourceTeacher(src, encoder, t_src, s.seed)
    run_dir = make_run_dir(out_root, env_id, IMPORT_STAGE, src.convention)
    with removed_on_failure(run_dir):
        (run_dir / SOURCE_FILE).write_bytes(data)  # the bytes converted, not the file again
        config = {"stage": IMPORT_STAGE, "graph": str(Path(graph_path).resolve()),
                  "env_id": env_id, "source": src.convention, "dt": src.dt,
                  "reset": src.reset, "source_timesteps": t_src,
                  "source_encoder": encoder.to_dict(), "percentile": s.percentile,
                  "record_steps": s.record_steps, "eval_episodes": s.eval_episodes,
                  "seed": s.seed}
        (run_dir / "config.yaml").write_text(yaml.safe_dump(plain(config), sort_keys=False))
        log(f"recording {s.record_steps} observations with the source network")
        obs = _record(teacher.act, env_id, s.record_steps, s.seed, src.n_actions)
        q_src, crossed = teacher.q_traced(obs)
        if crossed.any():  # the note above said "if"; the source's own run says how often
            # (an outsider's snnTorch readout: agreement 1.0 against this reading, 927 of
            # 1000 actions against snnTorch, which spikes and resets it)
            last = src.layers[-1]
            notes.append(
                f"the readout {last.name!r} rose above its threshold "
                f"({float(last.threshold.max()):g}) on {int(crossed.sum())} of {len(obs)} "
                "recorded observations: if the source spikes and resets its readout, its "
                "actions there are not those of this reading, and the agreement below does "
                "not show it (export the readout without reset, or as a non-spiking LI node)")
            warn(notes[-1])
        save_array(run_dir / OBS_FILE, obs)
        save_array(run_dir / TEACHER_Q_FILE, q_src)
        agree = float((chip_q(network, chip_encoder, obs, s.seed).argmax(1)
                       == q_src.argmax(1)).mean())
        log(f"greedy-action agreement of the int8 chip network with the source as read here "
            f"({src.convention}, dt {src.dt:g}, reset {src.reset}): {agree:.4f} (the chip "
            "against this reading; an assumption above is not checked by it)")
        src_r = evaluate_returns(env_id, teacher.act, s.eval_episodes)
        chip_r = evaluate_returns(env_id, spiking_act(network, chip_encoder, s.seed),
                                  s.eval_episodes)
        log(f"source network: {src_r.mean():.1f} +- {src_r.std():.1f}; chip network: "
            f"{chip_r.mean():.1f} +- {chip_r.std():.1f} over {s.eval_episodes} episodes")
        digest = hashlib.sha256(data).hexdigest()  # the bytes source.nir holds
        save_artifact(run_dir / NETWORK_DIR, network, chip_encoder, {
            "env_id": env_id, "observation_space": obs_space, "action_space": act_space,
            "provenance": {"import_run": str(run_dir.resolve()),
                           "source_graph": str(Path(graph_path).resolve()),
                           "source_sha256": digest}})
        write_json(run_dir / "result.json", {
            "stage": IMPORT_STAGE, "env_id": env_id, "source": src.convention,
            "source_sha256": digest, "dt": src.dt, "reset": src.reset,
            "source_delays": src.delays, "source_timesteps": t_src,
            "timesteps": network.timesteps, "encoder": chip_encoder.to_dict(),
            "notes": notes, "agreement": agree, "episodes": s.eval_episodes,
            "episode_seeds": eval_seed_range(s.eval_episodes),
            "eval_seeds": seed_span(eval_seed_range(s.eval_episodes)),
            "source_mean_return": float(src_r.mean()), "source_std_return": float(src_r.std()),
            # the teacher's return under the key convert runs use (finetune and export read it)
            "ann_mean_return": float(src_r.mean()),
            "mean_return": float(chip_r.mean()), "std_return": float(chip_r.std()),
            "teacher": "the imported source network (source.nir)",
            "network": NETWORK_DIR, "backend": "neuroq.deploy.network.run_reference"})
        return run_dir


def source_teacher(run_dir: str | os.PathLike) -> SourceTeacher:
    """The teacher of an import run: its source.nir read as the import read it."""
    from neuroq.agents.runs import read_yaml_mapping

    p = Path(run_dir)
    config = read_yaml_mapping(p / "config.yaml")
    graph = read_graph(p / SOURCE_FILE)
    src, _ = read_source(graph, config["source"], config["dt"], config["reset"], str(p))
    return SourceTeacher(src, encoder_from_dict(config["source_encoder"]),
                         int(config["source_timesteps"]), int(config.get("seed", 0)))
