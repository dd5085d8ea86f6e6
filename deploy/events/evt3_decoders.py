"""Which EVT 3.0 decoder a stream gets: the `evt3` package where it is installed, numpy else.

Both decoders keep one stream's state and have one interface:

    decoder = make_evt3_decoder(width, height)   # "auto", "evt3" or "numpy"
    events = decoder.decode(data, stats, streaming=False)  # EVENT_DTYPE; counts in stats
    columns = decoder.decode_columns(data, stats)   # the same as EventColumns (x, y, t, p)
    decoder.corrupt_words(data)  # words of an undefined type in these bytes (decodes nothing)
    decoder.time_us()       # camera time the stream has reached (-1 before TIME_HIGH)
    decoder.checkpoint()    # the stream's state now; decoder.restore(it) goes back there
    decoder.last_t_us       # last event time returned (-1: none), read and set
    decoder.pending_bytes   # a trailing odd byte kept by streaming=True (0 or 1)
    decoder.name            # "evt3 0.4.1 (Rust, PyPI)" or "numpy": what to log

They return the same events and counters on any stream (tests/test_events.py runs the event
tests with both; the one known difference is in `evt3_rust`'s docstring). The `evt3`
package ships wheels for Linux x86_64 with glibc >= 2.34, macOS arm64 and Windows only (0.4.1:
no Linux aarch64 wheel, no sdist), so on a Jetson or a Raspberry Pi "auto" is numpy.
"""

from __future__ import annotations

import functools
from typing import Protocol

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events.evt3_numpy import NumpyEvt3Decoder
from neuroq.deploy.events.stats import DecodeStats
from neuroq.envs.event_array import EventColumns

EVT3_DECODERS = ("auto", "evt3", "numpy")
"""auto: the `evt3` package if it imports, else numpy; evt3: the package or an error."""


class Evt3StreamDecoder(Protocol):
    name: str
    last_t_us: int

    @property
    def pending_bytes(self) -> int: ...

    def decode(self, data, stats: DecodeStats, *, streaming: bool = False) -> np.ndarray: ...

    def decode_columns(self, data, stats: DecodeStats, *,
                       streaming: bool = False) -> EventColumns: ...

    def corrupt_words(self, data: bytes) -> int: ...

    def time_us(self) -> int: ...

    def checkpoint(self) -> object: ...

    def restore(self, checkpoint: object) -> None: ...


@functools.cache
def evt3_package() -> tuple[type | None, str]:
    """(the `evt3`-backed decoder class, '') or (None, why the package cannot be used)."""
    try:
        from neuroq.deploy.events.evt3_rust import RustEvt3Decoder  # noqa: PLC0415
    except ImportError as exc:  # no wheel for this platform, or not installed
        return None, f"{type(exc).__name__}: {exc}"
    return RustEvt3Decoder, ""


def make_evt3_decoder(width: int, height: int, decoder: str = "auto") -> Evt3StreamDecoder:
    """A decoder for one EVT 3.0 stream of a width x height sensor (see the module docstring).

    Raises NeuroqError for an unknown `decoder`, or for "evt3" where the package is missing.
    """
    if decoder not in EVT3_DECODERS:
        raise NeuroqError(f"EVT 3.0 decoder must be one of {', '.join(EVT3_DECODERS)}, "
                          f"got {decoder!r}")
    if decoder != "numpy":
        rust, why = evt3_package()
        if rust is not None:
            return rust(width, height)
        if decoder == "evt3":
            raise NeuroqError(
                f"the `evt3` package cannot be used ({why}): `pip install evt3` (wheels for "
                "Linux x86_64 with glibc >= 2.34, macOS arm64, Windows), or choose the "
                "numpy decoder")
    return NumpyEvt3Decoder(width, height)


def evt3_decoder_name(decoder: str = "auto") -> str:
    """What `make_evt3_decoder(.., decoder)` uses, for logs: "evt3 0.4.1 (Rust, PyPI)", or
    "numpy" with the reason the package is not used."""
    if decoder != "numpy":
        rust, why = evt3_package()
        if rust is not None:
            return rust.name
        return f"numpy (the evt3 package is not available: {why})"
    return "numpy (chosen)"
