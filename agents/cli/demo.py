"""Run the whole pipeline on one environment (CartPole-v1) and print what each stage made.

`make demo` runs it for CartPole-v1 and then for the DVS event task
(neuroq/DVSPanTrackingPooled-v0: events enter the network as input spikes, and the ROS 2
stage runs the event camera and event node).

Stages, each its own `neuroq` subcommand writing its own run folder under --out:
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

HELP = "run the whole pipeline on CartPole-v1 (what `make demo` runs)"
#: DVS event envs: converted with the event encoder (events as input spikes, 5 time bins
#: of 2 ms at T = 8), looped over ROS 2 by the event camera and the event node.
EVENT_ENV_PREFIX = "neuroq/DVSPanTracking"
EVENT_CONVERT_ARGS = ["--encoder", "event", "-T", "8"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default="CartPole-v1", help="Gymnasium env id (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    p.add_argument("--out", default="runs", help="root of run folders (default: %(default)s)")
    p.add_argument("--steps", type=int, metavar="N",
                   help="training steps (default: the config's n_timesteps)")
    p.add_argument("--epochs", type=int, default=20,
                   help="fine-tuning epochs (default: %(default)s)")
    p.add_argument("--spike-penalty", type=float, default=0.2,
                   help="fine-tuning penalty on synaptic events: fewer events per action, "
                   "same return on CartPole at 0.2 (default: %(default)s)")
    p.add_argument("--episodes", type=int, default=100,
                   help="evaluation episodes on the emulator (default: %(default)s)")
    p.add_argument("--skip-ros", action="store_true", help="skip the ROS 2 closed loop")


def _stage(out: Path, env_id: str, prefix: str, argv: list[str]) -> Path:
    """Run one `neuroq` subcommand and return the run folder it created."""
    from neuroq.agents.cli.main import main
    from neuroq.deploy.errors import NeuroqError

    parent = out / env_id
    before = set(parent.glob(f"{prefix}-*")) if parent.exists() else set()
    code = main(argv)
    if code != 0:
        raise NeuroqError(f"stage `neuroq {' '.join(argv[:1])}` failed (exit {code})")
    created = sorted(set(parent.glob(f"{prefix}-*")) - before)
    if not created:
        raise NeuroqError(f"stage `neuroq {argv[0]}` wrote no {prefix}-* folder in {parent}")
    return created[-1]


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.runs import ensure_writable, read_json
    from neuroq.agents.train import check_env_id

    check_env_id(args.env)
    out = ensure_writable(args.out).resolve()
    env, o = args.env, ["--out", str(out)]
    folders: dict[str, Path] = {}

    def banner(n: int, text: str) -> None:
        print(f"\n=== [{n}/7] {text}", flush=True)

    banner(1, f"train a DQN on {env}, seed {args.seed}")
    steps = ["--steps", str(args.steps)] if args.steps else []
    folders["train"] = _stage(out, env, "train", ["train", "--env", env, "--seed",
                                                  str(args.seed), *steps, *o])
    banner(2, "convert to a spiking Q-network")
    event_env = env.startswith(EVENT_ENV_PREFIX)
    folders["convert"] = _stage(out, env, "convert", [
        "convert", str(folders["train"]), *(EVENT_CONVERT_ARGS if event_env else []), *o])
    banner(3, "fine-tune to int8 with the chip's neuron semantics")
    folders["finetune"] = _stage(out, env, "finetune", [
        "finetune", str(folders["convert"]), "--epochs", str(args.epochs),
        "--spike-penalty", str(args.spike_penalty), *o])
    banner(4, "export the deploy artifact")
    folders["export"] = _stage(out, env, "export", ["export", str(folders["finetune"]), *o])
    artifact = folders["export"] / "artifact"
    banner(5, "closed loop on the SpiNNaker2 emulator")
    folders["eval"] = _stage(out, env, "eval", ["eval", str(artifact), "--episodes",
                                                str(args.episodes), *o])
    if args.skip_ros:
        print("\n=== [6/7] ROS 2 closed loop: skipped (--skip-ros)")
    elif event_env:
        banner(6, "closed loop over ROS 2: event camera -> EventPackets -> event node")
        from neuroq.ros_nodes.demo_events import run_event_ros_demo

        run_event_ros_demo(artifact, episodes=3, seed=args.seed)
    else:
        banner(6, "closed loop over ROS 2 (separate node processes, DDS on loopback)")
        from neuroq.ros_nodes.demo_ros import run_ros_demo

        run_ros_demo(artifact, episodes=3, seed=args.seed)
    banner(7, "energy per action report")
    folders["energy"] = _stage(out, env, "energy", ["energy", str(artifact), *o])

    r_train = read_json(folders["train"] / "result.json")
    r_eval = read_json(folders["eval"] / "result.json")
    print("\n=== summary")
    print(f"float DQN return        {r_train['mean_return']:.1f} (100 episodes)")
    print(f"8-bit SNN on emulator   {r_eval['return_mean']:.1f} ({r_eval['episodes']} "
          f"episodes, T = {r_eval['timesteps_per_action']} steps per action)")
    for stage, path in folders.items():
        print(f"{stage:<9} {path}")
    print(f"report    {folders['energy'] / 'report.md'}")
    return 0
