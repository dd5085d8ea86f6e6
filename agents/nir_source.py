"""Read a sequential NIR graph from snnTorch, Norse or any NIR tool, and run it as its source
library does (numpy, float32): the "source semantics" `neuroq import` compares the chip with.

Accepted: a chain Input -> ([Delay] -> Affine | Linear -> IF | LIF | CubaLIF)* ->
[readout: I | LI | IF | LIF | CubaLIF | nothing after the last Affine] -> Output. Any other
node is an error naming it. Edges are followed (nir.read returns nodes sorted by name).

Discrete-time reading, per step, for layer k (every library runs the chain within one
step, delay-free, unless the graph has a Delay node before every projection):

    x_k[t] = W_k s_{k-1}[t] + b_k          (s_{k-1}[t-1] where a one-step Delay precedes)
    v_k[t] = alpha_k v_k[t-1] + gain_k x_k[t]
    s_k[t] = v_k[t] > v_threshold_k;  then v -= v_threshold (subtract) or v = v_reset (zero)

snnTorch's Leaky resets by subtraction one step late by default (reset_delay=True):
`v[t] = beta v[t-1] + x[t] - thr s[t-1]`, so the subtracted threshold is not decayed; the
chip subtracts at once (the same for beta = 1). The readout's membrane after T steps is the
output (its threshold and reset are dropped).
alpha and gain per node and source convention (dt: the step the source integrated with):

- IF, I: alpha = 1, gain = r (Norse's export: gain 1, its IAFCell ignores r).
- LIF, LI: forward Euler, alpha = 1 - dt/tau, gain = r dt/tau (snnTorch: dt = 1e-4 s;
  standard NIR: the dt given). Norse's export: k = dt^2/tau, alpha = 1 - k, gain = r k.
- CubaLIF: as LIF with tau_mem, gain times w_in; only with tau_syn <= dt (one step).

Norse 1.1.0's exporter writes tau = dt / tau_mem_inv = dt x tau (docs/nir.md), hence
k = dt^2 / tau. snnTorch writes tau = dt/(1-beta), r = tau/dt (beta = 1: tau = r = inf).
A CubaLIF whose synaptic time constant exceeds one step has a second state variable the
chip's neuron (lif_no_delay) does not have: refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroq.deploy.artifact import meta_text, node_chain
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.neuron import RESET_BY_NAME
from neuroq.deploy.nir_profiles import PRODUCER, SUBTRACT_NOTE, UNDRAWN_DELAY_PROFILES

CONVENTIONS = ("auto", "snntorch", "norse", "nir")
#: snnTorch 1.0.0 exports and imports LIF/CubaLIF with dt = 1e-4 s (snntorch/export_nir.py).
SNNTORCH_DT = 1e-4
#: Norse's `to_nir` default dt (norse/torch/utils/export_nir.py), seconds.
NORSE_DT = 1e-3
RESETS = tuple(RESET_BY_NAME)
#: Relative tolerance when matching a tau/r ratio or a one-step delay to dt.
DT_RTOL = 1e-3
#: NIR node types that spike (a SourceLayer's node_type)
SPIKING_NODE_TYPES = ("IF", "LIF", "CubaLIF")
#: a readout threshold this high never fires (neuroq's profiles draw the readout so)
FLOAT32_MAX = float(np.finfo(np.float32).max)
ACCEPTED = "Affine/Linear with IF, LIF, LI, I or CubaLIF (and one-step Delay nodes)"


@dataclass(frozen=True)
class SourceLayer:
    """One projection and the neurons it feeds, in source units (float32 arrays, (n,))."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    alpha: np.ndarray
    gain: np.ndarray
    threshold: np.ndarray
    v_reset: np.ndarray
    spiking: bool
    node_type: str


@dataclass(frozen=True)
class SourceNetwork:
    """The source network: layers (the last one is the readout), how it resets, whether
    every projection has a one-step Delay, and how it was read."""

    layers: tuple[SourceLayer, ...]
    reset: str
    delays: bool
    convention: str
    dt: float
    #: Q-values per unit of the readout's membrane (a neuroq export states it, `q_scale`)
    q_scale: float = 1.0
    #: reset by subtraction one step late, as snnTorch's Leaky does by default
    reset_delay: bool = False

    @property
    def n_inputs(self) -> int:
        return int(self.layers[0].weight.shape[1])

    @property
    def n_actions(self) -> int:
        return int(self.layers[-1].weight.shape[0])


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, np.float64).reshape(-1)


