"""`neuroq replay`: recorded .raw (EVT 3.0) and AEDAT 4 files onto the event topic over DDS."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ros

pytest.importorskip("rclpy")
pytest.importorskip("event_camera_msgs")

from event_camera_msgs.msg import EventPacket  # noqa: E402

from neuroq.deploy.errors import NeuroqError  # noqa: E402
from neuroq.deploy.events import (  # noqa: E402
    Aedat4Writer,
    PacketDecoder,
    RawWriter,
    evt3_decoder_name,
    make_events,
)
from neuroq.ros_nodes.event_replay import replay  # noqa: E402
from neuroq.ros_nodes.qos import command_qos  # noqa: E402
from tests.helpers.ros import Probe, wait_until  # noqa: E402
from tests.helpers.ros import spinning_on_event_domain as spinning  # noqa: E402

W, H = 64, 48
DURATION_US = 60_000


def recording(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 3000
    t = np.sort(rng.integers(0, DURATION_US, n))
    return make_events(rng.integers(0, W, n), rng.integers(0, H, n), t, rng.integers(0, 2, n))


def _decoded(probe: Probe, topic: str) -> tuple[np.ndarray, list[int]]:
    msgs = [m for _, m in probe.messages(topic)]
    dec = PacketDecoder(W, H)
    events, stats = dec.decode_many(msgs)
    assert stats.skipped == 0, stats
    return events, [m.seq for m in msgs]


@pytest.mark.parametrize("kind, decoder", [("raw", "numpy"), ("raw", "auto"), ("aedat4", "auto")])
def test_replay_publishes_every_event_in_1ms_packets(tmp_path, kind, decoder):
    if kind == "aedat4":
        pytest.importorskip("aedat")
    events = recording()
    path = tmp_path / f"rec.{kind}"
    writer = RawWriter(path, W, H) if kind == "raw" else Aedat4Writer(path, W, H)
    with writer:
        for chunk in np.array_split(events, 4):
            writer.write(chunk)
    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        probe.watch(EventPacket, "dvs/events", command_qos(1000))
        summary = replay(path, speed=float("inf"), topic="dvs/events", node=probe,
                         log=lambda _: None, decoder=decoder)
        if kind == "raw":
            expected = "numpy" if decoder == "numpy" else evt3_decoder_name()
            assert summary.read_by == f"EVT 3.0 decoder {expected}"
        # a packet per millisecond with events, then time words 1 us past the last event
        assert summary.packets == len(np.unique(events["t"] // 1000)) + 1
        assert wait_until(lambda: len(probe.messages("dvs/events")) == summary.packets, 10.0)
        got, seqs = _decoded(probe, "dvs/events")
    assert seqs == list(range(summary.packets))
    np.testing.assert_array_equal(np.sort(got, order=["t", "y", "p", "x"]),
                                  np.sort(events, order=["t", "y", "p", "x"]))


def test_replay_keeps_recorded_time_and_its_bounds(tmp_path):
    path = tmp_path / "rec.raw"
    with RawWriter(path, W, H) as writer:
        writer.write(recording(1))
    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        s = replay(path, speed=1.0, node=probe, log=lambda _: None)
        assert s.wall_s >= 0.9 * s.camera_s > 0.05  # recorded speed: ~60 ms of camera time
        s = replay(path, speed=float("inf"), max_packets=7, node=probe, log=lambda _: None)
        assert s.packets == 7
        s = replay(path, speed=float("inf"), max_seconds=0.02, node=probe, log=lambda _: None)
        assert s.camera_s <= 0.021
    with pytest.raises(NeuroqError, match=".raw"):
        replay(tmp_path / "rec.txt", node=object())


def test_a_sensor_size_is_given_only_to_a_raw_file_without_one(tmp_path):
    """`neuroq replay --width/--height` (added when an outsider's headerless .raw was told
    to "pass width= and height=", Python keywords): for such files only; a size that
    contradicts the header, or one given to an AEDAT 4 file, is refused."""
    from neuroq.ros_nodes.event_replay import open_event_file

    no_size = tmp_path / "nosize.raw"
    no_size.write_bytes(b"% evt 3.0\n% end\n")
    assert open_event_file(no_size, width=W, height=H)[1:3] == (W, H)
    sized = tmp_path / "rec.raw"
    with RawWriter(sized, W, H) as writer:
        writer.write(recording(2))
    assert open_event_file(sized, width=W, height=H)[1:3] == (W, H)  # the same size: fine
    with pytest.raises(NeuroqError, match="header gives the sensor size 64x48"):
        open_event_file(sized, width=W * 2, height=H)
    with pytest.raises(NeuroqError, match="AEDAT 4 file gives its sensor size"):
        open_event_file(tmp_path / "rec.aedat4", width=W, height=H)


def test_replay_command_is_registered():
    from neuroq.agents.cli.main import COMMANDS, build_parser

    assert COMMANDS["replay"] == "neuroq.agents.cli.replay"
    args = build_parser().parse_args(["replay", "rec.raw", "--speed", "2"])
    assert args.speed == 2.0 and args.topic == "events"


@pytest.mark.parametrize("decoder", ["numpy", "auto"])
def test_a_files_time_past_its_last_event_is_replayed(tmp_path, decoder):
    """A .raw file whose time words run past its last event (a sensor sends them while no
    pixel fires) ends the replay with a time-words packet at that time, so the node can
    close the period of the last events (an outsider's file ran to 2.021 s and its last
    period, ending 2.010 s, never got an action)."""
    from neuroq.deploy.events.stream import time_words

    path = tmp_path / "rec.raw"
    events = recording(2)
    with RawWriter(path, W, H) as writer:
        writer.write(events)
    end = DURATION_US + 21_000
    with open(path, "ab") as f:
        f.write(time_words(end))
    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        probe.watch(EventPacket, "events", command_qos(1000))
        s = replay(path, speed=float("inf"), node=probe, log=lambda _: None, decoder=decoder)
        assert s.packets == len(np.unique(events["t"] // 1000)) + 1
        assert abs(s.camera_s - (end - int(events["t"][0])) / 1e6) < 1e-9
        assert wait_until(lambda: len(probe.messages("events")) == s.packets, 10.0)
        dec = PacketDecoder(W, H)
        got, stats = dec.decode_many([m for _, m in probe.messages("events")])
    # 1 us past the file's time: the period of its last events is complete
    assert stats.skipped == 0 and got.size == events.size and dec.time_us() == end + 1
