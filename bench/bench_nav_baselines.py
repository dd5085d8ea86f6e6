"""DiffDriveNav's scale: a random policy, the reactive go-to-goal-and-avoid controller and,
optionally, an artifact (its SNN on the emulator and its float DQN) on the same episodes.

Run: .venv/bin/python bench/bench_nav_baselines.py [--episodes 100] [--seed 1000000]
         [--artifact config/artifacts/nav]
Prints success rate (95 % bootstrap interval), collision rate, time to goal and mean return
per policy, and writes bench/results/nav_baselines.json. The default seeds (1,000,000 + i)
are the held-out range of neuroq.deploy.seeds; 5000 + i are held out too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neuroq.deploy import seeds  # noqa: E402
from neuroq.deploy.rollout import outcome_summary, run_episodes  # noqa: E402
from neuroq.envs.nav_baselines import random_actions, reactive_actions  # noqa: E402

ENV_ID = "neuroq/DiffDriveNav-v0"
N_SECTORS = 18


def policies(artifact: str | None) -> dict:
    rng = np.random.default_rng(0)
    out = {"random": lambda obs, _i: random_actions(rng, len(obs)),
           "reactive": lambda obs, _i: reactive_actions(obs, N_SECTORS)}
    if artifact:
        from neuroq.agents.energy.runs import find_float_dqn
        from neuroq.agents.robustness import policy_act
        from neuroq.deploy.artifact import load_artifact
        from neuroq.deploy.policy import load_policy

        art = load_artifact(artifact)
        policy = load_policy(art, backend="emulator")
        out["snn (emulator)"] = policy_act(policy)
        found, why = find_float_dqn(art.path, art.manifest)  # its SHA-256 checked
        if found is None:
            print(f"float DQN left out: {why}")
        else:
            teacher = found.mlp
            out["float DQN"] = lambda obs, _i: teacher.act(obs)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, default=seeds.HELD_OUT_BASE)
    p.add_argument("--artifact", help="also an artifact's SNN and its float DQN")
    args = p.parse_args()
    rows = {}
    for name, act in policies(args.artifact).items():
        t0 = time.perf_counter()
        ep = run_episodes(ENV_ID, act, args.episodes, args.seed)
        s = outcome_summary(ep.outcomes)
        s["return_mean"] = float(ep.returns.mean())
        s["wall_s"] = time.perf_counter() - t0
        rows[name] = s
        lo, hi = s["success_rate_ci95"]
        t = s["time_to_goal_s"]
        print(f"{name:<16} success {100 * s['success_rate']:5.1f} % [{100 * lo:.0f}, "
              f"{100 * hi:.0f}]  collisions {100 * s['collision_rate']:5.1f} %  time to goal "
              f"{'-' if t is None else format(t['mean'], '.1f') + ' s'}  return "
              f"{s['return_mean']:6.1f}")
    out = Path(__file__).resolve().parent / "results" / "nav_baselines.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"env_id": ENV_ID, "episodes": args.episodes,
                               "seeds": [args.seed, args.seed + args.episodes - 1],
                               "load_average": os.getloadavg(), "policies": rows}, indent=2))
    print(f"episodes {args.episodes}, seeds {args.seed}..{args.seed + args.episodes - 1}; "
          f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
