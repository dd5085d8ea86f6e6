"""Actuator node: discrete actions in, clamped actuator commands out, behind a watchdog.

Subscribes  `action` (sensor_msgs/Joy, reliable; `buttons[0]` is the action index).
Publishes   in mode `effort`: `joint_commands` (sensor_msgs/JointState, reliable) with
            `name = joint_names` and `effort` set, as topic-based ros2_control hardware
            takes it; in mode `twist`: `cmd_vel` (geometry_msgs/TwistStamped, reliable), as
            diff-drive controllers on Jazzy and later take it. A command answering an action
            carries that action's stamp; a safe command carries the time it was sent.
            `/diagnostics` (diagnostic_msgs/DiagnosticArray).

Watchdog: when the reading behind the last valid action is `watchdog_timeout_s` old (and
before the first action), the node publishes the safe command (zero effort, or zero twist)
once per timeout and reports it in diagnostics (level WARN) until actions return. The age
counts from the reading's stamp, which the action carries, when that stamp is plausible on
our clock (`neuroq.deploy.control.credited_age`), else from the action's arrival.

Parameters (read-only): mode (effort | twist), env_id, joint_names (str[]),
action_efforts (float[], row-major n_actions x n_joints), effort_limits (float[]),
safe_effort (float[]), twist_linear_x / twist_angular_z (float[] per action),
max_linear_x, max_angular_z, frame_id, watchdog_timeout_s, watchdog_from_reading_stamp,
diagnostics_period_s, latency_window.

Diagnostics include `reading_to_command_latency_{median,p99}_ms`: from the stamp of the
reading behind each command to the command's publication, over the last `latency_window`
commands (only stamps less than PLAUSIBLE_LATENCY_S old on our clock count).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState, Joy

from neuroq.deploy.control import (
    REASON_BAD_ACTION,
    ActionTable,
    MalformedInput,
    Watchdog,
    credited_age,
    joint_layout,
    watchdog_check,
    watchdog_feed,
)
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.latency import LatencyWindow
from neuroq.ros_nodes.diagnostics import LEVEL_OK, LEVEL_WARN, diagnostic_array
from neuroq.ros_nodes.params import check_choice, declare
from neuroq.ros_nodes.process import run_node
from neuroq.ros_nodes.qos import (
    TOPIC_ACTION,
    TOPIC_CMD_VEL,
    TOPIC_DIAGNOSTICS,
    TOPIC_JOINT_COMMANDS,
    command_qos,
    stamp_ns,
)
from neuroq.ros_nodes.throttle import ThrottledLog

NODE_NAME = "neuroq_actuator"
MODES = ("effort", "twist")
# a reading stamp further back than this is taken as another clock, not as latency
PLAUSIBLE_LATENCY_S = 1.0
# shortest watchdog re-arm period, ns (the information is already about to expire)
MIN_REARM_NS = 1000
# the watchdog timer may fire this fraction of a timeout early and still count as expired
WATCHDOG_SLACK = 0.1


class ActuatorNode(Node):
    """Maps actions to commands, clamps them and runs the watchdog. See the module docstring."""

    def __init__(self, node_name: str = NODE_NAME, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        self._mode = check_choice(
            "mode", declare(self, "mode", "effort", "what the commands drive", choices=MODES),
            MODES)
        env_id = declare(self, "env_id", "CartPole-v1", "environment whose efforts are default")
        layout = joint_layout(env_id)
        timeout = declare(self, "watchdog_timeout_s", 0.015,
                          "no valid action for this long -> safe command",
                          float_range=(0.001, 10.0))
        self._count_from_reading = declare(
            self, "watchdog_from_reading_stamp", True,
            "count the timeout from the stamp of the reading behind each action (when the "
            "sensor's clock agrees with ours), not from the action's arrival")
        period = declare(self, "diagnostics_period_s", 1.0, "seconds between diagnostics",
                         float_range=(0.05, 60.0))
        window = declare(self, "latency_window", 1000,
                         "recent commands the latency percentiles cover",
                         int_range=(10, 100000))
        # reading stamp -> command published, for stamps plausible on our clock
        self._reading_to_command_s = LatencyWindow(window)
        if self._mode == "effort":
            self._names = list(declare(self, "joint_names", [layout.effort_joint],
                                       "joints the effort command drives"))
            efforts = declare(self, "action_efforts", [float(e) for e in layout.action_efforts],
                              "effort per action and joint, row-major (N or N m)")
            limits = declare(self, "effort_limits",
                             [float(max(abs(e) for e in layout.action_efforts))] * len(
                                 self._names), "per joint |effort| bound (N or N m)")
            safe = declare(self, "safe_effort", [0.0] * len(self._names),
                           "effort sent by the watchdog")
            n = len(self._names)
            if n == 0 or len(efforts) % n:
                raise NeuroqError(
                    f"action_efforts has {len(efforts)} values, not a multiple of the "
                    f"{n} joints in joint_names")
            self.table = ActionTable.from_lists(np.reshape(efforts, (-1, n)), limits, safe)
            self._command_msg: Any = JointState(name=self._names)
            self._cmd_pub = self.create_publisher(JointState, TOPIC_JOINT_COMMANDS,
                                                  command_qos())
        else:
            lin = declare(self, "twist_linear_x", [0.0, 0.2, 0.0],
                          "forward speed per action (m/s)")
            ang = declare(self, "twist_angular_z", [0.5, 0.0, -0.5],
                          "turn rate per action (rad/s)")
            max_lin = declare(self, "max_linear_x", 0.5, "|linear.x| bound (m/s)",
                              float_range=(0.0, 100.0))
            max_ang = declare(self, "max_angular_z", 1.0, "|angular.z| bound (rad/s)",
                              float_range=(0.0, 100.0))
            self._frame_id = declare(self, "frame_id", "base_link", "frame of cmd_vel")
            if len(lin) != len(ang):
                raise NeuroqError("twist_linear_x and twist_angular_z need one value per action")
            self.table = ActionTable.from_lists(np.column_stack([lin, ang]), [max_lin, max_ang])
            self._command_msg = TwistStamped()
            self._command_msg.header.frame_id = self._frame_id
            self._cmd_pub = self.create_publisher(TwistStamped, TOPIC_CMD_VEL, command_qos())
        self.dog = Watchdog(timeout)
        self.commands_sent = 0
        self.safe_commands_sent = 0
        self.bad_actions = 0
        self._log = ThrottledLog(self.get_logger())
        self._diag_pub = self.create_publisher(DiagnosticArray, TOPIC_DIAGNOSTICS, command_qos())
        self.create_subscription(Joy, TOPIC_ACTION, self._on_action, command_qos())
        self._watchdog_timer = self.create_timer(timeout, self._on_watchdog)
        self.create_timer(period, self._publish_diagnostics)
        self.get_logger().info(
            f"mode {self._mode}, watchdog {timeout * 1e3:.1f} ms, "
            f"{self.table.n_actions} actions")

    def _on_action(self, msg: Joy) -> None:
        try:
            if len(msg.buttons) != 1:
                raise MalformedInput(REASON_BAD_ACTION,
                                     f"expected 1 button, got {len(msg.buttons)}")
            command = self.table.command(int(msg.buttons[0]))
        except MalformedInput as exc:
            self.bad_actions += 1
            self._log.warning(f"dropped an action: {exc}")
            return
        arrived_s = time.monotonic()
        # the command first: re-arming the watchdog timer below wakes the executor's timer
        # thread, which should not delay the command it guards
        self._send(command, msg.header.stamp)
        self.commands_sent += 1
        now_s = time.monotonic()
        age_s = (self.get_clock().now().nanoseconds - stamp_ns(msg.header.stamp)) * 1e-9
        if 0.0 <= age_s < PLAUSIBLE_LATENCY_S:  # reading stamp -> command published
            self._reading_to_command_s.add(age_s)
        timeout = self.dog.timeout_s
        # how old the information behind this command is now: counted from the reading's
        # stamp when that age is within [0, timeout) (neuroq.deploy.control.credited_age), else
        # from the action's arrival. An older stamp is taken as another clock, and so is a
        # reading that is already stale on arrival: the command still goes out, and the
        # safe command follows one timeout later unless a fresher action comes.
        age = now_s - arrived_s
        if self._count_from_reading:
            age = max(credited_age(age_s, timeout), age)
        # the timer fires when that information is `timeout` old
        self._watchdog_timer.timer_period_ns = max(int((timeout - age) * 1e9), MIN_REARM_NS)
        self._watchdog_timer.reset()
        self.dog, recovered = watchdog_feed(self.dog, now_s - age)
        if recovered:
            self._log.info(f"fresh actions again: watchdog released "
                           f"({self.dog.trips} trips so far)")
            self._publish_diagnostics()

    def _on_watchdog(self) -> None:
        was_tripped = self.dog.tripped
        self.dog, send_safe = watchdog_check(self.dog, time.monotonic(),
                                             WATCHDOG_SLACK * self.dog.timeout_s)
        if not send_safe:
            return
        period_ns = int(self.dog.timeout_s * 1e9)
        if self._watchdog_timer.timer_period_ns != period_ns:  # repeat once per timeout
            self._watchdog_timer.timer_period_ns = period_ns
            self._watchdog_timer.reset()
        self._send(self.table.safe, self.get_clock().now().to_msg())
        self.safe_commands_sent += 1
        if not was_tripped:
            self._log.warning(
                f"no fresh action for {self.dog.timeout_s * 1e3:.1f} ms: safe command out "
                f"(trip {self.dog.trips})")
            self._publish_diagnostics()

    def _send(self, command: np.ndarray, stamp: Any) -> None:
        msg = self._command_msg  # one message, refilled: publish serializes it at once
        if self._mode == "effort":
            msg.effort = command.tolist()
        else:
            msg.twist.linear.x = float(command[0])
            msg.twist.angular.z = float(command[1])
        msg.header.stamp = stamp
        self._cmd_pub.publish(msg)

    def stats(self) -> dict[str, Any]:
        """The figures the diagnostics report."""
        age = (None if self.dog.last_action_s is None
               else time.monotonic() - self.dog.last_action_s)
        values: dict[str, Any] = {
            "mode": self._mode,
            "watchdog_tripped": self.dog.tripped,
            "watchdog_trips": self.dog.trips,
            "watchdog_timeout_s": self.dog.timeout_s,
            "commands_sent": self.commands_sent,
            "safe_commands_sent": self.safe_commands_sent,
            "bad_actions": self.bad_actions,
            "last_action_age_s": "no action yet" if age is None else age,
        }
        window = self._reading_to_command_s
        if len(window):  # reading stamp -> command published (sensor to command message)
            values["reading_to_command_latency_median_ms"] = window.percentile(50) * 1e3
            values["reading_to_command_latency_p99_ms"] = window.percentile(99) * 1e3
        return values

    def _publish_diagnostics(self) -> None:
        if self.dog.tripped:
            level, message = LEVEL_WARN, "watchdog: no fresh action, safe command out"
        else:
            level, message = LEVEL_OK, "commanding"
        self._diag_pub.publish(diagnostic_array(self, level, message, self._mode, self.stats()))


def main(args: list[str] | None = None) -> int:
    """Entry point (`neuroq_actuator_node`)."""
    return run_node(ActuatorNode, "actuator", args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
