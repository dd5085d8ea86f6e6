"""Random spiking Q-networks and artifacts for the chip tests (compiler, emulator, adapter)."""

from __future__ import annotations

import numpy as np

from neuroq.deploy.encoders import RateEncoder
from neuroq.deploy.network import Layer, SpikingQNetwork
from neuroq.deploy.neuron import make_params

#: observations spread like CartPole's, to fit encoders on
CARTPOLE_LIKE_OBS = (np.random.default_rng(7).normal(size=(500, 4))
                     * np.array([1.0, 1.0, 0.1, 1.0])).astype(np.float32)


def random_network(widths=(8, 32, 16, 3), timesteps=8, alpha=1.0, seed=0, compare=">=",
                   reset="reset_by_subtraction", i_offset_sd=5.0, zero_fraction=0.0,
                   q_scale=0.0123, v_reset_sd=3.0, thresholds_per_layer=False):
    """Weights in [-127, 127] biased positive, so that hidden layers fire a fair amount.

    Thresholds in [100, 400] per neuron (one value per layer with thresholds_per_layer);
    v_reset ~ N(0, v_reset_sd)."""
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        spiking = k < len(widths) - 2
        w = rng.integers(-90, 128, size=(n_out, n_in))
        if zero_fraction:
            w[rng.random(w.shape) < zero_fraction] = 0
        thr = rng.uniform(100, 400, 1 if thresholds_per_layer else n_out)
        p = make_params(n_out, threshold=thr.astype(np.float32),
                        alpha_decay=alpha,
                        i_offset=rng.normal(0, i_offset_sd, n_out).astype(np.float32),
                        v_reset=(v_reset_sd * rng.normal(0, 1, n_out)).astype(np.float32),
                        reset=reset, compare=compare)
        layers.append(Layer(f"fc{k}", w.astype(np.int8), 0.01, p, spiking))
    return SpikingQNetwork(tuple(layers), timesteps, q_scale=q_scale)


def rate_encoder(n_obs=4):
    return RateEncoder.fit(CARTPOLE_LIKE_OBS[:, :n_obs])


def cartpole_network(hidden=(64, 32), timesteps=8, seed=0):
    """A random network taking a rate-coded CartPole observation (8 inputs), 2 actions."""
    return random_network((8, *hidden, 2), timesteps=timesteps, seed=seed)


def save_cartpole_artifact(path, hidden=(64, 32), timesteps=8, seed=0):
    from neuroq.deploy.artifact import save_artifact

    net = cartpole_network(hidden, timesteps, seed)
    manifest = {"env_id": "CartPole-v1",
                "observation_space": {"shape": [4], "dtype": "float32"},
                "action_space": {"n": 2},
                "provenance": {"note": "random weights for tests"}}
    save_artifact(path, net, rate_encoder(), manifest)
    return path
