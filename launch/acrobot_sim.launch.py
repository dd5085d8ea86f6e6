"""Acrobot in simulation: simulated robot, spiking policy and actuator, over DDS.

    ros2 launch neuroq acrobot_sim.launch.py backend:=emulator

runs the Acrobot artifact the package ships (share/neuroq/artifacts/acrobot); pass
`artifact:=/path/to/artifact` for your own. Parameters come from config/acrobot_sim.yaml;
`backend` and `artifact` override it.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    params = PathJoinSubstitution([FindPackageShare("neuroq"), "config", "acrobot_sim.yaml"])
    return LaunchDescription([
        DeclareLaunchArgument(
            "backend", default_value="emulator",
            choices=["emulator", "reference", "spinnaker2"],
            description="where the spiking Q-network runs"),
        DeclareLaunchArgument(
            "artifact",
            default_value=PathJoinSubstitution(
                [FindPackageShare("neuroq"), "artifacts", "acrobot"]),
            description="deploy artifact of an Acrobot-v1 policy"),
        Node(package="neuroq", executable="neuroq_sim_robot", name="neuroq_sim_robot",
             parameters=[params], output="screen"),
        Node(package="neuroq", executable="neuroq_policy_node", name="neuroq_policy",
             parameters=[params, {"backend": LaunchConfiguration("backend"),
                                  "artifact": LaunchConfiguration("artifact")}],
             output="screen"),
        Node(package="neuroq", executable="neuroq_actuator_node", name="neuroq_actuator",
             parameters=[params], output="screen"),
    ])
