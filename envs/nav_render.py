"""Drawing DiffDriveNav's room as an RGB image, numpy only (no pygame).

The room is drawn top-down, y up, at PIXELS_PER_M: walls, obstacles, every RAY_STRIDE-th
lidar ray (to its measured range, or to the range limit where it saw nothing), the goal
with its tolerance circle, and the robot with a line along its heading.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PIXELS_PER_M = 80
"""Image scale: a 5 m room is 400 pixels wide."""
MARGIN_PX = 8
RAY_STRIDE = 4
"""Draw every 4th of the 360 beams, so the rays stay readable."""
COLORS = {
    "floor": (245, 245, 240), "wall": (60, 60, 60), "obstacle": (110, 110, 120),
    "ray": (235, 120, 110), "goal": (40, 170, 70), "robot": (40, 90, 200),
    "heading": (255, 255, 255),
}


class Canvas:
    """An RGB image with drawing in room coordinates (metres, y up)."""

    def __init__(self, size_m: float) -> None:
        self.size_m = size_m
        side = int(round(size_m * PIXELS_PER_M)) + 2 * MARGIN_PX
        self.image = np.empty((side, side, 3), np.uint8)
        self.image[:] = COLORS["wall"]
        inner = slice(MARGIN_PX, side - MARGIN_PX)
        self.image[inner, inner] = COLORS["floor"]
        self.side = side

    def _window(self, x0: float, y0: float, x1: float, y1: float
                ) -> tuple[slice, slice, np.ndarray, np.ndarray]:
        """The pixel rows and columns covering [x0, x1] x [y0, y1] (m), and their centres in
        room coordinates: shapes are drawn only there, not over the whole image."""
        c0 = max(int(np.floor(x0 * PIXELS_PER_M + MARGIN_PX)), 0)
        c1 = min(int(np.ceil(x1 * PIXELS_PER_M + MARGIN_PX)) + 1, self.side)
        r0 = max(self.side - 1 - int(np.ceil(y1 * PIXELS_PER_M + MARGIN_PX)), 0)
        r1 = min(self.side - int(np.floor(y0 * PIXELS_PER_M + MARGIN_PX)), self.side)
        xs = (np.arange(c0, c1) - MARGIN_PX + 0.5) / PIXELS_PER_M
        ys = (self.side - 1 - np.arange(r0, r1) - MARGIN_PX + 0.5) / PIXELS_PER_M
        px, py = np.meshgrid(xs, ys)
        return slice(r0, r1), slice(c0, c1), px, py

    def disk(self, x: float, y: float, r: float, color: str) -> None:
        rows, cols, px, py = self._window(x - r, y - r, x + r, y + r)
        self.image[rows, cols][(px - x) ** 2 + (py - y) ** 2 <= r * r] = COLORS[color]

    def ring(self, x: float, y: float, r: float, width: float, color: str) -> None:
        rows, cols, px, py = self._window(x - r - width, y - r - width, x + r + width,
                                          y + r + width)
        self.image[rows, cols][np.abs(np.hypot(px - x, py - y) - r) <= width / 2] = COLORS[
            color]

    def box(self, x0: float, y0: float, x1: float, y1: float, color: str) -> None:
        rows, cols, px, py = self._window(x0, y0, x1, y1)
        inside = (px >= x0) & (px <= x1) & (py >= y0) & (py <= y1)
        self.image[rows, cols][inside] = COLORS[color]

    def segments(self, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray,
                 color: str) -> None:
        """Straight lines from (x0, y0) to (x1, y1), one pixel wide (sampled densely)."""
        x0, y0, x1, y1 = (np.atleast_1d(np.asarray(a, np.float64)) for a in (x0, y0, x1, y1))
        n = int(np.ceil(np.max(np.hypot(x1 - x0, y1 - y0)) * PIXELS_PER_M * 2)) + 2
        t = np.linspace(0.0, 1.0, n)[:, None]
        xs = (x0 + t * (x1 - x0)).ravel()
        ys = (y0 + t * (y1 - y0)).ravel()
        side = self.side
        cols = np.floor(xs * PIXELS_PER_M + MARGIN_PX).astype(int)
        rows = side - 1 - np.floor(ys * PIXELS_PER_M + MARGIN_PX).astype(int)
        ok = (cols >= 0) & (cols < side) & (rows >= 0) & (rows < side)
        self.image[rows[ok], cols[ok]] = COLORS[color]


def draw_scene(env: Any) -> np.ndarray:
    """The room of a `DiffDriveNavEnv` as an (H, W, 3) uint8 image."""
    from neuroq.envs.diffdrive_nav import (
        GOAL_TOLERANCE_M,
        LIDAR_RANGE_MAX_M,
        LIDAR_RANGE_MIN_M,
        ROBOT_RADIUS_M,
        ROOM_SIZE_M,
    )

    c = Canvas(ROOM_SIZE_M)
    for x0, y0, x1, y1 in env.boxes:
        c.box(x0, y0, x1, y1, "obstacle")
    for cx, cy, r in env.circles:
        c.disk(cx, cy, r, "obstacle")
    x, y, heading = env.pose
    ranges = np.asarray(env.ranges, np.float64)[::RAY_STRIDE]
    ranges = np.where(np.isposinf(ranges), LIDAR_RANGE_MAX_M, ranges)
    ranges = np.where(np.isneginf(ranges), LIDAR_RANGE_MIN_M, ranges)
    angles = heading + env.beam_angles[::RAY_STRIDE]
    c.segments(np.full_like(ranges, x), np.full_like(ranges, y), x + ranges * np.cos(angles),
               y + ranges * np.sin(angles), "ray")
    c.ring(env.goal[0], env.goal[1], GOAL_TOLERANCE_M, 0.02, "goal")
    c.disk(env.goal[0], env.goal[1], 0.05, "goal")
    c.disk(x, y, ROBOT_RADIUS_M, "robot")
    c.segments(x, y, x + ROBOT_RADIUS_M * np.cos(heading), y + ROBOT_RADIUS_M * np.sin(heading),
               "heading")
    return c.image
