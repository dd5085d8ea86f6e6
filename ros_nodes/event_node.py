"""Event node: DVS EventPackets in, spiking-policy actions out, events as input spikes.

Subscribes  `events` (event_camera_msgs/EventPacket, best effort, keep last
            `queue_depth`): the packets a camera driver (metavision_driver, libcaer_driver),
            `neuroq replay` or `neuroq.ros_nodes.event_camera_node` publishes, about 1 ms each.
            Encodings `evt3` (Prophesee EVT 3.0) and `mono` are decoded by
            `neuroq.deploy.events.PacketDecoder`, which keeps the EVT 3.0 state across packets;
            EVT 3.0 through the `evt3` package (Rust) where it is installed, else numpy (the
            start-up log line and the diagnostics name the one in use).
Publishes   `action` (sensor_msgs/Joy, reliable), as the policy node does:
            `buttons = [action]`, `axes = Q-values`. `header.stamp` is the END of the
            control period in CAMERA time (microseconds since the camera's time origin, as
            ns), which pairs the action with its period; `header.frame_id` is the camera's.
            `/diagnostics`: packets, events, lost packets (gaps in `seq`), every decode
            problem counter, periods, latency, spikes and modeled energy per action,
            take_ticks (the take thread's wake-ups).

Receiving (`batch_ms` > 0, the default): the subscription belongs to a helper node of the
same process, `<name>_reader`, that no executor spins, so no callback runs per packet; a
thread of this node (sleeping on the monotonic clock, whatever `use_sim_time` says) takes
every packet queued in it and decodes them in one pass, so that receiving costs no executor
wake-up per packet, and a take costs no executor dispatch either (an rclpy timer cost
90-120 us of CPU per firing here; the thread's wake-up about a quarter of that). When it
takes next is `neuroq.deploy.events.stream.TakeScheduler`'s: with a live camera (camera
time running at the wall clock's rate), when the packet that completes the open control
period is due (judged from the packets' reception times), about once per period;
otherwise (a replay at another speed, a simulation in lockstep, a late packet) every
`batch_ms`; once a period when no camera time came for a second. Either way an action
follows the packet that completes its period within about `batch_ms` at most (figures:
the event node's throughput in docs/events.md). The reader subscribes to the topic this
node resolves `events` to (remappings included); it starts no parameter services, no rosout and
no type description service (it still appears in `ros2 node list` and publishes on
/parameter_events, as every rclpy node does).
`batch_ms` 0: the subscription is this node's and each packet is handled on arrival
(lowest latency; with whatever else is queued then).

Design: this node runs the policy itself rather than forwarding counts to the policy node,
so that each event reaches the network as an input spike in the time bin of its timestamp
and no frame is ever built. The stream is cut into control periods of the encoder's
`period_us` (`neuroq.deploy.events.stream.PeriodWindower`); each period's events become
its input spikes as they are decoded (`EventEncoder.period_spikes`: the spikes
`EventEncoder.encode_events` makes of them), kept as columns from the decoder on (no
EVENT_DTYPE array), and a period is acted on (`SpikingPolicy.act_spikes`) once camera time
(events, or EVT 3.0 time words) has passed its end.

Bad input never stops the node: truncated EVT 3.0 words, events outside the sensor, time
going backwards, an unknown encoding and payloads that are not bytes are counted per reason
and skipped; an evt3 packet holding a corrupt word (an undefined type) is skipped whole
(`corrupt_packets`), since its other words would move camera time; lost, reordered and
duplicate packets are told apart by `seq` (the last two not decoded, `_count_seq`); decode
problems come with a throttled warning, and every counter that grows turns the diagnostics
WARN for WARN_HOLD_S, naming it. Events are
decoded against the policy's sensor size (the encoder's), so events outside it count as
out_of_sensor whatever size the packet declares.

Parameters (read-only; `use_sim_time` too, at run time): artifact (str), backend (emulator |
reference), env_id (str, "" accepts any event artifact), queue_depth (int), reliable (bool,
default false: best effort matches every publisher; true makes delivery lossless with
reliable publishers such as `neuroq replay` and the simulated camera, but receives nothing
from a best-effort one), batch_ms (float, 2: the node takes the queued packets together,
when a live camera's period completes and otherwise every batch_ms; 0: each packet as it
arrives), evt3_decoder (auto | evt3 | numpy: auto takes the `evt3` package where it is
installed; evt3 refuses to activate without it), max_gap_periods (int, 3: of a run of empty
periods, after a silence or a stall, the last this many are acted on), max_lag_ms (float,
30: a period whose completing packet the node received more than this long before it took
it, when it fell behind, is not acted on; 0: every period is; needs reception times, which
Fast DDS gives, and batch_ms > 0), max_jump_ms (float, 1000: a packet that moves camera
time this much further ahead than the host's clock moved is skipped as garbage, counted in
time_jumps, unless the next packet holding a time word confirms the jump; 0: no guard;
`neuroq.deploy.events.jumps`), roi_x and roi_y (int, both -1 by default: the camera's
sensor is the artifact's; set, the artifact's sensor is the camera's pixels (roi_x, roi_y)
to (roi_x + width - 1, roi_y + height - 1), a window the camera's hardware region of
interest keeps in sensor coordinates, and events outside it count in outside_window, not
a problem counter),
diagnostics_period_s (float), latency_window (int).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rclpy.utilities import get_rmw_implementation_identifier
from sensor_msgs.msg import Joy

from neuroq.deploy.control import MAX_COPIED_STRING_CHARS, NS_PER_S
from neuroq.deploy.encoders import takes_events
from neuroq.deploy.errors import NeuroqError, counted, failure_text
from neuroq.deploy.events import (
    DEFAULT_MAX_JUMP_MS,
    EVT3_DECODERS,
    MIN_MAX_JUMP_MS,
    DecodeStats,
    PacketDecoder,
    TimeJumpGuard,
    evt3_decoder_name,
    mislabelled,
    skip_details,
)
from neuroq.deploy.events.evt3_words import EVT3_MAX_COORD
from neuroq.deploy.events.mono import NS_PER_US
from neuroq.deploy.events.stream import (
    BACKLOG_DELAY_S,
    DEFAULT_MAX_GAP_PERIODS,
    DEFAULT_MAX_LAG_MS,
    PeriodWindower,
    TakeScheduler,
    crop_window,
    stale_prefix,
)
from neuroq.deploy.latency import LatencyWindow
from neuroq.ros_nodes.cdr import EventPacketReader, serialize_joy
from neuroq.ros_nodes.diagnostics import (
    LEVEL_ERROR,
    LEVEL_OK,
    LEVEL_WARN,
    Crowding,
    QosMismatches,
    diagnostic_array,
    foreign_publishers,
)
from neuroq.ros_nodes.executor import steady_timer
from neuroq.ros_nodes.messages import EVENT_PACKET, message_class
from neuroq.ros_nodes.params import (
    check_choice,
    declare,
    empty_artifact,
    refuse_runtime_changes,
    warn_artifact,
)
from neuroq.ros_nodes.process import run_node, stop_requested
from neuroq.ros_nodes.qos import (
    TOPIC_ACTION,
    TOPIC_DIAGNOSTICS,
    TOPIC_EVENTS,
    command_qos,
    sensor_qos,
    stamp_ns,
    take_queued,
)
from neuroq.ros_nodes.realtime import declare_process_parameters
from neuroq.ros_nodes.throttle import ThrottledLog

NODE_NAME = "neuroq_event_policy"
BACKENDS = ("emulator", "reference")
DEFAULT_QUEUE_DEPTH = 1000
"""Packets the subscription buffers: 1 s of 1 ms packets, so a busy moment drops none."""
DEFAULT_BATCH_MS = 2.0
"""The polling interval (ms) of the take thread, whose packets are decoded together:
receiving without a callback per packet and EVT 3.0 decoding, which has a fixed cost per
call, both cost less per packet in batches (1000-event bursts: 36 -> 23 us of CPU per
packet decoded 2 at a time with the `evt3` decoder, 184 -> 102 us with numpy;
bench/bench_events.py, docs/events.md). With a live camera the thread wakes when a period
is due instead (`TakeScheduler`) and polls only for a late packet. It adds up to this much
latency to an action (plus the thread's own lateness)."""
MAX_BATCH_PACKETS = 200
"""Packets decoded together at most (200 ms of 1 ms packets)."""
MAX_TAKE_PACKETS = 2000
"""Packets one take takes at most (in batches of MAX_BATCH_PACKETS), so that one take
(which holds the node's state, see `_lock`) stays bounded while the node catches up after
a stall."""
TICK_BUDGET_S = 0.02
"""A take takes no further batch after this long (s), so the diagnostics still get the
node's state while it works through a backlog."""
MIN_TAKE_DELAY_S = BACKLOG_DELAY_S
"""Shortest time (s) from the end of one take to the next."""
TAKER_JOIN_S = 1.0
"""How long stopping the node waits for its take thread to finish a take (s)."""
START_DELAY_S = 1e-3
"""The take thread starts from an executor timer this long (s) after the node is built, so
that the node takes and acts only once it is spun (`run_node` commands nothing before)."""
RECEIPT_STAMPING_RMW = "rmw_fastrtps"
"""The middleware (rmw implementation name prefix) whose message info carries the time a
message was received (Fast DDS's reception timestamp), which TakeScheduler needs."""
READER_SUFFIX = "_reader"
"""Name of the helper node that holds the subscription when batch_ms > 0: this node's name
plus this."""
CAMERA_RESTART_US = 1_000_000
"""A packet whose EVT 3.0 time words lie this far (1 s) before the last event, with no
event accepted, means the camera's clock restarted (driver or sensor reset): the decoder
and the periods start over (counted in `camera_restarts`)."""
SEQ_MODULUS = 1 << 64
"""EventPacket.seq is a uint64."""
SEQ_NEWER, SEQ_OLD, SEQ_HELD, SEQ_RESTARTED = range(4)
"""What `_count_seq` makes of a packet: after the newest seq (decoded); at or before it,
reordered, duplicate or stray (not decoded); at or before it but stamped after the newest
(or, without stamps, more than REORDER_WINDOW behind it), perhaps the first of a restarted
numbering (held until the next packet tells); the next of a restarted numbering (decoded,
after the held one)."""
class _BadParameter(NeuroqError):
    """A parameter that turns out bad once the artifact is loaded (status 2, one line),
    raised through the refusal's handler."""


PROBLEM_COUNTERS = ("lost_packets", "reordered_packets", "seq_backwards", "bad_messages",
                    "callback_errors", "sensor_size_mismatch", "camera_restarts", "late_events",
                    "stale_periods", "mislabelled_packets", *DecodeStats.REPORTED)
"""Counters whose growth turns the diagnostics to WARN (for WARN_HOLD_S). Not
skipped_periods: a camera that sent nothing for a while (a `mono` stream has no time words
to fill a silence) is no fault."""
PACKET_SILENCE_WARN_S = 1.0
"""The diagnostics turn WARN once no packet has come for this long (s; 100 control periods
of 10 ms), naming how long: a camera that stopped was reported OK for good (an outsider). A
camera sends packets while it runs, time words too when no pixel fires."""
REORDER_WINDOW = 64
"""Packets counted as lost that are remembered, so that one arriving late (out of order)
is counted as reordered instead of lost (the newest this many)."""
WARN_HOLD_S = 5.0
"""The diagnostics stay WARN this long (s) after a problem counter last grew, naming each
counter that grew meanwhile and by how much, so that a monitor sampling them now and then
still sees it (one WARN message among OK ones is easily missed)."""


class EventPolicyNode(Node):
    """Runs an event-encoder artifact on a live event stream. See the module docstring.

    policy: an already loaded policy (tests); None loads parameter `artifact`.
    After construction, `active` says whether the node runs; `refusal` says why not.
    """

    def __init__(self, policy: Any = None, node_name: str = NODE_NAME,
                 **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        declare_process_parameters(self)  # first: a bad value stops it before any log
        # not installed (no wheel exists): one line naming where it comes from
        self._packet_type = message_class(EVENT_PACKET)
        self.active = False
        self.refusal: str | None = None
        self._reader: Node | None = None
        self._taker: threading.Thread | None = None
        self._stop_taking = threading.Event()
        self._lock = threading.RLock()  # the stream's state: the take thread and diagnostics
        self._artifact = declare(self, "artifact", "", "path of the deploy artifact")
        self._backend = declare(self, "backend", "emulator", "where the network runs",
                                choices=BACKENDS)
        env_id = declare(self, "env_id", "", "env the artifact must control ('': any)")
        depth = declare(self, "queue_depth", DEFAULT_QUEUE_DEPTH,
                        "EventPacket queue depth (best effort)", int_range=(1, 100000))
        batch_ms = self._batch_ms = declare(self, "batch_ms", DEFAULT_BATCH_MS,
                           "take the queued packets together, when a live camera's "
                           "period is due and otherwise every this many ms (0: handle "
                           "each packet as it arrives)",
                           float_range=(0.0, 100.0))
        self._evt3_decoder = declare(
            self, "evt3_decoder", "auto", "EVT 3.0 decoder: auto (the evt3 package where "
            "installed, else numpy), evt3 or numpy", choices=EVT3_DECODERS)
        reliable = self._reliable = declare(self, "reliable", False,
                           "subscribe reliable (lossless, but matches only reliable "
                           "publishers) instead of best effort (matches any)")
        max_gap = declare(self, "max_gap_periods", DEFAULT_MAX_GAP_PERIODS,
                          "empty periods acted on after a silence, at most",
                          int_range=(1, 100000))
        self._max_lag_ms = declare(self, "max_lag_ms", DEFAULT_MAX_LAG_MS,
                                   "a period whose completing packet was received more "
                                   "than this many ms before the node took it is not "
                                   "acted on (0: no bound)", float_range=(0.0, 10000.0))
        if 0 < self._max_lag_ms <= batch_ms:  # every polled packet would wait that long
            raise NeuroqError(f"max_lag_ms ({self._max_lag_ms:g}) must exceed batch_ms "
                              f"({batch_ms:g}), or be 0 (no bound): a packet may wait "
                              "batch_ms in the queue before it is taken")
        max_jump_ms = self._max_jump_ms = declare(self, "max_jump_ms", DEFAULT_MAX_JUMP_MS,
                              "a packet moving camera time this many ms further ahead than "
                              "the host's clock is skipped as garbage unless the next "
                              "confirms it (0: no guard)", float_range=(0.0, 1e6))
        if 0 < max_jump_ms < MIN_MAX_JUMP_MS:  # a backlog taken at once would read as one
            raise NeuroqError(f"max_jump_ms ({max_jump_ms:g}) must be 0 (no guard) or at "
                              f"least {MIN_MAX_JUMP_MS:g}: a backlog of packets taken at "
                              "once moves camera time ahead of the host's clock by its "
                              "length")
        roi = (declare(self, "roi_x", -1, "the artifact's sensor is the camera's pixels "
                       "from this column on (-1: the camera's sensor is the artifact's)",
                       int_range=(-1, EVT3_MAX_COORD)),
               declare(self, "roi_y", -1, "the artifact's sensor is the camera's pixels "
                       "from this row on (-1: the camera's sensor is the artifact's)",
                       int_range=(-1, EVT3_MAX_COORD)))
        if (roi[0] < 0) != (roi[1] < 0):
            raise NeuroqError(f"roi_x ({roi[0]}) and roi_y ({roi[1]}) are set together (the "
                              "window's top-left pixel on the camera) or both left at -1")
        self._roi = roi if roi[0] >= 0 else None
        period = declare(self, "diagnostics_period_s", 1.0, "seconds between diagnostics",
                         float_range=(0.05, 60.0))
        window = declare(self, "latency_window", 1000,
                         "recent actions the latency percentiles cover", int_range=(10, 100000))
        refuse_runtime_changes(self)  # use_sim_time too (its timers are chosen once)
        self._diag_pub = self.create_publisher(DiagnosticArray, TOPIC_DIAGNOSTICS,
                                               command_qos())
        # a value that is not one of the choices is a bad parameter (status 2, one line,
        # from run_node), not a refusal to activate
        check_choice("backend", self._backend, BACKENDS)
        check_choice("evt3_decoder", self._evt3_decoder, EVT3_DECODERS)
        if policy is None and not self._artifact.strip():  # a bad parameter (whitespace too)
            raise NeuroqError(empty_artifact(self, "dvs_pan_tracking"))  # (it exited 1)
        try:
            self.policy = policy if policy is not None else self._load()
            encoder = self.policy.encoder
            if not takes_events(encoder):
                raise NeuroqError(f"the artifact's encoder is {encoder.kind!r}, not 'event': "
                                  "export a network converted with --encoder event")
            art_env = self.policy.manifest.get("env_id")
            if env_id and art_env != env_id:
                raise NeuroqError(f"the artifact controls {art_env} but env_id is {env_id}")
            self.encoder = encoder
            self.policy.act_events({"x": [], "y": [], "t": [], "p": []}, 0)  # it runs
            x0, y0 = self._roi or (0, 0)
            if max(x0 + encoder.width, y0 + encoder.height) > EVT3_MAX_COORD + 1:
                # a bad parameter (status 2, one line) as an roi_x past 2047 is, not a
                # refusal to activate (status 1: the recheck of stop 42), known once the
                # artifact is
                raise _BadParameter(
                    f"roi_x, roi_y = {x0}, {y0}: the artifact's {encoder.width}x"
                    f"{encoder.height} window would reach past pixel {EVT3_MAX_COORD} (EVT "
                    "3.0 has 11-bit coordinates)")
            # decoded against the window's far corner; crop_window takes the near side
            self._decoder_size = (x0 + encoder.width, y0 + encoder.height)
            self.decoder = self._new_decoder()  # evt3 asked for and missing: a refusal
        except _BadParameter:
            raise
        except Exception as exc:  # anything short of a working policy: refuse
            self.refusal = failure_text(exc)
            self.get_logger().error(f"not activating: {self.refusal}")
            self._diag_pub.publish(diagnostic_array(
                self, LEVEL_ERROR, f"not activating: {self.refusal}", self._backend,
                {"artifact": self._artifact}))
            return
        self.windower = self._windower(max_gap)
        self._jumps = TimeJumpGuard(round(max_jump_ms * 1e3))
        self.decode_stats = DecodeStats()
        self.counters = {"packets": 0, "lost_packets": 0, "reordered_packets": 0,
                         "seq_backwards": 0, "mislabelled_packets": 0,
                         "sensor_size_mismatch": 0, "actions": 0, "policy_failures": 0,
                         "callback_errors": 0, "camera_restarts": 0, "stale_periods": 0,
                         "bad_messages": 0, "take_ticks": 0, "outside_window": 0}
        self._last_seq: int | None = None  # the newest seq (see _count_seq)
        self._first_seq: int | None = None  # the seq of the first packet taken
        self._missing: set[int] = set()  # seqs counted lost lately (see _count_seq)
        self._held: Any = None  # a packet that may start a restarted numbering (_count_seq)
        self._frame_id: str | None = None  # the newest packet's header.frame_id
        self._newest_stamp_ns = 0  # the header stamp of the newest seq's packet (0: none)
        self._read_packet = EventPacketReader()
        self._last_event_us = -1
        self._camera_us = -1  # camera time the stream has reached (events or time words)
        self._act_s = LatencyWindow(window)
        self._sums = np.zeros(3)  # spikes, synaptic events, modeled energy (J)
        self._energy_known = False
        self._reported: dict[str, int] = {}  # PROBLEM_COUNTERS at the last diagnostics
        self._skip_details = ""  # what the latest skipped packets declared (skip_details)
        self._skip_details_for: set[str] = set()  # the counters it explains
        self._recent: dict[str, int] = {}  # their growth since the WARN began
        self._warned_at = -WARN_HOLD_S  # monotonic s of the last growth
        self._log = ThrottledLog(self.get_logger())
        # restarts are logged apart: a flood of bad-input lines must not hide one
        self._restart_log = ThrottledLog(self.get_logger())
        self._stale_log = ThrottledLog(self.get_logger())  # a backlog, apart from bad input
        self._started = time.monotonic()
        self._rate_mark: tuple[float, int] | None = None  # (monotonic s, events) last reported
        self._last_packet_s: float | None = None  # monotonic s of the last message taken
        self._last: Any = None
        self._qos = QosMismatches(self)  # peers DDS does not match (their QoS)
        self._action_pub = self._qos.create_publisher(Joy, TOPIC_ACTION, command_qos(),
                                                      "action")
        qos = command_qos(depth) if reliable else sensor_qos(depth)
        if batch_ms > 0:  # taken by a thread from a node no executor spins (module docstring)
            self._reader, self._sub = packet_reader(self, qos)
            self._scheduler = TakeScheduler(batch_ms / 1e3, encoder.period_us / 1e6)
            # reception times that are the packet's arrival: Fast DDS stamps it on receipt
            # (rmw_cyclonedds stamps the take, which would feed the node's own lateness
            # back into the scheduler); without them the node polls every batch_ms
            self._reception_times = get_rmw_implementation_identifier().startswith(
                RECEIPT_STAMPING_RMW)
            # a thread of its own on the monotonic clock (whatever use_sim_time says: a bag
            # replay's /clock must not stop the takes), started once all is set up below
            self._taker = threading.Thread(target=self._take_loop, daemon=True,
                                           name=NODE_NAME + "_take")
        else:
            self._sub = self.create_subscription(self._packet_type, TOPIC_EVENTS,
                                                 self._on_packet, qos, raw=True)
        # steady clock, as the take thread: with use_sim_time and no /clock a ROS-time
        # timer would never fire and the node would report nothing
        self._crowding = Crowding(self)  # two cameras, or two policies, on our topics
        steady_timer(self, period, self._publish_diagnostics)
        self.active = True
        if self._taker is not None:  # started by the executor: nothing acts before spinning
            self._start_timer = steady_timer(self, START_DELAY_S, self._start_taking)
        self.get_logger().info(
            f"active: artifact {self._artifact}, backend {self._backend}, sensor "
            f"{encoder.width}x{encoder.height}, pool {encoder.pool}, period "
            f"{encoder.period_us} us, T = {self.policy.timesteps}, EVT 3.0 decoder "
            f"{evt3_decoder_name(self._evt3_decoder)}; {self._timing_text()}")
        warn_artifact(self, getattr(self.policy, "manifest", None))

    def _windower(self, max_gap: int, counters: Any = None) -> PeriodWindower:
        """Periods of the encoder's period_us whose events become input spikes as they are
        decoded (`EventEncoder.period_spikes`): `Period.events` is the (T, n_inputs) spikes."""
        encoder, timesteps, period_us = self.encoder, self.policy.timesteps, self.encoder.period_us

        def collect(k: int) -> Any:
            return encoder.period_spikes(timesteps, k * period_us)

        extra = {} if counters is None else {"counters": counters}
        return PeriodWindower(period_us, max_gap, collect=collect, **extra)

    def _new_decoder(self) -> PacketDecoder:
        """A fresh stream decoder (at start and after a camera restart), against the far
        corner of the artifact's window on the camera (`crop_window` takes the near side)."""
        return PacketDecoder(*self._decoder_size, self._evt3_decoder)

    def _load(self) -> Any:
        from neuroq.deploy.policy import load_policy

        return load_policy(self._artifact, backend=self._backend)

    # --- input -----------------------------------------------------------------------------
    def _deserialized(self, data: bytes) -> Any:
        """A received packet by rclpy's deserialization, for the bytes that `EventPacketReader`
        (which reads the fields from the serialized bytes, no message object built) does not
        read; None, counted in bad_messages, for bytes that do not deserialize."""
        try:
            return deserialize_message(data, self._packet_type)
        except Exception:  # noqa: BLE001 - undecodable data is counted, never raised
            self.counters["bad_messages"] += 1
            self._log.warning("an EventPacket that does not deserialize was skipped")
            return None

    def _take(self, limit: int, received_ns: list[int] | None = None) -> list:
        """Up to `limit` packets queued in the subscription (serialized bytes), without
        waiting (their reception times appended to `received_ns`, see `take_queued`); an
        rmw error while taking is counted in callback_errors."""
        taken, error = take_queued(self._sub, self._packet_type, limit, received_ns)
        if error is not None:  # an rmw error: counted, the node goes on
            self.counters["callback_errors"] += 1
            self._log.warning(f"taking packets failed: {type(error).__name__}: {error}")
        return taken

    def _start_taking(self) -> None:
        """The first executor callback: start the take thread (once)."""
        self._start_timer.cancel()
        if not self._taker.is_alive() and not self._stop_taking.is_set():
            self._taker.start()

    def safe_stop(self, reason: str) -> None:
        """Called by `run_node` once the spin loop has ended (`reason`): stop the take
        thread, so that no action follows a stop request (destroy_node too)."""
        self._stop_taking.set()
        if self._taker is not None and self._taker.is_alive():
            self._taker.join(TAKER_JOIN_S)
            if self._taker.is_alive():
                self.get_logger().warning(
                    f"the take thread did not end within {TAKER_JOIN_S:g} s ({reason})")

    def destroy_node(self) -> None:
        self.safe_stop("node destroyed")
        if self._reader is not None:
            self._reader.destroy_node()
            self._reader = None
        super().destroy_node()

    def _take_loop(self) -> None:
        """batch_ms > 0: the node's take thread. Takes, then sleeps until the next take is
        due (`_on_tick`), on the monotonic clock, until the node stops (`safe_stop`,
        destroy) or the process is asked to (a signal: `stop_requested`, seen before each
        take; the executor's loop notices it only within its 0.1 s slice). An error that
        escapes a take is counted in callback_errors and the thread goes on."""
        due = time.monotonic()
        while not self._stop_taking.wait(max(due - time.monotonic(), 0.0)):
            if stop_requested():  # SIGINT / SIGTERM: the spin loop ends within its slice
                break
            taken_at = time.monotonic()
            try:
                delay = self._on_tick()
            except Exception as exc:  # noqa: BLE001 - the takes must go on
                self.counters["callback_errors"] += 1
                self._log.warning(f"a take failed: {type(exc).__name__}: {exc}")
                delay, self._scheduler.aligned = self._scheduler.batch_s, False  # poll
            # aimed at a packet: from this take; polling: periodic, as a timer keeps it
            due = (taken_at if self._scheduler.aligned else due) + delay
            due = max(due, time.monotonic() + MIN_TAKE_DELAY_S)

    def _on_tick(self) -> float:
        """One take (batch_ms > 0): take what the reader has queued and handle it, in
        batches of at most MAX_BATCH_PACKETS, at most MAX_TAKE_PACKETS or TICK_BUDGET_S per
        tick (the rest waits in the queue for the next tick, which then comes at once);
        returns the delay (s) to the next take (`TakeScheduler`: about when the open period
        can complete, counted from this take, else a polling interval)."""
        self.counters["take_ticks"] += 1
        taken_at = time.monotonic()
        with self._lock:
            backlog, taken, newest_ns = False, 0, 0
            for _ in range(MAX_TAKE_PACKETS // MAX_BATCH_PACKETS):
                received_ns: list[int] | None = [] if self._reception_times else None
                received = self._take(MAX_BATCH_PACKETS, received_ns)
                self._handle_received(received, received_ns)
                taken += len(received)
                newest_ns = received_ns[-1] if received_ns else newest_ns
                backlog = len(received) == MAX_BATCH_PACKETS
                if not backlog or time.monotonic() - taken_at > TICK_BUDGET_S:
                    break
            # the newest packet's reception (system clock), on the monotonic clock
            received_s = None  # not given by the middleware
            if newest_ns:
                mono_ns, system_ns = time.monotonic_ns(), time.time_ns()
                received_s = (newest_ns - system_ns + mono_ns) / NS_PER_S
            delay = self._scheduler.delay_s(taken_at, self._camera_us,
                                            self.windower.completes_at_us(), taken, backlog,
                                            received_s)
        return delay

    def _on_packet(self, data: bytes) -> None:
        """batch_ms 0: a packet has arrived; handle it with whatever else is queued (at 1 ms
        packets one decode per packet costs more in fixed overhead than in events: when
        the node falls behind, batches grow and it catches up instead of dropping)."""
        self._handle_received([data, *self._take(MAX_BATCH_PACKETS - 1)])

    def _handle_received(self, received: list, received_ns: list[int] | None = None) -> None:
        """Handle the messages taken (serialized bytes), with their reception times (ns,
        system clock) where the middleware gives them."""
        if received:
            self._last_packet_s = time.monotonic()  # a camera still sending (diagnostics)
        times = (received_ns if received_ns is not None and len(received_ns) == len(received)
                 else None)
        bad, read = self.counters["bad_messages"], self._read_packet
        batch = [read(data) or self._deserialized(data) for data in received]
        for k, packet in enumerate(batch):  # actions copy a packet's frame_id
            if packet is not None and len(packet.header.frame_id) > MAX_COPIED_STRING_CHARS:
                self.counters["bad_messages"] += 1
                self._log.warning(
                    f"an EventPacket with a frame_id of {len(packet.header.frame_id)} "
                    f"characters was skipped: actions copy it, and at most "
                    f"{MAX_COPIED_STRING_CHARS} are copied (an outsider's 100,000-character "
                    "frame_id went into every action)")
                batch[k] = None
        if self.counters["bad_messages"] != bad:  # some did not read: without them (None)
            if times is not None:
                times = [t for p, t in zip(batch, times, strict=True) if p is not None]
            batch = [p for p in batch if p is not None]
        if not batch:
            return
        try:
            self.handle_packets(batch, times)
        except Exception as exc:  # never let a bad packet stop the node
            self.counters["callback_errors"] += 1
            self._log.warning(
                f"packets skipped after an internal error: {type(exc).__name__}: {exc}")

    def handle_packets(self, msgs: list, received_ns: list[int] | None = None) -> int:
        """Decode consecutive packets, act on every period they complete; returns the number
        of actions published. Holds the node's lock (the take thread may run beside).
        received_ns: the packets' reception times (ns, system clock; 0: not known): the
        periods that packets received more than max_lag_ms ago complete are counted in
        stale_periods, not acted on (a backlog; `stale_prefix`)."""
        with self._lock:
            self._last_packet_s = time.monotonic()  # a camera still sending (diagnostics)
            old = 0
            if received_ns and self._max_lag_ms > 0:
                old = stale_prefix(received_ns,
                                   time.time_ns() - int(self._max_lag_ms * NS_PER_S / 1e3))
            if old:
                stale = self._handle_packets(msgs[:old], act=False)
                self.counters["stale_periods"] += stale
                if stale:
                    self._stale_log.warning(
                        f"{stale} complete periods not acted on: the packets that completed "
                        f"them came more than {self._max_lag_ms:g} ms before the node took "
                        "them (it fell behind: a CPU stall, a backlog); acting on the "
                        "periods of newer packets (max_lag_ms)")
            return self._handle_packets(msgs[old:]) if old < len(msgs) else 0

    def _handle_packets(self, msgs: list, act: bool = True) -> int:
        """Count and decode `msgs`; the number of periods they complete that were acted on,
        or, with act False, of those left alone."""
        c = self.counters
        size = (self.encoder.width, self.encoder.height)
        roi = self._roi
        # the packets after the newest seq, the only ones decoded; a restarted numbering
        # starts a part of its own (its camera may have restarted too: each part gets the
        # camera-restart check of `_decode_and_act`)
        parts: list[list] = [[]]
        restarted: set[int] = set()  # the parts that start a restarted numbering
        backwards = c["seq_backwards"]
        for msg in msgs:
            c["packets"] += 1
            held = self._held
            verdict = self._count_seq(int(msg.seq), stamp_ns(msg.header.stamp))
            self._held = msg if verdict == SEQ_HELD else None
            if verdict == SEQ_RESTARTED:
                restarted.add(len(parts))
                parts.append([held, msg])  # the first packet of the restarted numbering
            elif verdict == SEQ_NEWER:
                parts[-1].append(msg)
            if roi is not None:  # a window on a larger camera: a camera that cannot hold it
                if msg.width < roi[0] + size[0] or msg.height < roi[1] + size[1]:
                    c["sensor_size_mismatch"] += 1
                    self._log.warning(
                        f"packet seq {msg.seq} is from a {msg.width}x{msg.height} sensor, "
                        f"which does not hold the artifact's {size[0]}x{size[1]} window at "
                        f"roi_x, roi_y = {roi[0]}, {roi[1]}")
            elif (msg.width, msg.height) != size:
                c["sensor_size_mismatch"] += 1
                self._log.warning(
                    f"packet seq {msg.seq} is from a {msg.width}x{msg.height} sensor; this "
                    f"artifact's encoder takes {size[0]}x{size[1]} (events outside it are "
                    "skipped as out_of_sensor): set the camera's region of interest to that "
                    "size and roi_x, roi_y to its top-left pixel (a hardware ROI keeps the "
                    "sensor's coordinates), or train on the camera's own")
        if c["seq_backwards"] != backwards:
            self._interleaved_hint(msgs)
        self._frame_id = msgs[-1].header.frame_id
        return sum(self._decode_and_act(part, act, k in restarted)
                   for k, part in enumerate(parts) if part)

    def _interleaved_hint(self, msgs: list) -> None:
        """seq went back in `msgs`: when they (and the packet before them) carry more than
        one header.frame_id, say that two cameras seem to share one publisher (an outsider's
        two cameras on one publisher read as seq_backwards alone: two publishers are named
        by the diagnostics' crowding check, one publisher is not)."""
        frames = {str(m.header.frame_id) for m in msgs}
        if self._frame_id is not None:
            frames.add(self._frame_id)
        if len(frames) < 2:
            return
        shown = ", ".join(repr(f[:40]) for f in sorted(frames)[:3])
        more = f" and {len(frames) - 3} more" if len(frames) > 3 else ""
        self._skip_details = (
            f"packets of {len(frames)} frame_ids ({shown}{more}) with their seq going back: "
            "two cameras on one publisher? This node decodes one camera's stream; give each "
            "camera a topic of its own (remap events)")
        self._skip_details_for = {"seq_backwards"}
        self._log.warning(self._skip_details)

    def _decode_and_act(self, msgs: list, act: bool = True, renumbered: bool = False) -> int:
        """Decode consecutive packets of one numbering; act on every period they complete
        (act False: count them only); returns how many. renumbered: the packets start a
        restarted seq numbering, so camera time going back by any amount, with no event
        accepted, is the camera's restart (else only more than CAMERA_RESTART_US back: an
        outsider's camera restarted 1.0 s after a 24-bit wrap, with its seq, and lost a
        second of events as time going backwards)."""
        c = self.counters
        events, stats = self._jumps.decode(self.decoder, msgs, time.monotonic_ns())
        t_words = self._jumps.words_us  # the decoder's time_us(), read once by the guard
        back_us = 0 if renumbered else CAMERA_RESTART_US
        if (stats.time_backwards and not events.size and 0 <= t_words
                < self._last_event_us - back_us):
            # the camera's clock restarted: start the stream over instead of skipping
            # everything as "time going backwards" from now on
            c["camera_restarts"] += 1
            before = self._last_event_us
            self.decoder = self._new_decoder()
            self.windower = self._windower(self.windower.max_gap_periods,
                                           self.windower.counters)
            self._last_event_us = -1
            self._jumps.reset()
            events, stats = self._jumps.decode(self.decoder, msgs, time.monotonic_ns())
            t_words = self._jumps.words_us
            now_at = (f"{t_words} us" if t_words >= 0 else
                      "a time not known yet (no TIME_HIGH since the restart in these "
                      "packets)")
            self._restart_log.warning(  # the new stream's time, as the camera sent it
                f"camera time went back from {before} us to {now_at}: treating it as a "
                "camera restart")
        if events.size:  # camera time from every decoded event, the window's or not (a
            # mono stream's only clock: its events; review)
            self._last_event_us = max(self._last_event_us, int(events["t"][-1]))
        # before the window takes out_of_sensor: EVT 3.0 bytes labelled mono read as
        # events outside it, and nothing named the label (an outsider)
        details, mislabels = "", 0
        if stats.skipped:
            mislabels, label_text = mislabelled(msgs, stats, (int(msgs[-1].width),
                                                              int(msgs[-1].height)))
            self.counters["mislabelled_packets"] += mislabels
            details = skip_details(msgs, stats) + (f"; {label_text}" if label_text else "")
        if self._roi is not None:  # the window's coordinates; left of or above it: outside
            events, outside = crop_window(events, *self._roi)
            # with a window on a larger sensor most events lie outside it, as expected: they
            # count in outside_window (with those the decoder skipped right of or below it),
            # not as a problem (as out_of_sensor, every run of an outsider's stayed WARN)
            stats.events -= outside
            self.counters["outside_window"] += outside + stats.out_of_sensor
            stats.out_of_sensor = 0
        self.decode_stats.add(stats)
        if stats.skipped or details:
            why = (f" (time_jumps: moved camera time more than {self._jumps.max_jump_us / 1e3:g}"
                   " ms further ahead than the host's clock, skipped as garbage: "
                   "max_jump_ms)") if stats.time_jumps else ""
            if details:  # for the diagnostics too (they named the counter alone: an outsider)
                self._skip_details = details.removeprefix("; ")
                self._skip_details_for = {name for name in DecodeStats.REPORTED
                                          if getattr(stats, name)}  # the window's taken out
                if mislabels:
                    self._skip_details_for.add("mislabelled_packets")
            said = f"{stats.diagnostic()}{why}{details}".removeprefix("; ")
            self._log.warning(f"packets up to seq {msgs[-1].seq}: {said}")
        if events.size:
            self.windower.add(events)
        now = max(self._last_event_us, t_words)
        before, skipped_before = self._camera_us, self.windower.counters.skipped_periods
        self._camera_us = now
        periods = self.windower.complete(now)
        acted = 0
        for period in periods:
            acted += self._act(period, msgs[-1].header.frame_id) if act else 1
        skipped = self.windower.counters.skipped_periods - skipped_before
        if skipped:  # not a fault (a silent mono camera), but a stall reads the same
            self._log.warning(
                f"{skipped} empty periods skipped: camera time went from {before} us to "
                f"{now} us with no events between (a silence, or data lost before the "
                f"node: a driver stall); only the newest {self.windower.max_gap_periods} "
                "empty ones were acted on (max_gap_periods)")
        return acted

    def _count_seq(self, seq: int, stamp_ns: int = 0) -> int:
        """Lost, reordered and stray packets from `seq`; returns what becomes of the packet
        (SEQ_NEWER, SEQ_OLD, SEQ_HELD, SEQ_RESTARTED). A gap after the newest seq counts
        its packets as lost (the newest REORDER_WINDOW of them remembered); one of those
        arriving later counts as reordered instead. Any other seq at or before the newest
        counts in seq_backwards and leaves the newest alone: a duplicate or a stray late
        packet, or, when the next packet continues from it, the start of a restarted
        numbering (a driver restart): counting goes on from there (one seq_backwards,
        nothing counted lost). A restart is told from a stale packet by its header stamp
        (`stamp_ns`, the publisher's clock, as drivers stamp): stamped after the newest
        packet, it may be one; at or before, it is not. Without stamps (0), by distance:
        more than REORDER_WINDOW behind the newest, it may be one. A packet at
        or before the newest is not decoded: its events are older than those decoded, and
        its EVT 3.0 words would set the stream's state back (a duplicate was decoded again:
        its events at the newest time counted twice). One far enough behind to start a
        restarted numbering is held (`_held`) until the next packet tells: decoded before
        it if it continues from it (a stream arriving twice, 5 6 5 6 7, is never taken for
        one: its stamps are old, or without stamps it is near the newest)."""
        c, last, held = self.counters, self._last_seq, self._held
        if held is not None and seq == (int(held.seq) + 1) % SEQ_MODULUS:
            self._missing.clear()  # the numbering restarted at the held packet
            self._last_seq, self._newest_stamp_ns = seq, stamp_ns
            return SEQ_RESTARTED
        if last is not None:
            gap = (seq - last - 1) % SEQ_MODULUS
            if seq == last or gap >= SEQ_MODULUS // 2:  # at or before the newest
                if seq in self._missing:  # a packet counted as lost came late
                    self._missing.discard(seq)
                    c["lost_packets"] -= 1
                    c["reordered_packets"] += 1
                    return SEQ_OLD  # the newest seq stays
                c["seq_backwards"] += 1
                # the newest again, however stamped, is a duplicate (a republisher's fresh
                # stamp made it a restart, and it was decoded twice: an outsider)
                if seq == last:
                    restart = False
                elif stamp_ns and self._newest_stamp_ns:  # stamped after the newest?
                    restart = stamp_ns > self._newest_stamp_ns
                else:
                    restart = (last - seq) % SEQ_MODULUS > REORDER_WINDOW
                return SEQ_HELD if restart else SEQ_OLD
            c["lost_packets"] += gap
            if gap:
                self._log.warning(
                    f"{gap} packets missing before seq {seq}: lost, unless they arrive "
                    "later, out of order (then counted as reordered_packets); best-effort "
                    "delivery drops what the queue or the transport cannot hold: a slow "
                    "node, large packets; see the reliable parameter")
            missing = self._missing
            missing.update((last + k) % SEQ_MODULUS
                           for k in range(max(1, gap + 1 - REORDER_WINDOW), gap + 1))
            if len(missing) > REORDER_WINDOW:  # keep the newest REORDER_WINDOW
                keep = {(seq - k) % SEQ_MODULUS for k in range(1, REORDER_WINDOW + 1)}
                missing.intersection_update(keep)
        elif self._first_seq is None:  # the first packet this node takes
            self._first_seq = seq
            if seq:  # a stream numbered from 0 (neuroq replay) lost its first packets here
                self.get_logger().info(
                    f"the first packet taken is seq {seq}: a publisher that numbers from 0 "
                    f"sent {seq} before it, which this node never received (before the "
                    "match completed, or before it started; not in lost_packets)")
        self._last_seq, self._newest_stamp_ns = seq, stamp_ns
        return SEQ_NEWER

    def _act(self, period: Any, frame_id: str) -> int:
        if stop_requested():  # no action follows a stop request (SIGINT, SIGTERM)
            return 0
        start = time.perf_counter()
        try:
            info = self.policy.act_spikes(period.events)  # the period's input spikes
        except Exception as exc:  # a backend failing mid-run: no action, counted
            self.counters["policy_failures"] += 1
            self._log.warning(f"policy failed on period {period.index}: {exc}")
            return 0
        sec, nanosec = divmod(period.end_us * NS_PER_US, NS_PER_S)
        # serialized here: publishing a Joy object costs more (neuroq.ros_nodes.cdr)
        self._action_pub.publish(serialize_joy(sec, nanosec, frame_id, [int(info.action)],
                                               info.q.tolist()))
        self._act_s.add(time.perf_counter() - start)
        self.counters["actions"] += 1
        self._sums += (info.spikes, info.synaptic_events, info.energy_total_j or 0.0)
        self._energy_known = info.energy_total_j is not None
        self._last = info
        return 1

    # --- diagnostics -----------------------------------------------------------------------
    def _timing_text(self) -> str:
        """The settings that decide when packets are taken and which periods are acted on,
        for the start-up line (an outsider could not tell which max_lag_ms a node ran with:
        stale_periods grew and nothing named the bound)."""
        lag = f"{self._max_lag_ms:g} ms" if self._max_lag_ms > 0 else "0 (no bound)"
        jump = f"{self._max_jump_ms:g} ms" if self._max_jump_ms > 0 else "0 (no guard)"
        taking = (f"{self._batch_ms:g} ms" if self._batch_ms > 0 else
                  "0 (each packet as it arrives)")
        return (f"batch_ms {taking}, max_lag_ms {lag}, max_jump_ms {jump}, "
                f"max_gap_periods {self.windower.max_gap_periods}, "
                f"{'reliable' if self._reliable else 'best effort'}")

    def stats(self) -> dict[str, Any]:
        """The figures the diagnostics report (also used by tests and the benchmark), read
        under the node's lock."""
        with self._lock:
            return self._stats()

    def _stats(self) -> dict[str, Any]:
        d, w = self.decode_stats, self.windower.counters
        n = max(self.counters["actions"], 1)
        values: dict[str, Any] = {
            "backend": self._backend, "artifact": self._artifact,
            "evt3_decoder": self.decoder.decoder_name, **self.counters,
            "events": d.events, "events_skipped": d.skipped_events,
            **{name: getattr(d, name)
               for name in DecodeStats.REPORTED},
            "triggers": d.triggers, "periods": w.periods, "skipped_periods": w.skipped_periods,
            "late_events": w.late_events,
            "events_per_s": d.events / max(time.monotonic() - self._started, 1e-9),
            # a stream numbered from 0 (neuroq replay) that starts later lost its start here
            "first_seq": -1 if self._first_seq is None else self._first_seq,
            # the bounds the counters above depend on (stale_periods, time_jumps)
            "max_lag_ms": self._max_lag_ms, "max_jump_ms": self._max_jump_ms,
        }
        if self._skip_details:
            values["last_skip_details"] = self._skip_details
        if len(self._act_s):  # fixed cost: a histogram, not a sort (deploy/latency.py)
            values["act_latency_median_ms"] = self._act_s.percentile(50) * 1e3
            values["act_latency_p99_ms"] = self._act_s.percentile(99) * 1e3
        values["spikes_per_action"] = float(self._sums[0] / n)
        values["synaptic_events_per_action"] = float(self._sums[1] / n)
        values["modeled_energy_per_action_j"] = (
            float(self._sums[2] / n) if self._energy_known else "not modeled")
        if self._last is not None:
            values["last_action"] = int(self._last.action)
        return values

    def _publish_diagnostics(self) -> None:
        """The diagnostics callback (the executor's thread only: the WARN state below is
        its own). The figures are read together under the node's lock (`stats`); building
        and publishing the message holds no lock, so the take thread is not kept waiting."""
        # what the throttled logs suppressed since their last line (under the lock: the
        # take thread logs too)
        with self._lock:
            for log in (self._log, self._restart_log, self._stale_log):
                log.flush()
        values = self.stats()
        level, message = LEVEL_OK, "running"
        now = time.monotonic()
        # events_per_s is the mean since the start: a monitor wants the rate now too (an
        # outsider read 576,500 for a 1 M events/s stream)
        if self._rate_mark is not None and now > self._rate_mark[0]:
            values["events_per_s_recent"] = ((values["events"] - self._rate_mark[1])
                                             / (now - self._rate_mark[0]))
        self._rate_mark = (now, values["events"])
        grew = {name: values[name] - self._reported.get(name, 0) for name in PROBLEM_COUNTERS
                if values[name] > self._reported.get(name, 0)}
        self._reported = {name: values[name] for name in PROBLEM_COUNTERS}
        if grew:  # a new problem: WARN for WARN_HOLD_S, naming what grew meanwhile
            if now - self._warned_at >= WARN_HOLD_S:
                self._recent = {}
            self._warned_at = now
            for name, n in grew.items():
                self._recent[name] = self._recent.get(name, 0) + n
        if now - self._warned_at < WARN_HOLD_S:
            level = LEVEL_WARN
            message = (f"bad input, lost data or late periods in the last {WARN_HOLD_S:g} s: "
                       + ", ".join(f"{name} +{n}" for name, n in self._recent.items()))
            if values.get("last_skip_details") and self._skip_details_for & set(
                    self._recent):  # which encoding came, which are read
                message += f" (last: {values['last_skip_details']})"
        # two cameras on one events topic interleave their seq (lost, restarted: their
        # events mixed), two policies on one action topic drive one robot
        level, message = self._crowding.status(
            ((TOPIC_EVENTS, "cameras publish event packets"),
             (TOPIC_ACTION, "policies publish actions (this one among them)")),
            values, level, message)
        level, message = self._qos.status(values, level, message)
        last = self._last_packet_s  # any message taken, a bad one too (set by the takes)
        if last is None:
            level, message = LEVEL_WARN, "no event packets yet" + self._silence_hint()
        elif now - last >= PACKET_SILENCE_WARN_S:  # a camera that stopped read OK for good
            values["last_packet_age_s"] = now - last  # (an outsider's 2 s stall, and after)
            silence = (f"no event packets for {now - last:.1f} s: the camera stopped, or its "
                       f"packets no longer arrive{self._silence_hint()}")
            message = silence if level == LEVEL_OK else f"{silence}; also {message}"
            level = LEVEL_WARN
        if values["policy_failures"]:
            level, message = LEVEL_ERROR, f"policy failed {values['policy_failures']} times"
        self._diag_pub.publish(diagnostic_array(self, level, message, self._backend, values))


    def _silence_hint(self) -> str:
        """Why no packet may arrive, for the diagnostics of a silence (read then only): no
        publisher, publishers of another type, or best-effort publishers while this node
        subscribes reliable, which DDS never matches (an outsider's node said only "no
        event packets yet"; only the driver's rclpy printed "incompatible QoS")."""
        topic = self.resolve_topic_name(TOPIC_EVENTS)
        publishers = self.get_publishers_info_by_topic(topic)
        if not publishers:
            return f": nothing publishes {topic}"
        foreign = foreign_publishers(self, TOPIC_EVENTS, EVENT_PACKET)
        if foreign:
            return (f": {topic} is published as {', '.join(foreign)}, this node reads "
                    f"{EVENT_PACKET}")
        best_effort = sum(p.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
                          for p in publishers)
        if self._reliable and best_effort:
            return (f": {counted(best_effort, 'publisher')} of {topic} "
                    f"{'is' if best_effort == 1 else 'are'} best effort and this node "
                    "subscribes reliable, which DDS never matches (set reliable:=false)")
        return ""


def _never_called(_data: bytes) -> None:
    """The reader node's subscription callback: no executor spins that node."""


def packet_reader(node: Node, qos: Any) -> tuple[Node, Any]:
    """The helper node (named `node`'s name + READER_SUFFIX, in its namespace) and its raw
    EventPacket subscription on `node`'s resolved `events` topic, for `take_queued`: no
    executor spins the helper, so packets wait in the queue until taken (module
    docstring). The caller destroys the helper node."""
    reader = Node(node.get_name() + READER_SUFFIX, namespace=node.get_namespace(),
                  context=node.context, use_global_arguments=False,
                  start_parameter_services=False, enable_rosout=False,
                  parameter_overrides=[Parameter("start_type_description_service",
                                                 value=False)])
    # raw: the serialized bytes, read by EventPacketReader (EventPolicyNode._packet)
    sub = reader.create_subscription(message_class(EVENT_PACKET),
                                     node.resolve_topic_name(TOPIC_EVENTS),
                                     _never_called, qos, raw=True)
    return reader, sub


def main(args: list[str] | None = None) -> int:
    """Entry point (`neuroq_event_node`): exit status 1 when the node refuses to activate."""
    return run_node(EventPolicyNode, "event node", args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
