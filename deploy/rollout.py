"""The one closed-loop evaluator: episodes of a batched policy in Gymnasium environments.

Every stage that plays episodes (`neuroq eval`, convert, finetune, energy, the benchmarks,
the robustness suite) runs them here, so that seeding, time limits and environment
construction are the same everywhere.

- Environments come from `make_env`, the one env factory: `gymnasium.make` of an env
  reference (`neuroq.deploy.envref`: a registered id, neuroq's own registered first;
  'package:EnvId' after importing the package; or 'module:ClassName'), Gymnasium's own
  wrappers (TimeLimit, order enforcing), observations of more than one dimension flattened
  in C order (`FlattenObservation`, as SB3's MLP sees them), then any extra wrappers the
  caller gives (perturbations).
- Episode i is reset with seed `seed + i` (`episode_seed`), whatever the batch: two policies
  given the same seed play the same episodes.
- Episodes stream through at most `batch` environments at a time: when one ends, its
  environment is reset for the next episode. Memory stays bounded for any number of episodes,
  and the policy is called once per step for all running episodes (a batched action).
- `max_steps` caps an episode below the environment's own time limit (an episode cut there
  counts as truncated); `max_total_steps` stops the whole run after that many steps (for
  recording observations), truncating the episodes still running.
- Environments are closed at the end, also on error.

Episode outcomes: an environment that reports them in the `info` of an episode's last step
(`OUTCOME_KEYS`: `is_success`, `collision`, `time_to_goal_s`, as DiffDriveNav does) has
them collected per episode in `Episodes.outcomes`; `outcome_summary` turns them into a
success rate, a collision rate and the time to goal.

The policy is a function `act(observations, infos) -> actions`: observations (k, n_obs)
float32 of the k running episodes, their last `info` dicts (an event-camera env puts its
events there), and it returns k integer actions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.seeds import check_count, check_episode_seeds

#: Episodes running at once by default (the policy's batch); more only costs memory.
DEFAULT_BATCH = 100

#: Keys of a last step's `info` collected per episode (bools or seconds; NaN: not reached).
OUTCOME_KEYS = ("is_success", "collision", "time_to_goal_s")

BatchAct = Callable[[np.ndarray, Sequence[dict[str, Any]]], np.ndarray]
EnvWrapper = Callable[[Any], Any]


def episode_seed(seed: int, episode: int, span: int | None = None) -> int:
    """The reset seed of episode `episode` of a run seeded `seed`: the one place for it.
    span: the run's seeds wrap after this many (seed + episode % span), so that a run
    playing as many episodes as its steps take stays in its block of seeds
    (`neuroq.deploy.seeds.BLOCK`)."""
    return int(seed) + (int(episode) % int(span) if span else int(episode))


def raised_at(exc: BaseException) -> str:
    """" (at FILE, line N)": where in the user's code `exc` was raised, for a one-line
    message; "" where no frame is theirs (or the traceback is gone)."""
    import os
    import traceback

    # the user's own code: the last frame outside installed packages and Python's own
    # frozen modules (a TypeError of the wrong keyword is raised inside gymnasium)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "site-packages" not in f.filename and not f.filename.startswith("<")
              and f.filename != __file__]
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {os.path.basename(last.filename)}, line {last.lineno})"


def checked_env(env: Any, env_id: str) -> Any:
    """`env` wrapped (`_checked_env_class`) so that what a user's env does wrong while it
    runs is one line (NeuroqError) naming the env, not a traceback from deep in
    stable-baselines3 or an unrelated error later: its reset or step raising (named with
    the file and line), an observation of another size than its observation_space's (any
    shape of that size runs), one holding NaN or inf, a reward that is NaN, inf or no
    number, gym's old 4-value step. An outsider's env raising at step 3000 of training ended in a
    47-line traceback, status 1; one returning 4 values for a declared 6, a broadcasting
    error; one with NaN in 1 % of its observations, "training diverged ... lower
    learning_rate", at any learning rate."""
    return _checked_env_class()(env, env_id)


