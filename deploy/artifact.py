"""The deploy artifact: an NIR graph of the spiking Q-network plus a JSON manifest.

A folder with two files:

    network.nir.h5   the network as an NIR graph (HDF5, written and read by the `nir` package)
    manifest.json    everything else the robot needs, and the SHA-256 of network.nir.h5

Loading needs numpy, h5py and nir only: no torch, and no pickle anywhere (`nir.read` walks
HDF5 groups and datasets with h5py, which stores numbers and strings natively and never
unpickles). The weights file is hashed before it is parsed; a mismatch is refused.

NIR mapping (discrete chip update -> NIR's continuous-time nodes)
-----------------------------------------------------------------
The chip updates, per step (deploy/neuron.py):  v <- alpha * v + i_offset + W s.
NIR nodes are continuous-time; we state the integration step explicitly as `dt` = 1 time
unit = one chip time step (`NIR_DT`, stored in the graph metadata and the manifest; the wall
time of one step is the chip's sys_tick, a run-time setting outside the network). A spike is
a unit impulse, so it moves v by R * w regardless of dt. With forward Euler:

- Projection into layer k: `Affine(weight=W_k, bias=i_offset_k)`. W_k holds the int8 weights
  in weight units, stored as float32 with exactly integer values (every NIR reader takes
  float weights); the reader checks they are integers in [-128, 127]. The layer's
  `weight_scale` (ANN float units per weight unit) is node metadata and in the manifest.
- Spiking layer with alpha = 1 (integrate-and-fire): `IF(r=1, v_threshold=threshold,
  v_reset=v_reset)`;  dv/dt = R (W s + b)  integrates in one step to  v += W s + b.
- Spiking layer with alpha < 1: `LIF(tau = dt / (1 - alpha), r = tau / dt, v_leak = 0,
  v_threshold, v_reset)`;  forward Euler  v += dt/tau (-v + R I)  =  alpha v + W s + b.
  (py-spinnaker2's importer with IntegratorMethod.FORWARD and scale_weights=False maps
  these back to exactly alpha_decay, threshold and i_offset.)
- Non-spiking output layer: `I(r=1)` (alpha = 1) or `LI(tau, r = tau / dt, v_leak = 0)`.
  Q = v_out * q_scale; `q_scale` is graph metadata and in the manifest.
- What NIR cannot express is metadata on the neuron node and in the manifest: the exact
  float32 `alpha_decay` (the tau round trip is not bit-exact), the threshold comparison
  (NIR writes `v > v_thr`; ours is a parameter, default `>=`) and the reset mode (NIR resets
  to v_reset; the chip default is reset by subtraction).
- Every projection has one step of delay (the chip's), not drawn as nir.Delay nodes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.deploy.encoders import Encoder, encoder_from_dict
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import Layer, SpikingQNetwork
from neuroq.deploy.neuron import NeuronParams, make_params

FORMAT_NAME = "neuroq-artifact"
FORMAT_VERSION = 1
WEIGHTS_FILE = "network.nir.h5"
MANIFEST_FILE = "manifest.json"
#: NIR integration step in time units; one unit is one chip time step (see module docstring).
NIR_DT = 1.0
INT8_MIN, INT8_MAX = -128, 127
#: Permissions of the written files (read for everyone, write for the owner).
ARTIFACT_FILE_MODE = 0o644
#: Keys the caller's manifest must provide (the rest is filled in from network and encoder).
REQUIRED_KEYS = ("env_id", "observation_space", "action_space", "provenance")


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact: the network, its encoder, the manifest and the folder it came from."""

    network: SpikingQNetwork
    encoder: Encoder
    manifest: dict[str, Any]
    path: Path


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _neuron_node(layer: Layer) -> Any:
    import nir

    p = layer.params
    n = layer.n_out
    alpha = p.alpha_decay.astype(np.float64)
    meta = {"alpha_decay": p.alpha_decay.copy(), "weight_scale": float(layer.weight_scale),
            "spiking": int(layer.spiking), "reset": p.reset.value, "compare": p.compare.value}
    ones = np.ones(n, np.float32)
    if np.all(alpha == 1.0):
        if layer.spiking:
            return nir.IF(r=ones, v_threshold=p.threshold.copy(), v_reset=p.v_reset.copy(),
                          metadata=meta)
        return nir.I(r=ones, metadata={**meta, **_unused(p)})
    if np.any(alpha == 1.0):
        raise NeuroqError(
            f"layer {layer.name} mixes alpha_decay = 1 with alpha_decay < 1: NIR needs one "
            "node type per layer")
    tau = (NIR_DT / (1.0 - alpha)).astype(np.float32)
    r = (tau / NIR_DT).astype(np.float32)
    zeros = np.zeros(n, np.float32)
    if layer.spiking:
        return nir.LIF(tau=tau, r=r, v_leak=zeros, v_threshold=p.threshold.copy(),
                       v_reset=p.v_reset.copy(), metadata=meta)
    return nir.LI(tau=tau, r=r, v_leak=zeros, metadata={**meta, **_unused(p)})


