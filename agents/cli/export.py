"""Export a fine-tuned spiking Q-network as the deploy artifact (NIR graph + manifest).

Reads runs/<env>/finetune-<id>/ and writes runs/<env>/export-<time>/:

    artifact/manifest.json    env id, spaces, encoder and its parameters, T, per-layer
                              scales, threshold comparison and reset, q_scale, SHA-256 of
                              the weights file, provenance (train, convert, finetune runs)
    artifact/network.nir.h5   the network as an NIR graph (int8 weights in Affine nodes)
    result.json               the artifact's return, loaded back and run by the deploy/
                              numpy model (skip with --eval-episodes 0)

Loading the artifact (neuroq.deploy.artifact.load_artifact) needs numpy, h5py and nir only.

example:
  neuroq export runs/CartPole-v1/finetune-population-<time>
"""

from __future__ import annotations

import argparse

HELP = "write the deploy artifact (NIR + manifest) of a fine-tuned network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from neuroq.agents.export import DEFAULT_EVAL_EPISODES

    p.add_argument("finetune_run", help="a finetune run folder, runs/<env>/finetune-<id>")
    p.add_argument("--eval-episodes", type=int, default=DEFAULT_EVAL_EPISODES,
                   help="episodes to check the exported artifact's return (default: "
                        "%(default)s; 0 = skip)")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.export import export

    made = export(args.finetune_run, args.out, args.eval_episodes)
    r = made.result
    if "mean_return" in r:
        print(f"artifact return: {r['mean_return']:.1f} +- {r['std_return']:.1f} over "
              f"{r['episodes']} episodes (float DQN {r['ann_mean_return']:.1f})")
    print(made.artifact)
    return 0
