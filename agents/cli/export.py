"""Export a fine-tuned spiking Q-network as the deploy artifact (NIR graph + manifest).

Reads runs/<env>/finetune-<id>/ and writes runs/<env>/export-<time>/:

    artifact/manifest.json    env id, spaces, encoder and its parameters, T, per-layer
                              scales, threshold comparison and reset, q_scale, SHA-256 of
                              the weights file, provenance (train, convert, finetune runs)
    artifact/network.nir.h5   the network as an NIR graph (int8 weights in Affine nodes)
    artifact/float_dqn.npz    the float DQN it came from (plain arrays, no pickle):
                              `neuroq robustness` and `neuroq energy` read it, so they
                              need no train run wherever the artifact goes
    result.json               the artifact's return, loaded back and run by the deploy/
                              numpy model (skip with --eval-episodes 0)

The gate: the SNN and the float DQN play the same held-out episodes (seeds 900000 + i);
below --gate x the float return the export is refused (exit 2, both numbers printed, nothing
written) unless --force, which exports and records the failed gate in the manifest.

Loading the artifact (neuroq.deploy.artifact.load_artifact) needs numpy, h5py and nir only.

--nir-profile adds artifact/network.<profile>.nir for a peer: snntorch
(snntorch.import_nir.import_from_nir), norse (norse.torch.from_nir, dt = 1) or spinnaker2
(py-spinnaker2's s2_nir); neuroq is network.nir.h5 itself. Each graph's standard NIR fields
say what the chip computes; what they cannot say (reset by subtraction) is printed as a
warning and recorded in the manifest and the graph metadata (docs/nir.md).

A network fine-tuned from `neuroq import` plays the gate against its source network. The
source may also be an artifact folder, written again in the current format with the same
network; that is how the shipped artifacts are re-exported after a format change. It keeps
the gate it passed; an artifact that never passed one (a network/ folder of an import or
finetune run) plays it against its float_dqn.npz or its import's source network, and
without either is refused unless --force.

examples:
  neuroq export runs/CartPole-v1/finetune-population-<time>
  neuroq export runs/CartPole-v1/finetune-population-<time> --nir-profile snntorch norse
  neuroq export config/artifacts/cartpole --eval-episodes 100   # in a checkout
"""

from __future__ import annotations

import argparse
import sys

from neuroq.deploy.argtypes import episode_count_or_0, gate_fraction
from neuroq.deploy.errors import counted
from neuroq.deploy.seeds import seed_span

HELP = "write the deploy artifact (NIR + manifest) of a fine-tuned network"


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    """The train extra where export loads the float DQN, a stable-baselines3 model
    (`neuroq.agents.export.loads_float_dqn`: a finetune run of a converted DQN)."""
    from neuroq.agents.export import loads_float_dqn

    return ("train",) if loads_float_dqn(args.finetune_run) else ()


