"""What a decode saw and skipped (`DecodeStats`), and the byte buffers decoders accept."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    out_of_sensor: events with x >= width or y >= height, skipped (the event node adds
        those left of or above its roi_x, roi_y window: `stream.crop_window`).
    time_backwards: events earlier than an event already returned in this stream, skipped.
    unknown_encoding: packets whose encoding string is not one of `ENCODINGS`, skipped whole.
    bad_payload: packets whose data is not bytes-like, or whose sensor size is invalid, or
        (`decode_many(..., drop_corrupt=True)`) evt3 packets flagged big endian: skipped
        whole.
    corrupt_packets: EVT 3.0 packets skipped whole because they hold a corrupt word
        (`PacketDecoder.decode_many(..., drop_corrupt=True)`, the event node's choice); their
        corrupt words are counted in corrupt_words, nothing else of them is read.
    time_jumps: packets skipped whole because they moved camera time ahead by more than
        the host's clock advanced plus a bound (`TimeJumpGuard`, the event node's
        `max_jump_ms`): garbage that reads as time words. Nothing of them is read.
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
    corrupt_packets: int = 0
    time_jumps: int = 0

    PROBLEMS = (
        "truncated_bytes",
        "corrupt_words",
        "missing_state",
        "out_of_sensor",
        "time_backwards",
        "unknown_encoding",
        "bad_payload",
        "time_jumps",
    )
    EVENT_PROBLEMS = ("missing_state", "out_of_sensor", "time_backwards")
    """The problem counters that count events (the others count bytes, words or packets)."""
    PACKET_PROBLEMS = ("corrupt_packets",)
    """Packets skipped whole whose words are counted in PROBLEMS already (not in
    `skipped`: each word would count twice)."""
    REPORTED = PROBLEMS + PACKET_PROBLEMS
    """Every counter a diagnostic names (`diagnostic`, the event node's diagnostics)."""

    @property
    def skipped(self) -> int:
        """Total of the problem counters (bytes, words, events and packets alike): non-zero
        when anything was skipped. For a count of one unit, read the counters or
        `skipped_events`."""
        return sum(getattr(self, name) for name in self.PROBLEMS)

    @property
    def skipped_events(self) -> int:
        """Events decoded and skipped (EVENT_PROBLEMS: missing state, outside the sensor,
        time going backwards). Words, bytes and packets skipped whole are not events and
        are not in it."""
        return sum(getattr(self, name) for name in self.EVENT_PROBLEMS)

    def add(self, other: DecodeStats) -> DecodeStats:
        """Add another `DecodeStats` into this one (in place) and return self."""
        mine = self.__dict__  # decoders add per call: only the counters that are not 0
        for name, value in other.__dict__.items():
            if value:
                mine[name] += value
        return self

    def subtract(self, other: DecodeStats) -> DecodeStats:
        """Take another `DecodeStats` off this one (in place; a decode undone) and return
        self."""
        mine = self.__dict__
        for name, value in other.__dict__.items():
            if value:
                mine[name] -= value
        return self

    def diagnostic(self) -> str:
        """One line naming the non-zero problem counters, or '' when there are none."""
        parts = [f"{name}={getattr(self, name)}"
                 for name in self.REPORTED if getattr(self, name)]
        return ("skipped: " + ", ".join(parts)) if parts else ""




def as_bytes_array(data) -> np.ndarray:
    """A buffer (bytes, bytearray, memoryview, array.array, an ndarray of at least one
    dimension: its raw bytes, whatever its item type), or a sequence of byte values (ints in
    [0, 255], as some message bindings give) -> uint8 ndarray (no copy where possible).
    TypeError or ValueError for anything else (an int, a float, a string, a list holding 300
    or 1.5: they were read as bytes, an outsider); callers count it in bad_payload."""
    if isinstance(data, np.generic) or (isinstance(data, np.ndarray) and data.ndim == 0):
        # a number has a buffer too, its own bytes: no payload (a review)
        raise TypeError(f"not a byte payload: a {type(data).__name__} number")
    if isinstance(data, np.ndarray):  # its raw bytes (EVT 3.0 words as uint16, too)
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:  # not a buffer: a sequence of byte values, else not a payload
        if isinstance(data, (str, bytes)) or np.ndim(data) != 1:
            raise TypeError(f"not a byte payload: {type(data).__name__}") from None
        values = np.asarray(data)
        if values.size and (values.dtype.kind not in "iu" or values.min() < 0
                            or values.max() > 255):
            raise ValueError("not a byte payload: values other than integers in "
                             "[0, 255]") from None
        return values.astype(np.uint8)


