"""Run a neuroq NIR profile (or any NIR graph of their node types) in snnTorch 1.0.0 or
Norse 1.1.0: the libraries' stock importers plus the thinnest glue for what they lack,
driven by standard NIR fields only (docs/nir.md, "Reading the profiles").

    from neuroq.agents.nir_peers import load_profile
    model, q_of = load_profile("runs/CartPole-v1/export-<id>/artifact", "snntorch")
    q = q_of(spikes)  # spikes (T, batch, n_inputs) 0/1 -> Q-values (batch, n_actions)

`load_profile` reads an artifact's `network.<library>.nir` (written by `neuroq export
--nir-profile snntorch norse`) and takes the one setting NIR cannot state, reset by
subtraction, from its manifest. `snntorch_model` and `norse_model` take a graph as
`nir.read` returns it. What the glue adds, and why:

- `nir.Delay`: neither library maps it (snnTorch raises, Norse drops it). `OneStepDelay`
  outputs its previous input; the glue checks that the node's `delay` is one reader step
  (snnTorch's fixed dt = 1e-4, or the dt passed to Norse).
- Reset by subtraction, only when the caller says so (`subtract=True`): NIR has no field
  for it (docs/nir.md), so it is the one setting taken from outside the graph, from the
  artifact's documented `neuron.reset`. snnTorch: the imported Leaky modules reset by
  subtraction without snnTorch's double-reset suppression; Norse: from_nir's own
  `reset_method=reset_subtract`.
- The readout is the neuron node feeding the Output node (graph structure); its membrane
  after T steps is read from the module (snnTorch `.mem`) or the returned state (Norse).

Each decision starts from zero state (every module state and every delay line cleared).
The glue calls each library's own node mapping (`snntorch.import_nir`'s
`_nir_to_snntorch_module`, `norse.torch.utils.import_nir`'s `_import_norse_module`), which
are not public API: tests/test_nir_peers.py holds the versions above to the same actions
as neuroq's reference. Needs torch, nir, nirtorch and the library (training side).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

#: snnTorch 1.0.0's LIF importer fixes dt = 1e-4 s (snntorch/import_nir.py).
SNNTORCH_DT = 1e-4


def strip_metadata(graph):
    """The graph with every metadata dict emptied (graph and nodes), in place."""
    graph.metadata = {}
    for node in graph.nodes.values():
        node.metadata = {}
    return graph


def readout_name(graph) -> str:
    """The node feeding the Output node."""
    import nir

    outs = [n for n, v in graph.nodes.items() if isinstance(v, nir.Output)]
    return next(a for a, b in graph.edges if b == outs[0])


def _one_step_delay_module(dt: float):
    import torch

    class OneStepDelay(torch.nn.Module):
        """nir.Delay of one reader step: y[t] = x[t-1], y[0] = 0."""

        def forward(self, x, state=None):  # noqa: D102
            prev = torch.zeros_like(x) if state is None else state
            return prev, x

    def make(node):
        if not np.allclose(np.asarray(node.delay, np.float64), dt, rtol=1e-6, atol=0):
            raise ValueError(f"glue maps only one-step delays (dt = {dt}), got {node.delay}")
        return OneStepDelay()

    return make


def snntorch_model(graph, subtract: bool):
    """snnTorch's node map (import_from_nir's) plus nir.Delay; returns (model, runner)."""
    import nir
    import nirtorch
    import torch
    from snntorch.import_nir import _nir_to_snntorch_module

    def stock(n):
        return _nir_to_snntorch_module(n, init_hidden=True)

    node_map = {t: stock for t in (nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten,
                                   nir.AvgPool2d, nir.IF, nir.LIF, nir.CubaLIF)}
    node_map[nir.Delay] = _one_step_delay_module(SNNTORCH_DT)
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints its own warnings
        model = nirtorch.nir_to_torch(graph, node_map)
    leaky = {name: getattr(model, name) for name, node in graph.nodes.items()
             if isinstance(node, nir.LIF)}
    readout = readout_name(graph)
    if subtract:
        for name, mod in leaky.items():
            if name == readout:
                continue
            mod.reset_mechanism = "subtract"
            mod.state_function = mod._base_sub
            mod.mem_reset = torch.zeros_like  # no double-reset suppression: v -= thr per spike

    def run(spikes: np.ndarray) -> np.ndarray:
        """(T, batch, n_in) 0/1 -> readout membrane (batch, n_out) after T steps."""
        batch = spikes.shape[1]
        with torch.no_grad():
            for name, mod in leaky.items():
                mod.mem = torch.zeros(batch, graph.nodes[name].v_threshold.shape[0])
            state = None
            for t in range(spikes.shape[0]):
                _, state = model(torch.from_numpy(spikes[t].astype(np.float32)), state)
            return leaky[readout].mem.numpy().copy()

    return model, run


def norse_model(graph, subtract: bool, dt: float = 1.0):
    """Norse's from_nir (same node mapping and arguments) plus nir.Delay; (model, runner)."""
    import nir
    import nirtorch
    import torch
    from norse.torch.functional import reset
    from norse.torch.utils.import_nir import _import_norse_module

    method = reset.reset_subtract if subtract else reset.reset_value
    delay = _one_step_delay_module(dt)

    def model_map(n):
        if isinstance(n, nir.Delay):
            return delay(n)
        return _import_norse_module(n, reset_method=method, dt=dt)

    logging.disable(logging.WARNING)  # nirtorch.load is deprecated and says so
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            model = nirtorch.load(graph, model_map)
    finally:
        logging.disable(logging.NOTSET)
    readout = readout_name(graph)
    node = graph.nodes[readout]

    def run(spikes: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            state = None
            for t in range(spikes.shape[0]):
                _, state = model(torch.from_numpy(spikes[t].astype(np.float32)), state)
            cell = state.state[readout]
            v = cell[0][1].v if isinstance(node, nir.CubaLIF) else cell[0].v
            return v.numpy().copy()

    return model, run


RUNNERS: dict[str, Callable] = {"snntorch": snntorch_model, "norse": norse_model}
"""The model builder of each library: (graph, subtract) -> (model, run)."""


def load_profile(artifact: str | os.PathLike, library: str) -> tuple[Any, Callable]:
    """An exported artifact's `library` profile ("snntorch" or "norse", the file
    `network.<library>.nir` in the artifact folder) as the library's torch module, and a
    function spikes (T, batch, n_inputs) 0/1 -> Q-values (batch, n_actions): the readout's
    membrane after T steps times the manifest's q_scale. Reset by subtraction where the
    manifest's `neuron.reset` says so. `artifact`: its folder, its manifest.json or a
    shipped artifact's name. NeuroqError for an artifact without that profile."""
    from neuroq.deploy.artifact import profile_file, read_manifest, read_profile_graph
    from neuroq.deploy.errors import NeuroqError

    if library not in RUNNERS:
        raise NeuroqError(f"library must be one of {', '.join(RUNNERS)}, got {library!r}")
    # its folder (from the folder, its manifest.json or a shipped name); NeuroqError for
    # what is no artifact
    folder, manifest = read_manifest(artifact)
    path = folder / profile_file(library)
    if not path.is_file():
        raise NeuroqError(f"{folder} has no {path.name}: `neuroq export {folder} "
                          f"--nir-profile {library}` writes a new export (under --out, "
                          f"default runs/) whose artifact has it")
    subtract = manifest["neuron"]["reset"] == "reset_by_subtraction"
    model, run = RUNNERS[library](read_profile_graph(folder, manifest, library),
                                  subtract=subtract)
    q_scale = float(manifest["q_scale"])

    def q_of(spikes: np.ndarray) -> np.ndarray:
        return run(np.asarray(spikes)) * q_scale

    return model, q_of
