"""The energy-per-action report: every figure with where it came from.

`build_report` runs the artifact's spiking network, the float DQN it came from and an int8
ANN of that DQN on the same episodes, measures latency (and CPU energy when RAPL is
readable) on this host, models SpiNNaker2, adds the published GPU comparison, and returns a
`Report`: a list of `Figure`s (value, unit, provenance, what it is on, source) plus the
per-action distributions the plots need. `neuroq.agents.energy.render` writes it out.

Provenance, on every figure:
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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.agents.energy import measure as em
from neuroq.agents.energy import metrics
from neuroq.agents.energy.runs import (
    BASELINE_TIMESTEPS,
    LEVELS,
    SnnRun,
    baseline_from_provenance,
    closed_loop,
    find_convert_run,
    find_train_run,
    load_float_dqn,
    plain_conversion,
    resolve_artifact_dir,
    run_snn,
    torch_act,
)
from neuroq.agents.int8_ann import quantize_mlp
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import SpikingQNetwork
from neuroq.deploy.rollout import worst_fraction_mean

PROVENANCES = ("measured", "modeled", "published", "estimate", "unavailable")

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
#: "up to 32x less energy per inference than a GTX 1650" (over CartPole and Acrobot).
PUBLISHED_MAX_RATIO = 32.0
#: Environments the published comparison covers.
PUBLISHED_ENVS = ("CartPole-v1", "CartPole-v0", "Acrobot-v1")
#: Target of the issue: energy per action at least this many times below a plain conversion.
TARGET_RATIO_VS_CONVERSION = 2.0
#: "Equal return": the artifact's mean return is at least the baseline's minus this
#: fraction of |baseline mean| (or minus this many return units when the mean is ~0).
EQUAL_RETURN_FRACTION = 0.05
#: Seeds of the episodes that calibrate the int8 ANN: seed + offset + i (apart from the
#: reported episodes).
CALIBRATION_SEED_OFFSET = 90_000
CALIBRATION_EPISODES = 10
#: Most observations kept for calibration and for latency timing.
MAX_CALIBRATION_OBS = 5000
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
                    "modeled": "SpiNNaker2 model (deploy/energy.py, deploy/chip.py), "
                               "not a measurement",
                    "published": "quoted from a paper, not reproduced here",
                    "estimate": "a stated assumption times a measured quantity",
                    "unavailable": "could not be obtained here (value null, source says why)"},
                "figures": [asdict(f) for f in self.figures],
                "comparisons": self.comparisons, "return_vs_timesteps": self.sweep,
                "spikes_per_layer": self.spikes_per_layer}


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def default_sweep(network: SpikingQNetwork) -> tuple[int, ...]:
    """T values for the return-against-T figure: from the shortest possible to SWEEP_MAX_T."""
    lo = len(network.layers) + 1
    ts = {lo, lo + 1, 4, 6, 8, 12, 16, 24, 32, 48, SWEEP_MAX_T, network.timesteps}
    return tuple(sorted(t for t in ts if lo <= t <= max(SWEEP_MAX_T, network.timesteps)))


def _sample(obs: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(obs) <= n:
        return obs
    idx = np.random.default_rng(seed).choice(len(obs), n, replace=False)
    return obs[np.sort(idx)]


# --- sections ------------------------------------------------------------------------------


def _returns(rep: Report, key: str, returns: np.ndarray | None, on: str, why: str = "") -> None:
    if returns is None:
        rep.unavailable(f"{key}.return_mean", "return", on, why)
        rep.unavailable(f"{key}.return_worst5pct", "return", on, why)
        return
    src = f"{len(returns)} episodes in the environment, episode i seeded seed + i"
    rep.add(f"{key}.return_mean", returns.mean(), "return", "measured", on, src)
    rep.add(f"{key}.return_worst5pct", worst_fraction_mean(returns), "return", "measured", on,
            src, "NeuroBench risk: mean of the worst 5 % of episodes")


def _spinnaker2(rep: Report, run: SnnRun, prefix: str = "spinnaker2") -> None:
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
    rep.add(f"{prefix}.synaptic_events", run.acs.mean(), "event/action", "measured",
            "SpiNNaker2 emulator (bit-exact, numpy), counted",
            "spikes delivered x non-zero weights reached, mean over the closed-loop actions")


def _neurobench_snn(rep: Report, run: SnnRun, prefix: str = "neurobench.snn") -> None:
    on = "spiking network, emulator counts over the closed-loop actions"
    net = run.network
    if run.acs is not None:
        rep.add(f"{prefix}.effective_acs", run.acs.mean(), "AC/action", "measured", on,
                "spikes delivered x non-zero weights (deploy/metrics.py)")
    else:
        rep.unavailable(f"{prefix}.effective_acs", "AC/action", on,
                        "no emulator run (network does not fit the chip)")
    rep.add(f"{prefix}.effective_macs", 0.0, "MAC/action", "measured", on,
            "every input of a spiking layer is a spike: no MACs")
    for k, name in enumerate(run.population_names):
        sp = metrics.spiking_sparsity(run.spikes[:, k], net.widths[k], net.timesteps)
        rep.add(f"{prefix}.sparsity.{name}", sp, "fraction", "measured", on,
                "1 - spikes / (neurons x T)")
    rep.add(f"{prefix}.footprint_bytes", metrics.snn_footprint_bytes(net), "byte", "measured",
            "artifact parameters", "int8 weights + 4 float32 parameters per neuron + q_scale")
    if run.acs is not None:
        for conv in ("fp32", "int"):
            rep.add(f"{prefix}.op_energy_45nm_{conv}_j",
                    metrics.op_energy_estimate_j(0.0, run.acs.mean(), conv), "J", "estimate",
                    on, f"effective ACs x 45 nm {conv} AC energy (Horowitz ISSCC 2014)")


def _neurobench_ann(rep: Report, prefix: str, weights: Any, layer_inputs: list[np.ndarray],
                    footprint: int, on: str, conv: str) -> None:
    macs = metrics.ann_effective_macs(weights, layer_inputs).mean()
    rep.add(f"{prefix}.effective_macs", macs, "MAC/action", "measured", on,
            "non-zero input x non-zero weight pairs (deploy/metrics.py)")
    rep.add(f"{prefix}.effective_acs", 0.0, "AC/action", "measured", on,
            "ANN inputs are not spikes: no ACs")
    for k, x in enumerate(layer_inputs[1:]):
        rep.add(f"{prefix}.sparsity.hidden{k}", metrics.activation_sparsity(x), "fraction",
                "measured", on, "fraction of zero ReLU outputs")
    rep.add(f"{prefix}.footprint_bytes", footprint, "byte", "measured", "model parameters",
            "parameter bytes (deploy/metrics.py)")
    rep.add(f"{prefix}.op_energy_45nm_{conv}_j", metrics.op_energy_estimate_j(macs, 0.0, conv),
            "J", "estimate", on, f"effective MACs x 45 nm {conv} MAC energy (Horowitz 2014)")


def _cpu_row(rep: Report, key: str, what: str, m: em.CpuMeasurement) -> None:
    on = f"this CPU ({what}, one observation per call, one thread)"
    rep.add(f"{key}.latency_median_s", np.median(m.latencies_s), "s", "measured", on,
            f"{len(m.latencies_s)} single actions, time.perf_counter_ns")
    rep.add(f"{key}.latency_p99_s", np.percentile(m.latencies_s, 99), "s", "measured", on,
            f"{len(m.latencies_s)} single actions")
    rep.add(f"{key}.energy_j", m.energy_j, "J", m.energy_provenance, on, m.energy_source)
    rep.samples[f"latency/{key}"] = m.latencies_s


def _cpu_unavailable(rep: Report, key: str, what: str, why: str) -> None:
    on = f"this CPU ({what})"
    for m, unit in (("latency_median_s", "s"), ("latency_p99_s", "s"), ("energy_j", "J")):
        rep.unavailable(f"{key}.{m}", unit, on, why)


def _gpu(rep: Report, cfg: EnergyConfig, mlp: Any, obs: np.ndarray) -> None:
    avail = em.gpu_availability() if cfg.probe_gpu else em.Availability(
        False, "GPU probing disabled")
    why = avail.reason
    if avail.available and mlp is None:
        avail, why = em.Availability(False), "no float DQN to run on the GPU"
    if avail.available:
        try:
            g = em.measure_gpu(list(mlp.weights), list(mlp.biases), obs)
            on = f"{g.device} (float DQN, torch CUDA, one observation per call)"
            src = (f"NVML total-energy counter over {g.actions} actions, idle "
                   f"{g.idle_power_w:.1f} W subtracted")
            rep.add("gpu.latency_median_s", np.median(g.latencies_s), "s", "measured", on,
                    f"{g.actions} single actions")
            rep.add("gpu.energy_j", g.energy_j, "J", "measured", on, src)
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


def compare_published(rep: Report, env_id: str) -> dict[str, Any]:
    """(a) the published 32x-vs-GTX-1650 comparison, with the model's numbers."""
    gpu_j = PUBLISHED_GTX1650_CARTPOLE_J
    pub_ratio = gpu_j / PUBLISHED_S2_CARTPOLE_J
    out: dict[str, Any] = {"published_gtx1650_j": gpu_j,
                           "published_spinnaker2_j": PUBLISHED_S2_CARTPOLE_J,
                           "published_ratio_cartpole": pub_ratio,
                           "published_ratio_max": PUBLISHED_MAX_RATIO, "source": SRC_ARFA}
    model_total = rep.value("spinnaker2.low.energy_total_j")
    model_hw = rep.value("spinnaker2.low.energy_total_with_host_io_j")
    if env_id not in PUBLISHED_ENVS:
        out.update(status="not applicable", text=(
            f"The published comparison covers CartPole and Acrobot; this artifact is for "
            f"{env_id}, so no published GPU figure applies."))
        return out
    if model_total is None:
        out.update(status="not reproduced", text=(
            "The SpiNNaker2 model has no figure for this network (it does not fit the chip), "
            "so the published comparison cannot be reproduced."))
        return out
    if not env_id.startswith("CartPole"):
        out.update(status="not checked: no published figure for this environment", text=(
            f"Our sources quote the published per-inference energies for CartPole only "
            f"({gpu_j} J on the GTX 1650, {PUBLISHED_S2_CARTPOLE_J} J on SpiNNaker2); for "
            f"{env_id} there is no published GPU figure to compare the model with. The model "
            f"gives {model_total:.3g} J per action (total, low level, whole chip)."))
        return out
    ratio_chip = gpu_j / model_total
    ratio_hw = gpu_j / model_hw
    out.update(model_total_j=model_total, model_total_with_host_io_j=model_hw,
               model_ratio_chip=ratio_chip, model_ratio_with_host_io=ratio_hw,
               published_s2_time_s=PUBLISHED_S2_CARTPOLE_J / PUBLISHED_S2_CARTPOLE_POWER_W)
    hw_time = rep.value("spinnaker2.chip_time_with_host_io_s")
    reproduced = ratio_hw >= pub_ratio
    on_chip = ratio_chip >= pub_ratio
    out["status"] = ("reproduced" if reproduced else
                     "reproduced for the chip alone, not with host I/O" if on_chip else
                     "not reproduced")
    out["text"] = (
        f"Published (CartPole): {gpu_j} J per inference on a GTX 1650 vs "
        f"{PUBLISHED_S2_CARTPOLE_J} J on SpiNNaker2, {pub_ratio:.0f}x (up to "
        f"{PUBLISHED_MAX_RATIO:.0f}x over CartPole and Acrobot). "
        f"Modeled for this artifact (low level, whole-chip static power): "
        f"{model_total:.3g} J per action on chip alone, {gpu_j / model_total:.0f}x below the "
        f"published GPU figure; {model_hw:.3g} J with the modeled host I/O of one hw.run per "
        f"action, {ratio_hw:.1f}x below it. "
        + ("The model reproduces the published factor: at least "
           f"{pub_ratio:.0f}x even with host I/O. " if reproduced else
           f"With host I/O the model does not reach the published {pub_ratio:.0f}x. ")
        + f"The published {PUBLISHED_S2_CARTPOLE_J} J at {PUBLISHED_S2_CARTPOLE_POWER_W} W "
        f"implies about {out['published_s2_time_s'] * 1e3:.0f} ms per inference; the model "
        f"gives {rep.value('spinnaker2.low.chip_time_s') * 1e3:.0f} ms on chip"
        + (f" and {hw_time * 1e3:.0f} ms with host I/O" if hw_time is not None else "")
        + ", so the published figure likely includes more than the chip's time steps. "
        "Caveats: the GPU figure is published, not "
        "measured here; the SpiNNaker2 figures are modeled from constants tagged [3rd] and "
        "[assume]; the published latency comparison ('on par') has no number in our "
        "sources, so it is not checked.")
    return out


