"""Event-camera event formats: the in-memory event array, EVT 3.0, `mono`, and .raw files.

Events are a numpy structured array of `EVENT_DTYPE` (x, y in pixels, t in microseconds,
p = 1 for ON (brighter) and 0 for OFF (darker)). This module converts them to and from

- **EVT 3.0** (`evt3`), the Prophesee 16-bit word format that Metavision sensors (IMX636,
  GenX320) stream and that `metavision_driver` puts in `event_camera_msgs/EventPacket` as is.
  Each little-endian 16-bit word carries its type in the 4 most significant bits and a 12-bit
  payload; coordinates, polarity and time are sent only when they change, so decoding keeps
  state (current y, time, vector base x). Time is 24 bits of microseconds and wraps every
  2^24 us (16.8 s): the decoder counts the wraps from the start of the stream.
  Source: Prophesee Metavision documentation, "EVT 3.0 Format"
  (docs.prophesee.ai/stable/data/encoding_formats/evt3.html).
- **mono** (deprecated upstream but still read): 64-bit words, bit 63 polarity, bits 48-62 y,
  bits 32-47 x, bits 0-31 time offset in nanoseconds added to the packet's `time_base` (ns).
  Source: event_camera_msgs README (ros-event-camera).
- **Prophesee .raw files**: ASCII header lines starting with `%` (`% format EVT3;height=H;
  width=W`, `% geometry WxH`, ..., `% end`) followed by EVT 3.0 words; read and written in
  chunks for recorded-event replay.
- **AEDAT 4 files** (iniVation DV): written here in numpy (uncompressed, one event stream);
  read through the optional `aedat` package.

Decoding never raises on bad data: truncated words, reserved word types, events before the
state they need, events outside the sensor and time going backwards are counted in
`DecodeStats` and skipped, so one bad packet from a driver cannot stop a robot. Encoding,
which only our own code calls, raises `NeuroqError` on bad arguments.

Everything is vectorised numpy: no Python loop runs per event or per word.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Self

import numpy as np

from deploy.errors import NeuroqError

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
"""One event: x, y (pixels, origin top left), t (microseconds), p (1 = ON, 0 = OFF)."""

# --- EVT 3.0 word types (4 MSBs of each 16-bit word). Source: Prophesee "EVT 3.0 Format". ---
EVT3_ADDR_Y = 0x0
"""Sets the current row y (bits 0-10); bit 11 is the system type (master/slave), ignored."""
EVT3_ADDR_X = 0x2
"""One event at the current y and time: x in bits 0-10, polarity in bit 11."""
EVT3_VECT_BASE_X = 0x3
"""Sets the base x (bits 0-10) and polarity (bit 11) for the following vector words."""
EVT3_VECT_12 = 0x4
"""12-bit validity mask: bit i is an event at base x + i; then base x advances by 12."""
EVT3_VECT_8 = 0x5
"""8-bit validity mask (bits 0-7) at base x; then base x advances by 8."""
EVT3_TIME_LOW = 0x6
"""Lower 12 bits of the 24-bit time base, microseconds."""
EVT3_CONTINUED_4 = 0x7
"""Extra 4-bit data for the previous word (vendor specific): ignored."""
EVT3_TIME_HIGH = 0x8
"""Upper 12 bits of the 24-bit time base, units of 4096 us."""
EVT3_EXT_TRIGGER = 0xA
"""External trigger edge: counted in `DecodeStats.triggers`, not returned as an event."""
EVT3_OTHERS = 0xE
"""Extension words (vendor specific): ignored."""
EVT3_CONTINUED_12 = 0xF
"""Extra 12-bit data for the previous word (vendor specific): ignored."""
EVT3_KNOWN_TYPES = frozenset(
    {
        EVT3_ADDR_Y,
        EVT3_ADDR_X,
        EVT3_VECT_BASE_X,
        EVT3_VECT_12,
        EVT3_VECT_8,
        EVT3_TIME_LOW,
        EVT3_CONTINUED_4,
        EVT3_TIME_HIGH,
        EVT3_EXT_TRIGGER,
        EVT3_OTHERS,
        EVT3_CONTINUED_12,
    }
)
"""Word types the format defines; any other type (0x1, 0x9, 0xB, 0xC, 0xD) is corrupt data."""

EVT3_COORD_BITS = 11
"""Bits of x and y in EVT 3.0 words: sensors up to 2048 x 2048 pixels."""
EVT3_MAX_COORD = (1 << EVT3_COORD_BITS) - 1
EVT3_TIME_LOW_BITS = 12
"""Bits of TIME_LOW (and of TIME_HIGH): the time base is 24 bits of microseconds."""
EVT3_TIME_HIGH_PERIOD = 1 << EVT3_TIME_LOW_BITS
"""Number of TIME_HIGH values before the 24-bit time base wraps (4096)."""
EVT3_TIME_WRAP_US = 1 << (2 * EVT3_TIME_LOW_BITS)
"""The 24-bit time base wraps every 2^24 us = 16.78 s."""
EVT3_MAX_HIGH_STEP = EVT3_TIME_HIGH_PERIOD // 2 - 1
"""Largest forward step between two TIME_HIGH words that is unambiguous (2047 x 4096 us,
about 8.4 s). A drop of the 12-bit TIME_HIGH value by more than half its range is read as a
wrap; a smaller drop is time going backwards. The encoder inserts intermediate TIME_HIGH
words across longer gaps, as a sensor does by sending TIME_HIGH every 4096 us."""
EVT3_VECT_12_WIDTH = 12
EVT3_VECT_8_WIDTH = 8

# --- mono (event_camera_msgs) layout. Source: event_camera_msgs README. ---
MONO_POLARITY_SHIFT = 63
MONO_Y_SHIFT = 48
MONO_Y_MASK = (1 << 15) - 1
MONO_X_SHIFT = 32
MONO_X_MASK = (1 << 16) - 1
MONO_DT_MASK = (1 << 32) - 1
"""mono time offset: 32 bits of nanoseconds after `time_base` (about 4.29 s at most)."""
NS_PER_US = 1000
US_PER_S = 1_000_000

ENCODINGS = ("evt3", "mono")
"""Encodings `decode_packet` reads (the `encoding` field of EventPacket)."""

RAW_HEADER_END = "% end"
"""Last header line of a Prophesee .raw file written by recent Metavision versions."""
RAW_CHUNK_BYTES = 1 << 22
"""Default read size of `RawReader`: 4 MiB = 2 M EVT 3.0 words per chunk."""


# ------------------------------------------------------------------------------------------
# Decode statistics
# ------------------------------------------------------------------------------------------
@dataclass
class DecodeStats:
    """What a decode saw and what it skipped, as named counters (all cumulative).

    packets: packets (or chunks) decoded.
    words: whole words read (16-bit for evt3, 64-bit for mono).
    events: events returned.
    triggers: EVT 3.0 external-trigger words (not errors; not returned as events).
    truncated_bytes: bytes left over that do not make a whole word (skipped).
    corrupt_words: EVT 3.0 words of an undefined type (skipped).
    missing_state: events whose word came before the state it needs (no TIME_HIGH, ADDR_Y or
        VECT_BASE_X seen yet in this stream), skipped.
    out_of_sensor: events with x >= width or y >= height, skipped.
    time_backwards: events earlier than an event already returned in this stream, skipped.
    unknown_encoding: packets whose encoding string is not one of `ENCODINGS`, skipped whole.
    bad_payload: packets whose data is not bytes-like, or whose sensor size is invalid,
        skipped whole.
    """

    packets: int = 0
    words: int = 0
    events: int = 0
    triggers: int = 0
    truncated_bytes: int = 0
    corrupt_words: int = 0
    missing_state: int = 0
    out_of_sensor: int = 0
    time_backwards: int = 0
    unknown_encoding: int = 0
    bad_payload: int = 0

    PROBLEMS = (
        "truncated_bytes",
        "corrupt_words",
        "missing_state",
        "out_of_sensor",
        "time_backwards",
        "unknown_encoding",
        "bad_payload",
    )

    @property
    def skipped(self) -> int:
        """Total of the problem counters (bytes, words, events and packets alike)."""
        return sum(getattr(self, name) for name in self.PROBLEMS)

    def add(self, other: DecodeStats) -> DecodeStats:
        """Add another `DecodeStats` into this one (in place) and return self."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def diagnostic(self) -> str:
        """One line naming the non-zero problem counters, or '' when there are none."""
        parts = [f"{name}={getattr(self, name)}" for name in self.PROBLEMS if getattr(self, name)]
        return ("skipped: " + ", ".join(parts)) if parts else ""


