"""py-spinnaker2 adapter, against a recording stand-in that checks every call and argument.

The stand-in follows the API in docs/chip.md, "py-spinnaker2, as used here":
`snn.Population(size, neuron_model, params, name, record)`, `set_max_atoms_per_core`,
`snn.Projection(pre, post, connections=[[pre, post, weight, delay], ...])`,
`snn.Network(name).add(...)`, a `spike_list` input whose params are `{neuron: [timesteps]}`,
`hardware.SpiNNaker2Chip(eth_ip=...)` and `hw.run(net, timesteps, sys_tick_in_s=...)`,
`get_voltages()` after a run ({neuron: v at every step} of a population recording "v", the
record names the public examples use), `net.reset()` before a run (the public examples
call it: without it this stand-in piles up recordings and carries the last run's voltages
into the next).
Its `run` simulates the network it was given with lif_no_delay semantics (v <- alpha v +
i_offset + sum w s, threshold, reset; spikes arrive one step later), so a wrongly built
network gives wrong Q-values.
"""

import sys
import time
import types

import numpy as np
import pytest

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.policy import SpikingPolicy, load_policy
from neuroq.deploy.spinnaker2 import INSTALL_HINT, import_spinnaker2
from tests.helpers.networks import CARTPOLE_LIKE_OBS, random_network, rate_encoder

LIF_KEYS = {"threshold", "alpha_decay", "i_offset", "v_init", "v_reset", "reset"}
RESETS = {"reset_by_subtraction", "reset_to_v_reset"}
RECORDABLE = {"spikes", "v"}  # the names public py-spinnaker2 examples record
MAX_ATOMS = 250
WEIGHT_RANGE = {"lif_no_delay": (-127, 127), "lif": (-15, 15)}
DELAY_RANGE = (0, 7)


