"""`colcon build` of this package in a fresh workspace, with and without --symlink-install,
as docs/ros.md "On a robot" tells a robot integrator to do; then one node from the install.

The robot's Python is a fresh venv (standing in for apt ROS 2 + rosdep): colcon-core,
colcon-ros, colcon-python-setup-py and colcon-package-selection from PyPI, setuptools < 80
(colcon's symlink install runs `setup.py develop`, which setuptools 80 removed; colcon then
falls back to a plain install, which the symlink checks here would catch), and for each
exec_depend of package.xml what rosdep would install, mapped to PyPI (`ROSDEP_ON_PYPI`),
plus nir (no rosdep key: the documented `pip install nir`). The launch stack is not on PyPI:
tests/helpers/launch_harness plays `ros2 launch` against colcon's install tree.

Checks: executables in lib/neuroq (the node executables, no training CLI), launch files,
node configs and the shipped artifacts in share/neuroq, the ament index marker, no training
code or config (robot profile, colcon's default); where Python imports neuroq from and where
neuroq.deploy.paths finds the shipped data; the symlink install really links to the sources
(a new source file imports without rebuilding); and the policy node, started from the
install tree by cartpole_robot.launch.py with its defaults (the shipped artifact), activates,
answers joint readings with actions, and exits 0 on SIGINT.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.install import (
    copy_sources,
    make_venv,
    pip_install,
    remove_in_background,
    sourced_environ,
    venv_environ,
)
from tests.helpers.launch_prefix import setup_keywords

pytestmark = [pytest.mark.slow, pytest.mark.ros]

PKG = "neuroq"
#: setuptools 80 removed `setup.py develop`, which colcon's --symlink-install needs
SETUPTOOLS = "setuptools<80"
COLCON = ["colcon-core", "colcon-ros", "colcon-python-setup-py", "colcon-package-selection"]
#: rosdep key -> what stands in for it from PyPI (None: not on PyPI, and why)
ROSDEP_ON_PYPI: dict[str, str | None] = {
    "python3-numpy": "numpy", "python3-yaml": "pyyaml", "python3-h5py": "h5py",
    "python3-psutil": "psutil", "python3-tqdm": "tqdm",
    "python3-gymnasium-pip": "gymnasium>=1.0,<2",
    "rcl_interfaces": None,  # comes with the rclpy wheels
    "event_camera_msgs": None,  # no wheel (the Makefile builds it for the dev venv)
    "launch": None, "launch_ros": None, "ros2launch": None,  # tests.helpers.launch_harness
}
#: pip steps docs/ros.md gives for dependencies rosdep has no key for
NO_ROSDEP_KEY = ["nir>=1.0.8"]
NODE_EXECUTABLES = {"neuroq_policy_node", "neuroq_actuator_node", "neuroq_sim_robot",
                    "neuroq_event_node", "neuroq_event_camera"}
#: the robot side's tools beside the nodes (a robot install has no `neuroq` command)
TOOL_EXECUTABLES = {"neuroq_event_replay"}
NODE_CONFIGS = {"cartpole_sim.yaml", "cartpole_robot.yaml", "acrobot_sim.yaml", "nav_sim.yaml",
                "nav_robot.yaml"}
ROBOT_INTERFACES = {"cartpole.yaml", "acrobot.yaml", "mountaincar.yaml", "nav.yaml"}
ARTIFACTS = {"cartpole", "acrobot", "dvs_pan_tracking"}
BUILD_TIMEOUT_S = 300
ACTIONS_WANTED = 5


def _ros_wheels() -> dict[str, str]:
    """ROS package name -> its pinned wheel requirement, from setup.py's `ros` extra."""
    wheels = {}
    for req in setup_keywords("full")["extras_require"]["ros"]:
        name = req.split("[")[0].split("=")[0]
        wheels[name.removeprefix("ros-").replace("-", "_")] = req
    return wheels


def rosdep_stand_ins() -> list[str]:
    """pip requirements standing in for `rosdep install` of package.xml's exec_depends."""
    import xml.etree.ElementTree as ET

    from tests.helpers import REPO_ROOT

    keys = [e.text.strip() for e in ET.parse(REPO_ROOT / "package.xml").getroot()
            .iter("exec_depend")]
    wheels = _ros_wheels()
    unknown = [k for k in keys if k not in ROSDEP_ON_PYPI and k not in wheels]
    assert not unknown, f"no PyPI stand-in for rosdep keys {unknown}"
    return [wheels.get(k) or ROSDEP_ON_PYPI[k] for k in keys
            if wheels.get(k) or ROSDEP_ON_PYPI.get(k)]


