"""The event node's messages read from and written to their serialized (CDR) bytes, without
rclpy's message objects: event_camera_msgs/EventPacket read, its sensor_msgs/Joy actions
written.

Why: rclpy turns each message into a Python object (a class instance per message and per
header, every field set through a checking property, arrays copied) and back. At 1 ms
packets the event node receives 1000 messages a second, and that conversion cost about as
much CPU as decoding their events. A subscription created with `raw=True` hands over the
serialized bytes, and `Publisher.publish` takes bytes as they are. `parse_event_packet`
reads the few fields the event node uses and gives the payload as a zero-copy memoryview;
`serialize_joy` writes an action (0.6-1.1 points of a core less than publishing a Joy
object at 1 M events/s, 3 paired runs, docs/events.md).

The wire format (OMG CDR, as the ROS 2 middlewares write it; DDS-XTypes 1.3, section 7.4):
a 4-byte encapsulation header (bytes 0-1: the representation, 0x0001 = plain CDR little
endian, 0x0007 = plain CDR2 little endian; bytes 2-3: options), then the fields in the
order of the .msg file, each aligned to its own size counted from the end of that header
(at most 4 in CDR2, 8 in CDR). A string is a uint32 length that counts its terminating
NUL, then its bytes; a uint8[] is a uint32 count, then the bytes. EventPacket.msg:

    std_msgs/Header header   (int32 stamp.sec, uint32 stamp.nanosec, string frame_id)
    uint32 height
    uint32 width
    uint64 seq
    uint64 time_base
    string encoding
    bool is_bigendian
    uint8[] events

sensor_msgs/Joy.msg: std_msgs/Header header, float32[] axes, int32[] buttons (every field
4-byte aligned, so CDR and CDR2 lay it out alike).

Anything else (big-endian data, another representation, lengths that do not fit the bytes)
read returns None: the caller then deserializes the message the standard way
(`rclpy.serialization.deserialize_message`), which also reports truly broken data.
tests/test_cdr.py holds the results equal to rclpy's own deserialization and serialization.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

#: Encapsulation ids (DDS-XTypes 1.3, 7.6.3.1.2) read here, and their largest alignment.
CDR_LE = 0x0001
CDR2_LE = 0x0007
_MAX_ALIGN = {CDR_LE: 8, CDR2_LE: 4}
ENCAPSULATION_BYTES = 4
MAX_STRING_BYTES = 1 << 16
"""Strings longer than this (frame_id, encoding) are not read here (None: the slow path,
whose callers bound them)."""

_U32 = struct.Struct("<I")
_STAMP = struct.Struct("<iII")  # sec, nanosec, frame_id length
_STAMP_TIME = struct.Struct("<iI")  # sec, nanosec
_SIZE = struct.Struct("<II")  # height, width
_SEQ = struct.Struct("<QQ")  # seq, time_base
_CDR_LE_HEADER = b"\x00\x01\x00\x00"  # what rclpy's serialize_message writes


class Header(NamedTuple):
    """The EventPacket header fields the event node reads."""

    sec: int
    nanosec: int
    frame_id: str

    @property
    def stamp(self) -> Header:
        """`header.stamp.sec` / `.nanosec` read as on the message object."""
        return self


@dataclass(slots=True)
class PacketView:
    """An EventPacket's fields with the names of the message's attributes; `events` is a
    memoryview into the serialized bytes (valid as long as they are). Not a tuple:
    `PacketDecoder.decode_many` reads tuples as (encoding, data, time_base, is_bigendian).
    Not frozen: a frozen dataclass is built field by field through object.__setattr__, 1.0
    against 0.2 us here, for each of the 1000 packets a second of a 1 ms camera."""

    header: Header
    height: int
    width: int
    seq: int
    time_base: int
    encoding: str
    is_bigendian: bool
    events: memoryview


def _string(view: memoryview, at: int) -> tuple[str, int] | None:
    """(the string at `at`, the offset after it), or None if it does not fit or is no
    NUL-terminated UTF-8."""
    if at + 4 > len(view):
        return None
    (n,) = _U32.unpack_from(view, at)
    at += 4
    if n == 0 or n > MAX_STRING_BYTES or at + n > len(view) or view[at + n - 1] != 0:
        return None
    try:  # up to the first NUL, as rclpy reads it (a C string)
        text = bytes(view[at:at + n - 1]).split(b"\0", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text, at + n


def parse_event_packet(data: bytes) -> PacketView | None:
    """The EventPacket serialized in `data`, or None where the fast path does not apply or
    the bytes do not hold one (module docstring). Never raises on data."""
    got = _parse(memoryview(data).cast("B"))
    return None if got is None else got[0]


class _Layout(NamedTuple):
    """Where an EventPacket's fields lie, given its representation, frame_id, encoding and
    is_bigendian (`_parse`): the bytes that fix it and the offsets that follow from them."""

    representation: bytes  # bytes 0-1
    frame: bytes  # frame_id's length and bytes, from FRAME_AT
    tail: bytes  # encoding's length and bytes, then is_bigendian, from tail_at
    tail_at: int
    size_at: int  # height, width
    seq_at: int  # seq, time_base
    count_at: int  # the events' count; the events follow
    frame_id: str
    encoding: str
    is_bigendian: bool


FRAME_AT = ENCAPSULATION_BYTES + 8
"""Offset of frame_id's length in a serialized EventPacket (after the stamp)."""


