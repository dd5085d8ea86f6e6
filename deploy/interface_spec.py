"""A robot interface file's vocabulary and its parser: the message types a source may
have and the fields each offers, the transforms and their options, the command types;
`Source`, `Feature` and `Command`; `parse_interface` turns plain data (the YAML) into
them or raises NeuroqError naming the first bad entry. `neuroq.deploy.interface` documents
the format and builds `RobotInterface` from these parts."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuroq.deploy.control import ActionTable
from neuroq.deploy.errors import NeuroqError

FORMAT_NAME = "neuroq-robot-interface"
FORMAT_VERSION = 1

#: Source message types -> the fields (dotted paths) a feature may read from each.
XYZ = ("x", "y", "z")
QUAT = ("x", "y", "z", "w")
SOURCE_TYPES: dict[str, tuple[str, ...]] = {
    "sensor_msgs/JointState": ("name", "position", "velocity", "effort"),
    "sensor_msgs/LaserScan": ("angle_min", "angle_max", "angle_increment", "range_min",
                              "range_max", "ranges"),
    "nav_msgs/Odometry": ("header.frame_id",
                          *(f"pose.pose.position.{a}" for a in XYZ),
                          *(f"pose.pose.orientation.{a}" for a in QUAT),
                          *(f"twist.twist.linear.{a}" for a in XYZ),
                          *(f"twist.twist.angular.{a}" for a in XYZ)),
    "sensor_msgs/Imu": (*(f"orientation.{a}" for a in QUAT),
                        *(f"angular_velocity.{a}" for a in XYZ),
                        *(f"linear_acceleration.{a}" for a in XYZ)),
    "std_msgs/Float64MultiArray": ("data",),
    "std_msgs/Float32MultiArray": ("data",),  # micro-ROS boards and many drivers send float32
    "geometry_msgs/PoseStamped": ("header.frame_id",
                                  *(f"pose.position.{a}" for a in XYZ),
                                  *(f"pose.orientation.{a}" for a in QUAT)),
    "event_camera_msgs/EventPacket": ("encoding", "width", "height", "events"),
}
#: Fields holding a quaternion (the prefix of its x, y, z, w), for the yaw transform.
QUATERNIONS = {"nav_msgs/Odometry": ("pose.pose.orientation",),
               "sensor_msgs/Imu": ("orientation",),
               "geometry_msgs/PoseStamped": ("pose.orientation",)}
TWIST_CHANNELS = tuple(f"{k}.{a}" for k in ("linear", "angular") for a in XYZ)
ARRAY_TYPES = ("std_msgs/Float64MultiArray", "std_msgs/Float32MultiArray")
"""Message types that carry their values in `data`, one per index or channel."""
FLOAT32_TYPES = ("std_msgs/Float32MultiArray",)
"""Command types whose values are float32: a value is sent rounded to the nearest float32
(0.1 as 0.10000000149, above a limit of 0.1 by one float32 step)."""
FLOAT32_MAX = float(np.finfo(np.float32).max)
COMMAND_TYPES = ("sensor_msgs/JointState", *ARRAY_TYPES,
                 "geometry_msgs/TwistStamped", "geometry_msgs/Twist")
#: Command types with a header (a stamp and a frame_id).
HEADER_COMMANDS = ("sensor_msgs/JointState", "geometry_msgs/TwistStamped")
TRANSFORMS = ("field", "cos", "sin", "yaw", "laser_sectors", "goal_distance", "goal_bearing")
#: Options each transform takes besides name, source, unit, limits, clip.
OPTIONS = {"field": {"field", "joint", "index", "scale", "offset"},
            "cos": {"field", "joint", "index"}, "sin": {"field", "joint", "index"},
            "yaw": {"field"},
            "laser_sectors": {"sectors", "range_min", "range_max", "first_sector_rad",
                              "blind_sectors"},
            "goal_distance": {"goal"}, "goal_bearing": {"goal"}}
COMMON_KEYS = {"name", "source", "transform", "unit", "limits", "clip"}
BLIND_FREE, BLIND_DROP = "free", "drop"
BLIND_SECTORS = (BLIND_FREE, BLIND_DROP)
"""laser_sectors' `blind_sectors`: what a sector whose every beam is NaN (REP 117: an
erroneous measurement) reads as: no return (`free`, the default: the range_max of a sector
that saw nothing), or the whole scan is dropped (`drop`, bad_scan: the watchdog stops the
robot when scans keep being dropped)."""
EVENT_SOURCE = "event_camera_msgs/EventPacket"
"""A source type that is declared only: event streams go to the event node's encoder, no
observation feature reads one (and no reading waits for one)."""




@dataclass(frozen=True)
class Source:
    """One subscribed topic: `name` (what features call it), message `type`, `topic`;
    `trigger` (its messages make readings) or `max_age_s` (how old its latest message may
    be at a trigger, s; None: any age)."""

    name: str
    type: str
    topic: str
    trigger: bool = False
    max_age_s: float | None = None
    #: an array source's number of values (ARRAY_TYPES only; None: any number that holds
    #: the indices read): a message of another length is dropped (wrong_count)
    size: int | None = None


@dataclass(frozen=True)
class Feature:
    """One entry of the observation: `size` values made by `transform` from `source`."""

    name: str
    source: str
    transform: str
    unit: str
    limits: tuple[float, float] | None = None
    clip: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.options["sectors"]) if self.transform == "laser_sectors" else 1

    @property
    def sources(self) -> tuple[str, ...]:
        """Every source this feature reads (the goal source too)."""
        goal = self.options.get("goal")
        return (self.source, goal) if goal else (self.source,)


@dataclass(frozen=True)
class Command:
    """What each action sends: `values` (n_actions, channels) in SI units, clamped to
    `limits`; `safe` is the watchdog's command; `frame_id` for stamped messages."""

    type: str
    topic: str
    channels: tuple[str, ...]
    action_names: tuple[str, ...]
    values: np.ndarray
    limits: np.ndarray
    safe: np.ndarray
    units: tuple[str, ...] = ()
    frame_id: str = ""

    def table(self) -> ActionTable:
        return ActionTable(self.values.astype(np.float64), self.limits.astype(np.float64),
                           self.safe.astype(np.float64))


