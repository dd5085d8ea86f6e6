"""deploy/stats.py: the paired interval of one network's return as a fraction of another's."""

import numpy as np
import pytest

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.stats import bootstrap_ci, fraction_ci, fraction_of


def test_the_paired_interval_is_narrower_than_the_episodes_spread():
    """Two networks on the same episodes: the episode-to-episode spread (std 15) is common to
    both and leaves the interval of their ratio; what differs (std 3) sets its width."""
    rng = np.random.default_rng(1)
    hard = rng.normal(-80.0, 15.0, 100)
    a, b = hard, hard + rng.normal(0.0, 3.0, 100)
    lo, hi = fraction_ci(a, b)
    assert lo <= fraction_of(a.mean(), b.mean()) <= hi
    assert hi - lo < 0.03
    # an unpaired view of the same data is several times wider
    (alo, ahi), (blo, bhi) = bootstrap_ci(a), bootstrap_ci(b)
    assert fraction_of(alo, bhi) < lo - 0.02 and fraction_of(ahi, blo) > hi + 0.02


def test_a_real_shortfall_lies_below_and_identical_networks_give_one():
    rng = np.random.default_rng(2)
    ref = rng.normal(200.0, 40.0, 100)
    assert fraction_ci(ref, ref) == (1.0, 1.0)
    lo, hi = fraction_ci(0.8 * ref + rng.normal(0.0, 5.0, 100), ref)
    assert 0.75 < lo < hi < 0.85
    # negative returns (Acrobot): -90 against -80 is 0.89
    lo, hi = fraction_ci(np.full(10, -90.0), np.full(10, -80.0))
    assert lo == hi == pytest.approx(80 / 90)


def test_undefined_fractions_and_bad_input():
    assert all(np.isnan(fraction_ci([1.0, 2.0], [0.0, 0.0])))
    # a reference whose mean is near 0: resamples of both signs, no one fraction
    rng = np.random.default_rng(3)
    ref = rng.normal(0.5, 10.0, 100)
    assert all(np.isnan(fraction_ci(ref + 1.0, ref)))
    # a negative reference against values that are mostly positive: undefined
    assert all(np.isnan(fraction_ci(np.full(20, 5.0) + rng.normal(0, 1, 20),
                                    np.full(20, -80.0))))
    # positive reference, a value below 0: a negative fraction, as fraction_of gives
    lo, hi = fraction_ci(np.full(10, -10.0), np.full(10, 100.0))
    assert lo == hi == fraction_of(-10.0, 100.0)
    with pytest.raises(NeuroqError):
        fraction_ci([1.0, 2.0], [1.0])
    with pytest.raises(NeuroqError):
        fraction_ci([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(NeuroqError):
        fraction_ci([], [])


def test_the_reason_a_share_has_no_interval_is_the_one_that_holds():
    """The gate and the robustness table said "the float return's resampled means take
    both signs" also where the float return was plainly negative (-12.7, interval -16.7 to
    -8.7) and the SNN's mean near 0 made the share undefined (an outsider)."""
    from neuroq.deploy.stats import (
        SHARE_MIXED_SIGNS,
        SHARE_VALUE_NOT_NEGATIVE,
        share_undefined_reason,
    )

    rng = np.random.default_rng(4)
    near_zero = rng.normal(0.5, 10.0, 100)
    assert share_undefined_reason(near_zero + 1.0, near_zero) == SHARE_MIXED_SIGNS
    negative = rng.normal(-12.7, 20.0, 100)
    assert bootstrap_ci(negative)[1] < 0  # the float return is negative throughout
    snn = negative + 13.0 + rng.normal(0.0, 3.0, 100)  # about 0.3: a share is undefined
    assert all(np.isnan(fraction_ci(snn, negative)))
    assert share_undefined_reason(snn, negative) == SHARE_VALUE_NOT_NEGATIVE
    for values, ref in ((negative - 5.0, negative), (near_zero + 200, near_zero + 100)):
        assert np.isfinite(fraction_ci(values, ref)[0])
        assert share_undefined_reason(values, ref) is None


def test_a_float_return_of_zero_is_said_as_such():
    """A recheck's float returns all 0, or of 0 and 5, were said to "take both signs"."""
    from neuroq.deploy.stats import SHARE_REFERENCE_ZERO, share_undefined_reason

    for ref in (np.zeros(20), np.array([0.0, 0.0, 0.0, 5.0] * 5)):
        assert share_undefined_reason(np.ones(20), ref) == SHARE_REFERENCE_ZERO
