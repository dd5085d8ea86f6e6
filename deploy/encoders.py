"""Input encoders: observations (batch, n_obs) float32 -> input spike trains (T, batch, n_in).

The input spike source of a spiking Q-network is a population of `n_inputs` spike
generators (py-spinnaker2's `spike_list`). An encoder decides which of them fire in which of
the T steps of one action. Three encoders:

- `RateEncoder` (kind "rate"): deterministic rate coding. Each observation dimension d is
  normalized, `z = (x - center_d) / half_range_d`, and split into an ON and an OFF channel,
  `r_on = clip(z, 0, 1)`, `r_off = clip(-z, 0, 1)`, so n_inputs = 2 * n_obs.
- `PopulationEncoder` (kind "population"): each dimension feeds `n_per_dim` neurons with
  Gaussian receptive fields, centres evenly spaced over [low_d, high_d] (ranges taken from
  recorded observations), `r_k = exp(-(x' - mu_k)^2 / (2 sigma_d^2))` with
  `sigma_d = width * (high_d - low_d) / (n_per_dim - 1)`; n_inputs = n_obs * n_per_dim.
  The observation is first clipped to the range, `x' = clip(x, low_d, high_d)`, so a value
  beyond it saturates onto the edge neuron (which fires at full rate) instead of falling
  between receptive fields where no neuron would fire.
- `PoissonEncoder` (kind "poisson"): the rates of `RateEncoder`, each step an independent
  Bernoulli draw `s = u < r` (the published SpiNNaker2 DSQN baseline). Needs an explicit
  `np.random.Generator`.

Deterministic rates become spikes by a phase-0.5 accumulator over the `A` active steps:
neuron with rate r has emitted `floor(r * (t + 1) + 1/2)` spikes by the end of step t, so
after A steps it has fired `round(r * A)` times, spread evenly; with A = 1 it fires iff
r >= 1/2. Rates are clipped to [0, 1] (at most one spike per step).

Latency: an input spike needs one step per projection to reach the output layer, so with L
weight layers the last L of the T steps cannot influence the Q-values. `silent_tail` makes
the encoder leave those steps empty (A = T - silent_tail) and so saves their synaptic events;
the exported artifact sets it to L.

Every encoder is a frozen dataclass; `to_dict()` gives its JSON parameters (stored in the
artifact manifest) and `encoder_from_dict` rebuilds it. Encoding is pure numpy, a few tens
of microseconds for one observation (the whole action budget on the robot is 250 us).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.envs.event_array import pooled_input_index

#: Rounding phase of the deterministic accumulator: 1/2 makes the spike count round(r * A).
ACCUMULATOR_PHASE = 0.5
#: Percentiles of recorded observations that set an encoder's range (robust to outliers).
RANGE_PERCENTILES = (0.5, 99.5)
#: The fitted range is widened by this fraction of its width on each side, so the states a
#: policy visits under noise or a shift of its physics still fall inside it (the encoders
#: saturate beyond the range: nothing is ever silent, but resolution is lost there).
RANGE_MARGIN = 0.1
#: Default neurons per observation dimension of the population code.
DEFAULT_N_PER_DIM = 16
#: The most neurons per dimension a population encoder takes: far beyond any use (the
#: default is 16), low enough that a typo such as 1e8 is refused at once instead of after
#: seconds of building arrays of that size (15.8 s in an outsider's fuzzing, stop 40).
MAX_N_PER_DIM = 65_536
#: Default receptive-field width in units of the spacing between neighbouring centres.
DEFAULT_WIDTH = 1.0


#: Largest magnitude of an encoder parameter: the encoders compute in float32, and the sum or
#: difference of two such values must stay finite there (an outsider's bounds of 1e308
#: overflowed to inf in the cast and played at return 9.45 instead of 500).
FLOAT32_SAFE_MAX = float(np.finfo(np.float32).max) / 4


def _vector(name: str, values: Any) -> tuple[float, ...]:
    a = np.asarray(values, dtype=np.float64).reshape(-1)
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise NeuroqError(f"encoder parameter {name} must be a non-empty list of finite numbers")
    if np.abs(a).max() > FLOAT32_SAFE_MAX:
        raise NeuroqError(f"encoder parameter {name} must lie within +-{FLOAT32_SAFE_MAX:.3g} "
                          f"(the encoders compute in float32), got {np.abs(a).max():.3g}")
    return tuple(float(x) for x in a)


def _check_obs(obs: np.ndarray, n_obs: int, kind: str) -> np.ndarray:
    x = np.asarray(obs, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != n_obs:
        raise NeuroqError(
            f"{kind} encoder expects observations of shape (batch, {n_obs}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise NeuroqError(f"{kind} encoder: observation contains NaN or inf")
    return x


def _check_silent_tail(silent_tail: Any) -> None:
    if isinstance(silent_tail, bool) or not isinstance(silent_tail, (int, np.integer)) \
            or silent_tail < 0:
        raise NeuroqError(f"silent_tail must be an integer >= 0, got {silent_tail!r}")


def _integers(values: Any, what: str = "event fields x, y, t, p") -> np.ndarray:
    """An integer array of `values` (as given when already integers, else as int64);
    NeuroqError for values that are no whole numbers (events and a window start given in
    float seconds were cast to whole microseconds, every event in step 0: an outsider)."""
    a = np.asarray(values)
    if a.dtype.kind in "iu":
        return a
    if a.dtype.kind == "b":
        return a.astype(np.int64)
    if a.dtype.kind != "f" or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
        raise NeuroqError(f"{what} must be whole numbers (t and window starts in "
                          f"microseconds), got {a.dtype} values"
                          + (" that are not whole" if a.dtype.kind == "f" else ""))
    return a.astype(np.int64)


def _outside(a: np.ndarray, end: int) -> bool:
    """Whether any value of the integer array `a` lies outside [0, end)."""
    if a.size == 0:
        return False
    return bool(a.max() >= end or (a.dtype.kind == "i" and a.min() < 0))


STEP_TABLE_MAX_US = 1 << 20
"""Periods up to this long (1.05 s) find an event's step in a table (8 bytes per us)."""


