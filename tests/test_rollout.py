"""The one closed-loop evaluator: seeding, streaming, time limits, closing, errors."""

import gymnasium as gym
import numpy as np
import pytest

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.rollout import episode_seed, make_env, run_episodes


def lean_policy(obs, _infos):
    """CartPole: push towards the pole's lean (deterministic, survives tens of steps)."""
    return (obs[:, 2] + 0.3 * obs[:, 3] > 0).astype(np.int64)


def reference_returns(episodes, seed):
    """The same episodes played one at a time with plain gym.make, no evaluator."""
    out = []
    for i in range(episodes):
        env = gym.make("CartPole-v1")
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(int(lean_policy(obs[None], None)[0]))
            total += r
            done = term or trunc
        env.close()
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("batch", [1, 3, 7, 100])
def test_episode_i_is_seeded_seed_plus_i_whatever_the_batch(batch):
    res = run_episodes("CartPole-v1", lean_policy, episodes=7, seed=40, batch=batch)
    assert res.seeds.tolist() == [episode_seed(40, i) for i in range(7)] == list(range(40, 47))
    np.testing.assert_array_equal(res.returns, reference_returns(7, 40))
    assert res.complete.all() and res.steps == res.lengths.sum()


def test_max_steps_truncates_episodes_and_max_total_steps_stops_the_run():
    res = run_episodes("CartPole-v1", lean_policy, episodes=5, seed=0, max_steps=3)
    assert res.lengths.tolist() == [3] * 5 and res.returns.tolist() == [3.0] * 5
    part = run_episodes("CartPole-v1", lean_policy, episodes=50, seed=0, batch=4,
                        max_total_steps=10)
    assert part.steps == 12  # whole steps of 4 running episodes: 4, 8, 12
    assert len(part.returns) == 4 and not part.complete.any()


def test_the_policy_sees_only_running_episodes_and_their_infos():
    batches = []

    def act(obs, infos):
        batches.append((obs.shape, len(infos)))
        return np.zeros(len(obs), np.int64)

    run_episodes("CartPole-v1", act, episodes=5, seed=0, batch=2)
    assert all(n == shape[0] and shape[1] == 4 for shape, n in batches)
    assert {shape[0] for shape, _ in batches} <= {1, 2}


class CloseCounter(gym.Wrapper):
    closed = 0

    def close(self):
        CloseCounter.closed += 1
        super().close()


@pytest.mark.parametrize("fail", [False, True])
def test_environments_are_closed_also_when_the_policy_fails(fail):
    CloseCounter.closed = 0

    def act(obs, infos):
        if fail:
            raise RuntimeError("policy failed")
        return lean_policy(obs, infos)

    if fail:
        with pytest.raises(RuntimeError, match="policy failed"):
            run_episodes("CartPole-v1", act, episodes=3, seed=0, wrappers=[CloseCounter])
    else:
        run_episodes("CartPole-v1", act, episodes=3, seed=0, wrappers=[CloseCounter])
    assert CloseCounter.closed == 3


def test_many_episodes_stream_through_a_bounded_batch():
    made = []
    real_make = gym.make

    def counting_make(*args, **kwargs):
        made.append(1)
        return real_make(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(gym, "make", counting_make)
    try:
        res = run_episodes("CartPole-v1", lean_policy, episodes=300, seed=0, batch=8,
                           max_steps=2)
    finally:
        mp.undo()
    assert len(made) == 8 and len(res.returns) == 300


@pytest.mark.parametrize("env_id,message", [
    ("NoSuchEnv-v0", "cannot make environment"),
    ("nosuchmodule:Foo-v0", "cannot make environment"),
    (123, "non-empty string"),
    ("", "non-empty string"),
])
def test_bad_env_ids_are_one_clear_error(env_id, message):
    with pytest.raises(NeuroqError, match=message):
        make_env(env_id)


@pytest.mark.parametrize("kwargs,message", [
    ({"episodes": 0}, "episodes"), ({"episodes": 2.5}, "episodes"),
    ({"episodes": 2, "seed": -1}, "seed"), ({"episodes": 2, "max_steps": 0}, "max_steps"),
    ({"episodes": 2, "max_steps": -5}, "max_steps"), ({"episodes": 2, "batch": 0}, "batch"),
])
def test_bad_run_settings_are_refused(kwargs, message):
    with pytest.raises(NeuroqError, match=message):
        run_episodes("CartPole-v1", lean_policy, **kwargs)


def test_multi_dimensional_observations_are_flattened_in_c_order():
    env = make_env("neuroq/DVSPanTrackingPooled-v0")
    obs, info = env.reset(seed=0)
    assert obs.shape == (128,) and "events" in info and info["window_start_us"] == 0
    env.close()


def test_a_class_env_whose_episodes_never_end_is_cut_at_its_time_limit():
    """An outsider's env class with no time limit hung train's final evaluation (after a
    warning): a class named directly gets CLASS_MAX_EPISODE_STEPS as its time limit."""
    from neuroq.deploy.envref import CLASS_MAX_EPISODE_STEPS

    res = run_episodes("tests.helpers.user_envs:NeverEndsEnv",
                       lambda obs, _infos: np.ones(len(obs), np.int64), episodes=2, seed=0)
    assert res.lengths.tolist() == [CLASS_MAX_EPISODE_STEPS] * 2


def test_a_builtin_named_as_the_env_is_refused_before_it_is_called():
    """A manifest's env_id 'os:system' called os.system before anything refused it (an
    outsider): a builtin makes no env (os:getpid here, harmless to call)."""
    with pytest.raises(NeuroqError, match="os:getpid.*builtin function"):
        make_env("os:getpid")
    # a callable object that is no function: builtins:exit ended eval with status 0
    with pytest.raises(NeuroqError, match="builtins:exit.*a callable Quitter object, not "
                                          "an environment class or factory"):
        make_env("builtins:exit")
