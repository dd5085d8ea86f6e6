"""DVS pan tracking: keep a moving target centred with a 32 x 32 event camera on a pan axis.

The agent sees only events. Each control period the emulated DVS (`neuroq.envs.dvs`) turns a few
rendered frames into events; the observation counts them per pixel and polarity, and the raw
events are in `info["events"]` so a spiking policy can take each event as an input spike.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from neuroq.envs.dvs import DvsParams, DvsState, dvs_reset, dvs_step
from neuroq.envs.event_array import EVENT_DTYPE, pooled_input_index, to_columns

SENSOR_SIZE_PX = 32
"""Sensor width and height in pixels (the issue's 32 x 32 DVS)."""
BACKGROUND_INTENSITY = 0.1
"""Uniform background intensity in [0, 1]: a dark, textureless wall."""
TARGET_INTENSITY = 0.8
"""Peak intensity of the target blob above the background."""
TARGET_SIGMA_PX = 1.5
"""Standard deviation of the Gaussian target blob, pixels."""
FLICKER_DEPTH = 0.5
"""Relative depth of the target's brightness modulation (a blinking LED marker), so the
target also produces events when it is still in the image."""
US_PER_S = 1_000_000


def event_input_index(events, pool: int = 1, sensor_size: int = SENSOR_SIZE_PX) -> np.ndarray:
    """For each event, the index of the flattened observation it counts into:
    `(p * side + y // pool) * side + x // pool` with side = sensor_size // pool.

    This is the input neuron an event drives when a spiking policy takes events as input
    spikes; `np.bincount` of these indices is the observation (before clipping).
    `events` may be an EVENT_DTYPE array or the columns in `info["events"]`.
    """
    return pooled_input_index(events["x"], events["y"], events["p"], sensor_size, sensor_size,
                              pool)


class DVSPanTrackingEnv(gym.Env):
    """
    ## Description
    A 32 x 32 DVS event camera sits on a pan axis in front of a dark wall. A bright,
    blinking target moves left and right along the wall with a randomly wandering velocity.
    The agent turns the camera to keep the target in the centre of the image. It sees no
    frames, only the events the camera produced during the last control period.

    World coordinates are in sensor pixels (one pixel = one pixel of pan angle). The target's
    column in the image is `target_x - pan_x + (32 - 1) / 2`; the error is its distance
    from the centre column, in pixels.

    ## Action Space
    `Discrete(3)`: 0 pans left at `pan_speed_px_s`, 1 holds still, 2 pans right.

    ## Observation Space
    `Box(0, count_clip, (2, 32 // pool, 32 // pool), float32)`: per pixel (summed over `pool`
    x `pool` blocks), the number of OFF (channel 0) and ON (channel 1) events in the last
    control period, clipped at `count_clip`. `info["events"]` holds the period's events, in
    time order, as columns {"x", "y", "t", "p"} of `neuroq.envs.event_array.EVENT_DTYPE` (t in
    microseconds since reset; a dict, because gymnasium's `check_env` cannot compare
    structured arrays: `neuroq.envs.event_array.from_columns` makes the structured array);
    `info["window_start_us"]` is the start of that period (the events lie in
    (start, start + period]). `info["error_px"]` is the signed target error in pixels (for
    evaluation, not for the agent).

    ## Rewards
    `1 - (error / 16)^2` per step while the target is in view (1 when centred, 0 at the
    image edge). An episode's return is at most `max_steps`.

    ## Starting State
    The target starts `U(-8, 8)` pixels from the image centre, at a row `U(8, 24)`, with a
    velocity `U(-1, 1) * target_speed_px_s`. The first observation holds the events of one
    control period with the camera still.

    ## Episode End
    Terminated when the target leaves the field of view (|error| > 16 + 2 sigma pixels);
    truncated after `max_steps` steps.

    ## Arguments
    - `control_period_ms` (10): time per step, milliseconds.
    - `frames_per_step` (1): rendered frames per step; event times are interpolated linearly
      between frames.
    - `max_steps` (200): steps before truncation (2 s at 10 ms).
    - `pan_speed_px_s` (400): camera pan speed, pixels per second.
    - `target_speed_px_s` (250): largest target speed, pixels per second.
    - `target_accel_px_s2` (1500): standard deviation of the target's random acceleration.
    - `flicker_hz` (25): blink frequency of the target.
    - `noise_rate_hz` (0.2): DVS background events per pixel per second.
    - `pool` (1): sum the counts over `pool` x `pool` pixel blocks (1, 2, 4, 8, 16 or 32).
    - `count_clip` (16): largest count in the observation.
    - `on_threshold`, `off_threshold` (0.2), `refractory_us` (100): DVS parameters.
    - `render_mode` (None or "rgb_array").
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}

    def __init__(
        self,
        control_period_ms: float = 10.0,
        frames_per_step: int = 1,
        max_steps: int = 200,
        pan_speed_px_s: float = 400.0,
        target_speed_px_s: float = 250.0,
        target_accel_px_s2: float = 1500.0,
        flicker_hz: float = 25.0,
        noise_rate_hz: float = 0.2,
        pool: int = 1,
        count_clip: float = 16.0,
        on_threshold: float = 0.2,
        off_threshold: float = 0.2,
        refractory_us: int = 100,
        render_mode: str | None = None,
    ):
        if control_period_ms <= 0 or frames_per_step < 1 or max_steps < 1:
            raise ValueError("DVSPanTracking: control_period_ms > 0, frames_per_step >= 1 "
                              "and max_steps >= 1 are required")
        if pool < 1 or SENSOR_SIZE_PX % pool:
            raise ValueError(f"DVSPanTracking: pool must divide {SENSOR_SIZE_PX}, got {pool}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"DVSPanTracking: render_mode must be None or 'rgb_array', got "
                              f"{render_mode!r}")
        self.period_us = int(round(control_period_ms * 1000))
        self.frames_per_step = int(frames_per_step)
        if self.period_us % self.frames_per_step:
            raise ValueError("DVSPanTracking: control_period_ms * 1000 must be a multiple of "
                              "frames_per_step (whole microseconds per frame)")
        self.max_steps = int(max_steps)
        self.pan_speed = float(pan_speed_px_s)
        self.target_speed = float(target_speed_px_s)
        self.target_accel = float(target_accel_px_s2)
        self.flicker_hz = float(flicker_hz)
        self.pool = int(pool)
        self.count_clip = float(count_clip)
        self.render_mode = render_mode
        self.dvs_params = DvsParams(SENSOR_SIZE_PX, SENSOR_SIZE_PX, on_threshold, off_threshold,
                                    refractory_us, noise_rate_hz)
        side = SENSOR_SIZE_PX // self.pool
        self.observation_space = spaces.Box(0.0, self.count_clip, (2, side, side), np.float32)
        self.action_space = spaces.Discrete(3)
        self.hold_action = 1
        """The action that changes least (pan still): what a lockstep camera steps with
        when no action arrives in time (`neuroq_event_camera`)."""
        self.half_width = SENSOR_SIZE_PX / 2
        self.lost_px = self.half_width + 2 * TARGET_SIGMA_PX
        self._pixels = np.arange(SENSOR_SIZE_PX, dtype=np.float64)
        self._centre = (SENSOR_SIZE_PX - 1) / 2
        self._dvs: DvsState | None = None
        self._frame = np.zeros((SENSOR_SIZE_PX, SENSOR_SIZE_PX))

    # --- world ---
    def _render_frame(self, t_us: int) -> np.ndarray:
        col = self.target_x - self.pan_x + self._centre
        gx = np.exp(-0.5 * ((self._pixels - col) / TARGET_SIGMA_PX) ** 2)
        gy = self._row_profile
        flicker = 1.0 + FLICKER_DEPTH * np.sin(2 * np.pi * self.flicker_hz * t_us / US_PER_S)
        return BACKGROUND_INTENSITY + (TARGET_INTENSITY / (1 + FLICKER_DEPTH) * flicker) * (
            gy[:, None] * gx[None, :]
        )

    def _advance(self, pan_velocity: float) -> tuple[np.ndarray, np.ndarray]:
        """Simulate one control period; returns (events, counts observation)."""
        dt_frame_us = self.period_us // self.frames_per_step
        dt_s = dt_frame_us / US_PER_S
        parts = []
        for _ in range(self.frames_per_step):
            accel = self.np_random.normal(0.0, self.target_accel)
            v = self.target_v + accel * dt_s
            self.target_v = min(max(v, -self.target_speed), self.target_speed)
            self.target_x += self.target_v * dt_s
            self.pan_x += pan_velocity * dt_s
            self.t_us += dt_frame_us
            self._frame = self._render_frame(self.t_us)
            events, self._dvs = dvs_step(self._dvs, self._frame, self.t_us, self.dvs_params,
                                         self.np_random)
            parts.append(events)
        events = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return events, self._observe(events)

    def _observe(self, events: np.ndarray) -> np.ndarray:
        side = SENSOR_SIZE_PX // self.pool
        flat = event_input_index(events, self.pool)
        counts = np.bincount(flat, minlength=2 * side * side).reshape(2, side, side)
        return np.minimum(counts, self.count_clip).astype(np.float32)

    def _info(self, events: np.ndarray, error: float) -> dict:
        """The period's events (columns), the window they cover, and the tracking error."""
        return {"events": to_columns(events), "window_start_us": self.t_us - self.period_us,
                "error_px": error}

    def _error(self) -> float:
        return float(self.target_x - self.pan_x)

    # --- Gymnasium API ---
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        self.t_us = 0
        self.steps = 0
        self.pan_x = 0.0
        self.target_x = float(rng.uniform(-8.0, 8.0))
        self.target_row = float(rng.uniform(8.0, 24.0))
        self.target_v = float(rng.uniform(-1.0, 1.0) * self.target_speed)
        self._row_profile = np.exp(-0.5 * ((self._pixels - self.target_row)
                                           / TARGET_SIGMA_PX) ** 2)
        self._frame = self._render_frame(0)
        self._dvs = dvs_reset(self._frame, 0, self.dvs_params)
        events, obs = self._advance(0.0)
        self._last_events = events
        return obs, self._info(events, self._error())

    def step(self, action):
        if self._dvs is None:
            raise ValueError("DVSPanTracking: call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"DVSPanTracking: action must be 0, 1 or 2, got {action!r}")
        pan_velocity = (int(action) - 1) * self.pan_speed
        events, obs = self._advance(pan_velocity)
        self.steps += 1
        self._last_events = events
        error = self._error()
        terminated = abs(error) > self.lost_px
        reward = 0.0 if terminated else max(0.0, 1.0 - (error / self.half_width) ** 2)
        truncated = (not terminated) and self.steps >= self.max_steps
        return obs, reward, terminated, truncated, self._info(events, error)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        gray = (np.clip(self._frame, 0, 1) * 255).astype(np.uint8)
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
        ev = self._last_events
        rgb[ev["y"], ev["x"]] = np.where(ev["p"][:, None] == 1, [255, 64, 64], [64, 64, 255])
        return rgb


__all__ = ["DVSPanTrackingEnv", "EVENT_DTYPE", "event_input_index"]
