"""A real TurtleBot3-class robot: policy and actuator only; the robot's drivers do the rest.

    ros2 launch neuroq nav_robot.launch.py artifact:=/path/to/artifact \
        scan:=/scan odom:=/odom cmd_vel:=/cmd_vel goal_pose:=/goal_pose

The robot's drivers publish sensor_msgs/LaserScan (scan) and nav_msgs/Odometry (odom) and
take geometry_msgs/TwistStamped (cmd_vel); a goal comes as geometry_msgs/PoseStamped on
goal_pose (RViz's "2D Goal Pose" tool sends one) in the odometry's frame. The topic
arguments remap the nodes' topics onto the robot's; `interface` names another robot
interface file (default: the shipped config/interfaces/nav.yaml, TurtleBot3 Burger numbers).
Parameters come from config/nav_robot.yaml. A policy that exits is started again after
POLICY_RESPAWN_DELAY_S (2 s); while it is down, the actuator's watchdog keeps the zero twist
going out. The launch ends when the actuator exits.

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
    params = PathJoinSubstitution([FindPackageShare("neuroq"), "config", "nav_robot.yaml"])
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
            "interface", default_value="nav",
            description="robot interface: a name in config/interfaces/ or a YAML file"),
        DeclareLaunchArgument("scan", default_value="scan",
                              description="topic of the robot's sensor_msgs/LaserScan"),
        DeclareLaunchArgument("odom", default_value="odom",
                              description="topic of the robot's nav_msgs/Odometry"),
        DeclareLaunchArgument("goal_pose", default_value="goal_pose",
                              description="topic of the goal (geometry_msgs/PoseStamped)"),
        DeclareLaunchArgument("cmd_vel", default_value="cmd_vel",
                              description="topic the base takes geometry_msgs/TwistStamped on"),
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
             remappings=[("scan", LaunchConfiguration("scan")),
                         ("odom", LaunchConfiguration("odom")),
                         ("goal_pose", LaunchConfiguration("goal_pose"))],
             output="screen", respawn=True, respawn_delay=POLICY_RESPAWN_DELAY_S),
        Node(package="neuroq", executable="neuroq_actuator_node", name="neuroq_actuator",
             namespace=LaunchConfiguration("namespace"),
             parameters=[params, {"interface": text("interface")}],
             remappings=[("cmd_vel", LaunchConfiguration("cmd_vel"))],
             output="screen", on_exit=Shutdown()),
    ])
