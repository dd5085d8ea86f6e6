"""Simulated robot node: a Gymnasium environment run as hardware, in lockstep with its commands.

What it publishes and which command it takes is a robot interface's
(`neuroq.deploy.interface`, the `interface` parameter): the same file the policy and the
actuator read, so the three agree by construction.

Publishes   every source of the interface at the control rate (the trigger must have a
            header: commands are paired with readings by its stamp), each stamped with the node
            clock when the state is read (after the environment step, as a sensor stamps its
            sample), the trigger source last: CartPole and Acrobot `joint_states`
            (sensor_msgs/JointState: positions and velocities by joint name); DiffDriveNav
            `odom` (nav_msgs/Odometry), `goal_pose` (geometry_msgs/PoseStamped) and then
            `scan` (sensor_msgs/LaserScan, 360 beams). Sensor streams best effort, keep last
            1; a goal reliable, transient local, keep last 1.
            `episode_return` (std_msgs/Float64, reliable, transient local: the last 10 reach
            a late subscriber) when an episode ends, and `episode_outcome`
            (diagnostic_msgs/DiagnosticStatus, the same QoS: name "episode <k>", k from 0, values
            return, seed and, where the environment reports them, is_success, collision,
            time_to_goal_s).
            `/diagnostics` (diagnostic_msgs/DiagnosticArray): ticks, steps, late ticks, lost
            commands, start-up waits (ticks before the first command: not counted as late
            or lost), episodes, last and mean return, success rate, and the loop latency:
            from a reading's stamp to the arrival of the command answering it (the clock
            read first thing in the command callback), median and p99 over the last
            `latency_window` answers, max since start.
Subscribes  the interface's command (reliable, keep last 100; a stamped type: JointState
            efforts or TwistStamped): a command is applied when its stamp is the stamp of
            the current reading and its values are one action's within `command_tolerance`
            (see `neuroq.deploy.sim_robot.LockstepRobot` for the timing rules).

Parameters (read-only; `use_sim_time` too, at run time): interface, env_id (default: the
interface's), control_rate_hz, seed, command_timeout_ticks, max_episodes,
command_tolerance, diagnostics_period_s, latency_window, exit_when_done (bool: exit with
status 0 `linger_s` seconds after the last of max_episodes episodes, so that a launch
whose nodes end it on exit ends with them), linger_s, wait_subscribers (no tick until the
trigger's topic has this many subscriptions matched, and 1 s more; 0: start at once).
"""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import Float64

from neuroq.deploy.errors import NeuroqError, counted
from neuroq.deploy.interface import load_interface
from neuroq.deploy.latency import LatencyWindow
from neuroq.deploy.seeds import MAX_SEED
from neuroq.deploy.sim_robot import LockstepRobot
from neuroq.ros_nodes.diagnostics import LEVEL_OK, LEVEL_WARN, RecentCount, diagnostic_array
from neuroq.ros_nodes.executor import pace_timer, steady_timer
from neuroq.ros_nodes.messages import command_values, fill, has_header, message_class
from neuroq.ros_nodes.params import declare, refuse_runtime_changes, where_to_set
from neuroq.ros_nodes.process import run_node
from neuroq.ros_nodes.qos import (
    MATCH_SETTLE_S,
    TOPIC_DIAGNOSTICS,
    TOPIC_EPISODE_RETURN,
    command_qos,
    latched_qos,
    sensor_qos,
    set_stamp,
    stamp_ns,
)
from neuroq.ros_nodes.realtime import declare_process_parameters

NODE_NAME = "neuroq_sim_robot"
#: Commands kept until taken. While the actuator's watchdog is tripped it sends a safe
#: command every timeout (3 ms at 500 Hz); with the default depth of 10, a stall of a few
#: tens of ms in this process could push the awaited answer out of the queue before it is
#: taken, and the robot would count it lost.
COMMAND_QUEUE_DEPTH = 100
#: seconds between checks whether max_episodes are done (exit_when_done)
LINGER_CHECK_S = 0.1
LOST_WARN_HOLD_S = 5.0
"""The diagnostics stay WARN this long (s) after a command is counted lost, then OK again
(the count stays in `lost_commands`): one lost command in a machine stall kept an
outsider's 12-minute soak WARN to its end, so a new loss changed only a number."""
#: Each ended episode's outcome (diagnostic_msgs/DiagnosticStatus, latched).
TOPIC_EPISODE_OUTCOME = "episode_outcome"
#: Source types published reliable and latched (a goal: sent rarely, must not be lost).
LATCHED_SOURCES = ("geometry_msgs/PoseStamped",)