def make_stand_in():
    calls = []
    snn = types.ModuleType("spinnaker2.snn")
    hardware = types.ModuleType("spinnaker2.hardware")

    class Population:
        def __init__(self, size, neuron_model, params, name, record=None):
            assert isinstance(size, int) and size > 0
            assert neuron_model in ("spike_list", "lif", "lif_no_delay")
            assert isinstance(name, str) and name
            record = list(record or [])
            assert set(record) <= RECORDABLE
            if neuron_model == "spike_list":
                assert params == {} or isinstance(params, dict)
            else:
                assert set(params) == LIF_KEYS, set(params) ^ LIF_KEYS
                assert params["reset"] in RESETS
                for k in LIF_KEYS - {"reset"}:
                    v = params[k]
                    assert np.isscalar(v) or len(v) == size, k
                    assert np.all(np.isfinite(np.asarray(v, np.float32))), k
            self.size, self.neuron_model, self.name, self.record = size, neuron_model, name, record
            self.params = params
            self.max_atoms = None
            self._v = None  # (timesteps, size) voltages of the last run
            self._v_end = None  # the last run's final voltages, kept until net.reset()
            calls.append(("Population", name, neuron_model))

        def set_max_atoms_per_core(self, n):
            assert isinstance(n, int) and 1 <= n <= MAX_ATOMS
            self.max_atoms = n
            calls.append(("set_max_atoms_per_core", self.name, n))

        def get_voltages(self):
            assert "v" in self.record, "voltages not recorded"
            assert self._v is not None, "get_voltages before a run"
            return {i: self._v[:, i].copy() for i in range(self.size)}

    class Projection:
        def __init__(self, pre, post, connections):
            assert isinstance(pre, Population) and isinstance(post, Population)
            assert post.neuron_model != "spike_list"
            lo, hi = WEIGHT_RANGE[post.neuron_model]
            for c in connections:
                assert len(c) == 4 and all(isinstance(x, int) for x in c), c
                i, j, w, d = c
                assert 0 <= i < pre.size and 0 <= j < post.size
                assert lo <= w <= hi and DELAY_RANGE[0] <= d <= DELAY_RANGE[1]
            self.pre, self.post, self.connections = pre, post, connections
            calls.append(("Projection", pre.name, post.name, len(connections)))

    class Network:
        def __init__(self, name):
            assert isinstance(name, str)
            self.populations, self.projections = [], []

        def add(self, *objs):
            for o in objs:
                (self.populations if isinstance(o, Population) else self.projections).append(o)
            calls.append(("Network.add", len(objs)))

        def reset(self):
            for p in self.populations:
                p._v_end, p._v = None, None
            calls.append(("Network.reset",))

    class SpiNNaker2Chip:
        def __init__(self, eth_ip):
            assert isinstance(eth_ip, str) and eth_ip
            self.ran = False
            calls.append(("SpiNNaker2Chip", eth_ip))

        def run(self, net, timesteps, sys_tick_in_s=1e-3, debug=True):
            assert not self.ran, "one run per chip object, as in the official examples"
            self.ran = True
            assert isinstance(timesteps, int) and timesteps > 0 and sys_tick_in_s > 0
            # the public scripts' hardware runs: no per-PE log read back (an audit)
            assert debug is False
            calls.append(("run", timesteps, sys_tick_in_s))
            simulate(net, timesteps)

    def simulate(net, timesteps):
        pops = net.populations
        spikes = {p.name: np.zeros((timesteps, p.size), bool) for p in pops}
        for p in pops:
            if p.neuron_model == "spike_list":
                for i, ts in p.params.items():
                    assert 0 <= i < p.size and all(0 <= t < timesteps for t in ts)
                    spikes[p.name][list(ts), i] = True
        incoming = {p.name: [] for p in pops}
        for pr in net.projections:
            incoming[pr.post.name].append(pr)
        for p in pops:
            if p.neuron_model == "spike_list":
                continue
            par = {k: np.broadcast_to(np.asarray(p.params[k], np.float32), (p.size,))
                   for k in LIF_KEYS - {"reset"}}
            # state left by the last run unless net.reset() cleared it
            v = par["v_init"].copy() if p._v_end is None else p._v_end.copy()
            trace = np.zeros((timesteps, p.size), np.float32)
            for t in range(timesteps):
                i_syn = np.zeros(p.size, np.int64)
                for pr in incoming[p.name]:
                    for i, j, w, d in pr.connections:
                        src_t = t - 1 - d  # one tick of transit plus the delay field
                        if src_t >= 0 and spikes[pr.pre.name][src_t, i]:
                            i_syn[j] += w
                v = (par["alpha_decay"] * v + par["i_offset"]) + i_syn.astype(np.float32)
                s = v >= par["threshold"]
                if p.params["reset"] == "reset_by_subtraction":
                    v = np.where(s, v - par["threshold"], v)
                else:
                    v = np.where(s, par["v_reset"], v)
                spikes[p.name][t] = s
                trace[t] = v
            # recordings pile up until net.reset() (as the examples' comments say), and the
            # state carries over (what a missing reset would do to a closed loop)
            p._v = trace if p._v is None else np.concatenate([p._v, trace])
            p._v_end = v.astype(np.float32)

    snn.Population, snn.Projection, snn.Network = Population, Projection, Network
    hardware.SpiNNaker2Chip = SpiNNaker2Chip
    pkg = types.ModuleType("spinnaker2")
    pkg.snn, pkg.hardware = snn, hardware
    return pkg, calls


@pytest.fixture
def stand_in(monkeypatch):
    pkg, calls = make_stand_in()
    monkeypatch.setitem(sys.modules, "spinnaker2", pkg)
    monkeypatch.setitem(sys.modules, "spinnaker2.snn", pkg.snn)
    monkeypatch.setitem(sys.modules, "spinnaker2.hardware", pkg.hardware)
    return calls