# --- parsing -------------------------------------------------------------------------------


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def parse_interface(d: Any, where: str) -> dict[str, Any]:
    """The parts of a `RobotInterface` (its constructor's keywords) from plain data."""
    def fail(what: str) -> None:
        raise NeuroqError(f"{where}: {what}")

    if not isinstance(d, dict):
        fail("must be a mapping (format, version, name, sources, observation, command)")
    if d.get("format") != FORMAT_NAME or d.get("version") != FORMAT_VERSION:
        fail(f"format must be {FORMAT_NAME!r}, version {FORMAT_VERSION}; got "
             f"{d.get('format')!r}, {d.get('version')!r}")
    unknown = _unknown_keys(d, {"format", "version", "name", "env_id", "description",
                                "sources", "observation", "command"})
    if unknown:
        fail(unknown)
    name = d.get("name")
    if not isinstance(name, str) or not name:
        fail("name must be a non-empty string" + _quote_hint(name))
    sources = _parse_sources(d.get("sources"), fail)
    by_name = {s.name: s for s in sources}
    features = _parse_features(d.get("observation"), by_name, fail)
    used = {n for f in features for n in f.sources}
    for s in sources:
        if s.name not in used and s.type != EVENT_SOURCE:
            fail(f"source {s.name} feeds no observation feature")
    command = _parse_command(d.get("command"), fail)
    if command.topic.strip("/") in _RESERVED_NAMES:  # the actuator failed at its
        # start (an rclpy type clash on action) or published commands into /diagnostics
        fail(f"command.topic {command.topic!r} is a topic the nodes or ROS use themselves "
             f"({', '.join(_RESERVED_NAMES)}): name the robot's command topic")
    looped = [s.name for s in sources if s.topic.strip("/") == command.topic.strip("/")]
    if looped:  # commands fed back as readings (an outsider: dropped as wrong_count)
        fail(f"command.topic {command.topic!r} is also the topic of source "
             f"{', '.join(looped)}: the commands would come back as readings")
    env_id = d.get("env_id", "")
    if not isinstance(env_id, str):
        fail(f"env_id must be a string, got {env_id!r}")
    return {"name": name, "sources": sources, "features": features, "command": command,
            "env_id": env_id, "description": str(d.get("description", "")).strip()}


def _mappings(items: Any, what: str, must: str, fail: Any) -> Iterator[tuple[str, dict]]:
    """(where, entry) for each entry of `items`, a non-empty list of mappings (`fail` with
    `must`, or with the entry that is not a mapping, otherwise)."""
    if not isinstance(items, list) or not items:
        fail(must)
    for i, entry in enumerate(items):
        at = f"{what}[{i}]"
        if not isinstance(entry, dict):
            fail(f"{at} must be a mapping")
        yield at, entry


