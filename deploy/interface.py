"""A robot interface declared in YAML: what makes the observation, what each action sends.

Pure numpy, no rclpy. The ROS 2 nodes read a `RobotInterface` instead of knowing robots in
code: the policy node subscribes each declared source, hands the fields the interface asks
for (`fields(source)`, dotted paths as the message names them) to `observe`, and the
actuator node sends `command_values(action)` on the declared command topic. A file in
config/interfaces/ declares one robot; an artifact's manifest records the interface it was
exported with.

Sources (`SOURCE_TYPES`): sensor_msgs/JointState (joints by name), sensor_msgs/LaserScan,
nav_msgs/Odometry, sensor_msgs/Imu, std_msgs/Float64MultiArray, geometry_msgs/PoseStamped
(a goal) and event_camera_msgs/EventPacket (declared only: events go to the event node's
encoder, not through `observe`). Exactly one source is the trigger: each of its messages
makes one reading, so it sets the control rate. Every other source contributes its latest
message if it arrived at most `max_age_s` before the trigger (no limit when null); a stale
or missing one drops the reading (`SourceCache`), counted per source as `stale_<name>` or
`missing_<name>`.

Observation features, in order, each with a unit and limits (`TRANSFORMS`):

    field          a scalar at a dotted path (`index` into an array field; JointState:
                   `joint` + field position/velocity/effort), then y = scale * x + offset
    cos, sin       cos x, sin x of such a scalar (an angle, rad)
    yaw            the heading of a quaternion (the path of its x, y, z, w), rad:
                   atan2(2 (w z + x y), 1 - 2 (y^2 + z^2))
    laser_sectors  a LaserScan binned into `sectors` sectors by minimum range; sector k
                   covers beam angles [(k - 1/2) w, (k + 1/2) w), w = 2 pi / sectors,
                   sector 0 centred on `first_sector_rad` (0: straight ahead); a beam
                   within a quarter beam spacing of a boundary counts as on it and goes
                   to the sector after it (LaserScan angles are float32). +inf, NaN
                   and finite values beyond the message's [range_min, range_max] count as
                   no return (the feature's range_max); -inf, "too close" in REP 117, as
                   its range_min; then clipped to the feature's [range_min, range_max]
    goal_distance  |goal - position| in the plane, m, from an Odometry source's pose and
                   a PoseStamped `goal` source in the same frame
    goal_bearing   wrap(atan2(goal - position) - yaw) in [-pi, pi), rad, positive left

`limits: [low, high]` bound the quantity in `unit` (the raw scalar before cos, sin and
scale; the output of the others): a reading beyond them is dropped (`out_of_range`) unless
the feature says `clip: true`. A non-finite scalar is dropped (`not_finite`).

Commands (`COMMAND_TYPES`): sensor_msgs/JointState (efforts, `channels` = joint names),
std_msgs/Float64MultiArray (`data`), geometry_msgs/TwistStamped or Twist (`channels` from
linear.x ... angular.z). Each action names its values, one per channel; each channel
has a limit commands are clamped to; `safe` is what the watchdog sends.

The interface is checked against an artifact at start (`check_artifact`): the number of
observation values and of actions must agree, and so must the environment id when the
interface names one. A mismatch is one line (NeuroqError).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.deploy.control import (
    REASON_NOT_FINITE,
    REASON_OUT_OF_RANGE,
    REASON_WRONG_COUNT,
    REASON_WRONG_NAMES,
    ActionTable,
    MalformedInput,
    shown,
    shown_names,
)
from neuroq.deploy.errors import NeuroqError

FORMAT_NAME = "neuroq-robot-interface"
FORMAT_VERSION = 1
#: The folder of the shipped interfaces under config/ (neuroq.deploy.paths finds it).
INTERFACES_DIR = "interfaces"
#: Two source messages of one reading disagree on their frame (goal vs odometry).
REASON_WRONG_FRAME = "wrong_frame"
#: A LaserScan whose angles or ranges cannot be binned (no beams, zero increment).
REASON_BAD_SCAN = "bad_scan"
#: A beam on a sector boundary belongs to the sector after it (counter-clockwise): binning
#: moves every beam this fraction of the beam spacing forward before it bins. LaserScan
#: carries angle_min and angle_increment as float32, so angle_min + i * angle_increment
#: lands up to ~1e-6 rad either side of where the robot's (or a simulation's) float64
#: geometry put the beam: a fixed epsilon in angle let boundary beams change sector over
#: ROS 2 (measured: 6 of 18 sectors of a DiffDriveNav reading moved, by up to 0.079 m).
#: A quarter beam is far above that rounding and below any beam that is off the boundary.
SECTOR_EDGE_BEAMS = 0.25

#: Source message types -> the fields (dotted paths) a feature may read from each.
_XYZ = ("x", "y", "z")
_QUAT = ("x", "y", "z", "w")
SOURCE_TYPES: dict[str, tuple[str, ...]] = {
    "sensor_msgs/JointState": ("name", "position", "velocity", "effort"),
    "sensor_msgs/LaserScan": ("angle_min", "angle_increment", "range_min", "range_max",
                              "ranges"),
    "nav_msgs/Odometry": ("header.frame_id",
                          *(f"pose.pose.position.{a}" for a in _XYZ),
                          *(f"pose.pose.orientation.{a}" for a in _QUAT),
                          *(f"twist.twist.linear.{a}" for a in _XYZ),
                          *(f"twist.twist.angular.{a}" for a in _XYZ)),
    "sensor_msgs/Imu": (*(f"orientation.{a}" for a in _QUAT),
                        *(f"angular_velocity.{a}" for a in _XYZ),
                        *(f"linear_acceleration.{a}" for a in _XYZ)),
    "std_msgs/Float64MultiArray": ("data",),
    "geometry_msgs/PoseStamped": ("header.frame_id",
                                  *(f"pose.position.{a}" for a in _XYZ),
                                  *(f"pose.orientation.{a}" for a in _QUAT)),
    "event_camera_msgs/EventPacket": ("encoding", "width", "height", "events"),
}
#: Fields holding a quaternion (the prefix of its x, y, z, w), for the yaw transform.
QUATERNIONS = {"nav_msgs/Odometry": ("pose.pose.orientation",),
               "sensor_msgs/Imu": ("orientation",),
               "geometry_msgs/PoseStamped": ("pose.orientation",)}
TWIST_CHANNELS = tuple(f"{k}.{a}" for k in ("linear", "angular") for a in _XYZ)
COMMAND_TYPES = ("sensor_msgs/JointState", "std_msgs/Float64MultiArray",
                 "geometry_msgs/TwistStamped", "geometry_msgs/Twist")
TRANSFORMS = ("field", "cos", "sin", "yaw", "laser_sectors", "goal_distance", "goal_bearing")
#: Options each transform takes besides name, source, unit, limits, clip.
_OPTIONS = {"field": {"field", "joint", "index", "scale", "offset"},
            "cos": {"field", "joint", "index"}, "sin": {"field", "joint", "index"},
            "yaw": {"field"},
            "laser_sectors": {"sectors", "range_min", "range_max", "first_sector_rad"},
            "goal_distance": {"goal"}, "goal_bearing": {"goal"}}
_COMMON = {"name", "source", "transform", "unit", "limits", "clip"}


def wrap_angle(a: float) -> float:
    """The angle in [-pi, pi): a - 2 pi floor((a + pi) / 2 pi)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


