"""Held-out and perturbed returns of an artifact, its float DQN and an int8 ANN.

Plays the same held-out episodes (episode i seeded --seed + i; the default range is used by
no stage for selection or reporting) with each network under each perturbation: none,
observation noise (--noise, sigma in observation units; refused on event-camera tasks,
whose spiking network reads the events, not the observation), action delay
(--action-delay, steps), dropped actions (--drop, probability), observation delay
(--obs-delay, steps; the same condition as an action delay of as many steps for a policy
with no state across actions, so on event-camera tasks one period of event latency runs
by default only where no action delay covers it) and physics shifts
(--physics NAME=V1,V2; defaults per env: CartPole pole length, masses, force; Acrobot link
masses and lengths; the DVS task's event noise rate). Writes
runs/<env>/robustness-<time>/: result.json, table.md (mean, 95 % bootstrap interval, the
SNN as a fraction of the float DQN) and robustness.png (return against strength, one line
per network).

The float DQN comes from the artifact's float_dqn.npz (written by `neuroq export`), else
from the train run its provenance names (needs the `train` extra).

examples:
  neuroq robustness cartpole
  neuroq robustness <artifact> --episodes 50 --noise 0.02 0.05 --action-delay 1 --drop 0.1
  neuroq robustness <artifact> --noise --drop --obs-delay   (those three off: given with no
                                                            values, a perturbation is off)
  neuroq robustness <artifact> --physics length=0.3,0.75 --json
  neuroq robustness cartpole --noise 0.5 1 --noise-shape 0.002,0.02,0.001,0.01
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys

from neuroq.deploy.argtypes import (
    episode_count,
    nonnegative_float,
    nonnegative_int,
    positive_int,
    probability,
    seed,
)

HELP = "returns of an artifact, its float DQN and an int8 ANN under perturbation"


def _weights(text: str) -> tuple[float, ...]:
    try:
        parsed = tuple(float(v) for v in text.split(","))
    except ValueError:
        parsed = ()
    if not parsed:
        raise argparse.ArgumentTypeError(f"--noise-shape takes W1,W2,... (a number per "
                                         f"observation value), got {text!r}")
    return parsed


def _physics(text: str) -> tuple[str, tuple[float, ...]]:
    name, sep, values = text.partition("=")
    try:
        parsed = tuple(float(v) for v in values.split(",") if v.strip())
    except ValueError:
        parsed = ()
    if not sep and text and "," not in text:  # a word: the artifact after --physics?
        raise argparse.ArgumentTypeError(f"--physics takes NAME=V1,V2,..., got {text!r} (give "
                                         "the artifact before --physics: it takes every word "
                                         "after it)")
    if not sep or not name or not parsed:
        raise argparse.ArgumentTypeError(f"--physics takes NAME=V1,V2,..., got {text!r}")
    return name.strip(), parsed


def add_arguments(p: argparse.ArgumentParser) -> None:
    from neuroq.agents.robustness import NETWORKS
    from neuroq.deploy.seeds import HELD_OUT_BASE

    p.add_argument("artifact", help="deploy artifact folder (or its manifest.json), or a "
                   "shipped one by name (cartpole)")
    p.add_argument("--episodes", type=episode_count, default=100,
                   help="episodes per network and condition (default: %(default)s)")
    p.add_argument("--seed", type=seed, default=HELD_OUT_BASE,
                   help="episode i uses seed + i (default: %(default)s, held out)")
    p.add_argument("--noise", type=nonnegative_float, nargs="*", metavar="SIGMA",
                   help="observation noise sigmas (default: 0.01 0.05 0.1, none on event "
                        "tasks, where it is refused; none given: off)")
    p.add_argument("--noise-shape", type=_weights, default=None, metavar="W1,W2,...",
                   help="per observation value, the weight of each --noise sigma (sigma of "
                        "value i = SIGMA * Wi, observation units): sensors of different "
                        "precision (default: 1 for every value)")
    p.add_argument("--action-delay", type=nonnegative_int, nargs="*", metavar="STEPS",
                   help="action delays (default: 1 2; none given: off)")
    p.add_argument("--drop", type=probability, nargs="*", metavar="P",
                   help="dropped-action probabilities (default: 0.1 0.25; none given: off)")
    p.add_argument("--obs-delay", type=nonnegative_int, nargs="*", metavar="STEPS",
                   help="observation delays (default: 1 on event tasks unless an action "
                        "delay of 1 runs, else off)")
    physics = p.add_mutually_exclusive_group()
    physics.add_argument("--physics", type=_physics, nargs="+", action="extend",
                         metavar="NAME=V1,V2",
                         help="physics shifts, one or more (--physics A=1,2 B=3,4, or "
                              "--physics repeated; default: the env's own set)")
    physics.add_argument("--no-physics", action="store_true", help="no physics shifts")
    p.add_argument("--networks", nargs="+", default=None, choices=NETWORKS,
                   help="networks to compare (default: all there are; snn is always "
                        "included; float or int8 named here and unavailable is an error)")
    p.add_argument("--backend", default="emulator", choices=("emulator", "reference"),
                   help="where the spiking network runs (default: %(default)s)")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="cap on steps per episode (default: the environment's limit)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.cli import checks
    from neuroq.agents.robustness import (
        NETWORKS,
        PLOT_FILE,
        check_noise_shape,
        run_robustness,
        suite,
        table_markdown,
        write_robustness,
    )
    from neuroq.deploy.artifact import load_artifact, say_artifact_warnings
    from neuroq.deploy.encoders import takes_events
    from neuroq.deploy.errors import NeuroqError
    from neuroq.envs.perturb import check_physics_values

    art = load_artifact(args.artifact)
    say_artifact_warnings(art.manifest, "neuroq robustness")  # as eval (a recheck: it did not)
    event = takes_events(art.encoder)
    names = [name for name, _ in args.physics or []]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # the last one was kept, the others dropped without a word (a recheck)
        raise NeuroqError(f"--physics names {', '.join(twice)} more than once: give each "
                          f"name's values once, as {twice[0]}=V1,V2")
    physics = {} if args.no_physics else (dict(args.physics) if args.physics else None)
    try:  # every value, before any episode runs
        check_physics_values(art.manifest["env_id"], physics or {})
    except ValueError as exc:
        raise NeuroqError(f"--physics: {exc}") from None
    if physics:
        from neuroq.agents.hyperparams import check_physics_on_env

        check_physics_on_env(art.manifest["env_id"], physics, "--physics")
    if args.noise_shape is not None:
        if event or args.noise == []:  # nothing for the shape to shape: say so
            raise NeuroqError("--noise-shape shapes --noise, which "
                              + ("event tasks refuse" if event else "is off (--noise with "
                                 "no sigma)"))
        check_noise_shape(args.noise_shape, int(art.manifest["observation_space"]["shape"][0]))
    conditions = suite(art.manifest["env_id"], args.noise, args.action_delay, args.drop,
                       physics, args.obs_delay, event_env=event, max_steps=args.max_steps,
                       noise_shape=args.noise_shape)
    given = args.networks if args.networks is not None else NETWORKS
    networks = sorted(set(given) | {"snn"}, key=["snn", "float", "int8"].index)
    checks.writable(args.out)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    rob = run_robustness(art, args.episodes, args.seed, conditions, networks,
                         args.backend, args.max_steps, say=say,
                         require_dqn=args.networks is not None)
    run_dir = write_robustness(rob, args.out)
    if args.json:
        print(json.dumps({**rob.to_dict(), "run_dir": str(run_dir)}))
        return 0
    for note in rob.notes:
        print(f"note: {note}")
    print(table_markdown(rob))
    if (run_dir / PLOT_FILE).is_file():  # matplotlib (the train extra) draws it
        why = f", {PLOT_FILE}"
    elif importlib.util.find_spec("matplotlib") is None:
        why = f" (no {PLOT_FILE}: matplotlib is not installed)"
    else:
        why = f" (no {PLOT_FILE}: nothing was shifted)"
    print(f"saved {run_dir / 'result.json'}, table.md{why}")
    return 0
