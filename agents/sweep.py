"""`neuroq sweep`: the trials of a sweep spec, run on Ray, resumable, gathered in one table.

Plan. Each trial is a chain of stage runs (train -> convert -> finetune -> export -> eval
[-> energy]). A stage run is identified by its stage, its settings and those of every stage
before it (a hash, `node_key`), so trials that share a prefix share its runs: an
encoder x T grid over one training setting trains one DQN, not one per trial.

Execution. Every stage run is one Ray task (one CPU). This process schedules them (list
scheduling, `_run_plan`): whenever one of the instance's CPUs is free (the spec's `workers`
on a local instance), it starts the ready stage run (its input finished) of the largest
trial (`trial_size`: the product of its time steps, epochs, steps and episodes), so the
long trials start first and the short ones fill the end. `serial=True` runs the same stage
runs one after another in this process, without Ray (the baseline of the throughput figure
in docs/scale.md). Each stage calls its library function
(agents/sweep_stages.py) and writes the usual run folder under <sweep>/trials/.

Files of a sweep folder, <out>/<env>/sweep-<name>/:

    spec.yaml              the spec as run
    stages/<key>.json      one per finished stage run: its summary (run folder, figures)
    trials.json            every trial: settings, status (ok | failed | pending), its stage
                           runs, the error of a failed one
    results.csv, results.md   the table, one row per trial
    pareto.png             return against synaptic events and MODELED energy per action
    logs/<key>.log         what each stage run printed

Resume: a rerun of the same spec (same name, same --out) loads stages/*.json and runs only
the stage runs that have not finished, so finished trials are skipped and failed ones are
tried again. A failure is recorded in trials.json and the table; it stops only the trials
that need that stage run.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from neuroq.agents.ray_session import error_line
from neuroq.agents.runs import (
    earlier_wall_s,
    env_folder,
    oversubscribed,
    read_json,
    resolved_path,
    stored_path,
    write_json,
)
from neuroq.agents.sweep_spec import SweepSpec, Trial, settings_key
from neuroq.deploy.errors import NeuroqError, counted

STATE_DIR = "stages"
LOG_DIR = "logs"
TRIALS_DIR = "trials"
#: Seconds between checks for finished tasks (a progress bar update at most this late).
POLL_S = 1.0
#: Settings that scale a stage run's work about in proportion: SNN time steps, fine-tuning
#: epochs and DAgger steps, training steps, recorded steps and episodes (`trial_size`).
SIZE_SETTINGS = ("timesteps", "total_timesteps", "epochs", "dagger_steps", "record_steps",
                 "episodes", "eval_episodes", "validation_episodes", "gate_episodes")


@dataclass(frozen=True)
class StageRun:
    """One stage run of the plan: which trials need it and the stage run it needs."""

    key: str
    stage: str
    settings: dict[str, Any]
    parent: str | None
    train_run: str | None = None


@dataclass
class Plan:
    """The stage runs of a spec and, per trial, its chain of stage-run keys."""

    spec: SweepSpec
    trials: list[Trial]
    runs: dict[str, StageRun] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)


def node_key(env: str, train_run: str | None, chain: list[tuple[str, dict]]) -> str:
    """The id of a stage run: its env, starting run and every stage's settings up to it."""
    return settings_key({"env": env, "train_run": train_run, "chain": chain})


def make_plan(spec: SweepSpec) -> Plan:
    """Split the spec's trials into shared stage runs."""
    plan = Plan(spec, spec.trials())
    for trial in plan.trials:
        chain: list[tuple[str, dict]] = []
        keys: list[str] = []
        for stage in spec.stages:
            chain.append((stage, trial.settings[stage]))
            key = f"{stage}-{node_key(spec.env, trial.train_run, chain)}"
            plan.runs.setdefault(key, StageRun(key, stage, trial.settings[stage],
                                               keys[-1] if keys else None, trial.train_run))
            keys.append(key)
        plan.chains[trial.trial_id] = keys
    return plan


def sweep_dir(spec: SweepSpec, out_root: str | os.PathLike) -> Path:
    """The sweep's folder: fixed by the spec's name and env, so a rerun finds it."""
    return Path(out_root) / env_folder(spec.env) / f"sweep-{spec.name}"


