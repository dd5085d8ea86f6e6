"""A Gymnasium environment run as if it were a robot, in lockstep with its controller.

`LockstepRobot` is the logic of the simulated robot node (`ros_nodes/sim_robot_node.py`),
free of ROS. What it publishes and which commands it takes is a robot interface's
(`neuroq.deploy.interface`): after each reset and step it reads its sensors as plain data
per source, from the environment's own `sensor_data()` where it has one (DiffDriveNav: the
raw scan, odometry and goal) and else by inverting the interface on the observation (joint
positions and velocities of CartPole and Acrobot). At every control tick it either
publishes a new reading or waits:

- Each published reading carries a stamp (an integer, nanoseconds): the time the state was
  read, after the environment step that produced it (a robot stamps a sensor sample when it
  is taken, not when the control tick began). A command answers the
  reading whose stamp it carries; commands with any other stamp (late, or the actuator's
  safe command) are counted and not applied.
- When the answer to the current reading has arrived, the next tick steps the environment
  with that action and publishes the new reading. So each environment step uses exactly the
  action computed from the observation before it, and the same seed gives the same returns
  as an in-process evaluation, whatever the transport's timing.
- A tick with no answer yet is a late tick. After `command_timeout_ticks` late ticks in a
  row, the answer is counted lost and the current reading is published again with a new
  stamp, so the loop resumes when the controller comes back. An answer to a lost reading
  that still arrives later is counted (`answers_after_loss`) and not applied.
- Until the first answer arrives the controller is not connected yet (it may still be
  starting, or discovery has not matched it): waiting ticks and republished readings then
  count as `startup_ticks` and `startup_republished`, not as late ticks and lost commands.
- On termination or truncation the episode return is reported and the environment resets.
  Episode k (from 0) resets with seed `seed + k`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.interface import RobotInterface
from neuroq.deploy.rollout import OUTCOME_KEYS, episode_seed, make_env

#: How many lost readings' stamps are remembered to recognise an answer that comes late.
LOST_STAMPS_KEPT = 100


@dataclass(frozen=True)
class Tick:
    """What one control tick produced.

    observation: the observation of the reading to publish now (None: publish nothing).
    stamp: the stamp to publish it with (None when nothing is published).
    readings: the reading as plain data per source of the interface (what to publish).
    episode_return: the return of an episode that ended in this tick (None: none ended).
    outcome: that episode's outcome where the environment reports one
        (neuroq.deploy.rollout.OUTCOME_KEYS: is_success, collision, time_to_goal_s).
    late: no answer to the current reading had arrived.
    lost: the answer was given up on and the reading is published again (after start-up).
    """

    observation: np.ndarray | None
    stamp: int | None = None
    readings: dict[str, dict[str, Any]] = field(default_factory=dict)
    episode_return: float | None = None
    outcome: dict[str, float] = field(default_factory=dict)
    late: bool = False
    lost: bool = False


@dataclass
class RobotCounters:
    """Running totals, reported in the node's diagnostics."""

    ticks: int = 0
    steps: int = 0
    late_ticks: int = 0
    lost_commands: int = 0
    unmatched_commands: int = 0
    startup_ticks: int = 0
    startup_republished: int = 0
    answers_after_loss: int = 0
    episodes: int = 0


