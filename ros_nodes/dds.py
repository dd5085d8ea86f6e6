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


#: Fast DDS's shared-memory segment of one participant: /dev/shm/fastdds_<16 hex digits>,
#: beside its lock file <name>_el (the shared port files, fastdds_port<N>, are left alone:
#: the next participant that opens a port cleans up after a dead one).
_SEGMENT = re.compile(r"^/dev/shm/(fastdds_[0-9a-f]{16})$")


def remove_own_segments(maps: str = "/proc/self/maps") -> list[str]:
    """Unlink the shared-memory segments this process's Fast DDS participants mapped (and
    their lock files); for a process that ends without tearing DDS down
    (`neuroq.ros_nodes.process`), which would otherwise leave them in /dev/shm. Returns
    the names removed; nothing on a system without /proc or without such segments."""
    try:
        with open(maps, encoding="utf-8", errors="replace") as lines:
            names = {m.group(1) for line in lines
                     if (m := _SEGMENT.match(line.rsplit(None, 1)[-1] if line.strip() else ""))}
    except OSError:
        return []
    removed = []
    for name in sorted(names):
        for path in (f"/dev/shm/{name}", f"/dev/shm/{name}_el"):
            try:
                os.unlink(path)
                removed.append(os.path.basename(path))
            except OSError:
                pass
    return removed
