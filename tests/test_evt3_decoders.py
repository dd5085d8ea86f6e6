"""The two EVT 3.0 stream decoders: the `evt3` package with neuroq's validation, and numpy.

They must return the same events, counters and camera time on any stream, good or bad; the
`evt3` one must hand data to numpy only where it has to (the start of a stream, wraps its
own rule reads differently, vectors before a VECT_BASE_X).
"""

from __future__ import annotations

import numpy as np
import pytest

import neuroq.deploy.events.evt3_decoders as decoders_module
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events import (
    EVT3_ADDR_X,
    EVT3_ADDR_Y,
    EVT3_TIME_HIGH,
    EVT3_TIME_LOW,
    EVT3_TIME_WRAP_US,
    encode_evt3,
    encode_packet,
    evt3_decoder_name,
    make_events,
    make_evt3_decoder,
    sort_events,
)
from tests.helpers.decoders import DECODERS, EVT3_WHEEL_HERE, decode_chunks, decode_with

W, H = 320, 240
needs_evt3 = pytest.mark.skipif(not EVT3_WHEEL_HERE,
                                reason="the evt3 package has no wheel for this platform")


def _random(rng, n, t_max, width=W, height=H):
    return make_events(rng.integers(0, width, n), rng.integers(0, height, n),
                       rng.integers(0, t_max, n), rng.integers(0, 2, n))


def _cut(rng, data: bytes, n_cuts: int, *, whole_words: bool = True) -> list[bytes]:
    limit = len(data) // 2 if whole_words else len(data)
    cuts = np.sort(rng.integers(0, max(limit, 1), n_cuts)) * (2 if whole_words else 1)
    return [data[a:b] for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(data)], strict=True)]


