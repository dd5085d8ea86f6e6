"""The declared robot interface (neuroq.deploy.interface): shipped files, each transform,
each drop reason, sources that arrive at different times, the checks against an artifact,
and the simulated robot's inverse."""

import copy
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import neuroq.envs  # noqa: F401
from neuroq.deploy.control import MalformedInput
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.interface import (
    RobotInterface,
    SourceCache,
    interface_for_env,
    load_interface,
    sector_index,
    shipped_interfaces,
)


def base_doc(observation, sources=None, command=None):
    return {
        "format": "neuroq-robot-interface", "version": 1, "name": "test",
        "sources": sources or [{"name": "joints", "type": "sensor_msgs/JointState",
                                "topic": "joint_states", "trigger": True}],
        "observation": observation,
        "command": command or {"type": "sensor_msgs/JointState", "topic": "joint_commands",
                               "channels": ["j"], "actions": [
                                   {"name": "minus", "values": [-1.0]},
                                   {"name": "plus", "values": [1.0]}],
                               "limits": [1.0], "safe": [0.0]},
    }


def laser_interface(**options):
    feature = {"name": "lidar", "source": "scan", "transform": "laser_sectors", "unit": "m",
               "sectors": 4, "range_min": 0.12, "range_max": 3.5, **options}
    return RobotInterface.from_dict(base_doc(
        [feature], [{"name": "scan", "type": "sensor_msgs/LaserScan", "topic": "scan",
                     "trigger": True}]))


def scan(ranges, angle_min=0.0, inc=None, lo=0.12, hi=3.5):
    ranges = np.asarray(ranges, np.float32)
    return {"angle_min": angle_min, "angle_increment": inc or 2 * math.pi / ranges.size,
            "range_min": lo, "range_max": hi, "ranges": ranges}


# --- the shipped files -------------------------------------------------------------------


def test_shipped_interfaces_load_and_round_trip():
    names = shipped_interfaces()
    assert {"cartpole", "acrobot", "mountaincar", "nav"} <= set(names)
    for name in names:
        i = load_interface(name)
        again = RobotInterface.from_dict(i.to_dict())
        assert again.to_dict() == i.to_dict()
        assert load_interface(names[name]).to_dict() == i.to_dict()  # by path as by name
    assert interface_for_env("CartPole-v1").name == "cartpole"
    assert interface_for_env("no-such-env") is None


@pytest.mark.parametrize("name", ["cartpole", "acrobot", "mountaincar"])
def test_joint_interfaces_invert_their_environment_observations(name):
    i = load_interface(name)
    env = gym.make(i.env_id)
    obs, _ = env.reset(seed=0)
    for _ in range(50):
        back = i.observe(i.readings_from_observation(obs))
        np.testing.assert_allclose(back, obs, atol=1e-6)
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            break
    # the command side: each action's values map back to it; the safe command to none
    for a in range(i.n_actions):
        assert i.action_from_command(i.action_table().command(a), 1e-3) == a
    assert i.action_from_command(i.command.safe, 1e-3) in (None, 1)  # acrobot's 0 N m is 1


def test_a_simulation_at_its_own_bounds_is_within_limits_written_as_them():
    """MountainCar-v0 clips its float32 state to its bounds (the car stops at the wall,
    -1.2); the interface's limits say -1.2 too. As float64, float32(-1.2) is below -1.2:
    limits are compared at float32 precision, so the wall is not out of range."""
    i = load_interface("mountaincar")
    env = gym.make(i.env_id)
    space = env.observation_space
    for obs in (space.low, space.high):
        np.testing.assert_array_equal(i.observe(i.readings_from_observation(obs)), obs)
    # a whole episode that reaches the wall: push the way the car moves (seed 1000)
    obs, _ = env.reset(seed=1000)
    at_wall = 0
    for _ in range(200):
        np.testing.assert_array_equal(i.observe(i.readings_from_observation(obs)), obs)
        at_wall += bool(obs[0] == space.low[0])
        obs, _, term, trunc, _ = env.step(2 if obs[1] > 0 else 0)
        if term or trunc:
            break
    assert at_wall > 0
    # beyond the bound, not only by float32 rounding: still dropped
    with pytest.raises(MalformedInput, match=r"car_position = -1.21 m outside \[-1.2, 0.6\]"):
        i.observe({"joints": {"name": ["car"], "position": [-1.21], "velocity": [0.0]}})


def test_the_nav_interface_reproduces_the_environment_observation_exactly():
    i = load_interface("nav")
    env = gym.make(i.env_id).unwrapped
    rng = np.random.default_rng(0)
    checked = 0
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        for _ in range(60):
            np.testing.assert_array_equal(i.observe(env.sensor_data()), obs)
            checked += 1
            obs, _, term, trunc, _ = env.step(int(rng.integers(6)))
            if term or trunc:
                break
    assert checked > 100


# --- transforms ----------------------------------------------------------------------------


