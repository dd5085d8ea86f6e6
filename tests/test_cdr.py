"""The event node's messages read from and written to their serialized bytes
(neuroq.ros_nodes.cdr) equal rclpy's own deserialization and serialization, for every field
alignment: EventPacket read, Joy written; broken bytes give None, never an exception."""

import random

import pytest

pytest.importorskip("rclpy")
import math  # noqa: E402
import struct  # noqa: E402

import numpy as np  # noqa: E402
from event_camera_msgs.msg import EventPacket  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import Joy  # noqa: E402

from neuroq.ros_nodes.cdr import EventPacketReader, parse_event_packet, serialize_joy  # noqa: E402


def _message(rng: random.Random, frame_len: int, enc: str) -> EventPacket:
    msg = EventPacket(height=rng.randrange(1 << 32), width=rng.randrange(1 << 32),
                      seq=rng.randrange(1 << 64), time_base=rng.randrange(1 << 64),
                      encoding=enc, is_bigendian=rng.random() < 0.5)
    msg.header.stamp.sec = rng.randrange(-(1 << 31), 1 << 31)
    msg.header.stamp.nanosec = rng.randrange(1 << 32)
    msg.header.frame_id = "".join(rng.choice("abcdé_/") for _ in range(frame_len))
    msg.events = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
    return msg


def test_every_field_as_rclpy_reads_it():
    rng = random.Random(0)
    for frame_len in range(0, 12):
        for enc in ("", "evt3", "mono", "evt3 ", "événement"):
            msg = _message(rng, frame_len, enc)
            got = parse_event_packet(serialize_message(msg))
            assert got is not None, (frame_len, enc)
            assert (got.header.sec, got.header.nanosec, got.header.frame_id) == (
                msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id)
            assert (got.height, got.width, got.seq, got.time_base, got.encoding,
                    got.is_bigendian) == (msg.height, msg.width, msg.seq, msg.time_base,
                                          msg.encoding, msg.is_bigendian)
            assert bytes(got.events) == bytes(msg.events)


def test_a_string_with_a_nul_inside_reads_as_rclpy_reads_it():
    data = bytearray(serialize_message(_message(random.Random(2), 3, "evt3")))
    at = bytes(data).index(b"evt3\0")
    data[at + 2] = 0  # "ev\03": the length still counts 5 bytes
    got, ref = parse_event_packet(bytes(data)), deserialize_message(bytes(data), EventPacket)
    assert got.encoding == ref.encoding == "ev"


def test_broken_bytes_give_none_not_an_exception():
    rng = random.Random(1)
    data = serialize_message(_message(rng, 5, "evt3"))
    for cut in range(len(data)):  # every truncation: None, or a shorter valid reading
        got = parse_event_packet(data[:cut])
        assert got is None or len(got.events) <= cut
    assert parse_event_packet(b"\x00\x00" + data[2:]) is None  # big-endian CDR: slow path
    assert parse_event_packet(data[:12] + b"\xff\xff\xff\x7f" + data[16:]) is None  # frame_id
    for _ in range(2000):  # random bytes
        parse_event_packet(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64))))
    parse_event_packet(b"")


def test_a_reader_that_keeps_the_layout_reads_as_parse_event_packet(monkeypatch):
    """EventPacketReader (the event node's, which reads a packet laid out as the last one
    at its offsets) gives what parse_event_packet gives on any sequence: packets that
    share a layout, change it (frame_id, encoding, is_bigendian, CDR2 against CDR), are
    truncated or are random bytes."""
    from neuroq.ros_nodes import cdr

    rng = random.Random(3)
    stream = []
    for _ in range(3000):
        kind = rng.random()
        msg = _message(rng, 0, rng.choice(["evt3"] * 30 + ["mono", "evt"]))
        msg.header.frame_id = rng.choice(["camera"] * 30 + ["cam_é", "x"])
        msg.is_bigendian = rng.random() < 0.02
        data = serialize_message(msg)
        if kind < 0.05:
            data = data[:rng.randrange(len(data) + 1)]
        elif kind < 0.08:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        elif kind < 0.11:  # plain CDR2: the representation and alignment differ
            data = b"\x00\x07" + data[2:]
        stream.append(data)
    want = [parse_event_packet(data) for data in stream]
    assert sum(w is not None for w in want) > 2600
    parsed = []
    monkeypatch.setattr(cdr, "_parse", lambda view, f=cdr._parse: parsed.append(1) or f(view))
    reader = EventPacketReader()
    for k, data in enumerate(stream):
        assert reader(data) == want[k], k
    assert 100 < len(parsed) < 1500  # the kept layout read most packets


def _joy(rng: random.Random, frame: str, n_axes: int, n_buttons: int) -> Joy:
    msg = Joy()
    msg.header.stamp.sec = rng.choice([-(1 << 31), (1 << 31) - 1, rng.randrange(-99, 99)])
    msg.header.stamp.nanosec = rng.choice([0, (1 << 32) - 1, rng.randrange(1 << 32)])
    msg.header.frame_id = frame
    specials = [0.0, -0.0, math.inf, -math.inf, math.nan, 3.4e38, 1e-45]
    msg.axes = [rng.choice(specials) if rng.random() < 0.3 else
                float(np.float32(rng.uniform(-1e6, 1e6))) for _ in range(n_axes)]
    msg.buttons = [rng.choice([-(1 << 31), (1 << 31) - 1, rng.randrange(-9, 9)])
                   for _ in range(n_buttons)]
    return msg


def _without_padding(data: bytes) -> bytes:
    """A serialized Joy with the padding after frame_id zeroed: CDR leaves its value open
    and rclpy writes whatever its buffer held there."""
    (n,) = struct.unpack_from("<I", data, 12)
    end = 16 + n
    return data[:end] + bytes(-(end - 4) % 4) + data[end + (-(end - 4) % 4):]


def _same_floats(a, b) -> bool:
    return np.array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32), equal_nan=True)


def test_joy_written_as_rclpy_writes_it():
    rng = random.Random(3)
    for frame_len in range(0, 9):
        for n_axes in (0, 1, 2, 5):
            for n_buttons in (0, 1, 3):
                frame = "".join(rng.choice("ab_/é") for _ in range(frame_len))
                msg = _joy(rng, frame, n_axes, n_buttons)
                data = serialize_message(msg)
                stamp = msg.header.stamp
                assert serialize_joy(stamp.sec, stamp.nanosec, frame, list(msg.buttons),
                                     list(msg.axes)) == _without_padding(data), frame
                back = deserialize_message(serialize_joy(stamp.sec, stamp.nanosec, frame,
                                                         list(msg.buttons), list(msg.axes)),
                                           Joy)
                assert list(back.buttons) == list(msg.buttons)
                assert _same_floats(back.axes, msg.axes)


def test_joy_frame_id_with_a_nul_and_values_out_of_range_as_rclpy_treats_them():
    msg = Joy()
    msg.header.frame_id = "ab\0cd"  # rclpy copies a C string: "ab" (and pads with "d")
    ours, theirs = serialize_joy(0, 0, "ab\0cd", [], []), serialize_message(msg)
    assert ours == _without_padding(theirs)
    assert deserialize_message(ours, Joy).header.frame_id == "ab"
    with pytest.raises(struct.error):
        serialize_joy(1 << 31, 0, "", [1], [])  # sec is an int32
    with pytest.raises(struct.error):
        serialize_joy(0, 0, "", [1 << 31], [])  # buttons are int32
    with pytest.raises(OverflowError):
        serialize_joy(0, 0, "", [1], [1e39])  # beyond float32