@pytest.fixture(scope="module")
def robot_python(tmp_path_factory) -> Iterator[Path]:
    """The fresh venv the workspace is built and run with (removed afterwards: 300 MB)."""
    root = tmp_path_factory.mktemp("robot")
    python = make_venv(root / "venv")
    pip_install(python, [SETUPTOOLS, *COLCON, *rosdep_stand_ins(), *NO_ROSDEP_KEY])
    yield python
    remove_in_background(root)


@pytest.fixture(scope="module", params=["copy", "symlink"])
def workspace(request, robot_python, tmp_path_factory) -> dict:
    """A colcon workspace with this package in src/, built in one mode; its environment."""
    symlink = request.param == "symlink"
    ws = tmp_path_factory.mktemp(f"ws-{request.param}")
    source = copy_sources(ws / "src" / PKG)
    env = venv_environ(robot_python)
    cmd = ["colcon", "build", "--packages-select", PKG] + (["--symlink-install"] * symlink)
    started = time.monotonic()
    out = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True,
                         timeout=BUILD_TIMEOUT_S)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    print(f"colcon build ({request.param}): {time.monotonic() - started:.1f} s")
    sourced = sourced_environ(ws / "install" / "setup.sh", env)
    return {"ws": ws, "source": source, "env": sourced, "symlink": symlink,
            "prefix": ws / "install" / PKG, "log": out.stdout + out.stderr}


def _python_facts(workspace: dict) -> dict:
    """Where the sourced environment's Python imports neuroq from and finds its data."""
    code = ("import importlib.util, json, sys\n"
            "import neuroq.deploy, neuroq.ros_nodes.policy_node\n"
            "from neuroq.deploy.paths import shipped_data\n"
            "d = shipped_data()\n"
            "print(json.dumps({'python': sys.executable, 'deploy': neuroq.deploy.__file__,\n"
            "    'agents': importlib.util.find_spec('neuroq.agents') is not None,\n"
            "    'layout': d.layout, 'root': str(d.root),\n"
            "    'launch_dir': str(d.launch_dir)}))\n")
    out = subprocess.run(["python", "-c", code], env=workspace["env"], capture_output=True,
                         text=True, cwd=workspace["ws"])
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_rosdep_stand_ins_cover_package_xml():
    """Every exec_depend is installed here or named as not on PyPI (and why)."""
    assert "numpy" in rosdep_stand_ins()
    assert any(r.startswith("ros-rclpy") for r in rosdep_stand_ins())


def test_install_tree_holds_the_robot_side_only(workspace):
    prefix = workspace["prefix"]
    share = prefix / "share" / PKG
    exes = {p.name for p in (prefix / "lib" / PKG).iterdir()}
    assert exes == NODE_EXECUTABLES | TOOL_EXECUTABLES  # no `neuroq` training CLI
    assert {p.name for p in (share / "launch").glob("*.launch.py")} == {
        p.name for p in (workspace["source"] / "launch").glob("*.launch.py")}
    config = share / "config"
    assert {p.name for p in config.iterdir() if p.is_file()} == NODE_CONFIGS  # no dqn.yaml
    assert {p.name for p in (config / "interfaces").iterdir()} == ROBOT_INTERFACES
    assert [p.name for p in (config / "fastdds").iterdir()] == ["neuroq_nodes.xml"]
    for name in ARTIFACTS:
        assert (share / "artifacts" / name / "manifest.json").is_file(), name
        assert (share / "artifacts" / name / "network.nir.h5").is_file(), name
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / PKG).is_file()
    assert (share / "package.xml").is_file()
    site = list(prefix.glob("lib/python3*/site-packages"))
    assert site, "no site-packages in the install"
    assert not list(site[0].glob(f"{PKG}/agents"))
    assert not (workspace["source"] / "build").exists()  # nothing written into the sources


def test_python_imports_neuroq_from_the_install_and_finds_its_data(workspace, robot_python):
    facts = _python_facts(workspace)
    assert facts["python"].startswith(str(robot_python.parent.parent))
    assert not facts["agents"]  # training code is not installed (robot profile)
    deploy = Path(facts["deploy"])
    if workspace["symlink"]:
        # develop: the build folder's neuroq/ links to the sources; data from the sources
        assert deploy.resolve().is_relative_to(workspace["source"])
        assert facts["layout"] == "source" and Path(facts["root"]) == workspace["source"]
    else:
        assert deploy.is_relative_to(workspace["prefix"]) and not deploy.is_symlink()
        assert facts["layout"] == "installed"
        assert Path(facts["root"]) == workspace["prefix"] / "share" / PKG


