"""The chip's neuron equation, written once (numpy, pure functions).

SpiNNaker2's `lif_no_delay` model as py-spinnaker2's NIR importer uses it
(docs/chip.md, "Update rule", with its sources).
For every neuron i of a layer, at every time step t:

    I_i[t]   = sum_j W_ij * s_j[t-1]                       (int8 W, integer accumulation,
                                                            one step of delay per projection)
    v_i[t]   = (alpha_decay_i * v_i[t-1] + i_offset_i) + float32(I_i[t])
    s_i[t]   = v_i[t] >= threshold_i                        ('>' optional, recorded in the
                                                            artifact; the chip's choice is
                                                            undocumented)
    v_i[t]  <- v_i[t] - threshold_i   if s_i[t]            (reset by subtraction), or
    v_i[t]  <- v_reset_i              if s_i[t]            (reset to v_reset)

All neuron state and parameters are float32 and every operation rounds to float32 in the
order written above (multiply, add i_offset, add synaptic input), so the torch training
model, this reference and the emulator can agree bit for bit. Weights are int8 in
"weight units": thresholds, i_offset and v are in the same units; a layer's
`weight_scale` (float units per weight unit) converts back to the ANN's scale.

A non-spiking (output) layer uses the same update without threshold and reset: its
membrane potential after T steps, times the network's `q_scale`, is the Q-value.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

import numpy as np

from neuroq.deploy.errors import NeuroqError


class Reset(str, Enum):
    """What happens to v after a spike (py-spinnaker2's `reset` parameter values)."""

    SUBTRACT = "reset_by_subtraction"
    TO_V_RESET = "reset_to_v_reset"


RESET_BY_NAME = {"subtract": Reset.SUBTRACT.value, "zero": Reset.TO_V_RESET.value}
"""The command line's reset names (convert --reset, import --reset) and the reset each
means."""


class Compare(str, Enum):
    """Threshold comparison; the chip's choice is undocumented, so it is a parameter."""

    GE = ">="
    GT = ">"


class NeuronParams(NamedTuple):
    """Per-neuron float32 parameters of one layer, shape (n,) each.

    threshold: spike threshold, weight units (ignored for non-spiking layers).
    alpha_decay: membrane decay per step, dimensionless (1.0 = integrate-and-fire).
    i_offset: constant input current added every step, weight units (the ANN bias).
    v_reset: potential after a spike when reset is TO_V_RESET, weight units.
    """

    threshold: np.ndarray
    alpha_decay: np.ndarray
    i_offset: np.ndarray
    v_reset: np.ndarray
    reset: Reset = Reset.SUBTRACT
    compare: Compare = Compare.GE


def make_params(
    n: int,
    threshold: float | np.ndarray = 1.0,
    alpha_decay: float | np.ndarray = 1.0,
    i_offset: float | np.ndarray = 0.0,
    v_reset: float | np.ndarray = 0.0,
    reset: Reset | str = Reset.SUBTRACT,
    compare: Compare | str = Compare.GE,
) -> NeuronParams:
    """Build `NeuronParams` for `n` neurons, broadcasting scalars and checking shapes."""

    def vec(name: str, x: float | np.ndarray) -> np.ndarray:
        a = np.broadcast_to(np.asarray(x, dtype=np.float32), (n,)).copy()
        if not np.all(np.isfinite(a)):
            raise NeuroqError(f"neuron parameter {name} has non-finite values")
        return a

    try:
        reset, compare = Reset(reset), Compare(compare)
    except ValueError as exc:
        raise NeuroqError(f"bad neuron parameter: {exc}") from None
    p = NeuronParams(vec("threshold", threshold), vec("alpha_decay", alpha_decay),
                     vec("i_offset", i_offset), vec("v_reset", v_reset), reset, compare)
    if np.any(p.alpha_decay < 0) or np.any(p.alpha_decay > 1):
        raise NeuroqError("alpha_decay must lie in [0, 1]")
    return p


def synaptic_input(weight: np.ndarray, spikes: np.ndarray) -> np.ndarray:
    """Integer synaptic accumulation `I = s @ W.T`, returned as float32.

    weight: int8 (n_post, n_pre); spikes: bool or 0/1 array (..., n_pre).
    The sum is exact in int32 (|I| <= 127 * n_pre) and then rounded once to float32.
    """
    acc = spikes.astype(np.int32) @ weight.T.astype(np.int32)
    return acc.astype(np.float32)


def membrane_update(v: np.ndarray, i_syn: np.ndarray, p: NeuronParams) -> np.ndarray:
    """`v' = (alpha_decay * v + i_offset) + I`, float32, before threshold and reset."""
    return (p.alpha_decay * v + p.i_offset) + i_syn


def lif_step(
    v: np.ndarray, i_syn: np.ndarray, p: NeuronParams
) -> tuple[np.ndarray, np.ndarray]:
    """One time step of a spiking layer: returns (spikes as bool, new v), both (..., n)."""
    v = membrane_update(v, i_syn, p)
    spikes = v >= p.threshold if p.compare is Compare.GE else v > p.threshold
    if p.reset is Reset.SUBTRACT:
        v = np.where(spikes, v - p.threshold, v)
    else:
        v = np.where(spikes, p.v_reset, v)
    return spikes, v.astype(np.float32, copy=False)


def li_step(v: np.ndarray, i_syn: np.ndarray, p: NeuronParams) -> np.ndarray:
    """One time step of a non-spiking (output) layer: new v, float32."""
    return membrane_update(v, i_syn, p)