def _is_snntorch(nodes: list[Any]) -> bool:
    """snnTorch's signature: tau / r == 1e-4 on every LIF-type node (tau = r = inf: beta 1)."""
    import nir

    found = False
    for n in nodes:
        if isinstance(n, (nir.LIF, nir.LI, nir.CubaLIF)):
            tau = _arr(n.tau_mem if isinstance(n, nir.CubaLIF) else n.tau)
            r = _arr(n.r)
            both_inf = np.isinf(tau) & np.isinf(r)
            with np.errstate(invalid="ignore", divide="ignore"):
                ok = both_inf | np.isclose(tau / r, SNNTORCH_DT, rtol=DT_RTOL, atol=0)
            if not np.all(ok):
                return False
            found = True
    return found


def _is_norse(nodes: list[Any], dt: float) -> bool:
    """Norse's export: r = 1 everywhere and taus below dt (tau written as dt x tau)."""
    import nir

    found = False
    for n in nodes:
        if isinstance(n, (nir.LIF, nir.LI, nir.CubaLIF)):
            tau = _arr(n.tau_mem if isinstance(n, nir.CubaLIF) else n.tau)
            if not (np.all(_arr(n.r) == 1.0) and np.all(tau < dt)):
                return False
            found = True
    return found


def metadata_dt(graph: Any, where: str) -> float | None:
    """The graph metadata's `dt` (seconds), None where it has none; NeuroqError for one that
    is not a positive number (a dt of 0 made every layer's input gain 0: an outsider's
    network imported dead, with agreement 1.0 against the equally dead source reading)."""
    meta_dt = (graph.metadata or {}).get("dt")
    if meta_dt is None:
        return None
    try:
        value = float(np.asarray(meta_dt, dtype=np.float64).reshape(()))
        shown = f"{value:g}"
    except (TypeError, ValueError):  # not one number (text, several values)
        value, shown = float("nan"), repr(meta_dt)
    if not (math.isfinite(value) and value > 0):
        raise NeuroqError(f"{where}: its metadata's dt = {shown} is not a positive number "
                          "of seconds (pass --dt to say what it is)")
    return value


def _unused_dt(dt: float) -> str:
    """The note for a --dt that a snnTorch reading does not use."""
    return f"--dt {dt:g} is not used: snnTorch's export fixes its step at {SNNTORCH_DT:g} s"


def detect_convention(graph: Any, dt: float | None, where: str) -> tuple[str, float, list[str]]:
    """(convention, dt, notes) for a graph whose convention is not given."""
    import nir

    nodes = list(graph.nodes.values())
    meta_dt = metadata_dt(graph, where) if dt is None else None  # --dt: the graph's unread
    if not any(isinstance(n, (nir.LIF, nir.LI, nir.CubaLIF)) for n in nodes):
        return "nir", float(dt or meta_dt or 1.0), []
    if _is_snntorch(nodes):
        # r = 1 with tau = 1e-4 s on every node fits Norse's export too (snnTorch's reading:
        # beta 0 everywhere); an outsider's Norse network at dt 1e-3 with tau_mem_inv 10 was
        # read as snnTorch's, its --dt dropped without a word: 516 of 1000 actions as Norse's
        if not _is_norse(nodes, dt or NORSE_DT):
            return "snntorch", SNNTORCH_DT, [
                "read as snnTorch's export (tau/r = 1e-4 s on every LIF node)"
                + (f"; {_unused_dt(dt)}" if dt is not None else "")]
        meta = graph.metadata or {}
        profile = meta_text(meta, "profile") if meta_text(meta, "producer") == PRODUCER \
            else ""
        if dt is None and profile in ("snntorch", "norse"):  # a neuroq export says which
            return (profile, SNNTORCH_DT if profile == "snntorch" else meta_dt or NORSE_DT,
                    [f"read as {profile}'s export, as its metadata (a neuroq export) says"])
        if dt is None:
            raise NeuroqError(
                f"{where}: its LIF nodes fit both snnTorch's export (tau/r = 1e-4 s: beta 0 "
                "on every node) and Norse's (r = 1, tau below dt): pass --source snntorch, or "
                "--source norse with --dt <the source's time step>")
        return "norse", dt, [
            f"read as Norse's export (r = 1, tau written as dt x tau) with dt = {dt} s, as "
            "--dt was given; its LIF nodes fit snnTorch's export too (beta 0 on every node): "
            "--source snntorch reads it so"]
    if dt is None and meta_dt is not None:
        return "nir", meta_dt, [f"read with the graph's dt = {meta_dt}"]
    norse_dt = dt or NORSE_DT
    if _is_norse(nodes, norse_dt):
        return "norse", norse_dt, [
            f"read as Norse's export (r = 1, tau written as dt x tau) with dt = {norse_dt} s"
            + ("" if dt else " (Norse's default; pass --dt if the source used another)")]
    if dt is not None:
        return "nir", float(dt), []
    raise NeuroqError(f"{where}: cannot tell how its taus are meant (not snnTorch's tau/r = "
                      "1e-4, not Norse's r = 1, no dt in the graph metadata): pass --source "
                      "snntorch|norse|nir and --dt")


