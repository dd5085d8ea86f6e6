"""Emulator: bit-for-bit agreement with the reference model, counts per PE, clean state."""

import numpy as np
import pytest

import neuroq.deploy.emulator as emulator_mod
from neuroq.deploy.compiler import compile_program
from neuroq.deploy.emulator import Emulator
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import SpikingQNetwork, run_reference
from tests.helpers.networks import random_network


def spikes(net, batch, rate=0.3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((net.timesteps, batch, net.n_inputs)) < rate


def assert_same_as_reference(net, s):
    ref = run_reference(net, s)
    got = Emulator(compile_program(net)).run(s)
    # bit for bit: compare the float32 bit patterns, not just values
    assert np.array_equal(ref.q.view(np.uint32), got.q.view(np.uint32))
    assert np.array_equal(ref.v_out.view(np.uint32), got.v_out.view(np.uint32))
    assert np.array_equal(np.argmax(ref.q, axis=1), got.actions)
    assert np.array_equal(ref.synaptic_events, got.synaptic_events)
    for a, b in zip(ref.spike_counts, got.spike_counts, strict=True):
        assert np.array_equal(a, b)
    return got


@pytest.mark.parametrize("widths", [(64, 256, 256, 2), (8, 256, 256, 2), (6, 20, 3), (5, 2)])
@pytest.mark.parametrize("batch", [1, 3, 64])
def test_bit_identical_to_reference(widths, batch):
    net = random_network(widths, timesteps=8, seed=len(widths) + batch)
    got = assert_same_as_reference(net, spikes(net, batch))
    assert got.q.dtype == np.float32 and got.q.shape == (batch, widths[-1])
    if len(widths) > 2:
        assert sum(c.sum() for c in got.spike_counts[1:]) > 0, "hidden layers must fire"


@pytest.mark.parametrize("alpha", [1.0, 0.875, 0.3])
@pytest.mark.parametrize("compare", [">=", ">"])
@pytest.mark.parametrize("reset", ["reset_by_subtraction", "reset_to_v_reset"])
def test_bit_identical_for_every_neuron_variant(alpha, compare, reset):
    net = random_network((10, 40, 30, 4), timesteps=12, alpha=alpha, compare=compare,
                         reset=reset, seed=3)
    for batch in (1, 9):
        assert_same_as_reference(net, spikes(net, batch, rate=0.4))


def test_bit_identical_with_negative_zero_and_zero_offsets():
    """-0.0 in parameters and all-zero offsets switch the emulator's shortcuts off/on."""
    net = random_network((6, 16, 2), timesteps=5, i_offset_sd=0.0, seed=4)
    assert_same_as_reference(net, spikes(net, 4))
    layer = net.layers[0]
    off = layer.params.i_offset.copy()
    off[::2] = -0.0
    params = layer.params._replace(i_offset=off)
    net2 = SpikingQNetwork((layer.__class__(layer.name, layer.weight, 1.0, params),
                            net.layers[1]), net.timesteps)
    assert Emulator(compile_program(net2)).exact_zeros is False
    for batch in (1, 5):
        assert_same_as_reference(net2, spikes(net2, batch))


def test_bit_identical_with_silent_input_steps():
    """Silent populations skip their products: a silent tail and silent hidden layers."""
    net = random_network((16, 64, 32, 2), timesteps=8, i_offset_sd=0.0, seed=13)
    for batch in (1, 7):
        s = spikes(net, batch, rate=0.5)
        s[5:] = False
        assert_same_as_reference(net, s)
        s[:] = False
        got = assert_same_as_reference(net, s)
        assert got.synaptic_events.sum() == 0


def test_bit_identical_with_a_reset_mode_per_layer():
    a = random_network((10, 30, 20, 3), reset="reset_by_subtraction", seed=12)
    b = random_network((10, 30, 20, 3), reset="reset_to_v_reset", seed=12)
    mixed = SpikingQNetwork((a.layers[0], b.layers[1], a.layers[2]), a.timesteps)
    for batch in (1, 6):
        assert_same_as_reference(mixed, spikes(mixed, batch, rate=0.5))


def test_integer_sums_beyond_int8_range_are_exact():
    """Large fan-in, all weights +-127: synaptic sums of tens of thousands stay exact."""
    net = random_network((2000, 8, 2), timesteps=4, seed=5)
    w = np.where(net.layers[0].weight >= 0, 127, -127).astype(np.int8)
    layer = net.layers[0].__class__("fc0", w, 1.0, net.layers[0].params)
    net = SpikingQNetwork((layer, net.layers[1]), 4)
    assert_same_as_reference(net, spikes(net, 3, rate=0.9))


def test_large_batches_are_chunked(monkeypatch):
    monkeypatch.setattr(emulator_mod, "MAX_CHUNK", 7)
    net = random_network((8, 32, 2), seed=6)
    got = assert_same_as_reference(net, spikes(net, 30))
    assert got.events_per_pe.shape == (30, compile_program(net).n_pes)


def test_events_per_pe_count_delivered_spikes_times_nonzero_weights():
    net = random_network((12, 300, 40, 3), timesteps=6, zero_fraction=0.3, seed=8)
    prog = compile_program(net)
    assert len(prog.pes_of("fc0")) == 2  # 300 neurons, at most 250 per PE
    s = spikes(net, 5)
    got = Emulator(prog).run(s)
    # spikes delivered = spikes of steps 0..T-2 = spike counts of a run one step shorter
    short = SpikingQNetwork(net.layers, net.timesteps - 1, net.q_scale)
    delivered = run_reference(short, s[:-1]).spike_counts
    want = np.zeros_like(got.events_per_pe)
    for slot in prog.placement:
        if slot.pop_index == 0:
            continue
        w = prog.projections[slot.pop_index - 1].weight[slot.start:slot.stop]
        want[:, slot.pe] = delivered[slot.pop_index - 1] @ np.count_nonzero(w, axis=0)
    assert np.array_equal(got.events_per_pe, want)
    assert np.all(got.events_per_pe.sum(axis=1) < got.synaptic_events)  # zeros not sent
    sent = np.zeros_like(got.spikes_per_pe)
    for slot in prog.placement:
        if slot.pop_index < len(got.spike_counts):
            sent[:, slot.pe] = got.spike_counts[slot.pop_index][:, slot.start:slot.stop].sum(1)
    assert np.array_equal(got.spikes_per_pe, sent)
    for slot in prog.placement:
        want_updates = 0 if slot.pop_index == 0 else slot.n_neurons * net.timesteps
        assert got.neuron_updates_per_pe[slot.pe] == want_updates


def test_bad_input_raises_and_does_not_corrupt_the_next_run():
    net = random_network((8, 32, 2), seed=9)
    emu = Emulator(compile_program(net))
    s1, s5 = spikes(net, 1), spikes(net, 5, seed=2)
    first1, first5 = emu.run(s1), emu.run(s5)
    for bad in (s1[:-1], s1[:, :, :-1], s1[0], np.zeros((net.timesteps, 0, 8), bool)):
        with pytest.raises(NeuroqError, match="input spikes"):
            emu.run(bad)
    again5, again1 = emu.run(s5), emu.run(s1)
    assert np.array_equal(first1.q, again1.q) and np.array_equal(first5.q, again5.q)
    assert np.array_equal(first5.events_per_pe, again5.events_per_pe)


@pytest.mark.parametrize("widths,alpha,compare,reset", [
    ((64, 256, 256, 2), 1.0, ">=", "reset_by_subtraction"),
    ((10, 40, 30, 4), 0.875, ">", "reset_to_v_reset"),
    ((6, 20, 3), 0.3, ">=", "reset_to_v_reset"),
    ((5, 2), 1.0, ">=", "reset_by_subtraction"),
])
def test_run_one_equals_a_batch_of_one(widths, alpha, compare, reset):
    """The per-action fast path: the same Q-value bits and the counts summed over PEs."""
    net = random_network(widths, timesteps=6, alpha=alpha, compare=compare, reset=reset,
                         seed=7)
    emu = Emulator(compile_program(net))
    s = spikes(net, 5, rate=0.4)
    for b in range(5):
        want = emu.run(s[:, b:b + 1])
        got = emu.run_one(s[:, b])
        assert np.array_equal(want.q[0].view(np.uint32), got.q.view(np.uint32))
        assert got.q.dtype == np.float32 and got.q.shape == (widths[-1],)
        assert got.synaptic_events == int(want.synaptic_events[0])
        assert got.chip_events == int(want.events_per_pe[0].sum())
        assert got.spikes == int(want.spikes_per_pe[0].sum())
        assert got.neuron_updates == int(want.neuron_updates_per_pe.sum())
    with pytest.raises(NeuroqError, match="shape"):
        emu.run_one(s[:, :2])


def _shipped_cartpole():
    from neuroq.deploy.policy import load_policy
    from tests.helpers import REPO_ROOT

    return load_policy(REPO_ROOT / "config" / "artifacts" / "cartpole")


def _observations(n, seed=5):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 4)) * [0.5, 0.5, 0.05, 0.5]).astype(np.float32)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_used_policy_copied_or_pickled_gives_the_same_q_values(how):
    """An outsider's copy of a policy that had acted once gave Q-values [0.909, 0.749]
    against [38.79, 39.13] (its output biases alone): the copy took the emulator's buffers
    along as separate arrays, no longer views of one another."""
    import copy
    import pickle

    pol = _shipped_cartpole()
    obs = _observations(50)
    first = [pol.act(o).q for o in obs]
    batch = pol.run_batch(obs[:1]).q  # a cached batch of one too
    twin = copy.deepcopy(pol) if how == "deepcopy" else pickle.loads(pickle.dumps(pol))
    for o, q in zip(obs, first, strict=True):
        assert np.array_equal(twin.act(o).q, q)
    assert np.array_equal(twin.run_batch(obs[:1]).q, batch)
    assert np.array_equal(twin.run_batch(obs).q, np.stack(first))


