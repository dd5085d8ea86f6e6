"""Write an energy `Report` out: report.md, report.json, PNG plots, TensorBoard scalars.

Plots use matplotlib's Agg backend (no display). Every table cell carries its provenance
in brackets; unavailable figures are printed as "unavailable" with the reason listed in
the report's last sections, never as a number.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.agents.energy.figures import PUBLISHED_FIGURES_ENV_PREFIX, Figure, Report
from neuroq.agents.energy.measure import (
    CPU_CORE_POWER_ESTIMATE_W,
    CPU_POWER_REFERENCE,
    CPU_POWER_SOURCE,
)
from neuroq.agents.runs import REPORT_FILE, write_json

#: Colour of each provenance in the plots.
COLORS = {"measured": "#1f77b4", "counted": "#17becf", "modeled": "#2ca02c",
          "published": "#9467bd", "estimate": "#ff7f0e", "unavailable": "#bbbbbb"}
PLOTS = {"energy": "energy_per_action.png", "sweep": "return_vs_T.png",
         "spikes": "spikes_per_layer.png", "latency": "latency.png"}
#: Rows added when the report has a baseline (comparison b).
BASELINE_ROWS: tuple[tuple[str, str, str | None, str, str], ...] = tuple(
    ("SpiNNaker2 low (150 MHz, 0.5 V)", "baseline (plain conversion)",
     "baseline.spinnaker2.low.chip_time_s", f"baseline.spinnaker2.low.{key}", kind)
    for key, kind in (("energy_dynamic_j", "dynamic (busy PEs)"),
                      ("energy_total_j", "total: dynamic + whole-chip static")))
_PREFIXES = ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""))

_S2_LEVELS = (("low", "150 MHz", "0.5 V"), ("high", "300 MHz", "0.8 V"))
_S2_ENERGIES = (("energy_dynamic_j", "dynamic (busy PEs)"),
                ("energy_total_j", "total: dynamic + whole-chip static"),
                ("energy_total_pes_used_j", "total: dynamic + static of PEs used"),
                ("energy_total_with_host_io_j",
                 "total + chip idle over host I/O per hw.run (no host energy)"))
#: short names of the SpiNNaker2 energies, for plot labels
_SHORT = {"energy_dynamic_j": "dynamic", "energy_total_j": "total, whole chip",
          "energy_total_pes_used_j": "total, PEs used",
          "energy_total_with_host_io_j": "total + chip idle over host I/O"}
#: (platform, what runs, latency key, energy key, which energy) of the main table.
MAIN_ROWS: tuple[tuple[str, str, str | None, str, str], ...] = (
    # the host I/O row's time is the one its energy is computed over (it showed the chip
    # time alone: 4 ms beside an energy over 24 ms, an outsider)
    *((f"SpiNNaker2 {lv} ({hz}, {v})", "spiking network",
       "spinnaker2.chip_time_with_host_io_s" if key == "energy_total_with_host_io_j"
       else f"spinnaker2.{lv}.chip_time_s", f"spinnaker2.{lv}.{key}", kind)
      for lv, hz, v in _S2_LEVELS for key, kind in _S2_ENERGIES),
    ("SpiNNaker2 board (Arfa et al. 2025)", "CartPole DSQN", None,
     "published.spinnaker2.energy_j", "per inference, as published"),
    ("this CPU", "float DQN (torch fp32)", "cpu.float_dqn.latency_median_s",
     "cpu.float_dqn.energy_j", ""),
    ("this CPU", "float DQN (numpy fp32)", "cpu.float_dqn_numpy.latency_median_s",
     "cpu.float_dqn_numpy.energy_j", ""),
    ("this CPU", "int8 ANN (numpy)", "cpu.int8_ann.latency_median_s", "cpu.int8_ann.energy_j",
     ""),
    ("this CPU", "spiking network on the emulator", "cpu.snn_emulator.latency_median_s",
     "cpu.snn_emulator.energy_j", ""),
    ("GPU (NVML)", "float DQN (torch CUDA)", "gpu.latency_median_s", "gpu.energy_j",
     "board minus idle power"),
    ("GTX 1650 (Arfa et al. 2025)", "CartPole DSQN", None, "published.gtx1650.energy_j",
     "per inference, as published"),
)


def si(value: float | None, unit: str) -> str:
    """`value` with an SI prefix (p, n, u, m) and 3 significant digits; None: unavailable."""
    if value is None:
        return "unavailable"
    if value == 0:
        return f"0 {unit}"
    for scale, prefix in reversed(_PREFIXES):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "unavailable"
    if float(value).is_integer() and abs(value) < 1e12:
        return f"{int(value)}"
    return f"{value:.{digits}g}"


def tag(f: Figure) -> str:
    """A figure's provenance as the tables show it: "published, via a summary" for one
    quoted from a summary of the paper, not the paper (an outsider read "[published]" of
    the Arfa figures as taken from the paper's table, which was not reachable)."""
    via = f.provenance == "published" and "via a summary" in f.source
    return f"{f.provenance}, via a summary" if via else f.provenance


def _cell(rep: Report, key: str | None, unit: str) -> str:
    if key is None:
        return "not published"
    f = rep.get(key)
    if f is None:
        return "unavailable"
    if f.value is None:
        return "unavailable"
    text = si(f.value, unit) if unit in ("s", "J") else num(f.value)
    return f"{text} [{tag(f)}]"


def _cpu_kind(rep: Report, key: str) -> str:
    f = rep.get(key)
    if f is None or f.value is None:
        return ""
    return ("package minus idle (RAPL)" if f.provenance == "measured"
            else f"estimate: {CPU_POWER_REFERENCE} core's rated power x this CPU's latency")


def _rows(rep: Report) -> tuple[tuple[str, str, str | None, str, str], ...]:
    """The main table's and plot's rows: the published (CartPole) rows only in a CartPole
    report (an outsider's nav plot had the CartPole GTX 1650 bar as its longest)."""
    has_baseline = rep.get("baseline.spinnaker2.low.energy_total_j") is not None
    cartpole = str(rep.header.get("env_id", "")).startswith(PUBLISHED_FIGURES_ENV_PREFIX)
    rows = MAIN_ROWS + (BASELINE_ROWS if has_baseline else ())
    return tuple(r for r in rows if cartpole or not r[3].startswith("published."))


def main_table(rep: Report) -> list[list[str]]:
    rows = []
    for platform, what, lat_key, e_key, kind in _rows(rep):
        kind = _cpu_kind(rep, e_key) if e_key.startswith("cpu.") else kind
        if rep.value(e_key) is None:  # why, where the report knows (the GPU row's empty
            f = rep.get(e_key)        # reason was in section 7 only: an outsider)
            kind = f"unavailable: {f.source}" if f is not None and f.source else ""
        on = rep.get(e_key).on if rep.get(e_key) else ""
        rows.append([platform, what, _cell(rep, lat_key, "s"), _cell(rep, e_key, "J"), kind,
                     on])
    return rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:  # a reason quoting an error may hold | or a line break
        return str(text).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    return "\n".join(out)


# --- plots -------------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> None:
    """Lay out `fig` within `rect`, write it to `path` and free it."""
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_energy(rep: Report, path: Path) -> None:
    plt = _plt()
    labels, values, colors = [], [], []
    for platform, what, _, e_key, _kind in _rows(rep):
        f = rep.get(e_key)
        short = _SHORT.get(e_key.rsplit(".", 1)[-1]) if "spinnaker2." in e_key else ""
        labels.append(f"{platform}: {what}" + (f" ({short})" if short else ""))
        ok = f is not None and f.value is not None and f.value > 0
        values.append(f.value if ok else np.nan)
        colors.append(COLORS[f.provenance if f is not None else "unavailable"])
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(labels) + 1.5))
    y = np.arange(len(labels))
    finite = [v for v in values if np.isfinite(v)]
    ax.barh(y, [v if np.isfinite(v) else 0 for v in values], color=colors)
    ax.set_xscale("log")
    if finite:
        ax.set_xlim(min(finite) / 5, max(finite) * 5)
    for yi, v in zip(y, values, strict=True):
        if not np.isfinite(v):
            ax.text(min(finite) / 4 if finite else 1e-9, yi, "unavailable", va="center",
                    color="#666666", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("energy per action [J] (log scale)")
    ax.set_title(f"Energy per action by platform - {rep.header['env_id']}")
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color=c, label=p) for p, c in COLORS.items()], fontsize=8,
               loc="lower center", ncol=len(COLORS))
    _save(plt, fig, path, rect=(0, 0.05, 1, 1))


