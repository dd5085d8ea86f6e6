"""Safety of the nodes as processes a robot runs: exit status, safe stop, a watchdog nothing
switches off, plausible stamps, bounded strings (docs/ros.md, "Safety" and "Exit status").

Node processes run over real DDS (loopback, conftest's domain); the probe spins in this
process.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy import node as rclpy_node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import JointState, Joy

from neuroq.ros_nodes.actuator_node import ActuatorNode
from neuroq.ros_nodes.dds import own_segments
from neuroq.ros_nodes.diagnostics import LEVEL_WARN
from neuroq.ros_nodes.policy_node import PolicyNode
from neuroq.ros_nodes.qos import command_qos, sensor_qos
from neuroq.ros_nodes.sim_robot_node import SimRobotNode
from tests.helpers import REPO_ROOT
from tests.helpers.ros import Probe, spinning, wait_until, watching
from tests.helpers.stand_in_policy import StandInPolicy

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]
ROBOT_CONFIG = REPO / "config" / "cartpole_robot.yaml"
PERIOD_S = 0.01  # config/cartpole_robot.yaml: 100 Hz
GOOD_NAMES = ["cart_slider", "pole_hinge"]
PROCESS_TIMEOUT_S = 60
CYCLES = 3
#: the robot interface the nodes of these tests run with
CARTPOLE = [Parameter("interface", value="cartpole")]

NODES = {
    "policy node": "neuroq.ros_nodes.policy_node",
    "actuator": "neuroq.ros_nodes.actuator_node",
    "sim robot": "neuroq.ros_nodes.sim_robot_node",
}
# per node: a parameter of the wrong type, one out of range, one with a bad value
BAD_PARAMETERS = {
    "policy node": [["-p", "latency_window:=many"], ["-p", "sensor_queue_depth:=0"],
                    ["-p", "backend:=foo"], ["-p", "interface:=pong"],
                    ["-p", "artifact:=''"], ["-p", "artifact:=' '"], ["-p", "backend:=spinnaker2"],
                    ["-p", "backend:=spinnaker2", "-p", "board_ip:=999.1.1.1"],
                    ["-p", "cpu_wakeup_latency_us:=-7"]],
    "actuator": [["-p", "watchdog_timeout_s:=abc"], ["-p", "watchdog_timeout_s:=100.0"],
                 # a list for a real number (a whole number is taken since stop 47)
                 ["-p", "watchdog_timeout_s:=[1.0]"],
                 ["-p", "interface:=pong"], ["-p", "interface:=''"],
                 ["-p", "realtime_priority:=100"]],
    "sim robot": [["-p", "seed:=x"], ["-p", "control_rate_hz:=0.0"],
                  ["-p", "env_id:=Pong-v5"], ["-p", "interface:=''"]],
    "event node": [["-p", "batch_ms:=-1.0"], ["-p", "realtime_priority:=-1"],
                   ["-p", "artifact:=''"], ["-p", "artifact:=' '"], ["-p", "max_lag_ms:=1.0"],
                   ["-p", "max_jump_ms:=50.0"], ["-p", "evt3_decoder:=foo"],
                   ["-p", "backend:=chip"]],
    "event camera": [["-p", "realtime_priority:=x"], ["-p", "hold_action:=7"],
                     ["-p", f"frame_id:={'f' * 257}"]],  # packets the event node skips
}
#: nodes checked for bad parameters only (their module), beside NODES
MORE_NODES = {"event node": "neuroq.ros_nodes.event_node",
              "event camera": "neuroq.ros_nodes.event_camera_node"}
# bad input every node shares: an unreadable params file, malformed --ros-args, a stray word
# after them (an unquoted path with a space: a traceback, exit 1, for an outsider)
BAD_INPUT = [["--params-file", "/nonexistent/neuroq.yaml"], ["-p"], ["my", "art"]]


def _node_cmd(label: str, ros_args: list[str]) -> list[str]:
    base = (["-p", "artifact:=/nonexistent/art"] if label in ("policy node", "event node")
            else [] if label == "event camera" else ["-p", "interface:=cartpole"])
    module = {**NODES, **MORE_NODES}[label]
    return [sys.executable, "-m", module, "--ros-args", *base, *ros_args]


def _segments() -> set[str]:
    """Fast DDS participants' shared-memory segments in /dev/shm (neuroq.ros_nodes.dds)."""
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("fastdds_*")
            if len(p.name) == len("fastdds_") + 16 and "port" not in p.name}


def _ownerless(names: set[str]) -> set[str]:
    """Those of `names` whose lock file no process holds: left behind by a dead one (the
    test Fast DDS itself makes of a segment: its owner keeps <name>_el locked)."""
    import fcntl

    left = set()
    for name in names:
        try:
            with open(f"/dev/shm/{name}_el", "rb") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on close
        except BlockingIOError:
            continue  # a live participant owns it
        except OSError:
            pass  # no lock file: nobody can own it
        left.add(name)
    return left


def test_every_node_exits_2_with_one_line_for_a_bad_parameter_or_bad_input():
    """...and a node that never spun, ending without tearing DDS down, removes its own
    shared-memory segment and nobody else's (neuroq.ros_nodes.process): a live participant
    here (the probe, which the nodes discover and receive from) keeps its segment."""
    before = _segments()
    with spinning(lambda ctx: Probe(ctx)):
        probe_segments = own_segments()
        assert probe_segments, "the probe has no shared-memory segment: nothing to check"
        _bad_parameter_and_input_runs()
        assert all(Path("/dev/shm", name).exists() for name in probe_segments)
    assert not _ownerless(_segments() - before)


