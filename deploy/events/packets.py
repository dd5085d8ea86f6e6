"""EventPacket payloads: decode and encode by encoding name (`evt3`, `mono`); `PacketDecoder`
keeps one stream's decoder state from packet to packet."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError, counted
from neuroq.deploy.events.evt3_decoders import make_evt3_decoder
from neuroq.deploy.events.evt3_encode import encode_evt3, sort_events
from neuroq.deploy.events.evt3_numpy import count_corrupt_words
from neuroq.deploy.events.mono import MONO_DT_MASK, NS_PER_US, decode_mono, encode_mono
from neuroq.deploy.events.stats import DecodeStats, as_bytes_array
from neuroq.envs.event_array import (
    check_events,
    columns_of,
    concat_columns,
    concat_events,
    empty_columns,
    empty_events,
)

ENCODINGS = ("evt3", "mono")
"""Encodings `decode_packet` reads (the `encoding` field of EventPacket)."""
JOIN_BYTES = 1 << 16
"""`decode_many` decodes joined evt3 packets in calls of about this many bytes (64 KiB): per
event, calls much larger than that decoded slower here (475 KiB: 30 against 50 M events
per CPU-second with 48-95 KiB; sparse events, `evt3` decoder), as data and events leave
the CPU's cache."""



# ------------------------------------------------------------------------------------------
# EventPacket-level decoding
# ------------------------------------------------------------------------------------------
def decode_packet(
    encoding: str,
    data,
    time_base: int,
    width: int,
    height: int,
    *,
    is_bigendian: bool = False,
    decoder: str = "auto",
) -> tuple[np.ndarray, DecodeStats]:
    """Decode one `event_camera_msgs/EventPacket` payload on its own (no stream state).

    encoding: the packet's `encoding` ("evt3" or "mono"); anything else is counted in
        `unknown_encoding` and yields no events.
    data: the packet's `events` bytes (bytes, bytearray, array.array or uint8 ndarray).
    time_base: the packet's `time_base` in ns (used by `mono`; undefined for `evt3`, whose
        times are the sensor's, reconstructed from the words).
    width, height: sensor size; events outside it are counted and skipped.
    decoder: the EVT 3.0 decoder, "auto", "evt3" or "numpy" (`make_evt3_decoder`).
    Never raises on bad data (a bad sensor size is data: counted in `bad_payload`); raises
    NeuroqError for an unusable `decoder`. For a stream of packets whose EVT 3.0 state
    carries over from one packet to the next (as from `metavision_driver`), use
    `PacketDecoder`.
    """
    try:
        w, h = int(width), int(height)
    except (TypeError, ValueError, OverflowError):
        w = h = 0
    if w <= 0 or h <= 0:
        return empty_events(), DecodeStats(packets=1, bad_payload=1)
    packets = PacketDecoder(w, h, decoder)
    return packets.decode(encoding, data, time_base, is_bigendian=is_bigendian)


def encode_packet(encoding: str, events: np.ndarray) -> tuple[bytes, int]:
    """Pack events for an EventPacket: returns (the `events` bytes, the `time_base` in ns).

    "evt3": self-contained EVT 3.0 words (each packet starts with TIME_HIGH, TIME_LOW and
    ADDR_Y), time_base = the first event's time in ns (informative; evt3 readers ignore it).
    "mono": time_base = the first event's time in ns, offsets relative to it.
    Raises NeuroqError for other encodings.
    """
    events = sort_events(check_events(events, "encode_packet"))
    time_base_ns = int(events["t"][0]) * NS_PER_US if events.size else 0
    if encoding == "evt3":
        return encode_evt3(events).astype("<u2").tobytes(), time_base_ns
    if encoding == "mono":
        return encode_mono(events, time_base_ns).astype("<u8").tobytes(), time_base_ns
    raise NeuroqError(f"encode_packet: encoding must be one of {ENCODINGS}, got {encoding!r}")


def packet_fields(packet) -> tuple[Any, Any, Any, Any]:
    """(encoding, data, time_base, is_bigendian) of a packet given as that tuple or as an
    object with those EventPacket attributes."""
    if isinstance(packet, tuple):
        return packet
    return packet.encoding, packet.events, packet.time_base, packet.is_bigendian


def is_evt3_encoding(encoding) -> bool:
    """Whether a packet's `encoding` names EVT 3.0 ("evt3", any case and spaces around)."""
    return isinstance(encoding, str) and (encoding == "evt3"
                                          or encoding.strip().lower() == "evt3")


