"""ROS 2 messages <-> the plain data a `neuroq.deploy.interface.RobotInterface` works on.

The interface names message fields as dotted paths ("pose.pose.position.x", "ranges",
"header.frame_id"); here they are read from and written into message objects by walking
attributes, so no message type needs code of its own. Array fields (float32[] of a
LaserScan, float64[] of a JointState) are passed through as the sequences rclpy gives
(array.array or lists); the interface turns them into numpy arrays.

- `message_class(type_name)`: "sensor_msgs/LaserScan" -> the Python class (imported on
  first use, so a node only needs the message packages its interface names).
- `extract(msg, paths)` / `fill(msg, data)`: fields out of / into a message.
- `command_values(msg, command)` / `fill_command(msg, command, values)`: the channels of
  a command message (joint efforts by name, array slots, twist fields).
- `has_header(cls)`: whether messages of the class carry a std_msgs/Header.
- `event_packet(...)`: an event_camera_msgs/EventPacket as a driver sends one (the simulated
  camera and `neuroq replay`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.interface_spec import ARRAY_TYPES

_CLASSES: dict[str, Any] = {}
EVENT_PACKET = "event_camera_msgs/EventPacket"
#: the script that builds event_camera_msgs into a venv (installed with the package)
EVENT_MSGS_BUILD_SCRIPT = Path(__file__).resolve().parent / "interfaces" / "build_event_msgs.sh"


def _no_wheel_hint(package: str) -> str | None:
    """Where a message package without a wheel comes from (`message_class`'s hint)."""
    if package != "event_camera_msgs":
        return None
    return (f"ROS 2: ros-<distro>-event-camera-msgs; no wheel exists: in a venv, bash "
            f"{EVENT_MSGS_BUILD_SCRIPT} VENV builds it (docs/events.md)")


def message_class(type_name: str) -> Any:
    """The message class of "package/Type" (e.g. nav_msgs/Odometry); NeuroqError (one line)
    if its package is not installed."""
    cls = _CLASSES.get(type_name)
    if cls is None:
        package, _, name = type_name.partition("/")
        try:
            cls = getattr(importlib.import_module(f"{package}.msg"), name)
        except (ImportError, AttributeError):
            dashed = package.replace("_", "-")
            where = (_no_wheel_hint(package)
                     or f"ROS 2: ros-<distro>-{dashed}; pip: ros-{dashed}")
            raise NeuroqError(f"message type {type_name} is not available: install the "
                              f"{package} package ({where})") from None
        _CLASSES[type_name] = cls
    return cls


def has_header(cls: Any) -> bool:
    """Whether messages of `cls` have a `header` (std_msgs/Header) field."""
    return "header" in getattr(cls, "get_fields_and_field_types", dict)()


def _resolve(msg: Any, path: str) -> Any:
    value = msg
    for part in path.split("."):
        value = getattr(value, part)
    return value


def extract(msg: Any, paths: Iterable[str]) -> dict[str, Any]:
    """{path: value} for each dotted path of `msg`."""
    return {p: _resolve(msg, p) for p in paths}


def fill(msg: Any, data: Mapping[str, Any]) -> Any:
    """Write each {dotted path: value} into `msg` (numbers as float where the field is
    a float; sequences as lists); returns `msg`."""
    for path, value in data.items():
        *parents, leaf = path.split(".")
        target = msg
        for part in parents:
            target = getattr(target, part)
        current = getattr(target, leaf)
        if isinstance(current, float):
            value = float(value)
        elif isinstance(current, str):
            value = str(value)
        elif not isinstance(current, int) and hasattr(value, "tolist"):
            value = value.tolist()
        setattr(target, leaf, value)
    return msg


def command_values(msg: Any, command: Any) -> list[float] | None:
    """The channel values a command message carries (`command`: the interface's Command), in
    channel order; None when it does not carry every channel (a joint missing)."""
    t = command.type
    if t == "sensor_msgs/JointState":
        names = list(msg.name)
        try:
            return [float(msg.effort[names.index(c)]) for c in command.channels]
        except (ValueError, IndexError):
            return None
    if t in ARRAY_TYPES:
        data = list(msg.data)
        return [float(x) for x in data] if len(data) == len(command.channels) else None
    twist = msg.twist if t == "geometry_msgs/TwistStamped" else msg
    return [float(_resolve(twist, c)) for c in command.channels]


def new_command_message(command: Any) -> Any:
    """An empty message of the command's type with its fixed fields set (joint names, the
    twist's frame_id)."""
    msg = message_class(command.type)()
    if command.type == "sensor_msgs/JointState":
        msg.name = list(command.channels)
    elif command.type == "geometry_msgs/TwistStamped":
        msg.header.frame_id = command.frame_id
    return msg


def fill_command(msg: Any, command: Any, values: Sequence[float]) -> Any:
    """Write `values` (one per channel) into a message from `new_command_message`."""
    t = command.type
    if t == "sensor_msgs/JointState":
        msg.effort = [float(v) for v in values]
    elif t in ARRAY_TYPES:
        msg.data = [float(v) for v in values]
    else:
        twist = msg.twist if t == "geometry_msgs/TwistStamped" else msg
        for channel, v in zip(command.channels, values, strict=True):
            kind, axis = channel.split(".")
            setattr(getattr(twist, kind), axis, float(v))
    return msg


def event_packet(clock: Any, seq: int, width: int, height: int, encoding: str, data: bytes,
                 time_base_ns: int, frame_id: str) -> Any:
    """An event_camera_msgs/EventPacket of `data` (the packed events, little endian),
    stamped with `clock`'s time now (a node's `get_clock()`). time_base_ns: the packet's
    `time_base` (`neuroq.deploy.events.encode_packet` gives it)."""
    msg = message_class(EVENT_PACKET)(width=width, height=height, seq=seq, time_base=time_base_ns,
                      encoding=encoding, is_bigendian=False)
    msg.header.stamp = clock.now().to_msg()
    msg.header.frame_id = frame_id
    msg.events = data
    return msg
