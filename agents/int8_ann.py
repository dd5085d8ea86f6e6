"""A float MLP Q-network and its int8 twin (numpy), for the CPU rows of `neuroq energy`.

`FloatMLP` holds the DQN's Q-MLP as float32 arrays (ReLU between layers). `Int8MLP` is our
own post-training quantization of it, the "equally capable int8 ANN" the energy report
compares the spiking network with (ANCHORS.md: compare against the int8 ANN, not only
fp32):

- weights: per layer, symmetric, s_w = max|W| / 127, W_q = round(W / s_w) int8;
- activations: per layer, symmetric, s_a = p-th percentile of |a| over calibration
  observations / 127 (p = CALIBRATION_PERCENTILE), a_q = clip(round(a / s_a), -127, 127)
  (hidden activations are ReLU outputs, so they land in [0, 127]);
- biases: int32, b_q = round(b / (s_w * s_in));
- layer k: acc = a_q @ W_q.T + b_q in int32 (numpy int32 matmul, exact), then
  a_q' = clip(round(acc * s_w * s_in / s_out), 0, 127) for hidden layers and
  Q = acc * s_w * s_in (float) at the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deploy.errors import NeuroqError

#: Percentile of |activation| over calibration data that maps to 127 (clips rare outliers).
CALIBRATION_PERCENTILE = 99.9
INT8_MAX = 127


@dataclass(frozen=True)
class FloatMLP:
    """weights[k] float32 (n_out, n_in), biases[k] float32 (n_out,); ReLU between layers."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.biases) or not self.weights:
            raise NeuroqError("an MLP needs one bias per weight matrix and at least one layer")

    @property
    def widths(self) -> tuple[int, ...]:
        return (int(self.weights[0].shape[1]), *(int(w.shape[0]) for w in self.weights))

    def layer_inputs(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """(what each layer multiplies: x, then hidden activations), Q-values."""
        h = np.asarray(x, np.float32)
        inputs = []
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            inputs.append(h)
            h = h @ w.T + b
            if k < len(self.weights) - 1:
                h = np.maximum(h, np.float32(0.0))
        return inputs, h

    def q(self, x: np.ndarray) -> np.ndarray:
        return self.layer_inputs(x)[1]


@dataclass(frozen=True)
class Int8MLP:
    """int8 weights, int32 biases and float32 scales (see the module docstring)."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    weight_scales: tuple[float, ...]
    act_scales: tuple[float, ...]  # input scale, then one per hidden layer

    @property
    def widths(self) -> tuple[int, ...]:
        return (int(self.weights[0].shape[1]), *(int(w.shape[0]) for w in self.weights))

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        xq = np.rint(np.asarray(x, np.float32) / np.float32(self.act_scales[0]))
        return np.clip(xq, -INT8_MAX, INT8_MAX).astype(np.int8)

    def layer_inputs(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """(int8 inputs of every layer, float Q-values) for observations (batch, n_obs)."""
        a = self.quantize_input(x)
        inputs = []
        n = len(self.weights)
        for k in range(n):
            inputs.append(a)
            acc = a.astype(np.int32) @ self._wt[k] + self.biases[k]
            if k < n - 1:
                a = np.clip(np.rint(acc * self._requant[k]), 0, INT8_MAX).astype(np.int8)
            else:
                return inputs, (acc * self._requant[k]).astype(np.float32)
        raise AssertionError("unreachable")

    def q(self, x: np.ndarray) -> np.ndarray:
        return self.layer_inputs(x)[1]

    def __post_init__(self) -> None:
        # int32 transposed weights and float32 requantization factors, computed once
        object.__setattr__(self, "_wt", [w.T.astype(np.int32) for w in self.weights])
        n = len(self.weights)
        req = []
        for k in range(n):
            s_in = self.act_scales[k]
            s_out = self.act_scales[k + 1] if k < n - 1 else 1.0
            req.append(np.float32(self.weight_scales[k] * s_in / s_out))
        object.__setattr__(self, "_requant", req)


def _scale(values: np.ndarray) -> float:
    s = float(np.percentile(np.abs(values), CALIBRATION_PERCENTILE)) / INT8_MAX
    return s if s > 0 else 1.0 / INT8_MAX


def quantize_mlp(mlp: FloatMLP, calibration_obs: np.ndarray) -> Int8MLP:
    """Post-training int8 quantization of `mlp` with activation ranges from observations."""
    x = np.asarray(calibration_obs, np.float32)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != mlp.widths[0]:
        raise NeuroqError(f"calibration observations must have shape (n, {mlp.widths[0]})")
    inputs, _ = mlp.layer_inputs(x)
    act_scales = tuple(_scale(a) for a in inputs)
    w_scales, wq, bq = [], [], []
    for k, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        s_w = float(np.abs(w).max()) / INT8_MAX or 1.0
        w_scales.append(s_w)
        wq.append(np.clip(np.rint(w / s_w), -INT8_MAX, INT8_MAX).astype(np.int8))
        bq.append(np.rint(b / (s_w * act_scales[k])).astype(np.int32))
    return Int8MLP(tuple(wq), tuple(bq), tuple(w_scales), act_scales)
