"""The mobile robot over ROS 2: launch/nav_sim.launch.py runs the simulated robot (LaserScan,
Odometry, the goal), the real policy node (emulator backend, a hand-made nav artifact) and
the actuator (TwistStamped) as processes, and the episodes end as they end in process on
the same seeds; launch/nav_robot.launch.py remaps the robot's topics."""

from __future__ import annotations

import contextlib

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("nav_msgs")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from geometry_msgs.msg import TwistStamped  # noqa: E402
from sensor_msgs.msg import LaserScan  # noqa: E402
from std_msgs.msg import Float64  # noqa: E402

from neuroq.deploy.evaluate import evaluate  # noqa: E402
from neuroq.deploy.policy import load_policy  # noqa: E402
from neuroq.ros_nodes.qos import command_qos, latched_qos, sensor_qos  # noqa: E402
from tests.helpers import REPO_ROOT  # noqa: E402
from tests.helpers.artifacts import make_nav_artifact  # noqa: E402
from tests.helpers.launch_harness import load_launch  # noqa: E402
from tests.helpers.launch_runner import LaunchedNodes  # noqa: E402
from tests.helpers.ros import Probe, spinning, wait_until  # noqa: E402

pytestmark = pytest.mark.ros

SIM_LAUNCH = REPO_ROOT / "launch" / "nav_sim.launch.py"
ROBOT_LAUNCH = REPO_ROOT / "launch" / "nav_robot.launch.py"
EPISODES = 4


def _outcomes(probe: Probe) -> list[dict[str, float]]:
    return [{kv.key: float(kv.value) for kv in m.values}
            for _, m in probe.messages("episode_outcome")]


@contextlib.contextmanager
def nav_policy(**parameters):
    """The real policy node on the nav interface with a stand-in network (it turns to the
    goal's bearing), a probe watching `action` with publishers for scan, odom and goal, and
    one tick's sensor data of DiffDriveNav (seed 5000): yields (node, probe, pubs, data)."""
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Odometry
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Joy

    from neuroq.deploy.interface import load_interface
    from neuroq.deploy.rollout import make_env
    from neuroq.ros_nodes.policy_node import PolicyNode
    from tests.helpers.stand_in_policy import StandInPolicy

    nav = load_interface("nav")
    policy = StandInPolicy(gains=[0.0] * 19 + [1.0, 0.0, 0.0], env_id=nav.env_id,
                           n_actions=nav.n_actions)

    def make_policy(ctx):
        return PolicyNode(lambda art, be: policy, context=ctx, parameter_overrides=[
            Parameter("artifact", value="stand-in"), Parameter("interface", value="nav"),
            *(Parameter(k, value=v) for k, v in parameters.items())])

    def probe_factory(ctx):
        probe = Probe(ctx)
        probe.watch(Joy, "action", command_qos(100))
        return probe

    env = make_env(nav.env_id).unwrapped
    env.reset(seed=5000)
    data = env.sensor_data()
    with spinning(make_policy, probe_factory) as (node, probe):
        pubs = {"scan": probe.create_publisher(LaserScan, "scan", sensor_qos()),
                "odom": probe.create_publisher(Odometry, "odom", sensor_qos()),
                "goal": probe.create_publisher(PoseStamped, "goal_pose", command_qos(1))}
        assert wait_until(lambda: all(p.get_subscription_count() for p in pubs.values()), 5.0)
        yield node, probe, pubs, data


@pytest.mark.parametrize("rate_hz", [20.0, pytest.param(5.0, marks=pytest.mark.slow)])
def test_nav_sim_launch_ends_each_episode_as_in_process(tmp_path, launch_environ, rate_hz):
    artifact = make_nav_artifact(tmp_path / "artifact")
    plan = load_launch(SIM_LAUNCH, {"artifact": str(artifact), "backend": "emulator",
                                    "max_episodes": str(EPISODES),
                                    "control_rate_hz": str(rate_hz), "seed": "5000"},
                       launch_environ)
    assert [n.name for n in plan.nodes] == ["neuroq_sim_robot", "neuroq_policy",
                                            "neuroq_actuator"]

    def probe_factory(ctx):
        probe = Probe(ctx)
        probe.watch(LaserScan, "scan", sensor_qos(100))
        probe.watch(TwistStamped, "cmd_vel", command_qos(1000))
        probe.watch(Float64, "episode_return", latched_qos())
        probe.watch(DiagnosticStatus, "episode_outcome", latched_qos())
        return probe

    with spinning(probe_factory) as (probe,), LaunchedNodes(plan, tmp_path) as run:
        ok = wait_until(lambda: len(probe.messages("episode_outcome")) >= EPISODES,
                        60.0 + 600.0 / rate_hz, 0.1)
        logs = {name: run.log(name) for name in run.processes}
        assert ok, logs
        assert run.wait(20.0), logs  # the sim robot exits when done; the launch ends
    scans = [m for _, m in probe.messages("scan")]
    assert scans and all(len(m.ranges) == 360 for m in scans)
    assert {m.header.frame_id for _, m in probe.messages("cmd_vel")} == {"base_link"}
    got = _outcomes(probe)
    reference = evaluate(load_policy(artifact), episodes=EPISODES, seed=5000)
    assert [o["seed"] for o in got] == list(range(5000, 5000 + EPISODES))
    # episode k (from 0, as eval counts) is seed + k; the log counted from 1 (an outsider)
    assert [m.name for _, m in probe.messages("episode_outcome")] == [
        f"episode {k}" for k in range(EPISODES)]
    assert [m.data for _, m in probe.messages("episode_return")] == reference["returns"]
    assert [bool(o["is_success"]) for o in got] == reference["success"]
    assert sum(o["collision"] for o in got) == reference["collisions"]
    assert run.returncodes["neuroq_sim_robot"] == 0, logs