def test_network_construction_and_one_run_per_action(stand_in):
    net = random_network((8, 300, 40, 2), timesteps=8, seed=11)
    pol = SpikingPolicy(net, rate_encoder(), backend="spinnaker2", board_ip="192.168.1.25")
    emu = SpikingPolicy(net, rate_encoder(), backend="emulator")
    kinds = [c[0] for c in stand_in]
    assert kinds.count("Population") == 4 and kinds.count("Projection") == 3
    assert ("Population", "input", "spike_list") in stand_in
    atoms = {c[1]: c[2] for c in stand_in if c[0] == "set_max_atoms_per_core"}
    assert atoms == {p.name: a for p, a in zip(pol.program.populations,
                                                pol.program.atoms_per_pe, strict=True)}
    nnz = [int(np.count_nonzero(layer.weight)) for layer in net.layers]
    assert [c[3] for c in stand_in if c[0] == "Projection"] == nnz
    assert "SpiNNaker2Chip" not in kinds  # no board contact before the first action
    stand_in.clear()
    for obs in CARTPOLE_LIKE_OBS[:5]:
        a, b = pol.act(obs), emu.act(obs)
        assert np.array_equal(a.q.view(np.uint32), b.q.view(np.uint32))
        assert a.action == b.action and a.synaptic_events == b.synaptic_events
        assert a.chip_time_s > b.chip_time_s  # hardware adds host I/O (modeled)
    assert [c[0] for c in stand_in] == ["Network.reset", "SpiNNaker2Chip", "run"] * 5
    assert all(c == ("SpiNNaker2Chip", "192.168.1.25") for c in stand_in[1::3])
    assert all(c == ("run", 8, 1e-3) for c in stand_in[2::3])


def test_missing_py_spinnaker2_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "spinnaker2", None)  # makes the import fail
    with pytest.raises(NeuroqError) as exc:
        import_spinnaker2()
    assert str(exc.value) == INSTALL_HINT and "\n" not in INSTALL_HINT
    assert "pip install git+" in INSTALL_HINT and "not on PyPI" in INSTALL_HINT
    net = random_network((8, 16, 2), seed=1)
    with pytest.raises(NeuroqError, match="py-spinnaker2 is not installed"):
        SpikingPolicy(net, rate_encoder(), backend="spinnaker2", board_ip="10.0.0.2")


def test_missing_board_address_and_unknown_backend(tmp_path):
    net = random_network((8, 16, 2), seed=1)
    with pytest.raises(NeuroqError, match="board-ip"):
        SpikingPolicy(net, rate_encoder(), backend="spinnaker2", board_ip=None)
    with pytest.raises(NeuroqError, match="board-ip"):
        load_policy(tmp_path, backend="spinnaker2")
    with pytest.raises(NeuroqError, match="unknown backend 'loihi'"):
        load_policy(tmp_path, backend="loihi")


def test_board_failure_is_a_clear_error(stand_in, monkeypatch):
    net = random_network((8, 16, 2), seed=1)
    pol = SpikingPolicy(net, rate_encoder(), backend="spinnaker2", board_ip="10.0.0.9")

    def unreachable(self, *args, **kwargs):
        raise TimeoutError("no answer")

    monkeypatch.setattr(sys.modules["spinnaker2"].hardware.SpiNNaker2Chip, "run", unreachable)
    with pytest.raises(NeuroqError, match="board at 10.0.0.9 failed.*TimeoutError"):
        pol.act(CARTPOLE_LIKE_OBS[0])


