"""Launch files: what they declare, and the nodes they declare run as processes over DDS.

The launch stack is not installable here; `launch_harness` reads each launch file as real
launch does, against an install prefix of this checkout (`neuroq_prefix`, laid out as
setup.py installs it), and `launch_runner` starts exactly the declared nodes, with on_exit
and respawn. The robot-launch watchdog test runs a stand-in policy
(tests/helpers/stand_in_policy.py).
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
from neuroq.ros_nodes.params import node_section
from neuroq.ros_nodes.policy_node import PolicyNode
from neuroq.ros_nodes.qos import command_qos, latched_qos, sensor_qos
from neuroq.ros_nodes.sim_robot_node import SimRobotNode
from tests.helpers import REPO_ROOT
from tests.helpers.artifacts import make_tiny_artifact
from tests.helpers.launch_harness import LaunchError, load_launch, node_command
from tests.helpers.launch_prefix import setup_keywords
from tests.helpers.launch_runner import LaunchedNodes
from tests.helpers.ros import Probe, spinning, wait_until
from tests.helpers.stand_in_policy import StandInPolicy

pytestmark = pytest.mark.ros

LAUNCH_DIR = REPO_ROOT / "launch"
SIM_LAUNCH = LAUNCH_DIR / "cartpole_sim.launch.py"
ROBOT_LAUNCH = LAUNCH_DIR / "cartpole_robot.launch.py"
STAND_IN = {"neuroq_policy_node": [sys.executable, "-m", "tests.helpers.stand_in_policy"]}
ROBOT_CONTROL_PERIOD_S = 0.01  # config/cartpole_robot.yaml: 100 Hz
STOP_CYCLES = 3
#: launch/cartpole_robot.launch.py POLICY_RESPAWN_DELAY_S
POLICY_RESPAWN_DELAY_S = 2.0


def share(prefix: Path, *parts: str) -> Path:
    return prefix / "share" / "neuroq" / Path(*parts)


def test_sim_launch_declares_three_nodes_with_their_parameters(neuroq_prefix, launch_environ):
    plan = load_launch(SIM_LAUNCH, {"backend": "reference", "artifact": "/a/cartpole"},
                       launch_environ)
    assert [(n.executable, n.name) for n in plan.nodes] == [
        ("neuroq_sim_robot", "neuroq_sim_robot"),
        ("neuroq_policy_node", "neuroq_policy"),
        ("neuroq_actuator_node", "neuroq_actuator")]
    config = share(neuroq_prefix, "config", "cartpole_sim.yaml")
    assert all(n.parameter_files[0] == config for n in plan.nodes)
    assert plan.nodes[1].parameter_files[1] == {"backend": "reference",
                                                "artifact": "/a/cartpole", "board_ip": ""}
    assert all(n.executable_path == neuroq_prefix / "lib" / "neuroq" / n.executable
               for n in plan.nodes)
    defaults = load_launch(SIM_LAUNCH, {}, launch_environ)
    assert defaults.arguments["backend"] == "emulator"
    # the default is the shipped artifact, installed where the launch file looks for it
    artifact = Path(defaults.arguments["artifact"])
    assert artifact == share(neuroq_prefix, "artifacts", "cartpole")
    assert (artifact / "manifest.json").is_file()


def test_robot_launch_declares_policy_and_actuator_with_remappings(tmp_path, neuroq_prefix,
                                                                   launch_environ):
    plan = load_launch(ROBOT_LAUNCH, {"joint_states": "/cart/joint_states",
                                      "joint_commands": "/cart/effort_cmd",
                                      "backend": "spinnaker2", "board_ip": "192.168.1.17",
                                      "interface": "/robots/my cart.yaml"},
                       launch_environ)
    assert [n.name for n in plan.nodes] == ["neuroq_policy", "neuroq_actuator"]
    assert plan.nodes[0].remappings == [("joint_states", "/cart/joint_states")]
    assert plan.nodes[1].remappings == [("joint_commands", "/cart/effort_cmd")]
    cmd = node_command(plan.nodes[0], tmp_path)
    assert cmd[0] == str(neuroq_prefix / "lib" / "neuroq" / "neuroq_policy_node")
    assert cmd[1:6] == ["--ros-args", "-r", "__node:=neuroq_policy", "-r", "__ns:=/"]
    files = [cmd[k + 1] for k, a in enumerate(cmd) if a == "--params-file"]
    assert files[0] == str(share(neuroq_prefix, "config", "cartpole_robot.yaml"))
    written = yaml.safe_load(Path(files[1]).read_text())
    # your robot's own interface, for both nodes (an outsider's was dropped: the launch
    # file had no such argument, and the actuator sent the shipped one's JointState)
    assert written == {"/neuroq_policy": {"ros__parameters": {
        "backend": "spinnaker2", "board_ip": "192.168.1.17",
        "artifact": str(share(neuroq_prefix, "artifacts", "cartpole")),
        "interface": "/robots/my cart.yaml"}}}
    assert cmd[-2:] == ["-r", "joint_states:=/cart/joint_states"]
    actuator = node_command(plan.nodes[1], tmp_path)
    files = [actuator[k + 1] for k, a in enumerate(actuator) if a == "--params-file"]
    assert yaml.safe_load(Path(files[1]).read_text()) == {"/neuroq_actuator": {
        "ros__parameters": {"interface": "/robots/my cart.yaml"}}}
    # a dead policy is restarted; the actuator's exit ends the launch
    assert plan.nodes[0].respawn and plan.nodes[0].respawn_delay == POLICY_RESPAWN_DELAY_S
    assert [type(a).__name__ for a in plan.nodes[1].on_exit] == ["Shutdown"]


@pytest.mark.parametrize("launch_file", sorted(LAUNCH_DIR.glob("*.launch.py")),
                         ids=lambda p: p.name)
def test_every_launch_file_puts_all_its_nodes_in_the_namespace_given(tmp_path, launch_file,
                                                                    launch_environ):
    """An outsider launched cartpole_robot.launch.py twice for two robots: with no
    namespace argument both stacks shared /action, and each robot was commanded from the
    other's readings. Every launch file takes `namespace`, for all of its nodes."""
    args = {"artifact": "/a"} if "artifact" in load_launch(launch_file, {"artifact": "/a"},
                                                           launch_environ).arguments else {}
    plan = load_launch(launch_file, {**args, "namespace": "robot2"}, launch_environ)
    assert plan.nodes
    for node in plan.nodes:
        cmd = node_command(node, tmp_path)
        assert ["-r", "__ns:=/robot2"] == cmd[cmd.index("__ns:=/robot2") - 1:][:2], cmd
        written = [yaml.safe_load(Path(f).read_text()) for f in
                   (cmd[k + 1] for k, a in enumerate(cmd) if a == "--params-file")
                   if "launch_params_" in f]
        assert all(list(doc) == [f"/robot2/{node.name}"] for doc in written), written
    default = load_launch(launch_file, args, launch_environ)
    assert all("__ns:=/" in node_command(n, tmp_path) for n in default.nodes)


