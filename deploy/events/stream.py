"""Cut a live event stream into control periods for a spiking policy (robot side, numpy).

A period k covers camera time (k * P, (k + 1) * P] microseconds (P = the event encoder's
`period_us`), the convention of the event envs, whose step's events lie in (start, end].
`PeriodWindower` collects decoded events and hands out each period once camera time has
passed its end: time is read from the events themselves and, for EVT 3.0 streams, from the
time the decoder has reached (`PacketDecoder.time_us`, with either EVT 3.0 decoder), which
TIME_HIGH / TIME_LOW words advance even when no pixel fires
(Prophesee sensors send TIME_HIGH at least every 4096 us). So a period is complete as soon
as a later time is seen, and quiet periods still produce an action.

Long silences are bounded: of a run of empty periods (a silence, or camera time jumping
ahead) only the last `max_gap_periods` are handed out; the ones before them are skipped
(counted) instead of being handed out one by one.

What a period holds is its collector's: by default its events (`EventCollector`); the
event node gives each period an `EventEncoder.period_spikes` collector instead, which
turns the events into the period's input spikes as they are added, so no event is held
from one take to the next.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events.mono import US_PER_S
from neuroq.envs.event_array import EventColumns, concat_events

DEFAULT_MAX_GAP_PERIODS = 3
"""Largest run of empty periods handed out after a jump of camera time (30 ms at 10 ms
periods): the newest ones, whose action still answers the scene; older empty periods are
skipped (counted). At 100 an outsider's 2 s driver stall made the event node act on 100
empty periods long past within 90 ms (stop 37). Periods with events are all handed out."""


DEFAULT_MAX_LAG_MS = 30.0
"""The event node does not act on a period whose completing packet it received more than
this long (ms, wall clock) before it took the packet: a node that fell behind (a CPU stall,
a backlog of queued packets) would otherwise act on every period of the backlog, one stale
action after the other (stop 38's known-left list). 30 ms: three 10 ms control periods.
Judged by reception time, not camera time: a camera that sends no time words (`mono`) or
a replay faster than real time completes periods late in camera time through no fault of
the node's, and those periods are acted on (a review of a first, camera-time rule)."""


def stale_prefix(received_ns: list[int], cutoff_ns: int) -> int:
    """How many packets at the start of `received_ns` (their reception times, ns, oldest
    first; 0: not known) came before `cutoff_ns`: up to and including the last one that
    did (reception times may be out of order by the transport's jitter), none that is not
    known."""
    last = -1
    for i, t in enumerate(received_ns):
        if 0 < t < cutoff_ns:
            last = i
    return last + 1


def crop_window(events: EventColumns, x0: int, y0: int) -> tuple[EventColumns, int]:
    """(the events inside the window that starts at camera pixel (x0, y0), in the window's
    own coordinates (x - x0, y - y0); how many were left of or above it). The decoder
    already skipped those right of or below it (it decodes against x0 + width by y0 +
    height); the caller counts these as out_of_sensor too. For a camera whose region of
    interest keeps sensor coordinates (Prophesee's hardware ROI): an outsider's centred
    32x32 ROI on a 1280x720 sensor had every event out_of_sensor and the node acting on
    nothing."""
    if not events.size or (x0 == 0 and y0 == 0):
        return events, 0
    x, y, t, p = events.x, events.y, events.t, events.p
    keep = (x >= x0) & (y >= y0)
    outside = events.size - int(np.count_nonzero(keep))
    if outside:
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    return EventColumns((x - x0).astype(np.uint16), (y - y0).astype(np.uint16), t, p), outside


def evt3_time_us(decoder) -> int:
    """Camera time an EVT 3.0 stream has reached (-1 before its first TIME_HIGH): `decoder`
    is a `PacketDecoder`, a stream decoder of `make_evt3_decoder` (either kind) or the
    numpy decoder's `Evt3State`; all have `time_us()`."""
    return decoder.time_us()


@dataclass
class WindowerCounters:
    """periods: periods handed out; skipped_periods: empty periods skipped after a jump;
    late_events: events for a period already handed out (dropped)."""

    periods: int = 0
    skipped_periods: int = 0
    late_events: int = 0


@dataclass
class Period:
    """One control period: its index k, start (k * P) and end ((k + 1) * P) in camera us,
    and what its collector made of its events: by default the events (EVENT_DTYPE, time
    order); the input spikes (T, n_inputs) with an encoder's collector
    (`EventEncoder.period_spikes`, the event node's)."""

    index: int
    start_us: int
    end_us: int
    events: Any


class EventCollector:
    """The default collector of a period: its events, as one EVENT_DTYPE array."""

    def __init__(self, _index: int = 0) -> None:
        self._parts: list = []

    def add(self, events: Any) -> None:
        """Events of this period (EVENT_DTYPE or EventColumns), time order."""
        self._parts.append(events)

    def result(self) -> np.ndarray:
        parts = [p.events() if isinstance(p, EventColumns) else p for p in self._parts]
        return concat_events(parts)


def _take(events: Any, start: int, stop: int) -> Any:
    """Events start..stop of an EVENT_DTYPE array or EventColumns (views)."""
    if isinstance(events, EventColumns):
        return events.take(start, stop)
    return events[start:stop]


@dataclass
class PeriodWindower:
    """Collects events (`add`) and returns the periods camera time has passed (`complete`).

    collect(k): a new collector for period k, with `add(events)` (the period's events,
    EVENT_DTYPE or EventColumns, time order, in one or more parts) and `result()` (what
    becomes `Period.events`); default `EventCollector` (the events themselves). Each event
    goes to its period's collector as it is added, so a collector that reduces the events
    (to input spikes) holds no event between calls."""

    period_us: int
    max_gap_periods: int = DEFAULT_MAX_GAP_PERIODS
    counters: WindowerCounters = field(default_factory=WindowerCounters)
    collect: Callable[[int], Any] = EventCollector
    _current: int | None = None
    _open: dict = field(default_factory=dict)  # period index -> collector, periods >= current

    def __post_init__(self) -> None:
        if int(self.period_us) != self.period_us or self.period_us < 1:
            raise NeuroqError(f"period_us must be a positive integer, got {self.period_us}")
        if self.max_gap_periods < 1:
            raise NeuroqError("max_gap_periods must be >= 1")
        self.period_us = int(self.period_us)

    def index_of(self, t_us: np.ndarray | int) -> np.ndarray | int:
        """Period of camera time t: (t - 1) // P, so that t = k * P ends period k - 1."""
        return (t_us - 1) // self.period_us

    def add(self, events: Any) -> None:
        """Add decoded events (EVENT_DTYPE or EventColumns, time order, as the decoders
        return them); events of a period already handed out are dropped (late_events)."""
        if events.size == 0:
            return
        t = events["t"]
        if self._current is None:
            self._current = int(self.index_of(int(t[0])))
        first = 0
        if self.index_of(int(t[0])) < self._current:  # time order: late ones come first
            first = int(np.searchsorted(t, self._current * self.period_us, side="right"))
            self.counters.late_events += first
            if first == t.size:
                return
        # Events are in time order, so periods are found by binary search on t (period k
        # holds kP < t <= (k + 1)P), not by a pass over every event: at 10 M events/s a
        # period holds 100 000 of them.
        k0, k1 = int(self.index_of(int(t[first]))), int(self.index_of(int(t[-1])))
        if k0 == k1:  # the usual case: all in one period
            self._collector(k0).add(_take(events, first, t.size) if first else events)
            return
        ks = self._periods_with_events(t[first:], k0, k1)
        cuts = np.searchsorted(t, (ks + 1) * self.period_us, side="right")
        start = first
        for k, stop in zip(ks.tolist(), cuts.tolist(), strict=True):
            self._collector(k).add(_take(events, start, stop))
            start = stop

    def _collector(self, k: int) -> Any:
        got = self._open.get(k)
        if got is None:
            got = self._open[k] = self.collect(k)
        return got

    def complete(self, now_us: int) -> list[Period]:
        """The periods whose end lies before camera time `now_us`, oldest first."""
        if now_us < 0:
            return []
        if self._current is None:
            self._current = int(self.index_of(now_us))
            return []
        last = int(self.index_of(now_us)) - 1  # the newest period that is complete
        if last < self._current:
            return []
        if last == self._current:  # one period, the usual case
            ks = [last]
        else:  # every period with events, and of each run of empty periods (before a
            # period with events, or up to `last`) its last max_gap_periods: which empty
            # periods are handed out does not depend on how the stream was cut into calls
            with_events = sorted(k for k in self._open if k <= last)
            picked = set(with_events)
            run_from = self._current
            for bound in [*with_events, last + 1]:  # a run of empty periods ends before it
                picked.update(range(max(run_from, bound - self.max_gap_periods), bound))
                run_from = bound + 1
            ks = sorted(picked)
        out = []
        for k in ks:
            collector = self._open.pop(k, None)
            if collector is None:
                collector = self.collect(k)
            out.append(Period(k, k * self.period_us, (k + 1) * self.period_us,
                              collector.result()))
        self.counters.skipped_periods += (last + 1 - self._current) - len(out)
        self.counters.periods += len(out)
        self._current = last + 1
        return out

    def _periods_with_events(self, t: np.ndarray, first: int, last: int) -> np.ndarray:
        """The periods (sorted) that time-ordered event times `t` (periods first..last)
        fall in."""
        if last - first < t.size:  # few periods: search their borders
            ks = np.arange(first, last + 2, dtype=np.int64)
            starts = np.searchsorted(t, ks * self.period_us, side="right")
            return ks[:-1][starts[1:] > starts[:-1]]
        k_of = self.index_of(t.astype(np.int64))  # sparse events over many periods
        return k_of[np.flatnonzero(np.diff(k_of, prepend=k_of[:1] - 1))]

    def completes_at_us(self) -> int | None:
        """Camera time (us) at which the oldest period not yet handed out completes: its
        end + 1 (`complete` hands a period out once camera time is past its end); None
        before camera time is known."""
        return None if self._current is None else (self._current + 1) * self.period_us + 1


REAL_TIME_TOLERANCE = 1.05
"""TakeScheduler takes a stream as live when its camera time ran within this factor of the
wall clock's rate over its window (a live camera runs at 1; the measured rate scatters with
the packets' transit)."""
PHASE_WINDOW = 16
"""Takes (at which camera time advanced) over which TakeScheduler measures the stream's
rate and lag."""
LAG_QUANTILE = 0.75
"""The quantile of the lags in the window that TakeScheduler expects the next packet to
have (the lower one: sorted lags[int(q * (n - 1))]): a higher one wakes later (more delay),
a lower one wakes before the packet more often (then it sleeps again until the next one is
due, or polls batch_s later if nothing new came)."""
ALIGN_MARGIN_S = 2e-4
"""TakeScheduler wakes this long (s) after the packet that completes a period is due, for
the timer's jitter."""
MAX_WAIT_S = 0.1
"""The longest TakeScheduler sleeps (s) with a live stream, whatever the period: a whole
period of packets waits in the subscription's queue meanwhile (the event node keeps 1000,
1 s of 1 ms packets)."""
IDLE_AFTER_S = 1.0
"""After this long (s) without new camera time (no camera yet, or a stopped stream)
TakeScheduler polls once per control period (at most MAX_WAIT_S) instead of every
batch_s."""
BACKLOG_DELAY_S = 5e-5
"""Delay (s) before the next take while packets remain queued after a take (a backlog):
almost at once, letting the diagnostics (another thread) take the node's lock between."""


@dataclass
class TakeScheduler:
    """When the event node next takes its queued packets: for a live camera, when the
    packet that completes the open period is due; otherwise every `batch_s`.

    A period is handed out once camera time is past its end (`PeriodWindower.
    completes_at_us`), so the packet that completes it is the one holding that time; a
    driver sends a packet once its span of camera time has passed. After each take at
    which camera time advanced, the scheduler records when the newest packet taken was
    received (DDS's reception timestamp, on the wall clock of `wall_s`) and the camera time
    reached, keeping the last PHASE_WINDOW such pairs, and the camera time one packet spans:
    the median of the last PHASE_WINDOW measurements (camera time since the pair before over
    the packets taken since, backlogs included), so that the packet after a stall of the
    driver (or a silent mono camera), which spans the whole stall, moves it no more than
    any one outlier does (a running mean took the stall for the packets' span and slept up
    to MAX_WAIT_S a take for about 10 takes after a 2 s stall, its periods stale: an
    outsider). The stream is live when camera time ran at the wall
    clock's rate over the window (within REAL_TIME_TOLERANCE); then each pair gives a
    lag, received - camera, and the scheduler sleeps until the packet completing the open
    period is due:

        due = t_complete + span + lag (the window's LAG_QUANTILE)
        delay = min(max(due - now, 0), min(max(period_s, span), MAX_WAIT_S)) + ALIGN_MARGIN_S

    The lags are measured from reception times, not from when the node happened to take
    the packets, so the estimate does not follow the scheduler's own lateness. After a
    take that found no new camera time (the packet was late), for a stream that is not
    live (a replay at another speed, the simulated camera in lockstep, the first
    PHASE_WINDOW - 1 takes, a take with no reception time: `received_s` None), and before
    camera time is known, the delay is `batch_s`, as a fixed timer's; while a backlog
    remains (`backlog`), BACKLOG_DELAY_S; after IDLE_AFTER_S with no new camera time, once
    per `period_s` (at most MAX_WAIT_S). So with a live camera the node wakes about once per
    period instead of every `batch_s`, and an action follows the packet that completes its
    period within about `batch_s` at most (tests/test_event_stream.py simulates it).

    `aligned`, after each call: whether the delay counts from this take (a wake-up aimed at
    a packet) rather than being a period to poll at (batch_s, idle, backlog), which a
    running periodic timer already keeps.

    batch_s: the polling interval (s); period_s: the control period (s).
    """

    batch_s: float
    period_s: float
    span_us: float = 0.0
    _points: deque = field(default_factory=lambda: deque(maxlen=PHASE_WINDOW))
    _spans: deque = field(default_factory=lambda: deque(maxlen=PHASE_WINDOW))  # us each
    _packets: int = 0  # packets taken since the last point
    _camera_us: int = -1  # the camera time reached at the last take
    _progress_s: float | None = None  # wall time camera time last advanced (or the first)
    aligned: bool = False

    def delay_s(self, wall_s: float, camera_us: int, completes_at_us: int | None,
                packets: int = 1, backlog: bool = False,
                received_s: float | None = None) -> float:
        """Seconds from `wall_s` (a monotonic clock, at the take) to the next take, given
        the camera time the stream has reached, the time that completes the open period,
        the packets this take took and when the newest of them was received (s, same
        clock; None: unknown)."""
        self.aligned = False
        self._packets += packets
        if backlog:
            return BACKLOG_DELAY_S
        if self._progress_s is None:
            self._progress_s = wall_s
        if camera_us < 0 or completes_at_us is None:
            return self._poll_s(wall_s)
        points = self._points
        if camera_us < self._camera_us:  # the camera clock restarted: start over
            points.clear()
        elif camera_us == self._camera_us:
            return self._poll_s(wall_s)  # nothing new
        self._camera_us = camera_us
        self._progress_s = wall_s
        if received_s is None:  # no reception time this take (none taken, or none given):
            return self.batch_s  # poll; the pairs so far stay valid, packets keep counting
        if points and self._packets > 0:  # the span: the median of the last measurements
            self._spans.append((camera_us - points[-1][1]) / self._packets)
            self.span_us = float(statistics.median(self._spans))
        self._packets = 0
        points.append((received_s, camera_us))
        if not self.live():
            return self.batch_s
        first_s, first_us = points[0]  # times relative to it: no float rounding of large ones
        lags = sorted((got - first_s) - (camera - first_us) / US_PER_S for got, camera in points)
        lag_s = lags[int(LAG_QUANTILE * (len(lags) - 1))]
        due_s = first_s + lag_s + (completes_at_us + self.span_us - first_us) / US_PER_S
        longest_s = min(max(self.period_s, self.span_us / US_PER_S), MAX_WAIT_S)
        self.aligned = True
        return min(max(due_s - wall_s, 0.0), longest_s) + ALIGN_MARGIN_S

    def _poll_s(self, wall_s: float) -> float:
        """batch_s; period_s (when longer) once no camera time came for IDLE_AFTER_S."""
        if wall_s - self._progress_s > IDLE_AFTER_S:
            return min(max(self.batch_s, self.period_s), MAX_WAIT_S)
        return self.batch_s

    def live(self) -> bool:
        """Whether camera time ran at the wall clock's rate over the window (full)."""
        points = self._points
        if len(points) < PHASE_WINDOW:
            return False
        (got0, camera0), (got1, camera1) = points[0], points[-1]
        if got1 <= got0:
            return False
        rate = (camera1 - camera0) / ((got1 - got0) * US_PER_S)
        return 1.0 / REAL_TIME_TOLERANCE <= rate <= REAL_TIME_TOLERANCE


__all__ = ["DEFAULT_MAX_GAP_PERIODS", "DEFAULT_MAX_LAG_MS", "EventCollector", "Period",
           "PeriodWindower", "TakeScheduler", "WindowerCounters", "crop_window", "evt3_time_us",
           "stale_prefix"]
