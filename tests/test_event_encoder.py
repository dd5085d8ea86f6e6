"""The event encoder: events as input spikes in the time bin of their timestamp."""

import json

import numpy as np
import pytest

from neuroq.deploy.encoders import EventEncoder, encoder_from_dict, with_silent_tail
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events import make_events

PERIOD_US = 10_000


def enc(pool=4, tail=3):
    return EventEncoder(32, 32, pool, PERIOD_US, tail)


def test_each_event_spikes_its_neuron_in_its_time_bin():
    e = enc()  # T = 8, 3 silent steps: A = 5 bins of 2 ms
    ev = make_events([0, 31, 5, 5], [0, 31, 9, 9], [1000, 1000 + 2000, 9999, 9000], [1, 0, 1, 1])
    s = e.encode_events([ev], 1000, 8)
    assert s.shape == (8, 1, 128) and s.dtype == bool
    on = np.argwhere(s[:, 0])
    # (step, neuron): x=0,y=0,p=1 -> 64; x=31,y=31,p=0 -> 63; x=5,y=9,p=1 -> 64 + 2*8 + 1
    assert sorted(map(tuple, on)) == [(0, 64), (1, 63), (4, 81)]
    assert not s[5:].any()  # the silent tail carries no input


def test_out_of_window_and_off_sensor_events_are_ignored():
    e = enc()
    ev = make_events([1, 2, 0], [1, 2, 0], [500, 20_000, 1000], [1, 1, 1])
    s = e.encode_events([ev], 1000, 8)
    assert np.argwhere(s[:, 0]).tolist() == [[0, 64]]  # the one event in the window
    cols = {"x": np.array([40]), "y": np.array([1]), "t": np.array([1500]), "p": np.array([0])}
    assert not e.encode_events([cols], 1000, 8).any()


@pytest.mark.parametrize("start", [5_001_000 / 1e6, 5_001_000 / 1e3, 5_001_000 + 10_000_000,
                                   5_001_000 - 20_000])
def test_a_period_whose_events_all_lie_outside_its_window_is_refused(start):
    """An outsider gave `act_events` the window start in seconds (also ms, 10 s late, a
    period early): every action was one of no input, without a word."""
    ev = make_events([1, 2], [1, 2], [5_001_500, 5_009_000], [1, 1])
    assert enc().encode_events([ev], 5_001_000, 8).sum() == 2
    with pytest.raises(NeuroqError, match="none of the period's 2 events lies in its window"):
        enc().encode_events([ev], int(start), 8)
    assert enc().encode_events([make_events([], [], [], [])], int(start), 8).sum() == 0


def test_counts_path_matches_events_path_for_one_bin_and_on_average():
    rng = np.random.default_rng(0)
    e = enc(tail=3)
    counts = rng.poisson(3.0, size=(200, 128)).astype(np.float32)
    events = []
    for c in counts:
        idx = np.repeat(np.arange(128), c.astype(int))
        p, rest = np.divmod(idx, 64)
        y, x = np.divmod(rest, 8)
        t = rng.integers(0, PERIOD_US, len(idx))
        events.append({"x": x * 4, "y": y * 4, "t": t, "p": p})
    # A = 1 (T = 4, 3 silent steps): identical spike trains
    a = enc(tail=3).encode(counts, 4)
    b = enc(tail=3).encode_events(events, 0, 4)
    assert np.array_equal(a, b)
    # A = 5: as many spikes on average (uniform times), within 5 % (whole spikes)
    sa, sb = e.encode(counts, 8).sum(), e.encode_events(events, 0, 8).sum()
    assert abs(sa / sb - 1) < 0.05
    assert e.encode(np.zeros((1, 128), np.float32), 8).sum() == 0


def test_round_trip_and_bad_parameters():
    e = enc()
    back = encoder_from_dict(json.loads(json.dumps(e.to_dict())))
    assert back == e and back.n_inputs == 128
    assert with_silent_tail(e, 1).silent_tail == 1
    with pytest.raises(NeuroqError):
        EventEncoder(32, 32, 3)
    with pytest.raises(NeuroqError):
        e.encode(np.zeros((1, 7), np.float32), 8)
    with pytest.raises(NeuroqError):
        e.encode(np.zeros((1, 128), np.float32), 3)


