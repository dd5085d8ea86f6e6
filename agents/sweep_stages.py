"""One stage of one sweep trial, run through the stage's library function.

`run_stage` is what a Ray worker (or the serial loop) executes: it calls the same function
as the stage's `neuroq` subcommand (agents/train.py train_one, agents/convert.py
run_convert, agents/finetune.py run_finetune, agents/export.py export, agents/evaluate.py
evaluate_artifact, agents/energy energy_report), so a trial writes the usual run folders
under the sweep's trials/ folder. It returns a small JSON-able summary: the run folder and
the figures the sweep's table needs. Nothing here re-enters the command line.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.seeds import seed_span

Log = Callable[[str], None]


SWEEP_TO_FORCE = "force: true in the spec's export settings to export anyway"
"""How a sweep exports past the gate (the export stage's `force` setting), for export's
refusal."""


def _train(env: str, s: dict[str, Any], up: dict[str, Any] | None, out: Path,
           log: Log) -> dict[str, Any]:
    from neuroq.agents import hyperparams
    from neuroq.agents.runs import read_json
    from neuroq.agents.train import train_one, training_warnings

    s = dict(s)
    seed = int(s.pop("seed", 0))
    loaded = hyperparams.load_hyperparameters(env)
    cfg = _with(loaded.config, s)
    for warning in training_warnings(env, cfg, [seed]):  # as `neuroq train` says them (a
        log(f"warning: {warning}")  # sweep's n_timesteps 2000 below eval_freq: no word)
    run = train_one(env, seed, cfg, out, defaults=loaded.defaults)
    r = read_json(run / "result.json")
    return {"run_dir": str(run), "train_return": r["mean_return"],
            "train_seeds": _span(r.get("report_seed"), r.get("episodes")),
            "default_hyperparameters": loaded.defaults}


def _seeds(result: dict[str, Any]) -> str | None:
    """A stage result's episode seeds ([first, last]) as "first..last"."""
    seeds = result.get("episode_seeds", result.get("seeds"))
    return seed_span(seeds) if isinstance(seeds, list) and len(seeds) == 2 else None


def _span(first: Any, n: Any) -> str | None:
    """"first..last" of `n` episodes seeded from `first`."""
    if not isinstance(first, int) or not isinstance(n, int) or n < 1:
        return None
    return seed_span([first, first + n - 1])


def _with(cfg: Any, values: dict[str, Any]) -> Any:
    """`cfg` with `values` (hyperparameters, checked as in config/dqn.yaml) replaced."""
    import dataclasses

    from neuroq.agents import hyperparams

    checked = hyperparams.parse_config({"sweep": values}, "sweep", "sweep settings")
    return dataclasses.replace(cfg, **{k: getattr(checked, k) for k in values})


def _convert_args(s: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
    """A convert stage's settings as run_convert's (encoder, timesteps, eval_timesteps)
    and its other keyword arguments."""
    from neuroq.agents.convert import as_tuple

    s = dict(s)
    eval_t = as_tuple(s.pop("eval_timesteps", ()))
    return (s.pop("encoder", "population"), s.pop("timesteps", None), eval_t), s


def _convert(env: str, s: dict[str, Any], up: dict[str, Any] | None, out: Path,
             log: Log) -> dict[str, Any]:
    from neuroq.agents.convert import run_convert
    from neuroq.agents.runs import read_json

    (kind, timesteps, eval_t), s = _convert_args(s)
    run = run_convert(up["run_dir"], out, kind, timesteps, eval_t, log=log, **s)
    r = read_json(run / "result.json")
    at_t = (r.get("returns_by_timesteps") or {}).get(str(r["timesteps"]), {})
    # the network's agreement and synaptic events too, as finetune's summary gives them
    # (a later stage's replace them): a [train, convert] sweep had none, so no pareto.png,
    # without a word (an outsider)
    return {"run_dir": str(run), "ann_return": r["ann_mean_return"],
            "convert_return": r["mean_return"], "convert_seeds": _seeds(r),
            "timesteps": r["timesteps"],
            "agreement": at_t.get("agreement"),
            "synaptic_events_per_action": at_t.get("synaptic_events_per_action")}


def _finetune_args(s: dict[str, Any]) -> tuple[Any, Any]:
    """A finetune stage's settings as run_finetune's (FinetuneConfig, eval_episodes)."""
    from neuroq.agents.finetune import FinetuneConfig

    s = dict(s)
    episodes = s.pop("eval_episodes", None)
    return FinetuneConfig(**s), episodes


def _finetune(env: str, s: dict[str, Any], up: dict[str, Any] | None, out: Path,
              log: Log) -> dict[str, Any]:
    from neuroq.agents.finetune import run_finetune
    from neuroq.agents.runs import read_json

    cfg, episodes = _finetune_args(s)
    run = run_finetune(up["run_dir"], out, cfg, episodes, progress=False, log=log)
    r = read_json(run / "result.json")
    return {"run_dir": str(run), "finetune_return": r["mean_return"],
            "finetune_seeds": _seeds(r),
            "fraction_of_ann_return": r["fraction_of_ann_return"],
            "agreement": r["agreement"],
            "synaptic_events_per_action": r["synaptic_events_per_action"]}


def _export(env: str, s: dict[str, Any], up: dict[str, Any] | None, out: Path,
            log: Log) -> dict[str, Any]:
    from neuroq.agents.export import export

    made = export(up["run_dir"], out, **s,
                  to_force=SWEEP_TO_FORCE)
    return {"run_dir": str(made.run_dir), "artifact": str(made.artifact),
            "export_return": made.result.get("mean_return"),
            **gate_summary(made.result.get("gate") or {}),
            "export_forced": made.result.get("forced")}


def gate_summary(gate: dict[str, Any]) -> dict[str, Any]:
    """The export gate's figures for the table (None where the gate was skipped)."""
    played = "snn" in gate and not gate.get("skipped", False)
    return {"gate_snn_return": gate["snn"]["mean"] if played else None,
            "gate_seeds": _seeds(gate) if played else None,
            "gate_float_return": gate["float_dqn"]["mean"] if played else None,
            "gate_fraction": gate.get("fraction") if played else None,
            "gate_passed": gate.get("passed")}


def _eval(env: str, s: dict[str, Any], up: dict[str, Any] | None, out: Path,
          log: Log) -> dict[str, Any]:
    from neuroq.agents.evaluate import evaluate_artifact

    ev = evaluate_artifact(up["artifact"], out=out, **s)
    r = ev.result
    modeled = r.get("modeled_per_action") or {}
    return {"run_dir": str(ev.run_dir), "artifact": up["artifact"],
            "eval_return": r["return_mean"], "eval_return_std": r["return_std"],
            "eval_seeds": _seeds(r),
            "eval_episodes": r["episodes"], "backend": r["backend"],
            "eval_synaptic_events_per_action": r["counted_per_action"]["synaptic_events"],
            "modeled_energy_per_action_j": modeled.get("energy_total_j"),
            "modeled_chip_time_per_action_s": modeled.get("chip_time_s")}


def _energy(env: str, s: dict[str, Any], up: dict[str, Any] | None, out: Path,
            log: Log) -> dict[str, Any]:
    from neuroq.agents.energy import energy_report

    _, paths = energy_report(up["artifact"], str(out), tensorboard=False, **s)
    return {"run_dir": str(paths["markdown"].parent), "energy_report": str(paths["markdown"])}


RUNNERS = {"train": _train, "convert": _convert, "finetune": _finetune, "export": _export,
           "eval": _eval, "energy": _energy}


def check_stage(stage: str, settings: dict[str, Any], env: str) -> None:
    """NeuroqError naming the first of a stage's settings (keys already checked against
    STAGE_KEYS) that the stage's own function would refuse, by that function's check and
    with the runner's mapping of settings to arguments, randomizations against `env` (the
    spec's): a sweep spec checks every trial with it before anything runs, random draws
    included. (What depends on an upstream run, such as T against the network's depth,
    is checked when the stage runs.)"""
    from neuroq.agents.hyperparams import checked_randomization
    from neuroq.deploy.seeds import check_seed

    s = dict(settings)
    if stage == "train":
        from neuroq.agents.hyperparams import DQNConfig
        from neuroq.agents.train import check_randomizations

        check_seed(s.get("seed", 0))
        try:  # as `_train` reads them; its message less its "sweep settings [sweep]: "
            cfg = _with(DQNConfig(), {k: v for k, v in s.items() if k != "seed"})
        except NeuroqError as exc:
            raise NeuroqError(str(exc).split("]: ", 1)[-1]) from None
        check_randomizations(env, cfg)
    elif stage == "convert":
        from neuroq.agents.convert import check_convert_settings

        (kind, timesteps, eval_t), rest = _convert_args(s)
        check_convert_settings(kind, timesteps, eval_t, **rest)
    elif stage == "finetune":
        from neuroq.agents.finetune import check_finetune_settings

        check_finetune_settings(*_finetune_args(s))
        checked_randomization(env, s.get("randomize"), "randomize")
    elif stage == "export":
        from neuroq.agents.export import check_export_settings

        check_export_settings(**s)
    elif stage == "eval":
        from neuroq.agents.evaluate import check_eval_settings

        check_eval_settings(**s)
    elif stage == "energy":
        from neuroq.agents.energy.figures import EnergyConfig
        from neuroq.agents.energy.report import check_energy_config

        check_energy_config(EnergyConfig(artifact="", **s))
    else:
        raise NeuroqError(f"unknown stage {stage!r}")


def run_stage(stage: str, env: str, settings: dict[str, Any], upstream: dict[str, Any] | None,
              out_root: str, log_file: str | None = None) -> dict[str, Any]:
    """Run `stage` with `settings` on the output of the stage before it (`upstream`); write
    its run folder under `out_root` and return its summary (with wall_s). Stage logs go to
    `log_file` (appended) or nowhere."""
    if stage not in RUNNERS:
        raise NeuroqError(f"unknown stage {stage!r}")

    def log(line: str) -> None:
        if log_file:
            with open(log_file, "a") as f:
                f.write(line + "\n")

    # every stage run has its log, opened and closed here, with the traceback of a failure,
    # wherever it ran: on Ray only the stages that logged progress had one, and no failed
    # run (an outsider: 9 logs for 21 stage runs)
    log(f"{stage} on {env}: settings {json.dumps(settings, default=str)}"
        + (f"; input {upstream['run_dir']}" if upstream else ""))
    t0 = time.perf_counter()
    try:
        if upstream is not None and not Path(upstream["run_dir"]).is_dir():
            raise NeuroqError(f"the {stage} stage cannot see its input {upstream['run_dir']}: "
                              "on a cluster, --out must be a folder every node sees at the "
                              "same path")
        summary = RUNNERS[stage](env, settings, upstream, Path(out_root), log)
    except BaseException:
        log(traceback.format_exc().rstrip())
        raise
    wall_s = round(time.perf_counter() - t0, 2)
    log(f"finished in {wall_s} s: {summary.get('run_dir', '')}")
    return {"stage": stage, **summary, "wall_s": wall_s}
