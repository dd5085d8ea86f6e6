"""EVT 3.0 decoding through the `evt3` package (PyPI, a Rust decoder), validated by neuroq.

`evt3` (0.4.1) decodes 5-20 times faster than `decode_evt3` here, but it validates nothing:
events outside the sensor and time going backwards come out as they are, reserved and
trigger words are dropped uncounted, and events before their state get y = 0, x = 0 or time
0. It exposes no decoder state and reads a wrap only when TIME_HIGH drops by >= 4085
(`EVT3_LOOP_DROP`). `RustEvt3Decoder` keeps neuroq's contract around it: the same events
and the same `DecodeStats` counters as `decode_evt3` on one stream, never a raise on data.

How (a few passes in C over the bytes and a few numpy passes over the events; none over
the words):
- The high byte of each word holds its type. `bytes.translate` keeps only the high bytes of
  the rare words that need attention: reserved types and triggers (counted here, since evt3
  drops them the way `decode_evt3` skips them), TIME_HIGH, and, until a VECT_BASE_X is known,
  vector words.
- TIME_HIGH: steps whose top 4 bits stay or advance by one (not 15 -> 0) cannot be read
  differently by the two wrap rules. Anything else (about once per wrap, 16.8 s) gets an
  exact check of the TIME_HIGH values against both rules.
- Events come out of evt3 as columns; events outside the sensor, then events earlier than
  one returned before (a running maximum over the stream) are filtered and counted, as
  `decode_evt3` does.
- Data the fast path cannot take exactly (the start of a stream, up to its first TIME_HIGH
  and ADDR_Y; vector words while no VECT_BASE_X is known, unless the data's first vector
  word is one; TIME_HIGH drops the two wrap rules read
  differently) is decoded by `decode_evt3`, and evt3 is then set to the state it reached
  (reset, then TIME_HIGH, TIME_LOW, ADDR_Y, VECT_BASE_X words; wraps counted before it are
  added as an offset). Going the other way, the state is read from evt3 with probe words:
  an EVT_ADDR_X word yields one event at the current time and row and changes nothing; a
  VECT_12 word with mask 1 yields one at the vector base.
- Odd bytes never reach evt3 (it would carry them over and misalign the stream).

Not detected, as in no valid stream: after more than 5000 vector words without a VECT_BASE_X
(garbage only), evt3's uint16 x wraps into the sensor where `decode_evt3` counts the events
out of it. The probes and the wrap rule are evt3 0.4.1's behaviour as measured (setup.py
pins that version); tests/test_evt3_decoders.py and tests/test_evt3_peer.py hold any other
version to the same results.
"""

from __future__ import annotations

from dataclasses import replace

import evt3
import numpy as np

from neuroq.deploy.events.evt3_numpy import (
    DEFINED_TYPE_HIGH_BYTES,
    Evt3State,
    decode_evt3,
    high_bytes_of,
    word_high_bytes,
)
from neuroq.deploy.events.evt3_words import (
    EVT3_ADDR_X,
    EVT3_ADDR_Y,
    EVT3_CORRUPT_TYPES,
    EVT3_EXT_TRIGGER,
    EVT3_LOOP_DROP,
    EVT3_MAX_COORD,
    EVT3_PAYLOAD_MASK,
    EVT3_POLARITY_BIT,
    EVT3_TIME_HIGH,
    EVT3_TIME_HIGH_PERIOD,
    EVT3_TIME_LOW,
    EVT3_TIME_LOW_BITS,
    EVT3_TIME_WRAP_US,
    EVT3_TYPE_SHIFT,
    EVT3_VECT_8,
    EVT3_VECT_12,
    EVT3_VECT_BASE_X,
    EVT3_WRAP_DROP,
)
from neuroq.deploy.events.stats import DecodeStats, as_bytes_array
from neuroq.envs.event_array import (
    EventColumns,
    columns_of,
    concat_columns,
    concat_events,
    empty_columns,
)

