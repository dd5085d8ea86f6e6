"""PeriodWindower: a live event stream cut into control periods (k P, (k + 1) P]."""

import numpy as np
import pytest

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events import Evt3State, PacketDecoder, encode_packet, make_events
from neuroq.deploy.events.evt3_encode import time_words
from neuroq.deploy.events.stream import (
    ALIGN_MARGIN_S,
    BACKLOG_DELAY_S,
    IDLE_AFTER_S,
    PHASE_WINDOW,
    PeriodWindower,
    TakeScheduler,
    evt3_time_us,
)
from tests.helpers.decoders import DECODERS

P = 10_000


def ev(*ts):
    return make_events(np.zeros(len(ts), int), np.zeros(len(ts), int), ts, np.ones(len(ts), int))


def test_periods_complete_once_time_passes_their_end():
    w = PeriodWindower(P)
    w.add(ev(1, 5000, 10_000))  # t = 10 000 ends period 0
    assert w.complete(10_000) == []
    w.add(ev(10_001, 25_000))
    out = w.complete(25_000)
    assert [(p.index, p.start_us, p.end_us, p.events["t"].tolist()) for p in out] == [
        (0, 0, P, [1, 5000, 10_000]), (1, P, 2 * P, [10_001])]
    out = w.complete(30_001)  # time words alone complete period 2, events and all
    assert [(p.index, p.events["t"].tolist()) for p in out] == [(2, [25_000])]
    w.add(ev(100))  # for a period already handed out: dropped, counted
    assert w.counters.late_events == 1 and w.counters.periods == 3


def test_a_long_silence_skips_empty_periods():
    w = PeriodWindower(P, max_gap_periods=5)
    w.add(ev(5))
    out = w.complete(1_000_000 + 1)  # 100 periods later
    assert [p.index for p in out] == [0, 95, 96, 97, 98, 99]
    assert w.counters.skipped_periods == 94
    with pytest.raises(NeuroqError):
        PeriodWindower(0)


@pytest.mark.parametrize("decoder", DECODERS)
def test_evt3_decoder_time_advances_without_events(decoder):
    dec = PacketDecoder(32, 32, decoder)
    assert dec.time_us() == -1 and evt3_time_us(dec) == -1 and evt3_time_us(Evt3State()) == -1
    dec.decode("evt3", encode_packet("evt3", ev(5000))[0])
    assert dec.time_us() == 5000 and evt3_time_us(dec) == 5000
    events, stats = dec.decode("evt3", time_words(123_456_789 % (1 << 24)))
    assert events.size == 0 and stats.skipped == 0
    assert dec.time_us() == 123_456_789 % (1 << 24)
    assert evt3_time_us(dec.evt3) == dec.time_us()


@pytest.mark.parametrize("decoder", DECODERS)
def test_camera_time_counts_wraps_without_events(decoder):
    """Time words alone carry camera time over 24-bit wraps (a sensor steps TIME_HIGH by 1),
    and a stream that starts after some wraps keeps them once events come."""
    dec = PacketDecoder(32, 32, decoder)
    dec.decode("evt3", encode_packet("evt3", ev(20_000_000))[0])  # one wrap before
    assert dec.time_us() == 20_000_000 - (1 << 24)  # a fresh stream cannot know it
    step = 1 << 12
    for t in range(20_000_000 - (1 << 24), 50_000_000 - (1 << 24), 40 * step):
        dec.decode("evt3", time_words(t % (1 << 24)))  # steps of 40 TIME_HIGH: no wrap lost
        assert dec.time_us() == t
    got, stats = dec.decode("evt3", encode_packet("evt3", ev(50_000_000))[0])
    # the packet's own TIME_HIGH (absolute, mod 2^24) continues from the time words
    assert got["t"].tolist() == [50_000_000 - (1 << 24)] and stats.skipped == 0


