"""A live stream's camera time held to the host's clock (`TimeJumpGuard`), and the decoder
checkpoints it stands on, with both EVT 3.0 decoders.

The garbage of these tests is an outsider's (stop 37): a 4-byte packet of defined word
types, a TIME_HIGH 2000 steps (8.2 s) ahead and a TIME_LOW, which `drop_corrupt` cannot
catch and which moved the event node's camera time 8.2 s ahead.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuroq.deploy.events import (
    PacketDecoder,
    TimeJumpGuard,
    encode_evt3,
    make_events,
    sort_events,
)
from neuroq.deploy.events.evt3_encode import time_words
from tests.helpers.decoders import DECODERS

W, H = 64, 48
MS_NS = 1_000_000
JUMP_US = 1_000_000  # the default max_jump_ms, 1000
GARBAGE_AHEAD_US = 2000 * 4096  # the outsider's packet: TIME_HIGH 2000 steps ahead


def _events(rng, t0_us: int, t1_us: int, per_ms: int = 20) -> np.ndarray:
    """Events of a live camera from t0 to t1: random pixels and, every 5 ms, a row burst
    (which EVT 3.0 sends as vector words)."""
    n = (t1_us - t0_us) // 1000 * per_ms
    parts = [make_events(rng.integers(0, W, n), rng.integers(0, H, n),
                         rng.integers(t0_us, t1_us, n), rng.integers(0, 2, n))]
    for t in range(t0_us, t1_us, 5000):
        x = np.arange(5, 40)
        parts.append(make_events(x, np.full(x.size, t % H), np.full(x.size, t + 7),
                                 np.ones(x.size, int)))
    return sort_events(np.concatenate(parts))


def _packets(events: np.ndarray, words_per_packet: int = 60) -> list[bytes]:
    """One continuous EVT 3.0 stream cut into packets of whole words, as a driver cuts it
    (most packets hold no TIME_HIGH word)."""
    data = encode_evt3(events).astype("<u2").tobytes()
    step = 2 * words_per_packet
    return [data[k:k + step] for k in range(0, len(data), step)]


def _gap_stream(rng) -> list[bytes]:
    """A stream with no word between camera time 1.1 s and 6.0 s (lost, or a camera that
    restarted): two streams one after the other, the second from its own first TIME_HIGH.
    (A sensor that is only silent still sends time words, which advance camera time
    packet by packet.)"""
    return (_packets(_events(rng, 1_000_000, 1_100_000))
            + _packets(_events(rng, 6_000_000, 6_200_000)))


def _msgs(packets):
    return [("evt3", p, 0, False) for p in packets]


def _live(decoder: str, packets, *, jump_us: int = JUMP_US, per_take: int = 5,
          take_ns: int = 5 * MS_NS, at_ns=None):
    """Decode `packets` as the event node does, `per_take` at a time, the host's clock
    moving `take_ns` per take (or to at_ns(k) for the take starting at packet k). Returns
    (events, stats, the decoder, the camera time after each take)."""
    dec, guard = PacketDecoder(W, H, decoder), TimeJumpGuard(jump_us)
    parts, times = [], []
    for k in range(0, len(packets), per_take):
        now = at_ns(k) if at_ns else k // per_take * take_ns
        events, _ = guard.decode(dec, _msgs(packets[k:k + per_take]), now)
        parts.append(events.events())
        times.append(dec.time_us())
    return np.concatenate(parts), dec.stats, dec, times


def _plain(decoder: str, packets):
    dec = PacketDecoder(W, H, decoder)
    events, _ = dec.decode_many(_msgs(packets), drop_corrupt=True)
    return events, dec


@pytest.mark.parametrize("decoder", DECODERS)
def test_checkpoints_change_nothing_and_restore_goes_back(decoder):
    """A checkpoint taken before every packet leaves decoding as it was; a detour (another
    packet of the stream, garbage, the outsider's time words) decoded and undone with
    `restore` leaves the stream, its events, camera time and counters, as if it had never
    been decoded. Streams with vector words and 24-bit time wraps (40 s)."""
    rng = np.random.default_rng(3)
    for trial in range(4):
        t0 = int(rng.integers(0, 20_000_000))
        packets = _packets(_events(rng, t0, t0 + 200_000), int(rng.integers(7, 90)))
        packets += _packets(_events(rng, 16_700_000 + t0, 16_780_000 + t0))  # a wrap
        plain, walked = PacketDecoder(W, H, decoder), PacketDecoder(W, H, decoder)
        for k, packet in enumerate(packets):
            want, _ = plain.decode_many(_msgs([packet]), columns=True)
            checkpoint = walked.checkpoint()
            if k % 3 == 1:
                detour = [packets[(7 * k) % len(packets)], rng.bytes(100),
                          time_words(plain.time_us() + GARBAGE_AHEAD_US)][k % 3]
                _, undone = walked.decode_many(_msgs([detour]), columns=True)
                walked.restore(checkpoint, undone)
            got, _ = walked.decode_many(_msgs([packet]), columns=True)
            np.testing.assert_array_equal(got.events(), want.events(), err_msg=f"{trial} {k}")
            assert walked.time_us() == plain.time_us(), (trial, k)
        assert walked.stats == plain.stats and plain.stats.events > 1000


@pytest.mark.parametrize("decoder", DECODERS)
def test_garbage_time_words_are_skipped_as_if_lost(decoder):
    """The outsider's packet amid a live stream (1 ms packets, taken 5 at a time): skipped
    whole (time_jumps 1), every good event decoded as without it, camera time never past
    the stream's. Without the guard (max_jump 0) the same packet moves camera time 8.2 s
    ahead, and the good stream after it is lost as time going backwards."""
    rng = np.random.default_rng(5)
    good = _packets(_events(rng, 1_000_000, 1_300_000))
    want, plain = _plain(decoder, good)
    for at in (5, 7, 9, 151):  # the first, middle or last of a take (the first take has
        # no bound: no camera time before it)
        t_before = _plain(decoder, good[:at])[1].time_us()
        stream = good[:at] + [time_words(t_before + GARBAGE_AHEAD_US)] + good[at:]
        got, stats, dec, times = _live(decoder, stream)
        np.testing.assert_array_equal(got, want, err_msg=str(at))
        assert stats.time_jumps == 1 and stats.packets == len(stream), (at, stats)
        assert dec.time_us() == plain.time_us() and max(times) <= 1_300_000, at
        assert "time_jumps=1" in stats.diagnostic()
        got, stats, dec, _ = _live(decoder, stream, jump_us=0)
        assert stats.time_jumps == 0 and dec.evt3.last_t_us > t_before + 8_000_000, at
        assert stats.time_backwards > 1000 and got.size < want.size - 1000, at  # lost


@pytest.mark.parametrize("decoder", DECODERS)
def test_the_same_garbage_again_does_not_confirm_itself(decoder):
    """A review: a skipped jump waited for its confirmation until something confirmed it,
    so the outsider's packet sent again 60 ms later (or twice in a row) confirmed itself and
    camera time went 8.2 s ahead. The stream's own TIME_HIGH words, accepted within the
    bound, end the wait; a packet with the skipped one's bytes never confirms it."""
    rng = np.random.default_rng(11)
    good = _packets(_events(rng, 1_000_000, 1_200_000))
    want, plain = _plain(decoder, good)
    t = _plain(decoder, good[:40])[1].time_us()
    garbage = time_words(t + GARBAGE_AHEAD_US)
    for stream in (good[:40] + [garbage] + good[40:100] + [garbage] + good[100:],
                   good[:40] + [garbage, garbage] + good[40:]):
        got, stats, dec, times = _live(decoder, stream, per_take=1, take_ns=MS_NS)
        assert stats.time_jumps == 2 and max(times) < 1_200_000 + JUMP_US, stats
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("decoder", DECODERS)
def test_two_garbage_packets_that_disagree_are_both_skipped(decoder):
    rng = np.random.default_rng(6)
    good = _packets(_events(rng, 1_000_000, 1_100_000))
    t = _plain(decoder, good[:40])[1].time_us()
    stream = good[:40] + [time_words(t + 4_000_000), time_words(t + 9_000_000)] + good[40:]
    got, stats, dec, _ = _live(decoder, stream)
    np.testing.assert_array_equal(got, _plain(decoder, good)[0])
    assert stats.time_jumps == 2 and dec.time_us() < 1_100_000 + JUMP_US


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_real_jump_is_accepted_when_the_next_time_word_confirms_it(decoder):
    """Camera time really jumps 4.9 s ahead while the host's clock moves 1 ms per packet
    (a camera restarting late in its time cycle reads so, or a recording with data
    missing, replayed): the first packet of the jump is skipped, the next packet holding a
    TIME_HIGH word confirms it, and the stream goes on from there: camera time reaches the stream's
    end and every event from 10 ms after the jump on is decoded as without the guard."""
    rng = np.random.default_rng(7)
    stream = _gap_stream(rng)
    want, plain = _plain(decoder, stream)
    got, stats, dec, times = _live(decoder, stream, per_take=1, take_ns=MS_NS)
    assert stats.time_jumps == 1, stats
    assert dec.time_us() == plain.time_us() and times[-1] >= 6_190_000
    late = want[want["t"] > 6_010_000]
    np.testing.assert_array_equal(got[got["t"] > 6_010_000], late)
    assert want.size - got.size < 200  # the skipped packet and those before the confirmation


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_jump_the_host_clock_explains_is_no_jump(decoder):
    """The same 4.9 s gap, with the host's clock moving on with it (packets lost for that
    long before the node, a driver stall): nothing skipped."""
    rng = np.random.default_rng(8)
    stream = _gap_stream(rng)
    want, _ = _plain(decoder, stream)
    first_late = next(k for k in range(len(stream))
                      if _plain(decoder, stream[:k + 1])[1].time_us() > 2_000_000)
    got, stats, _, _ = _live(decoder, stream, per_take=1,
                             at_ns=lambda k: k * MS_NS + (4_900 * MS_NS if k >= first_late
                                                          else 0))
    assert stats.time_jumps == 0
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_fast_replay_of_large_packets_loses_nothing(decoder):
    """Packets covering 100 ms each taken 200 at a time with no host time between (a replay
    as fast as it goes): the batch moves camera time 20 s, each packet 100 ms: nothing is
    skipped (the guard holds each packet to the one before it, not the batch)."""
    rng = np.random.default_rng(9)
    events = _events(rng, 1_000_000, 21_000_000, per_ms=1)
    stream = _packets(events, words_per_packet=250)
    want, _ = _plain(decoder, stream)
    got, stats, _, _ = _live(decoder, stream, per_take=200, take_ns=0)
    assert stats.time_jumps == 0 and len(stream) > 200
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("decoder", DECODERS)
def test_the_guard_reads_the_decoders_time_for_its_caller(decoder):
    """The event node takes the time words' time from the guard (one read per take): it is
    the decoder's own after every decode, a skipped packet's undone included."""
    rng = np.random.default_rng(12)
    good = _packets(_events(rng, 1_000_000, 1_100_000))
    t = _plain(decoder, good[:20])[1].time_us()
    stream = good[:20] + [time_words(t + GARBAGE_AHEAD_US)]
    dec, guard = PacketDecoder(W, H, decoder), TimeJumpGuard(JUMP_US)
    for k in range(0, len(stream), 3):
        guard.decode(dec, _msgs(stream[k:k + 3]), k * MS_NS)
        assert guard.words_us == dec.time_us(), k
    assert dec.stats.time_jumps == 1