# ------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------
def empty_events() -> np.ndarray:
    """An empty event array."""
    return np.zeros(0, dtype=EVENT_DTYPE)


def make_events(x, y, t, p) -> np.ndarray:
    """Build an event array from four equal-length sequences."""
    x, y, t, p = (np.asarray(a) for a in (x, y, t, p))
    if not (x.shape == y.shape == t.shape == p.shape) or x.ndim != 1:
        raise NeuroqError(
            f"make_events: x, y, t, p must be 1-D and of one length, got shapes "
            f"{x.shape}, {y.shape}, {t.shape}, {p.shape}"
        )
    out = np.empty(x.size, dtype=EVENT_DTYPE)
    out["x"], out["y"], out["t"], out["p"] = x, y, t, p
    return out


def to_columns(events: np.ndarray) -> dict[str, np.ndarray]:
    """Events as a dict of column arrays {"x", "y", "t", "p"} (copies).

    Indexing by field name works the same on both forms (`ev["t"]`). Gymnasium envs put
    this form in `info`, because gymnasium's `check_env` cannot compare structured arrays.
    """
    events = _check_events(events, "to_columns")
    return {name: np.ascontiguousarray(events[name]) for name in EVENT_DTYPE.names}


def from_columns(columns) -> np.ndarray:
    """The inverse of `to_columns`; also accepts an event array (returned as is)."""
    if isinstance(columns, np.ndarray) and columns.dtype == EVENT_DTYPE:
        return columns
    try:
        return make_events(*(columns[name] for name in EVENT_DTYPE.names))
    except (KeyError, TypeError, IndexError) as exc:
        raise NeuroqError(
            "from_columns: expected a mapping with arrays 'x', 'y', 't', 'p' (as in "
            f"info['events']) or an EVENT_DTYPE array, got {type(columns).__name__}"
        ) from exc


def _check_events(events: np.ndarray, who: str) -> np.ndarray:
    events = np.asarray(events)
    if events.dtype != EVENT_DTYPE:
        raise NeuroqError(
            f"{who}: events must be a structured array of deploy.events.EVENT_DTYPE "
            f"(x, y, t, p), got dtype {events.dtype}; build one with make_events()"
        )
    if events.ndim != 1:
        raise NeuroqError(f"{who}: events must be 1-D, got shape {events.shape}")
    return events


