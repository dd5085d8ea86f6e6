"""The whole pipeline on one environment, stage by stage, as library calls (`neuroq demo`).

Stages, each writing its own run folder under `out_root`:
  1 train     DQN with stable-baselines3 (the shipped hyperparameters)
  2 convert   spiking Q-network from the DQN (population coding and the smallest T; the
              event encoder at T = 8 for the DVS event tasks)
  3 finetune  hardware-aware fine-tuning to int8 with the chip's neuron semantics
  4 export    the deploy artifact (NIR graph + manifest), return checked with numpy
  5 eval      closed loop on the SpiNNaker2 emulator: return, latency, events, energy
  6 ros       the same policy closed loop over ROS 2, when a `ros_stage` is given
  7 energy    energy-per-action report (SpiNNaker2 modeled, CPU/GPU measured or published)

Each stage is the function its `neuroq` subcommand calls and returns what it made; nothing
is found by looking through folders. The ROS stage is passed in (`ros_stage`) because it
lives beside the ROS nodes, which the training side does not import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroq.deploy.errors import NeuroqError, counted
from neuroq.deploy.seeds import seed_span

#: Event-camera envs are converted with the event encoder (events as input spikes, 5 time
#: bins of 2 ms at T = 8) and looped over ROS 2 by the event camera and the event node.
EVENT_TIMESTEPS = 8
#: Episodes of the ROS 2 stage (a few, at the real control rate).
ROS_EPISODES = 3
STAGES = 7

#: (artifact, episodes, seed) -> the ROS stage's summary
RosStage = Callable[[Path, int, int], dict[str, Any]]


@dataclass
class PipelineRun:
    """What `run_pipeline` made: each stage's run folder, the artifact, key results."""

    env_id: str
    folders: dict[str, Path] = field(default_factory=dict)
    artifact: Path | None = None
    train_result: dict[str, Any] = field(default_factory=dict)
    eval_result: dict[str, Any] = field(default_factory=dict)
    float_on_eval_seeds: float | None = None
    """The float DQN's mean return on the evaluation's episodes (its seeds), beside the
    SNN's: the train run's own figure is on other episodes (its report seeds)."""
    ros_summary: dict[str, Any] | None = None
    report: Path | None = None
    gate_refused: str | None = None
    """The export gate's refusal, where it refused (the demo goes on with the artifact,
    forced: `DEMO_GOES_ON`); None where it passed."""


DEMO_TO_FORCE = ("a --gate at or below the fraction above to export anyway (--gate 0 passes "
                 "any return)")
"""How a `neuroq demo` user exports past the gate (demo has no --force), for export's
refusal."""
DEMO_GOES_ON = ("exported anyway (forced: its manifest records the refusal, and `neuroq "
                "eval` and the nodes warn of it) so that the demo shows the stages after it; "
                "not an artifact for a robot: fine-tune further, or pass the gate you accept "
                "(--gate)")
"""What the demo says when the gate refuses: until stop 41 the demo ended there, exit 2,
and `make demo` with it (an outsider's fresh clone: the default CartPole run's SNN at
97.2 % of the float DQN, gate 99 %); `--ship` still refuses such an artifact."""


def _float_return(artifact: Path, env_id: str, episodes: int, seed: int) -> float | None:
    """Mean return of the artifact's float DQN (float_dqn.npz) on episodes seeded seed + i,
    as the SNN's evaluation plays them; None without the file. An outsider read the demo's
    summary, the float DQN's return on its report episodes beside the SNN's on others, as
    the SNN beating it."""
    from neuroq.agents.mlp import FLOAT_DQN_FILE, load_mlp_file
    from neuroq.deploy.rollout import run_episodes

    if not (artifact / FLOAT_DQN_FILE).is_file():
        return None
    mlp = load_mlp_file(artifact / FLOAT_DQN_FILE)
    return float(run_episodes(env_id, lambda obs, _i: mlp.act(obs), episodes,
                              seed).returns.mean())


def is_event_env(env_id: str) -> bool:
    """Whether `env_id` is an event-camera env (one the event encoder can take its geometry
    from), judged by the environment itself, not by its name."""
    from neuroq.agents.convert import event_encoder_for
    from neuroq.deploy.errors import NeuroqError

    try:
        event_encoder_for(env_id, 0)
    except NeuroqError:
        return False
    return True


