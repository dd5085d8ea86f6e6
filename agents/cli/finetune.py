"""Fine-tune a converted spiking Q-network as the chip runs it (8-bit, surrogate gradients).

Reads runs/<env>/convert-<id>/ and trains its network in torch with the chip's exact
arithmetic (int8 weights via a straight-through estimator, float32 membrane updates in the
chip's order, one step of delay per projection, T steps per action), backpropagating
through all T steps with a surrogate spike gradient. Loss: distillation from the float
DQN's Q-values on recorded observations plus observations the spiking policy visits itself
(DAgger); `--loss td` trains on temporal-difference targets instead (tried, not the
default: see docs/spiking.md); optionally a penalty on synaptic events. Progress bar and
TensorBoard logs (tb/).
Writes runs/<env>/finetune-<enc>-<time>/:

    config.yaml   options used
    tb/           TensorBoard: loss, agreement, validation return, synaptic events
    history.json  the same per epoch
    network/      the best network (manifest.json + network.nir.h5)
    result.json   return with the deploy/ numpy model on the evaluation episodes, the float
                  DQN's return, greedy agreement, synaptic events and spike rates

examples:
  neuroq finetune runs/CartPole-v1/convert-population-<time>
  neuroq finetune <convert-run> --epochs 80 --margin 1.0
  tensorboard --logdir runs/CartPole-v1
"""

from __future__ import annotations

import argparse
import sys

from neuroq.deploy.argtypes import (
    episode_count,
    episode_count_or_0,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    seed,
)

HELP = "fine-tune a converted spiking Q-network with the chip's 8-bit semantics"


