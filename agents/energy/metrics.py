"""NeuroBench-style metrics of one action, from weights and activity counts (pure numpy).

Conventions (NeuroBench, Yik et al. 2024/2025; docs/energy.md, "What runs, and where each
figure comes from"):

- Synaptic operations count only pairs of a non-zero input and a non-zero weight
  ("effective" operations; zeros are excluded because hardware can skip them).
  An input that is a spike (binary) costs an accumulate (AC); any other input costs a
  multiply-accumulate (MAC). For a layer with weight W (n_out, n_in):

      effective ops = sum_j  x_j' * nnz(W[:, j])

  where x_j' is the number of times input j is non-zero in the action: 0 or 1 for an ANN
  activation, the number of spikes delivered for a spiking input over the T steps.
  A spiking Q-network therefore does only ACs (its inputs are spikes); an ANN only MACs.
- Activation sparsity of a layer: the fraction of zero activations. For a spiking layer of
  n neurons run for T steps with S spikes: 1 - S / (n * T). For an ANN layer: the fraction
  of its n outputs that are zero.
- Footprint: bytes of the parameters a deployment stores (weights, biases, neuron
  parameters, scales); activations and buffers are not counted.
- Closed-loop score: mean return and "risk", the mean of the worst 5 % of episodes
  (`neuroq.deploy.rollout.worst_fraction_mean`).

`op_energy_estimate_j` turns op counts into an energy with the widely used 45 nm figures
(Horowitz, ISSCC 2014): an ESTIMATE for comparing op mixes, not a measurement of any chip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import SpikingQNetwork

#: Energy of one 32-bit float multiply-accumulate at 45 nm, joules (Horowitz, ISSCC 2014,
#: "Computing's energy problem": 3.7 pJ fmul + 0.9 pJ fadd); as quoted by NeuroBench-style
#: SNN papers. An ESTIMATE.
ENERGY_PER_MAC_45NM_J = 4.6e-12
#: Energy of one 32-bit float add (an accumulate) at 45 nm, joules (Horowitz, ISSCC 2014).
ENERGY_PER_AC_45NM_J = 0.9e-12
#: Energy of one int8 multiply with a 32-bit integer accumulate at 45 nm, joules (Horowitz,
#: ISSCC 2014: 8-bit mult 0.2 pJ + 32-bit add 0.1 pJ). An ESTIMATE.
ENERGY_PER_INT8_MAC_45NM_J = 0.3e-12
#: Energy of one 32-bit integer add at 45 nm, joules (Horowitz, ISSCC 2014). An ESTIMATE.
ENERGY_PER_INT_AC_45NM_J = 0.1e-12
#: op-energy conventions: name -> (J per MAC, J per AC)
OP_ENERGY_45NM = {
    "fp32": (ENERGY_PER_MAC_45NM_J, ENERGY_PER_AC_45NM_J),
    "int": (ENERGY_PER_INT8_MAC_45NM_J, ENERGY_PER_INT_AC_45NM_J),
}
#: Bytes of one float32 value.
FLOAT32_BYTES = 4
#: Bytes of one int8 weight.
INT8_BYTES = 1
#: Bytes of one int32 bias of an int8 ANN (accumulator width).
INT32_BYTES = 4
#: float32 parameters stored per spiking-network neuron: threshold, alpha_decay, i_offset,
#: v_reset (deploy/neuron.py NeuronParams).
SNN_PARAMS_PER_NEURON = 4


def nonzero_fanout(weight: np.ndarray) -> np.ndarray:
    """Non-zero weights leaving each input, int64 (n_in,), for a weight (n_out, n_in)."""
    w = np.asarray(weight)
    if w.ndim != 2:
        raise NeuroqError(f"a weight matrix must be 2-D, got shape {w.shape}")
    return np.count_nonzero(w, axis=0).astype(np.int64)


def effective_ops(weight: np.ndarray, nonzero_inputs: np.ndarray) -> np.ndarray:
    """Effective synaptic operations per sample, int64 (batch,).

    nonzero_inputs: (batch, n_in) how often each input was non-zero in the action (0/1 for
    an ANN activation, spikes delivered for a spiking input). See the module docstring.
    """
    x = np.asarray(nonzero_inputs)
    fan = nonzero_fanout(weight)
    if x.ndim != 2 or x.shape[1] != fan.shape[0]:
        raise NeuroqError(f"inputs must have shape (batch, {fan.shape[0]}), got {x.shape}")
    return x.astype(np.int64) @ fan


def ann_effective_macs(weights: Sequence[np.ndarray], layer_inputs: Sequence[np.ndarray]
                       ) -> np.ndarray:
    """Effective MACs per sample (batch,) of an MLP: layer_inputs[k] (batch, n_in_k) is
    what layer k multiplies (the observation, then each hidden layer's activations)."""
    if len(weights) != len(layer_inputs):
        raise NeuroqError("one input array per layer is needed")
    return sum(effective_ops(w, np.asarray(x) != 0)
               for w, x in zip(weights, layer_inputs, strict=True))


def snn_effective_acs(network: SpikingQNetwork, delivered: Sequence[np.ndarray]) -> np.ndarray:
    """Effective ACs per action (batch,): delivered[k] (batch, n_in_k) spikes delivered into
    layer k (the input source for k = 0, hidden layer k-1 otherwise) over the T steps."""
    if len(delivered) != len(network.layers):
        raise NeuroqError("one delivered-spike array per layer is needed")
    return sum(effective_ops(layer.weight, d)
               for layer, d in zip(network.layers, delivered, strict=True))


def spiking_sparsity(spikes_per_action: np.ndarray, neurons: int, timesteps: int) -> float:
    """1 - mean spikes per action / (neurons * T) of one population.

    spikes_per_action: (n_actions,) spikes the population emitted in each action.
    """
    s = np.asarray(spikes_per_action, np.float64)
    if s.size == 0 or neurons < 1 or timesteps < 1:
        raise NeuroqError("spiking sparsity needs spike counts, neurons >= 1 and T >= 1")
    return float(1.0 - s.mean() / (neurons * timesteps))


def activation_sparsity(activations: np.ndarray) -> float:
    """Fraction of zero entries of ANN activations (batch, n)."""
    a = np.asarray(activations)
    if a.size == 0:
        raise NeuroqError("no activations to measure sparsity on")
    return float(np.mean(a == 0))


def snn_footprint_bytes(network: SpikingQNetwork) -> int:
    """Bytes of the deployed spiking network: int8 weights (dense, 1 B each) plus
    SNN_PARAMS_PER_NEURON float32 parameters per neuron, plus the float32 q_scale."""
    weights = sum(layer.weight.size for layer in network.layers) * INT8_BYTES
    neurons = sum(layer.n_out for layer in network.layers)
    return int(weights + neurons * SNN_PARAMS_PER_NEURON * FLOAT32_BYTES + FLOAT32_BYTES)


def float_mlp_footprint_bytes(widths: Sequence[int]) -> int:
    """Bytes of a float32 MLP with layer widths (n_in, h1, ..., n_out): weights and biases."""
    params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return int(params * FLOAT32_BYTES)


def int8_mlp_footprint_bytes(widths: Sequence[int]) -> int:
    """Bytes of an int8 MLP: int8 weights, int32 biases, one float32 requantization factor
    per output neuron and one float32 scale per input dimension."""
    pairs = list(zip(widths[:-1], widths[1:], strict=True))
    weights = sum(a * b for a, b in pairs) * INT8_BYTES
    biases = sum(b for _, b in pairs) * INT32_BYTES
    scales = (sum(b for _, b in pairs) + widths[0]) * FLOAT32_BYTES
    return int(weights + biases + scales)


def op_energy_estimate_j(macs: float, acs: float, convention: str = "fp32") -> float:
    """ESTIMATED energy of `macs` MACs and `acs` ACs with the 45 nm figures above, joules.

    convention: "fp32" (4.6 pJ/MAC, 0.9 pJ/AC, the figures NeuroBench-style papers quote)
    or "int" (int8 MAC with 32-bit accumulate 0.3 pJ, 32-bit integer AC 0.1 pJ).
    """
    if convention not in OP_ENERGY_45NM:
        raise NeuroqError(f"unknown op-energy convention {convention!r}; choose one of "
                          f"{', '.join(OP_ENERGY_45NM)}")
    per_mac, per_ac = OP_ENERGY_45NM[convention]
    return float(macs * per_mac + acs * per_ac)
