"""DiffDriveNav: a differential-drive robot drives to a goal in a room, seeing it with a lidar.

TurtleBot3-class numbers (ROBOTIS TurtleBot3 Burger specifications, e-Manual "Specifications";
LDS-01 lidar data sheet): top speeds 0.22 m/s and 2.84 rad/s, a 360-beam planar lidar with
0.12-3.5 m range at 5 Hz, a robot radius of 0.1 m. Acceleration limits are Nav2's velocity
smoother defaults (nav2_params.yaml: max_accel 2.5 m/s^2 and 3.2 rad/s^2).

Everything here is numpy: the room, the obstacles, the ray casting and the drawing.
`sensor_data()` gives the raw readings a real robot's drivers would publish (the 360 ranges
as a LaserScan carries them, the odometry pose and twist, the goal pose): a robot interface
(`neuroq.deploy.interface`) that bins the scan and computes the goal's distance and bearing
from them reproduces the observation exactly.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

# --- the robot (TurtleBot3 Burger) --------------------------------------------------------
MAX_LINEAR_M_S = 0.22
"""Top linear speed, m/s (TurtleBot3 Burger specification)."""
MAX_ANGULAR_RAD_S = 2.84
"""Top angular speed, rad/s (TurtleBot3 Burger specification)."""
LINEAR_ACCEL_M_S2 = 2.5
"""Largest change of linear speed per second (Nav2 velocity smoother default max_accel)."""
ANGULAR_ACCEL_RAD_S2 = 3.2
"""Largest change of angular speed per second (Nav2 velocity smoother default max_accel)."""
ROBOT_RADIUS_M = 0.1
"""Radius of the robot's circular footprint, m (the Burger is 138 x 178 mm)."""

# --- the lidar (LDS-01) -------------------------------------------------------------------
LIDAR_BEAMS = 360
"""Beams per scan (1 degree apart, beam 0 straight ahead, counter-clockwise)."""
LIDAR_RANGE_MIN_M = 0.12
LIDAR_RANGE_MAX_M = 3.5
SCAN_PERIOD_S = 0.2
"""One scan per control step: the LDS-01 turns at 300 rpm (5 Hz)."""
LIDAR_NOISE_NEAR_M = 0.0075
"""Range noise sigma below 0.5 m: half the LDS-01's stated +-15 mm accuracy there."""
LIDAR_NOISE_FAR_FRACTION = 0.025
"""Range noise sigma from 0.5 m on, as a fraction of the range: half the stated +-5 %."""
LIDAR_NEAR_LIMIT_M = 0.5

# --- the room and the task ----------------------------------------------------------------
ROOM_SIZE_M = 5.0
"""The room is ROOM_SIZE_M x ROOM_SIZE_M, walls at x, y = 0 and ROOM_SIZE_M."""
GOAL_MIN_DISTANCE_M = 2.0
"""A goal lies at least this far from the start (straight line)."""
GOAL_TOLERANCE_M = 0.2
"""The goal counts as reached within this distance of the robot's centre."""
START_CLEARANCE_M = 0.35
"""Start and goal keep this distance from every wall and obstacle surface."""
PATH_GRID_M = 0.05
"""Cell size of the occupancy grid that checks a start can reach its goal."""
PATH_CLEARANCE_M = 0.13
"""A path cell is free this far (robot radius + 3 cm) from every surface."""
CIRCLE_RADIUS_M = (0.1, 0.25)
BOX_HALF_SIZE_M = (0.1, 0.4)
BLOCKER_ALONG = (0.35, 0.65)
"""The obstacle in the way sits this far along the straight line from start to goal..."""
BLOCKER_OFFSET_M = 0.15
"""...and at most this far to either side of it: driving straight at the goal hits it."""
MAX_SAMPLING_TRIES = 1000

# --- rewards ------------------------------------------------------------------------------
PROGRESS_REWARD_PER_M = 10.0
"""Reward per metre the goal came closer in a step (negative when it moved away)."""
STEP_COST = 0.01
"""Cost of every step, so that dawdling costs something."""
GOAL_BONUS = 10.0
COLLISION_PENALTY = 10.0
SAFE_GAP_M = 0.25
"""Closer than this between the footprint and a surface, every step costs..."""
PROXIMITY_PENALTY = 0.3
"""...up to this much, in proportion to how much of the gap is gone (0.3 at contact): it
teaches keeping clear before a collision ends the episode."""