def test_laser_sectors_take_the_minimum_and_map_inf_nan_and_out_of_range():
    i = laser_interface()
    r = np.full(8, 3.0, np.float32)  # 8 beams, 45 degrees apart; sector 0 = beams 7, 0
    r[1] = 1.0                        # sector 1 (beams 1, 2): 1.0
    r[3] = np.inf                     # no return: 3.5
    r[4] = np.nan                     # erroneous: no return
    r[5] = -np.inf                    # too close (REP 117): range_min
    r[6] = 9.0                        # beyond the message's range_max: no return
    out = i.observe({"scan": scan(r)})
    np.testing.assert_array_equal(out, np.array([3.0, 1.0, 3.5, 0.12], np.float32))


def test_a_longer_range_lidar_is_clipped_to_the_trained_range():
    i = laser_interface()
    out = i.observe({"scan": scan(np.full(8, 7.0), hi=12.0)})
    np.testing.assert_array_equal(out, np.full(4, 3.5, np.float32))
    out = i.observe({"scan": scan(np.full(8, 0.05), lo=0.02, hi=12.0)})
    np.testing.assert_array_equal(out, np.full(4, 0.12, np.float32))


def test_sectors_are_found_by_angle_whatever_the_scan_starts_at():
    # a lidar that scans from -pi (e.g. a 720-beam one) and one from 0 see the same world
    n = 720
    angles0 = np.arange(n) * (2 * math.pi / n)
    world = 1.0 + 2.0 * (np.cos(angles0) > 0.9)  # far ahead, near elsewhere
    from_zero = scan(world)
    shifted = np.roll(world, n // 2)  # beam 0 of this lidar looks backwards (-pi)
    from_minus_pi = scan(shifted, angle_min=-math.pi)
    i = laser_interface(sectors=8)
    np.testing.assert_array_equal(i.observe({"scan": from_zero}),
                                  i.observe({"scan": from_minus_pi}))
    idx = sector_index(8, 0.0, math.pi / 4, 4)
    np.testing.assert_array_equal(idx, [0, 1, 1, 2, 2, 3, 3, 0])  # edges go to the next


def test_float32_scan_angles_bin_as_the_simulation_does():
    """LaserScan carries angle_min and angle_increment as float32: boundary beams must stay in
    their sector (over ROS 2 they moved: 6 of 18 DiffDriveNav sectors changed, by up to
    0.079 m, and the shipped nav artifact drove other episodes than in process)."""
    from neuroq.deploy.interface import load_interface

    nav = load_interface("nav")
    env = gym.make("neuroq/DiffDriveNav-v0")
    float32_fields = ("angle_min", "angle_max", "angle_increment", "range_min", "range_max",
                      "scan_time")
    rng = np.random.default_rng(0)
    for seed in range(5000, 5005):
        obs, _ = env.reset(seed=seed)
        for _ in range(20):
            data = env.unwrapped.sensor_data()
            scan32 = {k: (np.float32(v) if k in float32_fields else v)
                      for k, v in data["scan"].items()}
            got = nav.observe({**data, "scan": scan32})
            np.testing.assert_array_equal(got, obs)
            obs, *_ = env.step(int(rng.integers(nav.n_actions)))
    # a beam a float32 rounding off a boundary goes to the sector after it, as one on it
    idx = sector_index(8, 0.0, float(np.float32(math.pi / 4)), 4)
    np.testing.assert_array_equal(idx, [0, 1, 1, 2, 2, 3, 3, 0])


def test_a_scan_that_cannot_be_binned_is_dropped():
    i = laser_interface()
    with pytest.raises(MalformedInput) as exc:
        i.observe({"scan": scan([], inc=0.1)})
    assert exc.value.reason == "bad_scan"
    with pytest.raises(MalformedInput):
        i.observe({"scan": {**scan(np.ones(8)), "angle_increment": 0.0}})


def test_a_scan_whose_angles_say_another_number_of_beams_is_dropped():
    """A 360-degree scan (angle_min -pi to angle_max 179 degrees at 1 degree) holding 7
    ranges was read as beams from angle_min on: an outsider's wall at 0.3 m all round read
    17 of 18 sectors as free at 3.5 m, no drop, no word. Now bad_scan; one beam more or
    fewer than the angles say passes (drivers differ on a 360-degree scan's last angle)."""
    i = laser_interface()
    inc = math.radians(1.0)
    full = {**scan(np.full(360, 0.3), angle_min=-math.pi, inc=inc),
            "angle_max": math.radians(179.0)}
    assert np.allclose(i.observe({"scan": full}), 0.3)
    for n in (7, 1, 300, 362):
        with pytest.raises(MalformedInput, match=rf"{n} ranges, but angle_min .* is 360 "
                                                 r"beams") as exc:
            i.observe({"scan": {**full, "ranges": np.full(n, 0.3, np.float32)}})
        assert exc.value.reason == "bad_scan"
    for n in (359, 361):
        assert np.allclose(i.observe({"scan": {**full, "ranges": np.full(n, 0.3,
                                                                         np.float32)}}), 0.3)
    with pytest.raises(MalformedInput, match="angle_max not set"):  # a LaserScan's default 0
        i.observe({"scan": {**full, "angle_max": 0.0}})


def test_a_scan_spanning_more_than_one_turn_is_dropped():
    """An outsider's scan with its angles in degrees (angle_increment 1.0) and one with an
    increment of 2 pi passed the beam-count check (their fields agree with each other) and
    wrapped round: an obstacle ahead showed in 13 of 18 sectors, or straight ahead read
    free. A scan of more than a turn (and one increment) is bad_scan; exactly one turn with
    its first angle repeated passes."""
    i = laser_interface()
    n = 360
    for inc in (1.0, 2 * math.pi):
        bad = {**scan(np.full(n, 0.3), angle_min=0.0, inc=inc),
               "angle_max": (n - 1) * inc}
        with pytest.raises(MalformedInput, match="more than one turn") as exc:
            i.observe({"scan": bad})
        assert exc.value.reason == "bad_scan"
    inc = 2 * math.pi / n
    repeated = {**scan(np.full(n + 1, 0.3), angle_min=-math.pi, inc=inc),
                "angle_max": math.pi}
    assert np.allclose(i.observe({"scan": repeated}), 0.3)


@pytest.mark.parametrize("ranges", [np.full(360, np.nan), np.full(360, -1.0),
                                    np.full(360, 0.01),
                                    np.r_[np.full(180, np.nan), np.full(180, 0.0)]])
def test_a_scan_without_one_valid_beam_is_dropped_not_read_as_free_space(ranges):
    """An outsider's blind lidar (every range NaN, -1 or 0.01 m under range_min) was read
    as no return everywhere: full speed ahead, status OK. Such beams are REP 117's invalid
    measurements; a scan holding no other beam is dropped (bad_scan)."""
    i = laser_interface()
    with pytest.raises(MalformedInput, match="no valid beam") as exc:
        i.observe({"scan": scan(ranges)})
    assert exc.value.reason == "bad_scan"
    # one beam that measured something, or said "no return" (+inf) or "too close" (-inf),
    # makes the scan a reading again; the invalid beams stay "no return" as before
    for beam in (2.0, np.inf, -np.inf):
        some = np.array(ranges, np.float32)
        some[7] = beam
        assert i.observe({"scan": scan(some)}).shape == (4,)
    # beyond range_max is "no return" (drivers that write range_max + 1 for it), not blind
    np.testing.assert_array_equal(i.observe({"scan": scan(np.full(360, 40.0))}), [3.5] * 4)


def test_an_orientation_that_is_no_rotation_is_dropped():
    """An all-zero quaternion was read as heading 0 (an outsider); a unit one whose float32
    rounding leaves its norm a hair off 1 is a rotation."""
    for q, reason in (((0.0, 0.0, 0.0, 0.0), "bad_quaternion"),
                      ((0.0, 0.0, 0.5, 0.5), "bad_quaternion"),
                      ((0.0, 0.0, float("nan"), 1.0), "not_finite")):
        i, r = nav_reading()
        r["odom"].update(zip([f"pose.pose.orientation.{a}" for a in "xyzw"], q, strict=True))
        with pytest.raises(MalformedInput) as exc:
            i.observe(r)
        assert exc.value.reason == reason
    i, r = nav_reading(yaw=0.7)
    r["odom"]["pose.pose.orientation.w"] = float(np.float32(math.cos(0.35)))
    assert i.observe(r)[19] == pytest.approx(nav_reading(yaw=0.7)[0].observe(
        nav_reading(yaw=0.7)[1])[19], abs=1e-6)


def nav_reading(x=1.0, y=2.0, yaw=0.0, gx=3.0, gy=2.0, v=0.1, w=0.2, frames=("odom", "odom")):
    i = load_interface("nav")
    return i, {
        "scan": scan(np.full(360, 2.0)),
        "odom": {"header.frame_id": frames[0], "pose.pose.position.x": x,
                 "pose.pose.position.y": y, "pose.pose.orientation.x": 0.0,
                 "pose.pose.orientation.y": 0.0, "pose.pose.orientation.z": math.sin(yaw / 2),
                 "pose.pose.orientation.w": math.cos(yaw / 2), "twist.twist.linear.x": v,
                 "twist.twist.angular.z": w},
        "goal": {"header.frame_id": frames[1], "pose.position.x": gx, "pose.position.y": gy},
    }


def test_goal_distance_and_bearing_from_odometry():
    i, r = nav_reading(x=1.0, y=2.0, yaw=math.pi / 2, gx=3.0, gy=2.0)
    obs = i.observe(r)
    assert obs[18] == pytest.approx(2.0)
    assert obs[19] == pytest.approx(-math.pi / 2)  # facing north, the goal is to the right
    assert obs[20] == pytest.approx(0.1) and obs[21] == pytest.approx(0.2)
    i, r = nav_reading(yaw=math.pi - 0.1, gx=0.0, gy=2.0 - 0.2)  # behind-left, wraps
    assert -math.pi <= i.observe(r)[19] < math.pi
    i, r = nav_reading(gx=30.0)  # further than the training room: clipped
    assert i.observe(r)[18] == pytest.approx(7.0710678)


def test_a_goal_in_another_frame_is_dropped():
    i, r = nav_reading(frames=("odom", "map"))
    with pytest.raises(MalformedInput) as exc:
        i.observe(r)
    assert exc.value.reason == "wrong_frame"


def test_scalar_limits_drop_and_non_finite_values_drop():
    i, r = nav_reading(v=0.5)
    with pytest.raises(MalformedInput) as exc:
        i.observe(r)
    assert exc.value.reason == "out_of_range"
    i, r = nav_reading(w=float("nan"))
    with pytest.raises(MalformedInput) as exc:
        i.observe(r)
    assert exc.value.reason == "not_finite"


def test_joints_are_matched_by_name_in_any_order():
    i = load_interface("cartpole")
    reading = {"name": ["pole_hinge", "cart_slider"], "position": [0.1, 1.0],
               "velocity": [0.5, -0.2]}
    np.testing.assert_array_equal(i.observe({"joints": reading}),
                                  np.array([1.0, -0.2, 0.1, 0.5], np.float32))


@pytest.mark.parametrize("reading, reason", [
    ({"name": ["cart_slider"], "position": [0.0], "velocity": [0.0]}, "wrong_names"),
    ({"name": ["cart_slider", "pole"], "position": [0.0, 0.0], "velocity": [0.0, 0.0]},
     "wrong_names"),
    ({"name": ["cart_slider", "cart_slider", "pole_hinge"], "position": [0, 0, 0],
      "velocity": [0, 0, 0]}, "wrong_names"),
    ({"name": ["cart_slider", "pole_hinge"], "position": [0.0], "velocity": [0.0, 0.0]},
     "wrong_count"),
    ({"name": ["cart_slider", "pole_hinge"], "position": [np.nan, 0.0],
      "velocity": [0.0, 0.0]}, "not_finite"),
    ({"name": ["cart_slider", "pole_hinge"], "position": [0.0, 0.5], "velocity": [0.0, 0.0]},
     "out_of_range"),
])
def test_malformed_joint_readings_are_dropped_with_their_reason(reading, reason):
    with pytest.raises(MalformedInput) as exc:
        load_interface("cartpole").observe({"joints": reading})
    assert exc.value.reason == reason


@pytest.mark.parametrize("array", ["std_msgs/Float64MultiArray", "std_msgs/Float32MultiArray"])
def test_float_arrays_imu_yaw_and_scaling(array):
    """Float32MultiArray too: an outsider's robot publishing it was refused (a relay needed)."""
    doc = base_doc(
        [{"name": "a", "source": "arr", "field": "data", "index": 2, "scale": 2.0,
          "offset": 1.0, "unit": "V"},
         {"name": "heading", "source": "imu", "transform": "yaw",
          "field": "orientation", "unit": "rad"},
         {"name": "roll_rate", "source": "imu", "field": "angular_velocity.x",
          "unit": "rad/s", "limits": [-1, 1], "clip": True}],
        [{"name": "arr", "type": array, "topic": "a", "trigger": True},
         {"name": "imu", "type": "sensor_msgs/Imu", "topic": "imu", "max_age_s": 0.1}])
    i = RobotInterface.from_dict(doc)
    assert i.fields("imu") == tuple(f"orientation.{a}" for a in "xyzw") + (
        "angular_velocity.x",)
    imu = {"orientation.x": 0.0, "orientation.y": 0.0, "orientation.z": math.sin(0.3),
           "orientation.w": math.cos(0.3), "angular_velocity.x": 5.0}
    out = i.observe({"arr": {"data": [0.0, 0.0, 1.5]}, "imu": imu})
    np.testing.assert_allclose(out, [4.0, 0.6, 1.0], rtol=1e-6)
    with pytest.raises(MalformedInput) as exc:
        i.observe({"arr": {"data": [0.0]}, "imu": imu})
    assert exc.value.reason == "wrong_count"


# --- sources at different times -------------------------------------------------------------


def test_other_sources_give_their_latest_message_within_their_age():
    i, r = nav_reading()
    cache = SourceCache(i)
    assert set(cache.drop_reasons) == {"missing_odom", "stale_odom", "missing_goal",
                                       "stale_goal"}
    with pytest.raises(MalformedInput) as exc:
        cache.reading(r["scan"], now_s=10.0)
    assert exc.value.reason == "missing_odom"
    cache.update("odom", r["odom"], 10.0)
    with pytest.raises(MalformedInput) as exc:
        cache.reading(r["scan"], now_s=10.1)
    assert exc.value.reason == "missing_goal"
    cache.update("goal", r["goal"], 0.0)  # no age limit on the goal
    reading = cache.reading(r["scan"], now_s=10.2)
    assert reading["odom"] is r["odom"] and reading["scan"] is r["scan"]
    assert i.observe(reading).shape == (22,)
    with pytest.raises(MalformedInput) as exc:  # odometry 0.3 s old: max_age_s is 0.25
        cache.reading(r["scan"], now_s=10.3)
    assert exc.value.reason == "stale_odom"
    cache.update("odom", r["odom"], 10.3)
    cache.reading(r["scan"], now_s=10.3)


# --- checks against an artifact -------------------------------------------------------------


def manifest(env_id="CartPole-v1", n_obs=4, n_act=2):
    return {"env_id": env_id, "observation_space": {"shape": [n_obs]},
            "action_space": {"n": n_act}}


@pytest.mark.parametrize("m, message", [
    (manifest(n_obs=6), "makes 4 observation values but the artifact .* takes 6"),
    (manifest(n_act=3), "has 2 actions but the artifact .* among 3"),
    (manifest(env_id="Acrobot-v1"), "is for CartPole-v1 but the artifact controls Acrobot"),
])
def test_a_mismatch_with_the_artifact_is_one_line(m, message):
    with pytest.raises(NeuroqError, match=message) as exc:
        load_interface("cartpole").check_artifact(m)
    assert "\n" not in str(exc.value)
    load_interface("cartpole").check_artifact(manifest())


def test_the_shipped_artifacts_fit_their_interfaces():
    import json

    from neuroq.deploy.paths import shipped_data

    for art, name in (("cartpole", "cartpole"), ("acrobot", "acrobot")):
        m = json.loads((shipped_data().artifact(art) / "manifest.json").read_text())
        load_interface(name).check_artifact(m)
        with pytest.raises(NeuroqError):
            load_interface("nav").check_artifact(m)


def test_a_declared_event_stream_does_not_hold_back_the_readings():
    """An event stream may be declared (it goes to the event node, no feature reads it);
    the policy node then dropped every reading as `missing_ev`, waiting for a message that
    nothing had to send, and never acted (an outsider's robot)."""
    doc = base_doc([dict(JOINT)], [
        {"name": "joints", "type": "sensor_msgs/JointState", "topic": "joint_states",
         "trigger": True},
        {"name": "ev", "type": "event_camera_msgs/EventPacket", "topic": "events"}])
    robot = RobotInterface.from_dict(doc)
    assert [s.name for s in robot.read_sources] == ["joints"]  # what the policy subscribes
    cache = SourceCache(robot)
    assert cache.drop_reasons == ()
    joints = {"name": ["j"], "position": [0.5], "velocity": [0.0], "effort": []}
    assert cache.reading(joints, now_s=1.0) == {"joints": joints}


def test_every_source_besides_the_trigger_says_how_old_it_may_be():
    """A second sensor without max_age_s was taken at any age: an encoder that died an hour
    ago still fed its last value to every reading (an outsider's robot). max_age_s is now
    required (null: any age, said on purpose)."""
    encoder = {"name": "enc", "type": "std_msgs/Float64MultiArray", "topic": "enc"}
    features = [dict(JOINT), {"name": "e", "source": "enc", "field": "data", "index": 0,
                              "unit": "rad"}]
    trigger = {"name": "joints", "type": "sensor_msgs/JointState", "topic": "joint_states",
               "trigger": True}
    with pytest.raises(NeuroqError, match=r"sources\[1\] \(enc\): give max_age_s, how old "
                                          r"its latest message may be"):
        RobotInterface.from_dict(base_doc(features, [trigger, encoder]))
    for age in (0.05, None):
        i = RobotInterface.from_dict(base_doc(features, [trigger, {**encoder,
                                                                   "max_age_s": age}]))
        assert i.sources[1].max_age_s == age
    # two triggers, one with max_age_s: the two triggers are named first (an outsider)
    with pytest.raises(NeuroqError, match="exactly one source must be the trigger, got 2"):
        RobotInterface.from_dict(base_doc(features, [
            trigger, {**encoder, "trigger": True, "max_age_s": 0.1}]))
    # a declared-only event stream has no age to give
    events = {"name": "ev", "type": "event_camera_msgs/EventPacket", "topic": "events",
              "max_age_s": 0.1}
    with pytest.raises(NeuroqError, match=r"sources\[2\]: an event_camera_msgs/EventPacket "
                                          r"source takes no max_age_s"):
        RobotInterface.from_dict(base_doc(features, [trigger, {**encoder, "max_age_s": 0.1},
                                                     events]))


# --- bad files --------------------------------------------------------------------------------

JOINT = {"name": "x", "source": "joints", "joint": "j", "field": "position", "unit": "m"}


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="other"), "format must be"),
    (lambda d: d.update(extra=1), "unknown key"),
    (lambda d: d["sources"][0].update(trigger=False), "exactly one source must be the trigger"),
    (lambda d: d["sources"][0].update(type="sensor_msgs/Image"), "is not one of"),
    (lambda d: d["sources"].append({"name": "other", "type": "sensor_msgs/Imu",
                                    "topic": "imu", "max_age_s": 0.1}), "feeds no observation"),
    (lambda d: d["sources"].append({"name": "imu", "type": "sensor_msgs/Imu", "topic": "imu",
                                    "max_age_s": -1}), "max_age_s must be"),
    (lambda d: d["observation"][0].update(transform="log"), "transform 'log'"),
    (lambda d: d["observation"][0].update(field="pose"), "position, velocity or effort"),
    (lambda d: d["observation"][0].pop("unit"), "unit must be given"),
    (lambda d: d["observation"][0].update(unit=1),  # `unit: 1` in YAML, a dimensionless value
     r"unit must be a string, got 1 \(int\): quote it \('1'\)"),
    (lambda d: d["observation"][0].update(limits=[2, 1]), "limits must be"),
    (lambda d: d["observation"][0].update(sectors=4), "unknown key"),
    (lambda d: d["observation"][0].update(source="nowhere"), "not a declared source"),
    (lambda d: d["command"].update(type="std_msgs/String"), "command.type"),
    (lambda d: d["command"]["actions"][0].update(values=[1.0, 2.0]), "needs 1 finite values"),
    (lambda d: d["command"].update(safe=[5.0]), "exceeds the limits"),
    (lambda d: d["command"].update(type="geometry_msgs/Twist"), "channels of a twist"),
    # YAML 1.1 read an action `off` as False, stored as the name "False" (an outsider)
    (lambda d: d["command"]["actions"][0].update(name=False),
     r"command.actions\[0\].name must be text, got False .* quote the name"),
    (lambda d: d["command"]["actions"][0].update(name=1), r"name must be text, got 1"),
    # the spelling `ros2 interface` prints, and a key one letter off: the fix is named
    (lambda d: d["command"].update(type="sensor_msgs/msg/JointState"),
     r"\(write it 'sensor_msgs/JointState', without /msg/\)"),
    (lambda d: d["sources"][0].update(type="sensor_msgs/msg/Imu"),
     r"write it 'sensor_msgs/Imu'"),
    (lambda d: d["command"].update(channels=[True]), r"True is no text .* quote the name"),
    # every name YAML may read as a boolean gets the same advice (a recheck)
    (lambda d: d["observation"][0].update(name=True), r"name must be a non-empty string .* "
                                                       r"quote the name"),
    (lambda d: d["sources"][0].update(name=True), r"must be an identifier, got True .* quote"),
    (lambda d: d.update(name=False), r"^interface: name must be a non-empty string .* quote"),
    # and the fields that name one (a recheck)
    (lambda d: d["observation"][0].update(source=False), r"source False is not a declared "
                                                          r"source .* quote the name"),
    (lambda d: d["observation"][0].update(joint=False), r"joint must name the joint, got "
                                                         r"False .* quote the name"),
    (lambda d: d["command"].update(limit=[1.0]),
     r"unknown key\(s\) \['limit'\] \('limit': did you mean 'limits'\?\)"),
    # beyond float32 a value went out as inf (the review)
    (lambda d: d["command"].update(type="std_msgs/Float32MultiArray", limits=[1e39]),
     r"std_msgs/Float32MultiArray carries float32 values, at most 3.40282e\+38 in "
     r"magnitude; got 1e\+39"),
])
def test_bad_interface_files_name_the_entry(change, message):
    doc = copy.deepcopy(base_doc([dict(JOINT)]))
    RobotInterface.from_dict(copy.deepcopy(doc))  # the unchanged one is fine
    change(doc)
    with pytest.raises(NeuroqError, match=message):
        RobotInterface.from_dict(doc)


