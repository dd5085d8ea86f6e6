"""The deploy artifact: an NIR graph of the spiking Q-network plus a JSON manifest.

A folder with two files:

    network.nir.h5   the network as an NIR graph (HDF5, written and read by the `nir` package)
    manifest.json    everything else the robot needs, the SHA-256 of network.nir.h5, and
                     the SHA-256 of its own content (`manifest_sha256`, `manifest_digest`)

Loading needs numpy, h5py and nir only: no torch, and no pickle anywhere (`nir.read` walks
HDF5 groups and datasets with h5py, which stores numbers and strings natively and never
unpickles). The weights file is hashed before it is parsed; a mismatch is refused. The
manifest's own hash covers every other key of it (the encoder's ranges, the silent tail,
the interface: an outsider's one-digit typo in an encoder bound ran at return 116 instead
of 500 without a word); an edited manifest is refused, one without the key (written before
it existed, or the key removed) is read with a warning (`hash_warning`). `write_manifest`
writes a manifest with its hash (for tools that change one on purpose).

NIR graph (deploy/nir_profiles.py, docs/nir.md)
-----------------------------------------------
network.nir.h5 is the "neuroq" profile: its standard NIR fields say what the chip computes,
read in discrete time with dt = 1 (one chip time step; `NIR_DT`) and forward Euler:
`Delay(1)` -> `Affine(W, i_offset)` -> `IF` / `LIF(tau = 1/(1-alpha), r = tau)` per layer
(the Delay is the chip's one step per projection), a non-spiking `I` / `LI` readout, and
`v_threshold = nextafter_f32(threshold, -inf)` so NIR's `v > v_threshold` is the chip's
`v >= threshold`. W holds the int8 weights as integer-valued float32 (every NIR reader
takes float weights); the reader checks they are integers in [-127, 127]. Node metadata
keeps what NIR cannot say exactly: float32 alpha_decay (tau does not round-trip
bit-exactly), weight_scale, the comparison, and reset by subtraction (NIR resets to
v_reset), which the manifest's `neuron.not_expressed_in_nir` and `neuroq export` state.
Graph metadata: dt, timesteps, q_scale. `neuroq export --nir-profile` adds graphs for
snnTorch, Norse and py-spinnaker2 as extra files (`nir_profiles` in the manifest, each
with its SHA-256); neuroq itself reads only network.nir.h5.

Format version 1 (before nir.Delay nodes and nextafter thresholds) is still read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.deploy.chip import constant
from neuroq.deploy.encoders import FLOAT32_SAFE_MAX, Encoder, encoder_from_dict
from neuroq.deploy.errors import (
    NeuroqError,
    given_path,
    has_control,
    printable,
    read_text_file,
)
from neuroq.deploy.network import Layer, SpikingQNetwork
from neuroq.deploy.neuron import Compare, NeuronParams, Reset, make_params
from neuroq.deploy.nir_file import read_capped_bytes, read_graph_bytes
from neuroq.deploy.nir_profiles import (
    CHIP_DT,
    NIR_LAYOUT,
    PRODUCER,
    PROFILES,
    chip_threshold,
    profile_graph,
    profile_info,
)

#: The smallest q_scale (float32's smallest normal number): below it Q-values underflow.
Q_SCALE_MIN = float(np.finfo(np.float32).tiny)
MANIFEST_HASH_KEY = "manifest_sha256"
"""The manifest's key holding the SHA-256 of the rest of it (`manifest_digest`)."""
_CHANGED = ("{path} was changed after export (its content does not match its "
            f"{MANIFEST_HASH_KEY})")
FORMAT_NAME = "neuroq-artifact"
FORMAT_VERSION = 2
#: Versions load_artifact reads (1: before nir.Delay nodes and nextafter thresholds).
READ_FORMAT_VERSIONS = (1, 2)
WEIGHTS_FILE = "network.nir.h5"
MANIFEST_FILE = "manifest.json"
PARTIAL_SUFFIX = ".partial"
"""An artifact folder still being written (`neuroq export` writes `artifact.partial/` and
renames it `artifact/` once its gate is passed): never read as an artifact."""
#: NIR integration step in time units; one unit is one chip time step (see module docstring).
NIR_DT = CHIP_DT
WEIGHT_MAX = int(constant("max_weight_magnitude"))
"""Weights an artifact may hold: integers in [-WEIGHT_MAX, WEIGHT_MAX], the chip's 8-bit
synapses (-128 is refused: the compiler refuses it, so such an artifact loaded and ran on
the reference backend, then failed on the emulator or a board, a review)."""
#: Permissions of the written files (read for everyone, write for the owner).
ARTIFACT_FILE_MODE = 0o644
#: Keys the caller's manifest must provide (the rest is filled in from network and encoder).
REQUIRED_KEYS = ("env_id", "observation_space", "action_space", "provenance")


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact: the network, its encoder, the manifest and the folder it came from.
    given: the path as it was given to `load_artifact` (the folder or its manifest.json), the
    name commands show (`artifact_name`)."""

    network: SpikingQNetwork
    encoder: Encoder
    manifest: dict[str, Any]
    path: Path
    given: str = ""


def artifact_name(artifact: str | os.PathLike | Artifact) -> str:
    """How a command names an artifact in what it prints and writes: the path as the user
    gave it, also once it is loaded (an `Artifact`)."""
    if isinstance(artifact, Artifact):
        return artifact.given or str(artifact.path)
    return str(artifact)


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def network_to_nir(network: SpikingQNetwork) -> Any:
    """The artifact's NIR graph of `network` (the "neuroq" profile of deploy/nir_profiles.py):
    input -> (layer<k>_delay -> layer<k>_w Affine -> layer<k> neuron)* -> output."""
    return profile_graph(network, "neuroq")


def _meta_value(meta: dict[str, Any], key: str, where: str) -> Any:
    if key not in meta:
        raise NeuroqError(f"{where}: metadata {key!r} is missing")
    v = meta[key]
    return v.decode() if isinstance(v, bytes) else v


def meta_text(meta: dict[str, Any], key: str) -> str:
    """A text field of NIR graph metadata as str, "" where it is missing (nir/h5py may hand
    back bytes or a 0-d array): for readers of graphs that need not be neuroq's."""
    value = meta.get(key, "")
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _meta_str(meta: dict[str, Any], key: str, where: str) -> str:
    v = _meta_value(meta, key, where)
    if not isinstance(v, str):
        raise NeuroqError(f"{where}: metadata {key!r} must be a string, got {v!r}")
    return v


