"""ROS 2 nodes: thin rclpy adapters over `deploy` and `envs`. The only place rclpy is imported."""

from neuroq.ros_nodes.entry import cover_python_m

# `python -m neuroq.ros_nodes.<node>`: a stop signal while the node's module still imports
# ends it with status 0, as the executables do (entry.py)
cover_python_m()