def test_unreadable_and_unknown_interfaces_are_one_line(tmp_path):
    with pytest.raises(NeuroqError, match=r"robot interface \S+none.yaml does not exist"):
        load_interface(tmp_path / "none.yaml")
    with pytest.raises(NeuroqError):
        load_interface("no_such_robot")
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: [unclosed")
    with pytest.raises(NeuroqError, match="not valid YAML"):
        load_interface(bad)


def test_a_key_given_twice_is_refused_where_yaml_would_keep_the_last(tmp_path):
    """`command.type` given twice (Twist, then Float64MultiArray) loaded as the second
    without a word (an outsider's file; PyYAML keeps the last). Every user file is read by
    `load_yaml` now, which names the line; YAML merge keys (`<<:`) still override."""
    import yaml

    from neuroq.deploy.errors import load_yaml, yaml_problem

    text = (Path(shipped_interfaces()["cartpole"]).read_text()
            .replace("  type: sensor_msgs/JointState\n",
                     "  type: geometry_msgs/Twist\n  type: sensor_msgs/JointState\n", 1))
    assert text.count("type: geometry_msgs/Twist") == 1
    twice = tmp_path / "twice.yaml"
    twice.write_text(text)
    with pytest.raises(NeuroqError, match=r"not valid YAML at line \d+, column 3: found "
                                          r"duplicate key 'type'"):
        load_interface(twice)
    assert load_yaml("a: &A {p: 1, q: 2}\nb: {<<: *A, p: 3}\n") == {
        "a": {"p": 1, "q": 2}, "b": {"p": 3, "q": 2}}
    with pytest.raises(yaml.YAMLError) as exc:
        load_yaml("x: 1\ny:\n  z: 1\n  z: 2\n")
    assert yaml_problem(exc.value) == "at line 4, column 3: found duplicate key 'z'"


def test_an_interface_file_that_is_not_yaml_text_is_one_line(tmp_path):
    """A binary file as --interface gave a UnicodeDecodeError traceback (`neuroq export
    ... --interface <binary file>`); a folder and a missing file are named too."""
    import re

    binary = tmp_path / "robot.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    for path, message in [(binary, "is not a text file (byte 0 is not UTF-8)"),
                          (tmp_path / "missing.yaml", "does not exist"),
                          (folder, "cannot read robot interface")]:
        with pytest.raises(NeuroqError, match=re.escape(message)):
            load_interface(path)


