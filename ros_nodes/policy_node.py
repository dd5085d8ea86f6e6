"""Policy node: sensor readings in, spiking Q-network actions out, with diagnostics.

What it subscribes to, and how messages become the network's observation, is declared by a
robot interface (`neuroq.deploy.interface`; config/interfaces/*.yaml), not coded here: the
`interface` parameter names one (a name in config/interfaces/ or a YAML file); left empty,
the node takes the interface the artifact's manifest records, else the shipped one that
names the artifact's environment. One subscription per declared source: each message of
the trigger source makes one reading, from it and the latest message of every other source
(within that source's max_age_s).

Subscribes  each source of the interface (sensor_msgs/JointState, LaserScan, Imu,
            nav_msgs/Odometry, std_msgs/Float64MultiArray or Float32MultiArray: best effort,
            keep last `sensor_queue_depth`; geometry_msgs/PoseStamped, a goal: reliable,
            keep last 1).
Publishes   `action` (sensor_msgs/Joy, reliable): `buttons = [action index]`,
            `axes = Q-values`, `header.stamp` = the stamp of the reading it answers (so the
            actuator and any observer can pair command and reading). std_msgs has no stamped
            integer; Joy is the standard message with a header and integer fields.
            `/diagnostics` (diagnostic_msgs/DiagnosticArray): latency, spikes, modeled energy
            per action, dropped inputs per reason and per source.

Bad parameters (a backend or level not among the choices, an empty artifact or, for the
spinnaker2 backend, board_ip, an interface file that does not read or validate) stop the
node before anything is loaded: one line on stderr, exit status 2. Then the artifact is
loaded on the configured backend before anything is published or subscribed. If that fails
(missing or tampered artifact, unreachable board, a network whose first action fails, an
interface whose observation or actions do not fit the artifact) the node logs one line
starting "not activating:" and exits with status 1: it never publishes actions from a
half-loaded network.

Each message is checked before it is used: its serialized size (over MAX_READING_BYTES ->
dropped as `too_long` before it is decoded; bytes that do not decode -> `undecodable`), its
stamp where it has a header (`neuroq.deploy.control.check_stamp`: not normalized,
negative, zero, or more than `max_stamp_lead_s` ahead of this node's clock ->
`bad_stamp`), the trigger's frame_id (copied into the action: longer than
MAX_COPIED_STRING_CHARS -> `too_long`); then the reading: another source missing or stale
(`missing_<source>`, `stale_<source>`) and the interface's checks (`wrong_count`,
`wrong_names`, `not_finite`, `out_of_range`, `wrong_frame`, `bad_scan`). Logs show names
with ascii() (`neuroq.deploy.control.shown`).

Newest good reading: the trigger subscription keeps `sensor_queue_depth` messages (10).
When one arrives, the node also takes every trigger message queued behind it, checks each
(malformed ones are counted as above) and makes one reading from the newest good one; older
good ones are counted in `superseded_readings` (with `sync_stamps`, each is handled on its
own as described below, none superseded). So a burst of bad messages on the topic
cannot push a good reading out of the queue, and after a stall the node answers the latest
reading rather than a backlog of old ones.

Parameters (all read-only: they fix what the node is; `use_sim_time` too, at run time):
    artifact (str), backend (emulator | reference | spinnaker2), interface (str),
    sensor_queue_depth (int), diagnostics_period_s (float), latency_window (int),
    board_ip (str), performance_level (low | high), encoder_seed (int),
    prewarm_lead_s (float), max_stamp_lead_s (float), sync_stamps (bool).

Several sources (`sync_stamps`, for simulations): DDS keeps the order of messages within a
topic, not across topics, so the trigger of one tick may arrive before another source's
message of the same tick, and the reading would take that source's message of the tick
before. With `sync_stamps` true the node holds such a trigger (the newest one only; one it
replaces is dropped as `unmatched`) and makes the reading when every stamped source has
delivered the message with the trigger's stamp. A simulated robot stamps all messages of a
tick alike (config/nav_sim.yaml sets it); a real robot's drivers stamp each sensor on its
own clock, so there it stays false and the latest message within max_age_s is used.

Pre-warming (`prewarm_lead_s` > 0, emulator backend): the node estimates the reading period
from arrival times (an exponentially weighted mean of the intervals) and, `prewarm_lead_s`
before the next reading is due, runs the network once on the last input and discards the
result (`SpikingPolicy.warm`), so that the real action finds weights and code in cache. It
changes no action. It costs one more network run per reading (about 4 % of a core at
100 Hz here) and is skipped when the period is shorter than twice the lead. Diagnostics
count the runs (`prewarm_runs`).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Joy

from neuroq.deploy.control import (
    DEFAULT_MAX_STAMP_LEAD_S,
    DROP_REASONS,
    MAX_READING_BYTES,
    PLAUSIBLE_LATENCY_S,
    REASON_TOO_LONG,
    REASON_UNDECODABLE,
    MalformedInput,
    check_copied_string,
    check_stamp,
    shown,
)
from neuroq.deploy.errors import NeuroqError, counted, failure_text
from neuroq.deploy.interface import (
    FEATURE_DROP_REASONS,
    RobotInterface,
    Source,
    SourceCache,
    load_interface,
    resolve_interface,
)
from neuroq.deploy.latency import LatencyWindow, ewma, prewarm_delay_s, stale_after_s
from neuroq.deploy.policy import ActionInfo, Policy
from neuroq.deploy.spinnaker2 import check_board_ip
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
from neuroq.ros_nodes.messages import extract, has_header, message_class
from neuroq.ros_nodes.params import (
    check_choice,
    declare,
    empty_artifact,
    refuse_runtime_changes,
    warn_artifact,
)
from neuroq.ros_nodes.process import run_node
from neuroq.ros_nodes.qos import (
    TOPIC_ACTION,
    TOPIC_DIAGNOSTICS,
    command_qos,
    sensor_qos,
    take_queued,
)
from neuroq.ros_nodes.realtime import declare_process_parameters
from neuroq.ros_nodes.throttle import ThrottledLog

NODE_NAME = "neuroq_policy"
BACKENDS = ("emulator", "reference", "spinnaker2")
LEVELS = ("low", "high")
#: (artifact path, backend) -> a loaded Policy; raises on any failure.
PolicyLoader = Callable[[str, str], Policy]
# a reading older than this many diagnostics periods marks the sensor stream stale, whatever
# its rate (sooner at high rates: `stale_after_s`)
STALE_PERIODS = 2.0
# an arrival interval enters the period estimate clipped to this many times the estimate,
# so a pause (a reset, a lost reading) moves it by at most alpha * (PAUSE_CLIP - 1) = 10 %
PAUSE_CLIP = 2.0
#: Drop reason (sync_stamps): a held trigger replaced by a newer one before the messages of
#: its stamp arrived from every other source.
REASON_UNMATCHED = "unmatched"
DEFAULT_SENSOR_QUEUE_DEPTH = 10
"""Messages each sensor subscription keeps. With keep last 1, malformed messages arriving
on the topic just after a good reading replaced it before the node took it (a 2 kHz burst
of 100 left 141 of 17,385 good readings unanswered at 100 Hz, each a watchdog trip);
keep last 10 and the newest-good-reading rule (`_take_queued`) left none (bench_safety_soak,
120 s at 100 Hz with its fuzzer)."""
# a warm-up timer dispatch earlier than this before its due time is a stale one, s
WARM_EARLY_S = 0.001
#: Source types that are goals or settings rather than sensor streams: sent once and kept,
#: so they are subscribed reliable (RViz's "2D Goal Pose" publishes reliable).
RELIABLE_SOURCES = ("geometry_msgs/PoseStamped",)


def artifact_loader(board_ip: str = "", performance_level: str = "low",
                    seed: int = -1) -> PolicyLoader:
    """The default loader: `neuroq.deploy.policy.load_policy` with the node's backend options.

    board_ip: SpiNNaker2 board address ("" for the emulator and reference backends).
    performance_level: "low" or "high", for the energy model. seed: encoder RNG (-1: none).
    """

    def load(artifact: str, backend: str) -> Policy:
        from neuroq.deploy.policy import load_policy  # may pull in a backend's own packages

        return load_policy(artifact, backend=backend, performance_level=performance_level,
                           board_ip=board_ip or None, seed=None if seed < 0 else seed)

    return load


class PolicyNode(Node):
    """Runs a deployed policy on each valid reading. See the module docstring.

    policy_loader: how to load (artifact, backend); tests inject a stand-in.
    After construction, `active` says whether the policy loaded and the node runs.
    """

    def __init__(self, policy_loader: PolicyLoader | None = None,
                 node_name: str = NODE_NAME, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        declare_process_parameters(self)  # first: a bad value stops it before any log
        self.active = False
        self.refusal: str | None = None
        self._artifact = declare(self, "artifact", "", "path of the deploy artifact")
        self._backend = declare(self, "backend", "emulator", "where the network runs",
                                choices=BACKENDS)
        interface = declare(self, "interface", "",
                            "robot interface: a name in config/interfaces/ or a YAML file "
                            "(empty: the artifact's, else the shipped one for its env)")
        depth = declare(self, "sensor_queue_depth", DEFAULT_SENSOR_QUEUE_DEPTH,
                        "sensor queue depth (best effort); each reading is made from the "
                        "newest good trigger message queued", int_range=(1, 1000))
        period = declare(self, "diagnostics_period_s", 1.0, "seconds between diagnostics",
                         float_range=(0.05, 60.0))
        window = declare(self, "latency_window", 1000,
                         "recent actions the latency percentiles cover", int_range=(10, 100000))
        board_ip = declare(self, "board_ip", "", "SpiNNaker2 board address (spinnaker2 only)")
        level = declare(self, "performance_level", "low",
                        "chip performance level for the energy model", choices=LEVELS)
        seed = declare(self, "encoder_seed", -1, "seed of stochastic encoders (-1: none)",
                       int_range=(-1, 2**31 - 1))
        self._prewarm_lead_s = declare(
            self, "prewarm_lead_s", 0.0,
            "seconds before the next expected reading to run the network once on the last "
            "input, so the real action finds it in cache (0: off; emulator backend)",
            float_range=(0.0, 1.0))
        max_lead = declare(self, "max_stamp_lead_s", DEFAULT_MAX_STAMP_LEAD_S,
                           "a reading stamped further ahead of this node's clock is dropped "
                           "(bad_stamp)", float_range=(0.0, 3600.0))
        self._max_lead_ns = int(max_lead * 1e9)
        self._sync = declare(
            self, "sync_stamps", False,
            "make each reading from the messages of every stamped source that carry the "
            "trigger's stamp, holding the trigger until they arrive (a simulation stamps one "
            "tick's messages alike; a real robot's sensors are not: leave false there)")
        # bad parameters: raised here, before anything loads (run_node: one line, status 2)
        named = load_interface(interface) if interface else None
        check_choice("backend", self._backend, BACKENDS)
        check_choice("performance_level", level, LEVELS)
        if not self._artifact.strip():  # whitespace too: no path (it was exit 1, a recheck)
            raise NeuroqError(empty_artifact(self))
        if self._backend == "spinnaker2":  # an address (a parameter error: exit 2)
            if not board_ip:
                raise NeuroqError("parameter 'board_ip' is empty: the spinnaker2 backend "
                                  "needs the board's address")
            check_board_ip(board_ip)
        elif board_ip:  # the command line refuses it; a params file may serve both backends
            self.get_logger().warning(f"board_ip {board_ip!r} is not used: backend "
                                      f"{self._backend} runs no board")
        self._diag_pub = self.create_publisher(DiagnosticArray, TOPIC_DIAGNOSTICS,
                                               command_qos())
        try:
            loader = policy_loader or artifact_loader(board_ip, level, seed)
            self.policy = self._load_and_check(loader, named)
        except Exception as exc:  # anything short of a fully working policy: refuse
            self.refusal = failure_text(exc)
            self.get_logger().error(
                f"not activating: {self.refusal} (artifact {ascii(self._artifact)}, backend "
                f"{self._backend}); no actions will be published")
            self._diag_pub.publish(diagnostic_array(
                self, LEVEL_ERROR, f"not activating: {self.refusal}", self._backend,
                {"artifact": self._artifact, "backend": self._backend}))
            return

        robot = self.robot
        self._cache = SourceCache(robot)
        reasons = (*DROP_REASONS, *FEATURE_DROP_REASONS, *self._cache.drop_reasons,
                   *((REASON_UNMATCHED,) if self._sync else ()))
        # sync_stamps: the trigger waiting for its partners ([(msg, fields, sent_ns)],
        # arrival_s, start), the newest only
        self._held: tuple | None = None
        self._dropped: Counter[str] = Counter({r: 0 for r in reasons})
        self._other_received: Counter[str] = Counter(
            {s.name: 0 for s in robot.sources if not s.trigger})
        self._act_failures = 0
        self._actions = 0
        self._received = 0
        self._superseded = 0  # good trigger messages a newer good one replaced
        self._depth = depth
        self._host_latency_s = LatencyWindow(window)
        self._e2e_latency_s = LatencyWindow(window)
        self._last: ActionInfo | None = None
        self._last_reading_s: float | None = None
        self._drops_at_last_report: Counter[str] = Counter()  # per reason, last report
        self._log = ThrottledLog(self.get_logger())
        # spikes, synaptic events, total and dynamic energy (J), chip time (s)
        self._sums = np.zeros(5)
        self._energy_known = False
        self._action_msg = Joy()
        self._qos = QosMismatches(self)  # peers DDS does not match (their QoS)
        self._action_pub = self._qos.create_publisher(Joy, TOPIC_ACTION, command_qos(),
                                                      "action")
        # raw: a message's size is checked before it becomes Python objects; a declared-only
        # event stream is not subscribed (about 1000 packets a second for nothing)
        for source in robot.read_sources:
            cls = message_class(source.type)
            qos = (command_qos(1) if source.type in RELIABLE_SOURCES else sensor_qos(depth))
            sub = self._qos.create_subscription(
                cls, source.topic, partial(self._on_bytes, source, cls, robot.fields(
                    source.name), has_header(cls)), qos, source.name, raw=True)
            if source.trigger:
                self._trigger_sub = sub
        self._period = period
        self._crowding = Crowding(self)
        self._foreign_said = ""  # the last foreign-publisher warning (logged on a change)
        # steady clock: simulated time (use_sim_time, /clock) may pause; reports go on
        steady_timer(self, period, self._publish_diagnostics)
        self._reading_period_s: float | None = None  # estimated from arrivals
        self._stall_said = False  # "no fresh readings" is in the log (until they come again)
        self._last_interval_s: float | None = None  # between the newest two readings, s
        self._prewarm_runs = 0
        self._prewarm_late = 0  # warm-ups skipped: their timer fired over lead / 2 late
        self._warm_timer = None
        self._warm_due_s = 0.0  # monotonic time the armed warm-up is for
        if self._prewarm_lead_s > 0:
            warm = getattr(self.policy, "warm", None)
            if callable(warm) and warm():  # after the check action: something to warm
                # steady clock: arrivals are timed on it (simulated time may pause)
                self._warm_timer = steady_timer(  # armed by each reading (_schedule_warm)
                    self, 1.0, self._on_warm_timer, autostart=False)
            else:
                self.get_logger().info(f"pre-warming off: the {self._backend} backend "
                                       "does not warm")
        refuse_runtime_changes(self)
        self.active = True
        sources = ", ".join(f"{s.name} ({s.type} on {shown(self.resolve_topic_name(s.topic))}"
                            f"{', trigger' if s.trigger else ''})" for s in robot.sources)
        self.get_logger().info(
            f"active: artifact {ascii(self._artifact)}, backend {self._backend}, interface "
            f"{shown(robot.name)}: {robot.n_observations} observation values from {sources}")
        trigger = robot.trigger
        if not has_header(message_class(trigger.type)):  # said once (an outsider's robot)
            self.get_logger().warning(
                f"the trigger source {trigger.name} ({trigger.type}) has no header: each "
                "action is stamped when it is made, so the actuator cannot tell a stale, "
                "repeated or future reading (its stale_actions and repeated-reading checks "
                "do not apply; its watchdog still counts from each action's arrival). A "
                "stamped trigger type (sensor_msgs/JointState, ...) keeps them")
        warn_artifact(self, getattr(self.policy, "manifest", None))

    def _load_and_check(self, loader: PolicyLoader, named: RobotInterface | None) -> Policy:
        policy = loader(self._artifact, self._backend)
        manifest = getattr(policy, "manifest", None)
        manifest = manifest if isinstance(manifest, dict) else {}
        # the interface named, else the artifact's, else the shipped one for its env; it
        # must fit the artifact's observation and action spaces (one line if not)
        self.robot = resolve_interface("", manifest) if named is None else named
        if named is not None:
            named.check_artifact(manifest)
        # one action on a neutral observation proves the whole network runs before we go live
        info = policy.act(np.zeros(self.robot.n_observations, np.float32))
        n_actions = self.robot.n_actions
        if not 0 <= int(info.action) < n_actions:
            raise NeuroqError(
                f"the policy's first action {info.action} is outside 0..{n_actions - 1}")
        return policy

    def _drop(self, source: Source, reason: str, text: str) -> None:
        self._dropped[reason] += 1
        self._log.warning(f"dropped a {source.name} message ({reason}): {text}")

    def _on_bytes(self, source: Source, cls: Any, paths: tuple[str, ...], header: bool,
                  data: bytes) -> None:
        start = time.perf_counter()
        batch = [data]
        if source.trigger:  # and every trigger message queued behind it (see _take_queued)
            batch += self._take_queued(cls)
        checked = [got for got in (self._check(source, cls, paths, header, raw)
                                   for raw in batch) if got is not None]
        if not checked:
            return
        arrival_s = time.monotonic()
        if not source.trigger:  # kept until a trigger message makes a reading with it
            _, fields, sent_ns = checked[-1]
            self._cache.update(source.name, fields, arrival_s, sent_ns)
            held = self._held
            if held is not None and self._cache.stamps_match(held[0][-1][2]):
                self._held = None
                self._on_reading(*held)
            return
        if not header:  # no stamp to copy: the action is stamped when it is made
            checked = [(None, fields, None) for _, fields, _ in checked]
        if not self._sync:
            self._on_reading(checked, arrival_s, start)
            return
        # sync_stamps (a lockstep simulation: no backlog, no bursts): each trigger message
        # on its own, since each reading must take its partners' messages of its own tick
        for candidate in checked:
            sent_ns = candidate[2]
            if sent_ns is not None and not self._cache.stamps_match(sent_ns):
                # DDS orders messages per topic only: the other sources of this tick may
                # still be on their way; the reading is made when the last of them arrives
                if self._held is not None:
                    self._dropped[REASON_UNMATCHED] += 1
                self._held = ([candidate], arrival_s, start)
            else:
                self._on_reading([candidate], arrival_s, start)

    def _check(self, source: Source, cls: Any, paths: tuple[str, ...], header: bool,
               data: bytes) -> tuple[Any, dict[str, Any], int | None] | None:
        """One message's (msg, fields, stamp in ns) once it passed the checks of the module
        docstring; None (counted per reason) for one that did not."""
        if source.trigger:
            self._received += 1
        else:
            self._other_received[source.name] += 1
        if len(data) > MAX_READING_BYTES:
            self._drop(source, REASON_TOO_LONG, f"{len(data)} bytes serialized (at most "
                       f"{MAX_READING_BYTES} are decoded)")
            return None
        try:
            msg = deserialize_message(data, cls)
        except Exception as exc:  # bytes no publisher of that type writes (a raw publisher)
            self._drop(source, REASON_UNDECODABLE, repr(exc))
            return None
        try:
            sent_ns = None
            if header:
                stamp = msg.header.stamp
                sent_ns = check_stamp(stamp.sec, stamp.nanosec,
                                      self.get_clock().now().nanoseconds, self._max_lead_ns)
                if source.trigger:
                    check_copied_string(msg.header.frame_id, "frame_id")
            fields = extract(msg, paths)
        except MalformedInput as exc:
            self._drop(source, exc.reason, str(exc))
            return None
        return msg, fields, sent_ns

    def _take_queued(self, cls: Any) -> list[bytes]:
        """Trigger messages already queued behind the one being handled (at most the queue's
        depth), oldest first: the reading is made from the newest good one, so a burst of bad
        messages on the topic cannot push a good reading out of a short queue, and after a
        stall the node answers the latest reading, not a backlog of old ones."""
        # an error while taking: go on with what was taken (the rest one at a time)
        return take_queued(self._trigger_sub, cls, self._depth)[0]

    def _on_reading(self, candidates: list[tuple[Any, dict[str, Any], int | None]],
                    arrival_s: float, start: float) -> None:
        """One reading, from the newest of `candidates` (trigger messages taken together,
        oldest first, each (msg or None without a header, fields, stamp in ns)) that passes
        the interface's checks; older good ones are counted as superseded."""
        if self._last_reading_s is not None:
            interval = self._last_interval_s = arrival_s - self._last_reading_s
            if self._reading_period_s is not None:  # a pause moves the estimate <= 10 %
                interval = min(interval, PAUSE_CLIP * self._reading_period_s)
            self._reading_period_s = ewma(self._reading_period_s, interval)
        self._last_reading_s = arrival_s
        chosen = None
        for msg, fields, sent_ns in candidates:
            try:
                obs = self.robot.observe(self._cache.reading(fields, arrival_s))
            except MalformedInput as exc:
                self._drop(self.robot.trigger, exc.reason, str(exc))
                continue
            if chosen is not None:
                self._superseded += 1  # a newer good reading came with it
            chosen = msg, obs, sent_ns
        if chosen is None:
            return
        msg, obs, sent_ns = chosen
        try:
            info = self.policy.act(obs)
        except Exception as exc:  # a backend failing mid-run: no action, counted
            self._act_failures += 1
            self._log.warning(f"policy failed on a reading: {exc}")
            return
        out = self._action_msg  # one message, refilled: publish serializes it at once
        if msg is not None:
            out.header.stamp = msg.header.stamp
            out.header.frame_id = msg.header.frame_id
        else:  # a trigger without a header: the action is stamped when it is made
            out.header.stamp = self.get_clock().now().to_msg()
            sent_ns = None
        out.buttons = [int(info.action)]
        out.axes = info.q.tolist()
        self._action_pub.publish(out)
        self._host_latency_s.add(time.perf_counter() - start)
        if sent_ns is not None:
            age_s = (self.get_clock().now().nanoseconds - sent_ns) * 1e-9
            if 0.0 <= age_s < PLAUSIBLE_LATENCY_S:  # an older stamp is another clock's
                self._e2e_latency_s.add(age_s)
        self._actions += 1
        self._last = info
        self._sums += (info.spikes, info.synaptic_events, info.energy_total_j or 0.0,
                       info.energy_dynamic_j or 0.0, info.chip_time_s or 0.0)
        self._energy_known = info.energy_total_j is not None
        if self._warm_timer is not None:
            self._schedule_warm(arrival_s)

    def _schedule_warm(self, arrival_s: float) -> None:
        """Arm the one-shot warm-up timer for `prewarm_lead_s` before the next reading."""
        now = time.monotonic()
        delay = prewarm_delay_s(self._reading_period_s, self._prewarm_lead_s, now - arrival_s)
        if delay is None:
            self._warm_timer.cancel()
            return
        self._warm_due_s = now + delay
        self._warm_timer.timer_period_ns = int(delay * 1e9)
        self._warm_timer.reset()

    def _on_warm_timer(self) -> None:
        now = time.monotonic()
        if now < self._warm_due_s - WARM_EARLY_S:
            return  # a dispatch queued before the last re-arm: the armed one is still due
        self._warm_timer.cancel()  # one shot: the next reading arms it again
        if now > self._warm_due_s + self._prewarm_lead_s / 2:
            self._prewarm_late += 1  # the reading is nearly due: the action should not wait
            return
        try:
            if self.policy.warm():
                self._prewarm_runs += 1
        except Exception as exc:  # a warm-up is optional: stop warming, keep acting
            self._warm_timer = None
            self.get_logger().warning(f"pre-warming off: warm() failed: {exc}")

    def stats(self) -> dict[str, Any]:
        """The figures the diagnostics report (also handy in tests)."""
        n = max(self._actions, 1)
        dropped = sum(self._dropped.values())
        values: dict[str, Any] = {
            "backend": self._backend,
            "artifact": self._artifact,
            "interface": self.robot.name,
            "readings_received": self._received,
            **{f"received_{n}": c for n, c in sorted(self._other_received.items())},
            "actions_published": self._actions,
            "superseded_readings": self._superseded,
            "dropped_inputs": dropped,
            **{f"dropped_{r}": c for r, c in sorted(self._dropped.items())},
            "policy_failures": self._act_failures,
            "prewarm_runs": self._prewarm_runs,
            "prewarm_skipped_late": self._prewarm_late,
        }
        for key, window in (("act", self._host_latency_s), ("reading_to_action",
                                                            self._e2e_latency_s)):
            if len(window):  # fixed cost: a histogram, not a sort (deploy/latency.py)
                values[f"{key}_latency_median_ms"] = window.percentile(50) * 1e3
                values[f"{key}_latency_p99_ms"] = window.percentile(99) * 1e3
        values["spikes_per_action"] = float(self._sums[0] / n)
        values["synaptic_events_per_action"] = float(self._sums[1] / n)
        values["modeled_energy_per_action_j"] = (
            float(self._sums[2] / n) if self._energy_known else "not modeled")
        values["modeled_dynamic_energy_per_action_j"] = (
            float(self._sums[3] / n) if self._energy_known else "not modeled")
        values["modeled_chip_time_per_action_s"] = (  # "not modeled" as its energy (docs;
            float(self._sums[4] / n) if self._energy_known else "not modeled")  # it read 0)
        board = getattr(getattr(self, "policy", None), "board_check", None)
        if board is not None:  # spinnaker2: the board's Q-values against the emulator's
            values.update({f"board_vs_emulator_{k}": v for k, v in board.to_dict().items()})
        if self._last is not None:
            values["last_action"] = int(self._last.action)
        if self._last_reading_s is not None:
            values["last_reading_age_s"] = time.monotonic() - self._last_reading_s
        values["stale_after_s"] = stale_after_s(self._reading_period_s,
                                                STALE_PERIODS * self._period,
                                                self._last_interval_s)
        return values

    def _publish_diagnostics(self) -> None:
        self._log.flush()  # what the throttled log suppressed since its last line
        values = self.stats()
        level, message = self._period_status(values)
        self._diag_pub.publish(diagnostic_array(self, level, message, self._backend, values))

    def _foreign_sources(self) -> str:
        """"topic is published as TYPE, the interface reads TYPE; ..." for the sources whose
        topic has publishers of another message type (they never arrive); logged as a
        warning when it changes."""
        parts = []
        for source in self.robot.sources:
            other = foreign_publishers(self, source.topic, source.type)
            if other:
                parts.append(f"{shown(self.resolve_topic_name(source.topic))} is published as "
                             f"{', '.join(other)}, the interface reads {source.type}")
        text = "; ".join(parts)
        if text and text != self._foreign_said:
            self.get_logger().warning(f"{text}: messages of another type never arrive (check "
                                      "the interface's source types and the topic remaps)")
        self._foreign_said = text
        return text

    def _period_status(self, values: dict[str, Any]) -> tuple[bytes, str]:
        """(level, message) of the diagnostics period ending now (its drops are counted
        from the last call); adds what the status names to `values`."""
        level, message = LEVEL_OK, "running"
        new_drops = self._dropped - self._drops_at_last_report  # the reasons that rose
        self._drops_at_last_report = Counter(self._dropped)
        age = values.get("last_reading_age_s")
        drops = ", ".join(f"{r} {c}" for r, c in sorted(new_drops.items()))
        stale = age is None or age > values["stale_after_s"]
        if not stale and self._stall_said:  # readings again after a stall the log named
            self._stall_said = False
            self.get_logger().info(f"readings again ({self.robot.trigger.name})")
        if stale:
            # the subscription's name: remapped and in the namespace (the interface's
            # relative name misled an outsider's fleet)
            topic = getattr(self._trigger_sub, "topic_name", self.robot.trigger.topic)
            level, message = LEVEL_WARN, (f"no fresh readings ({self.robot.trigger.name} on "
                                          f"{topic})")
            if age is not None and not self._stall_said:  # readings came, and stopped: in
                # the log too (an outsider's log never said so, only the diagnostics)
                self._stall_said = True
                self.get_logger().warning(
                    f"{message}: the newest came {age:.2f} s ago (stale after "
                    f"{values['stale_after_s']:.2f} s)")
            if new_drops:  # readings came, and every one was dropped: say why (an
                # outsider's all-bad stamps read "no fresh readings" alone)
                message += (f": {counted(sum(new_drops.values()), 'reading')} received and "
                            f"dropped ({drops})")
            foreign = self._foreign_sources()
            if foreign:
                values["foreign_publishers"] = foreign
                message += f": {foreign}"
        elif new_drops:  # by reason: "malformed" said of readings waiting for a goal misled
            level, message = LEVEL_WARN, (
                f"dropped {counted(sum(new_drops.values()), 'reading')}: {drops}")
            if any(r.startswith("missing_") for r in new_drops):  # another source silent:
                foreign = self._foreign_sources()  # published with another type? (an
                if foreign:  # outsider's odom as Float64MultiArray: only missing_odom)
                    values["foreign_publishers"] = foreign
                    message += f": {foreign}"
        level, message = self._crowding.status(
            ((self.robot.trigger.topic, "nodes publish the trigger readings",
              self.robot.trigger.type),
             (TOPIC_ACTION, "policies publish actions (this one among them)")),
            values, level, message)
        level, message = self._qos.status(values, level, message)
        board = getattr(getattr(self, "policy", None), "board_check", None)
        if board is not None and board.differs and level == LEVEL_OK:  # not over the others
            differing = board.differing
            level, message = LEVEL_WARN, (
                f"the board's Q-values are not the emulator's ({differing} of "
                f"{board.actions} actions differ, {board.beyond_rounding} beyond float32 "
                "rounding): it runs another network than assumed (docs/chip.md)")
        if self._act_failures:
            level, message = LEVEL_ERROR, f"policy failed {self._act_failures} times"
        return level, message


def main(args: list[str] | None = None, policy_loader: PolicyLoader | None = None) -> int:
    """Entry point (`neuroq_policy_node`): exit status 1 when the node refuses to activate."""
    return run_node(lambda: PolicyNode(policy_loader), "policy node", args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
