"""Your robot's side of the loop, in one file: a minimal rclpy client for neuroq's nodes.

neuroq's policy node reads the topics a robot interface names (here the shipped
config/interfaces/cartpole.yaml) and its actuator node answers each reading with one
command. This client is what your robot's driver does, with a Gymnasium CartPole standing
in for the hardware:

1. read the state and publish it as the interface's trigger source (sensor_msgs/JointState
   on `joint_states`: `cart_slider` and `pole_hinge`, position and velocity), stamped with
   the time the state was read;
2. wait for the command on `joint_commands` whose `header.stamp` is that reading's (the
   actuator copies the reading's stamp into it; other commands, such as the watchdog's safe
   command, carry other stamps and are not answers);
3. apply it (here: map the effort back to CartPole's push and step), and go to 1.

Publishing every reading only after the previous answer (lockstep) makes the run
reproducible: the returns equal `neuroq eval` on the same seeds. A real robot publishes at
its own rate instead and applies whatever command is newest; the watchdog then stops it
when answers stop (docs/ros.md, "Safety").

Run it beside the nodes, with the same ROS_DOMAIN_ID and DDS kept on this machine:

    export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=42
    neuroq_policy_node --ros-args -p artifact:=config/artifacts/cartpole &
    neuroq_actuator_node --ros-args -p artifact:=config/artifacts/cartpole &
    python examples/cartpole_robot_client.py --episodes 3 --seed 1000

It needs rclpy and the sensor_msgs wheels only (no neuroq import), as a driver would.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState

#: Joint names the cartpole interface reads (config/interfaces/cartpole.yaml).
JOINTS = ("cart_slider", "pole_hinge")
#: Efforts of the interface's two actions, N: push left (action 0), push right (action 1).
EFFORTS = (-10.0, 10.0)
#: Seconds to wait for the answer to a reading before publishing it again.
ANSWER_TIMEOUT_S = 1.0


class CartPoleRobot(Node):
    """Publishes readings and takes the commands that answer them."""

    def __init__(self, context=None) -> None:
        super().__init__("cartpole_robot_client", context=context)
        # sensors: best effort, as the policy node subscribes; commands: reliable
        self.readings = self.create_publisher(
            JointState, "joint_states", QoSProfile(depth=10,
                                                   reliability=ReliabilityPolicy.BEST_EFFORT))
        self.create_subscription(JointState, "joint_commands", self._on_command,
                                 QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.waiting_for = None  # the stamp of the reading awaiting its answer
        self.answer = None  # the action of that answer, once it came
        self.unanswered = 0  # readings published again for want of an answer

    def publish_state(self, state) -> None:
        """Publish the CartPole state (x, x_dot, theta, theta_dot) as joint states."""
        if not self.context.ok():  # shut down by a signal meanwhile (during env.step)
            raise ExternalShutdownException
        msg = JointState(name=list(JOINTS), position=[float(state[0]), float(state[2])],
                         velocity=[float(state[1]), float(state[3])])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.waiting_for = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        self.answer = None
        self.readings.publish(msg)

    def _on_command(self, msg: JointState) -> None:
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        if stamp != self.waiting_for or list(msg.name) != [JOINTS[0]] or not msg.effort:
            return  # not the answer to our reading (e.g. the watchdog's safe command)
        effort = float(msg.effort[0])
        self.answer = min(range(len(EFFORTS)), key=lambda a: abs(EFFORTS[a] - effort))


def play(robot: CartPoleRobot, episodes: int, seed: int, spin) -> list[float]:
    """Play `episodes` CartPole episodes (episode k reset with seed + k) in lockstep with
    the nodes; `spin(timeout_s)` lets the node take its messages. Returns the returns."""
    env = gym.make("CartPole-v1")
    returns = []
    for k in range(episodes):
        state, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            robot.publish_state(state)
            deadline = time.monotonic() + ANSWER_TIMEOUT_S
            while robot.answer is None:
                if time.monotonic() > deadline:  # lost: read again, publish with a new stamp
                    robot.unanswered += 1
                    if robot.unanswered in (1, 10, 100):  # said, not waited on in silence
                        print(f"no answer to a reading in {ANSWER_TIMEOUT_S:g} s "
                              f"({robot.unanswered} so far): are neuroq_policy_node and "
                              "neuroq_actuator_node running, on this ROS_DOMAIN_ID? "
                              "Publishing it again.", flush=True)
                    robot.publish_state(state)
                    deadline = time.monotonic() + ANSWER_TIMEOUT_S
                spin(0.01)
            state, reward, terminated, truncated, _ = env.step(robot.answer)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        print(f"episode {k} (seed {seed + k}): return {total:.1f}", flush=True)
    env.close()
    return returns


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=1000, help="episode k resets with seed + k")
    args = p.parse_args()
    rclpy.init()
    robot = CartPoleRobot()
    try:
        waited = time.monotonic()
        while robot.count_subscribers("joint_states") == 0:  # the policy node is up
            rclpy.spin_once(robot, timeout_sec=0.1)
            if waited is not None and time.monotonic() - waited > 2.0:  # not only discovery
                print("waiting for neuroq_policy_node (nothing subscribes to joint_states)",
                      flush=True)
                waited = None
        play(robot, args.episodes, args.seed,
             lambda t: rclpy.spin_once(robot, timeout_sec=t))
    except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C, SIGTERM
        pass
    finally:
        robot.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