class LockstepRobot:
    """A Gymnasium environment stepped by commands that answer its published readings.

    env_id: a registered Gymnasium id with a discrete action space.
    interface: the robot interface (its observation must be the environment's).
    seed: seed of episode 0; episode k uses seed + k.
    command_tolerance: how far each commanded value may be from an action's (SI units).
    command_timeout_ticks: late ticks before an answer is counted lost (>= 1).
    max_episodes: stop publishing after this many episodes (0: never stop).
    """

    def __init__(self, env_id: str, interface: RobotInterface, seed: int = 0,
                 command_tolerance: float = 1e-3, command_timeout_ticks: int = 10,
                 max_episodes: int = 0) -> None:
        if command_timeout_ticks < 1:
            raise NeuroqError("command_timeout_ticks must be at least 1")
        self.env = make_env(env_id)
        n_actions = getattr(self.env.action_space, "n", None)
        if n_actions is None or int(n_actions) != interface.n_actions:
            raise NeuroqError(
                f"{env_id}: interface {interface.name} has {interface.n_actions} actions but "
                f"the action space is {self.env.action_space}")
        shape = getattr(self.env.observation_space, "shape", None)
        if shape != (interface.n_observations,):
            raise NeuroqError(
                f"{env_id}: interface {interface.name} makes {interface.n_observations} "
                f"observation values but the environment observes {shape}")
        self.interface = interface
        self._sensor_data = getattr(self.env.unwrapped, "sensor_data", None)
        self.seed = seed
        self.command_tolerance = command_tolerance
        self.command_timeout_ticks = command_timeout_ticks
        self.max_episodes = max_episodes
        self.counters = RobotCounters()
        self.returns: list[float] = []
        self.outcomes: list[dict[str, float]] = []
        self._obs: np.ndarray | None = None
        self._readings: dict[str, dict[str, Any]] = {}
        self._return = 0.0
        self._pending: int | None = None
        self._answer: int | None = None
        self._waited = 0
        self.connected = False  # an answer has been taken at least once
        #: stamps of the last readings counted lost (an answer to one is counted if it comes)
        self.lost_stamps: deque[int] = deque(maxlen=LOST_STAMPS_KEPT)

    @property
    def done(self) -> bool:
        """True once max_episodes episodes have ended."""
        return self.max_episodes > 0 and self.counters.episodes >= self.max_episodes

    def tick(self, stamp: int | Callable[[], int]) -> Tick:
        """One control tick; see the module docstring.

        stamp: the stamp of a reading published in this tick, or a clock (a callable
        returning nanoseconds) read when the state has been read, after the step.
        """
        self.counters.ticks += 1
        if self.done:
            return Tick(None)
        if self._obs is None:
            self._reset()
            return self._publish(stamp)
        if self._answer is None:
            c = self.counters
            if self.connected:
                c.late_ticks += 1
            else:
                c.startup_ticks += 1
            self._waited += 1
            if self._waited < self.command_timeout_ticks:
                return Tick(None, late=True)
            if self.connected:
                c.lost_commands += 1
                self.lost_stamps.append(self._pending)
            else:
                c.startup_republished += 1
            return replace(self._publish(stamp), late=True, lost=self.connected)
        obs, reward, terminated, truncated, info = self.env.step(self._answer)
        self.counters.steps += 1
        self._return += float(reward)
        if terminated or truncated:
            ended = self._return
            outcome = {k: float(info[k]) for k in OUTCOME_KEYS if k in info}
            self.returns.append(ended)
            self.outcomes.append(outcome)
            self.counters.episodes += 1
            if self.done:
                self._pending = None
                return Tick(None, episode_return=ended, outcome=outcome)
            self._reset()
            return replace(self._publish(stamp), episode_return=ended, outcome=outcome)
        self._sense(obs)
        return self._publish(stamp)

    def command(self, stamp: int, values: Sequence[float]) -> bool:
        """A command (its channel values) for reading `stamp`: True if it is the awaited
        answer and was taken."""
        if stamp != self._pending or self._answer is not None:
            self.counters.unmatched_commands += 1
            if stamp in self.lost_stamps:  # it came after all, too late
                self.counters.answers_after_loss += 1
            return False
        action = self.interface.action_from_command(values, self.command_tolerance)
        if action is None:
            self.counters.unmatched_commands += 1
            return False
        self._answer = action
        self.connected = True
        return True

    def _reset(self) -> None:
        obs, _ = self.env.reset(seed=episode_seed(self.seed, self.counters.episodes))
        self._sense(obs)
        self._return = 0.0

    def _sense(self, obs: Any) -> None:
        """The observation and the reading that carries it, as the robot's sensors give it."""
        self._obs = np.asarray(obs, np.float32)
        self._readings = (self._sensor_data() if callable(self._sensor_data)
                          else self.interface.readings_from_observation(self._obs))

    def _publish(self, stamp: int | Callable[[], int]) -> Tick:
        self._pending = stamp() if callable(stamp) else stamp
        self._answer = None
        self._waited = 0
        return Tick(self._obs, self._pending, self._readings)
