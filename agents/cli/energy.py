"""Energy per action, side by side: SpiNNaker2 (modeled), this CPU (latency measured, energy
measured where RAPL is readable, else estimated) and a GPU (measured where one is here, else
published).

Runs the artifact's spiking network, the float DQN it came from (the artifact's
float_dqn.npz, else the train run named in its provenance) and an int8 ANN of that DQN on
the same episodes (episode i seeded --seed + i) and writes runs/<env>/energy-<time>/ with
report.md, report.json, PNG plots and TensorBoard scalars (tb/). Per action:

  SpiNNaker2   on-chip time, dynamic and total energy, PEs used,   MODELED (deploy/energy.py)
               synaptic events, at each performance level
  this CPU     latency of the float DQN (torch and numpy), the     MEASURED; energy from
               int8 ANN and the spiking network on the emulator    Intel RAPL, or an ESTIMATE
                                                                   from a stated power figure
  GPU          latency and energy through NVML when a GPU is here  MEASURED, else unavailable
  published    for CartPole, the GTX 1650 and SpiNNaker2 figures   PUBLISHED (another
               of Arfa et al. 2025                                 network, via a summary)
  NeuroBench   effective MACs and ACs, activation sparsity per layer, footprint, mean and
               worst-5 % return

plus return against T (the network re-run at several T) and four comparisons: the published
SpiNNaker2-vs-GTX-1650 factor, energy per action against a plain conversion of the same DQN
(--baseline, else converted here), the chip against the DQN and int8 ANN on this CPU, and
the chip against the DQN on the GPU when one was measured, whichever way each goes
(docs/energy.md). Figures that cannot be had here
(no power counters, no GPU, no float DQN) are marked unavailable, never invented.

example:
  neuroq energy runs/CartPole-v1/export-<time>/artifact --episodes 20 \\
      --baseline runs/CartPole-v1/convert-<time>
"""

from __future__ import annotations

import argparse

from neuroq.deploy.argtypes import episode_count, positive_int, seed

HELP = "energy and latency per action: SpiNNaker2 (modeled) vs CPU and GPU, with a report"


def _timesteps_list(text: str) -> tuple[int, ...]:
    # an outsider's 100000 ran past 300 s
    from neuroq.deploy.network import MAX_TIMESTEPS, MAX_TIMESTEPS_REASON

    try:
        ts = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("--sweep takes integers separated by commas") from None
    if not ts or min(ts) < 1:
        raise argparse.ArgumentTypeError("--sweep takes positive integers, e.g. 4,8,16,64")
    if max(ts) > MAX_TIMESTEPS:
        raise argparse.ArgumentTypeError(f"--sweep takes T {MAX_TIMESTEPS_REASON}, got "
                                         f"{max(ts)}")
    repeated = sorted({t for t in ts if ts.count(t) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"T = {repeated[0]} given more than once")
    return ts


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    del args
    return ("train",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="deploy artifact folder (or its manifest.json)")
    p.add_argument("--episodes", type=episode_count, default=20,
                   help="episodes per network (default: %(default)s)")
    p.add_argument("--seed", type=seed, default=0, help="episode i uses seed + i (default: 0)")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="cap on steps per episode (default: the environment's limit)")
    p.add_argument("--latency-samples", type=positive_int, default=1000,
                   help="single actions timed per CPU platform (default: %(default)s)")
    p.add_argument("--sweep", type=_timesteps_list, default=None, metavar="T1,T2,...",
                   help="T values for return against T (default: from L+1 up to 64)")
    p.add_argument("--sweep-episodes", type=episode_count, default=10,
                   help="episodes per T of the sweep (default: %(default)s)")
    p.add_argument("--baseline", default=None, metavar="ARTIFACT_OR_RUN",
                   help="a plain conversion of the same DQN to compare energy against "
                        "(artifact folder, a convert run holding one, or a shipped "
                        "artifact by name)")
    p.add_argument("--no-gpu", action="store_true", help="do not probe for a GPU")
    p.add_argument("--no-tensorboard", action="store_true", help="skip TensorBoard scalars")
    p.add_argument("--out", default="runs", help="root of run folders (default: runs)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.cli import checks
    from neuroq.agents.energy import energy_report
    from neuroq.agents.energy.render import main_table

    # wrong input: one line before the six steps (the artifact and --baseline:
    # energy_report loads them first, once each, before any work)
    checks.writable(args.out)
    rep, paths = energy_report(
        args.artifact, args.out, tensorboard=not args.no_tensorboard, episodes=args.episodes,
        seed=args.seed, max_steps=args.max_steps, latency_samples=args.latency_samples,
        sweep=args.sweep, sweep_episodes=args.sweep_episodes, baseline=args.baseline,
        probe_gpu=not args.no_gpu)
    width = max(len(r[0]) + len(r[1]) for r in main_table(rep)) + 3
    for platform, what, lat, energy, kind, _ in main_table(rep):
        print(f"{platform + ': ' + what:<{width}} {lat:<28} {energy:<26} {kind}")
    for name, comp in rep.comparisons.items():  # why one was not made, not only that
        why = (f" ({comp['text']})" if str(comp["status"]).startswith(
            ("not made", "not compared")) else "")
        print(f"{name}: {comp['status']}{why}")
    print(f"report: {paths['markdown']}")
    return 0
