"""Event formats: EVT 3.0 and mono round trips, bad packets counted not raised, .raw files."""

from __future__ import annotations

import array

import numpy as np
import pytest

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events import (
    EVENT_DTYPE,
    EVT3_ADDR_X,
    EVT3_ADDR_Y,
    EVT3_EXT_TRIGGER,
    EVT3_TIME_HIGH,
    EVT3_TIME_LOW,
    EVT3_TIME_WRAP_US,
    EVT3_VECT_8,
    EVT3_VECT_12,
    EVT3_VECT_BASE_X,
    DecodeStats,
    Evt3State,
    PacketDecoder,
    RawReader,
    RawWriter,
    decode_evt3,
    decode_packet,
    encode_evt3,
    encode_mono,
    encode_packet,
    from_columns,
    make_events,
    mislabelled,
    skip_details,
    sort_events,
    to_columns,
)
from tests.helpers.decoders import DECODERS, decode_chunks, decode_with

WIDTH, HEIGHT = 320, 240


def random_events(rng: np.random.Generator, n: int, t_max: int, width=WIDTH, height=HEIGHT):
    return make_events(rng.integers(0, width, n), rng.integers(0, height, n),
                       rng.integers(0, t_max, n), rng.integers(0, 2, n))


def row_bursts(rng: np.random.Generator, n_bursts: int, run: int = 20):
    """Runs of adjacent pixels with one timestamp, some with gaps, as a sensor reads out."""
    t = np.sort(rng.integers(0, 1_000_000, n_bursts))
    y = rng.integers(0, HEIGHT, n_bursts)
    x0 = rng.integers(0, WIDTH - 2 * run, n_bursts)
    offsets = np.arange(run) * rng.integers(1, 3, (n_bursts, 1))  # step 1 or 2 pixels
    p = rng.integers(0, 2, n_bursts)
    return make_events((x0[:, None] + offsets).ravel(), np.repeat(y, run), np.repeat(t, run),
                       np.repeat(p, run))


def word_types(words: np.ndarray) -> set[int]:
    return set(np.unique(words >> 12).tolist())


# --- EVT 3.0 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("decoder", DECODERS)
def test_evt3_round_trip_sparse_events_with_time_wraps(seed, decoder):
    rng = np.random.default_rng(seed)
    events = random_events(rng, 3000, 3 * EVT3_TIME_WRAP_US)  # wraps the 24-bit time twice
    words = encode_evt3(events)
    decoded, stats = decode_with(decoder, words.tobytes(), WIDTH, HEIGHT)
    assert stats.skipped == 0
    np.testing.assert_array_equal(decoded, sort_events(events))
    assert decoded.dtype == EVENT_DTYPE


@pytest.mark.parametrize("decoder", DECODERS)
def test_evt3_round_trip_uses_vector_words_and_is_compact(decoder):
    events = row_bursts(np.random.default_rng(3), 400)
    words = encode_evt3(events)
    assert {EVT3_VECT_BASE_X, EVT3_VECT_12, EVT3_VECT_8} <= word_types(words)
    assert words.size < 0.5 * events.size  # vectors pack many events per word
    decoded, stats = decode_with(decoder, words, WIDTH, HEIGHT)
    assert stats.events == events.size and stats.skipped == 0
    np.testing.assert_array_equal(decoded, sort_events(events))


@pytest.mark.parametrize("n_single", [0, 50, 2000, 20000])
@pytest.mark.parametrize("decoder", DECODERS)
def test_evt3_round_trip_mixes_of_single_and_vector_events(n_single, decoder):
    # the decoder takes a different path when most event words are vectors or singles
    rng = np.random.default_rng(16)
    events = np.concatenate([row_bursts(rng, 200), random_events(rng, n_single, 1_000_000)])
    decoded, stats = decode_with(decoder, encode_evt3(events), WIDTH, HEIGHT)
    assert stats.skipped == 0
    np.testing.assert_array_equal(decoded, sort_events(events))
    narrow, nstats = decode_with(decoder, encode_evt3(events), 100, HEIGHT)
    np.testing.assert_array_equal(narrow, sort_events(events[events["x"] < 100]))
    assert nstats.out_of_sensor == int((events["x"] >= 100).sum())