# The topics the neuroq nodes publish or take themselves, as the nodes name them (relative
# ones follow the node's namespace and remappings; diagnostics are global, as ROS's
# diagnostic aggregator reads them); neuroq.ros_nodes takes them from here.
TOPIC_ACTION = "action"
TOPIC_EPISODE_RETURN = "episode_return"
TOPIC_DIAGNOSTICS = "/diagnostics"
TOPIC_EVENTS = "events"
#: Those topics, which no interface's command may use.
NODE_TOPICS = (TOPIC_ACTION, TOPIC_DIAGNOSTICS, TOPIC_EPISODE_RETURN, TOPIC_EVENTS)
#: Topics of ROS itself (simulated time, the log, parameter events): no command topic either.
ROS_TOPICS = ("/clock", "/rosout", "/parameter_events")
# their names, in or out of a namespace (a file does not know the node's namespace)
_RESERVED_NAMES = tuple(t.strip("/") for t in NODE_TOPICS + ROS_TOPICS)
#: The substitutions rcl expands in a topic name.
TOPIC_SUBSTITUTIONS = ("node", "ns", "namespace")
#: rmw's longest full topic name (255 characters less the DDS prefix).
TOPIC_MAX_LENGTH = 247


def topic_name_problem(topic: str) -> str | None:
    """Why `topic` is not a ROS 2 topic name, None where it is one. rcl's rules: letters,
    digits, '_', '/', '~' as the first character only ('~' or '~/...'), substitutions in
    balanced braces; no '/' at the end, no '//', no token that starts with a digit. A name
    rcl refuses raised from rclpy when the node made its publisher or subscription: a
    traceback and status 1 where a bad interface file is one line and status 2 (an
    outsider's '/mybot/base/drive cmd')."""
    if not topic:
        return "it is empty"
    bad = sorted({c for c in topic if not (c.isascii() and (c.isalnum() or c in "_/~{}"))})
    if bad:
        return (f"it holds {', '.join(map(repr, bad))}: a topic name has letters, digits, "
                "'_', '/', a leading '~' and substitutions in {} only")
    if topic.endswith("/"):
        return "it ends with '/'"
    if "//" in topic:
        return "it holds '//'"
    if "~" in topic[1:] or (topic.startswith("~") and topic[1:2] not in ("", "/")):
        return "'~' may only begin it, as '~' or '~/...'"
    depth = 0
    for c in topic:
        depth += (c == "{") - (c == "}")
        if depth not in (0, 1):
            return "its braces are unbalanced"
    if depth:
        return "its braces are unbalanced"
    subs = re.findall(r"\{([^}]*)\}", topic)
    unknown = [f"{{{x}}}" for x in subs if x not in TOPIC_SUBSTITUTIONS]
    if unknown:
        return (f"it holds the substitution {unknown[0]}: rcl knows "
                f"{', '.join('{' + x + '}' for x in TOPIC_SUBSTITUTIONS)} only")
    if re.search(r".\{(ns|namespace)\}", topic):  # the namespace is absolute: '//' follows
        return "{ns} and {namespace} may only begin it (they expand to an absolute name)"
    digit = [t for t in topic.lstrip("~").split("/") if t[:1].isdigit()]
    if digit:
        return f"its part {digit[0]!r} starts with a digit"
    if len(topic) > TOPIC_MAX_LENGTH:
        return (f"it is {len(topic)} characters long, more than the {TOPIC_MAX_LENGTH} a "
                "full topic name may have")
    return None


def _check_topic(topic: Any, at: str, fail: Any) -> None:
    if not isinstance(topic, str) or not topic:
        fail(f"{at} must be a topic name")
    problem = topic_name_problem(topic)
    if problem:
        fail(f"{at} {topic!r} is not a ROS 2 topic name: {problem}")


