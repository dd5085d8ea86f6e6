"""A robot interface declared in YAML: what makes the observation, what each action sends.

Pure numpy, no rclpy. The ROS 2 nodes read a `RobotInterface` instead of knowing robots in
code: the policy node subscribes each declared source, hands the fields the interface asks
for (`fields(source)`, dotted paths as the message names them) to `observe`, and the
actuator node sends `command_values(action)` on the declared command topic. A file in
config/interfaces/ declares one robot; an artifact's manifest records the interface it was
exported with.

Sources (`SOURCE_TYPES`): sensor_msgs/JointState (joints by name), sensor_msgs/LaserScan,
nav_msgs/Odometry, sensor_msgs/Imu, std_msgs/Float64MultiArray or Float32MultiArray,
geometry_msgs/PoseStamped (a goal) and event_camera_msgs/EventPacket (declared only: events
go to the event node's encoder, not through `observe`). Exactly one source is the trigger:
each of its messages makes one reading, so it sets the control rate. Every other source
contributes its latest message if it arrived at most `max_age_s` before the trigger (no
limit when null); a stale or missing one drops the reading (`SourceCache`), counted per
source as `stale_<name>` or `missing_<name>`.

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
                   its range_min; then clipped to the feature's [range_min, range_max].
                   `blind_sectors: drop` drops a scan in which a sector's every beam is
                   NaN (default `free`: such a sector reads as no return)
    goal_distance  |goal - position| in the plane, m, from an Odometry source's pose and
                   a PoseStamped `goal` source in the same frame
    goal_bearing   wrap(atan2(goal - position) - yaw) in [-pi, pi), rad, positive left

`limits: [low, high]` bound the quantity in `unit` (the raw scalar before cos, sin and
scale; the output of the others): a reading beyond them is dropped (`out_of_range`) unless
the feature says `clip: true`. A non-finite scalar is dropped (`not_finite`).

Commands (`COMMAND_TYPES`): sensor_msgs/JointState (efforts, `channels` = joint names),
std_msgs/Float64MultiArray or Float32MultiArray (`data`), geometry_msgs/TwistStamped or
Twist (`channels` from linear.x ... angular.z). Each action names its values, one per
channel; each channel has a limit commands are clamped to; `safe` is what the watchdog
sends.

The interface is checked against an artifact at start (`check_artifact`): the number of
observation values and of actions must agree, and so must the environment id when the
interface names one. A mismatch is one line (NeuroqError).

Code: the file format's vocabulary and its parser are in `neuroq.deploy.interface_spec`,
the transforms in `neuroq.deploy.interface_features`; this module holds `RobotInterface`,
`SourceCache` and loading, and re-exports what users of the interface import.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.deploy.control import REASON_WRONG_COUNT, ActionTable, MalformedInput
from neuroq.deploy.errors import NeuroqError, load_yaml, read_text_file, yaml_problem
from neuroq.deploy.interface_features import (
    FEATURE_DROP_REASONS,
    REASON_BAD_QUATERNION,
    REASON_BAD_SCAN,
    REASON_WRONG_FRAME,
    SECTOR_EDGE_BEAMS,
    fields_of,
    goal_value,
    laser_sectors,
    put,
    scalar_feature,
    sector_index,
    wrap_angle,
    yaw_of,
)
from neuroq.deploy.interface_spec import (
    COMMAND_TYPES,
    FORMAT_NAME,
    FORMAT_VERSION,
    SOURCE_TYPES,
    TRANSFORMS,
    Command,
    Feature,
    Source,
    parse_interface,
)

#: The folder of the shipped interfaces under config/ (neuroq.deploy.paths finds it).
INTERFACES_DIR = "interfaces"

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

    @property
    def read_sources(self) -> tuple[Source, ...]:
        """The sources the policy reads, in declared order: the trigger and every source a
        feature reads (not a declared-only event stream, which goes to the event node)."""
        used = {n for f in self.features for n in f.sources}
        return tuple(s for s in self.sources if s.trigger or s.name in used)

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
                wanted += fields_of(f, typ)
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
        for src in (s for s in self.sources if s.size is not None):  # a driver whose array
            # layout changed: a longer array passed without a word (an outsider's)
            data = readings.get(src.name, {}).get("data")
            if data is not None and (n := len(data)) != src.size:
                raise MalformedInput(REASON_WRONG_COUNT, f"{src.name}: data has {n} values, "
                                     f"the interface's size is {src.size}")
        out = np.empty(self.n_observations, np.float32)
        k = 0
        for f in self.features:
            data = readings[f.source]
            if f.transform == "laser_sectors":
                out[k:k + f.size] = laser_sectors(f, data)
            elif f.transform in ("goal_distance", "goal_bearing"):
                out[k] = goal_value(f, data, readings[f.options["goal"]])
            else:
                out[k] = scalar_feature(f, data)
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
                put(out, self.source(f.source).type, f, value)
            else:
                trig.setdefault(key, {})[f.transform] = obs[k]
        for (src, _field, _joint, _index), parts in trig.items():
            if set(parts) != {"cos", "sin"}:
                raise NeuroqError(f"interface {self.name}: an angle needs both its cos and "
                                  "its sin to be inverted")
            f = next(f for f in self.features if f.source == src and f.transform == "cos"
                     and (f.options.get("field"), f.options.get("joint"),
                          f.options.get("index")) == (_field, _joint, _index))
            put(out, self.source(src).type, f, math.atan2(parts["sin"], parts["cos"]))
        for src in self.sources:  # an array of its stated size, not up to the last index
            data = out.get(src.name, {}).get("data")  # read (review: observe dropped it)
            if src.size is not None and data is not None:
                data.extend([0.0] * (src.size - len(data)))
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
                         **({"trigger": True} if s.trigger else {"max_age_s": s.max_age_s}),
                         **({"size": s.size} if s.size is not None else {})}
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
        return cls(**parse_interface(d, where))


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
        # the sources a feature reads: a declared-only one (an event stream) never arrives
        # here, and waiting for it dropped every reading as missing
        self._others = [s for s in interface.read_sources if not s.trigger]

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
    text = read_text_file(path, "robot interface")  # missing, binary, a folder: one line
    try:
        doc = load_yaml(text)
    except yaml.YAMLError as exc:
        raise NeuroqError(f"{path} is not valid YAML {yaml_problem(exc)}") from None
    return RobotInterface.from_dict(doc, str(path))


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


__all__ = [  # what the interface's users import from here (the two modules hold the rest)
    "COMMAND_TYPES", "FEATURE_DROP_REASONS", "FORMAT_NAME", "FORMAT_VERSION", "INTERFACES_DIR",
    "REASON_BAD_QUATERNION", "REASON_BAD_SCAN",
    "REASON_WRONG_FRAME", "SECTOR_EDGE_BEAMS", "SOURCE_TYPES", "TRANSFORMS", "Command",
    "Feature", "RobotInterface", "Source", "SourceCache", "interface_for_env",
    "load_interface", "resolve_interface", "sector_index", "shipped_interfaces",
    "wrap_angle", "yaw_of",
]
