"""launch/event_sim.launch.py: what it declares, and the loop it starts, over real DDS.

The launch stack is not installable here, so tests/helpers/launch_harness.py loads the file
as real launch does (against an install prefix of this checkout) and launch_runner starts
exactly the nodes it declares as processes (the event domain, loopback only).
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.ros

pytest.importorskip("rclpy")
pytest.importorskip("event_camera_msgs")

from std_msgs.msg import Float64  # noqa: E402

from neuroq.deploy.evaluate import evaluate  # noqa: E402
from neuroq.deploy.policy import load_policy  # noqa: E402
from neuroq.ros_nodes.qos import latched_qos  # noqa: E402
from tests.helpers import REPO_ROOT  # noqa: E402
from tests.helpers.artifacts import make_event_artifact  # noqa: E402
from tests.helpers.launch_harness import load_launch  # noqa: E402
from tests.helpers.launch_runner import LaunchedNodes, environ_with_prefix  # noqa: E402
from tests.helpers.ros import EVENT_DOMAIN_ID as DOMAIN_ID  # noqa: E402
from tests.helpers.ros import Probe, wait_until  # noqa: E402
from tests.helpers.ros import spinning_on_event_domain as spinning  # noqa: E402

RETURN_LINE = re.compile(r"episode \d+ return ([-0-9.eE+]+)")
LAUNCH = REPO_ROOT / "launch" / "event_sim.launch.py"


def test_event_launch_declares_camera_and_event_node(launch_environ, neuroq_prefix):
    plan = load_launch(LAUNCH, {"artifact": "/a", "max_episodes": "3"}, launch_environ)
    assert [(n.executable, n.name) for n in plan.nodes] == [
        ("neuroq_event_camera", "neuroq_event_camera"),
        ("neuroq_event_node", "neuroq_event_policy")]
    cam, node = (n.parameter_files[0] for n in plan.nodes)
    assert cam["max_episodes"] == 3 and cam["env_id"] == node["env_id"]
    assert node["artifact"] == "/a" and node["backend"] == "emulator"
    # either node's exit ends the launch
    assert all([type(a).__name__ for a in n.on_exit] == ["Shutdown"] for n in plan.nodes)
    default = load_launch(LAUNCH, {}, launch_environ).arguments["artifact"]
    assert default == str(neuroq_prefix / "share" / "neuroq" / "artifacts" / "dvs_pan_tracking")


def _returns_over_the_launch(tmp_path, neuroq_prefix, arguments: list[str]
                             ) -> tuple[list[float], LaunchedNodes]:
    """Run the launch on the event domain until it ends by itself; the logged returns."""
    plan = load_launch(LAUNCH, arguments, environ_with_prefix(neuroq_prefix))

    def probe_factory(ctx):
        probe = Probe(ctx)
        probe.watch(Float64, "episode_return", latched_qos())
        return probe

    with spinning(probe_factory) as (probe,), LaunchedNodes(plan, tmp_path / "logs") as run:
        def logged() -> list[float]:
            return [float(r) for r in RETURN_LINE.findall(run.log("neuroq_event_camera"))]

        ended = run.wait(120.0)
        assert ended, {name: run.log(name)[-2000:] for name in run.processes}
        returns = logged()
        # the probe was up before the camera started, so it hears at least the last return
        wait_until(lambda: len(probe.messages("episode_return")) >= len(returns), 5.0)
        got = [m.data for _, m in probe.messages("episode_return")]
        assert got, "no episode_return message reached the probe"
        assert got == pytest.approx(returns[len(returns) - len(got):])
    assert run.result == 0 and run.shutdown_reason.startswith(
        "process[neuroq_event_camera] was required")
    assert run.returncodes == {"neuroq_event_camera": 0, "neuroq_event_policy": 0}
    return returns, run


def test_event_launch_runs_its_defaults_and_ends_after_max_episodes(tmp_path, monkeypatch,
                                                                     neuroq_prefix):
    """With its defaults (the shipped event artifact, 200-step episodes, seed 0) and
    max_episodes:=1, the launch runs one episode and ends; the return is the in-process
    one."""
    monkeypatch.setenv("ROS_DOMAIN_ID", str(DOMAIN_ID))
    returns, _ = _returns_over_the_launch(tmp_path, neuroq_prefix, ["max_episodes:=1"])
    artifact = neuroq_prefix / "share" / "neuroq" / "artifacts" / "dvs_pan_tracking"
    reference = evaluate(load_policy(artifact, backend="emulator"), episodes=1,
                         seed=0)["returns"]
    assert returns == pytest.approx(reference, rel=1e-10)
    assert returns[0] > 150  # the trained policy tracks (random actions: 8.7)


def test_event_launch_runs_the_loop_with_the_in_process_returns(tmp_path, monkeypatch,
                                                                neuroq_prefix):
    """Returns over DDS between two processes equal neuroq.deploy.evaluate's in this process
    (same seeds): the node sees the same events in the same time bins."""
    monkeypatch.setenv("ROS_DOMAIN_ID", str(DOMAIN_ID))
    artifact = make_event_artifact(tmp_path / "artifact")
    # linger_s 5: the probe still gets the latched returns if its discovery of the camera
    # missed Fast DDS's first announcements and waited for a later one (once, in a full
    # run on a loaded machine, none had come after the default 2 s)
    returns, _ = _returns_over_the_launch(tmp_path, neuroq_prefix, [
        f"artifact:={artifact}", "max_episodes:=2", "max_steps:=30", "seed:=4",
        "linger_s:=5.0"])
    policy = load_policy(artifact, backend="emulator")
    reference = evaluate(policy, episodes=2, seed=4, max_steps=30)["returns"]
    assert returns == pytest.approx(reference, rel=1e-10)
