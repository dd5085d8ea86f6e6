"""Robot I/O logic without ROS: joint readings through the shipped interfaces, commands,
the watchdog, the lockstep simulated robot, header checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from neuroq.deploy.control import (
    DROP_REASONS,
    ActionTable,
    MalformedInput,
    Watchdog,
    check_copied_string,
    check_stamp,
    credited_age,
    is_stale,
    same_clock,
    shown,
    shown_names,
    watchdog_check,
    watchdog_feed,
)
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.interface import load_interface
from neuroq.deploy.sim_robot import LockstepRobot

CARTPOLE = load_interface("cartpole")


def observation_from_joints(names, pos, vel, robot=CARTPOLE):
    """One JointState reading through an interface (what the policy node does with it)."""
    return robot.observe({"joints": {"name": list(names), "position": list(pos),
                                     "velocity": list(vel)}})


@pytest.mark.parametrize("name", ["cartpole", "acrobot"])
def test_observation_survives_the_trip_through_joints(name):
    robot = load_interface(name)
    env = gym.make(robot.env_id)
    obs, _ = env.reset(seed=3)
    env.action_space.seed(3)
    for _ in range(20):
        back = robot.observe(robot.readings_from_observation(obs))
        np.testing.assert_allclose(back, obs, atol=1e-5)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:  # past termination the state may leave the joint limits
            break


def test_joints_in_another_order_are_matched_by_name():
    obs = observation_from_joints(["pole_hinge", "cart_slider"], [0.1, -1.0], [2.0, 0.5])
    np.testing.assert_allclose(obs, [-1.0, 0.5, 0.1, 2.0], atol=1e-6)


BAD_READINGS = [
    ("wrong_names", ["cart_slider"], [0.0], [0.0]),
    ("wrong_count", ["cart_slider", "pole_hinge"], [0.0], [0.0, 0.0]),
    ("wrong_count", ["cart_slider", "pole_hinge"], [0.0, 0.0], [0.0, 0.0, 0.0]),
    ("wrong_names", [], [], []),
    ("wrong_names", ["cart", "pole"], [0.0, 0.0], [0.0, 0.0]),
    ("wrong_names", ["cart_slider", "cart_slider"], [0.0, 0.0], [0.0, 0.0]),
    ("not_finite", ["cart_slider", "pole_hinge"], [np.nan, 0.0], [0.0, 0.0]),
    ("not_finite", ["cart_slider", "pole_hinge"], [0.0, 0.0], [0.0, np.inf]),
    ("out_of_range", ["cart_slider", "pole_hinge"], [5.0, 0.0], [0.0, 0.0]),
    ("out_of_range", ["cart_slider", "pole_hinge"], [0.0, 0.5], [0.0, 0.0]),
    ("out_of_range", ["cart_slider", "pole_hinge"], [0.0, 0.0], [-11.0, 0.0]),
]


@pytest.mark.parametrize(("reason", "names", "pos", "vel"), BAD_READINGS)
def test_malformed_readings_are_refused_with_their_reason(reason, names, pos, vel):
    with pytest.raises(MalformedInput) as info:
        observation_from_joints(names, pos, vel)
    assert info.value.reason == reason
    assert reason in DROP_REASONS


def test_ten_thousand_mixed_readings_lose_no_good_one():
    rng = np.random.default_rng(0)
    good_sent, good_out, drops = [], [], {r: 0 for r in DROP_REASONS}
    expected_drops = {r: 0 for r in DROP_REASONS}
    for _ in range(10_000):
        if rng.random() < 0.2:
            pos = rng.uniform(-1, 1, 2) * [2.0, 0.2]
            vel = rng.uniform(-1, 1, 2)
            good_sent.append(np.array([pos[0], vel[0], pos[1], vel[1]], np.float32))
            names, p, v = ["cart_slider", "pole_hinge"], pos, vel
        else:
            reason, names, p, v = BAD_READINGS[rng.integers(len(BAD_READINGS))]
            expected_drops[reason] += 1
        try:
            good_out.append(observation_from_joints(names, p, v))
        except MalformedInput as exc:
            drops[exc.reason] += 1
    assert drops == expected_drops
    np.testing.assert_array_equal(np.array(good_out), np.array(good_sent))


def test_a_robot_with_other_joint_names_and_limits_is_a_copy_of_the_file(tmp_path):
    doc = CARTPOLE.to_dict()
    for feature, name in zip(doc["observation"], ["x", "x", "th", "th"], strict=True):
        feature["joint"] = name
    doc["observation"][0]["limits"] = [-1.0, 1.0]
    doc["command"]["channels"] = ["x"]
    import yaml

    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(doc))
    mine = load_interface(tmp_path / "mine.yaml")
    with pytest.raises(MalformedInput, match="outside"):
        observation_from_joints(["x", "th"], [1.5, 0.0], [0.0, 0.0], mine)
    assert observation_from_joints(["th", "x"], [0.1, 0.5], [0.0, 0.0], mine)[0] == 0.5
    with pytest.raises(NeuroqError):
        load_interface("Pong-v5")


def test_action_table_clamps_and_refuses_unknown_actions():
    table = ActionTable.from_lists([[-20.0], [5.0]], [10.0])
    assert table.command(0).tolist() == [-10.0]
    assert table.command(1).tolist() == [5.0]
    for bad in (-1, 2):
        with pytest.raises(MalformedInput) as info:
            table.command(bad)
        assert info.value.reason == "bad_action"
    assert table.safe.tolist() == [0.0]
    with pytest.raises(NeuroqError, match="exceeds"):
        ActionTable.from_lists([[1.0]], [1.0], safe=[2.0])


def test_a_command_maps_back_to_the_nearest_action_within_tolerance():
    assert CARTPOLE.action_from_command([-10.0], 1e-3) == 0
    assert CARTPOLE.action_from_command([10.0], 1e-3) == 1
    assert CARTPOLE.action_from_command([0.0], 1e-3) is None  # the safe command steps nothing
    assert CARTPOLE.action_from_command([float("nan")], 1e-3) is None
    assert CARTPOLE.action_from_command([10.0, 0.0], 1e-3) is None  # not its channels
    nav = load_interface("nav")
    assert nav.action_from_command([0.15, -0.8], 1e-3) == 2
    assert nav.action_from_command([0.0, 0.0], 1e-3) == 5  # stop is an action there


def test_watchdog_trips_after_timeout_and_releases_on_a_fresh_action():
    dog = Watchdog(0.015)
    dog, send = watchdog_check(dog, 0.0)
    assert send and dog.tripped  # no action yet: safe
    dog, recovered = watchdog_feed(dog, 1.000)
    assert recovered and not dog.tripped
    dog, send = watchdog_check(dog, 1.010)
    assert not send
    dog, send = watchdog_check(dog, 1.016)
    assert send and dog.tripped and dog.trips == 1
    dog, send = watchdog_check(dog, 1.030)
    assert send and dog.trips == 1  # still tripped, one trip
    dog, recovered = watchdog_feed(dog, 1.040)
    assert recovered and not dog.tripped
    dog, send = watchdog_check(dog, 1.054, slack_s=0.0015)
    assert send  # within the slack of the timeout counts as expired
    with pytest.raises(NeuroqError):
        Watchdog(0.0)


def test_watchdog_counts_from_the_reading_only_when_its_stamp_is_plausible():
    assert credited_age(0.004, 0.015) == 0.004
    assert credited_age(-0.001, 0.015) == 0.0  # sensor clock ahead of ours
    assert credited_age(0.020, 0.015) == 0.0  # clocks disagree, or stale: trust arrival
    dog, _ = watchdog_feed(Watchdog(0.015), 1.000 - credited_age(0.004, 0.015))
    assert watchdog_check(dog, 1.010)[1] is False
    assert watchdog_check(dog, 1.0115)[1] is True  # 15 ms after the reading, not the arrival


def test_a_reading_a_timeout_old_on_the_same_kind_of_clock_is_stale():
    """Wall clocks in step (ROS's assumption) are compared; a clock counting from its own
    start (camera time, a microcontroller since boot, simulated time) against a wall clock
    is not, and such an action counts from its arrival."""
    now = 1_795_000_000.0  # 2026, a wall clock
    assert same_clock(now - 3600, now) and same_clock(12.5, 30.0)
    assert not same_clock(12.5, now) and not same_clock(now, 12.5)
    assert not is_stale(0.010, 0.015, now - 0.010, now)
    assert not is_stale(0.020, 0.015, now - 0.020, now)  # late: commanded from its arrival
    assert is_stale(0.030, 0.015, now - 0.030, now) and is_stale(3600, 0.015, now - 3600, now)
    assert not is_stale(now - 12.5, 0.015, 12.5, now)  # the event node's camera time
    assert is_stale(1.0, 0.015, 29.0, 30.0)  # simulated time on both sides: compared
    assert not is_stale(-0.005, 0.015, now + 0.005, now)  # ahead of our clock


def _reference_returns(env_id, seed, episodes, choose):
    env = gym.make(env_id)
    returns = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(choose(obs))
            total += r
            done = term or trunc
        returns.append(total)
    return returns


@pytest.mark.parametrize("name", ["cartpole", "acrobot"])
def test_lockstep_robot_gives_the_in_process_returns(name):
    robot_if = load_interface(name)
    env_id = robot_if.env_id
    rng = np.random.default_rng(1)
    if env_id == "CartPole-v1":
        def choose(obs):
            return int(obs[2] > 0)
    else:
        def choose(obs):
            return int(np.sign(obs[5]) + 1)
    robot = LockstepRobot(env_id, robot_if, seed=7, max_episodes=3, command_timeout_ticks=3)
    stamp = 0
    for _ in range(5000):
        stamp += 1
        tick = robot.tick(stamp)
        if robot.done:
            break
        if tick.observation is None:
            continue
        if rng.random() < 0.1:
            continue  # the answer comes late: next tick waits
        obs = robot_if.observe(tick.readings)  # what the policy node makes of the reading
        np.testing.assert_allclose(obs, tick.observation, atol=1e-6)
        a = choose(obs)
        assert robot.command(stamp - 1, robot_if.command.values[a]) is False  # stale stamp
        assert robot.command(stamp, robot_if.command.values[a])
    assert robot.returns == _reference_returns(env_id, 7, 3, choose)
    assert robot.counters.late_ticks > 0


def test_lockstep_robot_republishes_after_lost_commands():
    robot = LockstepRobot("CartPole-v1", CARTPOLE, command_timeout_ticks=2)
    assert robot.tick(1).observation is not None
    assert robot.command(1, [10.0]) is True  # connected: the controller answered once
    first = robot.tick(2).observation
    assert first is not None
    assert robot.tick(3).observation is None
    again = robot.tick(4)
    assert again.lost and again.observation is not None
    np.testing.assert_array_equal(again.observation, first)
    assert robot.command(2, [10.0]) is False  # answer to the superseded stamp
    assert robot.counters.answers_after_loss == 1
    assert robot.command(4, [0.0]) is False  # the safe (zero) effort selects no action
    assert robot.command(4, [10.0]) is True
    assert robot.tick(5).observation is not None
    c = robot.counters
    assert (c.steps, c.lost_commands, c.late_ticks) == (2, 1, 2)
    assert (c.startup_ticks, c.startup_republished) == (0, 0)


def test_lockstep_robot_counts_waiting_for_a_controller_as_start_up_not_loss():
    # before any answer the controller may still be starting or not yet discovered
    robot = LockstepRobot("CartPole-v1", CARTPOLE, command_timeout_ticks=2)
    first = robot.tick(1).observation
    assert robot.tick(2).observation is None
    again = robot.tick(3)
    assert not again.lost and again.observation is not None
    np.testing.assert_array_equal(again.observation, first)
    assert robot.command(3, [10.0]) is True
    assert robot.tick(4).observation is not None
    c = robot.counters
    assert (c.startup_ticks, c.startup_republished) == (2, 1)
    assert (c.late_ticks, c.lost_commands, c.steps) == (0, 0, 1)


def test_lockstep_robot_stamps_a_reading_after_the_step_that_produced_it():
    robot = LockstepRobot("CartPole-v1", CARTPOLE, command_timeout_ticks=2)
    steps_when_stamped = []

    def clock() -> int:  # a sensor stamps its sample: the step must already be done
        steps_when_stamped.append(robot.counters.steps)
        return 100 + len(steps_when_stamped)

    first = robot.tick(clock)
    assert first.stamp == 101 and first.observation is not None
    assert robot.command(101, [10.0])
    second = robot.tick(clock)
    assert second.stamp == 102
    assert steps_when_stamped == [0, 1]
    assert robot.tick(clock).stamp is None  # waiting: no reading, the clock is not read
    assert steps_when_stamped == [0, 1]
    assert robot.command(102, [-10.0])


NOW_NS = 1_800_000_000 * 10**9  # a plausible wall clock


@pytest.mark.parametrize(("sec", "nanosec"), [
    (1_800_000_000, 1_000_000_000),  # not normalized
    (1_800_000_000, 4_000_000_000),
    (-1, 0),  # before the epoch
    (0, 0),  # never stamped
    (1_800_000_002, 0),  # 2 s ahead of the clock
])
def test_stamps_no_sensor_clock_writes_are_refused(sec, nanosec):
    with pytest.raises(MalformedInput) as info:
        check_stamp(sec, nanosec, NOW_NS, 10**9)
    assert info.value.reason == "bad_stamp" and "bad_stamp" in DROP_REASONS


def test_plausible_stamps_pass_with_their_nanoseconds():
    assert check_stamp(1_800_000_000, 5, NOW_NS, 10**9) == NOW_NS + 5
    assert check_stamp(1, 0, NOW_NS, 10**9) == 10**9  # another clock, far behind: passes
    assert check_stamp(1_800_000_000, 999_999_999, NOW_NS, 10**9) == NOW_NS + 999_999_999
    # a simulated clock that has not started (0), or no bound: the lead is not judged
    assert check_stamp(1_800_000_002, 0, 0, 10**9) == NOW_NS + 2 * 10**9
    assert check_stamp(1_800_000_002, 0, NOW_NS, None) == NOW_NS + 2 * 10**9


def test_strings_copied_into_an_output_are_capped():
    assert check_copied_string("base_link", "frame_id") == "base_link"
    assert check_copied_string("f" * 256, "frame_id") == "f" * 256
    with pytest.raises(MalformedInput) as info:
        check_copied_string("f" * 257, "frame_id")
    assert info.value.reason == "too_long" and "too_long" in DROP_REASONS


def test_logs_show_names_so_that_look_alikes_differ_and_length_is_bounded():
    cyrillic = "p\u043ele_hinge"  # a Cyrillic o: prints like "pole_hinge"
    assert shown(cyrillic) == "'p\\u043ele_hinge'" != shown("pole_hinge")
    assert len(shown("x" * 1_000_000)) < 100 and "1000000 characters" in shown("x" * 10**6)
    assert shown_names(["a"] * 1000).endswith("...(1000 names)]")
    with pytest.raises(MalformedInput) as info:
        observation_from_joints(["cart_slider", cyrillic], [0.0, 0.0], [0.0, 0.0])
    assert "'p\\u043ele_hinge'" in str(info.value)


def test_lockstep_nav_robot_publishes_what_its_drivers_would_and_takes_twists():
    """The mobile robot's readings are its raw scan, odometry and goal (env.sensor_data):
    the interface turns them into exactly the environment's observation."""
    nav = load_interface("nav")
    robot = LockstepRobot(nav.env_id, nav, seed=5000, max_episodes=1, command_timeout_ticks=2)
    for stamp in range(1, 60):
        tick = robot.tick(stamp)
        if robot.done:
            break
        assert set(tick.readings) == {"scan", "odom", "goal"}
        assert len(tick.readings["scan"]["ranges"]) == 360
        np.testing.assert_array_equal(nav.observe(tick.readings), tick.observation)
        assert robot.command(stamp, [0.0, 1.42])  # turn left: no collision, no goal
    assert robot.counters.steps == 58


def test_a_late_run_is_a_lag_only_without_gaps_longer_than_the_timeout():
    """A burst of late actions, a silence, then one late action was taken for a constant
    lag (the review): a late one more than a timeout after the last starts a new run."""
    from neuroq.deploy.control import (
        LATE_RUN_CAP,
        LATE_RUN_DRAIN,
        LATE_RUN_LIMIT,
        LateRun,
        is_lagging,
        late_run,
    )

    now = 2e9  # a wall-clock time (stamps and node alike)
    run = LateRun()
    for k in range(LATE_RUN_LIMIT - 1):  # a burst at start-up
        run = late_run(run, 0.15, 0.1, now - 0.15, now, 0.001 * k)
    run = late_run(run, 0.15, 0.1, now - 0.15, now, 60.0)  # after a minute's silence
    assert run == LateRun(1, 60.0, 60.0) and not is_lagging(run, 0.1, 60.0)
    for k in range(1, 25):  # a lag at 20 Hz: every 50 ms
        run = late_run(run, 0.15, 0.1, now - 0.15, now, 60.0 + 0.05 * k)
    assert run.count == LATE_RUN_CAP and is_lagging(run, 0.1, run.last_s)
    for k in range(LATE_RUN_CAP // LATE_RUN_DRAIN):  # in time again: five in a row end it
        assert run.count > 0
        run = late_run(run, 0.05, 0.1, now - 0.05, now, 61.25 + 0.05 * k)
    assert run == LateRun()


@pytest.mark.parametrize(("late_of", "lagging"), [((4, 5), True), ((3, 4), True),
                                                  ((7, 10), True), ((2, 3), False),
                                                  ((1, 2), False), ((1, 10), False)])
def test_a_lag_with_some_actions_in_time_is_still_a_lag(late_of, lagging):
    """A lag with every fifth action in time was commanded for good (one in time ended the
    run: an outsider): a stream with more than two thirds of its actions late keeps its run
    and, after LATE_RUN_TIMEOUTS timeouts, its late actions are stale; one with fewer late
    (a loaded machine's) never is. In-time actions are never refused."""
    from neuroq.deploy.control import LateRun, is_lagging, is_stale, late_run

    now, timeout, late, of = 2e9, 0.1, *late_of
    run, refused, refused_in_time = LateRun(), 0, 0
    for k in range(400):  # 20 s at 20 Hz
        age = 0.15 if k % of < late else 0.05
        arrival = 0.05 * k
        run = late_run(run, age, timeout, now - age, now, arrival)
        stale = is_stale(age, timeout, now - age, now, is_lagging(run, timeout, arrival))
        refused += stale
        refused_in_time += stale and age < timeout
    assert refused_in_time == 0
    assert (refused > 0.9 * 400 * late / of) if lagging else refused == 0, refused
