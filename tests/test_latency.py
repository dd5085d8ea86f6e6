"""deploy/latency.py: sliding-window percentiles from a log-binned histogram."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from neuroq.deploy.latency import (
    RESOLUTION,
    STALE_READINGS,
    LatencyWindow,
    ewma,
    prewarm_delay_s,
    stale_after_s,
)


def _nearest_rank(x: np.ndarray, q: float) -> float:
    rank = max(1, math.ceil(Fraction(q) * x.size / 100))  # exact rational arithmetic
    return float(np.sort(x)[rank - 1])


@pytest.mark.parametrize("q", [1, 7, 14, 28, 50, 55, 56, 90, 99, 100])
def test_percentiles_match_the_exact_order_statistic_within_half_a_bin(q):
    rng = np.random.default_rng(0)
    x = rng.lognormal(np.log(1e-3), 0.6, 100)
    w = LatencyWindow(1000)
    for v in x:
        w.add(float(v))
    exact = _nearest_rank(x, q)
    assert abs(w.percentile(q) / exact - 1) <= RESOLUTION / 2 + 1e-9


def test_the_window_forgets_samples_older_than_its_size():
    w = LatencyWindow(100)
    for _ in range(1000):
        w.add(0.010)  # 10 ms, then the last 100 at 1 ms
    for _ in range(100):
        w.add(0.001)
    assert len(w) == 100 and w.total == 1100
    assert w.percentile(100) == pytest.approx(0.001, rel=RESOLUTION)
    w.add(0.050)
    assert w.percentile(100) == pytest.approx(0.050, rel=RESOLUTION)
    assert w.percentile(50) == pytest.approx(0.001, rel=RESOLUTION)


def test_empty_out_of_range_and_bad_input():
    w = LatencyWindow(10)
    assert math.isnan(w.percentile(99))
    for bad in (float("nan"), float("inf"), -1.0):
        w.add(bad)  # no latency: rejected, counted, kept out of the window
    assert len(w) == 0 and w.rejected == 3
    w.add(0.0)  # below the lowest bin: clipped there
    w.add(1e6)  # beyond the top bin: clipped there, still counted
    assert len(w) == 2
    assert w.percentile(1) < 2e-6
    assert 10 <= w.percentile(100) < 11
    with pytest.raises(ValueError):
        w.percentile(101)
    with pytest.raises(ValueError):
        LatencyWindow(0)


def test_bins_and_percentiles_do_not_depend_on_the_window_size():
    # the reason for the histogram: a query walks the bins, whose number is fixed, so a p99
    # over 100,000 samples costs what one over 10 does
    small, large = LatencyWindow(10), LatencyWindow(100_000)
    assert small.n_bins == large.n_bins
    for w in (small, large):
        for v in np.linspace(1e-4, 1e-2, 2000):
            w.add(float(v))
    assert large.percentile(99) == pytest.approx(np.percentile(
        np.linspace(1e-4, 1e-2, 2000), 99), rel=RESOLUTION)


def test_ewma_starts_at_the_first_sample_and_moves_a_fraction_toward_each_next():
    assert ewma(None, 0.01) == 0.01
    assert ewma(0.01, 0.02, alpha=0.1) == pytest.approx(0.011)
    est = None
    for _ in range(200):
        est = ewma(est, 0.002)
    assert est == pytest.approx(0.002)


@pytest.mark.parametrize("period, lead, since, want", [
    (0.010, 0.002, 0.001, 0.007),   # 100 Hz: 2 ms before the next reading
    (0.020, 0.002, 0.0005, 0.0175),  # 50 Hz
    (0.010, 0.002, 0.009, None),     # the moment has passed
    (0.002, 0.002, 0.0, None),       # 500 Hz: period under twice the lead, no warm-up
    (0.0039, 0.002, 0.0, None),
    (0.004, 0.002, 0.001, 0.001),    # exactly twice the lead still warms
    (None, 0.002, 0.0, None),        # period not known yet
    (0.010, 0.0, 0.0, None),         # off
])
def test_prewarm_delay_is_lead_before_the_next_reading_when_there_is_room(period, lead, since,
                                                                          want):
    got = prewarm_delay_s(period, lead, since)
    assert (got is None) == (want is None)
    if want is not None:
        assert got == pytest.approx(want)


@pytest.mark.parametrize("period, longest, expected", [
    (None, 2.0, 2.0),  # rate not known yet: the bound for any rate
    (0.01, 2.0, 0.5),  # 100 Hz: 10 readings is 0.1 s, under the floor
    (0.1, 2.0, 1.0),  # 10 Hz: 10 readings
    (1.0, 2.0, 2.0),  # 1 Hz: never later than the bound
    (0.001, 0.2, 0.2),  # a short diagnostics period: its own bound
])
def test_a_stream_is_stale_after_ten_readings_missed_within_the_floor_and_the_bound(
        period, longest, expected):
    assert stale_after_s(period, longest) == pytest.approx(expected)


def test_a_drop_in_rate_is_not_read_as_a_stall():
    """A review: a stream that dropped from 100 Hz to 1.2 Hz read stale at 40 % of the
    diagnostics periods for 18 s, its period estimate rising at most 10 % a reading; the
    newest interval as it came keeps the bound above the new rate's gaps at once."""
    pause_clip = 2.0  # the policy node's PAUSE_CLIP: an interval enters at most 2x the estimate
    period, gap = 0.01, 1 / 1.2
    for _ in range(3):  # the first readings at the new rate: the estimate lags far behind
        period = ewma(period, min(gap, pause_clip * period))
        assert STALE_READINGS * period < gap  # the estimate alone: a false stall
        assert stale_after_s(period, 2.0, gap) > gap  # with the newest interval: none
    assert stale_after_s(0.01, 2.0, 0.01) == pytest.approx(0.5)  # steady: as before
