"""Import a spiking network from snnTorch, Norse or any NIR tool and make it chip-ready.

Reads a sequential NIR graph (Affine/Linear with IF, LIF, LI, I or CubaLIF; one-step Delay
nodes allowed), maps its dt and taus (snnTorch's export: dt = 1e-4 s; Norse's: tau written
as dt x tau, --dt its dt, default 1e-3 s; otherwise standard NIR read with --dt or the
graph's dt), quantizes it to int8 with one scale per layer (the --percentile of |W| maps to
127; thresholds, biases and v_reset scaled with it), adds the chip's one-step delay per
projection, and compares the chip network with the source on observations the source
network records in --env. Writes runs/<env>/import-<source>-<time>/:

    config.yaml        options used, and the source encoder
    source.nir         the graph as given (the teacher of `neuroq finetune`)
    observations.npy   recorded observations; teacher_q.npy the source's Q-values on them
    network/           the chip network (manifest.json + network.nir.h5)
    result.json        greedy-action agreement, source and chip returns, notes

Every semantics the chip imposes that the source did not have is printed as a warning
(delays, int8, an assumed reset mode, a spiking readout read as a membrane). The source's
input spikes must come from a neuroq encoder: --encoder names a YAML/JSON file with its
kind and parameters (the `encoder` mapping of an artifact manifest; a manifest.json works).

examples:
  neuroq import policy.nir --env CartPole-v1 --encoder encoder.yaml --timesteps 5
  neuroq import norse.nir --env CartPole-v1 --encoder encoder.yaml -T 5 --dt 1e-3
  neuroq finetune runs/CartPole-v1/import-snntorch-<time>
"""

from __future__ import annotations

import argparse
import sys

from neuroq.deploy.argtypes import episode_count, positive_int, seed, timesteps

HELP = "import a spiking network (NIR from snnTorch, Norse, ...) and make it chip-ready"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from neuroq.agents.nir_import import DEFAULT_RECORD_STEPS, ImportSettings
    from neuroq.agents.nir_source import CONVENTIONS, RESETS

    d = ImportSettings()
    p.add_argument("graph", help="a NIR graph file (nir.write output, e.g. model.nir)")
    p.add_argument("--env", required=True, help="Gymnasium env id the network acts in")
    p.add_argument("--encoder", required=True, metavar="FILE",
                   help="YAML/JSON with the neuroq encoder the source was trained with "
                        "(kind and parameters, as in a manifest's 'encoder')")
    p.add_argument("--timesteps", "-T", type=timesteps, metavar="T",
                   help="steps the source runs per action (default: the graph metadata's "
                        "'timesteps')")
    p.add_argument("--source", choices=CONVENTIONS, default=d.source,
                   help="how the graph's taus are meant (default: %(default)s, detected)")
    p.add_argument("--dt", type=float, help="the source's time step in seconds (Norse's "
                   "export: default 1e-3; standard NIR: default the graph's dt, which a "
                   "graph with LIF/LI nodes must then give)")
    p.add_argument("--reset", choices=RESETS,
                   help="reset after a spike (default: snnTorch 'subtract', else 'zero' as NIR "
                        "defines)")
    p.add_argument("--percentile", type=float, default=d.percentile,
                   help="percentile of |W| mapped to 127 weight units (default: %(default)s)")
    p.add_argument("--record-steps", type=positive_int, default=DEFAULT_RECORD_STEPS,
                   help="observations to record (default: %(default)s)")
    p.add_argument("--eval-episodes", type=episode_count, default=d.eval_episodes,
                   help="episodes per return measurement (default: %(default)s)")
    p.add_argument("--seed", type=seed, default=d.seed, help="default: %(default)s")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.cli import checks
    from neuroq.agents.nir_import import (
        ImportSettings,
        read_encoder,
        read_graph_file,
        run_import,
    )

    checks.writable(args.out)
    # wrong files: one line before any work (each file read once, here)
    graph, data = read_graph_file(args.graph)
    encoder = read_encoder(args.encoder)

    settings = ImportSettings(source=args.source, dt=args.dt, reset=args.reset,
                              timesteps=args.timesteps, percentile=args.percentile,
                              record_steps=args.record_steps, eval_episodes=args.eval_episodes,
                              seed=args.seed)

    def warn(text: str) -> None:
        print(f"neuroq import: warning: {text}", file=sys.stderr)

    run_dir = run_import(args.graph, graph, args.env, encoder, settings, args.out, warn=warn,
                         data=data)
    print(run_dir)
    return 0