def _load_done(folder: Path) -> dict[str, dict[str, Any]]:
    done = {}
    for p in sorted((folder / STATE_DIR).glob("*.json")):
        try:  # capped, no deeper than JSON can nest (a /dev/zero link and 200,000 '['
            summary = read_json(p)  # were a MemoryError and a RecursionError: an outsider)
        except NeuroqError:
            continue  # half-written by an interrupted run (or no state at all): run it again
        if not isinstance(summary, dict):
            continue
        summary = {k: resolved_path(v, folder) if k in PATH_KEYS else v
                   for k, v in summary.items()}
        if summary.get("run_dir") and Path(str(summary["run_dir"])).is_dir():
            done[p.stem] = summary
    return done


@dataclass
class Outcome:
    """What happened to each stage run: summaries of finished ones, errors of failed ones."""

    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepResult:
    """What `run_sweep` made."""

    folder: Path
    rows: list[dict[str, Any]]
    table_csv: Path
    table_md: Path
    plot: Path | None
    wall_s: float
    ran: int
    skipped: int

    @property
    def failed(self) -> int:
        return sum(r["status"] == "failed" for r in self.rows)


def _trial_state(plan: Plan, trial: Trial, outcome: Outcome) -> tuple[str, str | None]:
    for key in plan.chains[trial.trial_id]:
        if key in outcome.failed:
            return "failed", f"{plan.runs[key].stage}: {outcome.failed[key]}"
        if key not in outcome.done:
            return "pending", None
    return "ok", None


class _Progress:
    """A trial-level progress bar: a trial counts once all its stage runs ended. Into a
    stderr that is no terminal (a log file, a pipe), a line per trial ended instead (the
    bar's carriage returns made one unreadable line of a redirected log: an outsider)."""

    def __init__(self, plan: Plan, outcome: Outcome, show: bool) -> None:
        from tqdm.auto import tqdm

        self.plan, self.outcome = plan, outcome
        self.counted: set[str] = set()
        self.lines = show and not sys.stderr.isatty()
        self.bar = tqdm(total=len(plan.trials), desc=f"sweep {plan.spec.name}", unit="trial",
                        disable=not show or self.lines, dynamic_ncols=True)
        self.update(quiet=True)

    def update(self, quiet: bool = False) -> None:
        states = {t.trial_id: _trial_state(self.plan, t, self.outcome)[0]
                  for t in self.plan.trials}
        failed = sum(state == "failed" for state in states.values())
        for t in self.plan.trials:
            if t.trial_id not in self.counted and states[t.trial_id] != "pending":
                self.counted.add(t.trial_id)
                self.bar.update(1)
                if self.lines and not quiet:
                    print(f"sweep {self.plan.spec.name}: trial {t.index} "
                          f"{states[t.trial_id]}; {len(self.counted)} of "
                          f"{len(self.plan.trials)} ended, {failed} failed", file=sys.stderr,
                          flush=True)
        self.bar.set_postfix(failed=failed)

    def close(self) -> None:
        self.bar.close()


PATH_KEYS = ("run_dir", "artifact", "energy_report")
"""The fields of a stage run's summary (neuroq.agents.sweep_stages) that name files or
folders: kept relative to the sweep's folder where they lie inside it."""


def _record(folder: Path, key: str, summary: dict[str, Any], outcome: Outcome) -> None:
    """A finished stage run: its state file names its run folder, artifact and report
    (PATH_KEYS) relative to the sweep's where they lie inside it (`_load_done` reads them
    back), so a sweep folder that is moved or copied elsewhere still finds its finished
    runs, and a later stage its own copy's artifact (it ran them all again: an outsider's
    left item; a copy would have evaluated the original's artifact: a review)."""
    kept = {k: stored_path(v, folder) if k in PATH_KEYS else v for k, v in summary.items()}
    write_json(folder / STATE_DIR / f"{key}.json", kept)
    outcome.done[key] = summary


def _todo(plan: Plan, outcome: Outcome) -> list[StageRun]:
    """Stage runs still to run, parents before children."""
    return [r for r in plan.runs.values() if r.key not in outcome.done]


def trial_size(settings: dict[str, dict[str, Any]]) -> float:
    """A trial's size: the product of its SIZE_SETTINGS (a value below 1, or one that is not
    a number, counts as 1). A rough proxy for its run time, used only to order the work."""
    size = 1.0
    for stage_settings in settings.values():
        for name in SIZE_SETTINGS:
            value = stage_settings.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 1:
                size *= float(value)
    return size


