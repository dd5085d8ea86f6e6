"""Hardware adapter: a compiled `Program` as a py-spinnaker2 network on a SpiNNaker2 board.

Built with py-spinnaker2's API (docs/chip.md, "py-spinnaker2, as used here"):

    input  = snn.Population(size=n_in, neuron_model="spike_list", params={}, name="input")
    layer  = snn.Population(size=n, neuron_model="lif_no_delay", params={threshold,
                            alpha_decay, i_offset, v_init, v_reset, reset}, name=...,
                            record=["v_last"] for the output layer, [] otherwise)
    layer.set_max_atoms_per_core(neurons per PE from the placement)
    proj   = snn.Projection(pre=..., post=..., connections=[[pre, post, weight, delay], ...])
    net    = snn.Network("neuroq"); net.add(*populations, *projections)

and per action (as the official examples do, a new chip object per sample):

    input.params = {neuron_index: [timesteps it fires]}
    hw = hardware.SpiNNaker2Chip(eth_ip=board_ip); hw.run(net, T, sys_tick_in_s=sys_tick_s)
    Q = v_last of the output population * q_scale

py-spinnaker2 is not on PyPI; it is imported only when this backend is used.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from neuroq.deploy.chip import constant
from neuroq.deploy.compiler import INPUT_POPULATION, LIF_MODEL, SPIKE_SOURCE_MODEL, Program
from neuroq.deploy.errors import NeuroqError

PY_SPINNAKER2_REPO = "https://gitlab.com/spinnaker2/py-spinnaker2"
INSTALL_HINT = (
    "py-spinnaker2 is not installed (it is not on PyPI); install it from its repository: "
    f"pip install git+{PY_SPINNAKER2_REPO}")
#: the delay field of a connection: ticks beyond the one-tick transit every spike takes
#: (the NIR documentation's SpiNNaker2 examples import with conn_delay 0 [src]; docs/chip.md,
#: "Update rule"); with it a spike of step t arrives in step t+1, as neuroq.deploy.network
#: assumes. To be confirmed on a board.
CONNECTION_DELAY = 0
#: what the output population records: only its final membrane voltage.
OUTPUT_RECORD = ("v_last",)
LIF_PARAM_NAMES = ("threshold", "alpha_decay", "i_offset", "v_init", "v_reset", "reset")


def import_spinnaker2() -> SimpleNamespace:
    """py-spinnaker2's `snn` and `hardware` modules, or a NeuroqError saying how to install."""
    try:
        from spinnaker2 import hardware, snn  # type: ignore[import-not-found]
    except ImportError:
        raise NeuroqError(INSTALL_HINT) from None
    return SimpleNamespace(snn=snn, hardware=hardware)


def connection_list(weight: np.ndarray, delay: int = CONNECTION_DELAY) -> list[list[int]]:
    """[[pre, post, weight, delay], ...] of the non-zero int8 weights (post, pre) matrix."""
    post, pre = np.nonzero(weight)
    w = weight[post, pre].astype(np.int64)
    table = np.stack([pre, post, w, np.full_like(w, delay)], axis=1)
    return table.tolist()


def _params(pop) -> dict[str, Any]:
    p = {k: pop.params[k].tolist() for k in LIF_PARAM_NAMES if k != "reset"}
    p["reset"] = pop.params["reset"]
    return p


BOARD_IP_NEEDED = ("the spinnaker2 backend needs the board's address: board_ip (--board-ip "
                   "on the command line, board_ip:=ADDRESS for the ROS nodes)")


class SpiNNaker2Runner:
    """One py-spinnaker2 network for a program; `run` does one hw.run per action."""

    def __init__(self, program: Program, board_ip: str | None, modules: Any = None):
        if not board_ip:
            raise NeuroqError(BOARD_IP_NEEDED)
        self.program = program
        self.board_ip = board_ip
        self.s2 = modules if modules is not None else import_spinnaker2()
        snn = self.s2.snn
        self.populations = {}
        for pop, atoms in zip(program.populations, program.atoms_per_pe, strict=True):
            if pop.neuron_model == SPIKE_SOURCE_MODEL:
                p = snn.Population(size=pop.size, neuron_model=SPIKE_SOURCE_MODEL, params={},
                                   name=pop.name)
            else:
                p = snn.Population(size=pop.size, neuron_model=LIF_MODEL, params=_params(pop),
                                   name=pop.name, record=list(pop.record))
            p.set_max_atoms_per_core(int(atoms))
            self.populations[pop.name] = p
        self.projections = [
            snn.Projection(pre=self.populations[pr.pre], post=self.populations[pr.post],
                           connections=connection_list(pr.weight))
            for pr in program.projections]
        self.network = snn.Network("neuroq")
        self.network.add(*self.populations.values(), *self.projections)
        self.input = self.populations[INPUT_POPULATION]
        self.output = self.populations[program.populations[-1].name]

    def run(self, input_spikes: np.ndarray) -> np.ndarray:
        """One action: input spikes (T, n_inputs) -> final output voltages, float32."""
        s = np.asarray(input_spikes, bool)
        prog = self.program
        if s.shape != (prog.timesteps, prog.network.n_inputs):
            raise NeuroqError(f"input spikes must have shape "
                              f"({prog.timesteps}, {prog.network.n_inputs}), got {s.shape}")
        self.input.params = {i: np.flatnonzero(s[:, i]).tolist() for i in range(s.shape[1])}
        try:
            hw = self.s2.hardware.SpiNNaker2Chip(eth_ip=self.board_ip)
            hw.run(self.network, prog.timesteps, sys_tick_in_s=constant("sys_tick_s"))
            volts = self.output.get_voltages()
        except Exception as exc:  # noqa: BLE001 - the board library raises many types
            raise NeuroqError(f"the SpiNNaker2 board at {self.board_ip} failed to run the "
                              f"network: {type(exc).__name__}: {exc}") from exc
        n = prog.network.n_actions
        try:
            v = [np.asarray(volts[i], np.float32).reshape(-1)[-1] for i in range(n)]
        except (KeyError, IndexError) as exc:
            raise NeuroqError(f"the board returned no final voltage for output neuron {exc}; "
                              "check that the output population records v_last") from None
        return np.array(v, np.float32)
