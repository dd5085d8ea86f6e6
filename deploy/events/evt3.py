"""EVT 3.0: the Prophesee 16-bit word format, encoder and streaming decoder.

EVT 3.0 is the format Metavision sensors (IMX636, GenX320) stream and that `metavision_driver`
puts in `event_camera_msgs/EventPacket` as is. Each little-endian 16-bit word carries its type
in the 4 most significant bits and a 12-bit payload; coordinates, polarity and time are sent
only when they change, so decoding keeps state (current y, time, vector base x). Time is 24
bits of microseconds and wraps every 2^24 us (16.8 s): the decoder counts the wraps from the
start of the stream. Source: Prophesee Metavision documentation, "EVT 3.0 Format"
(docs.prophesee.ai/stable/data/encoding_formats/evt3.html).

The decoder never raises on data (see `neuroq.deploy.events`); everything is vectorised
numpy, no Python loop runs per event or per word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events.stats import DecodeStats, as_bytes_array
from neuroq.envs.event_array import EVENT_DTYPE, check_events, empty_events

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
    events = sort_events(check_events(events, "encode_evt3"))
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




def sort_events(events: np.ndarray) -> np.ndarray:
    """Events ordered by (t, y, p, x): the order `encode_evt3` writes and decoders return."""
    events = check_events(events, "sort_events")
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


