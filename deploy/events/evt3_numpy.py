"""EVT 3.0 decoder in numpy: the fallback where the `evt3` package has no wheel, and the
reference the tests hold `evt3_rust` to.

The decoder never raises on data (see `neuroq.deploy.events`); everything is vectorised
numpy, no Python loop runs per event or per word. Word format and time rules: `evt3_words`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from neuroq.deploy.events.evt3_words import (
    EVT3_ADDR_X,
    EVT3_ADDR_Y,
    EVT3_CONTINUED_4,
    EVT3_CONTINUED_12,
    EVT3_COORD_BITS,
    EVT3_CORRUPT_TYPES,
    EVT3_EXT_TRIGGER,
    EVT3_MAX_COORD,
    EVT3_OTHERS,
    EVT3_TIME_HIGH,
    EVT3_TIME_HIGH_PERIOD,
    EVT3_TIME_LOW,
    EVT3_TIME_LOW_BITS,
    EVT3_TYPE_SHIFT,
    EVT3_VECT_8,
    EVT3_VECT_8_WIDTH,
    EVT3_VECT_12,
    EVT3_VECT_12_WIDTH,
    EVT3_VECT_BASE_X,
    EVT3_WRAP_DROP,
)
from neuroq.deploy.events.stats import DecodeStats, as_bytes_array
from neuroq.envs.event_array import EVENT_DTYPE, EventColumns, columns_of, empty_events

_BYTE_BITS = 8
HIGH_BYTE_TYPE_SHIFT = EVT3_TYPE_SHIFT - _BYTE_BITS
"""A word's type is the top 4 bits of its high (second, little-endian) byte."""


def high_bytes_of(types) -> bytes:
    """Every value of a word's high byte whose type is one of `types` (for bytes.translate)."""
    return bytes(v for v in range(256) if v >> HIGH_BYTE_TYPE_SHIFT in types)


DEFINED_TYPE_HIGH_BYTES = high_bytes_of(frozenset(range(16)) - EVT3_CORRUPT_TYPES)
"""translate(None, this) keeps the high bytes of words of an undefined type."""


SLICE_HIGH_BYTES_BELOW = 4096
"""`word_high_bytes` slices data shorter than this many bytes (data[1::2]: about 0.1 us and
0.4 ns per byte here) and shifts longer data with numpy (about 3 us and 0.1 ns per byte)."""


def word_high_bytes(data: bytes) -> bytes:
    """The high byte of each whole little-endian word of `data`: a slice for short data, a
    shift and a narrowing copy for long data (3 times faster than the slice per byte, and
    faster than a strided numpy copy)."""
    if len(data) < SLICE_HIGH_BYTES_BELOW:
        return data[1::2]
    return (np.frombuffer(data, "<u2", len(data) >> 1) >> _BYTE_BITS).astype(np.uint8).tobytes()


def count_corrupt_words(data: bytes) -> int:
    """Words of an undefined type (EVT3_CORRUPT_TYPES) among `data`'s whole words."""
    return len(word_high_bytes(data).translate(None, DEFINED_TYPE_HIGH_BYTES))


