"""A deployed policy: observation in, action out, with per-action accounting.

This is the interface the closed-loop evaluator (`neuroq eval`) and the ROS 2 policy node
use. Backends (`emulator`, `spinnaker2`, `reference`) implement `Policy`; `load_policy`
picks one by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class ActionInfo:
    """What one action cost and produced.

    action: chosen action index (argmax of q, lowest index on ties).
    q: float32 (n_actions,) Q-values.
    host_latency_s: measured wall time of `act` on this host, seconds.
    chip_time_s: on-chip time of the T steps, seconds, MODELED (None if not modeled).
    synaptic_events: synaptic events (spike x fan-out) in the action.
    spikes: spikes emitted by all populations, input source included.
    energy_dynamic_j / energy_total_j: MODELED energy of the action in joules (None when the
        backend has no energy model).
    """

    action: int
    q: np.ndarray
    host_latency_s: float
    chip_time_s: float | None
    synaptic_events: int
    spikes: int
    energy_dynamic_j: float | None = None
    energy_total_j: float | None = None


class Policy(Protocol):
    """A loaded artifact on a backend."""

    manifest: dict[str, Any]

    def act(self, observation: np.ndarray) -> ActionInfo:
        """Encode one observation, run T steps, return the action and its accounting."""
        ...

    def act_batch(self, observations: np.ndarray) -> np.ndarray:
        """Greedy actions (int64, (batch,)) for a batch of observations (batch, n_obs)."""
        ...