def priorities(plan: Plan) -> dict[str, float]:
    """Each stage run's priority: the size of the largest trial that needs it."""
    rank: dict[str, float] = {}
    for trial in plan.trials:
        size = trial_size(trial.settings)
        for key in plan.chains[trial.trial_id]:
            rank[key] = max(rank.get(key, 0.0), size)
    return rank


class _InProcess:
    """Runs a stage run at once in this process (`--serial`): one slot."""

    slots = 1

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.results: dict[int, tuple[dict[str, Any] | None, str | None]] = {}

    def submit(self, plan: Plan, run: StageRun, upstream: dict[str, Any] | None) -> int:
        from neuroq.agents.sweep_stages import run_stage

        handle = len(self.results)
        try:
            summary = run_stage(run.stage, plan.spec.env, run.settings, upstream,
                                str(self.folder / TRIALS_DIR),
                                str(self.folder / LOG_DIR / f"{run.key}.log"))
        except Exception as exc:  # noqa: BLE001 - a failed trial is recorded, not fatal
            self.results[handle] = (None, error_line(exc))  # (run_stage logged it)
        else:
            self.results[handle] = (summary, None)
        return handle

    def finished(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any] | None, str | None]]:
        return [(h, *self.results.pop(h)) for h in handles]


class _OnRay:
    """Runs stage runs as Ray tasks of one CPU each; as many slots as the instance has CPUs
    now (a local instance: the spec's workers; a cluster: read again at every scheduling
    step, so nodes that join are used). Work is not queued beyond those CPUs, so an
    autoscaler that adds nodes for pending tasks is not triggered: start the nodes first."""

    def __init__(self, folder: Path, ray: Any) -> None:
        from neuroq.agents.sweep_stages import run_stage

        self.folder, self.ray = folder, ray
        self.task = ray.remote(num_cpus=1, max_retries=0)(run_stage)

    @property
    def slots(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def submit(self, plan: Plan, run: StageRun, upstream: dict[str, Any] | None) -> Any:
        return self.task.remote(run.stage, plan.spec.env, run.settings, upstream,
                                str(self.folder / TRIALS_DIR),
                                str(self.folder / LOG_DIR / f"{run.key}.log"))

    def finished(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any] | None, str | None]]:
        ready, _ = self.ray.wait(handles, num_returns=1, timeout=POLL_S)
        out = []
        for ref in ready:
            try:
                out.append((ref, self.ray.get(ref), None))
            except Exception as exc:  # noqa: BLE001 - a failed trial is recorded, not fatal
                out.append((ref, None, error_line(exc)))
        return out


def _run_plan(plan: Plan, folder: Path, outcome: Outcome, progress: _Progress,
              runner: _InProcess | _OnRay) -> None:
    """List scheduling: whenever a slot is free, start the ready stage run (its input
    finished) of the highest priority (`priorities`: largest trial first; ties in spec
    order). Largest first lets the short trials fill the end, where two workers would
    otherwise wait on one long trial started last. A failed run fails the runs after it."""
    rank = priorities(plan)
    pending = {r.key: r for r in _todo(plan, outcome)}
    running: dict[Any, str] = {}
    while pending or running:
        for key, run in list(pending.items()):
            if run.parent is not None and run.parent in outcome.failed:
                outcome.failed[key] = outcome.failed[run.parent]
                del pending[key]
        ready = sorted((r for r in pending.values()
                        if r.parent is None or r.parent in outcome.done),
                       key=lambda r: -rank[r.key])
        free = runner.slots - len(running) if ready else 0
        for run in ready[:max(0, free)]:
            del pending[run.key]
            running[runner.submit(plan, run, _upstream(plan, run, outcome))] = run.key
        if not running:
            progress.update()  # runs failed for their input after the last one ended
            break
        ended = runner.finished(list(running))
        for handle, summary, error in ended:
            key = running.pop(handle)
            if error is None:
                _record(folder, key, summary, outcome)
            else:
                outcome.failed[key] = error
        if ended:
            progress.update()


def _upstream(plan: Plan, run: StageRun, outcome: Outcome) -> dict[str, Any] | None:
    if run.parent is not None:
        return outcome.done[run.parent]
    if run.train_run is not None:  # the sweep starts at convert from a finished run
        return {"run_dir": str(Path(run.train_run).resolve())}
    return None