@pytest.mark.parametrize("decoder", DECODERS)
def test_evt3_hand_written_words_decode_as_the_format_says(decoder):
    def w(kind, payload):
        return (kind << 12) | payload

    words = np.array([
        w(EVT3_TIME_HIGH, 0x001), w(EVT3_TIME_LOW, 0x002),  # t = 4096 + 2
        w(EVT3_ADDR_Y, 7),
        w(EVT3_ADDR_X, (1 << 11) | 5),  # ON at x=5
        w(EVT3_VECT_BASE_X, 100),  # OFF, base x = 100
        w(EVT3_VECT_12, 0b100000000101),  # x = 100, 102, 111
        w(EVT3_VECT_8, 0b00000011),  # base now 112: x = 112, 113
    ], dtype=np.uint16)
    ev, stats = decode_with(decoder, words.tobytes(), WIDTH, HEIGHT)
    assert ev["x"].tolist() == [5, 100, 102, 111, 112, 113]
    assert ev["y"].tolist() == [7] * 6
    assert ev["t"].tolist() == [4098] * 6
    assert ev["p"].tolist() == [1, 0, 0, 0, 0, 0]
    assert stats.events == 6 and stats.skipped == 0


@pytest.mark.parametrize("decoder", DECODERS)
def test_evt3_long_gaps_are_bridged_with_time_high_words(decoder):
    # 100 s and 3 s gaps: more than the 24-bit wrap (16.8 s) and than half of it
    events = make_events([1, 2, 3, 4], [0, 0, 0, 0], [10, 100_000_010, 103_000_000, 103_000_001],
                         [1, 0, 1, 0])
    words = encode_evt3(events)
    decoded, stats = decode_with(decoder, words, WIDTH, HEIGHT)
    assert stats.skipped == 0
    np.testing.assert_array_equal(decoded, events)


@pytest.mark.parametrize("decoder", DECODERS)
def test_evt3_trigger_and_vendor_words_are_skipped(decoder):
    words = encode_evt3(make_events([5, 6], [1, 1], [100, 200], [1, 1]))
    extra = np.array([(EVT3_EXT_TRIGGER << 12) | 0x101, (0x7 << 12) | 3, (0xE << 12) | 9],
                     dtype=np.uint16)
    mixed = np.concatenate([words[:4], extra, words[4:]])
    events, stats = decode_with(decoder, mixed, WIDTH, HEIGHT)
    assert events["x"].tolist() == [5, 6] and events["t"].tolist() == [100, 200]
    assert stats.triggers == 1 and stats.skipped == 0


@pytest.mark.parametrize("decoder", DECODERS)
def test_evt3_streaming_in_arbitrary_chunks_equals_one_decode(decoder):
    rng = np.random.default_rng(4)
    events = np.concatenate([random_events(rng, 2000, 40_000_000), row_bursts(rng, 100)])
    data = encode_evt3(events).tobytes()
    cuts = np.sort(rng.integers(0, len(data), 40))  # odd offsets split words
    chunks = [data[a:b] for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(data)], strict=True)]
    got, stats, _ = decode_chunks(decoder, chunks, WIDTH, HEIGHT, streaming=True)
    np.testing.assert_array_equal(got, sort_events(events))
    assert stats.skipped == 0
    # the numpy decoder's function and state, as robot code without the package uses them
    state, parts = Evt3State(), []
    for chunk in chunks:
        parts.append(decode_evt3(chunk, WIDTH, HEIGHT, state=state, streaming=True)[0])
    np.testing.assert_array_equal(np.concatenate(parts), got)


@pytest.mark.parametrize("decoder", DECODERS)
def test_evt3_packets_cut_on_word_boundaries_keep_state_across_packets(decoder):
    events = row_bursts(np.random.default_rng(5), 300)
    words = encode_evt3(events)
    packets = PacketDecoder(WIDTH, HEIGHT, decoder)
    got = [packets.decode("evt3", words[i:i + 37].tobytes())[0]
           for i in range(0, words.size, 37)]
    assert packets.stats.skipped == 0
    np.testing.assert_array_equal(np.concatenate(got), sort_events(events))


# --- bad input: counted, skipped, never raised ------------------------------------------------
@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("packet_words", [50, 9000])  # 9000 words: runs over JOIN_BYTES
def test_decode_many_equals_packet_by_packet(decoder, packet_words):
    rng = np.random.default_rng(17)
    events = np.concatenate([row_bursts(rng, 100), random_events(rng, 30_000, 1_000_000)])
    words = encode_evt3(events)
    packets = [("evt3", words[i:i + packet_words].tobytes(), 0, False)
               for i in range(0, words.size, packet_words)]
    packets.insert(3, ("evt3", b"\x01\x02\x03", 0, False))  # odd size: decoded on its own
    packets.insert(5, ("libcaer", b"\x00" * 8, 0, False))
    one_by_one = PacketDecoder(WIDTH, HEIGHT, decoder)
    expected = np.concatenate([one_by_one.decode(e, d, tb, is_bigendian=b)[0]
                               for e, d, tb, b in packets])
    batched = PacketDecoder(WIDTH, HEIGHT, decoder)
    got, stats = batched.decode_many(packets)
    np.testing.assert_array_equal(got, expected)
    assert stats == one_by_one.stats == batched.stats
    assert stats.unknown_encoding == 1 and stats.truncated_bytes == 1