def _parse_sources(items: Any, fail: Any) -> tuple[Source, ...]:
    out: list[Source] = []
    ageless: list[str] = []  # non-trigger sources read by features without max_age_s
    triggered_aged: list[str] = []  # trigger sources given a max_age_s
    for at, s in _mappings(items, "sources", "sources must be a non-empty list", fail):
        unknown = _unknown_keys(s, {"name", "type", "topic", "trigger", "max_age_s", "size"})
        if unknown:
            fail(f"{at}: {unknown}")
        name, typ, topic = s.get("name"), s.get("type"), s.get("topic")
        if not isinstance(name, str) or not name.isidentifier():
            fail(f"{at}.name must be an identifier, got {name!r}{_quote_hint(name)}")
        if typ not in SOURCE_TYPES:
            fail(f"{at}.type {typ!r} is not one of {', '.join(SOURCE_TYPES)}"
                 + _type_hint(typ, SOURCE_TYPES))
        _check_topic(topic, f"{at}.topic", fail)
        trigger = s.get("trigger", False)
        if not isinstance(trigger, bool):
            fail(f"{at}.trigger must be true or false")
        age = s.get("max_age_s")
        if not trigger and "max_age_s" not in s and typ != EVENT_SOURCE:
            ageless.append(f"{at} ({name})")
        if age is not None and (not _number(age) or age <= 0):
            fail(f"{at}.max_age_s must be a positive number of seconds or null, got {age!r}")
        if typ == EVENT_SOURCE and age is not None:
            fail(f"{at}: an {EVENT_SOURCE} source takes no max_age_s (it is declared only: "
                 "no reading waits for it)")
        if trigger and age is not None:
            triggered_aged.append(at)
        size = s.get("size")
        if size is not None and (typ not in ARRAY_TYPES or isinstance(size, bool)
                                 or not isinstance(size, int) or size < 1):
            fail(f"{at}.size must be an integer >= 1, for {' and '.join(ARRAY_TYPES)} only "
                 f"(the array's number of values), got {size!r}")
        out.append(Source(name, typ, topic, trigger, None if age is None else float(age),
                          size))
    if len({s.name for s in out}) != len(out):
        fail("source names must be distinct")
    if sum(s.trigger for s in out) != 1:
        fail(f"exactly one source must be the trigger, got {sum(s.trigger for s in out)}")
    if triggered_aged:  # after the count: two triggers is the first thing to say
        fail(f"{triggered_aged[0]}: the trigger source takes no max_age_s (it makes the "
             "readings)")
    if ageless:
        fail(f"{ageless[0]}: give max_age_s, how old its latest message may be when a "
             "trigger message makes a reading (s), or null for any age (a goal that stays "
             "valid until the next); without it a silent sensor's last message fed every "
             "reading")
    return tuple(out)


def _parse_features(items: Any, sources: dict[str, Source], fail: Any) -> tuple[Feature, ...]:
    out: list[Feature] = []
    for at, e in _mappings(items, "observation",
                           "observation must be a non-empty list of features", fail):
        t = e.get("transform", "field")
        if t not in TRANSFORMS:
            fail(f"{at}.transform {t!r} is not one of {', '.join(TRANSFORMS)}")
        unknown = _unknown_keys(e, COMMON_KEYS | OPTIONS[t])
        if unknown:
            fail(f"{at}: {unknown} for transform {t}")
        name, src, unit = e.get("name"), e.get("source"), e.get("unit")
        if not isinstance(name, str) or not name:
            fail(f"{at}.name must be a non-empty string{_quote_hint(name)}")
        at = f"{at} ({name})"
        if src not in sources:
            fail(f"{at}.source {src!r} is not a declared source{_quote_hint(src)}")
        if unit is not None and not isinstance(unit, str):  # YAML reads a bare 1 as a number
            fail(f"{at}.unit must be a string, got {unit!r} ({type(unit).__name__}): quote "
                 f"it ('{unit}')")
        if not unit:
            fail(f"{at}.unit must be given (e.g. m, rad, m/s, '1' for a dimensionless value)")
        limits = e.get("limits")
        if limits is not None and not (isinstance(limits, list) and len(limits) == 2 and all(
                _number(x) for x in limits) and limits[0] <= limits[1]):
            fail(f"{at}.limits must be [low, high] numbers with low <= high, got {limits!r}")
        clip = e.get("clip", False)
        if not isinstance(clip, bool):
            fail(f"{at}.clip must be true or false")
        options = {k: e[k] for k in OPTIONS[t] if k in e}
        _check_options(t, options, sources[src], sources, at, fail)
        out.append(Feature(name, src, t, unit, None if limits is None else (
            float(limits[0]), float(limits[1])), clip, options))
    return tuple(out)


