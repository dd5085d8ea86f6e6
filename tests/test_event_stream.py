"""PeriodWindower: a live event stream cut into control periods (k P, (k + 1) P]."""

import numpy as np
import pytest

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events import Evt3State, PacketDecoder, encode_packet, make_events
from neuroq.deploy.events.stream import PeriodWindower, evt3_time_us, time_words
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
    batch, the periods (index, event times) that `now` completes."""
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
            if last >= current:
                ks = sorted({(t - 1) // period_us for t in pending if (t - 1) // period_us <= last}
                            | set(range(max(current, last - max_gap + 1), last + 1)))
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