def _decay_gain(node: Any, conv: str, dt: float, where: str) -> tuple[np.ndarray, np.ndarray]:
    import nir

    if isinstance(node, (nir.IF, nir.I)):
        r = _arr(node.r)
        return np.ones_like(r), (np.ones_like(r) if conv == "norse" else r)
    cuba = isinstance(node, nir.CubaLIF)
    tau, r = _arr(node.tau_mem if cuba else node.tau), _arr(node.r)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = dt * dt / tau if conv == "norse" else dt / tau
        gain = np.where(np.isinf(tau) & np.isinf(r), 1.0, r * k)
    k = np.where(np.isinf(tau), 0.0, k)
    # tau = dt is no memory (snnTorch's beta 0); float32 taus put dt/tau a hair above 1
    k = np.where(np.isclose(k, 1.0, rtol=DT_RTOL, atol=0), 1.0, k)
    if np.any(np.isinf(tau) & np.isfinite(r)):
        raise NeuroqError(f"{where}: tau = inf with a finite r: its input gain r dt/tau is 0, "
                          "so it never integrates its input (a neuron without leak is an IF "
                          "node, or tau = r = inf, as snnTorch writes beta = 1)")
    if cuba:
        k_syn = dt * dt / _arr(node.tau_syn) if conv == "norse" else dt / _arr(node.tau_syn)
        if not np.allclose(k_syn, 1.0, rtol=DT_RTOL):
            raise NeuroqError(
                f"{where}: CubaLIF with tau_syn of {float(np.max(1 / k_syn)):.3g} steps: a "
                "synaptic current that outlasts one step is a second state variable the "
                "chip's neuron (lif_no_delay) does not have; only tau_syn <= dt imports")
        gain = gain * _arr(node.w_in)
    if np.any(k > 1.0) or np.any(k < 0) or not np.all(np.isfinite(gain)):
        raise NeuroqError(f"{where}: dt/tau = {float(np.max(k)):.3g} per step under the {conv} "
                          f"convention (dt = {dt}): not a decay; check --source and --dt")
    return (1.0 - k), gain