def _as_bytes_array(data) -> np.ndarray:
    """bytes / bytearray / memoryview / array.array / uint8 ndarray -> uint8 ndarray (no copy
    where possible)."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:  # a list of ints, as some message bindings give
        return np.asarray(data, dtype=np.uint8).reshape(-1)


# ------------------------------------------------------------------------------------------
# EVT 3.0 encoder
# ------------------------------------------------------------------------------------------
def _evt3_word(kind: int, payload) -> np.ndarray:
    return ((kind << 12) | (np.asarray(payload, dtype=np.int64) & 0xFFF)).astype(np.uint16)


def encode_evt3(
    events: np.ndarray, *, previous_t_us: int | None = None, start_with_time: bool = True
) -> np.ndarray:
    """Encode events as EVT 3.0 words (uint16 array; `.tobytes()` gives little-endian bytes
    on little-endian hosts, which is the sensors' default).

    Events are written in (t, y, p, x) order (`sort_events`), which is also the order
    `decode_evt3` returns them in. Runs of events on one row, with one timestamp and polarity
    and x gaps of at most 12 pixels, become VECT_BASE_X + VECT_12/VECT_8 words; lone events
    become EVT_ADDR_X words.

    previous_t_us: time of the last event already encoded in this stream (streaming, as in
        `RawWriter`): TIME_HIGH words then bridge the gap unambiguously. None starts a stream.
    start_with_time: emit TIME_HIGH and TIME_LOW before the first event even when they equal
        the previous state, so the chunk decodes on its own.

    Raises NeuroqError for out-of-range coordinates (> 2047), negative times, or events earlier
    than `previous_t_us`.
    """
    events = sort_events(_check_events(events, "encode_evt3"))
    n = events.size
    if n == 0:
        return np.zeros(0, dtype=np.uint16)
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    t = events["t"]
    p = events["p"].astype(np.int64)
    if x.max() > EVT3_MAX_COORD or y.max() > EVT3_MAX_COORD:
        raise NeuroqError(
            f"encode_evt3: x and y must be <= {EVT3_MAX_COORD} (EVT 3.0 has 11-bit "
            f"coordinates), got max x {x.max()}, max y {y.max()}"
        )
    if t[0] < 0:
        raise NeuroqError(f"encode_evt3: event times must be >= 0 us, got {t[0]}")
    if p.max() > 1:
        raise NeuroqError(f"encode_evt3: polarity must be 0 or 1, got {p.max()}")
    if previous_t_us is not None and t[0] < previous_t_us:
        raise NeuroqError(
            f"encode_evt3: events start at {t[0]} us, before the previous chunk's last event "
            f"at {previous_t_us} us; write events in time order"
        )

    # Segments: maximal runs with one (t, y, p) and x steps of 1..12 (no empty 12-windows).
    same_block = np.zeros(n, dtype=bool)
    same_block[1:] = (t[1:] == t[:-1]) & (y[1:] == y[:-1]) & (p[1:] == p[:-1])
    dx = np.zeros(n, dtype=np.int64)
    dx[1:] = x[1:] - x[:-1]
    seg_start = ~(same_block & (dx >= 1) & (dx <= EVT3_VECT_12_WIDTH))
    seg_first = np.flatnonzero(seg_start)
    seg_id = np.cumsum(seg_start) - 1
    n_seg = seg_first.size
    seg_len = np.diff(np.append(seg_first, n))
    seg_x0 = x[seg_first]
    seg_t = t[seg_first]
    seg_y = y[seg_first]
    seg_p = p[seg_first]
    seg_last_x = x[np.append(seg_first[1:], n) - 1]
    is_vector = seg_len > 1
    span = seg_last_x - seg_x0
    n_windows = np.where(is_vector, span // EVT3_VECT_12_WIDTH + 1, 0)
    last_fits_8 = (span % EVT3_VECT_12_WIDTH) < EVT3_VECT_8_WIDTH

    # Time words: TIME_HIGH when the unwrapped high changes (with bridging words across
    # gaps longer than EVT3_MAX_HIGH_STEP), TIME_LOW when t changes.
    high = seg_t >> EVT3_TIME_LOW_BITS
    prev_high = np.empty(n_seg, dtype=np.int64)
    prev_high[1:] = high[:-1]
    prev_t = np.empty(n_seg, dtype=np.int64)
    prev_t[1:] = seg_t[:-1]
    if previous_t_us is None:
        prev_high[0] = -1
        prev_t[0] = -1
    else:
        prev_high[0] = int(previous_t_us) >> EVT3_TIME_LOW_BITS
        prev_t[0] = int(previous_t_us)
    high_step = high - prev_high
    n_high = np.where(high_step > 0, -(-high_step // EVT3_MAX_HIGH_STEP), 0)
    if previous_t_us is None:
        n_high[0] = 1
    n_low = (seg_t != prev_t).astype(np.int64)
    if start_with_time:
        n_high[0] = max(int(n_high[0]), 1)
        n_low[0] = 1
    prev_y = np.empty(n_seg, dtype=np.int64)
    prev_y[1:] = seg_y[:-1]
    prev_y[0] = -1
    n_y = (seg_y != prev_y).astype(np.int64)
    n_body = np.where(is_vector, 1 + n_windows, 1)

    n_words = n_high + n_low + n_y + n_body
    offset = np.zeros(n_seg + 1, dtype=np.int64)
    np.cumsum(n_words, out=offset[1:])
    words = np.zeros(int(offset[-1]), dtype=np.uint16)
    start = offset[:-1]

    # TIME_HIGH words: the k-th of a segment's bridging words carries prev + k*step, the last
    # one the segment's own high.
    seg_of_high = np.repeat(np.arange(n_seg), n_high)
    k = np.arange(seg_of_high.size) - np.repeat(np.cumsum(n_high) - n_high, n_high)
    is_last_high = k == n_high[seg_of_high] - 1
    bridged = prev_high[seg_of_high] + (k + 1) * EVT3_MAX_HIGH_STEP
    high_val = np.where(is_last_high, high[seg_of_high], bridged)
    words[start[seg_of_high] + k] = _evt3_word(EVT3_TIME_HIGH, high_val)
    pos = start + n_high
    has_low = n_low > 0
    words[pos[has_low]] = _evt3_word(EVT3_TIME_LOW, seg_t[has_low])
    pos = pos + n_low
    has_y = n_y > 0
    words[pos[has_y]] = _evt3_word(EVT3_ADDR_Y, seg_y[has_y])
    pos = pos + n_y

    single = ~is_vector
    words[pos[single]] = _evt3_word(EVT3_ADDR_X, seg_x0[single] | (seg_p[single] << 11))
    words[pos[is_vector]] = _evt3_word(
        EVT3_VECT_BASE_X, seg_x0[is_vector] | (seg_p[is_vector] << 11)
    )

    # Vector windows: mask bits per (segment, window); events are in window order already.
    vec_event = is_vector[seg_id]
    ev_seg = seg_id[vec_event]
    rel = x[vec_event] - seg_x0[ev_seg]
    win = rel // EVT3_VECT_12_WIDTH
    bits = np.left_shift(1, rel - win * EVT3_VECT_12_WIDTH)
    win_pos = pos[ev_seg] + 1 + win  # word index of the event's window
    first_of_word = np.ones(win_pos.size, dtype=bool)
    first_of_word[1:] = win_pos[1:] != win_pos[:-1]
    word_starts = np.flatnonzero(first_of_word)
    masks = np.add.reduceat(bits, word_starts) if bits.size else bits
    wpos = win_pos[word_starts]
    wseg = ev_seg[word_starts]
    wwin = win[word_starts]
    use8 = (wwin == n_windows[wseg] - 1) & last_fits_8[wseg]
    kinds = np.where(use8, EVT3_VECT_8, EVT3_VECT_12)
    words[wpos] = ((kinds << 12) | masks).astype(np.uint16)
    return words


# ------------------------------------------------------------------------------------------
# EVT 3.0 decoder (stateful, streaming)
# ------------------------------------------------------------------------------------------
@dataclass
class Evt3State:
    """Decoder state carried from one chunk of an EVT 3.0 stream to the next.

    y, base_x, base_p, low: last values seen (-1: not seen yet).
    high: last unwrapped TIME_HIGH (-1: not seen yet), counting wraps of the 12-bit value.
    last_t_us: time of the last event returned (-1: none yet), for time-backwards checks.
    leftover: a trailing odd byte kept for the next chunk (streaming only).
    """

    y: int = -1
    base_x: int = -1
    base_p: int = 0
    low: int = -1
    high: int = -1
    last_t_us: int = -1
    leftover: bytes = b""


# Word classes used by the decoder (a lookup on the 4-bit type).
_C_IGNORE, _C_Y, _C_LOW, _C_HIGH, _C_BASE, _C_X, _C_V12, _C_V8, _C_CORRUPT, _C_TRIGGER = range(10)
_CLASS_OF_TYPE = np.full(16, _C_CORRUPT, dtype=np.uint8)
_CLASS_OF_TYPE[[EVT3_CONTINUED_4, EVT3_OTHERS, EVT3_CONTINUED_12]] = _C_IGNORE
_CLASS_OF_TYPE[EVT3_ADDR_Y] = _C_Y
_CLASS_OF_TYPE[EVT3_TIME_LOW] = _C_LOW
_CLASS_OF_TYPE[EVT3_TIME_HIGH] = _C_HIGH
_CLASS_OF_TYPE[EVT3_VECT_BASE_X] = _C_BASE
_CLASS_OF_TYPE[EVT3_ADDR_X] = _C_X
_CLASS_OF_TYPE[EVT3_VECT_12] = _C_V12
_CLASS_OF_TYPE[EVT3_VECT_8] = _C_V8
_CLASS_OF_TYPE[EVT3_EXT_TRIGGER] = _C_TRIGGER
_MASKS = np.arange(1 << EVT3_VECT_12_WIDTH)
_POPCOUNT = ((_MASKS[:, None] >> np.arange(EVT3_VECT_12_WIDTH)) & 1).sum(axis=1).astype(np.int64)
"""Set bits of each 12-bit validity mask."""
_HIGHEST_BIT = np.where(_MASKS > 0, np.floor(np.log2(np.maximum(_MASKS, 1))), 0).astype(np.int64)
_BIT_POSITIONS = np.zeros((1 << EVT3_VECT_12_WIDTH, EVT3_VECT_12_WIDTH), dtype=np.uint16)
for _mask in range(1, 1 << EVT3_VECT_12_WIDTH):
    _set = np.flatnonzero((_mask >> np.arange(EVT3_VECT_12_WIDTH)) & 1)
    _BIT_POSITIONS[_mask, : _set.size] = _set
del _mask, _set
_BIT_POSITIONS_FLAT = _BIT_POSITIONS.reshape(-1)
"""Row m: the positions of the set bits of mask m, ascending, padded with 0."""


def decode_evt3(
    data,
    width: int = 1 << EVT3_COORD_BITS,
    height: int = 1 << EVT3_COORD_BITS,
    *,
    state: Evt3State | None = None,
    stats: DecodeStats | None = None,
    streaming: bool = False,
) -> tuple[np.ndarray, DecodeStats]:
    """Decode EVT 3.0 bytes (little-endian 16-bit words) into events, vectorised.

    state: the stream's `Evt3State`, updated in place; None decodes the data on its own (the
        data must then set TIME_HIGH, TIME_LOW and ADDR_Y before its first event, as packets
        from `encode_evt3` do).
    streaming: keep a trailing odd byte in `state` for the next chunk instead of counting it
        as truncated.
    Returns (events, stats); problems are counted in `stats` (see `DecodeStats`), never raised.

    Method: the stream is split into state words (ADDR_Y, TIME_LOW, TIME_HIGH, VECT_BASE_X)
    and event words (ADDR_X, VECT_12, VECT_8). The state is forward-filled over the state
    words only; the i-th event word at position P_i has P_i - i state words before it, which
    indexes its state without a search. Validity masks are expanded with lookup tables.
    """
    stats = DecodeStats() if stats is None else stats
    state = Evt3State() if state is None else state
    stats.packets += 1
    raw = _as_bytes_array(data)
    if state.leftover:
        raw = np.concatenate([np.frombuffer(state.leftover, dtype=np.uint8), raw])
        state.leftover = b""
    if raw.size % 2:
        if streaming:
            state.leftover = raw[-1:].tobytes()
        else:
            stats.truncated_bytes += 1
        raw = raw[:-1]
    words = raw.view("<u2")
    stats.words += words.size
    if words.size == 0:
        return empty_events(), stats

    cls = _CLASS_OF_TYPE[words >> 12]
    per_class = np.bincount(cls, minlength=10)
    stats.corrupt_words += int(per_class[_C_CORRUPT])
    stats.triggers += int(per_class[_C_TRIGGER])
    if per_class[_C_IGNORE] + per_class[_C_CORRUPT] + per_class[_C_TRIGGER]:
        keep_word = (cls >= _C_Y) & (cls <= _C_V8)
        words, cls = words[keep_word], cls[keep_word]
    if words.size == 0:
        return empty_events(), stats
    payload = words & 0xFFF

    is_event = cls >= _C_X
    ev_pos = np.flatnonzero(is_event)
    st_pos = np.flatnonzero(~is_event)
    n_ev_words = ev_pos.size

    # --- state: for each state word, the index of the last state word of each kind at or
    # before it (-1: none, which picks the carried-over value appended at the end) ---
    s_cls = cls[st_pos]
    s_pay = payload[st_pos].astype(np.int64)
    n_st = s_pay.size
    arange_st = np.arange(n_st)

    def last_index(present: np.ndarray) -> np.ndarray:
        idx = np.empty(n_st + 1, dtype=np.int64)
        np.copyto(idx[:n_st], np.where(present, arange_st, -1))
        np.maximum.accumulate(idx[:n_st], out=idx[:n_st])
        idx[n_st] = -1  # event words before any state word
        return idx

    def with_initial(values: np.ndarray, initial: int) -> np.ndarray:
        out = np.empty(n_st + 1, dtype=np.int64)
        out[:n_st] = values
        out[n_st] = initial
        return out

    y_idx = last_index(s_cls == _C_Y)
    low_idx = last_index(s_cls == _C_LOW)
    is_high = s_cls == _C_HIGH
    high_idx = last_index(is_high)
    base_idx = last_index(s_cls == _C_BASE)
    y_val = with_initial(s_pay & EVT3_MAX_COORD, state.y)
    low_val = with_initial(s_pay, state.low)
    high_vals = s_pay[is_high]
    unwrapped = np.zeros(n_st, dtype=np.int64)
    if high_vals.size:
        prev = np.empty_like(high_vals)
        prev[1:] = high_vals[:-1]
        prev[0] = state.high % EVT3_TIME_HIGH_PERIOD if state.high >= 0 else high_vals[0]
        wraps = np.cumsum((prev - high_vals) > EVT3_TIME_HIGH_PERIOD // 2)
        base_wraps = state.high // EVT3_TIME_HIGH_PERIOD if state.high >= 0 else 0
        unwrapped[is_high] = high_vals + (wraps + base_wraps) * EVT3_TIME_HIGH_PERIOD
    high_val = with_initial(unwrapped, state.high)

    # Advance of the vector base: exclusive cumsum over event words (12 / 8 per vector word).
    e_cls = cls[ev_pos]
    advance = np.where(e_cls == _C_V12, EVT3_VECT_12_WIDTH,
                       np.where(e_cls == _C_V8, EVT3_VECT_8_WIDTH, 0))
    adv_before = np.zeros(n_ev_words + 1, dtype=np.int64)
    np.cumsum(advance, out=adv_before[1:])

    def finish_state() -> None:
        last = n_st - 1  # -1 when there are no state words: the carried values stay
        state.y = int(y_val[y_idx[last]])
        state.low = int(low_val[low_idx[last]])
        state.high = int(high_val[high_idx[last]])
        b = int(base_idx[last])
        if b >= 0:
            ev_before_base = int(st_pos[b]) - b
            state.base_x = int(s_pay[b] & EVT3_MAX_COORD) + int(
                adv_before[-1] - adv_before[ev_before_base])
            state.base_p = int((s_pay[b] >> 11) & 1)
        elif state.base_x >= 0:
            state.base_x += int(adv_before[-1])

    if n_ev_words == 0:
        finish_state()
        return empty_events(), stats

    # --- per event word: its state (slot -1 = before any state word of this chunk) ---
    slot = ev_pos - np.arange(n_ev_words) - 1  # index of the last state word before it
    w_y = y_val[y_idx[slot]]
    w_low = low_val[low_idx[slot]]
    w_high = high_val[high_idx[slot]]
    w_base_slot = base_idx[slot]
    w_t = (w_high << EVT3_TIME_LOW_BITS) | w_low
    w_ok = (w_y >= 0) & (w_low >= 0) & (w_high >= 0)

    e_pay = payload[ev_pos].astype(np.int64)
    is_x = e_cls == _C_X
    w_x0 = e_pay & EVT3_MAX_COORD
    w_p = e_pay >> 11
    w_mask = np.ones(n_ev_words, dtype=np.int64)
    vec = np.flatnonzero(~is_x)  # vector words: x and polarity from the vector base
    # mostly vector words: work on all words (slices); mostly single events: on the few
    # vector words only (fancy indexing)
    dense = 2 * vec.size > n_ev_words
    if vec.size:
        sel = slice(None) if dense else vec
        v_is_x = is_x[sel]
        v_slot = w_base_slot[sel]
        from_word = v_slot >= 0
        bs0 = np.maximum(v_slot, 0)
        base_pay = s_pay[bs0] if n_st else np.zeros(bs0.size, dtype=np.int64)
        ev_before_base = st_pos[bs0] - bs0 if n_st else np.zeros(bs0.size, dtype=np.int64)
        adv_here = adv_before[:-1][sel]
        base_x = np.where(
            from_word,
            (base_pay & EVT3_MAX_COORD) + adv_here - adv_before[ev_before_base],
            state.base_x + adv_here,
        )
        w_x0[sel] = np.where(v_is_x, w_x0[sel], base_x)
        w_p[sel] = np.where(v_is_x, w_p[sel], np.where(from_word, (base_pay >> 11) & 1,
                                                         state.base_p))
        w_ok[sel] &= v_is_x | from_word | (state.base_x >= 0)
        v_pay = e_pay[sel]
        w_mask[sel] = np.where(v_is_x, 1,
                               np.where(e_cls[sel] == _C_V8, v_pay & 0xFF, v_pay))
    count = _POPCOUNT[w_mask]

    # --- word-level filters: missing state, row outside, time backwards ---
    keep = w_ok & (w_y < height)
    if not keep.all():
        stats.missing_state += int(count[~w_ok].sum())
        row_out = w_ok & ~keep
        n_out = int(count[row_out].sum())
    else:
        n_out = 0
    ordered = bool(np.all(w_t[1:] >= w_t[:-1])) and int(w_t[0]) >= state.last_t_us
    if not (ordered and n_out == 0 and keep.all()):
        prior = np.maximum.accumulate(np.where(keep, w_t, -1))
        prior = np.concatenate(([state.last_t_us], np.maximum(prior[:-1], state.last_t_us)))
        back = keep & (w_t < prior)
        stats.time_backwards += int(count[back].sum())
        keep &= ~back
    if not keep.all():
        count = np.where(keep, count, 0)

    # --- expand masks to events: repeat one record per word, then add the bit offsets ---
    total = int(count.sum())
    records = np.empty(n_ev_words, dtype=EVENT_DTYPE)
    # clamp so that garbage vectors running past 65535 stay outside the sensor in uint16
    records["x"] = np.minimum(w_x0, np.iinfo(np.uint16).max - EVT3_VECT_12_WIDTH)
    records["y"] = w_y
    records["t"] = w_t
    records["p"] = w_p
    out = np.repeat(records, count)
    if dense:
        # add each event's bit offset (0 for single events, whose mask is 1); the rank of
        # the event within its word is folded into an index of the (mask, rank) -> bit
        # position table
        first_out = np.cumsum(count) - count
        lookup = np.repeat(w_mask * EVT3_VECT_12_WIDTH - first_out, count)
        lookup += np.arange(total)
        out["x"] += _BIT_POSITIONS_FLAT[lookup]
    elif vec.size:
        # some vector words among single events: offsets for the vector words' events only
        v_count = count[vec]
        n_vec_events = int(v_count.sum())
        first_out = np.cumsum(count) - count
        rank = np.arange(n_vec_events) - np.repeat(np.cumsum(v_count) - v_count, v_count)
        pos = np.repeat(first_out[vec], v_count) + rank
        offsets = _BIT_POSITIONS_FLAT[np.repeat(w_mask[vec] * EVT3_VECT_12_WIDTH, v_count)
                                      + rank]
        x_col = out["x"]
        x_col[pos] += offsets
    ex = out["x"]
    if total and np.any(w_x0 + _HIGHEST_BIT[w_mask] >= width):
        inside = ex < width
        n_out += int(total - np.count_nonzero(inside))
        out = out[inside]
    stats.out_of_sensor += n_out
    stats.events += out.size
    if out.size:
        state.last_t_us = max(state.last_t_us, int(out["t"][-1]))
    finish_state()
    return out, stats


# ------------------------------------------------------------------------------------------
# mono
# ------------------------------------------------------------------------------------------
def encode_mono(events: np.ndarray, time_base_ns: int) -> np.ndarray:
    """Encode events in the `mono` layout (uint64 array, little-endian on `.tobytes()`).

    time_base_ns: the packet's time_base; each event stores t*1000 - time_base_ns, which
        must lie in [0, 2^32) ns: keep packets shorter than 4.29 s.
    """
    events = _check_events(events, "encode_mono")
    dt = events["t"].astype(np.int64) * NS_PER_US - int(time_base_ns)
    if events.size and (dt.min() < 0 or dt.max() > MONO_DT_MASK):
        raise NeuroqError(
            f"encode_mono: event times must lie within 2^32 ns (4.29 s) after time_base "
            f"{time_base_ns} ns; got offsets {dt.min()}..{dt.max()} ns: split the packet"
        )
    if events.size and (events["y"].max() > MONO_Y_MASK or events["p"].max() > 1):
        raise NeuroqError("encode_mono: y must be < 32768 and p 0 or 1")
    w = (events["p"].astype(np.uint64) << np.uint64(MONO_POLARITY_SHIFT)) | (
        events["y"].astype(np.uint64) << np.uint64(MONO_Y_SHIFT)
    )
    w |= events["x"].astype(np.uint64) << np.uint64(MONO_X_SHIFT)
    w |= dt.astype(np.uint64)
    return w


def decode_mono(
    data,
    time_base_ns: int,
    width: int,
    height: int,
    *,
    is_bigendian: bool = False,
    last_t_us: int = -1,
    stats: DecodeStats | None = None,
) -> tuple[np.ndarray, DecodeStats]:
    """Decode `mono` bytes; t = (time_base_ns + dt_ns) // 1000 us.

    last_t_us: the stream's last returned event time; earlier events count as time_backwards.
    """
    stats = DecodeStats() if stats is None else stats
    stats.packets += 1
    raw = _as_bytes_array(data)
    extra = raw.size % 8
    stats.truncated_bytes += extra
    if extra:
        raw = raw[: raw.size - extra]
    w = raw.view(">u8" if is_bigendian else "<u8")
    stats.words += w.size
    if w.size == 0:
        return empty_events(), stats
    w = w.astype(np.uint64)
    x = ((w >> np.uint64(MONO_X_SHIFT)) & np.uint64(MONO_X_MASK)).astype(np.int64)
    y = ((w >> np.uint64(MONO_Y_SHIFT)) & np.uint64(MONO_Y_MASK)).astype(np.int64)
    p = (w >> np.uint64(MONO_POLARITY_SHIFT)).astype(np.uint8)
    t = (int(time_base_ns) + (w & np.uint64(MONO_DT_MASK)).astype(np.int64)) // NS_PER_US
    keep = (x < width) & (y < height)
    stats.out_of_sensor += int(keep.size - np.count_nonzero(keep))
    running = np.maximum.accumulate(t)
    prior = np.empty_like(running)
    prior[0] = last_t_us
    prior[1:] = np.maximum(running[:-1], last_t_us)
    back = t < prior
    stats.time_backwards += int(np.count_nonzero(back & keep))
    keep &= ~back
    out = make_events(x[keep], y[keep], t[keep], p[keep])
    stats.events += out.size
    return out, stats


# ------------------------------------------------------------------------------------------
# EventPacket-level decoding
# ------------------------------------------------------------------------------------------
def decode_packet(
    encoding: str,
    data,
    time_base: int,
    width: int,
    height: int,
    *,
    is_bigendian: bool = False,
) -> tuple[np.ndarray, DecodeStats]:
    """Decode one `event_camera_msgs/EventPacket` payload on its own (no stream state).

    encoding: the packet's `encoding` ("evt3" or "mono"); anything else is counted in
        `unknown_encoding` and yields no events.
    data: the packet's `events` bytes (bytes, bytearray, array.array or uint8 ndarray).
    time_base: the packet's `time_base` in ns (used by `mono`; undefined for `evt3`, whose
        times are the sensor's, reconstructed from the words).
    width, height: sensor size; events outside it are counted and skipped.
    Never raises on bad data. For a stream of packets whose EVT 3.0 state carries over from
    one packet to the next (as from `metavision_driver`), use `PacketDecoder`.
    """
    try:
        decoder = PacketDecoder(int(width), int(height))
    except (NeuroqError, TypeError, ValueError):
        stats = DecodeStats(packets=1, bad_payload=1)
        return empty_events(), stats
    return decoder.decode(encoding, data, time_base, is_bigendian=is_bigendian)


def encode_packet(encoding: str, events: np.ndarray) -> tuple[bytes, int]:
    """Pack events for an EventPacket: returns (the `events` bytes, the `time_base` in ns).

    "evt3": self-contained EVT 3.0 words (each packet starts with TIME_HIGH, TIME_LOW and
    ADDR_Y), time_base = the first event's time in ns (informative; evt3 readers ignore it).
    "mono": time_base = the first event's time in ns, offsets relative to it.
    Raises NeuroqError for other encodings.
    """
    events = sort_events(_check_events(events, "encode_packet"))
    time_base_ns = int(events["t"][0]) * NS_PER_US if events.size else 0
    if encoding == "evt3":
        return encode_evt3(events).astype("<u2").tobytes(), time_base_ns
    if encoding == "mono":
        return encode_mono(events, time_base_ns).astype("<u8").tobytes(), time_base_ns
    raise NeuroqError(f"encode_packet: encoding must be one of {ENCODINGS}, got {encoding!r}")


class PacketDecoder:
    """Decodes a stream of EventPackets from one camera, keeping state between packets.

    EVT 3.0 state (time, row, vector base) and the last event time carry over, so packets cut
    anywhere in the word stream decode correctly and time going backwards across packets is
    caught. `stats` accumulates over the stream.
    """

    def __init__(self, width: int, height: int):
        if width <= 0 or height <= 0:
            raise NeuroqError(f"PacketDecoder: sensor size must be positive, got {width}x{height}"
                              " (the packet's width and height fields)")
        self.width = int(width)
        self.height = int(height)
        self.evt3_state = Evt3State()
        self.stats = DecodeStats()

    def decode(
        self, encoding: str, data, time_base: int = 0, *, is_bigendian: bool = False
    ) -> tuple[np.ndarray, DecodeStats]:
        """Decode one packet; returns (events, stats of this packet) and adds to `stats`."""
        stats = DecodeStats()
        enc = encoding.strip().lower() if isinstance(encoding, str) else ""
        try:
            events = self._decode(enc, data, time_base, is_bigendian, stats)
        except (TypeError, ValueError, OverflowError):  # data that is not a byte buffer
            stats = DecodeStats(packets=1, bad_payload=1)
            events = empty_events()
        self.stats.add(stats)
        return events, stats

    def decode_many(self, packets) -> tuple[np.ndarray, DecodeStats]:
        """Decode consecutive packets of this stream in one pass: `packets` is a sequence of
        (encoding, data, time_base, is_bigendian) tuples (or objects with those EventPacket
        attributes). Runs of evt3 packets are joined and decoded together, which gives the
        same events as decoding them one by one with a fraction of the per-packet cost (the
        EVT 3.0 state carries across packet borders anyway). Returns (events, stats)."""
        stats = DecodeStats()
        parts: list[np.ndarray] = []
        run: list = []

        def flush() -> None:
            if run:
                joined = b"".join(bytes(memoryview(d).cast("B")) if not isinstance(d, bytes)
                                  else d for d in run)
                events, st = self.decode("evt3", joined)
                st.packets += len(run) - 1
                self.stats.packets += len(run) - 1
                parts.append(events)
                stats.add(st)
                run.clear()

        for packet in packets:
            if isinstance(packet, tuple):
                enc, data, time_base, big = packet
            else:
                enc, data = packet.encoding, packet.events
                time_base, big = packet.time_base, packet.is_bigendian
            if isinstance(enc, str) and enc.strip().lower() == "evt3" and not big:
                try:
                    whole_words = memoryview(data).nbytes % 2 == 0
                except TypeError:
                    whole_words = False
                if whole_words:  # odd-sized or non-buffer packets are decoded on their own
                    run.append(data)
                    continue
            flush()
            events, st = self.decode(enc, data, time_base, is_bigendian=big)
            parts.append(events)
            stats.add(st)
        flush()
        events = np.concatenate(parts) if parts else empty_events()
        return events, stats

    def _decode(self, enc: str, data, time_base, is_bigendian: bool,
                stats: DecodeStats) -> np.ndarray:
        if enc == "evt3":
            if is_bigendian:
                raw = _as_bytes_array(data)
                stats.truncated_bytes += raw.size % 2
                data = raw[: raw.size - raw.size % 2].view(">u2").astype("<u2").view(np.uint8)
            events, _ = decode_evt3(data, self.width, self.height, state=self.evt3_state,
                                    stats=stats)
        elif enc == "mono":
            events, _ = decode_mono(data, int(time_base), self.width, self.height,
                                    is_bigendian=is_bigendian,
                                    last_t_us=self.evt3_state.last_t_us, stats=stats)
            if events.size:
                self.evt3_state.last_t_us = max(self.evt3_state.last_t_us,
                                                int(events["t"].max()))
        else:
            stats.packets += 1
            stats.unknown_encoding += 1
            events = empty_events()
        return events


def sort_events(events: np.ndarray) -> np.ndarray:
    """Events ordered by (t, y, p, x): the order `encode_evt3` writes and decoders return."""
    events = _check_events(events, "sort_events")
    if events.size < 2:
        return events
    t = events["t"]
    if t.min() >= 0 and t.max() < 1 << 30:
        # one int64 key: t (30 bits, ~18 min) | y (16) | p (1) | x (16)
        key = (t.astype(np.int64) << 33) | (events["y"].astype(np.int64) << 17)
        key |= (events["p"].astype(np.int64) & 1) << 16
        key |= events["x"]
        if np.all(key[1:] >= key[:-1]):
            return events
        return events[np.argsort(key, kind="stable")]
    return events[np.lexsort((events["x"], events["p"], events["y"], events["t"]))]


# ------------------------------------------------------------------------------------------
# Prophesee .raw files (EVT 3.0)
# ------------------------------------------------------------------------------------------
_FORMAT_RE = re.compile(r"^format\s+(\w+)(.*)$", re.IGNORECASE)
_GEOMETRY_RE = re.compile(r"^geometry\s+(\d+)\s*x\s*(\d+)", re.IGNORECASE)


def _parse_raw_header(lines: list[str]) -> tuple[dict[str, str], int, int, str]:
    header: dict[str, str] = {}
    width = height = -1
    fmt = ""
    for line in lines:
        body = line[1:].strip()
        if not body or body == "end":
            continue
        key, _, value = body.partition(" ")
        header[key] = value.strip()
        m = _FORMAT_RE.match(body)
        if m:
            fmt = m.group(1).upper()
            for item in m.group(2).split(";"):
                k, _, v = item.partition("=")
                if k.strip() == "width" and v.strip().isdigit():
                    width = int(v)
                elif k.strip() == "height" and v.strip().isdigit():
                    height = int(v)
        m = _GEOMETRY_RE.match(body)
        if m and width < 0:
            width, height = int(m.group(1)), int(m.group(2))
        if key == "evt" and not fmt:
            fmt = "EVT3" if value.strip().startswith("3") else f"EVT{value.strip()}"
    return header, width, height, fmt


class RawReader:
    """Reads a Prophesee EVT 3.0 .raw file in chunks: `for events, stats in reader:`.

    path: the .raw file. chunk_bytes: bytes read per chunk.
    width/height: sensor size from the header (`% format EVT3;height=..;width=..` or
    `% geometry WxH`); pass them to override or when the header has none.
    Raises NeuroqError when the file is missing or is not EVT 3.0; bad words inside are
    counted in `stats`, not raised.
    """

    def __init__(self, path: str | os.PathLike, chunk_bytes: int = RAW_CHUNK_BYTES,
                 width: int | None = None, height: int | None = None):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise NeuroqError(f"event file not found: {self.path}: give a Prophesee .raw path")
        if chunk_bytes < 2:
            raise NeuroqError(f"RawReader: chunk_bytes must be >= 2, got {chunk_bytes}")
        self.chunk_bytes = int(chunk_bytes)
        lines: list[str] = []
        with open(self.path, "rb") as f:
            while True:
                pos = f.tell()
                first = f.read(1)
                if first != b"%":
                    f.seek(pos)
                    break
                line = (first + f.readline()).decode("ascii", errors="replace").rstrip("\r\n")
                lines.append(line)
                if line.strip() == RAW_HEADER_END:
                    break
            self.data_offset = f.tell()
        self.header, hw, hh, fmt = _parse_raw_header(lines)
        if fmt and fmt != "EVT3":
            raise NeuroqError(
                f"{self.path}: encoding {fmt} is not supported; only EVT 3.0 .raw files are "
                f"read (convert with Metavision's tools)"
            )
        self.width = int(width) if width is not None else hw
        self.height = int(height) if height is not None else hh
        if self.width <= 0 or self.height <= 0:
            raise NeuroqError(
                f"{self.path}: the header gives no sensor size; pass width= and height="
            )
        self.stats = DecodeStats()

    def __iter__(self) -> Iterator[tuple[np.ndarray, DecodeStats]]:
        state = Evt3State()
        with open(self.path, "rb") as f:
            f.seek(self.data_offset)
            while True:
                chunk = f.read(self.chunk_bytes)
                if not chunk:
                    break
                events, stats = decode_evt3(chunk, self.width, self.height, state=state,
                                            streaming=True)
                self.stats.add(stats)
                yield events, stats
        if state.leftover:
            self.stats.truncated_bytes += len(state.leftover)

    def read_all(self) -> np.ndarray:
        """All events of the file in one array."""
        parts = [events for events, _ in self]
        return np.concatenate(parts) if parts else empty_events()


class _FileWriter:
    """An event file being written: `close()` once, or use it as a context manager."""

    _file: io.BufferedWriter | None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RawWriter(_FileWriter):
    """Writes a Prophesee EVT 3.0 .raw file: header, then `write(events)` chunks in time order.

    Use as a context manager. Raises NeuroqError when a chunk starts before the previous one
    ended, or when events lie outside the sensor.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int,
                 extra_header: dict[str, str] | None = None):
        if not (0 < width <= 1 << EVT3_COORD_BITS and 0 < height <= 1 << EVT3_COORD_BITS):
            raise NeuroqError(f"RawWriter: sensor size must be within 2048x2048, got "
                              f"{width}x{height}")
        self.path = os.fspath(path)
        self.width, self.height = int(width), int(height)
        self._last_t: int | None = None
        self._file: io.BufferedWriter | None = open(self.path, "wb")  # noqa: SIM115
        lines = [
            "% camera_integrator_name neuroq",
            "% evt 3.0",
            f"% format EVT3;height={self.height};width={self.width}",
            f"% geometry {self.width}x{self.height}",
        ]
        lines += [f"% {k} {v}" for k, v in (extra_header or {}).items()]
        lines.append(RAW_HEADER_END)
        self._file.write(("\n".join(lines) + "\n").encode("ascii"))

    def write(self, events: np.ndarray) -> None:
        """Append events (any order within the chunk; chunks in time order)."""
        if self._file is None:
            raise NeuroqError("RawWriter: write() after close()")
        events = _check_events(events, "RawWriter.write")
        if events.size == 0:
            return
        if events["x"].max() >= self.width or events["y"].max() >= self.height:
            raise NeuroqError(
                f"RawWriter.write: events outside the {self.width}x{self.height} sensor"
            )
        words = encode_evt3(events, previous_t_us=self._last_t)
        self._file.write(words.astype("<u2").tobytes())
        self._last_t = int(events["t"].max())


