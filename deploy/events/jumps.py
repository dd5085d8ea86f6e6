"""A live stream's camera time checked against the host's clock (`TimeJumpGuard`).

A camera's clock and the host's advance together: between two takes of a live stream,
camera time cannot move on by much more than the host's clock did. Garbage can: a short
packet of defined EVT 3.0 word types (which `drop_corrupt` lets through: 11 of the 16
types are defined) holds a TIME_HIGH word that reads as seconds ahead. Decoded, such a
packet moved camera time 8.2 s ahead in an outsider's test (stop 37): the node acted on the
periods up to there, and skipped the real stream that followed as time going backwards.

The guard keeps a checkpoint of the stream's state and the batches decoded since (a new
checkpoint every CHECKPOINT_TAKES batches or CHECKPOINT_PACKETS packets: one per take cost
about 0.6 points of a core in the event node at 1 M events/s, in 4 paired runs). When a
batch moved camera time further ahead than

    reached_us > time_us + (now_ns - wall_ns) / 1000 + max_jump_us

(time_us: camera time the packets accepted before had reached; wall_ns: the host's
monotonic clock when they were taken), the stream is set back to the checkpoint, the
batches since are decoded again (silently: their events were handed out already), and the
batch is decoded packet by packet: a packet that moves camera time past that bound (from
the time the packets before it reached) is skipped whole, as if it had been lost: counted
in `DecodeStats.time_jumps`, the stream's state set back to before it.

A real jump is accepted on the next sign of it: a camera that restarts late in its 16.8 s
EVT 3.0 time cycle reads as a wrap, camera time really jumps ahead, and the next packet
that jumps too, with other bytes than the skipped one, reaches (from the same state) at
least the skipped packet's time less one TIME_HIGH period, and no more than that plus the
host time since plus `max_jump_us`: that packet is accepted. So a real jump costs one
packet (and the events of the packets between, which hold no TIME_HIGH word and are read
with the time before it, as after any lost packet); garbage followed by the real stream
costs the garbage only: the real stream's next TIME_HIGH word, accepted within the bound,
ends the wait for a confirmation (a review found the same garbage packet, sent again
within `max_jump_us`, confirming itself; a packet with the skipped one's bytes never
confirms it).

Not caught: garbage that moves camera time ahead by less than `max_jump_us` (a random
TIME_HIGH word does so with probability about max_jump_us / 16.8 s: 6 % at the default 1 s),
or back (time going backwards: its events are skipped as such); two different garbage
packets in a row that agree on a jump (to within one TIME_HIGH step); garbage in the first
take of a stream, or the first after a camera restart (no camera time to hold it to yet).
A stream whose publisher lost more than `max_jump_us` of camera time and then sends the
packets on either side of the gap back to back (no host time between them) reads as a jump
too: its first packet after the gap is skipped. Only for live streams: a file or a replay
faster than real time has no host clock to hold it to; `neuroq replay` sends time words
through the silences of a recording, as a sensor does, so that each of its packets moves
camera time by little (`KEEPALIVE_US`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuroq.deploy.events.evt3_words import (
    EVT3_TIME_HIGH,
    EVT3_TIME_HIGH_PERIOD,
    EVT3_TIME_LOW_BITS,
    EVT3_TYPE_SHIFT,
)
from neuroq.deploy.events.packets import (
    PacketDecoder,
    byte_string,
    is_evt3_encoding,
    packet_fields,
)
from neuroq.deploy.events.stats import DecodeStats
from neuroq.envs.event_array import EventColumns, concat_columns

NS_PER_US = 1000
CHECKPOINT_TAKES = 16
"""Batches decoded from one checkpoint at most (then a new one is taken)."""
CHECKPOINT_PACKETS = 256
"""Packets decoded from one checkpoint at most (they are kept, to decode them again)."""
DEFAULT_MAX_JUMP_MS = 1000.0
"""How much further than the host's clock camera time may move ahead between two takes (ms):
more than any backlog a live node acts on (max_lag_ms is 30 ms), less than the 8.2 s of
the outsider's garbage; a random TIME_HIGH word stays under it with probability about
1 s / 16.8 s (the 24-bit EVT 3.0 time range)."""
MIN_MAX_JUMP_MS = 100.0
"""The smallest `max_jump_ms` the event node takes (other than 0, no guard): under it a
backlog delivered at once (a node or a driver that fell behind by that much) would read as
a jump."""
TIME_HIGH_US = 1 << EVT3_TIME_LOW_BITS
"""One TIME_HIGH step (4096 us): a packet confirming a jump may reach that much less than
the skipped packet did (its TIME_LOW words come after the same TIME_HIGH)."""
assert TIME_HIGH_US * EVT3_TIME_HIGH_PERIOD == 1 << 24


@dataclass
class TimeJumpGuard:
    """Holds one live stream's camera time to the host's clock (see the module docstring).

    max_jump_us: how much further than the host's clock camera time may move ahead between
        two takes (us); 0 or less: no guard (every packet is decoded as it comes).
    time_us: camera time the accepted packets reached (-1: none yet, no bound).
    wall_ns: the host's monotonic clock (ns) when they were taken.
    pending_us, pending_ns: camera time a skipped packet reached (-1: none) and when it was
        skipped: a packet reaching about as far within max_jump_us confirms the jump.
    pending_data: the skipped packet's bytes (a packet holding the same never confirms it).
    """

    max_jump_us: int
    time_us: int = -1
    wall_ns: int = 0
    pending_us: int = -1
    pending_ns: int = 0
    pending_data: bytes = b""
    words_us: int = -1
    """Camera time the decoder's time words reached after the last `decode` (its
    `time_us()`, read once per take for both: the caller need not read it again)."""
    _checkpoint: object = field(default=None, repr=False)
    _since: list = field(default_factory=list, repr=False)  # batches decoded since it
    _since_packets: int = field(default=0, repr=False)
    _since_stats: DecodeStats = field(default_factory=DecodeStats, repr=False)

    def decode(self, decoder: PacketDecoder, msgs: list, now_ns: int) -> tuple[
            EventColumns, DecodeStats]:
        """Decode consecutive packets of one stream (`decode_many(..., columns=True,
        drop_corrupt=True)`), skipping a packet that jumps ahead (`time_jumps`); now_ns:
        the host's monotonic clock (ns) at this take. Returns (events, stats)."""
        if self.max_jump_us <= 0 or self.time_us < 0:
            self._checkpoint = None
            events, stats = decoder.decode_many(msgs, columns=True, drop_corrupt=True)
            self._accept(_reached(decoder, events, self.time_us, self), now_ns)
            return events, stats
        if (self._checkpoint is None or len(self._since) >= CHECKPOINT_TAKES
                or self._since_packets >= CHECKPOINT_PACKETS):
            self._checkpoint = decoder.checkpoint()
            self._since, self._since_packets, self._since_stats = [], 0, DecodeStats()
        events, stats = decoder.decode_many(msgs, columns=True, drop_corrupt=True)
        reached = _reached(decoder, events, self.time_us, self)
        if reached <= self._bound(now_ns):  # the usual case: one decode, one comparison
            if self.pending_us >= 0 and any(map(_holds_time_high, msgs)):
                self.pending_us = -1  # the stream's own time, within the bound: no jump
            self._accept(reached, now_ns)
            self._since.append(msgs)
            self._since_packets += len(msgs)
            self._since_stats.add(stats)
            return events, stats
        # back to the checkpoint, the batches since decoded again (their events are out
        # already; their counts are restored with them), then this one packet by packet
        decoder.restore(self._checkpoint, self._since_stats.add(stats))
        for earlier in self._since:
            decoder.decode_many(earlier, columns=True, drop_corrupt=True)
        self._checkpoint = None
        return self._one_by_one(decoder, msgs, now_ns)

    def _one_by_one(self, decoder: PacketDecoder, msgs: list, now_ns: int) -> tuple[
            EventColumns, DecodeStats]:
        parts, total = [], DecodeStats()
        for msg in msgs:
            checkpoint = decoder.checkpoint()
            events, stats = decoder.decode_many([msg], columns=True, drop_corrupt=True)
            reached = _reached(decoder, events, self.time_us, self)
            jumps = reached > self._bound(now_ns)
            data = _payload(msg) if jumps else b""
            if jumps and not self._confirms(reached, now_ns, data):
                decoder.restore(checkpoint, stats)
                skipped = DecodeStats(packets=1, time_jumps=1)
                decoder.stats.add(skipped)
                total.add(skipped)
                self.pending_us, self.pending_ns, self.pending_data = reached, now_ns, data
                continue
            if jumps or (self.pending_us >= 0 and _holds_time_high(msg)):
                self.pending_us = -1  # confirmed (the camera is there), or the stream's own
                # time within the bound
            self._accept(reached, now_ns)
            parts.append(events)
            total.add(stats)
        self.words_us = decoder.time_us()  # a skipped packet's was read before its undoing
        return concat_columns(parts), total

    def _bound(self, now_ns: int) -> int:
        return self.time_us + (now_ns - self.wall_ns) // NS_PER_US + self.max_jump_us

    def _confirms(self, reached: int, now_ns: int, data: bytes) -> bool:
        """Whether a packet of bytes `data` reaching `reached` confirms the jump of a
        skipped one."""
        if self.pending_us < 0 or data == self.pending_data:
            return False
        since_us = (now_ns - self.pending_ns) // NS_PER_US
        if since_us > self.max_jump_us:  # too long ago to be the same jump
            self.pending_us = -1
            return False
        return (self.pending_us - TIME_HIGH_US <= reached
                <= self.pending_us + since_us + self.max_jump_us)

    def _accept(self, reached: int, now_ns: int) -> None:
        self.time_us, self.wall_ns = reached, now_ns

    def reset(self) -> None:
        """A new stream (the camera restarted): no bound until its first packets."""
        self.time_us, self.pending_us, self.pending_data = -1, -1, b""
        self._checkpoint = None


