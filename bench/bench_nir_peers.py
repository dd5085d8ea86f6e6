"""Benchmark: the shipped artifacts' NIR profiles run by snnTorch 1.0.0 and Norse 1.1.0,
closed loop, against neuroq's reference model.

For each shipped artifact (config/artifacts/cartpole, acrobot) and each library: the
profile graph exactly as `save_artifact(..., nir_profiles=...)` writes it, read back with
its metadata emptied, imported by neuroq.agents.nir_peers (the library's stock node
mapping, a one-step module for nir.Delay, and the reset setting the artifact's manifest
names, the one property NIR cannot carry). The peer drives STEPS environment steps
(episode i reset with seed HELD_OUT_SEED + i, up to BATCH episodes at a time, fewer when
STEPS would not play that many to their end); on every
observation neuroq's run_reference acts too and the actions are compared. Then
run_reference drives the same episodes alone. Printed: identical actions, and the mean
return of the completed episodes under each driver (episodes cut by the step budget are
left out of the mean, identically for both).

usage:
  python bench/bench_nir_peers.py [--steps 10000]
Results: printed as a markdown table and saved to bench/results/nir-peers-<time>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuroq.deploy.artifact import load_artifact, profile_file, save_artifact  # noqa: E402
from neuroq.deploy.network import run_reference  # noqa: E402
from neuroq.deploy.rollout import run_episodes  # noqa: E402

HELD_OUT_SEED = 1000
BATCH = {"cartpole": 20, "acrobot": 40}


def episode_limit(env_id: str) -> int:
    """The longest episode of `env_id` in steps (its registered time limit)."""
    import gymnasium as gym

    return int(gym.spec(env_id).max_episode_steps)


def steps_budget(text: str) -> int:
    """--steps: at least the longest episode of every artifact's env, so that each row
    completes one episode at least."""
    steps = int(text)
    need = max(episode_limit(load_artifact(ROOT / "config" / "artifacts" / name)
                             .manifest["env_id"]) for name in BATCH)
    if steps < need:
        raise argparse.ArgumentTypeError(
            f"{steps} steps may end before any episode does (one takes up to {need}): "
            f"give at least {need}")
    return steps


def one(name: str, library: str, steps: int) -> dict:
    import nir

    from neuroq.agents.nir_peers import RUNNERS, strip_metadata

    art = load_artifact(ROOT / "config" / "artifacts" / name)
    net, enc = art.network, art.encoder
    with tempfile.TemporaryDirectory() as tmp:
        save_artifact(tmp, net, enc, {k: art.manifest[k] for k in (
            "env_id", "observation_space", "action_space", "provenance")},
            nir_profiles=(library,))
        graph = strip_metadata(nir.read(Path(tmp) / profile_file(library)))
    subtract = art.manifest["neuron"]["reset"] == "reset_by_subtraction"
    _, run_peer = RUNNERS[library](graph, subtract=subtract)
    count = {"same": 0, "all": 0}

    def peer_act(obs, _infos):
        spikes = enc.encode(obs, net.timesteps)
        a = run_peer(spikes).argmax(1)
        count["same"] += int((a == run_reference(net, spikes).q.argmax(1)).sum())
        count["all"] += len(obs)
        return a

    def ref_act(obs, _infos):
        return run_reference(net, enc.encode(obs, net.timesteps)).q.argmax(1)

    # at most as many episodes at once as the budget plays to their end: a budget of 1000
    # steps shared by 20 CartPole episodes completed none (the mean returns read NaN)
    batch = max(1, min(BATCH[name], steps // episode_limit(art.manifest["env_id"])))
    kw = {"episodes": steps, "seed": HELD_OUT_SEED, "batch": batch, "max_total_steps": steps}
    t0 = time.perf_counter()
    peer = run_episodes(art.manifest["env_id"], peer_act, **kw)
    ref = run_episodes(art.manifest["env_id"], ref_act, **kw)
    done = peer.complete & ref.complete
    return {"artifact": name, "env_id": art.manifest["env_id"], "T": net.timesteps,
            "library": library, "reset_setting": "subtract" if subtract else "none",
            "steps": count["all"], "identical_actions": count["same"],
            "episodes_complete": int(done.sum()),
            "peer_mean_return": float(peer.returns[done].mean()),
            "reference_mean_return": float(ref.returns[done].mean()),
            "returns_equal": bool(np.array_equal(peer.returns, ref.returns)),
            "wall_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=steps_budget, default=10_000,
                   help="environment steps per row, all episodes together (default: "
                        "%(default)s; at least one full episode)")
    args = p.parse_args()
    rows = [one(name, lib, args.steps) for name in ("cartpole", "acrobot")
            for lib in ("snntorch", "norse")]
    lines = ["| artifact | reader | identical actions | complete episodes | mean return "
             "(peer / neuroq) | all returns equal |", "|" + "---|" * 6]
    for r in rows:
        lines.append(f"| {r['env_id']} (T = {r['T']}) | {r['library']} | "
                     f"{r['identical_actions']} / {r['steps']} | {r['episodes_complete']} | "
                     f"{r['peer_mean_return']:.2f} / {r['reference_mean_return']:.2f} | "
                     f"{r['returns_equal']} |")
    text = (f"{args.steps} steps per row, episode i seeded {HELD_OUT_SEED} + i\n\n"
            + "\n".join(lines))
    print(text)
    res = ROOT / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (res / f"nir-peers-{stamp}.json").write_text(json.dumps(rows, indent=2))
    (res / f"nir-peers-{stamp}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