def _check_options(t: str, o: dict[str, Any], src: Source, sources: dict[str, Source],
                   at: str, fail: Any) -> None:
    typ = src.type
    if typ == EVENT_SOURCE:
        fail(f"{at}: event packets feed the event node's encoder, not observation features")
    if t in ("field", "cos", "sin"):
        path = o.get("field")
        if typ == "sensor_msgs/JointState":
            if path not in ("position", "velocity", "effort"):
                fail(f"{at}.field must be position, velocity or effort for a JointState")
            if not isinstance(o.get("joint"), str) or not o.get("joint"):
                fail(f"{at}.joint must name the joint, got {o.get('joint')!r}"
                     f"{_quote_hint(o.get('joint'))}")
        else:
            if "joint" in o:
                fail(f"{at}.joint is for sensor_msgs/JointState sources only")
            if path not in SOURCE_TYPES[typ] or path == "header.frame_id":
                fail(f"{at}.field {path!r} is not a numeric field of {typ}; one of "
                     f"{', '.join(p for p in SOURCE_TYPES[typ] if p != 'header.frame_id')}")
        index = o.get("index")
        arrays = ("data", "ranges")
        if (path in arrays) != (index is not None):
            fail(f"{at}: index is needed for (and only for) the array fields "
                 f"{', '.join(arrays)}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)
                                  or index < 0):
            fail(f"{at}.index must be an integer >= 0")
        if index is not None and src.size is not None and index >= src.size:
            fail(f"{at}.index {index} is past the end of source {src.name} (size {src.size})")
        for k in ("scale", "offset"):
            if k in o and not _number(o[k]):
                fail(f"{at}.{k} must be a finite number")
        if o.get("scale", 1.0) == 0:
            fail(f"{at}.scale must not be 0")
    elif t == "yaw":
        if o.get("field") not in QUATERNIONS.get(typ, ()):
            fail(f"{at}.field must be a quaternion of {typ}: "
                 f"{', '.join(QUATERNIONS.get(typ, ())) or 'it has none'}")
    elif t == "laser_sectors":
        if typ != "sensor_msgs/LaserScan":
            fail(f"{at}: laser_sectors reads a sensor_msgs/LaserScan source")
        n = o.get("sectors")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            fail(f"{at}.sectors must be a positive integer")
        lo, hi = o.get("range_min"), o.get("range_max")
        if not (_number(lo) and _number(hi) and 0 <= lo < hi):
            fail(f"{at}: range_min and range_max must be numbers with 0 <= min < max (m)")
        if "first_sector_rad" in o and not (_number(o["first_sector_rad"]) and abs(
                o["first_sector_rad"]) <= 2 * math.pi):
            fail(f"{at}.first_sector_rad must be an angle in radians, -2 pi to 2 pi")
        if o.get("blind_sectors", BLIND_SECTORS[0]) not in BLIND_SECTORS:
            fail(f"{at}.blind_sectors must be one of {', '.join(BLIND_SECTORS)}, got "
                 f"{o['blind_sectors']!r}")
    else:  # goal_distance, goal_bearing
        if typ != "nav_msgs/Odometry":
            fail(f"{at}: {t} reads the robot's pose from a nav_msgs/Odometry source")
        goal = o.get("goal")
        if goal not in sources or sources[goal].type != "geometry_msgs/PoseStamped":
            fail(f"{at}.goal must name a geometry_msgs/PoseStamped source")


def _unknown_keys(given: Mapping, allowed: set[str]) -> str:
    """'unknown key(s) [...]' for the keys of `given` not in `allowed`, each with the allowed
    key it is closest to where one is close ('limit' for 'limits': an outsider); '' when
    there are none."""
    import difflib

    unknown = sorted(str(k) for k in set(given) - allowed)
    if not unknown:
        return ""
    hints = [f"{k!r}: did you mean {close[0]!r}?" for k in unknown
             for close in [difflib.get_close_matches(k, sorted(allowed), n=1, cutoff=0.75)]
             if close]
    return f"unknown key(s) {unknown}" + (f" ({'; '.join(hints)})" if hints else "")


def _quote_hint(value: Any) -> str:
    """For a name YAML read as something other than text (off, on, yes, no: booleans in YAML
    1.1; 1.5), how to write it; else '' (also for None: most often a key left out)."""
    if isinstance(value, (bool, int, float)):
        return (" (YAML reads off, on, yes, no, true, false and numbers as other values than "
                "text: quote the name, e.g. \"off\")")
    return ""