def skip_details(packets, stats: DecodeStats) -> str:
    """What the packets that `stats` counts in unknown_encoding and (big-endian evt3)
    bad_payload declared, for the line that reports them: '' when there are none, else
    "; ..." naming the encodings received (at most 3, each cut to 40 characters) and those
    read, and how many evt3 packets were flagged big endian (an outsider: "skipped:
    unknown_encoding=2" named neither the string sent nor the ones accepted). Packets of
    the other encoding than their label: `mislabelled`."""
    parts = []
    if stats.unknown_encoding:
        unknown = []
        for packet in packets:
            enc = packet_fields(packet)[0]
            key = enc.strip().lower() if isinstance(enc, str) else None
            if key not in ENCODINGS and len(unknown) < 3:
                shown = repr(enc) if len(repr(enc)) <= 40 else repr(enc)[:37] + "..."
                if shown not in unknown:
                    unknown.append(shown)
        parts.append(f"encoding {', '.join(unknown)} received; this node reads "
                     f"{' and '.join(map(repr, ENCODINGS))} (any case, spaces around "
                     "ignored)")
    if stats.bad_payload:
        big = sum(1 for enc, _, _, flagged in map(packet_fields, packets)
                  if flagged and is_evt3_encoding(enc))
        if big:
            parts.append(f"{counted(big, 'evt3 packet')} flagged is_bigendian: EVT 3.0 is "
                         "little endian by definition, so the flag or the payload is wrong")
    return "".join(f"; {part}" for part in parts)


MISLABEL_MIN_BYTES = 32
"""The fewest payload bytes `mislabelled` judges (16 EVT 3.0 words, 4 mono words): EVT 3.0
bytes read as mono words go back in time at about half of their steps, and 4 words give 3
steps."""
MISLABEL_BACKWARDS_SHARE = 0.25
"""EVT 3.0 bytes labelled mono: at least this share of the steps between consecutive mono
words goes back in time (mono events come in time order; EVT 3.0 words read as mono
offsets jump, about half of the steps back)."""


def mislabelled(packets, stats: DecodeStats, sensor: tuple[int, int] | None = None
                ) -> tuple[int, str]:
    """Packets whose bytes are the other encoding than their label, and a line naming them
    ((0, '') for none), judged only when `stats` counts what such packets cause (not per
    packet of a clean stream; the label is read before the payload):
    - "mono" packets that hold EVT 3.0 words: no word of an undefined EVT 3.0 type, and
      read as mono words their times go back at MISLABEL_BACKWARDS_SHARE of the steps or
      more (mono events come in time order, so a genuine mono stream with events outside
      the sensor is never taken for one); when mono decoding skipped bytes or events;
    - "evt3" packets that hold mono words: read as mono, every event on the `sensor`
      (width, height), in time order, nothing skipped; when EVT 3.0 decoding found corrupt
      words (needs `sensor`).
    An outsider's EVT 3.0 stream labelled mono read as "skipped: truncated_bytes=22,
    out_of_sensor=6498" (with a window only as outside_window), and nothing named the
    label."""
    mono_problems = stats.truncated_bytes or stats.out_of_sensor or stats.time_backwards
    corrupt = bool(stats.corrupt_words) and sensor is not None
    if not (mono_problems or corrupt):
        return 0, ""
    evt3_as_mono = mono_as_evt3 = 0
    for enc, data, _, big in map(packet_fields, packets):
        mono = bool(mono_problems) and isinstance(enc, str) and enc.strip().lower() == "mono"
        if not (mono or (corrupt and is_evt3_encoding(enc))):
            continue
        raw = byte_string(data)
        if type(raw) is not bytes or len(raw) < MISLABEL_MIN_BYTES:
            continue
        if mono:
            evt3_as_mono += _reads_as_evt3(raw, big)
        else:
            mono_as_evt3 += _reads_as_mono(raw, big, *sensor)
    if evt3_as_mono:
        return evt3_as_mono, (
            f"EVT 3.0 words in {counted(evt3_as_mono, 'packet')} labelled 'mono' (no "
            "undefined word type; read as mono, their times jump back and forth): is the "
            "camera driver's encoding evt3? Read as mono they are garbage")
    if mono_as_evt3:
        return mono_as_evt3, (
            f"mono events (each on the sensor, in time order) in "
            f"{counted(mono_as_evt3, 'packet')} labelled 'evt3': is the camera driver's "
            "encoding mono? Read as EVT 3.0 they are corrupt words")
    return 0, ""