def _reference_periods(batches, period_us, max_gap):
    """What PeriodWindower must hand out, by plain per-event grouping: for each (events, now)
    batch, the periods (index, event times) that `now` completes (of a run of empty
    periods, its last max_gap)."""
    current, pending, out = None, [], []
    for events, now in batches:
        ts = [int(t) for t in events["t"]]
        if ts and current is None:
            current = (ts[0] - 1) // period_us
        pending += [t for t in ts if (t - 1) // period_us >= current]
        got = []
        if current is None:
            current = (now - 1) // period_us
        else:
            last = (now - 1) // period_us - 1
            if last >= current:  # each period with events, and each empty one that is
                # among the last max_gap before the next period with events (or `last`)
                with_events = {(t - 1) // period_us for t in pending
                               if (t - 1) // period_us <= last}
                ks = [k for k in range(current, last + 1) if k in with_events
                      or min([e for e in with_events if e > k] + [last + 1]) - k <= max_gap]
                got = [(k, [t for t in pending if (t - 1) // period_us == k]) for k in ks]
                pending = [t for t in pending if (t - 1) // period_us > last]
                current = last + 1
        out.append(got)
    return out


def test_periods_match_a_plain_per_event_grouping():
    rng = np.random.default_rng(0)
    for trial in range(30):
        t = np.cumsum(rng.choice([0, 1, 7, 300, 4000, 60_000, 3_000_000], 2000,
                                 p=[0.2, 0.3, 0.2, 0.15, 0.1, 0.04, 0.01]))
        cuts = np.sort(rng.integers(0, t.size, 40))
        batches = []
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, t.size], strict=True):
            part = ev(*t[a:b]) if b > a else ev()
            now = int(t[b - 1]) if b > a else int(t[min(a, t.size - 1)])
            batches.append((part, now + int(rng.integers(0, 20_000))))
        w = PeriodWindower(P, max_gap_periods=int(rng.integers(1, 50)))
        got = []
        for events, now in batches:
            w.add(events)
            got.append([(p.index, p.events["t"].tolist()) for p in w.complete(now)])
        assert got == _reference_periods(batches, P, w.max_gap_periods), trial


def test_completes_at_is_the_first_time_that_hands_the_open_period_out():
    w = PeriodWindower(P)
    assert w.completes_at_us() is None  # no camera time yet
    w.add(ev(3))
    assert w.completes_at_us() == P + 1
    assert w.complete(P) == [] and w.completes_at_us() == P + 1
    assert [p.index for p in w.complete(P + 1)] == [0] and w.completes_at_us() == 2 * P + 1


def _run_node_ticks(send_s, packet_us, batch_s, n_packets=2000, transit_s=3e-4,
                    jitter_s=3e-4, timer_late_s=3e-4, busy_s=1.5e-3, late=None, seed=0,
                    learn=3, max_take=200, skip=None):
    """The event node's take loop against a stream, in simulated wall time.

    Packet k spans camera time (k, k + 1] * packet_us (plus `skip` = (k0, us) from packet k0
    on: camera time the driver sent nothing for, a stall before the node), leaves at
    send_s(k) and arrives
    transit_s plus up to jitter_s later (`late`: {k: extra delay}; in order, as DDS
    delivers: a packet behind a late one arrives with it), which is its reception time.
    Each take takes at most `max_take` packets (more: a backlog) and hands out the periods
    they complete; the node is then busy busy_s, sleeps the scheduler's delay (less the
    time the take took, as the node does) and its timer fires up to timer_late_s late.
    Returns (takes, per-period delays from the completing packet's arrival to the take that
    handed the period out, the first `learn` periods left out)."""
    rng = np.random.default_rng(seed)
    late = late or {}
    camera_end = (np.arange(n_packets) + 1) * packet_us
    if skip is not None:
        camera_end[skip[0]:] += skip[1]
    arrive = np.maximum.accumulate([send_s(k) + transit_s + rng.uniform(0, jitter_s)
                                    + late.get(k, 0.0) for k in range(n_packets)])
    sched, w = TakeScheduler(batch_s, P / 1e6), PeriodWindower(P)
    wall, seen, camera, ticks, delays = 0.0, 0, -1, 0, []
    while wall < arrive[-1]:
        ticks += 1
        first = seen
        seen = min(int(np.searchsorted(arrive, wall, side="right")), first + max_take)
        taken, received = seen - first, None
        if taken:
            camera, received = int(camera_end[seen - 1]), float(arrive[seen - 1])
        for period in w.complete(camera):
            k = int(np.searchsorted(camera_end, period.end_us + 1))  # holds end + 1
            delays.append(wall - arrive[k])
        delay = sched.delay_s(wall, camera, w.completes_at_us(), taken, taken == max_take,
                              received)
        wall += max(delay, busy_s if taken else 0.0) + rng.uniform(0, timer_late_s)
    return ticks, np.array(delays[learn:])


@pytest.mark.parametrize("packet_us", [1000, 2000, 5000, 10_000])
def test_take_scheduler_wakes_about_once_per_period_and_acts_within_batch_ms(packet_us):
    """A live camera (packets of 1-10 ms sent as their span ends, 0.3-0.6 ms transit, timer
    up to 0.3 ms late): the node takes about once per 10 ms period instead of every 2 ms;
    no period waits longer than a fixed 2 ms polling timer would leave it (batch_ms after
    the completing packet arrived, plus the timer's lateness), and most far less."""
    batch_s = 2e-3
    ticks, delays = _run_node_ticks(lambda k: (k + 1) * packet_us / 1e6, packet_us, batch_s,
                                    n_packets=20_000_000 // packet_us)
    assert len(delays) >= 1990
    assert ticks <= 1.2 * len(delays)  # a fixed 2 ms timer: 5 per period
    assert np.median(delays) <= 0.6e-3  # the lag's quantile and the margin
    assert delays.max() <= batch_s + 3e-4


def test_take_scheduler_polls_a_stream_not_in_real_time_and_waits_for_a_late_packet():
    """A replay at 4 times or half real time is polled every batch_ms, as a fixed timer
    would; with a live camera, a packet delayed 7 ms in transit holds its period back until
    it comes, then the node takes it within batch_ms."""
    batch_s, packet_us = 2e-3, 1000
    for speed in (4.0, 0.5):
        ticks, delays = _run_node_ticks(lambda k, v=speed: (k + 1) * packet_us / (v * 1e6),
                                        packet_us, batch_s)
        wall_s = 2000 * packet_us / (speed * 1e6)
        assert ticks >= 0.8 * wall_s / (batch_s + 1.5e-4)  # polled (timer 0.15 ms late)
        assert delays.max() <= batch_s + 1.5e-3 + 3e-4  # batch_ms, or the busy take before
    ticks, delays = _run_node_ticks(lambda k: (k + 1) * packet_us / 1e6, packet_us, batch_s,
                                    late={k: 7e-3 for k in range(500, 2000, 97)})
    assert delays.max() <= batch_s + 3e-4
    assert ticks <= 1.5 * len(delays)


def test_take_scheduler_after_a_stall_catches_up_and_keeps_its_span():
    """A 2 s gap in transit: 2000 packets arrive at once and are taken 200 a take (a
    backlog, BACKLOG_DELAY_S apart); the span the scheduler measures stays a packet's
    (not the stall's camera time over the last take's packets), and afterwards the node
    takes about once per period again with delays as before."""
    batch_s, packet_us = 2e-3, 1000
    ticks, delays = _run_node_ticks(lambda k: (k + 1) * packet_us / 1e6, packet_us, batch_s,
                                    n_packets=8000, late={3000: 2.0})
    # periods 300-499 came in the stall's burst; from 505 on (delays[502:]) the node is
    # live again: a span inflated by the backlog would make it sleep too long here
    assert delays[502:600].max() <= batch_s + 3e-4
    assert np.median(delays) <= 0.6e-3
    sched = TakeScheduler(batch_s, P / 1e6)
    for k in range(PHASE_WINDOW):
        sched.delay_s(k * 1e-3, (k + 1) * 1000, 2 * P + 1, 1, False, k * 1e-3)
    for k in range(5):  # a backlog of 1000 packets, 200 a take
        sched.delay_s(2.0 + k * 1e-3, 0, 2 * P + 1, 200, True, 2.0)
    sched.delay_s(2.01, 1019 * 1000, 1020 * 1000 + 1, 3, False, 2.0)  # the backlog's end
    assert sched.span_us == pytest.approx(1000, rel=0.01)  # 1003 ms over 1003 packets


@pytest.mark.parametrize("stall_s", [0.3, 2.0, 5.0])
def test_take_scheduler_after_a_driver_stall_acts_on_every_period_in_time(stall_s):
    """The driver sent nothing for `stall_s` (camera time and the wall clock both moved on:
    data lost before the node; a silent mono camera alike). The first packet after it spans
    the whole stall; it is no packet's span: every period after it is taken within batch_ms
    of its completing packet (an outsider: a 2 s stall made the scheduler sleep up to 100 ms
    a take for 0.4 s after it, 39 periods stale). Only the periods that first packet
    completes (the windower's last max_gap empty ones and its own) may wait for the idle
    polling, once per period after IDLE_AFTER_S without camera time."""
    batch_s, packet_us, k0 = 2e-3, 1000, 3000
    gap_us = int(stall_s * 1e6)
    ticks, delays = _run_node_ticks(
        lambda k: ((k + 1) * packet_us + (gap_us if k >= k0 else 0)) / 1e6, packet_us,
        batch_s, n_packets=6000, skip=(k0, gap_us))
    late = delays[delays > batch_s + 3e-4]
    assert len(late) <= 4 and (late <= P / 1e6 + 3e-4).all(), late
    assert np.median(delays) <= 0.6e-3


def test_take_scheduler_follows_a_driver_that_changes_its_packet_span():
    """A driver that goes from 1 ms to 5 ms packets: the span the scheduler expects follows
    within a window of takes (the median of the last PHASE_WINDOW measurements)."""
    sched = TakeScheduler(2e-3, P / 1e6)
    camera = 0
    for k in range(3 * PHASE_WINDOW):
        camera += 1000 if k < PHASE_WINDOW else 5000
        sched.delay_s(camera / 1e6, camera, (camera // P + 1) * P + 1, 1, False, camera / 1e6)
    assert sched.span_us == pytest.approx(5000)


def test_take_scheduler_polls_before_camera_time_and_without_progress_and_hurries_a_backlog():
    sched = TakeScheduler(2e-3, P / 1e6)
    assert sched.delay_s(0.0, -1, None) == 2e-3  # no camera time yet
    # a live stream: 1 ms packets, each received 0.3 ms after its span and taken 0.5 ms
    # after that (the lag is read from the reception times, not the takes)
    *polls, delay = [sched.delay_s(k * 1e-3 + 8e-4, k * 1000, 2 * P + 1, 1, False,
                                   k * 1e-3 + 3e-4) for k in range(PHASE_WINDOW)]
    assert polls == [2e-3] * (PHASE_WINDOW - 1)  # until the window is full
    # then: the packet holding 20 001 us is due when 21 000 us have passed, + 0.3 ms
    assert sched.live() and delay == pytest.approx(
        (2 * P + 1 + 1000) / 1e6 + 3e-4 - (15e-3 + 8e-4) + ALIGN_MARGIN_S, abs=1e-9)
    # a take with no reception time (none taken, or a middleware that gives none): poll,
    # keeping the window
    assert sched.delay_s(0.0158, 16_000, 2 * P + 1, 1, False, None) == 2e-3
    assert sched.live() and len(sched._points) == PHASE_WINDOW
    assert sched.span_us == pytest.approx(1000)
    assert sched.delay_s(0.0159, 16_000, 2 * P + 1, packets=0) == 2e-3  # nothing new: poll
    assert sched.delay_s(0.016, 17_000, 2 * P + 1, packets=20, backlog=True) == BACKLOG_DELAY_S
    # the camera clock went back: start over
    assert sched.delay_s(0.020, 100, P + 1, 1, False, 0.0198) == 2e-3
    assert not sched.live() and len(sched._points) == 1


def test_take_scheduler_polls_once_a_period_when_no_camera_time_comes():
    sched = TakeScheduler(2e-3, P / 1e6)
    assert sched.delay_s(0.0, -1, None) == 2e-3  # waiting for a camera
    assert sched.delay_s(IDLE_AFTER_S + 0.1, -1, None) == P / 1e6  # still none: idle
    assert sched.delay_s(IDLE_AFTER_S + 0.2, 1000, P + 1) == 2e-3  # a stream: poll again
    assert sched.delay_s(IDLE_AFTER_S + 0.3, 1000, P + 1, packets=0) == 2e-3
    assert sched.delay_s(2 * IDLE_AFTER_S + 0.3, 1000, P + 1, packets=0) == P / 1e6  # stopped
