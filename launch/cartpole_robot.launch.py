"""A real cart-pole: policy and actuator only; the robot's own drivers publish joint states.

    ros2 launch neuroq cartpole_robot.launch.py backend:=spinnaker2 artifact:=/path/to/artifact \
        joint_states:=/joint_states joint_commands:=/effort_controller/joint_commands

Parameters come from config/cartpole_robot.yaml; the topic arguments remap the nodes' topics
onto the robot's.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    params = PathJoinSubstitution([FindPackageShare("neuroq"), "config", "cartpole_robot.yaml"])
    return LaunchDescription([
        DeclareLaunchArgument(
            "backend", default_value="emulator",
            choices=["emulator", "reference", "spinnaker2"],
            description="where the spiking Q-network runs"),
        DeclareLaunchArgument(
            "artifact",
            default_value=PathJoinSubstitution(
                [FindPackageShare("neuroq"), "artifacts", "cartpole"]),
            description="deploy artifact of a CartPole-v1 policy"),
        DeclareLaunchArgument(
            "joint_states", default_value="joint_states",
            description="topic the robot publishes sensor_msgs/JointState on"),
        DeclareLaunchArgument(
            "joint_commands", default_value="joint_commands",
            description="topic the robot takes effort commands (sensor_msgs/JointState) on"),
        Node(package="neuroq", executable="neuroq_policy_node", name="neuroq_policy",
             parameters=[params, {"backend": LaunchConfiguration("backend"),
                                  "artifact": LaunchConfiguration("artifact")}],
             remappings=[("joint_states", LaunchConfiguration("joint_states"))],
             output="screen"),
        Node(package="neuroq", executable="neuroq_actuator_node", name="neuroq_actuator",
             parameters=[params],
             remappings=[("joint_commands", LaunchConfiguration("joint_commands"))],
             output="screen"),
    ])
