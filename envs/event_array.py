"""The in-memory event array that the DVS emulator produces and the codecs read.

Events are a numpy structured array of `EVENT_DTYPE`: x, y in pixels (origin top left), t in
microseconds, p = 1 for ON (brighter) and 0 for OFF (darker). Gymnasium envs put the column
form (`to_columns`) in `info`, because `check_env` cannot compare structured arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
"""One event: x, y (pixels, origin top left), t (microseconds), p (1 = ON, 0 = OFF)."""


def empty_events() -> np.ndarray:
    """An empty event array."""
    return np.zeros(0, dtype=EVENT_DTYPE)


def make_events(x, y, t, p) -> np.ndarray:
    """Build an event array from four equal-length sequences."""
    x, y, t, p = (np.asarray(a) for a in (x, y, t, p))
    if not (x.shape == y.shape == t.shape == p.shape) or x.ndim != 1:
        raise ValueError(
            f"make_events: x, y, t, p must be 1-D and of one length, got shapes "
            f"{x.shape}, {y.shape}, {t.shape}, {p.shape}"
        )
    out = np.empty(x.size, dtype=EVENT_DTYPE)
    out["x"], out["y"], out["t"], out["p"] = x, y, t, p
    return out


def pooled_input_index(x, y, p, width: int, height: int, pool: int = 1) -> np.ndarray:
    """For each event, its input neuron (or count bin): `(p * rows + y // pool) * cols +
    x // pool` with rows = height // pool, cols = width // pool (pool divides both; the
    events must lie on the sensor). An intp array; a power-of-two pool divides by a shift,
    which floors as // does (numpy's shift of signed integers is arithmetic) and is faster."""
    pool = int(pool)
    rows, cols = height // pool, width // pool
    index = np.asarray(x).astype(np.intp)  # one new array, updated in place
    row = np.asarray(y).astype(np.intp)
    if pool > 1:
        shift = pool.bit_length() - 1
        if pool == 1 << shift:
            index >>= shift
            row >>= shift
        else:
            index //= pool
            row //= pool
    row *= cols
    index += row
    index += np.asarray(p).astype(np.intp) * (rows * cols)
    return index


class EventColumns(NamedTuple):
    """Events as four 1-D arrays of one length (x, y: uint16 pixels; t: int64 us; p: 0/1),
    time order where a decoder returns them. The hot path of a live stream (the event
    node: decoder -> period windows -> input spikes) keeps this form: filling the packed
    13-byte records of EVENT_DTYPE field by field cost about 10 ns per event here, more
    than decoding them (`neuroq.deploy.events.evt3_rust`). A tuple of the four columns:
    `len()` and iteration see the columns, so the number of events is `.size`, and a
    function that takes a list of event sets must not be given one EventColumns bare."""

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray

    @property
    def size(self) -> int:
        return int(self.t.size)

    def __getitem__(self, key):  # ev["t"] as on an event array; ev[i] as on a tuple
        return getattr(self, key) if isinstance(key, str) else tuple.__getitem__(self, key)

    def take(self, start: int, stop: int) -> EventColumns:
        """Events start..stop (views)."""
        return EventColumns(self.x[start:stop], self.y[start:stop], self.t[start:stop],
                            self.p[start:stop])

    def events(self) -> np.ndarray:
        """As an EVENT_DTYPE array (a copy)."""
        return make_events(self.x, self.y, self.t, self.p)


def empty_columns() -> EventColumns:
    """No events, as columns."""
    return EventColumns(np.zeros(0, np.uint16), np.zeros(0, np.uint16), np.zeros(0, np.int64),
                        np.zeros(0, np.uint8))


def columns_of(events) -> EventColumns:
    """An EVENT_DTYPE array's fields as EventColumns (views, no copy); columns as they are."""
    if isinstance(events, EventColumns):
        return events
    events = check_events(events, "columns_of")
    return EventColumns(events["x"], events["y"], events["t"], events["p"])


def concat_columns(parts) -> EventColumns:
    """Concatenate EventColumns (one part is returned as is, none gives no events)."""
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return empty_columns()
    return EventColumns(*(np.concatenate(c) for c in zip(*parts, strict=True)))


def to_columns(events: np.ndarray) -> dict[str, np.ndarray]:
    """Events as a dict of column arrays {"x", "y", "t", "p"} (copies).

    Indexing by field name works the same on both forms (`ev["t"]`). Gymnasium envs put
    this form in `info`, because gymnasium's `check_env` cannot compare structured arrays.
    """
    events = check_events(events, "to_columns")
    return {name: np.ascontiguousarray(events[name]) for name in EVENT_DTYPE.names}


def from_columns(columns) -> np.ndarray:
    """The inverse of `to_columns`; also accepts an event array (returned as is)."""
    if isinstance(columns, np.ndarray) and columns.dtype == EVENT_DTYPE:
        return columns
    try:
        return make_events(*(columns[name] for name in EVENT_DTYPE.names))
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(
            "from_columns: expected a mapping with arrays 'x', 'y', 't', 'p' (as in "
            f"info['events']) or an EVENT_DTYPE array, got {type(columns).__name__}"
        ) from exc


def check_events(events: np.ndarray, who: str) -> np.ndarray:
    events = np.asarray(events)
    if events.dtype != EVENT_DTYPE:
        raise ValueError(
            f"{who}: events must be a structured array of neuroq.envs.event_array.EVENT_DTYPE "
            f"(x, y, t, p), got dtype {events.dtype}; build one with make_events()"
        )
    if events.ndim != 1:
        raise ValueError(f"{who}: events must be 1-D, got shape {events.shape}")
    return events




_EVENT_BYTES = np.dtype((np.void, EVENT_DTYPE.itemsize))
"""EVENT_DTYPE as opaque 13-byte records: numpy copies those with memcpy, while it copies
the packed structured dtype field by field (30 times slower, numpy 2.4)."""


def concat_events(parts) -> np.ndarray:
    """Concatenate event arrays (one part is returned as is, none gives an empty array)."""
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return empty_events()
    return np.concatenate([p.view(_EVENT_BYTES) for p in parts]).view(EVENT_DTYPE)