# ------------------------------------------------------------------------------------------
# Replay: fixed-duration packets at recorded speed (or faster)
# ------------------------------------------------------------------------------------------
DRIVER_PACKET_US = 1000
"""Sensor time per EventPacket: drivers aggregate about 1 ms of events per packet
(metavision_driver, libcaer_driver defaults)."""


def packetize(chunks, packet_us: int = DRIVER_PACKET_US) -> Iterator[np.ndarray]:
    """Re-cut a time-ordered stream of event arrays (e.g. from `RawReader` or `read_aedat4`)
    into packets covering `packet_us` of sensor time each, aligned to multiples of
    `packet_us`; empty spans yield nothing. Each packet's events are in time order."""
    if packet_us <= 0:
        raise NeuroqError(f"packetize: packet_us must be > 0, got {packet_us}")
    pending = empty_events()
    for chunk in chunks:
        events = chunk[0] if isinstance(chunk, tuple) else chunk
        events = _check_events(events, "packetize")
        if events.size == 0:
            continue
        pending = np.concatenate([pending, events]) if pending.size else events
        bins = pending["t"] // packet_us
        # all but the last bin are complete: later chunks start at or after it
        cuts = np.flatnonzero(np.diff(bins)) + 1
        if cuts.size:
            yield from np.split(pending[: cuts[-1]], cuts[:-1])
            pending = pending[cuts[-1]:]
    if pending.size:
        yield pending