def compare_baseline(rep: Report, run: SnnRun, base: SnnRun | None, base_path: str | None,
                     why: str) -> dict[str, Any]:
    """(b) energy per action at least TARGET_RATIO_VS_CONVERSION below a plain conversion."""
    out: dict[str, Any] = {"target_ratio": TARGET_RATIO_VS_CONVERSION,
                           "equal_return_fraction": EQUAL_RETURN_FRACTION,
                           "baseline": base_path}
    if base is None:
        out.update(status="not made", text=f"No baseline: {why}. Pass --baseline "
                   "<artifact-or-convert-run> (e.g. the plain conversion at large T) to make "
                   "this comparison.")
        return out
    if run.compile_error or base.compile_error:
        out.update(status="not made", text="A network does not fit the chip, so there is no "
                   "modeled energy to compare.")
        return out
    r_a, r_b = float(run.returns.mean()), float(base.returns.mean())
    tol = EQUAL_RETURN_FRACTION * max(abs(r_b), 1.0)
    equal = r_a >= r_b - tol
    ratios = {}
    for kind in ("dynamic_j", "total_j"):
        a = float(run.energy[("low", "chip")][kind].mean())
        b = float(base.energy[("low", "chip")][kind].mean())
        ratios[kind] = b / a if a > 0 else None
    ok = {k: bool(equal and v is not None and v >= TARGET_RATIO_VS_CONVERSION)
          for k, v in ratios.items()}
    out.update(return_mean=r_a, baseline_return_mean=r_b, equal_return=bool(equal),
               ratio_dynamic=ratios["dynamic_j"], ratio_total=ratios["total_j"],
               baseline_timesteps=base.network.timesteps, timesteps=run.network.timesteps,
               met_dynamic=ok["dynamic_j"], met_total=ok["total_j"])
    better = r_a > r_b + tol  # the baseline does not reach the artifact's return
    out["artifact_return_higher"] = bool(better)
    out["status"] = ("met" if ok["dynamic_j"] and ok["total_j"] else
                     "met for dynamic energy only" if ok["dynamic_j"] else
                     "met for total energy only" if ok["total_j"] else "not met")
    if better and out["status"] != "not met":
        out["status"] += " (the artifact also has the higher return)"
    if not equal:
        out["status"] = "not met (the artifact's return is lower)"
    out["text"] = (
        f"Baseline {base_path}"
        + ("" if "T = " in str(base_path) else f" (T = {base.network.timesteps})")
        + f": mean return {r_b:.1f}; this "
        f"artifact (T = {run.network.timesteps}): {r_a:.1f}. Modeled energy per action, low "
        f"level: dynamic {ratios['dynamic_j']:.2f}x below the baseline, total (whole-chip "
        f"static) {ratios['total_j']:.2f}x below. Target: {TARGET_RATIO_VS_CONVERSION:.0f}x "
        f"below at a return at least the baseline's minus {EQUAL_RETURN_FRACTION:.0%} of "
        f"|baseline|: {out['status']}.")
    if not equal:
        out["text"] += (" The artifact's return is below the baseline's, so the energy ratio "
                        "does not count.")
    elif better:
        out["text"] += (" The baseline does not reach the artifact's return (see the search "
                        "below), so this is not strictly a comparison at equal return: the "
                        "artifact returns more for less energy. A plain conversion reaching "
                        "the artifact's return was not found, so the ratio at equal return "
                        "is not known.")
    return out


