"""Gymnasium environments and wrappers used by neuroq (numpy + gymnasium only)."""

import gymnasium as _gym

if "neuroq/DVSPanTracking-v0" not in _gym.registry:
    _gym.register(id="neuroq/DVSPanTracking-v0", entry_point="envs.pan_tracking:DVSPanTrackingEnv")