def test_the_install_replays_a_recording_without_the_neuroq_command(workspace, tmp_path):
    """An outsider's robot install could not replay (no `neuroq` command; `python -m
    neuroq.ros_nodes.event_replay` exited 0 and published nothing): lib/neuroq has
    neuroq_event_replay, with `neuroq replay`'s options and one-line errors."""
    exe = workspace["prefix"] / "lib" / PKG / "neuroq_event_replay"
    out = subprocess.run([str(exe), "--help"], env=workspace["env"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "--speed" in out.stdout, out.stderr[-2000:]
    # this robot venv has no event_camera_msgs (no wheel exists; rosdep_stand_ins): one line
    out = subprocess.run([str(exe), str(tmp_path / "missing.raw")], env=workspace["env"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.startswith("neuroq_event_replay: error: message type "
                                 "event_camera_msgs/EventPacket is not available: install "
                                 "the event_camera_msgs package"), out.stderr[-2000:]
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr[-2000:]


def test_symlink_install_links_to_the_sources(workspace):
    launch = workspace["prefix"] / "share" / PKG / "launch" / "cartpole_sim.launch.py"
    if not workspace["symlink"]:
        assert not launch.is_symlink()
        return
    assert "No 'develop' capability" not in workspace["log"]
    assert launch.is_symlink()
    assert launch.resolve() == workspace["source"] / "launch" / "cartpole_sim.launch.py"
    # a module added to the sources imports without rebuilding
    (workspace["source"] / "deploy" / "_colcon_probe.py").write_text("ANSWER = 42\n")
    out = subprocess.run(["python", "-c", "from neuroq.deploy._colcon_probe import ANSWER; "
                          "print(ANSWER)"], env=workspace["env"], capture_output=True,
                         text=True)
    assert out.stdout.strip() == "42", out.stderr[-2000:]


def test_policy_node_runs_from_the_install_tree(workspace, tmp_path):
    """cartpole_robot.launch.py from the install's share/neuroq/launch, with its defaults:
    the policy node (lib/neuroq/neuroq_policy_node, the shipped artifact) activates,
    answers joint readings with actions, and exits 0 on SIGINT, as does the actuator."""
    from sensor_msgs.msg import JointState, Joy

    from neuroq.ros_nodes.qos import command_qos, sensor_qos
    from tests.helpers.launch_harness import load_launch
    from tests.helpers.launch_runner import LaunchedNodes
    from tests.helpers.ros import Probe, spinning, wait_until

    env = dict(workspace["env"])
    for key in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE"):  # tests/conftest.py's
        env[key] = os.environ[key]
    launch = workspace["prefix"] / "share" / PKG / "launch" / "cartpole_robot.launch.py"
    plan = load_launch(launch, {}, env)
    policy = plan.nodes[0]
    assert policy.executable_path == workspace["prefix"] / "lib" / PKG / "neuroq_policy_node"
    assert plan.arguments["artifact"] == str(workspace["prefix"] / "share" / PKG
                                             / "artifacts" / "cartpole")

    def probe_factory(ctx):
        probe = Probe(ctx)
        probe.watch(Joy, "action", command_qos(100))
        pub = probe.create_publisher(JointState, "joint_states", sensor_qos())

        def tick() -> None:
            msg = JointState(name=["cart_slider", "pole_hinge"], position=[0.0, 0.02],
                             velocity=[0.0, 0.0])
            msg.header.stamp = probe.get_clock().now().to_msg()
            pub.publish(msg)

        probe.create_timer(0.02, tick)
        return probe

    with spinning(probe_factory) as (probe,), LaunchedNodes(plan, tmp_path) as run:
        acted = wait_until(lambda: len(probe.messages("action")) >= ACTIONS_WANTED, 60.0, 0.05)
        logs = {name: run.log(name)[-2000:] for name in run.processes}
        assert acted, logs
        cmdline = Path(f"/proc/{run.processes['neuroq_policy'].pid}/cmdline").read_bytes()
        assert str(policy.executable_path).encode() in cmdline
    assert run.returncodes == {"neuroq_policy": 0, "neuroq_actuator": 0}, logs
    assert "active: artifact " + ascii(plan.arguments["artifact"]) in run.log("neuroq_policy")
    assert all(m.buttons[0] in (0, 1) for _, m in probe.messages("action"))