def _strided(data: bytes) -> np.ndarray:
    """`data`'s bytes as a non-contiguous uint8 array (every other byte of a larger one)."""
    wide = np.zeros(2 * len(data), np.uint8)
    wide[::2] = np.frombuffer(data, np.uint8)
    return wide[::2]


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("drop_corrupt", [False, True])
def test_decode_many_takes_every_buffer_type(decoder, drop_corrupt):
    """Payloads as bytes, memoryview (the event node's), bytearray, array.array, a uint8
    array and a non-contiguous one (which `bytes.join` refuses: it raised a TypeError from
    decode_many) all decode to the events of the bytes, in one call."""
    rng = np.random.default_rng(23)
    words = encode_evt3(sort_events(random_events(rng, 3000, 1_000_000)))
    chunks = [words[i:i + 700].tobytes() for i in range(0, words.size, 700)]
    kinds = [bytes, memoryview, bytearray, lambda b: array.array("B", b),
             lambda b: np.frombuffer(b, np.uint8), _strided]
    packets = [("evt3", kinds[i % len(kinds)](c), 0, False) for i, c in enumerate(chunks)]
    want, want_stats = PacketDecoder(WIDTH, HEIGHT, decoder).decode_many(
        [("evt3", c, 0, False) for c in chunks], drop_corrupt=drop_corrupt)
    got, stats = PacketDecoder(WIDTH, HEIGHT, decoder).decode_many(
        packets, drop_corrupt=drop_corrupt)
    np.testing.assert_array_equal(got, want)
    assert got.size == 3000 and stats == want_stats and stats.skipped == 0


@pytest.mark.parametrize("decoder", DECODERS)
def test_truncated_and_corrupt_evt3_words_are_counted_not_raised(decoder):
    rng = np.random.default_rng(6)
    events = sort_events(random_events(rng, 500, 1_000_000))
    words = encode_evt3(events)
    bad = words.copy()
    bad[50:60] = 0x9ABC  # type 0x9 is not defined by EVT 3.0
    events_out, stats = decode_packet("evt3", bad.tobytes() + b"\x07", 0, WIDTH, HEIGHT,
                                      decoder=decoder)
    assert stats.corrupt_words == 10
    assert stats.truncated_bytes == 1
    assert 0 < events_out.size < events.size
    assert np.all(np.diff(events_out["t"]) >= 0)


@pytest.mark.parametrize("data", [b"", b"\x01", bytes(range(256)) * 3,
                                  np.random.default_rng(7).bytes(10_001)])
@pytest.mark.parametrize("decoder", DECODERS)
def test_garbage_never_raises(data, decoder):
    for encoding in ("evt3", "mono", "EVT3", "libcaer_cmp", ""):
        events, stats = decode_packet(encoding, data, 12345, WIDTH, HEIGHT, decoder=decoder)
        assert events.dtype == EVENT_DTYPE
        assert isinstance(stats, DecodeStats)
        assert np.all(events["x"] < WIDTH) and np.all(events["y"] < HEIGHT)
        assert np.all(np.diff(events["t"]) >= 0)


@pytest.mark.parametrize("decoder", DECODERS)
def test_payloads_that_are_not_bytes_and_bad_sizes_are_counted(decoder):
    words = encode_evt3(make_events([1, 2], [3, 3], [10, 10], [1, 1]))
    as_list = list(words.tobytes())  # some bindings give uint8[] as a list of ints
    for good in (as_list, bytearray(words.tobytes()), words, memoryview(words.tobytes())):
        events, stats = decode_packet("evt3", good, 0, WIDTH, HEIGHT, decoder=decoder)
        assert events["x"].tolist() == [1, 2] and stats.skipped == 0
    for bad in (None, "not bytes", [1, 2, 999], object()):
        events, stats = decode_packet("evt3", bad, 0, WIDTH, HEIGHT, decoder=decoder)
        assert events.size == 0 and stats.bad_payload == 1
    # numbers that are no payload were read as bytes (an int as 1 byte, 3.5 as 3, [1.5] as
    # [1]) and counted as truncated: an outsider
    for encoding in ("evt3", "mono"):
        for bad in (5, 3.5, [1.5, 2.0], [-1, 2], [[1, 2]], np.float64(7), np.array(5.5)):
            events, stats = decode_packet(encoding, bad, 0, WIDTH, HEIGHT, decoder=decoder)
            assert (events.size, stats.bad_payload, stats.truncated_bytes) == (0, 1, 0), bad
    with pytest.raises(NeuroqError, match="must be one of"):  # a choice, not data
        decode_packet("evt3", words.tobytes(), 0, WIDTH, HEIGHT, decoder="rust")
    events, stats = decode_packet("evt3", words.tobytes(), 0, 0, HEIGHT, decoder=decoder)
    assert events.size == 0 and stats.bad_payload == 1
    events, stats = decode_packet("mono", b"\x00" * 8, 2**64 - 1, WIDTH, HEIGHT)
    assert events.size == 0 and stats.bad_payload == 1


