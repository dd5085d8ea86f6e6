"""`neuroq tune`: DQN hyperparameter search with Optuna, its trials run on Ray.

Search. Optuna's TPE sampler (Bergstra et al. 2011; `constant_liar` so that trials running
at once are not sampled alike) proposes hyperparameters from a search space (`DEFAULT_SPACE`
or a YAML file of the sweep spec's distributions); each trial trains one DQN with
`agents/train.py train_one` (every other setting from the env's section of config/dqn.yaml,
or the default section) and its objective is result.json's `mean_return`: the chosen
checkpoint's mean return over the report episodes (seeds 20,000 + (seed mod 1000) + i,
`neuroq.deploy.seeds.first_seed("train_report", seed)`, never used for training or
checkpoint selection).

Pruning. After every selection evaluation (every eval_freq steps) the trial reports its
mean return; Optuna's median pruner stops a trial whose return is below the median of
earlier trials at the same step (after PRUNER_STARTUP_TRIALS complete trials, and never at
the first evaluation). A stopped trial's run folder is removed.

Execution. The study lives in one process on this machine (a Ray actor pinned to the
driver's node, or this process with `serial=True`) and is the only writer of its journal
file; trials run as Ray tasks (one CPU each) and talk to it through the actor. The search
keeps `workers` trials running until the study holds `n_trials` finished trials.

Files of <out>/<env>/tune-<name>/:

    study.journal     the Optuna study (JournalStorage file): a rerun with the same name and
                      --out resumes it, up to --trials finished trials in all
    settings.yaml     env, steps, seed and search space the study was started with
    best.yaml         the best settings as a ready config section for config/dqn.yaml
    trials.csv        every trial: number, state, value, parameters, run folder
    result.json       the best trial, counts, wall time
    trials/           the train run folders of the trials (pruned ones removed)
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from neuroq.agents import hyperparams
from neuroq.agents.hyperparams import DQNConfig, Hyperparameters
from neuroq.agents.runs import (
    earlier_wall_s,
    env_folder,
    oversubscribed,
    read_yaml_mapping,
    resolved_path,
    stored_path,
)
from neuroq.agents.sweep_spec import (
    MAX_TRIALS,
    Distribution,
    parse_distribution,
    with_numbers,
)
from neuroq.deploy.errors import NeuroqError, load_yaml, read_text_file, yaml_problem
from neuroq.deploy.seeds import first_seed, seed_span

STUDY_FILE = "study.journal"
STUDY_NAME = "neuroq-dqn"
RERUN_OF = "rerun_of"
"""User attribute of a trial queued again for one an interrupted search left running."""
#: Complete trials before the median pruner may stop one (Optuna's default).
PRUNER_STARTUP_TRIALS = 5
#: Random trials before TPE models the results (Optuna's default).
TPE_STARTUP_TRIALS = 10
#: The search space (keys: DQNConfig fields, plus `gradient_ratio`: gradient steps per
#: environment step, gradient_steps = max(1, round(train_freq * gradient_ratio))). Ranges
#: around the RL Baselines3 Zoo's DQN settings for the classic control tasks.
DEFAULT_SPACE: dict[str, Any] = {
    "learning_rate": {"loguniform": [1.0e-4, 1.0e-2]},
    "batch_size": [32, 64, 128, 256],
    "buffer_size": [10_000, 50_000, 100_000],
    "learning_starts": [0, 1000, 5000],
    "gamma": [0.95, 0.98, 0.99, 0.995],
    "target_update_interval": [10, 100, 250, 600, 1000],
    "train_freq": [1, 4, 16, 64, 256],
    "gradient_ratio": [0.125, 0.25, 0.5, 1.0],
    "exploration_fraction": {"uniform": [0.05, 0.5]},
    "exploration_final_eps": {"uniform": [0.01, 0.2]},
    "net_arch": [[64, 64], [128, 128], [256, 256]],
}
DERIVED = ("gradient_ratio",)


class TrialPruned(Exception):  # noqa: N818 - it is not an error: the search stopped it
    """Raised inside a trial's training when the pruner stops it."""