class SimRobotNode(Node):
    """Publishes the interface's readings at the control rate and applies the commands
    answering them."""

    def __init__(self, node_name: str = NODE_NAME, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        declare_process_parameters(self)  # first: a bad value stops it before any log
        interface = declare(self, "interface", "",
                            "robot interface: a name in config/interfaces/ or a YAML file")
        env_id = declare(self, "env_id", "",
                         "Gymnasium environment to simulate (empty: the interface's)")
        rate = declare(self, "control_rate_hz", 50.0, "readings per second",
                       float_range=(1.0, 2000.0))
        seed = declare(self, "seed", 0, "seed of episode 0; episode k uses seed + k",
                       int_range=(0, MAX_SEED))
        timeout = declare(self, "command_timeout_ticks", 25,
                          "late ticks before a command counts as lost", int_range=(1, 100000))
        max_episodes = declare(self, "max_episodes", 0, "stop after this many (0: never)",
                               int_range=(0, 1000000))
        tolerance = declare(self, "command_tolerance", 1e-3,
                            "|commanded - action value| per channel that still selects the "
                            "action", float_range=(0.0, 1000.0))
        period = declare(self, "diagnostics_period_s", 1.0, "seconds between diagnostics",
                         float_range=(0.05, 60.0))
        window = declare(self, "latency_window", 1000,
                         "recent commands the loop latency percentiles cover",
                         int_range=(10, 1000000))
        exit_when_done = declare(self, "exit_when_done", False,
                                 "exit (status 0) linger_s after max_episodes episodes")
        self.linger_s = declare(self, "linger_s", 1.0,
                                "seconds it keeps serving after max_episodes before it exits "
                                "(exit_when_done), so its last return and diagnostics get out",
                                float_range=(0.0, 60.0))
        self._wait_subscribers = declare(
            self, "wait_subscribers", 0, "no tick runs until the trigger's topic has this "
            "many subscriptions matched (the controller, plus observers such as a "
            "benchmark's; 0: start at once)", int_range=(0, 1000))
        self._done_at: float | None = None
        # reading published (its stamp) -> the command answering it arrives here
        self._loop_latency_s = LatencyWindow(window)
        if not interface:
            raise NeuroqError("parameter 'interface' is empty: name the robot interface (a name "
                              "in config/interfaces/ or a YAML file): -p interface:=..., or "
                              f"{where_to_set(self)}")
        self.interface = robot = load_interface(interface)
        env_id = env_id or robot.env_id
        if not env_id:
            raise NeuroqError(f"interface {robot.name} names no environment: set env_id")
        command_cls = message_class(robot.command.type)
        if not has_header(command_cls):
            raise NeuroqError(
                f"the simulated robot pairs each command with its reading by stamp: "
                f"{robot.command.type} has no header (use a stamped command type)")
        trigger = robot.trigger
        if not has_header(message_class(trigger.type)):
            # the policy stamps its action with the trigger's stamp; without one it stamps
            # the time it acts, which no reading carries, so no command would ever be taken
            raise NeuroqError(
                f"the simulated robot pairs each command with its reading by the trigger's "
                f"stamp: trigger source {trigger.name} ({trigger.type}) has no header (make "
                f"a stamped type the trigger, e.g. sensor_msgs/JointState)")
        self.robot = LockstepRobot(env_id, robot, seed=seed, command_tolerance=tolerance,
                                   command_timeout_ticks=timeout, max_episodes=max_episodes)
        # one publisher and one reused message per source; the trigger goes out last, so
        # the other sources of a tick are there when its reading is made
        self._outputs = []
        for source in sorted(robot.sources, key=lambda s: s.trigger):
            cls = message_class(source.type)
            qos = latched_qos(1) if source.type in LATCHED_SOURCES else sensor_qos()
            self._outputs.append((source.name, cls(), has_header(cls),
                                  self.create_publisher(cls, source.topic, qos)))
        self._return_pub = self.create_publisher(Float64, TOPIC_EPISODE_RETURN, latched_qos())
        self._outcome_pub = self.create_publisher(DiagnosticStatus, TOPIC_EPISODE_OUTCOME,
                                                  latched_qos())
        self._diag_pub = self.create_publisher(DiagnosticArray, TOPIC_DIAGNOSTICS, command_qos())
        self._lost_recent = RecentCount(LOST_WARN_HOLD_S)  # lost in the last few seconds
        self.create_subscription(command_cls, robot.command.topic, self._on_command,
                                 command_qos(COMMAND_QUEUE_DEPTH))
        self._period_ns = int(1e9 / rate)
        self._t0_ns: int | None = None  # the first tick, on the pacing clock (_on_tick)
        self._last_slot = -1
        self.burst_ticks_skipped = 0
        self.subscriber_wait_ticks = 0
        self._matched_at: float | None = None
        self._trigger_pub = next(pub for name, _, _, pub in self._outputs
                                 if name == trigger.name)
        self._pace = pace_timer(self, 1.0 / rate, self._on_tick)
        steady_timer(self, period, self._publish_diagnostics)
        if exit_when_done and max_episodes:
            steady_timer(self, LINGER_CHECK_S, self._exit_when_done)  # linger_s: wall time
        refuse_runtime_changes(self)
        self.get_logger().info(f"{env_id} at {rate:g} Hz, seed {seed}, interface {robot.name}")

    def _exit_when_done(self) -> None:
        """linger_s after the last episode, stop as Ctrl-C stops the node (exit status 0):
        the spin loop ends after this callback (neuroq.ros_nodes.process.run_node)."""
        if not self.robot.done:
            return
        now = time.monotonic()
        if self._done_at is None:
            self._done_at = now
            self.get_logger().info(f"done: {self.robot.counters.episodes} episodes; "
                                   f"exiting in {self.linger_s:g} s")
        if now - self._done_at >= self.linger_s:
            signal.raise_signal(signal.SIGINT)

    def _on_tick(self) -> None:
        if self._wait_subscribers:  # wait_subscribers: nothing starts before they match,
            # and MATCH_SETTLE_S more (the readers' side of the match may lag ours)
            now = time.monotonic()
            if self._trigger_pub.get_subscription_count() < self._wait_subscribers:
                self._matched_at = None
            elif self._matched_at is None:
                self._matched_at = now
            if self._matched_at is None or now - self._matched_at < MATCH_SETTLE_S:
                self.subscriber_wait_ticks += 1
                return
            self._wait_subscribers = 0
        # a timer that fell behind (this process stalled) may fire its missed periods back
        # to back, as rclpy's events executor does; those are not control ticks. Each tick
        # owns a slot of the schedule (on the pacing timer's clock, from the first tick: the
        # steady clock, or simulated time, which may run faster than the wall clock); a
        # second tick in a slot already served is a catch-up and is skipped.
        now_ns = self._pace.clock.now().nanoseconds
        if self._t0_ns is None:
            self._t0_ns = now_ns
        slot = round((now_ns - self._t0_ns) / self._period_ns)
        if slot == self._last_slot:
            self.burst_ticks_skipped += 1
            return
        self._last_slot = slot
        # the reading is stamped when the state is read, after the step (LockstepRobot.tick)
        tick = self.robot.tick(self._now_ns)
        if tick.episode_return is not None:
            self._publish_episode(tick.episode_return, tick.outcome)
        if tick.lost:
            lost_ns = self.robot.lost_stamps[-1]  # the reading just given up on
            waited_ms = (self._now_ns() - lost_ns) * 1e-6
            self.get_logger().warning(
                f"no answer to the reading stamped {lost_ns} ns, "
                f"{waited_ms:.0f} ms ago, within "
                f"{self.robot.command_timeout_ticks} ticks: counted lost, published again "
                f"({(now_ns - self._t0_ns) * 1e-9:.2f} s after the first tick)")
        if tick.observation is None or tick.stamp is None:
            return
        for name, msg, header, pub in self._outputs:
            # one message per source, refilled: publish serializes it at once
            fill(msg, tick.readings[name])
            if header:
                set_stamp(msg.header.stamp, tick.stamp)
            pub.publish(msg)

    def _publish_episode(self, ret: float, outcome: dict[str, float]) -> None:
        # counted from 0, as `neuroq eval`, the camera node and seeds (seed + k) count them
        k = self.robot.counters.episodes - 1
        self._return_pub.publish(Float64(data=ret))
        values = {"return": ret, "seed": self.robot.seed + k, **outcome}
        self._outcome_pub.publish(DiagnosticStatus(
            name=f"episode {k}", values=[KeyValue(key=key, value=str(v))
                                         for key, v in values.items()]))
        extra = "".join(f", {key} {v:g}" for key, v in outcome.items())
        self.get_logger().info(f"episode {k} return {ret:g}{extra}")

    def _on_command(self, msg: Any) -> None:
        arrived_ns = self._now_ns()  # before any work on the message: its arrival
        values = command_values(msg, self.interface.command)
        if values is None:
            self.robot.counters.unmatched_commands += 1
            return
        stamp = stamp_ns(msg.header.stamp)
        if self.robot.command(stamp, values):
            self._loop_latency_s.add((arrived_ns - stamp) * 1e-9)

    def _now_ns(self) -> int:
        """The node clock in nanoseconds (stamps and arrival times)."""
        return self.get_clock().now().nanoseconds

    def _publish_diagnostics(self) -> None:
        self._publish_diagnostics_at(time.monotonic())

    def _publish_diagnostics_at(self, now: float) -> None:
        """Publish the robot's diagnostics as of `now` (monotonic s)."""
        c = self.robot.counters
        returns = self.robot.returns
        values = {
            "ticks": c.ticks, "steps": c.steps, "late_ticks": c.late_ticks,
            "lost_commands": c.lost_commands, "unmatched_commands": c.unmatched_commands,
            "startup_ticks": c.startup_ticks, "startup_republished": c.startup_republished,
            "subscriber_wait_ticks": self.subscriber_wait_ticks,
            "burst_ticks_skipped": self.burst_ticks_skipped,
            "answers_after_loss": c.answers_after_loss,
            "episodes": c.episodes,
            "last_return": returns[-1] if returns else "none yet",
            "mean_return": float(np.mean(returns)) if returns else "none yet",
        }
        successes = [o["is_success"] for o in self.robot.outcomes if "is_success" in o]
        if successes:
            values["success_rate"] = float(np.mean(successes))
        window = self._loop_latency_s
        if len(window):  # the whole loop, as this robot sees it (deploy/latency.py)
            values["loop_latency_median_ms"] = window.percentile(50) * 1e3
            values["loop_latency_p99_ms"] = window.percentile(99) * 1e3
            values["loop_latency_max_ms"] = window.max_s * 1e3
            values["loop_latency_samples"] = len(window)
        level, message = LEVEL_OK, "running"
        if not self.robot.connected:
            level, message = LEVEL_WARN, "waiting for the first command"
        recent = self._lost_recent.update(c.lost_commands, now)
        if recent:  # WARN for LOST_WARN_HOLD_S after each loss
            level, message = LEVEL_WARN, (f"{counted(recent, 'command')} lost in the last "
                                          f"{LOST_WARN_HOLD_S:g} s ({c.lost_commands} in all)")
        if self.robot.done:
            message = f"done: {c.episodes} episodes"
        self._diag_pub.publish(diagnostic_array(self, level, message, "gymnasium", values))


def main(args: list[str] | None = None) -> int:
    """Entry point (`neuroq_sim_robot`)."""
    return run_node(SimRobotNode, "sim robot", args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
