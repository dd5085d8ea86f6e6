"""Robot I/O for a deployed policy: joint states to observations, actions to commands.

Pure numpy, no rclpy: the ROS 2 nodes in `ros_nodes/` are thin adapters over these.

- `JointLayout`: how an environment's observation maps to named joints (positions and
  velocities, as `sensor_msgs/JointState` carries them), with the limits that a valid
  reading must respect.
- `observation_from_joints` validates one reading (joint count, names, finite, in range)
  and raises `MalformedInput` with a short `reason` when it must be dropped.
- `ActionTable`: discrete action index -> actuator command (joint efforts, or a planar
  twist for a mobile base), clamped to configured limits; `action_from_effort` inverts it.
- `Watchdog`: the state machine that sends the safe command when actions stop arriving.
- `check_stamp`, `check_copied_string`: header plausibility (a stamp that no sensor clock
  writes, or a string too long to copy into an output); `shown`: names as logs print them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from neuroq.deploy.errors import NeuroqError

# Reasons an input is dropped; diagnostics count drops per reason under these names.
REASON_WRONG_COUNT = "wrong_count"
REASON_WRONG_NAMES = "wrong_names"
REASON_NOT_FINITE = "not_finite"
REASON_OUT_OF_RANGE = "out_of_range"
REASON_BAD_ACTION = "bad_action"
REASON_BAD_STAMP = "bad_stamp"
REASON_TOO_LONG = "too_long"
REASON_UNDECODABLE = "undecodable"
DROP_REASONS = (REASON_WRONG_COUNT, REASON_WRONG_NAMES, REASON_NOT_FINITE, REASON_OUT_OF_RANGE,
                REASON_BAD_STAMP, REASON_TOO_LONG, REASON_UNDECODABLE)


class MalformedInput(NeuroqError):
    """An input message that must be dropped; `reason` is one of the REASON_* names."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- joint layouts -------------------------------------------------------------------------

# CartPole-v1 (gymnasium classic_control/cartpole.py): the observation space bounds the cart
# position at +-2 x_threshold = 4.8 m and the pole angle at +-2 x 12 deg = 0.419 rad; the
# velocities are unbounded there. Speed limits: 5x the largest seen in 300 episodes of random
# and heuristic play before termination (2.0 m/s, 2.8 rad/s); anything faster is a bad reading.
CARTPOLE_POSITION_LIMIT_M = 4.8
CARTPOLE_ANGLE_LIMIT_RAD = 0.41887903
CARTPOLE_SPEED_LIMIT_M_S = 10.0
CARTPOLE_RATE_LIMIT_RAD_S = 15.0
# CartPole's only actions push the cart with force_mag = 10 N to the left (0) or right (1).
CARTPOLE_FORCE_N = 10.0

# Acrobot-v1 (gymnasium classic_control/acrobot.py): angles are wrapped to [-pi, pi];
# velocities clipped to MAX_VEL_1 = 4 pi and MAX_VEL_2 = 9 pi rad/s; torques AVAIL_TORQUE.
ACROBOT_MAX_VEL_1_RAD_S = 4 * np.pi
ACROBOT_MAX_VEL_2_RAD_S = 9 * np.pi
ACROBOT_TORQUES_NM = (-1.0, 0.0, 1.0)
# an angle reading may sit a rounding error beyond pi after wrapping
ANGLE_WRAP_SLACK_RAD = 1e-6


