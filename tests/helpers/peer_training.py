"""Small spiking CartPole policies trained in snnTorch 1.0.0 and Norse 1.1.0, exported with
their own NIR exporters: the "user's own SNN" that `neuroq import` makes chip-ready.

Training is behaviour cloning of a linear CartPole controller (HEURISTIC_GAINS, 500 on
every episode we tried) by BPTT with the library's own surrogate gradient: cross-entropy of
the readout membrane after T steps against the controller's action. Inputs are spikes of a
neuroq population encoder (the encoder the import is told about).

- snnTorch: Linear -> Leaky(beta 0.9, threshold 1, reset 'subtract', the default) ->
  Linear -> Leaky(beta 1, reset 'none') readout; exported with `export_to_nir` (LIF nodes,
  tau = 1e-4/(1-beta); beta 1 as tau = r = inf).
- Norse: Linear -> IAFCell(v_th 1, reset to 0) -> Linear -> LIBoxCell(tau_mem_inv 100)
  readout; exported with `to_nir` at its default dt = 1e-3 (IF and LI nodes, tau written
  as dt x tau).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np

from neuroq.deploy.encoders import PopulationEncoder
from neuroq.deploy.rollout import run_episodes

#: CartPole controller: push right iff gains . (x, x_dot, theta, theta_dot) > 0.
HEURISTIC_GAINS = np.array([0.5, 1.0, 10.0, 2.0], np.float32)
#: Fraction of random actions while recording the training states (wider coverage).
RECORD_EPSILON = 0.2
#: Norse's LIBoxCell readout: tau_mem_inv in 1/s (10 ms at Norse's dt = 1 ms: alpha 0.9).
NORSE_READOUT_TAU_INV = 100.0
NORSE_DT = 1e-3


def heuristic_actions(obs: np.ndarray) -> np.ndarray:
    return (np.asarray(obs, np.float32) @ HEURISTIC_GAINS > 0).astype(np.int64)


def cartpole_data(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """States visited by the controller with RECORD_EPSILON random actions, and its labels."""
    rng = np.random.default_rng(seed)
    seen: list[np.ndarray] = []

    def act(obs, _infos):
        seen.append(obs.copy())
        a = heuristic_actions(obs)
        return np.where(rng.random(len(obs)) < RECORD_EPSILON, rng.integers(0, 2, len(obs)), a)

    run_episodes("CartPole-v1", act, episodes=n, seed=seed, batch=16, max_total_steps=n)
    obs = np.concatenate(seen)[:n]
    return obs, heuristic_actions(obs)


def cartpole_encoder(obs: np.ndarray, n_per_dim: int = 8) -> PopulationEncoder:
    return PopulationEncoder.fit(obs, n_per_dim)


def _fit(model_q, params, spikes, labels, steps: int, seed: int, lr: float = 5e-3):
    """Adam on the cross-entropy of model_q(spikes) (batch, 2) against labels."""
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(spikes.astype(np.float32))
    y = torch.from_numpy(labels)
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(0, x.shape[1], 256))
        loss = torch.nn.functional.cross_entropy(model_q(x[:, idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


def train_snntorch(obs, labels, encoder, timesteps: int = 5, hidden: int = 32,
                   steps: int = 300, seed: int = 0):
    """(snnTorch Sequential, its NIR graph from snntorch.export_to_nir)."""
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir
    from snntorch.utils import reset as reset_states

    torch.manual_seed(seed)
    n_in = encoder.n_inputs
    net = torch.nn.Sequential(
        torch.nn.Linear(n_in, hidden),
        snn.Leaky(beta=torch.full((hidden,), 0.9), threshold=torch.ones(hidden),
                  init_hidden=True),
        torch.nn.Linear(hidden, 2),
        snn.Leaky(beta=torch.ones(2), threshold=torch.ones(2), reset_mechanism="none",
                  init_hidden=True, output=True))

    def q(spikes):
        reset_states(net)
        mem = None
        for t in range(spikes.shape[0]):
            _, mem = net(spikes[t])
        return mem

    spikes = encoder.encode(obs, timesteps)
    _fit(q, net.parameters(), spikes, labels, steps, seed)
    reset_states(net)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), \
            np.errstate(divide="ignore"):  # beta = 1 is exported as tau = 1e-4 / 0 = inf
        warnings.simplefilter("ignore", DeprecationWarning)
        graph = export_to_nir(net, torch.zeros(n_in), model_name="snntorch")
    return net, graph


def snntorch_q(net, spikes: np.ndarray) -> np.ndarray:
    """The snnTorch network's readout membrane after T steps (the source's own Q)."""
    import torch
    from snntorch.utils import reset as reset_states

    with torch.no_grad():
        reset_states(net)
        mem = None
        for t in range(spikes.shape[0]):
            _, mem = net(torch.from_numpy(spikes[t].astype(np.float32)))
        return mem.numpy().copy()


def train_norse(obs, labels, encoder, timesteps: int = 5, hidden: int = 32, steps: int = 300,
                seed: int = 0):
    """(Norse SequentialState, its NIR graph from norse.torch.to_nir at dt = 1e-3)."""
    import norse.torch as norse
    import torch

    torch.manual_seed(seed)
    n_in = encoder.n_inputs
    net = norse.SequentialState(
        torch.nn.Linear(n_in, hidden),
        norse.IAFCell(norse.IAFParameters(v_th=torch.ones(hidden))),
        torch.nn.Linear(hidden, 2),
        norse.LIBoxCell(norse.LIBoxParameters(
            tau_mem_inv=torch.full((2,), NORSE_READOUT_TAU_INV), v_leak=torch.zeros(2))))

    def q(spikes):
        state, out = None, None
        for t in range(spikes.shape[0]):
            out, state = net(spikes[t], state)
        return out * 10.0  # the readout's input gain is dt/tau = 0.1: help the optimizer

    spikes = encoder.encode(obs, timesteps)
    _fit(q, net.parameters(), spikes, labels, steps, seed)
    with warnings.catch_warnings():  # nirtorch's tracer announces its own deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        graph = norse.to_nir(net, torch.zeros(n_in), dt=NORSE_DT)
    return net, graph


def norse_q(net, spikes: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        state, out = None, None
        for t in range(spikes.shape[0]):
            out, state = net(torch.from_numpy(spikes[t].astype(np.float32)), state)
        return out.numpy().copy()
