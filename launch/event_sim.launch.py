"""DVS pan tracking in simulation: simulated event camera and the event policy node.

    ros2 launch neuroq event_sim.launch.py max_episodes:=10

The camera (neuroq_event_camera) runs neuroq/DVSPanTrackingPooled-v0 and publishes its DVS
events as 1 ms evt3 EventPackets on `events`; the event node (neuroq_event_node) decodes
them, feeds each event to the spiking policy as an input spike and publishes `action`,
which the camera steps the env with (lockstep). Returns on `episode_return`.
`artifact` defaults to the event artifact the package ships
(share/neuroq/artifacts/dvs_pan_tracking). The launch ends when either node exits: the
camera after `max_episodes` episodes (0: it never stops), or an event node that fails.
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
    return LaunchDescription([
        DeclareLaunchArgument(
            "artifact",
            default_value=PathJoinSubstitution(
                [FindPackageShare("neuroq"), "artifacts", "dvs_pan_tracking"]),
            description="deploy artifact with the event encoder (neuroq export of a network "
                        "converted with --encoder event)"),
        DeclareLaunchArgument(
            "backend", default_value="emulator", choices=["emulator", "reference"],
            description="where the spiking Q-network runs"),
        DeclareLaunchArgument("max_episodes", default_value="0",
                              description="episodes the camera runs, then the launch ends "
                                          "(0: never stops)"),
        DeclareLaunchArgument("max_steps", default_value="0",
                              description="steps per episode (0: the env's own 200)"),
        DeclareLaunchArgument("seed", default_value="0",
                              description="seed of episode 0; episode k uses seed + k"),
        DeclareLaunchArgument("linger_s", default_value="2.0",
                              description="seconds (a float, e.g. 5.0) the camera keeps "
                                          "serving its latched returns after max_episodes"),
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="ROS namespace of every node launched here, one per robot's "
                        "stack (robot1: /robot1/action, ...; empty: the root)"),
        Node(package="neuroq", executable="neuroq_event_camera", name="neuroq_event_camera",
             namespace=LaunchConfiguration("namespace"),
             parameters=[{"env_id": "neuroq/DVSPanTrackingPooled-v0",
                          "max_episodes": LaunchConfiguration("max_episodes"),
                          "max_steps": LaunchConfiguration("max_steps"),
                          "seed": LaunchConfiguration("seed"),
                          "linger_s": LaunchConfiguration("linger_s"), "packet_us": 1000}],
             output="screen", on_exit=Shutdown()),
        Node(package="neuroq", executable="neuroq_event_node", name="neuroq_event_policy",
             namespace=LaunchConfiguration("namespace"),
             parameters=[{"artifact": text("artifact"),
                          "backend": LaunchConfiguration("backend"),
                          "env_id": "neuroq/DVSPanTrackingPooled-v0",
                          # the simulated camera publishes reliable: lossless lockstep
                          "reliable": True}],
             output="screen", on_exit=Shutdown()),
    ])
