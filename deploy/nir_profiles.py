"""NIR graphs of a spiking Q-network whose standard fields say what the chip computes.

One function per NIR "profile": the form a reader imports. Every profile follows the NIR
definitions read in discrete time the way snnTorch, Norse and py-spinnaker2 all read them:
per step of `dt`, a projection delivers `x = W s + b` (spikes s are 0/1), an `IF` node does
`v += r x`, an `LIF` node does forward Euler `v += dt/tau ((v_leak - v) + r x)`, a spike is
`v > v_threshold`, after a spike `v = v_reset`; `nir.Delay(d)` outputs its input of `d`
earlier. What each profile writes (docs/nir.md has the measurements):

- neuroq (the artifact's network.nir.h5, read back by `deploy/artifact.py`), dt = 1 (one
  chip step): per projection `Delay(1)` -> `Affine(W, i_offset)` -> `IF(r=1)` or
  `LIF(tau = 1/(1-alpha), r = tau)`, readout `I(r=1)` / `LI` (non-spiking: its output is
  its membrane, the Q-values times q_scale). Node metadata keeps what NIR cannot say exactly
  (float32 alpha_decay, weight_scale, reset mode, comparison, layer name).
- spinnaker2 (py-spinnaker2's s2_nir: `ConversionConfig(dt=1.0, conn_delay=0,
  integrator=FORWARD, reset=..., scale_weights=False, output_record=["v"])`, from
  `s2_nir_reader`): as neuroq without Delay nodes (s2_nir refuses them and adds its own
  `conn_delay` per projection: 0, the chip's one-step transit as we read the field)
  and with the readout as an IF/LIF whose threshold (float32 max) is never reached
  (s2_nir refuses I and LI).
- snntorch (`snntorch.import_nir.import_from_nir`, whose LIF mapping hard-codes dt = 1e-4 s): dt =
  1e-4, `LIF(tau = dt/(1-alpha), r = tau/dt)` (beta = 1 - dt/tau = alpha, unit input
  gain); alpha = 1 as tau = 1e20 (beta rounds to exactly 1.0; snnTorch's IF mapping is a
  fixed beta = 0.9); one threshold per layer (rows scaled by 1/threshold where a layer's
  thresholds differ); readout LIF at float32 max; `Delay(1e-4)`.
- norse (`norse.torch.from_nir(graph, dt=1.0, reset_method=...)`), dt = 1: `IF` where
  every spiking layer is integrate-and-fire with reset to 0 (Norse's IAFCell: exact, no
  dt); otherwise `CubaLIF(tau_syn = 1, tau_mem = 1/(1-alpha), r = tau_mem, w_in = 1)`, the
  one Norse node that honours r and a reset method (tau_syn = dt passes the input through;
  alpha = 1 as tau_mem = 2^66, exact in float32). Readout of the same type at float32 max.

Common to all:
- The comparison: NIR fires on `v > v_threshold`; for the chip's `>=` the graph carries
  `v_threshold = nextafter_f32(threshold, -inf)`, so `v > v_threshold` iff `v >= threshold`
  for every float32 v (exact).
- Reset by subtraction has no NIR field (IF/LIF/CubaLIF reset to v_reset). It is stated in
  the graph metadata (`not_expressed`) and printed by `neuroq export`; `neuroq convert
  --reset zero` trains networks whose standard fields are the whole truth.
- Q-values: the readout's membrane after `timesteps` steps, times `q_scale` (graph metadata).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import Layer, SpikingQNetwork
from neuroq.deploy.neuron import Compare, NeuronParams, Reset

PROFILES = ("neuroq", "snntorch", "norse", "spinnaker2")
#: Version of the graph layout written here (1: no Delay nodes, exact thresholds).
NIR_LAYOUT = 2
PRODUCER = "neuroq"
UNDRAWN_DELAY_PROFILES = ("spinnaker2",)
"""Profiles that draw no Delay nodes: their reader adds the chip's one-step delay per
projection itself (s2_nir's conn_delay); a re-import reads them with it."""
SUBTRACT_NOTE = "reset by subtracting the threshold"
"""Words of `not_expressed` (graph metadata) for layers that reset by subtraction: a
re-import reads the reset from them."""
#: A readout threshold no float32 membrane exceeds: the node never spikes.
F32_MAX = np.float32(np.finfo(np.float32).max)
#: dt of the neuroq, spinnaker2 and norse profiles: one time unit = one chip time step.
CHIP_DT = 1.0
#: snnTorch 1.0.0's LIF/CubaLIF importer fixes dt = 1e-4 s (snntorch/import_nir.py).
SNNTORCH_DT = 1e-4
#: tau for alpha = 1 in the snnTorch profile: beta = 1 - 1e-4 / 1e20 is exactly 1.0 in float32.
SNNTORCH_ALPHA_ONE_TAU = 1e20
#: tau_mem for alpha = 1 in the Norse profile (dt = 1): a power of two, so Norse's
#: v + 2^-66 ((0 - v) + 2^66 x) is v + x exactly for all but vanishing x.
NORSE_ALPHA_ONE_TAU = 2.0 ** 66


@dataclass(frozen=True)
class ProfileInfo:
    """How a reader loads a profile, and what its standard fields do not say.

    reader: the call that imports it, with the settings it needs.
    readout: where the Q-values are.
    not_expressed: per layer, what a reader following the NIR definitions gets wrong for
        this network (empty: the standard fields are the whole truth).
    """

    profile: str
    dt: float
    dt_unit: str
    reader: str
    readout: str
    not_expressed: tuple[str, ...]


def nir_threshold(p: NeuronParams) -> np.ndarray:
    """v_threshold for NIR's `v > v_threshold` that fires exactly when the chip does."""
    thr = p.threshold.astype(np.float32)
    if p.compare is Compare.GE:
        return np.nextafter(thr, np.float32(-np.inf)).astype(np.float32)
    return thr.copy()


def chip_threshold(v_threshold: np.ndarray, compare: Compare) -> np.ndarray:
    """Inverse of `nir_threshold` (exact for every float32)."""
    v = np.asarray(v_threshold, np.float32)
    if compare is Compare.GE:
        return np.nextafter(v, np.float32(np.inf)).astype(np.float32)
    return v.copy()


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise NeuroqError(f"unknown NIR profile {profile!r} (choose from {', '.join(PROFILES)})")


def _alpha(layer: Layer) -> np.ndarray:
    a = layer.params.alpha_decay.astype(np.float64)
    if np.any(a == 1.0) and not np.all(a == 1.0):
        raise NeuroqError(
            f"layer {layer.name} mixes alpha_decay = 1 with alpha_decay < 1: NIR needs one "
            "node type per layer")
    # alpha 0 (no memory: snnTorch's beta 0) is tau = dt under forward Euler, which every
    # profile states; it was refused as "tau = 0" after a whole import had run (a recheck)
    return a


def _tau(alpha: np.ndarray, dt: float, alpha_one_tau: float) -> np.ndarray:
    """tau with forward-Euler decay 1 - dt/tau = alpha (alpha_one_tau where alpha = 1)."""
    safe = np.where(alpha == 1.0, 0.5, 1.0 - alpha)
    return np.where(alpha == 1.0, alpha_one_tau, dt / safe).astype(np.float32)


def _neuroq_meta(layer: Layer) -> dict[str, Any]:
    p = layer.params
    return {"name": layer.name, "alpha_decay": p.alpha_decay.copy(),
            "weight_scale": float(layer.weight_scale), "spiking": int(layer.spiking),
            "reset": p.reset.value, "compare": p.compare.value, "threshold": p.threshold.copy(),
            "v_reset": p.v_reset.copy()}


def _euler_node(layer: Layer, dt: float, alpha_one_tau: float, readout_spiking: bool,
                meta: dict[str, Any], v_threshold: np.ndarray | None = None,
                v_reset: np.ndarray | None = None) -> Any:
    """IF/LIF (spiking) or I/LI (readout) node for the chip layer, forward Euler in `dt`.

    alpha_one_tau 0: a layer with alpha = 1 becomes IF (or I); otherwise LIF (LI) with that
    tau. readout_spiking: the readout becomes IF/LIF at threshold float32 max (never fires).
    v_threshold, v_reset: replacements (the snnTorch profile's row scaling)."""
    import nir

    p, n = layer.params, layer.n_out
    alpha = _alpha(layer)
    ones, zeros = np.ones(n, np.float32), np.zeros(n, np.float32)
    spiking = layer.spiking or readout_spiking
    thr = (v_threshold if v_threshold is not None else nir_threshold(p)) if layer.spiking \
        else np.full(n, F32_MAX)
    v_reset = (v_reset if v_reset is not None else p.v_reset.copy()) if layer.spiking else zeros
    if np.all(alpha == 1.0) and alpha_one_tau == 0.0:
        if spiking:
            return nir.IF(r=ones, v_threshold=thr, v_reset=v_reset, metadata=meta)
        return nir.I(r=ones, metadata=meta)
    tau = _tau(alpha, dt, alpha_one_tau or np.inf)
    r = (tau.astype(np.float64) / dt).astype(np.float32)
    if spiking:
        return nir.LIF(tau=tau, r=r, v_leak=zeros, v_threshold=thr, v_reset=v_reset,
                       metadata=meta)
    return nir.LI(tau=tau, r=r, v_leak=zeros, metadata=meta)


def _norse_node(layer: Layer, use_if: bool, meta: dict[str, Any]) -> Any:
    import nir

    p, n = layer.params, layer.n_out
    thr = nir_threshold(p) if layer.spiking else np.full(n, F32_MAX)
    v_reset = p.v_reset.copy() if layer.spiking else np.zeros(n, np.float32)
    if use_if:
        return nir.IF(r=np.ones(n, np.float32), v_threshold=thr, v_reset=v_reset, metadata=meta)
    tau_mem = _tau(_alpha(layer), CHIP_DT, NORSE_ALPHA_ONE_TAU)
    return nir.CubaLIF(tau_syn=np.full(n, CHIP_DT, np.float32), tau_mem=tau_mem, r=tau_mem.copy(),
                       v_leak=np.zeros(n, np.float32), v_threshold=thr, v_reset=v_reset,
                       w_in=np.ones(n, np.float32), metadata=meta)


def _norse_uses_if(network: SpikingQNetwork) -> bool:
    """Norse's IF (IAFCell) is exact for alpha = 1 layers that reset to 0."""
    return all(np.all(layer.params.alpha_decay == 1.0) and (
        not layer.spiking or (layer.params.reset is Reset.TO_V_RESET
                              and not np.any(layer.params.v_reset))) for layer in network.layers)


def _row_scaled(layer: Layer) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """snnTorch takes one threshold per layer: where thresholds differ, scale row i of W,
    the bias and v_reset by 1/threshold_i and use threshold 1 (spikes equal up to float32
    rounding). None where the layer's thresholds are already one value."""
    p = layer.params
    if not layer.spiking or np.unique(p.threshold).size == 1:
        return None
    s = 1.0 / p.threshold.astype(np.float64)
    unit = p._replace(threshold=np.ones(layer.n_out, np.float32))
    return ((layer.weight.astype(np.float64) * s[:, None]).astype(np.float32),
            (p.i_offset * s).astype(np.float32), nir_threshold(unit),
            (p.v_reset * s).astype(np.float32))


def profile_graph(network: SpikingQNetwork, profile: str = "neuroq") -> Any:
    """The NIR graph of `network` in `profile` (module docstring)."""
    import nir

    _check_profile(profile)
    info = profile_info(network, profile)
    nodes: dict[str, Any] = {"input": nir.Input(np.array([network.n_inputs]))}
    edges: list[tuple[str, str]] = []
    prev = "input"
    delay = {"neuroq": CHIP_DT, "snntorch": SNNTORCH_DT, "norse": CHIP_DT}.get(profile)
    norse_if = _norse_uses_if(network)
    for k, layer in enumerate(network.layers):
        d_name, w_name, n_name = f"layer{k}_delay", f"layer{k}_w", f"layer{k}"
        if delay is not None:
            nodes[d_name] = nir.Delay(np.full(layer.n_in, delay, np.float32))
            edges.append((prev, d_name))
            prev = d_name
        weight, bias = layer.weight.astype(np.float32), layer.params.i_offset.copy()
        meta = _neuroq_meta(layer) if profile == "neuroq" else {"name": layer.name}
        if profile == "neuroq":
            node = _euler_node(layer, CHIP_DT, 0.0, False, meta)
        elif profile == "spinnaker2":
            node = _euler_node(layer, CHIP_DT, 0.0, True, meta)
        elif profile == "norse":
            node = _norse_node(layer, norse_if, meta)
        else:
            scaled = _row_scaled(layer)
            thr = v_reset = None
            if scaled is not None:
                weight, bias, thr, v_reset = scaled
            node = _euler_node(layer, SNNTORCH_DT, SNNTORCH_ALPHA_ONE_TAU, True, meta, thr,
                               v_reset)
        nodes[w_name] = nir.Affine(weight=weight, bias=bias, metadata={"name": layer.name})
        nodes[n_name] = node
        edges += [(prev, w_name), (w_name, n_name)]
        prev = n_name
    nodes["output"] = nir.Output(np.array([network.n_actions]))
    edges.append((prev, "output"))
    meta = {"producer": PRODUCER, "profile": profile, "nir_layout": NIR_LAYOUT,
            "dt": info.dt, "dt_unit": info.dt_unit, "timesteps": int(network.timesteps),
            "q_scale": float(network.q_scale), "reader": info.reader, "readout": info.readout,
            "not_expressed": "; ".join(info.not_expressed)}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _named(network: SpikingQNetwork, keep: Any) -> list[str]:
    """The layers `keep(layer)` selects, by their name and the name of their node in the
    graph (`profile_graph`: layer<k>); a warning named "fc0" alone, a name no node of the
    graph has (an outsider)."""
    return [f"{la.name} (node layer{k})" for k, la in enumerate(network.layers) if keep(la)]


def _reset_gap(network: SpikingQNetwork, profile: str) -> list[str]:
    sub = _named(network, lambda la: la.spiking and la.params.reset is Reset.SUBTRACT)
    if not sub:
        return []
    how = {
        "neuroq": "configure the reader for reset by subtraction",
        "spinnaker2": "py-spinnaker2: ConversionConfig(reset=ResetMethod.SUBTRACT)",
        "snntorch": "snnTorch's importer builds Leaky(reset_mechanism='zero'): switch those "
                    "Leaky modules to subtraction without snnTorch's double-reset "
                    "suppression (docs/nir.md, \"Reading the profiles\")",
        "norse": "Norse: from_nir(..., reset_method=norse.torch.functional.reset."
                 "reset_subtract)",
    }[profile]
    return [f"layers {', '.join(sub)} {SUBTRACT_NOTE}, which NIR cannot "
            f"state: a reader following the NIR definitions resets to v_reset = 0 instead; "
            f"{how}"]


def _gaps(network: SpikingQNetwork, profile: str) -> list[str]:
    gaps = _reset_gap(network, profile)
    spiking = [la for la in network.layers if la.spiking]
    nonzero = _named(network, lambda la: la.spiking and la.params.reset is Reset.TO_V_RESET
                     and bool(np.any(la.params.v_reset)))
    if nonzero and profile in ("snntorch", "norse", "spinnaker2"):
        gaps.append(f"layers {', '.join(nonzero)} reset to v_reset != 0, which this reader "
                    "ignores (it resets to 0)")
    if profile == "spinnaker2":
        gaps.append("the one-step delay of every projection is not drawn: s2_nir refuses "
                    "Delay nodes and adds it itself (conn_delay); another reader runs this "
                    "graph delay-free (use network.nir.h5 there)")
    if profile == "norse":
        resets = {la.params.reset for la in spiking}
        if len(resets) > 1:
            gaps.append("layers reset differently; Norse's reset_method is one for the graph")
    if profile == "snntorch":
        rows = _named(network, lambda la: la.spiking
                      and np.unique(la.params.threshold).size > 1)
        if rows:
            gaps.append(f"layers {', '.join(rows)} have per-neuron thresholds, which snnTorch "
                        "cannot import: their rows are scaled by 1/threshold (threshold 1); "
                        "spikes equal up to float32 rounding")
        if any(la.params.reset is Reset.SUBTRACT and la.params.compare is Compare.GE
               for la in spiking):
            gaps.append("snnTorch subtracts v_threshold, one float32 step below the chip's "
                        "threshold: membranes equal up to float32 rounding")
    return gaps


def s2_nir_reader(network: SpikingQNetwork) -> str:
    """How py-spinnaker2's s2_nir must read the spinnaker2 profile of `network`: every
    ConversionConfig field whose default is not the chip's computation, set (its defaults
    are conn_delay 1, integrator EXPONENTIAL, reset SUBTRACT, output_record ['spikes']). The
    projection delay is `neuroq.deploy.spinnaker2.CONNECTION_DELAY`, the value the board
    adapter writes, so the two ways onto the chip agree (a review found the reader leaving
    conn_delay at 1: two steps per projection by our reading of the field)."""
    from neuroq.deploy.spinnaker2 import CONNECTION_DELAY

    resets = {la.params.reset for la in network.layers if la.spiking}
    method = "SUBTRACT" if resets == {Reset.SUBTRACT} else "ZERO"
    return (f"py-spinnaker2 s2_nir: ConversionConfig(dt=1.0, conn_delay={CONNECTION_DELAY}, "
            f"integrator=IntegratorMethod.FORWARD, reset=ResetMethod.{method}, "
            "scale_weights=False, output_record=['v']); conn_delay "
            f"{CONNECTION_DELAY} is the one-step transit of every projection as neuroq reads "
            "the field (docs/chip.md; to confirm on a board)"
            + ("; layers reset differently, and s2_nir's reset is one for the graph"
               if len(resets) > 1 else ""))


def profile_info(network: SpikingQNetwork, profile: str) -> ProfileInfo:
    """How `profile`'s graph of `network` is read, and what it cannot say."""
    _check_profile(profile)
    t, q = network.timesteps, network.q_scale
    readout = (f"Q-values = membrane potential of the last neuron node (layer"
               f"{len(network.layers) - 1}) after {t} steps x q_scale {q:.9g}")
    step = "one chip time step"
    if profile == "neuroq":
        return ProfileInfo(profile, CHIP_DT, step,
                           "neuroq.deploy.artifact.load_artifact (or any NIR reader, dt = 1, "
                           "forward Euler, nir.Delay honoured)",
                           readout + " (the readout is NIR's non-spiking I/LI: its output "
                           "is its membrane)", tuple(_gaps(network, profile)))
    if profile == "spinnaker2":
        return ProfileInfo(profile, CHIP_DT, step, s2_nir_reader(network),
                           readout + " (a spiking node at threshold float32 max: it never "
                           "fires; record its voltage)", tuple(_gaps(network, profile)))
    if profile == "snntorch":
        return ProfileInfo(profile, SNNTORCH_DT, "seconds (snnTorch's fixed dt)",
                           "snntorch.import_nir.import_from_nir node map plus a one-step "
                           "module for nir.Delay (snnTorch has none; "
                           "neuroq.agents.nir_peers); one call per time step",
                           readout + " (a Leaky at threshold float32 max: read its .mem)",
                           tuple(_gaps(network, profile)))
    kind = "IF" if _norse_uses_if(network) else "CubaLIF"
    return ProfileInfo(profile, CHIP_DT, step,
                       f"norse.torch.from_nir(graph, dt=1.0) ({kind} nodes) plus a one-step "
                       "module for nir.Delay (Norse has none; neuroq.agents.nir_peers)",
                       readout + f" (a {kind} at threshold float32 max: read its membrane "
                       "from the returned state)", tuple(_gaps(network, profile)))