def _meta_number(meta: dict[str, Any], key: str, where: str) -> float:
    v = _meta_value(meta, key, where)
    if isinstance(v, str):  # text is no number, whatever it spells ("1", "nan")
        raise NeuroqError(f"{where}: metadata {key!r} must be a finite number, got {v!r}")
    try:
        x = float(np.asarray(v))
    except (TypeError, ValueError):
        x = float("nan")
    if not np.isfinite(x):
        raise NeuroqError(f"{where}: metadata {key!r} must be a finite number, got {v!r}")
    return x


def node_chain(graph: Any, where: str) -> list[tuple[str, Any]]:
    """The nodes from the Input node to the Output node, in order, of a sequential graph
    (each node feeds the next; no branch, no recurrence); NeuroqError naming what else the
    graph is: a recurrent connection (a cycle), a branch, more or fewer than one Input
    (nir.NIRGraph adds one before each node no edge feeds), an edge to no node, a chain
    that ends before an Output. The one
    reader of a graph's order: artifacts (`network_from_nir`) and `neuroq import`."""
    import nir

    nodes, successors = graph.nodes, {}
    for a, b in graph.edges:
        successors.setdefault(a, []).append(b)
    for a, after in successors.items():
        if len(after) > 1:
            loop = cycle_through(a, successors)
            if loop:
                raise NeuroqError(
                    f"{where}: node {a!r} feeds back into itself ({' -> '.join(loop)}): a "
                    "recurrent connection; neuroq reads feed-forward sequential graphs "
                    "only (Input, then Affine/Linear and neuron nodes, one after another)")
            raise NeuroqError(f"{where}: node {a!r} feeds more than one node "
                              f"({', '.join(map(repr, after))}); neuroq reads sequential "
                              "graphs only (one chain from Input to Output)")
    inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        feeding = ", ".join(f"{n!r} feeding {', '.join(map(repr, successors.get(n, [])))}"
                            for n in inputs)
        raise NeuroqError(
            f"{where}: needs exactly one Input node, found {len(inputs)}"
            + (f" ({feeding}; nir adds an Input node before each node that no edge feeds: "
               "is an edge missing?)" if inputs else ""))
    chain, name, seen = [], inputs[0], set()
    while name is not None:
        if name not in nodes:
            raise NeuroqError(f"{where}: an edge leads to {name!r}, which is not a node")
        if name in seen:
            raise NeuroqError(f"{where}: the edges return to node {name!r}: a cycle (a "
                              "recurrent connection); neuroq reads feed-forward graphs only")
        seen.add(name)
        chain.append((name, nodes[name]))
        if isinstance(nodes[name], nir.Output):
            return chain
        name = successors.get(name, [None])[0]
    raise NeuroqError(f"{where}: the chain from the Input node does not end in an Output node")


def cycle_through(start: str, successors: dict[str, list[str]]) -> list[str]:
    """A path start -> ... -> start along `successors` (names), or [] if there is none."""
    parent: dict[str, str | None] = {start: None}
    stack = [start]
    while stack:
        name = stack.pop()
        for nxt in successors.get(name, []):
            if nxt == start:
                path = [name]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if nxt not in parent:
                parent[nxt] = name
                stack.append(nxt)
    return []


