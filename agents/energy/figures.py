"""The energy report's data and the figures of each platform.

A `Report` is a list of `Figure`s (value, unit, provenance, what it is on, source) plus the
per-action distributions the plots need. Provenance, on every figure:
- measured: measured by this command on this host (wall time, RAPL, NVML, returns in the
  environment, spikes counted by the bit-exact emulator);
- modeled: the SpiNNaker2 latency/energy model of `neuroq.deploy.energy` (constants in
  `neuroq.deploy.chip`, tagged [src]/[doc]/[3rd]/[assume]), not a measurement;
- published: a figure quoted from a paper, not reproduced here;
- estimate: a stated assumption times a measured quantity (e.g. a rated power x latency);
- unavailable: could not be obtained here; the value is null and `source` says why.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.agents.energy import measure as em
from neuroq.agents.energy import metrics
from neuroq.agents.energy.runs import (
    LEVELS,
    SnnRun,
)
from neuroq.deploy.network import SpikingQNetwork
from neuroq.deploy.stats import worst_fraction_mean

#: Arfa, Vogginger, Mayr, "Hardware-Aware Fine-Tuning of Spiking Q-Networks on the
#: SpiNNaker2 Neuromorphic Platform", arXiv 2507.23562 (2025), as quoted by a summary.
SRC_ARFA = ("Arfa, Vogginger, Mayr 2025, arXiv 2507.23562 (CartPole, via a summary; "
            "not reproduced here)")
#: CartPole, energy per inference on an NVIDIA GTX 1650, joules [published].
PUBLISHED_GTX1650_CARTPOLE_J = 0.145
#: CartPole, energy per inference on SpiNNaker2, joules [published].
PUBLISHED_S2_CARTPOLE_J = 0.006
#: CartPole, average SpiNNaker2 power during inference, watts [published].
PUBLISHED_S2_CARTPOLE_POWER_W = 0.333
#: The environments those published per-inference figures are for (CartPole-v0, -v1).
PUBLISHED_FIGURES_ENV_PREFIX = "CartPole"
PROVENANCES = ("measured", "counted", "modeled", "published", "estimate", "unavailable")

EQUAL_RETURN_FRACTION = 0.05
#: Largest T of the default return-against-T sweep (beyond the artifact's own T).
SWEEP_MAX_T = 64



@dataclass
class Figure:
    """One number of the report, with its provenance (see the module docstring)."""

    key: str
    value: float | None
    unit: str
    provenance: str
    on: str
    source: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.provenance not in PROVENANCES:
            raise ValueError(f"bad provenance {self.provenance!r} for {self.key}")
        if self.value is not None:
            self.value = float(self.value)
            if not np.isfinite(self.value):
                self.value, self.provenance = None, "unavailable"


@dataclass
class EnergyConfig:
    """What `neuroq energy` was asked for (see agents/cli/energy.py)."""

    artifact: str
    episodes: int = 20
    seed: int = 0
    max_steps: int | None = None
    latency_samples: int = 1000
    sweep: tuple[int, ...] | None = None
    sweep_episodes: int = 10
    baseline: str | None = None
    powercap_root: Path = em.POWERCAP_ROOT
    probe_gpu: bool = True


@dataclass
class Report:
    """Everything the renderer writes: figures, sections' notes, per-action samples."""

    config: dict[str, Any]
    header: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    comparisons: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweep: list[dict[str, Any]] = field(default_factory=list)
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    spikes_per_layer: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, key: str, value: float | None, unit: str, provenance: str, on: str,
            source: str, note: str = "") -> Figure:
        f = Figure(key, value, unit, provenance if value is not None else "unavailable",
                   on, source, note)
        self.figures.append(f)
        return f

    def unavailable(self, key: str, unit: str, on: str, why: str) -> Figure:
        return self.add(key, None, unit, "unavailable", on, why)

    def get(self, key: str) -> Figure | None:
        for f in self.figures:
            if f.key == key:
                return f
        return None

    def value(self, key: str) -> float | None:
        f = self.get(key)
        return None if f is None else f.value

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config, "header": self.header,
                "provenance_meanings": {
                    "measured": "measured by neuroq energy on this host",
                    "counted": "counted by neuroq here, no chip involved: the emulator's "
                               "events and spikes in the closed-loop runs, and arithmetic "
                               "on the network's parameters (footprint, MACs)",
                    "modeled": "SpiNNaker2 model (deploy/energy.py, deploy/chip.py), "
                               "not a measurement",
                    "published": "quoted from a paper, not reproduced here (\"published, "
                                 "via a summary\": from a summary of the paper, whose own "
                                 "table was not reachable)",
                    "estimate": "a stated assumption times a measured quantity",
                    "unavailable": "could not be obtained here (value null, source says why)"},
                "figures": [asdict(f) for f in self.figures],
                "comparisons": self.comparisons, "return_vs_timesteps": self.sweep,
                "spikes_per_layer": self.spikes_per_layer}


