"""Statistics of returns that users can trust: mean with a bootstrap confidence interval,
the worst 5 %, the spread. numpy only.

The 95 % interval of the mean is the percentile bootstrap (Efron and Tibshirani, "An
Introduction to the Bootstrap", 1993, ch. 13): the mean of `BOOTSTRAP_RESAMPLES` resamples
of the episodes drawn with replacement, its 2.5th and 97.5th percentiles. The resampling
generator is seeded, so the same returns give the same interval.
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
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // x.size)  # bounded memory for long runs
    for i in range(0, resamples, chunk):
        n = min(chunk, resamples - i)
        means[i:i + n] = x[rng.integers(0, x.size, (n, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return float(lo), float(hi)


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