def test_blind_sectors_drop_refuses_a_scan_with_a_sector_of_nan_beams():
    """A lidar blind in part (a dirty window, a cable: NaN beams, REP 117's erroneous
    measurements) read that part as free space, the default (`free`); `blind_sectors: drop`
    drops such a scan (bad_scan) so the watchdog stops the robot."""
    r = np.full(8, 3.0, np.float32)  # sectors: 0 = beams 7, 0; 1 = 1, 2; 2 = 3, 4; 3 = 5, 6
    r[3:5] = np.nan  # sector 2 blind
    free = laser_interface()
    np.testing.assert_array_equal(free.observe({"scan": scan(r)}), [3.0, 3.0, 3.5, 3.0])
    drop = laser_interface(blind_sectors="drop")
    with pytest.raises(MalformedInput, match=r"lidar: sector 2 blind: every beam NaN") as exc:
        drop.observe({"scan": scan(r)})
    assert exc.value.reason == "bad_scan"
    r[0] = r[7] = np.nan
    with pytest.raises(MalformedInput, match=r"sectors 0, 2 blind"):
        drop.observe({"scan": scan(r)})
    # one NaN beam in a sector with a valid one, +inf (no return) and sectors without beams
    # are no blind sector
    r = np.full(8, 3.0, np.float32)
    r[3], r[4], r[5] = np.nan, 1.0, np.inf
    np.testing.assert_array_equal(drop.observe({"scan": scan(r)}), [3.0, 3.0, 1.0, 3.0])
    half = laser_interface(blind_sectors="drop", sectors=8)
    np.testing.assert_array_equal(  # 4 beams over 8 sectors: 4 sectors without a beam
        half.observe({"scan": scan(np.full(4, 2.0))}), [3.5, 2.0, 3.5, 2.0] * 2)
    assert RobotInterface.from_dict(drop.to_dict()).to_dict() == drop.to_dict()
    with pytest.raises(NeuroqError, match="blind_sectors must be one of free, drop"):
        laser_interface(blind_sectors="stop")


