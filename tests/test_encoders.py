"""Encoders: shapes, determinism, spike counts, parameters round trip, bad input."""

import json
import time

import numpy as np
import pytest

from neuroq.deploy.encoders import (
    PoissonEncoder,
    PopulationEncoder,
    RateEncoder,
    deterministic_spikes,
    encoder_from_dict,
    with_silent_tail,
)
from neuroq.deploy.errors import NeuroqError

RNG = np.random.default_rng(0)
OBS = RNG.normal(size=(500, 4)).astype(np.float32)


def all_encoders():
    return [RateEncoder.fit(OBS), PoissonEncoder.fit(OBS), PopulationEncoder.fit(OBS, 8),
            PopulationEncoder.fit(OBS, 5, width=0.5, silent_tail=3)]


@pytest.mark.parametrize("enc", all_encoders(), ids=lambda e: e.kind)
def test_shape_dtype_and_dict_round_trip(enc):
    s = enc.encode(OBS[:7], 8, rng=np.random.default_rng(1))
    assert s.shape == (8, 7, enc.n_inputs) and s.dtype == bool
    d = json.loads(json.dumps(enc.to_dict()))
    back = encoder_from_dict(d)
    assert back == enc and type(back) is type(enc)
    s2 = back.encode(OBS[:7], 8, rng=np.random.default_rng(1))
    assert np.array_equal(s, s2)


def test_deterministic_counts_are_rounded_rates():
    r = np.array([[0.0, 0.1, 0.25, 0.49, 0.5, 0.74, 1.0]], np.float32)
    for active in (1, 4, 8, 29):
        s = deterministic_spikes(r, active + 3, active)
        assert not s[active:].any()
        np.testing.assert_array_equal(s.sum(0)[0], np.floor(r[0] * active + 0.5))


def test_rate_on_off_channels():
    enc = RateEncoder(center=(0.0,), half_range=(2.0,))
    s = enc.encode(np.array([[1.0], [-2.0], [0.0]], np.float32), 10)
    counts = s.sum(0)
    np.testing.assert_array_equal(counts, [[5, 0], [0, 10], [0, 0]])


def test_population_peak_at_nearest_centre():
    enc = PopulationEncoder(low=(-1.0,), high=(1.0,), n_per_dim=5)  # centres -1,-.5,0,.5,1
    r = enc.rates(np.array([[0.5], [-1.0]], np.float32))
    assert r[0].argmax() == 3 and r[1].argmax() == 0 and r[0, 3] == pytest.approx(1.0)
    s = enc.encode(np.array([[0.5]], np.float32), 4, rng=None)
    assert s[0, 0].tolist() == [False, False, True, True, True]  # neighbours: exp(-1/2)
    sharp = PopulationEncoder(low=(-1.0,), high=(1.0,), n_per_dim=5, width=0.5)
    s = sharp.encode(np.array([[0.5]], np.float32), 4, rng=None)
    assert s[0, 0].tolist() == [False, False, False, True, False]


def test_poisson_needs_generator_and_matches_rate_on_average():
    enc = PoissonEncoder(center=(0.0,), half_range=(1.0,))
    with pytest.raises(NeuroqError, match="Generator"):
        enc.encode(np.zeros((1, 1), np.float32), 4)
    s = enc.encode(np.full((2000, 1), 0.3, np.float32), 16, rng=np.random.default_rng(2))
    assert s[:, :, 0].mean() == pytest.approx(0.3, abs=0.01)
    a = enc.encode(np.full((5, 1), 0.3, np.float32), 16, rng=np.random.default_rng(3))
    b = enc.encode(np.full((5, 1), 0.3, np.float32), 16, rng=np.random.default_rng(3))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("bad", [np.zeros((2, 3)), np.zeros(4), np.array([[0, np.nan, 0, 0]])])
def test_bad_observations(bad):
    for enc in all_encoders():
        with pytest.raises(NeuroqError, match="shape|NaN"):
            enc.encode(bad, 8, rng=np.random.default_rng(0))


def test_too_few_steps_and_bad_dicts():
    enc = with_silent_tail(PopulationEncoder.fit(OBS), 3)
    with pytest.raises(NeuroqError, match="T = 3"):
        enc.encode(OBS[:1], 3)
    assert enc.encode(OBS[:1], 4).shape == (4, 1, enc.n_inputs)
    with pytest.raises(NeuroqError, match="unknown encoder"):
        encoder_from_dict({"kind": "morse"})
    with pytest.raises(NeuroqError, match="bad parameters"):
        encoder_from_dict({"kind": "rate", "center": [0.0]})
    with pytest.raises(NeuroqError):
        PopulationEncoder(low=(1.0,), high=(0.0,))


def test_a_huge_population_is_refused_before_its_arrays_are_built():
    """n_per_dim 1e8 (an outsider's fuzzing) took 15.8 s of building arrays of that size
    before anything refused it."""
    import time

    t0 = time.process_time()
    with pytest.raises(NeuroqError, match="n_per_dim must be at most 65,536, got 100,000,000"):
        encoder_from_dict({"kind": "population", "low": [0.0], "high": [1.0],
                           "n_per_dim": 1e8})
    assert time.process_time() - t0 < 1.0
    assert PopulationEncoder(low=(0.0,), high=(1.0,), n_per_dim=65_536).n_inputs == 65_536


def test_encode_one_observation_is_fast():
    enc = PopulationEncoder.fit(OBS, 16)
    one = OBS[:1]
    enc.encode(one, 8)
    best = float("inf")
    for _ in range(5):  # CPU time, best of 5: robust to other jobs on a shared machine
        t0 = time.process_time()
        for _ in range(200):
            enc.encode(one, 8)
        best = min(best, (time.process_time() - t0) / 200 * 1e6)
    assert best < 150, best  # about 40 us here; the whole action budget is 250 us