def _spikes_event_by_event(e, events, start, timesteps):
    """encode_events' definition, one event at a time (the reference for the vectorised one)."""
    active = timesteps - e.silent_tail
    out = np.zeros((timesteps, len(events), e.n_inputs), dtype=bool)
    for b, ev in enumerate(events):
        for x, y, t, p in zip(*(np.asarray(ev[k]).tolist() for k in "xytp"), strict=True):
            dt = int(t) - start
            if (0 <= dt <= e.period_us and 0 <= x < e.width and 0 <= y < e.height
                    and p in (0, 1)):
                step = min(dt * active // e.period_us, active - 1)
                out[step, b, (int(p) * (e.height // e.pool) + int(y) // e.pool)
                    * (e.width // e.pool) + int(x) // e.pool] = True
    return out


@pytest.mark.parametrize("pool, period_us", [(1, 10_000), (4, 10_000), (2, 7777),
                                             (4, 2_000_000)])
def test_encode_events_equals_an_event_by_event_reference(pool, period_us):
    rng = np.random.default_rng(pool)
    e = EventEncoder(32, 32, pool, period_us, 2)
    n = 400
    good = make_events(rng.integers(0, 32, n), rng.integers(0, 32, n),
                       rng.integers(0, period_us + 1, n) + 500, rng.integers(0, 2, n))
    bad = {"x": rng.integers(-3, 36, n), "y": rng.integers(-3, 36, n),  # some off the sensor
           "t": rng.integers(-50, period_us + 50, n) + 500, "p": rng.integers(-1, 3, n)}
    as_lists = {k: np.asarray(good[k]).tolist() for k in "xytp"}
    batch = [good, bad, as_lists, make_events([], [], [], [])]
    np.testing.assert_array_equal(e.encode_events(batch, 500, 8),
                                  _spikes_event_by_event(e, batch, 500, 8))


@pytest.mark.parametrize("width, height, pool, period_us, tail", [
    (32, 32, 4, 10_000, 3),   # the shipped task: the pixel table
    (32, 24, 1, 7777, 2),     # a period the steps do not divide
    (320, 320, 8, 10_000, 0),  # over PIXEL_TABLE_MAX pairs: pooled_input_index
    (16, 16, 2, 3, 5),        # fewer microseconds than steps
    (256, 256, 1, 10_000, 2),  # over DENSE_SPIKES_MAX spikes a period: indices kept
])
@pytest.mark.parametrize("form", ["columns", "events", "int64 columns"])
def test_period_spikes_in_parts_equal_encode_events(width, height, pool, period_us, tail, form):
    """The event node's collector (`period_spikes`, fed in parts as a stream arrives)
    makes the spikes `encode_events` makes of all of a period's events."""
    from neuroq.deploy.events.stream import PeriodWindower
    from neuroq.envs.event_array import EventColumns, columns_of

    rng = np.random.default_rng(width + period_us)
    e = EventEncoder(width, height, pool, period_us, tail)
    timesteps = 8
    for trial in range(20):
        n = int(rng.choice([0, 1, 5, 300, 5000]))
        t = np.sort(rng.integers(1, 6 * period_us, n)) + int(rng.integers(0, 1 << 30))
        ev = make_events(rng.integers(0, width, n), rng.integers(0, height, n), t,
                         rng.integers(0, 2, n))
        w = PeriodWindower(period_us, 1000,
                           collect=lambda k: e.period_spikes(timesteps, k * period_us))
        ref = PeriodWindower(period_us, 1000)
        cuts = np.sort(rng.integers(0, n + 1, 4))
        got, want = [], []
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True):
            part = ev[a:b]
            if form == "columns":
                w.add(columns_of(part))
            elif form == "int64 columns":  # no uint16: the formula, not the pixel table
                w.add(EventColumns(*(np.asarray(c, np.int64) for c in columns_of(part))))
            else:
                w.add(part)
            ref.add(part)
            now = int(t[b - 1]) + 1 if b > a else -1
            got += w.complete(now)
            want += ref.complete(now)
        end = int(t[-1]) + period_us + 1 if n else 0
        got += w.complete(end)
        want += ref.complete(end)
        assert [p.index for p in got] == [p.index for p in want], trial
        for g, r in zip(got, want, strict=True):
            expect = e.encode_events([r.events], r.start_us, timesteps)[:, 0]
            np.testing.assert_array_equal(g.events, expect, err_msg=f"trial {trial}")


def test_step_starts_give_the_documented_step():
    from neuroq.deploy.encoders import _step_offsets

    for period_us, active in [(10_000, 5), (7777, 6), (3, 5), (1, 1), (100, 100)]:
        t = np.arange(period_us + 1)
        np.testing.assert_array_equal(_step_offsets(period_us, active, 1),
                                      np.minimum(t * active // period_us, active - 1))


def test_period_spikes_refuse_events_outside_the_period_or_the_sensor():
    from neuroq.envs.event_array import columns_of

    e = enc()
    for x, y, t in [([32], [0], [1500]), ([0], [32], [1500]), ([0], [0], [1000]),
                    ([0], [0], [11_001]), ([0, 0], [0, 0], [5000, 4000])]:
        with pytest.raises(ValueError, match="outside the period or the sensor"):
            e.period_spikes(8, 1000).add(columns_of(make_events(x, y, t, [1] * len(x))))


@pytest.mark.parametrize(("events", "start", "said"), [
    ({"t": [5.0015, 5.009]}, 5, "event fields x, y, t, p must be whole numbers"),
    ({"t": [5_001_500.0, np.nan]}, 5_001_000, "must be whole numbers"),
    ({"x": [1.5, 2.0]}, 5_001_000, "must be whole numbers"),
    ({}, float("nan"), "window_start_us must be whole numbers"),
    ({}, None, "window_start_us must be whole numbers"),
    ({}, "5001000", "window_start_us must be whole numbers"),
])
def test_event_times_and_starts_that_are_no_whole_microseconds_are_refused(events, start,
                                                                           said):
    """A recheck: events and a window start both in float seconds were cast to whole
    microseconds (every event in step 0, accepted); a NaN time was cast with a warning, a
    fractional x truncated, a NaN or None start a ValueError or TypeError traceback."""
    good = {"x": np.array([1, 2]), "y": np.array([1, 2]),
            "t": np.array([5_001_500, 5_009_000]), "p": np.array([1, 1])}
    cols = {**good, **{k: np.array(v) for k, v in events.items()}}
    with pytest.raises(NeuroqError, match=said):
        enc().encode_events([cols], start, 8)
    whole = {**good, "t": np.array([5_001_500.0, 5_009_000.0]), "p": np.array([True, True])}
    assert enc().encode_events([whole], 5_001_000.0, 8).sum() == 2  # whole floats, bools