def _parse(view: memoryview) -> tuple[PacketView, _Layout] | None:
    """`parse_event_packet` of a byte view, with the packet's layout."""
    if len(view) < ENCAPSULATION_BYTES + _STAMP.size:
        return None
    max_align = _MAX_ALIGN.get((view[0] << 8) | view[1])
    if max_align is None:
        return None
    body = view[ENCAPSULATION_BYTES:]
    sec, nanosec, _ = _STAMP.unpack_from(body, 0)
    got = _string(body, 8)
    if got is None:
        return None
    frame_id, at = got
    frame_end = at
    at = (at + 3) & ~3
    if at + _SIZE.size > len(body):
        return None
    size_at = at
    height, width = _SIZE.unpack_from(body, at)
    at += _SIZE.size
    at = (at + max_align - 1) & ~(max_align - 1)
    if at + _SEQ.size > len(body):
        return None
    seq_at = at
    seq, time_base = _SEQ.unpack_from(body, at)
    got = _string(body, at + _SEQ.size)
    if got is None:
        return None
    encoding, at = got
    if at + 1 > len(body) or body[at] > 1:
        return None
    is_bigendian = bool(body[at])
    tail = (seq_at + _SEQ.size, at + 1)
    at = (at + 1 + 3) & ~3
    if at + 4 > len(body):
        return None
    count_at = at
    (n,) = _U32.unpack_from(body, at)
    at += 4
    if at + n > len(body):
        return None
    e = ENCAPSULATION_BYTES
    layout = _Layout(bytes(view[:2]), bytes(view[FRAME_AT:e + frame_end]),
                     bytes(body[tail[0]:tail[1]]), e + tail[0], e + size_at, e + seq_at,
                     e + count_at, frame_id, encoding, is_bigendian)
    return (PacketView(Header(sec, nanosec, frame_id), height, width, seq, time_base,
                       encoding, is_bigendian, body[at:at + n]), layout)


class EventPacketReader:
    """`parse_event_packet` for one stream of packets: the layout of the last packet read
    is kept, and a packet with the same representation, frame_id, encoding and
    is_bigendian (a camera's usual stream) is read at its offsets, checking those bytes
    instead of parsing them (the same result; about 4 against 8-9 us a packet here). Any
    other packet is parsed in full and its layout kept."""

    def __init__(self) -> None:
        self._layout: _Layout | None = None

    def __call__(self, data: bytes) -> PacketView | None:
        view = memoryview(data).cast("B")
        k = self._layout
        if (k is not None and len(view) >= k.count_at + 4
                and view[:2] == k.representation
                and view[FRAME_AT:FRAME_AT + len(k.frame)] == k.frame
                and view[k.tail_at:k.tail_at + len(k.tail)] == k.tail):
            (n,) = _U32.unpack_from(view, k.count_at)
            start = k.count_at + 4
            if start + n <= len(view):
                sec, nanosec = _STAMP_TIME.unpack_from(view, ENCAPSULATION_BYTES)
                height, width = _SIZE.unpack_from(view, k.size_at)
                seq, time_base = _SEQ.unpack_from(view, k.seq_at)
                return PacketView(Header(sec, nanosec, k.frame_id), height, width, seq,
                                  time_base, k.encoding, k.is_bigendian,
                                  view[start:start + n])
        got = _parse(view)
        if got is None:
            return None
        self._layout = got[1]
        return got[0]


def serialize_joy(sec: int, nanosec: int, frame_id: str, buttons: Sequence[int],
                  axes: Sequence[float]) -> bytes:
    """A sensor_msgs/Joy as rclpy's `serialize_message` writes it (plain CDR, little
    endian): header.stamp (int32 sec, uint32 nanosec), header.frame_id (UTF-8, up to its
    first NUL, as rclpy copies a C string), axes as float32, buttons as int32. Raises
    struct.error for a stamp or button outside its type and OverflowError for an axis
    beyond float32, where rclpy refuses them too."""
    name = frame_id.encode("utf-8").split(b"\0", 1)[0] + b"\0"
    n_axes, n_buttons = len(axes), len(buttons)
    return struct.pack(f"<4siII{len(name)}s{-len(name) % 4}xI{n_axes}fI{n_buttons}i",
                       _CDR_LE_HEADER, sec, nanosec, len(name), name, n_axes, *axes,
                       n_buttons, *buttons)


__all__ = ["EventPacketReader", "Header", "PacketView", "parse_event_packet", "serialize_joy"]