def run_sweep(spec: SweepSpec, out_root: str | os.PathLike = "runs", address: str | None = None,
              serial: bool = False, show_progress: bool = True,
              say: Callable[[str], None] = print) -> SweepResult:
    """Run (or resume) the sweep; write its folder and return the table (module docstring)."""
    from neuroq.agents.runs import ensure_writable, held_lock
    from neuroq.agents.sweep_report import write_tables
    from neuroq.agents.train import check_env_id

    try:
        check_env_id(spec.env, reset=True)
    except NeuroqError as exc:  # named as the spec names it
        raise NeuroqError(f"{spec.source} env: {exc}") from None
    from neuroq.agents.convert import open_train_run

    for train_run in spec.train_runs:
        if open_train_run(train_run).env_id != spec.env:
            raise NeuroqError(f"train run {train_run} is not a run on {spec.env}")
    plan = make_plan(spec)
    folder = ensure_writable(sweep_dir(spec, out_root)).resolve()
    # one run of a sweep folder at a time: two ran every stage twice, each writing the
    # tables last as it ended (an outsider); `neuroq tune` refused the same already
    with held_lock(folder, f"the sweep {folder} is being run by another neuroq sweep now: "
                           "one at a time (or give the spec another name, or --out)"):
        for sub in (STATE_DIR, LOG_DIR, TRIALS_DIR):
            (folder / sub).mkdir(exist_ok=True)
        (folder / "spec.yaml").write_text(yaml.safe_dump(spec.raw, sort_keys=False))
        outcome = Outcome(done={k: v for k, v in _load_done(folder).items() if k in plan.runs})
        skipped = sum(_trial_state(plan, t, outcome)[0] == "ok" for t in plan.trials)
        todo = _todo(plan, outcome)
        how = "one after another in this process" if serial else (
            f"on Ray at {address}" if address else f"on a local Ray, {spec.workers} workers")
        say(f"sweep {spec.name}: {counted(len(plan.trials), 'trial')}, "
            f"{counted(len(plan.runs), 'stage run')} ({len(todo)} to run, "
            f"{len(outcome.done)} already finished), {how}; folder {folder}")
        crowded = None if serial or address else oversubscribed(
            min(spec.workers, max(len(todo), 1)), "stage runs")
        if crowded:
            say(f"sweep {spec.name}: warning: {crowded}")
        progress = _Progress(plan, outcome, show_progress)
        earlier = earlier_wall_s(folder / "trials.json")
        t0 = time.perf_counter()
        try:
            if todo and serial:
                _run_plan(plan, folder, outcome, progress, _InProcess(folder))
            elif todo:
                from neuroq.agents.ray_session import ray_session

                with ray_session(spec.workers, address) as ray:
                    _run_plan(plan, folder, outcome, progress, _OnRay(folder, ray))
        finally:
            progress.close()
            wall_s = earlier + time.perf_counter() - t0  # every session of the sweep
            rows = _rows(plan, outcome)
            write_json(folder / "trials.json", {"spec": spec.raw, "wall_s": round(wall_s, 2),
                                                "trials": rows})
        csv_path, md_path, plot = write_tables(folder, spec, rows)
        return SweepResult(folder, rows, csv_path, md_path, plot, wall_s, len(todo), skipped)


def _rows(plan: Plan, outcome: Outcome) -> list[dict[str, Any]]:
    """One row per trial: its point, status, error and the figures of its stage runs."""
    rows = []
    for trial in plan.trials:
        status, error = _trial_state(plan, trial, outcome)
        row: dict[str, Any] = {"trial": trial.index, "trial_id": trial.trial_id,
                               **trial.point, "status": status, "error": error}
        wall = 0.0
        for key in plan.chains[trial.trial_id]:
            summary = outcome.done.get(key)
            if summary is None:
                continue
            stage = summary["stage"]
            row.update({k: v for k, v in summary.items()
                        if k not in ("stage", "run_dir", "wall_s")})
            row[f"{stage}_run"] = summary["run_dir"]
            wall += float(summary.get("wall_s", 0.0))
        row["wall_s"] = round(wall, 2)
        rows.append(row)
    return rows


def check_workers(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise NeuroqError(f"--workers must be an integer >= 1, got {value!r}")
    return value
