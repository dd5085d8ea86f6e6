"""Peer test against an independent EVT 3.0 reader, the `evt3` package (PyPI, Rust).

Our encoder and RawWriter output, decoded by `evt3` alone, equals the events written (time
wraps and long silences included); and on streams `evt3` decodes to the events written, our
decoders (numpy, and `evt3` with our validation) return exactly what `evt3` returns.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from neuroq.deploy.events import (
    EVT3_TIME_HIGH,
    EVT3_TIME_WRAP_US,
    RawReader,
    RawWriter,
    encode_evt3,
    encode_packet,
    make_events,
    sort_events,
)
from neuroq.deploy.events.evt3_words import EVT3_LOOP_DROP, EVT3_MAX_HIGH_STEP
from neuroq.envs.dvs import DvsParams, dvs_reset, dvs_step
from tests.helpers.decoders import DECODERS, EVT3_WHEEL_HERE, decode_chunks

if not EVT3_WHEEL_HERE:
    pytest.skip("the evt3 package has no wheel for this platform", allow_module_level=True)
evt3 = pytest.importorskip("evt3")  # setup.py requires it here: a missing one fails below
assert evt3.__version__ == "0.4.1"

W, H = 640, 480


def _theirs(e) -> np.ndarray:
    """evt3's Events as our event array."""
    return make_events(e.x, e.y, e.t.astype(np.int64), e.p)


def _sparse(rng, n, t_max):
    return sort_events(make_events(rng.integers(0, W, n), rng.integers(0, H, n),
                                   rng.integers(0, t_max, n), rng.integers(0, 2, n)))


def _bursts(rng, n_runs, t_max):
    run = rng.integers(4, 25, n_runs)
    k = np.arange(run.sum()) - np.repeat(np.cumsum(run) - run, run)
    r = np.repeat(np.arange(n_runs), run)
    return sort_events(make_events(rng.integers(0, W - 30, n_runs)[r] + k,
                                   rng.integers(0, H, n_runs)[r],
                                   np.sort(rng.integers(0, t_max, n_runs))[r],
                                   rng.integers(0, 2, n_runs)[r]))


def _dvs(n_frames=4):
    params = DvsParams(W, H, refractory_us=0)
    xs, ys = np.arange(W)[None, :], np.arange(H)[:, None]
    state = dvs_reset(0.5 + 0.45 * np.sin(xs / 6.0 + 0 * ys), 0, params)
    parts = []
    for i in range(1, n_frames + 1):
        ev, state = dvs_step(state, 0.5 + 0.45 * np.sin((xs + 0.5 * ys + 2.0 * i) / 6.0),
                             i * 1000, params)
        parts.append(ev)
    return sort_events(np.concatenate(parts))


def test_raw_writer_output_decoded_by_evt3_equals_the_events_written(tmp_path):
    rng = np.random.default_rng(0)
    chunks = [_sparse(rng, 20_000, 3 * EVT3_TIME_WRAP_US),  # two wraps
              _bursts(rng, 2000, 1_000_000)]
    chunks[1]["t"] += 3 * EVT3_TIME_WRAP_US
    # silences of 100 s, 9 s and 30 s (longer than a wrap, than half of one, ...), each
    # bridged with TIME_HIGH words
    for gap in (100_000_000, 9_000_000, 30_000_000):
        start = int(chunks[-1]["t"][-1]) + gap
        nxt = _sparse(rng, 300, 50_000)
        nxt["t"] += start
        chunks.append(nxt)
    path = tmp_path / "peer.raw"
    with RawWriter(path, W, H) as writer:
        for c in chunks:
            writer.write(c)
    written = np.concatenate(chunks)
    assert int(written["t"][-1]) > 10 * EVT3_TIME_WRAP_US
    np.testing.assert_array_equal(_theirs(evt3.decode_file(str(path))), written)
    dec = evt3.Decoder(sensor_width=W, sensor_height=H)  # streaming, odd-sized chunks
    reader = RawReader(path)
    with open(path, "rb") as f:
        f.seek(reader.data_offset)
        data = f.read()
    parts = [dec.feed(data[i:i + 1001]) for i in range(0, len(data), 1001)]
    np.testing.assert_array_equal(np.concatenate([_theirs(p) for p in parts]), written)


def test_encoder_bridges_silences_within_the_wrap_rule_of_evt3():
    events = make_events([1, 2], [0, 0], [10, 100_000_010], [1, 0])
    words = encode_evt3(events)
    high = (words[(words >> 12) == EVT3_TIME_HIGH] & 0xFFF).astype(np.int64)
    steps = np.diff(high) % 4096
    assert steps.max() <= EVT3_MAX_HIGH_STEP
    assert 4096 - EVT3_MAX_HIGH_STEP >= EVT3_LOOP_DROP  # a wrap drops by >= 4085
    np.testing.assert_array_equal(_theirs(evt3.decode_bytes(words.tobytes(), W, H)), events)


@functools.cache
def _verified_streams() -> list:
    return list(_make_verified_streams())


def _make_verified_streams():
    rng = np.random.default_rng(1)
    sparse = _sparse(rng, 30_000, 3 * EVT3_TIME_WRAP_US)
    bursts = _bursts(rng, 5000, 40_000_000)
    yield "sparse, two wraps", sparse, [encode_evt3(sparse).tobytes()]
    yield "row bursts", bursts, [encode_evt3(bursts).tobytes()]
    dvs = _dvs()
    yield "DVS emulator", dvs, [encode_evt3(dvs).tobytes()]
    packets = [encode_packet("evt3", p)[0] for p in np.array_split(sparse, 300)]
    yield "self-contained packets", sparse, packets


@pytest.mark.parametrize("decoder", DECODERS)
def test_our_decode_of_evt3_verified_streams_equals_theirs(decoder):
    for name, events, chunks in _verified_streams():
        dec = evt3.Decoder(sensor_width=W, sensor_height=H)
        theirs = np.concatenate([_theirs(dec.feed(c)) for c in chunks])
        np.testing.assert_array_equal(theirs, events, err_msg=f"evt3 on {name}")
        ours, stats, _ = decode_chunks(decoder, chunks, W, H)
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
        assert stats.skipped == 0, name