def say_progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def default_sweep(network: SpikingQNetwork) -> tuple[int, ...]:
    """T values for the return-against-T figure: from the shortest possible to SWEEP_MAX_T."""
    lo = len(network.layers) + 1
    ts = {lo, lo + 1, 4, 6, 8, 12, 16, 24, 32, 48, SWEEP_MAX_T, network.timesteps}
    return tuple(sorted(t for t in ts if lo <= t <= max(SWEEP_MAX_T, network.timesteps)))


# --- sections ------------------------------------------------------------------------------


def add_returns(rep: Report, key: str, returns: np.ndarray | None, on: str, why: str = "") -> None:
    if returns is None:
        rep.unavailable(f"{key}.return_mean", "return", on, why)
        rep.unavailable(f"{key}.return_worst5pct", "return", on, why)
        return
    src = f"{len(returns)} episodes in the environment, episode i seeded seed + i"
    rep.add(f"{key}.return_mean", returns.mean(), "return", "measured", on, src)
    rep.add(f"{key}.return_worst5pct", worst_fraction_mean(returns), "return", "measured", on,
            src, "NeuroBench risk: mean of the worst 5 % of episodes")


def add_spinnaker2(rep: Report, run: SnnRun, prefix: str = "spinnaker2") -> None:
    """Modeled SpiNNaker2 rows at every level (and the counts they rest on)."""
    on = "SpiNNaker2, modeled from emulator counts"
    src = "deploy/energy.py model, constants deploy/chip.py (tags [3rd]/[assume])"
    if run.compile_error is not None:
        for lv in LEVELS:
            for m, unit in (("chip_time_s", "s"), ("energy_dynamic_j", "J"),
                            ("energy_total_j", "J")):
                rep.unavailable(f"{prefix}.{lv}.{m}", unit, on,
                                f"the network does not fit the chip: {run.compile_error}")
        return
    for lv in LEVELS:
        e = run.energy[(lv, "chip")]
        rep.add(f"{prefix}.{lv}.chip_time_s", run.chip_time_s[lv], "s", "modeled", on,
                f"{src}: T x sys_tick")
        rep.add(f"{prefix}.{lv}.energy_dynamic_j", e["dynamic_j"].mean(), "J", "modeled", on,
                f"{src}: busy cycles x energy per cycle")
        rep.add(f"{prefix}.{lv}.energy_total_j", e["total_j"].mean(), "J", "modeled", on,
                f"{src}: dynamic + whole-chip static power x chip time",
                "static scope 'chip': unused PEs sleep")
        rep.add(f"{prefix}.{lv}.energy_total_pes_used_j",
                run.energy[(lv, "pes_used")]["total_j"].mean(), "J", "modeled", on,
                f"{src}: dynamic + static power of the PEs used only",
                "static scope 'pes_used': unused PEs switched off")
        rep.add(f"{prefix}.{lv}.energy_total_with_host_io_j", run.energy_hw[lv].mean(), "J",
                "modeled", on, f"{src}: chip static power over T x sys_tick + host I/O per "
                "hw.run (host_io_per_run_s [assume])", "one hw.run per action, as on a board")
        rep.add(f"{prefix}.{lv}.tick_load_max", e["tick_load"].max(), "fraction", "modeled", on,
                f"{src}: busiest PE's cycles per tick / cycles a tick offers (<1: real time)")
    rep.add(f"{prefix}.chip_time_with_host_io_s", run.chip_time_hw_s, "s", "modeled", on,
            f"{src}: T x sys_tick + host_io_per_run_s [assume] (one hw.run per action)")
    rep.add(f"{prefix}.pes_used", run.n_pes, "PE", "modeled", on,
            "deploy/compiler.py placement (same at every level)")
    rep.add(f"{prefix}.sram_bytes", run.sram_bytes, "byte", "modeled", on,
            "deploy/compiler.py placement: data SRAM of all PEs used")
    rep.add(f"{prefix}.synaptic_events", run.acs.mean(), "event/action", "counted",
            "SpiNNaker2 emulator (bit-exact, numpy), counted",
            "spikes delivered x non-zero weights reached, mean over the closed-loop actions")


def add_neurobench_snn(rep: Report, run: SnnRun, prefix: str = "neurobench.snn") -> None:
    on = "spiking network, emulator counts over the closed-loop actions"
    net = run.network
    if run.acs is not None:
        rep.add(f"{prefix}.effective_acs", run.acs.mean(), "AC/action", "counted", on,
                "spikes delivered x non-zero weights (agents/energy/metrics.py)")
    else:
        rep.unavailable(f"{prefix}.effective_acs", "AC/action", on,
                        "no emulator run (network does not fit the chip)")
    rep.add(f"{prefix}.effective_macs", 0.0, "MAC/action", "counted", on,
            "every input of a spiking layer is a spike: no MACs")
    for k, name in enumerate(run.population_names):
        sp = metrics.spiking_sparsity(run.spikes[:, k], net.widths[k], net.timesteps)
        rep.add(f"{prefix}.sparsity.{name}", sp, "fraction", "counted", on,
                "1 - spikes / (neurons x T)")
    rep.add(f"{prefix}.footprint_bytes", metrics.snn_footprint_bytes(net), "byte", "counted",
            "artifact parameters", "int8 weights + 4 float32 parameters per neuron + q_scale")
    if run.acs is not None:
        for conv in ("fp32", "int"):
            rep.add(f"{prefix}.op_energy_45nm_{conv}_j",
                    metrics.op_energy_estimate_j(0.0, run.acs.mean(), conv), "J", "estimate",
                    on, f"effective ACs x 45 nm {conv} AC energy (Horowitz ISSCC 2014)")


