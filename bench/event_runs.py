"""What the event benchmarks share: finding the newest exported event-task artifact, and
printing and saving a flat result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENT_ENV_ID = "neuroq/DVSPanTrackingPooled-v0"


SHIPPED_EVENT_ARTIFACT = ROOT / "config" / "artifacts" / "dvs_pan_tracking"
"""The event task's shipped artifact: what a fresh clone has to measure with."""


def latest_event_artifact(runs: Path = ROOT / "runs") -> str:
    """The newest exported artifact of the event task under runs/ (what `neuroq demo --env
    neuroq/DVSPanTrackingPooled-v0` or the export stage writes), else the shipped one (a
    fresh clone has no runs/: the benchmark exited 1 there)."""
    found = sorted((runs / EVENT_ENV_ID).glob("export-*/artifact/manifest.json"),
                   key=lambda p: p.stat().st_mtime)
    if not found:
        print(f"no exported artifact under {runs / EVENT_ENV_ID}: using the shipped "
              f"{SHIPPED_EVENT_ARTIFACT} (--artifact chooses)", file=sys.stderr)
        return str(SHIPPED_EVENT_ARTIFACT)
    return str(found[-1].parent)


def print_and_save(result: dict[str, Any], out: str | Path, width: int) -> None:
    """Print `result` one key per line (floats to 4 significant digits) and write it to
    `out` as JSON."""
    for k, v in result.items():
        print(f"{k:{width}s} {v:.4g}" if isinstance(v, float) else f"{k:{width}s} {v}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {out}")
