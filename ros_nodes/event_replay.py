"""Replay a recorded event file onto the event topic as EventPackets, as a driver would.

Reads a Prophesee EVT 3.0 `.raw` file (`neuroq.deploy.events.RawReader`: the `evt3` package's
decoder where it is installed, else numpy; the summary line names it) or an AEDAT 4 file
(`neuroq.deploy.events.read_aedat4`, through the `aedat` package), re-cuts the events into packets
of `packet_us` of camera time (`packetize`, 1 ms as drivers do), paces them at the recorded
speed times `speed` (`Pacer`; inf: as fast as possible) and publishes them as
event_camera_msgs/EventPacket in `evt3` (or `mono`) with increasing `seq`. Bounded: it stops
at the end of the file, after `max_packets`, after `max_seconds` of camera time, or as soon
as `stop` is set (every wait is cut into STOP_POLL_S slices; `neuroq replay` passes the stop
request that SIGINT, SIGTERM and SIGHUP set: `neuroq.ros_nodes.process.install_stop_handlers`). It
warns (`warn`) about a file that holds no events, one whose decoding skipped anything, and
a wait longer than LONG_WAIT_S for the next packet.

Used by `neuroq replay` (agents/cli/replay.py); imports numpy and rclpy, never torch.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from neuroq.deploy.control import check_frame_id
from neuroq.deploy.errors import NeuroqError, counted
from neuroq.deploy.events import (
    DRIVER_PACKET_US,
    ENCODINGS,
    US_PER_S,
    Pacer,
    RawReader,
    encode_packet,
    packetize,
    read_aedat4,
)
from neuroq.deploy.events.evt3_encode import time_words
from neuroq.deploy.events.files import RAW_CHUNK_BYTES
from neuroq.deploy.events.mono import NS_PER_US
from neuroq.deploy.interface_spec import TOPIC_EVENTS
from neuroq.ros_nodes.messages import EVENT_PACKET, event_packet, message_class

PUBLISHER_DEPTH = 1000
"""Publisher history in packets (1 s of 1 ms packets)."""
DISCOVERY_WAIT_S = 5.0
"""How long to wait for a subscriber before the first packet; with none by then the replay
goes on and says so (a warning, and the summary line): an outsider's replays into a
running node on a loaded machine found none within 2 s in 3 of 5 runs, published
everything to nobody, and said "replayed" with no word of it."""
STOP_POLL_S = 0.05
"""Waits (for a subscriber, for the next packet's time) are slept in slices this long, so
that a stop request ends the replay within about this time, however long the wait."""
KEEPALIVE_US = 1 << 12
"""In a silence of the recording (no event for longer than this, us), `evt3` replays send a
packet of time words every this much camera time, as a sensor sends a TIME_HIGH word every
4096 us while no pixel fires: the file's own time words are gone once its events are
re-cut into packets, and without them a fast replay moved camera time across the whole
silence in one packet, which the event node's time-jump guard (max_jump_ms) skipped as
garbage (a review, stop 40)."""
LONG_WAIT_S = 10.0
"""A wait for the next packet longer than this (wall time) is announced with a warning: a
silence in the recording, or camera time from damaged words."""


SLOW_REPLAY_FACTOR = 1.1
"""A replay taking more than this times its camera time / speed (plus SLOW_REPLAY_GRACE_S)
is announced as slower than asked (an outsider's `--speed 4` ran at 1.4, and a 3 M
events/s recording at `--speed 1` at 0.63, without a word: about 1400 packets a second
here)."""
SLOW_REPLAY_GRACE_S = 0.5
"""Seconds a replay may take beyond SLOW_REPLAY_FACTOR times the time asked (start-up,
the first chunk read and decoded) before it is announced as slow."""
DELIVERY_WAIT_S = 2.0
"""Once the last packet is out, the replay waits up to this long for every matched
subscriber to acknowledge every packet (the publisher is reliable) before it destroys the
publisher; a packet still unacknowledged then is said. Destroying it at once dropped
packets DDS had yet to resend: an outsider's reliable replay at `--speed inf` delivered
1999 of 2001 once."""


@dataclass
class ReplaySummary:
    packets: int = 0
    events: int = 0
    keepalive_packets: int = 0
    """Of `packets`, those of time words only, sent through silences (KEEPALIVE_US)."""
    no_subscriber: bool = False
    """No subscriber was matched when the first packet went out (DISCOVERY_WAIT_S)."""
    camera_s: float = 0.0
    wall_s: float = 0.0
    width: int = 0
    height: int = 0
    read_by: str = ""
    """What decoded the file: the EVT 3.0 decoder of a .raw file, or the `aedat` package."""
    unacknowledged: bool = False
    """Some packet was not acknowledged by every matched subscriber within DELIVERY_WAIT_S
    of the last one."""
    stopped: str = ""
    """Why a stop request ended the replay ("SIGINT", ...); '' when it was not stopped."""
    warnings: tuple[str, ...] = ()
    """The warnings `replay` gave (`warn`)."""

    def line(self, encoding: str) -> str:
        """The summary line `replay` logs."""
        head = f"stopped by {self.stopped}: " if self.stopped else ""
        quiet = (f", {self.keepalive_packets} of them time words through silences"
                 if self.keepalive_packets else "")
        if self.no_subscriber:
            quiet += ", with no subscriber matched when it began"
        if self.unacknowledged:
            quiet += f", not all acknowledged within {DELIVERY_WAIT_S:g} s"
        return (f"{head}replayed {counted(self.events, 'event')} in "
                f"{counted(self.packets, 'packet')}{quiet} ({self.width}x"
                f"{self.height}, {encoding}): {self.camera_s:.3f} s of camera time in "
                f"{self.wall_s:.3f} s; read with {self.read_by}")


class EventFile(NamedTuple):
    """An opened event file (`open_event_file`)."""

    chunks: Iterator[np.ndarray]
    width: int
    height: int
    read_by: str
    end_us: Callable[[], int]
    """Once the chunks are read, the camera time the file reached (us; a .raw file's time
    words can run past its last event); -1 where the file gives none beyond its events."""
    skipped: Callable[[], str]
    """Once the chunks are read, what decoding skipped (`DecodeStats.diagnostic()`; '' for
    nothing, and for AEDAT 4 files, whose reader reports none)."""
    triggers: Callable[[], int]
    """Once the chunks are read, the external-trigger words the file held (EVT 3.0; 0 for
    AEDAT 4 files, whose trigger streams are not read): the replay does not send them."""


def open_event_file(path: str | os.PathLike, decoder: str = "auto", width: int | None = None,
                    height: int | None = None) -> EventFile:
    """(chunks of events, width, height, what decodes it, end, skipped) of a .raw (EVT 3.0)
    or .aedat4 file (`EventFile`). decoder: the EVT 3.0 decoder for .raw files ("auto",
    "evt3" or "numpy"); width, height: the sensor size of a .raw file whose header gives
    none (None: the header's; both or neither). Raises NeuroqError for a folder, a missing
    file, a file that is not EVT 3.0 or AEDAT 4, and for width or height alone (the
    readers' checks: `RawReader`, `read_aedat4`)."""
    p = os.fspath(path)
    if p.lower().endswith(".raw"):
        reader = RawReader(p, width=width, height=height, decoder=decoder)
        header = (reader.header_width, reader.header_height)
        if (width, height) != (None, None) and header[0] > 0 and header != (
                reader.width, reader.height) and not reader.header_conflict:
            raise NeuroqError(f"{p}: its header gives the sensor size {header[0]}x"
                              f"{header[1]}; --width/--height are for files without one")
        return EventFile((events for events, _ in reader), reader.width, reader.height,
                         f"EVT 3.0 decoder {reader.decoder_name}", lambda: reader.time_us,
                         reader.stats.diagnostic, lambda: reader.stats.triggers)
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

        return EventFile(chunks(), first[1], first[2], "the aedat package", lambda: -1,
                         lambda: "", lambda: 0)
    if os.path.isdir(p):  # as the readers say of a folder named *.raw (an outsider)
        raise NeuroqError(f"{p} is a folder, not a file: give a Prophesee .raw (EVT 3.0) or "
                          "an AEDAT 4 (.aedat4) file")
    if not os.path.exists(p):
        raise NeuroqError(f"event file not found: {p}: give a Prophesee .raw (EVT 3.0) or an "
                          "AEDAT 4 (.aedat4) file")
    raise NeuroqError(f"{p}: give a Prophesee .raw (EVT 3.0) or an AEDAT 4 (.aedat4) file")


def _seconds(s: float) -> str:
    """Seconds for a warning: 200.0, or 3.16e+307 at --speed 1e-308 (a 300-digit number
    before, an outsider)."""
    return f"{s:.1f}" if s < 1e9 else f"{s:.3g}"


def _stderr_warning(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


REPLAY_NODE_NAME = "neuroq_event_replay"


def check_topic(topic: str) -> None:
    """NeuroqError (one line) unless `topic` is a valid ROS 2 topic name, as written and as
    the replay node expands it (`a//b` passes the first check, not the second)."""
    from rclpy.exceptions import InvalidTopicNameException
    from rclpy.expand_topic_name import expand_topic_name
    from rclpy.validate_full_topic_name import validate_full_topic_name
    from rclpy.validate_topic_name import validate_topic_name

    try:
        validate_topic_name(topic)
        validate_full_topic_name(expand_topic_name(topic, REPLAY_NODE_NAME, "/"))
    except (InvalidTopicNameException, ValueError) as exc:
        why = str(exc).splitlines()[0].removeprefix("Invalid topic name: ").rstrip(":")
        raise NeuroqError(f"topic {topic!r} is not a valid ROS 2 topic name: {why}") from None


def replay(path: str | os.PathLike, speed: float = 1.0, packet_us: int = DRIVER_PACKET_US,
           encoding: str = "evt3", topic: str = TOPIC_EVENTS, frame_id: str = "dvs",
           max_packets: int = 0, max_seconds: float = math.inf, node: Any = None,
           log: Any = print, decoder: str = "auto", width: int | None = None,
           height: int | None = None, stop: threading.Event | None = None,
           warn: Callable[[str], Any] = _stderr_warning) -> ReplaySummary:
    """Publish the file's events on `topic`; returns what was sent.

    decoder: the EVT 3.0 decoder that reads a .raw file ("auto", "evt3" or "numpy");
    width, height: the sensor size of a .raw file whose header gives none (both or neither).
    stop: once set (a `process.StopRequest`, any threading.Event), the replay ends within
    STOP_POLL_S, whatever it waits for; the summary's `stopped` says why.
    log: gets the summary line; warn: each warning (a file with no events, decoding that
    skipped words or events, a wait for the next packet over LONG_WAIT_S).

    node: an rclpy node to publish from (tests); None creates one in the default context
    (rclpy.init must have been called).
    """
    if encoding not in ENCODINGS:
        raise NeuroqError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    check_frame_id(frame_id)
    for name, value, ok, rule in (("speed", speed, speed > 0, "> 0"),
                                  ("max_seconds", max_seconds, max_seconds > 0, "> 0"),
                                  ("packet_us", packet_us, packet_us >= 1, ">= 1"),
                                  ("max_packets", max_packets, max_packets >= 0, ">= 0")):
        if not ok:  # the first one that is wrong, by name
            raise NeuroqError(f"{name} must be {rule}, got {value!r}")
    check_topic(topic)
    packet_type = message_class(EVENT_PACKET)  # not installed: one line, before any reading
    chunks, width, height, read_by, end_us, skipped, triggers = open_event_file(
        path, decoder, width, height)
    stop = threading.Event() if stop is None else stop
    warnings: list[str] = []

    def warning(text: str) -> None:
        warnings.append(text)
        warn(text)

    def wait(seconds: float) -> None:
        """Sleep `seconds`, or less once `stop` is set."""
        if seconds > LONG_WAIT_S and not stop.is_set():
            warning(f"the next packet is due in {_seconds(seconds)} s (a silence in the "
                    f"recording's camera time at --speed {speed:g}); a stop request "
                    "(Ctrl-C) ends the replay")
        end = time.monotonic() + seconds
        while not stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(STOP_POLL_S, left))

    from neuroq.ros_nodes.qos import MATCH_SETTLE_S, command_qos

    own = node is None
    if own:
        from rclpy.node import Node

        node = Node(REPLAY_NODE_NAME)
    out = ReplaySummary(width=width, height=height, read_by=read_by)
    start = time.monotonic()
    pub = None
    try:
        pub = node.create_publisher(packet_type, topic, command_qos(PUBLISHER_DEPTH))
        deadline = time.monotonic() + DISCOVERY_WAIT_S
        while (pub.get_subscription_count() == 0 and time.monotonic() < deadline
               and not stop.is_set()):
            time.sleep(0.01)
        if pub.get_subscription_count() > 0:  # the reader's side of the match may lag ours
            wait(MATCH_SETTLE_S)
        elif not stop.is_set():
            out.no_subscriber = True
            warning(f"no subscriber on {node.resolve_topic_name(topic)} after "
                    f"{DISCOVERY_WAIT_S:g} s: the packets go to nobody unless one joins (is "
                    "the event node running, on this ROS_DOMAIN_ID, subscribed to this "
                    "topic?)")
        start = time.monotonic()
        t_first = None
        whole = True  # the whole file was sent: the closing time packet follows

        def within_max_seconds(packets: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            nonlocal t_first, whole  # checked before the pacer waits for a packet
            for packet in packets:
                t0 = int(packet["t"][0])
                t_first = t0 if t_first is None else t_first
                if (t0 - t_first) / US_PER_S > max_seconds:
                    whole = False
                    return
                yield packet

        last_t = -1
        pacer = Pacer(speed, sleep=wait)  # each packet when its camera time is due

        def publish_time(t_us: int) -> None:
            """A packet of time words only (camera time t_us), as a sensor sends while no
            pixel fires: through silences and to close the file."""
            pub.publish(event_packet(node.get_clock(), out.packets, width, height, "evt3",
                                     time_words(t_us), t_us * NS_PER_US, frame_id))
            out.packets += 1

        def keep_alive(until_us: int) -> None:
            """Time words through a silence, up to `until_us` (evt3: KEEPALIVE_US); a
            silence longer than LONG_WAIT_S of wall time is announced."""
            if encoding != "evt3" or last_t < 0 or until_us - last_t <= KEEPALIVE_US:
                return
            silence_s = (until_us - last_t) / US_PER_S
            if silence_s / speed > LONG_WAIT_S:
                warning(f"a silence of {_seconds(silence_s)} s in the recording's camera time "
                        f"({_seconds(silence_s / speed)} s at --speed {speed:g}): time words "
                        "are sent through it, as a sensor sends while no pixel fires; a "
                        "stop request (Ctrl-C) ends the replay")
            t = last_t + KEEPALIVE_US
            while t < until_us and not stop.is_set():
                pacer.wait_for(t)
                if stop.is_set():
                    return
                publish_time(t)
                out.keepalive_packets += 1
                t += KEEPALIVE_US

        for packet in within_max_seconds(packetize(chunks, packet_us)):
            keep_alive(int(packet["t"][0]))
            pacer.wait_for(int(packet["t"][0]))
            if stop.is_set():
                break
            data, time_base = encode_packet(encoding, packet)
            pub.publish(event_packet(node.get_clock(), out.packets, width, height, encoding,
                                     data, time_base, frame_id))
            out.packets += 1
            out.events += int(packet.size)
            last_t = int(packet["t"][-1])
            out.camera_s = (last_t - t_first) / US_PER_S
            if max_packets and out.packets >= max_packets:
                whole = False
                break
        if whole and not stop.is_set() and t_first is not None:
            # the whole file: camera time goes 1 us past where the file ends (its last
            # time words or event), which completes a period ending there (the node's
            # period is not known here: one the file ends inside stays open)
            end = max(end_us(), last_t)
            if encoding == "evt3":
                keep_alive(end)
                pacer.wait_for(end)  # when it is due, as the packets were released
                if not stop.is_set():  # time words only, as a sensor sends while no
                    # pixel fires
                    publish_time(end + 1)
                    out.camera_s = (end - t_first) / US_PER_S
        if out.packets and not stop.is_set() and pub.get_subscription_count() > 0:
            from rclpy.duration import Duration

            if not pub.wait_for_all_acked(Duration(seconds=DELIVERY_WAIT_S)):
                out.unacknowledged = True
                warning(f"not every subscriber acknowledged every packet within "
                        f"{DELIVERY_WAIT_S:g} s of the last one: a subscriber may have missed "
                        "some (one that is slow to take them, or gone)")
    finally:
        out.wall_s = time.monotonic() - start
        if own:
            node.destroy_node()
        elif pub is not None:
            node.destroy_publisher(pub)
    if stop.is_set():
        out.stopped = getattr(stop, "reason", "") or "a stop request"
    p = os.fspath(path)
    # cut short (--max-seconds, --max-packets, a stop): the reader has read ahead of the
    # part sent, at least to the end of its chunk (an outsider's --max-seconds 1 warned of
    # corrupt words 1.01 s into the file, never sent)
    ahead = ("" if whole and not stop.is_set() else
             " (counted in what was read, which runs past the part sent, at least to the end "
             f"of its {RAW_CHUNK_BYTES // 1024} KiB chunk: some may lie past it)")
    problems = skipped()
    if problems:
        warning(f"{p}: decoding {problems} (see DecodeStats in docs/events.md){ahead}")
    n_triggers = triggers()
    if n_triggers:  # dropped without a word before (an outsider's 5)
        warning(f"{p}: its {counted(n_triggers, 'external trigger')} were not replayed: the "
                f"packets carry the file's events and time words only{ahead}")
    if out.events == 0 and not out.stopped:
        warning(f"{p} holds no events: nothing was published")
    if not out.stopped and math.isfinite(speed) and out.camera_s > 0 and out.wall_s > (
            SLOW_REPLAY_FACTOR * out.camera_s / speed + SLOW_REPLAY_GRACE_S):
        warning(f"{p}: replayed at {out.camera_s / out.wall_s:.2g} times the recorded speed, "
                f"not the {speed:g} asked: reading, decoding and publishing could not keep "
                f"up ({out.packets} packets in {out.wall_s:.1f} s; a larger --packet-us sends "
                "fewer)")
    out.warnings = tuple(warnings)
    log(out.line(encoding))
    return out


if __name__ == "__main__":  # `python -m neuroq.ros_nodes.event_replay FILE` ran nothing
    from neuroq.ros_nodes.replay_command import main  # (an outsider): the command's

    sys.exit(main())