def read_source(graph: Any, convention: str = "auto", dt: float | None = None,
                reset: str | None = None, where: str = "NIR graph"
                ) -> tuple[SourceNetwork, list[str]]:
    """The source network of `graph` and the notes (warnings) on what reading it assumed."""
    import nir

    if convention not in CONVENTIONS:
        raise NeuroqError(f"unknown source {convention!r} (choose from {', '.join(CONVENTIONS)})")
    if reset is not None and reset not in RESETS:
        raise NeuroqError(f"unknown reset {reset!r} (choose from {', '.join(RESETS)})")
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise NeuroqError(f"--dt must be a positive number of seconds, got {dt}")
    notes: list[str] = []
    if convention == "auto":
        convention, dt, notes = detect_convention(graph, dt, where)
    elif convention == "snntorch":
        if dt is not None:  # said as detection says it (a recheck: only there)
            notes.append(_unused_dt(dt))
        dt = SNNTORCH_DT
    elif convention == "norse":
        dt = dt or NORSE_DT
    else:
        dt = dt or metadata_dt(graph, where)
        if dt is None and any(isinstance(n, (nir.LIF, nir.LI, nir.CubaLIF))
                              for n in graph.nodes.values()):
            # a dt of 1 was taken silently: taus in seconds read as steps (an outsider)
            raise NeuroqError(f"{where}: --source nir: its LIF/LI time constants need the "
                              "time step, and neither --dt nor the graph's metadata gives "
                              "it: pass --dt (in the taus' unit, seconds by NIR's "
                              "convention)")
        dt = float(dt or 1.0)  # no time constant: dt only scales Delay nodes' check
    chain = node_chain(graph, where)[1:-1]
    layers: list[SourceLayer] = []
    delays: list[bool] = []
    i = 0
    while i < len(chain):
        name, node = chain[i]
        delayed = isinstance(node, nir.Delay)
        if delayed:
            if not np.allclose(_arr(node.delay), dt, rtol=DT_RTOL):
                raise NeuroqError(f"{where}: Delay node {name!r} delays by "
                                  f"{_arr(node.delay).max():g}, not one step (dt = {dt}); "
                                  "neuroq imports one-step delays only")
            i += 1
            if i >= len(chain):
                raise NeuroqError(f"{where}: Delay node {name!r} is not followed by an Affine")
            name, node = chain[i]
        if not isinstance(node, (nir.Affine, nir.Linear)):
            raise NeuroqError(f"{where}: node {name!r} is a {type(node).__name__}; neuroq "
                              f"imports sequential graphs of {ACCEPTED}")
        w = np.asarray(node.weight, np.float64)
        if w.ndim != 2:
            raise NeuroqError(f"{where}: {type(node).__name__} {name!r} has a weight of shape "
                              f"{w.shape}; a fully connected layer has (n_out, n_in)")
        bias = np.zeros(w.shape[0]) if getattr(node, "bias", None) is None else _arr(node.bias)
        for what, values in (("weight", w), ("bias", bias)):
            if not np.all(np.isfinite(values)):  # was read as a threshold's (an outsider)
                raise NeuroqError(f"{where}: {type(node).__name__} {name!r} has NaN or "
                                  f"infinite values in its {what}")
        nxt_name, nxt = chain[i + 1] if i + 1 < len(chain) else (None, None)
        if nxt is None or isinstance(nxt, (nir.Affine, nir.Linear, nir.Delay)):
            if nxt is not None:
                raise NeuroqError(f"{where}: {name!r} is followed by {type(nxt).__name__} "
                                  f"{nxt_name!r}; every projection needs neurons after it")
            n = w.shape[0]
            layers.append(SourceLayer(name, w.astype(np.float32), bias.astype(np.float32),
                                      np.ones(n, np.float32), np.ones(n, np.float32),
                                      np.zeros(n, np.float32), np.zeros(n, np.float32),
                                      False, "Affine"))
            notes.append(f"the graph ends in {type(node).__name__} {name!r}: its outputs are "
                         "summed over the T steps (an integrator readout)")
            delays.append(delayed)
            i += 1
            continue
        if not isinstance(nxt, (nir.IF, nir.LIF, nir.I, nir.LI, nir.CubaLIF)):
            raise NeuroqError(f"{where}: node {nxt_name!r} is a {type(nxt).__name__}; neuroq "
                              f"imports sequential graphs of {ACCEPTED}")
        lw = f"{where}: node {nxt_name!r}"
        alpha, gain = _decay_gain(nxt, convention, dt, lw)
        spiking = isinstance(nxt, (nir.IF, nir.LIF, nir.CubaLIF))  # SPIKING_NODE_TYPES
        n = w.shape[0]
        thr = _arr(nxt.v_threshold) if spiking else np.zeros(n)
        v_reset = _arr(nxt.v_reset) if spiking and nxt.v_reset is not None else np.zeros(n)
        if getattr(nxt, "v_leak", None) is not None and np.any(_arr(nxt.v_leak)):
            raise NeuroqError(f"{lw}: v_leak != 0 has no counterpart on the chip")
        for what, values in (("v_threshold", thr), ("v_reset", v_reset)):
            if not np.all(np.isfinite(values)):  # was an unnamed "neuron parameter threshold
                # has non-finite values" (an outsider)
                raise NeuroqError(f"{lw}: {type(nxt).__name__} has NaN or infinite values in "
                                  f"its {what}")
        shapes = {a.size for a in (thr, alpha, gain, v_reset, bias)}
        if shapes - {1, n}:
            raise NeuroqError(f"{lw}: its parameters do not match the {n} outputs of "
                              f"{name!r}")
        layers.append(SourceLayer(nxt_name, w.astype(np.float32), _vec(bias, n), _vec(alpha, n),
                                  _vec(gain, n), _vec(thr, n), _vec(v_reset, n), spiking,
                                  type(nxt).__name__))
        delays.append(delayed)
        i += 2
    if not layers:
        raise NeuroqError(f"{where}: no Affine/Linear layer between Input and Output")
    for prev, layer in zip(layers, layers[1:], strict=False):
        if layer.weight.shape[1] != prev.weight.shape[0]:
            raise NeuroqError(f"{where}: {layer.name!r} takes {layer.weight.shape[1]} inputs "
                              f"but {prev.name!r} has {prev.weight.shape[0]} outputs")
    if any(delays) and not all(delays):
        raise NeuroqError(f"{where}: some projections have a Delay node and some do not; "
                          "neuroq imports either one-step delays everywhere or none")
    last = layers[-1]
    if last.spiking and float(last.threshold.min()) < FLOAT32_MAX:  # one that can fire (at
        # float32 max, as neuroq's profiles draw it, it never does: nothing to say)
        notes.append(f"readout {last.name!r} is a spiking {last.node_type} (v_threshold "
                     f"{float(last.threshold.min()):g}): its membrane after T steps is read as "
                     "the Q-values and its threshold and reset are dropped"
                     + (" (snnTorch exports a non-spiking Leaky readout this way)"
                        if convention == "snntorch" else "")
                     + "; if the source's readout does spike and reset, its Q-values are not "
                     "these, and the agreement below (measured against this reading) does not "
                     "show it")
    if last.spiking:
        layers[-1] = SourceLayer(last.name, last.weight, last.bias, last.alpha, last.gain,
                                 last.threshold, last.v_reset, False, last.node_type)
    for layer in layers[:-1]:
        if not layer.spiking:
            raise NeuroqError(f"{where}: {layer.node_type} node {layer.name!r} is not the "
                              "readout; hidden layers must spike (IF, LIF or CubaLIF)")
        if np.any(layer.threshold <= 0):
            raise NeuroqError(f"{where}: node {layer.name!r} has a threshold <= 0")
    own = _neuroq_export(graph, where)
    if own is not None and reset is None:  # what a neuroq export's metadata says
        reset = own[1]
        how = "by subtraction" if reset == "subtract" else "to v_reset"
        notes.append(f"read as neuroq's own export (graph metadata): Q = readout membrane x "
                     f"q_scale {own[0]:.6g}, reset {how}")
    if reset is None:
        if convention == "snntorch":
            reset = "subtract"
            notes.append("snnTorch's export does not record reset_mechanism: assuming its "
                         "default 'subtract' with reset_delay=True for every layer (pass "
                         "--reset zero for reset_mechanism='zero'; one mode for all layers: "
                         "a network mixing them is imported as one of them); the chip "
                         "subtracts in the step of the spike, which is the same only where "
                         "beta = 1")
        else:
            reset = "zero"
    norse_if = [la.name for la in layers[:-1] if la.node_type == "IF"]
    if reset == "subtract" and convention == "norse" and own is None and norse_if:
        # an outsider's IAFCell beside a LIFBoxCell(reset_subtract): read as subtracting,
        # 92 % of actions as Norse's, no word
        raise NeuroqError(f"{where}: --reset subtract, but node {norse_if[0]!r} is an IF "
                          "node from Norse (IAFCell), which resets to 0 whatever the reset "
                          "method, and neuroq imports one reset for every layer: pass --reset "
                          "zero if every layer resets to 0, or make that layer a LIFBoxCell "
                          "with reset_subtract and export again")
    if reset == "zero" and any(np.any(la.v_reset) for la in layers[:-1]) \
            and convention == "norse":
        notes.append("Norse resets to 0 whatever v_reset says; using the graph's v_reset")
    # the spinnaker2 profile draws no Delay nodes (s2_nir adds the chip's one-step delays
    # itself); read delay-free it was T + L steps and 53 % of actions (an outsider)
    delayed = bool(delays and all(delays)) or (
        own is not None
        and meta_text(graph.metadata or {}, "profile") in UNDRAWN_DELAY_PROFILES)
    return SourceNetwork(tuple(layers), reset, delayed, convention,
                         float(dt), own[0] if own is not None else 1.0,
                         reset == "subtract" and convention == "snntorch" and own is None
                         ), notes