def test_numbers_in_exponent_form_without_a_dot_are_numbers(tmp_path):
    """YAML 1.1 reads 1e3 (no dot) as text: an outsider's interface `limits: [1e3]` was
    refused as "command.limits needs 1 finite values", which did not say why. Every user
    file neuroq reads (load_yaml) takes them as numbers, as YAML 1.2 does; quoted text and
    words stay text, and PyYAML's own loader is left as it is."""
    import yaml

    from neuroq.deploy.errors import load_yaml

    assert load_yaml("a: 1e3\nb: -1E-4\nc: 1.0e3\nd: e3\ne: 1e\nf: '1e3'\ng: .5e1\n") == {
        "a": 1000.0, "b": -0.0001, "c": 1000.0, "d": "e3", "e": "1e", "f": "1e3", "g": 5.0}
    assert yaml.safe_load("a: 1e3") == {"a": "1e3"}
    doc = yaml.safe_dump(base_doc([dict(JOINT)])).replace("- 1.0\n", "- 1e0\n")
    path = tmp_path / "i.yaml"
    path.write_text(doc)
    assert "1e0" in doc and load_interface(path).command.limits.tolist() == [1.0]


TOPIC_NAMES = ["/mybot/base/drive cmd", "/mybot/base/drive_cmd/", "9drive", "/a/9b", "a~",
               "/a/{b", "/a/b}", "/ä", "/", "/a//b", "drive_cmd", "/mybot/base/drive_cmd",
               "~/cmd", "~", "a__b", "_a", "{node}/cmd", "ns/cmd",
               # the review's: substitutions rcl does not know, a namespace not first, length
               "{abc}/cmd", "{}", "a{b}c", "{a/b}", "{1}", "/{ns}/x", "{ns}/x",
               "a/{node}", "/a" * 200, "/a" * 120]


