"""Sweep throughput: the same sweep one trial after another and on a local Ray.

Runs SPEC twice from the same train run into fresh folders, first `--serial` (every stage
run in this process, no Ray) and then on a local Ray instance with the spec's workers, and
prints both wall times (Ray's start included), their ratio, the machine's load average
before and after each, and whether both gave the same returns. Target (issue 20): >= 1.8x
with 2 workers on the 2-core machine.

usage: python bench/bench_sweep.py --train-run runs/CartPole-v1/train-seed0-<time>
       [--spec docs/sweeps/cartpole_encoder_T.yaml] [--out runs/bench-sweep]
Writes bench/results/sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuroq.agents.sweep import run_sweep  # noqa: E402
from neuroq.agents.sweep_spec import load_spec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_SPEEDUP = 1.8


def _timed(spec, out: Path, serial: bool) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = run_sweep(spec, out, serial=serial, show_progress=False, say=lambda _: None)
    wall = time.perf_counter() - t0
    returns = [r.get("eval_return") or r.get("finetune_return") for r in result.rows]
    return {"wall_s": round(wall, 1), "load_start": load0, "load_end": os.getloadavg()[0],
            "failed": result.failed, "returns": returns}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default=str(ROOT / "docs/sweeps/cartpole_encoder_T.yaml"))
    p.add_argument("--train-run", nargs="+", required=True)
    p.add_argument("--out", default="runs/bench-sweep")
    args = p.parse_args()
    spec = load_spec(args.spec, train_run=args.train_run)
    serial = _timed(spec, Path(args.out) / "serial", serial=True)
    ray = _timed(spec, Path(args.out) / "ray", serial=False)
    speedup = serial["wall_s"] / ray["wall_s"]
    print(f"{len(spec.trials())} trials of {spec.name}")
    print(f"{'run':<8} {'wall s':>8} {'load start':>11} {'load end':>9} {'failed':>7}")
    for name, r in (("serial", serial), (f"ray x{spec.workers}", ray)):
        print(f"{name:<8} {r['wall_s']:>8.1f} {r['load_start']:>11.1f} {r['load_end']:>9.1f} "
              f"{r['failed']:>7}")
    print(f"throughput {speedup:.2f}x (target >= {TARGET_SPEEDUP}x); same returns: "
          f"{serial['returns'] == ray['returns']}")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "sweep.json").write_text(json.dumps(
        {"spec": args.spec, "serial": serial, "ray": ray, "speedup": speedup,
         "cores": os.cpu_count()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
