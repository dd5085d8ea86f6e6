"""`neuroq replay`: recorded .raw (EVT 3.0) and AEDAT 4 files onto the event topic over DDS."""

from __future__ import annotations

import math

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
    from neuroq.deploy.events.evt3_encode import time_words

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
        # one packet per ms with events, time words through each silence of more than
        # KEEPALIVE_US (one per KEEPALIVE_US), and the closing time words
        assert s.packets - s.keepalive_packets == len(np.unique(events["t"] // 1000)) + 1
        assert abs(s.camera_s - (end - int(events["t"][0])) / 1e6) < 1e-9
        assert wait_until(lambda: len(probe.messages("events")) == s.packets, 10.0)
        dec = PacketDecoder(W, H)
        got, stats = dec.decode_many([m for _, m in probe.messages("events")])
    # 1 us past the file's time: the period of its last events is complete
    assert stats.skipped == 0 and got.size == events.size and dec.time_us() == end + 1


def test_the_closing_packet_is_released_when_its_time_is_due(tmp_path):
    """The closing time-words packet is paced as the event packets are: from the first
    packet's release, (end - t_first) / speed of wall time (one Pacer for both)."""
    path = _tail_file(tmp_path / "rec.raw", tail_us=1_500_000)  # the end 1.5015 s in
    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        probe.watch(EventPacket, "events", command_qos(1000))
        s = replay(path, speed=5.0, node=probe, log=lambda _: None)
        assert wait_until(lambda: len(probe.messages("events")) == s.packets, 10.0)
        got = probe.messages("events")
    # 2 event packets, time words every KEEPALIVE_US through the 1.5 s silence, the closing
    from neuroq.ros_nodes.event_replay import KEEPALIVE_US

    assert s.packets - s.keepalive_packets == 3 and s.events == 3
    assert s.keepalive_packets == 1_500_000 // KEEPALIVE_US, s
    # release times: the packets' stamps (the replay's clock when it made each), not their
    # arrival here, which a loaded machine delays by more than the tolerance (the first
    # arrived late once and the gap read 0.279 s)
    first, last = (m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec
                   for m in (got[0][1], got[-1][1]))
    gap = last - first
    assert 1.5015 / 5.0 - 0.02 <= gap < 1.5015 / 5.0 + 0.25, gap


def test_a_replay_slower_than_asked_says_so(tmp_path):
    """An outsider's `--speed 4` ran at 1.4 times the recorded speed, and a 3 M events/s
    recording at `--speed 1` at 0.63, both without a word: a replay that takes more than
    SLOW_REPLAY_FACTOR times the time asked (and SLOW_REPLAY_GRACE_S) warns."""
    import time

    path = tmp_path / "rec.raw"
    with RawWriter(path, W, H) as writer:  # an event every ms for 0.2 s: 200 packets
        writer.write(make_events(np.arange(200) % W, np.arange(200) % H,
                                 1000 * np.arange(200) + 1, np.arange(200) % 2))
    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        probe.watch(EventPacket, "events", command_qos(1000))  # a subscriber: no warning
        warned = []
        s = replay(path, speed=1.0, node=probe, log=lambda _: None, warn=warned.append)
        assert warned == [], (s, warned)  # at the speed asked (within the grace)
        create = probe.create_publisher

        class Slow:  # a publisher that cannot keep up: 5 ms a packet
            def __init__(self, *args):
                self.pub = create(*args)

            def publish(self, msg):
                time.sleep(0.005)
                self.pub.publish(msg)

            def get_subscription_count(self):
                return self.pub.get_subscription_count()

            def wait_for_all_acked(self, timeout):
                return self.pub.wait_for_all_acked(timeout)

        destroy = probe.destroy_publisher
        probe.create_publisher = lambda *args: Slow(*args)
        probe.destroy_publisher = lambda pub: destroy(pub.pub)
        try:
            s = replay(path, speed=1.0, node=probe, log=lambda _: None, warn=warned.append)
        finally:
            del probe.create_publisher, probe.destroy_publisher  # the class's again
    assert s.wall_s > 1.0 and s.packets == 201, s
    (line,) = warned
    assert "times the recorded speed, not the 1 asked: reading, decoding and publishing " \
        "could not keep up" in line


@pytest.mark.parametrize("acked", [True, False])
def test_the_replay_waits_for_its_packets_to_be_acknowledged(tmp_path, acked):
    """An outsider's reliable replay at --speed inf delivered 1999 of 2001 packets once: the
    publisher was destroyed right after the last publish, before DDS resent what was lost.
    The replay now waits (up to DELIVERY_WAIT_S) for every subscriber to acknowledge every
    packet before it destroys the publisher, and says so where they did not."""
    from neuroq.ros_nodes.event_replay import DELIVERY_WAIT_S

    path = tmp_path / "rec.raw"
    with RawWriter(path, W, H) as writer:
        writer.write(make_events(np.arange(50) % W, np.arange(50) % H,
                                 1000 * np.arange(50) + 1, np.arange(50) % 2))
    calls = []
    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        probe.watch(EventPacket, "events", command_qos(1000))
        create, destroy = probe.create_publisher, probe.destroy_publisher

        class Recording:  # the real publisher, its calls in order
            def __init__(self, *args):
                self.pub = create(*args)

            def publish(self, msg):
                calls.append("publish")
                self.pub.publish(msg)

            def get_subscription_count(self):
                return self.pub.get_subscription_count()

            def wait_for_all_acked(self, timeout):
                calls.append(("acked", timeout.nanoseconds / 1e9))
                return self.pub.wait_for_all_acked(timeout) and acked

        probe.create_publisher = lambda *args: Recording(*args)
        probe.destroy_publisher = lambda pub: (calls.append("destroy"), destroy(pub.pub))
        warned, lines = [], []
        try:
            s = replay(path, speed=math.inf, node=probe, log=lines.append,
                       warn=warned.append)
        finally:
            del probe.create_publisher, probe.destroy_publisher  # the class's again
        assert wait_until(lambda: len(probe.messages("events")) == s.packets, 10.0)
    assert calls[-2:] == [("acked", DELIVERY_WAIT_S), "destroy"], calls[-3:]
    assert calls.count("publish") == s.packets and s.unacknowledged is (not acked)
    if acked:
        assert warned == [] and "acknowledged" not in lines[-1], (warned, lines)
    else:
        (line,) = warned
        assert "not every subscriber acknowledged every packet within" in line
        assert f"not all acknowledged within {DELIVERY_WAIT_S:g} s" in lines[-1]


# --- stopping, damaged files, bad options (found by an outsider) ------------------------------
def _gap_file(path, gap_us: int = 200_000_000):
    """Three events in the first 2 ms, then two more `gap_us` later: a recording with a long
    silence (legitimate: replayed, not refused)."""
    with RawWriter(path, W, H) as writer:
        writer.write(make_events([1, 2, 3], [1, 2, 3], [0, 500, 1500], [1, 0, 1]))
        writer.write(make_events([4, 5], [4, 5], [gap_us, gap_us + 500], [1, 1]))
    return path


def _tail_file(path, tail_us: int = 8_000_000):
    """Three events, then time words `tail_us` later: the closing packet waits that long."""
    with RawWriter(path, W, H) as writer:
        writer.write(make_events([1, 2, 3], [1, 2, 3], [0, 500, 1500], [1, 0, 1]))
        writer.write_time(1500 + tail_us)
    return path


@pytest.mark.parametrize("make_file, packets, announced", [(_gap_file, 2, 1),
                                                          (_tail_file, 2, 0)])
def test_a_stop_request_ends_a_long_wait_at_once(tmp_path, make_file, packets, announced):
    """The replay slept until the next packet was due, whatever the gap (an outsider's
    `timeout 15 neuroq replay` of a file whose time jumped ran 4 min 13 s): a stop request
    now ends it within STOP_POLL_S, in a silence of the recording or before the closing
    time packet, and the summary says so. A silence over LONG_WAIT_S is announced; time
    words are sent through it (KEEPALIVE_US), as a sensor sends them."""
    import threading
    import time

    from neuroq.ros_nodes.event_replay import STOP_POLL_S
    from neuroq.ros_nodes.process import StopRequest

    path = make_file(tmp_path / "rec.raw")
    stop = StopRequest()
    lines, warnings, asked = [], [], []

    def stop_in_the_silence() -> None:  # once the packets before it are out
        wait_until(lambda: len(probe.messages("events")) >= packets, 8.0)
        time.sleep(0.2)
        asked.append(time.monotonic())
        stop.request("a test")

    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        probe.watch(EventPacket, "events", command_qos(1000))
        thread = threading.Thread(target=stop_in_the_silence)
        thread.start()
        s = replay(path, speed=1.0, node=probe, log=lines.append, warn=warnings.append,
                   stop=stop)
        took = time.monotonic() - asked[0]
        thread.join()
    assert took < STOP_POLL_S + 0.2, took
    assert s.stopped == "a test" and s.events == 3
    assert s.packets - s.keepalive_packets == packets and s.keepalive_packets > 10, s
    assert lines == [s.line("evt3")] and lines[0].startswith("stopped by a test: replayed 3 ")
    # the 200 s silence is announced; the 8 s one before the closing packet is under
    # LONG_WAIT_S
    assert len(warnings) == announced, warnings
    assert all("a silence of 200.0 s in the recording" in w for w in warnings), warnings


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_stops_the_replay_command_with_status_0(tmp_path, sig):
    """Ctrl-C or SIGTERM 4 s into `neuroq replay` ended in exit 1 and a traceback
    ("publisher's context is invalid": rclpy's handler shut the context down under a
    publish), or 130; now: status 0 soon after the signal, one summary line saying it
    stopped, no traceback, as the other nodes (docs/ros.md, "Exit status"). SIGHUP (its
    terminal closed) ended it at once, without the summary (an outsider's fuzzing, stop
    40)."""
    import os
    import select
    import signal
    import subprocess
    import sys
    import time

    from tests.helpers.ros import EVENT_DOMAIN_ID

    path = _gap_file(tmp_path / "rec.raw")
    env = {**os.environ, "ROS_DOMAIN_ID": str(EVENT_DOMAIN_ID)}
    proc = subprocess.Popen([sys.executable, "-m", "neuroq.agents.cli.main", "replay",
                             str(path), "--topic", "stop_test"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            # SIGHUP at its default action, as from a terminal, whatever
                            # started pytest (a CI under nohup ignores it, and so would we)
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:  # in the 200 s silence, once the packets before it are out (it warns then,
        # after saying no subscriber matched within DISCOVERY_WAIT_S)
        said = []
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and not any("a silence of 200.0 s" in s
                                                      for s in said):
            ready, _, _ = select.select([proc.stderr], [], [], 1.0)
            if ready:
                said.append(proc.stderr.readline())
        assert any("a silence of 200.0 s in the recording" in s for s in said), said
        assert any("no subscriber on /stop_test after 5 s" in s for s in said), said
        time.sleep(0.2)
        t0 = time.monotonic()
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=5)
        took = time.monotonic() - t0
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Failed to publish" not in err, err
    assert out.strip().splitlines() == [out.strip()], out
    assert out.startswith(f"stopped by {sig}: replayed 3 events in "), out
    assert "of them time words through silences" in out, out
    assert took < 2.0, took  # signal to exit, teardown included (about 0.3 s measured)


def _header(width=W, height=H) -> bytes:
    return f"% evt 3.0\n% format EVT3;height={height};width={width}\n% end\n".encode()


def _pan(path):
    with RawWriter(path, W, H) as writer:
        writer.write(recording(3))
    return path


def _bad_input(tmp_path, case: str) -> list[str]:
    """The command line for one bad input (`case`), its files made in tmp_path."""
    rng = np.random.default_rng(5)
    if case == "empty":
        (tmp_path / "x.raw").write_bytes(b"")
    elif case == "garbage header":
        (tmp_path / "x.raw").write_bytes(b"% garbage\nsome text, not a recording\n")
    elif case == "random bytes":
        (tmp_path / "x.raw").write_bytes(rng.bytes(5000))
    elif case in ("random bytes, size given", "header and random data"):
        head = _header() if case == "header and random data" else b""
        (tmp_path / "x.raw").write_bytes(head + rng.bytes(5000))
    elif case == "header stripped":
        data = _pan(tmp_path / "rec.raw").read_bytes()
        (tmp_path / "x.raw").write_bytes(data[data.index(b"% end\n") + 6:])
    elif case == "cut in its header":  # an outsider's first 150 bytes of a recording
        (tmp_path / "x.raw").write_bytes(_header()[:30])
    elif case == "cut at a header line's end":  # a reviewer: it passed as "no events"
        (tmp_path / "x.raw").write_bytes(_header()[:10])
    elif case == "two sizes in its header":  # an outsider's: read as 64x48, no word
        data = _pan(tmp_path / "rec.raw").read_bytes()
        (tmp_path / "x.raw").write_bytes(data.replace(b"% end\n", b"% geometry 640x480\n"
                                                                  b"% end\n", 1))
    elif case == "folder":
        (tmp_path / "x.raw").mkdir()
    elif case == "folder not named .raw":
        (tmp_path / "recordings").mkdir()
        return [str(tmp_path / "recordings")]
    elif case == "missing, no suffix":
        return [str(tmp_path / "recording")]
    elif case.startswith("--"):
        _pan(tmp_path / "x.raw")
        return [str(tmp_path / "x.raw"), *case.split(" ", 1)]
    size = ["--width", "32", "--height", "32"] if "size given" in case else []
    return [str(tmp_path / "x.raw"), *size]


@pytest.mark.parametrize("case, match", [
    ("empty", "x.raw is empty (0 bytes): not a Prophesee .raw (EVT 3.0) recording"),
    ("garbage header", "its header names no event format"),
    ("random bytes", "no Prophesee header (its first byte is not '%')"),
    ("random bytes, size given", "not EVT 3.0 data: "),
    ("header and random data", "not EVT 3.0 data: "),
    ("header stripped", "if it holds EVT 3.0 data, give its sensor size"),
    ("cut in its header", "x.raw: ends inside its header (no '% end' line and no data "
                          "after its last line, '% format EVT3;height'): a truncated "
                          "recording"),
    ("cut at a header line's end", "x.raw: ends inside its header (no '% end' line and no "
                                   "data after its last line, '% evt 3.0')"),
    ("folder", "x.raw is a folder, not a file"),
    ("folder not named .raw", "is a folder, not a file: give a Prophesee .raw"),
    ("missing, no suffix", "event file not found: "),
    ("two sizes in its header", f"x.raw: its format line gives a {W}x{H} sensor, its "
                                "geometry line 640x480: give the sensor size (`neuroq replay "
                                "--width W --height H`"),
    ("--topic 1abc", "topic '1abc' is not a valid ROS 2 topic name: topic name token must "
                     "not start with a number"),
    ("--topic bad topic", "topic 'bad topic' is not a valid ROS 2 topic name"),
    ("--topic a//b", "topic 'a//b' is not a valid ROS 2 topic name: topic name must not "
                     "contain repeated '/'"),
    ("--width 32", "--width and --height go together"),
    ("--height 32", "got only --height"),
    (f"--frame-id {'f' * 257}", "argument --frame-id: must be at most 256 characters (the "
                                "nodes skip messages with a longer frame_id), got 257"),
    # replayed, all skipped by the event node: an outsider
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, case, match):
    """An outsider's damaged files were all told to give --width/--height (and then
    replayed "0 events", or one event and 250 s of camera time from random bytes); a bad
    --topic ended in rclpy's traceback; a folder was "not found"; --width alone was
    ignored. Each is now one line, status 2, nothing published."""
    from neuroq.agents.cli.main import main

    code = main(["replay", *_bad_input(tmp_path, case), "--speed", "inf"])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("neuroq replay: error: ") and match in lines[0], lines[0]
    assert "Traceback" not in err and not out


def test_a_file_without_events_or_with_skipped_words_is_replayed_with_a_warning(tmp_path):
    """A valid header with no events replayed "0 events" and no word of warning; decoding
    that skips words or events said nothing either. Both warn now (and are not refused:
    the file is EVT 3.0, and a few damaged words do not spoil a recording)."""
    empty = tmp_path / "empty.raw"
    empty.write_bytes(_header())
    damaged = tmp_path / "damaged.raw"
    data = _pan(tmp_path / "rec.raw").read_bytes()
    cut = len(data) // 4 * 2
    damaged.write_bytes(data[:cut] + b"\x00\x90" * 3 + data[cut:])  # 3 words of type 0x9
    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        probe.watch(EventPacket, "events", command_qos(1000))  # no discovery wait
        warnings = []
        s = replay(empty, speed=float("inf"), node=probe, log=lambda _: None,
                   warn=warnings.append)
        assert s.events == 0 and warnings == [f"{empty} holds no events: nothing was published"]
        warnings.clear()
        s = replay(damaged, speed=float("inf"), node=probe, log=lambda _: None,
                   warn=warnings.append)
    assert s.events > 2900 and s.warnings == tuple(warnings)
    assert len(warnings) == 1 and "corrupt_words=3" in warnings[0], warnings
    assert "past the part sent" not in warnings[0]  # the whole file was sent
    # cut short before the damage: the reader had read ahead of the part sent (an
    # outsider's --max-seconds 1 warned of words 1.01 s into the file): the warning says so
    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        probe.watch(EventPacket, "events", command_qos(1000))
        warnings.clear()
        s = replay(damaged, speed=float("inf"), node=probe, log=lambda _: None,
                   warn=warnings.append, max_packets=2)
    assert s.packets == 2 and len(warnings) == 1 and "corrupt_words=3" in warnings[0]
    assert "(counted in what was read, which runs past the part sent, at least to the end " \
        "of its 64 KiB chunk: some may lie past it)" in warnings[0], warnings
    # external trigger words: not errors, but not replayed either (dropped without a word
    # before: an outsider's file had 5)
    from neuroq.deploy.events import EVT3_EXT_TRIGGER

    triggered = tmp_path / "triggered.raw"
    word = np.array([EVT3_EXT_TRIGGER << 12 | 1] * 2, "<u2").tobytes()
    triggered.write_bytes(data[:cut] + word + data[cut:])
    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        probe.watch(EventPacket, "events", command_qos(1000))
        warnings.clear()
        replay(triggered, speed=float("inf"), node=probe, log=lambda _: None,
               warn=warnings.append)
    assert warnings == [f"{triggered}: its 2 external triggers were not replayed: the packets "
                        "carry the file's events and time words only"], warnings


def test_replay_in_process_gives_its_signal_handlers_back(tmp_path):
    """`neuroq replay` run in process (as tests and scripts do) leaves SIGINT, SIGTERM and
    SIGALRM as it found them when no stop came (it left its stop handler installed, so a
    later Ctrl-C armed the 5 s teardown limit of the calling process)."""
    import signal

    from neuroq.agents.cli.main import main

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM,
                                                     signal.SIGALRM)}
    folder = tmp_path / "d.raw"
    folder.mkdir()
    assert main(["replay", str(folder)]) == 2
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_a_robot_install_replays_with_its_own_executable(tmp_path, capsys):
    """A robot install (colcon) has no `neuroq` command: an outsider's `python -m
    neuroq.ros_nodes.event_replay FILE` exited 0 and published nothing. The robot side's
    `neuroq_event_replay` (`neuroq.ros_nodes.replay_command.main`, installed to lib/neuroq,
    tests/test_colcon_install.py) replays with `neuroq replay`'s options and errors."""
    import os
    import subprocess
    import sys

    from neuroq.ros_nodes.replay_command import main
    from tests.helpers.ros import EVENT_DOMAIN_ID

    assert main([str(tmp_path / "missing.raw")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuroq_event_replay: error: event file not found: ")
    assert len(err.strip().splitlines()) == 1, err
    assert main([str(_pan(tmp_path / "x.raw")), "--width", "32"]) == 2
    assert "--width and --height go together" in capsys.readouterr().err
    # ROS arguments after the options go to rcl (ros2 run, a launch file); bad ones: a line
    assert main([str(tmp_path / "x.raw"), "--ros-args", "-p"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuroq_event_replay: error: failed to initialize rcl: Couldn't "
                          "parse trailing -p flag") and len(err.strip().splitlines()) == 1, err
    assert main([str(tmp_path / "x.raw"), "--ros-args", "--bogus"]) == 2  # (a traceback)
    err = capsys.readouterr().err
    assert err.startswith("neuroq_event_replay: error: unrecognized ROS arguments: --bogus")
    assert len(err.strip().splitlines()) == 1, err
    # `neuroq replay` takes them too (it said "unrecognized arguments", a recheck); the
    # other commands do not
    from neuroq.agents.cli.main import main as neuroq

    assert neuroq(["replay", str(tmp_path / "x.raw"), "--speed", "inf", "--ros-args", "-r",
                   "events:=robot_replay_cli"]) == 0
    assert capsys.readouterr().out.startswith("replayed 3000 events in ")
    assert neuroq(["show", str(tmp_path), "--ros-args", "-r", "a:=b"]) == 2
    assert "unrecognized arguments: --ros-args -r a:=b" in capsys.readouterr().err
    # a whole replay, in a process of its own that never imports the training side
    code = ("import sys; from neuroq.ros_nodes.replay_command import main; "
            "rc = main(sys.argv[1:]); "
            "assert not [m for m in sys.modules if m.startswith(('neuroq.agents', 'torch'))]; "
            "sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.raw"), "--speed",
                          "inf", "--ros-args", "-r", "events:=robot_replay"],
                         capture_output=True, text=True,
                         env={**os.environ, "ROS_DOMAIN_ID": str(EVENT_DOMAIN_ID)},
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("replayed 3000 events in "), out.stdout


def test_a_fast_replay_of_a_silence_passes_the_time_jump_guard(tmp_path):
    """A review: a recording with a 1.5 s silence replayed faster than real time moved
    camera time across it in one packet (the file's time words are gone once its events
    are re-cut), and the event node's guard (max_jump_ms) skipped that packet as garbage.
    The replay sends time words through silences (KEEPALIVE_US), as a sensor does: all
    packets taken with no host time between, nothing is skipped."""
    from neuroq.deploy.events import DEFAULT_MAX_JUMP_MS, PacketDecoder, TimeJumpGuard

    path = _tail_file(tmp_path / "rec.raw", tail_us=1_500_000)
    with RawWriter(path, W, H) as writer:  # events, a 1.5 s silence, events again
        writer.write(make_events([1, 2], [1, 2], [0, 500], [1, 0]))
        writer.write(make_events([3, 4], [3, 4], [1_500_000, 1_500_200], [1, 1]))
    with spinning(lambda ctx: Probe(ctx)) as (probe,):
        probe.watch(EventPacket, "events", command_qos(1000))
        s = replay(path, speed=float("inf"), node=probe, log=lambda _: None)
        assert wait_until(lambda: len(probe.messages("events")) == s.packets, 10.0)
        got = [m for _, m in probe.messages("events")]
    decoder = PacketDecoder(W, H)
    guard = TimeJumpGuard(round(DEFAULT_MAX_JUMP_MS * 1000))
    events = [guard.decode(decoder, [m], 0)[0] for m in got]  # one take each, no time
    assert decoder.stats.time_jumps == 0 and sum(e.size for e in events) == 4
    assert s.keepalive_packets > 300


def test_a_header_size_no_evt3_sensor_has_is_refused(tmp_path):
    """An outsider's header of 99999999 x 99999999 was replayed without a word: EVT 3.0
    coordinates have 11 bits, so a sensor has at most 2048 pixels a side."""
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.events import RawReader
    from neuroq.deploy.events.evt3_encode import time_words

    path = tmp_path / "big.raw"
    path.write_bytes(b"% evt 3.0\n% format EVT3;height=99999999;width=99999999\n% end\n"
                     + time_words(100))
    with pytest.raises(NeuroqError, match="cannot be an EVT 3.0 sensor's"):
        RawReader(path)
    with pytest.raises(NeuroqError, match="cannot be an EVT 3.0 sensor's"):
        RawReader(path, width=4096, height=10)
    assert RawReader(path, width=640, height=480).width == 640  # the size given wins


@pytest.mark.parametrize("line,match", [
    ("% format EVT3;height=-5;width=32", "its format line gives height=-5: no size in pixels"),
    ("% format EVT3;height=abc;width=32\n% geometry 32x32",
     "its format line gives height=abc: no size in pixels"),
    ("% format EVT3;width=33\n% geometry 32x24",
     "its format line gives a 33x\\? sensor, its geometry line 32x24"),
])
def test_a_header_size_that_is_no_count_of_pixels_is_named(tmp_path, line, match):
    """An outsider's header of height=-5 was refused as "the header gives no sensor size";
    with a geometry line beside it, one that gave only its width read as a 32x-1 sensor.
    The sensor size given by the user still wins."""
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.events import RawReader
    from neuroq.deploy.events.evt3_encode import time_words

    path = tmp_path / "odd.raw"
    path.write_bytes(f"% evt 3.0\n{line}\n% end\n".encode() + time_words(100))
    with pytest.raises(NeuroqError, match=match):
        RawReader(path)
    assert (RawReader(path, width=32, height=24).width, RawReader(path, width=32,
                                                                 height=24).height) == (32, 24)


def test_a_format_line_that_gives_part_of_the_size_takes_the_geometry_line_s_rest(tmp_path):
    from neuroq.deploy.events import RawReader
    from neuroq.deploy.events.evt3_encode import time_words

    path = tmp_path / "part.raw"
    path.write_bytes(b"% evt 3.0\n% format EVT3;width=32\n% geometry 32x24\n% end\n"
                     + time_words(100))
    reader = RawReader(path)
    assert (reader.width, reader.height, reader.header_conflict) == (32, 24, "")