def network_from_nir(graph: Any, timesteps: int, where: str = "NIR graph") -> SpikingQNetwork:
    """Rebuild a `SpikingQNetwork` from a graph written by `network_to_nir` (layout 2) or by
    neuroq before nir.Delay nodes (layout 1: no Delay nodes, exact thresholds).

    Standard fields give weights, biases, thresholds (with the comparison), v_reset, taus
    and delays; node metadata supplies what NIR cannot say and is checked against them.
    A graph from another tool has no neuroq metadata: `neuroq import` reads those.
    """
    import nir

    meta = graph.metadata or {}
    producer = meta.get("producer")
    producer = producer.decode() if isinstance(producer, bytes) else producer
    if producer not in (PRODUCER, FORMAT_NAME):
        raise NeuroqError(
            f"{where}: not a graph written by neuroq (graph metadata 'producer' is "
            f"{'missing' if producer is None else repr(producer)}); a NIR graph from "
            "another tool becomes an artifact with `neuroq import GRAPH --env ENV`")
    layout = int(_meta_number(meta, "nir_layout", where)) if producer == PRODUCER else 1
    if layout not in (1, NIR_LAYOUT):
        raise NeuroqError(f"{where}: NIR layout {layout} is not supported (this neuroq reads "
                          f"1 and {NIR_LAYOUT})")
    dt = _meta_number(meta, "dt", where)
    if dt != NIR_DT:
        raise NeuroqError(f"{where}: dt is {dt}, neuroq's graphs use dt = {NIR_DT} (one chip "
                          "time step)")
    if layout == 1 and _meta_number(meta, "projection_delay_steps", where) != 1:
        raise NeuroqError(f"{where}: projection_delay_steps must be 1")
    chain = node_chain(graph, where)[1:-1]
    layers, i = [], 0
    while i < len(chain):
        name, node = chain[i]
        if layout == NIR_LAYOUT:
            if not isinstance(node, nir.Delay):
                raise NeuroqError(f"{where}: expected a Delay node (the chip's one step per "
                                  f"projection) before every Affine, found "
                                  f"{type(node).__name__} {name!r}")
            if not np.all(np.asarray(node.delay) == NIR_DT):
                raise NeuroqError(f"{where}: Delay node {name!r} must delay by {NIR_DT} "
                                  "(one chip step)")
            i += 1
        if i + 1 >= len(chain) or not isinstance(chain[i][1], nir.Affine):
            raise NeuroqError(f"{where}: expected an Affine node followed by neurons at "
                              f"{chain[min(i, len(chain) - 1)][0]!r}")
        (_, w_node), (n_name, n_node) = chain[i], chain[i + 1]
        layers.append(_layer_from_nodes(w_node, n_node, layout, f"{where}: {n_name}"))
        i += 2
    if not layers:
        raise NeuroqError(f"{where}: the graph has no layers")
    t_graph = int(_meta_number(meta, "timesteps", where))
    if t_graph != timesteps:
        raise NeuroqError(f"{where}: graph metadata says timesteps = {t_graph}, the manifest "
                          f"{timesteps}")
    q_scale = _meta_number(meta, "q_scale", where)
    if not Q_SCALE_MIN <= q_scale <= FLOAT32_SAFE_MAX:  # zero or negative: every Q-value 0
        # or turned over, the action the worst one (an outsider's rehashed q_scale -1 played
        # 9.15); below float32's smallest normal the Q-values underflow to 0 (1e-300: 10.0)
        raise NeuroqError(f"{where}: metadata 'q_scale' must lie in [{Q_SCALE_MIN:.3g}, "
                          f"{FLOAT32_SAFE_MAX:.3g}] (Q-values are the readout's float32 "
                          f"membrane times it), got {q_scale!r}")
    for layer in layers:
        _check_no_overflow(layer, int(timesteps), where)
    return SpikingQNetwork(tuple(layers), int(timesteps), q_scale)


def _check_no_overflow(layer: Layer, timesteps: int, where: str) -> None:
    """NeuroqError for neuron parameters whose membrane could leave float32's range within
    `timesteps` steps (the emulator and the chip compute in float32): |v| grows by at most
    |i_offset| + the largest row sum of |W| a step (alpha_decay <= 1), and a reset adds at
    most |threshold| + |v_reset|. An outsider's output bias of 3e38 ran as inf."""
    p = layer.params
    per_step = (np.abs(np.asarray(p.i_offset, np.float64)).max(initial=0)
                + np.abs(layer.weight.astype(np.float64)).sum(axis=1).max(initial=0))
    worst = (timesteps * per_step + np.abs(np.asarray(p.threshold, np.float64)).max(initial=0)
             + np.abs(np.asarray(p.v_reset, np.float64)).max(initial=0))
    if not worst <= FLOAT32_SAFE_MAX:
        raise NeuroqError(f"{where}: layer {layer.name}: its membrane could reach {worst:.3g} "
                          f"in {timesteps} steps, beyond float32's range (the emulator and "
                          "the chip compute in float32): its i_offset, threshold or v_reset "
                          "are not a trained network's")


