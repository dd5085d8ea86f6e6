"""The `mono` encoding of event_camera_msgs (deprecated upstream, still read).

64-bit words: bit 63 polarity, bits 48-62 y, bits 32-47 x, bits 0-31 a time offset in
nanoseconds added to the packet's `time_base` (ns). Source: event_camera_msgs README
(ros-event-camera).
"""

from __future__ import annotations

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events.stats import DecodeStats, as_bytes_array
from neuroq.envs.event_array import check_events, empty_events, make_events

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



# ------------------------------------------------------------------------------------------
# mono
# ------------------------------------------------------------------------------------------
def encode_mono(events: np.ndarray, time_base_ns: int) -> np.ndarray:
    """Encode events in the `mono` layout (uint64 array, little-endian on `.tobytes()`).

    time_base_ns: the packet's time_base; each event stores t*1000 - time_base_ns, which
        must lie in [0, 2^32) ns: keep packets shorter than 4.29 s.
    """
    events = check_events(events, "encode_mono")
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
    raw = as_bytes_array(data)
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