def _reads_as_evt3(raw: bytes, big: bool) -> bool:
    """Whether `raw`, labelled mono, holds EVT 3.0 words: whole 16-bit words of defined
    types only, whose reading as mono words goes back in time at MISLABEL_BACKWARDS_SHARE
    of the steps or more."""
    if len(raw) % 2 or count_corrupt_words(raw):
        return False
    whole = len(raw) - len(raw) % 8
    offsets = (np.frombuffer(raw[:whole], ">u8" if big else "<u8")
               & np.uint64(MONO_DT_MASK)).astype(np.int64)
    steps = np.diff(offsets)
    return steps.size >= 3 and np.count_nonzero(steps < 0) >= MISLABEL_BACKWARDS_SHARE * steps.size


def _reads_as_mono(raw: bytes, big: bool, width: int, height: int) -> bool:
    """Whether `raw` decodes as mono words with no byte, event or time skipped."""
    if len(raw) % 8:
        return False
    events, st = decode_mono(raw, 0, width, height, is_bigendian=bool(big))
    return events.size > 0 and not st.skipped


def byte_string(data):
    """`data` as bytes (a copy of a buffer), or as it is if it is no byte buffer."""
    if type(data) is bytes:
        return data
    try:
        return bytes(memoryview(data).cast("B"))
    except TypeError:
        return data


def _joinable_size(data) -> int:
    """Bytes of `data` where it is a C-contiguous buffer (`bytes.join` takes it as it is),
    else 1 (odd: `decode_many` decodes it on its own, through `as_bytes_array`)."""
    if type(data) is bytes:  # the usual payload: no view needed
        return len(data)
    try:
        view = memoryview(data)
    except TypeError:
        return 1
    return view.nbytes if view.c_contiguous else 1


def _corrupt_words(data) -> int:
    """Words of an undefined type in an EVT 3.0 packet's whole (little-endian) words (0 for
    data that is no byte buffer: decoding counts it)."""
    raw = byte_string(data)
    return count_corrupt_words(raw) if type(raw) is bytes else 0