def paced(packets, speed: float = 1.0, clock=None, sleep=None) -> Iterator[np.ndarray]:
    """Yield packets no earlier than their sensor time allows: a packet whose first event is
    at t is released (t - t_first) / speed seconds after the first one. speed=2 replays twice
    as fast; speed=float('inf') does not wait. `clock` and `sleep` default to
    time.monotonic and time.sleep (tests pass fakes)."""
    if not speed > 0:
        raise NeuroqError(f"paced: speed must be > 0, got {speed}")
    clock = time.monotonic if clock is None else clock
    sleep = time.sleep if sleep is None else sleep
    start_wall = start_t = None
    for packet in packets:
        if packet.size == 0:
            continue
        t0 = int(packet["t"][0])
        if start_wall is None:
            start_wall, start_t = clock(), t0
        elif speed != float("inf"):
            due = start_wall + (t0 - start_t) / US_PER_S / speed
            delay = due - clock()
            if delay > 0:
                sleep(delay)
        yield packet


# ------------------------------------------------------------------------------------------
# AEDAT 4 files (iniVation DV): writer in numpy, reader through the `aedat` package
# ------------------------------------------------------------------------------------------
AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"
"""First bytes of an AEDAT 4 file. Layout (iniVation DV documentation): magic, uint32 length
of the IOHeader FlatBuffer, the IOHeader (compression, data-table position, an XML
description of the streams), then packets: int32 stream id, uint32 size, and a size-prefixed
FlatBuffer whose identifier names the stream type ("EVTS" for polarity events)."""
AEDAT4_EVENT_BYTES = 16
"""One AEDAT 4 polarity event: int64 t (us), int16 x, int16 y, bool on, 3 padding bytes."""
_AEDAT4_EVENT = np.dtype({"names": ["t", "x", "y", "on"],
                          "formats": ["<i8", "<i2", "<i2", "u1"],
                          "offsets": [0, 8, 10, 12], "itemsize": AEDAT4_EVENT_BYTES})


