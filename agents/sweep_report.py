"""The table and Pareto plot of a sweep: results.csv, results.md, pareto.png.

One row per trial. Which figure is the trial's return: that of the last stage it ran among
eval (the artifact on the emulator), export, finetune, convert, train (`RETURN_SOURCES`), on
that stage's evaluation episodes (seeded apart from training: see each stage's docs).
Synaptic events per action are COUNTED (the emulator in eval, the deploy/ model in
finetune); energy per action is MODELED (the SpiNNaker2 energy model of deploy/energy.py,
through the eval stage on the emulator backend), and the plot says so.

Pareto front: the trials no other trial beats on both axes (higher return, fewer events or
less energy); drawn as a step line.
"""

from __future__ import annotations

import csv
import math
import textwrap
from pathlib import Path
from typing import Any

from neuroq.deploy.errors import counted

#: Where a trial's return comes from, first found wins (the most deployed stage first).
RETURN_SOURCES = ("eval_return", "export_return", "finetune_return", "convert_return",
                  "train_return")
EVENT_SOURCES = ("eval_synaptic_events_per_action", "synaptic_events_per_action")
ENERGY_KEY = "modeled_energy_per_action_j"
#: Columns of results.md besides the varied settings (CSV has every column).
MD_COLUMNS = ("status", "return", "return_from", "train_return", "ann_return",
              "convert_return", "finetune_return", "gate_snn_return", "gate_float_return",
              "gate_fraction", "eval_return", "synaptic_events", "modeled_energy_uj",
              "wall_s", "error")
UJ_PER_J = 1e6


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for k in keys:
        v = row.get(k)
        if isinstance(v, (int, float)) and math.isfinite(v):
            return k, v
    return None, None


def enrich(row: dict[str, Any]) -> dict[str, Any]:
    """The row with `return`, `return_from`, `synaptic_events` and `modeled_energy_uj`."""
    src, ret = _first(row, RETURN_SOURCES)
    _, events = _first(row, EVENT_SOURCES)
    energy = row.get(ENERGY_KEY)
    return {**row, "return": ret, "return_from": src and src.removesuffix("_return"),
            "synaptic_events": events,
            "modeled_energy_uj": energy * UJ_PER_J if isinstance(energy, (int, float)) else None}


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, return) that no other point dominates (cost <= and
    return >=, one strictly), sorted by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "/")


#: (column of a return, column of its episode seeds), in pipeline order.
SEED_COLUMNS = (("train_return", "train_seeds"), ("convert_return", "convert_seeds"),
                ("finetune_return", "finetune_seeds"), ("gate_snn_return", "gate_seeds"),
                ("eval_return", "eval_seeds"))


def _episodes_note(rows: list[dict[str, Any]]) -> list[str]:
    """Which episode seeds each return column was measured on, and that none was held out
    from the choice a reader makes from this table (an outsider re-evaluated the sweep's
    best, 47.5 on eval's seeds 0..9, at 41.7 on seeds 777000..777099: results.md had said
    neither which seeds nor that its best is an optimistic figure)."""
    said, own = [], []
    for ret, seeds in SEED_COLUMNS:
        spans = sorted({str(r[seeds]) for r in rows if r.get(seeds)})
        if spans:
            said.append(f"{ret} on episode seeds {', '.join(spans)}")
            if len(spans) > 1:  # a sweep over train.seed: each train run its seed's own
                own.append(ret)
    if not said:
        return []
    judged = ("Every trial is judged on these same episodes" if not own else
              f"Trials are judged on the same episodes but for {', '.join(own)}, which each "
              "trial played on episodes of its own seeds (as listed)")
    # an artifact only where the sweep ran export (a sweep of train alone has none)
    check = ("play that trial's artifact on seeds used nowhere here before relying on it "
             "(`neuroq eval <artifact> --seed 777000 --episodes 100`)"
             if any(r.get("artifact") for r in rows) else
             "check the trial chosen on seeds used nowhere here before relying on it (a "
             "later stage's run on held-out episodes, or `neuroq eval` of its artifact)")
    return ["Episodes: " + "; ".join(said) + f". {judged}, and the best return in this "
            "table is an optimistic figure for the trial chosen by it: " + check + "."]


def write_tables(folder: Path, spec: Any, rows: list[dict[str, Any]]
                 ) -> tuple[Path, Path, Path | None]:
    """Write results.csv, results.md and (when any trial has figures to plot) pareto.png."""
    rows = [enrich(r) for r in rows]
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    csv_path = folder / "results.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    md_cols = ["trial", *spec.varied, *(c for c in MD_COLUMNS if any(
        r.get(c) is not None for r in rows))]
    lines = [f"# Sweep {spec.name} on {spec.env}", "",
             f"{counted(len(rows), 'trial')}, {sum(r['status'] == 'ok' for r in rows)} "
             "finished, "
             f"{sum(r['status'] == 'failed' for r in rows)} failed. Returns are means over "
             "each stage's evaluation episodes; synaptic events per action are counted; "
             "energy per action is MODELED (SpiNNaker2 model, emulator backend).", "",
             *_episodes_note(rows), "",
             "| " + " | ".join(md_cols) + " |", "|" + "---|" * len(md_cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in md_cols) + " |" for r in rows]
    md_path = folder / "results.md"
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path, plot_pareto(folder / "pareto.png", spec, rows)


def plot_pareto(path: Path, spec: Any, rows: list[dict[str, Any]]) -> Path | None:
    """Return against synaptic events and MODELED energy per action, Pareto fronts drawn."""
    panels = [("synaptic_events", "synaptic events per action (counted)"),
              ("modeled_energy_uj", "energy per action, uJ (MODELED: SpiNNaker2 model)")]
    panels = [(k, label) for k, label in panels
              if any(r.get(k) is not None and r.get("return") is not None for r in rows)]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        pts = [(r[key], r["return"], r) for r in rows
               if r.get(key) is not None and r.get("return") is not None]
        xy = [(x, y) for x, y, _ in pts]
        ax.scatter([p[0] for p in xy], [p[1] for p in xy], s=28, alpha=0.75, label="trial")
        front = [xy[i] for i in pareto_front(xy)]
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="C3", marker="o",
                markerfacecolor="none", markersize=10,
                label="Pareto front")
        for x, y, r in pts:
            ax.annotate(str(r["trial"]), (x, y), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel(label)
        ax.set_ylabel(f"return ({pts[0][2]['return_from'] if pts else ''} episodes)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    modeled = any(k == "modeled_energy_uj" for k, _ in panels)
    title = (f"sweep {spec.name} on {spec.env}: return against cost per action"
             + (" (energy MODELED)" if modeled else ""))
    # wrapped to the figure's width: a long name and env were cut at both edges
    fig.suptitle("\n".join(textwrap.wrap(title, 60 * len(panels))), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
