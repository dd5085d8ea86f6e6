"""DVS event-camera emulator: rendered grayscale frames in, events out (numpy, vectorised).

A DVS pixel fires when its log intensity has moved by a contrast threshold since its last
event: an ON event (p = 1) for a rise of `on_threshold`, an OFF event (p = 0) for a fall of
`off_threshold`, and then it remembers the new level. Between two frames the log intensity of
each pixel is taken to change linearly in time, so a change that crosses k thresholds gives k
events with timestamps interpolated between the frame times. After an event a pixel is blind
for `refractory_us`. Optional background noise adds events at random pixels, times and
polarities (a Poisson process of `noise_rate_hz` per pixel).

    L = log(I + LOG_EPS)
    crossing levels: L_ref + k * C,  k = 1..n,  n = floor(|L_new - L_ref| / C)
    t_k = t_prev + (L_ref + k C - L_prev) / (L_new - L_prev) * (t_new - t_prev)

Modelling choices: the reference level moves by every crossing, including those suppressed
by the refractory period (the events are lost, the level is not); noise events do not move
the reference level. Source: Lichtsteiner, Posch, Delbruck, "A 128x128 120 dB 15 us latency
asynchronous temporal contrast vision sensor", IEEE JSSC 43(2), 2008 (pixel model); the
linear-interpolation and refractory treatment follows v2e (Hu, Liu, Delbruck, CVPRW 2021).

Pure functions on typed state: `dvs_reset(frame, t_us, params) -> state` and
`dvs_step(state, frame, t_us, params, rng) -> (events, state)`; `DvsEmulator` wraps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from neuroq.envs.event_array import EVENT_DTYPE

LOG_EPS = 1e-3
"""Offset added to intensities in [0, 1] before the log, so black pixels have a finite log
intensity (log(1e-3) = -6.9): a dark floor like a real pixel's dark current."""
DEFAULT_ON_THRESHOLD = 0.2
"""Log-intensity rise per ON event (about 22 % contrast); typical DVS thresholds are 0.1-0.5
(Lichtsteiner et al. 2008 report 15 % minimum contrast; v2e defaults to 0.2)."""
DEFAULT_OFF_THRESHOLD = 0.2
"""Log-intensity fall per OFF event."""
DEFAULT_REFRACTORY_US = 100
"""Per-pixel dead time after an event, microseconds (v2e's default is 0.5 ms at low light;
fast sensors reach tens of microseconds)."""


@dataclass(frozen=True)
class DvsParams:
    """Sensor parameters.

    width, height: sensor size in pixels.
    on_threshold, off_threshold: contrast thresholds, in log-intensity units (> 0).
    refractory_us: per-pixel dead time after an event, microseconds (>= 0).
    noise_rate_hz: background events per pixel per second (>= 0; 0 turns noise off).
    """

    width: int
    height: int
    on_threshold: float = DEFAULT_ON_THRESHOLD
    off_threshold: float = DEFAULT_OFF_THRESHOLD
    refractory_us: int = DEFAULT_REFRACTORY_US
    noise_rate_hz: float = 0.0

    def __post_init__(self):
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"DvsParams: sensor size must be positive, got "
                              f"{self.width}x{self.height}")
        if self.width > 65535 or self.height > 65535:
            raise ValueError("DvsParams: width and height must be < 65536 (uint16 x, y)")
        if not (self.on_threshold > 0 and self.off_threshold > 0):
            raise ValueError(f"DvsParams: thresholds must be > 0, got on={self.on_threshold}, "
                              f"off={self.off_threshold}")
        if self.refractory_us < 0 or self.noise_rate_hz < 0:
            raise ValueError("DvsParams: refractory_us and noise_rate_hz must be >= 0")


class DvsState(NamedTuple):
    """Emulator state between frames.

    log_ref: (H, W) float64 log intensity at each pixel's last (possibly suppressed) event.
    log_prev: (H, W) float64 log intensity of the previous frame.
    last_event_us: (H, W) int64 time of each pixel's last emitted event (very negative: none).
    t_us: time of the previous frame, microseconds.
    """

    log_ref: np.ndarray
    log_prev: np.ndarray
    last_event_us: np.ndarray
    t_us: int


_NEVER_US = np.iinfo(np.int64).min // 4


def _log_frame(frame: np.ndarray, params: DvsParams) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.shape != (params.height, params.width):
        raise ValueError(f"DVS: frame shape {frame.shape} does not match the sensor "
                          f"({params.height}, {params.width}) (rows, columns)")
    if frame.dtype == np.uint8:
        intensity = frame.astype(np.float64) * (1.0 / 255.0)
    else:
        intensity = np.maximum(frame, 0.0, dtype=np.float64)
    return np.log(intensity + LOG_EPS)


def dvs_reset(frame: np.ndarray, t_us: int, params: DvsParams) -> DvsState:
    """Start the sensor on `frame` at time `t_us` (no events: a DVS sees changes only)."""
    log_i = _log_frame(frame, params)
    return DvsState(log_i, log_i.copy(),
                    np.full(log_i.shape, _NEVER_US, dtype=np.int64), int(t_us))