def _neuroq_export(graph: Any, where: str) -> tuple[float, str] | None:
    """(q_scale, reset) of a graph neuroq exported (its metadata names the producer), None
    for any other. A re-import read the snnTorch profile's Q-values 1/q_scale too large and
    as resetting by subtraction where the network reset to v_reset (an outsider)."""
    meta = graph.metadata or {}
    if meta_text(meta, "producer") != PRODUCER:
        return None
    try:
        q_scale = float(np.asarray(meta.get("q_scale"), np.float64).reshape(()))
    except (TypeError, ValueError):
        q_scale = float("nan")
    if not (math.isfinite(q_scale) and q_scale > 0):
        raise NeuroqError(f"{where}: a neuroq export whose metadata q_scale "
                          f"{meta.get('q_scale')!r} is not a positive number")
    gaps = meta_text(meta, "not_expressed")
    return q_scale, "subtract" if SUBTRACT_NOTE in gaps else "zero"


def _vec(x: np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, np.float32), (n,)).copy()


def run_source(net: SourceNetwork, spikes: np.ndarray) -> np.ndarray:
    """Q-values (batch, n_actions): the readout membrane after T steps of `spikes` (T,
    batch, n_in), in the source's semantics (module docstring), times its q_scale; float32."""
    return run_source_traced(net, spikes)[0]


