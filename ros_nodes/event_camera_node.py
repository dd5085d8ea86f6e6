"""Simulated event camera: the DVS pan-tracking env publishing EventPackets like a driver.

Runs `neuroq/DVSPanTracking*` in lockstep with the policy: each control period's DVS
events go out on `events` (event_camera_msgs/EventPacket, encoding `evt3`, reliable) cut
into packets of `packet_us` of camera time (1 ms, as metavision_driver does), each packet
self-contained EVT 3.0 words. After a period's events comes a packet with only EVT 3.0
TIME_HIGH / TIME_LOW words for the period's end + 1 us: time advancing without events, as a
real sensor's time words do, so the event node knows the period is complete even when
nothing moved. The node then waits for the `action` (sensor_msgs/Joy) stamped with that
period's end in camera time, steps the env with it and publishes the next period.

Camera time never goes backwards and has no holes: an episode's final period is never
published (the episode ended with it), and the next episode's first period takes its place
in camera time. Episode returns go to `episode_return` (std_msgs/Float64, latched).

Parameters (read-only; `use_sim_time` too, at run time): env_id, seed (episode k uses seed +
k), max_episodes (0: never stop), packet_us, action_timeout_s (after it the camera steps
with the hold action and counts a missed action), hold_action (the action the camera steps
with while none came: -1, the env's own), linger_s (seconds it keeps serving after
max_episodes), max_steps (0: the env's limit), frame_id, diagnostics_period_s.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_msgs.msg import Float64

from neuroq.deploy.control import MAX_COPIED_STRING_CHARS, check_frame_id
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events import DRIVER_PACKET_US, encode_packet, from_columns, packetize
from neuroq.deploy.events.evt3_encode import time_words
from neuroq.deploy.events.mono import NS_PER_US
from neuroq.deploy.rollout import episode_seed, make_env
from neuroq.deploy.seeds import MAX_SEED
from neuroq.ros_nodes.diagnostics import LEVEL_OK, LEVEL_WARN, diagnostic_array
from neuroq.ros_nodes.executor import pace_timer, steady_timer
from neuroq.ros_nodes.messages import EVENT_PACKET, event_packet, message_class
from neuroq.ros_nodes.params import declare, refuse_runtime_changes
from neuroq.ros_nodes.process import run_node, stop_requested
from neuroq.ros_nodes.qos import (
    TOPIC_ACTION,
    TOPIC_DIAGNOSTICS,
    TOPIC_EPISODE_RETURN,
    TOPIC_EVENTS,
    command_qos,
    latched_qos,
    stamp_ns,
)
from neuroq.ros_nodes.realtime import declare_process_parameters

NODE_NAME = "neuroq_event_camera"
EVENTS_QUEUE_DEPTH = 1000
"""Publisher history: a whole period of 1 ms packets and more."""
ENV_HOLD_ACTION = -1
"""`hold_action` parameter value meaning "the env's own": its `hold_action` attribute (the
action that changes least, sent when no action arrives in time; DVSPanTracking's 'pan
still'). No env name or action number is written in this node (a review)."""
TIMER_PERIOD_S = 0.005
"""How often the node checks for its start and for a missing action."""
START_DELAY_S = 0.5
"""Wait after both directions of the lockstep are matched before the first period."""


class EventCameraNode(Node):
    """The lockstep simulated camera of the module docstring."""

    def __init__(self, node_name: str = NODE_NAME, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        declare_process_parameters(self)  # first: a bad value stops it before any log
        packet_type = message_class(EVENT_PACKET)  # not installed (no wheel): one line, now
        env_id = declare(self, "env_id", "neuroq/DVSPanTrackingPooled-v0", "event env to run")
        self._seed = declare(self, "seed", 0, "seed of episode 0; episode k uses seed + k",
                             int_range=(0, MAX_SEED))
        self._max_episodes = declare(self, "max_episodes", 0, "stop after this many (0: never)",
                                     int_range=(0, 1000000))
        self._packet_us = declare(self, "packet_us", DRIVER_PACKET_US,
                                  "camera time per EventPacket, us", int_range=(1, 1000000))
        self._timeout_s = declare(self, "action_timeout_s", 1.0,
                                  "wait for an action before stepping with hold",
                                  float_range=(0.001, 60.0))
        self.linger_s = declare(self, "linger_s", 2.0,
                                "seconds to keep serving after max_episodes (late "
                                "subscribers still get the latched returns)",
                                float_range=(0.0, 600.0))
        max_steps = declare(self, "max_steps", 0, "steps per episode (0: the env's own)",
                            int_range=(0, 1000000))
        self._frame_id = check_frame_id(declare(
            self, "frame_id", "dvs", "header.frame_id of the packets, at most "
            f"{MAX_COPIED_STRING_CHARS} characters (the event node's bound)"),
            "parameter 'frame_id'")
        hold = declare(self, "hold_action", ENV_HOLD_ACTION,
                       "action stepped when none arrives in time or one is invalid (-1: the "
                       "env's own hold_action)", int_range=(-1, 1000000))
        period = declare(self, "diagnostics_period_s", 1.0, "seconds between diagnostics",
                         float_range=(0.05, 60.0))
        try:
            kwargs = {"max_steps": max_steps} if max_steps else {}
            self.env = make_env(env_id, **kwargs)
            core = self.env.unwrapped
            self.period_us = int(core.period_us)
            self.width, self.height = core.dvs_params.width, core.dvs_params.height
        except AttributeError as exc:
            raise NeuroqError(f"{env_id} is not an event-camera env: {exc}") from None
        if hold == ENV_HOLD_ACTION:
            hold = getattr(core, "hold_action", None)
            if hold is None:
                raise NeuroqError(f"{env_id} names no hold_action (the action stepped when "
                                  "none arrives in time): set -p hold_action:=<action>")
        if not self.env.action_space.contains(int(hold)):
            raise NeuroqError(f"hold_action {hold} is not an action of {env_id} "
                              f"({self.env.action_space})")
        self.hold_action = int(hold)
        self._events_pub = self.create_publisher(packet_type, TOPIC_EVENTS,
                                                 command_qos(EVENTS_QUEUE_DEPTH))
        self._return_pub = self.create_publisher(Float64, TOPIC_EPISODE_RETURN, latched_qos())
        self._diag_pub = self.create_publisher(DiagnosticArray, TOPIC_DIAGNOSTICS, command_qos())
        self._action_sub = self.create_subscription(Joy, TOPIC_ACTION, self._on_action,
                                                    command_qos())
        # simulated time when use_sim_time is true, else steady (executor.pace_timer);
        # chosen here once, so use_sim_time is refused at run time (below)
        pace_timer(self, TIMER_PERIOD_S, self._on_timer)
        # diagnostics on the steady clock, as every node's: with use_sim_time and no /clock
        # a ROS-time timer would never fire
        steady_timer(self, period, self._publish_diagnostics)
        refuse_runtime_changes(self)
        self.returns: list[float] = []
        self.counters = {"packets": 0, "events": 0, "steps": 0, "missed_actions": 0,
                         "unmatched_actions": 0}
        self._seq = 0
        self._offset_us = 0
        self._episode = 0
        self._return = 0.0
        self._waiting_end_us: int | None = None
        self._sent_s = 0.0
        self._started = False
        self._connected_since: float | None = None
        self.done = False
        self.get_logger().info(f"{env_id}: {self.width}x{self.height} DVS, period "
                               f"{self.period_us} us, {self._packet_us} us packets, evt3")

    # --- publishing ------------------------------------------------------------------------
    def _packet(self, data: bytes, time_base_ns: int) -> Any:
        msg = event_packet(self.get_clock(), self._seq, self.width, self.height, "evt3", data,
                           time_base_ns, self._frame_id)
        self._seq += 1
        self.counters["packets"] += 1
        return msg

    def _publish_period(self, columns: dict, env_end_us: int) -> None:
        events = from_columns(columns).copy()
        events["t"] += self._offset_us
        # the DVS emulator may put an event at the period's very start (a crossing already
        # past at the frame before): the env's period, and `neuroq eval`'s encoding, hold
        # it, but a node reads a period as start < t <= end, so sent as it is it came late
        # for the period before (an outsider's runs ended in WARN with late_events 1 or 2)
        start_us = self._offset_us + env_end_us - self.period_us
        np.maximum(events["t"], start_us + 1, out=events["t"])
        for packet in packetize([events], self._packet_us):
            data, time_base_ns = encode_packet("evt3", packet)
            self._events_pub.publish(self._packet(data, time_base_ns))
        self.counters["events"] += int(events.size)
        end_us = self._offset_us + env_end_us
        self._events_pub.publish(self._packet(time_words(end_us + 1), end_us * NS_PER_US))
        self._waiting_end_us = end_us
        self._sent_s = time.monotonic()

    def _start_episode(self) -> None:
        _, info = self.env.reset(seed=episode_seed(self._seed, self._episode))
        self._return = 0.0
        self._publish_period(info["events"], self.env.unwrapped.t_us)

    # --- lockstep --------------------------------------------------------------------------
    def _on_timer(self) -> None:
        if self.done:
            return
        if not self._started:
            # lockstep needs both directions matched: a policy subscribed to `events` and
            # publishing `action`; then START_DELAY_S more, since the policy's side of the
            # match may complete a little after ours (a lost first period would cost an
            # action timeout and change the episode)
            connected = (self._events_pub.get_subscription_count() > 0
                         and self._action_sub.get_publisher_count() > 0)
            now = time.monotonic()
            if not connected:
                self._connected_since = None
            elif self._connected_since is None:
                self._connected_since = now
            elif now - self._connected_since >= START_DELAY_S:
                self._started = True
                self._start_episode()
            return
        if (self._waiting_end_us is not None
                and time.monotonic() - self._sent_s > self._timeout_s):
            self.counters["missed_actions"] += 1
            self._step(self.hold_action)

    def _on_action(self, msg: Joy) -> None:
        end_us = stamp_ns(msg.header.stamp) // NS_PER_US
        if self.done or end_us != self._waiting_end_us or len(msg.buttons) != 1:
            self.counters["unmatched_actions"] += 1
            return
        action = int(msg.buttons[0])
        if not self.env.action_space.contains(action):
            self.counters["unmatched_actions"] += 1
            action = self.hold_action
        self._step(action)

    def _step(self, action: int) -> None:
        self._waiting_end_us = None
        _, reward, term, trunc, info = self.env.step(action)
        self.counters["steps"] += 1
        self._return += float(reward)
        core = self.env.unwrapped
        if term or trunc:
            self.returns.append(self._return)
            self._return_pub.publish(Float64(data=self._return))
            self.get_logger().info(f"episode {self._episode} return {self._return:.12g}")
            # the next episode's first period takes the place of this unpublished final one
            self._offset_us += core.t_us - self.period_us
            self._episode += 1
            if self._max_episodes and self._episode >= self._max_episodes:
                self.done = True
                return
            self._start_episode()
            return
        self._publish_period(info["events"], core.t_us)

    def _publish_diagnostics(self) -> None:
        values = {**self.counters, "episodes": len(self.returns),
                  "mean_return": float(np.mean(self.returns)) if self.returns else "none yet"}
        level = LEVEL_WARN if self.counters["missed_actions"] else LEVEL_OK
        message = f"done: {len(self.returns)} episodes" if self.done else "running"
        self._diag_pub.publish(diagnostic_array(self, level, message, "dvs emulator", values))


def _spin_until_done(node: Node) -> None:
    """Spin until the last episode ended, then `linger_s` more so its results get out."""
    while rclpy.ok() and not node.done and not stop_requested():
        rclpy.spin_once(node, timeout_sec=0.1)
    end = time.monotonic() + node.linger_s
    while rclpy.ok() and time.monotonic() < end and not stop_requested():
        rclpy.spin_once(node, timeout_sec=0.1)


def main(args: list[str] | None = None) -> int:
    """Entry point (`neuroq_event_camera`)."""
    return run_node(EventCameraNode, "event camera", args, spin=_spin_until_done)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