def _numbers(value: Any, what: str, where: str) -> np.ndarray:
    """`value` as an array of numbers; NeuroqError for text or complex numbers (an
    outsider's weights stored as strings were parsed, complex ones lost their imaginary
    part)."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise NeuroqError(f"{where}: {what} must be real numbers, got {a.dtype} values")
    return a


def _layer_from_nodes(w_node: Any, n_node: Any, layout: int, where: str) -> Layer:
    import nir

    for what in ("weight", "bias"):
        if getattr(w_node, what, None) is not None:
            _numbers(getattr(w_node, what), what, where)
    for what in ("v_threshold", "v_reset", "r", "tau", "v_leak"):
        if getattr(n_node, what, None) is not None:
            _numbers(getattr(n_node, what), what, where)
    for what in ("alpha_decay", "threshold", "v_reset"):  # the metadata's numbers
        if what in (n_node.metadata or {}):
            _numbers(_meta_value(n_node.metadata, what, where), f"metadata {what!r}", where)
    w = np.asarray(w_node.weight, dtype=np.float64)
    if (w.ndim != 2 or not np.all(np.isfinite(w)) or np.any(w != np.round(w))
            or np.abs(w).max(initial=0) > WEIGHT_MAX):
        raise NeuroqError(f"{where}: weights must be integers in [-{WEIGHT_MAX}, {WEIGHT_MAX}] "
                          "(the chip's 8-bit synapses: max_weight_magnitude)")
    if w_node.bias is None:
        raise NeuroqError(f"{where}: the Affine node before it has no bias (i_offset)")
    if not isinstance(n_node, (nir.IF, nir.LIF, nir.I, nir.LI)):
        raise NeuroqError(f"{where}: unsupported neuron node {type(n_node).__name__} "
                          "(neuroq's graphs use IF, LIF, I and LI)")
    meta = n_node.metadata or {}
    alpha = np.asarray(_meta_value(meta, "alpha_decay", where), dtype=np.float32)
    weight_scale = _meta_number(meta, "weight_scale", where)
    compare = Compare(_check_choice(_meta_str(meta, "compare", where), Compare, where))
    reset = _check_choice(_meta_str(meta, "reset", where), Reset, where)
    n = w.shape[0]
    r = np.asarray(n_node.r, np.float64)
    if isinstance(n_node, (nir.LIF, nir.LI)):
        tau = np.asarray(n_node.tau, np.float64)
        if not np.allclose(1.0 - NIR_DT / tau, alpha, rtol=0, atol=1e-5):
            raise NeuroqError(f"{where}: tau does not match the alpha_decay in its metadata")
        if not np.allclose(r, tau / NIR_DT, rtol=1e-6) or np.any(np.asarray(n_node.v_leak)):
            raise NeuroqError(f"{where}: r must be tau/dt and v_leak 0 (unit input gain)")
    else:
        if np.any(alpha != 1.0):
            raise NeuroqError(f"{where}: an IF/I node must have alpha_decay = 1")
        if np.any(r != 1.0):
            raise NeuroqError(f"{where}: r must be 1 (unit input gain)")
    spiking = isinstance(n_node, (nir.IF, nir.LIF))
    if spiking:
        v_thr = np.asarray(n_node.v_threshold, np.float32)
        threshold = v_thr if layout == 1 else chip_threshold(v_thr, compare)
        v_reset = np.asarray(n_node.v_reset, np.float32)
    else:
        threshold = np.asarray(meta.get("threshold", 1.0), np.float32)
        v_reset = np.asarray(meta.get("v_reset", 0.0), np.float32)
    params: NeuronParams = make_params(
        n, threshold=threshold, alpha_decay=alpha, i_offset=np.asarray(w_node.bias, np.float32),
        v_reset=v_reset, reset=reset, compare=compare)
    src = meta if layout == NIR_LAYOUT else (w_node.metadata or {})
    name = src.get("name", where.rsplit(" ", 1)[-1])
    name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    if has_control(name):  # printed by deploy --show-placement (an outsider's faked lines)
        raise NeuroqError(f"{where}: its name holds control characters: {printable(name)}")
    return Layer(name, w.astype(np.int8), weight_scale, params, spiking)


def _check_choice(value: str, enum: Any, where: str) -> str:
    choices = [e.value for e in enum]
    if value not in choices:
        raise NeuroqError(f"{where}: {value!r} is not one of {', '.join(choices)}")
    return value


def _layer_summary(layer: Layer) -> dict[str, Any]:
    return {"name": layer.name, "n_in": layer.n_in, "n_out": layer.n_out,
            "weight_scale": float(layer.weight_scale), "spiking": layer.spiking,
            "reset": layer.params.reset.value, "threshold_compare": layer.params.compare.value}


def profile_file(profile: str) -> str:
    """File name of an extra NIR profile graph in the artifact folder."""
    return f"network.{profile}.nir"


def _write_graph(out: Path, graph: Any, tmps: dict[str, str], name: str) -> str:
    """Write `graph` to a temporary file in `out`, listed in `tmps` under `name`; return its
    SHA-256. The graph is made in memory and written as bytes: HDF5 writing a file itself met
    a full disk with a RuntimeError traceback at close, and a file-size limit with a
    segmentation fault (an outsider)."""
    import nir

    buf = io.BytesIO()
    nir.write(buf, graph)
    data = buf.getvalue()
    fd, tmps[name] = tempfile.mkstemp(suffix=".nir.tmp", dir=out)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def _neuron_summary(network: SpikingQNetwork) -> dict[str, Any]:
    hidden = network.layers[:-1]
    return {
        "threshold_compare": (hidden[0].params.compare.value if hidden
                              else network.layers[0].params.compare.value),
        "reset": hidden[0].params.reset.value if hidden else None,
        "nir_dt": NIR_DT,
        "nir_dt_unit": "one chip time step",
        "nir_layout": NIR_LAYOUT,
        "projection_delay_steps": 1,
        "projection_delay_in_nir": "nir.Delay(1) before every Affine",
        "threshold_in_nir": "v_threshold = nextafter_f32(threshold, -inf) where the "
                            "comparison is '>=' (NIR fires on v > v_threshold)",
        "not_expressed_in_nir": list(profile_info(network, "neuroq").not_expressed),
        "weights": "int8 in weight units, stored as integer-valued float32 in Affine",
    }


def save_artifact(out_dir: str | os.PathLike, network: SpikingQNetwork, encoder: Encoder,
                  manifest: dict[str, Any], nir_profiles: tuple[str, ...] = ()) -> Path:
    """Write `network.nir.h5` and `manifest.json` into `out_dir`; return the manifest path.

    `manifest` provides env_id, observation_space, action_space and provenance (the runs the
    network came from) and may add more keys; the network-derived keys (format, timesteps,
    encoder, layers, q_scale, neuron semantics, weights hash) are filled in here.
    `nir_profiles` (deploy/nir_profiles.py PROFILES other than "neuroq", which is
    network.nir.h5 itself) adds `network.<profile>.nir` for that reader, listed under
    `nir_profiles` in the manifest with its SHA-256, reader settings and what its standard
    fields do not say. Files are written to temporary names and renamed, so a failure
    leaves nothing half-written.
    """
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise NeuroqError(f"artifact manifest lacks {', '.join(missing)}")
    if encoder.n_inputs != network.n_inputs:
        raise NeuroqError(f"encoder gives {encoder.n_inputs} inputs, the network takes "
                          f"{network.n_inputs}")
    unknown = [p for p in nir_profiles if p not in PROFILES]
    if unknown:
        raise NeuroqError(f"unknown NIR profile {unknown[0]!r} (choose from "
                          f"{', '.join(PROFILES)})")
    extra = [p for p in dict.fromkeys(nir_profiles) if p != "neuroq"]
    out = Path(out_dir)
    created = not out.exists()
    tmps: dict[str, str] = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        digest = _write_graph(out, network_to_nir(network), tmps, WEIGHTS_FILE)
        profiles: dict[str, Any] = {}
        for prof in extra:
            prof_digest = _write_graph(out, profile_graph(network, prof), tmps,
                                       profile_file(prof))
            info = profile_info(network, prof)
            profiles[prof] = {"file": profile_file(prof), "sha256": prof_digest, "dt": info.dt,
                              "dt_unit": info.dt_unit, "reader": info.reader,
                              "readout": info.readout,
                              "not_expressed": list(info.not_expressed)}
        full = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            **manifest,
            "timesteps": int(network.timesteps),
            "encoder": encoder.to_dict(),
            "n_inputs": network.n_inputs,
            "n_actions": network.n_actions,
            "q_scale": float(network.q_scale),
            "neuron": _neuron_summary(network),
            "layers": [_layer_summary(layer) for layer in network.layers],
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": digest,
            **({"nir_profiles": profiles} if profiles else {}),
        }
        try:
            text = manifest_text(plain(full))
        except (TypeError, ValueError) as exc:
            _remove_partial(tmps, out, created)
            raise NeuroqError(f"artifact manifest is not plain JSON: {exc}") from None
        fd, tmps[MANIFEST_FILE] = tempfile.mkstemp(suffix=".json.tmp", dir=out)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        for tmp in tmps.values():  # mkstemp makes 0600; the robot may run as another user
            os.chmod(tmp, ARTIFACT_FILE_MODE)
        for name, tmp in tmps.items():  # the manifest last: it vouches for the others
            os.replace(tmp, out / name)
    except OSError as exc:
        _remove_partial(tmps, out, created)
        raise NeuroqError(f"cannot write the artifact to {out}: "
                          f"{exc.strerror or exc}") from None
    return out / MANIFEST_FILE


def _remove_partial(tmps: dict[str, str], out: Path, created: bool) -> None:
    """Remove what a failed `save_artifact` wrote: its temporary files, and `out` where it
    made it and it is empty."""
    for tmp in tmps.values():
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    if created:
        with contextlib.suppress(OSError):
            out.rmdir()


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 (hex) of `manifest` without MANIFEST_HASH_KEY, as canonical JSON (keys
    sorted, no spaces; the same for the written manifest and the one read back).
    ValueError for NaN or infinity, TypeError for what JSON cannot hold."""
    rest = {k: v for k, v in manifest.items() if k != MANIFEST_HASH_KEY}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def manifest_text(manifest: dict[str, Any]) -> str:
    """The manifest.json text of `manifest` (numpy values made plain), with its
    MANIFEST_HASH_KEY."""
    rest = json.loads(json.dumps(plain(manifest), allow_nan=False))  # as it is read back
    rest.pop(MANIFEST_HASH_KEY, None)
    return json.dumps({**rest, MANIFEST_HASH_KEY: manifest_digest(rest)}, indent=2) + "\n"


