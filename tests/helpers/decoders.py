"""Running event tests with both EVT 3.0 decoders: the `evt3` package (Rust) and numpy.

`DECODERS` parametrizes a test over both. The `evt3` case is skipped only on platforms the
package has no wheel for (anything but Linux x86_64 here); on Linux x86_64 a missing package
fails the test, since setup.py requires it there.
"""

from __future__ import annotations

import platform
import sys

import numpy as np
import pytest

from neuroq.deploy.events import DecodeStats, make_evt3_decoder

EVT3_WHEEL_HERE = sys.platform == "linux" and platform.machine() == "x86_64"
"""setup.py requires `evt3` on Linux x86_64 (its wheels: manylinux_2_34 x86_64)."""

DECODERS = [
    "numpy",
    pytest.param("evt3", marks=pytest.mark.skipif(
        not EVT3_WHEEL_HERE, reason="the evt3 package has no wheel for this platform")),
]
"""pytest.mark.parametrize("decoder", DECODERS): the test runs with each decoder."""


def decode_with(decoder: str, data, width: int, height: int) -> tuple[np.ndarray, DecodeStats]:
    """Decode EVT 3.0 bytes (one call, a new stream) with `decoder`: (events, stats)."""
    stats = DecodeStats()
    events = make_evt3_decoder(width, height, decoder).decode(data, stats)
    return events, stats


def decode_chunks(decoder: str, chunks, width: int, height: int, *,
                  streaming: bool = False) -> tuple[np.ndarray, DecodeStats, list[int]]:
    """Decode consecutive chunks of one stream: (all events, stats, camera time after each)."""
    dec = make_evt3_decoder(width, height, decoder)
    stats = DecodeStats()
    parts, times = [], []
    for chunk in chunks:
        parts.append(dec.decode(chunk, stats, streaming=streaming))
        times.append(dec.time_us())
    return np.concatenate(parts), stats, times
