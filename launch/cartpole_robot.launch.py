"""A real cart-pole: policy and actuator only; the robot's own drivers publish joint states.

    ros2 launch neuroq cartpole_robot.launch.py backend:=spinnaker2 board_ip:=<address> \
        artifact:=/path/to/artifact \
        joint_states:=/joint_states joint_commands:=/effort_controller/joint_commands

Parameters come from config/cartpole_robot.yaml; the topic arguments remap the nodes' topics
onto the robot's; `interface` names your robot's interface file (default: the shipped
config/interfaces/cartpole.yaml, JointState in and out). A policy that exits is started
again after POLICY_RESPAWN_DELAY_S (2 s; every time: a failure to activate is logged and
shown in /diagnostics each time); while it is down, the actuator's watchdog keeps sending
the safe command. Shutting the launch down
instead would stop the actuator too, and with it the safe command. The launch ends when the
actuator exits.

Two robots: one launch each with its own namespace (namespace:=robot1, namespace:=robot2);
two without put two policies on one `action`, and the actuators command neither.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

#: seconds between a policy's exit and its restart
POLICY_RESPAWN_DELAY_S = 2.0


def text(name):
    """Launch argument `name` as a string parameter: never read as YAML, as a bare
    substitution is (a folder named 2025-01-01 would be a date, which launch refuses, and
    123 an integer, which the node refuses)."""
    return ParameterValue(LaunchConfiguration(name), value_type=str)


def generate_launch_description():
    params = PathJoinSubstitution([FindPackageShare("neuroq"), "config", "cartpole_robot.yaml"])
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
                [FindPackageShare("neuroq"), "artifacts", "cartpole"]),
            description="deploy artifact of a CartPole-v1 policy"),
        DeclareLaunchArgument(
            "joint_states", default_value="joint_states",
            description="topic the robot publishes sensor_msgs/JointState on"),
        DeclareLaunchArgument(
            "joint_commands", default_value="joint_commands",
            description="topic the robot takes commands on (of the interface's command "
                        "type: sensor_msgs/JointState efforts for the shipped one)"),
        DeclareLaunchArgument(
            "interface", default_value="cartpole",
            description="robot interface: a name in config/interfaces/ or a YAML file of "
                        "your robot's topics, fields and commands (docs/interface.md)"),
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="ROS namespace of every node launched here, one per robot's "
                        "stack (robot1: /robot1/action, ...; empty: the root)"),
        Node(package="neuroq", executable="neuroq_policy_node", name="neuroq_policy",
             namespace=LaunchConfiguration("namespace"),
             parameters=[params, {"backend": LaunchConfiguration("backend"),
                                  "artifact": text("artifact"),
                                  "board_ip": text("board_ip"),
                                  "interface": text("interface")}],
             remappings=[("joint_states", LaunchConfiguration("joint_states"))],
             output="screen", respawn=True, respawn_delay=POLICY_RESPAWN_DELAY_S),
        Node(package="neuroq", executable="neuroq_actuator_node", name="neuroq_actuator",
             namespace=LaunchConfiguration("namespace"),
             parameters=[params, {"interface": text("interface")}],
             remappings=[("joint_commands", LaunchConfiguration("joint_commands"))],
             output="screen", on_exit=Shutdown()),
    ])