def _unused(p: NeuronParams) -> dict[str, np.ndarray]:
    """Threshold and v_reset of a non-spiking layer: unused, kept so arrays round-trip."""
    return {"threshold": p.threshold.copy(), "v_reset": p.v_reset.copy()}


def network_to_nir(network: SpikingQNetwork) -> Any:
    """The NIR graph of `network`: input -> (L<k>.w Affine -> L<k> neuron)* -> output."""
    import nir

    nodes: dict[str, Any] = {"input": nir.Input(np.array([network.n_inputs]))}
    edges: list[tuple[str, str]] = []
    prev = "input"
    for k, layer in enumerate(network.layers):
        w_name, n_name = f"layer{k}.w", f"layer{k}"
        nodes[w_name] = nir.Affine(weight=layer.weight.astype(np.float32),
                                   bias=layer.params.i_offset.copy(),
                                   metadata={"name": layer.name})
        nodes[n_name] = _neuron_node(layer)
        edges += [(prev, w_name), (w_name, n_name)]
        prev = n_name
    nodes["output"] = nir.Output(np.array([network.n_actions]))
    edges.append((prev, "output"))
    meta = {"producer": FORMAT_NAME, "dt": NIR_DT, "timesteps": int(network.timesteps),
            "q_scale": float(network.q_scale), "projection_delay_steps": 1}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _meta_str(meta: dict[str, Any], key: str, where: str) -> str:
    v = meta.get(key)
    if isinstance(v, bytes):
        v = v.decode()
    if not isinstance(v, str):
        raise NeuroqError(f"{where}: metadata {key!r} is missing")
    return v


def network_from_nir(graph: Any, timesteps: int, where: str = "NIR graph") -> SpikingQNetwork:
    """Rebuild a `SpikingQNetwork` from a graph written by `network_to_nir`."""
    import nir

    nodes, nxt = graph.nodes, {}
    for a, b in graph.edges:
        if a in nxt:
            raise NeuroqError(f"{where}: node {a} has more than one successor (not a chain)")
        nxt[a] = b
    if not isinstance(nodes.get("input"), nir.Input):
        raise NeuroqError(f"{where}: no Input node named 'input'")
    layers, name = [], nxt.get("input")
    while name is not None and name in nodes and not isinstance(nodes[name], nir.Output):
        w_node, n_name = nodes[name], nxt.get(name)
        if not isinstance(w_node, nir.Affine) or n_name not in nodes:
            raise NeuroqError(f"{where}: expected an Affine node followed by neurons at {name}")
        layers.append(_layer_from_nodes(w_node, nodes[n_name], f"{where}: {n_name}"))
        name = nxt.get(n_name)
    if name is None or not isinstance(nodes.get(name), nir.Output):
        raise NeuroqError(f"{where}: the chain from 'input' does not end in an Output node")
    q_scale = float(np.asarray(graph.metadata.get("q_scale", np.nan)))
    if not np.isfinite(q_scale):
        raise NeuroqError(f"{where}: graph metadata has no finite q_scale")
    return SpikingQNetwork(tuple(layers), int(timesteps), q_scale)