def test_the_boards_q_values_are_compared_with_the_emulators(stand_in, monkeypatch, tmp_path,
                                                              capsys):
    """An outsider's stand-in board whose voltages were all zero played "return 10.50",
    exit 0: the emulator runs beside the board anyway (for the counts), and now the two are
    compared per action (`BoardCheck`), reported by eval and warned when they differ."""
    from pathlib import Path

    from neuroq.agents.cli.main import main

    net = random_network((8, 16, 2), timesteps=8, seed=3)
    pol = SpikingPolicy(net, rate_encoder(), backend="spinnaker2", board_ip="10.0.0.9")
    for obs in CARTPOLE_LIKE_OBS[:4]:
        pol.act(obs)
    pol.run_batch(CARTPOLE_LIKE_OBS[:3])
    assert pol.board_check.to_dict() == {"actions": 7, "differing_actions": 0,
                                         "max_abs_dq": 0.0, "beyond_rounding": 0,
                                         "near_tie_flips": 0, "rounding_rel": 1e-4,
                                         "differs": False}
    assert SpikingPolicy(net, rate_encoder()).board_check is None  # the emulator alone
    shipped = Path(__file__).resolve().parents[1] / "config" / "artifacts" / "cartpole"
    argv = ["eval", str(shipped), "--backend", "spinnaker2", "--board-ip", "10.0.0.9",
            "--episodes", "1", "--max-steps", "20", "--out", str(tmp_path / "runs")]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert ("board vs emulator   0 of 20 actions differ, max |dQ| 0, 0 beyond rounding  "
            "[measured]") in out
    assert "warning" not in err
    population = sys.modules["spinnaker2"].snn.Population
    monkeypatch.setattr(population, "get_voltages",
                        lambda self: {i: np.zeros(8, np.float32) for i in range(self.size)})
    assert main(argv) == 1  # saved and said, and a status a script sees
    out, err = capsys.readouterr()
    line = next(x for x in out.splitlines() if x.startswith("board vs emulator"))
    assert "0 of 20" not in line and "max |dQ| 0 " not in line
    assert "neuroq eval: warning: the board's Q-values are not the emulator's" in err


def test_a_board_that_does_not_answer_is_an_error_not_a_hang(stand_in, monkeypatch):
    """A stand-in whose hw.run never returned kept `neuroq eval` and the policy node's
    activation waiting for ever."""
    import threading

    import neuroq.deploy.spinnaker2 as s2

    release = threading.Event()
    monkeypatch.setattr(s2, "BOARD_RUN_TIMEOUT_S", 0.2)
    monkeypatch.setattr(sys.modules["spinnaker2"].hardware.SpiNNaker2Chip, "run",
                        lambda self, *a, **k: release.wait(10))
    pol = SpikingPolicy(random_network((8, 16, 2), seed=1), rate_encoder(),
                        backend="spinnaker2", board_ip="10.0.0.9")
    try:
        with pytest.raises(NeuroqError, match="10.0.0.9 did not answer within 0.2 s"):
            pol.act(CARTPOLE_LIKE_OBS[0])
        # the next action starts no second run on the objects the hung one still holds
        # (a reviewer): refused at once
        started = time.monotonic()
        with pytest.raises(NeuroqError, match="has not answered an earlier run"):
            pol.act(CARTPOLE_LIKE_OBS[1])
        assert time.monotonic() - started < 0.1
    finally:
        release.set()


def test_non_finite_board_values_are_never_an_agreement(stand_in, monkeypatch):
    """NaN voltages: argmax took action 0, and max(0, nan) kept |dQ| at 0, so a board
    returning NaN passed the check whenever the emulator's action was 0 (a reviewer)."""
    from neuroq.deploy.policy import BoardCheck

    check = BoardCheck()
    assert check.add(np.array([[np.nan, np.nan]], np.float32),
                     np.array([[1.0, 0.0]], np.float32)) == 1
    assert check.differs and check.max_abs_dq == float("inf")
    population = sys.modules["spinnaker2"].snn.Population
    monkeypatch.setattr(population, "get_voltages",
                        lambda self: {i: np.full(1, np.nan, np.float32) for i in range(self.size)})
    pol = SpikingPolicy(random_network((8, 16, 2), seed=1), rate_encoder(),
                        backend="spinnaker2", board_ip="10.0.0.9")
    with pytest.raises(NeuroqError, match="returned non-finite output voltages"):
        pol.act(CARTPOLE_LIKE_OBS[0])


@pytest.mark.parametrize("address", ["999.1.1.1", "http://10.0.0.2", "10.0.0.2:5000",
                                     "board 1", "-board", "1.2.3", " "])
def test_a_board_address_that_is_none_is_refused_before_anything(address):
    from neuroq.deploy.policy import check_policy_settings

    with pytest.raises(NeuroqError, match="board"):
        check_policy_settings("spinnaker2", board_ip=address)