def _payload(msg) -> bytes:
    """A packet's `events` bytes ((encoding, data, time_base, is_bigendian) tuples or
    EventPacket-like objects); b"" for data that is no byte buffer."""
    data = byte_string(packet_fields(msg)[1])
    return data if type(data) is bytes else b""


_TIME_HIGH_TYPE = np.uint16(EVT3_TIME_HIGH)


def _holds_time_high(msg) -> bool:
    """Whether a packet's whole little-endian words hold a TIME_HIGH word (evt3 packets)."""
    if not is_evt3_encoding(packet_fields(msg)[0]):
        return False
    data = _payload(msg)
    words = np.frombuffer(data, "<u2", len(data) >> 1)
    return bool(np.any((words >> EVT3_TYPE_SHIFT) == _TIME_HIGH_TYPE))


def _reached(decoder: PacketDecoder, events: EventColumns, before_us: int,
             guard: TimeJumpGuard | None = None) -> int:
    """Camera time the stream has reached: its time words, its newest event (events come
    out in time order), and no less than before; the time words' time is kept in
    `guard.words_us`."""
    words = decoder.time_us()
    if guard is not None:
        guard.words_us = words
    reached = max(before_us, words)
    if events.size:
        reached = max(reached, int(events["t"][-1]))
    return reached


__all__ = ["DEFAULT_MAX_JUMP_MS", "MIN_MAX_JUMP_MS", "TimeJumpGuard"]