def randomization(text: str) -> dict:
    """--randomize: a domain randomization mapping, inline YAML or the path of a YAML file
    holding one, checked as fine-tuning will (neuroq.envs.perturb.RandomizationSpec) while
    the command line is read."""
    import os

    import yaml

    from neuroq.deploy.errors import NeuroqError, load_yaml, read_text_file, yaml_problem
    from neuroq.envs.perturb import RandomizationSpec

    source = text
    if text.strip() and os.path.isfile(text):  # False, not OSError, for long inline YAML
        try:
            source = read_text_file(text, "file")
        except NeuroqError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    try:
        value = load_yaml(source)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(
            f"not valid YAML {yaml_problem(exc)} (inline, or a file holding a mapping)"
        ) from None
    if not isinstance(value, dict):
        if isinstance(value, str) and text.strip().lower().endswith((".yaml", ".yml")):
            raise argparse.ArgumentTypeError(f"file {text} does not exist (a YAML file, or "
                                             "an inline YAML mapping)")
        raise argparse.ArgumentTypeError(
            f"expected a YAML mapping (inline, or a file holding one), got {text!r}")
    try:
        RandomizationSpec.from_dict(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def check_randomize_env(randomize: dict | None, env_id: str) -> None:
    """NeuroqError (one line) unless `env_id` takes a --randomize mapping's physics
    (`randomization_for`; the mapping's shape was checked when the command line was read,
    `randomization`)."""
    from neuroq.agents.hyperparams import checked_randomization

    checked_randomization(env_id, randomize, "--randomize")


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    del args
    return ("train",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from neuroq.agents.finetune import FinetuneConfig

    d = FinetuneConfig()
    p.add_argument("convert_run", help="a convert run folder, runs/<env>/convert-<id> (or an "
                   "import run, runs/<env>/import-<id>: the source network is the teacher)")
    p.add_argument("--epochs", type=positive_int, default=d.epochs, help="default: %(default)s")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size,
                   help="default: %(default)s")
    p.add_argument("--lr", type=positive_float, default=d.lr,
                   help="Adam step as a fraction of the int8 range (default: %(default)s)")
    p.add_argument("--spike-penalty", type=nonnegative_float, default=d.spike_penalty,
                   help="weight of synaptic events per synapse in the loss "
                        "(default: %(default)s, as neuroq demo; docs/spiking.md "
                        "\"Training seeds\": 0.2 saved no events on CartPole and cost "
                        "return)")
    p.add_argument("--margin", type=nonnegative_float, default=d.margin,
                   help="weight of the Q-margin hinge: keep the DQN's lead of its greedy "
                        "action (docs/robustness.md; default: %(default)s = off)")
    p.add_argument("--dagger-steps", type=nonnegative_int, default=d.dagger_steps,
                   help="env steps per epoch driven by the spiking policy, labelled by the "
                        "DQN (default: %(default)s; 0 = off)")
    p.add_argument("--validation-episodes", type=episode_count_or_0,
                   default=d.validation_episodes,
                   help="episodes of the per-epoch return check (default: %(default)s; "
                        "0: agreement with the teacher only)")
    p.add_argument("--train-thresholds", action="store_true", help="learn thresholds too")
    p.add_argument("--loss", choices=("distill", "td"), default=d.loss,
                   help="distillation from the DQN's Q-values (default) or TD learning")
    p.add_argument("--eval-episodes", type=episode_count,
                   help="final evaluation episodes (default: those of the convert run)")
    p.add_argument("--randomize", type=randomization, metavar="YAML_OR_FILE",
                   help="domain randomization of the DAgger rollouts and half the validation "
                        "episodes: inline YAML, e.g. \"{obs_noise: [0, 0.05], action_delay: "
                        "[0, 1]}\", or a YAML file holding that mapping (kinds: obs_noise, "
                        "action_delay, drop, physics, obs_delay; default: none)")
    p.add_argument("--seed", type=seed, default=d.seed, help="default: %(default)s")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.cli import checks
    from neuroq.agents.finetune import FinetuneConfig, run_finetune
    from neuroq.agents.runs import RESULT_FILE, read_json, require_run_dir
    from neuroq.deploy.errors import NeuroqError

    checks.writable(args.out)
    # nothing, a file, an artifact, unfinished: one line
    convert_dir = require_run_dir(args.convert_run, kind="convert run or import run")
    try:  # the env the convert run was made for: the randomization's physics must fit it
        env_id = read_json(convert_dir / RESULT_FILE)["env_id"]
    except (NeuroqError, KeyError, TypeError):
        env_id = None  # not a convert run: run_finetune says so
    if env_id is not None:
        check_randomize_env(args.randomize, env_id)
    cfg = FinetuneConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         spike_penalty=args.spike_penalty, margin=args.margin,
                         dagger_steps=args.dagger_steps,
                         validation_episodes=args.validation_episodes,
                         train_thresholds=args.train_thresholds, loss=args.loss,
                         seed=args.seed, randomize=args.randomize or {})
    progress = not args.no_progress and sys.stderr.isatty()
    run_dir = run_finetune(args.convert_run, args.out, cfg, args.eval_episodes, progress)
    r = read_json(run_dir / "result.json")
    # for negative returns the share is float / SNN (above 100 %: the SNN does better): an
    # outsider read "220.6 % of -11.1" as a return of -24.5
    how = (", float / SNN for negative returns: above 100 % is better"
           if r["ann_mean_return"] < 0 else "")
    print(f"T = {r['timesteps']}, {r['encoder']['kind']} encoder: {r['mean_return']:.1f} +- "
          f"{r['std_return']:.1f} ({100 * r['fraction_of_ann_return']:.1f} % of "
          f"{r['ann_mean_return']:.1f}, the return of {r['teacher']}{how}), "
          f"{r['synaptic_events_per_action']:.0f} "
          "synaptic events per action")
    kept = r.get("kept_epoch")  # absent in a result of neuroq before 2026-11-28
    if kept is not None:
        print("kept: the starting network" if kept < 0 else
              f"kept: epoch {kept} (epochs 0-{r['epochs'] - 1} in history.json)")
    print(run_dir)
    return 0
