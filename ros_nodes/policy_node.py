"""Policy node: joint readings in, spiking Q-network actions out, with diagnostics.

Subscribes  `joint_states` (sensor_msgs/JointState, best effort): one reading per tick.
Publishes   `action` (sensor_msgs/Joy, reliable): `buttons = [action index]`,
            `axes = Q-values`, `header.stamp` = the stamp of the reading it answers (so the
            actuator and any observer can pair command and reading). std_msgs has no stamped
            integer; Joy is the standard message with a header and integer fields.
            `/diagnostics` (diagnostic_msgs/DiagnosticArray): latency, spikes, modeled energy
            per action, dropped inputs per reason.

Bad parameters (a backend or level not among the choices, an empty artifact or, for the
spinnaker2 backend, board_ip, an env_id without a joint layout, joint names and limits that
do not match) stop the node before anything is loaded: one line on stderr, exit status 2.
Then the artifact is loaded on the configured backend before anything is published or
subscribed. If that fails (missing or tampered artifact, unreachable board, a network whose
first action fails, an artifact for another environment) the node logs one line starting
"not activating:" and exits with status 1: it never publishes actions from a half-loaded
network.

Each reading is checked before it is run: its serialized size (over MAX_READING_BYTES ->
dropped as `too_long` before it is decoded; bytes that do not decode -> `undecodable`), its
stamp (`neuroq.deploy.control.check_stamp`: not normalized, negative, zero, or more than
`max_stamp_lead_s` ahead of this node's clock -> `bad_stamp`), its frame_id (copied into
the action: longer than MAX_COPIED_STRING_CHARS -> `too_long`), then its joints. Logs show
names with ascii() (`neuroq.deploy.control.shown`).

Parameters (all read-only: they fix what the node is; `use_sim_time` too, at run time):
    artifact (str), backend (emulator | reference | spinnaker2), env_id (str),
    joint_names (str[]), position_limits (float[]), velocity_limits (float[]),
    sensor_queue_depth (int), diagnostics_period_s (float), latency_window (int),
    board_ip (str), performance_level (low | high), encoder_seed (int),
    prewarm_lead_s (float), max_stamp_lead_s (float).

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
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import JointState, Joy

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
    joint_layout,
    observation_from_joints,
    shown_names,
)
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.latency import LatencyWindow, ewma, prewarm_delay_s
from neuroq.deploy.policy import ActionInfo, Policy
from neuroq.ros_nodes.diagnostics import LEVEL_ERROR, LEVEL_OK, LEVEL_WARN, diagnostic_array
from neuroq.ros_nodes.params import check_choice, declare, refuse_runtime_changes
from neuroq.ros_nodes.process import run_node
from neuroq.ros_nodes.qos import (
    TOPIC_ACTION,
    TOPIC_DIAGNOSTICS,
    TOPIC_JOINT_STATES,
    command_qos,
    sensor_qos,
)
from neuroq.ros_nodes.throttle import ThrottledLog

NODE_NAME = "neuroq_policy"
BACKENDS = ("emulator", "reference", "spinnaker2")
LEVELS = ("low", "high")
#: (artifact path, backend) -> a loaded Policy; raises on any failure.
PolicyLoader = Callable[[str, str], Policy]
# a reading older than this many diagnostics periods marks the sensor stream stale
STALE_PERIODS = 2.0
# an arrival interval enters the period estimate clipped to this many times the estimate,
# so a pause (a reset, a lost reading) moves it by at most alpha * (PAUSE_CLIP - 1) = 10 %
PAUSE_CLIP = 2.0
# a warm-up timer dispatch earlier than this before its due time is a stale one, s
WARM_EARLY_S = 0.001


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
    """Runs a deployed policy on each valid joint reading. See the module docstring.

    policy_loader: how to load (artifact, backend); tests inject a stand-in.
    After construction, `active` says whether the policy loaded and the node runs.
    """

    def __init__(self, policy_loader: PolicyLoader | None = None,
                 node_name: str = NODE_NAME, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        self.active = False
        self.refusal: str | None = None
        self._artifact = declare(self, "artifact", "", "path of the deploy artifact")
        self._backend = declare(self, "backend", "emulator", "where the network runs",
                                choices=BACKENDS)
        env_id = declare(self, "env_id", "CartPole-v1", "environment the artifact controls")
        depth = declare(self, "sensor_queue_depth", 1, "joint_states queue depth (best effort)",
                        int_range=(1, 1000))
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
        # bad parameters: raised here, before anything loads (run_node: one line, status 2)
        base = joint_layout(env_id)
        names = declare(self, "joint_names", list(base.joint_names),
                        "joint names in observation order (the robot's own names)")
        pos_lim = declare(self, "position_limits", list(base.position_limits),
                          "per joint |position| bound (m or rad)")
        vel_lim = declare(self, "velocity_limits", list(base.velocity_limits),
                          "per joint |velocity| bound (m/s or rad/s)")
        self.layout = base.with_overrides(names, pos_lim, vel_lim)
        check_choice("backend", self._backend, BACKENDS)
        check_choice("performance_level", level, LEVELS)
        if not self._artifact:
            raise NeuroqError("parameter 'artifact' is empty: set it to a deploy artifact")
        if self._backend == "spinnaker2" and not board_ip:
            raise NeuroqError("parameter 'board_ip' is empty: the spinnaker2 backend needs the "
                              "board's address")
        self._diag_pub = self.create_publisher(DiagnosticArray, TOPIC_DIAGNOSTICS,
                                               command_qos())
        try:
            loader = policy_loader or artifact_loader(board_ip, level, seed)
            self.policy = self._load_and_check(loader, env_id)
        except Exception as exc:  # anything short of a fully working policy: refuse
            self.refusal = f"{type(exc).__name__}: {exc}" if not isinstance(
                exc, NeuroqError) else str(exc)
            self.get_logger().error(
                f"not activating: {self.refusal} (artifact {ascii(self._artifact)}, backend "
                f"{self._backend}); no actions will be published")
            self._diag_pub.publish(diagnostic_array(
                self, LEVEL_ERROR, f"not activating: {self.refusal}", self._backend,
                {"artifact": self._artifact, "backend": self._backend}))
            return

        self._dropped: Counter[str] = Counter({r: 0 for r in DROP_REASONS})
        self._act_failures = 0
        self._actions = 0
        self._received = 0
        self._host_latency_s = LatencyWindow(window)
        self._e2e_latency_s = LatencyWindow(window)
        self._last: ActionInfo | None = None
        self._last_reading_s: float | None = None
        self._drops_at_last_report = 0
        self._log = ThrottledLog(self.get_logger())
        # spikes, synaptic events, total and dynamic energy (J), chip time (s)
        self._sums = np.zeros(5)
        self._energy_known = False
        self._action_msg = Joy()
        self._action_pub = self.create_publisher(Joy, TOPIC_ACTION, command_qos())
        # raw: a reading's size is checked before it becomes Python objects
        self.create_subscription(JointState, TOPIC_JOINT_STATES, self._on_reading_bytes,
                                 sensor_qos(depth), raw=True)
        self._period = period
        # steady clock: simulated time (use_sim_time, /clock) may pause; reports go on
        self.create_timer(period, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._reading_period_s: float | None = None  # estimated from arrivals
        self._prewarm_runs = 0
        self._prewarm_late = 0  # warm-ups skipped: their timer fired over lead / 2 late
        self._warm_timer = None
        self._warm_due_s = 0.0  # monotonic time the armed warm-up is for
        if self._prewarm_lead_s > 0:
            warm = getattr(self.policy, "warm", None)
            if callable(warm) and warm():  # after the check action: something to warm
                # steady clock: arrivals are timed on it (simulated time may pause)
                self._warm_timer = self.create_timer(
                    1.0, self._on_warm_timer, clock=Clock(clock_type=ClockType.STEADY_TIME),
                    autostart=False)  # armed by each reading (_schedule_warm)
            else:
                self.get_logger().info(f"pre-warming off: the {self._backend} backend "
                                       "does not warm")
        refuse_runtime_changes(self)
        self.active = True
        self.get_logger().info(
            f"active: artifact {ascii(self._artifact)}, backend {self._backend}, joints "
            f"{shown_names(self.layout.joint_names)}")

    def _load_and_check(self, loader: PolicyLoader, env_id: str) -> Policy:
        policy = loader(self._artifact, self._backend)
        manifest = getattr(policy, "manifest", None)
        art_env = manifest.get("env_id") if isinstance(manifest, dict) else None
        if art_env is not None and art_env != env_id:
            raise NeuroqError(
                f"the artifact controls {art_env} but parameter env_id is {env_id}")
        # one action on a neutral reading proves the whole network runs before we go live
        zeros = np.zeros(len(self.layout.joint_names))
        info = policy.act(self.layout.to_observation(zeros, zeros))
        n_actions = len(self.layout.action_efforts)
        if not 0 <= int(info.action) < n_actions:
            raise NeuroqError(
                f"the policy's first action {info.action} is outside 0..{n_actions - 1}")
        return policy

    def _on_reading_bytes(self, data: bytes) -> None:
        start = time.perf_counter()
        if len(data) > MAX_READING_BYTES:
            self._received += 1
            self._dropped[REASON_TOO_LONG] += 1
            self._log.warning(f"dropped a joint reading ({REASON_TOO_LONG}): {len(data)} bytes "
                              f"serialized (at most {MAX_READING_BYTES} are decoded)")
            return
        try:
            msg = deserialize_message(data, JointState)
        except Exception as exc:  # bytes no JointState publisher writes (a raw publisher)
            self._received += 1
            self._dropped[REASON_UNDECODABLE] += 1
            self._log.warning(f"dropped a joint reading ({REASON_UNDECODABLE}): {exc!r}")
            return
        self._on_joint_state(msg, start)

    def _on_joint_state(self, msg: JointState, start: float) -> None:
        self._received += 1
        arrival_s = time.monotonic()
        if self._last_reading_s is not None:
            interval = arrival_s - self._last_reading_s
            if self._reading_period_s is not None:  # a pause moves the estimate <= 10 %
                interval = min(interval, PAUSE_CLIP * self._reading_period_s)
            self._reading_period_s = ewma(self._reading_period_s, interval)
        self._last_reading_s = arrival_s
        try:
            stamp = msg.header.stamp
            sent_ns = check_stamp(stamp.sec, stamp.nanosec, self.get_clock().now().nanoseconds,
                                  self._max_lead_ns)
            check_copied_string(msg.header.frame_id, "frame_id")
            obs = observation_from_joints(self.layout, msg.name, msg.position, msg.velocity)
        except MalformedInput as exc:
            self._dropped[exc.reason] += 1
            self._log.warning(f"dropped a joint reading ({exc.reason}): {exc}")
            return
        try:
            info = self.policy.act(obs)
        except Exception as exc:  # a backend failing mid-run: no action, counted
            self._act_failures += 1
            self._log.warning(f"policy failed on a reading: {exc}")
            return
        out = self._action_msg  # one message, refilled: publish serializes it at once
        out.header.stamp = msg.header.stamp
        out.header.frame_id = msg.header.frame_id
        out.buttons = [int(info.action)]
        out.axes = info.q.tolist()
        self._action_pub.publish(out)
        self._host_latency_s.add(time.perf_counter() - start)
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
            "readings_received": self._received,
            "actions_published": self._actions,
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
        values["modeled_chip_time_per_action_s"] = float(self._sums[4] / n)
        if self._last is not None:
            values["last_action"] = int(self._last.action)
        if self._last_reading_s is not None:
            values["last_reading_age_s"] = time.monotonic() - self._last_reading_s
        return values

    def _publish_diagnostics(self) -> None:
        values = self.stats()
        level, message = LEVEL_OK, "running"
        new_drops = values["dropped_inputs"] - self._drops_at_last_report
        self._drops_at_last_report = values["dropped_inputs"]
        age = values.get("last_reading_age_s")
        if age is None or age > STALE_PERIODS * self._period:
            level, message = LEVEL_WARN, "no fresh joint readings"
        elif new_drops:
            level, message = LEVEL_WARN, f"dropped {new_drops} malformed readings"
        if self._act_failures:
            level, message = LEVEL_ERROR, f"policy failed {self._act_failures} times"
        self._diag_pub.publish(diagnostic_array(self, level, message, self._backend, values))


def main(args: list[str] | None = None, policy_loader: PolicyLoader | None = None) -> int:
    """Entry point (`neuroq_policy_node`): exit status 1 when the node refuses to activate."""
    return run_node(lambda: PolicyNode(policy_loader), "policy node", args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