@pytest.mark.parametrize("topic", TOPIC_NAMES)
def test_an_interface_topic_that_ros_refuses_is_refused_when_the_file_loads(tmp_path, topic):
    """'/mybot/base/drive cmd' (and a trailing '/', a leading digit) loaded, then rclpy
    refused it as the node made its publisher: a traceback and status 1 (an outsider). The
    file's check follows rcl's rules; rclpy's own validation decides here."""
    pytest.importorskip("rclpy")
    from rclpy.exceptions import InvalidTopicNameException
    from rclpy.expand_topic_name import expand_topic_name
    from rclpy.validate_full_topic_name import validate_full_topic_name
    from rclpy.validate_topic_name import validate_topic_name

    try:
        validate_topic_name(topic)
        validate_full_topic_name(expand_topic_name(topic, "node", "/ns"))
        ros_accepts = True
    except (InvalidTopicNameException, ValueError):
        ros_accepts = False
    text = Path(shipped_interfaces()["cartpole"]).read_text()
    for key in ("topic: joint_states", "topic: joint_commands"):
        assert key in text, key
        path = tmp_path / "i.yaml"
        path.write_text(text.replace(key, f"topic: {yaml_str(topic)}", 1))
        if ros_accepts:
            load_interface(path)
        else:
            with pytest.raises(NeuroqError, match="is not a ROS 2 topic name: "):
                load_interface(path)