@pytest.mark.parametrize("decoder", DECODERS)
def test_events_before_their_state_are_counted_as_missing_state(decoder):
    words = np.array([(EVT3_ADDR_X << 12) | 3, (EVT3_ADDR_Y << 12) | 1,
                      (EVT3_TIME_HIGH << 12) | 0, (EVT3_TIME_LOW << 12) | 9,
                      (EVT3_ADDR_X << 12) | 4], dtype=np.uint16)
    events, stats = decode_packet("evt3", words.tobytes(), 0, WIDTH, HEIGHT, decoder=decoder)
    assert stats.missing_state == 1
    assert events["x"].tolist() == [4] and events["t"].tolist() == [9]


@pytest.mark.parametrize("decoder", DECODERS)
def test_events_outside_the_sensor_are_counted_and_skipped(decoder):
    rng = np.random.default_rng(8)
    events = random_events(rng, 1000, 100_000)
    words = encode_evt3(events)
    narrow_w, narrow_h = 100, 200
    got, stats = decode_packet("evt3", words.tobytes(), 0, narrow_w, narrow_h, decoder=decoder)
    inside = (events["x"] < narrow_w) & (events["y"] < narrow_h)
    assert stats.out_of_sensor == int((~inside).sum()) > 0
    np.testing.assert_array_equal(got, sort_events(events[inside]))
    mono, mstats = decode_packet("mono", encode_mono(sort_events(events), 0).tobytes(), 0,
                                 narrow_w, narrow_h)
    assert mstats.out_of_sensor == int((~inside).sum())
    assert mono.size == int(inside.sum())


@pytest.mark.parametrize("decoder", DECODERS)
def test_time_going_backwards_is_counted_and_skipped(decoder):
    early = make_events([1, 2], [1, 1], [5000, 5001], [1, 1])
    late = make_events([3, 4], [1, 1], [90_000, 90_001], [0, 0])
    packets = PacketDecoder(WIDTH, HEIGHT, decoder)
    packets.decode("evt3", encode_evt3(late).tobytes())
    back, stats = packets.decode("evt3", encode_evt3(early).tobytes())
    assert back.size == 0 and stats.time_backwards == 2
    # within one mono packet
    mono = encode_mono(make_events([1, 2, 3], [0, 0, 0], [10, 30, 20], [1, 1, 1]), 0)
    got, mstats = decode_packet("mono", mono.tobytes(), 0, WIDTH, HEIGHT)
    assert got["t"].tolist() == [10, 30] and mstats.time_backwards == 1


def test_unknown_encoding_is_counted_and_yields_nothing():
    decoder = PacketDecoder(WIDTH, HEIGHT)
    events, stats = decoder.decode("libcaer_cmp", b"\x00" * 64)
    assert events.size == 0 and stats.unknown_encoding == 1
    assert "unknown_encoding=1" in decoder.stats.diagnostic()


def test_skip_details_name_what_the_skipped_packets_declared():
    """The node's warning said only "skipped: unknown_encoding=2" for packets encoded
    'evt_3.0', and "bad_payload=1" for an evt3 packet flagged big endian (an outsider)."""
    decoder = PacketDecoder(WIDTH, HEIGHT)
    words = encode_evt3(make_events([1], [1], [10], [1])).tobytes()
    packets = [("evt_3.0", words, 0, False), ("evt_3.0", words, 0, False),
               ("x" * 100, words, 0, False), ("EVT3", words, 0, True), ("evt3", words, 0, False)]
    _, stats = decoder.decode_many(packets, drop_corrupt=True)
    assert stats.unknown_encoding == 3 and stats.bad_payload == 1
    details = skip_details(packets, stats)
    assert "'evt_3.0'" in details and details.count("evt_3.0") == 1  # each named once
    assert "'xxxx" in details and "x" * 50 not in details  # cut to 40 characters
    assert "'evt3' and 'mono'" in details
    assert "1 evt3 packet flagged is_bigendian" in details
    assert skip_details(packets[4:], DecodeStats()) == ""


def _mislabel_packets(encoding_written, label, xs=WIDTH, n=100, seed=0):
    rng = np.random.default_rng(seed)
    packets = []
    for k in range(5):
        t = np.sort(rng.integers(k * 1000 + 1, (k + 1) * 1000, n))
        events = make_events(rng.integers(0, xs, n), rng.integers(0, HEIGHT, n), t,
                             rng.integers(0, 2, n))
        data, time_base = encode_packet(encoding_written, events)
        packets.append((label, data, time_base, False))
    return packets