@functools.cache
def _checked_env_class() -> type:
    """The wrapper class of `checked_env`, made on first use (gymnasium imports then); also
    the module's attribute `CheckedEnv` (`__getattr__`), so a wrapped env pickles."""
    import gymnasium as gym

    class CheckedEnv(gym.Wrapper):
        """See `checked_env`; `steps` counts the steps since the env was made."""

        def __init__(self, env: Any, env_id: str):
            super().__init__(env)
            self.env_id = env_id
            shape = getattr(env.observation_space, "shape", None)
            # a Box's values (Discrete, Tuple, Dict: q_network_spaces refuses those itself)
            self.obs_size = int(np.prod(shape)) if shape else None
            self.steps = 0

        def _checked(self, obs: Any, what: str) -> Any:
            if self.obs_size is None:
                return obs
            try:
                values = np.asarray(obs, np.float64)
            except (TypeError, ValueError):
                raise NeuroqError(f"environment {self.env_id!r}: its {what} returned an "
                                  f"observation that is no array of numbers "
                                  f"({type(obs).__name__})") from None
            # any shape of the right size: rollouts flatten, stable-baselines3 broadcasts
            # (a float for a (1,) space, (1, 4) for (4,) worked before: the review)
            if values.size != self.obs_size:
                raise NeuroqError(f"environment {self.env_id!r}: its {what} returned an "
                                  f"observation of {values.size} values (shape "
                                  f"{values.shape}), its observation_space says "
                                  f"{self.obs_size} {self.observation_space.shape}")
            if not np.isfinite(values).all():
                shown = str(values.round(4).tolist())
                raise NeuroqError(
                    f"environment {self.env_id!r}: its {what} returned an observation "
                    f"holding NaN or inf ({shown[:80] + '...' if len(shown) > 80 else shown}"
                    f") after {self.steps} steps: the env's own state, not the network")
            return obs

        def _call(self, what: str, n: int, fn: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                out = fn(*args, **kwargs)
            except NeuroqError:
                raise
            except Exception as exc:  # noqa: BLE001 - a user's env may raise anything
                old = ("; a step of gym's old API (obs, reward, done, info)? Gymnasium's "
                       "returns obs, reward, terminated, truncated, info"
                       if "expected 5, got 4" in str(exc) else "")  # Gymnasium's wrappers
                raise NeuroqError(f"environment {self.env_id!r}: its {what} raised "
                                  f"{type(exc).__name__}: {exc}{raised_at(exc)}, after "
                                  f"{self.steps} steps{old}") from None
            if not isinstance(out, tuple) or len(out) != n:  # gym's old API (4 values)
                got = f"{len(out)} values" if isinstance(out, tuple) else type(out).__name__
                raise NeuroqError(f"environment {self.env_id!r}: its {what} returned {got}, "
                                  f"not the {n} of Gymnasium's API ("
                                  + ("obs, info" if n == 2 else
                                     "obs, reward, terminated, truncated, info") + ")")
            return out

        def reset(self, **kwargs: Any) -> Any:
            obs, info = self._call("reset", 2, self.env.reset, **kwargs)
            return self._checked(obs, "reset"), info

        def step(self, action: Any) -> Any:
            obs, reward, terminated, truncated, info = self._call("step", 5, self.env.step,
                                                                  action)
            self.steps += 1
            try:  # (an array of one value too, as some envs return)
                finite = bool(np.isfinite(np.asarray(reward, np.float64)).all())
            except (TypeError, ValueError):  # no number: training and rollouts fail on it
                raise NeuroqError(f"environment {self.env_id!r}: its step returned a reward "
                                  f"that is no number ({type(reward).__name__})") from None
            if not finite:  # it read as "training diverged ... lower learning_rate" (a
                raise NeuroqError(  # recheck)
                    f"environment {self.env_id!r}: its step returned the reward {reward} "
                    f"after {self.steps} steps: the env's own state, not the network")
            return self._checked(obs, "step"), reward, terminated, truncated, info

    CheckedEnv.__module__ = __name__
    CheckedEnv.__qualname__ = "CheckedEnv"
    return CheckedEnv


def __getattr__(name: str) -> Any:
    """`CheckedEnv` (`_checked_env_class`), made when first asked for: unpickling a wrapped
    env in another process finds it here."""
    if name == "CheckedEnv":
        return _checked_env_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_env(env_id: str, wrappers: Sequence[EnvWrapper] = (), **kwargs: Any) -> Any:
    """A Gymnasium environment for `env_id` (keyword arguments go to its constructor) with
    Gymnasium's own wrappers, flattened if its observation has more than one dimension, then
    wrapped by each of `wrappers` in order.

    Raises NeuroqError (one line) for an unknown id, a module that does not import, or an
    environment that refuses to be built (whatever its constructor raises, named with the
    file and line it was raised at).
    """
    import gymnasium as gym

    from neuroq.deploy.envref import resolve

    if not isinstance(env_id, str) or not env_id:
        raise NeuroqError(f"the env id must be a non-empty string, got {env_id!r}")
    target = resolve(env_id)  # a registered id, or the spec of a 'module:ClassName' env
    try:
        env = gym.make(target, disable_env_checker=True, **kwargs)
    except NeuroqError:  # a user's env that says what is wrong in neuroq's own words
        raise
    except gym.error.Error as exc:
        raise NeuroqError(f"cannot make environment {env_id!r}: {exc}") from None
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise NeuroqError(f"cannot make environment {env_id!r}: {type(exc).__name__}: "
                          f"{exc}{raised_at(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a user's env constructor may raise anything
        # (an outsider's "motor driver not found" RuntimeError was a traceback, exit 1)
        raise NeuroqError(f"cannot make environment {env_id!r}: its constructor raised "
                          f"{type(exc).__name__}: {exc}{raised_at(exc)}") from None
    space = getattr(env, "observation_space", None)
    missing = [n for n, v in (("observation_space", space),
                              ("action_space", getattr(env, "action_space", None))) if v is None]
    if missing:  # gymnasium:Env itself, or a class that never sets its spaces
        env.close()
        raise NeuroqError(f"environment {env_id!r} has no {' and no '.join(missing)}: an env "
                          "class sets observation_space and action_space in its __init__")
    if isinstance(space, gym.spaces.Box) and len(space.shape) > 1:
        env = gym.wrappers.FlattenObservation(env)
    env = checked_env(env, env_id)
    from neuroq.envs.perturb import PerturbationError

    try:
        for wrap in wrappers:
            env = wrap(env)
    except PerturbationError as exc:  # one the env cannot take; any other error is a bug
        env.close()
        raise NeuroqError(f"cannot make environment {env_id!r}: {exc}") from None
    return env


def q_network_spaces(env_id: str, observation_space: Any, action_space: Any) -> tuple[int, int]:
    """(n_obs, n_actions) of spaces a Q-network can take (after `make_env` flattens the
    observation): a one-dimensional Box, and a Discrete action space starting at 0; else
    NeuroqError naming the space refused. The one rule: training (agents/envspec.py) and
    every stage that runs an artifact on its env (`check_artifact_env`)."""
    import gymnasium as gym

    o, a = observation_space, action_space
    if not isinstance(o, gym.spaces.Box) or len(o.shape) != 1:
        raise NeuroqError(f"{env_id}: the observation space {o} is not supported: a Q-network "
                          "takes a Box observation (flattened to one vector)")
    if not isinstance(a, gym.spaces.Discrete):
        raise NeuroqError(f"{env_id}: the action space {a} is not supported: a Q-network needs "
                          "a Discrete action space")
    if int(a.start) != 0:
        raise NeuroqError(f"{env_id}: the action space {a} starts at {int(a.start)}: a "
                          "Q-network's actions are 0..n-1 (wrap the env to shift them)")
    return int(o.shape[0]), int(a.n)


def check_artifact_env(manifest: Mapping[str, Any]) -> None:
    """NeuroqError (one line) unless the environment a deploy artifact's manifest names can
    be made (`make_env`) and fits its network: the same observation shape (flattened as
    `make_env` flattens it) and the same number of discrete actions as the manifest's
    `observation_space` and `action_space`. A manifest whose env_id was edited, or an env
    that changed since the export, is refused here, before any episode, instead of failing
    on a shape deep inside the first step."""
    env_id = manifest.get("env_id")
    want_shape = tuple((manifest.get("observation_space") or {}).get("shape") or ())
    want_n = (manifest.get("action_space") or {}).get("n")
    env = make_env(env_id)
    try:
        shape = tuple(getattr(env.observation_space, "shape", None) or ())
        n = getattr(env.action_space, "n", None)
        spaces = (env.observation_space, env.action_space)
    finally:
        env.close()
    if shape == want_shape and n is not None and int(n) == want_n:
        # the spaces fit in size: a Q-network must also be able to act in them (an action
        # space starting at 1 was an AssertionError traceback in the first step)
        q_network_spaces(env_id, *spaces)
    else:
        raise NeuroqError(
            f"the artifact's network takes observations of shape {list(want_shape)} and "
            f"chooses among {want_n} actions, but its env {env_id} observes shape "
            f"{list(shape)} with {n if n is not None else 'non-discrete'} actions: the "
            "manifest's env_id does not fit its network (edited, or the env changed since "
            "the export)")


@dataclass(frozen=True)
class Step:
    """One step of the running episodes, for `on_step` (all arrays (k,) or (k, n_obs)).

    episodes: index of each running episode; obs: the observations acted on; actions;
    rewards; next_obs: the observations after the step (before any reset); terminated,
    truncated: how each episode's step ended (truncated includes `max_steps`).
    """

    episodes: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray


@dataclass(frozen=True)
class Episodes:
    """What a run of episodes gave.

    returns, lengths: per episode, in episode order (episodes stopped by `max_total_steps`
    keep their partial return and are marked in `complete`); seeds: each episode's reset
    seed; steps: environment steps taken in all; outcomes: OUTCOME_KEYS the environment
    reported at the end of every complete episode -> per-episode values (float; NaN for an
    episode cut by `max_steps` or `max_total_steps` before the environment ended it).
    """

    returns: np.ndarray
    lengths: np.ndarray
    seeds: np.ndarray
    complete: np.ndarray
    steps: int
    outcomes: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return float(self.returns.mean())


def _obs(o: Any) -> np.ndarray:
    return np.asarray(o, np.float32).reshape(-1)


def check_settings(episodes: Any, seed: Any, max_steps: Any = None, batch: Any = 1,
                   max_total_steps: Any = None) -> None:
    """Raise NeuroqError naming the first setting of a run that is not a usable integer
    (episodes, batch, max_steps, max_total_steps >= 1; seed >= 0; the optional ones may be
    None). Callers check before they make anything, so a bad setting leaves nothing behind."""
    for name, value, least, optional in (
            ("episodes", episodes, 1, False), ("seed", seed, 0, False),
            ("batch", batch, 1, False), ("max_steps", max_steps, 1, True),
            ("max_total_steps", max_total_steps, 1, True)):
        if value is None and optional:
            continue
        check_count(name, value, least)


def run_episodes(
    env_id: str,
    act: BatchAct,
    episodes: int,
    seed: int = 0,
    *,
    max_steps: int | None = None,
    max_total_steps: int | None = None,
    batch: int = DEFAULT_BATCH,
    wrappers: Sequence[EnvWrapper] = (),
    on_step: Callable[[Step], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    seed_span: int | None = None,
) -> Episodes:
    """Play `episodes` episodes of `act` (see the module docstring); return their results.

    progress(done, total) is called whenever episodes have finished. seed_span: episode
    seeds wrap after this many (`episode_seed`).
    """
    check_settings(episodes, seed, max_steps, batch, max_total_steps)
    if seed_span is None:
        check_episode_seeds(seed, episodes)
    n_slots = min(int(batch), int(episodes))
    envs = [make_env(env_id, wrappers) for _ in range(n_slots)]
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, np.int64)
    complete = np.zeros(episodes, bool)
    outcomes: dict[str, np.ndarray] = {}
    seeds = np.array([episode_seed(seed, i, seed_span) for i in range(episodes)], np.int64)
    slot_episode = np.full(n_slots, -1, np.int64)  # episode each slot runs (-1: idle)
    obs: np.ndarray | None = None
    infos: list[dict[str, Any]] = [{} for _ in range(n_slots)]
    next_episode, done, steps = 0, 0, 0

    def start(slot: int) -> None:
        nonlocal next_episode, obs
        o, info = envs[slot].reset(seed=int(seeds[next_episode]))
        o = _obs(o)
        if obs is None:
            obs = np.zeros((n_slots, o.size), np.float32)
        obs[slot], infos[slot] = o, info
        slot_episode[slot] = next_episode
        next_episode += 1

    try:
        for slot in range(n_slots):
            start(slot)
        while (slot_episode >= 0).any():
            if max_total_steps is not None and steps >= max_total_steps:
                break
            live = np.flatnonzero(slot_episode >= 0)
            eps = slot_episode[live]
            acting = obs[live].copy() if on_step is not None else obs[live]
            actions = np.asarray(act(obs[live], [infos[s] for s in live]))
            if actions.shape != (len(live),):
                raise NeuroqError(f"the policy returned actions of shape {actions.shape} for "
                                  f"{len(live)} observations")
            rew = np.zeros(len(live))
            term = np.zeros(len(live), bool)
            trunc = np.zeros(len(live), bool)
            nxt = np.zeros_like(acting) if on_step is not None else None
            for j, slot in enumerate(live.tolist()):
                o, r, term[j], trunc[j], infos[slot] = envs[slot].step(int(actions[j]))
                o = _obs(o)
                obs[slot] = o
                if nxt is not None:
                    nxt[j] = o
                rew[j] = r
                ep = eps[j]
                returns[ep] += r
                lengths[ep] += 1
                if max_steps is not None and lengths[ep] >= max_steps:
                    trunc[j] = True
            steps += len(live)
            if on_step is not None:
                on_step(Step(eps.copy(), acting, actions, rew, nxt, term.copy(), trunc.copy()))
            ended = term | trunc
            if ended.any():
                for j in np.flatnonzero(ended).tolist():
                    slot = int(live[j])
                    complete[eps[j]] = True
                    _record_outcome(outcomes, infos[slot], int(eps[j]), episodes)
                    done += 1
                    slot_episode[slot] = -1
                    if next_episode < episodes:
                        start(slot)
                if progress is not None:
                    progress(done, episodes)
    finally:
        for env in envs:
            env.close()
    ran = lengths > 0
    return Episodes(returns[ran], lengths[ran], seeds[ran], complete[ran], steps,
                    {k: v[ran] for k, v in outcomes.items()})


def _record_outcome(outcomes: dict[str, np.ndarray], info: dict[str, Any], episode: int,
                    episodes: int) -> None:
    for key in OUTCOME_KEYS:
        if key in info:
            if key not in outcomes:
                outcomes[key] = np.full(episodes, np.nan)
            outcomes[key][episode] = float(info[key])


def outcome_summary(outcomes: dict[str, np.ndarray]) -> dict[str, Any]:
    """Success rate, collision rate (fractions of the episodes, each with its 95 % bootstrap
    interval) and time to goal (seconds, over the successful episodes) from
    `Episodes.outcomes`; empty when the environment reports none. An episode without a
    reported outcome (cut short by max_steps) counts as neither success nor collision."""
    from neuroq.deploy.stats import bootstrap_ci

    out: dict[str, Any] = {}
    for key, rate, count in (("is_success", "success_rate", "successes"),
                             ("collision", "collision_rate", "collisions")):
        if key in outcomes:
            hit = np.nan_to_num(outcomes[key], nan=0.0) > 0.5
            out[rate] = float(hit.mean())
            out[f"{rate}_ci95"] = list(bootstrap_ci(hit.astype(np.float64)))
            out[count] = int(hit.sum())
    t = outcomes.get("time_to_goal_s")
    if t is not None:
        t = t[np.isfinite(t)]
        out["time_to_goal_s"] = (None if t.size == 0 else {
            "mean": float(t.mean()), "median": float(np.median(t)), "max": float(t.max())})
    return out