def _cartpole_observation(pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
    return np.array([pos[0], vel[0], pos[1], vel[1]], np.float32)


def _cartpole_joints(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs = np.asarray(obs, np.float64)
    return np.array([obs[0], obs[2]]), np.array([obs[1], obs[3]])


def _acrobot_observation(pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
    return np.array(
        [np.cos(pos[0]), np.sin(pos[0]), np.cos(pos[1]), np.sin(pos[1]), vel[0], vel[1]],
        np.float32)


def _acrobot_joints(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs = np.asarray(obs, np.float64)
    pos = np.array([np.arctan2(obs[1], obs[0]), np.arctan2(obs[3], obs[2])])
    return pos, np.array([obs[4], obs[5]])


@dataclass(frozen=True)
class JointLayout:
    """How one environment's observation is carried as joint positions and velocities.

    joint_names: joints in the order the observation uses them.
    position_limits / velocity_limits: (n_joints,) symmetric bounds, SI units (m, rad, m/s,
        rad/s); a reading beyond them is dropped as out of range.
    action_efforts: effort (N or N m) that each discrete action applies to `effort_joint`.
    to_observation(pos, vel) -> float32 observation; to_joints(obs) -> (pos, vel).
    """

    env_id: str
    joint_names: tuple[str, ...]
    position_limits: tuple[float, ...]
    velocity_limits: tuple[float, ...]
    effort_joint: str
    action_efforts: tuple[float, ...]
    to_observation: Callable[[np.ndarray, np.ndarray], np.ndarray]
    to_joints: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(set(self.joint_names)) != n:
            raise NeuroqError(f"{self.env_id}: joint names must be distinct: {self.joint_names}")
        if len(self.position_limits) != n or len(self.velocity_limits) != n:
            raise NeuroqError(
                f"{self.env_id}: need one position and one velocity limit per joint ({n})")
        if min(self.position_limits) <= 0 or min(self.velocity_limits) <= 0:
            raise NeuroqError(f"{self.env_id}: joint limits must be positive")

    def with_overrides(
        self,
        joint_names: Sequence[str] | None = None,
        position_limits: Sequence[float] | None = None,
        velocity_limits: Sequence[float] | None = None,
    ) -> JointLayout:
        """A copy with a robot's own joint names or limits (empty or None keeps ours)."""
        names = tuple(joint_names) if joint_names else self.joint_names
        effort_joint = self.effort_joint
        if joint_names:
            effort_joint = names[self.joint_names.index(self.effort_joint)]
        return JointLayout(
            self.env_id, names,
            tuple(float(x) for x in position_limits) if position_limits else self.position_limits,
            tuple(float(x) for x in velocity_limits) if velocity_limits else self.velocity_limits,
            effort_joint, self.action_efforts, self.to_observation, self.to_joints)


JOINT_LAYOUTS: dict[str, JointLayout] = {
    "CartPole-v1": JointLayout(
        env_id="CartPole-v1",
        joint_names=("cart_slider", "pole_hinge"),
        position_limits=(CARTPOLE_POSITION_LIMIT_M, CARTPOLE_ANGLE_LIMIT_RAD),
        velocity_limits=(CARTPOLE_SPEED_LIMIT_M_S, CARTPOLE_RATE_LIMIT_RAD_S),
        effort_joint="cart_slider",
        action_efforts=(-CARTPOLE_FORCE_N, CARTPOLE_FORCE_N),
        to_observation=_cartpole_observation,
        to_joints=_cartpole_joints,
    ),
    "Acrobot-v1": JointLayout(
        env_id="Acrobot-v1",
        joint_names=("shoulder", "elbow"),
        position_limits=(np.pi + ANGLE_WRAP_SLACK_RAD, np.pi + ANGLE_WRAP_SLACK_RAD),
        velocity_limits=(ACROBOT_MAX_VEL_1_RAD_S, ACROBOT_MAX_VEL_2_RAD_S),
        effort_joint="elbow",
        action_efforts=ACROBOT_TORQUES_NM,
        to_observation=_acrobot_observation,
        to_joints=_acrobot_joints,
    ),
}


def joint_layout(env_id: str) -> JointLayout:
    """The joint layout of `env_id`, or a NeuroqError naming the supported ones."""
    try:
        return JOINT_LAYOUTS[env_id]
    except KeyError:
        raise NeuroqError(
            f"no joint layout for environment {env_id!r}; supported: "
            f"{', '.join(sorted(JOINT_LAYOUTS))}") from None


def observation_from_joints(
    layout: JointLayout,
    names: Sequence[str],
    positions: Sequence[float],
    velocities: Sequence[float],
) -> np.ndarray:
    """Validate one joint reading and return the float32 observation.

    The reading may list the joints in any order (joint_state_broadcaster does not promise
    one); they are matched by name. Raises MalformedInput (reason: wrong_count, wrong_names,
    not_finite or out_of_range) for a reading that must be dropped.
    """
    n = len(layout.joint_names)
    if len(names) != n or len(positions) != n or len(velocities) != n:
        raise MalformedInput(
            REASON_WRONG_COUNT,
            f"expected {n} joints with a position and a velocity each, got {len(names)} "
            f"names, {len(positions)} positions, {len(velocities)} velocities")
    names = list(names)
    if names == list(layout.joint_names):
        order = None
    else:
        try:
            order = [names.index(j) for j in layout.joint_names]
        except ValueError:
            raise MalformedInput(
                REASON_WRONG_NAMES,
                f"expected joints {shown_names(layout.joint_names)}, got "
                f"{shown_names(names)}") from None
        if len(set(names)) != n:
            raise MalformedInput(REASON_WRONG_NAMES,
                                 f"repeated joint names: {shown_names(names)}")
    pos = np.asarray(positions, np.float64)
    vel = np.asarray(velocities, np.float64)
    if order is not None:
        pos, vel = pos[order], vel[order]
    if not (np.isfinite(pos).all() and np.isfinite(vel).all()):
        raise MalformedInput(REASON_NOT_FINITE, "joint reading holds NaN or infinity")
    if (np.abs(pos) > layout.position_limits).any() or (
            np.abs(vel) > layout.velocity_limits).any():
        raise MalformedInput(
            REASON_OUT_OF_RANGE,
            f"joint reading outside limits: positions {pos.tolist()} (limits "
            f"{list(layout.position_limits)}), velocities {vel.tolist()} (limits "
            f"{list(layout.velocity_limits)})")
    return layout.to_observation(pos, vel)


def joints_from_observation(
    layout: JointLayout, observation: np.ndarray
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(names, positions, velocities) that carry `observation` (the simulated robot's side)."""
    pos, vel = layout.to_joints(observation)
    return layout.joint_names, pos, vel


# --- actions to commands -------------------------------------------------------------------


@dataclass(frozen=True)
class ActionTable:
    """Discrete action index -> command vector, clamped, with a safe command.

    commands: (n_actions, n_channels) command per action, SI units (N, N m, m/s, rad/s).
    limits: (n_channels,) symmetric bound each channel is clamped to.
    safe: (n_channels,) the command sent when no fresh action arrives (zero effort, stop).
    """

    commands: np.ndarray
    limits: np.ndarray
    safe: np.ndarray

    def __post_init__(self) -> None:
        if self.commands.ndim != 2 or self.commands.shape[0] < 1:
            raise NeuroqError("the action table needs one row per action (n_actions, channels)")
        channels = self.commands.shape[1]
        if self.limits.shape != (channels,) or self.safe.shape != (channels,):
            raise NeuroqError(f"limits and safe command need {channels} values each")
        if not (np.isfinite(self.commands).all() and np.isfinite(self.safe).all()):
            raise NeuroqError("action table and safe command must be finite")
        if (self.limits < 0).any() or not np.isfinite(self.limits).all():
            raise NeuroqError("command limits must be finite and non-negative")
        if (np.abs(self.safe) > self.limits).any():
            raise NeuroqError(
                f"the safe command {self.safe.tolist()} exceeds the limits "
                f"{self.limits.tolist()}")

    @classmethod
    def from_lists(
        cls, commands: Sequence[Sequence[float]], limits: Sequence[float],
        safe: Sequence[float] | None = None,
    ) -> ActionTable:
        """Build a table; `safe` defaults to all zeros."""
        table = np.atleast_2d(np.asarray(commands, np.float64))
        lim = np.asarray(limits, np.float64).reshape(-1)
        safe_arr = (np.zeros(table.shape[1]) if safe is None
                    else np.asarray(safe, np.float64).reshape(-1))
        return cls(table, lim, safe_arr)

    @property
    def n_actions(self) -> int:
        return int(self.commands.shape[0])

    def command(self, action: int) -> np.ndarray:
        """The clamped command for `action`; MalformedInput(bad_action) if out of range."""
        if not 0 <= action < self.n_actions:
            raise MalformedInput(
                REASON_BAD_ACTION, f"action {action} outside 0..{self.n_actions - 1}")
        return clamp(self.commands[action], self.limits)


def clamp(command: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Clamp each channel of `command` to +-limits."""
    return np.clip(np.asarray(command, np.float64), -limits, limits)


def action_from_effort(effort: float, action_efforts: Sequence[float],
                       tolerance: float) -> int | None:
    """The discrete action whose effort is within `tolerance` of `effort`, else None.

    The simulated robot uses this to turn a joint effort command back into the
    environment's action; a safe (zero) effort that matches no action gives None.
    """
    if not np.isfinite(effort):
        return None
    diffs = np.abs(np.asarray(action_efforts, np.float64) - effort)
    best = int(np.argmin(diffs))
    return best if diffs[best] <= tolerance else None


# --- watchdog ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watchdog:
    """Fresh-action watchdog. Times in seconds on one monotonic clock.

    last_action_s: when the last valid action arrived (None: none yet).
    tripped: True while the safe command is out (also before the first action).
    trips: how many times it went from fresh to tripped.
    """

    timeout_s: float
    last_action_s: float | None = None
    tripped: bool = True
    trips: int = 0

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise NeuroqError(f"watchdog timeout must be positive, got {self.timeout_s} s")


def credited_age(reading_age_s: float, timeout_s: float) -> float:
    """How much of a reading's age (its stamp to the action's arrival) the watchdog counts.

    The safe command must go out within a bound measured from the last *reading*, so the
    watchdog counts from the reading's stamp rather than from the action's arrival. Stamps
    come from the sensor's clock: an age outside [0, timeout) means the clocks disagree (or
    the action is already stale), and then only the arrival time is trusted (age 0).
    """
    return reading_age_s if 0.0 <= reading_age_s < timeout_s else 0.0


def watchdog_feed(dog: Watchdog, now_s: float) -> tuple[Watchdog, bool]:
    """A fresh action, based on information from `now_s`, arrived: returns (new state, True
    if this ends a trip). Pass the arrival time minus `credited_age` of its reading."""
    return Watchdog(dog.timeout_s, now_s, False, dog.trips), dog.tripped


def watchdog_check(dog: Watchdog, now_s: float, slack_s: float = 0.0) -> tuple[Watchdog, bool]:
    """Check at `now_s`: returns (new state, True if the safe command must go out now).

    The safe command goes out when no action arrived within the timeout (minus `slack_s`,
    which absorbs a timer firing a little early) and keeps going out at every check while
    tripped.
    """
    if dog.tripped:
        return dog, True
    if dog.last_action_s is not None and now_s - dog.last_action_s < dog.timeout_s - slack_s:
        return dog, False
    return Watchdog(dog.timeout_s, dog.last_action_s, True, dog.trips + 1), True


# --- headers and names ---------------------------------------------------------------------

NS_PER_S = 1_000_000_000
#: A stamp this far ahead of the receiving node's clock is not a measurement (default of the
#: policy node's `max_stamp_lead_s`): clocks that chrony or NTP keep in step differ by
#: micro- to milliseconds, so 1 s is three orders of magnitude of slack.
DEFAULT_MAX_STAMP_LEAD_S = 1.0
#: A reading stamp further back than this on the receiving node's clock is taken as another
#: clock, not as latency: it is answered but left out of latency figures and watchdog credit.
PLAUSIBLE_LATENCY_S = 1.0
#: Longest string a node copies from an input into an output, characters. Only frame_id is
#: copied (reading -> action); tf frame names are tens of characters ("base_link",
#: "left_wheel_joint"), and a 1 MB frame_id would make every action a 1 MB message.
MAX_COPIED_STRING_CHARS = 256
#: Largest serialized joint reading decoded, bytes. A sensor_msgs/JointState costs about
#: 4 + len(name) + 3 x 8 bytes per joint plus a header: 2 joints take 116 bytes, a
#: 50-joint humanoid with 30-character names about 3 KB. A bigger message is dropped
#: (too_long) before it is turned into Python objects: a 100,000-joint reading would be
#: 100,000 strings and about 10 MB of heap for one callback.
MAX_READING_BYTES = 64 * 1024
#: Logs show at most this many characters of a name, and at most SHOWN_NAMES names.
SHOWN_CHARS = 64
SHOWN_NAMES = 8


def check_stamp(sec: int, nanosec: int, now_ns: int, max_lead_ns: int | None) -> int:
    """A builtin_interfaces/Time as nanoseconds, or MalformedInput(bad_stamp) when no sensor
    clock could have written it:

    - nanosec >= 1e9 (not normalized: `sec + nanosec / 1e9` is the time, nanosec < 1e9),
    - sec < 0 (before the epoch; rclpy's Time refuses to build it),
    - sec == nanosec == 0 (never stamped),
    - more than `max_lead_ns` ahead of `now_ns`, the receiver's clock (a measurement from
      the future). Not judged when `now_ns` is 0 (a simulated clock that has not started)
      or `max_lead_ns` is None.
    """
    if not 0 <= nanosec < NS_PER_S:
        raise MalformedInput(REASON_BAD_STAMP, f"stamp nanosec {nanosec} outside 0..999999999")
    if sec < 0:
        raise MalformedInput(REASON_BAD_STAMP, f"stamp sec {sec} is negative")
    ns = sec * NS_PER_S + nanosec
    if ns == 0:
        raise MalformedInput(REASON_BAD_STAMP, "stamp is zero (the message was never stamped)")
    if max_lead_ns is not None and now_ns > 0 and ns - now_ns > max_lead_ns:
        raise MalformedInput(
            REASON_BAD_STAMP,
            f"stamp {(ns - now_ns) / NS_PER_S:.3g} s ahead of this node's clock (at most "
            f"{max_lead_ns / NS_PER_S:g} s)")
    return ns


def check_copied_string(text: str, what: str, limit: int = MAX_COPIED_STRING_CHARS) -> str:
    """`text` if it may be copied into an output, else MalformedInput(too_long)."""
    if len(text) > limit:
        raise MalformedInput(
            REASON_TOO_LONG, f"{what} has {len(text)} characters (at most {limit} are copied)")
    return text


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` as logs show it: ascii() (quoted, every non-ASCII character escaped, so a
    Cyrillic "о" in "pоle_hinge" reads 'p\\u043ele_hinge' and cannot pass for the Latin one),
    cut to `limit` characters of the name with the full length stated."""
    if len(text) <= limit:
        return ascii(text)
    return f"{ascii(text[:limit])}...({len(text)} characters)"


def shown_names(names: Sequence[str]) -> str:
    """A list of names as logs show them (`shown`), at most SHOWN_NAMES of them."""
    names = list(names)
    head = ", ".join(shown(str(n)) for n in names[:SHOWN_NAMES])
    more = f", ...({len(names)} names)" if len(names) > SHOWN_NAMES else ""
    return f"[{head}{more}]"
