"""EVT 3.0 encoder: events to 16-bit words, as a Prophesee sensor would send them.

Our writers (`RawWriter`, `encode_packet`), the simulated camera and the tests use it; robot
code only decodes (`evt3_decoders`). Word format and time rules: `evt3_words`.
"""

from __future__ import annotations

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events.evt3_words import (
    EVT3_ADDR_X,
    EVT3_ADDR_Y,
    EVT3_MAX_COORD,
    EVT3_MAX_HIGH_STEP,
    EVT3_PAYLOAD_MASK,
    EVT3_TIME_HIGH,
    EVT3_TIME_LOW,
    EVT3_TIME_LOW_BITS,
    EVT3_TYPE_SHIFT,
    EVT3_VECT_8,
    EVT3_VECT_8_WIDTH,
    EVT3_VECT_12,
    EVT3_VECT_12_WIDTH,
    EVT3_VECT_BASE_X,
)
from neuroq.envs.event_array import check_events


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

def time_words(t_us: int) -> bytes:
    """EVT 3.0 TIME_HIGH + TIME_LOW words (little endian) that set camera time to `t_us`
    (its low 24 bits) without an event: what a sensor sends as time passes, and a
    simulated camera sends after each control period so the period is known to be
    complete."""
    high = (EVT3_TIME_HIGH << EVT3_TYPE_SHIFT) | ((t_us >> EVT3_TIME_LOW_BITS)
                                                  & EVT3_PAYLOAD_MASK)
    low = (EVT3_TIME_LOW << EVT3_TYPE_SHIFT) | (t_us & EVT3_PAYLOAD_MASK)
    return np.array([high, low], dtype="<u2").tobytes()
