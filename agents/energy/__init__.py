"""The energy-per-action report behind `neuroq energy`: runs, measurements, metrics, render.

- `runs`: the closed-loop runs of the spiking network, the float DQN and the int8 ANN;
  where the float DQN comes from; the plain-conversion baseline.
- `measure`: CPU and GPU latency and energy measurements (RAPL, NVML) or stated estimates.
- `metrics`: NeuroBench-style operation counts, sparsity and footprints.
- `report`: the figures, each labelled measured, counted, modeled, published, estimate or
  unavailable.
- `render`: report.md, report.json, plots and TensorBoard scalars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def energy_report(artifact: str, out_root: str = "runs", tensorboard: bool = True,
                  **options: Any) -> tuple[Any, dict[str, Path]]:
    """Build and write the report for `artifact` (what `neuroq demo` calls); `options` are
    fields of neuroq.agents.energy.report.EnergyConfig. Returns (report, paths written)."""
    from neuroq.agents.energy.figures import EnergyConfig
    from neuroq.agents.energy.render import write_report
    from neuroq.agents.energy.report import build_report
    from neuroq.agents.runs import make_run_dir, removed_on_failure

    rep = build_report(EnergyConfig(artifact=str(artifact), **options))
    run_dir = make_run_dir(out_root, rep.header["env_id"], "energy")
    # a Ctrl-C or a full disk while writing: no half-written report (an outsider's
    # interrupt left an empty energy-<time> folder)
    with removed_on_failure(run_dir):
        return rep, write_report(rep, run_dir, tensorboard=tensorboard)


