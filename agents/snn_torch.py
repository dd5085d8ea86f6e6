"""The chip's spiking Q-network in torch, for hardware-aware training.

Forward pass = `neuroq.deploy.network.run_reference`, operation for operation (deploy/neuron.py):

    I_k[t] = s_{k-1}[t-1] @ Q(W_k)^T             Q(W) = round(clip(W, -127, 127)), integer
    v_k[t] = (alpha_k * v_k[t-1] + i_offset_k) + I_k[t]            float32, in this order
    s_k[t] = H(v_k[t] - threshold_k)   (H(0) = 1 for '>=', 0 for '>')
    v_k[t] = v_k[t] - threshold_k * s_k[t]       (or v_reset where s_k[t] = 1)
    Q      = v_out[T-1] * q_scale

Why it is bit-exact: weights are integers in weight units and spikes are 0/1, so every
synaptic sum is an integer below 2^24 (|I| <= 127 * 256 here) and float32 matmul computes
it exactly whatever the summation order; the remaining operations are single IEEE float32
multiplies, adds and compares in the same order as numpy's, and the reset `v - thr * s` is
`v - thr` or `v - 0 = v` exactly. Each projection delays by one step (s_{k-1}[t-1]).

Gradients: `Q` passes gradients straight through (straight-through estimator, clipped to
the int8 range); the spike `H` uses a fast-sigmoid surrogate,
`dH/dv = 1 / (threshold * (1 + SURROGATE_SLOPE * |v - threshold| / threshold)^2)`
(SuperSpike, Zenke & Ganguli 2018), so thresholds of any magnitude give similar gradients.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from neuroq.deploy.chip import constant
from neuroq.deploy.network import Layer, SpikingQNetwork
from neuroq.deploy.neuron import Compare, Reset, make_params

#: Weight range in weight units (int8, symmetric as py-spinnaker2's NIR importer uses).
WEIGHT_MAX = int(constant("max_weight_magnitude"))
#: Steepness of the surrogate spike derivative, in units of 1/threshold (dimensionless).
SURROGATE_SLOPE = 5.0
#: Smallest |threshold| (weight units) the surrogate divides by: a threshold of 0 (an all-zero
#: layer after conversion, or one learned with --train-thresholds) gave NaN or inf gradients
#: without a word (a review). Far below any threshold conversion gives (about 1-127); at a
#: threshold of 0 the gradient near v = 0 is then 1000 x the incoming one, not 1e6 x (a
#: second review of a first floor of 1e-6).
MIN_SURROGATE_THRESHOLD = 1e-3


class _RoundSTE(torch.autograd.Function):
    """round(clip(w)) forward (exact integers), identity gradient backward."""

    @staticmethod
    def forward(ctx, w: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.round(torch.clamp(w, -WEIGHT_MAX, WEIGHT_MAX))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return grad


class _Spike(torch.autograd.Function):
    """Heaviside of v against the threshold, exactly 0/1; fast-sigmoid surrogate gradient."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, thr: torch.Tensor, ge: bool) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(v, thr)
        return (v >= thr if ge else v > thr).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        v, thr = ctx.saved_tensors
        scale = thr.abs().clamp_min(MIN_SURROGATE_THRESHOLD)
        x = (v - thr).abs() / scale
        g = grad / (scale * (1.0 + SURROGATE_SLOPE * x) ** 2)
        return g, -g, None


def quantize(w: torch.Tensor) -> torch.Tensor:
    """Fake-quantized int8 weights (integer-valued float32) with straight-through gradient."""
    return _RoundSTE.apply(w)


class SpikingQNet(nn.Module):
    """Trainable twin of a `SpikingQNetwork` (same layers, T, q_scale).

    Parameters (weight units): `weights[k]` (latent float weights, quantized in forward),
    `i_offsets[k]`. Buffers: thresholds, alpha_decay, v_reset. Thresholds stay fixed (the
    int8 range is relative to them); set `train_thresholds=True` to learn them too.
    """

    def __init__(self, network: SpikingQNetwork, train_thresholds: bool = False) -> None:
        super().__init__()
        self.timesteps = network.timesteps
        self.q_scale = float(network.q_scale)
        self.names = [layer.name for layer in network.layers]
        self.weight_scales = [float(layer.weight_scale) for layer in network.layers]
        self.spiking = [layer.spiking for layer in network.layers]
        self.resets = [layer.params.reset for layer in network.layers]
        self.ge = [layer.params.compare is Compare.GE for layer in network.layers]
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.from_numpy(layer.weight.astype(np.float32)))
             for layer in network.layers])
        self.i_offsets = nn.ParameterList(
            [nn.Parameter(torch.from_numpy(layer.params.i_offset.copy()))
             for layer in network.layers])
        self.thresholds = nn.ParameterList(
            [nn.Parameter(torch.from_numpy(layer.params.threshold.copy()),
                          requires_grad=train_thresholds) for layer in network.layers])
        for k, layer in enumerate(network.layers):
            self.register_buffer(f"alpha{k}", torch.from_numpy(layer.params.alpha_decay.copy()))
            self.register_buffer(f"v_reset{k}", torch.from_numpy(layer.params.v_reset.copy()))

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    def forward(self, input_spikes: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """input_spikes (T, batch, n_in) 0/1 -> (Q (batch, n_actions), spike counts per
        population incl. the input source, each (batch, n) float)."""
        s_in = input_spikes.to(torch.float32)
        batch = s_in.shape[1]
        wq = [quantize(w) for w in self.weights]
        widths = [s_in.shape[2], *(w.shape[0] for w in self.weights)]
        v = [s_in.new_zeros(batch, n) for n in widths[1:]]
        prev = [s_in.new_zeros(batch, n) for n in widths[:-1]]
        counts = [s_in.new_zeros(batch, n) for n in widths[:-1]]
        for t in range(self.timesteps):
            emitted = [s_in[t]]
            for k in range(self.n_layers):
                i_syn = prev[k] @ wq[k].T
                alpha = getattr(self, f"alpha{k}")
                v_k = (alpha * v[k] + self.i_offsets[k]) + i_syn
                if self.spiking[k]:
                    thr = self.thresholds[k]
                    s = _Spike.apply(v_k, thr, self.ge[k])
                    if self.resets[k] is Reset.SUBTRACT:
                        v_k = v_k - thr * s
                    else:
                        v_k = torch.where(s > 0, getattr(self, f"v_reset{k}"), v_k)
                    emitted.append(s)
                v[k] = v_k
            counts = [c + s for c, s in zip(counts, emitted, strict=True)]
            prev = emitted
        q = v[-1] * torch.tensor(self.q_scale, dtype=torch.float32)
        return q, counts

    @torch.no_grad()
    def to_network(self, timesteps: int | None = None) -> SpikingQNetwork:
        """The deployable network: int8 weights, float32 parameters as trained."""
        layers = []
        for k in range(self.n_layers):
            w = quantize(self.weights[k].detach()).numpy().astype(np.int8)
            params = make_params(
                w.shape[0], threshold=self.thresholds[k].detach().numpy().copy(),
                alpha_decay=getattr(self, f"alpha{k}").numpy().copy(),
                i_offset=self.i_offsets[k].detach().numpy().copy(),
                v_reset=getattr(self, f"v_reset{k}").numpy().copy(),
                reset=self.resets[k], compare=Compare.GE if self.ge[k] else Compare.GT)
            layers.append(Layer(self.names[k], w, self.weight_scales[k], params, self.spiking[k]))
        return SpikingQNetwork(tuple(layers), timesteps or self.timesteps, self.q_scale)
