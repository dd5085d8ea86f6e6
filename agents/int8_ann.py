"""A float MLP Q-network and its int8 twin (numpy), for the CPU rows of `neuroq energy`.

`FloatMLP` holds the DQN's Q-MLP as float32 arrays (ReLU between layers). `Int8MLP` is our
own post-training quantization of it, the "equally capable int8 ANN" the energy report
compares the spiking network with (docs/energy.md, "What runs, and where each figure comes
from": compare against the int8 ANN, not only fp32). Standard static int8 quantization:

- input: one scale per observation dimension (their ranges differ by 10x in CartPole),
  s_in_d = p-th percentile of |x_d| over calibration observations / 127
  (p = CALIBRATION_PERCENTILE); x_q = clip(round(x / s_in), -127, 127);
- hidden activations (ReLU outputs, never negative): uint8, one scale per layer,
  s_a = p-th percentile of the ReLU output / 255, a_q = clip(round(a / s_a), 0, 255);
- weights: the input scales are folded in, W' = W * s_in (per input column), then one
  scale per output neuron, s_w_i = max_j |W'_ij| / 127, W_q = round(W' / s_w) int8;
- biases: int32, b_q = round(b / s_w);
- layer k: acc = a_q @ W_q.T + b_q in int32 (numpy int32 matmul, exact), then
  a_q' = clip(round(acc * s_w / s_out), 0, 255) for hidden layers and Q = acc * s_w at the
  output. Stored per layer: int8 weights, int32 biases, one float32 requantization factor
  per output neuron; plus one float32 scale per input dimension.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroq.agents.mlp import FloatMLP
from neuroq.deploy.errors import NeuroqError

#: Percentile of |activation| over calibration data that maps to the largest code. 100 (the
#: maximum): with a few thousand calibration observations a lower percentile clipped rare
#: large activations and cost return (Acrobot: -146 at 99.99 vs -81 at 100, 20 episodes).
CALIBRATION_PERCENTILE = 100.0
INT8_MAX = 127
#: Hidden activations are ReLU outputs, never negative: stored as uint8 codes 0..255.
UINT8_MAX = 255


@dataclass(frozen=True)
class Int8MLP:
    """int8 weights, int32 biases, float32 requantization factors (module docstring).

    input_scales: (n_obs,) float32; requant[k]: (n_out_k,) float32, s_w / s_out of layer k
    (s_out = 1 at the output, so the last requant turns accumulators into Q-values).
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    input_scales: np.ndarray
    requant: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        # int32 transposed weights, computed once
        object.__setattr__(self, "_wt", [w.T.astype(np.int32) for w in self.weights])

    @property
    def widths(self) -> tuple[int, ...]:
        return (int(self.weights[0].shape[1]), *(int(w.shape[0]) for w in self.weights))

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        xq = np.rint(np.asarray(x, np.float32) / self.input_scales)
        return np.clip(xq, -INT8_MAX, INT8_MAX).astype(np.int8)

    def layer_inputs(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """(inputs of every layer: int8 observation codes, then uint8 activation codes;
        float Q-values) for observations (batch, n_obs)."""
        a = self.quantize_input(x)
        inputs = []
        last = len(self.weights) - 1
        for k in range(last + 1):
            inputs.append(a)
            acc = a.astype(np.int32) @ self._wt[k] + self.biases[k]
            if k < last:
                a = np.clip(np.rint(acc * self.requant[k]), 0, UINT8_MAX).astype(np.uint8)
        return inputs, (acc * self.requant[last]).astype(np.float32)

    def q(self, x: np.ndarray) -> np.ndarray:
        return self.layer_inputs(x)[1]


def _scale(values: np.ndarray, top: int, axis: int | None = None) -> np.ndarray:
    s = np.percentile(np.abs(values), CALIBRATION_PERCENTILE, axis=axis) / top
    return np.where(s > 0, s, 1.0 / top).astype(np.float32)


def quantize_mlp(mlp: FloatMLP, calibration_obs: np.ndarray) -> Int8MLP:
    """Post-training int8 quantization of `mlp` with activation ranges from observations."""
    x = np.asarray(calibration_obs, np.float32)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != mlp.widths[0]:
        raise NeuroqError(f"calibration observations must have shape (n, {mlp.widths[0]})")
    inputs, _ = mlp.layer_inputs(x)
    in_scales = [_scale(inputs[0], INT8_MAX, axis=0)] + [_scale(a, UINT8_MAX)
                                                         for a in inputs[1:]]
    wq, bq, req = [], [], []
    n = len(mlp.weights)
    for k, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        w_eff = w.astype(np.float64) * in_scales[k]  # fold the input scale(s) into W
        s_w = np.abs(w_eff).max(axis=1) / INT8_MAX
        s_w = np.where(s_w > 0, s_w, 1.0)
        wq.append(np.clip(np.rint(w_eff / s_w[:, None]), -INT8_MAX, INT8_MAX).astype(np.int8))
        bq.append(np.rint(b / s_w).astype(np.int32))
        s_out = in_scales[k + 1] if k < n - 1 else 1.0
        req.append((s_w / s_out).astype(np.float32))
    return Int8MLP(tuple(wq), tuple(bq), in_scales[0], tuple(req))


CALIBRATION_EPISODES = 10
"""Episodes of the float policy whose observations calibrate the int8 ANN (seeded
`neuroq.deploy.seeds.CALIBRATION_BASE` + i, apart from every reported episode)."""
MAX_CALIBRATION_OBS = 5000
"""Most calibration observations kept: a random sample (CALIBRATION_SAMPLE_SEED) beyond."""
CALIBRATION_SAMPLE_SEED = 0
"""The sample of calibration observations is fixed, so that `neuroq energy` and `neuroq
robustness` compare against the same int8 ANN (a review found energy's drawn with its
--seed and robustness's the first 5000 rows)."""


def sample_rows(obs: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most `n` rows of `obs`, in their order: all of them, or a random sample (seeded)."""
    if len(obs) <= n:
        return obs
    idx = np.random.default_rng(seed).choice(len(obs), n, replace=False)
    return obs[np.sort(idx)]


def calibrated_int8(mlp: FloatMLP, env_id: str, max_steps: int | None = None) -> Int8MLP:
    """The int8 twin of `mlp` that `neuroq energy` and `neuroq robustness` compare with:
    quantized (`quantize_mlp`) on the observations its float policy visits in
    CALIBRATION_EPISODES episodes (at most MAX_CALIBRATION_OBS of them)."""
    from neuroq.deploy.rollout import run_episodes
    from neuroq.deploy.seeds import CALIBRATION_BASE

    seen: list[np.ndarray] = []

    def act(obs: np.ndarray, _infos) -> np.ndarray:
        seen.append(obs.copy())
        return mlp.act(obs)

    run_episodes(env_id, act, CALIBRATION_EPISODES, CALIBRATION_BASE, max_steps=max_steps)
    return quantize_mlp(mlp, sample_rows(np.concatenate(seen), MAX_CALIBRATION_OBS,
                                                CALIBRATION_SAMPLE_SEED))
