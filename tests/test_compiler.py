"""Compiler: populations and projections as py-spinnaker2 wants them; placement limits."""

import numpy as np
import pytest

from neuroq.deploy.chip import constant
from neuroq.deploy.compiler import NEVER_FIRE_THRESHOLD, ChipLimits, compile_program
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import Layer, SpikingQNetwork
from tests.helpers.networks import random_network


def check_placement(prog):
    limits = prog.limits
    assert [s.pe for s in prog.placement] == list(range(prog.n_pes))
    assert prog.n_pes <= limits.n_pes
    for pop, atoms in zip(prog.populations, prog.atoms_per_pe, strict=True):
        slots = prog.pes_of(pop.name)
        covered = np.concatenate([np.arange(s.start, s.stop) for s in slots])
        assert np.array_equal(covered, np.arange(pop.size)), pop.name
        assert all(s.n_neurons <= min(atoms, limits.max_neurons_per_pe) for s in slots)
    for s in prog.placement:
        assert s.sram_bytes <= limits.data_sram_per_pe_bytes


def test_populations_projections_and_placement_of_a_64_256_256_2_network():
    net = random_network((64, 256, 256, 2), seed=1)
    prog = compile_program(net)
    check_placement(prog)
    names = [p.name for p in prog.populations]
    assert names == ["input", "fc0", "fc1", "fc2"]
    assert [p.neuron_model for p in prog.populations] == [
        "spike_list", "lif_no_delay", "lif_no_delay", "lif_no_delay"]
    assert prog.populations[-1].record == ("v",)  # as public py-spinnaker2 examples record
    assert all(p.record == () for p in prog.populations[:-1])
    out = prog.populations[-1].params
    assert np.all(out["threshold"] == NEVER_FIRE_THRESHOLD)
    assert out["threshold"].dtype == np.float32
    hidden = prog.populations[1].params
    assert set(hidden) == {"threshold", "alpha_decay", "i_offset", "v_init", "v_reset", "reset"}
    assert np.array_equal(hidden["threshold"], net.layers[0].params.threshold)
    assert hidden["reset"] == "reset_by_subtraction"
    assert [(p.pre, p.post) for p in prog.projections] == [
        ("input", "fc0"), ("fc0", "fc1"), ("fc1", "fc2")]
    assert all(p.weight.dtype == np.int8 and p.delay_steps == 1 for p in prog.projections)
    # fc0: 256 neurons > 250 per PE -> 2 PEs; fc1: 256 inputs x 4 B per synapse -> SRAM bound
    assert len(prog.pes_of("fc0")) == 2
    per_neuron = (np.count_nonzero(net.layers[1].weight, axis=1)
                  * constant("synapse_word_bytes") + constant("neuron_state_bytes"))

    def worst_chunk(n):
        return max(per_neuron[i:i + n].sum() for i in range(0, 256, n)) + constant(
            "pe_fixed_data_bytes")

    fc1_atoms = prog.atoms_per_pe[2]
    assert fc1_atoms < 250  # SRAM, not the neuron count, limits this layer
    assert worst_chunk(fc1_atoms) <= constant("data_sram_per_pe_bytes")
    assert worst_chunk(fc1_atoms + 1) > constant("data_sram_per_pe_bytes")
    assert "of 148 usable PEs" in prog.placement_table()


def test_neurons_per_pe_limit_is_respected():
    net = random_network((4, 100, 2), seed=2)
    prog = compile_program(net, ChipLimits(max_neurons_per_pe=10))
    check_placement(prog)
    assert len(prog.pes_of("fc0")) == 10


def test_zero_weights_take_no_sram():
    dense = compile_program(random_network((256, 200, 2), seed=3))
    sparse = compile_program(random_network((256, 200, 2), seed=3, zero_fraction=0.9))
    assert len(sparse.pes_of("fc0")) < len(dense.pes_of("fc0"))
    check_placement(sparse)


def test_network_too_big_for_one_chip_names_layer_and_limit():
    net = random_network((4, 2000, 2000, 2), timesteps=4, seed=4)
    with pytest.raises(NeuroqError, match=r"layer fc1 .*usable_pes_per_chip"):
        compile_program(net)


def test_fan_in_too_big_for_one_pe_names_layer_and_limit():
    net = random_network((30000, 2, 2), timesteps=4, seed=5)
    with pytest.raises(NeuroqError, match=r"layer fc0 .*data_sram_per_pe_bytes"):
        compile_program(net)


def test_weight_minus_128_is_refused():
    net = random_network((4, 8, 2), seed=6)
    w = net.layers[1].weight.copy()
    w[0, 0] = -128
    bad = SpikingQNetwork((net.layers[0], Layer("fc1", w, 1.0, net.layers[1].params,
                                                spiking=False)), net.timesteps)
    with pytest.raises(NeuroqError, match=r"layer fc1 .*-128.*max_weight_magnitude"):
        compile_program(bad)


def test_mixed_threshold_comparisons_are_refused():
    a = random_network((4, 8, 8, 2), compare=">=", seed=7)
    b = random_network((4, 8, 8, 2), compare=">", seed=7)
    mixed = SpikingQNetwork((a.layers[0], b.layers[1], a.layers[2]), a.timesteps)
    with pytest.raises(NeuroqError, match="comparison"):
        compile_program(mixed)
