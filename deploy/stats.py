"""Statistics of returns that users can trust: mean with a bootstrap confidence interval,
the worst 5 %, the spread. numpy only.

The 95 % interval of the mean is the percentile bootstrap (Efron and Tibshirani, "An
Introduction to the Bootstrap", 1993, ch. 13): the mean of `BOOTSTRAP_RESAMPLES` resamples
of the episodes drawn with replacement, its 2.5th and 97.5th percentiles. The resampling
generator is seeded, so the same returns give the same interval. Two networks played on
the same episodes (same seeds, same perturbation) are compared with the paired bootstrap:
each resample draws episode indices once and takes both networks' means over them, so the
interval of their ratio (`fraction_ci`) leaves out what the episodes have in common.
"""

from __future__ import annotations

import math

import numpy as np

from neuroq.deploy.errors import NeuroqError

#: Resamples of the bootstrap (the interval's ends move by well under 1 % of its width).
BOOTSTRAP_RESAMPLES = 10_000
#: Seed of the resampling generator.
BOOTSTRAP_SEED = 0
#: Confidence level of the interval.
CONFIDENCE = 0.95
#: Fewest episodes whose percentile-bootstrap interval is taken at its word: with fewer, the
#: resamples repeat a handful of returns and the interval is too narrow (one episode gives
#: a zero-width one: an outsider's export gate of 1 episode "passed, 105.8-105.8 %"). Below
#: it a gate's verdict is said to rest on too few episodes (deploy.artifact.gate_warning).
#: Efron and Tibshirani, An Introduction to the Bootstrap (1993), ch. 13: percentile
#: intervals are unreliable in small samples; 20 is our rounding of that advice.
MIN_INTERVAL_EPISODES = 20
#: Fraction of episodes whose mean return is the "worst-5 %" figure (NeuroBench's risk).
WORST_FRACTION = 0.05


def worst_fraction_mean(returns: np.ndarray, fraction: float = WORST_FRACTION) -> float:
    """Mean of the lowest ceil(fraction * n) returns."""
    r = np.sort(np.asarray(returns, np.float64))
    return float(r[: max(1, math.ceil(fraction * len(r)))].mean())