def yaml_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _array_interface(tmp_path, size=None, typ="std_msgs/Float32MultiArray"):
    from tests.helpers.interfaces import array_trigger_interface

    return array_trigger_interface(tmp_path, "cartpole", source="state",
                                   topic="rig/state_vec", typ=typ, size=size)


def test_an_array_source_with_a_size_drops_arrays_of_another_length(tmp_path):
    """An array source read at indices 0-3 took 5 values without a word (an outsider's rig
    whose driver added a field), while 3 values were dropped. `size` states the length:
    any other is dropped (wrong_count); without it, any array that holds the indices."""
    state = {"data": np.array([0.01, 0.0, 0.02, 0.0, 9.0], np.float32)}
    loose = load_interface(_array_interface(tmp_path))
    assert loose.observe({"state": state}).shape == (4,)  # as before: any length
    sized = load_interface(_array_interface(tmp_path, size=4))
    assert sized.to_dict()["sources"][0]["size"] == 4
    with pytest.raises(MalformedInput, match="state: data has 5 values, the interface's "
                                             "size is 4") as exc:
        sized.observe({"state": state})
    assert exc.value.reason == "wrong_count"
    assert sized.observe({"state": {"data": state["data"][:4]}}).shape == (4,)
    for bad in (0, 2.5, True):
        with pytest.raises(NeuroqError, match=r"sources\[0\].size must be an integer >= 1"):
            load_interface(_array_interface(tmp_path, size=bad))
    with pytest.raises(NeuroqError, match="for std_msgs/Float64MultiArray and "):
        load_interface(_array_interface(tmp_path, size=4, typ="sensor_msgs/Imu"))
    with pytest.raises(NeuroqError, match=r"index 3 is past the end of source state "
                                          r"\(size 3\)"):
        load_interface(_array_interface(tmp_path, size=3))
    # the simulated robot's messages hold the stated size (the review: it wrote arrays up
    # to the last index read, and observe dropped its own readings)
    big = load_interface(_array_interface(tmp_path, size=6))
    obs = np.array([0.01, -0.2, 0.03, 0.4], np.float32)
    readings = big.readings_from_observation(obs)
    assert len(readings["state"]["data"]) == 6
    np.testing.assert_allclose(big.observe(readings), obs, rtol=1e-6)


