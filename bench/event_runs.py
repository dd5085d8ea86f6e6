"""What the event benchmarks share: finding the newest exported event-task artifact."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENT_ENV_ID = "neuroq/DVSPanTrackingPooled-v0"


def latest_event_artifact(runs: Path = ROOT / "runs") -> str:
    """The newest exported artifact of the event task under runs/ (what `neuroq demo --env
    neuroq/DVSPanTrackingPooled-v0` or the export stage writes)."""
    found = sorted((runs / EVENT_ENV_ID).glob("export-*/artifact/manifest.json"),
                   key=lambda p: p.stat().st_mtime)
    if not found:
        sys.exit(f"no exported artifact under {runs / EVENT_ENV_ID}: run `neuroq demo --env "
                 f"{EVENT_ENV_ID}` first, or pass --artifact")
    return str(found[-1].parent)