def test_one_policy_shared_by_two_threads_gives_each_the_q_values_of_one():
    """Two threads acting on one policy (2 x 2000 calls) got wrong Q-values in 21-23
    (act) and 366-371 (run_batch) of their calls each, without an error (an outsider):
    the emulator's buffers are taken by one run at a time."""
    import threading

    pol = _shipped_cartpole()
    obs = _observations(400)
    want = np.stack([pol.act(o).q for o in obs])
    wrong: list[int] = []

    def work(offset):
        bad = 0
        for i in range(2 * len(obs)):
            j = (i + offset) % len(obs)
            q = pol.act(obs[j]).q if i % 2 else pol.run_batch(obs[j:j + 1]).q[0]
            bad += not np.array_equal(q, want[j])
        wrong.append(bad)

    threads = [threading.Thread(target=work, args=(k * 97,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert wrong == [0, 0]


def test_a_batch_of_one_s_membrane_potentials_are_not_overwritten_by_the_next_run():
    """`EmulatorResult.v_out` of a batch of one was a view of the emulator's buffer (a
    (1, n) transpose counts as contiguous, so ascontiguousarray kept it): the next run
    changed it."""
    net = random_network([6, 10, 3], timesteps=5, seed=3)
    em = Emulator(compile_program(net))
    first = em.run(spikes(net, 1, seed=1))
    kept = first.v_out.copy()
    em.run(spikes(net, 1, seed=2))
    assert np.array_equal(first.v_out, kept)


def test_what_a_policy_runs_is_fixed_once_it_is_made():
    """An outsider's `pol.performance_level = "high"` changed no energy figure, `pol.backend
    = "spinnaker2"` relabelled emulator actions, and weights changed in place moved the
    reference backend's Q-values but not the emulator's (compiled at load)."""
    pol = _shipped_cartpole()
    for name, value in (("performance_level", "high"), ("backend", "spinnaker2"),
                        ("timesteps", 8), ("network", None), ("encoder", None),
                        ("n_obs", 3)):
        with pytest.raises(AttributeError):
            setattr(pol, name, value)
    assert (pol.backend, pol.performance_level, pol.n_obs) == ("emulator", "low", 4)
    layer = pol.network.layers[-1]
    for array in (layer.weight, *(getattr(layer.params, f) for f in
                                  ("threshold", "alpha_decay", "i_offset", "v_reset"))):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
        with pytest.raises(ValueError):  # nor made writeable again (a recheck)
            array.setflags(write=True)


def test_a_layer_keeps_its_own_copy_of_the_arrays_it_was_given():
    from neuroq.deploy.network import Layer
    from neuroq.deploy.neuron import make_params

    w = np.ones((2, 3), np.int8)
    params = make_params(2, threshold=np.array([1.0, 2.0], np.float32))
    layer = Layer("l0", w, 1.0, params)
    w[0, 0] = 5  # the caller's arrays stay theirs to change
    params.threshold[0] = 9.0
    assert layer.weight[0, 0] == 1 and layer.params.threshold[0] == 1.0


@pytest.mark.parametrize("obs", [np.array(["0.01", "0", "0", "0"]),
                                 np.array([0.01, 0, 0, 0], complex)])
def test_an_observation_of_text_or_complex_numbers_is_refused(obs):
    """An outsider's array of strings was parsed as numbers, and a complex one lost its
    imaginary part with numpy's warning only."""
    pol = _shipped_cartpole()
    with pytest.raises(NeuroqError, match="array of real numbers"):
        pol.act(obs)
    with pytest.raises(NeuroqError, match="array of real numbers"):
        pol.run_batch(obs[None])


@pytest.mark.parametrize("value", [0.5, 2, -1, np.nan])
def test_input_spikes_other_than_0_and_1_are_refused(value):
    """Any non-zero value counted as a spike (0.5, 2, -1, NaN: an outsider)."""
    net = random_network([6, 10, 3], timesteps=5, seed=3)
    em = Emulator(compile_program(net))
    s = spikes(net, 2).astype(np.float32)
    assert np.array_equal(em.run(s).q, em.run(s.astype(bool)).q)  # 0/1 numbers are spikes
    s[1, 0, 2] = value
    with pytest.raises(NeuroqError, match="0 or 1"):
        em.run(s)
    with pytest.raises(NeuroqError, match="0 or 1"):
        em.run_one(s[:, 0])
