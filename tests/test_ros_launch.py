"""Launch files: what they declare, and the nodes they declare run as processes over DDS.

The launch stack is not installable here; `launch_harness` reads each launch file with
stand-ins for `launch`/`launch_ros` and starts exactly the declared nodes. The policy node
runs a stand-in policy (tests/stand_in_policy.py) until a trained artifact ships.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64

from neuroq.deploy.evaluate import evaluate
from neuroq.deploy.policy import load_policy
from neuroq.ros_nodes.actuator_node import ActuatorNode
from neuroq.ros_nodes.policy_node import PolicyNode
from neuroq.ros_nodes.qos import command_qos, latched_qos, sensor_qos
from neuroq.ros_nodes.sim_robot_node import SimRobotNode
from tests.helpers.artifacts import make_tiny_artifact
from tests.helpers.launch_harness import (
    EXECUTABLES,
    REPO_ROOT,
    LaunchedNodes,
    LaunchError,
    load_launch,
    node_command,
)
from tests.helpers.ros import Probe, spinning, wait_until
from tests.helpers.stand_in_policy import StandInPolicy

pytestmark = pytest.mark.ros

SIM_LAUNCH = REPO_ROOT / "launch" / "cartpole_sim.launch.py"
ROBOT_LAUNCH = REPO_ROOT / "launch" / "cartpole_robot.launch.py"
STAND_IN = {"neuroq_policy_node": [sys.executable, "-m", "tests.helpers.stand_in_policy"]}
ROBOT_CONTROL_PERIOD_S = 0.01  # config/cartpole_robot.yaml: 100 Hz
STOP_CYCLES = 3


def test_sim_launch_declares_three_nodes_with_their_parameters():
    plan = load_launch(SIM_LAUNCH, {"backend": "reference", "artifact": "/a/cartpole"})
    assert [(n.executable, n.name) for n in plan.nodes] == [
        ("neuroq_sim_robot", "neuroq_sim_robot"),
        ("neuroq_policy_node", "neuroq_policy"),
        ("neuroq_actuator_node", "neuroq_actuator")]
    config = REPO_ROOT / "config" / "cartpole_sim.yaml"
    assert all(n.parameter_files[0] == config for n in plan.nodes)
    assert plan.nodes[1].parameter_files[1] == {"backend": "reference",
                                                "artifact": "/a/cartpole"}
    defaults = load_launch(SIM_LAUNCH)
    assert defaults.arguments["backend"] == "emulator"
    assert defaults.arguments["artifact"] == str(REPO_ROOT / "artifacts" / "cartpole")


def test_robot_launch_declares_policy_and_actuator_with_remappings(tmp_path):
    plan = load_launch(ROBOT_LAUNCH, {"joint_states": "/cart/joint_states",
                                      "joint_commands": "/cart/effort_cmd"})
    assert [n.name for n in plan.nodes] == ["neuroq_policy", "neuroq_actuator"]
    assert plan.nodes[0].remappings == [("joint_states", "/cart/joint_states")]
    assert plan.nodes[1].remappings == [("joint_commands", "/cart/effort_cmd")]
    cmd = node_command(plan.nodes[0], tmp_path)
    assert cmd[:3] == [sys.executable, "-m", "neuroq.ros_nodes.policy_node"]
    i = cmd.index("--ros-args")
    assert cmd[i + 1:i + 3] == ["-r", "__node:=neuroq_policy"]
    files = [cmd[k + 1] for k, a in enumerate(cmd) if a == "--params-file"]
    assert files[0] == str(REPO_ROOT / "config" / "cartpole_robot.yaml")
    written = yaml.safe_load(Path(files[1]).read_text())
    assert written == {"/**": {"ros__parameters": {
        "backend": "emulator", "artifact": str(REPO_ROOT / "artifacts" / "cartpole")}}}
    assert cmd[-2:] == ["-r", "joint_states:=/cart/joint_states"]


def test_acrobot_launch_declares_the_acrobot_configuration():
    plan = load_launch(REPO_ROOT / "launch" / "acrobot_sim.launch.py", {"artifact": "/a"})
    assert [n.name for n in plan.nodes] == ["neuroq_sim_robot", "neuroq_policy",
                                            "neuroq_actuator"]
    assert all(n.parameter_files[0] == REPO_ROOT / "config" / "acrobot_sim.yaml"
               for n in plan.nodes)


def test_launch_arguments_are_checked():
    with pytest.raises(LaunchError, match="not one of"):
        load_launch(SIM_LAUNCH, {"backend": "gpu"})
    with pytest.raises(LaunchError, match="no launch argument"):
        load_launch(SIM_LAUNCH, {"backnd": "emulator"})
    assert sys.modules.get("launch") is None  # the stand-ins are gone after loading


def test_launch_executables_are_the_console_scripts():
    """Every executable the launch files start is a console script of the installed package,
    running the module the harness runs."""
    from importlib.metadata import distribution

    scripts = {ep.name: ep.value for ep in distribution("neuroq").entry_points
               if ep.group == "console_scripts"}
    for exe, module in EXECUTABLES.items():
        assert scripts[exe] == f"{module}:main"


@pytest.mark.parametrize("config", ["cartpole_sim.yaml", "cartpole_robot.yaml",
                                    "acrobot_sim.yaml"])
def test_config_files_set_only_parameters_the_nodes_declare(config):
    """A misspelt key in a parameters file would be ignored silently by rclpy."""
    path = REPO_ROOT / "config" / config
    content = yaml.safe_load(path.read_text())
    env_id = content["neuroq_policy"]["ros__parameters"]["env_id"]
    n_obs = 6 if env_id == "Acrobot-v1" else 4
    makers = {
        "neuroq_policy": lambda ctx, a: PolicyNode(
            lambda art, be: StandInPolicy(env_id=env_id, gains=np.ones(n_obs)),
            context=ctx, cli_args=a,
            parameter_overrides=[Parameter("artifact", value="x")]),
        "neuroq_actuator": lambda ctx, a: ActuatorNode(context=ctx, cli_args=a),
        "neuroq_sim_robot": lambda ctx, a: SimRobotNode(context=ctx, cli_args=a),
    }
    args = ["--ros-args", "--params-file", str(path)]
    assert set(content) <= set(makers)
    with spinning(*(lambda ctx, m=makers[name]: m(ctx, args) for name in content)) as nodes:
        for node, name in zip(nodes, content, strict=True):
            for key in content[name]["ros__parameters"]:
                assert node.has_parameter(key), f"{name} does not declare {key}"
            for key, value in content[name]["ros__parameters"].items():
                got = node.get_parameter(key).value
                assert list(got) == value if isinstance(value, list) else got == value, key
            if name == "neuroq_policy":
                assert node.active


def test_sim_launch_closes_the_loop_with_the_in_process_returns(tmp_path):
    """The real policy node (emulator backend, a tiny hand-made artifact) over DDS gives the
    returns `neuroq.deploy.evaluate` gives in process for the same seeds."""
    artifact = make_tiny_artifact(tmp_path / "artifact", rate_weight=0)
    plan = load_launch(SIM_LAUNCH, {"artifact": str(artifact), "backend": "emulator"})

    def probe_factory(ctx):
        probe = Probe(ctx)
        probe.watch(JointState, "joint_states", sensor_qos(100))
        probe.watch(JointState, "joint_commands", command_qos(100))
        probe.watch(Float64, "episode_return", latched_qos())
        probe.watch(DiagnosticArray, "/diagnostics", command_qos(100))
        return probe

    def answered_readings() -> tuple[set[int], list[int]]:
        """Readings the probe saw, and commands (not safe ones) it saw after the first."""
        readings = {_ns(m.header.stamp) for _, m in probe.messages("joint_states")}
        first = min(readings, default=2**63)
        return readings, [_ns(m.header.stamp) for _, m in probe.messages("joint_commands")
                          if m.effort[0] != 0.0 and _ns(m.header.stamp) >= first]

    with spinning(probe_factory) as (probe,), LaunchedNodes(plan, tmp_path) as run:
        def statuses() -> dict[str, dict[str, str]]:
            return {s.name: {kv.key: kv.value for kv in s.values}
                    for _, m in probe.messages("/diagnostics") for s in m.status}

        nodes = {f"neuroq: /{n.name}" for n in plan.nodes}
        ok = wait_until(lambda: len(probe.messages("episode_return")) >= 3
                        and len(answered_readings()[1]) >= 40
                        and nodes <= set(statuses()), 20.0, 0.05)
        logs = {name: run.log(name) for name in run.processes}
        assert ok, logs
        # the policy process runs the artifact without torch: no torch library is mapped
        maps = Path(f"/proc/{run.processes['neuroq_policy'].pid}/maps").read_text()
        assert "torch" not in maps
    returns = [m.data for _, m in probe.messages("episode_return")]
    # seed 0 (config/cartpole_sim.yaml): episode k uses seed k, as neuroq.deploy.evaluate does
    reference = evaluate(load_policy(artifact, backend="emulator"), episodes=len(returns),
                         seed=0)["returns"]
    assert returns == list(reference)
    readings, answered = answered_readings()
    # each command answers a reading (the best-effort probe itself may miss a few readings;
    # its subscriptions may match at different times, hence only after its first reading)
    assert len(set(answered) & readings) >= 0.95 * len(answered)
    policy = statuses()["neuroq: /neuroq_policy"]
    assert policy["backend"] == "emulator" and int(policy["actions_published"]) > 0
    assert float(policy["modeled_energy_per_action_j"]) > 0
    assert all(code == 0 for code in run.returncodes.values()), run.returncodes


class _Sensor:
    """Publishes a valid CartPole reading at 100 Hz until stopped; remembers when."""

    def __init__(self, probe: Probe, topic: str) -> None:
        self.pub = probe.create_publisher(JointState, topic, sensor_qos())
        self.on = threading.Event()
        self.sent: dict[int, float] = {}
        self.last_sent = 0.0
        self.probe = probe
        probe.create_timer(ROBOT_CONTROL_PERIOD_S, self._tick)

    def _tick(self) -> None:
        if not self.on.is_set():
            return
        now = self.probe.get_clock().now()
        msg = JointState(name=["cart_slider", "pole_hinge"], position=[0.0, 0.05],
                         velocity=[0.0, 0.0])
        msg.header.stamp = now.to_msg()
        self.pub.publish(msg)
        self.last_sent = time.monotonic()
        self.sent[now.nanoseconds] = self.last_sent


def test_robot_launch_sends_the_safe_command_when_sensors_stop_and_resumes(tmp_path):
    plan = load_launch(ROBOT_LAUNCH, {"artifact": "stand-in",
                                      "joint_states": "/cart/joint_states",
                                      "joint_commands": "/cart/joint_commands"})
    sensor: list[_Sensor] = []

    def probe_factory(ctx):
        probe = Probe(ctx)
        probe.watch(JointState, "/cart/joint_commands", command_qos(1000))
        probe.watch(DiagnosticArray, "/diagnostics", command_qos(100))
        sensor.append(_Sensor(probe, "/cart/joint_states"))
        return probe

    def answers(since: float) -> list[float]:
        return [t for t, m in probe.messages("/cart/joint_commands")
                if t > since and m.effort[0] != 0.0
                and m.header.stamp.sec * 10**9 + m.header.stamp.nanosec in sensor[0].sent]

    delays = []
    with spinning(probe_factory) as (probe,), LaunchedNodes(plan, tmp_path, STAND_IN) as run:
        s = sensor[0]
        s.on.set()
        ok = wait_until(lambda: len(answers(0.0)) >= 50, 20.0, 0.02)
        assert ok, {name: run.log(name) for name in run.processes}
        for _ in range(STOP_CYCLES):
            s.on.clear()
            time.sleep(0.2)
            stopped_at = s.last_sent
            # both stamps are this machine's system clock: reading sent, safe command sent
            last_reading_ns = max(s.sent)
            safe = sorted(_ns(m.header.stamp) for _, m in probe.messages("/cart/joint_commands")
                          if m.effort[0] == 0.0 and _ns(m.header.stamp) > last_reading_ns)
            assert safe, "no safe command after the sensors stopped"
            delays.append((safe[0] - last_reading_ns) * 1e-9)
            resumed_at = time.monotonic()
            s.on.set()
            assert wait_until(lambda t=resumed_at: len(answers(t)) >= 20, 5.0, 0.02), \
                "the loop did not resume"
            # the actuator said so in diagnostics when it tripped and when actions returned
            assert DiagnosticStatus.WARN in _actuator_levels(probe, stopped_at, resumed_at)
            assert DiagnosticStatus.OK in _actuator_levels(probe, resumed_at, time.monotonic())
        s.on.clear()
    two_periods = 2 * ROBOT_CONTROL_PERIOD_S
    shown = ", ".join(f"{d * 1e3:.1f}" for d in delays)
    # the bound is two periods; this 2-core machine is shared and loaded, so one stop in
    # the run may overshoot by scheduling jitter, never by a full period
    assert float(np.median(delays)) <= two_periods, f"safe command after {shown} ms"
    assert max(delays) <= 1.5 * two_periods, f"safe command after {shown} ms"


def _ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _actuator_levels(probe: Probe, since: float, until: float) -> list[bytes]:
    return [status.level for t, msg in probe.messages("/diagnostics") if since < t <= until
            for status in msg.status if status.name.endswith("neuroq_actuator")]


def test_environment_keeps_dds_on_loopback():
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 0 <= int(os.environ["ROS_DOMAIN_ID"]) <= 101
