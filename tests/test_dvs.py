"""DVS emulator and the event-driven pan-tracking env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import neuroq.envs  # noqa: F401  (registers neuroq/DVSPanTracking-v0)
from neuroq.deploy.events import EVENT_DTYPE, from_columns
from neuroq.envs.dvs import LOG_EPS, DvsEmulator, DvsParams, dvs_reset, dvs_step, event_counts
from neuroq.envs.pan_tracking import event_input_index

ENV_ID = "neuroq/DVSPanTracking-v0"


def flat(value: float, shape=(6, 8)) -> np.ndarray:
    return np.full(shape, value)


def lit(base: float, log_change: float) -> float:
    """The intensity whose log intensity (as the DVS sees it) is `log_change` above base's."""
    return (base + LOG_EPS) * np.exp(log_change) - LOG_EPS


def test_brightening_gives_on_events_and_darkening_off_events():
    params = DvsParams(8, 6, refractory_us=0)
    state = dvs_reset(flat(0.2), 0, params)
    brighter = flat(0.2)
    brighter[2, 5] = lit(0.2, 0.45)  # log change 0.45: two 0.2 thresholds
    events, state = dvs_step(state, brighter, 1000, params)
    assert events.dtype == EVENT_DTYPE
    assert events["p"].tolist() == [1, 1]
    assert set(zip(events["x"].tolist(), events["y"].tolist(), strict=True)) == {(5, 2)}
    # timestamps interpolated inside the frame interval, in order
    assert 0 < events["t"][0] < events["t"][1] <= 1000
    darker, state = dvs_step(state, flat(0.2), 2000, params)
    assert darker["p"].tolist() == [0, 0]
    assert np.all((darker["t"] > 1000) & (darker["t"] <= 2000))


def test_timestamps_follow_linear_interpolation():
    params = DvsParams(1, 1, on_threshold=0.1, refractory_us=0)
    state = dvs_reset(np.array([[0.1]]), 0, params)
    events, _ = dvs_step(state, np.array([[lit(0.1, 0.45)]]), 4500, params)
    # log intensity rises 0.45 linearly over 4500 us: crossings at 0.1, 0.2, 0.3, 0.4
    np.testing.assert_allclose(events["t"], [1000, 2000, 3000, 4000], atol=1)


def test_small_changes_give_no_events_and_thresholds_are_separate():
    params = DvsParams(8, 6, on_threshold=0.5, off_threshold=0.1, refractory_us=0)
    state = dvs_reset(flat(0.5), 0, params)
    up, state = dvs_step(state, flat(lit(0.5, 0.3)), 1000, params)  # below ON threshold
    assert up.size == 0
    down, _ = dvs_step(state, flat(lit(0.5, -0.15)), 2000, params)  # past OFF threshold
    assert down.size == 48 and np.all(down["p"] == 0)


def test_refractory_period_suppresses_events():
    frames = [flat(0.1), flat(lit(0.1, 1.05))]  # five 0.2 crossings, 210 us apart

    def count(refractory_us: int) -> int:
        params = DvsParams(8, 6, refractory_us=refractory_us)
        state = dvs_reset(frames[0], 0, params)
        events, _ = dvs_step(state, frames[1], 1000, params)
        per_pixel = np.bincount(events["y"].astype(int) * 8 + events["x"], minlength=48)
        assert np.all(per_pixel == per_pixel[0])
        if events.size:
            t = events["t"][(events["x"] == 0) & (events["y"] == 0)]
            assert np.all(np.diff(t) >= refractory_us)
        return int(per_pixel[0])

    assert count(0) == 5
    assert count(300) == 3  # crossings 210 us apart: keep the 1st, 3rd and 5th
    assert count(5000) == 1


def test_refractory_carries_over_frames():
    def run(refractory_us: int) -> list[int]:
        emu = DvsEmulator(DvsParams(1, 1, refractory_us=refractory_us))
        emu.reset(np.array([[0.1]]), 0)
        sizes = [emu.step(np.array([[lit(0.1, 0.25)]]), 1000).size]  # ON
        sizes.append(emu.step(np.array([[lit(0.1, -0.1)]]), 2000).size)  # OFF, 1 ms later
        sizes.append(emu.step(np.array([[lit(0.1, 0.25)]]), 20_000).size)  # ON, much later
        return sizes

    assert run(0) == [1, 1, 1]
    assert run(10_000) == [1, 0, 1]  # the OFF event falls in the 10 ms dead time


