"""The observation transforms of a robot interface (`neuroq.deploy.interface` documents
each): the fields a feature reads, its value from a reading, the binning of a LaserScan
into sectors, and the reverse (`put`: a value into message fields, for simulated robots).
Pure functions of a `Feature` and plain data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from neuroq.deploy.control import (
    REASON_NOT_FINITE,
    REASON_OUT_OF_RANGE,
    REASON_WRONG_COUNT,
    REASON_WRONG_NAMES,
    MalformedInput,
    shown,
    shown_names,
)
from neuroq.deploy.interface_spec import BLIND_DROP, QUAT, SOURCE_TYPES, Feature

#: Two source messages of one reading disagree on their frame (goal vs odometry).
REASON_WRONG_FRAME = "wrong_frame"
#: A LaserScan whose angles or ranges cannot be binned (no beams, zero increment), or one
#: without a single valid beam (every range NaN or a finite value below the message's
#: range_min: REP 117's invalid measurements; a blind or failed lidar).
REASON_BAD_SCAN = "bad_scan"
#: An orientation that is no rotation: its quaternion's squared norm off 1 by more than
#: QUATERNION_NORM_TOLERANCE (an all-zero quaternion read as heading 0 for an outsider).
REASON_BAD_QUATERNION = "bad_quaternion"
#: Largest |x^2 + y^2 + z^2 + w^2 - 1| taken as a unit quaternion: float32 rounding leaves
#: about 1e-7, a driver normalizing loosely perhaps 1e-3; 0.01 (0.5 % on the norm) is far
#: above both and far below a quaternion that is not a rotation.
QUATERNION_NORM_TOLERANCE = 0.01
#: The reasons the transforms drop a reading for, beyond those of neuroq.deploy.control.
FEATURE_DROP_REASONS = (REASON_WRONG_FRAME, REASON_BAD_SCAN, REASON_BAD_QUATERNION)
#: A beam on a sector boundary belongs to the sector after it (counter-clockwise): binning
#: moves every beam this fraction of the beam spacing forward before it bins. LaserScan
#: carries angle_min and angle_increment as float32, so angle_min + i * angle_increment
#: lands up to ~1e-6 rad either side of where the robot's (or a simulation's) float64
#: geometry put the beam: a fixed epsilon in angle let boundary beams change sector over
#: ROS 2 (measured: 6 of 18 sectors of a DiffDriveNav reading moved, by up to 0.079 m).
#: A quarter beam is far above that rounding and below any beam that is off the boundary.
SECTOR_EDGE_BEAMS = 0.25
#: Beams a scan may hold more or fewer than its angles say (`check_scan_span`).
SCAN_BEAMS_TOLERANCE = 1


def wrap_angle(a: float) -> float:
    """The angle in [-pi, pi): a - 2 pi floor((a + pi) / 2 pi)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