def bootstrap_ci(values: np.ndarray, level: float = CONFIDENCE,
                 resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values` at `level` (see module)."""
    x = np.asarray(values, np.float64).reshape(-1)
    if x.size == 0 or not np.isfinite(x).all():
        raise NeuroqError("a confidence interval needs at least one finite value")
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    return _percentile_interval(_resampled_means(x[:, None], resamples, seed)[:, 0], level)


def _percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` interval of bootstrap `samples` (its percentiles)."""
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(samples, [tail, 100.0 - tail])
    return float(lo), float(hi)


def _resampled_means(columns: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of `resamples` bootstrap resamples of the rows of `columns` (episodes x k),
    the same rows for every column: shape (resamples, k)."""
    rng = np.random.default_rng(seed)
    n = columns.shape[0]
    means = np.empty((resamples, columns.shape[1]))
    chunk = max(1, 2_000_000 // (n * columns.shape[1]))  # bounded memory for long runs
    for i in range(0, resamples, chunk):
        m = min(chunk, resamples - i)
        means[i:i + m] = columns[rng.integers(0, n, (m, n))].mean(axis=1)
    return means


def summarize(returns: np.ndarray) -> dict[str, float | int | list[float]]:
    """mean, its 95 % bootstrap interval, std, worst 5 %, min, max and n of `returns`."""
    r = np.asarray(returns, np.float64)
    lo, hi = bootstrap_ci(r)
    return {"mean": float(r.mean()), "ci95": [lo, hi], "std": float(r.std()),
            "worst5pct_mean": worst_fraction_mean(r), "min": float(r.min()),
            "max": float(r.max()), "n": int(r.size)}


def fraction_of(value: float, reference: float) -> float:
    """`value` as a fraction of `reference`, where higher returns are better: value /
    reference when the reference is positive; reference / value when both are negative
    (Acrobot: -90 against a reference of -80 gives 0.89); NaN when it is not defined."""
    if reference > 0:
        return value / reference
    if reference < 0 and value < 0:
        return reference / value
    return float("nan")


def difference_ci(values: np.ndarray, reference: np.ndarray, level: float = CONFIDENCE,
                  resamples: int = BOOTSTRAP_RESAMPLES,
                  seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Paired percentile-bootstrap interval at `level` of mean(values) - mean(reference),
    values[i] and reference[i] being two networks' returns on the same episode i: defined
    for returns of any sign (where a share of the reference is not: a reference whose
    resampled means take both signs, `fraction_ci`). Raises NeuroqError as `fraction_ci`."""
    v, r = _paired_means(values, reference, resamples, seed)
    return _percentile_interval(v - r, level)


def _paired_means(values: np.ndarray, reference: np.ndarray, resamples: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Both runs' means over the same bootstrap resamples of their episodes (paired);
    NeuroqError for arrays of different lengths, empty or not finite."""
    a = np.asarray(values, np.float64).reshape(-1)
    b = np.asarray(reference, np.float64).reshape(-1)
    if a.size != b.size or a.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise NeuroqError("a paired interval needs two equally long runs of finite returns, "
                          f"got {a.size} and {b.size}")
    means = _resampled_means(np.stack([a, b], axis=1), resamples, seed)
    return means[:, 0], means[:, 1]


def fraction_ci(values: np.ndarray, reference: np.ndarray, level: float = CONFIDENCE,
                resamples: int = BOOTSTRAP_RESAMPLES,
                seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Paired percentile-bootstrap interval at `level` of `fraction_of(mean(values),
    mean(reference))`, where values[i] and reference[i] are two networks' returns on the
    same episode i (module docstring). (nan, nan) where the fraction is not one quantity
    over the resamples: the reference's resampled means are not all of one sign (then
    `fraction_of` would mix its two formulas), or, for a negative reference, more than
    1 - level of the resamples have a value mean >= 0 (undefined there; the rest are
    left out). Raises NeuroqError for arrays of different lengths, empty or not finite."""
    v, r = _paired_means(values, reference, resamples, seed)
    if _share_problem(v, r, level) is not None:
        return float("nan"), float("nan")
    frac = v / r if (r > 0).all() else r[v < 0] / v[v < 0]
    return _percentile_interval(frac, level)


#: Why `fraction_ci` has no interval (`share_undefined_reason`), as the gate and the
#: robustness table say it.
SHARE_MIXED_SIGNS = "the float return's resampled means take both signs"
SHARE_VALUE_NOT_NEGATIVE = ("the float return is negative and the other's resampled means "
                            "reach 0 or above in more than 5 % of the resamples, where a share "
                            "of a negative return is not defined")
SHARE_REFERENCE_ZERO = ("the float return's resampled means reach 0, of which no share is "
                        "defined")


def _share_problem(v: np.ndarray, r: np.ndarray, level: float) -> str | None:
    """`fraction_ci`'s reason for no interval over the paired resampled means `v`, `r`;
    None where there is one."""
    if (r > 0).all():
        return None
    if (r < 0).all():
        return None if (v < 0).sum() >= level * v.size else SHARE_VALUE_NOT_NEGATIVE
    # both signs, or never one of them: returns of 0 (a recheck's all-zero float return
    # was said to take both signs)
    return SHARE_MIXED_SIGNS if (r < 0).any() and (r > 0).any() else SHARE_REFERENCE_ZERO


def share_undefined_reason(values: np.ndarray, reference: np.ndarray,
                           level: float = CONFIDENCE, resamples: int = BOOTSTRAP_RESAMPLES,
                           seed: int = BOOTSTRAP_SEED) -> str | None:
    """Why `fraction_ci` of the same arguments has no interval (SHARE_MIXED_SIGNS,
    SHARE_VALUE_NOT_NEGATIVE, SHARE_REFERENCE_ZERO), None where it has one. The gate and
    the robustness table said "the float return's resampled means take both signs" for
    every case (an outsider's float return was -12.7, its interval -16.7 to -8.7)."""
    v, r = _paired_means(values, reference, resamples, seed)
    return _share_problem(v, r, level)