def test_packets_of_the_other_encoding_are_named():
    """EVT 3.0 bytes labelled 'mono' read as 'skipped: truncated_bytes=22,
    out_of_sensor=6498' and nothing named the label (an outsider): `mislabelled` counts and
    names them; mono bytes labelled 'evt3' (corrupt words) likewise."""
    evt3_as_mono = _mislabel_packets("evt3", "mono")
    _, stats = PacketDecoder(WIDTH, HEIGHT).decode_many(evt3_as_mono, drop_corrupt=True)
    assert stats.out_of_sensor and stats.events < 100
    n, line = mislabelled(evt3_as_mono, stats)
    assert n == 5 and line.startswith("EVT 3.0 words in 5 packets labelled 'mono'")
    assert "encoding evt3?" in line
    assert skip_details(evt3_as_mono, stats) == ""  # the encodings' line: none unknown

    mono_as_evt3 = _mislabel_packets("mono", " EVT3 ")
    _, stats = PacketDecoder(WIDTH, HEIGHT).decode_many(mono_as_evt3, drop_corrupt=True)
    assert stats.corrupt_packets == 5 and stats.events == 0
    n, line = mislabelled(mono_as_evt3, stats, (WIDTH, HEIGHT))
    assert n == 5 and "mono events (each on the sensor, in time order) in 5 packets " \
        "labelled 'evt3'" in line
    assert mislabelled(mono_as_evt3, stats) == (0, "")  # without the sensor: not judged
    # mono events outside a smaller sensor are not on it: not called mono
    assert mislabelled(mono_as_evt3, stats, (8, 8)) == (0, "")

    # packets labelled as written, with skipped events of their own: no such line
    for written in ("evt3", "mono"):
        right = _mislabel_packets(written, written, xs=2 * WIDTH)
        _, stats = PacketDecoder(WIDTH, HEIGHT).decode_many(right, drop_corrupt=True)
        assert stats.out_of_sensor > 0
        assert mislabelled(right, stats, (WIDTH, HEIGHT)) == (0, "")
    # corrupt evt3 packets that are no mono either
    garbage = [("evt3", bytes(range(256)) * 2, 0, False)]
    _, stats = PacketDecoder(WIDTH, HEIGHT).decode_many(garbage, drop_corrupt=True)
    assert stats.corrupt_words and mislabelled(garbage, stats, (WIDTH, HEIGHT)) == (0, "")
    # a payload shorter than MISLABEL_MIN_BYTES is not judged
    short = [("mono", evt3_as_mono[0][1][:16], 0, False)]
    _, stats = PacketDecoder(WIDTH, HEIGHT).decode_many(short, drop_corrupt=True)
    assert mislabelled(short, stats) == (0, "")


def test_small_genuine_mono_packets_are_never_called_evt3():
    """A review: genuine mono packets of 4-16 events with one event outside the sensor
    were called EVT 3.0 up to 41 % of the time when only their word types were judged
    (three of a mono word's four 16-bit words have defined EVT 3.0 types). Mono events
    come in time order; EVT 3.0 bytes read as mono do not."""
    rng = np.random.default_rng(11)
    said = 0
    for trial in range(2000):
        n = int(rng.integers(4, 17))
        t = np.sort(rng.integers(1, 200, n)) + 1000 * trial  # us: a dense packet
        x = rng.integers(0, WIDTH, n)
        x[0] = WIDTH + 5  # one event outside the sensor: a problem to judge
        data, time_base = encode_packet("mono", make_events(x, rng.integers(0, HEIGHT, n), t,
                                                            rng.integers(0, 2, n)))
        packet = [("mono", data, time_base, False)]
        _, stats = PacketDecoder(WIDTH, HEIGHT).decode_many(packet, drop_corrupt=True)
        assert stats.out_of_sensor == 1
        said += mislabelled(packet, stats, (WIDTH, HEIGHT))[0]
    assert said == 0
    # and small EVT 3.0 packets labelled mono are still found (8 events: about 50 bytes)
    found = 0
    for trial in range(200):
        t = np.sort(rng.integers(1000 * trial + 1, 1000 * trial + 1000, 8))
        data, _ = encode_packet("evt3", make_events(rng.integers(0, WIDTH, 8),
                                                    rng.integers(0, HEIGHT, 8), t,
                                                    rng.integers(0, 2, 8)))
        assert len(data) >= 32
        packet = [("mono", data, 0, False)]
        _, stats = PacketDecoder(WIDTH, HEIGHT).decode_many(packet, drop_corrupt=True)
        found += mislabelled(packet, stats)[0] if stats.skipped else 0
    assert found >= 180