def parse_space(data: Any, source: str = "search space") -> dict[str, Distribution]:
    """Distributions per hyperparameter (`{kind: [...]}` or a list of choices)."""
    if not isinstance(data, dict) or not data:
        raise NeuroqError(f"{source}: expected a mapping of hyperparameters to distributions")
    names = {f.name for f in dataclasses.fields(DQNConfig)} | set(DERIVED)
    space = {}
    for key, value in data.items():
        if key not in names:
            raise NeuroqError(f"{source}: unknown hyperparameter {key!r} "
                              f"(known: {', '.join(sorted(names))})")
        # numbers as the sweep spec reads them (YAML 1.1 reads 1e-4 as a string: an
        # outsider's loguniform [1e-4, 1e-2] was "low <= high, got ['1e-4', '1e-2']")
        dist = parse_distribution(with_numbers(value), f"{source} [{key}]")
        _check_extremes(str(key), dist, f"{source} [{key}]")
        space[str(key)] = dist
    return space


def _check_extremes(key: str, dist: Distribution, where: str) -> None:
    """NeuroqError when a value the distribution can draw (a choice, or an end of its
    range) is not one the hyperparameter takes, before any study exists (an outsider's
    gamma {uniform: [0.5, 3]} was refused only once its study folder held a failed trial,
    and gradient_ratio [0, -1] trained with -1)."""
    values = dist.args if dist.kind == "choice" else dist.args[:2]
    for value in values:
        if key == "gradient_ratio":
            ok = (isinstance(value, int | float) and not isinstance(value, bool)
                  and math.isfinite(value) and value > 0)
            if not ok:
                raise NeuroqError(f"{where}: gradient_ratio must be a number > 0 (gradient "
                                  f"steps per environment step), got {value!r}")
        else:
            hyperparams.check_value(key, value, where)


def load_space(path: str | os.PathLike | None) -> dict[str, Distribution]:
    """The search space in the YAML file at `path` (None: `DEFAULT_SPACE`); NeuroqError (one
    line) for a file that cannot be read as text (`read_text_file`: "search space <path>
    ..."), is not valid YAML or is not a valid space."""
    if path is None:
        return parse_space(DEFAULT_SPACE, "the default search space")
    text = read_text_file(path, "search space")
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise NeuroqError(f"search space {path} is not valid YAML {yaml_problem(exc)}") from None
    return parse_space(data, str(path))


