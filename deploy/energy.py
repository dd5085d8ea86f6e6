"""Latency and energy per action on SpiNNaker2: a MODEL, not a measurement.

Every constant comes from the one table in `neuroq.deploy.chip` (value, unit, tag, source).
For one action (T network time steps) on a compiled program at a performance level:

    chip_time_s    = T * sys_tick_s  (+ host_io_per_run_s on hardware: one hw.run per action)
    busy_cycles_p  = events_p * cycles_per_synaptic_event
                   + neuron_updates_p * cycles_per_neuron_update
                   + spikes_sent_p * cycles_per_spike_sent
                   + T * cycles_per_tick_overhead                  for every used PE p
    E_dynamic      = sum_p busy_cycles_p * energy_per_cycle(level)
                     energy_per_cycle = (P_chip_busy - P_chip_sleep) / 152 PEs / clock
    P_static       = P_chip_sleep(level)                           static_scope "chip"
                   = P_all_off + n_pes_used * (P_chip_sleep - P_all_off) / 152
                                                                   static_scope "pes_used"
    E_static       = P_static * chip_time_s
    E_total        = E_dynamic + E_static

A small network leaves most of the chip idle, so the static term dominates E_total; both
are reported, and every comparison must say which one it uses. "chip" assumes unused PEs
sleep; "pes_used" assumes their power domains are switched off.

Real time: a PE must finish a tick's work within sys_tick_s; `tick_load` is the busiest
PE's cycles over the action divided by T, over the cycles a tick offers: a mean over the
action's ticks. Above 1 the chip would overrun its ticks; below 1 a single tick may still
overrun, since layers behind one-step delays get input only in some ticks (the emulator
counts per action, not per tick; a tick's load is at most T times this).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroq.deploy.chip import DEFAULT_PERFORMANCE_LEVEL, constant, performance_level
from neuroq.deploy.compiler import Program
from neuroq.deploy.errors import NeuroqError

STATIC_SCOPES = ("chip", "pes_used")
DEFAULT_STATIC_SCOPE = "chip"


@dataclass(frozen=True)
class ActionCost:
    """MODELED cost of the actions of a batch; arrays have shape (batch,)."""

    chip_time_s: float
    busy_cycles: np.ndarray
    energy_dynamic_j: np.ndarray
    energy_static_j: float
    energy_total_j: np.ndarray
    tick_load: np.ndarray
    performance_level: str
    static_scope: str
    n_pes_used: int
    modeled: bool = True


def check_static_scope(static_scope: Any) -> None:
    """NeuroqError unless `static_scope` is one of STATIC_SCOPES."""
    if static_scope not in STATIC_SCOPES:
        raise NeuroqError(
            f"unknown static scope {static_scope!r}; choose one of {', '.join(STATIC_SCOPES)}")


class EnergyModel:
    """The model above for one program, level and static scope."""

    def __init__(
        self,
        program: Program,
        level: str = DEFAULT_PERFORMANCE_LEVEL,
        static_scope: str = DEFAULT_STATIC_SCOPE,
        on_hardware: bool = False,
    ):
        check_static_scope(static_scope)
        self.level = performance_level(level)
        self.static_scope = static_scope
        self.timesteps = program.timesteps
        self.n_pes_used = program.n_pes
        self.on_hardware = on_hardware
        self.sys_tick_s = constant("sys_tick_s")
        self.chip_time_s = self.timesteps * self.sys_tick_s + (
            constant("host_io_per_run_s") if on_hardware else 0.0)
        if static_scope == "chip":
            self.static_power_w = self.level.chip_static_power_w
        else:
            self.static_power_w = (constant("power_all_pes_off_w")
                                   + self.n_pes_used * self.level.sleep_pe_power_w)
        self.c_syn = constant("cycles_per_synaptic_event")
        self.c_neuron = constant("cycles_per_neuron_update")
        self.c_spike = constant("cycles_per_spike_sent")
        self.c_tick = constant("cycles_per_tick_overhead")
        self.cycles_per_tick = self.level.clock_hz * self.sys_tick_s
        # per action, whatever the counts: every used PE's tick overhead (cycles) and the
        # static energy over the chip time (J); action_energy adds them
        self._tick_cycles_all_pes = self.n_pes_used * self.timesteps * self.c_tick
        self._static_energy_j = self.static_power_w * self.chip_time_s
        self._energy_per_cycle_j = self.level.energy_per_cycle_j  # a computed property

    def busy_cycles_per_pe(
        self, events_per_pe: np.ndarray, spikes_per_pe: np.ndarray, updates_per_pe: np.ndarray
    ) -> np.ndarray:
        """Busy cycles (batch, n_pes) of every used PE over one action."""
        fixed = np.asarray(updates_per_pe, np.float64) * self.c_neuron + (
            self.timesteps * self.c_tick)
        return events_per_pe * self.c_syn + spikes_per_pe * self.c_spike + fixed

    def action_energy(self, chip_events: float, spikes_sent: float,
                      neuron_updates: float) -> tuple[float, float]:
        """(dynamic, total) MODELED energy in J of one action from its summed counts.

        Busy cycles are linear in the counts, so totals over PEs suffice (fast path of
        `cost` for one action). neuron_updates: summed over PEs.
        """
        busy = (chip_events * self.c_syn + spikes_sent * self.c_spike
                + float(neuron_updates) * self.c_neuron + self._tick_cycles_all_pes)
        dynamic = busy * self._energy_per_cycle_j
        return dynamic, dynamic + self._static_energy_j

    def cost(
        self, events_per_pe: np.ndarray, spikes_per_pe: np.ndarray, updates_per_pe: np.ndarray
    ) -> ActionCost:
        """MODELED cost of each action from the counts of an emulator run."""
        cycles = self.busy_cycles_per_pe(events_per_pe, spikes_per_pe, updates_per_pe)
        busy = cycles.sum(axis=-1)
        dynamic = busy * self.level.energy_per_cycle_j
        static = self.static_power_w * self.chip_time_s
        load = cycles.max(axis=-1) / self.timesteps / self.cycles_per_tick
        return ActionCost(self.chip_time_s, busy, dynamic, static, dynamic + static, load,
                          self.level.name, self.static_scope, self.n_pes_used)

    def describe(self) -> dict:
        """The model's settings, for result files (all MODELED)."""
        return {
            "modeled": True,
            "performance_level": self.level.name,
            "clock_hz": self.level.clock_hz,
            "voltage_v": self.level.voltage_v,
            "energy_per_cycle_j": self.level.energy_per_cycle_j,
            "static_scope": self.static_scope,
            "static_power_w": self.static_power_w,
            "n_pes_used": self.n_pes_used,
            "chip_time_per_action_s": self.chip_time_s,
            "on_hardware": self.on_hardware,
        }