@functools.cache
def _step_starts(period_us: int, active: int) -> np.ndarray:
    """The time into a period (us) at which each active step 1..A-1 begins: an event at
    time t into the period spikes in step min(t * A // P, A - 1), the number of these
    starts <= t (t * A // P >= s exactly when t >= ceil(s * P / A)). int64, read-only."""
    s = np.arange(1, active, dtype=np.int64)
    starts = -((-s * period_us) // active)  # ceil(s * P / A)
    starts.flags.writeable = False
    return starts


@functools.cache
def _step_offsets(period_us: int, active: int, n_inputs: int) -> np.ndarray:
    """For each time t = 0..period_us into a period, its active step (`_step_starts`)
    times n_inputs: the offset of that step's inputs in a flat (step, input) array."""
    t = np.arange(period_us + 1, dtype=np.int64)
    steps = np.searchsorted(_step_starts(period_us, active), t, side="right")
    return (steps * n_inputs).astype(np.intp)


PIXEL_TABLE_MAX = 1 << 16
"""Sensors with up to this many (polarity, pixel) pairs (2 * width * height: up to 2**15
pixels, 128 x 128 or 256 x 128, the pan-tracking task's 32 x 32 among them) find an
event's input neuron in a table indexed by p * H * W + y * W + x computed in uint16
(`_pixel_inputs`)."""
DENSE_SPIKES_MAX = 1 << 16
"""`PeriodSpikes` keeps a period's (T, n_inputs) array from its first event when it has up
to this many entries (64 KiB of bools), else only the events' indices until `result`."""


@functools.cache
def _pixel_inputs(width: int, height: int, pool: int) -> np.ndarray | None:
    """Each (polarity, pixel)'s input neuron, `pooled_input_index` of every p * H * W + y *
    W + x; None for sensors over PIXEL_TABLE_MAX pairs."""
    if 2 * width * height > PIXEL_TABLE_MAX:
        return None
    p, y, x = np.meshgrid(np.arange(2), np.arange(height), np.arange(width), indexing="ij")
    table = pooled_input_index(x.ravel(), y.ravel(), p.ravel(), width, height, pool)
    table.flags.writeable = False
    return table


def _active_steps(timesteps: int, silent_tail: int) -> int:
    if int(timesteps) != timesteps or timesteps < 1:
        raise NeuroqError(f"timesteps must be a positive integer, got {timesteps}")
    active = int(timesteps) - silent_tail
    if active < 1:
        raise NeuroqError(
            f"T = {timesteps} steps leaves no step for input: the encoder keeps the last "
            f"{silent_tail} steps silent (one per projection); use T >= {silent_tail + 1}")
    return active


def deterministic_spikes(rates: np.ndarray, timesteps: int, active: int) -> np.ndarray:
    """Spike trains (T, batch, n) of bool from rates (batch, n) in [0, 1], no randomness.

    Count after step t (t < active) is floor(r * (t + 1) + ACCUMULATOR_PHASE); steps from
    `active` on are silent.
    """
    r = np.clip(rates, 0.0, 1.0).astype(np.float32)
    out = np.zeros((timesteps, *r.shape), dtype=bool)
    steps = np.arange(active + 1, dtype=np.float32).reshape(-1, *([1] * r.ndim))
    counts = np.floor(r * steps + np.float32(ACCUMULATOR_PHASE))
    np.greater(counts[1:], counts[:-1], out=out[:active])
    return out


NARROW_RANGE = 1e-3
"""A dimension whose recorded values (RANGE_PERCENTILES) span less than this times
max(|high|, 1) gets that width as its range: a constant dimension still gets one."""


def _percentile_range(observations: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, narrow) of recorded observations (n >= 2, n_obs) per dimension: their
    RANGE_PERCENTILES, and whether that span is below NARROW_RANGE."""
    x = np.asarray(observations, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise NeuroqError("fitting an encoder needs recorded observations of shape (n>=2, n_obs)")
    if not np.all(np.isfinite(x)):
        raise NeuroqError("recorded observations contain NaN or inf")
    lo, hi = np.percentile(x, RANGE_PERCENTILES, axis=0)
    return lo, hi, hi - lo < np.maximum(np.abs(hi), 1.0) * NARROW_RANGE


def _fit_range(observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi, narrow = _percentile_range(observations)
    hi = np.where(narrow, lo + np.maximum(np.abs(hi), 1.0) * NARROW_RANGE, hi)
    pad = RANGE_MARGIN * (hi - lo)
    return lo - pad, hi + pad


def narrow_dimensions(observations: np.ndarray) -> list[int]:
    """The observation dimensions that hardly varied in the recorded observations (their
    RANGE_PERCENTILES span below NARROW_RANGE): an encoder fitted to them has a range that
    narrow there, so any change on them (noise, a leg that touches down) drives their inputs
    to the edge. An outsider's LunarLander encoder had legs' contacts fitted to
    [-0.0001, 0.0011] and kept 57.7 % of its return under observation noise of 0.01."""
    return [int(i) for i in np.flatnonzero(_percentile_range(observations)[2])]


@dataclass(frozen=True)
class RateEncoder:
    """Deterministic ON/OFF rate coding.

    center, half_range: per observation dimension, observation units; z = (x - c) / h.
    silent_tail: number of final steps left without input spikes (see module docstring).
    Inputs are ordered [ON_0, OFF_0, ON_1, OFF_1, ...].
    """

    center: tuple[float, ...]
    half_range: tuple[float, ...]
    silent_tail: int = 0
    kind: ClassVar[str] = "rate"
    _c: np.ndarray = field(init=False, repr=False, compare=False)
    _inv_h: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        c, h = _vector("center", self.center), _vector("half_range", self.half_range)
        if len(c) != len(h) or min(h) <= 0:
            raise NeuroqError("rate encoder: center and half_range need equal length, h > 0")
        _check_silent_tail(self.silent_tail)
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "half_range", h)
        object.__setattr__(self, "_c", np.asarray(c, np.float32))
        object.__setattr__(self, "_inv_h", (1.0 / np.asarray(h)).astype(np.float32))

    @classmethod
    def fit(cls, observations: np.ndarray, silent_tail: int = 0) -> RateEncoder:
        """Ranges from recorded observations (RANGE_PERCENTILES per dimension)."""
        lo, hi = _fit_range(observations)
        return cls(tuple((lo + hi) / 2), tuple((hi - lo) / 2), silent_tail)

    @property
    def n_obs(self) -> int:
        return len(self.center)

    @property
    def n_inputs(self) -> int:
        return 2 * self.n_obs

    def rates(self, obs: np.ndarray) -> np.ndarray:
        """Firing probability per step of every input, (batch, n_inputs) in [0, 1]."""
        z = (_check_obs(obs, self.n_obs, self.kind) - self._c) * self._inv_h
        r = np.empty((z.shape[0], self.n_obs, 2), np.float32)
        np.clip(z, 0.0, 1.0, out=r[:, :, 0])
        np.clip(-z, 0.0, 1.0, out=r[:, :, 1])
        return r.reshape(z.shape[0], self.n_inputs)

    def encode(self, obs: np.ndarray, timesteps: int,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Spike trains (T, batch, n_inputs) of bool; `rng` is ignored (deterministic)."""
        active = _active_steps(timesteps, self.silent_tail)
        return deterministic_spikes(self.rates(obs), int(timesteps), active)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "center": list(self.center),
                "half_range": list(self.half_range), "silent_tail": self.silent_tail}


