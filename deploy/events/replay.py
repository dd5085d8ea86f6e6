"""Cut recorded events into driver-sized packets and pace them in real time."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events.mono import US_PER_S
from neuroq.envs.event_array import check_events, concat_events, empty_events

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
        events = check_events(events, "packetize")
        if events.size == 0:
            continue
        pending = concat_events([pending, events]) if pending.size else events
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