def test_a_frame_id_for_a_command_without_a_header_and_a_wild_sector_angle_are_refused(
        tmp_path):
    """An outsider's `frame_id:` on an unstamped geometry_msgs/Twist was accepted and sent
    nowhere, and `first_sector_rad: 1e300` was accepted."""
    text = Path(shipped_interfaces()["nav"]).read_text()
    path = tmp_path / "i.yaml"
    path.write_text(text.replace("type: geometry_msgs/TwistStamped", "type: geometry_msgs/Twist"))
    with pytest.raises(NeuroqError, match=r"command.frame_id is for command types with a "
                                          r"header .*; geometry_msgs/Twist has none"):
        load_interface(path)
    path.write_text(text.replace("  frame_id: base_link\n", "").replace(
        "type: geometry_msgs/TwistStamped", "type: geometry_msgs/Twist"))
    assert load_interface(path).command.type == "geometry_msgs/Twist"
    import yaml

    spec = load_interface("nav").to_dict()
    lidar = next(f for f in spec["observation"] if f["transform"] == "laser_sectors")
    for angle, ok in ((1e300, False), (-7.0, False), (math.pi, True), (-6.0, True)):
        lidar["first_sector_rad"] = angle
        path.write_text(yaml.safe_dump(spec))
        if ok:
            load_interface(path)
        else:
            with pytest.raises(NeuroqError, match="first_sector_rad must be an angle in "
                                                  "radians, -2 pi to 2 pi"):
                load_interface(path)


@pytest.mark.parametrize("topic, match", [
    ("action", "is a topic the nodes or ROS use themselves"),
    ("/diagnostics", "is a topic the nodes or ROS use themselves"),
    ("/clock", "is a topic the nodes or ROS use themselves"),
    ("joint_states", "is also the topic of source joints"),
])
def test_a_command_topic_the_nodes_or_its_sources_use_is_refused(tmp_path, topic, match):
    """An outsider's interface commanding on `action` passed and the actuator stopped at
    start on rclpy's type clash; one commanding on `/diagnostics` or on its own sensor's
    topic looped commands back. Refused as the file loads."""
    from tests.helpers import REPO_ROOT

    text = (REPO_ROOT / "config" / "interfaces" / "cartpole.yaml").read_text()
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("topic: joint_commands", f"topic: {topic}"))
    assert f"topic: {topic}" in path.read_text()
    with pytest.raises(NeuroqError, match=match):
        load_interface(path)

