"""Compile a spiking Q-network into a SpiNNaker2 program: populations, projections, placement.

The program mirrors what py-spinnaker2 builds (docs/chip.md, "py-spinnaker2, as used here"):

- one `spike_list` population, the input source, fed by the encoder's spikes;
- one `lif_no_delay` population per layer, with float32 `threshold, alpha_decay, i_offset,
  v_init, v_reset, reset`; the non-spiking output layer gets a threshold of float32 max, so
  it never fires and its final voltage (the last of its recorded `v`) is the Q-value over
  `q_scale`;
- one projection per layer with int8 weights (8-bit signed, |w| <= 127), one step of delay.

Placement splits every population into equal chunks of at most `n` consecutive neurons per
processing element (PE), the way `Population.set_max_atoms_per_core(n)` does, with `n` the
largest count for which every chunk respects both per-PE limits of `neuroq.deploy.chip`:
neurons per PE, and data SRAM for the chunk's stored synapses (non-zero weights; a zero
weight is never sent to the chip), neuron state and fixed buffers. PEs are numbered in
population order. A network that needs more PEs than one chip offers, or a neuron whose
synapses alone overflow a PE, raises NeuroqError naming the layer and the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroq.deploy.chip import CONSTANTS, constant
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import SpikingQNetwork
from neuroq.deploy.neuron import Compare, Reset

INPUT_POPULATION = "input"
SPIKE_SOURCE_MODEL = "spike_list"
LIF_MODEL = "lif_no_delay"
#: what the output population records: its membrane voltage at every step ("v", the name
#: every public py-spinnaker2 example and its NIR importer's docstring use), of which the last
#: is read. It was "v_last" until stop 42, a name an outsider found in no public source.
OUTPUT_RECORD = ("v",)
#: threshold given to the non-spiking output population so that it never fires.
NEVER_FIRE_THRESHOLD = float(np.finfo(np.float32).max)
#: spikes of step t reach the next population in step t+1 (docs/chip.md, "Update rule").
PROJECTION_DELAY_STEPS = 1


@dataclass(frozen=True)
class ChipLimits:
    """Per-chip and per-PE limits placement respects (defaults: the `neuroq.deploy.chip` table)."""

    n_pes: int = int(constant("usable_pes_per_chip"))
    max_neurons_per_pe: int = int(constant("max_neurons_per_pe"))
    data_sram_per_pe_bytes: int = int(constant("data_sram_per_pe_bytes"))
    synapse_bytes: int = int(constant("synapse_word_bytes"))
    neuron_state_bytes: int = int(constant("neuron_state_bytes"))
    pe_fixed_bytes: int = int(constant("pe_fixed_data_bytes"))
    source_bytes_per_neuron_step: int = int(constant("spike_source_bytes_per_neuron_step"))


@dataclass(frozen=True)
class Population:
    """One population. params: float32 arrays (size,) per lif parameter, plus `reset`."""

    name: str
    size: int
    neuron_model: str
    params: dict
    spiking: bool
    record: tuple[str, ...] = ()


@dataclass(frozen=True)
class Projection:
    """All-to-all projection pre -> post; weight int8 (post.size, pre.size)."""

    pre: str
    post: str
    weight: np.ndarray
    delay_steps: int = PROJECTION_DELAY_STEPS

    @property
    def n_synapses(self) -> int:
        """Stored synapses: non-zero weights."""
        return int(np.count_nonzero(self.weight))


@dataclass(frozen=True)
class PESlot:
    """Neurons [start, stop) of population `population` (index `pop_index`) on PE `pe`."""

    pe: int
    population: str
    pop_index: int
    start: int
    stop: int
    synapses: int
    sram_bytes: int

    @property
    def n_neurons(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Program:
    """A compiled network: what the emulator runs and the adapter sends to the chip."""

    network: SpikingQNetwork
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    placement: tuple[PESlot, ...]
    atoms_per_pe: tuple[int, ...]
    limits: ChipLimits
    compare: Compare

    @property
    def timesteps(self) -> int:
        return self.network.timesteps

    @property
    def n_pes(self) -> int:
        return len(self.placement)

    def pes_of(self, name: str) -> tuple[PESlot, ...]:
        return tuple(s for s in self.placement if s.population == name)

    def placement_table(self) -> str:
        """Human-readable placement: one line per PE."""
        cap = self.limits.data_sram_per_pe_bytes
        lines = [f"{'PE':>4}  {'population':<12} {'neurons':>11} {'n':>4} {'synapses':>9} "
                 f"{'SRAM bytes':>11} {'SRAM %':>6}"]
        for s in self.placement:
            lines.append(
                f"{s.pe:>4}  {s.population:<12} {f'{s.start}..{s.stop - 1}':>11} "
                f"{s.n_neurons:>4} {s.synapses:>9} {s.sram_bytes:>11} "
                f"{100 * s.sram_bytes / cap:>6.1f}")
        lines.append(f"{self.n_pes} of {self.limits.n_pes} usable PEs, "
                     f"{self.n_pes / self.limits.n_pes:.1%} of the chip")
        return "\n".join(lines)


def _lif_params(layer) -> dict:
    p = layer.params
    threshold = p.threshold if layer.spiking else np.full(
        layer.n_out, NEVER_FIRE_THRESHOLD, np.float32)
    return {
        "threshold": threshold.astype(np.float32),
        "alpha_decay": p.alpha_decay.astype(np.float32),
        "i_offset": p.i_offset.astype(np.float32),
        "v_init": np.zeros(layer.n_out, np.float32),
        "v_reset": p.v_reset.astype(np.float32),
        "reset": Reset(p.reset).value,
    }


def _chunk_fits(bytes_per_neuron: np.ndarray, n: int, fixed: int, cap: int) -> bool:
    starts = np.arange(0, len(bytes_per_neuron), n)
    return bool(np.all(np.add.reduceat(bytes_per_neuron, starts) + fixed <= cap))


def _atoms_per_pe(name: str, bytes_per_neuron: np.ndarray, limits: ChipLimits) -> int:
    """Largest chunk size whose every chunk fits a PE's neuron and SRAM limits."""
    cap, fixed = limits.data_sram_per_pe_bytes, limits.pe_fixed_bytes
    worst = int(bytes_per_neuron.max()) + fixed
    if worst > cap:
        raise NeuroqError(
            f"layer {name} does not fit a PE: one of its neurons needs {worst} bytes "
            f"(its synapses, state and {fixed} fixed bytes) but a PE has "
            f"{cap} bytes of data SRAM (limit data_sram_per_pe_bytes); reduce its fan-in")
    n = min(limits.max_neurons_per_pe, len(bytes_per_neuron))
    while n > 1 and not _chunk_fits(bytes_per_neuron, n, fixed, cap):
        n -= 1
    return n