@dataclass(frozen=True)
class PoissonEncoder(RateEncoder):
    """Poisson (Bernoulli per step) rate coding with the rates of `RateEncoder`."""

    kind: ClassVar[str] = "poisson"

    def encode(self, obs: np.ndarray, timesteps: int,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Spike trains (T, batch, n_inputs): step t fires iff u_t < r, u_t ~ U[0, 1)."""
        if not isinstance(rng, np.random.Generator):
            raise NeuroqError("the poisson encoder needs an explicit np.random.Generator (rng=)")
        active = _active_steps(timesteps, self.silent_tail)
        r = self.rates(obs)
        out = np.zeros((int(timesteps), *r.shape), dtype=bool)
        out[:active] = rng.random((active, *r.shape), dtype=np.float32) < r
        return out


@dataclass(frozen=True)
class PopulationEncoder:
    """Gaussian receptive fields, `n_per_dim` neurons per observation dimension.

    low, high: per dimension, observation units: the first and last centre.
    n_per_dim: neurons per dimension (>= 2).
    width: sigma in units of the centre spacing (high - low) / (n_per_dim - 1).
    silent_tail: number of final steps left without input spikes.
    Inputs are ordered dimension-major: [d0_k0 .. d0_k(n-1), d1_k0, ...].
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    n_per_dim: int = DEFAULT_N_PER_DIM
    width: float = DEFAULT_WIDTH
    silent_tail: int = 0
    kind: ClassVar[str] = "population"
    _mu: np.ndarray = field(init=False, repr=False, compare=False)
    _lo: np.ndarray = field(init=False, repr=False, compare=False)
    _hi: np.ndarray = field(init=False, repr=False, compare=False)
    _inv_sigma: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lo, hi = _vector("low", self.low), _vector("high", self.high)
        if len(lo) != len(hi) or any(h <= a for a, h in zip(lo, hi, strict=True)):
            raise NeuroqError("population encoder: low and high need equal length, high > low")
        if int(self.n_per_dim) != self.n_per_dim or self.n_per_dim < 2:
            raise NeuroqError("population encoder: n_per_dim must be an integer >= 2")
        if self.n_per_dim > MAX_N_PER_DIM:
            raise NeuroqError(f"population encoder: n_per_dim must be at most "
                              f"{MAX_N_PER_DIM:,}, got {int(self.n_per_dim):,}")
        if not np.isfinite(self.width) or self.width <= 0:
            raise NeuroqError("population encoder: width must be > 0")
        _check_silent_tail(self.silent_tail)
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)
        object.__setattr__(self, "n_per_dim", int(self.n_per_dim))
        object.__setattr__(self, "width", float(self.width))
        lo_a, hi_a = np.asarray(lo), np.asarray(hi)
        frac = np.linspace(0.0, 1.0, self.n_per_dim)
        mu = lo_a[:, None] + (hi_a - lo_a)[:, None] * frac[None, :]  # (n_obs, n_per_dim)
        sigma = self.width * (hi_a - lo_a) / (self.n_per_dim - 1)
        object.__setattr__(self, "_mu", mu.astype(np.float32))
        object.__setattr__(self, "_lo", lo_a.astype(np.float32))
        object.__setattr__(self, "_hi", hi_a.astype(np.float32))
        object.__setattr__(self, "_inv_sigma",
                           (1.0 / (np.sqrt(2.0) * sigma))[:, None].astype(np.float32))

    @classmethod
    def fit(cls, observations: np.ndarray, n_per_dim: int = DEFAULT_N_PER_DIM,
            width: float = DEFAULT_WIDTH, silent_tail: int = 0) -> PopulationEncoder:
        """Ranges from recorded observations (RANGE_PERCENTILES per dimension)."""
        lo, hi = _fit_range(observations)
        return cls(tuple(lo), tuple(hi), n_per_dim, width, silent_tail)

    @property
    def n_obs(self) -> int:
        return len(self.low)

    @property
    def n_inputs(self) -> int:
        return self.n_obs * self.n_per_dim

    def rates(self, obs: np.ndarray) -> np.ndarray:
        """Receptive-field responses (batch, n_inputs) in (0, 1]; the observation clipped to
        [low, high] first, so an out-of-range value drives its edge neuron at full rate."""
        x = np.clip(_check_obs(obs, self.n_obs, self.kind), self._lo, self._hi)
        d = (x[:, :, None] - self._mu) * self._inv_sigma
        return np.exp(-(d * d)).reshape(x.shape[0], self.n_inputs)

    def encode(self, obs: np.ndarray, timesteps: int,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Spike trains (T, batch, n_inputs) of bool; `rng` is ignored (deterministic)."""
        active = _active_steps(timesteps, self.silent_tail)
        return deterministic_spikes(self.rates(obs), int(timesteps), active)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "low": list(self.low), "high": list(self.high),
                "n_per_dim": self.n_per_dim, "width": self.width,
                "silent_tail": self.silent_tail}


@dataclass(frozen=True)
class EventEncoder:
    """Events as input spikes: one input neuron per (polarity, pooled pixel) of a DVS.

    Each event drives input `(p * rows + y // pool) * cols + x // pool` (rows = height //
    pool, cols = width // pool), the flattened layout of the event envs' count observations
    (`neuroq.envs.pan_tracking.event_input_index`). The A = T - silent_tail active steps split the
    control period of `period_us` microseconds into A equal time bins; an event spikes its
    input neuron in the bin of its timestamp (`encode_events`). A neuron fires at most once
    per step, so several events of one neuron in one bin make one spike.

    `encode(obs)` takes the per-period event counts instead (what training records) and
    rebuilds deterministic spike trains: a neuron with c events fires in a fraction
    `1 - (1 - 1/A)^c` of the A steps, spread evenly. That fraction is the expected share of
    bins c events occupy when their times are independent and uniform over the period, so
    the counts path matches the events path on average (exactly when A = 1: a spike iff
    c >= 1). Conversion and fine-tuning use it; robots and `neuroq eval` on an event env
    feed the events themselves.
    """

    width: int
    height: int
    pool: int = 1
    period_us: int = 10_000
    silent_tail: int = 0
    kind: ClassVar[str] = "event"

    def __post_init__(self) -> None:
        for name in ("width", "height", "pool", "period_us"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise NeuroqError(f"event encoder: {name} must be a positive integer, got {v}")
            object.__setattr__(self, name, int(v))
        if self.width % self.pool or self.height % self.pool:
            raise NeuroqError(f"event encoder: pool {self.pool} must divide the sensor size "
                              f"{self.width} x {self.height}")
        _check_silent_tail(self.silent_tail)

    @property
    def n_obs(self) -> int:
        return 2 * (self.height // self.pool) * (self.width // self.pool)

    @property
    def n_inputs(self) -> int:
        return self.n_obs

    def rates(self, obs: np.ndarray, timesteps: int) -> np.ndarray:
        """Fraction of the active steps each input fires in, from event counts (batch, n)."""
        active = _active_steps(timesteps, self.silent_tail)
        c = np.maximum(_check_obs(obs, self.n_obs, self.kind), 0.0)
        return (1.0 - np.power(np.float32(1.0 - 1.0 / active), c)).astype(np.float32)

    def encode(self, obs: np.ndarray, timesteps: int,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Spike trains (T, batch, n_inputs) of bool from event counts; `rng` is ignored."""
        active = _active_steps(timesteps, self.silent_tail)
        return deterministic_spikes(self.rates(obs, timesteps), int(timesteps), active)

    def input_index(self, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Input neuron of each event, (p * rows + y // pool) * cols + x // pool (events must
        lie on the sensor; `neuroq.envs.event_array.pooled_input_index`)."""
        return pooled_input_index(x, y, p, self.width, self.height, self.pool)

    def encode_events(self, events: Any, window_start_us: Any, timesteps: int) -> np.ndarray:
        """Spike trains (T, batch, n_inputs) of bool from the events of `batch` periods.

        events: a sequence of `batch` event sets (EVENT_DTYPE arrays or column dicts with
        x, y, t, p; t in microseconds). window_start_us: the start of each period (one
        number or `batch`). An event at time t spikes in step
        `min((t - start) * A // period_us, A - 1)`; events before the start, after
        start + period_us or off the sensor are ignored; NeuroqError where a period's events
        all lie outside it in time (a window start in seconds or milliseconds made every
        action one of no input: an outsider).
        """
        active = _active_steps(timesteps, self.silent_tail)
        batch = len(events)
        starts = np.broadcast_to(_integers(window_start_us, "window_start_us"), (batch,))
        out = np.zeros((int(timesteps), batch, self.n_inputs), dtype=bool)
        for b, ev in enumerate(events):
            # A live stream brings ~100 000 events a period at 10 M events/s: range checks by
            # min / max (a mask only when one fails), steps from a table, one flat array.
            t = np.array(_integers(ev["t"]), dtype=np.int64)
            t -= starts[b]
            x, y, p = (_integers(ev[k]) for k in ("x", "y", "p"))
            if (_outside(t, self.period_us + 1) or _outside(x, self.width)
                    or _outside(y, self.height) or _outside(p, 2)):
                x, y, p = (a.astype(np.int64) for a in (x, y, p))
                in_time = (t >= 0) & (t <= self.period_us)
                if t.size and not in_time.any():
                    raise NeuroqError(_no_event_in_window(t, starts[b], self.period_us))
                ok = (in_time & (x >= 0) & (x < self.width)
                      & (y >= 0) & (y < self.height) & ((p == 0) | (p == 1)))
                t, x, y, p = t[ok], x[ok], y[ok], p[ok]
            key = self.input_index(x, y, p)
            if self.period_us <= STEP_TABLE_MAX_US:
                key += _step_offsets(self.period_us, active, self.n_inputs)[t]
            else:
                key += np.searchsorted(_step_starts(self.period_us, active), t,
                                       side="right") * self.n_inputs
            hit = np.zeros(active * self.n_inputs, dtype=bool)
            hit[key] = True
            out[:active, b, :] = hit.reshape(active, self.n_inputs)
        return out

    def period_spikes(self, timesteps: int, window_start_us: int) -> PeriodSpikes:
        """A collector of one period's events as input spikes, for `PeriodWindower(...,
        collect=)`: the spikes `encode_events` makes of the period's events, built as they
        arrive (the event node's path)."""
        return PeriodSpikes(self, timesteps, window_start_us)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "width": self.width, "height": self.height,
                "pool": self.pool, "period_us": self.period_us,
                "silent_tail": self.silent_tail}


def _no_event_in_window(t: np.ndarray, start: int, period_us: int) -> str:
    """Why a period's events cannot be its input: t relative to its start, us."""
    return (f"none of the period's {t.size:,} events lies in its window {start}..."
            f"{start + period_us} us (theirs: {int(t.min()) + start}..."
            f"{int(t.max()) + start} us): the window start and the events' t must be "
            "microseconds on one clock")


class PeriodSpikes:
    """One control period's input spikes (T, n_inputs) of bool, built from its events as
    they come (`add`, any number of parts): the same spikes as `EventEncoder.encode_events`
    of all of them, without holding the events. Takes what `PeriodWindower` hands its
    collectors: events of this period only (start < t <= start + period_us), on the sensor,
    in time order (as the decoders return them), as EventColumns or EVENT_DTYPE arrays;
    ValueError for events outside the period or the sensor (checked by the first and last
    time and the pixels' min / max; the order in between is not checked): the windower
    never hands it such, where `encode_events`, given any events, ignores the stray ones
    and refuses a period that has only those.

    Each part's steps are found by binary search on t (`_step_starts`), its input neurons
    from a table of every pixel (`_pixel_inputs`, sensors of up to 2**15 pixels; else
    `pooled_input_index`). Up to DENSE_SPIKES_MAX spikes per period they are set at once
    in the period's array; above (a large sensor without pooling: 1280 x 720 at T = 8 is
    14.7 M), each part's (step, input) indices are kept and the array is built by `result`,
    so that a backlog of many periods does not hold an array each.
    """

    def __init__(self, encoder: EventEncoder, timesteps: int, window_start_us: int):
        self.encoder = encoder
        self.timesteps = int(timesteps)
        active = _active_steps(timesteps, encoder.silent_tail)
        self._start = int(window_start_us)
        self._starts = _step_starts(encoder.period_us, active) + self._start
        self._table = _pixel_inputs(encoder.width, encoder.height, encoder.pool)
        self._dense = self.timesteps * encoder.n_inputs <= DENSE_SPIKES_MAX
        self._keys: list[np.ndarray] = []
        self.spikes: np.ndarray | None = None
        if self._dense:
            self.spikes = np.zeros((self.timesteps, encoder.n_inputs), dtype=bool)
            self._rows = list(self.spikes[:active])

    def add(self, events: Any) -> None:
        x, y, t, p = events["x"], events["y"], events["t"], events["p"]
        if t.size == 0:
            return
        enc = self.encoder
        if (not self._start < int(t[0]) <= int(t[-1]) <= self._start + enc.period_us
                or int(x.max()) >= enc.width or int(y.max()) >= enc.height
                or (x.dtype.kind == "i" and int(x.min()) < 0)
                or (y.dtype.kind == "i" and int(y.min()) < 0)):
            raise ValueError("PeriodSpikes.add: events outside the period or the sensor, or "
                             "not in time order")
        if self._table is not None and x.dtype == y.dtype == np.uint16:
            pixel = y * np.uint16(enc.width)  # < 2 * W * H <= 2**16: uint16 is exact
            pixel += x
            pixel += p.astype(np.uint16) * np.uint16(enc.width * enc.height)
            inputs = self._table.take(pixel)  # take: half the time of table[pixel] here
        else:
            inputs = enc.input_index(x, y, p)
        cuts = np.searchsorted(t, self._starts, side="left").tolist()
        start = 0
        for step, stop in enumerate([*cuts, t.size]):
            if stop > start:
                if self._dense:  # into the step's row (a view): a third of the time of
                    self._rows[step][inputs[start:stop]] = True  # spikes[step, inputs]
                else:
                    self._keys.append(inputs[start:stop] + step * enc.n_inputs)
                start = stop

    def result(self) -> np.ndarray:
        """The spikes (T, n_inputs) (this collector's own array)."""
        if self.spikes is None:
            self.spikes = np.zeros((self.timesteps, self.encoder.n_inputs), dtype=bool)
            if self._keys:
                self.spikes.reshape(-1)[np.concatenate(self._keys)] = True
            self._keys = []
        return self.spikes


Encoder = RateEncoder | PoissonEncoder | PopulationEncoder | EventEncoder

#: kind -> encoder class, for `encoder_from_dict`.
ENCODERS: dict[str, type] = {
    RateEncoder.kind: RateEncoder,
    PoissonEncoder.kind: PoissonEncoder,
    PopulationEncoder.kind: PopulationEncoder,
    EventEncoder.kind: EventEncoder,
}


def takes_events(encoder: Any) -> bool:
    """Whether `encoder` takes a control period's events (an `EventEncoder`) rather than an
    observation: such an artifact is played on the events of every step, as the event node
    plays it (the environment's observation, the events' counts per input, is an
    approximation of their timing)."""
    return hasattr(encoder, "encode_events")


def step_events(infos: Any) -> tuple[list[Any], list[int]]:
    """(events, window starts in us) of a batched step of event-camera environments, from
    their infos (`events`, `window_start_us`, as neuroq's event tasks give them): the one
    place those keys are read."""
    return [i["events"] for i in infos], [i["window_start_us"] for i in infos]


def step_spikes(encoder: Encoder, observations: np.ndarray, infos: Any, timesteps: int,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """Input spikes (T, batch, n_inputs) of a batched step of the environments: an event
    encoder's from each environment's events (`step_events`), any other's from the
    observations."""
    if takes_events(encoder):
        return encoder.encode_events(*step_events(infos), timesteps)
    return encoder.encode(observations, timesteps, rng=rng)


def encoder_from_dict(d: dict[str, Any]) -> Encoder:
    """Rebuild an encoder from `to_dict()` output; unknown kinds or keys raise NeuroqError."""
    if not isinstance(d, dict) or "kind" not in d:
        raise NeuroqError("encoder description must be a mapping with a 'kind'")
    kind = d["kind"]
    if kind not in ENCODERS:
        raise NeuroqError(f"unknown encoder kind {kind!r} (known: {', '.join(ENCODERS)})")
    params = {k: v for k, v in d.items() if k != "kind"}
    try:
        return ENCODERS[kind](**params)
    except (TypeError, ValueError, OverflowError) as exc:  # numpy's, on a value that is no
        # number or a ragged list ("could not convert string to float: 'x'", a traceback)
        raise NeuroqError(f"bad parameters for the {kind} encoder: {exc}") from None


def with_silent_tail(encoder: Encoder, silent_tail: int) -> Encoder:
    """A copy of `encoder` that leaves the last `silent_tail` steps without input."""
    d = encoder.to_dict()
    d["silent_tail"] = int(silent_tail)
    return encoder_from_dict(d)