def write_manifest(folder: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Write `manifest` as `folder`/manifest.json with a fresh MANIFEST_HASH_KEY: for a tool
    that changes a manifest on purpose (export writes its own). Returns the path."""
    path = Path(folder) / MANIFEST_FILE
    text = manifest_text(manifest)
    fd, tmp = tempfile.mkstemp(suffix=".json.tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:  # written whole, then renamed: never half a manifest
        f.write(text)
    os.chmod(tmp, ARTIFACT_FILE_MODE)
    os.replace(tmp, path)
    return path


def gate_warning(manifest: dict[str, Any]) -> str | None:
    """A line for an artifact whose export gate failed (exported with --force) or was not
    played (--gate-episodes 0, a forced re-export), None for one that passed it and for a
    network that was never exported (no gate in its manifest): `neuroq eval` and the nodes
    that run it say so (an outsider's artifact at 55 % of its DQN ran in the policy node and
    eval without a word; only `neuroq show` said it)."""
    gate = manifest.get("gate")
    if not isinstance(gate, dict):
        return None
    if gate.get("passed") is True:
        return few_gate_episodes(gate)
    if gate.get("passed") is not False:  # skipped: --gate-episodes 0, or a forced re-export
        how = "with --force" if gate.get("forced") else "with --gate-episodes 0"
        return (f"this artifact was exported {how}, its export gate not played: how it "
                "plays against the network it was made from was never checked")
    try:
        figures = (f": SNN {float(gate['snn']['mean']):.1f}, "
                   f"{100 * float(gate['fraction']):.1f} % of the "
                   f"{gate.get('teacher', 'float DQN')}'s {float(gate['float_dqn']['mean']):.1f}"
                   f" (gate {100 * float(gate['threshold']):.0f} %)")
    except (KeyError, TypeError, ValueError):
        figures = ""
    return (f"this artifact failed its export gate{figures} and was exported with --force: "
            "it plays worse than the network it was made from")


def few_gate_episodes(gate: dict[str, Any]) -> str | None:
    """For a gate passed on fewer than MIN_INTERVAL_EPISODES episodes: its verdict rests on
    too few (an outsider's 1-episode gate passed with a zero-width interval, and nothing
    after told it from a 100-episode one). None otherwise, and where the count is not
    recorded."""
    from neuroq.deploy.stats import MIN_INTERVAL_EPISODES

    snn, seeds = gate.get("snn"), gate.get("seeds")
    n = snn.get("n") if isinstance(snn, dict) else None
    if (n is None and isinstance(seeds, list) and len(seeds) == 2
            and all(isinstance(x, int) for x in seeds)):  # the count's key removed: the
        n = seeds[1] - seeds[0] + 1  # seed span says it too (a recheck's way around)
    if not isinstance(n, int) or isinstance(n, bool) or n >= MIN_INTERVAL_EPISODES:
        return None
    return (f"this artifact's export gate was played on {n} episode{'s' if n != 1 else ''} "
            f"only (fewer than {MIN_INTERVAL_EPISODES}): its pass and its interval say little;"
            " export it again with more --gate-episodes (default 100)")


def hash_warning(manifest: dict[str, Any]) -> str | None:
    """A line for a manifest without MANIFEST_HASH_KEY (an export writes one; manifests
    exported before 2026-11-27 have none), None otherwise: an edit to it cannot be told, so
    the commands and nodes that read it say so (an outsider deleted the key's line and then
    edited an encoder bound and the safe command: read without a word, 145.65 against 500)."""
    if manifest.get("format") != FORMAT_NAME or MANIFEST_HASH_KEY in manifest:
        return None
    return (f"its {MANIFEST_FILE} carries no {MANIFEST_HASH_KEY} (exported before 2026-11-27, "
            "or the key was removed): a change made to it after export cannot be detected; "
            "export it again from its finetune run")


def artifact_warnings(manifest: dict[str, Any]) -> list[str]:
    """The lines every command and node that runs an artifact says of it: `hash_warning`,
    `gate_warning`."""
    return [line for line in (hash_warning(manifest), gate_warning(manifest)) if line]


def say_artifact_warnings(manifest: dict[str, Any], who: str) -> None:
    """Print `artifact_warnings` on stderr, each as "<who>: warning: ..." (the commands
    that run an artifact: eval, deploy, robustness, energy)."""
    import sys

    for line in artifact_warnings(manifest):
        print(f"{who}: warning: {line}", file=sys.stderr)


def manifest_changed(manifest: dict[str, Any]) -> bool:
    """Whether `manifest` holds a MANIFEST_HASH_KEY that its content does not match (a key
    that holds no hash, `null` included, matches nothing)."""
    if MANIFEST_HASH_KEY not in manifest:
        return False
    recorded = manifest[MANIFEST_HASH_KEY]
    try:
        return manifest_digest(manifest) != recorded
    except (TypeError, ValueError):  # NaN or infinity: not what export wrote
        return True


def tampering(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """What an artifact that loads refuses, for a tool that shows it anyway (`neuroq
    show`): a manifest changed after export, weights that do not match their hash."""
    problems = []
    if manifest_changed(manifest):
        problems.append(f"{_CHANGED.format(path=folder / MANIFEST_FILE)}: eval, deploy and "
                        "the nodes refuse it")
    wpath = folder / WEIGHTS_FILE
    if wpath.is_file() and sha256_file(wpath) != manifest.get("weights_sha256"):
        problems.append(f"{wpath} does not match the manifest's weights_sha256: eval, "
                        "deploy and the nodes refuse it")
    return problems


def plain(obj: Any) -> Any:
    """`obj` with numpy values and arrays as Python ones, tuples as lists and keys as str
    (what JSON and YAML writers take)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
"""The first 8 bytes of an HDF5 file (NIR graphs are HDF5). Source: the HDF5 File Format
Specification, "Format Signature"."""


NIR_SUFFIXES = (".nir", ".h5", ".hdf5")
"""File names NIR graphs go by (the NIR documentation writes `.nir`; they are HDF5)."""


def looks_like_nir(path: Path) -> bool:
    """Whether a file is named as a NIR graph or starts with the HDF5 signature."""
    if path.suffix.lower() in NIR_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def _bare_name(given: Any) -> bool:
    """Whether a path as given is a bare name (`cartpole`, as interfaces are named: no
    folder separator but a trailing one, no suffix), which may name a shipped artifact."""
    text = os.fspath(given).rstrip("/" + os.sep)
    return bool(text) and "/" not in text and os.sep not in text and not Path(text).suffix


def _shipped_by_name(given: Any, p: Path, what: str) -> Path:
    """The shipped artifact that `given` (a path `p` that does not exist) names, when it is
    a bare name; else NeuroqError saying it does not exist (and which names are shipped,
    for a name)."""
    from neuroq.deploy.paths import shipped_data

    if not _bare_name(given):  # a path, not a name; a shipped one's path in a checkout?
        hint = ""
        if p.parent.name == "artifacts" and p.name:
            try:  # `config/artifacts/nav` from a checkout's docs, after a pip install
                hint = (f" (the shipped artifact {p.name!r} is "
                        f"{shipped_data().artifact(p.name)}: name it {p.name})")
            except NeuroqError:
                pass
        raise NeuroqError(f"{what} {p} does not exist{hint}")
    try:
        return shipped_data().artifact(p.name)
    except NeuroqError as exc:  # names what is shipped
        raise NeuroqError(f"{what} {p} does not exist, and {exc}") from None


def _shipped_hint(given: Any) -> str:
    """For a bare name that is a folder here but also a shipped artifact's name: how to
    name the shipped one (the folder here comes first)."""
    from neuroq.deploy.paths import shipped_data

    if not _bare_name(given):
        return ""
    try:
        shipped = shipped_data().artifact(Path(given).name)
    except NeuroqError:
        return ""
    return f"; the shipped artifact of that name is {shipped}"


def _stage_hint(folder: Path) -> str:
    """For a run folder of an earlier stage (its config.yaml: `stage`, a train run's none):
    which stages still make an artifact of it ('is not an artifact' alone left an outsider
    with a train run to guess)."""
    import yaml

    from neuroq.deploy.errors import load_yaml

    config = folder / "config.yaml"
    try:
        doc = load_yaml(read_text_file(config, "run config")) if config.is_file() else None
    except (OSError, ValueError, NeuroqError, yaml.YAMLError):
        return ""
    if not isinstance(doc, dict):
        return ""
    stages = ("train", "convert", "finetune", "export")
    stage = doc.get("stage", "train" if "hyperparameters" in doc else None)
    if stage not in stages[:-1]:
        return ""
    later = stages[stages.index(stage) + 1:]
    named = " and ".join([", ".join(later[:-1]), later[-1]] if len(later) > 1 else later)
    verb = "make" if len(later) > 1 else "makes"
    return (f"; it is a {stage} run: {named} {verb} an artifact of it (next: neuroq "
            f"{later[0]} {shlex.quote(str(folder))})")


def read_manifest(path: str | os.PathLike, what: str = "artifact", verify: bool = True,
                  partial: bool = False) -> tuple[Path, dict[str, Any]]:
    """(folder, manifest) of an artifact folder or its manifest.json (or a shipped artifact
    by its name, `cartpole`, where no such path exists), the manifest's format, required
    keys and, with `verify`, its own hash (MANIFEST_HASH_KEY) checked; the weights are
    neither read nor checked (load_artifact does that). For a node that needs only what the
    manifest says (the actuator: the robot interface). what: how the path was given, for
    the messages ("artifact", "--artifact"). verify False: for `neuroq show`, which shows
    an edited manifest (and says so). partial: read a folder still being written
    (PARTIAL_SUFFIX: the export's own gate does), else refused."""
    p = given_path(path, what)
    if not p.exists():
        p = _shipped_by_name(path, p, what)
    if p.is_file() and p.name != MANIFEST_FILE:
        hint = ("; a NIR graph from another tool becomes an artifact with `neuroq import "
                f"{shlex.quote(str(p))} --env ENV --encoder FILE`") if looks_like_nir(p) else ""
        raise NeuroqError(f"{what} {p} is a file, not an artifact folder (a folder holding "
                          f"{MANIFEST_FILE} and {WEIGHTS_FILE}){hint}")
    folder = p.parent if p.name == MANIFEST_FILE else p
    if folder.name.endswith(PARTIAL_SUFFIX) and not partial:  # an export stopped in its gate
        raise NeuroqError(f"{folder} is an artifact its export was still writing (stopped "
                          "before it passed its gate): not an artifact; export it again")
    mpath = folder / MANIFEST_FILE
    if mpath.exists() and not mpath.is_file():  # a folder or a FIFO was "has no manifest.json"
        raise NeuroqError(f"{mpath} is not a regular file: the artifact {folder} is damaged")
    if not mpath.is_file():
        # a run folder holding its artifact (an export run's artifact/): name it
        inner = sorted(str(m.parent) for m in folder.glob(f"*/{MANIFEST_FILE}")
                       if not m.parent.name.endswith(PARTIAL_SUFFIX))
        # a convert or finetune run holds a network/ that plays, but not its artifact: the
        # stages left come first (a recheck was sent to play a convert run's network/)
        hint = (_stage_hint(folder) or (f"; did you mean {' or '.join(inner)}?" if inner
                                        else _shipped_hint(path)))
        raise NeuroqError(f"{folder} is not an artifact: it has no {MANIFEST_FILE}{hint}")
    text = read_text_file(mpath, "artifact manifest")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NeuroqError(f"{mpath} is not valid JSON: {exc}") from None
    except RecursionError:  # 100,000 nested brackets: a traceback (an outsider)
        raise NeuroqError(f"{mpath} is not a manifest: its JSON is nested too deeply") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise NeuroqError(f"{mpath} is not a {FORMAT_NAME} manifest")
    if verify and manifest_changed(manifest):
        raise NeuroqError(f"{_CHANGED.format(path=mpath)}: export it again from its "
                          "finetune run; a change made on purpose needs a new hash "
                          "(neuroq.deploy.artifact.write_manifest)")
    if manifest.get("format_version") not in READ_FORMAT_VERSIONS:
        raise NeuroqError(f"{mpath}: format version {manifest.get('format_version')!r} is not "
                          f"supported (this neuroq reads versions "
                          f"{', '.join(map(str, READ_FORMAT_VERSIONS))})")
    for key in (*REQUIRED_KEYS, "timesteps", "encoder", "layers", "weights_sha256"):
        if key not in manifest:
            raise NeuroqError(f"{mpath} lacks the key {key!r}")
    return folder, manifest


def load_artifact(path: str | os.PathLike, what: str = "artifact",
                  partial: bool = False) -> Artifact:
    """Load an artifact from its folder or its manifest.json; check the weights' SHA-256.
    what: how the path was given, for the messages ("artifact", "--artifact"). partial: as
    in `read_manifest`."""

    folder, manifest = read_manifest(path, what, partial=partial)
    mpath = folder / MANIFEST_FILE
    wpath = folder / WEIGHTS_FILE
    if not wpath.is_file():
        raise NeuroqError(f"artifact {folder} has no {WEIGHTS_FILE}")
    data = read_capped_bytes(wpath, "weights file")
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest["weights_sha256"]:
        raise NeuroqError(
            f"{wpath} does not match its manifest (SHA-256 {digest[:12]}..., manifest says "
            f"{str(manifest['weights_sha256'])[:12]}...): the file is corrupted or was "
            "changed; export the artifact again")
    try:  # the bytes just hashed, not the file again (h5py reads a file object): an
        # outsider rewriting an artifact during loads had 6 of 5000 load a manifest with the
        # other version's weights; checked first (deploy/nir_file.py: a file from anyone)
        graph = read_graph_bytes(data, str(wpath))
    except NeuroqError:
        raise
    except Exception as exc:  # noqa: BLE001 - nir/h5py raise many types on malformed files
        raise NeuroqError(f"{wpath} is not a readable NIR graph: {exc}") from None
    timesteps = manifest["timesteps"]
    if not _is_count(timesteps):
        raise NeuroqError(f"{mpath}: timesteps must be a positive integer, got {timesteps!r}")
    network = network_from_nir(graph, timesteps, str(wpath))
    _check_profile_files(folder, manifest, str(mpath))
    try:
        encoder = encoder_from_dict(manifest["encoder"])
    except NeuroqError as exc:
        raise NeuroqError(f"{mpath}: encoder: {exc}") from None
    check_manifest(manifest, network, encoder, str(mpath))
    return Artifact(network, encoder, manifest, folder, str(path))


def read_profile_graph(folder: Path, manifest: dict[str, Any], profile: str) -> Any:
    """The NIR graph of the artifact's `profile` file, read as the weights file is: its
    SHA-256 against the manifest's `nir_profiles` entry, then the checked bytes parsed
    (`neuroq.deploy.nir_file`; a review found profiles read with plain nir.read, unchecked
    and unhashed). NeuroqError for a profile the manifest does not list, or a mismatch."""
    entry = (manifest.get("nir_profiles") or {}).get(profile)
    path = folder / profile_file(profile)
    if not isinstance(entry, dict):
        raise NeuroqError(f"{folder}'s manifest lists no {profile} profile ({path.name})")
    data = read_capped_bytes(path, f"{profile} profile")
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise NeuroqError(f"{path} does not match its manifest (SHA-256): the file is "
                          "corrupted or was changed; export the artifact again")
    return read_graph_bytes(data, str(path))


def _check_profile_files(folder: Path, manifest: dict[str, Any], where: str) -> None:
    """Every extra NIR profile the manifest lists exists and matches its SHA-256."""
    profiles = manifest.get("nir_profiles", {})
    if not isinstance(profiles, dict):
        raise NeuroqError(f"{where}: nir_profiles must be a mapping of profile -> file")
    for name, entry in profiles.items():
        if name not in PROFILES or not isinstance(entry, dict) \
                or entry.get("file") != profile_file(name):
            raise NeuroqError(f"{where}: nir_profiles.{name} is not a profile this neuroq "
                              "writes")
        path = folder / entry["file"]
        if not path.is_file():
            raise NeuroqError(f"artifact {folder} has no {entry['file']} (listed in "
                              "nir_profiles)")
        if sha256_file(path) != entry.get("sha256"):
            raise NeuroqError(f"{path} does not match its manifest (SHA-256): the file is "
                              "corrupted or was changed; export the artifact again")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_manifest(manifest: dict[str, Any], network: SpikingQNetwork, encoder: Encoder,
                   where: str = "manifest") -> None:
    """Every field of a manifest checked against the network and encoder it describes; a
    NeuroqError names the first field that is missing, malformed or disagrees."""

    def fail(field: str, problem: str) -> None:
        raise NeuroqError(f"{where}: {field} {problem}")

    env_id = manifest.get("env_id")
    if not isinstance(env_id, str) or not env_id.strip():
        fail("env_id", f"must be a non-empty string, got {env_id!r}")
    if has_control(env_id):  # escape sequences printed raw by show (an outsider)
        fail("env_id", f"holds control characters: {printable(env_id)}")
    if not isinstance(manifest.get("provenance"), dict):
        fail("provenance", "must be a mapping of the runs the network came from")
    for field, want in (("n_inputs", network.n_inputs), ("n_actions", network.n_actions)):
        got = manifest.get(field)
        if not _is_count(got):
            fail(field, f"must be a positive integer, got {got!r}")
        if got != want:
            fail(field, f"is {got} but the network has {want}")
    obs = manifest.get("observation_space")
    if not isinstance(obs, dict) or obs.get("type", "Box") != "Box":
        fail("observation_space", f"must be a mapping describing a Box, got {obs!r}")
    shape = obs.get("shape")
    if not (isinstance(shape, list) and len(shape) == 1 and _is_count(shape[0])):
        fail("observation_space.shape", f"must be [n_obs], got {shape!r}")
    if shape[0] != encoder.n_obs:
        fail("observation_space.shape", f"is {shape} but the {encoder.kind} encoder takes "
             f"{encoder.n_obs} observation values")
    act = manifest.get("action_space")
    if not isinstance(act, dict) or act.get("type", "Discrete") != "Discrete":
        fail("action_space", f"must be a mapping describing a Discrete space, got {act!r}")
    if act.get("n") != network.n_actions:
        fail("action_space.n", f"is {act.get('n')!r} but the network has {network.n_actions} "
             "actions")
    if encoder.n_inputs != network.n_inputs:
        fail("encoder", f"gives {encoder.n_inputs} inputs, the network takes "
             f"{network.n_inputs}")
    if [_layer_summary(layer) for layer in network.layers] != manifest.get("layers"):
        fail("layers", f"(the layer table) disagrees with {WEIGHTS_FILE}")
    if manifest.get("q_scale") != float(network.q_scale):
        fail("q_scale", f"disagrees with {WEIGHTS_FILE}")
    if manifest.get("weights_file", WEIGHTS_FILE) != WEIGHTS_FILE:
        fail("weights_file", f"must be {WEIGHTS_FILE!r}")
    neuron = manifest.get("neuron")
    hidden = network.layers[:-1] or network.layers
    if not isinstance(neuron, dict) or neuron.get("threshold_compare") != \
            hidden[0].params.compare.value:
        fail("neuron.threshold_compare", f"disagrees with {WEIGHTS_FILE}")
    if "interface" in manifest:  # the robot interface it was exported with
        from neuroq.deploy.interface import RobotInterface

        try:
            RobotInterface.from_dict(manifest["interface"], "interface").check_artifact(manifest)
        except NeuroqError as exc:
            fail("interface", f"is not usable: {exc}")
