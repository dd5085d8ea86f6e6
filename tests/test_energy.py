"""Energy and latency model: the formula by hand, levels, scopes, and the constants table."""

from pathlib import Path

import numpy as np
import pytest

from neuroq.deploy.chip import CONSTANTS, PERFORMANCE_LEVELS, constant, constants_table_markdown
from neuroq.deploy.compiler import compile_program
from neuroq.deploy.emulator import Emulator
from neuroq.deploy.energy import EnergyModel
from neuroq.deploy.errors import NeuroqError
from tests.helpers.networks import random_network

TAGS = {"[src]", "[doc]", "[3rd]", "[assume]"}


def test_every_constant_has_unit_tag_and_source():
    for c in CONSTANTS.values():
        assert c.tag in TAGS and c.unit and c.source and c.meaning, c.name
    table = constants_table_markdown()
    assert all(name in table for name in CONSTANTS)


def test_docs_carry_the_current_constants_table():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "chip.md").read_text()
    for row in constants_table_markdown().splitlines()[2:]:
        assert row in doc, f"docs/chip.md is out of date: {row}"


def test_derived_energy_per_cycle_matches_the_design_figures():
    # docs/chip.md, "Performance levels and power": 8.30 pJ per cycle at 150 MHz, 14.98 at 300
    assert PERFORMANCE_LEVELS["low"].energy_per_cycle_j == pytest.approx(8.3e-12, rel=0.01)
    assert PERFORMANCE_LEVELS["high"].energy_per_cycle_j == pytest.approx(15.0e-12, rel=0.01)
    assert PERFORMANCE_LEVELS["low"].busy_pe_power_w == pytest.approx(1.245e-3, rel=0.01)


def test_cost_follows_the_formula_by_hand():
    net = random_network((8, 40, 2), timesteps=6, seed=2)
    prog = compile_program(net)
    r = Emulator(prog).run(np.random.default_rng(0).random((6, 3, 8)) < 0.5)
    model = EnergyModel(prog, "low", "chip")
    cost = model.cost(r.events_per_pe, r.spikes_per_pe, r.neuron_updates_per_pe)
    lvl = PERFORMANCE_LEVELS["low"]
    for b in range(3):
        cycles = 0.0
        for pe in range(prog.n_pes):
            cycles += (r.events_per_pe[b, pe] * constant("cycles_per_synaptic_event")
                       + r.spikes_per_pe[b, pe] * constant("cycles_per_spike_sent")
                       + r.neuron_updates_per_pe[pe] * constant("cycles_per_neuron_update")
                       + 6 * constant("cycles_per_tick_overhead"))
        assert cost.busy_cycles[b] == pytest.approx(cycles)
        assert cost.energy_dynamic_j[b] == pytest.approx(cycles * lvl.energy_per_cycle_j)
    assert cost.chip_time_s == pytest.approx(6 * constant("sys_tick_s"))
    assert cost.energy_static_j == pytest.approx(constant("power_sleep_low_w") * 6e-3)
    assert np.allclose(cost.energy_total_j, cost.energy_dynamic_j + cost.energy_static_j)
    assert np.all(cost.energy_static_j > cost.energy_dynamic_j)  # small net: static dominates
    assert cost.modeled and cost.static_scope == "chip" and np.all(cost.tick_load < 1)


def test_levels_scopes_and_hardware_io():
    prog = compile_program(random_network((8, 40, 2), timesteps=6, seed=2))
    ev, sp, up = np.full((1, prog.n_pes), 100), np.full((1, prog.n_pes), 5), np.full(
        prog.n_pes, 10)
    low, high = EnergyModel(prog, "low"), EnergyModel(prog, "high")
    assert high.cost(ev, sp, up).energy_dynamic_j[0] > low.cost(ev, sp, up).energy_dynamic_j[0]
    used = EnergyModel(prog, "low", "pes_used").cost(ev, sp, up)
    n = prog.n_pes
    p_used = constant("power_all_pes_off_w") + n * PERFORMANCE_LEVELS["low"].sleep_pe_power_w
    assert used.energy_static_j == pytest.approx(p_used * 6e-3)
    assert used.energy_static_j < low.cost(ev, sp, up).energy_static_j
    hw = EnergyModel(prog, "low", on_hardware=True)
    assert hw.chip_time_s == pytest.approx(6e-3 + constant("host_io_per_run_s"))
    with pytest.raises(NeuroqError, match="performance level 'turbo'"):
        EnergyModel(prog, "turbo")
    with pytest.raises(NeuroqError, match="static scope"):
        EnergyModel(prog, "low", "board")