EVT3_VERSION = evt3.__version__
_NIBBLE = 0xF
_NIBBLE_SHIFT = 8
"""TIME_HIGH's top 4 bits (of 12) are the low 4 bits of its high byte."""

_ALL = frozenset(range(16))
_SPECIAL = EVT3_CORRUPT_TYPES | {EVT3_EXT_TRIGGER, EVT3_TIME_HIGH}
_VECTORS = frozenset({EVT3_VECT_BASE_X, EVT3_VECT_12, EVT3_VECT_8})
_DROP_PLAIN = high_bytes_of(_ALL - _SPECIAL)
"""translate(None, this) keeps the high bytes of reserved, trigger and TIME_HIGH words."""
_DROP_PLAIN_BUT_VECTORS = high_bytes_of(_ALL - _SPECIAL - _VECTORS)
"""The same, and vector words (while no VECT_BASE_X is known)."""
_DROP_ALL_BUT_TIME_HIGH = high_bytes_of(_ALL - {EVT3_TIME_HIGH})
_DROP_ALL_BUT_TRIGGER = high_bytes_of(_ALL - {EVT3_EXT_TRIGGER})
_DROP_ALL_BUT_VECTORS = high_bytes_of(_ALL - _VECTORS)


def _word(kind: int, payload: int) -> int:
    return (kind << EVT3_TYPE_SHIFT) | (payload & EVT3_PAYLOAD_MASK)


_PROBE_TIME = np.array([_word(EVT3_ADDR_X, 0)], "<u2").tobytes()
"""One EVT_ADDR_X event at x = 0: evt3 returns it at its current time and row."""
_PROBE_BASE = np.array([_word(EVT3_VECT_12, 1)], "<u2").tobytes()
"""One VECT_12 event at the vector base (moves the base on by 12: used before a reset)."""
_SHORT_NIBBLE_RUN = 32
"""Up to this many TIME_HIGH words are checked in a Python loop, more with numpy."""


