"""Gymnasium environments and wrappers used by neuroq (numpy + gymnasium only)."""

import gymnasium as _gym

if "neuroq/DVSPanTracking-v0" not in _gym.registry:
    _gym.register(id="neuroq/DVSPanTracking-v0",
                  entry_point="neuroq.envs.pan_tracking:DVSPanTrackingEnv")
# The same task with 4 x 4 pooled counts (2 x 8 x 8 inputs): a smaller input layer for the chip.
if "neuroq/DVSPanTrackingPooled-v0" not in _gym.registry:
    _gym.register(id="neuroq/DVSPanTrackingPooled-v0",
                  entry_point="neuroq.envs.pan_tracking:DVSPanTrackingEnv", kwargs={"pool": 4})
# A differential-drive robot (TurtleBot3-class) drives to a goal, seeing a room with a lidar.
if "neuroq/DiffDriveNav-v0" not in _gym.registry:
    _gym.register(id="neuroq/DiffDriveNav-v0",
                  entry_point="neuroq.envs.diffdrive_nav:DiffDriveNavEnv")
