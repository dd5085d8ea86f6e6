"""Environments standing in for a user's own, for `--env module:ClassName` and
`--gym-package` (importing this module registers NeuroqTestLine-v0).

LineEnv: a point on a line, observation (position, velocity) in a Box of shape (2,),
Discrete(2) actions push it left or right; reward 1 per step while |position| < 1, the
episode ends when it leaves [-1, 1] or after MAX_STEPS steps. GridObsEnv: the same with a
(2, 2) observation (flattened by the env factory). FailsOnSeedOneEnv raises in a
training run of seed 1. The others have spaces a Q-network cannot take.
"""

import gymnasium as gym
import numpy as np

MAX_STEPS = 30
REGISTERED_ID = "NeuroqTestLine-v0"
#: Position change per step of each action, in units of the line's half-length.
PUSH = 0.1


class LineEnv(gym.Env):
    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.state = np.zeros(2, np.float32)
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self.np_random.uniform(-0.5, 0.5, 2).astype(np.float32)
        self.steps = 0
        return self._obs(), {}

    def _obs(self):
        return self.state.copy()

    def step(self, action):
        velocity = self.state[1] + (PUSH if int(action) == 1 else -PUSH) - 0.5 * self.state[0]
        self.state = np.clip(np.array([self.state[0] + PUSH * velocity, velocity]), -2, 2)
        self.state = self.state.astype(np.float32)
        self.steps += 1
        out = bool(abs(self.state[0]) >= 1.0)
        return self._obs(), 0.0 if out else 1.0, out, self.steps >= MAX_STEPS, {}


class GridObsEnv(LineEnv):
    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Box(-2.0, 2.0, (2, 2), np.float32)

    def _obs(self):
        return np.stack([self.state, -self.state]).astype(np.float32)


class BoxActionEnv(LineEnv):
    def __init__(self) -> None:
        super().__init__()
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)


class DictObsEnv(LineEnv):
    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Dict({"x": gym.spaces.Box(-2, 2, (2,))})


class ShiftedActionsEnv(LineEnv):
    def __init__(self) -> None:
        super().__init__()
        self.action_space = gym.spaces.Discrete(2, start=1)


class FailsOnSeedOneEnv(LineEnv):
    """LineEnv whose reset seeded with 1 (a training run of seed 1: DQN(seed=...) seeds
    the training env's first reset) raises after STEPS_BEFORE_FAILING steps: a user's env
    failing in one seed of several."""

    STEPS_BEFORE_FAILING = 300

    def __init__(self) -> None:
        super().__init__()
        self.fails = False
        self.total = 0

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.fails = seed == 1
        return super().reset(seed=seed, options=options)

    def step(self, action):
        self.total += 1
        if self.fails and self.total > self.STEPS_BEFORE_FAILING:
            raise RuntimeError("the simulated sensor stopped answering")
        return super().step(action)


NOT_AN_ENV = 3

if REGISTERED_ID not in gym.registry:
    gym.register(REGISTERED_ID, entry_point=LineEnv, max_episode_steps=MAX_STEPS)


class CrashesOnMakeEnv(LineEnv):
    """A robot env whose constructor fails (its hardware is not there)."""

    def __init__(self) -> None:
        raise RuntimeError("motor driver not found")


class DraggedLineEnv(LineEnv):
    """LineEnv with a physical parameter it declares to neuroq (DECLARED_PHYSICS): the
    damping of its velocity, and a derived attribute kept up to date."""

    DRAG = 0.5
    neuroq_physics = {"DRAG": {"meaning": "velocity damping per step", "unit": "1",
                               "zero_ok": True}}

    def __init__(self) -> None:
        super().__init__()
        self.neuroq_physics_changed()

    def neuroq_physics_changed(self) -> None:
        self.keep = 1.0 - self.DRAG / 10

    def step(self, action):
        obs, reward, term, trunc, info = super().step(action)
        self.state[1] *= self.keep
        return self._obs(), reward, term, trunc, info


class WronglyDeclaredEnv(LineEnv):
    neuroq_physics = ["DRAG"]


class RefusesInItsOwnWordsEnv(LineEnv):
    """A user's env that raises neuroq's own one-line error."""

    def __init__(self) -> None:
        from neuroq.deploy.errors import NeuroqError

        raise NeuroqError("the robot's calibration file is missing")


def make_dragged_line():
    """A factory function as an env entry point (gymnasium takes either)."""
    return DraggedLineEnv()


class MisdeclaredEnv(LineEnv):
    """Declares a physics parameter it has no attribute for."""

    neuroq_physics = {"NOPE": "nothing reads it"}


class FailsOnResetEnv(LineEnv):
    """A robot env whose reset fails (its homing routine times out)."""

    def reset(self, *, seed=None, options=None):
        raise TimeoutError("homing did not finish")


class NeverEndsEnv(LineEnv):
    """A user's env whose episodes never end on their own (no termination, no truncation)."""

    def step(self, action):
        obs, reward, _, _, info = super().step(action)
        return obs, reward, False, False, info


class CrashesWhileRunningEnv(LineEnv):
    """A user's env whose step raises after 30 steps in all (its physics blows up)."""

    total = 0

    def step(self, action):
        if self.total >= 30:
            raise ValueError("simulated physics blew up")
        self.total += 1
        return super().step(action)


class WrongShapeObsEnv(LineEnv):
    """Declares 2 observation values and returns 3."""

    def _obs(self):
        return np.append(self.state, 0.0).astype(np.float32)


class NanObsEnv(LineEnv):
    """Returns a NaN observation value on its 20th step."""

    def _obs(self):
        obs = self.state.copy()
        if self.steps == 20:
            obs[1] = np.nan
        return obs


class HumanRenderOnlyEnv(LineEnv):
    """Renders for a person only (no rgb_array)."""

    metadata = {"render_modes": ["human"]}

    def __init__(self, render_mode=None):
        super().__init__()
        self.render_mode = render_mode


class BatchedObsEnv(LineEnv):
    """Returns its (2,) observation as (1, 2), as some wrappers do: the size fits."""

    def _obs(self):
        return self.state.copy()[None]


class OldGymApiEnv(LineEnv):
    """A gym (pre-Gymnasium) step: obs, reward, done, info."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated or truncated, info


class NanRewardEnv(LineEnv):
    """Pays a NaN reward on its 10th step."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, (float("nan") if self.steps == 10 else reward), terminated, truncated, info