def add_arguments(p: argparse.ArgumentParser) -> None:
    from neuroq.agents.export import DEFAULT_EVAL_EPISODES, DEFAULT_GATE, DEFAULT_GATE_EPISODES
    from neuroq.deploy.nir_profiles import PROFILES

    p.add_argument("finetune_run", help="a finetune run folder, runs/<env>/finetune-<id> "
                   "(or an artifact folder to re-export)")
    p.add_argument("--nir-profile", nargs="+", choices=PROFILES, default=[], metavar="PROFILE",
                   help=f"also write the NIR graph each of these reads ({', '.join(PROFILES)})")
    p.add_argument("--eval-episodes", type=episode_count_or_0, default=DEFAULT_EVAL_EPISODES,
                   help="episodes to check the exported artifact's return (default: "
                        "%(default)s; 0 = skip)")
    p.add_argument("--gate", type=gate_fraction, default=DEFAULT_GATE, metavar="FRACTION",
                   help="refuse the export when the SNN keeps less than this fraction of the "
                        "float DQN's return on held-out episodes (default: %(default)s; 0 "
                        "passes any return, the episodes still played and recorded)")
    p.add_argument("--gate-episodes", type=episode_count_or_0, default=DEFAULT_GATE_EPISODES,
                   help="held-out episodes of the gate (default: %(default)s; 0 = no gate)")
    p.add_argument("--force", action="store_true",
                   help="export even below the gate; the manifest records that it failed")
    p.add_argument("--interface", metavar="NAME_OR_YAML",
                   help="robot interface recorded in the manifest: a name in "
                        "config/interfaces/ or a YAML file (default: the shipped one that "
                        "names the environment, if any)")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.cli import checks
    from neuroq.agents.export import export, interval_text, percent, random_warning
    from neuroq.deploy.artifact import few_gate_episodes, load_artifact

    checks.writable(args.out)
    # export checks the finetune run first (require_run_dir): one line before the work
    made = export(args.finetune_run, args.out, args.eval_episodes, args.gate,
                  args.gate_episodes, args.force, tuple(args.nir_profile),
                  interface=args.interface)
    manifest = load_artifact(made.artifact).manifest
    for text in manifest["neuron"]["not_expressed_in_nir"]:
        print(f"neuroq export: warning: network.nir.h5: {text}", file=sys.stderr)
    for name, entry in manifest.get("nir_profiles", {}).items():
        print(f"{name}: {made.artifact / entry['file']}\n  read with: {entry['reader']}\n"
              f"  {entry['readout']}")
        for text in entry["not_expressed"]:
            print(f"neuroq export: warning: {entry['file']}: {text}", file=sys.stderr)
    r = made.result
    g = r["gate"]
    if g.get("skipped"):
        print(f"neuroq export: warning: gate not played: {g.get('reason', '--gate-episodes 0')}"
              + (" (--force)" if g.get("forced") else ""), file=sys.stderr)
    else:
        verdict = "passed" if g["passed"] else "FAILED (exported with --force)"
        if g.get("carried"):
            verdict += " (at the artifact's first export; the network is unchanged)"
        print(f"gate {verdict}: SNN {g['snn']['mean']:.1f} vs {g.get('teacher', 'float DQN')} "
              f"{g['float_dqn']['mean']:.1f} ({percent(g['fraction'])}, gate "
              f"{100 * g['threshold']:.0f} %{interval_text(g)}) on held-out episodes "
              f"{seed_span(g['seeds'])}")
        for line in (random_warning(g), few_gate_episodes(g)):
            if line:
                print(f"neuroq export: warning: {line}", file=sys.stderr)
        so = g.get("outcomes", {})
        if "success_rate" in so.get("snn", {}):
            print(f"success on the gate's episodes: SNN {100 * so['snn']['success_rate']:.0f} %, "
                  f"float DQN {100 * so['float_dqn']['success_rate']:.0f} %")
    if r.get("interface"):
        print(f"robot interface: {r['interface']} (recorded in the manifest)")
    elif manifest["encoder"]["kind"] == "event":  # the event node reads events: no interface
        # to warn of (an outsider's re-export of the shipped one warned)
        print("robot interface: none recorded; the event node reads events and needs none (an "
              "actuator turning its actions into robot commands takes one: its interface "
              "parameter)")
    else:  # an env of the user's own: the nodes refused it only on the robot (an outsider)
        print(f"neuroq export: warning: no robot interface recorded: no file in "
              f"config/interfaces/ names {r['env_id']}, so the ROS nodes will need one (their "
              "interface parameter, or export again with --interface YAML; docs/interface.md "
              "says how to write it)", file=sys.stderr)
    if "mean_return" in r:
        ref = r.get("ann_mean_return")
        seeds = r.get("episode_seeds")
        # the float return was convert's, over its own episodes (an outsider read "teacher
        # -11.1" as measured on these)
        print(f"artifact return: {r['mean_return']:.1f} +- {r['std_return']:.1f} over "
              f"{counted(r['episodes'], 'episode')}"
              + (f" (seeds {seed_span(seeds)})" if isinstance(seeds, list) and seeds else "")
              + (f"; the float DQN returned {ref:.1f} at conversion, on conversion's own "
                 "episodes" if ref is not None else ""))
    print(made.artifact)
    return 0
