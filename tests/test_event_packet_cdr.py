"""The event node's reading of EventPackets from their serialized bytes equals rclpy's own
deserialization, for every field alignment; broken bytes give None, never an exception."""

import random

import pytest

pytest.importorskip("rclpy")
from event_camera_msgs.msg import EventPacket  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402

from neuroq.ros_nodes.event_packet_cdr import parse_event_packet  # noqa: E402


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
    from rclpy.serialization import deserialize_message

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