def compile_program(
    network: SpikingQNetwork, limits: ChipLimits | None = None
) -> Program:
    """Compile `network` for one SpiNNaker2 chip; raise NeuroqError if it does not fit."""
    limits = limits or ChipLimits()
    compares = {Compare(layer.params.compare) for layer in network.layers[:-1]}
    if len(compares) > 1:
        raise NeuroqError("all spiking layers must use the same threshold comparison")
    compare = compares.pop() if compares else Compare.GE

    pops = [Population(INPUT_POPULATION, network.n_inputs, SPIKE_SOURCE_MODEL, {}, True)]
    projs = []
    pre = INPUT_POPULATION
    for layer in network.layers:
        if layer.name == INPUT_POPULATION or any(p.name == layer.name for p in pops):
            raise NeuroqError(f"layer name {layer.name!r} is used twice or is reserved")
        w_max = int(constant("max_weight_magnitude"))
        if int(np.abs(layer.weight.astype(np.int16)).max(initial=0)) > w_max:
            raise NeuroqError(
                f"layer {layer.name} has a weight of -128: {LIF_MODEL} takes 8-bit weights in "
                f"[-{w_max}, {w_max}] (limit max_weight_magnitude); re-export with "
                "symmetric quantization")
        record = () if layer.spiking else OUTPUT_RECORD
        pops.append(Population(layer.name, layer.n_out, LIF_MODEL, _lif_params(layer),
                               layer.spiking, record))
        projs.append(Projection(pre, layer.name, layer.weight))
        pre = layer.name

    placement: list[PESlot] = []
    atoms: list[int] = []
    for k, pop in enumerate(pops):
        if k == 0:
            syn = np.zeros(pop.size, np.int64)
            per_neuron = np.full(
                pop.size, limits.source_bytes_per_neuron_step * network.timesteps, np.int64)
        else:
            syn = np.count_nonzero(projs[k - 1].weight, axis=1).astype(np.int64)
            per_neuron = syn * limits.synapse_bytes + limits.neuron_state_bytes
        n = _atoms_per_pe(pop.name, per_neuron, limits)
        atoms.append(n)
        for start in range(0, pop.size, n):
            stop = min(start + n, pop.size)
            pe = len(placement)
            if pe >= limits.n_pes:
                n_needed = sum(-(-p.size // a) for p, a in zip(pops, atoms, strict=False))
                raise NeuroqError(
                    f"network does not fit one chip: layer {pop.name} ({pop.size} neurons, "
                    f"{n} per PE) needs PEs beyond the {limits.n_pes} usable ones "
                    f"(limit usable_pes_per_chip; per-PE limits max_neurons_per_pe="
                    f"{limits.max_neurons_per_pe}, data_sram_per_pe_bytes="
                    f"{limits.data_sram_per_pe_bytes}); the layers so far need at least "
                    f"{n_needed} PEs")
            placement.append(PESlot(
                pe, pop.name, k, start, stop, int(syn[start:stop].sum()),
                int(per_neuron[start:stop].sum() + limits.pe_fixed_bytes)))
    return Program(network, tuple(pops), tuple(projs), tuple(placement), tuple(atoms),
                   limits, compare)


def describe_limits(limits: ChipLimits) -> str:
    """One line per limit with its source tag (for `neuroq deploy`)."""
    tags = {k: CONSTANTS[k].tag for k in
            ("usable_pes_per_chip", "max_neurons_per_pe", "data_sram_per_pe_bytes",
             "synapse_word_bytes", "neuron_state_bytes", "pe_fixed_data_bytes")}
    return (f"limits: {limits.n_pes} PEs {tags['usable_pes_per_chip']}, "
            f"{limits.max_neurons_per_pe} neurons/PE {tags['max_neurons_per_pe']}, "
            f"{limits.data_sram_per_pe_bytes} B data SRAM/PE "
            f"{tags['data_sram_per_pe_bytes']}, {limits.synapse_bytes} B/synapse "
            f"{tags['synapse_word_bytes']}, {limits.neuron_state_bytes} B/neuron "
            f"{tags['neuron_state_bytes']}, {limits.pe_fixed_bytes} B fixed/PE "
            f"{tags['pe_fixed_data_bytes']}")