def run_source_traced(net: SourceNetwork, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`run_source`'s Q-values and, per sample (batch,), whether the readout's membrane rose
    above the readout's own threshold at any step: a spiking readout read as a membrane
    (`read_source`'s note) that the source would have spiked and reset there. All False for
    a readout with no finite threshold (LI, I)."""
    s_in = np.asarray(spikes).astype(np.float32)
    batch = s_in.shape[1]
    v = [np.zeros((batch, la.weight.shape[0]), np.float32) for la in net.layers]
    prev = [np.zeros((batch, la.weight.shape[1]), np.float32) for la in net.layers]
    delayed = net.reset_delay
    last = [np.zeros((batch, la.weight.shape[0]), np.float32) for la in net.layers]
    # a readout the graph has as a spiking node (read as a membrane: `read_source`), or none
    readout_thr = (net.layers[-1].threshold if net.layers[-1].node_type in SPIKING_NODE_TYPES
                   else np.full(net.layers[-1].weight.shape[0], np.inf, np.float32))
    crossed = np.zeros(batch, bool)
    for t in range(s_in.shape[0]):
        s = s_in[t]
        for k, la in enumerate(net.layers):
            src = prev[k] if net.delays else s
            prev[k] = s
            x = src @ la.weight.T + la.bias
            v[k] = la.alpha * v[k] + la.gain * x
            if not la.spiking:
                crossed |= np.any(v[k] > readout_thr, axis=1)  # the readout (only it)
                continue
            if delayed:  # snnTorch's Leaky default: the last step's spikes subtract now
                v[k] = v[k] - la.threshold * last[k]
            s = (v[k] > la.threshold).astype(np.float32)
            last[k] = s
            if delayed:
                continue
            if net.reset == "subtract":
                v[k] = v[k] - la.threshold * s
            else:
                v[k] = np.where(s > 0, la.v_reset, v[k])
    q = v[-1] if net.q_scale == 1.0 else v[-1] * np.float32(net.q_scale)
    return q, crossed
