"""The node processes' Fast DDS profile: used unless the user configures Fast DDS (or another
middleware) already, and a well-formed profile with the settings docs/ros.md states."""

import xml.etree.ElementTree as ET

import pytest

from neuroq.ros_nodes import dds

ENV = ("RMW_IMPLEMENTATION", "NEUROQ_FASTDDS_PROFILE", *dds.PROFILE_FILE_ENV,
       dds.USE_QOS_FROM_XML_ENV, dds.PUBLICATION_MODE_ENV)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No Fast DDS variable set, a working folder without profile files; every variable
    `use_node_profile` may set is restored (unset) afterwards, so that no later test runs
    rclpy under the profile."""
    for name in ENV:
        monkeypatch.setenv(name, "")  # recorded: restored after the test
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_the_shipped_profile_is_used_by_default(clean_env):
    import os

    path = dds.use_node_profile()
    assert path is not None and path.endswith("config/fastdds/neuroq_nodes.xml")
    assert os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] == path
    assert os.environ["RMW_FASTRTPS_USE_QOS_FROM_XML"] == "1"
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(path).getroot()
    reader = root.find("d:profiles/d:data_reader[@is_default_profile='true']", ns)
    writer = root.find("d:profiles/d:data_writer[@is_default_profile='true']", ns)
    assert reader.find("d:historyMemoryPolicy", ns).text == "DYNAMIC"
    assert writer.find("d:qos/d:publishMode/d:kind", ns).text == "SYNCHRONOUS"
    assert writer.find("d:historyMemoryPolicy", ns).text == "PREALLOCATED_WITH_REALLOC"
    for endpoint in (reader, writer):  # as rmw_fastrtps sets it outside XML mode
        assert endpoint.find("d:qos/d:data_sharing/d:kind", ns).text == "OFF"
    participant = root.find("d:profiles/d:participant[@is_default_profile='true']", ns)
    properties = {p.find("d:name", ns).text: p.find("d:value", ns).text for p in
                  participant.findall("d:rtps/d:propertiesPolicy/d:properties/d:property", ns)}
    assert properties == {"fastdds.type_propagation": "disabled"}
    discovery = participant.find("d:rtps/d:builtin/d:discovery_config", ns)
    assert discovery.find("d:leaseDuration/d:sec", ns).text == "8"  # default 20 s
    assert discovery.find("d:leaseAnnouncement", ns) is None  # the default 3 s


_KILLED_PUBLISHER = """
import sys, time
from neuroq.ros_nodes.dds import use_node_profile
use_node_profile()
import rclpy
from sensor_msgs.msg import Joy
rclpy.init()
node = rclpy.create_node("doomed_policy")
pub = node.create_publisher(Joy, "action", 10)
print("up", flush=True)
while True:
    pub.publish(Joy(buttons=[0]))
    time.sleep(0.02)
"""


@pytest.mark.slow
def test_a_killed_node_is_forgotten_within_its_lease(tmp_path):
    """A policy SIGKILLed and respawned was counted beside its dead predecessor for 20 s
    (Fast DDS's default lease), a false "2 policies" WARN (an outsider). Under the profile
    the dead one leaves the count within the 8 s lease (measured 6.9 s; 18.8 s without)."""
    import subprocess
    import sys
    import time

    import rclpy
    from rclpy.context import Context

    proc = subprocess.Popen([sys.executable, "-c", _KILLED_PUBLISHER], stdout=subprocess.PIPE,
                            text=True)
    context = Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("lease_watcher", context=context)
        assert proc.stdout.readline().strip() == "up"
        start = time.monotonic()
        while node.count_publishers("action") < 1 and time.monotonic() - start < 20:
            time.sleep(0.05)
        assert node.count_publishers("action") == 1
        proc.kill()
        proc.wait(10)
        killed = time.monotonic()
        while node.count_publishers("action") and time.monotonic() - killed < 30:
            time.sleep(0.1)
        gone_s = time.monotonic() - killed
        assert gone_s < 8.0 + 1.5, f"the dead publisher was counted for {gone_s:.1f} s"
    finally:
        proc.kill()
        rclpy.try_shutdown(context=context)


def test_a_profile_file_in_the_working_folder_is_left_alone(clean_env, tmp_path):
    import os

    (tmp_path / "DEFAULT_FASTDDS_PROFILES.xml").write_text("<dds/>")
    assert dds.use_node_profile() is None
    assert not any(os.environ.get(k) for k in ENV)


@pytest.mark.parametrize(("name", "value"), [
    ("FASTDDS_DEFAULT_PROFILES_FILE", "/my/profile.xml"),
    ("FASTRTPS_DEFAULT_PROFILES_FILE", "/my/profile.xml"),
    ("RMW_FASTRTPS_USE_QOS_FROM_XML", "0"),
    ("RMW_IMPLEMENTATION", "rmw_cyclonedds_cpp"),
    ("NEUROQ_FASTDDS_PROFILE", "0"),
    ("RMW_FASTRTPS_PUBLICATION_MODE", "ASYNCHRONOUS"),
])
def test_a_users_own_configuration_is_left_alone(clean_env, name, value):
    import os

    clean_env.setenv(name, value)
    assert dds.use_node_profile() is None
    assert {k: os.environ.get(k) for k in ENV} == {k: (value if k == name else None)
                                                   for k in ENV}


def test_remove_own_segments_unlinks_only_the_segments_whose_lock_the_process_holds(
        tmp_path):
    """A process owns the segment whose lock file (<name>_el) it holds open; a peer's
    segment it has mapped, and the shared port files, are not its own."""
    ours, peer = "fastdds_00112233445566aa", "fastdds_ffeeddccbbaa9988"
    shm, fds = tmp_path / "shm", tmp_path / "fd"
    shm.mkdir()
    fds.mkdir()
    files = [ours, f"{ours}_el", peer, f"{peer}_el", "fastdds_port7000",
             "fastdds_port7000_el"]
    for name in files:
        (shm / name).write_bytes(b"")
    # what /proc/self/fd shows: our lock file, the port's lock, the peer's segment (mapped
    # files need not be open; one that is open must not count either) and a pipe
    for fd, target in (("3", f"/dev/shm/{ours}_el"), ("4", "/dev/shm/fastdds_port7000_el"),
                       ("5", f"/dev/shm/{peer}"), ("6", "pipe:[1234]")):
        (fds / fd).symlink_to(target)
    assert dds.own_segments(str(fds)) == [ours]
    assert dds.remove_own_segments(str(fds), str(shm)) == [ours, f"{ours}_el"]
    assert sorted(p.name for p in shm.iterdir()) == sorted(files[2:])
    assert dds.own_segments(str(tmp_path / "missing")) == []