def test_nav_robot_launch_remaps_the_robots_topics(launch_environ):
    plan = load_launch(ROBOT_LAUNCH, {"artifact": "/a/nav", "scan": "/base/scan",
                                      "odom": "/base/odom", "goal_pose": "/mission/goal",
                                      "cmd_vel": "/base/cmd_vel"}, launch_environ)
    policy, actuator = plan.nodes
    assert (policy.name, actuator.name) == ("neuroq_policy", "neuroq_actuator")
    assert dict(policy.remappings) == {"scan": "/base/scan", "odom": "/base/odom",
                                       "goal_pose": "/mission/goal"}
    assert dict(actuator.remappings) == {"cmd_vel": "/base/cmd_vel"}
    assert policy.parameter_files[1]["interface"] == "nav"
    assert policy.respawn and not actuator.respawn


def test_policy_node_makes_readings_from_several_sources_and_counts_what_it_drops():
    """A scan makes a reading only with an odometry at most 0.25 s old (config/interfaces/
    nav.yaml) and a goal in the odometry's frame; missing, stale and wrong-frame inputs are
    dropped and counted per source."""
    import time

    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Odometry

    from neuroq.ros_nodes.messages import fill

    with nav_policy() as (node, probe, pubs, data):
        def send(name: str, **changes) -> None:
            msg = {"scan": LaserScan, "odom": Odometry, "goal": PoseStamped}[name]()
            fill(msg, {**data[name], **changes})
            msg.header.stamp = probe.get_clock().now().to_msg()
            pubs[name].publish(msg)

        def received(n: int) -> bool:
            return node.stats()["readings_received"] >= n

        send("scan")  # no odometry yet
        assert wait_until(lambda: received(1), 5.0)
        send("odom")
        assert wait_until(lambda: node.stats()["received_odom"] == 1, 5.0)
        send("scan")  # no goal yet
        assert wait_until(lambda: received(2), 5.0)
        send("goal")
        assert wait_until(lambda: node.stats()["received_goal"] == 1, 5.0)
        send("odom")
        time.sleep(0.05)
        send("scan")  # fresh odometry and a goal: answered
        assert wait_until(lambda: len(probe.messages("action")) == 1, 5.0)
        time.sleep(0.4)
        send("scan")  # the odometry is 0.4 s old now
        assert wait_until(lambda: received(4), 5.0)
        send("goal", **{"header.frame_id": "map"})
        send("odom")
        time.sleep(0.05)
        send("scan")  # a goal in another frame
        assert wait_until(lambda: received(5), 5.0)
        time.sleep(0.2)
        stats = node.stats()
        node._last_reading_s = time.monotonic()  # the status of drops, not of a silence
        _, message = node._period_status(stats)
    assert len(probe.messages("action")) == 1
    # by reason: "dropped 5 malformed readings" was said of readings waiting for a goal
    assert message == ("dropped 4 readings: missing_goal 1, missing_odom 1, stale_odom 1, "
                       "wrong_frame 1"), message
    assert (stats["dropped_missing_odom"], stats["dropped_missing_goal"],
            stats["dropped_stale_odom"], stats["dropped_wrong_frame"]) == (1, 1, 1, 1)
    assert stats["dropped_inputs"] == 4 and stats["interface"] == "nav"


def test_sync_stamps_holds_a_scan_until_the_odometry_of_its_tick_arrives():
    """DDS orders messages per topic only. With sync_stamps, a scan that arrives before the
    odometry and goal of its tick waits for them and is answered with their data; a held scan
    replaced by a newer one is dropped as `unmatched`."""
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Odometry

    from neuroq.ros_nodes.messages import fill
    from neuroq.ros_nodes.qos import set_stamp

    with nav_policy(sync_stamps=True) as (node, probe, pubs, data):
        now = probe.get_clock().now().nanoseconds

        def send(name: str, stamp_ns: int) -> None:
            msg = {"scan": LaserScan, "odom": Odometry, "goal": PoseStamped}[name]()
            fill(msg, data[name])
            set_stamp(msg.header.stamp, stamp_ns)
            pubs[name].publish(msg)

        def counted(key: str, n: int) -> bool:
            return node.stats()[key] >= n

        t1, t2, t3 = now, now + 50_000_000, now + 100_000_000
        send("odom", t1)
        send("goal", t1)
        assert wait_until(lambda: counted("received_goal", 1), 5.0)
        send("scan", t2)  # its odometry and goal come after it
        assert wait_until(lambda: counted("readings_received", 1), 5.0)
        send("scan", t3)  # replaces the held one: t2 is never answered
        assert wait_until(lambda: counted("readings_received", 2), 5.0)
        assert probe.messages("action") == []
        send("goal", t3)
        assert wait_until(lambda: counted("received_goal", 2), 5.0)
        assert probe.messages("action") == []  # the odometry of t3 is still missing
        send("odom", t3)
        assert wait_until(lambda: len(probe.messages("action")) == 1, 5.0)
        stats = node.stats()
    (_, action), = probe.messages("action")
    assert action.header.stamp.sec * 1_000_000_000 + action.header.stamp.nanosec == t3
    assert stats["dropped_unmatched"] == 1 and stats["dropped_inputs"] == 1
