"""What the event benchmarks share: finding the newest exported event-task artifact, and
printing and saving a flat result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

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


def print_and_save(result: dict[str, Any], out: str | Path, width: int) -> None:
    """Print `result` one key per line (floats to 4 significant digits) and write it to
    `out` as JSON."""
    for k, v in result.items():
        print(f"{k:{width}s} {v:.4g}" if isinstance(v, float) else f"{k:{width}s} {v}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {out}")