def _type_hint(typ: Any, known: tuple[str, ...]) -> str:
    """For a message type spelt as `ros2 interface` prints it ('sensor_msgs/msg/JointState'),
    the spelling interfaces use; else ''."""
    if isinstance(typ, str) and typ.count("/msg/") == 1:
        short = typ.replace("/msg/", "/")
        if short in known:
            return f" (write it {short!r}, without /msg/)"
    return ""


def _parse_command(c: Any, fail: Any) -> Command:
    if not isinstance(c, dict):
        fail("command must be a mapping (type, topic, channels, actions, limits, safe)")
    unknown = _unknown_keys(c, {"type", "topic", "channels", "actions", "limits", "safe",
                                "units", "frame_id"})
    if unknown:
        fail(f"command: {unknown}")
    typ, topic = c.get("type"), c.get("topic")
    if typ not in COMMAND_TYPES:
        fail(f"command.type {typ!r} is not one of {', '.join(COMMAND_TYPES)}"
             + _type_hint(typ, COMMAND_TYPES))
    _check_topic(topic, "command.topic", fail)
    channels = c.get("channels")
    if not isinstance(channels, list) or not channels or not all(
            isinstance(x, str) and x for x in channels) or len(set(channels)) != len(channels):
        odd = [x for x in channels if not isinstance(x, str)] if isinstance(channels,
                                                                              list) else []
        fail("command.channels must be a non-empty list of distinct names (joints, "
             "array slots or twist fields)"
             + (f"; {odd[0]!r} is no text{_quote_hint(odd[0])}" if odd else ""))
    if typ.startswith("geometry_msgs/Twist") and set(channels) - set(TWIST_CHANNELS):
        fail(f"command.channels of a twist must be among {', '.join(TWIST_CHANNELS)}")
    actions = c.get("actions")
    if not isinstance(actions, list) or not actions:
        fail("command.actions must be a non-empty list of {name, values}")
    names, rows = [], []
    for i, a in enumerate(actions):
        if not isinstance(a, dict) or set(a) != {"name", "values"}:
            fail(f"command.actions[{i}] must be a mapping of name and values")
        if not isinstance(a["name"], str) or not a["name"]:
            # YAML 1.1 reads off / on / yes / no as booleans: an outsider's action `off`
            # became "False" in the manifest without a word
            fail(f"command.actions[{i}].name must be text, got {a['name']!r}"
                 f"{_quote_hint(a['name'])}")
        vals = a["values"]
        if not (isinstance(vals, list) and len(vals) == len(channels)
                and all(_number(x) for x in vals)):
            fail(f"command.actions[{i}] ({a['name']}) needs {len(channels)} finite values")
        names.append(a["name"])
        rows.append([float(x) for x in vals])
    limits, safe = c.get("limits"), c.get("safe", [0.0] * len(channels))
    for key, v in (("limits", limits), ("safe", safe)):
        if not (isinstance(v, list) and len(v) == len(channels) and all(_number(x) for x in v)):
            fail(f"command.{key} needs {len(channels)} finite values")
    units = c.get("units", [])
    if units and (not isinstance(units, list) or len(units) != len(channels)):
        fail(f"command.units needs {len(channels)} entries")
    frame = c.get("frame_id", "")
    if not isinstance(frame, str):
        fail("command.frame_id must be a string")
    if frame and typ not in HEADER_COMMANDS:  # it was accepted and sent nowhere (an outsider)
        fail(f"command.frame_id is for command types with a header "
             f"({', '.join(HEADER_COMMANDS)}); {typ} has none")
    values = np.asarray(rows, np.float64)
    if typ in FLOAT32_TYPES:  # beyond float32 a value is sent as inf (the review)
        big = max(np.abs(values).max(), *(abs(float(x)) for x in (*limits, *safe)))
        if big > FLOAT32_MAX:
            fail(f"command: {typ} carries float32 values, at most {FLOAT32_MAX:.6g} in "
                 f"magnitude; got {big:g}")
    try:
        ActionTable(values, np.asarray(limits, np.float64), np.asarray(safe, np.float64))
    except NeuroqError as exc:
        fail(f"command: {exc}")
    return Command(typ, topic, tuple(channels), tuple(names), values,
                   np.asarray(limits, np.float64), np.asarray(safe, np.float64),
                   tuple(str(u) for u in units), frame)
