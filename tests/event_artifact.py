"""A hand-made DVS pan-tracking artifact with the event encoder (not trained).

Two hidden neurons count the events of the left and right thirds of the pooled image; the
output prefers panning towards the side with more events. Saved with the project's own
`save_artifact`, so ROS tests run the real load path without a trained network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deploy.artifact import save_artifact
from deploy.encoders import EventEncoder
from deploy.network import Layer, SpikingQNetwork
from deploy.neuron import make_params

SENSOR_PX, POOL, PERIOD_US = 32, 4, 10_000
SIDE = SENSOR_PX // POOL
TIMESTEPS = 8
THRESHOLD = 2.0


def make_event_artifact(out_dir: str | Path) -> Path:
    """Write the artifact into `out_dir`; return the folder."""
    cols = np.tile(np.arange(SIDE), 2 * SIDE)  # column of each input (p, y, x order)
    hidden = np.zeros((2, 2 * SIDE * SIDE), np.int8)
    hidden[0, cols < 3] = 1  # events on the left: the target is left of centre
    hidden[1, cols > SIDE - 4] = 1
    output = np.array([[2, 0], [1, 1], [0, 2]], np.int8)  # pan left, hold, pan right
    net = SpikingQNetwork(
        layers=(Layer("hidden", hidden, 1.0, make_params(2, threshold=THRESHOLD)),
                Layer("output", output, 1.0, make_params(3), spiking=False)),
        timesteps=TIMESTEPS)
    encoder = EventEncoder(SENSOR_PX, SENSOR_PX, POOL, PERIOD_US, silent_tail=2)
    manifest = {
        "env_id": "neuroq/DVSPanTrackingPooled-v0",
        "observation_space": {"shape": [2 * SIDE * SIDE]},
        "action_space": {"n": 3},
        "provenance": {"made_by": "tests/event_artifact.py (hand-set weights, not trained)"},
    }
    save_artifact(out_dir, net, encoder, manifest)
    return Path(out_dir)