def _layer_from_nodes(w_node: Any, n_node: Any, where: str) -> Layer:
    import nir

    w = np.asarray(w_node.weight, dtype=np.float64)
    if (w.ndim != 2 or not np.all(np.isfinite(w)) or np.any(w != np.round(w))
            or w.min(initial=0) < INT8_MIN or w.max(initial=0) > INT8_MAX):
        raise NeuroqError(f"{where}: weights must be integers in [{INT8_MIN}, {INT8_MAX}]")
    meta = n_node.metadata or {}
    if "alpha_decay" not in meta or "weight_scale" not in meta:
        raise NeuroqError(f"{where}: neuron metadata lacks alpha_decay or weight_scale")
    alpha = np.asarray(meta["alpha_decay"], dtype=np.float32)
    spiking = isinstance(n_node, (nir.IF, nir.LIF))
    if not spiking and not isinstance(n_node, (nir.I, nir.LI)):
        raise NeuroqError(f"{where}: unsupported neuron node {type(n_node).__name__}")
    if isinstance(n_node, (nir.LIF, nir.LI)):
        implied = 1.0 - NIR_DT / np.asarray(n_node.tau, np.float64)
        if not np.allclose(implied, alpha, rtol=0, atol=1e-5):
            raise NeuroqError(f"{where}: tau does not match the alpha_decay in its metadata")
    elif np.any(alpha != 1.0):
        raise NeuroqError(f"{where}: an IF/I node must have alpha_decay = 1")
    n = w.shape[0]
    src = n_node if spiking else None
    threshold = np.asarray(src.v_threshold if src else meta.get("threshold", 1.0), np.float32)
    v_reset = np.asarray(src.v_reset if src else meta.get("v_reset", 0.0), np.float32)
    params: NeuronParams = make_params(
        n, threshold=threshold, alpha_decay=alpha,
        i_offset=np.asarray(w_node.bias, np.float32), v_reset=v_reset,
        reset=_meta_str(meta, "reset", where), compare=_meta_str(meta, "compare", where))
    name = (w_node.metadata or {}).get("name", where.rsplit(" ", 1)[-1])
    return Layer(str(name), w.astype(np.int8), float(np.asarray(meta["weight_scale"])),
                 params, spiking)


def _layer_summary(layer: Layer) -> dict[str, Any]:
    return {"name": layer.name, "n_in": layer.n_in, "n_out": layer.n_out,
            "weight_scale": float(layer.weight_scale), "spiking": layer.spiking,
            "reset": layer.params.reset.value, "threshold_compare": layer.params.compare.value}


