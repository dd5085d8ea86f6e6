"""Perturbations as Gymnasium wrappers: what a robot meets that a simulator does not.

Each wrapper changes one thing and leaves the environment's own code alone:

- `ObservationNoise(env, sigma)`: Gaussian noise added to every observation, sigma in
  observation units (one value, or one per dimension).
- `ObservationDelay(env, steps)`: the policy sees the observation of `steps` steps ago
  (sensor latency; for an event camera, its events arrive one control period late).
- `ActionDelay(env, steps)`: the action chosen now is applied `steps` steps later (actuator
  latency); until then the first action of the episode is applied.
- `DroppedActions(env, p)`: with probability p an action is lost and the actuator holds the
  previous one.
- `PhysicsShift(env, **values)`: physical parameters of the simulation set to other
  values (CartPole: pole half-length, masses, force; Acrobot: link masses and lengths; the
  DVS task: event noise rate; DiffDriveNav: wheel speed scale, lidar noise), checked
  against `PHYSICS` so a misspelt name is an error.
- `Randomized(env, make)`: at every reset, a fresh perturbation drawn by `make(rng)` wraps
  the environment (domain randomization for training).

All randomness comes from the episode's own seed (`reset(seed=...)`), so perturbed episodes
are as reproducible as clean ones. numpy + gymnasium only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np


class PerturbationError(ValueError):
    """A perturbation the environment cannot take, or a setting out of its range: the one
    error this module raises (make_env turns it into one line, and only it)."""


#: Offset of a perturbation's random stream from the episode seed (kept apart from the
#: stream the environment itself draws from).
NOISE_SEED_OFFSET = 7_919


def _episode_rng(seed: int | None, salt: int) -> np.random.Generator:
    return np.random.default_rng(None if seed is None else [seed, NOISE_SEED_OFFSET, salt])


class ObservationNoise(gym.ObservationWrapper):
    """Observation + N(0, sigma^2), sigma in observation units (scalar or per dimension)."""

    def __init__(self, env: gym.Env, sigma: float | Sequence[float]) -> None:
        super().__init__(env)
        self.sigma = np.asarray(sigma, np.float64)
        if np.any(self.sigma < 0) or not np.all(np.isfinite(self.sigma)):
            raise PerturbationError(
                f"observation noise sigma must be finite and >= 0, got {sigma}")
        self._rng = _episode_rng(None, 1)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = _episode_rng(seed, 1)
        return super().reset(seed=seed, options=options)

    def observation(self, observation: Any) -> np.ndarray:
        obs = np.asarray(observation)
        return (obs + self._rng.normal(0.0, 1.0, obs.shape) * self.sigma).astype(obs.dtype)


class ObservationDelay(gym.Wrapper):
    """The policy sees the observation (and info) of `steps` steps ago; at the start of an
    episode, the first observation is repeated."""

    def __init__(self, env: gym.Env, steps: int) -> None:
        super().__init__(env)
        if int(steps) != steps or steps < 0:
            raise PerturbationError(f"observation delay must be a whole number of steps >= 0, "
                             f"got {steps}")
        self.steps = int(steps)
        self._queue: deque = deque()

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._queue = deque([(obs, info)] * (self.steps + 1), maxlen=self.steps + 1)
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._queue.append((obs, info))
        old_obs, old_info = self._queue[0]
        return old_obs, reward, terminated, truncated, old_info


class ActionDelay(gym.ActionWrapper):
    """The action chosen now is applied `steps` steps later (the first chosen action is
    applied until then)."""

    def __init__(self, env: gym.Env, steps: int) -> None:
        super().__init__(env)
        if int(steps) != steps or steps < 0:
            raise PerturbationError(
                f"action delay must be a whole number of steps >= 0, got {steps}")
        self.steps = int(steps)
        self._queue: deque = deque()

    def reset(self, **kwargs: Any):
        self._queue = deque()
        return self.env.reset(**kwargs)

    def action(self, action: Any) -> Any:
        if not self._queue:
            self._queue.extend([action] * self.steps)
        self._queue.append(action)
        return self._queue.popleft()


class DroppedActions(gym.ActionWrapper):
    """With probability `p` an action is lost and the previous one is applied again."""

    def __init__(self, env: gym.Env, p: float) -> None:
        super().__init__(env)
        if not 0.0 <= p <= 1.0:
            raise PerturbationError(f"drop probability must lie in [0, 1], got {p}")
        self.p = float(p)
        self._rng = _episode_rng(None, 2)
        self._last: Any = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = _episode_rng(seed, 2)
        self._last = None
        return super().reset(seed=seed, options=options)

    def action(self, action: Any) -> Any:
        if self._last is not None and self._rng.random() < self.p:
            return self._last
        self._last = action
        return action


@dataclass(frozen=True)
class PhysicsParameter:
    """One physical parameter a `PhysicsShift` may set: the attribute of the unwrapped env,
    its unit and what it means. `apply(env)` recomputes derived attributes afterwards."""

    attribute: str
    unit: str
    meaning: str
    #: whether 0 is a meaningful value (a noise level), not only positive ones
    zero_ok: bool = False


def _cartpole_derived(core: Any) -> None:
    core.total_mass = core.masspole + core.masscart
    core.polemass_length = core.masspole * core.length


def _acrobot_derived(core: Any) -> None:
    """Gymnasium's Acrobot dynamics read a link's length only through its centre of mass
    (LINK_COM_POS_i, 0.5 m for the 1 m links: the middle of a uniform link); LINK_LENGTH_2
    alone only changes the drawing. Keep each centre in the middle of its link, so a length
    shift changes the physics."""
    core.LINK_COM_POS_1 = core.LINK_LENGTH_1 / 2
    core.LINK_COM_POS_2 = core.LINK_LENGTH_2 / 2


#: Parameters per environment (Gymnasium's classic_control cartpole.py and acrobot.py name
#: them as attributes; the DVS task takes its noise rate from its DvsParams).
PHYSICS: dict[str, dict[str, PhysicsParameter]] = {
    "CartPole-v1": {
        "length": PhysicsParameter("length", "m", "half the pole's length (default 0.5)"),
        "masspole": PhysicsParameter("masspole", "kg", "pole mass (default 0.1)"),
        "masscart": PhysicsParameter("masscart", "kg", "cart mass (default 1.0)"),
        "force_mag": PhysicsParameter("force_mag", "N", "push of each action (default 10)"),
    },
    "Acrobot-v1": {
        "link_mass_1": PhysicsParameter("LINK_MASS_1", "kg", "first link's mass (default 1)"),
        "link_mass_2": PhysicsParameter("LINK_MASS_2", "kg", "second link's mass (default 1)"),
        "link_length_1": PhysicsParameter("LINK_LENGTH_1", "m", "first link's length "
                                          "(default 1; its centre of mass stays mid-link)"),
        "link_length_2": PhysicsParameter("LINK_LENGTH_2", "m", "second link's length "
                                          "(default 1; its centre of mass stays mid-link)"),
    },
    "neuroq/DVSPanTrackingPooled-v0": {
        "noise_rate_hz": PhysicsParameter("noise_rate_hz", "Hz",
                                          "DVS background events per pixel (default 0.2)",
                                          zero_ok=True),
    },
    # envs/diffdrive_nav.py: the wheels deliver a fraction of the commanded speeds (worn
    # tyres, a low battery, a heavier payload), and the lidar is noisier than the LDS-01
    # data sheet's accuracy (a dusty window, sunlight)
    "neuroq/DiffDriveNav-v0": {
        "speed_scale": PhysicsParameter("speed_scale", "1",
                                        "delivered / commanded wheel speeds (default 1)"),
        "lidar_noise": PhysicsParameter("lidar_noise", "1",
                                        "lidar range noise, multiple of the data sheet's "
                                        "(default 1)", zero_ok=True),
    },
}
PHYSICS["CartPole-v0"] = PHYSICS["CartPole-v1"]
PHYSICS["neuroq/DVSPanTracking-v0"] = PHYSICS["neuroq/DVSPanTrackingPooled-v0"]
_DERIVED: dict[str, Callable[[Any], None]] = {"CartPole-v1": _cartpole_derived,
                                              "CartPole-v0": _cartpole_derived,
                                              "Acrobot-v1": _acrobot_derived}


DECLARED_PHYSICS = "neuroq_physics"
"""The class attribute by which an env of a user's declares its physics parameters:
{attribute name: what it is}, e.g. `neuroq_physics = {"DRAG": "velocity damping, 1/s"}`, or
{name: {"meaning": ..., "unit": ..., "zero_ok": bool}}. `PhysicsShift` sets the attribute of
the unwrapped env before each episode, and calls the env's `neuroq_physics_changed()` after,
if it has one (for attributes derived from them)."""


def _env_class(env_id: str) -> Any:
    """The class an env reference makes ('module:Class', 'module:Id-v0' or a registered id;
    a factory function's env is made once to see it), None where it names none. ValueError
    where its module does not import (it said "no physics parameters are known": the
    review)."""
    import importlib

    module, sep, name = env_id.rpartition(":")
    if sep:
        try:
            found = getattr(importlib.import_module(module), name, None)  # registers its ids
        except Exception as exc:  # noqa: BLE001 - a user's module may fail in any way
            raise PerturbationError(f"cannot look up the physics parameters of {env_id!r}: "
                             f"importing {module!r} failed: {type(exc).__name__}: {exc}"
                             ) from None
        if isinstance(found, type):
            return found
        if callable(found):
            return _made_class(found)
        env_id = name
    try:
        entry = gym.spec(env_id).entry_point
        if isinstance(entry, str):
            mod, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(mod), attr, None)
    except Exception:  # noqa: BLE001 - not found: the caller says what is known
        return None
    if isinstance(entry, type) or entry is None:
        return entry
    return _made_class(entry) if callable(entry) else None


def _made_class(factory: Callable[[], Any]) -> Any:
    """The class of the env a factory function makes (made once, then closed); None if it
    cannot be made without arguments."""
    try:
        env = factory()
    except Exception:  # noqa: BLE001 - a factory that needs arguments: nothing declared
        return None
    try:
        return type(getattr(env, "unwrapped", env))
    finally:
        close = getattr(env, "close", None)
        if callable(close):
            close()


def declared_physics(env_class: Any) -> dict[str, PhysicsParameter] | None:
    """The parameters `env_class` declares (DECLARED_PHYSICS), None if it declares none;
    ValueError for a declaration of another form."""
    declared = getattr(env_class, DECLARED_PHYSICS, None)
    if declared is None:
        return None
    name = getattr(env_class, "__name__", "the env")
    if not isinstance(declared, Mapping) or not declared:
        raise PerturbationError(f"{name}.{DECLARED_PHYSICS} must be a non-empty mapping of "
                                f"attribute name to what it is, got {declared!r}")
    out = {}
    for attr, about in declared.items():
        if isinstance(about, str):
            about = {"meaning": about}
        if not isinstance(attr, str) or not attr.isidentifier() or not isinstance(
                about, Mapping) or set(about) - {"meaning", "unit", "zero_ok"}:
            raise PerturbationError(f"{name}.{DECLARED_PHYSICS}[{attr!r}] must map an "
                                    "attribute name to a description, or to {meaning, unit, "
                                    "zero_ok}")
        out[attr] = PhysicsParameter(attr, str(about.get("unit", "")),
                                     str(about.get("meaning", "")),
                                     bool(about.get("zero_ok", False)))
    return out


def physics_parameters(env_id: str, env: Any = None) -> dict[str, PhysicsParameter]:
    """The parameters `PhysicsShift` can set for `env_id`: neuroq's table (`PHYSICS`), else
    what the env's class declares (DECLARED_PHYSICS; the class of `env` if given, else the
    one `env_id` names). ValueError if none are known."""
    if env_id in PHYSICS:
        return PHYSICS[env_id]
    found = declared_physics(type(env.unwrapped) if env is not None else _env_class(env_id))
    if found is None:
        raise PerturbationError(f"no physics parameters are known for {env_id!r} (neuroq knows "
                         f"{', '.join(sorted(PHYSICS))}; an env of your own declares its "
                         f"own: {DECLARED_PHYSICS} = {{'DRAG': 'velocity damping, 1/s'}} on "
                         "its class, docs/robustness.md)")
    return found


def check_physics(env_id: str, values: Mapping[str, float],
                  env: Any = None) -> dict[str, PhysicsParameter]:
    """`physics_parameters(env_id, env)`, once each of `values` is checked: a parameter the
    env has, set to a finite value > 0 (>= 0 where 0 is meaningful). ValueError naming the
    first that is not."""
    known = physics_parameters(env_id, env)
    for name, value in values.items():
        if name not in known:
            raise PerturbationError(f"{env_id} has no physics parameter {name!r}; known: "
                             f"{', '.join(known)}")
        zero_ok = known[name].zero_ok
        if not np.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
            raise PerturbationError(f"physics parameter {name} must be "
                             f"{'>= 0' if zero_ok else 'positive'}, got {value:g}")
    return known


def check_physics_values(env_id: str, values: Mapping[str, Iterable[float]]) -> None:
    """`check_physics` on every value of each parameter in `values` (name -> the values it
    will take: --physics's shifts, a randomization's [low, high]), one at a time in order:
    check_physics's ValueError for the first that `env_id` does not take. Checks nothing,
    `env_id` included, where there are no values. The command line checks its --physics and
    --randomize with it before any work."""
    for name, taken in values.items():
        for value in taken:
            check_physics(env_id, {name: value})


def _in_dvs_params(core: Any, attr: str) -> bool:
    """Whether `attr` of the env lives in its DvsParams (the DVS task's noise rate)."""
    return attr == "noise_rate_hz" and hasattr(core, "dvs_params")


def check_attributes(env: gym.Env, known: Mapping[str, PhysicsParameter],
                     names: Iterable[str]) -> None:
    """PerturbationError unless the unwrapped `env` has the attribute of each parameter in
    `names`: a declared name the env does not have would set a new attribute nothing reads,
    a shift that changes nothing. The command lines check it before any work
    (`neuroq.agents.hyperparams.check_physics_on_env`)."""
    core = env.unwrapped
    for name in names:
        attr = known[name].attribute
        if not (hasattr(core, attr) or _in_dvs_params(core, attr)):
            raise PerturbationError(f"{type(core).__name__} has no attribute {attr!r} for its "
                                    f"physics parameter {name!r} (check {DECLARED_PHYSICS})")


def _declared_derived(core: Any) -> None:
    core.neuroq_physics_changed()  # an env of a user's recomputes what it derives


class PhysicsShift(gym.Wrapper):
    """Sets physical parameters of the unwrapped environment to `values` (by the names of
    `PHYSICS`), before every episode."""

    def __init__(self, env: gym.Env, **values: float) -> None:
        super().__init__(env)
        env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        known = check_physics(env_id, values, env)
        check_attributes(env, known, values)
        self.values = dict(values)
        self._known = known
        self._derived = _DERIVED.get(env_id)
        if self._derived is None and callable(getattr(env.unwrapped,
                                                      "neuroq_physics_changed", None)):
            self._derived = _declared_derived

    def _apply(self) -> None:
        core = self.env.unwrapped
        for name, value in self.values.items():
            attr = self._known[name].attribute
            if _in_dvs_params(core, attr):
                from dataclasses import replace

                core.dvs_params = replace(core.dvs_params, noise_rate_hz=float(value))
            else:
                setattr(core, attr, float(value))
        if self._derived is not None:
            self._derived(core)

    def reset(self, **kwargs: Any):
        self._apply()
        return self.env.reset(**kwargs)


class Randomized(gym.Wrapper):
    """Domain randomization: before every episode, `make(env, rng)` builds a fresh stack of
    perturbation wrappers around the bare environment, drawn from the episode's seed."""

    def __init__(self, env: gym.Env, make: Callable[[gym.Env, np.random.Generator], gym.Env]):
        super().__init__(env)
        self._base = env
        self._make = make
        self._rng = _episode_rng(None, 3)
        self._current: gym.Env = env

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = _episode_rng(seed, 3)
        else:  # training resets without a seed: derive one, so runs stay reproducible
            seed = int(self._rng.integers(2**31))
        self._current = self._make(self._base, self._rng)
        return self._current.reset(seed=seed, options=options)

    def step(self, action: Any):
        return self._current.step(action)


@dataclass(frozen=True)
class RandomizationSpec:
    """Domain randomization drawn per episode (for training): each kind uniform in its
    [low, high] range; physics per parameter name of `PHYSICS`.

    From config (YAML), e.g. `{obs_noise: [0, 0.05], action_delay: [0, 1], drop: [0, 0.1],
    physics: {length: [0.3, 0.75]}, obs_delay: [0, 1]}`; any kind may be left out. Delays
    are whole steps (drawn uniformly from low..high inclusive).
    """

    obs_noise: tuple[float, float] = (0.0, 0.0)
    action_delay: tuple[int, int] = (0, 0)
    drop: tuple[float, float] = (0.0, 0.0)
    physics: tuple[tuple[str, float, float], ...] = ()
    obs_delay: tuple[int, int] = (0, 0)

    KINDS = ("obs_noise", "action_delay", "drop", "physics", "obs_delay")

    @classmethod
    def from_dict(cls, d: Any) -> RandomizationSpec:
        """Validate a config mapping (ValueError naming the bad entry)."""
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise PerturbationError(
                f"randomize must be a mapping of {', '.join(cls.KINDS)}, got {d!r}")
        unknown = set(d) - set(cls.KINDS)
        if unknown:
            raise PerturbationError(f"randomize: unknown key(s) {sorted(unknown)}; known: "
                             f"{', '.join(cls.KINDS)}")

        def pair(name: str, value: Any, integer: bool = False) -> tuple:
            ok = (isinstance(value, (list, tuple)) and len(value) == 2
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                          and np.isfinite(v) and v >= 0 for v in value)
                  and value[0] <= value[1])
            if ok and integer:
                ok = all(float(v).is_integer() for v in value)
            if not ok:
                kind = "whole numbers" if integer else "numbers"
                raise PerturbationError(f"randomize.{name} must be [low, high], {kind} >= 0 with "
                                 f"low <= high, got {value!r}")
            return (int(value[0]), int(value[1])) if integer else (float(value[0]),
                                                                   float(value[1]))

        physics = d.get("physics") or {}
        if not isinstance(physics, dict):
            raise PerturbationError(f"randomize.physics must map parameter names to [low, high], "
                             f"got {physics!r}")
        spec = cls(pair("obs_noise", d.get("obs_noise", [0.0, 0.0])),
                   pair("action_delay", d.get("action_delay", [0, 0]), integer=True),
                   pair("drop", d.get("drop", [0.0, 0.0])),
                   tuple((str(k), *pair(f"physics.{k}", v)) for k, v in physics.items()),
                   pair("obs_delay", d.get("obs_delay", [0, 0]), integer=True))
        if spec.drop[1] > 1:
            raise PerturbationError("randomize.drop must lie in [0, 1]")
        return spec

    def to_dict(self) -> dict[str, Any]:
        return {"obs_noise": list(self.obs_noise), "action_delay": list(self.action_delay),
                "drop": list(self.drop), "physics": {n: [lo, hi] for n, lo, hi in self.physics},
                "obs_delay": list(self.obs_delay)}

    @property
    def active(self) -> bool:
        return (self.obs_noise[1] > 0 or self.action_delay[1] > 0 or self.drop[1] > 0
                or bool(self.physics) or self.obs_delay[1] > 0)

    def draw(self, env: gym.Env, rng: np.random.Generator) -> gym.Env:
        """`env` wrapped in one draw of every perturbation (for `Randomized`)."""
        if self.physics:
            env = PhysicsShift(env, **{n: float(rng.uniform(lo, hi))
                                       for n, lo, hi in self.physics})
        if self.obs_noise[1] > 0:
            env = ObservationNoise(env, float(rng.uniform(*self.obs_noise)))
        if self.action_delay[1] > 0:
            env = ActionDelay(env, int(rng.integers(self.action_delay[0],
                                                    self.action_delay[1] + 1)))
        if self.drop[1] > 0:
            env = DroppedActions(env, float(rng.uniform(*self.drop)))
        if self.obs_delay[1] > 0:
            env = ObservationDelay(env, int(rng.integers(self.obs_delay[0],
                                                         self.obs_delay[1] + 1)))
        return env

    def wrapper(self) -> Callable[[gym.Env], gym.Env]:
        """A wrapper for the env factory: `Randomized(env, self.draw)`."""
        return lambda env: Randomized(env, self.draw)


def randomization_for(env_id: str, randomize: Any, name: str = "randomize") -> RandomizationSpec:
    """`RandomizationSpec.from_dict(randomize)` (None or {}: no randomization) whose physics
    `env_id` takes: each parameter one it has, both ends of its range values it takes
    (`check_physics_values`). ValueError naming the first problem, the mapping called `name`
    in it (e.g. "select_randomize.physics: ..."). The one check of a randomization against
    its env: train, finetune, their command lines and sweep specs."""
    try:
        spec = RandomizationSpec.from_dict(randomize or None)
        try:
            check_physics_values(env_id, {n: (lo, hi) for n, lo, hi in spec.physics})
        except ValueError as exc:
            raise PerturbationError(f"randomize.physics: {exc}") from None
    except ValueError as exc:  # from_dict's messages, and the one above, name "randomize"
        text = str(exc)
        if text.startswith("randomize"):
            text = name + text[len("randomize"):]
        raise PerturbationError(text) from None
    return spec