def dvs_step(
    state: DvsState,
    frame: np.ndarray,
    t_us: int,
    params: DvsParams,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, DvsState]:
    """Advance to `frame` at `t_us` (> state.t_us); returns (events sorted by t, new state).

    frame: (H, W) intensities in [0, 1] (float) or 0..255 (uint8).
    rng: source of noise events; required when params.noise_rate_hz > 0.
    """
    t0, t1 = state.t_us, int(t_us)
    if t1 <= t0:
        raise ValueError(f"dvs_step: frame time {t1} us must be after the previous frame "
                          f"({t0} us)")
    log_new = _log_frame(frame, params)
    dt = float(t1 - t0)
    on_thr, off_thr = params.on_threshold, params.off_threshold
    ref_flat = state.log_ref.reshape(-1)
    delta_ref = log_new.reshape(-1) - ref_flat
    changed = ((delta_ref >= on_thr) | (delta_ref <= -off_thr)).nonzero()[0]

    log_ref = state.log_ref.copy()
    last_event = state.last_event_us
    if changed.size:
        last_event = last_event.copy()
        d = delta_ref[changed]
        lr = ref_flat[changed]
        lp = state.log_prev.reshape(-1)[changed]
        is_up = d > 0
        step = np.where(is_up, on_thr, -off_thr)  # signed threshold
        n_cross = np.floor(d / step).astype(np.int64)
        # crossing k (0-based) at level lr + (k + 1) * step, reached at
        # t0 + (lr + (k + 1) step - lp) / slope * dt, slope = L_new - L_prev (non-zero here)
        inv_slope = dt / (lr + d - lp)
        t_first = np.minimum(np.maximum(t0 + (lr + step - lp) * inv_slope, t0), t1)
        t_step = step * inv_slope  # > 0
        # refractory: the first crossing at or after last + refractory, then every m-th
        ready = state.last_event_us.reshape(-1)[changed] + params.refractory_us
        k0 = np.ceil(np.maximum(ready - t_first, 0.0) / t_step).astype(np.int64)
        if params.refractory_us > 0:
            m = np.ceil(params.refractory_us / t_step).astype(np.int64)
            np.maximum(m, 1, out=m)
            n_emit = np.maximum((n_cross - 1 - k0) // m + 1, 0)
        else:
            m = None
            n_emit = np.maximum(n_cross - k0, 0)
        total = int(n_emit.sum())
        if total == changed.size:  # the common case: one event per changed pixel
            t_ev = t_first + k0 * t_step
            flat = changed
            p_ev = is_up
        else:
            pix = np.repeat(np.arange(changed.size), n_emit)
            j = np.arange(total) - np.repeat(np.cumsum(n_emit) - n_emit, n_emit)
            k = k0[pix] + (j if m is None else j * m[pix])
            t_ev = t_first[pix] + k * t_step[pix]
            flat = changed[pix]
            p_ev = is_up[pix]
        t_ev = np.minimum(t_ev, t1).astype(np.int64)
        log_ref.reshape(-1)[changed] = lr + step * n_cross
        emitted = n_emit > 0
        last_k = k0 + (n_emit - 1) * (1 if m is None else m)
        last_t = np.minimum(t_first + last_k * t_step, t1).astype(np.int64)
        last_event.reshape(-1)[changed[emitted]] = last_t[emitted]
    else:
        flat = np.zeros(0, dtype=np.intp)
        t_ev = np.zeros(0, dtype=np.int64)
        p_ev = np.zeros(0, dtype=bool)

    if params.noise_rate_hz > 0:
        if rng is None:
            raise ValueError("dvs_step: noise_rate_hz > 0 needs rng (a np.random.Generator)")
        n_pix = params.width * params.height
        n_noise = int(rng.poisson(params.noise_rate_hz * n_pix * dt * 1e-6))
        if n_noise:
            # one draw per noise event: (pixel, time offset, polarity)
            draw = rng.integers(0, (n_pix, t1 - t0 + 1, 2), size=(n_noise, 3))
            flat = np.concatenate([flat, draw[:, 0]])
            t_ev = np.concatenate([t_ev, draw[:, 1] + t0])
            p_ev = np.concatenate([p_ev, draw[:, 2].astype(bool)])

    events = np.empty(t_ev.size, dtype=EVENT_DTYPE)
    if t_ev.size > 1:
        order = np.argsort(t_ev, kind="stable")
        flat, t_ev, p_ev = flat[order], t_ev[order], p_ev[order]
    events["x"] = flat % params.width
    events["y"] = flat // params.width
    events["t"] = t_ev
    events["p"] = p_ev
    return events, DvsState(log_ref, log_new, last_event, t1)


class DvsEmulator:
    """A DVS camera: `reset(frame, t_us)`, then `step(frame, t_us) -> events`.

    rng: a np.random.Generator for noise events (a Gymnasium env passes its `np_random`).
    """

    def __init__(self, params: DvsParams, rng: np.random.Generator | None = None):
        self.params = params
        self.rng = rng
        self.state: DvsState | None = None

    def reset(self, frame: np.ndarray, t_us: int = 0) -> None:
        self.state = dvs_reset(frame, t_us, self.params)

    def step(self, frame: np.ndarray, t_us: int) -> np.ndarray:
        if self.state is None:
            raise ValueError("DvsEmulator.step() before reset(): call reset(frame) first")
        events, self.state = dvs_step(self.state, frame, t_us, self.params, self.rng)
        return events


def event_counts(events: np.ndarray, width: int, height: int) -> np.ndarray:
    """Per-pixel event counts: float32 (2, H, W), channel 0 OFF, channel 1 ON."""
    flat = (events["p"].astype(np.int64) * height + events["y"]) * width + events["x"]
    counts = np.bincount(flat, minlength=2 * height * width)
    return counts.astype(np.float32).reshape(2, height, width)
