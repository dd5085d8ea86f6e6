"""Two hand-made policies for DiffDriveNav, to give its scores a scale.

- `random_actions`: uniform random actions (what an untrained network is worth).
- `reactive_action`: go to the goal, avoid what is ahead. It turns towards the goal's
  bearing and drives when the sectors ahead are clear; when something is closer than
  BLOCKED_M in the sectors ahead, it turns in place towards the side with more room. It has
  no memory, so a concave trap (a goal behind a box) can hold it until the time limit.
"""

from __future__ import annotations

import numpy as np

from neuroq.envs.diffdrive_nav import ACTION_NAMES

FORWARD, FORWARD_LEFT, FORWARD_RIGHT, TURN_LEFT, TURN_RIGHT, STOP = range(len(ACTION_NAMES))
BLOCKED_M = 0.4
"""Something this close ahead (sector minimum) blocks driving: the robot turns in place."""
CAUTION_M = 0.7
"""Closer than this ahead, the robot prefers the arc that leads away from it."""
AHEAD_RAD = 0.6
"""Sectors whose centres lie within this angle of the heading count as ahead."""
ALIGNED_RAD = 0.25
"""A goal within this bearing is straight ahead."""
STEER_RAD = 1.2
"""Beyond this bearing the robot turns in place rather than on an arc."""


def random_actions(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uniform random actions."""
    return rng.integers(0, len(ACTION_NAMES), n)


def reactive_action(obs: np.ndarray, n_sectors: int) -> int:
    """One action of the go-to-goal-and-avoid controller for one observation."""
    obs = np.asarray(obs, np.float64)
    sectors = obs[:n_sectors]
    bearing = obs[n_sectors + 1]
    centres = np.arange(n_sectors) * (2 * np.pi / n_sectors)
    centres = (centres + np.pi) % (2 * np.pi) - np.pi
    ahead = np.abs(centres) <= AHEAD_RAD
    left = (centres > 0) & (centres <= np.pi / 2)
    right = (centres < 0) & (centres >= -np.pi / 2)
    nearest_ahead = sectors[ahead].min()
    if nearest_ahead < BLOCKED_M:
        return TURN_LEFT if sectors[left].mean() >= sectors[right].mean() else TURN_RIGHT
    if abs(bearing) <= ALIGNED_RAD:
        if nearest_ahead < CAUTION_M:
            return FORWARD_LEFT if sectors[left].min() >= sectors[right].min() else FORWARD_RIGHT
        return FORWARD
    if abs(bearing) >= STEER_RAD:
        return TURN_LEFT if bearing > 0 else TURN_RIGHT
    return FORWARD_LEFT if bearing > 0 else FORWARD_RIGHT


def reactive_actions(obs: np.ndarray, n_sectors: int) -> np.ndarray:
    """`reactive_action` for each row of a batch of observations."""
    return np.array([reactive_action(o, n_sectors) for o in np.atleast_2d(obs)], np.int64)