def plot_sweep(rep: Report, path: Path) -> None:
    plt = _plt()
    rows = [r for r in rep.sweep if "return_mean" in r]
    fig, ax = plt.subplots(figsize=(7, 4.9))
    if not rows:
        ax.text(0.5, 0.5, "return against T: unavailable", ha="center", transform=ax.transAxes)
    else:
        ts = [r["timesteps"] for r in rows]
        ax.plot(ts, [r["return_mean"] for r in rows], "o-", color=COLORS["measured"],
                label="mean return [measured]")
        ax.plot(ts, [r["return_worst5pct"] for r in rows], "s--", color=COLORS["measured"],
                alpha=0.6, label="worst-5 % return [measured]")
        conv = rep.comparisons.get("plain_conversion", {}).get("search") or []
        if conv:
            ax.plot([r["timesteps"] for r in conv], [r["return_mean"] for r in conv], "d-.",
                    color="#d62728", label="plain conversion, mean return [measured]")
        ax.axvline(rep.header["timesteps"], color="#999999", ls=":", label="artifact's T")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("time steps per action T")
        ax.set_ylabel("return")
        e_rows = [r for r in rows if "energy_total_j" in r]
        if e_rows:
            ax2 = ax.twinx()
            ax2.plot([r["timesteps"] for r in e_rows], [r["energy_total_j"] for r in e_rows],
                     "^-", color=COLORS["modeled"], label="total energy, low [modeled]")
            ax2.plot([r["timesteps"] for r in e_rows],
                     [r["energy_dynamic_j"] for r in e_rows], "v--", color=COLORS["modeled"],
                     alpha=0.6, label="dynamic energy, low [modeled]")
            ax2.set_yscale("log")
            ax2.set_ylabel("SpiNNaker2 energy per action [J]")
        # one legend below the axes: inside them it hid points of the curves
        handles = [h for a in fig.axes for h in a.get_legend_handles_labels()[0]]
        fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=2, frameon=False)
    ax.set_title("Return against T (same weights, only T changed)")
    _save(plt, fig, path, rect=(0, 0.14 if rows else 0, 1, 1))