class PacketDecoder:
    """Decodes a stream of EventPackets from one camera, keeping state between packets.

    EVT 3.0 state (time, row, vector base) and the last event time carry over, so packets cut
    anywhere in the word stream decode correctly and time going backwards across packets is
    caught. `stats` accumulates over the stream.

    decoder: the EVT 3.0 decoder, "auto" (the `evt3` package where installed, else numpy),
        "evt3" or "numpy" (`make_evt3_decoder`); `decoder_name` says which one runs.
    Raises NeuroqError for a non-positive sensor size or an unusable `decoder`.
    """

    def __init__(self, width: int, height: int, decoder: str = "auto"):
        if width <= 0 or height <= 0:
            raise NeuroqError(f"PacketDecoder: sensor size must be positive, got {width}x{height}"
                              " (the packet's width and height fields)")
        self.width = int(width)
        self.height = int(height)
        self.evt3 = make_evt3_decoder(self.width, self.height, decoder)
        self.stats = DecodeStats()

    @property
    def decoder_name(self) -> str:
        """The EVT 3.0 decoder in use, e.g. "evt3 0.4.1 (Rust, PyPI)" or "numpy"."""
        return self.evt3.name

    def time_us(self) -> int:
        """Camera time the stream has reached: EVT 3.0 time words advance it even when no
        pixel fires (-1 before the first TIME_HIGH)."""
        return self.evt3.time_us()

    def checkpoint(self) -> object:
        """The stream's state now, for `restore` (the EVT 3.0 decoder's, the last event
        time included)."""
        return self.evt3.checkpoint()

    def restore(self, checkpoint: object, undone: DecodeStats) -> None:
        """Set the stream back to a `checkpoint`, as if the packets decoded since had never
        come; `undone`, the stats those decodes returned, is taken off `stats`."""
        self.evt3.restore(checkpoint)
        self.stats.subtract(undone)

    def decode(
        self, encoding: str, data, time_base: int = 0, *, is_bigendian: bool = False,
        columns: bool = False,
    ) -> tuple[Any, DecodeStats]:
        """Decode one packet; returns (events, stats of this packet) and adds to `stats`;
        the events as EventColumns with `columns`, else an EVENT_DTYPE array."""
        stats = DecodeStats()
        enc = encoding.strip().lower() if isinstance(encoding, str) else ""
        try:
            events = self._decode(enc, data, time_base, is_bigendian, stats, columns)
        except (TypeError, ValueError, OverflowError):  # data that is not a byte buffer
            stats = DecodeStats(packets=1, bad_payload=1)
            events = empty_columns() if columns else empty_events()
        self.stats.add(stats)
        return events, stats

    def decode_many(self, packets, *, columns: bool = False,
                    drop_corrupt: bool = False) -> tuple[Any, DecodeStats]:
        """Decode consecutive packets of this stream in one pass: `packets` is a sequence of
        (encoding, data, time_base, is_bigendian) tuples (or objects with those EventPacket
        attributes). Runs of evt3 packets are joined (up to JOIN_BYTES) and decoded together,
        which gives the same events as decoding them one by one with a fraction of the
        per-packet cost (the EVT 3.0 state carries across packet borders anyway). Returns
        (events, stats); the events as EventColumns with `columns` (no EVENT_DTYPE array is
        built: the event node's path), else an EVENT_DTYPE array.

        drop_corrupt: an evt3 packet that holds a word of an undefined type is skipped whole
        (counted in corrupt_packets, its corrupt words in corrupt_words) instead of decoded.
        Such a packet is garbage, and its other words would be read as events and time: a
        random payload's TIME_HIGH words, read as wraps, moved camera time ahead by minutes
        and for good. The stream's state is then as if the packet had been lost. An evt3
        packet flagged big endian is skipped whole too (bad_payload): EVT 3.0 is little
        endian by definition, and byte-swapped words are garbage. Not caught: garbage made
        only of defined word types (a random word has an undefined type with probability
        5/16, so n random words escape with (11/16)^n: 0.47 for 2 words, 1e-4 for 25)."""
        stats = DecodeStats()
        parts: list = []
        run: list = []
        run_bytes = 0

        def skip(skipped: DecodeStats) -> None:  # a packet skipped whole, counted
            self.stats.add(skipped)
            stats.add(skipped)

        def corrupt_skipped(data) -> bool:
            corrupt = _corrupt_words(data)
            if corrupt:
                skip(DecodeStats(packets=1, corrupt_packets=1, corrupt_words=corrupt))
            return bool(corrupt)

        def flush() -> None:
            nonlocal run_bytes
            run_bytes = 0
            if not run:
                return
            good = run[:]  # contiguous buffers (the loop's check): joined as they are
            run.clear()
            joined = b"".join(good)
            # whole words, each packet's own: one check for the run (the decoder keeps its
            # scan for decoding these bytes next), then per packet
            if drop_corrupt and self.evt3.corrupt_words(joined):
                good = [d for d in good if not corrupt_skipped(d)]
                if not good:
                    return
                joined = b"".join(good)
            # whole little-endian words in bytes: nothing `decode` would catch (straight to
            # the EVT 3.0 decoder, as its own fixed cost is a fifth of a 10-packet call's)
            st = DecodeStats(packets=len(good) - 1)
            parts.append(self.evt3.decode_columns(joined, st) if columns
                         else self.evt3.decode(joined, st))
            self.stats.add(st)
            stats.add(st)

        for packet in packets:
            enc, data, time_base, big = packet_fields(packet)
            is_evt3 = is_evt3_encoding(enc)
            if is_evt3 and not big:
                size = _joinable_size(data)
                if size % 2 == 0:  # odd-sized or non-buffer packets are decoded on their own
                    run.append(data)
                    run_bytes += size
                    if run_bytes >= JOIN_BYTES:
                        flush()
                    continue
            flush()
            if is_evt3 and drop_corrupt:
                if big:  # EVT 3.0 is little endian by definition
                    skip(DecodeStats(packets=1, bad_payload=1))
                    continue
                if corrupt_skipped(data):  # odd-sized: checked on its own
                    continue
            events, st = self.decode(enc, data, time_base, is_bigendian=big, columns=columns)
            parts.append(events)
            stats.add(st)
        flush()
        return (concat_columns(parts) if columns else concat_events(parts)), stats

    def _decode(self, enc: str, data, time_base, is_bigendian: bool,
                stats: DecodeStats, columns: bool) -> Any:
        if enc == "evt3":
            if is_bigendian:
                raw = as_bytes_array(data)
                stats.truncated_bytes += raw.size % 2
                data = raw[: raw.size - raw.size % 2].view(">u2").astype("<u2").tobytes()
            if columns:
                return self.evt3.decode_columns(data, stats)
            events = self.evt3.decode(data, stats)
        elif enc == "mono":
            events, _ = decode_mono(data, int(time_base), self.width, self.height,
                                    is_bigendian=is_bigendian,
                                    last_t_us=self.evt3.last_t_us, stats=stats)
            if events.size:
                self.evt3.last_t_us = max(self.evt3.last_t_us, int(events["t"].max()))
        else:
            stats.packets += 1
            stats.unknown_encoding += 1
            events = empty_events()
        return columns_of(events) if columns else events


