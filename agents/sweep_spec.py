"""The sweep spec: which settings of which stages a `neuroq sweep` varies, and its trials.

A spec is a YAML file:

    name: cartpole-encoder-T        # the sweep's folder, <out>/<env>/sweep-<name>/ (default:
                                    # the spec file's name without .yaml)
    env: CartPole-v1                # an env reference (neuroq.deploy.envref)
    gym_package: my_pkg             # optional: import it first (env becomes my_pkg:<env>)
    stages: [train, convert, finetune, export, eval]   # a prefix of STAGES (default: to eval)
    train_run: runs/CartPole-v1/train-seed0-...        # optional: start at convert from it
                                    # (a list of train runs: one set of trials per run)
    workers: 2                      # trials run at once (default: 2)
    fixed:                          # settings every trial shares, per stage
      train: {n_timesteps: 20000}
      finetune: {epochs: 8}
    grid:                           # every combination of these lists ...
      convert.encoder: [population, rate]
      convert.timesteps: [4, 6, 8]
    random:                         # ... times `samples` draws of these (seeded by `seed`)
      samples: 4
      seed: 0
      params:
        train.learning_rate: {loguniform: [1.0e-4, 1.0e-2]}
        finetune.spike_penalty: {uniform: [0.0, 0.5]}
        train.seed: {int: [0, 99]}
        convert.encoder: {choice: [population, rate]}   # a plain list is a choice too

Settings are `stage.key`. Keys per stage (`STAGE_KEYS`): train takes `seed` and every
hyperparameter of config/dqn.yaml (agents/hyperparams.py); convert, finetune, export, eval
and energy take the arguments of their library function (agents/convert.py run_convert,
agents/finetune.py FinetuneConfig, agents/export.py export, agents/evaluate.py
evaluate_artifact, agents/energy energy_report). Unknown stages or keys are one-line errors.

Trials: the train runs (when `train_run` is a list) times the grid's product (one empty
point without a grid) times the random draws (one empty draw without `random`); a trial's
settings are `fixed` updated by its point. The
random draws come from numpy's default_rng(seed), so a rerun of the same spec draws the same
trials: that, and trial ids that are hashes of their settings, is what lets a rerun resume.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError, load_yaml, read_text_file, yaml_problem

#: The stages a sweep can run, in pipeline order; each needs the one before it.
STAGES = ("train", "convert", "finetune", "export", "eval", "energy")
DEFAULT_STAGES = STAGES[:5]
DEFAULT_WORKERS = 2
#: Settings each stage takes besides those of DQNConfig (train).
STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "train": ("seed",),
    "convert": ("encoder", "timesteps", "eval_timesteps", "percentile", "n_per_dim", "width",
                "record_steps", "eval_episodes", "seed"),
    "finetune": ("epochs", "batch_size", "lr", "spike_penalty", "dagger_steps",
                 "validation_episodes", "train_thresholds", "loss", "gamma",
                 "td_initial_steps", "seed", "randomize", "eval_episodes"),
    "export": ("eval_episodes", "gate", "gate_episodes", "force"),
    "eval": ("episodes", "seed", "backend", "performance_level", "static_scope", "max_steps",
             "board_ip"),
    "energy": ("episodes", "seed", "max_steps", "latency_samples", "probe_gpu"),
}
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "int")
MAX_INT_BOUND = 10**15
"""Largest |bound| of an `int` distribution (numpy draws int64; an outsider's {int: [0,
1e30]} was a traceback): far above any count a setting takes."""
MAX_TRIALS = 10_000
"""Most trials a spec may make: each runs its stages, minutes each, so more is a mistake (an
outsider's 20 x 10^4 grid took 1 GB of memory and wrote a 57 MB trials.json before its
first trial; with `random: {samples: 1000}` on top it printed nothing for two minutes)."""
TOP_KEYS = ("name", "env", "gym_package", "stages", "train_run", "workers", "fixed", "grid",
            "random")


def stage_keys(stage: str) -> tuple[str, ...]:
    """The settings `stage` accepts."""
    if stage == "train":
        import dataclasses

        from neuroq.agents.hyperparams import DQNConfig

        return STAGE_KEYS["train"] + tuple(f.name for f in dataclasses.fields(DQNConfig))
    return STAGE_KEYS[stage]


def split_key(dotted: str, where: str) -> tuple[str, str]:
    """('stage', 'key') of 'stage.key', or NeuroqError naming what is wrong."""
    stage, sep, key = str(dotted).partition(".")
    if not sep or not key:
        raise NeuroqError(f"{where}: setting {dotted!r} must be written stage.key "
                          f"(stages: {', '.join(STAGES)})")
    if stage not in STAGES:
        raise NeuroqError(f"{where}: unknown stage {stage!r} in {dotted!r} "
                          f"(stages: {', '.join(STAGES)})")
    if key not in stage_keys(stage):
        raise NeuroqError(f"{where}: {stage} has no setting {key!r} "
                          f"(it has: {', '.join(sorted(stage_keys(stage)))})")
    return stage, key


@dataclass(frozen=True)
class Distribution:
    """One random setting: kind in DISTRIBUTIONS and its arguments."""

    kind: str
    args: tuple[Any, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        if self.kind == "choice":
            return self.args[int(rng.integers(len(self.args)))]
        lo, hi = self.args
        if self.kind == "uniform":
            return float(rng.uniform(lo, hi))
        if self.kind == "loguniform":
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return int(rng.integers(lo, hi + 1))  # int: both ends included


def parse_distribution(value: Any, where: str) -> Distribution:
    """A Distribution from `[a, b, ...]` (choice) or `{kind: args}`."""
    if isinstance(value, list):
        value = {"choice": value}
    if not isinstance(value, dict) or len(value) != 1:
        raise NeuroqError(f"{where}: expected a list of choices or one of "
                          f"{{{', '.join(DISTRIBUTIONS)}: ...}}, got {value!r}")
    (kind, args), = value.items()
    if kind not in DISTRIBUTIONS:
        raise NeuroqError(f"{where}: unknown distribution {kind!r} "
                          f"(choose from {', '.join(DISTRIBUTIONS)})")
    if not isinstance(args, list) or not args:
        raise NeuroqError(f"{where}: {kind} takes a non-empty list, got {args!r}")
    if kind == "choice":
        return Distribution(kind, tuple(args))
    if len(args) != 2 or not all(_is_number(a) for a in args) or not args[0] <= args[1]:
        raise NeuroqError(f"{where}: {kind} takes [low, high] with low <= high, got {args!r}")
    if kind == "loguniform" and not args[0] > 0:
        raise NeuroqError(f"{where}: loguniform needs low > 0, got {args!r}")
    if kind == "int" and not all(float(a).is_integer() for a in args):
        raise NeuroqError(f"{where}: int takes integer bounds, got {args!r}")
    if kind == "int" and not all(abs(a) <= MAX_INT_BOUND for a in args):
        raise NeuroqError(f"{where}: int takes bounds within +-{MAX_INT_BOUND:.0e}, got "
                          f"{args!r}")
    if kind == "uniform" and not math.isfinite(float(args[1]) - float(args[0])):
        raise NeuroqError(f"{where}: uniform takes [low, high] whose width is a finite "
                          f"number, got {args!r}")
    lo, hi = (int(a) for a in args) if kind == "int" else (float(a) for a in args)
    return Distribution(kind, (lo, hi))


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _number(value: Any) -> Any:
    """YAML 1.1 reads 1e-3 (no dot) as a string: read it as the number it means (an
    integer where it is one and has no dot: 2e4 is 20000, as a count takes it)."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        whole = number.is_integer() and "." not in value
        return int(number) if whole else number
    return value


