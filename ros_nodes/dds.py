"""The Fast DDS profile of the neuroq node processes (config/fastdds/neuroq_nodes.xml).

`use_node_profile()` points Fast DDS at the shipped profile before rclpy starts, unless the
user configures Fast DDS already: it does nothing when RMW_IMPLEMENTATION names another
middleware, when FASTDDS_DEFAULT_PROFILES_FILE, FASTRTPS_DEFAULT_PROFILES_FILE,
RMW_FASTRTPS_USE_QOS_FROM_XML or RMW_FASTRTPS_PUBLICATION_MODE is set, when the working
folder holds DEFAULT_FASTDDS_PROFILES.xml or DEFAULT_FASTRTPS_PROFILES.xml (files Fast DDS
loads by itself), or when NEUROQ_FASTDDS_PROFILE is "0". With
RMW_FASTRTPS_USE_QOS_FROM_XML=1 rmw_fastrtps takes the history memory policy and the
publication mode from the XML and also leaves data sharing to it (rmw turns it off
itself otherwise): the profile turns it off too, so only the three settings below differ.
The profile makes readers free each sample's buffer after it is taken (DYNAMIC history
memory) instead of keeping buffers as large as the largest message ever received, so a
node sent megabyte messages (a broken driver, a fuzzer) does not grow; it publishes
synchronously; and its participants do not propagate XTypes type information
(`fastdds.type_propagation` "disabled"), so no peer asks a node for its types over Fast
DDS's TypeLookup service: Fast DDS 3.2 could crash (SIGSEGV) tearing down a participant
while it answered such a request. Environment variables as the rmw_fastrtps README and the Fast DDS
documentation ("XML profiles", "Environment variables") define them.
"""

from __future__ import annotations

import os
import re

#: Fast DDS 3 reads its XML profiles from this file; FASTRTPS_... is the older name.
PROFILE_FILE_ENV = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
#: rmw_fastrtps takes the history memory policy and publication mode from XML when "1".
USE_QOS_FROM_XML_ENV = "RMW_FASTRTPS_USE_QOS_FROM_XML"
#: rmw_fastrtps's own switch of the publication mode (ignored in XML mode: so left alone).
PUBLICATION_MODE_ENV = "RMW_FASTRTPS_PUBLICATION_MODE"
#: Profile files Fast DDS loads from the working folder without any variable.
WORKING_FOLDER_PROFILES = ("DEFAULT_FASTDDS_PROFILES.xml", "DEFAULT_FASTRTPS_PROFILES.xml")
#: "0" leaves Fast DDS as rmw_fastrtps configures it.
SWITCH_ENV = "NEUROQ_FASTDDS_PROFILE"
FASTDDS_RMWS = ("rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")
PROFILE_NAME = "fastdds/neuroq_nodes.xml"


def use_node_profile() -> str | None:
    """Set the environment so that Fast DDS loads the shipped profile (call before rclpy
    starts); returns its path, or None where it is not used (module docstring)."""
    if os.environ.get(SWITCH_ENV, "1") == "0":
        return None
    if os.environ.get("RMW_IMPLEMENTATION", FASTDDS_RMWS[0]) not in FASTDDS_RMWS:
        return None
    if any(os.environ.get(k) for k in (*PROFILE_FILE_ENV, USE_QOS_FROM_XML_ENV,
                                       PUBLICATION_MODE_ENV)):
        return None  # the user's own Fast DDS configuration
    if any(os.path.exists(name) for name in WORKING_FOLDER_PROFILES):
        return None
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.paths import shipped_data

    try:
        path = shipped_data().config_file(PROFILE_NAME)
    except NeuroqError:
        return None  # an install without it: rmw_fastrtps's defaults
    os.environ[PROFILE_FILE_ENV[0]] = str(path)
    os.environ[USE_QOS_FROM_XML_ENV] = "1"
    return str(path)


#: The lock file of one participant's Fast DDS shared-memory segment,
#: /dev/shm/fastdds_<16 hex digits>_el: its owner keeps it open (and locked) for the
#: segment's life. Only the owner does: a process also maps the segments of the peers it
#: receives from, so the mapped files cannot tell its own from theirs.
_SEGMENT_LOCK = re.compile(r"^/dev/shm/(fastdds_[0-9a-f]{16})_el$")


def own_segments(fd_dir: str = "/proc/self/fd") -> list[str]:
    """Names of the Fast DDS shared-memory segments this process owns: those whose lock
    file it holds open (`_SEGMENT_LOCK`). Empty on a system without /proc."""
    names = set()
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return []
    for fd in fds:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:  # closed since the listing
            continue
        if m := _SEGMENT_LOCK.match(target):
            names.add(m.group(1))
    return sorted(names)


def remove_own_segments(fd_dir: str = "/proc/self/fd", shm_dir: str = "/dev/shm") -> list[str]:
    """Unlink this process's own Fast DDS shared-memory segments and their lock files
    (`own_segments`), for a process that ends without tearing DDS down
    (`neuroq.ros_nodes.process`), which would otherwise leave them in /dev/shm. Peers'
    segments it has mapped are left alone, and so are the port files (fastdds_port<N>,
    shared by the participants that listen on a port; a later participant that opens the
    same port takes them over). Returns the names removed."""
    removed = []
    for name in own_segments(fd_dir):
        for file in (name, f"{name}_el"):
            try:
                os.unlink(os.path.join(shm_dir, file))
                removed.append(file)
            except OSError:
                pass
    return removed