@pytest.mark.parametrize("launch_file", sorted(LAUNCH_DIR.glob("*.launch.py")),
                         ids=lambda p: p.name)
@pytest.mark.parametrize("given", ["2025-01-01", "123"])
def test_text_arguments_reach_the_nodes_as_text(tmp_path, launch_file, given, launch_environ):
    """Real launch reads a substitution's value as YAML: `artifact:=2025-01-01` (a folder
    named by its date) was a date, which launch refuses, and `artifact:=123` an integer,
    which the node refuses (stop 47's left item). Every argument whose default is text
    (but the namespace, and those with choices) is given as text here; the launch loads
    and every node parameter set from one is that text."""
    declared = load_launch(launch_file, {"artifact": "/a"}, launch_environ).declared
    textual = {name for name, d in declared.items()
               if name != "namespace" and not d.choices
               and (d.default_value is None or not isinstance(d.default_value, str)
                    or isinstance(yaml.safe_load(d.default_value or "''"), str))}
    plan = load_launch(launch_file, dict.fromkeys(textual, given), launch_environ)
    fed = []
    for node in plan.nodes:
        for entry in node.parameter_files:
            if isinstance(entry, dict):
                fed += [(name, value) for name, value in entry.items()
                        if name in textual or value == given]
    assert fed and all(value == given for _, value in fed), fed
    # and so the parameters file the node reads: a quoted string
    for node in plan.nodes:
        cmd = node_command(node, tmp_path)
        for f in (cmd[k + 1] for k, a in enumerate(cmd) if a == "--params-file"):
            if "launch_params_" in f:
                params = next(iter(yaml.safe_load(Path(f).read_text()).values()))
                assert all(params[name] == given for name, _ in fed if name in params)


def test_acrobot_launch_declares_the_acrobot_configuration(neuroq_prefix, launch_environ):
    plan = load_launch(LAUNCH_DIR / "acrobot_sim.launch.py", {"artifact": "/a"},
                       launch_environ)
    assert [n.name for n in plan.nodes] == ["neuroq_sim_robot", "neuroq_policy",
                                            "neuroq_actuator"]
    assert all(n.parameter_files[0] == share(neuroq_prefix, "config", "acrobot_sim.yaml")
               for n in plan.nodes)
    assert (Path(load_launch(LAUNCH_DIR / "acrobot_sim.launch.py", {}, launch_environ)
                 .arguments["artifact"]) / "manifest.json").is_file()