def run_pipeline(env_id: str = "CartPole-v1", seed: int = 0,
                 out_root: str | os.PathLike = "runs", steps: int | None = None,
                 epochs: int | None = None, spike_penalty: float | None = None,
                 episodes: int = 100,
                 ros_stage: RosStage | None = None,
                 say: Callable[[str], None] = print, timesteps: int | None = None,
                 finetune_randomize: dict[str, Any] | None = None,
                 finetune_margin: float = 0.0,
                 train_overrides: list[str] | None = None, energy: bool = True,
                 ship: str | os.PathLike | None = None,
                 command: str = "", gate: float | None = None,
                 interface: str | None = None) -> PipelineRun:
    """Run the seven stages (the ROS stage only with `ros_stage`, the energy report only
    with `energy`); `say` gets progress. timesteps: T of the spiking network (default: the
    smallest, or EVENT_TIMESTEPS for event tasks). finetune_randomize: domain randomization
    of fine-tuning; finetune_margin: the weight of its Q-margin hinge. train_overrides:
    `key=value` hyperparameters. epochs, spike_penalty: fine-tuning's (default:
    FinetuneConfig's, as `neuroq finetune` has them: one recipe). ship: a folder to copy
    the exported artifact into, with a PROVENANCE.md naming `command` (how to regenerate
    it). gate: the export gate (default: neuroq.agents.export.DEFAULT_GATE). interface:
    the robot interface the export records (a name or file; default: the shipped one for
    the env, if any)."""
    from neuroq.agents import hyperparams
    from neuroq.agents.convert import DEFAULT_EVAL_TIMESTEPS, run_convert
    from neuroq.agents.energy import energy_report
    from neuroq.agents.evaluate import evaluate_artifact
    from neuroq.agents.export import export
    from neuroq.agents.finetune import FinetuneConfig, run_finetune
    from neuroq.agents.runs import ensure_writable, read_json
    from neuroq.agents.train import check_env_id, train_one

    check_env_id(env_id, reset=True)
    out = ensure_writable(out_root).resolve()
    run = PipelineRun(env_id)
    event_env = is_event_env(env_id)

    def banner(n: int, text: str) -> None:
        say(f"\n=== [{n}/{STAGES}] {text}")

    banner(1, f"train a DQN on {env_id}, seed {seed}")
    loaded = hyperparams.load_hyperparameters(env_id)
    cfg = hyperparams.override(loaded.config, hyperparams.with_steps(train_overrides or [], steps))
    run.folders["train"] = train_one(env_id, seed, cfg, out, defaults=loaded.defaults)
    run.train_result = read_json(run.folders["train"] / "result.json")
    say(f"float DQN: {run.train_result['mean_return']:.1f} over "
        f"{counted(run.train_result['episodes'], 'report episode')} ({run.folders['train']})")

    banner(2, "convert to a spiking Q-network")
    run.folders["convert"] = run_convert(
        run.folders["train"], out, "event" if event_env else "population",
        timesteps or (EVENT_TIMESTEPS if event_env else None), DEFAULT_EVAL_TIMESTEPS,
        seed=seed, log=say)
    say("(a plain conversion at a small T may play far below the DQN: the fine-tuning "
        "next trains the network at that T to recover the return)")

    banner(3, "fine-tune to int8 with the chip's neuron semantics")
    run.folders["finetune"] = run_finetune(
        run.folders["convert"], out,
        FinetuneConfig(epochs=FinetuneConfig.epochs if epochs is None else epochs,
                       spike_penalty=(FinetuneConfig.spike_penalty if spike_penalty is None
                                      else spike_penalty),
                       seed=seed, randomize=finetune_randomize or {}, margin=finetune_margin),
        progress=False, log=say)
    tuned = read_json(run.folders["finetune"] / "result.json")
    say(f"int8 SNN, fine-tuned: {tuned['mean_return']:.1f} over "
        f"{counted(tuned['episodes'], 'episode')} (seeds {seed_span(tuned['episode_seeds'])}; "
        f"float DQN {tuned['ann_mean_return']:.1f} on the same) ({run.folders['finetune']})")

    banner(4, "export the deploy artifact")
    from neuroq.agents.export import DEFAULT_GATE, interval_text, percent

    made = export(run.folders["finetune"], out, gate=DEFAULT_GATE if gate is None else gate,
                  to_force=DEMO_TO_FORCE, interface=interface, force=True)
    run.folders["export"], run.artifact = made.run_dir, made.artifact
    if "mean_return" in made.result:
        say(f"artifact return: {made.result['mean_return']:.1f} over "
            f"{counted(made.result['episodes'], 'episode')} ({made.artifact})")
    figures = made.result["gate"]
    verdict = (f"SNN {figures['snn']['mean']:.1f} vs float DQN "
               f"{figures['float_dqn']['mean']:.1f} ({percent(figures['fraction'])}, gate "
               f"{100 * figures['threshold']:.0f} %{interval_text(figures)}) on held-out "
               f"episodes {seed_span(figures['seeds'])}")
    if figures.get("passed") is False:
        run.gate_refused = verdict
        say(f"gate REFUSED: {verdict}; {DEMO_GOES_ON}")
    else:
        say(f"gate passed: {verdict}")
    outcomes = figures.get("outcomes", {})
    if "success_rate" in outcomes.get("snn", {}):
        say(f"success on those episodes: SNN {100 * outcomes['snn']['success_rate']:.0f} %, "
            f"float DQN {100 * outcomes['float_dqn']['success_rate']:.0f} %")
    banner(5, "closed loop on the SpiNNaker2 emulator")
    evaluation = evaluate_artifact(made.artifact, episodes=episodes, seed=seed, out=out)
    run.folders["eval"], run.eval_result = evaluation.run_dir, evaluation.result
    run.float_on_eval_seeds = _float_return(made.artifact, env_id, episodes, seed)
    same = ("" if run.float_on_eval_seeds is None else
            f"; float DQN {run.float_on_eval_seeds:.1f} on the same")
    say(f"8-bit SNN on the emulator: {evaluation.result['return_mean']:.1f} over "
        f"{counted(episodes, 'episode')} (seeds "
        f"{seed_span(evaluation.result['episode_seeds'])}{same}) ({evaluation.run_dir})")
    if "success_rate" in evaluation.result:
        rate = 100 * evaluation.result["success_rate"]
        say(f"success {rate:.0f} % of {counted(episodes, 'episode')}")
    if ship is not None:  # after the evaluation, so PROVENANCE.md carries its figures
        if run.gate_refused:
            raise NeuroqError(f"not shipped to {ship}: the export gate refused the artifact "
                              f"({run.gate_refused}); fine-tune further, or {DEMO_TO_FORCE}")
        ship_artifact(made.artifact, Path(ship), run, command)
        say(f"shipped to {ship}")

    if ros_stage is None:
        say(f"\n=== [6/{STAGES}] ROS 2 closed loop: skipped")
    else:
        banner(6, "closed loop over ROS 2 (separate node processes, DDS on loopback)")
        run.ros_summary = ros_stage(made.artifact, ROS_EPISODES, seed)

    if not energy:
        say(f"\n=== [7/{STAGES}] energy report: skipped")
        return run
    banner(7, "energy per action report")
    _, paths = energy_report(str(made.artifact), str(out))
    run.folders["energy"], run.report = paths["markdown"].parent, paths["markdown"]
    return run


