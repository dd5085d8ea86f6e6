"""Convert a trained DQN into an 8-bit spiking Q-network (data-based normalization).

Reads runs/<env>/train-<id>/, records observations with the trained policy, fits the input
encoder to them, sets each layer's threshold from a percentile of its ReLU activations and
quantizes the weights to int8 with one scale per layer. Returns are measured with the
deploy/ numpy model on the evaluation episodes. Writes runs/<env>/convert-<enc>-<time>/:

    config.yaml        options used
    observations.npy   recorded observations; teacher_q.npy the DQN's Q-values on them
    network/           the converted network (manifest.json + network.nir.h5)
    result.json        float DQN return, spiking return at each T, agreement, activity

T (steps per action) must exceed the number of weight layers (one step of delay each);
the default is the smallest such T. Conversion alone needs large T; `neuroq finetune` then
trains the network at its T.

examples:
  neuroq convert runs/CartPole-v1/train-seed0-<time>
  neuroq convert runs/CartPole-v1/train-seed0-<time> --encoder rate --timesteps 32
  neuroq convert <train-run> --eval-timesteps 8 16 32 --percentile 99.99
"""

from __future__ import annotations

import argparse
import sys

from neuroq.deploy.argtypes import episode_count, positive_int, seed, timesteps

HELP = "convert a trained DQN to an 8-bit spiking Q-network"


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    del args
    return ("train",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from neuroq.agents.convert import (
        DEFAULT_EVAL_EPISODES,
        DEFAULT_EVAL_TIMESTEPS,
        DEFAULT_PERCENTILE,
        DEFAULT_RECORD_STEPS,
        DEFAULT_RESET,
        ENCODER_KINDS,
        RESET_CHOICES,
    )
    from neuroq.deploy.encoders import DEFAULT_N_PER_DIM, DEFAULT_WIDTH

    p.add_argument("train_run", help="a train run folder, runs/<env>/train-<id>")
    p.add_argument("--encoder", default="population", choices=ENCODER_KINDS,
                   help="input encoding (default: %(default)s)")
    p.add_argument("--timesteps", "-T", type=timesteps, metavar="T",
                   help="steps per action of the saved network (default: layers + 1)")
    p.add_argument("--eval-timesteps", type=timesteps, nargs="*", metavar="T",
                   default=list(DEFAULT_EVAL_TIMESTEPS),
                   help="also measure the return at these T (default: %(default)s; none: "
                        "just the flag)")
    p.add_argument("--percentile", type=float, default=DEFAULT_PERCENTILE,
                   help="activation percentile for the thresholds (default: %(default)s)")
    p.add_argument("--n-per-dim", type=int, default=DEFAULT_N_PER_DIM,
                   help="population encoder: neurons per observation dimension "
                        "(default: %(default)s)")
    p.add_argument("--width", type=float, default=DEFAULT_WIDTH,
                   help="population encoder: receptive-field width in centre spacings "
                        "(default: %(default)s)")
    p.add_argument("--record-steps", type=positive_int, default=DEFAULT_RECORD_STEPS,
                   help="observations to record (default: %(default)s)")
    p.add_argument("--eval-episodes", type=episode_count, default=DEFAULT_EVAL_EPISODES,
                   help="episodes per return measurement (default: %(default)s)")
    p.add_argument("--reset", choices=RESET_CHOICES, default=DEFAULT_RESET,
                   help="what a spike does to the membrane: 'subtract' the threshold, or set "
                        "it to 'zero' (v_reset = 0, the reset NIR's IF/LIF nodes define, so "
                        "every NIR reader runs the network as neuroq does; docs/nir.md) "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=seed, default=0, help="seed (default: %(default)s)")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.cli import checks
    from neuroq.agents.convert import run_convert

    checks.writable(args.out)  # before the work (a bad --out failed after it)
    # run_convert checks the train run first (require_run_dir): one line before the work
    run_dir = run_convert(args.train_run, args.out, args.encoder, args.timesteps,
                          tuple(args.eval_timesteps), args.percentile, args.n_per_dim,
                          args.width, args.record_steps, args.eval_episodes, args.seed,
                          reset=args.reset,
                          warn=lambda m: print(f"neuroq convert: warning: {m}", file=sys.stderr))
    print(run_dir)
    return 0
