"""The DVS pan-tracking task end to end: float DQN against the 8-bit spiking policy on the
emulator, with events as input spikes, on the same episodes.

Issue 6's target: the event task's 8-bit policy on the emulator reaches >= 95 % of the float
DQN's return. Three returns over the same `--episodes` episodes (episode i seeded
`--seed + i`):
  float DQN           the trained Q-network (float32, numpy copy of the SB3 MLP) on counts
  8-bit, events       the artifact on the emulator, each DVS event an input spike in the
                      time bin of its timestamp (EventEncoder.encode_events)
  8-bit, counts       the same artifact fed the per-period counts (EventEncoder.encode: the
                      spike trains rebuilt from counts, as conversion and fine-tuning see)

Run: .venv/bin/python bench/bench_event_task.py [--artifact <artifact>] [--train <run>]
Writes bench/results/event_task.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_FRACTION = 0.95
"""Issue 6: the 8-bit policy reaches at least 95 % of the float DQN's return."""


from event_runs import latest_event_artifact, print_and_save  # noqa: E402


class CountsOnly:
    """A policy seen without its event path, so `neuroq.deploy.evaluate` feeds it counts."""

    encoder = None

    def __init__(self, policy: Any) -> None:
        self._policy = policy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._policy, name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", help="the train run (default: the artifact's provenance)")
    ap.add_argument("--artifact", help="the exported event-encoder artifact (default: the "
                                       "newest under runs/neuroq/DVSPanTrackingPooled-v0)")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench/results/event_task.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from neuroq.agents.convert import evaluate_returns, load_mlp, open_train_run
    from neuroq.deploy.evaluate import evaluate
    from neuroq.deploy.policy import load_policy

    args.artifact = args.artifact or latest_event_artifact()
    if args.train is None:
        manifest = json.loads((Path(args.artifact) / "manifest.json").read_text())
        args.train = manifest.get("provenance", {}).get("train_run")
        if not args.train:
            ap.error("the artifact names no train run in its provenance: pass --train")
    train = open_train_run(args.train)
    mlp = load_mlp(train)
    t0 = time.perf_counter()
    ann = evaluate_returns(train.env_id, lambda o: mlp.q(o).argmax(axis=1), args.episodes,
                           args.seed)
    t1 = time.perf_counter()
    policy = load_policy(args.artifact, backend="emulator", seed=args.seed)
    if getattr(policy.encoder, "kind", "") != "event":
        ap.error(f"{args.artifact} has a {policy.encoder.kind} encoder, not the event encoder")
    ev = evaluate(policy, args.episodes, args.seed, env_id=train.env_id)
    t2 = time.perf_counter()
    counts = evaluate(CountsOnly(policy), args.episodes, args.seed, env_id=train.env_id)
    t3 = time.perf_counter()
    ann_mean = float(ann.mean())
    result = {
        "env_id": train.env_id, "episodes": args.episodes, "seed": args.seed,
        "train_run": str(train.path), "artifact": str(args.artifact),
        "timesteps": policy.timesteps, "encoder": policy.encoder.to_dict(),
        "float_dqn_return": ann_mean, "float_dqn_std": float(ann.std()),
        "snn_8bit_events_return": ev["return_mean"], "snn_8bit_events_std": ev["return_std"],
        "snn_8bit_counts_return": counts["return_mean"],
        "snn_8bit_counts_std": counts["return_std"],
        "fraction_events": ev["return_mean"] / ann_mean,
        "fraction_counts": counts["return_mean"] / ann_mean,
        "target_fraction": TARGET_FRACTION,
        "reached": ev["return_mean"] >= TARGET_FRACTION * ann_mean,
        "events_synaptic_events_per_action": ev["counted_per_action"]["synaptic_events"],
        "events_modeled_energy_dynamic_j": (ev["modeled_per_action"] or {}).get(
            "energy_dynamic_j"),
        "events_modeled_chip_time_s": (ev["modeled_per_action"] or {}).get("chip_time_s"),
        "wall_s": {"float": round(t1 - t0, 1), "events": round(t2 - t1, 1),
                   "counts": round(t3 - t2, 1)},
        "loadavg": os.getloadavg(),
    }
    print_and_save(result, args.out, 36)
    return 0 if result["reached"] else 1


if __name__ == "__main__":
    sys.exit(main())