def test_vectorised_shapes_and_sorted_times_on_a_large_sensor():
    params = DvsParams(200, 100, refractory_us=0)
    xs = np.arange(200)
    state = dvs_reset(np.tile(0.5 + 0.4 * np.sin(xs / 7.0), (100, 1)), 0, params)
    events, state = dvs_step(state, np.tile(0.5 + 0.4 * np.sin((xs + 3) / 7.0), (100, 1)),
                             5000, params)
    assert events.size > 1000
    assert np.all(np.diff(events["t"]) >= 0)
    assert events["x"].max() < 200 and events["y"].max() < 100
    counts = event_counts(events, 200, 100)
    assert counts.shape == (2, 100, 200) and counts.dtype == np.float32
    assert counts.sum() == events.size
    # every row sees the same 1-D pattern, so every row has the same events
    assert np.all(counts.sum(axis=2) == counts.sum(axis=2)[:, :1])


def test_noise_is_seeded_and_has_the_expected_rate():
    params = DvsParams(64, 64, noise_rate_hz=50.0)

    def run(seed):
        emu = DvsEmulator(params, np.random.default_rng(seed))
        emu.reset(flat(0.5, (64, 64)), 0)
        return emu.step(flat(0.5, (64, 64)), 100_000)

    a, b, c = run(1), run(1), run(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    expected = 50.0 * 64 * 64 * 0.1  # 20480
    assert abs(a.size - expected) < 5 * np.sqrt(expected)
    with pytest.raises(ValueError, match="rng"):
        dvs_step(dvs_reset(flat(0.5, (64, 64)), 0, params), flat(0.5, (64, 64)), 10, params)


def test_bad_arguments_raise_neuroq_errors():
    with pytest.raises(ValueError):
        DvsParams(0, 5)
    with pytest.raises(ValueError):
        DvsParams(5, 5, on_threshold=0)
    params = DvsParams(8, 6)
    state = dvs_reset(flat(0.5), 100, params)
    with pytest.raises(ValueError, match="after the previous frame"):
        dvs_step(state, flat(0.5), 100, params)
    with pytest.raises(ValueError, match="frame shape"):
        dvs_step(state, np.zeros((5, 5)), 200, params)


# --- the env ----------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id, kwargs", [
    (ENV_ID, {}),
    (ENV_ID, {"pool": 2, "render_mode": "rgb_array"}),
    ("neuroq/DVSPanTrackingPooled-v0", {}),
])
def test_env_passes_gymnasium_check_env(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    check_env(env.unwrapped, skip_render_check=False)
    if "render_mode" in kwargs:
        env.reset(seed=1)
        frame = env.render()
        assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8
    side = 32 // kwargs.get("pool", 4 if "Pooled" in env_id else 1)
    assert env.observation_space.shape == (2, side, side)
    env.close()


@pytest.mark.parametrize("pool", [1, 4])
def test_env_observation_is_the_event_counts_of_the_step(pool):
    env = gym.make(ENV_ID, pool=pool, noise_rate_hz=0.0)
    obs, info = env.reset(seed=0)
    side = 32 // pool
    assert obs.shape == (2, side, side) and obs.dtype == np.float32
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(1)
        events = from_columns(info["events"])
        assert events.size > 0  # the blinking target is always visible
        counts = event_counts(events, 32, 32).reshape(2, side, pool, side, pool).sum((2, 4))
        np.testing.assert_array_equal(obs, np.minimum(counts, 16))
        # each event drives the input neuron of its observation cell
        index = event_input_index(info["events"], pool)
        by_index = np.bincount(index, minlength=obs.size).reshape(obs.shape)
        np.testing.assert_array_equal(obs, np.minimum(by_index, 16))
        assert np.all(np.diff(events["t"]) >= 0)
        assert 0.0 <= reward <= 1.0


def test_env_rewards_tracking_over_doing_nothing():
    env = gym.make(ENV_ID)

    def mean_return(policy) -> float:
        returns = []
        for seed in range(6):
            obs, info = env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                obs, r, terminated, truncated, info = env.step(policy(info))
                total += r
                done = terminated or truncated
            returns.append(total)
        return float(np.mean(returns))

    def tracker(info):
        return 2 if info["error_px"] > 1 else (0 if info["error_px"] < -1 else 1)

    tracked = mean_return(tracker)
    still = mean_return(lambda info: 1)
    assert tracked > 0.9 * env.unwrapped.max_steps
    assert still < 0.6 * tracked


def test_env_rejects_bad_arguments():
    with pytest.raises(ValueError):
        gym.make(ENV_ID, pool=3)
    env = gym.make(ENV_ID).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(7)
