"""Replay a recorded event file onto the event topic as EventPackets, as a driver would.

Reads a Prophesee EVT 3.0 `.raw` file (`neuroq.deploy.events.RawReader`: the `evt3` package's
decoder where it is installed, else numpy; the summary line names it) or an AEDAT 4 file
(`neuroq.deploy.events.read_aedat4`, through the `aedat` package), re-cuts the events into packets
of `packet_us` of camera time (`packetize`, 1 ms as drivers do), paces them at the recorded
speed times `speed` (`paced`; inf: as fast as possible) and publishes them as
event_camera_msgs/EventPacket in `evt3` (or `mono`) with increasing `seq`. Bounded: it stops
at the end of the file, after `max_packets`, or after `max_seconds` of camera time.

Used by `neuroq replay` (agents/cli/replay.py); imports numpy and rclpy, never torch.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events import (
    DRIVER_PACKET_US,
    ENCODINGS,
    US_PER_S,
    RawReader,
    encode_packet,
    paced,
    packetize,
    read_aedat4,
)
from neuroq.deploy.events.evt3_encode import time_words
from neuroq.deploy.events.evt3_words import EVT3_TIME_WRAP_US
from neuroq.deploy.events.mono import NS_PER_US

TOPIC_EVENTS = "events"
PUBLISHER_DEPTH = 1000
"""Publisher history in packets (1 s of 1 ms packets)."""
DISCOVERY_WAIT_S = 2.0
"""How long to wait for a subscriber before the first packet (0 subscribers: go anyway)."""


@dataclass
class ReplaySummary:
    packets: int = 0
    events: int = 0
    camera_s: float = 0.0
    wall_s: float = 0.0
    width: int = 0
    height: int = 0
    read_by: str = ""
    """What decoded the file: the EVT 3.0 decoder of a .raw file, or the `aedat` package."""


def open_event_file(path: str | os.PathLike, decoder: str = "auto", width: int | None = None,
                    height: int | None = None
                    ) -> tuple[Iterator[np.ndarray], int, int, str, Callable[[], int]]:
    """(chunks of events, width, height, what decodes it, end) of a .raw (EVT 3.0) or
    .aedat4 file. end(): once the chunks are read, the camera time the file reached (us;
    a .raw file's time words can run past its last event), -1 where the file gives none
    beyond its events (AEDAT 4). decoder: the EVT 3.0 decoder for .raw files ("auto",
    "evt3" or "numpy"); width, height: the sensor size of a .raw file whose header gives
    none (None: the header's)."""
    p = os.fspath(path)
    if p.lower().endswith(".raw"):
        reader = RawReader(p, width=width, height=height, decoder=decoder)
        header = (reader.header_width, reader.header_height)
        if (width, height) != (None, None) and header[0] > 0 and header != (
                reader.width, reader.height):
            raise NeuroqError(f"{p}: its header gives the sensor size {header[0]}x"
                              f"{header[1]}; --width/--height are for files without one")
        return ((events for events, _ in reader), reader.width, reader.height,
                f"EVT 3.0 decoder {reader.decoder_name}", lambda: reader.time_us)
    if p.lower().endswith((".aedat4", ".aedat")):
        if (width, height) != (None, None):
            raise NeuroqError(f"{p}: an AEDAT 4 file gives its sensor size; --width/--height "
                              "are for .raw files without one")
        packets = read_aedat4(p)
        first = next(packets, None)
        if first is None:
            raise NeuroqError(f"{p}: the AEDAT 4 file holds no polarity events")

        def chunks() -> Iterator[np.ndarray]:
            yield first[0]
            for events, _, _ in packets:
                yield events

        return chunks(), first[1], first[2], "the aedat package", lambda: -1
    raise NeuroqError(f"{p}: give a Prophesee .raw (EVT 3.0) or an AEDAT 4 (.aedat4) file")


def _event_packet(node: Any, seq: int, width: int, height: int, encoding: str, data: bytes,
                  time_base: int, frame_id: str) -> Any:
    """An EventPacket as the replay sends it, stamped with `node`'s clock now."""
    from event_camera_msgs.msg import EventPacket

    msg = EventPacket(width=width, height=height, seq=seq, time_base=time_base,
                      encoding=encoding, is_bigendian=False)
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.header.frame_id = frame_id
    msg.events = data
    return msg


def replay(path: str | os.PathLike, speed: float = 1.0, packet_us: int = DRIVER_PACKET_US,
           encoding: str = "evt3", topic: str = TOPIC_EVENTS, frame_id: str = "dvs",
           max_packets: int = 0, max_seconds: float = math.inf, node: Any = None,
           log: Any = print, decoder: str = "auto", width: int | None = None,
           height: int | None = None) -> ReplaySummary:
    """Publish the file's events on `topic`; returns what was sent.

    decoder: the EVT 3.0 decoder that reads a .raw file ("auto", "evt3" or "numpy");
    width, height: the sensor size of a .raw file whose header gives none.

    node: an rclpy node to publish from (tests); None creates one in the default context
    (rclpy.init must have been called).
    """
    if encoding not in ENCODINGS:
        raise NeuroqError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    for name, value, ok, rule in (("speed", speed, speed > 0, "> 0"),
                                  ("max_seconds", max_seconds, max_seconds > 0, "> 0"),
                                  ("packet_us", packet_us, packet_us >= 1, ">= 1"),
                                  ("max_packets", max_packets, max_packets >= 0, ">= 0")):
        if not ok:  # the first one that is wrong, by name
            raise NeuroqError(f"{name} must be {rule}, got {value!r}")
    chunks, width, height, read_by, end_us = open_event_file(path, decoder, width, height)
    from event_camera_msgs.msg import EventPacket

    from neuroq.ros_nodes.qos import command_qos

    own = node is None
    if own:
        from rclpy.node import Node

        node = Node("neuroq_event_replay")
    pub = node.create_publisher(EventPacket, topic, command_qos(PUBLISHER_DEPTH))
    deadline = time.monotonic() + DISCOVERY_WAIT_S
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    out = ReplaySummary(width=width, height=height, read_by=read_by)
    start = time.monotonic()
    t_first = None
    try:
        for packet in paced(packetize(chunks, packet_us), speed):
            t0 = int(packet["t"][0])
            t_first = t0 if t_first is None else t_first
            if (t0 - t_first) / US_PER_S > max_seconds:
                break
            data, time_base = encode_packet(encoding, packet)
            pub.publish(_event_packet(node, out.packets, width, height, encoding, data,
                                      time_base, frame_id))
            out.packets += 1
            out.events += int(packet.size)
            last_t = int(packet["t"][-1])
            out.camera_s = (last_t - t_first) / US_PER_S
            if max_packets and out.packets >= max_packets:
                break
        else:  # the whole file: camera time goes 1 us past where the file ends (its last
            # time words or event), which completes the period of its last events
            end = max(end_us(), last_t) if t_first is not None else -1
            if encoding == "evt3" and t_first is not None:
                if speed != math.inf:  # when it is due, as `paced` releases the packets
                    time.sleep(max(0.0, start + (end - t_first) / US_PER_S / speed
                                   - time.monotonic()))
                # time words only, as a sensor sends while no pixel fires
                pub.publish(_event_packet(node, out.packets, width, height, "evt3",
                                          time_words((end + 1) % EVT3_TIME_WRAP_US),
                                          (end + 1) * NS_PER_US, frame_id))
                out.packets += 1
                out.camera_s = (end - t_first) / US_PER_S
    finally:
        out.wall_s = time.monotonic() - start
        if own:
            node.destroy_node()
        else:
            node.destroy_publisher(pub)
    log(f"replayed {out.events} events in {out.packets} packets ({width}x{height}, "
        f"{encoding}): {out.camera_s:.3f} s of camera time in {out.wall_s:.3f} s; read with "
        f"{read_by}")
    return out
