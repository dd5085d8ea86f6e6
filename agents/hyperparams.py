"""DQN hyperparameters per environment, read from a YAML file and validated.

The file maps Gymnasium env ids to a flat set of keys, the fields of `DQNConfig`. An env id
without a section gets the `default` section (documented in config/dqn.yaml), flagged as
defaults so that run folders say so. Every problem (malformed YAML, unknown key, wrong type,
out-of-range value) raises `NeuroqError` naming the file, the section and the key. No torch.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from neuroq.deploy.errors import NeuroqError, load_yaml, read_text_file, yaml_problem
from neuroq.deploy.paths import shipped_data

#: The shipped file's name (config/dqn.yaml in a source checkout, share/neuroq/config/dqn.yaml
#: in an install: neuroq.deploy.paths finds it); `--config` points elsewhere.
DEFAULT_CONFIG_NAME = "dqn.yaml"


def default_config_path() -> Path:
    """The shipped hyperparameter file of this install (NeuroqError if it ships none)."""
    return shipped_data().config_file(DEFAULT_CONFIG_NAME)


@dataclass(frozen=True)
class DQNConfig:
    """Hyperparameters of one training run (see config/dqn.yaml for what each means)."""

    n_timesteps: int = 50_000
    learning_rate: float = 1e-4
    batch_size: int = 32
    buffer_size: int = 100_000
    learning_starts: int = 1000
    gamma: float = 0.99
    tau: float = 1.0
    target_update_interval: int = 10_000
    train_freq: int = 4
    gradient_steps: int = 1
    exploration_fraction: float = 0.1
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.05
    max_grad_norm: float = 10.0
    net_arch: tuple[int, ...] = field(default=(64, 64))
    eval_freq: int = 5000
    n_eval_episodes: int = 20
    final_eval_episodes: int = 100
    #: domain randomization of the training episodes (neuroq.envs.perturb.RandomizationSpec
    #: as a mapping: obs_noise, action_delay, drop, physics, obs_delay); empty: clean training
    randomize: dict[str, Any] = field(default_factory=dict)
    #: perturbation of checkpoint selection (same form): when set, a checkpoint's score is
    #: the mean of n_eval_episodes clean and n_eval_episodes perturbed selection episodes,
    #: so the kept checkpoint is the one that also holds up; empty: selection under
    #: `randomize`
    select_randomize: dict[str, Any] = field(default_factory=dict)

    def sb3_kwargs(self) -> dict[str, Any]:
        """The arguments of `stable_baselines3.DQN` this config sets."""
        skip = {"n_timesteps", "net_arch", "eval_freq", "n_eval_episodes", "final_eval_episodes",
                "randomize", "select_randomize"}
        kw = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        kw["policy_kwargs"] = {"net_arch": list(self.net_arch)}
        return kw

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["net_arch"] = list(self.net_arch)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DQNConfig:
        """The config of a mapping of its fields, as `to_dict()` writes them (net_arch a
        list, made a tuple again); a field `d` leaves out keeps its default, an unknown key
        is a TypeError. Values are taken as they are: `parse_hyperparameters` checks a
        file's."""
        values = dict(d)
        if "net_arch" in values:
            values["net_arch"] = tuple(values["net_arch"])
        return cls(**values)


# (minimum, inclusive) per numeric field; gradient_steps -1 means "as many as env steps".
_MINIMUM: dict[str, float] = {
    "n_timesteps": 1, "learning_rate": 0.0, "batch_size": 1, "buffer_size": 1,
    "learning_starts": 0, "gamma": 0.0, "tau": 0.0, "target_update_interval": 1,
    "train_freq": 1, "gradient_steps": -1, "exploration_fraction": 0.0,
    "exploration_initial_eps": 0.0, "exploration_final_eps": 0.0, "max_grad_norm": 0.0,
    "eval_freq": 1, "n_eval_episodes": 1, "final_eval_episodes": 1,
}
#: The most steps a training run may ask for: 20 times a full Atari DQN run (50 M agent
#: steps, 200 M frames; Mnih et al., Nature 518, 2015). An outsider's --steps 1e15 started
#: without a word, a run of about 600,000 years at this machine's 20 s per 10k steps, with
#: the exploration schedule (a fraction of n_timesteps) random throughout.
MAX_TRAIN_STEPS = 10**9
FLOAT32_MAX = 3.4028234663852886e38
"""Largest float32: every numeric hyperparameter goes into torch's float32 or an int64."""
#: episode counts bounded by the room in their seed range (neuroq.deploy.seeds.check_room)
_SEED_RANGE = {"n_eval_episodes": "train_selection", "final_eval_episodes": "train_report"}
_AT_MOST_ONE = {"gamma", "tau", "exploration_fraction", "exploration_initial_eps",
                "exploration_final_eps"}


