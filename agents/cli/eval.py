"""Evaluate a deploy artifact closed loop in Gymnasium.

Runs --episodes episodes (episode i seeded with --seed + i), up to 100 at a time with one
batched network run per step, with a progress bar, and prints and saves to
runs/<env>/eval-<backend>-<time>/result.json:
  return mean / std / worst-5 % mean                       measured in the environment
  host time per action (batched, and single-action median) measured on this host
  synaptic events and spikes per action                    counted by the emulator
  on-chip time, dynamic and total energy per action        MODELED (deploy/energy.py)
More than 10,000 episodes write their returns to returns.npy instead of result.json.

Backends: emulator (default), reference (the definition, no chip model), spinnaker2 (a
board at --board-ip through py-spinnaker2; one hw.run per action; the emulator runs beside
it and the exit status is 1 when any action's Q-values differ from the emulator's).

--video PATH also writes episode 0 as an animated GIF or MP4 (imageio; the video extra),
for any environment that renders rgb_array.

examples:
  neuroq eval runs/CartPole-v1/export-<time>/artifact --episodes 100
  neuroq eval nav --episodes 100 --seed 5000 --video nav.gif
"""

from __future__ import annotations

import argparse
import sys

from neuroq.deploy.argtypes import episode_count, positive_int, seed
from neuroq.deploy.errors import counted
from neuroq.deploy.seeds import seed_span

HELP = "evaluate an artifact closed loop: returns, latency, events and energy per action"


def required_extras(args: argparse.Namespace) -> tuple[str, ...]:
    """imageio for --video; nothing else."""
    return ("video",) if args.video else ()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="deploy artifact folder (or its manifest.json)")
    p.add_argument("--backend", "--target", dest="backend", default="emulator",
                   choices=("emulator", "reference", "spinnaker2"),
                   help="where the network runs (default: emulator)")
    p.add_argument("--episodes", type=episode_count, default=100, help="episodes (default: 100)")
    p.add_argument("--seed", type=seed, default=0, help="episode i uses seed + i (default: 0)")
    p.add_argument("--board-ip", default=None,
                   help="SpiNNaker2 board address (--backend spinnaker2 only; refused with "
                        "the other backends)")
    p.add_argument("--performance-level", default="low", choices=("low", "high"),
                   help="DVFS level of the energy model: low 150 MHz/0.5 V, high 300 MHz/0.8 V "
                        "(default: %(default)s)")
    p.add_argument("--static-scope", default="chip", choices=("chip", "pes_used"),
                   help="static power of the whole chip, or only of the PEs used "
                        "(default: %(default)s)")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="cap on steps per episode (default: the environment's limit)")
    p.add_argument("--out", default="runs", help="root of run folders (default: runs)")
    p.add_argument("--video", metavar="PATH",
                   help="also write episode 0 (seed --seed) as an animated .gif or .mp4 "
                        "(environments that render rgb_array; needs the video extra)")


def _fmt(x: float | None, scale: float, unit: str) -> str:
    return "n/a" if x is None else f"{x * scale:.3f} {unit}"


def outcome_line(result: dict) -> str:
    """Success rate, collision rate and time to goal of a result that has them."""
    lo, hi = result["success_rate_ci95"]
    line = (f"success             {100 * result['success_rate']:.0f} % (95 % CI "
            f"[{100 * lo:.0f}, {100 * hi:.0f}] %)")
    if "collision_rate" in result:
        line += f", collisions {100 * result['collision_rate']:.0f} %"
    t = result.get("time_to_goal_s")
    if t:
        line += f", time to goal {t['mean']:.1f} s mean ({t['median']:.1f} s median)"
    return line