def yaw_of(x: float, y: float, z: float, w: float) -> float:
    """Heading (rotation about z) of a quaternion, rad in [-pi, pi]."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


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


@dataclass(frozen=True)
class RobotInterface:
    """A declared robot interface; see the module docstring. Build with `load_interface`
    or `RobotInterface.from_dict` (both validate)."""

    name: str
    sources: tuple[Source, ...]
    features: tuple[Feature, ...]
    command: Command
    env_id: str = ""
    description: str = ""

    # --- what it declares -----------------------------------------------------------------

    @property
    def n_observations(self) -> int:
        return sum(f.size for f in self.features)

    @property
    def n_actions(self) -> int:
        return int(self.command.values.shape[0])

    @property
    def trigger(self) -> Source:
        return next(s for s in self.sources if s.trigger)

    def source(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        raise NeuroqError(f"interface {self.name}: no source {name!r}")

    @property
    def observation_names(self) -> list[str]:
        """One name per observation value (sectors numbered)."""
        out: list[str] = []
        for f in self.features:
            out += [f.name] if f.size == 1 else [f"{f.name}[{k}]" for k in range(f.size)]
        return out

    def fields(self, source: str) -> tuple[str, ...]:
        """The dotted field paths the node must extract from `source`'s messages."""
        typ = self.source(source).type
        wanted: list[str] = []
        for f in self.features:
            if f.source == source:
                wanted += _fields_of(f, typ)
            if f.options.get("goal") == source:
                wanted += ["header.frame_id", "pose.position.x", "pose.position.y"]
        return tuple(dict.fromkeys(wanted))

    def action_table(self) -> ActionTable:
        return self.command.table()

    # --- readings to observations ------------------------------------------------------------

    def observe(self, readings: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
        """The float32 observation from one reading: source name -> {field path: value}.

        Raises MalformedInput (reason wrong_count, wrong_names, not_finite, out_of_range,
        wrong_frame or bad_scan) when the reading must be dropped.
        """
        out = np.empty(self.n_observations, np.float32)
        k = 0
        for f in self.features:
            data = readings[f.source]
            if f.transform == "laser_sectors":
                out[k:k + f.size] = _laser_sectors(f, data)
            elif f.transform in ("goal_distance", "goal_bearing"):
                out[k] = _goal(f, data, readings[f.options["goal"]])
            else:
                out[k] = _scalar_feature(f, data)
            k += f.size
        return out

    # --- the simulated robot's side -----------------------------------------------------------

    def readings_from_observation(self, obs: np.ndarray) -> dict[str, dict[str, Any]]:
        """Source messages (as plain data) that `observe` turns back into `obs`: for
        interfaces of joint and scalar fields (field with scale and offset; cos and sin
        pairs of one angle). NeuroqError for features that cannot be inverted."""
        obs = np.asarray(obs, np.float64).reshape(-1)
        if obs.size != self.n_observations:
            raise NeuroqError(f"interface {self.name}: {obs.size} observation values, "
                              f"expected {self.n_observations}")
        out: dict[str, dict[str, Any]] = {}
        trig: dict[tuple, dict[str, float]] = {}
        for k, f in enumerate(self.features):
            if f.size != 1 or f.transform not in ("field", "cos", "sin"):
                raise NeuroqError(f"interface {self.name}: feature {f.name} "
                                  f"({f.transform}) cannot be inverted into a message")
            key = (f.source, f.options.get("field"), f.options.get("joint"),
                   f.options.get("index"))
            if f.transform == "field":
                value = (obs[k] - float(f.options.get("offset", 0.0))) / float(
                    f.options.get("scale", 1.0))
                _put(out, self.source(f.source).type, f, value)
            else:
                trig.setdefault(key, {})[f.transform] = obs[k]
        for (src, _field, _joint, _index), parts in trig.items():
            if set(parts) != {"cos", "sin"}:
                raise NeuroqError(f"interface {self.name}: an angle needs both its cos and "
                                  "its sin to be inverted")
            f = next(f for f in self.features if f.source == src and f.transform == "cos"
                     and (f.options.get("field"), f.options.get("joint"),
                          f.options.get("index")) == (_field, _joint, _index))
            _put(out, self.source(src).type, f, math.atan2(parts["sin"], parts["cos"]))
        return out

    def action_from_command(self, values: Sequence[float], tolerance: float) -> int | None:
        """The action whose command is within `tolerance` of `values` in every channel
        (the nearest such), else None (the safe command, or an unknown one)."""
        v = np.asarray(values, np.float64).reshape(-1)
        if v.size != len(self.command.channels) or not np.isfinite(v).all():
            return None
        diffs = np.abs(self.command.table().commands - v).max(axis=1)
        best = int(np.argmin(diffs))
        return best if diffs[best] <= tolerance else None

    # --- checks against an artifact -------------------------------------------------------

    def check_artifact(self, manifest: Mapping[str, Any]) -> None:
        """NeuroqError (one line) unless the artifact's spaces (and env id, when this
        interface names one) agree with this interface."""
        env = manifest.get("env_id", "?")
        shape = (manifest.get("observation_space") or {}).get("shape")
        n_obs = shape[0] if isinstance(shape, list) and len(shape) == 1 else None
        n_act = (manifest.get("action_space") or {}).get("n")
        if n_obs != self.n_observations:
            raise NeuroqError(
                f"interface {self.name} makes {self.n_observations} observation values but "
                f"the artifact ({env}) takes {n_obs}")
        if n_act != self.n_actions:
            raise NeuroqError(
                f"interface {self.name} has {self.n_actions} actions but the artifact "
                f"({env}) chooses among {n_act}")
        if self.env_id and env != self.env_id:
            raise NeuroqError(f"interface {self.name} is for {self.env_id} but the artifact "
                              f"controls {env}")

    # --- (de)serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML or JSON) that `from_dict` reads back."""
        c = self.command
        command: dict[str, Any] = {
            "type": c.type, "topic": c.topic, "channels": list(c.channels),
            "actions": [{"name": n, "values": [float(x) for x in row]}
                        for n, row in zip(c.action_names, c.values, strict=True)],
            "limits": [float(x) for x in c.limits], "safe": [float(x) for x in c.safe]}
        if c.units:
            command["units"] = list(c.units)
        if c.frame_id:
            command["frame_id"] = c.frame_id
        return {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "name": self.name,
            **({"env_id": self.env_id} if self.env_id else {}),
            **({"description": self.description} if self.description else {}),
            "sources": [{"name": s.name, "type": s.type, "topic": s.topic,
                         **({"trigger": True} if s.trigger else {"max_age_s": s.max_age_s})}
                        for s in self.sources],
            "observation": [{"name": f.name, "source": f.source, "transform": f.transform,
                             "unit": f.unit, **dict(f.options),
                             **({"limits": list(f.limits)} if f.limits else {}),
                             **({"clip": True} if f.clip else {})} for f in self.features],
            "command": command,
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "interface") -> RobotInterface:
        """Validate plain data; NeuroqError names the first bad entry."""
        return _parse(d, where)


# --- sources that arrive at different times ------------------------------------------------


class SourceCache:
    """The latest message of each non-trigger source with its arrival time (s, one clock).

    `update(source, data, now_s, stamp_ns)` stores one; `reading(trigger_data, now_s)`
    returns the reading for `RobotInterface.observe`, or raises MalformedInput with reason
    `missing_<source>` (none yet) or `stale_<source>` (older than its max_age_s).
    `stamps_match(stamp_ns)`: every other source has arrived and each stamped one carries
    `stamp_ns` (a simulation stamps all messages of one tick alike; see the policy node's
    `sync_stamps`).
    """

    def __init__(self, interface: RobotInterface) -> None:
        self.interface = interface
        # source -> (its fields, arrival time s, header stamp ns or None)
        self._latest: dict[str, tuple[Mapping[str, Any], float, int | None]] = {}
        self._others = [s for s in interface.sources if not s.trigger]

    @property
    def drop_reasons(self) -> tuple[str, ...]:
        """The per-source reasons this cache can raise."""
        return tuple(f"{kind}_{s.name}" for s in self._others for kind in ("missing", "stale"))

    def update(self, source: str, data: Mapping[str, Any], now_s: float,
               stamp_ns: int | None = None) -> None:
        self._latest[source] = (data, now_s, stamp_ns)

    def stamps_match(self, stamp_ns: int) -> bool:
        for s in self._others:
            got = self._latest.get(s.name)
            if got is None:
                return False
            if got[2] is not None and got[2] != stamp_ns:  # None: a source without a header
                return False
        return True

    def reading(self, trigger_data: Mapping[str, Any], now_s: float
                ) -> dict[str, Mapping[str, Any]]:
        out: dict[str, Mapping[str, Any]] = {self.interface.trigger.name: trigger_data}
        for s in self._others:
            got = self._latest.get(s.name)
            if got is None:
                raise MalformedInput(f"missing_{s.name}",
                                     f"no {s.type} on {s.topic!r} yet ({s.name})")
            data, at, _ = got
            if s.max_age_s is not None and now_s - at > s.max_age_s:
                raise MalformedInput(
                    f"stale_{s.name}", f"the latest {s.name} ({s.topic!r}) is "
                    f"{now_s - at:.3f} s old, more than {s.max_age_s:g} s")
            out[s.name] = data
        return out


# --- loading -------------------------------------------------------------------------------


def load_interface(name_or_path: str | os.PathLike) -> RobotInterface:
    """An interface from a YAML file, or by name from the shipped config/interfaces/
    (`cartpole` -> config/interfaces/cartpole.yaml). NeuroqError (one line) on any problem."""
    import yaml

    text = str(name_or_path)
    path = Path(text)
    if not text:
        raise NeuroqError("no robot interface given (a name in config/interfaces/ or a path)")
    if path.suffix not in (".yaml", ".yml") and os.sep not in text and "/" not in text:
        from neuroq.deploy.paths import shipped_data

        path = shipped_data().config_file(f"{INTERFACES_DIR}/{text}.yaml")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NeuroqError(f"cannot read robot interface {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise NeuroqError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return _parse(doc, str(path))


def resolve_interface(name_or_path: str, manifest: Mapping[str, Any] | None = None
                      ) -> RobotInterface:
    """The interface a node runs with: the one named (a name in config/interfaces/ or a YAML
    file), else the one the artifact's manifest records, else the shipped interface that
    names the artifact's environment. Checked against the manifest's spaces when there is
    one. NeuroqError (one line) when none applies or it does not fit."""
    if name_or_path:
        robot = load_interface(name_or_path)
    elif manifest is not None and "interface" in manifest:
        robot = RobotInterface.from_dict(manifest["interface"], "the artifact's interface")
    else:
        env = (manifest or {}).get("env_id")
        robot = interface_for_env(env) if env else None
        if robot is None:
            raise NeuroqError(
                f"no robot interface: the artifact records none and no file in "
                f"config/{INTERFACES_DIR}/ names {env or 'its environment'}; set the "
                "interface parameter (a name in config/interfaces/ or a YAML file)")
    if manifest is not None:
        robot.check_artifact(manifest)
    return robot


def shipped_interfaces() -> dict[str, Path]:
    """Name -> file of every interface in the shipped config/interfaces/."""
    from neuroq.deploy.paths import shipped_data

    folder = shipped_data().config_dir / INTERFACES_DIR
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def interface_for_env(env_id: str) -> RobotInterface | None:
    """The shipped interface that names `env_id` (None if none does; NeuroqError if two)."""
    found = [load_interface(p) for p in shipped_interfaces().values()]
    found = [i for i in found if i.env_id == env_id]
    if len(found) > 1:
        raise NeuroqError(f"several shipped interfaces name {env_id}: "
                          f"{', '.join(i.name for i in found)}")
    return found[0] if found else None


# --- the transforms ------------------------------------------------------------------------


def _fields_of(f: Feature, typ: str) -> list[str]:
    t = f.transform
    if t == "laser_sectors":
        return list(SOURCE_TYPES["sensor_msgs/LaserScan"])
    if t in ("goal_distance", "goal_bearing"):
        return ["header.frame_id", "pose.pose.position.x", "pose.pose.position.y",
                *(f"pose.pose.orientation.{a}" for a in _QUAT)]
    if t == "yaw":
        return [f"{f.options['field']}.{a}" for a in _QUAT]
    if typ == "sensor_msgs/JointState":
        return ["name", f.options["field"]]
    return [f.options["field"]]


def _scalar(f: Feature, data: Mapping[str, Any]) -> float:
    """The raw scalar a field, cos or sin feature reads."""
    path = f.options["field"]
    joint = f.options.get("joint")
    if joint is not None:
        names = list(data["name"])
        values = data[path]
        if len(values) != len(names):
            raise MalformedInput(REASON_WRONG_COUNT,
                                 f"{len(names)} joint names but {len(values)} {path} values")
        try:
            i = names.index(joint)
        except ValueError:
            raise MalformedInput(REASON_WRONG_NAMES,
                                 f"no joint {shown(joint)} in {shown_names(names)}") from None
        if names.count(joint) > 1:
            raise MalformedInput(REASON_WRONG_NAMES,
                                 f"joint {shown(joint)} repeated in {shown_names(names)}")
        return float(values[i])
    value = data[path]
    index = f.options.get("index")
    if index is not None:
        if len(value) <= index:
            raise MalformedInput(REASON_WRONG_COUNT,
                                 f"{path} has {len(value)} values, {f.name} reads [{index}]")
        value = value[index]
    return float(value)


def _checked(f: Feature, x: float) -> float:
    """x if finite and within the feature's limits (clipped to them with clip: true).

    Limits are compared at the observation's precision (float32): x is inside when
    float32(lo) <= float32(x) <= float32(hi). A simulation's float32 observation at its
    own bound (MountainCar-v0's wall, float32(-1.2) = -1.2000000477 as float64) is then
    inside limits written as the bound (-1.2); rounding is monotonic, so nothing that
    was inside in float64 falls outside.
    """
    if not math.isfinite(x):
        raise MalformedInput(REASON_NOT_FINITE, f"{f.name} is {x}")
    if f.limits is not None:
        lo, hi = f.limits
        if not (lo <= x <= hi or _inside_f32(x, lo, hi)):
            if f.clip:
                return min(max(x, lo), hi)
            raise MalformedInput(REASON_OUT_OF_RANGE,
                                 f"{f.name} = {x:.9g} {f.unit} outside [{lo:.9g}, {hi:.9g}]")
    return x


def _inside_f32(x: float, lo: float, hi: float) -> bool:
    """float32(lo) <= float32(x) <= float32(hi); beyond float32's range is outside."""
    with np.errstate(over="ignore"):  # 1e40 -> inf: outside, not a warning
        return bool(np.float32(lo) <= np.float32(x) <= np.float32(hi))


def _scalar_feature(f: Feature, data: Mapping[str, Any]) -> float:
    if f.transform == "yaw":
        p = f.options["field"]
        x = _checked(f, yaw_of(*(float(data[f"{p}.{a}"]) for a in _QUAT)))
        return x
    x = _checked(f, _scalar(f, data))
    if f.transform == "cos":
        return math.cos(x)
    if f.transform == "sin":
        return math.sin(x)
    return float(f.options.get("scale", 1.0)) * x + float(f.options.get("offset", 0.0))


_SECTOR_CACHE: dict[tuple, np.ndarray] = {}


def sector_index(n_beams: int, angle_min: float, angle_increment: float, sectors: int,
                 first_sector_rad: float = 0.0) -> np.ndarray:
    """The sector of each beam (see the module docstring), cached per scan geometry."""
    key = (n_beams, angle_min, angle_increment, sectors, first_sector_rad)
    idx = _SECTOR_CACHE.get(key)
    if idx is None:
        width = 2 * math.pi / sectors
        angles = (angle_min + np.arange(n_beams) * angle_increment - first_sector_rad
                  + SECTOR_EDGE_BEAMS * abs(angle_increment))
        angles = (angles + math.pi) % (2 * math.pi) - math.pi
        idx = np.floor((angles + width / 2) / width).astype(np.intp) % sectors
        if len(_SECTOR_CACHE) > 64:
            _SECTOR_CACHE.clear()
        _SECTOR_CACHE[key] = idx
    return idx


def _laser_sectors(f: Feature, data: Mapping[str, Any]) -> np.ndarray:
    o = f.options
    lo, hi = np.float32(o["range_min"]), np.float32(o["range_max"])
    r = np.asarray(data["ranges"], np.float32).reshape(-1)
    inc = float(data["angle_increment"])
    if r.size == 0 or not math.isfinite(inc) or inc == 0.0 or not math.isfinite(
            float(data["angle_min"])):
        raise MalformedInput(REASON_BAD_SCAN, f"{f.name}: a scan of {r.size} beams, "
                             f"angle_increment {inc}")
    msg_lo, msg_hi = float(data["range_min"]), float(data["range_max"])
    too_close = np.isneginf(r)
    no_return = ~too_close & (np.isnan(r) | (r > msg_hi) | (r < msg_lo))
    r = np.where(no_return, hi, np.where(too_close, lo, r))
    idx = sector_index(r.size, float(data["angle_min"]), inc, int(o["sectors"]),
                       float(o.get("first_sector_rad", 0.0)))
    out = np.full(int(o["sectors"]), hi, np.float32)  # a sector no beam covers: no return
    np.minimum.at(out, idx, r)
    return np.clip(out, lo, hi)


def _goal(f: Feature, odom: Mapping[str, Any], goal: Mapping[str, Any]) -> float:
    fo, fg = str(odom.get("header.frame_id", "")), str(goal.get("header.frame_id", ""))
    if fo and fg and fo != fg:
        raise MalformedInput(REASON_WRONG_FRAME,
                             f"the goal is in frame {shown(fg)}, the odometry in {shown(fo)}")
    x, y = float(odom["pose.pose.position.x"]), float(odom["pose.pose.position.y"])
    gx, gy = float(goal["pose.position.x"]), float(goal["pose.position.y"])
    q = [float(odom[f"pose.pose.orientation.{a}"]) for a in _QUAT]
    if not all(math.isfinite(v) for v in (x, y, gx, gy, *q)):
        raise MalformedInput(REASON_NOT_FINITE, f"{f.name}: odometry or goal not finite")
    dx, dy = gx - x, gy - y
    if f.transform == "goal_distance":
        return _checked(f, math.hypot(dx, dy))
    return _checked(f, wrap_angle(math.atan2(dy, dx) - yaw_of(*q)))


def _put(out: dict[str, dict[str, Any]], typ: str, f: Feature, value: float) -> None:
    """Write one scalar into the plain message of its source (inverse of `_scalar`)."""
    msg = out.setdefault(f.source, {})
    path = f.options["field"]
    joint = f.options.get("joint")
    if typ == "sensor_msgs/JointState":
        names = msg.setdefault("name", [])
        if joint not in names:
            names.append(joint)
            for p in ("position", "velocity", "effort"):
                msg.setdefault(p, []).append(0.0)
        msg[path][names.index(joint)] = float(value)
    elif f.options.get("index") is not None:
        arr = msg.setdefault(path, [])
        arr.extend([0.0] * (int(f.options["index"]) + 1 - len(arr)))
        arr[int(f.options["index"])] = float(value)
    else:
        msg[path] = float(value)


# --- parsing -------------------------------------------------------------------------------


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _parse(d: Any, where: str) -> RobotInterface:
    def fail(what: str) -> None:
        raise NeuroqError(f"{where}: {what}")

    if not isinstance(d, dict):
        fail("must be a mapping (format, version, name, sources, observation, command)")
    if d.get("format") != FORMAT_NAME or d.get("version") != FORMAT_VERSION:
        fail(f"format must be {FORMAT_NAME!r}, version {FORMAT_VERSION}; got "
             f"{d.get('format')!r}, {d.get('version')!r}")
    unknown = set(d) - {"format", "version", "name", "env_id", "description", "sources",
                        "observation", "command"}
    if unknown:
        fail(f"unknown key(s) {sorted(unknown)}")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        fail("name must be a non-empty string")
    sources = _parse_sources(d.get("sources"), fail)
    by_name = {s.name: s for s in sources}
    features = _parse_features(d.get("observation"), by_name, fail)
    used = {n for f in features for n in f.sources}
    for s in sources:
        if s.name not in used and s.type != "event_camera_msgs/EventPacket":
            fail(f"source {s.name} feeds no observation feature")
    command = _parse_command(d.get("command"), fail)
    env_id = d.get("env_id", "")
    if not isinstance(env_id, str):
        fail(f"env_id must be a string, got {env_id!r}")
    return RobotInterface(name, sources, features, command, env_id,
                          str(d.get("description", "")).strip())


def _parse_sources(items: Any, fail: Any) -> tuple[Source, ...]:
    if not isinstance(items, list) or not items:
        fail("sources must be a non-empty list")
    out: list[Source] = []
    for i, s in enumerate(items):
        at = f"sources[{i}]"
        if not isinstance(s, dict):
            fail(f"{at} must be a mapping")
        unknown = set(s) - {"name", "type", "topic", "trigger", "max_age_s"}
        if unknown:
            fail(f"{at}: unknown key(s) {sorted(unknown)}")
        name, typ, topic = s.get("name"), s.get("type"), s.get("topic")
        if not isinstance(name, str) or not name.isidentifier():
            fail(f"{at}.name must be an identifier, got {name!r}")
        if typ not in SOURCE_TYPES:
            fail(f"{at}.type {typ!r} is not one of {', '.join(SOURCE_TYPES)}")
        if not isinstance(topic, str) or not topic:
            fail(f"{at}.topic must be a topic name")
        trigger = s.get("trigger", False)
        if not isinstance(trigger, bool):
            fail(f"{at}.trigger must be true or false")
        age = s.get("max_age_s")
        if age is not None and (not _number(age) or age <= 0):
            fail(f"{at}.max_age_s must be a positive number of seconds or null, got {age!r}")
        if trigger and age is not None:
            fail(f"{at}: the trigger source takes no max_age_s (it makes the readings)")
        out.append(Source(name, typ, topic, trigger, None if age is None else float(age)))
    if len({s.name for s in out}) != len(out):
        fail("source names must be distinct")
    if sum(s.trigger for s in out) != 1:
        fail(f"exactly one source must be the trigger, got {sum(s.trigger for s in out)}")
    return tuple(out)


def _parse_features(items: Any, sources: dict[str, Source], fail: Any) -> tuple[Feature, ...]:
    if not isinstance(items, list) or not items:
        fail("observation must be a non-empty list of features")
    out: list[Feature] = []
    for i, e in enumerate(items):
        at = f"observation[{i}]"
        if not isinstance(e, dict):
            fail(f"{at} must be a mapping")
        t = e.get("transform", "field")
        if t not in TRANSFORMS:
            fail(f"{at}.transform {t!r} is not one of {', '.join(TRANSFORMS)}")
        unknown = set(e) - _COMMON - _OPTIONS[t]
        if unknown:
            fail(f"{at}: unknown key(s) {sorted(unknown)} for transform {t}")
        name, src, unit = e.get("name"), e.get("source"), e.get("unit")
        if not isinstance(name, str) or not name:
            fail(f"{at}.name must be a non-empty string")
        at = f"observation[{i}] ({name})"
        if src not in sources:
            fail(f"{at}.source {src!r} is not a declared source")
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
        options = {k: e[k] for k in _OPTIONS[t] if k in e}
        _check_options(t, options, sources[src], sources, at, fail)
        out.append(Feature(name, src, t, unit, None if limits is None else (
            float(limits[0]), float(limits[1])), clip, options))
    return tuple(out)


def _check_options(t: str, o: dict[str, Any], src: Source, sources: dict[str, Source],
                   at: str, fail: Any) -> None:
    typ = src.type
    if typ == "event_camera_msgs/EventPacket":
        fail(f"{at}: event packets feed the event node's encoder, not observation features")
    if t in ("field", "cos", "sin"):
        path = o.get("field")
        if typ == "sensor_msgs/JointState":
            if path not in ("position", "velocity", "effort"):
                fail(f"{at}.field must be position, velocity or effort for a JointState")
            if not isinstance(o.get("joint"), str) or not o.get("joint"):
                fail(f"{at}.joint must name the joint")
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
        if "first_sector_rad" in o and not _number(o["first_sector_rad"]):
            fail(f"{at}.first_sector_rad must be a finite number")
    else:  # goal_distance, goal_bearing
        if typ != "nav_msgs/Odometry":
            fail(f"{at}: {t} reads the robot's pose from a nav_msgs/Odometry source")
        goal = o.get("goal")
        if goal not in sources or sources[goal].type != "geometry_msgs/PoseStamped":
            fail(f"{at}.goal must name a geometry_msgs/PoseStamped source")


def _parse_command(c: Any, fail: Any) -> Command:
    if not isinstance(c, dict):
        fail("command must be a mapping (type, topic, channels, actions, limits, safe)")
    unknown = set(c) - {"type", "topic", "channels", "actions", "limits", "safe", "units",
                        "frame_id"}
    if unknown:
        fail(f"command: unknown key(s) {sorted(unknown)}")
    typ, topic = c.get("type"), c.get("topic")
    if typ not in COMMAND_TYPES:
        fail(f"command.type {typ!r} is not one of {', '.join(COMMAND_TYPES)}")
    if not isinstance(topic, str) or not topic:
        fail("command.topic must be a topic name")
    channels = c.get("channels")
    if not isinstance(channels, list) or not channels or not all(
            isinstance(x, str) and x for x in channels) or len(set(channels)) != len(channels):
        fail("command.channels must be a non-empty list of distinct names (joints, "
             "array slots or twist fields)")
    if typ.startswith("geometry_msgs/Twist") and set(channels) - set(TWIST_CHANNELS):
        fail(f"command.channels of a twist must be among {', '.join(TWIST_CHANNELS)}")
    actions = c.get("actions")
    if not isinstance(actions, list) or not actions:
        fail("command.actions must be a non-empty list of {name, values}")
    names, rows = [], []
    for i, a in enumerate(actions):
        if not isinstance(a, dict) or set(a) != {"name", "values"}:
            fail(f"command.actions[{i}] must be a mapping of name and values")
        vals = a["values"]
        if not (isinstance(vals, list) and len(vals) == len(channels)
                and all(_number(x) for x in vals)):
            fail(f"command.actions[{i}] ({a['name']}) needs {len(channels)} finite values")
        names.append(str(a["name"]))
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
    values = np.asarray(rows, np.float64)
    try:
        ActionTable(values, np.asarray(limits, np.float64), np.asarray(safe, np.float64))
    except NeuroqError as exc:
        fail(f"command: {exc}")
    return Command(typ, topic, tuple(channels), tuple(names), values,
                   np.asarray(limits, np.float64), np.asarray(safe, np.float64),
                   tuple(str(u) for u in units), frame)