def plot_spikes(rep: Report, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    series = rep.spikes_per_layer
    if not series:
        ax.text(0.5, 0.5, "spikes per layer: unavailable", ha="center", transform=ax.transAxes)
    else:
        names = list(next(iter(series.values())))
        width = 0.8 / len(series)
        for i, (label, d) in enumerate(series.items()):
            x = np.arange(len(d)) + i * width
            ax.bar(x, list(d.values()), width, label=f"{label} [counted, emulator]")
            if list(d) != names:
                names = [f"{a}/{b}" for a, b in zip(names, d, strict=False)]
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
        ax.set_ylabel("spikes per action")
        ax.legend(fontsize=8)
    ax.set_title("Spikes per population per action (input source first)")
    _save(plt, fig, path)


def plot_latency(rep: Report, path: Path) -> None:
    plt = _plt()
    names = {"cpu.float_dqn": "CPU: float DQN (torch)",
             "cpu.float_dqn_numpy": "CPU: float DQN (numpy)",
             "cpu.int8_ann": "CPU: int8 ANN (numpy)",
             "cpu.snn_emulator": "CPU: spiking net, emulator", "gpu": "GPU: float DQN"}
    data = {names.get(k.split("/", 1)[1], k.split("/", 1)[1]): v
            for k, v in rep.samples.items() if k.startswith("latency/")}
    fig, ax = plt.subplots(figsize=(7, 0.6 * max(len(data), 1) + 2))
    if not data:
        ax.text(0.5, 0.5, "latency: unavailable", ha="center", transform=ax.transAxes)
    else:
        import matplotlib

        # matplotlib 3.10 replaced vert=False by orientation="horizontal"
        horizontal = ({"orientation": "horizontal"}
                      if tuple(int(x) for x in matplotlib.__version__.split(".")[:2]) >= (3, 10)
                      else {"vert": False})
        ax.boxplot([v * 1e6 for v in data.values()], whis=(1, 99), showfliers=False,
                   **horizontal)
        ax.set_yticks(np.arange(1, len(data) + 1), list(data), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("latency per action [us], whiskers 1-99 % [measured, this host]")
        chip = rep.value("spinnaker2.low.chip_time_s")
        if chip is not None:
            ax.axvline(chip * 1e6, color=COLORS["modeled"], ls="--",
                       label="SpiNNaker2 chip time [modeled]")
            ax.legend(fontsize=8)
    ax.set_title("Latency per action")
    _save(plt, fig, path)


# --- markdown --------------------------------------------------------------------------------


def _detail_rows(rep: Report, prefix: str) -> list[list[str]]:
    rows = []
    for lv in ("low", "high"):
        rows.append([lv] + [_cell(rep, f"{prefix}.{lv}.{k}", u) for k, u in (
            ("chip_time_s", "s"), ("energy_dynamic_j", "J"), ("energy_total_j", "J"),
            ("energy_total_pes_used_j", "J"), ("energy_total_with_host_io_j", "J"),
            ("tick_load_max", ""))])
    return rows


def _neurobench_rows(rep: Report) -> tuple[list[str], list[list[str]]]:
    nets = [("neurobench.snn", "snn", "spiking network")]
    nets += [("neurobench.int8_ann", "int8_ann", "int8 ANN"),
             ("neurobench.float_dqn", "float_dqn", "float DQN")]
    if rep.get("neurobench.baseline_snn.effective_acs") is not None:
        nets.append(("neurobench.baseline_snn", "baseline.snn", "baseline spiking network"))
    header = ["metric"] + [n[2] for n in nets]
    metric_rows = [("effective MACs per action", "{p}.effective_macs", ""),
                   ("effective ACs per action", "{p}.effective_acs", ""),
                   ("footprint", "{p}.footprint_bytes", "byte"),
                   ("mean return", "{r}.return_mean", ""),
                   ("worst-5 % return", "{r}.return_worst5pct", ""),
                   ("op energy, 45 nm fp32 convention", "{p}.op_energy_45nm_fp32_j", "J"),
                   ("op energy, 45 nm int convention", "{p}.op_energy_45nm_int_j", "J")]
    rows = []
    for label, pattern, unit in metric_rows:
        cells = []
        for p, r, _ in nets:
            key = pattern.format(p=p, r=r)
            f = rep.get(key)
            if f is None:
                cells.append("-")
            elif unit == "J":
                cells.append(_cell(rep, key, "J"))
            elif f.value is None:
                cells.append("unavailable")
            else:
                cells.append(f"{num(f.value)}{' B' if unit == 'byte' else ''} "
                             f"[{f.provenance}]")
        rows.append([label] + cells)
    sparsity_keys = sorted({f.key.split(".sparsity.")[1] for f in rep.figures
                            if ".sparsity." in f.key and f.key.startswith("neurobench.")},
                           key=lambda s: (not s.startswith("input"), s))
    for s in sparsity_keys:
        cells = []
        for p, _, _ in nets:
            f = rep.get(f"{p}.sparsity.{s}")
            cells.append("-" if f is None else f"{num(f.value, 3)} [{f.provenance}]")
        rows.append([f"activation sparsity, {s}"] + cells)
    return header, rows


def render_markdown(rep: Report) -> str:
    h = rep.header
    c = rep.comparisons
    lines = [
        f"# Energy per action: {h['env_id']}",
        "",
        f"Artifact `{h['artifact']}` (widths {'-'.join(map(str, h['widths']))}, T = "
        f"{h['timesteps']}, {h['encoder']} encoder); {h['episodes']} episodes, episode i "
        f"seeded {h['seed']} + i; float DQN: "
        + (f"`{h['float_dqn_source']}`" if h.get("float_dqn_source") else "unavailable")
        + "; created "
        f"{h['created_utc']} UTC."
        + (" The event encoder's input spikes are rebuilt here from each period's event "
           "counts (observations), not fed from the events as `neuroq eval` and the event "
           "node do: counts and energy differ slightly from theirs (docs/events.md)."
           if h.get("encoder") == "event" else ""),
        "",
        "Every number carries its provenance: **measured** (by this command on this host), "
        "**modeled** (SpiNNaker2 model, deploy/energy.py, not a measurement), **published** "
        "(quoted from a paper, not reproduced here), **estimate** (a stated assumption times "
        "a measured quantity), **unavailable** (could not be obtained; why is listed below). "
        "report.json holds every figure with its source.",
        "",
        "## 1. Energy and latency per action by platform",
        "",
        "Latency: SpiNNaker2 rows give the modeled on-chip time (T x sys_tick), CPU/GPU rows "
        "the measured median wall time of one action on this host.",
        "",
        _md_table(["platform", "runs", "latency per action", "energy per action",
                   "which energy", "on"], main_table(rep)),
        "",
        f"![energy per action]({PLOTS['energy']})",
        "",
        f"![latency]({PLOTS['latency']})",
        "",
        "## 2. SpiNNaker2 model at each performance level",
        "",
        _md_table(["level", "chip time", "dynamic", "total (whole chip)", "total (PEs used)",
                   "total + chip idle over host I/O", "busiest PE's mean tick load"],
                  _detail_rows(rep, "spinnaker2")),
        "",
        f"PEs used: {_cell(rep, 'spinnaker2.pes_used', '')}; data SRAM: "
        f"{_cell(rep, 'spinnaker2.sram_bytes', '')} bytes; synaptic events per action: "
        f"{_cell(rep, 'spinnaker2.synaptic_events', '')}. A small network leaves most of "
        "the chip idle, so static power dominates the total; comparisons below say which "
        "energy they use.",
        "",
        "## 3. NeuroBench-style metrics",
        "",
        "Effective operations count non-zero input x non-zero weight pairs: spikes give ACs, "
        "other inputs MACs. ANN figures are computed on the observations the spiking network "
        "acted on; returns come from each network's own episodes (same seeds). Op energies "
        "are 45 nm estimates (Horowitz, ISSCC 2014), for comparing op mixes only.",
        "",
        _md_table(*_neurobench_rows(rep)),
        "",
        "## 4. Return against T",
        "",
    ]
    sweep_rows = []
    for r in rep.sweep:
        if "error" in r:
            sweep_rows.append([str(r["timesteps"]), "unavailable", "", "", "", r["error"]])
            continue
        sweep_rows.append([str(r["timesteps"]), f"{r['return_mean']:.1f} [measured]",
                           f"{r['return_worst5pct']:.1f} [measured]",
                           f"{r['spikes_per_action']:.1f} [counted]",
                           _sweep_energy(r), ""])
    if sweep_rows:
        lines += [f"The artifact's network re-run at other T with unchanged weights and neuron "
                  f"parameters ({rep.config['sweep_episodes']} episodes each, emulator); "
                  "energy is the modeled SpiNNaker2 total, low level, whole chip.", "",
                  _md_table(["T", "mean return", "worst-5 % return", "spikes per action",
                             "energy per action", "note"], sweep_rows), ""]
    else:
        lines += ["Return against T: unavailable (no sweep was run).", ""]
    lines += [f"![return against T]({PLOTS['sweep']})", "", "## 5. Spikes per layer", ""]
    if rep.spikes_per_layer:
        names = list(next(iter(rep.spikes_per_layer.values())))
        lines += [_md_table(["network"] + names,
                            [[k] + [f"{v:.1f}" for v in d.values()]
                             for k, d in rep.spikes_per_layer.items()]),
                  "", "Mean spikes per action, counted by the emulator [counted].", ""]
    lines += [f"![spikes per layer]({PLOTS['spikes']})", "", "## 6. Comparisons", "",
              f"**(a) Published SpiNNaker2 vs GTX 1650** - {c['published_gpu']['status']}. "
              f"{c['published_gpu']['text']}", "",
              f"**(b) At least {c['plain_conversion']['target_ratio']:.0f}x below a plain "
              f"conversion at equal return** - {c['plain_conversion']['status']}. "
              f"{c['plain_conversion']['text']}", "",
              *_search_lines(c["plain_conversion"].get("search") or []),
              *([f"**(c) SpiNNaker2 against this CPU** - {c['this_cpu']['status']}. "
                 f"{c['this_cpu']['text']}", ""] if "this_cpu" in c else []),
              *([f"**(d) SpiNNaker2 against the GPU measured here** - "
                 f"{c['measured_gpu']['status']}. {c['measured_gpu']['text']}", ""]
                if "measured_gpu" in c else []),
              "## 7. Unavailable figures and why", ""]
    missing = [f for f in rep.figures if f.provenance == "unavailable"]
    lines += [f"- `{f.key}` ({f.on}): {f.source}" for f in missing] or ["- none"]
    lines += ["", "## 8. Sources", "",
              "- SpiNNaker2 model: deploy/energy.py; every constant (value, unit, tag, source) "
              "in deploy/chip.py (`neuroq deploy <artifact> --show-constants`).",
              "- CPU energy: " + (rep.header.get("rapl") == "readable" and
                                  "Intel RAPL package counters, idle power subtracted." or
                                  f"RAPL unavailable ({rep.header.get('rapl')}); estimate: "
                                  f"median latency x {CPU_CORE_POWER_ESTIMATE_W:.2f} W "
                                  f"({CPU_POWER_SOURCE}; agents/energy/measure.py), not this "
                                  "host's power; it follows the host's load."),
              "- Published figures: Arfa, Vogginger, Mayr 2025 (arXiv 2507.23562), CartPole: "
              "0.145 J per inference on a GTX 1650, 0.006 J on SpiNNaker2 at 0.333 W.",
              "- NeuroBench conventions (effective MACs/ACs, activation sparsity, footprint, "
              "worst-5 % return): agents/energy/metrics.py.", ""]
    return "\n".join(lines)


def _search_lines(search: list[dict[str, Any]]) -> list[str]:
    if not search:
        return []
    rows = [[str(r["timesteps"]), f"{r['return_mean']:.1f} [measured]", str(r["episodes"])]
            for r in search]
    return ["Plain conversion (no fine-tuning) of the same DQN, re-converted at each T until "
            "it reaches the artifact's return:", "",
            _md_table(["T", "mean return", "episodes"], rows), ""]


def _sweep_energy(r: dict[str, Any]) -> str:
    if "energy_total_j" not in r:
        return "unavailable"
    return f"{si(r['energy_total_j'], 'J')} [modeled]"


# --- tensorboard and the whole folder ------------------------------------------------------


def write_tensorboard(rep: Report, folder: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    try:
        for f in rep.figures:
            if f.value is not None and math.isfinite(f.value):
                writer.add_scalar(f"{f.provenance}/{f.key.replace('.', '/')}", f.value, 0)
        for r in rep.sweep:
            for k in ("return_mean", "return_worst5pct", "energy_total_j", "energy_dynamic_j"):
                if k in r:
                    prov = "modeled" if k.startswith("energy") else "measured"
                    writer.add_scalar(f"{prov}/return_vs_T/{k}", r[k], r["timesteps"])
        writer.add_text("report", _md_table(["platform", "runs", "latency", "energy",
                                             "which", "on"], main_table(rep)))
    finally:
        writer.close()


def write_report(rep: Report, run_dir: Path, tensorboard: bool = True) -> dict[str, Path]:
    """Write report.md, report.json, the PNGs and (optionally) TensorBoard; return paths."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: run_dir / file for name, file in PLOTS.items()}
    plot_energy(rep, paths["energy"])
    plot_sweep(rep, paths["sweep"])
    plot_spikes(rep, paths["spikes"])
    plot_latency(rep, paths["latency"])
    data = rep.to_json()
    data["plots"] = {k: p.name for k, p in paths.items()}
    data["main_table"] = {"header": ["platform", "runs", "latency per action",
                                     "energy per action", "which energy", "on"],
                          "rows": main_table(rep)}
    paths["json"] = write_json(run_dir / REPORT_FILE, data)
    paths["markdown"] = run_dir / "report.md"
    paths["markdown"].write_text(render_markdown(rep))
    if tensorboard:
        write_tensorboard(rep, run_dir / "tb")
        paths["tensorboard"] = run_dir / "tb"
    return paths