# --- the whole report --------------------------------------------------------------------------


def _spikes_per_layer(run: SnnRun) -> dict[str, float]:
    return {name: float(run.spikes[:, k].mean())
            for k, name in enumerate(run.population_names)}


def build_report(cfg: EnergyConfig, say: Callable[[str], None] = _say) -> Report:
    """Run everything (see the module docstring) and return the report."""
    from neuroq.deploy.artifact import load_artifact

    if not Path(cfg.artifact).exists():
        raise NeuroqError(f"artifact {cfg.artifact} does not exist")
    for name in ("episodes", "latency_samples", "sweep_episodes"):
        if getattr(cfg, name) < 1:
            raise NeuroqError(f"--{name.replace('_', '-')} must be at least 1")
    art = load_artifact(cfg.artifact)
    net, env_id = art.network, str(art.manifest["env_id"])
    cfg_json = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    rep = Report(cfg_json, {
        "artifact": str(art.path), "env_id": env_id, "timesteps": net.timesteps,
        "widths": list(net.widths), "encoder": art.encoder.kind,
        "provenance": art.manifest.get("provenance"), "episodes": cfg.episodes,
        "seed": cfg.seed, "created_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())})

    say(f"[1/6] spiking network on the emulator: {cfg.episodes} episodes of {env_id}, "
        f"T = {net.timesteps}")
    run = run_snn(net, art.encoder, env_id, cfg.episodes, cfg.seed, cfg.max_steps)
    _returns(rep, "snn", run.returns, "spiking network, SpiNNaker2 emulator")
    _spinnaker2(rep, run)
    _neurobench_snn(rep, run)
    rep.spikes_per_layer[f"artifact (T = {net.timesteps})"] = _spikes_per_layer(run)
    rep.header["energy_model"] = run.model_settings  # every level/scope's settings (modeled)
    if run.compile_error is None:
        rep.samples["energy_total/spinnaker2.low"] = run.energy[("low", "chip")]["total_j"]
        rep.samples["energy_dynamic/spinnaker2.low"] = run.energy[("low", "chip")]["dynamic_j"]
    timing_obs = _sample(run.observations, cfg.latency_samples, cfg.seed)
    meter = em.RaplMeter(cfg.powercap_root)
    rep.header["rapl"] = "readable" if meter.status.available else meter.status.reason

    say("[2/6] float DQN and int8 ANN of the train run named in the provenance")
    train_dir, why = find_train_run(art.manifest, art.path)
    mlp = seq = None
    if train_dir is not None:
        try:
            mlp, seq = load_float_dqn(train_dir)
        except NeuroqError as exc:
            why = str(exc)
        if mlp is not None and mlp.widths[0] != run.observations.shape[1]:
            mlp, why = None, f"{train_dir}: the DQN's input width differs from the env's"
    rep.header["train_run"] = str(train_dir) if mlp is not None else None
    common = f"same {len(run.observations)} observations the spiking network acted on"
    if mlp is not None:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            batch_act, single_act = torch_act(seq)
            f_returns, _ = closed_loop(env_id, batch_act, cfg.episodes, cfg.seed, cfg.max_steps)
            _returns(rep, "float_dqn", f_returns, f"float DQN (torch fp32), {train_dir}")
            _, calib = closed_loop(env_id, batch_act, CALIBRATION_EPISODES,
                                   cfg.seed + CALIBRATION_SEED_OFFSET, cfg.max_steps)
            q8 = quantize_mlp(mlp, _sample(calib, MAX_CALIBRATION_OBS, cfg.seed))
            i_returns, _ = closed_loop(env_id, lambda o: q8.q(o).argmax(axis=1), cfg.episodes,
                                       cfg.seed, cfg.max_steps)
            _returns(rep, "int8_ann", i_returns, "int8 ANN (numpy, our quantization)")
            say("[3/6] latency on this CPU: float DQN (torch), int8 ANN, spiking emulator")
            _cpu_row(rep, "cpu.float_dqn", "float DQN, torch fp32",
                     em.measure_cpu(single_act, timing_obs, meter))
            _cpu_row(rep, "cpu.int8_ann", "int8 ANN, numpy int32 matmuls",
                     em.measure_cpu(lambda o: int(q8.q(o[None])[0].argmax()), timing_obs,
                                    meter))
        finally:
            torch.set_num_threads(threads)
        f_in, _ = mlp.layer_inputs(run.observations)
        _neurobench_ann(rep, "neurobench.float_dqn", mlp.weights, f_in,
                        metrics.float_mlp_footprint_bytes(mlp.widths), f"float DQN, {common}",
                        "fp32")
        q_in, _ = q8.layer_inputs(run.observations)
        _neurobench_ann(rep, "neurobench.int8_ann", q8.weights, q_in,
                        metrics.int8_mlp_footprint_bytes(q8.widths), f"int8 ANN, {common}",
                        "int")
    else:
        for key, what in (("float_dqn", "float DQN, torch fp32"),
                          ("int8_ann", "int8 ANN of the float DQN")):
            _returns(rep, key, None, what, why)
            _cpu_unavailable(rep, f"cpu.{key}", what, why)
            for m, unit in (("effective_macs", "MAC/action"), ("effective_acs", "AC/action"),
                            ("footprint_bytes", "byte")):
                rep.unavailable(f"neurobench.{key}.{m}", unit, what, why)
        say(f"      float DQN unavailable: {why}")
        say("[3/6] latency on this CPU: spiking emulator")
    from neuroq.deploy.policy import SpikingPolicy

    backend = "emulator" if run.compile_error is None else "reference"
    pol = SpikingPolicy(net, art.encoder, art.manifest, backend=backend, seed=cfg.seed)
    _cpu_row(rep, "cpu.snn_emulator", f"spiking network, {backend} (numpy)",
             em.measure_cpu(pol.act, timing_obs, meter))

    say("[4/6] GPU")
    _gpu(rep, cfg, mlp, timing_obs)

    sweep_ts = cfg.sweep or default_sweep(net)
    say(f"[5/6] return against T: T in {list(sweep_ts)}, {cfg.sweep_episodes} episodes each")
    for t in sweep_ts:
        try:
            net_t = SpikingQNetwork(net.layers, int(t), net.q_scale)
        except NeuroqError as exc:
            rep.sweep.append({"timesteps": int(t), "error": str(exc)})
            continue
        r = run_snn(net_t, art.encoder, env_id, cfg.sweep_episodes, cfg.seed, cfg.max_steps)
        row = {"timesteps": int(t), "return_mean": float(r.returns.mean()),
               "return_worst5pct": worst_fraction_mean(r.returns),
               "spikes_per_action": float(r.spikes.sum(axis=1).mean()),
               "provenance": {"return": "measured (environment, emulator)",
                              "energy": "modeled (SpiNNaker2, low level)"},
               "note": "same weights and neuron parameters, only T changed (not re-fitted)"}
        if r.compile_error is None:
            row["energy_total_j"] = float(r.energy[("low", "chip")]["total_j"].mean())
            row["energy_dynamic_j"] = float(r.energy[("low", "chip")]["dynamic_j"].mean())
        rep.sweep.append(row)

    say("[6/6] comparisons")
    rep.comparisons["published_gpu"] = compare_published(rep, env_id)
    base, base_path, why_b = _baseline(rep, cfg, art, mlp, train_dir, run, say)
    rep.comparisons["plain_conversion"] = compare_baseline(rep, run, base, base_path, why_b)
    rep.comparisons["plain_conversion"]["search"] = rep.header.pop("baseline_search", [])
    return rep


def _baseline(rep: Report, cfg: EnergyConfig, art: Any, mlp: Any, train_dir: Path | None,
              run: SnnRun, say: Callable[[str], None]
              ) -> tuple[SnnRun | None, str | None, str]:
    """The baseline of comparison (b): --baseline as given; else the plain conversion of the
    same DQN (agents/convert.py, settings of the convert run in the provenance) at the
    smallest T of BASELINE_TIMESTEPS that reaches the artifact's return, or, when none does,
    at the T with the best return."""
    from neuroq.deploy.artifact import load_artifact

    env_id = str(art.manifest["env_id"])
    base_path = cfg.baseline
    if base_path is None:
        found = baseline_from_provenance(art.manifest, art.path)
        cdir = find_convert_run(art.manifest, art.path)
        if mlp is None or cdir is None:
            if found is None:
                return None, None, ("none given, and no convert run with its recorded "
                                    "observations plus train run named in the provenance")
            base_path = str(found)
        else:
            return _plain_conversion_baseline(rep, cfg, mlp, cdir, train_dir, run, say)
    b_art = load_artifact(resolve_artifact_dir(base_path))
    if b_art.manifest.get("env_id") != env_id:
        raise NeuroqError(f"baseline {base_path} is for {b_art.manifest.get('env_id')}, "
                          f"the artifact for {env_id}")
    say(f"      baseline {b_art.path}: T = {b_art.network.timesteps}")
    base = run_snn(b_art.network, b_art.encoder, env_id, cfg.episodes, cfg.seed,
                   cfg.max_steps)
    _baseline_figures(rep, base, f"baseline spiking network {b_art.path}")
    rep.header["baseline"] = str(b_art.path)
    return base, str(b_art.path), ""


def _baseline_figures(rep: Report, base: SnnRun, on: str) -> None:
    _returns(rep, "baseline.snn", base.returns, on)
    _spinnaker2(rep, base, "baseline.spinnaker2")
    _neurobench_snn(rep, base, "neurobench.baseline_snn")
    rep.spikes_per_layer[f"baseline (T = {base.network.timesteps})"] = _spikes_per_layer(base)


def _plain_conversion_baseline(rep: Report, cfg: EnergyConfig, mlp: Any, cdir: Path,
                               train_dir: Path | None, run: SnnRun,
                               say: Callable[[str], None]
                               ) -> tuple[SnnRun | None, str | None, str]:
    env_id = rep.header["env_id"]
    target = float(run.returns.mean())
    tol = EQUAL_RETURN_FRACTION * max(abs(target), 1.0)
    ts = [t for t in BASELINE_TIMESTEPS if t >= run.network.timesteps] or [
        run.network.timesteps]
    search, chosen = [], None
    for t in ts:
        try:
            bnet, benc = plain_conversion(cdir, mlp, t)
        except NeuroqError as exc:
            return None, None, f"cannot re-convert with {cdir}: {exc}"
        screen = run_snn(bnet, benc, env_id, cfg.sweep_episodes, cfg.seed, cfg.max_steps)
        search.append({"timesteps": t, "return_mean": float(screen.returns.mean()),
                       "episodes": cfg.sweep_episodes, "provenance": "measured"})
        say(f"      plain conversion at T = {t}: return {screen.returns.mean():.1f} "
            f"(target {target:.1f})")
        if chosen is None or screen.returns.mean() > chosen[3]:
            chosen = (t, bnet, benc, float(screen.returns.mean()))
        if screen.returns.mean() >= target - tol:
            chosen = (t, bnet, benc, float(screen.returns.mean()))
            break
    rep.header["baseline_search"] = search
    t, bnet, benc, _ = chosen  # the first T that reaches the return, else the best return
    base = run_snn(bnet, benc, env_id, cfg.episodes, cfg.seed, cfg.max_steps)
    desc = (f"plain conversion of {train_dir} at T = {t} (agents/convert.py, no fine-tuning, "
            f"re-converted here with the encoder and percentile of {cdir})")
    _baseline_figures(rep, base, desc)
    rep.header["baseline"] = desc
    return base, desc, ""
