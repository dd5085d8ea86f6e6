"""Latency percentiles over a sliding window, at a fixed cost per sample and per query.

A control node that sorts its recent latencies to report a p99 stalls its own loop: with
100,000 samples, `np.median` plus `np.percentile` take about 5 ms, long enough to delay the
reading that arrives meanwhile by half a 100 Hz period. `LatencyWindow` instead keeps a
histogram of the last `size` samples in logarithmic bins:

    bin(x) = floor(log(x / LOW_S) / log(1 + RESOLUTION)),   clipped to [0, n_bins - 1]

so a sample costs one logarithm and two counter updates, and a percentile costs one
cumulative sum over the bins (about 1,600 for 1 us..10 s), whatever the window size.
A percentile is reported as the geometric centre of its bin: within RESOLUTION / 2 (0.5 %)
relative of the exact order statistic for samples between LOW_S and HIGH_S. Samples
outside that range fall into the first or last bin; NaN, infinite and negative samples
are rejected and counted.

Pure Python and numpy; no ROS. Times are seconds.
"""

from __future__ import annotations

import math

import numpy as np

#: smallest and largest latency resolved, s
LOW_S = 1e-6
HIGH_S = 10.0
#: relative width of a bin (1 %)
RESOLUTION = 0.01
#: slack under which q * n / 100 counts as a whole rank (float error, not a real fraction)
RANK_EPS = 1e-9


class LatencyWindow:
    """Percentiles of the last `size` latencies (seconds), from a log-binned histogram."""

    def __init__(self, size: int, low_s: float = LOW_S, high_s: float = HIGH_S,
                 resolution: float = RESOLUTION) -> None:
        if size < 1:
            raise ValueError(f"window size must be >= 1, got {size}")
        if not 0 < low_s < high_s or resolution <= 0:
            raise ValueError("need 0 < low_s < high_s and resolution > 0")
        self.size = int(size)
        self._low = float(low_s)
        self._high = float(high_s)
        self._log_step = math.log1p(resolution)
        self.n_bins = int(math.ceil(math.log(high_s / low_s) / self._log_step)) + 1
        self._counts = np.zeros(self.n_bins, np.int64)
        self._ring = np.zeros(self.size, np.int32)  # bin of each sample in the window
        self._next = 0  # ring position of the next sample
        self.total = 0  # samples recorded since construction
        self.rejected = 0  # NaN, infinite or negative samples left out
        self.max_s = math.nan  # largest sample since construction (not only the window's)

    def __len__(self) -> int:
        return min(self.total, self.size)

    def bin_of(self, seconds: float) -> int:
        """The histogram bin of a latency (>= 0 and finite; see `add`)."""
        if seconds <= self._low:
            return 0
        if seconds >= self._high:
            return self.n_bins - 1
        return min(int(math.log(seconds / self._low) / self._log_step), self.n_bins - 1)

    def add(self, seconds: float) -> None:
        """Record one latency; the oldest one leaves once the window is full.

        A NaN, infinite or negative sample is no latency (a clock step, a bad stamp): it is
        counted in `rejected` and left out of the window.
        """
        if not 0.0 <= seconds < math.inf:  # also catches NaN
            self.rejected += 1
            return
        b = self.bin_of(seconds)
        if not seconds <= self.max_s:  # also the first sample (max_s NaN)
            self.max_s = seconds
        if self.total >= self.size:
            self._counts[self._ring[self._next]] -= 1
        self._ring[self._next] = b
        self._counts[b] += 1
        self._next = (self._next + 1) % self.size
        self.total += 1

    def percentile(self, q: float) -> float:
        """The q-th percentile (0..100) of the window, s (NaN when empty).

        The sample of rank ceil(q/100 * n) (nearest-rank definition), reported as the
        geometric centre of its bin.
        """
        n = len(self)
        if n == 0:
            return math.nan
        if not 0 <= q <= 100:
            raise ValueError(f"percentile must be in [0, 100], got {q}")
        # nearest rank ceil(q n / 100), robust to float error (q = 7, n = 100 -> 7, not 8)
        rank = max(1, math.ceil(q * n / 100.0 - RANK_EPS))
        b = int(np.searchsorted(np.cumsum(self._counts), rank))
        return self._low * math.exp((b + 0.5) * self._log_step)


#: weight of the newest interval in the arrival-period estimate (about 10 readings' memory)
PERIOD_EWMA_ALPHA = 0.1


def ewma(previous: float | None, sample: float, alpha: float = PERIOD_EWMA_ALPHA) -> float:
    """Exponentially weighted mean: `previous + alpha * (sample - previous)`; the first
    sample when there is no previous value."""
    return sample if previous is None else previous + alpha * (sample - previous)


#: a sensor stream is stale once its newest reading is this many estimated reading periods
#: old (10 readings missed in a row; one late or lost reading is not a stall)
STALE_READINGS = 10.0
#: ... but never sooner than this, s (a 1 kHz stream: 10 ms of silence is scheduling jitter
#: on a loaded 2-core machine, not a stall)
MIN_STALE_S = 0.5
#: ... nor sooner than this many times the newest interval between readings (the period
#: estimate follows a drop in rate slowly: the policy node clips each interval it takes in
#: at PAUSE_CLIP times the estimate)
LAST_INTERVAL_MARGIN = 1.5


def stale_after_s(period_s: float | None, longest_s: float,
                  last_interval_s: float | None = None) -> float:
    """Age (s) after which a sensor stream's newest reading is stale:

        min(longest_s, max(STALE_READINGS * period_s, MIN_STALE_S,
                           LAST_INTERVAL_MARGIN * last_interval_s))

    period_s: the estimated reading period (None before two readings: `longest_s`);
    longest_s: the bound for any rate (the policy node's two diagnostics periods);
    last_interval_s: the newest interval between readings as it came (unclipped): a stream
    that dropped from 100 Hz to 1.2 Hz read stale at 40 % of the diagnostics periods for 18 s
    while the estimate caught up (a review). At 100 Hz a stall reads as stale after 0.5 s
    instead of 2 s (an outsider's stalled sensor stayed OK in the diagnostics 2-3 s while
    the actuator's watchdog already held the robot)."""
    if period_s is None:
        return longest_s
    last = LAST_INTERVAL_MARGIN * last_interval_s if last_interval_s is not None else 0.0
    return min(longest_s, max(STALE_READINGS * period_s, MIN_STALE_S, last))


def prewarm_delay_s(period_s: float | None, lead_s: float, since_arrival_s: float
                    ) -> float | None:
    """Seconds from now until `lead_s` before the next expected reading, or None for none.

    A reading arrived `since_arrival_s` ago and readings come every `period_s` (estimated),
    so the next is due in `period_s - since_arrival_s`; a warm-up run should start `lead_s`
    before that:

        delay = period_s - lead_s - since_arrival_s

    None when the period is unknown, when it is shorter than 2 * lead_s (at high rates the
    network stays warm by itself, and a warm-up would compete with the real action), or
    when the moment has already passed (delay <= 0).
    """
    if period_s is None or lead_s <= 0 or period_s < 2.0 * lead_s:
        return None
    delay = period_s - lead_s - since_arrival_s
    return delay if delay > 0 else None
