"""Keep DDS on loopback, on a domain of this test run's own (design/ROS2.md).

Set at import time, before any test module imports rclpy; child processes inherit it.
"""

import os

# ROS 2 domain ids 0-101 are safe on Linux; spread runs over them by process id.
ROS_DOMAIN_IDS = 102

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = str(os.getpid() % ROS_DOMAIN_IDS)