def _u32(value: int) -> bytes:
    return int(value).to_bytes(4, "little")


def _aedat4_ioheader(width: int, height: int) -> bytes:
    """IOHeader FlatBuffer (no compression, no data table) describing one event stream."""
    description = (
        '<dv version="2.0"><node name="outInfo" path="/mainloop/neuroq/outInfo/">'
        '<node name="0" path="/mainloop/neuroq/outInfo/0/">'
        '<attr key="compression" type="string">NONE</attr>'
        '<attr key="originalOutputName" type="string">events</attr>'
        '<attr key="typeIdentifier" type="string">EVTS</attr>'
        '<node name="info" path="/mainloop/neuroq/outInfo/0/info/">'
        f'<attr key="sizeX" type="int">{width}</attr>'
        f'<attr key="sizeY" type="int">{height}</attr>'
        "</node></node></node></dv>"
    ).encode("ascii")
    # root offset | "IOHE" | vtable (10 B) + 6 pad | table @24: soffset, compression,
    # file_data_position (int64, 8-aligned), description offset | string @44
    vtable = np.array([10, 20, 4, 8, 16], dtype="<u2").tobytes() + bytes(6)
    table_at, string_at = 24, 44
    table = (np.int32(table_at - 8).tobytes() + np.int32(0).tobytes()
             + np.int64(-1).tobytes() + _u32(string_at - (table_at + 16)))
    string = _u32(len(description)) + description + b"\0"
    buf = _u32(table_at) + b"IOHE" + vtable + table + string
    return buf + bytes(-len(buf) % 4)


