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


class Pacer:
    """Releases camera times no earlier than the recording allows: the first time given
    sets the origin (camera time t_first at wall time w_first, `clock()`), and a later time t
    is due at w_first + (t - t_first) / US_PER_S / speed seconds. speed=2 replays twice as
    fast; speed=float('inf') never waits. `clock` and `sleep` default to time.monotonic and
    time.sleep (tests pass fakes; `neuroq replay` a sleep that a stop request cuts short)."""

    def __init__(self, speed: float = 1.0, clock=None, sleep=None):
        if not speed > 0:
            raise NeuroqError(f"Pacer: speed must be > 0, got {speed}")
        self.speed = speed
        self.clock = time.monotonic if clock is None else clock
        self.sleep = time.sleep if sleep is None else sleep
        self._origin: tuple[float, int] | None = None  # (wall s, camera us) of the first

    def wait_for(self, t_us: int) -> None:
        """Return once camera time `t_us` is due (at once for the first time given)."""
        if self._origin is None:
            self._origin = (self.clock(), int(t_us))
            return
        if self.speed == float("inf"):
            return
        wall0, t0 = self._origin
        delay = wall0 + (int(t_us) - t0) / US_PER_S / self.speed - self.clock()
        if delay > 0:
            self.sleep(delay)


def paced(packets, speed: float = 1.0, clock=None, sleep=None) -> Iterator[np.ndarray]:
    """Yield packets no earlier than their sensor time allows (`Pacer`): a packet whose
    first event is at t is released (t - t_first) / speed seconds after the first one.
    speed=2 replays twice as fast; speed=float('inf') does not wait. Empty packets are
    dropped. `clock` and `sleep` default to time.monotonic and time.sleep (tests pass
    fakes)."""
    pacer = Pacer(speed, clock, sleep)
    for packet in packets:
        if packet.size == 0:
            continue
        pacer.wait_for(int(packet["t"][0]))
        yield packet