class RustEvt3Decoder:
    """One EVT 3.0 stream decoded by the `evt3` package's stateful decoder and checked as
    `decode_evt3` checks it (see the module docstring). Interface: `evt3_decoders`."""

    name = f"evt3 {EVT3_VERSION} (Rust, PyPI)"

    def __init__(self, width: int, height: int):
        self.width, self.height = int(width), int(height)
        # the sensor size is metadata to evt3 (it filters nothing); keep it in its range
        self._lib = evt3.Decoder(sensor_width=min(self.width, EVT3_MAX_COORD + 1),
                                 sensor_height=min(self.height, EVT3_MAX_COORD + 1))
        self.state = Evt3State()
        """The stream state while `decode_evt3` decodes it; last_t_us always."""
        self._synced = False  # True: evt3 holds the stream state and takes the data
        self._offset = 0  # us added to evt3's times: wraps counted before it took over
        self._base_ok = False  # evt3's vector base came from a VECT_BASE_X word
        self._nibble = 0  # top 4 bits of the last TIME_HIGH evt3 has seen
        self._leftover = b""
        self._scan: tuple = (None, False, b"")  # (data, _base_ok, its special high bytes)

    @property
    def last_t_us(self) -> int:
        return self.state.last_t_us

    @last_t_us.setter
    def last_t_us(self, value: int) -> None:
        self.state.last_t_us = int(value)

    @property
    def pending_bytes(self) -> int:
        """A trailing odd byte kept for the next chunk (streaming), 0 or 1."""
        return len(self._leftover)

    def time_us(self) -> int:
        """Camera time the stream has reached (-1 before TIME_HIGH), as `Evt3State.time_us`."""
        if not self._synced:
            return self.state.time_us()
        return int(self._lib.feed(_PROBE_TIME).t[0]) + self._offset

    def checkpoint(self) -> tuple:
        """The stream's state now, for `restore`: read from evt3 with the probe words where
        evt3 holds it (the vector-base probe moves evt3's base on: a VECT_BASE_X word sets
        it back, so decoding goes on as if no checkpoint had been taken), else a copy."""
        state = replace(self.state)
        if self._synced:
            probe = self._lib.feed(_PROBE_TIME)
            t = int(probe.t[0]) + self._offset
            state.high, state.low = t >> EVT3_TIME_LOW_BITS, t & EVT3_PAYLOAD_MASK
            state.y = int(probe.y[0])
            if self._base_ok:
                base = self._lib.feed(_PROBE_BASE)
                state.base_x, state.base_p = int(base.x[0]), int(base.p[0])
                self._lib.feed(np.array(
                    [_word(EVT3_VECT_BASE_X, state.base_x | (state.base_p << EVT3_POLARITY_BIT))],
                    "<u2").tobytes())
        return state, self._synced, self._leftover

    def restore(self, checkpoint: tuple) -> None:
        """Set the stream back to a `checkpoint`: the data decoded since is as if never
        seen (evt3 is reset and given the state's words, as at a hand-over)."""
        state, synced, leftover = checkpoint
        self.state = replace(state)
        self._leftover = leftover
        self._scan = (None, False, b"")
        self._synced = False
        if synced:
            self._hand_to_evt3()

    def corrupt_words(self, data: bytes) -> int:
        """Words of an undefined type among `data`'s whole words. The scan is kept for the
        next `decode` or `decode_columns` of this same bytes object, which then does not
        scan the words again (`PacketDecoder.decode_many(..., drop_corrupt=True)`: one scan
        of each joined run, not two)."""
        special = self._special(data)
        return len(special.translate(None, DEFINED_TYPE_HIGH_BYTES)) if special else 0

    def _special(self, data: bytes) -> bytes:
        """The high bytes of `data`'s words that need attention (module docstring), in
        order: reserved types, triggers, TIME_HIGH and, until a VECT_BASE_X is known,
        vector words."""
        seen, base_ok, special = self._scan
        if seen is data and base_ok == self._base_ok:
            return special
        special = word_high_bytes(data).translate(
            None, _DROP_PLAIN if self._base_ok else _DROP_PLAIN_BUT_VECTORS)
        if type(data) is bytes:  # immutable: its identity stands for its content
            self._scan = (data, self._base_ok, special)
        return special

    def decode(self, data, stats: DecodeStats, *, streaming: bool = False) -> np.ndarray:
        """Decode the next bytes of the stream into EVENT_DTYPE events; counts go to `stats`.

        streaming: keep a trailing odd byte for the next call instead of counting it as
        truncated. Raises TypeError, ValueError or OverflowError only for data that is not a
        byte buffer (before any state changes; `PacketDecoder` counts it as bad_payload).
        """
        return concat_events([p if isinstance(p, np.ndarray) else p.events()
                              for p in self._parts(data, stats, streaming)])

    def decode_columns(self, data, stats: DecodeStats, *,
                       streaming: bool = False) -> EventColumns:
        """As `decode`, the events as EventColumns (contiguous arrays, as evt3 returns
        them; the event node's path)."""
        return concat_columns([columns_of(p) for p in self._parts(data, stats, streaming)])

    def _parts(self, data, stats: DecodeStats, streaming: bool) -> list:
        """The events of the next bytes, in order, as parts in the form their decoder gives
        them: EventColumns from evt3, EVENT_DTYPE arrays from `decode_evt3` (each caller
        converts once, to the form it returns)."""
        if type(data) is not bytes:
            data = as_bytes_array(data).tobytes()
        stats.packets += 1
        if self._leftover:
            data = self._leftover + data
            self._leftover = b""
        if len(data) & 1:
            if streaming:
                self._leftover = data[-1:]
            else:
                stats.truncated_bytes += 1
            data = data[:-1]
        n_words = len(data) >> 1
        stats.words += n_words
        if n_words == 0:
            return []
        parts = []
        if not self._synced:  # the start of the stream: its state words go to numpy
            end = self._state_known_after(data)
            parts.append(self._numpy(data[:end], stats))
            if end == len(data) or not self._synced:
                return parts
            data = data[end:]
        events = self._fast(data, stats)
        if events is None:
            self._hand_to_numpy()
            events = self._numpy(data, stats)
        parts.append(events)
        return parts

    def _numpy(self, data: bytes, stats: DecodeStats) -> np.ndarray:
        """Decode with `decode_evt3` from `self.state` (EVENT_DTYPE events), then hand the
        stream to evt3."""
        sub = DecodeStats()
        events, _ = decode_evt3(data, self.width, self.height, state=self.state, stats=sub)
        sub.packets = sub.words = 0  # counted by `_parts`
        stats.add(sub)
        self._hand_to_evt3()
        return events

    @staticmethod
    def _state_known_after(data: bytes) -> int:
        """Bytes after which the stream's first TIME_HIGH and ADDR_Y, and its first
        VECT_BASE_X if it has vector words, have been seen (all of `data` if never)."""
        kinds = np.frombuffer(data, "<u2") >> EVT3_TYPE_SHIFT
        needed = [EVT3_TIME_HIGH, EVT3_ADDR_Y]
        if np.any((kinds == EVT3_VECT_12) | (kinds == EVT3_VECT_8)):
            needed.append(EVT3_VECT_BASE_X)
        last = 0
        for kind in needed:
            at = np.flatnonzero(kinds == kind)
            if at.size == 0:
                return len(data)
            last = max(last, int(at[0]))
        return 2 * (last + 1)

    # --- the fast path ----------------------------------------------------------------------
    def _fast(self, data: bytes, stats: DecodeStats) -> EventColumns | None:
        """evt3 plus output checks; None when the data needs `decode_evt3` (nothing done)."""
        special = self._special(data)
        self._scan = (None, False, b"")  # the data's scan is used: hold it no longer
        n_corrupt = n_trigger = n_vectors = 0
        if special:
            if not self._base_ok:
                n_vectors = len(special.translate(None, _DROP_ALL_BUT_VECTORS))
                if n_vectors and not self._base_comes_first(data):
                    return None
            time_high = special.translate(None, _DROP_ALL_BUT_TIME_HIGH)
            if time_high and not self._time_high_agrees(time_high, data):
                return None
            n_trigger = len(special.translate(None, _DROP_ALL_BUT_TRIGGER))
            n_corrupt = len(special) - len(time_high) - n_trigger - n_vectors
        stats.corrupt_words += n_corrupt
        stats.triggers += n_trigger
        out = self._lib.feed(data)
        if n_vectors:  # the data's first vector word was a VECT_BASE_X: evt3 has a base now
            self._base_ok = True
        if len(out) == 0:
            return empty_columns()
        return self._checked(out.x, out.y, out.p, out.t.view(np.int64), stats)

    @staticmethod
    def _base_comes_first(data: bytes) -> bool:
        """Whether the first vector word (VECT_BASE_X, VECT_12, VECT_8: types 3-5) in `data`
        is a VECT_BASE_X, so that evt3 reads every vector from a base the data sets."""
        kinds = np.frombuffer(data, "<u2") >> EVT3_TYPE_SHIFT
        vector = (kinds >= EVT3_VECT_BASE_X) & (kinds <= EVT3_VECT_8)
        return bool(kinds[int(np.argmax(vector))] == EVT3_VECT_BASE_X)

    def _time_high_agrees(self, time_high: bytes, data: bytes) -> bool:
        """Whether both wrap rules read this data's TIME_HIGH words alike (then it is
        remembered as evt3's). time_high: the words' high bytes, in stream order."""
        prev = self._nibble
        if len(time_high) <= _SHORT_NIBBLE_RUN:
            safe = True
            for b in time_high:
                nib = b & _NIBBLE
                if (nib - prev) & _NIBBLE > 1 or (prev == _NIBBLE and nib == 0):
                    safe = False
                    break
                prev = nib
        else:
            nib = np.frombuffer(time_high, np.uint8) & _NIBBLE
            before = np.empty_like(nib)
            before[0], before[1:] = prev, nib[:-1]
            safe = not (((nib - before) & _NIBBLE > 1) | ((before == _NIBBLE) & (nib == 0))).any()
        if not safe:  # a jump, or a 15 -> 0 step: compare the rules on the exact values
            words = np.frombuffer(data, "<u2")
            values = (words[(words >> EVT3_TYPE_SHIFT) == EVT3_TIME_HIGH]
                      & EVT3_PAYLOAD_MASK).astype(np.int64)
            last = (int(self._lib.feed(_PROBE_TIME).t[0]) >> EVT3_TIME_LOW_BITS) \
                % EVT3_TIME_HIGH_PERIOD
            drop = np.empty_like(values)
            drop[0], drop[1:] = last - values[0], values[:-1] - values[1:]
            if ((drop >= EVT3_WRAP_DROP) & (drop < EVT3_LOOP_DROP)).any():
                return False
        self._nibble = time_high[-1] & _NIBBLE
        return True

    def _checked(self, x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray,
                 stats: DecodeStats) -> EventColumns:
        """Filter evt3's events as `decode_evt3` does: outside the sensor, then earlier than
        an event returned before (the stream's running maximum)."""
        n = x.size
        if self._offset:
            t = t + self._offset
        keep = None
        if int(y.max()) >= self.height or int(x.max()) >= self.width:
            keep = (x < self.width) & (y < self.height)
            stats.out_of_sensor += n - int(np.count_nonzero(keep))
            x, y, p, t = x[keep], y[keep], p[keep], t[keep]
        last = self.state.last_t_us
        if t.size and (t[0] < last or bool(np.less(t[1:], t[:-1]).any())):
            prior = np.empty(t.size, dtype=np.int64)
            prior[0] = last
            np.maximum(np.maximum.accumulate(t)[:-1], last, out=prior[1:])
            keep = t >= prior
            stats.time_backwards += t.size - int(np.count_nonzero(keep))
            x, y, p, t = x[keep], y[keep], p[keep], t[keep]
        stats.events += t.size
        if t.size:
            self.state.last_t_us = max(last, int(t[-1]))
        return EventColumns(x, y, t, p)

    # --- hand-over between evt3 and decode_evt3 -----------------------------------------------
    def _hand_to_numpy(self) -> None:
        """Read evt3's state into `self.state` (probe words) for `decode_evt3`."""
        probe = self._lib.feed(_PROBE_TIME)
        t = int(probe.t[0]) + self._offset
        s = self.state
        s.high, s.low, s.y = t >> EVT3_TIME_LOW_BITS, t & EVT3_PAYLOAD_MASK, int(probe.y[0])
        if self._base_ok:  # else self.state holds the base from before (no vector since)
            base = self._lib.feed(_PROBE_BASE)
            s.base_x, s.base_p = int(base.x[0]), int(base.p[0])
        self._synced = False

    def _hand_to_evt3(self) -> None:
        """Set evt3 to `self.state` once TIME_HIGH and ADDR_Y are known (else the next data
        goes to `decode_evt3` too)."""
        s = self.state
        if s.high < 0 or s.low < 0 or s.y < 0:
            return
        words = [_word(EVT3_TIME_HIGH, s.high), _word(EVT3_TIME_LOW, s.low),
                 _word(EVT3_ADDR_Y, s.y)]
        self._base_ok = 0 <= s.base_x <= EVT3_MAX_COORD
        if self._base_ok:
            words.append(_word(EVT3_VECT_BASE_X, s.base_x | (s.base_p << EVT3_POLARITY_BIT)))
        self._lib.reset()
        self._lib.feed(np.array(words, dtype="<u2").tobytes())
        self._offset = (s.high // EVT3_TIME_HIGH_PERIOD) * EVT3_TIME_WRAP_US
        self._nibble = (s.high >> _NIBBLE_SHIFT) & _NIBBLE
        self._synced = True


__all__ = ["EVT3_VERSION", "RustEvt3Decoder"]
