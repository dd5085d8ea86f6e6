"""SpiNNaker2: every chip constant the compiler, emulator and energy model use, in one table.

Each constant has a value, a unit, a confidence tag and a source:

- [src]    read in source code or in the paper itself;
- [doc]    from documentation or an abstract;
- [3rd]    from a third-party summary: the best available estimate, keep it configurable;
- [assume] our own assumption, to be calibrated once a board is measured.

Nothing in this table is a measurement of ours. Figures derived from it (latency, energy)
are MODELED, and every report says so. The per-busy-PE and per-PE-sleeping powers are
derived from the chip powers (Scholze et al. 2026, via a summary) by spreading the difference
between two chip-level figures evenly over the 152 PEs.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuroq.deploy.errors import NeuroqError

SRC_CHIP = "SpiNNaker2 chip documentation (152 ARM Cortex-M4F PEs, 22FDX, DVFS)"
SRC_SUMMARY = "third-party summary of SpiNNaker2 (usable PEs, SRAM split, DVFS levels)"
SRC_POWER = "Scholze et al. 2026 chip power figures, via a third-party summary"
SRC_PY_S2 = "py-spinnaker2 (TU Dresden) host library: examples and model defaults"
SRC_NEUROQ = "neuroq assumption (no published figure found; calibrate on a board)"


@dataclass(frozen=True)
class ChipConstant:
    """One named constant: value in `unit`, confidence `tag`, where it comes from."""

    name: str
    value: float
    unit: str
    tag: str
    source: str
    meaning: str


def _c(name: str, value: float, unit: str, tag: str, source: str, meaning: str) -> ChipConstant:
    return ChipConstant(name, value, unit, tag, source, meaning)


#: The one table. Keys are the constant names used in code.
CONSTANTS: dict[str, ChipConstant] = {c.name: c for c in (
    # --- structure ---------------------------------------------------------------------------
    _c("pes_per_chip", 152, "PE", "[doc]", SRC_CHIP, "processing elements on one chip"),
    _c("usable_pes_per_chip", 148, "PE", "[3rd]", SRC_SUMMARY,
       "PEs available to applications (the rest run system software)"),
    _c("sram_per_pe_bytes", 128 * 1024, "byte", "[doc]", SRC_CHIP, "local SRAM of one PE"),
    _c("data_sram_per_pe_bytes", 96 * 1024, "byte", "[3rd]", SRC_SUMMARY,
       "SRAM of one PE left for data after about 32 KB of code"),
    _c("max_neurons_per_pe", 250, "neuron", "[src]", SRC_PY_S2,
       "most neurons one PE holds (one py-spinnaker2 model class sets 250)"),
    _c("max_weight_magnitude", 127, "weight unit", "[src]", SRC_PY_S2,
       "lif_no_delay weights are 8-bit signed, scaled to a largest magnitude of 127"),
    _c("synapse_word_bytes", 4, "byte/synapse", "[assume]", SRC_NEUROQ,
       "SRAM per stored synapse: one 32-bit word (8-bit weight, delay, target index)"),
    _c("neuron_state_bytes", 24, "byte/neuron", "[assume]", SRC_NEUROQ,
       "SRAM per neuron: float32 v, threshold, alpha_decay, i_offset, v_reset, input"),
    _c("pe_fixed_data_bytes", 4096, "byte/PE", "[assume]", SRC_NEUROQ,
       "SRAM per PE for buffers, routing keys, recording and bookkeeping"),
    _c("spike_source_bytes_per_neuron_step", 4, "byte/(neuron*step)", "[assume]", SRC_NEUROQ,
       "SRAM of a spike_list source per neuron and time step (one 32-bit spike time)"),
    # --- timing --------------------------------------------------------------------------------
    _c("sys_tick_s", 1e-3, "s", "[src]", SRC_PY_S2,
       "duration of one network time step (hw.run default sys_tick_in_s)"),
    _c("host_io_per_run_s", 20e-3, "s", "[assume]", SRC_NEUROQ,
       "host<->board transfer per hw.run (spike input down, voltages up), hardware only"),
    # --- performance levels (DVFS) -------------------------------------------------------------
    _c("clock_low_hz", 150e6, "Hz", "[3rd]", SRC_SUMMARY, "PE clock at the low level"),
    _c("voltage_low_v", 0.5, "V", "[3rd]", SRC_SUMMARY, "core voltage at the low level"),
    _c("clock_high_hz", 300e6, "Hz", "[3rd]", SRC_SUMMARY, "PE clock at the high level"),
    _c("voltage_high_v", 0.8, "V", "[3rd]", SRC_SUMMARY, "core voltage at the high level"),
    # --- chip power ------------------------------------------------------------------------------
    _c("power_all_pes_off_w", 75.2e-3, "W", "[3rd]", SRC_POWER, "chip with all PEs off"),
    _c("power_sleep_low_w", 235.4e-3, "W", "[3rd]", SRC_POWER,
       "chip with all PEs sleeping, 0.5 V"),
    _c("power_sleep_high_w", 564.7e-3, "W", "[3rd]", SRC_POWER,
       "chip with all PEs sleeping, 0.8 V"),
    _c("power_busy_low_w", 424.6e-3, "W", "[3rd]", SRC_POWER,
       "chip with all 152 PEs busy (CoreMark), 0.5 V"),
    _c("power_busy_high_w", 1247.9e-3, "W", "[3rd]", SRC_POWER,
       "chip with all 152 PEs busy (CoreMark), 0.8 V"),
    # --- cycle costs -----------------------------------------------------------------------------
    _c("cycles_per_synaptic_event", 10, "cycle", "[assume]", SRC_NEUROQ,
       "PE cycles to apply one synaptic event (read word, add weight to input)"),
    _c("cycles_per_neuron_update", 40, "cycle", "[assume]", SRC_NEUROQ,
       "PE cycles for one float32 LIF update (decay, offset, input, threshold, reset)"),
    _c("cycles_per_spike_sent", 20, "cycle", "[assume]", SRC_NEUROQ,
       "PE cycles to send one spike packet (sources and spiking layers)"),
    _c("cycles_per_tick_overhead", 2000, "cycle", "[assume]", SRC_NEUROQ,
       "PE cycles per time step per used PE: timer interrupt, DMA, scheduling"),
)}


def constant(name: str) -> float:
    """The value of constant `name` (see CONSTANTS for its unit)."""
    return CONSTANTS[name].value


@dataclass(frozen=True)
class PerformanceLevel:
    """One DVFS level, with power figures derived from the table (all MODELED).

    busy_pe_power_w: extra power of one busy PE over a sleeping one,
        (chip busy - chip sleeping) / PEs per chip.
    energy_per_cycle_j: busy_pe_power_w / clock_hz.
    sleep_pe_power_w: power of one sleeping PE over an off one,
        (chip sleeping - chip off) / PEs per chip.
    chip_static_power_w: the whole chip with every PE sleeping.
    """

    name: str
    clock_hz: float
    voltage_v: float
    chip_static_power_w: float
    busy_pe_power_w: float
    sleep_pe_power_w: float

    @property
    def energy_per_cycle_j(self) -> float:
        return self.busy_pe_power_w / self.clock_hz


def _level(name: str) -> PerformanceLevel:
    n_pes = constant("pes_per_chip")
    sleep, busy = constant(f"power_sleep_{name}_w"), constant(f"power_busy_{name}_w")
    return PerformanceLevel(
        name=name,
        clock_hz=constant(f"clock_{name}_hz"),
        voltage_v=constant(f"voltage_{name}_v"),
        chip_static_power_w=sleep,
        busy_pe_power_w=(busy - sleep) / n_pes,
        sleep_pe_power_w=(sleep - constant("power_all_pes_off_w")) / n_pes,
    )


PERFORMANCE_LEVELS: dict[str, PerformanceLevel] = {n: _level(n) for n in ("low", "high")}
DEFAULT_PERFORMANCE_LEVEL = "low"


def performance_level(name: str) -> PerformanceLevel:
    """The named level ('low': 150 MHz at 0.5 V, 'high': 300 MHz at 0.8 V)."""
    try:
        return PERFORMANCE_LEVELS[name]
    except (KeyError, TypeError):  # TypeError: an unhashable value (a list from YAML)
        raise NeuroqError(
            f"unknown performance level {name!r}; choose one of "
            f"{', '.join(PERFORMANCE_LEVELS)}") from None


def constants_table_markdown() -> str:
    """The table as Markdown (docs/chip.md and `neuroq deploy` print it)."""
    rows = ["| name | value | unit | tag | source | meaning |", "|---|---|---|---|---|---|"]
    for c in CONSTANTS.values():
        rows.append(f"| {c.name} | {c.value:g} | {c.unit} | {c.tag} | {c.source} | "
                    f"{c.meaning} |")
    return "\n".join(rows)
