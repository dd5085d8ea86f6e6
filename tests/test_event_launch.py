"""launch/event_sim.launch.py: what it declares, and the loop it starts, over real DDS.

The launch stack is not installable here, so tests/launch_harness.py loads the file and
starts exactly the nodes it declares as processes (domain 70-79, loopback only).
"""

from __future__ import annotations

import re
import sys

import pytest

pytestmark = pytest.mark.ros

pytest.importorskip("rclpy")
pytest.importorskip("event_camera_msgs")

from std_msgs.msg import Float64  # noqa: E402

from neuroq.deploy.evaluate import evaluate  # noqa: E402
from neuroq.deploy.policy import load_policy  # noqa: E402
from neuroq.ros_nodes.qos import latched_qos  # noqa: E402
from tests.helpers.artifacts import make_event_artifact  # noqa: E402
from tests.helpers.launch_harness import REPO_ROOT, LaunchedNodes, load_launch  # noqa: E402
from tests.helpers.ros import EVENT_DOMAIN_ID as DOMAIN_ID  # noqa: E402
from tests.helpers.ros import Probe, wait_until  # noqa: E402
from tests.helpers.ros import spinning_on_event_domain as spinning  # noqa: E402

RETURN_LINE = re.compile(r"episode \d+ return ([-0-9.eE+]+)")
LAUNCH = REPO_ROOT / "launch" / "event_sim.launch.py"
MODULES = {"neuroq_event_camera": "neuroq.ros_nodes.event_camera_node",
           "neuroq_event_node": "neuroq.ros_nodes.event_node"}


def test_event_launch_declares_camera_and_event_node():
    plan = load_launch(LAUNCH, {"artifact": "/a", "max_episodes": "3"})
    assert [(n.executable, n.name) for n in plan.nodes] == [
        ("neuroq_event_camera", "neuroq_event_camera"),
        ("neuroq_event_node", "neuroq_event_policy")]
    cam, node = (n.parameter_files[0] for n in plan.nodes)
    assert cam["max_episodes"] == 3 and cam["env_id"] == node["env_id"]
    assert node["artifact"] == "/a" and node["backend"] == "emulator"


def test_event_launch_runs_the_loop_with_the_in_process_returns(tmp_path, monkeypatch):
    """Returns over DDS between two processes equal neuroq.deploy.evaluate's in this process
    (same seeds): the node sees the same events in the same time bins."""
    monkeypatch.setenv("ROS_DOMAIN_ID", str(DOMAIN_ID))
    artifact = make_event_artifact(tmp_path / "artifact")
    plan = load_launch(LAUNCH, {"artifact": str(artifact), "max_episodes": "2",
                                "max_steps": "30", "seed": "4"})
    overrides = {exe: [sys.executable, "-m", mod] for exe, mod in MODULES.items()}

    def probe_factory(ctx):
        probe = Probe(ctx)
        probe.watch(Float64, "episode_return", latched_qos())
        return probe

    with spinning(probe_factory) as (probe,), \
            LaunchedNodes(plan, tmp_path / "logs", overrides) as run:
        # the camera logs each return (12 digits); it also publishes them latched, which a
        # probe that is discovered late may still miss once the camera process has ended
        def logged() -> list[float]:
            return [float(r) for r in RETURN_LINE.findall(run.log("neuroq_event_camera"))]

        ok = wait_until(lambda: len(logged()) >= 2, 40.0, 0.05)
        assert ok, {name: run.log(name)[-2000:] for name in run.processes}
        returns = logged()
        wait_until(lambda: len(probe.messages("episode_return")) >= 2, 5.0)
        got = [m.data for _, m in probe.messages("episode_return")]
        assert got == pytest.approx(returns[len(returns) - len(got):])
    policy = load_policy(artifact, backend="emulator")
    reference = evaluate(policy, episodes=2, seed=4, max_steps=30)["returns"]
    assert returns == pytest.approx(reference, rel=1e-10)