def add_neurobench_ann(rep: Report, prefix: str, weights: Any, layer_inputs: list[np.ndarray],
                    footprint: int, on: str, conv: str) -> None:
    macs = metrics.ann_effective_macs(weights, layer_inputs).mean()
    rep.add(f"{prefix}.effective_macs", macs, "MAC/action", "counted", on,
            "non-zero input x non-zero weight pairs (agents/energy/metrics.py)")
    rep.add(f"{prefix}.effective_acs", 0.0, "AC/action", "counted", on,
            "ANN inputs are not spikes: no ACs")
    for k, x in enumerate(layer_inputs[1:]):
        rep.add(f"{prefix}.sparsity.hidden{k}", metrics.activation_sparsity(x), "fraction",
                "counted", on, "fraction of zero ReLU outputs")
    rep.add(f"{prefix}.footprint_bytes", footprint, "byte", "counted", "model parameters",
            "parameter bytes (agents/energy/metrics.py)")
    rep.add(f"{prefix}.op_energy_45nm_{conv}_j", metrics.op_energy_estimate_j(macs, 0.0, conv),
            "J", "estimate", on, f"effective MACs x 45 nm {conv} MAC energy (Horowitz 2014)")


def add_cpu_row(rep: Report, key: str, what: str, m: em.CpuMeasurement) -> None:
    on = f"this CPU ({what}, one observation per call, one thread)"
    rep.add(f"{key}.latency_median_s", np.median(m.latencies_s), "s", "measured", on,
            f"{len(m.latencies_s)} single actions, time.perf_counter_ns")
    rep.add(f"{key}.latency_p99_s", np.percentile(m.latencies_s, 99), "s", "measured", on,
            f"{len(m.latencies_s)} single actions")
    rep.add(f"{key}.energy_j", m.energy_j, "J", m.energy_provenance, on, m.energy_source)
    rep.samples[f"latency/{key}"] = m.latencies_s


def add_cpu_unavailable(rep: Report, key: str, what: str, why: str) -> None:
    on = f"this CPU ({what})"
    for m, unit in (("latency_median_s", "s"), ("latency_p99_s", "s"), ("energy_j", "J")):
        rep.unavailable(f"{key}.{m}", unit, on, why)


def add_gpu(rep: Report, cfg: EnergyConfig, mlp: Any, obs: np.ndarray) -> None:
    avail = em.gpu_availability() if cfg.probe_gpu else em.Availability(
        False, "GPU probing disabled")
    why = avail.reason
    if avail.available and mlp is None:
        avail, why = em.Availability(False), "no float DQN to run on the GPU"
    if avail.available:
        try:
            g = em.measure_gpu(mlp, obs)
            on = f"{g.device} (float DQN, torch CUDA, one observation per call)"
            src = (f"NVML total-energy counter over {g.actions} actions, idle "
                   f"{g.idle_power_w:.1f} W subtracted")
            rep.add("gpu.latency_median_s", np.median(g.latencies_s), "s", "measured", on,
                    f"{g.actions} single actions")
            rep.add("gpu.energy_j", g.energy_j, "J", "measured", on, src)
            rep.add("gpu.idle_power_w", g.idle_power_w, "W", "measured", on,
                    f"NVML power readings over {em.IDLE_WINDOW_S:g} s of sleep before the "
                    "timed loop, CUDA context and network resident")
            rep.samples["latency/gpu"] = g.latencies_s
        except Exception as exc:  # noqa: BLE001 - driver/NVML failures must not end the report
            why = f"GPU measurement failed: {exc}"
            avail = em.Availability(False, why)
    if not avail.available:
        rep.unavailable("gpu.latency_median_s", "s", "GPU (float DQN)", why)
        rep.unavailable("gpu.energy_j", "J", "GPU (float DQN)", why)
    rep.add("published.gtx1650.energy_j", PUBLISHED_GTX1650_CARTPOLE_J, "J", "published",
            "NVIDIA GTX 1650, CartPole DSQN inference", SRC_ARFA,
            "a published comparison, not measured here")
    rep.add("published.spinnaker2.energy_j", PUBLISHED_S2_CARTPOLE_J, "J", "published",
            "SpiNNaker2 board, CartPole DSQN inference", SRC_ARFA,
            f"average power {PUBLISHED_S2_CARTPOLE_POWER_W} W")


# --- comparisons -------------------------------------------------------------------------------


def spikes_per_layer(run: SnnRun) -> dict[str, float]:
    return {name: float(run.spikes[:, k].mean())
            for k, name in enumerate(run.population_names)}
