"""Keep DDS on loopback, on a domain of this test run's own (docs/ros.md, "Keeping DDS on
loopback").

Set at import time, before any test module imports rclpy; child processes inherit it. A
ROS_DOMAIN_ID already in the environment is kept (.ci/run picks one at random; several test
runs on one machine should each set their own), else one is taken from the process id.
"""

import os

# ROS 2 domain ids 0-101 are safe on Linux.
ROS_DOMAIN_IDS = 102

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % ROS_DOMAIN_IDS))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def neuroq_prefix(tmp_path_factory):
    """An install prefix of this checkout (robot profile, links to the sources), built once:
    the launch files resolve FindPackageShare and executables against it."""
    from tests.helpers.launch_prefix import source_prefix

    return source_prefix(tmp_path_factory.mktemp("prefix"))


@pytest.fixture(scope="session")
def launch_environ(neuroq_prefix):
    """This process's environment with `neuroq_prefix` on AMENT_PREFIX_PATH."""
    from tests.helpers.launch_runner import environ_with_prefix

    return environ_with_prefix(neuroq_prefix)
