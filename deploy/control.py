"""Robot I/O for a deployed policy: drop reasons, commands, the watchdog, header checks.

Pure numpy, no rclpy: the ROS 2 nodes in `ros_nodes/` are thin adapters over these. Which
messages make the observation and which command each action sends is a robot interface's
(`neuroq.deploy.interface`, declared in YAML): no robot is described in code.

- `MalformedInput`: an input that must be dropped, with a short `reason` that diagnostics
  count.
- `ActionTable`: discrete action index -> actuator command (joint efforts, array values or
  a twist), clamped to configured limits, with the safe command.
- `Watchdog`: the state machine that sends the safe command when actions stop arriving.
- `check_stamp`, `check_copied_string`: header plausibility (a stamp that no sensor clock
  writes, or a string too long to copy into an output); `shown`: names as logs print them.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    watchdog counts from the reading's stamp rather than from the action's arrival. A
    negative age (the sensor's clock a little ahead of ours) counts from the arrival (age
    0); so does an age of `timeout_s` or more: a late action (commanded), a stale one
    (`is_stale`: not commanded), or a stamp of another clock (`same_clock`).
    """
    return reading_age_s if 0.0 <= reading_age_s < timeout_s else 0.0


#: Stamps before 2001-01-01 (seconds since the Unix epoch) come from a clock that counts
#: from its own start, not from a wall clock: an event camera's time (the event node stamps
#: its actions so), a microcontroller's since boot, a simulation's read without
#: `use_sim_time`. Such a stamp cannot be compared with a wall clock, nor the reverse.
WALL_CLOCK_ERA_S = 978_307_200


def same_clock(stamp_s: float, now_s: float) -> bool:
    """Whether a stamp and the receiving node's time can be compared: both on a wall clock
    (in step, as ROS assumes: chrony, NTP) or both on a clock counting from its start (a
    simulation's, with `use_sim_time`)."""
    return (stamp_s >= WALL_CLOCK_ERA_S) == (now_s >= WALL_CLOCK_ERA_S)


#: An action whose reading is this many watchdog timeouts old on arrival is stale (not
#: commanded). One that is late by less (between one and STALE_TIMEOUTS timeouts: a loaded
#: machine's occasional 16 ms under a 15 ms timeout) is commanded and counted from its
#: arrival, so the watchdog still ends it one timeout later; refusing those too lost 21
#: commands in one 100 Hz closed-loop test run here under the test suite's load.
STALE_TIMEOUTS = 2.0
#: A run of late actions (each reading at least one timeout old on arrival) of at least
#: LATE_RUN_LIMIT lasting at least LATE_RUN_TIMEOUTS timeouts is a constant lag, not a loaded
#: machine's occasional late action: its late actions are stale from then on, until the
#: stream comes in time again. An outsider's readings 150 ms old under a 100 ms timeout
#: were all commanded, counted from their arrival, with status OK, while readings 80 ms old
#: tripped the watchdog between every two actions. The span spares a burst (actions queued
#: while DDS matched, delivered at once 17-111 ms old under a 15 ms timeout: a first
#: version that counted actions alone refused them all in 1 of 6 runs of a test here).
LATE_RUN_LIMIT = 5
LATE_RUN_TIMEOUTS = 10.0
#: In-time actions take LATE_RUN_DRAIN off a run, late ones add one, up to LATE_RUN_CAP: a
#: stream with more than two thirds of its actions late keeps its run (ending a run at the
#: first action in time let a lag with every fifth action in time be commanded for good: an
#: outsider), and LATE_RUN_CAP / LATE_RUN_DRAIN in-time actions in a row end any run. Only
#: late actions are ever refused by it; an in-time one is always commanded.
LATE_RUN_DRAIN = 2
LATE_RUN_CAP = 2 * LATE_RUN_LIMIT


@dataclass(frozen=True)
class LateRun:
    """A run of late actions: its level (`count`: late actions less LATE_RUN_DRAIN per
    action in time, at most LATE_RUN_CAP; above 0 while the run lasts), the arrival of its
    first late action (`since_s`) and of its last action (`last_s`), steady clock;
    `LateRun()`: none."""

    count: int = 0
    since_s: float = 0.0
    last_s: float = 0.0


def late_run(run: LateRun, reading_age_s: float, timeout_s: float, stamp_s: float,
             now_s: float, arrival_s: float) -> LateRun:
    """The run of late actions with this one: late is a reading `timeout_s` old or older on
    arrival, on the receiving node's kind of clock (`same_clock`). A late action adds one to
    the run's level (up to LATE_RUN_CAP), one in time takes LATE_RUN_DRAIN off (the run
    ends at 0), and an action more than `timeout_s` after the run's last starts over (a lag
    at the control rate comes every period; a burst, a silence, then one late action is no
    lag: the review)."""
    late = reading_age_s >= timeout_s and same_clock(stamp_s, now_s)
    if not run.count or arrival_s - run.last_s > timeout_s:
        return LateRun(1, arrival_s, arrival_s) if late else LateRun()
    if late:
        return LateRun(min(run.count + 1, LATE_RUN_CAP), run.since_s, arrival_s)
    level = run.count - LATE_RUN_DRAIN
    return LateRun(level, run.since_s, arrival_s) if level > 0 else LateRun()


def is_lagging(run: LateRun, timeout_s: float, arrival_s: float) -> bool:
    """Whether a run of late actions is a constant lag: its level at LATE_RUN_LIMIT or more,
    LATE_RUN_TIMEOUTS timeouts or more after its first late action."""
    return (run.count >= LATE_RUN_LIMIT
            and arrival_s - run.since_s >= LATE_RUN_TIMEOUTS * timeout_s)


def is_stale(reading_age_s: float, timeout_s: float, stamp_s: float, now_s: float,
             lagging: bool = False) -> bool:
    """Whether an action answers a reading that was STALE_TIMEOUTS x `timeout_s` old (or
    older) when the action arrived (`reading_age_s` = `now_s` - `stamp_s`), or a late one
    of a constant lag (`lagging`, from `is_lagging`): not commanded. Only for a stamp on
    the receiving node's kind of clock (`same_clock`); another clock's stamp, and a stamp
    ahead of ours (negative age), are not stale (the watchdog counts from the action's
    arrival then)."""
    return same_clock(stamp_s, now_s) and (reading_age_s >= STALE_TIMEOUTS * timeout_s or (
        reading_age_s >= timeout_s and lagging))


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
#: A reading stamp further back than this on the receiving node's clock is left out of the
#: latency figures (no stamp can push a latency window to its cap). The policy node answers
#: it; the actuator does not command it (older than its watchdog timeout: `is_stale`).
PLAUSIBLE_LATENCY_S = 1.0
#: Longest string a node copies from an input into an output, characters. Only frame_id is
#: copied (reading -> action); tf frame names are tens of characters ("base_link",
#: "left_wheel_joint"), and a 1 MB frame_id would make every action a 1 MB message.
MAX_COPIED_STRING_CHARS = 256


def check_frame_id(frame_id: str, what: str = "frame_id") -> str:
    """`frame_id` if a node copies it (at most MAX_COPIED_STRING_CHARS characters), else
    NeuroqError: a sender of a longer one has every message skipped by the node it feeds
    (an outsider's 300-character --frame-id replayed without a word, the event node took
    none of it)."""
    from neuroq.deploy.errors import NeuroqError

    if len(frame_id) > MAX_COPIED_STRING_CHARS:
        raise NeuroqError(f"{what} must be at most {MAX_COPIED_STRING_CHARS} characters (the "
                          f"nodes skip messages with a longer frame_id), got {len(frame_id)}")
    return frame_id
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