def print_summary(result: dict, run_dir) -> None:
    """The evaluation's figures, one per line, each labelled with what kind it is."""
    m, c, mod = result["measured"], result["counted_per_action"], result["modeled_per_action"]
    lo, hi = result["return_ci95"]
    print(f"return              {result['return_mean']:.2f} +- {result['return_std']:.2f}, "
          f"95 % CI [{lo:.2f}, {hi:.2f}] (worst 5 %: {result['return_worst5pct_mean']:.2f}) "
          f"over {counted(result['episodes'], 'episode')} (seeds "
          f"{seed_span(result['episode_seeds'])})")
    if "success_rate" in result:
        print(outcome_line(result))
    print(f"host time/action    {_fmt(m['host_time_per_action_batched_s'], 1e6, 'us')} batched,"
          f" {_fmt(m['host_latency_single_action_median_s'], 1e6, 'us')} single (median)"
          "  [measured]")
    chip = c["chip_synaptic_events"]  # None where the backend does not count them
    print(f"synaptic events     {c['synaptic_events']:.1f} per action (dense), "
          f"{'n/a' if chip is None else f'{chip:.1f}'} on chip (non-zero weights)  [counted]")
    if mod is not None:
        em = mod["energy_model"]
        print(f"chip time/action    {_fmt(mod['chip_time_s'], 1e3, 'ms')}  [modeled]")
        print(f"energy/action       {_fmt(mod['energy_dynamic_j'], 1e6, 'uJ')} dynamic, "
              f"{_fmt(mod['energy_total_j'], 1e3, 'mJ')} total (static: {em['static_scope']},"
              f" level {em['performance_level']}, {em['n_pes_used']} PEs)  [modeled]")
    board = result.get("board_vs_emulator")
    if board is not None:
        print(f"board vs emulator   {board['differing_actions']} of {board['actions']} actions "
              f"differ, max |dQ| {board['max_abs_dq']:.3g}, "
              f"{board.get('beyond_rounding', 0)} beyond rounding  [measured]")
        if board["differs"]:
            print("neuroq eval: warning: the board's Q-values are not the emulator's (beyond "
                  "float32 rounding): it runs another network than assumed (docs/chip.md: "
                  "what is to be confirmed on a board)",
                  file=sys.stderr)
    print(f"saved {run_dir / 'result.json'}")


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from neuroq.agents.cli import checks
    from neuroq.agents.evaluate import evaluate_artifact
    from neuroq.deploy.artifact import load_artifact, say_artifact_warnings
    from neuroq.deploy.seeds import say_pipeline_seeds

    # wrong input: one line before anything runs; the artifact is loaded once, here
    art = load_artifact(args.artifact)
    say_artifact_warnings(art.manifest, "neuroq eval")
    say_pipeline_seeds(args.seed, args.episodes, "neuroq eval")
    checks.board_ip(args.board_ip, "--backend", args.backend)
    if args.video is not None:  # its writer and one frame of the env: before any episode
        from neuroq.agents.video import check_video

        check_video(args.video, art.manifest["env_id"])
    checks.writable(args.out)
    with tqdm(total=args.episodes, desc="episodes", unit="ep", file=sys.stderr,
              disable=not sys.stderr.isatty(), dynamic_ncols=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        made = evaluate_artifact(art, args.backend, args.episodes, args.seed,
                                 args.out, args.board_ip, args.performance_level,
                                 args.static_scope, args.max_steps, progress,
                                 say=lambda line: print(line, file=sys.stderr))
    print_summary(made.result, made.run_dir)
    status = 1 if (made.result.get("board_vs_emulator") or {}).get("differs") else 0
    if args.video:
        from neuroq.agents.video import record_episode
        from neuroq.deploy.policy import load_policy

        policy = load_policy(art, backend=args.backend, board_ip=args.board_ip,
                             seed=args.seed)
        v = record_episode(policy, args.video, args.seed, args.max_steps)
        print(f"video               {v['path']}: episode seed {v['seed']}, {v['steps']} steps, "
              f"return {v['return']:.2f}, {v['frames']} frames at {v['fps']:g} fps")
    # the board disagreeing with the emulator: the run is saved and said, and the status
    # tells a script (it was 0 with the warning: an outsider's probe of a one-tick-later
    # board returned 9.4 for about 500)
    return status
