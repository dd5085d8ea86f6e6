"""The event task through convert and the closed-loop evaluator, events as input spikes.

A small random Q-MLP stands in for the trained DQN (no torch needed): conversion with the
event encoder must run on the flattened (2, 8, 8) counts, and `neuroq.deploy.evaluate` must feed an
event-encoder policy the events of each period, not the counts.
"""

import numpy as np
import pytest

from neuroq.agents.convert import FloatMLP, convert, make_encoder, make_env, record_observations
from neuroq.deploy.encoders import EventEncoder
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.evaluate import evaluate
from neuroq.deploy.policy import SpikingPolicy

ENV_ID = "neuroq/DVSPanTrackingPooled-v0"


def small_mlp(seed=0):
    rng = np.random.default_rng(seed)
    w = (rng.normal(size=(16, 128)) * 0.3, rng.normal(size=(3, 16)) * 0.3)
    return FloatMLP(tuple(x.astype(np.float32) for x in w),
                  (np.zeros(16, np.float32), np.zeros(3, np.float32)))


@pytest.fixture(scope="module")
def converted():
    mlp = small_mlp()
    obs = record_observations(mlp, ENV_ID, 400, seed=1)
    enc = make_encoder("event", obs, n_layers=2, env_id=ENV_ID)
    return mlp, obs, enc, convert(mlp, enc, obs, timesteps=8)


def test_event_encoder_takes_its_geometry_from_the_env(converted):
    mlp, obs, enc, net = converted
    assert obs.shape == (400, 128) and make_env(ENV_ID).observation_space.shape == (128,)
    assert enc == EventEncoder(32, 32, 4, 10_000, silent_tail=2)
    assert net.n_inputs == 128 and net.timesteps == 8
    with pytest.raises(NeuroqError, match="event-camera env"):
        make_encoder("event", np.zeros((4, 4), np.float32), 2, env_id="CartPole-v1")


def test_evaluate_feeds_events_to_an_event_policy(converted, monkeypatch):
    _, _, enc, net = converted
    policy = SpikingPolicy(net, enc, {"env_id": ENV_ID}, backend="emulator")
    fed = []
    real = enc.encode_events

    def spy(events, start, t):
        fed.append((len(events), np.asarray(start).copy()))
        return real(events, start, t)

    object.__setattr__(enc, "encode_events", spy)  # frozen dataclass: test-only patch
    try:
        res = evaluate(policy, episodes=3, seed=5, max_steps=6)
        n_fed = len(fed)
        # the same network fed counts instead (its steps on the observations): it runs the
        # same episodes and never takes events
        counts = evaluate(type("C", (), {"__getattr__": lambda s, k: getattr(policy, k),
                                         "run_step": lambda s, obs, infos: policy.run_batch(
                                             obs)})(), episodes=3, seed=5, max_steps=6)
    finally:
        object.__delattr__(enc, "encode_events")
    assert res["actions"] == sum(n for n, _ in fed) > 0
    # the first call covers each episode's first period, (0, 10 ms]; later ones move on
    assert fed[0][1].tolist() == [0, 0, 0] and fed[1][1].tolist() == [10_000] * 3
    assert len(fed) == n_fed and counts["actions"] > 0
    assert counts["episode_seeds"] == res["episode_seeds"] == [5, 7]


def test_act_events_equals_run_events_on_a_batch_of_one(converted):
    """The event node's per-action path (act_events, through Emulator.run_one) must give
    what the batch path gives: same action, bit-identical Q-values, same counts and modeled
    costs, on empty periods, dense ones and ones with events off the sensor or the period."""
    _, _, enc, net = converted
    policy = SpikingPolicy(net, enc, {"env_id": ENV_ID}, backend="emulator")
    rng = np.random.default_rng(11)
    fields = ("action", "chip_time_s", "synaptic_events", "spikes", "energy_dynamic_j",
              "energy_total_j", "backend", "chip_synaptic_events")
    spiking_periods = 0
    for n in (0, 1, 30, 500, 5000):
        start = int(rng.integers(0, 10**9))
        events = {"x": rng.integers(-2, enc.width + 2, n), "y": rng.integers(0, enc.height, n),
                  "t": start + rng.integers(-100, enc.period_us + 100, n),
                  "p": rng.integers(0, 2, n)}
        one = policy.act_events(events, start)
        batch = policy.run_events([events], [start])
        ref = policy._first_action(batch, 0.0)
        assert one.q.dtype == ref.q.dtype and np.array_equal(one.q, ref.q), n
        for name in fields:
            assert getattr(one, name) == getattr(ref, name), (n, name)
        inputs = int(enc.encode_events([events], [start], net.timesteps).sum())
        spiking_periods += one.spikes > inputs  # spikes beyond the input source's
    assert spiking_periods >= 3  # the comparison covered networks whose neurons spiked
