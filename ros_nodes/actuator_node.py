"""Actuator node: discrete actions in, clamped actuator commands out, behind a watchdog.

What each action sends is declared by a robot interface (`neuroq.deploy.interface`,
config/interfaces/*.yaml): the `interface` parameter names one (a name or a YAML file);
left empty, the node reads the interface recorded in the manifest of `artifact` (or the
shipped one that names its environment), without loading the network.

Subscribes  `action` (sensor_msgs/Joy, reliable; `buttons[0]` is the action index).
Publishes   the interface's command on its topic (reliable): sensor_msgs/JointState with
            `name` = the joints and `effort` set, as topic-based ros2_control hardware takes
            it; std_msgs/Float64MultiArray (`data`, as ros2_control's forward command
            controllers take it) or Float32MultiArray; geometry_msgs/TwistStamped (as
            diff-drive controllers on Jazzy and later take it; the interface's frame_id) or
            Twist. A stamped command
            answering an action carries that action's stamp; a safe command carries the time
            it was sent. `/diagnostics` (diagnostic_msgs/DiagnosticArray).

Watchdog: when the reading behind the last valid action is `watchdog_timeout_s` old (and
before the first action), the node publishes the safe command (zero effort, or zero twist)
once per timeout and reports it in diagnostics (level WARN) until actions return. The age
counts from the reading's stamp, which the action carries (`watchdog_from_reading_stamp`,
default true; a stamp ahead of our clock counts from the action's arrival): an action whose
reading is already twice `watchdog_timeout_s` old when it arrives (STALE_TIMEOUTS; one late
by less is commanded and counted from its arrival, unless it belongs to a lag: a run of
late actions, each adding 1 to its level and each action in time taking LATE_RUN_DRAIN
off, at LATE_RUN_LIMIT or more LATE_RUN_TIMEOUTS timeouts after it began, so a stream with
more than two thirds of its actions late; five in time in a row end any run) is stale and
is not commanded
(`stale_actions`, WARN; `neuroq.deploy.control.is_stale`), as diff_drive_controller
ignores a command older than its `cmd_vel_timeout`; so is an action answering the same
reading as the last one commanded (a sensor repeating its last message) or an older one
(out of order, by up to OLDER_READING_WINDOW_NS). Wall-clock stamps
are taken to be in step with this node's clock, as ROS assumes (chrony, NTP). A stamp before
2001 is another clock's (the event node's camera time, a microcontroller's since boot, a
simulation's without `use_sim_time`) and counts from the action's arrival
(`neuroq.deploy.control.same_clock`); so does every action under `use_sim_time`
(simulated time runs at its own rate against the steady timeout), and with
`watchdog_from_reading_stamp` false (which also lets a repeated reading through). The watchdog and
diagnostics timers run on the steady clock: nothing (`use_sim_time`, a paused or absent
/clock) can stop them, and every parameter, `use_sim_time` included, is refused at run
time (`neuroq.ros_nodes.params.refuse_runtime_changes`).

Safe stop: on SIGINT, SIGTERM or a fatal error the process publishes the safe command as its
last command, waits up to SAFE_STOP_ACK_S for reliable subscribers to acknowledge it, logs
it, and exits (`safe_stop`, called by `neuroq.ros_nodes.process.run_node`). When the policy
goes away (no publisher left on `action`), the watchdog has already sent the safe command;
the node logs it.

More than one publisher of actions on `action` (two stacks in one namespace, a remap onto
another robot's topic: two policies, each on its own robot's readings, would take turns
commanding this robot) stops the commanding: while there are more, no action is commanded
(`crowded_actions`; the watchdog sends the safe command; ERROR), counted again as actions
arrive at most ACTION_SOURCES_CHECK_S apart and at each diagnostics period; so does another
node of this node's full name (a second stack in this namespace, whose one policy up at
start-up or during a respawn would otherwise command both robots). More than one
publisher on the command topic is warned once per rise and reported (`crowded_topics`,
WARN), as are more on `action`; so is a diagnostics period in which the watchdog tripped
between actions (WARN, though not tripped at the report).

Margin: diagnostics report how much time the watchdog had left when a fresh action arrived
(`watchdog_margin_min_ms`: the smallest over the diagnostics period just ended; negative:
it had fired, as after any real loss) and how late its timer fired after a deadline
(`watchdog_late_max_ms`, largest since start). A timeout is right for a machine when the
margin stays positive in normal running and timeout + late stays under two control
periods.

Parameters (read-only): interface (str), artifact (str), watchdog_timeout_s,
watchdog_from_reading_stamp, diagnostics_period_s, latency_window.

Diagnostics include `reading_to_command_latency_{median,p99}_ms`: from the stamp of the
reading behind each command to the command's publication, over the last `latency_window`
commands (only stamps less than PLAUSIBLE_LATENCY_S old on our clock count).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.duration import Duration
from rclpy.node import Node
from sensor_msgs.msg import Joy

from neuroq.deploy.control import (
    PLAUSIBLE_LATENCY_S,
    REASON_BAD_ACTION,
    STALE_TIMEOUTS,
    LateRun,
    MalformedInput,
    Watchdog,
    check_stamp,
    credited_age,
    is_lagging,
    is_stale,
    late_run,
    shown,
    shown_names,
    watchdog_check,
    watchdog_feed,
)
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.interface import RobotInterface, load_interface, resolve_interface
from neuroq.deploy.interface_spec import NODE_TOPICS, ROS_TOPICS
from neuroq.deploy.latency import LatencyWindow
from neuroq.ros_nodes.diagnostics import (
    LEVEL_ERROR,
    LEVEL_OK,
    LEVEL_WARN,
    Crowding,
    QosMismatches,
    count_sources,
    diagnostic_array,
    foreign_subscribers,
)
from neuroq.ros_nodes.executor import steady_timer
from neuroq.ros_nodes.messages import fill_command, has_header, message_class, new_command_message
from neuroq.ros_nodes.params import declare, refuse_runtime_changes, where_to_set
from neuroq.ros_nodes.process import run_node
from neuroq.ros_nodes.qos import TOPIC_ACTION, TOPIC_DIAGNOSTICS, command_qos, stamp_ns
from neuroq.ros_nodes.realtime import declare_process_parameters
from neuroq.ros_nodes.throttle import ThrottledLog

NODE_NAME = "neuroq_actuator"
ACTION_TYPE = "sensor_msgs/Joy"
#: On a safe stop, wait at most this long for reliable subscribers to acknowledge the safe
#: command before the process goes on to exit (well inside process.TEARDOWN_LIMIT_S).
SAFE_STOP_ACK_S = 0.5
# shortest watchdog re-arm period, ns (the information is already about to expire)
MIN_REARM_NS = 1000
# the watchdog timer may fire this fraction of a timeout early and still count as expired
WATCHDOG_SLACK = 0.1
INTERVAL_WINDOW = 50
"""Actions looked at together for the watchdog-vs-rate warning: once per this many, when
most of them came after the watchdog had tripped (a timeout set for another control rate,
or readings dropped), it is logged."""
REFIT_RATIO = 1.5
"""The watchdog-vs-rate warning is said again, while it holds, when the timeout that would
fit moved by more than this factor since it was said (an outsider's robot re-published its
first reading every 0.5 s while starting: "about 0.750 s would fit", then ran at 10 Hz and
tripped 370 times in 40 s with that advice standing)."""
TIMEOUT_PERIODS = 1.5
"""The timeout the warning suggests: this many control periods plus the readings' latency
(the shipped configurations' rule)."""
LONG_WATCHDOG_S = 1.0
"""A watchdog_timeout_s above this is warned about at start: the robot keeps its last
command that long after its readings stop."""
MIN_EVENT_REPORT_S = 0.1
"""Diagnostics published at once on a trip or a release are at least this far apart
(seconds); the periodic report sums up the rest. A watchdog tripping between every two
actions published 100 diagnostics a second (an outsider's 50 Hz robot with readings 25 ms
old)."""


ACTION_SOURCES_CHECK_S = 0.1
"""As actions arrive, the publishers of actions (sensor_msgs/Joy) on `action`, and the nodes
named as this one, are counted again from the node's view of the DDS graph (tens of us)
when the last count is older than this (s); with more than one of either, no action is
commanded. An outsider's two robot
launches without namespaces put two policies on one `action`: each robot was commanded
from the other robot's readings 1,043 times in 12 s, under a WARN."""


OLDER_READING_WINDOW_NS = 1_000_000_000
"""An action answering a reading older than the last one commanded, by up to this much (ns),
is stale: commanding it would step the robot back to older information (an outsider's
readings alternately stamped now and 5 ms before had 197 such actions commanded in 2 s).
Further back it is taken for a sensor whose clock restarted (a simulation reset) and
commanded, as before."""


class ActuatorNode(Node):
    """Maps actions to commands, clamps them and runs the watchdog. See the module docstring."""

    def __init__(self, node_name: str = NODE_NAME, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        declare_process_parameters(self)  # first: a bad value stops it before any log
        interface = declare(self, "interface", "",
                            "robot interface: a name in config/interfaces/ or a YAML file "
                            "(empty: the one the artifact's manifest records)")
        artifact = declare(self, "artifact", "",
                           "deploy artifact whose manifest names the interface (when "
                           "interface is empty) or is checked against it (when both are "
                           "given); only its manifest is read, never the network")
        if not interface and not artifact:
            raise NeuroqError("parameters 'interface' and 'artifact' are both empty: name the "
                              "robot interface (or the artifact that records it): -p "
                              f"interface:=..., or {where_to_set(self)}")
        self.robot = self._interface(interface, artifact, self.get_logger().warning)
        timeout = declare(self, "watchdog_timeout_s", 0.015,
                          "no valid action for this long -> safe command",
                          float_range=(0.001, 10.0))
        count_from_reading = declare(
            self, "watchdog_from_reading_stamp", True,
            "count the timeout from the stamp of the reading behind each action (when the "
            "sensor's clock agrees with ours), not from the action's arrival")
        # a stamp's age counts only on wall-clock time: simulated time (use_sim_time) runs
        # at its own rate (10 times real time in a fast simulation) against the steady
        # timeout, which made every action stale there (a reviewer)
        self._stamps_read = bool(count_from_reading)  # repeated readings refused too
        self._count_from_reading = bool(
            count_from_reading and not self.get_parameter("use_sim_time").value)
        self._last_commanded_ns: int | None = None  # the stamp of the last action commanded
        period = declare(self, "diagnostics_period_s", 1.0, "seconds between diagnostics",
                         float_range=(0.05, 60.0))
        window = declare(self, "latency_window", 1000,
                         "recent commands the latency percentiles cover",
                         int_range=(10, 100000))
        # reading stamp -> command published, for stamps plausible on our clock
        self._reading_to_command_s = LatencyWindow(window)
        command = self.robot.command
        self.table = self.robot.action_table()
        self._command_msg: Any = new_command_message(command)
        self._stamped = has_header(message_class(command.type))
        self._check_command_topic()
        self._qos = QosMismatches(self)  # peers DDS does not match (their QoS)
        self._foreign_said = ""  # subscribers of another type on the command topic
        self._cmd_pub = self._qos.create_publisher(message_class(command.type), command.topic,
                                                   command_qos(), "command")
        self.dog = Watchdog(timeout)
        self.commands_sent = 0
        self.safe_commands_sent = 0
        self.bad_actions = 0
        self.stale_actions = 0  # actions refused: their reading two timeouts old, or repeated
        self.crowded_actions = 0  # actions refused: more than one publisher on `action`
        self._period_crowded = 0  # of those, in the current diagnostics period
        self._action_sources = 0  # publishers of actions on `action` at the last count
        # (what, why) while actions are not commanded: two policies, or two stacks in one
        # namespace (`_check_sources`); None while they are
        self._not_commanding: tuple[str, str] | None = None
        self._sources_counted_s = -float("inf")  # when (monotonic s)
        self._late_run = LateRun()  # a run of late actions (neuroq.deploy.control.late_run)
        self._period_stale = 0  # of those, in the current diagnostics period
        self._stale_oldest_s = 0.0  # the oldest reading among them, s
        self._last_event_report_s = -MIN_EVENT_REPORT_S  # the last trip or release report
        # time the watchdog had left when a fresh action came (s; min over the diagnostics
        # period) and how late its timer fired after a deadline (s; max since start)
        self.margin_min_s: float | None = None
        self.late_max_s = 0.0
        self._policy_seen = False  # a publisher on `action` has been seen
        self._crowding = Crowding(self)
        self._trips_reported = 0  # watchdog trips at the last diagnostics period's end
        self._period_trips = 0  # trips during the last diagnostics period, actions flowing
        self._intervals = LatencyWindow(INTERVAL_WINDOW)  # between action arrivals, s
        self._last_arrival_s: float | None = None
        self._late_actions = 0  # of this window's actions, those after a trip
        self._slow_said: float | None = None  # the fitting timeout the warning named, s
        self._log = ThrottledLog(self.get_logger())  # dropped actions
        self._dog_log = ThrottledLog(self.get_logger())  # trips and releases, never drowned
        self._diag_pub = self.create_publisher(DiagnosticArray, TOPIC_DIAGNOSTICS, command_qos())
        self._qos.create_subscription(Joy, TOPIC_ACTION, self._on_action, command_qos(),
                                      "action")
        # steady clock: simulated time (use_sim_time, /clock) can pause; the watchdog cannot
        self._watchdog_timer = steady_timer(self, timeout, self._on_watchdog)
        steady_timer(self, period, self._on_diagnostics_timer)
        # a trip or release within MIN_EVENT_REPORT_S of the last report is reported when
        # that window ends (the status read OK with the safe command out: a reviewer)
        self._event_timer = steady_timer(self, MIN_EVENT_REPORT_S, self._on_event_timer,
                                         autostart=False)
        refuse_runtime_changes(self)
        for i, (name, row) in enumerate(zip(command.action_names, command.values,
                                            strict=True)):
            if (np.abs(row) > command.limits).any():  # clamped at run time: say so now
                self.get_logger().warning(
                    f"action {shown(name)} commands {row.tolist()}, beyond the limits "
                    f"{command.limits.tolist()}: it is sent clamped, as "
                    f"{self.table.command(i).tolist()}")
        self.get_logger().info(
            f"interface {shown(self.robot.name)}: {command.type} on "
            f"{shown(self.resolve_topic_name(command.topic))}, channels "
            f"{shown_names(command.channels)}, {self.table.n_actions} actions, safe command "
            f"{self.table.safe.tolist()}; watchdog {timeout * 1e3:.1f} ms")
        if np.any(self.table.safe != 0):  # an outsider's interface with safe: [10.0] (the
            # limit) ran, and stopped on SIGINT with +10 N, without a word
            self.get_logger().warning(
                f"the safe command {self.table.safe.tolist()} is not zero: the watchdog, a "
                "stop and a policy that goes away all send it (interface "
                f"{shown(self.robot.name)})")
        if timeout > LONG_WATCHDOG_S:  # only too short a timeout was said (an outsider's 10 s)
            self.get_logger().warning(
                f"watchdog_timeout_s {timeout:g} s: after its readings stop, the robot keeps "
                f"its last command for up to {timeout:g} s (a control loop's timeout is a "
                "few control periods)")

    def _check_command_topic(self) -> None:
        """Refuse a command topic that resolves, in this node's namespace and with its
        remappings, to a topic the nodes or ROS use, or to a source's: the interface's own
        check sees names only (a recheck's /robot1/action under namespace robot1 was rcl's
        "create_subscription() called for existing topic name rt/robot1/action with
        incompatible type")."""
        command = self.robot.command.topic
        resolved = self._resolved_or_none(command)
        if resolved is None:  # a name rcl refuses: said, with the name, as the publisher is
            return  # made (rcl's resolver names no name: '{ns}/jc', a recheck)
        taken = [t for t in NODE_TOPICS + ROS_TOPICS if self._resolved_or_none(t) == resolved]
        taken += [f"source {s.name} ({s.topic})" for s in self.robot.sources  # the policy's
                  if self._resolved_or_none(s.topic) == resolved]  # topics, not ours: a
        # name rcl refuses there is the policy node's to say (a review)
        if taken:
            raise NeuroqError(
                f"command.topic {command!r} of interface {self.robot.name} resolves to "
                f"{resolved} here (namespace and remappings), the topic of "
                f"{', '.join(taken)}: name the robot's command topic")

    def _resolved_or_none(self, topic: str) -> str | None:
        """`topic` resolved in this node's namespace with its remappings; None for a name
        rcl refuses."""
        try:
            return self.resolve_topic_name(topic)
        except Exception:  # noqa: BLE001 - rclpy raises its RCLError, a private type
            return None

    @staticmethod
    def _interface(interface: str, artifact: str,
                   warn: Callable[[str], Any] | None = None) -> RobotInterface:
        """The interface named, else the one the artifact's manifest records; with both, the
        interface named, checked against the artifact's manifest (`check_artifact`: its
        observation values, actions and env), as the policy node checks them. NeuroqError
        (a bad parameter, exit status 2) for a missing or unreadable manifest or one that
        does not fit. warn: gets the line for a manifest without its hash."""
        from neuroq.deploy.artifact import hash_warning, read_manifest

        manifest = read_manifest(artifact)[1] if artifact else None
        unhashed = hash_warning(manifest) if manifest is not None else None
        if unhashed and warn is not None:  # the interface (its safe command) may come from it
            warn(f"artifact {artifact}: {unhashed}")
        if not (interface and manifest is not None):
            return resolve_interface(interface, manifest)
        robot = load_interface(interface)
        try:
            robot.check_artifact(manifest)
        except NeuroqError as exc:
            raise NeuroqError(f"artifact {artifact} does not fit interface {robot.name}: "
                              f"{exc}") from None
        return robot

    def _on_action(self, msg: Joy) -> None:
        try:
            if len(msg.buttons) != 1:
                raise MalformedInput(REASON_BAD_ACTION,
                                     f"expected 1 button, got {len(msg.buttons)}")
            # our policy copies a checked reading stamp; these no clock writes
            check_stamp(msg.header.stamp.sec, msg.header.stamp.nanosec, 0, None)
            command = self.table.command(int(msg.buttons[0]))
        except MalformedInput as exc:
            self.bad_actions += 1
            self._log.warning(f"dropped an action: {exc}")
            return
        arrived_s = time.monotonic()
        if arrived_s - self._sources_counted_s > ACTION_SOURCES_CHECK_S:
            self._check_sources(arrived_s)
        if self._not_commanding is not None:  # two policies would take turns: none is
            self._refuse_crowded()  # commanded
            return
        now_ns, reading_ns = self.get_clock().now().nanoseconds, stamp_ns(msg.header.stamp)
        age_s = (now_ns - reading_ns) * 1e-9
        timeout = self.dog.timeout_s
        if self._stamps_read and reading_ns == self._last_commanded_ns:  # a frozen driver
            self._refuse_stale(age_s, repeated=True)
            return
        # simulated time (use_sim_time) runs at its own rate against the steady timeout,
        # and another clock's stamps cannot be aged: those count from the arrival
        if self._count_from_reading:
            self._late_run = late_run(self._late_run, age_s, timeout, reading_ns * 1e-9,
                                      now_ns * 1e-9, arrived_s)
            if is_stale(age_s, timeout, reading_ns * 1e-9, now_ns * 1e-9,
                        is_lagging(self._late_run, timeout, arrived_s)):
                self._refuse_stale(age_s)
                return
        if (self._stamps_read and self._last_commanded_ns is not None
                and 0 < self._last_commanded_ns - reading_ns <= OLDER_READING_WINDOW_NS):
            self._refuse_stale(age_s, older=True)  # out of order: a step back in time
            return
        self._last_commanded_ns = reading_ns
        # the command first: re-arming the watchdog timer below wakes the executor's timer
        # thread, which should not delay the command it guards
        self._send(command, msg.header.stamp)
        self.commands_sent += 1
        if self._last_arrival_s is not None:
            self._intervals.add(arrived_s - self._last_arrival_s)
        self._last_arrival_s = arrived_s
        now_s = time.monotonic()
        if 0.0 <= age_s < PLAUSIBLE_LATENCY_S:  # reading stamp -> command published
            self._reading_to_command_s.add(age_s)
        # how old the information behind this command is now: counted from the reading's
        # stamp (neuroq.deploy.control.credited_age: its age on arrival, under the timeout
        # here; a stamp ahead of our clock, or of another clock, counts from the arrival)
        age = now_s - arrived_s
        if self._count_from_reading:
            age = max(credited_age(age_s, timeout), age)
        if self.dog.last_action_s is not None:
            # time the watchdog had left when this action came (its deadline - arrival)
            margin = self.dog.last_action_s + timeout - arrived_s
            if self.margin_min_s is None or margin < self.margin_min_s:
                self.margin_min_s = margin
            self._late_actions += margin < 0
        if self.commands_sent % INTERVAL_WINDOW == 0:
            self._compare_rate()
        # the timer fires when that information is `timeout` old
        self._watchdog_timer.timer_period_ns = max(int((timeout - age) * 1e9), MIN_REARM_NS)
        self._watchdog_timer.reset()
        self.dog, recovered = watchdog_feed(self.dog, now_s - age)
        if recovered:
            if self.commands_sent == 1:  # the safe command went out until the first action
                self._dog_log.info("first action: commanding (the safe command until now)")
                self._trips_reported, self._period_trips = self.dog.trips, 0  # start-up's
            else:
                self._dog_log.info(f"fresh actions again: watchdog released "
                                   f"({self.dog.trips} trips so far)")
            self._report_event()

    def _check_sources(self, now_s: float) -> None:
        """Count the publishers of actions on `action`, and the other nodes of this node's
        full name (ACTION_SOURCES_CHECK_S): with more than one publisher, or a twin (a
        second stack in this namespace: its policy's actions reach this one whenever only
        one of the two policies is up, at start-up or while one respawns: a recheck saw 291
        commands from the other robot's readings in a 3 s respawn), no action is
        commanded (`_not_commanding`)."""
        self._sources_counted_s = now_s
        self._action_sources = count_sources(self, TOPIC_ACTION, ACTION_TYPE, command_qos())
        name, ns = self.get_name(), self.get_namespace()
        twins = sum(n == name and s == ns for n, s in self.get_node_names_and_namespaces())
        if self._action_sources > 1:
            self._not_commanding = (f"{self._action_sources} publishers of actions on "
                                    f"{self.resolve_topic_name(TOPIC_ACTION)}",
                                    "two policies on one robot")
        elif twins > 1:
            self._not_commanding = (f"{twins} nodes named {self.get_fully_qualified_name()}",
                                    "two stacks in one namespace")
        else:
            self._not_commanding = None

    def _refuse_crowded(self) -> None:
        """An action while `_not_commanding`: not commanded (the watchdog goes on from the
        last one commanded and sends the safe command), counted and logged."""
        self.crowded_actions += 1
        self._period_crowded += 1
        what, why = self._not_commanding
        self._log.warning(
            f"dropped an action ({self.crowded_actions} so far): {what} ({why}), and this "
            "actuator commands its own robot's policy only: give each robot's stack its own "
            "namespace (the launch files' namespace argument, or -r __ns:=/robotN); the "
            "safe command goes out until then")

    def _refuse_stale(self, age_s: float, repeated: bool = False, older: bool = False) -> None:
        """An action answering a reading that was STALE_TIMEOUTS x `watchdog_timeout_s` old
        when the action arrived (`is_stale`), or the reading of the last action commanded
        again (`repeated`: a driver repeating its last message, whatever its clock): not
        commanded (the watchdog goes on from the last fresh one), counted and logged. Seen
        by an outsider: a driver repeating one stamp for 4 s, readings 35 ms to 1 h old,
        and the actions queued behind a stalled or restarted actuator were all commanded,
        as from "another clock", with every status OK."""
        self.stale_actions += 1
        self._period_stale += 1
        if older:
            self._log.warning(f"dropped a stale action ({self.stale_actions} so far): its "
                              "reading is older than the last one commanded (readings out "
                              "of order: a sensor or network reordering them)")
            return
        if not repeated:
            self._stale_oldest_s = max(self._stale_oldest_s, age_s)
        timeout = self.dog.timeout_s
        how = ("twice the timeout or more" if age_s >= STALE_TIMEOUTS * timeout else
               "the timeout or more in most of the actions since "
               f"{time.monotonic() - self._late_run.since_s:.1f} s ago (a constant lag, "
               "not an occasional late one)")
        why = ("its reading is the one of the last action commanded (a sensor repeating its "
               "last message?)" if repeated else
               f"its reading is {age_s:.3f} s old by this node's clock, watchdog_timeout_s "
               f"is {timeout:.3f} s: readings take {how} from the sensor through the policy "
               "to here (a timeout too short for this machine), or the sensor's wall clock "
               "is not in step with this one's (chrony; or watchdog_from_reading_stamp "
               "false)")
        self._log.warning(f"dropped a stale action ({self.stale_actions} so far): {why}")

    def _compare_rate(self) -> None:
        """Once per INTERVAL_WINDOW actions: log when most of them came after the watchdog
        had tripped (it then trips between every two actions: an outsider's 50 Hz robot
        under the default 15 ms tripped 548 times in 11 s with only "no fresh action for
        15.0 ms" to go by), naming the rate, the readings' latency and a timeout that
        would fit, or dropped readings as the other cause; again after it stopped, or while
        it holds once that timeout moved by more than REFIT_RATIO."""
        late, self._late_actions = self._late_actions, 0
        if 2 * late <= INTERVAL_WINDOW:
            self._slow_said = None
            return
        interval = self._intervals.percentile(50)
        window = self._reading_to_command_s
        latency = window.percentile(50) if len(window) else 0.0
        fit = TIMEOUT_PERIODS * interval + latency
        said = self._slow_said
        if said is None or not said / REFIT_RATIO <= fit <= said * REFIT_RATIO:
            self._slow_said = fit
            self.get_logger().warning(
                f"{late} of the last {INTERVAL_WINDOW} actions came after the watchdog had "
                f"tripped (actions every {interval * 1e3:.1f} ms, median; readings "
                f"{latency * 1e3:.1f} ms old when commanded): watchdog_timeout_s "
                f"{self.dog.timeout_s * 1e3:.1f} ms is shorter than a control period plus "
                f"that latency (about {fit:.3f} s would fit), or readings are being "
                "dropped (the policy node's diagnostics)")

    def _on_watchdog(self) -> None:
        was_tripped = self.dog.tripped
        now = time.monotonic()
        self.dog, send_safe = watchdog_check(self.dog, now, WATCHDOG_SLACK * self.dog.timeout_s)
        if not send_safe:
            return
        period_ns = int(self.dog.timeout_s * 1e9)
        if self._watchdog_timer.timer_period_ns != period_ns:  # repeat once per timeout
            self._watchdog_timer.timer_period_ns = period_ns
            self._watchdog_timer.reset()
        self._send(self.table.safe, self.get_clock().now().to_msg())
        self.safe_commands_sent += 1
        if not was_tripped:
            if self.dog.last_action_s is not None:
                late = now - (self.dog.last_action_s + self.dog.timeout_s)
                self.late_max_s = max(self.late_max_s, late)
            self._dog_log.warning(
                f"no fresh action for {self.dog.timeout_s * 1e3:.1f} ms: safe command out "
                f"(trip {self.dog.trips})")
            self._report_event()

    def _report_event(self) -> None:
        """Diagnostics for a trip or a release: at once, or, within MIN_EVENT_REPORT_S of
        the last such report, once that window ends (the state then)."""
        now = time.monotonic()
        wait = self._last_event_report_s + MIN_EVENT_REPORT_S - now
        if wait <= 0:
            self._event_timer.cancel()  # a report pending from the window just ended: this one
            self._last_event_report_s = now
            self._publish_diagnostics()
        elif self._event_timer.is_canceled():  # none pending yet
            self._event_timer.timer_period_ns = max(int(wait * 1e9), MIN_REARM_NS)
            self._event_timer.reset()

    def _on_event_timer(self) -> None:
        self._event_timer.cancel()
        now = time.monotonic()
        if now - self._last_event_report_s < MIN_EVENT_REPORT_S:
            return  # a report with the state now went out at once meanwhile
        self._last_event_report_s = now
        self._publish_diagnostics()

    def safe_stop(self, reason: str) -> None:
        """The last command before the process exits: the safe command, acknowledged by
        reliable subscribers within SAFE_STOP_ACK_S where they can, and logged."""
        self._watchdog_timer.cancel()
        self._send(self.table.safe, self.get_clock().now().to_msg())
        self.safe_commands_sent += 1
        acked = self._cmd_pub.wait_for_all_acked(Duration(seconds=SAFE_STOP_ACK_S))
        # the acknowledgement is DDS's, not the subscriber's: a subscriber can have the
        # command and its acknowledgement still be on the way (an outsider's had it within
        # 3-20 ms in every run that logged this)
        note = "" if acked else (f"; its delivery was not confirmed within "
                                 f"{SAFE_STOP_ACK_S:g} s (no acknowledgement from every "
                                 f"reliable subscriber: it may still have arrived)")
        self.get_logger().warning(
            f"safe stop ({reason}): safe command {self.table.safe.tolist()} published as the "
            f"last command{note}")

    def _on_diagnostics_timer(self) -> None:
        """Policy check and diagnostics, once per diagnostics period."""
        # the policy going away: its publisher leaves `action`. The watchdog has sent the
        # safe command by now (one timeout after the last action); say why
        publishers = self.count_publishers(TOPIC_ACTION)
        if publishers:
            self._policy_seen = True
        elif self._policy_seen:
            self._policy_seen = False
            self.get_logger().warning(
                f"no publisher on {self.resolve_topic_name(TOPIC_ACTION)!r} any more (the "
                f"policy went away): safe command out ({self.safe_commands_sent} so far)")
        self._check_sources(time.monotonic())
        self._crowding.check(TOPIC_ACTION, "policies publish actions")
        self._crowding.check(self.robot.command.topic,
                             "nodes command this robot (this actuator among them)")
        self._period_trips = self.dog.trips - self._trips_reported
        self._trips_reported = self.dog.trips
        self._publish_diagnostics(periodic=True)
        self.margin_min_s = None  # the margin covers one diagnostics period
        self._period_stale, self._stale_oldest_s = 0, 0.0
        self._period_crowded = 0

    def _send(self, command: np.ndarray, stamp: Any) -> None:
        msg = self._command_msg  # one message, refilled: publish serializes it at once
        fill_command(msg, self.robot.command, command)
        if self._stamped:
            msg.header.stamp = stamp
        self._cmd_pub.publish(msg)

    def stats(self) -> dict[str, Any]:
        """The figures the diagnostics report."""
        age = (None if self.dog.last_action_s is None
               else time.monotonic() - self.dog.last_action_s)
        values: dict[str, Any] = {
            "interface": self.robot.name,
            "command_type": self.robot.command.type,
            "watchdog_tripped": self.dog.tripped,
            "watchdog_trips": self.dog.trips,
            "watchdog_timeout_s": self.dog.timeout_s,
            "commands_sent": self.commands_sent,
            "safe_commands_sent": self.safe_commands_sent,
            "bad_actions": self.bad_actions,
            "stale_actions": self.stale_actions,
            "crowded_actions": self.crowded_actions,
            "last_action_age_s": "no action yet" if age is None else age,
            "watchdog_late_max_ms": self.late_max_s * 1e3,
        }
        if self._crowding.crowded:  # topics more than one node publishes on: publishers
            values["crowded_topics"] = self._crowding.describe()
        if self._qos.held:  # peers DDS does not match with this node's endpoints
            values["qos_mismatches"] = self._qos.describe()
        if self.margin_min_s is not None:
            values["watchdog_margin_min_ms"] = self.margin_min_s * 1e3
        if len(self._intervals):  # between action arrivals, the last INTERVAL_WINDOW
            values["action_interval_median_ms"] = self._intervals.percentile(50) * 1e3
        window = self._reading_to_command_s
        if len(window):  # reading stamp -> command published (sensor to command message)
            values["reading_to_command_latency_median_ms"] = window.percentile(50) * 1e3
            values["reading_to_command_latency_p99_ms"] = window.percentile(99) * 1e3
        return values

    def _publish_diagnostics(self, periodic: bool = False) -> None:
        """Publish `status` with `stats`; periodic: first say what the throttled logs
        suppressed since their last line (`ThrottledLog.flush`)."""
        if periodic:
            self._log.flush()
            self._dog_log.flush()
        level, message = self.status(periodic)
        self._diag_pub.publish(diagnostic_array(self, level, message, self.robot.command.type,
                                                self.stats()))

    def status(self, periodic: bool = False) -> tuple[bytes, str]:
        """(level, message) now; `periodic` (the diagnostics timer's report, not the one on
        a trip or release) also WARNs for the stale actions and the watchdog trips of the
        period just ended."""
        stale = (f"{self._period_stale} stale actions not commanded (readings up to "
                 f"{self._stale_oldest_s:.3f} s old by this node's clock, repeated or out of "
                 "order: a timeout too short for the latency, a sensor clock not in step, a "
                 "sensor repeating itself or readings reordered)") if self._period_stale else ""
        if self._not_commanding is not None and (self._period_crowded or self.dog.tripped):
            what, why = self._not_commanding
            level, message = LEVEL_ERROR, (
                f"{what}: not commanding ({why}), safe command out; {self._period_crowded} "
                "actions dropped in this period")
        elif self.dog.tripped:
            level, message = LEVEL_WARN, ("watchdog: no fresh action, safe command out"
                                          + (f"; {stale}" if stale else ""))
        elif periodic and stale:  # the period's (a release's own report says it commands)
            level, message = LEVEL_WARN, stale
        elif periodic and self._period_trips:  # actions late, again and again: an
            # outsider's 15 ms watchdog at 50 Hz tripped 650 times in 11 s under an OK status
            level, message = LEVEL_WARN, (f"watchdog: {self._period_trips} trips in the last "
                                          "diagnostics period (safe commands between actions)")
        elif self._crowding.crowded:
            level, message = LEVEL_WARN, "more than one publisher: " + self._crowding.describe()
        else:
            level, message = LEVEL_OK, "commanding"
        foreign = self._foreign_subscribers() if periodic else self._foreign_said
        if foreign:  # as a QoS mismatch: WARN, or added to a worse status
            level, message = ((LEVEL_WARN, foreign) if level == LEVEL_OK
                              else (level, f"{message}; {foreign}"))
        return self._qos.status({}, level, message)

    def _foreign_subscribers(self) -> str:
        """"<topic> is subscribed as TYPE, ..." where subscribers of the command topic take
        another message type (they get no command, not even the safe one); logged as a
        warning when it changes."""
        command = self.robot.command
        other = foreign_subscribers(self, command.topic, command.type)
        text = (f"{self.resolve_topic_name(command.topic)} is subscribed as "
                f"{', '.join(other)}, the interface commands {command.type}: those "
                "subscribers get no command, not even the safe one (check the interface's "
                "command type)") if other else ""
        if text and text != self._foreign_said:
            self.get_logger().warning(text)
        self._foreign_said = text
        return text


def main(args: list[str] | None = None) -> int:
    """Entry point (`neuroq_actuator_node`)."""
    return run_node(ActuatorNode, "actuator", args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
