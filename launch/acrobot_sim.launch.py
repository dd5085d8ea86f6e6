"""Acrobot in simulation: simulated robot, spiking policy and actuator, over DDS.

    ros2 launch neuroq acrobot_sim.launch.py backend:=emulator

runs the Acrobot artifact the package ships (share/neuroq/artifacts/acrobot); pass
`artifact:=/path/to/artifact` for your own. Parameters come from config/acrobot_sim.yaml;
`backend`, `artifact` and `board_ip` (backend:=spinnaker2) override it. The launch ends when
any of the three nodes exits (a policy that fails to activate, or the sim robot after
`max_episodes`).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def text(name):
    """Launch argument `name` as a string parameter: never read as YAML, as a bare
    substitution is (a folder named 2025-01-01 would be a date, which launch refuses, and
    123 an integer, which the node refuses)."""
    return ParameterValue(LaunchConfiguration(name), value_type=str)


def generate_launch_description():
    params = PathJoinSubstitution([FindPackageShare("neuroq"), "config", "acrobot_sim.yaml"])
    return LaunchDescription([
        DeclareLaunchArgument(
            "backend", default_value="emulator",
            choices=["emulator", "reference", "spinnaker2"],
            description="where the spiking Q-network runs"),
        DeclareLaunchArgument(
            "board_ip", default_value="",
            description="SpiNNaker2 board address (backend:=spinnaker2 only)"),
        DeclareLaunchArgument(
            "artifact",
            default_value=PathJoinSubstitution(
                [FindPackageShare("neuroq"), "artifacts", "acrobot"]),
            description="deploy artifact of an Acrobot-v1 policy"),
        DeclareLaunchArgument(
            "max_episodes", default_value="0",
            description="episodes the sim robot runs before the launch ends (0: never)"),
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="ROS namespace of every node launched here, one per robot's "
                        "stack (robot1: /robot1/action, ...; empty: the root)"),
        Node(package="neuroq", executable="neuroq_sim_robot", name="neuroq_sim_robot",
             namespace=LaunchConfiguration("namespace"),
             parameters=[params, {"max_episodes": LaunchConfiguration("max_episodes"),
                                  "exit_when_done": True}],
             output="screen", on_exit=Shutdown()),
        Node(package="neuroq", executable="neuroq_policy_node", name="neuroq_policy",
             namespace=LaunchConfiguration("namespace"),
             parameters=[params, {"backend": LaunchConfiguration("backend"),
                                  "artifact": text("artifact"),
                                  "board_ip": text("board_ip")}],
             output="screen", on_exit=Shutdown()),
        Node(package="neuroq", executable="neuroq_actuator_node", name="neuroq_actuator",
             namespace=LaunchConfiguration("namespace"),
             parameters=[params], output="screen", on_exit=Shutdown()),
    ])