def yaw_of(x: float, y: float, z: float, w: float) -> float:
    """Heading (rotation about z) of a unit quaternion, rad in [-pi, pi]."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def checked_yaw(f: Feature, q: list[float]) -> float:
    """`yaw_of` a quaternion (x, y, z, w) that is a rotation: MalformedInput not_finite for
    a NaN or infinite component, bad_quaternion for a squared norm off 1 by more than
    QUATERNION_NORM_TOLERANCE."""
    if not all(math.isfinite(v) for v in q):
        raise MalformedInput(REASON_NOT_FINITE, f"{f.name}: orientation {q} not finite")
    norm2 = sum(v * v for v in q)
    if abs(norm2 - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise MalformedInput(REASON_BAD_QUATERNION, f"{f.name}: orientation {q} is no "
                             f"rotation (squared norm {norm2:.6g}, not 1)")
    return yaw_of(*q)



def fields_of(f: Feature, typ: str) -> list[str]:
    t = f.transform
    if t == "laser_sectors":
        return list(SOURCE_TYPES["sensor_msgs/LaserScan"])
    if t in ("goal_distance", "goal_bearing"):
        return ["header.frame_id", "pose.pose.position.x", "pose.pose.position.y",
                *(f"pose.pose.orientation.{a}" for a in QUAT)]
    if t == "yaw":
        return [f"{f.options['field']}.{a}" for a in QUAT]
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


def scalar_feature(f: Feature, data: Mapping[str, Any]) -> float:
    if f.transform == "yaw":
        p = f.options["field"]
        return _checked(f, checked_yaw(f, [float(data[f"{p}.{a}"]) for a in QUAT]))
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


#: A scan may span one turn and one increment (drivers that repeat their first angle) and this
#: fraction of an increment more (float32 angles): beyond it the beams wrap round and land in
#: the wrong sectors (an outsider's angles in degrees put an obstacle ahead into 13 of 18
#: sectors; an increment of 2 pi read straight ahead as free at 3.5 m).
SCAN_TURN_SLACK = 0.01


def check_scan_span(f: Feature, n_beams: int, angle_min: float, angle_max: Any,
                    inc: float) -> None:
    """MalformedInput (bad_scan) where the scan's own angles say another number of beams
    than it holds: angle_min to angle_max at angle_increment is (angle_max - angle_min) /
    angle_increment + 1 beams (REP-style drivers), one more or fewer tolerated (drivers
    differ on whether a 360-degree scan repeats its first angle). A truncated scan read as
    beams from angle_min on left every sector past its end "no return": an outsider's 7 of
    360 beams read 17 of 18 sectors as free at 3.5 m, with no drop and no word. Skipped
    where the reading has no angle_max (a plain dict, not a LaserScan)."""
    if angle_max is None:
        return
    span = (float(angle_max) - angle_min) / inc
    if not math.isfinite(span) or abs(n_beams - (round(span) + 1)) > SCAN_BEAMS_TOLERANCE:
        raise MalformedInput(
            REASON_BAD_SCAN,
            f"{f.name}: {n_beams} ranges, but angle_min {angle_min:g} to angle_max "
            f"{float(angle_max):g} rad at angle_increment {inc:g} is "
            + (f"{round(span) + 1} beams" if math.isfinite(span) else "no number of beams")
            + " (a truncated or padded scan, or angle_max not set: angle_max = angle_min + "
            "(n - 1) angle_increment)")


def laser_sectors(f: Feature, data: Mapping[str, Any]) -> np.ndarray:
    o = f.options
    lo, hi = np.float32(o["range_min"]), np.float32(o["range_max"])
    r = np.asarray(data["ranges"], np.float32).reshape(-1)
    inc = float(data["angle_increment"])
    if r.size == 0 or not math.isfinite(inc) or inc == 0.0 or not math.isfinite(
            float(data["angle_min"])):
        raise MalformedInput(REASON_BAD_SCAN, f"{f.name}: a scan of {r.size} beams, "
                             f"angle_increment {inc}")
    check_scan_span(f, r.size, float(data["angle_min"]), data.get("angle_max"), inc)
    turn = (r.size - 1) * abs(inc)  # one increment more than a turn: a repeated first angle
    if turn > 2 * math.pi + abs(inc) * (1 + SCAN_TURN_SLACK):
        raise MalformedInput(REASON_BAD_SCAN, f"{f.name}: {r.size} beams at angle_increment "
                             f"{inc:g} rad span {turn:.4g} rad, more than one turn (angles in "
                             "degrees? REP 103: radians)")
    msg_lo, msg_hi = float(data["range_min"]), float(data["range_max"])
    too_close = np.isneginf(r)
    nan = np.isnan(r)
    no_return = ~too_close & (nan | (r > msg_hi) | (r < msg_lo))
    if (np.isnan(r) | (np.isfinite(r) & (r < msg_lo))).all():  # -inf: "too close", valid
        raise MalformedInput(REASON_BAD_SCAN, f"{f.name}: no valid beam: all {r.size} "
                             f"ranges are NaN or below range_min {msg_lo:g} m (a blind or "
                             "failed lidar)")
    r = np.where(no_return, hi, np.where(too_close, lo, r))
    idx = sector_index(r.size, float(data["angle_min"]), inc, int(o["sectors"]),
                       float(o.get("first_sector_rad", 0.0)))
    if o.get("blind_sectors") == BLIND_DROP and nan.any():
        beams = np.bincount(idx, minlength=int(o["sectors"]))
        blind = np.flatnonzero((beams > 0) & (np.bincount(idx[nan], minlength=beams.size)
                                              == beams))
        if blind.size:
            raise MalformedInput(REASON_BAD_SCAN, f"{f.name}: sector"
                                 f"{'s' if blind.size > 1 else ''} "
                                 f"{', '.join(map(str, blind.tolist()))} blind: every beam "
                                 "NaN (blind_sectors: drop)")
    out = np.full(int(o["sectors"]), hi, np.float32)  # a sector no beam covers: no return
    np.minimum.at(out, idx, r)
    return np.clip(out, lo, hi)


def goal_value(f: Feature, odom: Mapping[str, Any], goal: Mapping[str, Any]) -> float:
    fo, fg = str(odom.get("header.frame_id", "")), str(goal.get("header.frame_id", ""))
    if fo and fg and fo != fg:
        raise MalformedInput(REASON_WRONG_FRAME,
                             f"the goal is in frame {shown(fg)}, the odometry in {shown(fo)}")
    x, y = float(odom["pose.pose.position.x"]), float(odom["pose.pose.position.y"])
    gx, gy = float(goal["pose.position.x"]), float(goal["pose.position.y"])
    if not all(math.isfinite(v) for v in (x, y, gx, gy)):
        raise MalformedInput(REASON_NOT_FINITE, f"{f.name}: odometry or goal not finite")
    dx, dy = gx - x, gy - y
    if f.transform == "goal_distance":
        return _checked(f, math.hypot(dx, dy))
    q = [float(odom[f"pose.pose.orientation.{a}"]) for a in QUAT]
    return _checked(f, wrap_angle(math.atan2(dy, dx) - checked_yaw(f, q)))


def put(out: dict[str, dict[str, Any]], typ: str, f: Feature, value: float) -> None:
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