def ship_artifact(artifact: Path, target: Path, run: PipelineRun, command: str) -> Path:
    """Copy the artifact's files into `target` (replacing them) and write PROVENANCE.md:
    the command that regenerates it from nothing, the runs, the seeds and the figures."""
    import json
    import shutil

    from neuroq.agents.export import percent
    from neuroq.deploy import seeds

    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        if old.is_file():
            old.unlink()
    for f in sorted(artifact.iterdir()):
        shutil.copy2(f, target / f.name)
    manifest = json.loads((artifact / "manifest.json").read_text())
    gate = manifest.get("gate", {})
    lines = [
        f"# {target.name}: {run.env_id}, T = {manifest['timesteps']}, "
        f"{manifest['encoder']['kind']} encoder",
        "",
        "Regenerate from nothing (a fresh clone, `make venv`), from the repository root:",
        "",
        f"    {command}",
        "",
        "What it ran, in order (each stage's run folder is under the --out root):",
        "",
        *(f"- {stage}: `{path.name}`" for stage, path in run.folders.items()),
        "",
        f"- float DQN (report episodes, seeds "
        f"{run.train_result.get('report_seed', seeds.REPORT_BASE)}+): "
        f"{run.train_result.get('mean_return', float('nan')):.1f}",
    ]
    if gate and not gate.get("skipped"):
        lines += [
            f"- export gate, held-out seeds {seed_span(gate['seeds'])}: SNN "
            f"{gate['snn']['mean']:.1f} [95 % CI {gate['snn']['ci95'][0]:.1f}, "
            f"{gate['snn']['ci95'][1]:.1f}], float DQN {gate['float_dqn']['mean']:.1f}, "
            f"{percent(gate['fraction'])} (gate {100 * gate['threshold']:.0f} %: "
            f"{'passed' if gate['passed'] else 'FAILED'})"]
        outcomes = gate.get("outcomes", {})
        if "success_rate" in outcomes.get("snn", {}):
            so, fo = outcomes["snn"], outcomes["float_dqn"]
            lines += [
                f"- success on those episodes: SNN {100 * so['success_rate']:.0f} % "
                f"(collisions {100 * so['collision_rate']:.0f} %), float DQN "
                f"{100 * fo['success_rate']:.0f} % (collisions "
                f"{100 * fo['collision_rate']:.0f} %); SNN / float "
                f"{percent(gate.get('success_fraction'))}"]
    if "interface" in manifest:
        lines += [f"- robot interface recorded in the manifest: {manifest['interface']['name']}"]
    if run.eval_result:
        r = run.eval_result
        lines += [f"- eval on the emulator, seeds {seed_span(r['episode_seeds'])}"
                  f": {r['return_mean']:.1f} (worst 5 % {r['return_worst5pct_mean']:.1f})"]
    lines += ["", "float_dqn.npz is the float DQN the network was distilled from (numpy "
              "arrays, no pickle): `neuroq robustness` and `neuroq energy` compare against it.",
              "Training runs are seeded, but BLAS threading and library versions can change "
              "the last bits; the gate checks the result."]
    (target / "PROVENANCE.md").write_text("\n".join(lines) + "\n")
    return target