# --- mono -------------------------------------------------------------------------------------
def test_mono_round_trip_and_layout():
    rng = np.random.default_rng(9)
    events = sort_events(random_events(rng, 2000, 3_000_000))
    time_base_ns = 1_700_000_000_000_000_000
    shifted = events.copy()
    shifted["t"] += time_base_ns // 1000
    words = encode_mono(shifted, time_base_ns)
    w0 = int(words[0])
    assert w0 >> 63 == events["p"][0]
    assert (w0 >> 48) & 0x7FFF == events["y"][0]
    assert (w0 >> 32) & 0xFFFF == events["x"][0]
    assert w0 & 0xFFFFFFFF == events["t"][0] * 1000
    decoded, stats = decode_packet("mono", words.tobytes(), time_base_ns, WIDTH, HEIGHT)
    np.testing.assert_array_equal(decoded, shifted)
    big, _ = decode_packet("mono", words.astype(">u8").tobytes(), time_base_ns, WIDTH, HEIGHT,
                           is_bigendian=True)
    np.testing.assert_array_equal(big, shifted)


@pytest.mark.parametrize("encoding", ["evt3", "mono"])
@pytest.mark.parametrize("decoder", DECODERS)
def test_encode_packet_then_packet_decoder_over_a_stream(encoding, decoder):
    rng = np.random.default_rng(12)
    events = sort_events(random_events(rng, 4000, 3_000_000))
    packets = PacketDecoder(WIDTH, HEIGHT, decoder)
    got = []
    for chunk in np.array_split(events, 30):  # ~100 ms packets, as a driver would send
        data, time_base = encode_packet(encoding, chunk)
        got.append(packets.decode(encoding, data, time_base)[0])
    assert packets.stats.skipped == 0 and packets.stats.packets == 30
    np.testing.assert_array_equal(np.concatenate(got), events)
    with pytest.raises(NeuroqError, match="encoding must be one of"):
        encode_packet("libcaer", events)


def test_encoders_reject_what_the_format_cannot_hold():
    with pytest.raises(NeuroqError, match="11-bit"):
        encode_evt3(make_events([3000], [0], [0], [1]))
    with pytest.raises(NeuroqError, match="split the packet"):
        encode_mono(make_events([0], [0], [5_000_000], [1]), 0)
    with pytest.raises(ValueError, match="EVENT_DTYPE"):
        encode_evt3(np.zeros(3))


@pytest.mark.parametrize("t_max", [1000, 1 << 40])
def test_sort_events_orders_by_t_y_p_x(t_max):
    rng = np.random.default_rng(18)
    events = random_events(rng, 3000, t_max)
    got = sort_events(events)
    keys = list(zip(got["t"].tolist(), got["y"].tolist(), got["p"].tolist(), got["x"].tolist(),
                    strict=True))
    assert keys == sorted(keys)
    assert sorted(got.tolist()) == sorted(events.tolist())


def test_columns_round_trip():
    events = random_events(np.random.default_rng(10), 50, 1000)
    cols = to_columns(events)
    assert set(cols) == {"x", "y", "t", "p"}
    np.testing.assert_array_equal(from_columns(cols), events)
    with pytest.raises(ValueError, match="'x', 'y', 't', 'p'"):
        from_columns({"x": [1]})


# --- .raw files -------------------------------------------------------------------------------
@pytest.mark.parametrize("decoder", DECODERS)
def test_raw_file_write_then_read_in_small_chunks(tmp_path, decoder):
    rng = np.random.default_rng(11)
    chunks = [sort_events(random_events(rng, 700, 5_000_000)) for _ in range(3)]
    for i, c in enumerate(chunks):  # chunks in time order, 20 s apart (crosses a wrap)
        c["t"] += i * 20_000_000
    chunks.append(row_bursts(rng, 50))
    chunks[-1]["t"] += 70_000_000
    path = tmp_path / "rec.raw"
    with RawWriter(path, WIDTH, HEIGHT) as writer:
        for c in chunks:
            writer.write(c)
    reader = RawReader(path, chunk_bytes=1001, decoder=decoder)  # odd: words split
    assert (reader.width, reader.height) == (WIDTH, HEIGHT)
    assert reader.header["evt"] == "3.0"
    got = reader.read_all()
    assert reader.stats.skipped == 0
    np.testing.assert_array_equal(got, np.concatenate([sort_events(c) for c in chunks]))


