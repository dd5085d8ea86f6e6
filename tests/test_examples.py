"""The examples/ scripts, run as a user would run them against neuroq's nodes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from neuroq.deploy.evaluate import evaluate
from neuroq.deploy.policy import load_policy
from tests.helpers.ros import spinning, wait_until

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]
CARTPOLE = REPO / "config" / "artifacts" / "cartpole"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_robot_client_example_plays_the_returns_of_neuroq_eval():
    """examples/cartpole_robot_client.py (a robot's side written with rclpy alone, as an
    outsider asked for) against the real policy and actuator nodes: every reading answered,
    the returns those of `neuroq eval` on the same seeds."""
    import rclpy

    from neuroq.ros_nodes.actuator_node import ActuatorNode
    from neuroq.ros_nodes.policy_node import PolicyNode

    client = _example("cartpole_robot_client")
    params = [Parameter("artifact", value=str(CARTPOLE))]
    context = Context()
    rclpy.init(context=context)
    try:
        with spinning(lambda ctx: PolicyNode(context=ctx, parameter_overrides=params),
                      lambda ctx: ActuatorNode(context=ctx, parameter_overrides=params)):
            robot = client.CartPoleRobot(context=context)
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(robot)
            assert wait_until(lambda: robot.count_subscribers("joint_states") >= 1
                              and robot.count_publishers("joint_commands") >= 1, 10.0)
            returns = client.play(robot, 2, 1000, lambda t: executor.spin_once(timeout_sec=t))
            executor.shutdown()
            robot.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    expected = evaluate(load_policy(CARTPOLE), episodes=2, seed=1000)["returns"]
    assert returns == list(expected)
