"""A spiking Q-network as the chip runs it, and the reference model that runs it.

`SpikingQNetwork` is a chain of fully connected layers: an input spike source (the
encoder's output), hidden spiking layers, and one non-spiking output layer whose membrane
potential after `timesteps` steps, times `q_scale`, is the Q-value of each action.

Timing (docs/chip.md, "Update rule"): the input source emits spikes in steps 0..T-1;
spikes emitted in step t reach the next layer in step t+1. With L weight layers, an input
spike of step t reaches the output in step t+L, so only input steps 0..T-1-L influence the
Q-values read after step T-1; T must exceed L.

`run_reference` is the plain, readable implementation of `neuroq.deploy.neuron` over the whole
network: the definition the emulator and the torch training model are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.neuron import NeuronParams, li_step, lif_step, synaptic_input

#: Most steps per action a network takes: 1 s of chip time per action at SpiNNaker2's 1 ms
#: tick (docs/chip.md), far beyond any control loop; the emulator's episodes already take
#: minutes here at such T, and an outsider's T = 100000 ran on without a word.
MAX_TIMESTEPS = 1024
MAX_TIMESTEPS_REASON = f"at most {MAX_TIMESTEPS} (1 s of chip time per action)"
"""How messages state the bound."""


PARAM_ARRAYS = ("threshold", "alpha_decay", "i_offset", "v_reset")
"""The per-neuron arrays of `NeuronParams`."""


def _read_only(a: np.ndarray) -> np.ndarray:
    """A copy of `a` that cannot be written nor made writeable: an array over an immutable
    bytes object (a read-only view of a writeable array changed with it, a review; an array
    owning its data could be made writeable again with setflags, a recheck). `a` itself
    where it is such an array already."""
    if isinstance(a.base, bytes):
        return a
    return np.frombuffer(np.ascontiguousarray(a).tobytes(), dtype=a.dtype).reshape(a.shape)


@dataclass(frozen=True)
class Layer:
    """One population and the projection into it.

    weight: int8 (n_out, n_in), weight units.
    weight_scale: float units (the ANN's) per weight unit; informational for the chip.
    params: neuron parameters of the n_out neurons (thresholds etc. in weight units).
    spiking: False only for the output layer.
    """

    name: str
    weight: np.ndarray
    weight_scale: float
    params: NeuronParams
    spiking: bool = True

    def __post_init__(self) -> None:
        if self.weight.dtype != np.int8 or self.weight.ndim != 2:
            raise NeuroqError(f"layer {self.name}: weight must be a 2-D int8 array")
        n_out = self.weight.shape[0]
        for field in PARAM_ARRAYS:
            if getattr(self.params, field).shape != (n_out,):
                raise NeuroqError(f"layer {self.name}: {field} must have shape ({n_out},)")
        # a layer is a value: read-only copies of its arrays (an outsider changed a loaded
        # policy's weights in place: the reference backend saw it, the emulator, compiled
        # at load, did not)
        object.__setattr__(self, "weight", _read_only(self.weight))
        object.__setattr__(self, "params", self.params._replace(
            **{f: _read_only(getattr(self.params, f)) for f in PARAM_ARRAYS}))

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])


def check_timesteps(timesteps: int, n_layers: int) -> None:
    """NeuroqError unless T exceeds the network's depth: with `n_layers` projections of one
    step delay each, an input spike of step 0 reaches the readout in step n_layers."""
    if timesteps <= n_layers:
        raise NeuroqError(
            f"T = {timesteps} steps is too few: with {n_layers} projections of one step delay "
            f"each, T must be at least {n_layers + 1}")


@dataclass(frozen=True)
class SpikingQNetwork:
    """Input width, layers (last one non-spiking), T steps per action and Q scale."""

    layers: tuple[Layer, ...]
    timesteps: int
    q_scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.layers:
            raise NeuroqError("a spiking Q-network needs at least one layer")
        for prev, nxt in zip(self.layers, self.layers[1:], strict=False):
            if nxt.n_in != prev.n_out:
                raise NeuroqError(
                    f"layer {nxt.name} takes {nxt.n_in} inputs but {prev.name} has "
                    f"{prev.n_out} neurons")
        if any(not layer.spiking for layer in self.layers[:-1]) or self.layers[-1].spiking:
            raise NeuroqError("only the last layer is non-spiking (it holds the Q-values)")
        if self.timesteps > MAX_TIMESTEPS:
            raise NeuroqError(f"T = {self.timesteps} steps is too many: "
                              f"{MAX_TIMESTEPS_REASON}")
        check_timesteps(self.timesteps, len(self.layers))

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_actions(self) -> int:
        return self.layers[-1].n_out

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.n_inputs, *(layer.n_out for layer in self.layers))


@dataclass(frozen=True)
class ReferenceResult:
    """Outputs of one batched run of T steps.

    q: float32 (batch, n_actions), Q-values (v_out after T steps times q_scale).
    v_out: float32 (batch, n_actions), raw output potential in weight units.
    spike_counts: per spiking population incl. the input source, int64 (batch, n) each.
    synaptic_events: int64 (batch,), spikes delivered x fan-out, summed over projections.
    """

    q: np.ndarray
    v_out: np.ndarray
    spike_counts: tuple[np.ndarray, ...]
    synaptic_events: np.ndarray


def run_reference(net: SpikingQNetwork, input_spikes: np.ndarray) -> ReferenceResult:
    """Run `net` on input spike trains (T, batch, n_inputs) of bools; reset state first."""
    s_in = np.asarray(input_spikes).astype(bool)
    if s_in.ndim != 3 or s_in.shape[0] != net.timesteps or s_in.shape[2] != net.n_inputs:
        raise NeuroqError(
            f"input spikes must have shape (T={net.timesteps}, batch, {net.n_inputs}), "
            f"got {s_in.shape}")
    batch = s_in.shape[1]
    v = [np.zeros((batch, layer.n_out), np.float32) for layer in net.layers]
    # spikes each population emitted in the previous step: input source, then hidden layers
    prev = [np.zeros((batch, n), bool) for n in net.widths[:-1]]
    counts = [np.zeros((batch, n), np.int64) for n in net.widths[:-1]]
    syn_events = np.zeros(batch, np.int64)
    for t in range(net.timesteps):
        emitted = [s_in[t]]
        for k, layer in enumerate(net.layers):
            syn_events += prev[k].sum(axis=1) * layer.n_out
            i_syn = synaptic_input(layer.weight, prev[k])
            if layer.spiking:
                s, v[k] = lif_step(v[k], i_syn, layer.params)
                emitted.append(s)
            else:
                v[k] = li_step(v[k], i_syn, layer.params)
        for k, s in enumerate(emitted):
            counts[k] += s
        prev = emitted
    q = (v[-1] * np.float32(net.q_scale)).astype(np.float32)
    return ReferenceResult(q, v[-1], tuple(counts), syn_events)