def save_artifact(out_dir: str | os.PathLike, network: SpikingQNetwork, encoder: Encoder,
                  manifest: dict[str, Any]) -> Path:
    """Write `network.nir.h5` and `manifest.json` into `out_dir`; return the manifest path.

    `manifest` provides env_id, observation_space, action_space and provenance (the runs the
    network came from) and may add more keys; the network-derived keys (format, timesteps,
    encoder, layers, q_scale, neuron semantics, weights hash) are filled in here. Files are
    written to temporary names and renamed, so a failure leaves nothing half-written.
    """
    import nir

    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise NeuroqError(f"artifact manifest lacks {', '.join(missing)}")
    if encoder.n_inputs != network.n_inputs:
        raise NeuroqError(f"encoder gives {encoder.n_inputs} inputs, the network takes "
                          f"{network.n_inputs}")
    out = Path(out_dir)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, tmp_h5 = tempfile.mkstemp(suffix=".h5.tmp", dir=out)
        os.close(fd)
        nir.write(tmp_h5, network_to_nir(network))
        digest = sha256_file(tmp_h5)
        hidden = network.layers[:-1]
        full = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            **manifest,
            "timesteps": int(network.timesteps),
            "encoder": encoder.to_dict(),
            "n_inputs": network.n_inputs,
            "n_actions": network.n_actions,
            "q_scale": float(network.q_scale),
            "neuron": {
                "threshold_compare": (hidden[0].params.compare.value if hidden
                                      else network.layers[0].params.compare.value),
                "reset": hidden[0].params.reset.value if hidden else None,
                "nir_dt": NIR_DT,
                "nir_dt_unit": "one chip time step",
                "projection_delay_steps": 1,
                "weights": "int8 in weight units, stored as integer-valued float32 in Affine",
            },
            "layers": [_layer_summary(layer) for layer in network.layers],
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": digest,
        }
        try:
            text = json.dumps(_plain(full), indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            os.unlink(tmp_h5)
            if created:
                out.rmdir()
            raise NeuroqError(f"artifact manifest is not plain JSON: {exc}") from None
        fd, tmp_json = tempfile.mkstemp(suffix=".json.tmp", dir=out)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        for tmp in (tmp_h5, tmp_json):  # mkstemp makes 0600; the robot may run as another user
            os.chmod(tmp, ARTIFACT_FILE_MODE)
        os.replace(tmp_h5, out / WEIGHTS_FILE)
        os.replace(tmp_json, out / MANIFEST_FILE)
    except OSError as exc:
        raise NeuroqError(f"cannot write the artifact to {out}: {exc}") from None
    return out / MANIFEST_FILE


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def read_manifest(path: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """(folder, manifest) of an artifact folder or its manifest.json, the manifest's format
    and required keys checked; the weights are neither read nor checked (load_artifact
    does that). For a node that needs only what the manifest says (the actuator: the robot
    interface)."""
    p = Path(path)
    folder = p.parent if p.name == MANIFEST_FILE else p
    mpath = folder / MANIFEST_FILE
    if not mpath.is_file():
        raise NeuroqError(f"{folder} is not an artifact: it has no {MANIFEST_FILE}")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NeuroqError(f"{mpath} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise NeuroqError(f"{mpath} is not a {FORMAT_NAME} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise NeuroqError(f"{mpath}: format version {manifest.get('format_version')} is not "
                          f"supported (this neuroq reads version {FORMAT_VERSION})")
    for key in (*REQUIRED_KEYS, "timesteps", "encoder", "layers", "weights_sha256"):
        if key not in manifest:
            raise NeuroqError(f"{mpath} lacks the key {key!r}")
    return folder, manifest


def load_artifact(path: str | os.PathLike) -> Artifact:
    """Load an artifact from its folder or its manifest.json; check the weights' SHA-256."""
    import nir

    folder, manifest = read_manifest(path)
    mpath = folder / MANIFEST_FILE
    wpath = folder / WEIGHTS_FILE
    if not wpath.is_file():
        raise NeuroqError(f"artifact {folder} has no {WEIGHTS_FILE}")
    digest = sha256_file(wpath)
    if digest != manifest["weights_sha256"]:
        raise NeuroqError(
            f"{wpath} does not match its manifest (SHA-256 {digest[:12]}..., manifest says "
            f"{str(manifest['weights_sha256'])[:12]}...): the file is corrupted or was "
            "changed; export the artifact again")
    try:
        graph = nir.read(wpath)
    except Exception as exc:  # noqa: BLE001 - nir/h5py raise many types on malformed files
        raise NeuroqError(f"{wpath} is not a readable NIR graph: {exc}") from None
    timesteps = manifest["timesteps"]
    if not isinstance(timesteps, int) or timesteps != int(graph.metadata.get("timesteps", -1)):
        raise NeuroqError(f"{mpath}: timesteps {timesteps!r} disagrees with the NIR graph")
    network = network_from_nir(graph, timesteps, str(wpath))
    try:
        encoder = encoder_from_dict(manifest["encoder"])
    except NeuroqError as exc:
        raise NeuroqError(f"{mpath}: encoder: {exc}") from None
    check_manifest(manifest, network, encoder, str(mpath))
    return Artifact(network, encoder, manifest, folder)


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
