"""Benchmark: return of the 8-bit spiking Q-network against T, per encoder, with and without
fine-tuning; synaptic events per action and spike rate per layer.

For one trained DQN (a train run folder) and the same evaluation episodes throughout
(episode i reset with seed EVAL_SEED_BASE + i):

- the float DQN's return;
- for every encoder and every T: conversion alone (agents/convert.py);
- for every encoder and every T in --finetune-timesteps: conversion + fine-tuning
  (agents/finetune.py, distillation + DAgger);
- for each row: mean +- std return, return as a fraction of the float DQN's (for negative
  returns, float / spiking), greedy-action agreement with the DQN on recorded observations,
  synaptic events per action and spikes per neuron per step of each population.

T must exceed the number of weight layers (3 for a [256, 256] Q-MLP): with one step of
delay per projection an input needs L steps to reach the output; smaller T are listed as
infeasible. Returns are measured by neuroq.deploy.network.run_reference (the numpy chip model)
for T <= --reference-max-t, above that by neuroq.agents.snn_torch (bit-identical to it, tested;
much faster); the `backend` column says which.

usage:
  python bench/bench_spiking.py --train-run runs/CartPole-v1/train-seed0-<time>
  python bench/bench_spiking.py --train-run <run> --encoders population --timesteps 4 8
Results: printed as a markdown table and saved to bench/results/spiking-<env>-<time>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuroq.agents.convert import (  # noqa: E402
    DEFAULT_EVAL_EPISODES,
    activity,
    convert,
    evaluate_returns,
    load_mlp,
    make_encoder,
    open_train_run,
    record_observations,
    spiking_act,
)
from neuroq.agents.finetune import FinetuneConfig, _fraction, finetune, run_reference_q  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"


def row(stage, kind, t, net, enc, mlp, obs, env_id, episodes, reference_max_t, ann_mean,
        extra=None):
    backend = "reference" if t <= reference_max_t else "torch"
    t0 = time.perf_counter()
    r = evaluate_returns(env_id, spiking_act(net, enc, 0, backend=backend), episodes)
    q = run_reference_q(net, enc, obs[:2000], np.random.default_rng(0))
    agree = float((q.argmax(1) == mlp.q(obs[:2000]).argmax(1)).mean())
    act = activity(net, enc, obs[:1000])
    out = {"stage": stage, "encoder": kind, "T": t, "mean_return": float(r.mean()),
           "std_return": float(r.std()), "fraction": _fraction(float(r.mean()), ann_mean),
           "agreement": agree, **act, "backend": backend,
           "eval_s": round(time.perf_counter() - t0, 1), **(extra or {})}
    print(f"  {stage:<18} {kind:<10} T={t:<3} return {r.mean():8.1f} +- {r.std():6.1f} "
          f"({100 * out['fraction']:.1f} %)  agree {agree:.3f}  "
          f"syn/action {act['synaptic_events_per_action']:9.0f}  [{backend}]", flush=True)
    return out


def markdown(env_id, ann, rows, n_layers, timesteps):
    lines = [f"### {env_id}: float DQN {ann.mean():.1f} +- {ann.std():.1f} "
             f"({len(ann)} episodes)", "",
             "| stage | encoder | T | return | % of DQN | agreement | syn. events/action "
             "| spikes/neuron/step (in, h1, h2) | backend |",
             "|---|---|---|---|---|---|---|---|---|"]
    for t in timesteps:
        if t <= n_layers:
            lines.append(f"| any | any | {t} | infeasible: T must exceed the {n_layers} "
                         "weight layers | | | | | |")
    for r in rows:
        rates = ", ".join(f"{v:.3f}" for v in r["spike_rate_per_step"].values())
        lines.append(f"| {r['stage']} | {r['encoder']} | {r['T']} | {r['mean_return']:.1f} +- "
                     f"{r['std_return']:.1f} | {100 * r['fraction']:.1f} | "
                     f"{r['agreement']:.3f} | {r['synaptic_events_per_action']:.0f} | "
                     f"{rates} | {r['backend']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train-run", required=True)
    p.add_argument("--encoders", nargs="+", default=["population", "rate", "poisson"])
    p.add_argument("--timesteps", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    p.add_argument("--finetune-timesteps", type=int, nargs="*", default=[4, 8])
    p.add_argument("--finetune-epochs", type=int, default=20)
    p.add_argument("--spike-penalty", type=float, default=0.0)
    p.add_argument("--episodes", type=int, default=DEFAULT_EVAL_EPISODES)
    p.add_argument("--record-steps", type=int, default=20_000)
    p.add_argument("--reference-max-t", type=int, default=8)
    p.add_argument("--tag", default="")
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    train = open_train_run(args.train_run)
    env_id = train.env_id
    mlp = load_mlp(train)
    n_layers = len(mlp.weights)
    obs = record_observations(mlp, env_id, args.record_steps, seed=0)
    ann = evaluate_returns(env_id, lambda o: mlp.q(o).argmax(1), args.episodes)
    print(f"{env_id}: float DQN {ann.mean():.1f} +- {ann.std():.1f}", flush=True)
    rows = []
    feasible = [t for t in args.timesteps if t > n_layers]
    for kind in args.encoders:
        enc = make_encoder(kind, obs, n_layers)
        for t in feasible:
            net = convert(mlp, enc, obs, t)
            rows.append(row("conversion", kind, t, net, enc, mlp, obs, env_id, args.episodes,
                            args.reference_max_t, float(ann.mean())))
        for t in args.finetune_timesteps:
            net = convert(mlp, enc, obs, t)
            cfg = FinetuneConfig(epochs=args.finetune_epochs, spike_penalty=args.spike_penalty)
            t0 = time.perf_counter()
            best = finetune(net, enc, mlp, env_id, obs, cfg, progress=False).network
            rows.append(row("conversion+finetune", kind, t, best, enc, mlp, obs, env_id,
                            args.episodes, args.reference_max_t, float(ann.mean()),
                            {"finetune_s": round(time.perf_counter() - t0, 1),
                             "epochs": args.finetune_epochs,
                             "spike_penalty": args.spike_penalty}))
    md = markdown(env_id, ann, rows, n_layers, args.timesteps)
    print("\n" + md)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = RESULTS_DIR / f"spiking-{env_id}{'-' + args.tag if args.tag else ''}-{stamp}"
    base.with_suffix(".json").write_text(json.dumps(
        {"env_id": env_id, "train_run": str(train.path), "ann_mean_return": float(ann.mean()),
         "ann_std_return": float(ann.std()), "episodes": args.episodes, "rows": rows},
        indent=2))
    base.with_suffix(".md").write_text(md)
    print(f"saved {base}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
