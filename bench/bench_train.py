"""Training benchmark: every seed must solve CartPole-v1 and Acrobot-v1.

Targets (issue 2): CartPole-v1 mean return >= 475 over 100 episodes for 5 of 5 seeds within
50k steps each; Acrobot-v1 mean return >= -85 for 5 of 5 seeds within 100k steps each.
Reports wall seconds per 10k steps for a single-seed run and for the 5-seed parallel run on
this machine (machines are noisy: compare ratios measured in one run).

usage: python bench/bench_train.py [--envs CartPole-v1 Acrobot-v1] [--seeds 0 1 2 3 4]
       [--out runs/bench] [--skip-single]
Prints a table and writes bench/results/train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuroq.agents import hyperparams  # noqa: E402
from neuroq.agents.runs import read_json  # noqa: E402
from neuroq.agents.train import train_many, train_one  # noqa: E402

TARGETS = {"CartPole-v1": 475.0, "Acrobot-v1": -85.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", nargs="+", default=list(TARGETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--config", default=None)
    ap.add_argument("--skip-single", action="store_true",
                    help="skip the single-seed timing run")
    args = ap.parse_args()
    report: dict[str, dict] = {}
    for env_id in args.envs:
        cfg = hyperparams.load_config(env_id, args.config)
        entry: dict = {"config": cfg.to_dict(), "cpu_count": os.cpu_count()}
        if not args.skip_single:
            run = train_one(env_id, 1000 + args.seeds[0], cfg, args.out)
            entry["single_wall_s_per_10k"] = read_json(run / "result.json")[
                "wall_s_per_10k_steps"]
        t0 = time.perf_counter()
        runs = train_many(env_id, args.seeds, cfg, args.out, show_progress=False)
        total = time.perf_counter() - t0
        results = [read_json(r / "result.json") for r in runs]
        solved = [r["mean_return"] >= TARGETS.get(env_id, float("inf")) for r in results]
        entry.update({
            "parallel_seeds": len(args.seeds), "parallel_total_wall_s": round(total, 1),
            "parallel_wall_s_per_10k_per_seed":
                round(sum(r["wall_s_per_10k_steps"] for r in results) / len(results), 2),
            "parallel_throughput_wall_s_per_10k_total_steps":
                round(total * 1e4 / sum(r["steps"] for r in results), 2),
            "runs": results, "solved": f"{sum(solved)}/{len(solved)}",
            "target": TARGETS.get(env_id),
        })
        report[env_id] = entry
        print(f"\n{env_id}: target mean return >= {TARGETS.get(env_id)} over 100 episodes")
        print(f"{'seed':>4} {'steps':>7} {'mean':>8} {'std':>7} {'min':>7} {'ckpt':>5} "
              f"{'best@':>7} {'final':>8} {'s/10k':>6}")
        for r in results:
            print(f"{r['seed']:>4} {r['steps']:>7} {r['mean_return']:>8.1f} "
                  f"{r['std_return']:>7.1f} {r['min_return']:>7.1f} {r['checkpoint']:>5} "
                  f"{str(r['best_eval_step']):>7} {r['final_model_mean_return']:>8.1f} "
                  f"{r['wall_s_per_10k_steps']:>6.1f}")
        print(f"solved {entry['solved']}; single-seed wall s / 10k steps: "
              f"{entry.get('single_wall_s_per_10k', 'skipped')}; parallel run of "
              f"{len(args.seeds)} seeds: {total:.0f} s total, "
              f"{entry['parallel_throughput_wall_s_per_10k_total_steps']} s per 10k steps "
              "(all seeds together)")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "train.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