def _streams(rng):
    """(name, chunks) of good and bad EVT 3.0 streams, cut into packets."""
    for trial in range(12):
        events = _random(rng, int(rng.integers(1, 2500)),
                         int(rng.choice([1000, 1_000_000, 40_000_000, 200_000_000])))
        words = encode_evt3(events)
        yield f"sparse {trial}", _cut(rng, words.tobytes(), int(rng.integers(0, 30)))
        inject = np.insert(words, rng.integers(0, words.size, 20),  # reserved/trigger/vendor
                           (rng.choice([0x1, 0x7, 0x9, 0xA, 0xB, 0xC, 0xD, 0xE, 0xF], 20) << 12
                            | rng.integers(0, 4096, 20)).astype(np.uint16))
        yield f"injected words {trial}", _cut(rng, inject.tobytes(), 20)
        hit = words.copy()
        idx = rng.integers(0, words.size, max(1, words.size // 50))
        hit[idx] = rng.integers(0, 1 << 16, idx.size)
        yield f"random words {trial}", _cut(rng, hit.tobytes(), 20)
        yield f"starts mid-stream {trial}", _cut(
            rng, words[int(rng.integers(0, words.size)):].tobytes(), 10)
        big = _random(rng, 500, 50_000_000, 2048, 2048)  # mostly outside a 320 x 240 sensor
        yield f"outside the sensor {trial}", _cut(rng, encode_evt3(big).tobytes(), 10)
        yield f"random bytes {trial}", _cut(rng, rng.bytes(int(rng.integers(2, 6000))), 10,
                                            whole_words=False)
        ev = sort_events(_random(rng, 1500, 100_000_000))  # self-contained packets, gaps
        yield f"packets with gaps {trial}", [encode_packet("evt3", p)[0]
                                             for p in np.array_split(ev, 40) if p.size]
        lost = _cut(rng, encode_evt3(_random(rng, 2000, 50_000_000)).tobytes(), 60)
        yield f"lost packets {trial}", [c for c in lost if rng.random() > 0.3]


@needs_evt3
def test_both_decoders_agree_on_good_and_bad_streams():
    rng = np.random.default_rng(0)
    n = 0
    for name, chunks in _streams(rng):
        for streaming in (False, True):
            a, sa, ta = decode_chunks("numpy", chunks, W, H, streaming=streaming)
            b, sb, tb = decode_chunks("evt3", chunks, W, H, streaming=streaming)
            np.testing.assert_array_equal(b, a, err_msg=name)
            assert sb == sa, name
            assert tb == ta, name
            n += 1
    assert n == 12 * 8 * 2


@pytest.mark.parametrize("decoder", DECODERS)
def test_time_high_sets_the_low_bits_to_zero(decoder):
    """As the evt3 package reads it: an event between TIME_HIGH and the next TIME_LOW is at
    TIME_HIGH << 12."""
    words = np.array([(EVT3_TIME_HIGH << 12) | 1, (EVT3_TIME_LOW << 12) | 5,
                      (EVT3_ADDR_Y << 12) | 3, (EVT3_ADDR_X << 12) | 7,
                      (EVT3_TIME_HIGH << 12) | 2, (EVT3_ADDR_X << 12) | 8], dtype="<u2")
    events, stats = decode_with(decoder, words.tobytes(), W, H)
    assert events["t"].tolist() == [4096 + 5, 2 * 4096] and stats.skipped == 0


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_wrap_is_read_right_after_lost_packets(decoder):
    """1 ms packets with 300 ms lost around each 24-bit wrap: TIME_HIGH then drops by less
    than 4085, which the evt3 package alone would read as time going 16.5 s backwards."""
    t = np.concatenate([np.arange(0, 50_000_000, 1000)])
    wrap_phase = t % EVT3_TIME_WRAP_US
    t = t[(wrap_phase > 300_000) | (t < EVT3_TIME_WRAP_US)]  # lose ~300 ms after each wrap
    events = make_events(t % W, (t // W) % H, t, t % 2)
    packets = [encode_packet("evt3", p)[0] for p in np.array_split(events, t.size // 5)]
    got, stats, times = decode_chunks(decoder, packets, W, H)
    np.testing.assert_array_equal(got, events)
    assert stats.skipped == 0 and times[-1] == int(t[-1])


@needs_evt3
def test_the_evt3_decoder_hands_only_the_start_to_numpy(monkeypatch):
    import neuroq.deploy.events.evt3_rust as rust

    calls = []
    numpy_decode = rust.decode_evt3
    monkeypatch.setattr(rust, "decode_evt3",
                        lambda *a, **k: calls.append(1) or numpy_decode(*a, **k))
    rng = np.random.default_rng(3)
    events = sort_events(_random(rng, 30_000, 3 * EVT3_TIME_WRAP_US))  # wraps twice
    data = encode_evt3(events).tobytes()
    got, stats, _ = decode_chunks("evt3", [data[i:i + 2000] for i in range(0, len(data), 2000)],
                                  W, H)
    np.testing.assert_array_equal(got, events)
    assert stats.skipped == 0 and len(calls) == 1  # the first packet, before ADDR_Y is known


@needs_evt3
def test_vectors_that_start_with_their_base_stay_on_the_fast_path(monkeypatch):
    """A stream whose first vector word comes after the start, as a VECT_BASE_X (as encoders
    write vectors): decoded by evt3 all along, no second hand-over to numpy."""
    import neuroq.deploy.events.evt3_rust as rust

    calls = []
    numpy_decode = rust.decode_evt3
    monkeypatch.setattr(rust, "decode_evt3",
                        lambda *a, **k: calls.append(1) or numpy_decode(*a, **k))
    single = make_events(np.arange(100) % W, np.arange(100) % H, np.arange(100) * 10,
                         np.ones(100, int))  # one event per row and time: no vectors
    row = make_events(np.arange(5, 40), np.full(35, 7), np.full(35, 5000), np.ones(35, int))
    later = sort_events(row)
    packets = [encode_packet("evt3", single)[0], encode_packet("evt3", later)[0]]
    assert np.any(np.isin(np.frombuffer(packets[1], "<u2") >> 12, (3, 4, 5)))  # vectors
    assert not np.any(np.isin(np.frombuffer(packets[0], "<u2") >> 12, (3, 4, 5)))
    got, stats, _ = decode_chunks("evt3", packets, W, H)
    np.testing.assert_array_equal(got, sort_events(np.concatenate([single, later])))
    assert stats.skipped == 0 and len(calls) == 1  # the start only


def test_decoder_choice_names_and_errors(monkeypatch):
    with pytest.raises(NeuroqError, match="must be one of auto, evt3, numpy"):
        make_evt3_decoder(W, H, "rust")
    assert make_evt3_decoder(W, H, "numpy").name == "numpy"
    assert evt3_decoder_name("numpy") == "numpy (chosen)"
    if EVT3_WHEEL_HERE:
        assert make_evt3_decoder(W, H).name.startswith("evt3 0.4.1")
        assert evt3_decoder_name() == make_evt3_decoder(W, H, "evt3").name
    # a platform without the package: auto falls back to numpy, evt3 says how to get it
    monkeypatch.setattr(decoders_module, "evt3_package",
                        lambda: (None, "ModuleNotFoundError: No module named 'evt3'"))
    assert make_evt3_decoder(W, H).name == "numpy"
    assert "not available: ModuleNotFoundError" in evt3_decoder_name("auto")
    with pytest.raises(NeuroqError, match="pip install evt3"):
        make_evt3_decoder(W, H, "evt3")


@pytest.mark.parametrize("decoder", DECODERS)
def test_how_a_stream_is_cut_does_not_change_what_is_decoded(decoder):
    """Even on garbage: state, the running time maximum and an odd byte carry over."""
    rng = np.random.default_rng(5)
    for trial in range(40):
        if trial % 2:
            data = rng.bytes(int(rng.integers(2, 8000)))
        else:  # events mostly outside the sensor, some words overwritten
            words = encode_evt3(_random(rng, 500, 60_000_000, 2048, 2048)).copy()
            words[rng.integers(0, words.size, 30)] = rng.integers(0, 1 << 16, 30)
            data = words.tobytes()
        whole, whole_stats, _ = decode_chunks(decoder, [data], W, H, streaming=True)
        cut, cut_stats, _ = decode_chunks(decoder, _cut(rng, data, 15, whole_words=False), W,
                                          H, streaming=True)
        np.testing.assert_array_equal(cut, whole)
        cut_stats.packets = whole_stats.packets
        assert cut_stats == whole_stats


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_time_high_drop_of_half_the_range_is_a_wrap(decoder):
    """The Metavision SDK's rule (OpenEB): a drop of 2048 or more is a wrap, less is time
    going backwards (the evt3 package alone needs a drop of 4085)."""
    def stream(new_high):
        return np.array([(EVT3_TIME_HIGH << 12) | 3000, (EVT3_TIME_LOW << 12) | 0,
                         (EVT3_ADDR_Y << 12) | 1, (EVT3_ADDR_X << 12) | 1,
                         (EVT3_TIME_HIGH << 12) | new_high, (EVT3_ADDR_X << 12) | 2],
                        dtype="<u2").tobytes()

    events, stats = decode_with(decoder, stream(3000 - 2048), W, H)
    assert events["t"].tolist() == [3000 << 12, (3000 - 2048 + 4096) << 12]
    assert stats.skipped == 0
    events, stats = decode_with(decoder, stream(3000 - 2047), W, H)
    assert events["t"].tolist() == [3000 << 12] and stats.time_backwards == 1


@pytest.mark.parametrize("decoder", DECODERS)
def test_columns_are_the_same_events_and_counters(decoder):
    """`decode_many(columns=True)` (the event node's path: no EVENT_DTYPE array) gives the
    events and counters of `decode_many`, on every good and bad stream."""
    from neuroq.deploy.events import PacketDecoder
    from neuroq.envs.event_array import EventColumns

    rng = np.random.default_rng(3)
    for name, chunks in _streams(rng):
        a, b = PacketDecoder(W, H, decoder), PacketDecoder(W, H, decoder)
        for k in range(0, len(chunks), 3):
            batch = [("evt3", c, 0, False) for c in chunks[k:k + 3]]
            events, stats = a.decode_many(batch)
            cols, col_stats = b.decode_many(batch, columns=True)
            assert isinstance(cols, EventColumns), name
            np.testing.assert_array_equal(cols.events(), events, err_msg=name)
            assert col_stats == stats and b.time_us() == a.time_us(), name
        assert b.stats == a.stats, name


@pytest.mark.parametrize("decoder", DECODERS)
def test_drop_corrupt_skips_a_garbage_packet_as_if_it_were_lost(decoder):
    from neuroq.deploy.events import PacketDecoder

    rng = np.random.default_rng(9)
    good = [encode_packet("evt3", sort_events(_random(rng, 300, 1000)))[0],
            encode_packet("evt3", make_events([1], [2], [5000], [1]))[0]]
    garbage = rng.integers(0, 256, 1000, np.uint8).tobytes()
    a, b = PacketDecoder(W, H, decoder), PacketDecoder(W, H, decoder)
    got, stats = a.decode_many([("evt3", p, 0, False) for p in (good[0], garbage, good[1])],
                               drop_corrupt=True)
    want, _ = b.decode_many([("evt3", p, 0, False) for p in good])
    np.testing.assert_array_equal(got, want)
    assert a.time_us() == b.time_us() == 5000
    assert stats.corrupt_packets == 1 and stats.corrupt_words > 100 and stats.packets == 3
    assert a.stats.corrupt_packets == 1 and "corrupt_packets=1" in a.stats.diagnostic()
    # without it the garbage is decoded, and its words are read as events and time
    c = PacketDecoder(W, H, decoder)
    c.decode_many([("evt3", p, 0, False) for p in (good[0], garbage, good[1])])
    assert c.stats.corrupt_packets == 0 and c.stats.corrupt_words > 100


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_corrupt_word_scan_changes_nothing_that_is_decoded(decoder):
    """`corrupt_words` counts the words of an undefined type as `decode` does, and a scan
    kept for the next decode (the evt3 decoder keeps it for the same bytes object) gives
    the same events and counters as no scan, on every good and bad stream; a scan of
    other bytes is not used for these."""
    from neuroq.deploy.events import make_evt3_decoder
    from neuroq.deploy.events.stats import DecodeStats

    rng = np.random.default_rng(4)
    for name, chunks in _streams(rng):
        plain, scanned = make_evt3_decoder(W, H, decoder), make_evt3_decoder(W, H, decoder)
        for k, chunk in enumerate(chunks):
            data = chunk[: len(chunk) - len(chunk) % 2]  # whole words: one chunk each
            a, b = DecodeStats(), DecodeStats()
            want = plain.decode(data, a)
            n_corrupt = scanned.corrupt_words(data)
            if k % 3 == 2:  # a scan of other bytes in between must not be taken for these
                scanned.corrupt_words(rng.bytes(64))
            got = scanned.decode(data, b)
            np.testing.assert_array_equal(got, want, err_msg=name)
            assert b == a, name
            assert n_corrupt == a.corrupt_words, name


@pytest.mark.parametrize("n_bytes", [0, 1, 2, 3, 4094, 4095, 4096, 4097, 9001, 60_000])
def test_word_high_bytes_is_every_whole_words_high_byte(n_bytes):
    """Both ways `word_high_bytes` takes (a slice below SLICE_HIGH_BYTES_BELOW, numpy from
    it on) give the high byte of each whole little-endian word, a trailing odd byte left
    out; and `count_corrupt_words` counts the words of an undefined type among them."""
    from neuroq.deploy.events.evt3_numpy import (  # noqa: PLC0415
        SLICE_HIGH_BYTES_BELOW,
        count_corrupt_words,
        word_high_bytes,
    )
    from neuroq.deploy.events.evt3_words import EVT3_CORRUPT_TYPES  # noqa: PLC0415

    assert 4095 <= SLICE_HIGH_BYTES_BELOW <= 4097  # the sizes above test both sides
    data = np.random.default_rng(n_bytes).integers(0, 256, n_bytes, dtype=np.uint8).tobytes()
    words = np.frombuffer(data[: n_bytes - n_bytes % 2], "<u2")
    assert word_high_bytes(data) == (words >> 8).astype(np.uint8).tobytes()
    want = int(np.isin(words >> 12, sorted(EVT3_CORRUPT_TYPES)).sum())
    assert count_corrupt_words(data) == want