def with_numbers(value: Any) -> Any:
    """`value` (parsed YAML) with string keys, lists for tuples, and numbers written as
    strings ("1e-3") read as numbers (`_number`)."""
    if isinstance(value, dict):
        return {str(k): with_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [with_numbers(v) for v in value]
    return _number(value)


def settings_key(obj: Any) -> str:
    """A short stable hash of JSON-able settings (the id of trials and stage runs)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Trial:
    """One combination: per-stage settings (`fixed` plus its point) and the point itself."""

    index: int
    point: dict[str, Any]
    settings: dict[str, dict[str, Any]]
    train_run: str | None = None

    @property
    def trial_id(self) -> str:
        return settings_key({"train_run": self.train_run, **self.settings})


@dataclass(frozen=True)
class SweepSpec:
    """A parsed spec (see the module docstring)."""

    name: str
    env: str
    stages: tuple[str, ...]
    fixed: dict[str, dict[str, Any]]
    grid: dict[str, list[Any]]
    random: dict[str, Distribution]
    samples: int = 1
    random_seed: int = 0
    train_runs: tuple[str, ...] = ()
    workers: int = DEFAULT_WORKERS
    source: str = "<spec>"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def varied(self) -> list[str]:
        """The settings the trials differ in, in spec order."""
        runs = ["train_run"] if len(self.train_runs) > 1 else []
        return [*runs, *self.grid, *(k for k in self.random if k not in self.grid)]

    def trials(self) -> list[Trial]:
        """Every trial of the spec, in a stable order."""
        keys = list(self.grid)
        points = [dict(zip(keys, combo, strict=True))
                  for combo in itertools.product(*(self.grid[k] for k in keys))] or [{}]
        rng = np.random.default_rng(self.random_seed)
        draws = [{k: d.sample(rng) for k, d in self.random.items()}
                 for _ in range(self.samples)] if self.random else [{}]
        out = []
        for run in self.train_runs or (None,):
            for point in ({**g, **r} for g in points for r in draws):
                settings = {s: dict(self.fixed.get(s, {})) for s in self.stages}
                for dotted, value in point.items():
                    stage, key = dotted.split(".", 1)
                    settings[stage][key] = value
                shown = {"train_run": run, **point} if len(self.train_runs) > 1 else point
                out.append(Trial(len(out), shown, settings, run))
        return out


def parse_spec(data: Any, source: str = "<spec>", default_name: str = "sweep") -> SweepSpec:
    """Check a loaded spec mapping and return the SweepSpec (NeuroqError on any problem)."""
    from neuroq.deploy.envref import with_package

    if not isinstance(data, dict):
        raise NeuroqError(f"{source}: a sweep spec is a mapping (see docs/scale.md)")
    unknown = sorted(set(map(str, data)) - set(TOP_KEYS))
    if unknown:
        raise NeuroqError(f"{source}: unknown key {unknown[0]!r} (keys: {', '.join(TOP_KEYS)})")
    if not isinstance(data.get("env"), str):
        raise NeuroqError(f"{source}: 'env' (an env id) is required")
    env = with_package(data["env"], data.get("gym_package"))
    given = data.get("stages", list(DEFAULT_STAGES))
    if isinstance(given, str):  # `stages: train`: one stage, as a list of one
        given = [given]
    if given is None or given == []:  # `stages:` or `stages: []` ran the whole pipeline
        raise NeuroqError(f"{source}: stages names no stage (leave the key out for "
                          f"{', '.join(DEFAULT_STAGES)})")
    if not isinstance(given, list):
        raise NeuroqError(f"{source}: stages must be a list of stages, got {given!r}")
    stages = tuple(given)
    unknown_stages = [s for s in stages if s not in STAGES]
    if unknown_stages:
        raise NeuroqError(f"{source}: unknown stage {unknown_stages[0]!r} in stages "
                          f"(stages: {', '.join(STAGES)})")
    train_runs = _parse_train_runs(data.get("train_run"), source)
    train_run = bool(train_runs)
    first = 1 if train_run else 0
    if not train_run and stages and stages == STAGES[1:1 + len(stages)]:
        raise NeuroqError(f"{source}: stages {list(stages)} start at convert, which needs "
                          "the train run(s) to convert: give train_run in the spec or "
                          "--train-run RUN (or add train to stages)")
    if stages != STAGES[first:first + len(stages)] or not stages:
        want = ("convert, finetune, ... in order: a train_run is given, so the sweep "
                "starts at convert" if train_run else "train, convert, ... in order")
        raise NeuroqError(f"{source}: stages must be a prefix of the pipeline ({want}), "
                          f"got {list(stages)}")
    if "name" in data and not (isinstance(data["name"], str) and data["name"].strip()):
        raise NeuroqError(f"{source}: name must be a non-empty string (leave it out for "
                          f"{default_name!r}, the file's name), got {data['name']!r}")
    name = str(data.get("name") or default_name)
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise NeuroqError(f"{source}: name {name!r} may hold letters, digits, '-', '_', '.'")
    workers = data.get("workers", DEFAULT_WORKERS)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise NeuroqError(f"{source}: workers must be an integer >= 1, got {workers!r}")
    for key in ("grid", "fixed"):  # `grid: {}` ran one trial of the defaults (an outsider)
        if key in data and data[key] in ({}, [], None):
            raise NeuroqError(f"{source}: '{key}' is empty: leave the key out"
                              + (" for one trial of the fixed settings" if key == "grid"
                                 else ""))
    fixed = _parse_fixed(data.get("fixed") or {}, stages, source)
    grid = _parse_grid(data.get("grid") or {}, stages, source)
    _check_hyperparameters(fixed, grid, source)
    random, samples, seed = _parse_random(data.get("random"), stages, source)
    for dotted in [*grid, *random]:  # the grid's (or the draw's) value won without a word
        stage, key = dotted.split(".", 1)
        if key in fixed.get(stage, {}):
            raise NeuroqError(f"{source}: {dotted} is both fixed and "
                              f"{'in grid' if dotted in grid else 'drawn in random'}: give "
                              "it in one place")
    both = sorted(set(grid) & set(random))
    if both:
        raise NeuroqError(f"{source}: {both[0]} is both in grid and drawn in random: give it "
                          "in one place")
    n_trials = (max(len(train_runs), 1) * math.prod(len(v) for v in grid.values())
                * (samples if random else 1))
    if n_trials > MAX_TRIALS:  # 200,000 took 1 GB and a 57 MB trials.json before any ran
        raise NeuroqError(f"{source}: {n_trials:,} trials, more than {MAX_TRIALS:,}: each "
                          "trial runs its stages (minutes each); narrow the grid, or draw "
                          "fewer random samples")
    _check_randomizations(env, fixed, grid, random, source)
    spec = SweepSpec(name, env, stages, fixed, grid, random, samples, seed,
                     train_runs, workers, source, with_numbers(data))
    _check_trials(spec)
    return spec


def _check_trials(spec: SweepSpec) -> None:
    """Each trial's settings as each stage's own function checks them
    (`sweep_stages.check_stage`), so that a value a stage refuses fails the spec in one
    line naming the trial, not that stage of every trial after its upstream stages ran."""
    from neuroq.agents.sweep_stages import check_stage

    for trial in spec.trials():
        for stage, settings in trial.settings.items():
            try:
                check_stage(stage, settings, spec.env)
            except NeuroqError as exc:
                point = ", ".join(f"{k}={v!r}" for k, v in trial.point.items())
                raise NeuroqError(f"{spec.source} trial {trial.index}"
                                  f"{f' ({point})' if point else ''}, {stage}: {exc}") from None


def _parse_train_runs(value: Any, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    runs = value if isinstance(value, list) else [value]
    if not runs or not all(isinstance(r, str) and r for r in runs):
        raise NeuroqError(f"{source}: train_run is a train run folder or a list of them, "
                          f"got {value!r}")
    _refuse_repeats([os.path.realpath(r) for r in runs], f"{source}: train_run")
    return tuple(runs)


def _check_hyperparameters(fixed: dict[str, dict], grid: dict[str, list], source: str) -> None:
    """Check every fixed and grid value of a DQN hyperparameter as config/dqn.yaml would."""
    from neuroq.agents.hyperparams import parse_config

    values = [("fixed.train", k, v) for k, v in fixed.get("train", {}).items() if k != "seed"]
    values += [(f"grid.{k}[{i}]", k.split(".", 1)[1], v) for k, vs in grid.items()
               if k.startswith("train.") and k != "train.seed" for i, v in enumerate(vs)]
    for where, key, value in values:  # "spec.yaml [grid.train.gamma[1]]: gamma = 2.0 ..."
        parse_config({where: {key: value}}, where, source)


RANDOMIZATIONS = ("train.randomize", "train.select_randomize", "finetune.randomize")
"""The settings that hold a domain randomization (`neuroq.envs.perturb.RandomizationSpec`)."""


def _check_randomizations(env: str, fixed: dict[str, dict], grid: dict[str, list],
                          random: dict[str, Distribution], source: str) -> None:
    """Check every randomization a trial can get (fixed, each grid value, each choice)
    against the spec's env as train and finetune check theirs (`randomization_for`), so
    that a physics parameter the env does not have fails the spec, not every trial."""
    from neuroq.agents.hyperparams import checked_randomization

    for dotted in RANDOMIZATIONS:
        stage, key = dotted.split(".", 1)
        given = [(f"fixed.{dotted}", fixed[stage][key])] if key in fixed.get(stage, {}) else []
        given += [(f"grid.{dotted}[{i}]", v) for i, v in enumerate(grid.get(dotted, []))]
        dist = random.get(dotted)
        if dist is not None and dist.kind == "choice":
            given += [(f"random.{dotted}", v) for v in dist.args]
        for where, value in given:
            checked_randomization(env, value, f"{source} {where}")


def _check_in_stages(stage: str, stages: tuple[str, ...], where: str) -> None:
    if stage not in stages:
        raise NeuroqError(f"{where}: stage {stage} is not run by this sweep "
                          f"(stages: {', '.join(stages)})")


def _parse_fixed(fixed: Any, stages: tuple[str, ...], source: str) -> dict[str, dict]:
    if not isinstance(fixed, dict):
        raise NeuroqError(f"{source}: 'fixed' maps stages to their settings")
    out: dict[str, dict] = {}
    for stage, values in fixed.items():
        where = f"{source} fixed.{stage}"
        if stage not in STAGES:
            raise NeuroqError(f"{where}: unknown stage (stages: {', '.join(STAGES)})")
        _check_in_stages(stage, stages, where)
        if not isinstance(values, dict):
            raise NeuroqError(f"{where}: expected a mapping of settings")
        if not values:  # `fixed: {train: {}}` ran the defaults, as `fixed: {}` did
            raise NeuroqError(f"{where} is empty: leave it out")
        for key in values:
            split_key(f"{stage}.{key}", f"{source} fixed")
        out[stage] = with_numbers(values)
    return out


def _parse_grid(grid: Any, stages: tuple[str, ...], source: str) -> dict[str, list]:
    if not isinstance(grid, dict):
        raise NeuroqError(f"{source}: 'grid' maps stage.key to a list of values")
    out = {}
    for dotted, values in grid.items():
        stage, _ = split_key(dotted, f"{source} grid")
        _check_in_stages(stage, stages, f"{source} grid.{dotted}")
        if not isinstance(values, list) or not values:
            raise NeuroqError(f"{source} grid.{dotted}: expected a non-empty list of values")
        out[str(dotted)] = with_numbers(values)
        _refuse_repeats(out[str(dotted)], f"{source} grid.{dotted}")
    return out


def _refuse_repeats(values: list[Any], where: str) -> None:
    """NeuroqError for a value listed twice: its trials would repeat others (an outsider's
    `train.seed: [0, 0]` ran two trials of one stage run; `train --seeds 0 0` is refused)."""
    seen: set[str] = set()
    for v in values:
        key = json.dumps(v, sort_keys=True, default=str)
        if key in seen:
            raise NeuroqError(f"{where} lists {v!r} twice: give each value once")
        seen.add(key)


def _parse_random(random: Any, stages: tuple[str, ...],
                  source: str) -> tuple[dict[str, Distribution], int, int]:
    if random is None:
        return {}, 1, 0
    if not isinstance(random, dict) or not isinstance(random.get("params"), dict):
        raise NeuroqError(f"{source}: 'random' needs 'params' (stage.key: distribution), "
                          "'samples' and optionally 'seed'")
    samples, seed = random.get("samples"), random.get("seed", 0)
    for label, v, least in (("samples", samples, 1), ("seed", seed, 0)):
        if not isinstance(v, int) or isinstance(v, bool) or v < least:
            raise NeuroqError(f"{source}: random.{label} must be an integer >= {least}, "
                              f"got {v!r}")
    extra = sorted(set(random) - {"params", "samples", "seed"})
    if extra:
        raise NeuroqError(f"{source}: random has no key {extra[0]!r}")
    if not random["params"]:  # its samples drew nothing: one trial, samples ignored
        raise NeuroqError(f"{source}: random.params is empty: name a setting to draw, or "
                          "leave 'random' out")
    params = {}
    for dotted, value in random["params"].items():
        stage, _ = split_key(dotted, f"{source} random")
        _check_in_stages(stage, stages, f"{source} random.{dotted}")
        params[str(dotted)] = parse_distribution(with_numbers(value), f"{source} random.{dotted}")
    return params, samples, seed


def load_spec(path: str | os.PathLike, train_run: list[str] | None = None) -> SweepSpec:
    """Read and check the spec file at `path` (`train_run` replaces the spec's); NeuroqError
    (one line) for a file that cannot be read as text (`read_text_file`: "sweep spec
    <path> ..."), is not valid YAML or is not a valid spec."""
    import yaml

    text = read_text_file(path, "sweep spec")
    p = Path(path)
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise NeuroqError(f"{p} is not valid YAML {yaml_problem(exc)}") from None
    if train_run and isinstance(data, dict):
        data = {**data, "train_run": list(train_run)}
    return parse_spec(data, str(p), p.stem)
