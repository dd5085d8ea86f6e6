"""Run the whole pipeline on one environment (--env, default CartPole-v1) and print what each
stage made.

`make demo` runs it for CartPole-v1 and then for the DVS event task
(neuroq/DVSPanTrackingPooled-v0: events enter the network as input spikes, and the ROS 2
stage runs the event camera and event node).

Stages, each writing its own run folder under --out (the library calls of
neuroq.agents.pipeline, the same functions the other subcommands call):
  1 train     DQN with stable-baselines3 (seed --seed, the shipped hyperparameters)
  2 convert   spiking Q-network from the DQN (population coding, smallest T)
  3 finetune  hardware-aware fine-tuning to int8 with the chip's neuron semantics
  4 export    the deploy artifact (NIR graph + manifest), return checked with numpy
  5 eval      closed loop on the SpiNNaker2 emulator: return, latency, events, energy
  6 ros       the same policy closed loop over ROS 2 (separate node processes, DDS kept on
              loopback for the demo), returns and latencies
  7 energy    energy-per-action report (SpiNNaker2 modeled, CPU/GPU measured or published)

The summary at the end lists every run folder and the report's location.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from neuroq.agents.cli.finetune import randomization
from neuroq.deploy.argtypes import (
    episode_count,
    gate_fraction,
    nonnegative_float,
    positive_int,
    seed,
    timesteps,
)
from neuroq.deploy.errors import counted
from neuroq.deploy.seeds import seed_span

HELP = "run the whole pipeline on one environment (what `make demo` runs)"


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    """Training always; rclpy for the ROS 2 stage unless --skip-ros."""
    return ("train",) if args.skip_ros else ("train", "ros")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default="CartPole-v1", help="Gymnasium env id (default: %(default)s)")
    p.add_argument("--seed", type=seed, default=0, help="seed (default: %(default)s)")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")
    p.add_argument("--steps", type=positive_int, metavar="N",
                   help="training steps (default: the config's n_timesteps)")
    from neuroq.agents.finetune import FinetuneConfig

    d = FinetuneConfig()  # neuroq finetune's defaults: the demo runs the same recipe
    p.add_argument("--epochs", type=positive_int, default=d.epochs,
                   help="fine-tuning epochs (default: %(default)s, as neuroq finetune)")
    p.add_argument("--spike-penalty", type=nonnegative_float, default=d.spike_penalty,
                   help="fine-tuning penalty on synaptic events per action (default: "
                   "%(default)s, as neuroq finetune; docs/spiking.md)")
    p.add_argument("--margin", type=nonnegative_float, default=0.0,
                   help="weight of the fine-tuning Q-margin hinge (see neuroq finetune "
                        "--help; default: %(default)s = off)")
    p.add_argument("--episodes", type=episode_count, default=100,
                   help="evaluation episodes on the emulator (default: %(default)s)")
    p.add_argument("--skip-ros", action="store_true", help="skip the ROS 2 closed loop")
    p.add_argument("--skip-energy", action="store_true", help="skip the energy report")
    p.add_argument("--timesteps", "-T", type=timesteps, metavar="T",
                   help="steps per action of the spiking network (default: the smallest)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override training hyperparameters, e.g. n_timesteps=20000")
    p.add_argument("--randomize", type=randomization, metavar="YAML_OR_FILE",
                   help="domain randomization of fine-tuning, inline YAML or a YAML file "
                        "(see neuroq finetune --help); checked before training")
    p.add_argument("--gate", type=gate_fraction, metavar="FRACTION",
                   help="the export gate: the SNN's return as a fraction of the float DQN's "
                        "on held-out episodes (default: neuroq export's)")
    p.add_argument("--interface", metavar="NAME_OR_FILE",
                   help="the robot interface the artifact records (a name in "
                        "config/interfaces/ or a YAML file, docs/interface.md) and the ROS 2 "
                        "stage runs with (default: the shipped one for --env; an env of your "
                        "own needs one unless --skip-ros); checked before training")
    p.add_argument("--ship", metavar="DIR",
                   help="copy the exported artifact into DIR with a PROVENANCE.md naming this "
                        "command (how config/artifacts/* are made); DIR must be writable, "
                        "checked before training")


def check_interface(interface: str | None, env_id: str, skip_ros: bool) -> None:
    """NeuroqError (one line) before training unless the ROS 2 stage will find a robot
    interface for `env_id`: `interface` (it must be for that env), or a shipped one naming
    it. An outsider's demo on an env of their own trained, converted, fine-tuned and
    exported for 6 minutes, then stopped at the ROS stage on "set the interface parameter",
    which demo had no way to set."""
    from neuroq.agents.pipeline import is_event_env
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.interface import interface_for_env, load_interface

    if interface is not None:
        from neuroq.agents.convert import space_descriptions

        robot = load_interface(interface)
        if robot.env_id and robot.env_id != env_id:  # env_id is optional in the file
            raise NeuroqError(f"--interface {robot.name} is for {robot.env_id}, not {env_id} "
                              "(its env_id must be the --env reference as given)")
        # its observation and actions against the env's spaces, as the export will check
        # them against the artifact's (the review: found only after training, before)
        observation, action = space_descriptions(env_id)
        try:
            robot.check_artifact({"env_id": env_id, "observation_space": observation,
                                  "action_space": action})
        except NeuroqError as exc:
            raise NeuroqError(f"--interface: {exc}") from None
        return
    if skip_ros or is_event_env(env_id) or interface_for_env(env_id) is not None:
        return
    raise NeuroqError(f"no robot interface names {env_id} (config/interfaces/), and the ROS 2 "
                      "stage runs the artifact through one: give --interface FILE (how your "
                      "robot's topics map to the env's observation and actions, "
                      "docs/interface.md), or --skip-ros")


def _ros_stage(env_id: str):
    """The ROS 2 stage for `env_id`: the event camera loop or the joint-state loop."""
    from neuroq.agents.pipeline import is_event_env

    def run(artifact: Path, episodes: int, seed: int) -> dict[str, Any]:
        if is_event_env(env_id):
            from neuroq.ros_nodes.demo_events import run_event_ros_demo

            return run_event_ros_demo(artifact, episodes=episodes, seed=seed)
        from neuroq.ros_nodes.demo_ros import run_ros_demo

        return run_ros_demo(artifact, episodes=episodes, seed=seed)

    return run


#: options whose defaults have changed (stop 48: fine-tuning's): PROVENANCE.md spells them
#: out when not given, so that its command regenerates the artifact after the next change
SPELT_OUT = (("--epochs", "epochs"), ("--spike-penalty", "spike_penalty"))


def shipped_command(argv: list[str], args: argparse.Namespace | None = None) -> str:
    """The demo command as PROVENANCE.md records it: the arguments given, less `--out`
    (where run folders go changes nothing in the artifact, and a local path means nothing
    in a clone), plus SPELT_OUT's options at the values `args` ran with where not given
    (the shipped artifacts' commands no longer regenerated them once the demo's
    fine-tuning defaults changed: a review)."""
    import shlex

    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--out":
            skip = True
        elif not a.startswith("--out="):
            kept.append(a)
    for option, name in SPELT_OUT if args is not None else ():
        if not any(a == option or a.startswith(option + "=") for a in kept):
            kept += [option, f"{getattr(args, name):g}"]
    return "neuroq demo " + shlex.join(kept)


def run(args: argparse.Namespace) -> int:
    import sys

    from neuroq.agents import hyperparams
    from neuroq.agents.cli import checks
    from neuroq.agents.cli.finetune import check_randomize_env
    from neuroq.agents.pipeline import run_pipeline

    # wrong input: one line before the stages (the ship folder is written after stage 5)
    checks.writable(args.out)
    if args.ship is not None:
        checks.writable(args.ship, "--ship")
    from neuroq.agents.train import check_env_id

    # the env first: a typo was sent to write an interface file (an outsider)
    check_env_id(args.env)
    check_randomize_env(args.randomize, args.env)
    check_interface(args.interface, args.env, args.skip_ros)
    hyperparams.override(hyperparams.DQNConfig(), hyperparams.with_steps(args.set, args.steps))
    command = shipped_command(sys.argv[2:] if sys.argv[1:2] == ["demo"] else sys.argv[1:],
                              args)
    done = run_pipeline(args.env, args.seed, args.out, args.steps, args.epochs,
                        args.spike_penalty, args.episodes,
                        ros_stage=None if args.skip_ros else _ros_stage(args.env),
                        timesteps=args.timesteps, finetune_randomize=args.randomize,
                        finetune_margin=args.margin,
                        train_overrides=args.set, energy=not args.skip_energy,
                        ship=args.ship, command=command, gate=args.gate,
                        interface=args.interface)
    print("\n=== summary")
    tr, ev = done.train_result, done.eval_result
    print(f"float DQN return        {tr['mean_return']:.1f} "
          f"({counted(tr['episodes'], 'report episode')}, seeds "
          f"{seed_span([tr['report_seed'], tr['report_seed'] + tr['episodes'] - 1])})")
    print(f"8-bit SNN on emulator   {ev['return_mean']:.1f} "
          f"({counted(ev['episodes'], 'episode')}, seeds {seed_span(ev['episode_seeds'])}, "
          f"T = {ev['timesteps_per_action']} steps per action)")
    if done.float_on_eval_seeds is not None:
        print(f"float DQN, same seeds   {done.float_on_eval_seeds:.1f} (compare with the "
              "line above)")
    if "success_rate" in done.eval_result:
        from neuroq.agents.cli.eval import outcome_line

        print(f"8-bit SNN on emulator   {outcome_line(done.eval_result).split(None, 1)[1]}")
    if done.gate_refused:  # the demo went on with a forced artifact: said last, too
        print(f"export gate             REFUSED: {done.gate_refused}; the artifact was "
              "exported anyway for the demo (not for a robot)")
    for stage, path in done.folders.items():
        print(f"{stage:<9} {path}")
    if done.report is not None:
        print(f"report    {done.report}")
    return 0