@dataclass
class Evt3State:
    """Decoder state carried from one chunk of an EVT 3.0 stream to the next.

    y, base_x, base_p, low: last values seen (-1: not seen yet); TIME_HIGH sets low to 0.
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

    def time_us(self) -> int:
        """Camera time the stream has reached, (high << 12) | low in us (-1 before TIME_HIGH
        and TIME_LOW): sensors send time words even when no pixel fires."""
        if self.high < 0 or self.low < 0:
            return -1
        return (self.high << EVT3_TIME_LOW_BITS) | self.low


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
_RECORD = np.dtype((np.void, EVENT_DTYPE.itemsize))
"""Events as opaque records for repeat and selection: numpy moves those with memcpy and the
packed EVENT_DTYPE field by field, about 30 times slower (numpy 2.4)."""


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
        data must then set TIME_HIGH and ADDR_Y before its first event, and VECT_BASE_X
        before its first vector word, as packets from `encode_evt3` do).
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
    raw = as_bytes_array(data)
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
    is_high = s_cls == _C_HIGH
    low_idx = last_index((s_cls == _C_LOW) | is_high)  # TIME_HIGH sets the low bits to 0
    high_idx = last_index(is_high)
    base_idx = last_index(s_cls == _C_BASE)
    y_val = with_initial(s_pay & EVT3_MAX_COORD, state.y)
    low_val = with_initial(np.where(is_high, 0, s_pay), state.low)
    high_vals = s_pay[is_high]
    unwrapped = np.zeros(n_st, dtype=np.int64)
    if high_vals.size:
        prev = np.empty_like(high_vals)
        prev[1:] = high_vals[:-1]
        prev[0] = state.high % EVT3_TIME_HIGH_PERIOD if state.high >= 0 else high_vals[0]
        wraps = np.cumsum((prev - high_vals) >= EVT3_WRAP_DROP)
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

    # --- word-level filters: missing state, row outside ---
    keep = w_ok & (w_y < height)
    n_out = 0
    if not keep.all():
        stats.missing_state += int(count[~w_ok].sum())
        n_out = int(count[w_ok & ~keep].sum())
        count = np.where(keep, count, 0)
    # all words in time order: so are the events kept (else they are checked one by one)
    ordered = bool(np.all(w_t[1:] >= w_t[:-1])) and int(w_t[0]) >= state.last_t_us

    # --- expand masks to events: repeat one record per word, then add the bit offsets ---
    total = int(count.sum())
    records = np.empty(n_ev_words, dtype=EVENT_DTYPE)
    # clamp so that garbage vectors running past 65535 stay outside the sensor in uint16
    records["x"] = np.minimum(w_x0, np.iinfo(np.uint16).max - EVT3_VECT_12_WIDTH)
    records["y"] = w_y
    records["t"] = w_t
    records["p"] = w_p
    out = np.repeat(records.view(_RECORD), count).view(EVENT_DTYPE)  # see _RECORD
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
        out = out.view(_RECORD)[inside].view(EVENT_DTYPE)
    stats.out_of_sensor += n_out
    if not ordered and out.size:  # time going backwards: against the events returned only
        t = out["t"]
        prior = np.empty(t.size, dtype=np.int64)
        prior[0] = state.last_t_us
        np.maximum(np.maximum.accumulate(t)[:-1], state.last_t_us, out=prior[1:])
        back = t < prior
        if back.any():
            stats.time_backwards += int(np.count_nonzero(back))
            out = out.view(_RECORD)[~back].view(EVENT_DTYPE)
    stats.events += out.size
    if out.size:
        state.last_t_us = max(state.last_t_us, int(out["t"][-1]))
    finish_state()
    return out, stats


class NumpyEvt3Decoder:
    """One EVT 3.0 stream decoded by `decode_evt3`, behind the interface `evt3_decoders`
    defines (the same as `evt3_rust.RustEvt3Decoder`)."""

    name = "numpy"

    def __init__(self, width: int, height: int):
        self.width, self.height = int(width), int(height)
        self.state = Evt3State()

    @property
    def last_t_us(self) -> int:
        return self.state.last_t_us

    @last_t_us.setter
    def last_t_us(self, value: int) -> None:
        self.state.last_t_us = int(value)

    @property
    def pending_bytes(self) -> int:
        """A trailing odd byte kept for the next chunk (streaming), 0 or 1."""
        return len(self.state.leftover)

    def decode(self, data, stats: DecodeStats, *, streaming: bool = False) -> np.ndarray:
        return decode_evt3(data, self.width, self.height, state=self.state, stats=stats,
                           streaming=streaming)[0]

    def decode_columns(self, data, stats: DecodeStats, *,
                       streaming: bool = False) -> EventColumns:
        """As `decode`, as EventColumns (views of its fields)."""
        return columns_of(self.decode(data, stats, streaming=streaming))

    @staticmethod
    def corrupt_words(data: bytes) -> int:
        """Words of an undefined type among `data`'s whole words (`count_corrupt_words`)."""
        return count_corrupt_words(data)

    def time_us(self) -> int:
        return self.state.time_us()

    def checkpoint(self) -> Evt3State:
        """The stream's state now (a copy), for `restore`."""
        return replace(self.state)

    def restore(self, checkpoint: Evt3State) -> None:
        """Set the stream back to a `checkpoint`: the data decoded since is as if never
        seen."""
        self.state = replace(checkpoint)