def check_value(name: str, value: Any, where: str) -> Any:
    """`value` for the hyperparameter `name`, checked and converted to its type, or a
    NeuroqError naming `where` (config sections, --set, sweep and tune spaces)."""
    fields = {f.name: f for f in dataclasses.fields(DQNConfig)}
    if name not in fields:
        known = ", ".join(sorted(fields))
        raise NeuroqError(f"{where}: unknown hyperparameter '{name}' (known: {known})")
    if name in ("randomize", "select_randomize"):
        from neuroq.envs.perturb import RandomizationSpec

        try:
            return RandomizationSpec.from_dict(value).to_dict() if value else {}
        except ValueError as exc:
            raise NeuroqError(f"{where}: {exc}") from None
    if name == "net_arch":
        if (not isinstance(value, list) or not value
                or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0
                           for w in value)):
            raise NeuroqError(
                f"{where}: net_arch must be a list of positive integers, got {value!r}")
        return tuple(value)
    want = type(getattr(DQNConfig, name))
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NeuroqError(f"{where}: {name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise NeuroqError(f"{where}: {name} must be a finite number, got {value!r}")
    if abs(value) > FLOAT32_MAX:  # torch trains in float32: 1e82 failed inside the trial
        raise NeuroqError(f"{where}: {name} = {value!r} is too large for float32, in which "
                          "the DQN trains")
    if want is int and (not isinstance(value, int)):
        if float(value).is_integer():
            value = int(value)
        else:
            raise NeuroqError(f"{where}: {name} must be an integer, got {value!r}")
    value = want(value)
    lo = _MINIMUM[name]
    if value < lo or (name in _AT_MOST_ONE and value > 1):
        rng = f"[{lo}, 1]" if name in _AT_MOST_ONE else f">= {lo}"
        raise NeuroqError(f"{where}: {name} = {value} is out of range ({rng})")
    if name == "n_timesteps" and value > MAX_TRAIN_STEPS:
        raise NeuroqError(f"{where}: {name} = {value:,} is more than {MAX_TRAIN_STEPS:,} steps "
                          "(20 times a full Atari DQN run; at tens of thousands of steps a "
                          "minute it would not end)")
    if name in _SEED_RANGE:
        from neuroq.deploy.seeds import check_room

        check_room(f"{where}: {name}", value, _SEED_RANGE[name])
    return value


#: The section an env id without its own section gets (config/dqn.yaml documents its
#: values); a file without it gives such an env the DQNConfig field defaults.
DEFAULT_SECTION = "default"


@dataclass(frozen=True)
class Hyperparameters:
    """A config and where it came from: `defaults` is True when the file had no section for
    the env and the default hyperparameters were used (recorded in run folders)."""

    config: DQNConfig
    defaults: bool
    source: str


def parse_hyperparameters(data: Any, env_id: str, source: str = "<config>") -> Hyperparameters:
    """The hyperparameters for `env_id` from the parsed YAML mapping `data`: its section, or
    the `default` section (or the DQNConfig defaults) when it has none."""
    if not isinstance(data, dict):
        raise NeuroqError(f"{source}: expected a mapping of env ids to hyperparameters")
    key = env_id if env_id in data else DEFAULT_SECTION
    section = data.get(key) or {}
    if not isinstance(section, dict):
        raise NeuroqError(f"{source}: the section for {key} must be a mapping")
    # where the values come from: a file without a `default` section gives neuroq's own
    # (an outsider's file with one section, named otherwise, was said to give "[default]")
    where = (f"{source} [{key}]" if key in data else
             f"neuroq's built-in defaults ({source} has no section {env_id} and no "
             f"{DEFAULT_SECTION} section; sections: {', '.join(map(str, data)) or 'none'})")
    values = {str(k): check_value(str(k), v, where) for k, v in section.items()}
    return Hyperparameters(DQNConfig.from_dict(values), key != env_id, where)


def parse_config(data: Any, env_id: str, source: str = "<config>") -> DQNConfig:
    """Build the `DQNConfig` for `env_id` from the parsed YAML mapping `data`."""
    return parse_hyperparameters(data, env_id, source).config


def load_config(env_id: str, path: str | os.PathLike | None = None) -> DQNConfig:
    """Read the YAML file at `path` (default: the shipped dqn.yaml) and return `env_id`'s
    config (the default hyperparameters when the file has no section for it)."""
    return load_hyperparameters(env_id, path).config


def load_hyperparameters(env_id: str, path: str | os.PathLike | None = None) -> Hyperparameters:
    """`load_config` that also says whether the default hyperparameters were used.
    NeuroqError (one line) for a file that cannot be read as text (`read_text_file`: "config
    file <path> ..."), is not valid YAML or holds a bad value."""
    source = path if path is not None else default_config_path()
    text = read_text_file(source, "config file")
    p = Path(source)
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise NeuroqError(f"{p} is not valid YAML {yaml_problem(exc)}") from None
    return parse_hyperparameters(data, env_id, str(p))


def override(config: DQNConfig, assignments: list[str], source: str = "--set") -> DQNConfig:
    """Apply `key=value` strings (values parsed as YAML) on top of `config`."""
    changes: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise NeuroqError(f"{source} expects key=value, got {item!r}")
        if key.strip() in changes:  # last-wins would hide a typo or a leftover
            raise NeuroqError(f"{source}: {key.strip()} given more than once")
        try:
            value = load_yaml(raw)
        except yaml.YAMLError:
            raise NeuroqError(f"{source}: cannot parse the value of {key}: {raw!r}") from None
        changes[key.strip()] = check_value(key.strip(), value, source)
    return dataclasses.replace(config, **changes)


def with_steps(assignments: list[str], steps: int | None) -> list[str]:
    """`--set` assignments with `--steps N` as n_timesteps=N (train, tune, demo); both
    setting n_timesteps is refused (one of them would be dropped without a word)."""
    if not steps:
        return list(assignments)
    if any(item.partition("=")[0].strip() == "n_timesteps" for item in assignments):
        raise NeuroqError(f"--steps {steps} and --set n_timesteps=... both set n_timesteps: "
                          "give one")
    return [*assignments, f"n_timesteps={steps}"]


def checked_randomization(env_id: str, randomize: Any, name: str = "randomize") -> Any:
    """`neuroq.envs.perturb.randomization_for` (a RandomizationSpec), its ValueError as a
    NeuroqError (the one line a user sees): for train, finetune, their command lines and
    sweep specs."""
    from neuroq.envs.perturb import randomization_for

    try:
        spec = randomization_for(env_id, randomize, name)
    except ValueError as exc:
        raise NeuroqError(str(exc)) from None
    if spec.physics:
        check_physics_on_env(env_id, [n for n, *_ in spec.physics], f"{name}.physics")
    return spec


def check_physics_on_env(env_id: str, names: Any, what: str) -> None:
    """NeuroqError (one line) unless the env, made once, has the attribute of each physics
    parameter in `names`: checked before any work (a parameter an env declares but does not
    have failed only when its shift was made: after the other conditions of a robustness
    run, or as a traceback inside training; a review)."""
    from neuroq.deploy.rollout import make_env
    from neuroq.envs.perturb import check_attributes, physics_parameters

    env = make_env(env_id)
    try:
        check_attributes(env, physics_parameters(env_id, env), list(names))
    except ValueError as exc:
        raise NeuroqError(f"{what}: {exc}") from None
    finally:
        env.close()

