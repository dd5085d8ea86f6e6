"""package.xml declares every runtime dependency rosdep can install, and nothing else.

The robot side's imports (ros_nodes/, launch/ and what they run: deploy/, envs/) are read
with ast, lazy imports inside functions included; each maps to its rosdep key (ROS packages
by name, Python packages by their rosdep/python.yaml key). The nodes import message packages
by name too (`neuroq.ros_nodes.messages.message_class`): every package a shipped robot
interface (config/interfaces/*.yaml) names counts as imported. setup.py's install_requires (the
same runtime, for pip) must map to declared keys as well. Packages without a key are listed
here with how they are installed instead (docs/ros.md, "On a robot").
"""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET

from neuroq.ros_nodes.messages import EVENT_PACKET
from tests.helpers import REPO_ROOT
from tests.helpers.launch_prefix import setup_keywords

ROBOT_SIDE = ("ros_nodes", "launch", "deploy", "envs")
#: import name (or pip name) -> rosdep key
ROSDEP_KEYS = {
    "rclpy": "rclpy", "rcl_interfaces": "rcl_interfaces", "std_msgs": "std_msgs",
    "sensor_msgs": "sensor_msgs", "geometry_msgs": "geometry_msgs", "nav_msgs": "nav_msgs",
    "diagnostic_msgs": "diagnostic_msgs", "event_camera_msgs": "event_camera_msgs",
    "launch": "launch", "launch_ros": "launch_ros",
    "numpy": "python3-numpy", "yaml": "python3-yaml", "pyyaml": "python3-yaml",
    "h5py": "python3-h5py", "psutil": "python3-psutil", "tqdm": "python3-tqdm",
    "gymnasium": "python3-gymnasium-pip",
}
#: no rosdep key: how they are installed instead
NO_KEY = {
    "nir": "pip install nir (docs/ros.md)",
    "aedat": "optional, AEDAT 4 files only: pip install aedat (the events extra)",
    "evt3": "pip install evt3 where it has wheels (Linux x86_64); elsewhere the numpy "
            "EVT 3.0 decoder runs (docs/events.md)",
    "spinnaker2": "optional, the board backend: py-spinnaker2 is not on PyPI",
}
#: declared without being imported: the `ros2 launch` command
COMMANDS = {"ros2launch"}


def message_types_named() -> set[str]:
    """Message types the robot side's code names as "pkg_msgs/Type" strings, which it takes
    by name (message_class: the event nodes and replay take EventPacket so, so that a venv
    without its package still answers --help and says where it comes from)."""
    import re

    named = set()
    for folder in ROBOT_SIDE:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and re.fullmatch(r"[a-z_]+_msgs/[A-Z][A-Za-z0-9]*", node.value):
                    named.add(node.value)
    return named


def exec_depends() -> set[str]:
    root = ET.parse(REPO_ROOT / "package.xml").getroot()
    return {e.text.strip() for e in root.iter("exec_depend")}


def robot_side_imports() -> dict[str, set[str]]:
    """Top-level third-party modules imported by the robot side -> files importing them."""
    found: dict[str, set[str]] = {}
    for folder in ROBOT_SIDE:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top != "neuroq":
                        found.setdefault(top, set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def interface_packages() -> dict[str, set[str]]:
    """Message packages the shipped robot interfaces name -> the files naming them."""
    import yaml

    found: dict[str, set[str]] = {}
    for path in sorted((REPO_ROOT / "config" / "interfaces").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for typ in [s["type"] for s in doc["sources"]] + [doc["command"]["type"]]:
            found.setdefault(typ.split("/")[0], set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def _pip_name(requirement: str) -> str:
    for stop in "<>=![; ":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower()


def test_every_robot_side_import_is_declared_or_has_no_key():
    imports = robot_side_imports()
    for package, files in interface_packages().items():
        imports.setdefault(package, set()).update(files)
    assert "nav_msgs" in imports
    assert {"rclpy", "launch", "launch_ros", "numpy", "gymnasium"} <= set(imports)  # scanned
    unknown = {m: sorted(f) for m, f in imports.items() if m not in ROSDEP_KEYS | NO_KEY}
    assert not unknown, f"imports with no rosdep key mapped here: {unknown}"
    missing = {ROSDEP_KEYS[m]: sorted(f) for m, f in imports.items()
               if m in ROSDEP_KEYS and ROSDEP_KEYS[m] not in exec_depends()}
    assert not missing, f"package.xml lacks exec_depend for {missing}"


def test_install_requires_and_package_xml_agree():
    """What pip installs for the robot side is what rosdep installs (nir: no key)."""
    requires = {_pip_name(r) for r in setup_keywords("robot")["install_requires"]}
    keys = {ROSDEP_KEYS[r] for r in requires if r not in NO_KEY}
    assert keys <= exec_depends(), sorted(keys - exec_depends())
    assert requires - set(ROSDEP_KEYS) <= set(NO_KEY)


def test_every_declared_dependency_is_used():
    used = {ROSDEP_KEYS[m] for m in [*robot_side_imports(), *interface_packages()]
            if m in ROSDEP_KEYS}
    requires = {_pip_name(r) for r in setup_keywords("robot")["install_requires"]}
    used |= {ROSDEP_KEYS[r] for r in requires if r in ROSDEP_KEYS} | COMMANDS
    used |= {ROSDEP_KEYS[t.split("/")[0]] for t in message_types_named()
             if t.split("/")[0] in ROSDEP_KEYS}
    assert EVENT_PACKET in message_types_named()  # the scan sees what the nodes name
    assert exec_depends() == used, (sorted(exec_depends() - used), sorted(used - exec_depends()))