def _aedat4_event_packet(events: np.ndarray) -> bytes:
    """Size-prefixed EventPacket FlatBuffer holding `events`."""
    elements = np.zeros(events.size, dtype=_AEDAT4_EVENT)
    elements["t"] = events["t"]
    elements["x"] = events["x"]
    elements["y"] = events["y"]
    elements["on"] = events["p"]
    # root offset | "EVTS" | vtable (6 B) + 2 pad | table @16: soffset, vector offset |
    # 4 pad | vector @28: length, elements @32 (8-aligned)
    vtable = np.array([6, 8, 4], dtype="<u2").tobytes() + bytes(2)
    table_at, vector_at = 16, 28
    table = np.int32(table_at - 8).tobytes() + _u32(vector_at - (table_at + 4))
    buf = (_u32(table_at) + b"EVTS" + vtable + table + bytes(4) + _u32(events.size)
           + elements.tobytes())
    return _u32(len(buf)) + buf


class Aedat4Writer(_FileWriter):
    """Writes an uncompressed AEDAT 4 file with one polarity-event stream (id 0), so tests
    and tools can make their own recordings. Context manager; `write(events)` per packet."""

    def __init__(self, path: str | os.PathLike, width: int, height: int):
        if not (0 < width < 1 << 15 and 0 < height < 1 << 15):
            raise NeuroqError(f"Aedat4Writer: sensor size must be within 32767x32767, got "
                              f"{width}x{height}")
        self.width, self.height = int(width), int(height)
        self._file: io.BufferedWriter | None = open(os.fspath(path), "wb")  # noqa: SIM115
        header = _aedat4_ioheader(self.width, self.height)
        self._file.write(AEDAT4_MAGIC + _u32(len(header)) + header)

    def write(self, events: np.ndarray) -> None:
        if self._file is None:
            raise NeuroqError("Aedat4Writer: write() after close()")
        events = _check_events(events, "Aedat4Writer.write")
        if events.size == 0:
            return
        if events["x"].max() >= self.width or events["y"].max() >= self.height:
            raise NeuroqError(f"Aedat4Writer.write: events outside the {self.width}x"
                              f"{self.height} sensor")
        packet = _aedat4_event_packet(events)
        self._file.write(np.int32(0).tobytes() + _u32(len(packet)) + packet)


