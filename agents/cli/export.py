"""Export a fine-tuned spiking Q-network as the deploy artifact (NIR graph + manifest).

Reads runs/<env>/finetune-<id>/ and writes runs/<env>/export-<time>/:

    artifact/manifest.json    env id, spaces, encoder and its parameters, T, per-layer
                              scales, threshold comparison and reset, q_scale, SHA-256 of
                              the weights file, provenance (train, convert, finetune runs)
    artifact/network.nir.h5   the network as an NIR graph (int8 weights in Affine nodes)
    artifact/float_dqn.npz    the float DQN it came from (plain arrays, no pickle), for
                              `neuroq robustness` and `neuroq energy` anywhere
    result.json               the artifact's return, loaded back and run by the deploy/
                              numpy model (skip with --eval-episodes 0)

The gate: the SNN and the float DQN play the same held-out episodes (seeds 900000 + i);
below --gate x the float return the export is refused (exit 2, both numbers printed, nothing
written) unless --force, which exports and records the failed gate in the manifest.

Loading the artifact (neuroq.deploy.artifact.load_artifact) needs numpy, h5py and nir only.

example:
  neuroq export runs/CartPole-v1/finetune-population-<time>
"""

from __future__ import annotations

import argparse

HELP = "write the deploy artifact (NIR + manifest) of a fine-tuned network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from neuroq.agents.export import DEFAULT_EVAL_EPISODES, DEFAULT_GATE, DEFAULT_GATE_EPISODES

    p.add_argument("finetune_run", help="a finetune run folder, runs/<env>/finetune-<id>")
    p.add_argument("--eval-episodes", type=int, default=DEFAULT_EVAL_EPISODES,
                   help="episodes to check the exported artifact's return (default: "
                        "%(default)s; 0 = skip)")
    p.add_argument("--gate", type=float, default=DEFAULT_GATE, metavar="FRACTION",
                   help="refuse the export when the SNN keeps less than this fraction of the "
                        "float DQN's return on held-out episodes (default: %(default)s)")
    p.add_argument("--gate-episodes", type=int, default=DEFAULT_GATE_EPISODES,
                   help="held-out episodes of the gate (default: %(default)s; 0 = no gate)")
    p.add_argument("--force", action="store_true",
                   help="export even below the gate; the manifest records that it failed")
    p.add_argument("--interface", metavar="NAME_OR_YAML",
                   help="robot interface recorded in the manifest: a name in "
                        "config/interfaces/ or a YAML file (default: the shipped one that "
                        "names the environment, if any)")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.export import export, percent

    made = export(args.finetune_run, args.out, args.eval_episodes, args.gate,
                  args.gate_episodes, args.force, args.interface)
    r = made.result
    g = r["gate"]
    if not g.get("skipped"):
        verdict = "passed" if g["passed"] else "FAILED (exported with --force)"
        print(f"gate {verdict}: SNN {g['snn']['mean']:.1f} vs float DQN "
              f"{g['float_dqn']['mean']:.1f} ({percent(g['fraction'])}, gate "
              f"{100 * g['threshold']:.0f} %) on held-out episodes {g['seeds'][0]}.."
              f"{g['seeds'][1]}")
        so = g.get("outcomes", {})
        if "success_rate" in so.get("snn", {}):
            print(f"success on the gate's episodes: SNN {100 * so['snn']['success_rate']:.0f} %, "
                  f"float DQN {100 * so['float_dqn']['success_rate']:.0f} %")
    if r.get("interface"):
        print(f"robot interface: {r['interface']} (recorded in the manifest)")
    if "mean_return" in r:
        print(f"artifact return: {r['mean_return']:.1f} +- {r['std_return']:.1f} over "
              f"{r['episodes']} episodes (float DQN {r['ann_mean_return']:.1f})")
    print(made.artifact)
    return 0
