"""The mobile robot in simulation: simulated TurtleBot3-class robot, spiking policy, actuator.

    ros2 launch neuroq nav_sim.launch.py backend:=emulator max_episodes:=5

runs the navigation artifact the package ships (share/neuroq/artifacts/nav) unless
`artifact` names another. The simulated robot (neuroq/DiffDriveNav-v0) publishes
sensor_msgs/LaserScan on scan, nav_msgs/Odometry on odom and the goal
(geometry_msgs/PoseStamped) on goal_pose, and takes geometry_msgs/TwistStamped on cmd_vel,
as the robot interface config/interfaces/nav.yaml declares. Parameters come from
config/nav_sim.yaml; `backend`, `artifact`, `board_ip`, `control_rate_hz` and `seed`
override it. The launch ends when any of the three nodes exits (a policy that fails to
activate, or the sim robot after `max_episodes`).
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
    params = PathJoinSubstitution([FindPackageShare("neuroq"), "config", "nav_sim.yaml"])
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
            default_value=PathJoinSubstitution([FindPackageShare("neuroq"), "artifacts", "nav"]),
            description="deploy artifact of a neuroq/DiffDriveNav-v0 policy"),
        DeclareLaunchArgument(
            "max_episodes", default_value="0",
            description="episodes the sim robot runs before the launch ends (0: never)"),
        DeclareLaunchArgument(
            "control_rate_hz", default_value="5.0",
            description="scans per second (5: the LDS-01's rate, real time)"),
        DeclareLaunchArgument(
            "seed", default_value="0", description="seed of episode 0; episode k uses seed + k"),
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="ROS namespace of every node launched here, one per robot's "
                        "stack (robot1: /robot1/action, ...; empty: the root)"),
        Node(package="neuroq", executable="neuroq_sim_robot", name="neuroq_sim_robot",
             namespace=LaunchConfiguration("namespace"),
             parameters=[params, {"max_episodes": LaunchConfiguration("max_episodes"),
                                  "control_rate_hz": LaunchConfiguration("control_rate_hz"),
                                  "seed": LaunchConfiguration("seed"),
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