def read_aedat4(path: str | os.PathLike) -> Iterator[tuple[np.ndarray, int, int]]:
    """Yield (events, width, height) for each polarity-event packet of an AEDAT 4 file.

    Decoding is done by the `aedat` package (a maintained Rust-backed AEDAT 4 reader; it also
    handles LZ4 and Zstd compressed files); frames, IMU and trigger packets are skipped.
    Raises NeuroqError when the package is missing or the file is not AEDAT 4.
    """
    try:
        import aedat  # noqa: PLC0415  (optional dependency)
    except ImportError as exc:
        raise NeuroqError("reading AEDAT 4 files needs the `aedat` package: "
                          "pip install aedat") from exc
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise NeuroqError(f"event file not found: {path}: give an AEDAT 4 (.aedat4) path")
    try:
        decoder = aedat.Decoder(path)
        streams = decoder.id_to_stream()
    except Exception as exc:  # the package raises plain exceptions on bad files
        raise NeuroqError(f"{path}: not a readable AEDAT 4 file ({exc})") from exc
    for packet in decoder:
        if "events" not in packet:
            continue
        raw = packet["events"]
        stream = streams.get(packet["stream_id"], {})
        polarity = raw["on"] if "on" in raw.dtype.names else raw["p"]
        events = make_events(raw["x"], raw["y"], raw["t"], polarity.astype(np.uint8))
        yield events, int(stream.get("width", 0)), int(stream.get("height", 0))
