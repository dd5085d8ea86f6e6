"""Hardware adapter: a compiled `Program` as a py-spinnaker2 network on a SpiNNaker2 board.

Built with py-spinnaker2's API (docs/chip.md, "py-spinnaker2, as used here"):

    input  = snn.Population(size=n_in, neuron_model="spike_list", params={}, name="input")
    layer  = snn.Population(size=n, neuron_model="lif_no_delay", params={threshold,
                            alpha_decay, i_offset, v_init, v_reset, reset}, name=...,
                            record=["v"] for the output layer, [] otherwise)
    layer.set_max_atoms_per_core(neurons per PE from the placement)
    proj   = snn.Projection(pre=..., post=..., connections=[[pre, post, weight, delay], ...])
    net    = snn.Network("neuroq"); net.add(*populations, *projections)

and per action (as the official examples do, a new chip object per sample):

    net.reset()      (clears the last run's spikes and voltages, as the examples do)
    input.params = {neuron_index: [timesteps it fires]}
    hw = hardware.SpiNNaker2Chip(eth_ip=board_ip)
    hw.run(net, T, sys_tick_in_s=sys_tick_s, debug=False)   (public scripts' hardware runs
        pass debug=False: no per-PE log region read back and printed after every run)
    Q = the last recorded v of the output population * q_scale

py-spinnaker2 is not on PyPI; it is imported only when this backend is used.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np

from neuroq.deploy.chip import constant
from neuroq.deploy.compiler import (
    INPUT_POPULATION,
    LIF_MODEL,
    OUTPUT_RECORD,
    SPIKE_SOURCE_MODEL,
    Program,
)
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
#: A host name label (RFC 1123): letters, digits, hyphens inside.
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
#: Seconds one hw.run (loading the network and running it: a new chip object per action)
#: may take before the board counts as not answering. Not measured (no board here): chosen
#: far above a run's expected time, so that only a hang reaches it. A board that hung kept
#: `neuroq eval` and the policy node's activation waiting for ever in an outsider's trial.
BOARD_RUN_TIMEOUT_S = 30.0


def check_board_ip(address: Any) -> None:
    """NeuroqError unless `address` is an IP address or a host name (py-spinnaker2's
    `eth_ip`): "999.1.1.1", "http://...", "1.2.3.4:5000" or text with spaces ran until the
    first action, where the board library failed."""
    if not isinstance(address, str) or not address.strip():
        raise NeuroqError(BOARD_IP_NEEDED)
    try:
        ipaddress.ip_address(address)
        return
    except ValueError:
        pass
    labels = address.split(".")
    numeric = all(label.isdigit() for label in labels)  # looks like an IPv4 address
    if numeric or len(address) > 253 or not all(_HOST_LABEL.fullmatch(x) for x in labels):
        raise NeuroqError(f"board_ip {address!r} is not an IP address or a host name (the "
                          "board's Ethernet address, e.g. 192.168.1.17)")


class SpiNNaker2Runner:
    """One py-spinnaker2 network for a program; `run` does one hw.run per action."""

    def __init__(self, program: Program, board_ip: str | None, modules: Any = None):
        check_board_ip(board_ip)
        self._stuck: threading.Thread | None = None  # a run that did not answer in time
        self.program = program
        self.board_ip = board_ip
        self.s2 = modules if modules is not None else import_spinnaker2()
        try:  # the library's own checks: one line, not a traceback (an outsider's probe)
            self._build(program)
        except NeuroqError:
            raise
        except Exception as exc:  # noqa: BLE001 - the board library raises many types
            raise NeuroqError(f"py-spinnaker2 refused the network neuroq built for it: "
                              f"{type(exc).__name__}: {exc}") from exc

    def _build(self, program: Program) -> None:
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
        try:  # the previous run's spikes and voltages cleared, as the public examples do
            self.network.reset()  # before every run (an outsider), then the input set
        except Exception as exc:  # noqa: BLE001 - the board library raises many types
            raise NeuroqError(f"py-spinnaker2 could not reset the network (net.reset(), "
                              f"which its examples call before every run): "
                              f"{type(exc).__name__}: {exc}") from exc
        self.input.params = {i: np.flatnonzero(s[:, i]).tolist() for i in range(s.shape[1])}
        volts = self._on_board(prog.timesteps)
        n = prog.network.n_actions
        try:
            v = np.array([np.asarray(volts[i], np.float32).reshape(-1)[-1] for i in range(n)],
                         np.float32)
        except (KeyError, IndexError) as exc:
            raise NeuroqError(f"the board returned no final voltage for output neuron {exc}; "
                              f"check that the output population records {OUTPUT_RECORD[0]!r}"
                              ) from None
        if not np.isfinite(v).all():  # argmax would take NaN for action 0 without a word
            raise NeuroqError(f"the SpiNNaker2 board at {self.board_ip} returned non-finite "
                              f"output voltages ({v.tolist()})")
        return v

    def _on_board(self, timesteps: int) -> Any:
        """hw.run and the output voltages, in a thread of their own so that a board that
        does not answer within BOARD_RUN_TIMEOUT_S is a NeuroqError rather than a hang (the
        thread, stuck in the board library, is left behind: a daemon, it does not keep the
        process from ending). Any error of the board library is a NeuroqError too."""
        if self._stuck is not None and self._stuck.is_alive():  # the same objects: no
            # second run while a hung one may still write into them
            raise NeuroqError(f"the SpiNNaker2 board at {self.board_ip} has not answered an "
                              "earlier run: no new run is started")
        got: dict[str, Any] = {}

        def run() -> None:
            try:
                hw = self.s2.hardware.SpiNNaker2Chip(eth_ip=self.board_ip)
                hw.run(self.network, timesteps, sys_tick_in_s=constant("sys_tick_s"),
                       debug=False)
                got["volts"] = self.output.get_voltages()
            except Exception as exc:  # noqa: BLE001 - the board library raises many types
                got["error"] = exc

        worker = threading.Thread(target=run, daemon=True, name="spinnaker2_run")
        worker.start()
        worker.join(BOARD_RUN_TIMEOUT_S)
        if worker.is_alive():
            self._stuck = worker
            raise NeuroqError(f"the SpiNNaker2 board at {self.board_ip} did not answer within "
                              f"{BOARD_RUN_TIMEOUT_S:g} s (one hw.run)")
        if "error" in got:
            exc = got["error"]
            raise NeuroqError(f"the SpiNNaker2 board at {self.board_ip} failed to run the "
                              f"network: {type(exc).__name__}: {exc}") from exc
        return got["volts"]