@pytest.mark.parametrize("launch_file", sorted(p.name for p in LAUNCH_DIR.glob("*.launch.py")))
def test_every_launch_file_offering_spinnaker2_takes_a_board_ip(launch_file, launch_environ):
    plan = load_launch(LAUNCH_DIR / launch_file, {}, launch_environ)
    if "spinnaker2" in (plan.declared["backend"].choices or []):
        plan = load_launch(LAUNCH_DIR / launch_file, ["backend:=spinnaker2", "board_ip:=b1"],
                           launch_environ)
        policy = [n for n in plan.nodes if n.executable == "neuroq_policy_node"]
        assert policy and all(p.parameter_files[-1]["board_ip"] == "b1" for p in policy)
    # every node's exit ends the launch or restarts that node
    assert all(n.respawn or n.on_exit for n in plan.nodes)


def test_launch_arguments_are_checked_as_real_launch_checks_them(launch_environ):
    with pytest.raises(LaunchError, match='Argument "backend" provided value "gpu" is not '
                                          "valid"):
        load_launch(SIM_LAUNCH, {"backend": "gpu"}, launch_environ)
    # a misspelt name is accepted silently (real launch does the same): backend keeps its
    # default
    plan = load_launch(SIM_LAUNCH, ["backnd:=reference"], launch_environ)
    assert plan.arguments["backend"] == "emulator"
    assert sys.modules.get("launch") is None  # the stand-ins are gone after loading


def test_launch_executables_are_the_robot_installs_console_scripts(neuroq_prefix,
                                                                   launch_environ):
    """Every executable the launch files start is a console script of the robot install
    (setup.py, NEUROQ_INSTALL=robot) and lies in lib/neuroq of the prefix."""
    scripts = {line.split("=")[0].strip()
               for line in setup_keywords("robot")["entry_points"]["console_scripts"]}
    used = {n.executable for f in LAUNCH_DIR.glob("*.launch.py")
            for n in load_launch(f, {}, launch_environ).nodes}
    assert used and used <= scripts
    assert "neuroq" not in scripts  # the training CLI is not part of a robot install
    assert all(os.access(neuroq_prefix / "lib" / "neuroq" / exe, os.X_OK) for exe in used)


@pytest.mark.parametrize("config", ["cartpole_sim.yaml", "cartpole_robot.yaml",
                                    "acrobot_sim.yaml", "nav_sim.yaml", "nav_robot.yaml"])
def test_config_files_set_only_parameters_the_nodes_declare(config):
    """A misspelt key in a parameters file would be ignored silently by rclpy."""
    from neuroq.deploy.interface import load_interface

    path = REPO_ROOT / "config" / config
    content = yaml.safe_load(path.read_text())
    robot = load_interface(node_section(content, "neuroq_policy")["interface"])
    makers = {
        "neuroq_policy": lambda ctx, a: PolicyNode(
            lambda art, be: StandInPolicy(env_id=robot.env_id,
                                          gains=np.ones(robot.n_observations),
                                          n_actions=robot.n_actions),
            context=ctx, cli_args=a,
            parameter_overrides=[Parameter("artifact", value="x")]),
        "neuroq_actuator": lambda ctx, a: ActuatorNode(context=ctx, cli_args=a),
        "neuroq_sim_robot": lambda ctx, a: SimRobotNode(context=ctx, cli_args=a),
    }
    args = ["--ros-args", "--params-file", str(path)]
    # sections that apply in any namespace (an outsider's fleet under /robot1 ran on the
    # defaults with sections named `neuroq_policy:`)
    names = [key.removeprefix("/**/") for key in content]
    assert [f"/**/{name}" for name in names] == list(content) and set(names) <= set(makers)
    with spinning(*(lambda ctx, m=makers[name]: m(ctx, args) for name in names)) as nodes:
        for node, name in zip(nodes, names, strict=True):
            for key in node_section(content, name):
                assert node.has_parameter(key), f"{name} does not declare {key}"
            for key, value in node_section(content, name).items():
                got = node.get_parameter(key).value
                assert list(got) == value if isinstance(value, list) else got == value, key
            if name == "neuroq_policy":
                assert node.active


def test_sim_launch_closes_the_loop_with_the_in_process_returns(tmp_path, launch_environ):
    """The real policy node (emulator backend, a tiny hand-made artifact) over DDS gives the
    returns `neuroq.deploy.evaluate` gives in process for the same seeds."""
    artifact = make_tiny_artifact(tmp_path / "artifact", rate_weight=0)
    plan = load_launch(SIM_LAUNCH, {"artifact": str(artifact), "backend": "emulator"},
                       launch_environ)

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