@pytest.mark.parametrize("decoder", DECODERS)
def test_garbage_inside_a_raw_file_is_skipped_not_read_as_time(tmp_path, decoder):
    """1000 random bytes inserted into an outsider's 8 s recording were read as TIME_HIGH
    words and wraps: camera time ran to 75 s and the replay sent a 67 s silence that the
    node acted on. The blocks around an undefined word are skipped (RAW_CORRUPT_BLOCK_BYTES):
    over 10 placements camera time stays the recording's, and only events near the
    garbage are lost."""
    from neuroq.deploy.events.files import RAW_CORRUPT_BLOCK_BYTES

    rng = np.random.default_rng(3)
    events = sort_events(random_events(rng, 60_000, 8_000_000))
    clean = tmp_path / "clean.raw"
    with RawWriter(clean, WIDTH, HEIGHT) as writer:
        writer.write(events)
    data = clean.read_bytes()
    start = data.index(b"% end\n") + len(b"% end\n")
    for k in range(10):
        at = start + 2 * int(rng.integers((len(data) - start) // 4, (len(data) - start) // 2))
        path = tmp_path / f"damaged{k}.raw"
        path.write_bytes(data[:at] + rng.bytes(1000) + data[at:])
        reader = RawReader(path, decoder=decoder)
        got = reader.read_all()
        assert reader.time_us <= int(events["t"][-1]) + 5000, (k, reader.time_us)
        assert reader.stats.corrupt_packets >= 1 and reader.stats.corrupt_words > 0, k
        lost = events.size - got.size  # a few blocks' worth at ~4 bytes an event at most
        assert 0 < lost < 4 * RAW_CORRUPT_BLOCK_BYTES, (k, lost)
    assert RawReader(clean, decoder=decoder).read_all().size == events.size


@pytest.mark.parametrize("decoder", DECODERS)
def test_raw_reader_errors_say_what_to_do(tmp_path, decoder):
    with pytest.raises(NeuroqError, match="not found"):
        RawReader(tmp_path / "missing.raw")
    evt2 = tmp_path / "evt2.raw"
    evt2.write_bytes(b"% evt 2.0\n% format EVT2;height=10;width=10\n% end\n\x00\x00\x00\x00")
    with pytest.raises(NeuroqError, match="only EVT 3.0"):
        RawReader(evt2)
    no_size = tmp_path / "nosize.raw"
    no_size.write_bytes(b"% evt 3.0\n% end\n")
    with pytest.raises(NeuroqError, match="--width W --height H"):
        RawReader(no_size)
    assert RawReader(no_size, width=4, height=4, decoder=decoder).read_all().size == 0
    with pytest.raises(NeuroqError, match="must be one of"):
        RawReader(no_size, width=4, height=4, decoder="rust")
    # two sizes in one header (an outsider's format line 32x32 and geometry 640x480 were
    # read as 32x32 without a word): the user says which
    two = tmp_path / "two.raw"
    with RawWriter(two, 32, 32) as writer:
        writer.write(make_events([1, 31], [2, 3], [10, 20], [1, 0]))
    two.write_bytes(two.read_bytes().replace(b"% end\n", b"% geometry 640x480\n% end\n", 1))
    with pytest.raises(NeuroqError, match="format line gives a 32x32 sensor, its geometry "
                                          "line 640x480: give the sensor size"):
        RawReader(two)
    chosen = RawReader(two, width=640, height=480, decoder=decoder)
    assert chosen.read_all().size == 2 and (chosen.width, chosen.height) == (640, 480)


# --- the EventPacket message, built from its interface definition ------------------------------
ROUND_TRIP_SCRIPT = """
import numpy as np
from rclpy.serialization import deserialize_message, serialize_message
from event_camera_msgs.msg import EventPacket
from neuroq.deploy.events import PacketDecoder, encode_evt3, make_events, sort_events

rng = np.random.default_rng(0)
events = sort_events(make_events(rng.integers(0, 64, 500), rng.integers(0, 48, 500),
                                 rng.integers(0, 100_000, 500), rng.integers(0, 2, 500)))
msg = EventPacket(width=64, height=48, seq=7, time_base=0, encoding="evt3",
                  is_bigendian=False)
msg.events = encode_evt3(events).tobytes()
back = deserialize_message(serialize_message(msg), EventPacket)
decoded, stats = PacketDecoder(back.width, back.height).decode(back.encoding, back.events,
                                                               back.time_base)
assert back.seq == 7 and stats.skipped == 0, stats
assert np.array_equal(decoded, events)
print("ok", decoded.size)
"""


@pytest.mark.slow
@pytest.mark.ros
def test_event_packet_message_builds_and_carries_evt3(tmp_path):
    """Builds event_camera_msgs into this venv (fast when already built) and sends an EVT 3.0
    packet through the message's real serialization and back through the decoder."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("rclpy")
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("cmake and a C++ compiler are needed to build the message package")
    root = Path(__file__).resolve().parents[1]
    build = subprocess.run(
        ["bash", str(root / "ros_nodes/interfaces/build_event_msgs.sh"), sys.prefix],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    run = subprocess.run([sys.executable, "-c", ROUND_TRIP_SCRIPT], capture_output=True,
                         text=True, timeout=120, cwd=root, env=dict(os.environ))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "ok 500"


# --- AEDAT 4 ------------------------------------------------------------------------------------
def test_aedat4_writer_layout(tmp_path):
    from neuroq.deploy.events import AEDAT4_MAGIC, Aedat4Writer

    events = row_bursts(np.random.default_rng(13), 10)
    path = tmp_path / "rec.aedat4"
    with Aedat4Writer(path, WIDTH, HEIGHT) as writer:
        writer.write(events)
    data = path.read_bytes()
    assert data.startswith(AEDAT4_MAGIC)
    header_len = int.from_bytes(data[14:18], "little")
    header = data[18:18 + header_len]
    assert header[4:8] == b"IOHE" and b'<attr key="sizeX" type="int">320</attr>' in header
    packet = data[18 + header_len:]
    stream_id, size = int.from_bytes(packet[:4], "little"), int.from_bytes(packet[4:8], "little")
    assert stream_id == 0 and size == len(packet) - 8
    assert packet[16:20] == b"EVTS"  # after the size prefix and root offset
    assert int.from_bytes(packet[8 + 4 + 28:8 + 4 + 32], "little") == events.size


def test_aedat4_round_trip_through_the_aedat_package(tmp_path):
    pytest.importorskip("aedat")
    from neuroq.deploy.events import Aedat4Writer, read_aedat4

    rng = np.random.default_rng(14)
    chunks = [sort_events(random_events(rng, 300, 1_000_000)) for _ in range(3)]
    for i, c in enumerate(chunks):
        c["t"] += i * 1_000_000
    path = tmp_path / "rec.aedat4"
    with Aedat4Writer(path, WIDTH, HEIGHT) as writer:
        for c in chunks:
            writer.write(c)
    packets = list(read_aedat4(path))
    assert [(w, h) for _, w, h in packets] == [(WIDTH, HEIGHT)] * 3
    np.testing.assert_array_equal(np.concatenate([e for e, _, _ in packets]),
                                  np.concatenate(chunks))
    with pytest.raises(NeuroqError, match="not a readable AEDAT 4"):
        bad = tmp_path / "bad.aedat4"
        bad.write_bytes(b"not an aedat file")
        list(read_aedat4(bad))
    cut = tmp_path / "cut.aedat4"  # cut inside its last packet: a RuntimeError traceback
    cut.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(NeuroqError, match="damaged or truncated packet"):
        list(read_aedat4(cut))


# --- replay -----------------------------------------------------------------------------------
def test_packetize_cuts_a_chunked_stream_into_1ms_packets():
    from neuroq.deploy.events import packetize

    rng = np.random.default_rng(15)
    events = sort_events(random_events(rng, 5000, 50_000))
    chunks = np.array_split(events, 7)  # chunk borders fall inside packets
    packets = list(packetize(iter(chunks), packet_us=1000))
    np.testing.assert_array_equal(np.concatenate(packets), events)
    spans = [set((p["t"] // 1000).tolist()) for p in packets]
    assert all(len(s) == 1 for s in spans)  # one millisecond per packet
    assert len({next(iter(s)) for s in spans}) == len(packets)  # no millisecond split
    with pytest.raises(NeuroqError):
        list(packetize(chunks, packet_us=0))


def test_paced_replay_waits_for_recorded_time():
    from neuroq.deploy.events import paced

    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    times = (5_000, 5_000 + 250_000, 5_000 + 1_000_000)
    packets = [make_events([0], [0], [t], [1]) for t in times]
    out = list(paced(packets, speed=2.0, clock=lambda: now[0], sleep=sleep))
    assert len(out) == 3
    np.testing.assert_allclose(slept, [0.125, 0.375])  # 1 s of recording in 0.5 s
    slept.clear()
    list(paced(packets, speed=float("inf"), clock=lambda: now[0], sleep=sleep))
    assert slept == []


def test_a_header_without_end_before_data_starting_with_percent_is_named(tmp_path):
    """An outsider's valid file whose header had no '% end' and whose data began with a
    TIME_HIGH word 0x8025 (bytes 25 80: '%'): the data's first word was read as a header
    line and the file refused as 'not EVT 3.0 data', naming only the data. The refusal now
    names the likely cause; with '% end' the same data reads."""
    words = [0x8025, 0x6000, 0x0005] + [0x2000 | (i % 32) for i in range(2000)]
    data = np.array(words, "<u2").tobytes()
    path = tmp_path / "no_end.raw"
    path.write_bytes(b"% evt 3.0\n% geometry 32x32\n" + data)
    with pytest.raises(NeuroqError, match="the header has no '% end' line and its data "
                                          "starts with the byte '%'"):
        RawReader(path)
    path.write_bytes(b"% evt 3.0\n% geometry 32x32\n% end\n" + data)
    assert RawReader(path).read_all().size == 2000
    path.write_bytes(b"% evt 3.0\n% geometry 32x32\n" + b"\x00\xa0" * 2000)  # not EVT 3.0
    with pytest.raises(NeuroqError, match=r"another format\)$"):
        RawReader(path)