@pytest.mark.parametrize("address", ["192.168.1.25", "fe80::1", "s2-board.lab", "board7"])
def test_board_addresses_and_host_names_are_taken(address):
    from neuroq.deploy.policy import check_policy_settings

    check_policy_settings("spinnaker2", board_ip=address)


def test_a_network_the_library_refuses_is_one_line(stand_in, monkeypatch):
    """A library that rejected what the adapter built (an outsider's probe: a record name
    it did not know) ended `neuroq deploy` and `neuroq eval` with a traceback."""
    population = sys.modules["spinnaker2"].snn.Population
    built = population.__init__

    def refusing(self, *args, **kwargs):
        if kwargs.get("record"):
            raise ValueError(f"unknown record option {kwargs['record']}")
        built(self, *args, **kwargs)

    monkeypatch.setattr(population, "__init__", refusing)
    net = random_network((8, 16, 2), seed=1)
    with pytest.raises(NeuroqError, match="py-spinnaker2 refused the network.*ValueError: "
                                          "unknown record option"):
        SpikingPolicy(net, rate_encoder(), backend="spinnaker2", board_ip="10.0.0.9")


def test_each_run_starts_from_a_reset_network(stand_in):
    """The public examples call net.reset() before every run (it clears the last run's
    spikes and voltages); the adapter did not (an outsider). The stand-in carries the last
    run's voltages over without it, so a second action would differ from the emulator's."""
    net = random_network((8, 16, 2), timesteps=8, seed=5)
    pol = SpikingPolicy(net, rate_encoder(), backend="spinnaker2", board_ip="10.0.0.9")
    emu = SpikingPolicy(net, rate_encoder())
    for obs in CARTPOLE_LIKE_OBS[:6]:
        assert np.array_equal(pol.act(obs).q, emu.act(obs).q)
    assert pol.board_check.to_dict()["differing_actions"] == 0


def test_the_board_check_takes_float32_rounding_for_agreement():
    """An audit: the chip's firmware may add excitatory and inhibitory input apart, which
    moved CartPole's Q-values (about 40) by 3.8e-6 in 263 of 300 actions with no greedy
    action changed; the check's bit-for-bit rule made `neuroq eval` exit 1 on such a board.
    Rounding is agreement; a difference beyond BOARD_ROUNDING_REL of the largest |Q| is not."""
    from neuroq.deploy.policy import BOARD_ROUNDING_REL, BoardCheck

    q = np.array([[40.0, 38.5], [12.0, 39.0]], np.float32)
    check = BoardCheck()
    assert check.add(q + np.float32(3.8e-6), q) == 0
    assert not check.differs and 0 < check.max_abs_dq < 1e-5
    assert check.to_dict()["beyond_rounding"] == 0
    off = q.copy()
    off[1, 0] += 40 * BOARD_ROUNDING_REL * 2  # same greedy action, beyond rounding
    assert check.add(off, q) == 0 and check.differs and check.beyond_rounding == 1
    # a tie broken the other way by rounding is agreement; a real flip is not (a review)
    tie = BoardCheck()
    emu = np.array([[40.0, 40.0]], np.float32)
    assert tie.add(emu + np.array([[0.0, 4e-6]], np.float32), emu) == 0
    assert not tie.differs and tie.near_tie_flips == 1
    assert tie.add(np.array([[39.0, 40.0]], np.float32), np.array([[40.0, 39.0]], np.float32)) == 1
    # the tolerance is each observation's: a large Q elsewhere in the batch (or an inf)
    # does not pass an 18 % error (a review)
    wide = BoardCheck()
    emu = np.array([[1000.0, 0.0], [1.0, 0.5]], np.float32)
    board = np.array([[1000.0, 0.0], [1.0, 0.59]], np.float32)
    assert wide.add(board, emu) == 0 and wide.beyond_rounding == 1 and wide.differs
    inf = BoardCheck()
    assert inf.add(np.array([[np.inf, 0.0], [1.0, 0.59]], np.float32),
                   np.array([[np.inf, 0.0], [1.0, 0.5]], np.float32)) == 1
    assert inf.beyond_rounding == 2