# --- actions ------------------------------------------------------------------------------
ACTION_NAMES = ("forward", "forward_left", "forward_right", "turn_left", "turn_right", "stop")
#: (linear m/s, angular rad/s) each action commands; turns in place at half the top rate
#: (larger turns overshoot the 1-degree lidar sectors within one 0.2 s step).
ACTION_TWISTS = np.array([
    [MAX_LINEAR_M_S, 0.0],
    [0.15, 0.8],
    [0.15, -0.8],
    [0.0, MAX_ANGULAR_RAD_S / 2],
    [0.0, -MAX_ANGULAR_RAD_S / 2],
    [0.0, 0.0],
])


def wrap_angle(a: np.ndarray | float) -> np.ndarray | float:
    """The angle in [-pi, pi): a - 2 pi floor((a + pi) / 2 pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def sector_minimum(ranges: np.ndarray, n_sectors: int, range_min: float,
                   range_max: float) -> np.ndarray:
    """Bin a 360-degree scan (beam 0 ahead, evenly spaced, counter-clockwise) into
    `n_sectors` sectors by minimum range; sector 0 is centred straight ahead, sector k at
    k * 360 / n_sectors degrees. +inf (no return) counts as range_max, -inf (too close) as
    range_min; the result is clipped to [range_min, range_max], float32."""
    r = np.asarray(ranges, np.float32)
    r = np.where(np.isposinf(r), np.float32(range_max), r)
    r = np.where(np.isneginf(r), np.float32(range_min), r)
    n = r.size
    per = n // n_sectors
    # sector 0 is centred ahead: it takes the last half-sector of beams and the first
    rolled = np.roll(r, per // 2)
    mins = rolled[: per * n_sectors].reshape(n_sectors, per).min(axis=1)
    return np.clip(mins, np.float32(range_min), np.float32(range_max)).astype(np.float32)


def _ray_distances(x: float, y: float, angles: np.ndarray, circles: np.ndarray,
                   boxes: np.ndarray, size: float) -> np.ndarray:
    """Distance along each ray from (x, y) to the first wall or obstacle surface, m.

    circles: (k, 3) centre x, y and radius; boxes: (m, 4) x0, y0, x1, y1 (axis-aligned).
    Walls: from inside the room, t = (wall - p) / d for the wall each ray heads to.
    Circles: smallest t >= 0 of |p + t d - c| = r. Boxes: the slab method.
    """
    dx, dy = np.cos(angles), np.sin(angles)
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(dx > 0, (size - x) / dx, np.where(dx < 0, -x / dx, np.inf))
        ty = np.where(dy > 0, (size - y) / dy, np.where(dy < 0, -y / dy, np.inf))
    t = np.minimum(tx, ty)
    if len(circles):
        ox = x - circles[:, 0:1]
        oy = y - circles[:, 1:2]
        b = ox * dx + oy * dy  # (k, beams)
        c = ox * ox + oy * oy - circles[:, 2:3] ** 2
        disc = b * b - c
        root = np.sqrt(np.maximum(disc, 0.0))
        hit = -b - root
        hit = np.where((disc >= 0) & (hit >= 0), hit, np.inf)
        t = np.minimum(t, hit.min(axis=0))
    if len(boxes):
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_x, inv_y = 1.0 / dx, 1.0 / dy
            t1 = (boxes[:, 0:1] - x) * inv_x
            t2 = (boxes[:, 2:3] - x) * inv_x
            t3 = (boxes[:, 1:2] - y) * inv_y
            t4 = (boxes[:, 3:4] - y) * inv_y
        # a ray parallel to a slab: inside it the slab never limits, outside it never hits
        t1 = np.where(np.isnan(t1), -np.inf, t1)
        t2 = np.where(np.isnan(t2), np.inf, t2)
        t3 = np.where(np.isnan(t3), -np.inf, t3)
        t4 = np.where(np.isnan(t4), np.inf, t4)
        near = np.maximum(np.minimum(t1, t2), np.minimum(t3, t4))
        far = np.minimum(np.maximum(t1, t2), np.maximum(t3, t4))
        hit = np.where((far >= near) & (near >= 0), near, np.inf)
        t = np.minimum(t, hit.min(axis=0))
    return t


def _clearance(px: np.ndarray, py: np.ndarray, circles: np.ndarray, boxes: np.ndarray,
               size: float) -> np.ndarray:
    """Distance from each point to the nearest wall or obstacle surface, m (negative inside
    a circle; zero inside a box)."""
    px, py = np.asarray(px, np.float64), np.asarray(py, np.float64)
    d = np.minimum(np.minimum(px, size - px), np.minimum(py, size - py))
    for cx, cy, r in circles:
        d = np.minimum(d, np.hypot(px - cx, py - cy) - r)
    for x0, y0, x1, y1 in boxes:
        ex = np.maximum(np.maximum(x0 - px, px - x1), 0.0)
        ey = np.maximum(np.maximum(y0 - py, py - y1), 0.0)
        d = np.minimum(d, np.hypot(ex, ey))
    return d


def _reachable(start: np.ndarray, goal: np.ndarray, circles: np.ndarray, boxes: np.ndarray,
               size: float) -> bool:
    """Whether the robot can drive from start to goal: a flood fill over grid cells at least
    PATH_CLEARANCE_M from every surface (4-connected, vectorized by whole-grid shifts)."""
    n = int(round(size / PATH_GRID_M))
    centres = (np.arange(n) + 0.5) * PATH_GRID_M
    gx, gy = np.meshgrid(centres, centres, indexing="ij")
    free = _clearance(gx, gy, circles, boxes, size) >= PATH_CLEARANCE_M
    s = tuple(np.clip((start / PATH_GRID_M).astype(int), 0, n - 1))
    g = tuple(np.clip((goal / PATH_GRID_M).astype(int), 0, n - 1))
    if not (free[s] and free[g]):
        return False
    reach = np.zeros_like(free)
    reach[s] = True
    while True:
        grown = reach.copy()
        grown[1:] |= reach[:-1]
        grown[:-1] |= reach[1:]
        grown[:, 1:] |= reach[:, :-1]
        grown[:, :-1] |= reach[:, 1:]
        grown &= free
        if grown[g]:
            return True
        if (grown == reach).all():
            return False
        reach = grown


class DiffDriveNavEnv(gym.Env):
    """
    ## Description
    A differential-drive robot of TurtleBot3 Burger size and speed drives to a goal in a
    5 x 5 m room with walls and several random obstacles (round pillars and boxes). It sees
    the world only through a planar 360-beam lidar (0.12-3.5 m, with range noise), binned
    into `n_sectors` sectors by minimum range, and knows the goal's distance and bearing
    (as a robot knows them from its odometry and a goal pose) and its own speeds. Each step
    is one lidar scan, 0.2 s. Speeds follow the commanded twist within acceleration limits
    (2.5 m/s^2, 3.2 rad/s^2); the pose integrates the speeds exactly along an arc.

    ## Action Space
    `Discrete(6)`, each a commanded twist (linear m/s, angular rad/s):
    0 forward (0.22, 0), 1 forward-left (0.15, 0.8), 2 forward-right (0.15, -0.8),
    3 turn left (0, 1.42), 4 turn right (0, -1.42), 5 stop (0, 0).

    ## Observation Space
    `Box(float32, (n_sectors + 4,))`:
    - 0 .. n_sectors - 1: lidar range per sector, m, in [0.12, 3.5] (sector 0 centred
      straight ahead, then counter-clockwise, each 360 / n_sectors degrees wide; the
      minimum over its beams, no return = 3.5 m);
    - n_sectors: distance to the goal, m, in [0, 5 sqrt 2];
    - n_sectors + 1: bearing of the goal from the heading, rad, in [-pi, pi) (positive to
      the left);
    - n_sectors + 2: linear speed, m/s, in [0, 0.22];
    - n_sectors + 3: angular speed, rad/s, in [-2.84, 2.84].

    ## Rewards
    `10 x` (metres the goal came closer this step) `- 0.01` per step; `+10` on reaching
    the goal; `-10` on a collision; and, while the footprint is closer than 0.25 m to a
    surface, `-0.3 x (1 - gap / 0.25 m)` per step. Driving straight to a goal 3 m away
    earns about 40.

    ## Starting State
    4 to 7 obstacles (each a pillar of radius U(0.1, 0.25) m or a box of half sizes
    U(0.1, 0.4) m, equally likely) at uniform positions, and one more in the way: centred
    U(0.35, 0.65) of the way along the straight line from start to goal, at most 0.15 m to
    its side, so that driving straight at the goal hits it. The robot starts at a uniform
    position, heading U(-pi, pi), at rest; the goal lies at least 2 m away; both are at
    least 0.35 m from every surface, and reachable (a flood fill over a 5 cm grid keeping
    0.13 m from every surface connects them). A world that fails a check is drawn again.

    ## Episode End
    Terminated when the robot's centre is within 0.2 m of the goal (success) or its
    footprint (radius 0.1 m) touches a wall or an obstacle (collision); truncated after
    `max_steps` steps (default 500, 100 s). The last step's `info` carries the metrics:
    `is_success`, `collision` (bools) and `time_to_goal_s` (seconds, NaN unless success).
    Every step's `info` has `goal_distance_m`.

    ## Arguments
    - `n_sectors` (18): lidar sectors in the observation (a divisor of 360; 18 gives 20-degree
      sectors).
    - `max_steps` (500): steps before truncation.
    - `n_obstacles` ((4, 7)): smallest and largest number of obstacles.
    - `lidar_noise` (1.0): scale of the range noise (0: exact ranges).
    - `block_line` (True): put the obstacle in the way (False: only the random ones).
    - `speed_scale` (1.0): the wheels deliver this fraction of the commanded speeds (worn
      tyres, low battery); the observed speeds are the delivered ones.
    - `render_mode` (None or "rgb_array"): draws the room, the obstacles, the lidar rays, the
      robot and the goal.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": int(round(1 / SCAN_PERIOD_S))}

    def __init__(self, n_sectors: int = 18, max_steps: int = 500,
                 n_obstacles: tuple[int, int] = (4, 7), lidar_noise: float = 1.0,
                 speed_scale: float = 1.0, block_line: bool = True,
                 render_mode: str | None = None) -> None:
        if not isinstance(n_sectors, (int, np.integer)) or n_sectors < 1 or (
                LIDAR_BEAMS % n_sectors):
            raise ValueError(f"n_sectors must divide {LIDAR_BEAMS}, got {n_sectors!r}")
        if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        lo, hi = n_obstacles
        if not 0 <= lo <= hi:
            raise ValueError(f"n_obstacles must be (low, high) with 0 <= low <= high, "
                             f"got {n_obstacles!r}")
        if not np.isfinite(lidar_noise) or lidar_noise < 0:
            raise ValueError(f"lidar_noise must be finite and >= 0, got {lidar_noise!r}")
        if not np.isfinite(speed_scale) or speed_scale <= 0:
            raise ValueError(f"speed_scale must be positive, got {speed_scale!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.n_sectors = int(n_sectors)
        self.max_steps = int(max_steps)
        self.n_obstacles = (int(lo), int(hi))
        self.lidar_noise = float(lidar_noise)
        self.speed_scale = float(speed_scale)
        self.block_line = bool(block_line)
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(len(ACTION_TWISTS))
        low = np.concatenate([np.full(self.n_sectors, LIDAR_RANGE_MIN_M),
                              [0.0, -np.pi, 0.0, -MAX_ANGULAR_RAD_S]]).astype(np.float32)
        high = np.concatenate([np.full(self.n_sectors, LIDAR_RANGE_MAX_M),
                               [ROOM_SIZE_M * np.sqrt(2), np.pi, MAX_LINEAR_M_S,
                                MAX_ANGULAR_RAD_S]]).astype(np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.beam_angles = np.arange(LIDAR_BEAMS) * (2 * np.pi / LIDAR_BEAMS)
        self.circles = np.zeros((0, 3))
        self.boxes = np.zeros((0, 4))
        self.pose = np.zeros(3)  # x, y (m), heading (rad) in [-pi, pi)
        self.speeds = np.zeros(2)  # linear m/s, angular rad/s
        self.goal = np.zeros(2)
        self.ranges = np.full(LIDAR_BEAMS, np.inf, np.float32)
        self.steps = 0

    # --- the world ------------------------------------------------------------------------

    def _random_obstacle(self, centre: np.ndarray, circles: list, boxes: list) -> None:
        rng = self.np_random
        if rng.random() < 0.5:
            circles.append((centre[0], centre[1], rng.uniform(*CIRCLE_RADIUS_M)))
        else:
            hx, hy = rng.uniform(*BOX_HALF_SIZE_M, 2)
            boxes.append((centre[0] - hx, centre[1] - hy, centre[0] + hx, centre[1] + hy))

    def _sample_world(self) -> None:
        rng = self.np_random
        for _ in range(MAX_SAMPLING_TRIES):
            k = int(rng.integers(self.n_obstacles[0], self.n_obstacles[1] + 1))
            circles: list = []
            boxes: list = []
            for _ in range(k):
                self._random_obstacle(rng.uniform(0.3, ROOM_SIZE_M - 0.3, 2), circles, boxes)
            start, goal = rng.uniform(0.0, ROOM_SIZE_M, (2, 2))
            if np.hypot(*(goal - start)) < GOAL_MIN_DISTANCE_M:
                continue
            if self.block_line:  # one more obstacle in the way of the straight line
                along = rng.uniform(*BLOCKER_ALONG)
                normal = np.array([start[1] - goal[1], goal[0] - start[0]])
                normal /= np.hypot(*normal)
                centre = start + along * (goal - start) + rng.uniform(
                    -BLOCKER_OFFSET_M, BLOCKER_OFFSET_M) * normal
                self._random_obstacle(centre, circles, boxes)
            self.circles = np.array(circles, np.float64).reshape(-1, 3)
            self.boxes = np.array(boxes, np.float64).reshape(-1, 4)
            clear = _clearance(np.array([start[0], goal[0]]), np.array([start[1], goal[1]]),
                               self.circles, self.boxes, ROOM_SIZE_M)
            if (clear >= START_CLEARANCE_M).all() and _reachable(
                    start, goal, self.circles, self.boxes, ROOM_SIZE_M):
                self.pose = np.array([start[0], start[1], rng.uniform(-np.pi, np.pi)])
                self.pose[2] = wrap_angle(self.pose[2])
                self.goal = goal
                return
        raise RuntimeError("could not place a reachable start and goal")  # pragma: no cover

    def _scan(self) -> np.ndarray:
        """One lidar scan: float32 ranges, +inf for no return within range_max, -inf below
        range_min (REP 117's conventions)."""
        x, y, heading = self.pose
        true = _ray_distances(x, y, heading + self.beam_angles, self.circles, self.boxes,
                              ROOM_SIZE_M)
        sigma = np.where(true < LIDAR_NEAR_LIMIT_M, LIDAR_NOISE_NEAR_M,
                         LIDAR_NOISE_FAR_FRACTION * true) * self.lidar_noise
        noise = self.np_random.standard_normal(LIDAR_BEAMS)
        measured = (true + sigma * noise).astype(np.float32)
        measured = np.where(measured > LIDAR_RANGE_MAX_M, np.float32(np.inf), measured)
        return np.where(measured < LIDAR_RANGE_MIN_M, np.float32(-np.inf), measured)

    def _goal_distance_bearing(self) -> tuple[float, float]:
        dx, dy = self.goal[0] - self.pose[0], self.goal[1] - self.pose[1]
        return float(np.hypot(dx, dy)), float(wrap_angle(np.arctan2(dy, dx) - self.pose[2]))

    def _observation(self) -> np.ndarray:
        sectors = sector_minimum(self.ranges, self.n_sectors, LIDAR_RANGE_MIN_M,
                                 LIDAR_RANGE_MAX_M)
        dist, bearing = self._goal_distance_bearing()
        return np.concatenate([sectors, np.array([dist, bearing, *self.speeds],
                                                 np.float32)]).astype(np.float32)

    def _gap(self) -> float:
        """Distance from the footprint's edge to the nearest surface, m (< 0: collision)."""
        return float(_clearance(self.pose[0:1], self.pose[1:2], self.circles, self.boxes,
                                ROOM_SIZE_M)[0]) - ROBOT_RADIUS_M

    # --- the Gymnasium API ------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._sample_world()
        self.speeds = np.zeros(2)
        self.steps = 0
        self.ranges = self._scan()
        dist, _ = self._goal_distance_bearing()
        return self._observation(), {"goal_distance_m": dist}

    def step(self, action: Any):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        before, _ = self._goal_distance_bearing()
        command = ACTION_TWISTS[int(action)] * self.speed_scale
        limit = np.array([LINEAR_ACCEL_M_S2, ANGULAR_ACCEL_RAD_S2]) * SCAN_PERIOD_S
        self.speeds = self.speeds + np.clip(command - self.speeds, -limit, limit)
        v, w = self.speeds
        x, y, th = self.pose
        if abs(w) > 1e-9:  # exact arc: the heading turns by w dt, the centre moves on a circle
            th1 = th + w * SCAN_PERIOD_S
            x += v / w * (np.sin(th1) - np.sin(th))
            y -= v / w * (np.cos(th1) - np.cos(th))
        else:
            th1 = th
            x += v * SCAN_PERIOD_S * np.cos(th)
            y += v * SCAN_PERIOD_S * np.sin(th)
        self.pose = np.array([x, y, wrap_angle(th1)])
        self.steps += 1
        self.ranges = self._scan()
        after, _ = self._goal_distance_bearing()
        reward = PROGRESS_REWARD_PER_M * (before - after) - STEP_COST
        gap = self._gap()
        collision = gap < 0.0
        success = not collision and after < GOAL_TOLERANCE_M
        if gap < SAFE_GAP_M:
            reward -= PROXIMITY_PENALTY * (1.0 - max(gap, 0.0) / SAFE_GAP_M)
        if collision:
            reward -= COLLISION_PENALTY
        elif success:
            reward += GOAL_BONUS
        terminated = collision or success
        truncated = not terminated and self.steps >= self.max_steps
        info: dict[str, Any] = {"goal_distance_m": after}
        if terminated or truncated:
            info.update(is_success=success, collision=collision,
                        time_to_goal_s=self.steps * SCAN_PERIOD_S if success else float("nan"))
        return self._observation(), float(reward), terminated, truncated, info

    # --- what a real robot's drivers publish -------------------------------------------------

    def sensor_data(self) -> dict[str, dict[str, Any]]:
        """The current readings as plain data, named as the ROS messages name their fields:
        `scan` (sensor_msgs/LaserScan), `odom` (nav_msgs/Odometry: pose and twist, heading
        as a quaternion about z) and `goal` (geometry_msgs/PoseStamped), all in the room's
        `odom` frame."""
        x, y, th = self.pose
        return {
            "scan": {"angle_min": 0.0, "angle_max": float(self.beam_angles[-1]),
                     "angle_increment": float(2 * np.pi / LIDAR_BEAMS),
                     "range_min": LIDAR_RANGE_MIN_M, "range_max": LIDAR_RANGE_MAX_M,
                     "scan_time": SCAN_PERIOD_S, "ranges": self.ranges.copy(),
                     "header.frame_id": "base_scan"},
            "odom": {"header.frame_id": "odom", "child_frame_id": "base_footprint",
                     "pose.pose.position.x": float(x), "pose.pose.position.y": float(y),
                     "pose.pose.position.z": 0.0,
                     "pose.pose.orientation.x": 0.0, "pose.pose.orientation.y": 0.0,
                     "pose.pose.orientation.z": float(np.sin(th / 2)),
                     "pose.pose.orientation.w": float(np.cos(th / 2)),
                     "twist.twist.linear.x": float(self.speeds[0]),
                     "twist.twist.angular.z": float(self.speeds[1])},
            "goal": {"header.frame_id": "odom", "pose.position.x": float(self.goal[0]),
                     "pose.position.y": float(self.goal[1]), "pose.position.z": 0.0,
                     "pose.orientation.x": 0.0, "pose.orientation.y": 0.0,
                     "pose.orientation.z": 0.0, "pose.orientation.w": 1.0},
        }

    # --- drawing ---------------------------------------------------------------------------

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        from neuroq.envs.nav_render import draw_scene

        return draw_scene(self)