def test_robot_launch_sends_the_safe_command_when_sensors_stop_and_resumes(tmp_path,
                                                                          launch_environ):
    plan = load_launch(ROBOT_LAUNCH, {"artifact": "stand-in",
                                      "joint_states": "/cart/joint_states",
                                      "joint_commands": "/cart/joint_commands"},
                       launch_environ)
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


def test_sim_launch_ends_when_the_policy_dies(tmp_path, launch_environ):
    """A policy that cannot activate exits 1; its on_exit Shutdown stops the others (SIGINT,
    exit 0) and the launch ends by itself."""
    plan = load_launch(SIM_LAUNCH, ["artifact:=/does/not/exist"], launch_environ)
    with LaunchedNodes(plan, tmp_path) as run:
        ended = run.wait(60.0)
        logs = {name: run.log(name)[-1500:] for name in run.processes}
        assert ended, logs
    assert run.result == 0
    assert run.shutdown_reason.startswith("process[neuroq_policy] was required"), logs
    assert run.returncodes == {"neuroq_sim_robot": 0, "neuroq_policy": 1,
                               "neuroq_actuator": 0}, logs
    assert "not activating" in run.log("neuroq_policy")


@pytest.mark.slow
def test_sim_launch_runs_its_defaults_and_ends_after_max_episodes(tmp_path, launch_environ):
    """With its defaults the sim launch runs the shipped CartPole artifact; with
    max_episodes:=1 the sim robot exits after one episode and the launch ends. The return is
    the in-process one (seed 0, episode 0)."""
    plan = load_launch(SIM_LAUNCH, ["max_episodes:=1"], launch_environ)
    artifact = plan.arguments["artifact"]

    def probe_factory(ctx):
        probe = Probe(ctx)
        probe.watch(Float64, "episode_return", latched_qos())
        return probe

    with spinning(probe_factory) as (probe,), LaunchedNodes(plan, tmp_path) as run:
        # 500 steps of 20 ms, plus start-up
        ended = run.wait(60.0)
        logs = {name: run.log(name)[-1500:] for name in run.processes}
        assert ended, logs
        wait_until(lambda: probe.messages("episode_return"), 5.0)
    assert run.shutdown_reason.startswith("process[neuroq_sim_robot] was required"), logs
    assert run.returncodes == {"neuroq_sim_robot": 0, "neuroq_policy": 0,
                               "neuroq_actuator": 0}, logs
    reference = evaluate(load_policy(artifact, backend="emulator"), episodes=1,
                         seed=0)["returns"]
    assert [m.data for _, m in probe.messages("episode_return")] == list(reference)


def test_robot_launch_restarts_a_dead_policy_while_the_actuator_holds_the_safe_command(
        tmp_path, launch_environ):
    plan = load_launch(ROBOT_LAUNCH, ["artifact:=/does/not/exist",
                                      "joint_commands:=/cart/joint_commands"],
                       launch_environ)

    def probe_factory(ctx):
        probe = Probe(ctx)
        probe.watch(JointState, "/cart/joint_commands", command_qos(1000))
        return probe

    with spinning(probe_factory) as (probe,), LaunchedNodes(plan, tmp_path) as run:
        restarted = wait_until(lambda: len(run.exits["neuroq_policy"]) >= 2, 60.0, 0.05)
        # a string, not a dict: pytest shortens a dict's repr to a line (one failure in a
        # full suite run, 2026-11-27, showed nothing after the first policy's error)
        assert restarted, f"policy exits {run.exits['neuroq_policy']}\n" + "\n".join(
            f"--- {name} (exit codes {run.exits.get(name)}):\n{run.log(name)[-3000:]}"
            for name in run.processes)
        assert not run.ended and run.processes["neuroq_actuator"].poll() is None

        def safe() -> list:
            return [m for _, m in probe.messages("/cart/joint_commands") if m.effort[0] == 0.0]

        # the policy never comes up here (no artifact): it is down all along, and the
        # actuator's safe commands reach the probe once the two have discovered each
        # other, which can take longer than two failed policy starts
        assert wait_until(lambda: bool(safe()), 10.0, 0.05), (
            "the actuator sent no safe command while the policy was down")
        assert not run.ended and run.processes["neuroq_actuator"].poll() is None
    assert set(run.exits["neuroq_policy"]) == {1}
    assert run.log("neuroq_policy").count("not activating") >= 2


def _ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _actuator_levels(probe: Probe, since: float, until: float) -> list[bytes]:
    return [status.level for t, msg in probe.messages("/diagnostics") if since < t <= until
            for status in msg.status if status.name.endswith("neuroq_actuator")]


def test_environment_keeps_dds_on_loopback():
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 0 <= int(os.environ["ROS_DOMAIN_ID"]) <= 101