def _choice_label(value: Any) -> Any:
    """Optuna's categorical choices must be None, bool, int, float or str: lists -> JSON."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else (
        json.dumps(value))


def suggest(trial: Any, space: dict[str, Distribution]) -> dict[str, Any]:
    """Sample the space through an Optuna trial; return the hyperparameters (derived keys
    resolved) as DQNConfig values."""
    params: dict[str, Any] = {}
    for name, d in space.items():
        if d.kind == "choice":
            labels = [_choice_label(v) for v in d.args]
            label = trial.suggest_categorical(name, labels)
            params[name] = d.args[labels.index(label)]
        elif d.kind == "int":
            params[name] = trial.suggest_int(name, *d.args)
        else:
            params[name] = trial.suggest_float(name, *d.args, log=d.kind == "loguniform")
    return params


def apply(base: DQNConfig, params: dict[str, Any]) -> DQNConfig:
    """`base` with the sampled `params` (checked as a config section would be)."""
    from neuroq.agents import hyperparams

    params = dict(params)
    ratio = params.pop("gradient_ratio", None)
    values = {**base.to_dict(), **params}
    if ratio is not None:
        values["gradient_steps"] = max(1, round(values["train_freq"] * ratio))
    return hyperparams.parse_config({"tune": values}, "tune", "sampled settings")


class StudyKeeper:
    """The study and its journal: ask, report, tell. One instance, in one process."""

    def __init__(self, folder: str, seed: int, startup_trials: int = PRUNER_STARTUP_TRIALS,
                 warmup_steps: int = 0) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        self.folder = Path(folder)
        storage = JournalStorage(JournalFileBackend(str(Path(folder) / STUDY_FILE)))
        self.study = optuna.create_study(
            study_name=STUDY_NAME, storage=storage, direction="maximize", load_if_exists=True,
            pruner=optuna.pruners.MedianPruner(n_startup_trials=startup_trials,
                                               n_warmup_steps=warmup_steps))
        # a resumed study seeds its sampler past the trials it holds: the same seed would
        # propose the same first settings again
        self.study.sampler = optuna.samplers.TPESampler(
            seed=seed + len(self.study.get_trials(deepcopy=False)),
            n_startup_trials=TPE_STARTUP_TRIALS, constant_liar=True)
        self.running: dict[int, Any] = {}

    def fail_stale(self) -> int:
        """Mark trials left RUNNING by an interrupted search as failed, and queue a trial
        with the same parameters for each (user attribute RERUN_OF: the interrupted one's
        number), which the next `ask` takes; return how many. A rerun of an interrupted
        search ran none of them again (they counted as finished: an outsider)."""
        from optuna.trial import TrialState

        stale = [t for t in self.study.get_trials(deepcopy=False)
                 if t.state == TrialState.RUNNING and t.number not in self.running]
        for t in stale:
            self.study.tell(t.number, state=TrialState.FAIL)
            self.study.enqueue_trial(t.params, user_attrs={RERUN_OF: t.number})
        return len(stale)

    def _rerun(self) -> set[int]:
        """Numbers of the interrupted trials queued again."""
        return {t.user_attrs[RERUN_OF] for t in self.study.get_trials(deepcopy=False)
                if RERUN_OF in t.user_attrs}

    def finished(self) -> int:
        """Trials that ran to an end (complete, pruned, failed), the interrupted ones queued
        again not counted."""
        from optuna.trial import TrialState

        ended = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        rerun = self._rerun()
        return sum(t.state in ended and t.number not in rerun
                   for t in self.study.get_trials(deepcopy=False))

    def ask(self, space: dict[str, Distribution], base: dict[str, Any]) -> tuple[int, dict]:
        """A new trial: its number and full hyperparameters (DQNConfig.to_dict())."""
        trial = self.study.ask()
        params = suggest(trial, space)
        try:
            cfg = apply(DQNConfig.from_dict(base), params)
        except NeuroqError as exc:  # a space that yields invalid settings: fail the trial
            self.study.tell(trial, state=_state("FAIL"))
            raise exc
        trial.set_user_attr("hyperparameters", cfg.to_dict())
        self.running[trial.number] = trial
        return trial.number, cfg.to_dict()

    def report(self, number: int, step: int, value: float) -> bool:
        """Record an intermediate return; True when the trial should stop."""
        trial = self.running[number]
        trial.report(value, step)
        return bool(trial.should_prune())

    def tell(self, number: int, outcome: dict[str, Any]) -> None:
        trial = self.running.pop(number)
        for key in ("run_dir", "error", "pruned_at_step"):
            if outcome.get(key) is not None:
                # a run folder relative to the study's: a study moved or copied elsewhere
                # still finds its trials' runs (as a sweep's stage runs)
                trial.set_user_attr(key, stored_path(outcome[key], self.folder)
                                    if key == "run_dir" else outcome[key])
        if outcome["state"] == "complete":
            self.study.tell(trial, outcome["value"])
        else:
            self.study.tell(trial, state=_state("PRUNED" if outcome["state"] == "pruned"
                                                else "FAIL"))

    def trials(self) -> list[dict[str, Any]]:
        """Every trial as a plain row (for trials.csv and the driver)."""
        rows = []
        rerun = self._rerun()
        for t in self.study.get_trials(deepcopy=False):
            state = "interrupted" if t.number in rerun else t.state.name.lower()
            rows.append({"number": t.number, "state": state, "value": t.value,
                         **{f"param_{k}": v for k, v in t.params.items()},
                         "run_dir": resolved_path(t.user_attrs.get("run_dir"), self.folder),
                         "error": t.user_attrs.get("error"),
                         RERUN_OF: t.user_attrs.get(RERUN_OF),
                         "hyperparameters": t.user_attrs.get("hyperparameters")})
        return rows


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]


def _call(keeper: Any, method: str, *args: Any) -> Any:
    """Call `keeper.method(*args)`, through Ray when `keeper` is an actor handle."""
    fn = getattr(keeper, method)
    if hasattr(fn, "remote"):
        import ray

        return ray.get(fn.remote(*args))
    return fn(*args)


def run_trial(env_id: str, number: int, hyperparameters: dict[str, Any], seed: int,
              out_root: str, defaults: bool, keeper: Any) -> dict[str, Any]:
    """Train one trial (in a Ray worker or in this process); never raises: the outcome is
    {"state": complete | pruned | fail, "value", "run_dir", "error", "pruned_at_step"}."""
    from neuroq.agents.runs import read_json
    from neuroq.agents.train import train_one

    cfg = DQNConfig.from_dict(hyperparameters)
    pruned_at: list[int] = []

    def on_eval(step: int, value: float) -> None:
        if _call(keeper, "report", number, step, value):
            pruned_at.append(step)
            raise TrialPruned(f"pruned at step {step}")

    try:
        run = train_one(env_id, seed, cfg, out_root, defaults=defaults, on_eval=on_eval)
    except TrialPruned:
        return {"state": "pruned", "value": None, "pruned_at_step": pruned_at[-1]}
    except Exception as exc:  # noqa: BLE001 - a failed trial is recorded, not fatal
        return {"state": "fail", "value": None, "error": f"{type(exc).__name__}: {exc}"[:500]}
    value = float(read_json(run / "result.json")["mean_return"])
    if not math.isfinite(value):
        return {"state": "fail", "value": None, "run_dir": str(run),
                "error": "the mean return is not finite"}
    return {"state": "complete", "value": value, "run_dir": str(run)}


@dataclass(frozen=True)
class TuneResult:
    folder: Path
    best: dict[str, Any] | None
    best_yaml: Path | None
    trials: list[dict[str, Any]]
    wall_s: float
    held_out: dict[str, Any] | None = None  # the best trial on held-out episodes


def check_study_name(name: str, what: str = "--name ") -> str:
    """`name` if it can name the study folder tune-<name> inside the env folder: not empty,
    no path separator, no "..", no control character; else NeuroqError (its message starts
    with `what`, how the name was given)."""
    bad = [c for c in ("/", "\\", "..") if c in name]
    if not name.strip() or bad or any(ord(c) < 32 for c in name):
        why = f"it holds {' and '.join(map(repr, bad))}" if bad else "it is empty or unprintable"
        raise NeuroqError(f"{what}{name!r} cannot name the study folder tune-<name> ({why}); "
                          "use a plain name such as dqn or lr-search")
    return name


def _check_set_not_searched(overrides: list[str], space: dict[str, Distribution]) -> None:
    """NeuroqError for a --set of a setting the space draws: the trial's draw replaced it
    without a word (an outsider's --set learning_rate=0.1 trained at 0.00125)."""
    drawn = set(space) | ({"gradient_steps"} if "gradient_ratio" in space else set())
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key in drawn:
            what = ("gradient_steps follows gradient_ratio, which the search space draws"
                    if key == "gradient_steps" and key not in space
                    else f"the search space draws {key}")
            raise NeuroqError(f"--set {key}: {what}, so each trial's value would replace it; "
                              "leave it out of --set, or give a --space without it")


def _learning_starts_within(space: dict[str, Distribution], steps: int, default: bool,
                            say: Callable[[str], None]) -> dict[str, Distribution]:
    """The space, with the default space's learning_starts choices at or above `steps`
    (n_timesteps) left out and said: a trial drawing them trained without a gradient step
    (an outsider's --steps 4000 drew 5000; its score -3.52, no word). A space of the
    user's that can draw such a value is refused (NeuroqError)."""
    dist = space.get("learning_starts")
    if dist is None:
        return space
    if dist.kind == "choice":
        too_late = [v for v in dist.args if isinstance(v, int | float) and v >= steps]
        low = min((v for v in dist.args if isinstance(v, int | float)), default=0)
    else:
        too_late, low = ([dist.args[1]] if dist.args[1] >= steps else []), dist.args[0]
    if not too_late:
        return space
    if default and dist.kind == "choice" and low < steps:
        kept = tuple(v for v in dist.args if v not in too_late)
        say(f"tune: the default space's learning_starts {', '.join(map(str, too_late))} "
            f"left out: with {steps} steps no gradient step would follow")
        return {**space, "learning_starts": Distribution("choice", kept)}
    raise NeuroqError(f"the search space's learning_starts reaches {too_late[0]:g}, at or above "
                      f"the {steps} training steps: a trial drawing it would make no gradient "
                      "step; keep learning_starts below the steps")


def tune_dir(env_id: str, name: str, out_root: str | os.PathLike) -> Path:
    return Path(out_root) / env_folder(env_id) / f"tune-{check_study_name(name)}"


def _check_settings(folder: Path, settings: dict[str, Any]) -> None:
    """Write settings.yaml for a new study; refuse to resume one begun with others."""
    path = folder / "settings.yaml"
    if path.exists():
        old = read_yaml_mapping(path)
        if old != settings:
            changed = []  # the keys inside `base` too ("(base differ)" named none, an outsider)
            for k in sorted(set(old) | set(settings)):
                a, b = old.get(k), settings.get(k)
                if a == b:
                    continue
                if isinstance(a, dict) and isinstance(b, dict):
                    changed += [f"{k}.{sub}" for sub in sorted(set(a) | set(b))
                                if a.get(sub) != b.get(sub)]
                else:
                    changed.append(k)
            raise NeuroqError(f"{folder} holds a study begun with other settings "
                              f"({', '.join(changed)} differ); give another --name to start "
                              "a new one")
        return
    path.write_text(yaml.safe_dump(settings, sort_keys=False))


def write_outputs(folder: Path, env_id: str, trials: list[dict[str, Any]], settings: dict,
                  wall_s: float, held_out: dict[str, Any] | None = None
                  ) -> tuple[dict[str, Any] | None, Path | None]:
    """trials.csv, best.yaml and result.json from the study's trials; held_out: the best
    trial's return on held-out episodes (`held_out_return`), once the search has ended."""
    params = sorted({k for t in trials for k in t if k.startswith("param_")})
    # rerun_of: the interrupted trial a trial runs again (docs/scale.md listed it; it was
    # never written, an outsider)
    cols = ["number", "state", "value", *params, "run_dir", RERUN_OF, "error"]
    with open(folder / "trials.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for t in trials:
            w.writerow({k: ("" if t.get(k) is None else _csv(t.get(k))) for k in cols})
    best = best_trial(trials)
    best_yaml = None
    if best is not None:
        best_yaml = folder / "best.yaml"
        counts = {s: sum(t["state"] == s for t in trials) for s in ("complete", "pruned", "fail")}
        held = ("" if held_out is None else
                f"\n# Held out (not seen by the search): mean return "
                f"{held_out['mean_return']:.2f} +- {held_out['std_return']:.2f} over "
                f"{held_out['episodes']} episodes, seeds {seed_span(held_out['seeds'])}."
                if "mean_return" in held_out else
                f"\n# Held out: not played ({held_out.get('error')}).")
        header = (f"# neuroq tune on {env_id}: trial {best['number']} is the best of "
                  f"{counts['complete']} complete trials ({counts['pruned']} pruned, "
                  f"{counts['fail']} failed).\n# Objective (it chose this trial, so it "
                  f"flatters it): mean return {best['value']:.2f} over the report episodes "
                  f"of seed {settings['seed']} (seeds "
                  f"{first_seed('train_report', settings['seed'])} + i).{held}\n# Paste "
                  "into config/dqn.yaml.\n")
        best_yaml.write_text(header + yaml.safe_dump({env_id: best["hyperparameters"]},
                                                     sort_keys=False, default_flow_style=None))
    from neuroq.agents.runs import write_json

    write_json(folder / "result.json", {
        "env_id": env_id, "settings": settings, "trials": len(trials),
        "states": {s: sum(t["state"] == s for t in trials)
                   for s in ("complete", "pruned", "fail", "interrupted", "running")},
        "best": None if best is None else {**{k: best[k] for k in
                                              ("number", "value", "hyperparameters", "run_dir")},
                                           "held_out": held_out},
        "wall_s": round(wall_s, 2), "study": STUDY_FILE, "study_name": STUDY_NAME})
    return best, best_yaml


def _csv(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def run_tune(env_id: str, n_trials: int, out_root: str | os.PathLike = "runs",
             name: str = "dqn", steps: int | None = None, seed: int = 0, workers: int = 2,
             space: dict[str, Distribution] | None = None,
             hyperparameters: Hyperparameters | None = None,
             overrides: list[str] | None = None, address: str | None = None,
             serial: bool = False, startup_trials: int = PRUNER_STARTUP_TRIALS,
             show_progress: bool = True, say: Callable[[str], None] = print) -> TuneResult:
    """Run (or resume) the search until the study holds `n_trials` finished trials.

    space: the search space as `load_space` reads it (default: `DEFAULT_SPACE`);
    hyperparameters: the settings not searched, as `load_hyperparameters(env_id, file)`
    reads them (default: the shipped file's). The command reads both files before it calls
    this, so a wrong file is one line before Ray starts, and each is read once."""
    from neuroq.agents import hyperparams
    from neuroq.agents.runs import ensure_writable, held_lock
    from neuroq.agents.train import check_env_id, check_randomizations, training_warnings

    if not isinstance(n_trials, int) or not 1 <= n_trials <= MAX_TRIALS:
        raise NeuroqError(f"--trials must be an integer in [1, {MAX_TRIALS:,}] (as a sweep's "
                          f"trials), got {n_trials!r}")
    if not isinstance(workers, int) or workers < 1:
        raise NeuroqError(f"--workers must be an integer >= 1, got {workers!r}")
    check_study_name(name)
    check_env_id(env_id, reset=True)
    default_space = space is None
    space = space if space is not None else load_space(None)
    loaded = (hyperparameters if hyperparameters is not None
              else hyperparams.load_hyperparameters(env_id))
    _check_set_not_searched(overrides or [], space)
    base = hyperparams.override(loaded.config, hyperparams.with_steps(overrides or [], steps))
    space = _learning_starts_within(space, base.n_timesteps, default_space, say)
    check_randomizations(env_id, base)  # before the study's folder and settings are made
    for warning in training_warnings(env_id, base, searched=frozenset(space)):
        say(f"tune: warning: {warning}")
    folder = ensure_writable(tune_dir(env_id, name, out_root)).resolve()
    (folder / "trials").mkdir(exist_ok=True)
    settings = {"env_id": env_id, "seed": seed, "base": base.to_dict(),
                "default_hyperparameters": loaded.defaults,
                "space": {k: {d.kind: list(d.args)} for k, d in space.items()},
                "sampler": f"TPE (seed {seed}, {TPE_STARTUP_TRIALS} random startup trials, "
                           "constant liar)",
                "pruner": f"median ({startup_trials} startup trials, never at the first "
                          "evaluation)"}
    # one search of a study at a time: a second marked the first's running trials failed
    # and queued them again (a reviewer)
    with held_lock(folder, f"the study {folder} is being searched by another neuroq tune "
                           "now: one at a time (or give another --name)"):
        _check_settings(folder, settings)
        # wall times include the study's earlier sessions
        t0 = time.perf_counter() - earlier_wall_s(folder / "result.json")

        def save(keeper: Any) -> list[dict[str, Any]]:
            """Rewrite trials.csv, best.yaml and result.json (after every finished trial, so an
            interrupted search leaves them current)."""
            trials = _call(keeper, "trials")
            write_outputs(folder, env_id, trials, settings, time.perf_counter() - t0)
            return trials

        if serial:
            keeper: Any = StudyKeeper(str(folder), seed, startup_trials, 2 * base.eval_freq)
            _search(keeper, None, env_id, n_trials, space, base, seed, folder, loaded.defaults,
                    workers, show_progress, say, save)
            trials = keeper.trials()
        else:
            from neuroq.agents.ray_session import ray_session

            crowded = None if address else oversubscribed(min(workers, n_trials), "trials")
            if crowded:
                say(f"tune {env_id}: warning: {crowded}")
            with ray_session(workers, address) as ray:
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(),
                                                      soft=False)
                actor = ray.remote(num_cpus=0)(StudyKeeper).options(
                    scheduling_strategy=here).remote(str(folder), seed, startup_trials,
                                                     2 * base.eval_freq)
                _search(actor, ray, env_id, n_trials, space, base, seed, folder, loaded.defaults,
                        workers, show_progress, say, save)
                trials = ray.get(actor.trials.remote())
        wall_s = time.perf_counter() - t0
        before = _stored_held_out(folder)  # of the same best trial: not played again
        best = best_trial(trials)
        held = None
        if best is not None:
            held = before.get(best["run_dir"])
            if held is None:
                try:
                    held = held_out_return(best["run_dir"], env_id)
                except Exception as exc:  # noqa: BLE001 - the search stands: said, recorded
                    held = {"error": " ".join(str(exc).split())}
                    say(f"tune: warning: the best trial's held-out episodes were not played: "
                        f"{held['error']}")
        best, best_yaml = write_outputs(folder, env_id, trials, settings, wall_s, held)
        return TuneResult(folder, best, best_yaml, trials, wall_s, held)


def best_trial(trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The complete trial of the highest objective (the first of equal ones), None if none."""
    done = [t for t in trials if t["state"] == "complete" and t["value"] is not None]
    return max(done, key=lambda t: t["value"]) if done else None


def _stored_held_out(folder: Path) -> dict[str, dict[str, Any]]:
    """{run folder: held-out result} of the best trial a study's result.json records (a
    rerun with the same best plays its held-out episodes once); {} if none."""
    from neuroq.agents.runs import read_json

    try:
        best = read_json(folder / "result.json").get("best") or {}
    except (NeuroqError, OSError, AttributeError):
        return {}
    held = best.get("held_out")
    return ({best["run_dir"]: held} if isinstance(held, dict) and "mean_return" in held
            and best.get("run_dir") else {})


def objective_seeds(best: dict[str, Any]) -> str:
    """"seeds 20000..20099, 100 episodes": the report episodes a trial's objective is the
    mean over (its train run's report_seed and episodes), "" where they are not known."""
    from neuroq.agents.runs import read_json

    try:
        result = read_json(Path(best["run_dir"]) / "result.json")
        first, n = int(result["report_seed"]), int(result["episodes"])
    except (NeuroqError, OSError, KeyError, TypeError, ValueError):
        return "seeds not known"
    return f"seeds {seed_span([first, first + n - 1])}, {n} episodes"


def held_out_return(run_dir: str | os.PathLike, env_id: str) -> dict[str, Any]:
    """The return of a trial's DQN (its train run's chosen model) on held-out episodes
    (seeds HELD_OUT_BASE + i, as many as its objective's report episodes): the objective
    chose the best trial, so it is not an estimate of how the winner plays (an outsider's
    best beat the runner-up by 0.66002 to 0.65985 on the very episodes that chose it)."""
    from neuroq.agents.convert import open_train_run
    from neuroq.agents.train import saved_greedy_act
    from neuroq.deploy.rollout import run_episodes
    from neuroq.deploy.seeds import HELD_OUT_BASE

    train = open_train_run(run_dir)
    episodes = int(train.result.get("episodes", 20))
    # the trial's Q-network read without running anything from its zip (an outsider's
    # study pointed its best trial at a zip of their own: SB3's DQN.load ran its pickle),
    # played as the train run's own report plays it: SB3's actions (tested)
    returns = run_episodes(env_id, saved_greedy_act(train.model_path), episodes,
                           HELD_OUT_BASE).returns
    return {"mean_return": float(returns.mean()), "std_return": float(returns.std()),
            "episodes": episodes, "seeds": [HELD_OUT_BASE, HELD_OUT_BASE + episodes - 1]}


def _search(keeper: Any, ray: Any, env_id: str, n_trials: int, space: dict, base: DQNConfig,
            seed: int, folder: Path, defaults: bool, workers: int, show_progress: bool,
            say: Callable[[str], None], save: Callable[[Any], Any]) -> None:
    """Keep `workers` trials running until the study has `n_trials` finished ones."""
    from tqdm.auto import tqdm

    stale = _call(keeper, "fail_stale")
    finished = _call(keeper, "finished")
    say(f"tune {env_id}: {finished} of {n_trials} trials finished before"
        + (f" ({stale} left running by an interrupted search: run again with their "
           "parameters)" if stale else "")
        + f"; {max(0, n_trials - finished)} to run, "
        + ("one after another in this process" if ray is None else f"{workers} at once on Ray")
        + f"; folder {folder}")
    # into a stderr that is no terminal (a log file, a pipe), a line per trial instead
    lines = show_progress and not sys.stderr.isatty()
    bar = tqdm(total=n_trials, initial=min(finished, n_trials), desc=f"tune {env_id}",
               unit="trial", disable=not show_progress or lines, dynamic_ncols=True)

    def ended(number: int, outcome: dict[str, Any]) -> None:
        bar.update(1)
        if lines:
            value = outcome.get("value")
            shown = f", mean return {value:.4g}" if isinstance(value, (int, float)) else ""
            print(f"tune {env_id}: trial {number} {outcome.get('state')}{shown}; {finished} "
                  f"of {n_trials} finished", file=sys.stderr, flush=True)
    out = str(folder / "trials")
    base_dict = base.to_dict()
    try:
        if ray is None:
            while finished < n_trials:
                number, hp = keeper.ask(space, base_dict)
                outcome = run_trial(env_id, number, hp, seed, out, defaults, keeper)
                keeper.tell(number, outcome)
                finished += 1
                ended(number, outcome)
                save(keeper)
            return
        task = ray.remote(num_cpus=1, max_retries=0)(run_trial)
        in_flight: dict[Any, int] = {}
        while finished < n_trials:
            while len(in_flight) < workers and finished + len(in_flight) < n_trials:
                number, hp = ray.get(keeper.ask.remote(space, base_dict))
                in_flight[task.remote(env_id, number, hp, seed, out, defaults, keeper)] = number
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                number = in_flight.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a worker that died: a failed trial
                    from neuroq.agents.ray_session import error_line

                    outcome = {"state": "fail", "value": None, "error": error_line(exc)}
                ray.get(keeper.tell.remote(number, outcome))
                finished += 1
                ended(number, outcome)
                save(keeper)
    finally:
        bar.close()