@pytest.mark.parametrize("label", [*NODES, *MORE_NODES])
def test_every_node_has_help_and_refuses_arguments_of_its_own(label):
    """An outsider found `--help` answered with "parameter 'artifact' is empty" and
    `--bogus` ignored: help is the module docstring, exit 0; any other argument before
    --ros-args is one line, exit 2 (neither starts rclpy)."""
    module = {**NODES, **MORE_NODES}[label]
    helped = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                            text=True, timeout=PROCESS_TIMEOUT_S)
    assert helped.returncode == 0, helped.stderr
    assert f"neuroq {label}" in helped.stdout and "Parameters" in helped.stdout
    bad = subprocess.run([sys.executable, "-m", module, "--bogus", "--ros-args", "-p",
                          "a:=1"], capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1, bad.stderr
    assert lines[0].startswith(f"neuroq {label}: error: unrecognized arguments: --bogus")
    # its help onto a full disk, into a pipe whose reader is gone: as the neuroq command
    # (a full disk was an OSError traceback, exit 1; a closed pipe "Exception ignored",
    # exit 120, or a BrokenPipeError traceback, exit 1, unbuffered)
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    for env in (buffered, {**buffered, "PYTHONUNBUFFERED": "1"}):
        if Path("/dev/full").exists():
            with open("/dev/full", "w") as full:
                run = subprocess.run([sys.executable, "-m", module, "--help"], stdout=full,
                                     stderr=subprocess.PIPE, text=True, env=env,
                                     timeout=PROCESS_TIMEOUT_S)
            assert (run.returncode, run.stderr) == (2, f"neuroq {label}: error: cannot write "
                                                       "the output: No space left on device\n")
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the first line
        try:
            run = subprocess.run([sys.executable, "-m", module, "--help"], stdout=write,
                                 stderr=subprocess.PIPE, text=True, env=env,
                                 timeout=PROCESS_TIMEOUT_S)
        finally:
            os.close(write)
        assert (run.returncode, run.stderr) == (0, ""), run.stderr[-600:]
    # and with stdout closed (a daemon, `>&-`): sys.stdout is None there
    run = subprocess.run(["bash", "-c", f"'{sys.executable}' -m {module} --help >&-"],
                         capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr[-600:]


def test_a_whole_number_given_for_a_real_parameter_is_taken():
    """`-p control_rate_hz:=100` was refused by rclpy (an INTEGER for a DOUBLE), and
    `ros2 launch` reads launch arguments as YAML, so the docs' `ros2 launch neuroq
    nav_sim.launch.py control_rate_hz:=20` stopped the sim robot and the launch (an audit
    against launch_ros): a whole number is taken as that real number; text is still not."""
    from rclpy.exceptions import InvalidParameterTypeException

    from neuroq.ros_nodes.params import declare

    def make(ctx):
        return rclpy_node.Node("neuroq_double_probe", context=ctx, parameter_overrides=[
            Parameter("rate", value=20), Parameter("flag", value=True),
            Parameter("name", value="x")])

    with spinning(make) as (node,):
        value = declare(node, "rate", 1.0, "a rate")
        assert value == 20.0 and isinstance(value, float)
        with pytest.raises(InvalidParameterTypeException):
            declare(node, "name", 1.0, "text for a real number")
        with pytest.raises(InvalidParameterTypeException):
            declare(node, "flag", 1.0, "a bool for a real number")


def test_a_parameter_no_node_declares_is_named_in_a_warning():
    """rclpy ignores a parameter a node does not declare: a misspelt watchdog timeout
    would leave the default in force without a word."""
    from neuroq.ros_nodes.process import warn_unknown_parameters

    def make(ctx):
        node = rclpy_node.Node("neuroq_unknown_parameter_probe", context=ctx,
                               parameter_overrides=[Parameter("watchdog_timout_s", value=0.02),
                                                    Parameter("known", value=1)])
        node.declare_parameter("known", 0)
        return node

    with spinning(make) as (node,):
        assert warn_unknown_parameters(node) == ["watchdog_timout_s"]


def test_a_shared_params_file_does_not_call_the_other_nodes_parameters_misspelt(tmp_path):
    """An outsider's `/**:` file shared by the policy and the actuator made each warn that
    the other's parameters were not its own ("misspelt?"). A name only sections for every
    node give is passed over unless it is close to one of the node's own; one given in a
    section naming the node, or with -p, is warned as before."""
    from neuroq.ros_nodes.process import warn_unknown_parameters

    shared = tmp_path / "fleet.yaml"
    shared.write_text("/**:\n  ros__parameters:\n    backend: emulator\n"
                      "    prewarm_lead_s: 0.002\n    watchdog_timout_s: 0.05\n"
                      "/**/neuroq_actuator:\n  ros__parameters:\n    sensor_queue_depth: 3\n")
    argv = ["prog", "--ros-args", "--params-file", str(shared), "-p", "board_ip:=x"]
    with spinning(lambda ctx: ActuatorNode(context=ctx, cli_args=argv[1:],
                                           parameter_overrides=CARTPOLE)) as (node,):
        warned = warn_unknown_parameters(node, argv)
    # backend, prewarm_lead_s: the policy's, from /** only; the typo is close to one of the
    # actuator's; sensor_queue_depth named for this node; board_ip given with -p
    assert warned == ["board_ip", "sensor_queue_depth", "watchdog_timout_s"], warned


@pytest.mark.parametrize("ros_args, section, why", [
    (["-r", "__node:=act2"], "neuroq_actuator", "the node's default name 'neuroq_actuator'; "
     "it runs as 'act2' (renamed)"),
    (["-r", "__ns:=/robot2", "-r", "__node:=act2"], "/robot2/neuroq_actuator",
     "the node's default name 'neuroq_actuator'; it runs as 'act2' (renamed)"),
    ([], "neuroq_actuator_node", "the executable 'neuroq_actuator_node', not the node"),
    ([], "/**/neuroq_actuator_node", "the executable 'neuroq_actuator_node', not the node"),
    (["python -m"], "neuroq_actuator_node", "the executable 'neuroq_actuator_node', not the "
     "node"),  # run as docs/ros.md shows it (a recheck: silent)
    (["/**/*"], "neuroq_actuator_node", "the executable 'neuroq_actuator_node', not the "
     "node"),  # beside a section for every node (a recheck: silent)
])
def test_sections_for_a_renamed_node_or_its_executable_are_warned(tmp_path, ros_args, section,
                                                                   why):
    """An outsider's params file named the actuator's executable (`neuroq_actuator_node:`),
    or the node by its default name while `__node:=act2` renamed it: rcl applied neither,
    and the node ran on its defaults (watchdog 15 ms) without a word."""
    from neuroq.ros_nodes.process import warn_unapplied_sections

    path = tmp_path / "p.yaml"
    path.write_text(f"{section}:\n  ros__parameters:\n    watchdog_timeout_s: 0.027\n"
                    + ("/**/*:\n  ros__parameters:\n    use_sim_time: false\n"
                       if ros_args == ["/**/*"] else ""))
    program = ("/src/neuroq/ros_nodes/actuator_node.py" if ros_args == ["python -m"]
               else "/install/lib/neuroq/neuroq_actuator_node")
    ros_args = [a for a in ros_args if a not in ("python -m", "/**/*")]
    argv = [program, "--ros-args", *ros_args, "--params-file", str(path)]
    with spinning(lambda ctx: ActuatorNode(context=ctx, cli_args=argv[1:],
                                           parameter_overrides=CARTPOLE)) as (node,):
        assert node.get_parameter("watchdog_timeout_s").value == 0.015  # not applied
        assert warn_unapplied_sections(node, argv) == [f"{path}: {section}"]
        full = node.get_fully_qualified_name()
        logged = []
        node.get_logger().warning = logged.append  # what the node says, here
        warn_unapplied_sections(node, argv)
    assert logged == [f"{path}: section '{section}:' does not apply to {full} ({why}): name "
                      f"it '{full}:' or '/**/act2:'; its parameters are not set"
                      .replace("/**/act2", f"/**/{full.rsplit('/', 1)[-1]}")], logged


def test_the_actuator_says_an_unhashed_manifest_and_a_safe_command_that_is_not_zero(
        tmp_path, capfd):
    """An outsider deleted manifest_sha256 from an artifact and gave it an interface whose
    safe command was +10 N (the limit): the actuator read it and sent +10 N as its safe stop,
    without a word. Both are said at start now (the interface itself is the user's)."""
    import json
    import shutil

    from neuroq.deploy.artifact import MANIFEST_HASH_KEY

    art = tmp_path / "art"
    shutil.copytree(REPO / "config" / "artifacts" / "cartpole", art)
    manifest = json.loads((art / "manifest.json").read_text())
    del manifest[MANIFEST_HASH_KEY]
    (art / "manifest.json").write_text(json.dumps(manifest))
    iface = tmp_path / "pushy.yaml"
    iface.write_text((REPO / "config" / "interfaces" / "cartpole.yaml").read_text()
                     .replace("safe: [0.0]", "safe: [10.0]"))
    with spinning(lambda ctx: ActuatorNode(context=ctx, parameter_overrides=[
            Parameter("artifact", value=str(art)), Parameter("interface", value=str(iface))])
                  ) as (node,):
        assert node.table.safe.tolist() == [10.0]
    err = capfd.readouterr().err
    assert f"artifact {art}: its manifest.json carries no {MANIFEST_HASH_KEY}" in err, err
    assert "the safe command [10.0] is not zero: the watchdog, a stop and a policy that " \
        "goes away all send it" in err, err
    with spinning(lambda ctx: ActuatorNode(context=ctx, parameter_overrides=CARTPOLE)):
        pass
    err = capfd.readouterr().err  # the shipped one: neither
    assert "is not zero" not in err and "carries no" not in err, err


@pytest.mark.parametrize("kind", ["device", "fifo", "null", "ns"])
def test_an_interface_that_never_ends_or_no_value_is_one_line(tmp_path, kind):
    """An outsider's `interface:=/dev/zero` was read until the machine ran out of memory,
    a FIFO hung the node until the teardown limit (status 142), and the policy node's
    `artifact:= ` (YAML's null) was an AttributeError traceback; a recheck's command topic
    '{ns}/jc' in the root namespace ('//jc') was an rclpy traceback: one line, status 2."""
    import os

    if kind == "fifo":
        os.mkfifo(tmp_path / "iface.yaml")
    if kind == "ns":
        (tmp_path / "iface.yaml").write_text(
            (REPO / "config" / "interfaces" / "cartpole.yaml").read_text().replace(
                "topic: joint_commands", 'topic: "{ns}/jc"'))
    args = {"device": ["-p", "interface:=/dev/zero"],
            "fifo": ["-p", f"interface:={tmp_path / 'iface.yaml'}"],
            "ns": ["-p", f"interface:={tmp_path / 'iface.yaml'}"],
            "null": ["-p", "artifact:= ", "-p", "interface:=cartpole"]}[kind]
    label = "policy node" if kind == "null" else "actuator"
    module = {**NODES, **MORE_NODES}[label]
    run = subprocess.run([sys.executable, "-m", module, "--ros-args", *args],
                         capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert {"null": "parameter 'artifact' was given no value",
            "ns": "topic name must not contain repeated '/': '//jc'"}.get(
                kind, "is not a regular file") in lines[0], lines[0]


REFUSING_AFTER_INFO = """
import sys
from neuroq.ros_nodes.actuator_node import ActuatorNode
from neuroq.ros_nodes.process import run_node

class Refusing(ActuatorNode):  # logs its INFO start-up line, then refuses to activate
    def __init__(self):
        super().__init__()
        self.active = False

sys.exit(run_node(Refusing, "actuator", sys.argv))
"""


def test_a_node_ending_before_its_spin_loop_still_writes_its_log_file(tmp_path):
    """rcl's file logger holds info lines back (it flushes at once only from ERROR up); a
    node that ends without tearing DDS down writes them out first
    (neuroq.ros_nodes.process)."""
    proc = subprocess.run([sys.executable, "-c", REFUSING_AFTER_INFO, "--ros-args", "-p",
                           "interface:=cartpole"],
                          env={**os.environ, "ROS_LOG_DIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    assert proc.returncode == 1, proc.stderr
    (log,) = tmp_path.glob("*.log")
    assert re.search(r"\[INFO\] \[\d+\.\d+\] \[neuroq_actuator\]: interface 'cartpole'",
                     log.read_text())


#: Fast DDS's error line for a shared-memory port it failed to open (its transport's own
#: log, coloured): "... [RTPS_TRANSPORT_SHM Error] Failed init_port ...".
SHM_PORT_NOISE = re.compile(r"RTPS_TRANSPORT_SHM\S* Error\].*Failed init_port")


def _bad_parameter_and_input_runs() -> None:
    cases = [(label, args, {}) for label, bad in BAD_PARAMETERS.items() for args in bad]
    cases += [(label, args, {}) for label in NODES for args in BAD_INPUT]
    cases += [(label, [], {"NEUROQ_ROS_EXECUTOR": "multi"}) for label in NODES]
    procs = []
    for start in range(0, len(cases), 4):  # a few at a time: 2 cores
        batch = [(c, subprocess.Popen(_node_cmd(c[0], c[1]), env={**os.environ, **c[2]},
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
                 for c in cases[start:start + 4]]
        try:
            procs += [(c, p, *p.communicate(timeout=PROCESS_TIMEOUT_S)) for c, p in batch]
        except subprocess.TimeoutExpired:  # a node that did not refuse: none left running
            for _, p in batch:  # (one left publishing safe commands failed 6 later tests)
                p.kill()
                p.communicate()
            raise
    for (label, args, env), proc, out, err in procs:
        # Fast DDS's own line for a shared-memory port it could not open (stale segments
        # in /dev/shm left by killed processes: docs/ros.md) is not the node's output; CI
        # met one beside the node's line once
        lines = [ln for ln in err.strip().splitlines() if not SHM_PORT_NOISE.search(ln)]
        assert proc.returncode == 2 and len(lines) == 1, (label, args, env, out, err)
        assert lines[0].startswith(f"neuroq {label}: error: "), (label, args, lines)
        assert "Traceback" not in out + err


def _actions(probe, pub, n: int, period_s: float = PERIOD_S) -> float:
    """Publish `n` actions (+10 N), one per period, stamped now; returns when the last went
    out (monotonic)."""
    sent = 0.0
    for _ in range(n):
        msg = Joy(buttons=[1])
        msg.header.stamp = probe.get_clock().now().to_msg()
        pub.publish(msg)
        sent = time.monotonic()
        time.sleep(period_s)
    return sent


def _probe(ctx):
    probe = Probe(ctx)
    probe.watch(JointState, "joint_commands", command_qos(1000))
    return probe


def _action_pub(probe):
    return probe.create_publisher(Joy, "action", command_qos())


def _sighup(disposition):
    """A preexec_fn giving the child SIGHUP's `disposition`: a test decides it, rather than
    inheriting whatever started pytest (CI run under `nohup` ignores SIGHUP, and a node
    keeps an ignored SIGHUP ignored)."""
    return lambda: signal.signal(signal.SIGHUP, disposition)


def _start_actuator(tmp_path: Path, *extra: str, script: str | None = None,
                    ignore_sighup: bool = False):
    """The actuator node as a process (its output in tmp_path/actuator.log), SIGHUP at its
    default action (as from a terminal); ignore_sighup: ignored, as under `nohup`."""
    log = open(tmp_path / "actuator.log", "w")  # noqa: SIM115 - closed by the caller's wait
    cmd = ([sys.executable, "-c", script] if script else
           [sys.executable, "-m", "neuroq.ros_nodes.actuator_node"])
    return subprocess.Popen(
        [*cmd, "--ros-args", "--params-file", str(ROBOT_CONFIG), *extra], stdout=log,
        stderr=subprocess.STDOUT, cwd=REPO,
        preexec_fn=_sighup(signal.SIG_IGN if ignore_sighup else signal.SIG_DFL)), log


@contextmanager
def _running_actuator(tmp_path: Path, *extra: str, script: str | None = None,
                      ignore_sighup: bool = False) -> Iterator[subprocess.Popen]:
    """`_start_actuator` for the block: killed if still running after it, its log closed."""
    proc, log = _start_actuator(tmp_path, *extra, script=script, ignore_sighup=ignore_sighup)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def _wait_spinning(proc, tmp_path: Path) -> None:
    """Until the actuator process logs that it is about to spin (its Fast DDS profile line),
    or has ended (asserted not)."""
    assert wait_until(lambda: "Fast DDS profile" in (tmp_path / "actuator.log").read_text()
                      or proc.poll() is not None, 30.0)
    assert proc.poll() is None, (tmp_path / "actuator.log").read_text()


def _efforts(probe) -> list[float]:
    return [m.effort[0] for _, m in probe.messages("joint_commands")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_stopped_actuator_publishes_the_safe_command_last(tmp_path, sig):
    """Killed while it commands +10 N, the actuator's last command is the safe one."""
    with spinning(_probe) as (probe,):
        with _running_actuator(tmp_path) as proc:
            pub = _action_pub(probe)
            assert wait_until(lambda: pub.get_subscription_count() >= 1, 20.0)
            assert wait_until(lambda: probe.messages("joint_commands"), 10.0)
            _actions(probe, pub, 30)
            assert 10.0 in _efforts(probe)
            msg = Joy(buttons=[1])
            msg.header.stamp = probe.get_clock().now().to_msg()
            pub.publish(msg)  # mid-command: the signal lands while this one is handled
            proc.send_signal(sig)
            _actions(probe, pub, 10)  # the robot's policy keeps going
            code = proc.wait(timeout=PROCESS_TIMEOUT_S)
        wait_until(lambda: False, 0.2)  # anything still in flight
        efforts = _efforts(probe)
    text = (tmp_path / "actuator.log").read_text()
    assert code == 0, text
    assert efforts[-1] == 0.0, efforts[-5:]
    assert efforts[-2] == 10.0 or 10.0 in efforts[-5:], efforts[-5:]
    lines = [ln for ln in text.splitlines() if "safe stop" in ln]
    assert len(lines) == 1 and signal.Signals(sig).name in lines[0], text


@pytest.mark.parametrize("again", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_repeated_through_the_teardown_still_exits_0(tmp_path, again):
    """An outsider's second Ctrl-C (or a supervisor's SIGTERM after its SIGINT) 0.03-0.08 s
    after the first ended a node with status 130 (143): Python's exit resets the signals it
    handles to their default action while Fast DDS still tears down. The first stop
    signal now leaves them ignored. Here the second signal is sent every 10 ms until the
    process ends, so it lands in every phase of the teardown."""
    import time

    with _running_actuator(tmp_path) as proc:
        _wait_spinning(proc, tmp_path)
        proc.send_signal(signal.SIGINT)
        deadline, sent = time.monotonic() + PROCESS_TIMEOUT_S, 0
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
            try:
                proc.send_signal(again)
                sent += 1
            except ProcessLookupError:  # ended meanwhile
                break
        code = proc.wait(timeout=PROCESS_TIMEOUT_S)
    text = (tmp_path / "actuator.log").read_text()
    assert code == 0 and sent >= 1, (code, sent, text[-2000:])
    assert "safe stop (SIGINT): safe command [0.0]" in text, text


def test_two_stop_signals_at_once_print_no_traceback(tmp_path):
    """An outsider's SIGINT and SIGTERM 0.5-1 ms apart printed "OSError: Signal 15 ignored
    due to race condition" with a traceback (7 of 8 tries): the first signal's handler set
    SIG_IGN while the second was already pending, and Python ran it against SIG_IGN. Both
    signals back to back, three times: status 0, the safe stop, no traceback."""
    for k in range(3):
        run_dir = tmp_path / str(k)
        run_dir.mkdir()
        with _running_actuator(run_dir) as proc:
            _wait_spinning(proc, run_dir)
            os.kill(proc.pid, signal.SIGINT)
            os.kill(proc.pid, signal.SIGTERM)
            code = proc.wait(timeout=PROCESS_TIMEOUT_S)
        text = (run_dir / "actuator.log").read_text()
        assert code == 0, (code, text[-2000:])
        assert "Traceback" not in text and "race condition" not in text, text[-2000:]
        assert "safe stop (SIGINT): safe command [0.0]" in text, text[-2000:]


def test_a_node_started_under_nohup_keeps_running_on_sighup(tmp_path):
    """SIGHUP became a stop request (a closed terminal ended nodes without the safe
    command); a node started with SIGHUP ignored (`nohup`, a supervisor) must keep that:
    the review found it stopped, status 0, when its ssh session closed. Its Ctrl-C still
    stops it."""
    import time

    with _running_actuator(tmp_path, ignore_sighup=True) as proc:
        proc.send_signal(signal.SIGHUP)  # while it imports: ignored as well
        _wait_spinning(proc, tmp_path)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "actuator.log").read_text()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=PROCESS_TIMEOUT_S)
    text = (tmp_path / "actuator.log").read_text()
    assert code == 0 and "safe stop (SIGINT)" in text, text


def _scheduling(pid: int) -> set[tuple[int, int]]:
    """(policy, priority) of every thread of process `pid`."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.add((os.sched_getscheduler(int(task.name)),
                       os.sched_getparam(int(task.name)).sched_priority))
        except ProcessLookupError:  # the thread ended meanwhile
            continue
    return found


def test_realtime_priority_runs_every_thread_of_the_node_under_sched_fifo(tmp_path):
    """`realtime_priority` 10: every thread of the running actuator (executor, rclpy's and
    Fast DDS's) is SCHED_FIFO 10 while it commands, and it still stops with the safe
    command; where the process may not, it says so and runs with normal scheduling."""
    with spinning(_probe) as (probe,):
        with _running_actuator(tmp_path, "-p", "realtime_priority:=10") as proc:
            pub = _action_pub(probe)
            assert wait_until(lambda: pub.get_subscription_count() >= 1, 20.0)
            _actions(probe, pub, 10)
            assert wait_until(lambda: 10.0 in _efforts(probe), 10.0)
            threads = _scheduling(proc.pid)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=PROCESS_TIMEOUT_S)
    text = (tmp_path / "actuator.log").read_text()
    assert code == 0, text
    if "cannot set SCHED_FIFO" in text:  # no CAP_SYS_NICE nor rtprio limit here
        assert threads == {(os.SCHED_OTHER, 0)}, threads
    else:
        assert threads == {(os.SCHED_FIFO, 10)}, threads
        (line,) = [ln for ln in text.splitlines() if "SCHED_FIFO priority 10 on" in ln]
        assert int(line.split(" on ")[1].split()[0]) >= 3, line  # DDS has threads too


def test_realtime_priority_that_may_not_be_set_warns_and_runs_on(monkeypatch, capfd):
    from rclpy.node import Node

    from neuroq.ros_nodes import realtime

    def refuse(*_args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(realtime.os, "sched_setscheduler", refuse)
    make = lambda ctx: Node("rt_refused", context=ctx,  # noqa: E731
                            parameter_overrides=[Parameter("realtime_priority", value=50)])
    with spinning(make) as (node,):
        assert realtime.apply_realtime_priority(node) is None
    assert "realtime_priority 50: cannot set SCHED_FIFO (Operation not permitted" in (
        capfd.readouterr().err)
    with pytest.raises(ValueError):
        realtime.set_fifo_priority(0)


def test_realtime_priority_failing_part_way_puts_the_threads_back(tmp_path, monkeypatch):
    """Threads listed while the list is walked are set in a further pass; a refusal
    part-way puts the threads already set back under SCHED_OTHER before it raises."""
    from neuroq.ros_nodes import realtime

    tasks = tmp_path / "task"
    tasks.mkdir()
    for tid in (11, 12):
        (tasks / str(tid)).write_text("")
    calls = []

    def fake(tid, policy, _param):
        calls.append((tid, policy))
        if tid == 11 and policy == os.SCHED_FIFO:
            (tasks / "13").write_text("")  # a thread started meanwhile
        if tid == 14 and policy == os.SCHED_FIFO:
            raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(realtime.os, "sched_setscheduler", fake)
    assert realtime.set_fifo_priority(20, str(tasks)) == 3
    assert calls == [(11, os.SCHED_FIFO), (12, os.SCHED_FIFO), (13, os.SCHED_FIFO)]
    calls.clear()
    (tasks / "14").write_text("")
    with pytest.raises(PermissionError):
        realtime.set_fifo_priority(20, str(tasks))
    assert calls[:4] == [(11, os.SCHED_FIFO), (12, os.SCHED_FIFO), (13, os.SCHED_FIFO),
                         (14, os.SCHED_FIFO)]
    assert {tid for tid, policy in calls[4:] if policy == os.SCHED_OTHER} == {11, 12, 13, 14}


FATAL_AFTER_ACTIONS = """
import sys
from neuroq.ros_nodes.actuator_node import ActuatorNode
from neuroq.ros_nodes.dds import own_segments
from neuroq.ros_nodes.diagnostics import LEVEL_WARN
from neuroq.ros_nodes.process import run_node

class Failing(ActuatorNode):
    def _on_action(self, msg):
        super()._on_action(msg)
        if self.commands_sent == 20:
            raise RuntimeError("injected fault")

sys.exit(run_node(Failing, "actuator", sys.argv))
"""


def test_an_actuator_failing_mid_run_publishes_the_safe_command_and_exits_1(tmp_path):
    with spinning(_probe) as (probe,):
        with _running_actuator(tmp_path, script=FATAL_AFTER_ACTIONS) as proc:
            pub = _action_pub(probe)
            assert wait_until(lambda: pub.get_subscription_count() >= 1, 20.0)
            _actions(probe, pub, 40)
            code = proc.wait(timeout=PROCESS_TIMEOUT_S)
        wait_until(lambda: False, 0.2)
        efforts = _efforts(probe)
    text = (tmp_path / "actuator.log").read_text()
    assert code == 1, text
    assert efforts.count(10.0) == 20 and efforts[-1] == 0.0, efforts[-5:]
    assert "injected fault" in text and "safe stop (fatal error: RuntimeError" in text, text


@pytest.mark.parametrize("sim_time_at_start", [False, True])
def test_the_watchdog_runs_whatever_use_sim_time_says(tmp_path, sim_time_at_start):
    """use_sim_time is refused at run time (over the parameter service, as `ros2 param set`
    does it), and with it true from the start and no /clock, the watchdog still sends the
    safe command within two periods of the last action, each of CYCLES times."""
    delays = []
    with spinning(_probe) as (probe,):
        extra = ["-p", "use_sim_time:=true"] if sim_time_at_start else []
        proc, log = _start_actuator(tmp_path, *extra)
        try:
            pub = _action_pub(probe)
            assert wait_until(lambda: pub.get_subscription_count() >= 1, 20.0)
            client = AsyncParameterClient(probe, "neuroq_actuator")
            assert client.wait_for_services(timeout_sec=20.0)
            for cycle in range(CYCLES):
                _actions(probe, pub, 20)
                if cycle == 0:  # mid-run, while commanding
                    future = client.set_parameters([Parameter("use_sim_time",
                                                               value=not sim_time_at_start)])
                    assert wait_until(future.done, 10.0)
                    result = future.result().results[0]
                    assert not result.successful and "read-only" in result.reason
                last = _actions(probe, pub, 1, period_s=0.0)
                assert wait_until(lambda t=last: any(
                    a > t and m.effort[0] == 0.0
                    for a, m in probe.messages("joint_commands")), 2.0)
                delays.append(min(a for a, m in probe.messages("joint_commands")
                                  if a > last and m.effort[0] == 0.0) - last)
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=PROCESS_TIMEOUT_S)
            log.close()
    shown = ", ".join(f"{d * 1e3:.1f}" for d in delays)
    # from the last action's publication to the safe command's arrival here. The bound is
    # two periods; as in tests/test_ros_launch.py, one cycle on this shared 2-core machine
    # may overshoot by scheduling jitter, never by a full period
    assert float(np.median(delays)) <= 2 * PERIOD_S, f"safe command after {shown} ms"
    assert max(delays) <= 3 * PERIOD_S, f"safe command after {shown} ms"


def _event_camera(ctx, overrides):
    pytest.importorskip("event_camera_msgs")
    from neuroq.ros_nodes.event_camera_node import EventCameraNode  # noqa: PLC0415

    return EventCameraNode(context=ctx, parameter_overrides=overrides)


def _event_node(ctx):
    pytest.importorskip("event_camera_msgs")
    from neuroq.ros_nodes.event_node import EventPolicyNode  # noqa: PLC0415

    return EventPolicyNode(context=ctx, parameter_overrides=[
        Parameter("artifact", value=str(REPO_ROOT / "config/artifacts/dvs_pan_tracking"))])


@pytest.mark.parametrize("sim_time", [False, True])
@pytest.mark.parametrize("which", ["sim_robot", "event_camera"])
def test_simulators_pace_on_the_steady_clock_without_sim_time(which, sim_time):
    """Without use_sim_time no timer of a simulator node is on ROS time (the system clock:
    a step of it back stalls such a timer for as long as the step, rclpy issue 1490); with
    it, exactly the timer pacing the simulation is (found by its period), the others stay
    steady. Every one has its callback's signature preset (see executor._signed)."""
    from rclpy.clock import ClockType  # noqa: PLC0415

    overrides = [Parameter("use_sim_time", value=sim_time)]
    if which == "sim_robot":
        def make(ctx):
            return SimRobotNode(context=ctx, parameter_overrides=CARTPOLE + overrides + [
                Parameter("max_episodes", value=1), Parameter("exit_when_done", value=True)])
    else:
        def make(ctx):
            return _event_camera(ctx, overrides)
    with spinning(make) as (node,):
        if which == "sim_robot":
            pace_ns = int(1e9 / node.get_parameter("control_rate_hz").value)
        else:
            from neuroq.ros_nodes.event_camera_node import TIMER_PERIOD_S  # noqa: PLC0415

            pace_ns = int(TIMER_PERIOD_S * 1e9)
        timers = [(t.timer_period_ns, t.clock.clock_type, "__signature__" in vars(t.callback))
                  for t in node.timers]
    assert len(timers) == {"sim_robot": 3, "event_camera": 2}[which], timers
    pacing = [c for period, c, _ in timers if period == pace_ns]
    others = [c for period, c, _ in timers if period != pace_ns]
    assert pacing == [ClockType.ROS_TIME if sim_time else ClockType.STEADY_TIME], timers
    assert others and set(others) == {ClockType.STEADY_TIME}, timers
    assert all(preset for *_, preset in timers), timers


def test_timer_callbacks_with_a_signature_preset_must_take_no_argument():
    """rclpy passes a TimerInfo to a timer callback with a parameter and awaits a coroutine
    one; behind the preset signature neither would work, so both are refused."""
    from neuroq.ros_nodes.executor import _signed  # noqa: PLC0415

    calls = []
    wrapped = _signed(lambda: calls.append(1))
    wrapped()
    assert calls == [1] and not inspect.signature(wrapped).parameters

    async def coroutine() -> None:
        pass

    for bad in (coroutine, lambda info: None, lambda info=None: None):
        with pytest.raises(TypeError, match="without parameters"):
            _signed(bad)


def test_sim_robot_follows_simulated_time_faster_than_real_time():
    """With use_sim_time and a /clock running at twice the wall clock's rate, the sim robot
    ticks twice as often as its rate in wall time: its catch-up filter counts slots on the
    clock that paces it (before: on the monotonic clock, which skipped every second tick)."""
    from rosgraph_msgs.msg import Clock  # noqa: PLC0415

    def robot(ctx):
        return SimRobotNode(context=ctx, parameter_overrides=CARTPOLE + [
            Parameter("use_sim_time", value=True), Parameter("control_rate_hz", value=50.0)])

    speed, wall_s, step_s = 2.0, 1.5, 0.001
    with spinning(robot, lambda ctx: Probe(ctx)) as (node, probe):
        clock = probe.create_publisher(Clock, "/clock", 10)
        assert wait_until(lambda: clock.get_subscription_count() > 0, 10.0)
        start_ns = 10**9  # simulated time starts at 1 s
        t0 = time.monotonic()
        ticks0 = skipped0 = None
        for _ in range(int(2 * wall_s / step_s)):  # bounded: at most twice the intended
            elapsed = time.monotonic() - t0
            if elapsed > wall_s:
                break
            ns = start_ns + int(speed * elapsed * 1e9)
            clock.publish(Clock(clock=Time(sec=ns // 10**9, nanosec=ns % 10**9)))
            if ticks0 is None and elapsed > 0.25:  # after the first simulated ticks
                ticks0, skipped0, t_first = (node.robot.counters.ticks,
                                             node.burst_ticks_skipped, elapsed)
            time.sleep(step_s)
        ticks = node.robot.counters.ticks - ticks0
        skipped = node.burst_ticks_skipped - skipped0
    expected = speed * 50.0 * (elapsed - t_first)
    assert ticks >= 0.8 * expected, (ticks, skipped, expected)
    assert skipped <= 0.1 * expected, (ticks, skipped, expected)


def _policy(ctx):
    return PolicyNode(lambda artifact, backend: StandInPolicy(), context=ctx,
                      parameter_overrides=[Parameter("artifact", value="stand-in")])


@pytest.mark.parametrize("make", [
    _policy,
    lambda ctx: ActuatorNode(context=ctx, parameter_overrides=CARTPOLE),
    lambda ctx: SimRobotNode(context=ctx, parameter_overrides=CARTPOLE),
    lambda ctx: _event_camera(ctx, []),
    lambda ctx: _event_node(ctx),
])
def test_no_parameter_changes_at_run_time(make):
    with spinning(make) as (node,):
        names = node._parameters.keys()
        writable = [n for n in names if not node.describe_parameter(n).read_only]
        assert writable == ["use_sim_time"]  # declared by rclpy; refused by our guard
        for name in names:
            value = node.get_parameter(name).value
            flipped = (not value if isinstance(value, bool) else value)
            result = node.set_parameters([Parameter(name, value=flipped)])[0]
            assert not result.successful, name
        assert node.get_parameter("use_sim_time").value is False


def _reading(sec: int, nanosec: int, names=GOOD_NAMES, frame_id: str = "") -> JointState:
    msg = JointState(name=list(names), position=[0.0, 0.02], velocity=[0.0, 0.0])
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = frame_id
    return msg


def test_policy_drops_implausible_stamps_and_long_frame_ids_and_counts_them():
    with spinning(_policy, watching(Joy, "action", command_qos(1000))) as (node, probe):
        pub = probe.create_publisher(JointState, "joint_states", sensor_qos(10))
        assert wait_until(lambda: pub.get_subscription_count() >= 1, 5.0)
        now = probe.get_clock().now().nanoseconds
        sec, nsec = divmod(now, 10**9)
        bad = [
            ("bad_stamp", _reading(sec, 1_500_000_000)),  # nanosec not normalized
            ("bad_stamp", _reading(-5, 0)),  # before the epoch
            ("bad_stamp", _reading(0, 0)),  # never stamped
            ("bad_stamp", _reading(sec + 3600, nsec)),  # an hour ahead
            ("too_long", _reading(sec, nsec, frame_id="f" * 1_000_000)),
            ("wrong_names", _reading(sec, nsec, names=["cart_slider", "p\u043ele_hinge"])),
        ]
        good = [_reading(sec, nsec + k, frame_id="base_link") for k in range(1, 4)]
        good.append(_reading(1, 0))  # 1970: another clock; answered, not timed
        sent = 0
        for msg in [m for _, m in bad] + good:
            pub.publish(msg)
            sent += 1
            assert wait_until(lambda s=sent: node.stats()["readings_received"] >= s, 5.0)
        assert wait_until(lambda: len(probe.messages("action")) >= len(good), 5.0)
        stats = node.stats()
        actions = [m for _, m in probe.messages("action")]
    assert [(m.header.stamp.sec, m.header.stamp.nanosec) for m in actions] == [
        (m.header.stamp.sec, m.header.stamp.nanosec) for m in good]
    assert all(len(m.header.frame_id) <= 256 for m in actions)
    assert (stats["dropped_bad_stamp"], stats["dropped_too_long"],
            stats["dropped_wrong_names"]) == (4, 1, 1)
    assert stats["dropped_inputs"] == len(bad)
    # the 1970 and far-future stamps did not enter the latency window
    assert stats["reading_to_action_latency_p99_ms"] < 1000.0


def test_no_fresh_readings_says_they_came_and_why_they_were_dropped():
    """An outsider's /clock held at 0 (or nodes on sim time, a driver stamping wall time):
    540 readings received and 540 dropped for their stamps, and the status said only "no
    fresh readings (joints on joint_states)", the unremapped name. It now names the
    subscription's own topic and the readings dropped, by reason."""
    from diagnostic_msgs.msg import DiagnosticArray

    def policy(ctx):
        return PolicyNode(lambda artifact, backend: StandInPolicy(), context=ctx,
                          namespace="/r1", cli_args=["--ros-args", "-r", "joint_states:=js"],
                          parameter_overrides=[Parameter("artifact", value="stand-in"),
                                               Parameter("diagnostics_period_s", value=0.3)])

    with spinning(policy, watching(DiagnosticArray, "/diagnostics", command_qos(100))) as (
            node, probe):
        pub = probe.create_publisher(JointState, "/r1/js", sensor_qos(10))
        assert wait_until(lambda: pub.get_subscription_count() >= 1, 5.0)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # never stamped, for longer than a period
            pub.publish(_reading(0, 0))
            time.sleep(0.02)
        assert wait_until(lambda: any(
            "received and dropped" in s.message for _, m in probe.messages("/diagnostics")
            for s in m.status), 3.0)
        messages = [s.message for _, m in probe.messages("/diagnostics") for s in m.status
                    if s.name.endswith("/r1/neuroq_policy")]
    said = [m for m in messages if "received and dropped" in m]
    assert re.fullmatch(r"no fresh readings \(joints on /r1/js\): \d+ readings received and "
                        r"dropped \(bad_stamp \d+\)", said[0]), said


def test_a_subscriber_of_another_type_on_the_command_topic_is_named():
    """An outsider's motor driver subscribed JointState to the interface's commands (of
    another type): DDS never matched it, it got no command, not even the safe one, and the
    actuator said OK "commanding" nine times. Its diagnostics now name the topic and both
    types, WARN, until that subscriber is gone."""
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node
    from std_msgs.msg import String

    def actuator(ctx):
        return ActuatorNode(context=ctx, parameter_overrides=CARTPOLE)

    with spinning(actuator) as (act,):
        level, message = act.status(periodic=True)
        assert "is subscribed as" not in message
        other = Context()  # a participant of its own: one refuses a topic of two types
        rclpy.init(context=other)
        try:
            driver = Node("motor_driver", context=other)
            driver.create_subscription(String, "joint_commands", lambda _m: None, 10)
            assert wait_until(lambda: "is subscribed as" in act.status(periodic=True)[1],
                              10.0)
            level, message = act.status(periodic=True)
            assert level == LEVEL_WARN and (
                "/joint_commands is subscribed as std_msgs/msg/String, the interface "
                "commands sensor_msgs/JointState: those subscribers get no command") in (
                message), message
            driver.destroy_node()
        finally:
            rclpy.try_shutdown(context=other)
        assert wait_until(lambda: "is subscribed as" not in act.status(periodic=True)[1],
                          10.0)


def test_peers_whose_qos_does_not_match_are_named_in_the_diagnostics():
    """An outsider's motor driver subscribed to the command topic asking transient-local
    durability: DDS never matched it, not even the safe command reached it, and the
    actuator's diagnostics said OK (rclpy logged one generic line). Each endpoint of the
    nodes now names the peers whose QoS does not match (`qos_mismatches`, WARN) until they
    are gone."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    def actuator(ctx):
        return ActuatorNode(context=ctx, parameter_overrides=CARTPOLE)

    with spinning(actuator, _probe) as (act, probe):
        driver = probe.create_subscription(
            JointState, "joint_commands", lambda _m: None,
            QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        assert wait_until(lambda: "/joint_commands" in act._qos.held, 10.0)
        level, message = act.status()  # (no action yet: the watchdog's status, and this)
        assert level == LEVEL_WARN and message.endswith(
            "; QoS not matched on /joint_commands"), message
        assert act.stats()["qos_mismatches"] == (
            "/joint_commands: DURABILITY: a subscriber asks for more than this node's command "
            "publisher offers (reliable, volatile), so it gets none of them")
        best_effort = probe.create_publisher(
            Joy, "action", QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))
        assert wait_until(lambda: "/action" in act._qos.held, 10.0)
        assert "RELIABILITY: a publisher offers less than this node's action subscription " \
            "asks for (reliable, volatile)" in act.stats()["qos_mismatches"]
        # it never delivers: no second policy (a recheck saw ERROR "2 publishers of actions")
        second = probe.create_publisher(Joy, "action", command_qos())
        assert wait_until(lambda: act.count_publishers("/action") == 2, 10.0)
        act._check_sources(time.monotonic())
        assert act._not_commanding is None and act._action_sources == 1
        probe.destroy_publisher(second)
        probe.destroy_subscription(driver)
        probe.destroy_publisher(best_effort)
        assert wait_until(lambda: (act.status(), not act._qos.held)[1], 10.0), act._qos.held
        assert act.status()[1] != "" and "qos_mismatches" not in act.stats()


def test_policy_answers_the_newest_good_reading_a_burst_left_queued():
    """Good readings followed by bursts of malformed ones on the same topic, all queued
    before the node runs: it answers the newest good reading of each batch (keep last 1
    lost it to the burst), counts the older good one as superseded and every bad one."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    context = Context()
    rclpy.init(context=context)
    node = _policy(context)
    probe = Probe(context)
    probe.watch(Joy, "action", command_qos(100))
    executor = SingleThreadedExecutor(context=context)
    try:
        pub = probe.create_publisher(JointState, "joint_states", sensor_qos(10))
        assert wait_until(lambda: pub.get_subscription_count() >= 1
                          and node._action_pub.get_subscription_count() >= 1, 5.0)
        sec, nsec = divmod(probe.get_clock().now().nanoseconds, 10**9)
        nsec = min(nsec, 10**9 - 100)

        def burst(k):
            return [_reading(sec, nsec + k, names=["cart_slider", "p\u043ele_hinge"])
                    for _ in range(k)]

        rounds = [[_reading(sec, nsec + 1), _reading(sec, nsec + 2), *burst(5)],
                  [_reading(sec, nsec + 3), *burst(9)]]  # 10 messages: the queue's depth
        executor.add_node(node)
        executor.add_node(probe)
        for k, messages in enumerate(rounds, start=1):
            for msg in messages:  # nothing spins: the messages wait in the node's queue
                pub.publish(msg)
            time.sleep(0.3)
            deadline = time.monotonic() + 5.0
            while len(probe.messages("action")) < k and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.01)
        for _ in range(20):  # anything else would come now
            executor.spin_once(timeout_sec=0.01)
        stats = node.stats()
        stamps = [m.header.stamp.nanosec - nsec for _, m in probe.messages("action")]
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
        rclpy.try_shutdown(context=context)
    assert stamps == [2, 3], str(stats)
    assert stats["superseded_readings"] == 1
    assert stats["readings_received"] == sum(map(len, rounds))
    assert stats["dropped_wrong_names"] == stats["dropped_inputs"] == 14


def test_actuator_drops_actions_with_stamps_no_clock_writes():
    with spinning(lambda ctx: ActuatorNode(context=ctx, parameter_overrides=CARTPOLE),
                  _probe) as (node, probe):
        pub = _action_pub(probe)
        assert wait_until(lambda: pub.get_subscription_count() >= 1, 5.0)
        for sec, nanosec in ((5, 1_000_000_000), (-1, 0), (0, 0)):
            msg = Joy(buttons=[1])
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
            pub.publish(msg)
        assert wait_until(lambda: node.bad_actions == 3, 5.0)
        assert node.commands_sent == 0
        _actions(probe, pub, 1)
        assert wait_until(lambda: node.commands_sent == 1, 5.0)


def test_actions_for_readings_a_timeout_old_are_not_commanded():
    """An outsider's sensor driver repeated one stamp for 4 s, and readings stamped 35 ms
    to 1 h back were answered: the actuator took each such action as "another clock's",
    commanded +-10 N with every status OK, and never sent the safe command. Stale actions
    (the reading a watchdog timeout old on arrival) are not commanded now: after the last
    fresh one, only safe commands go out."""
    params = [*CARTPOLE, Parameter("watchdog_timeout_s", value=0.03)]
    with spinning(lambda ctx: ActuatorNode(context=ctx, parameter_overrides=params),
                  _probe) as (node, probe):
        pub = _action_pub(probe)
        assert wait_until(lambda: pub.get_subscription_count() >= 1, 5.0)
        _actions(probe, pub, 3)  # fresh: commanded
        assert wait_until(lambda: node.commands_sent == 3, 5.0)
        frozen = probe.get_clock().now().to_msg()
        for _ in range(40):  # a driver repeating its last stamp, every 10 ms
            msg = Joy(buttons=[1])
            msg.header.stamp = frozen
            pub.publish(msg)
            time.sleep(PERIOD_S)
        assert wait_until(lambda: node.stale_actions >= 30, 5.0), node.stale_actions
        assert node.commands_sent <= 3 + 4  # at most the first 30 ms of the frozen ones
        assert node.dog.tripped and node.safe_commands_sent >= 10
        level, message = node.status()
        assert level == LEVEL_WARN and "stale actions not commanded" in message, message
        efforts = [m.effort[0] for _, m in probe.messages("joint_commands")]
        assert efforts[-5:] == [0.0] * 5, efforts[-8:]


_FAULTS_PROBE = """
import ctypes, resource, sys
from neuroq.ros_nodes.realtime import fix_malloc_thresholds
libc = ctypes.CDLL(None)
libc.prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: base pages only, wherever THP is "always"
if sys.argv[1] == "fixed":
    ok = fix_malloc_thresholds()
else:  # the thresholds the nodes had before: every block of 128 KiB or more mmapped
    ok = fix_malloc_thresholds(128 * 1024, 256 * 1024)
if not ok:
    print("no-glibc")
    sys.exit(0)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 3_200_000  # the fuzzer's largest reading, serialized
faults = []
for _ in range(4):  # a take of one such message: three blocks of its size, written, freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [libc.malloc(size) for _ in range(3)]
    for b in blocks:
        ctypes.memset(b, 1, size)
    for b in blocks:
        libc.free(b)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(faults[-1], resource.getpagesize())
"""


@pytest.mark.parametrize("mode", ["fixed", "mmap_each"])
def test_megabyte_blocks_are_reused_without_page_faults(mode):
    """The node processes' malloc thresholds (ros_nodes/realtime.fix_malloc_thresholds):
    the blocks of a taken 3.2 MB message come back from the heap already mapped, so a
    later one costs no page faults (each fault is time a good reading queued behind it
    waits). With every such block mmapped, as the nodes had it before, each take faults
    all of its pages again (3 x 782 pages of 4 KiB)."""
    out = subprocess.run([sys.executable, "-c", _FAULTS_PROBE, mode], capture_output=True,
                         text=True, timeout=60, check=True)
    if out.stdout.strip() == "no-glibc":
        pytest.skip("mallopt is glibc's; this C library has no such thresholds")
    faults, page = (int(v) for v in out.stdout.split())
    pages = 3 * -(-3_200_000 // page)  # three blocks' pages
    if mode == "fixed":
        assert faults < 0.05 * pages, (faults, pages)
    else:
        assert faults > 0.9 * pages, (faults, pages)


BLOCK_EVENT_MSGS = '''
import sys
class _NoEventMsgs:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "event_camera_msgs":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoEventMsgs())
'''


@pytest.mark.parametrize("label", ["event node", "event camera", "replay"])
def test_without_the_event_message_package_a_node_says_where_it_comes_from(tmp_path, label):
    """No wheel of event_camera_msgs exists: a venv without it ran the event node, the
    simulated camera and `neuroq replay` into an ImportError traceback (--help included).
    Now --help works and starting is one line naming where the package comes from."""
    (tmp_path / "sitecustomize.py").write_text(BLOCK_EVENT_MSGS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    if label == "replay":
        raw = tmp_path / "x.raw"
        raw.write_bytes(b"% evt 3.0\n% end\n")
        argv = [sys.executable, "-m", "neuroq.agents.cli.main", "replay", str(raw)]
        prefix = "neuroq replay: error: "
    else:
        module = MORE_NODES[label]
        helped = subprocess.run([sys.executable, "-m", module, "--help"], env=env,
                                capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
        assert helped.returncode == 0 and f"neuroq {label}" in helped.stdout, helped.stderr
        argv = _node_cmd(label, [])
        prefix = f"neuroq {label}: error: "
    run = subprocess.run(argv, env=env, capture_output=True, text=True,
                         timeout=PROCESS_TIMEOUT_S)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert lines[0].startswith(prefix + "message type event_camera_msgs/EventPacket is not "
                               "available") and "build_event_msgs.sh" in lines[0]


def test_shipped_params_apply_in_a_namespace_and_a_bare_name_section_is_named(tmp_path):
    """An outsider ran a fleet under /robot1 with the shipped params files: their sections
    were named `neuroq_actuator:`, which rcl does not apply to /robot1/neuroq_actuator, and
    the actuator ran a 15 ms watchdog at 50 Hz (650 trips in 11 s) without a word. The
    shipped files name `/**/<node>` now; a bare-name section under a namespace is warned."""
    from neuroq.ros_nodes.process import warn_unapplied_sections

    shipped = str(REPO / "config" / "cartpole_sim.yaml")
    bare = tmp_path / "bare.yaml"  # with a section for every node: still not for this one
    bare.write_text("/**:\n  ros__parameters:\n    use_sim_time: false\n"
                    "neuroq_actuator:\n  ros__parameters:\n    watchdog_timeout_s: 0.04\n")
    argv = ["prog", "--ros-args", "--params-file", shipped, "--params-file", str(bare)]
    with spinning(lambda ctx: ActuatorNode(context=ctx, namespace="/robot1", cli_args=argv[1:],
                                           parameter_overrides=CARTPOLE),
                  lambda ctx: ActuatorNode(context=ctx, cli_args=argv[1:4],
                                           parameter_overrides=CARTPOLE)) as (robot1, root):
        assert robot1.get_parameter("watchdog_timeout_s").value == 0.03
        assert root.get_parameter("watchdog_timeout_s").value == 0.03
        assert warn_unapplied_sections(robot1, argv) == [f"{bare}: neuroq_actuator"]
        assert warn_unapplied_sections(root, argv) == []  # applies at the root


def test_a_namespace_rcl_refuses_is_one_line():
    """`-r __ns:=/robot1/` was an RCLError traceback, exit 1, from building the node."""
    run = subprocess.run(_node_cmd("actuator", ["-r", "__ns:=/robot1/"]), capture_output=True,
                         text=True, timeout=PROCESS_TIMEOUT_S)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert lines[0].startswith("neuroq actuator: error: ") and "must not end with" in lines[0]


def test_two_publishers_on_one_robots_topics_and_repeated_trips_are_warned():
    """An outsider's fleet, remapped onto shared topics, drove one robot from two policies
    (and from the other robot's sensors once its own had died) while every status said OK;
    a 15 ms watchdog at 50 Hz tripped 650 times in 11 s under an OK status. The actuator
    reported both (WARN, `crowded_topics`, the trips of the last period), but an outsider's
    two robot launches without namespaces were still commanded from each other's readings:
    with two publishers of actions on its `action` the actuator now commands none (ERROR,
    `crowded_actions`, the safe command), and commands again once one is left. Here in a
    namespace, its `action` remapped onto a shared topic (counted by its resolved name:
    rclpy's count_publishers applies no remap, a reviewer found)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    def policies(ctx):
        node = rclpy_node.Node("two_policies", context=ctx)
        node.second = rclpy_node.Node("second_policy", context=ctx)
        node.pubs = [node.create_publisher(Joy, "/shared/action", command_qos()),
                     node.second.create_publisher(Joy, "/shared/action", command_qos())]
        node.reports = []
        node.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: node.reports.extend(m.status), command_qos(100))
        return node

    def actuator(ctx):
        return ActuatorNode(context=ctx, namespace="/robot1",
                            cli_args=["--ros-args", "-r", "action:=/shared/action"],
                            parameter_overrides=[*CARTPOLE,
                                                 Parameter("diagnostics_period_s", value=0.2)])

    def act_for(seconds, pub):  # actions every 25 ms against its 15 ms watchdog
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = Joy(buttons=[1])
            msg.header.stamp = pol.get_clock().now().to_msg()
            pub.publish(msg)
            time.sleep(0.025)

    def mine():
        return [r for r in list(pol.reports) if r.name.endswith("/robot1/neuroq_actuator")]

    with spinning(actuator, policies) as (act, pol):
        assert wait_until(lambda: "action" in act._crowding.crowded, 10.0)
        assert act.stats()["crowded_topics"] == "/shared/action: 2"
        act_for(1.0, pol.pubs[0])  # two publishers: nothing commanded
        assert act.commands_sent == 0 and act.crowded_actions >= 30, act.stats()
        assert act.safe_commands_sent > 0
        assert any(r.level == DiagnosticStatus.ERROR and r.message.startswith(
            "2 publishers of actions on /shared/action: not commanding (two policies on one "
            "robot), safe command out") for r in mine()), [r.message for r in mine()]
        pol.second.destroy_publisher(pol.pubs[1])  # one left: commanded again
        assert wait_until(lambda: act.count_publishers("/shared/action") == 1, 10.0)
        refused, n_reports = act.crowded_actions, len(mine())
        act_for(2.0, pol.pubs[0])
        assert act.commands_sent >= 60 and act.crowded_actions <= refused + 5, act.stats()
        assert any(r.level == DiagnosticStatus.WARN
                   and "trips in the last diagnostics period" in r.message
                   for r in mine()[n_reports:]), [r.message for r in mine()[n_reports:]]


def test_a_second_stack_in_the_same_namespace_stops_the_commanding():
    """Two robot launches without a namespace: while one policy respawned (or at start-up,
    before the other's was up) both actuators took its actions, and a recheck counted 291
    commands from the other robot's readings in 3 s. Another node of the actuator's own
    full name means a second stack in its namespace: no action is commanded (ERROR), even
    with one publisher of actions."""
    from diagnostic_msgs.msg import DiagnosticStatus

    def policy(ctx):
        node = rclpy_node.Node("the_one_policy", context=ctx)
        node.pub = node.create_publisher(Joy, "action", command_qos())
        return node

    def actuator(ctx):
        return ActuatorNode(context=ctx, parameter_overrides=CARTPOLE)

    with spinning(actuator, actuator, policy) as (a, b, pol):
        assert wait_until(lambda: sum(n == "neuroq_actuator" for n, _ in
                                      a.get_node_names_and_namespaces()) == 2, 10.0)
        assert wait_until(lambda: pol.pub.get_subscription_count() == 2, 10.0)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            msg = Joy(buttons=[1])
            msg.header.stamp = pol.get_clock().now().to_msg()
            pol.pub.publish(msg)
            time.sleep(0.02)
        for node in (a, b):
            assert node.commands_sent == 0 and node.crowded_actions >= 20, node.stats()
            level, message = node.status(periodic=True)
            assert level == DiagnosticStatus.ERROR and message.startswith(
                "2 nodes named /neuroq_actuator: not commanding (two stacks in one "
                "namespace), safe command out"), message


@pytest.mark.parametrize("module, name", [("actuator_node", "neuroq_actuator"),
                                          ("sim_robot_node", "neuroq_sim_robot")])
def test_an_empty_interface_in_a_namespace_says_which_sections_apply(tmp_path, module, name):
    """A re-check: a file whose only `interface` was under a bare `neuroq_actuator:` section
    ended a node in /robot1 with "parameters ... are both empty" and no word of the section
    it had (the policy named the sections that apply; the others did not)."""
    params = tmp_path / "bare.yaml"
    params.write_text(f"{name}:\n  ros__parameters:\n    interface: cartpole\n")
    run = subprocess.run([sys.executable, "-m", f"neuroq.ros_nodes.{module}", "--ros-args",
                          "-r", "__ns:=/robot1", "--params-file", str(params)],
                         capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert f"'/robot1/{name}:', '/**/{name}:' or '/**:'" in lines[0], lines[0]
    assert f"('{name}:' applies in the root namespace only)" in lines[0]


def test_a_board_address_for_the_emulator_is_named_in_a_warning(monkeypatch):
    """The command line refuses --board-ip for the emulator; the node took board_ip:=... with
    backend emulator without a word (a user thinking the board ran was not told)."""
    from rclpy.impl.rcutils_logger import RcutilsLogger

    said = []
    real = RcutilsLogger.warning
    monkeypatch.setattr(RcutilsLogger, "warning",
                        lambda self, msg, **kw: (said.append(msg), real(self, msg, **kw))[1])
    make = lambda ctx: PolicyNode(  # noqa: E731
        lambda art, be: StandInPolicy(), context=ctx, parameter_overrides=[
            *CARTPOLE, Parameter("artifact", value="x"),
            Parameter("board_ip", value="192.168.1.25")])
    with spinning(make) as (node,):
        assert node.active
    assert "board_ip '192.168.1.25' is not used: backend emulator runs no board" in said


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_while_a_node_process_starts_exits_0(tmp_path, sig):
    """An outsider stopped a node 0.3 s after starting it: a KeyboardInterrupt traceback
    and status -2 (SIGTERM: -15), while its modules were still importing. The executables
    start in `neuroq.ros_nodes.entry`, which makes either signal exit 0 until the node's
    own handlers take over. Here a module that signals itself while it imports stands in
    for the node's."""
    (tmp_path / "slow_start.py").write_text(
        "import os, signal, time\n"
        f"os.kill(os.getpid(), signal.{sig})\n"
        "time.sleep(5)\n"  # still importing when the signal is handled
        "def main():\n"
        "    return 3\n")
    code = "import sys; from neuroq.ros_nodes.entry import run; sys.exit(run('slow_start'))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=30, preexec_fn=_sighup(signal.SIG_DFL))
    assert out.returncode == 0 and out.stderr == "", (out.returncode, out.stderr[-2000:])
    # every executable setup.py installs starts there, and runs its module's main
    import importlib

    from tests.helpers.launch_prefix import setup_keywords

    for line in setup_keywords("robot")["entry_points"]["console_scripts"]:
        name, target = (part.strip() for part in line.split("="))
        module, _, function = target.partition(":")
        assert module == "neuroq.ros_nodes.entry", line
        from neuroq.ros_nodes.entry import ENTRY_MODULES, NODE_MODULES

        source = inspect.getsource(getattr(importlib.import_module(module), function))
        assert f'run(ENTRY_MODULES["{function}"])' in source, line
        started = ENTRY_MODULES[function]
        assert callable(importlib.import_module(started).main), line
        assert started in NODE_MODULES, line  # python -m of it is covered too


def test_a_stop_signal_while_python_m_starts_a_node_exits_0():
    """`python -m neuroq.ros_nodes.<node>` imports the node's module itself, so the
    executables' cover (entry.run) did not apply: the package's __init__, which Python runs
    first, covers the node modules (cover_python_m). SIGINT as soon as rclpy's library is
    loaded, while the node's module still imports: status 0, no traceback (without the
    cover: status -2 and a KeyboardInterrupt traceback, also when signalled 0.08-0.16 s
    after the start, 4 of 4 tries each; from 0.2 s the node's own handlers were in place
    on this machine, so the signal waits for the import, not for a time)."""
    from neuroq.ros_nodes.entry import cover_python_m

    assert not cover_python_m(["python", "-m", "pytest"])  # other modules: left alone
    assert not cover_python_m(["python", "-c", "pass"])
    proc = subprocess.Popen([sys.executable, "-m", "neuroq.ros_nodes.policy_node",
                             "--ros-args", "-p", "interface:=cartpole", "-p",
                             "artifact:=cartpole"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if "rclpy" in maps.read_text():
                break
        except OSError:
            pass
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, (proc.returncode, err[-2000:])


def test_a_node_run_with_python_m_is_known_by_its_module(monkeypatch):
    """An outsider's executable-named section went unwarned under `python -m
    neuroq.ros_nodes.actuator_node` (the form docs/ros.md shows): the node's class lives in
    `__main__` there, so no console script was found for it."""
    import sys
    import types

    from neuroq.ros_nodes.process import _executables, _module_name

    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="neuroq.ros_nodes.actuator_node")
    monkeypatch.setitem(sys.modules, "__main__", main)
    cls = type("ActuatorNode", (), {"__module__": "__main__"})
    assert _module_name(cls) == "neuroq.ros_nodes.actuator_node"
    assert "neuroq_actuator_node" in _executables(_module_name(cls), ["/x/actuator_node.py"])
    assert _module_name(ActuatorNode) == "neuroq.ros_nodes.actuator_node"


def test_without_ros_2_a_node_executable_says_so_in_one_line(monkeypatch, capsys):
    """An outsider's `pip install` without the `ros` extra: every node executable ended in
    a 22-line ImportError traceback naming diagnostic_msgs, exit 1. Now one line naming
    the missing package and how to get ROS 2, exit 2 (the executables, `python -m`, and
    the replay executable once its options are read). A package standing in for a missing
    one: this venv has ROS 2."""
    import argparse

    from neuroq.deploy.errors import NeuroqError
    from neuroq.ros_nodes import entry, replay_command

    assert entry.ros_missing_text() is None  # this venv
    monkeypatch.setattr(entry, "ROS_MODULES", ("rclpy", "no_such_ros_msgs"))
    # not the stop handlers of a starting node in this process: they stayed installed in
    # pytest's, and a later test's signal ended the run with SIGALRM (CI run 110)
    monkeypatch.setattr(entry, "_stop_signals_end_start_up", lambda: None)
    monkeypatch.setattr(sys, "argv", ["neuroq_policy_node"])
    with pytest.raises(SystemExit) as exc:
        entry.run(entry.ENTRY_MODULES["policy_node"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"neuroq_policy_node: error: needs ROS 2 (no_such_ros_msgs is not "
                   f"installed): {entry.ROS_HINT}"], err
    with pytest.raises(SystemExit) as exc:
        entry.cover_python_m(["python", "-m", "neuroq.ros_nodes.event_node"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith(
        "python -m neuroq.ros_nodes.event_node: error: needs ROS 2 (no_such_ros_msgs")
    with pytest.raises(NeuroqError, match=r"^needs ROS 2 \(no_such_ros_msgs is not"):
        replay_command.run(argparse.Namespace(), "neuroq_event_replay")


def test_a_wrong_type_refusal_names_the_parameter_once():
    """rclpy appends ": <name>" to a message that names the parameter already: "neuroq
    actuator: error: Trying to set parameter 'watchdog_timeout_s' to 'abc' of type 'STRING',
    expecting type 'DOUBLE': watchdog_timeout_s" (an outsider's note). Other messages keep
    their tail."""
    from rclpy.exceptions import InvalidParameterTypeException, ParameterException
    from rclpy.parameter import Parameter

    from neuroq.ros_nodes.process import _parameter_text

    exc = InvalidParameterTypeException(Parameter("watchdog_timeout_s", value="abc"), "DOUBLE")
    assert _parameter_text(exc) == ("Trying to set parameter 'watchdog_timeout_s' to 'abc' of "
                                    "type 'STRING', expecting type 'DOUBLE'")
    assert _parameter_text(ParameterException("must be at least 1", "depth")) == (
        "must be at least 1: depth")  # the name said once, where rclpy puts it
    assert _parameter_text(ValueError("a: b")) == "a: b"


@pytest.mark.parametrize("label, executable", [("policy node", "neuroq_policy_node"),
                                               ("event node", "neuroq_event_node")])
def test_an_artifact_in_a_section_named_after_the_executable_is_named_in_the_error(
        tmp_path, label, executable):
    """An outsider's params file named its section after the executable and held the
    artifact there: the node stopped at "parameter 'artifact' is empty" (status 2) with no
    word of the section rcl did not apply (the warning came only when the node started)."""
    path = tmp_path / "p.yaml"
    path.write_text(f"{executable}:\n  ros__parameters:\n    artifact: cartpole\n")
    module = {**NODES, **MORE_NODES}[label]
    run = subprocess.run([sys.executable, "-m", module, "--ros-args", "--params-file",
                          str(path)], capture_output=True, text=True, timeout=120)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert lines[0].startswith(f"neuroq {label}: error: parameter 'artifact' is empty"), lines
    assert f"{path}: section '{executable}:' does not apply to " in lines[0], lines
    assert f"(the executable '{executable}', not the node)" in lines[0], lines
