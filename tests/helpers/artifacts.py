"""Hand-made deploy artifacts (not trained), written with the project's own `save_artifact`.

`make_tiny_artifact`: CartPole, two spiking neurons that push towards the pole's lean.
`make_event_artifact`: DVS pan tracking with the event encoder.
`make_nav_artifact`: DiffDriveNav, turns towards the goal's bearing and drives when it is
ahead (no obstacle avoidance: it reaches some goals and hits what lies in the way).
`count_manifest_reads`: the paths an artifact's manifest is read from (load-once tests).

Written with the project's own `neuroq.deploy.artifact.save_artifact`, so ROS tests can run
the real
load path (`load_policy` on the emulator) without a trained network. Not a trained policy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuroq.deploy.artifact import save_artifact
from neuroq.deploy.encoders import EventEncoder, RateEncoder
from neuroq.deploy.network import Layer, SpikingQNetwork
from neuroq.deploy.neuron import make_params

# rate encoder ranges (observation units): cart x, x_dot, pole angle, pole rate
HALF_RANGE = (2.4, 2.0, 0.21, 2.0)
TIMESTEPS = 16
# weight units: pole angle counts 10, pole rate 3 (gains 1 : 0.3, as the stand-in policy)
W_ANGLE, W_RATE, THRESHOLD = 10, 3, 10.0


def make_tiny_artifact(out_dir: str | Path, rate_weight: int = W_RATE) -> Path:
    """Write the artifact into `out_dir`; return the folder.

    rate_weight 0 ignores the pole's rate: episodes then end after some 25-50 steps.
    """
    # inputs: [ON_x, OFF_x, ON_xd, OFF_xd, ON_th, OFF_th, ON_thd, OFF_thd]
    hidden = np.zeros((2, 8), np.int8)
    hidden[0, [4, 6]] = (W_ANGLE, rate_weight)  # leans right -> "push right" neuron
    hidden[1, [5, 7]] = (W_ANGLE, rate_weight)  # leans left -> "push left" neuron
    output = np.array([[0, 1], [1, 0]], np.int8)  # Q(left) from left neuron, Q(right) ...
    net = SpikingQNetwork(
        layers=(Layer("hidden", hidden, 1.0, make_params(2, threshold=THRESHOLD)),
                Layer("output", output, 1.0, make_params(2), spiking=False)),
        timesteps=TIMESTEPS)
    encoder = RateEncoder(center=(0.0, 0.0, 0.0, 0.0), half_range=HALF_RANGE)
    manifest = {
        "env_id": "CartPole-v1",
        "observation_space": {"shape": [4]},
        "action_space": {"n": 2},
        "provenance": {"made_by": "tests/helpers/artifacts.py (hand-set weights, not trained)"},
    }
    save_artifact(out_dir, net, encoder, manifest)
    return Path(out_dir)


# the event artifact: DVS pan tracking, 32 x 32 sensor pooled 4 x 4, 10 ms periods
SENSOR_PX, POOL, PERIOD_US = 32, 4, 10_000
SIDE = SENSOR_PX // POOL
EVENT_TIMESTEPS = 8
EVENT_THRESHOLD = 2.0


def make_event_artifact(out_dir: str | Path, gate: dict | None = None) -> Path:
    """Write the artifact into `out_dir`; return the folder. `gate`: the manifest's export
    gate record, if any (a hand-made artifact has none)."""
    cols = np.tile(np.arange(SIDE), 2 * SIDE)  # column of each input (p, y, x order)
    hidden = np.zeros((2, 2 * SIDE * SIDE), np.int8)
    hidden[0, cols < 3] = 1  # events on the left: the target is left of centre
    hidden[1, cols > SIDE - 4] = 1
    output = np.array([[2, 0], [1, 1], [0, 2]], np.int8)  # pan left, hold, pan right
    net = SpikingQNetwork(
        layers=(Layer("hidden", hidden, 1.0, make_params(2, threshold=EVENT_THRESHOLD)),
                Layer("output", output, 1.0, make_params(3), spiking=False)),
        timesteps=EVENT_TIMESTEPS)
    encoder = EventEncoder(SENSOR_PX, SENSOR_PX, POOL, PERIOD_US, silent_tail=2)
    manifest = {
        "env_id": "neuroq/DVSPanTrackingPooled-v0",
        "observation_space": {"shape": [2 * SIDE * SIDE]},
        "action_space": {"n": 3},
        "provenance": {"made_by": "tests/helpers/artifacts.py (hand-set weights, not trained)"},
    }
    if gate is not None:
        manifest["gate"] = gate
    save_artifact(out_dir, net, encoder, manifest)
    return Path(out_dir)


# DiffDriveNav: 18 lidar sectors, goal distance, goal bearing, linear and angular speed
NAV_OBS, NAV_BEARING, NAV_ACTIONS = 22, 19, 6
NAV_TIMESTEPS = 16
NAV_TURN_LEFT, NAV_TURN_RIGHT = 3, 4


def make_nav_artifact(out_dir: str | Path, interface: bool = True) -> Path:
    """Write the artifact into `out_dir`; return the folder. With `interface`, the manifest
    records the shipped nav robot interface (as an export does)."""
    hidden = np.zeros((2, 2 * NAV_OBS), np.int8)
    # a bearing beyond 1/16 of pi (one spike in 16 steps) fires the turn neurons
    hidden[0, 2 * NAV_BEARING] = W_ANGLE       # ON: the goal is to the left
    hidden[1, 2 * NAV_BEARING + 1] = W_ANGLE   # OFF: to the right
    output = np.zeros((NAV_ACTIONS, 2), np.int8)
    output[NAV_TURN_LEFT, 0] = output[NAV_TURN_RIGHT, 1] = 1  # all zero: action 0, forward
    net = SpikingQNetwork(
        layers=(Layer("hidden", hidden, 1.0, make_params(2, threshold=THRESHOLD)),
                Layer("output", output, 1.0, make_params(NAV_ACTIONS), spiking=False)),
        timesteps=NAV_TIMESTEPS)
    half = [1.75] * 18 + [3.5, np.pi, 0.11, 2.84]
    centre = [1.75] * 18 + [3.5, 0.0, 0.11, 0.0]
    encoder = RateEncoder(center=tuple(centre), half_range=tuple(half))
    manifest = {
        "env_id": "neuroq/DiffDriveNav-v0",
        "observation_space": {"shape": [NAV_OBS]},
        "action_space": {"n": NAV_ACTIONS},
        "provenance": {"made_by": "tests/helpers/artifacts.py (hand-set weights, not trained)"},
    }
    if interface:
        from neuroq.deploy.interface import load_interface

        manifest["interface"] = load_interface("nav").to_dict()
    save_artifact(out_dir, net, encoder, manifest)
    return Path(out_dir)


# MountainCar: push the way the car moves (pumps energy into its swing)
MC_VELOCITY_HALF_RANGE = 0.01  # m/step: one input spike in 16 steps from 0.000625 m/step
MC_PUSH_LEFT, MC_PUSH_RIGHT = 0, 2


def make_mountaincar_artifact(out_dir: str | Path, interface: dict | None = None) -> Path:
    """Write the artifact into `out_dir`; return the folder. `interface`: a robot interface
    (RobotInterface.to_dict()) recorded in the manifest; None records none (as an export
    before config/interfaces/mountaincar.yaml shipped)."""
    # inputs: [ON_position, OFF_position, ON_velocity, OFF_velocity]
    hidden = np.zeros((2, 4), np.int8)
    hidden[0, 2] = W_ANGLE  # moving right -> the "push right" neuron
    hidden[1, 3] = W_ANGLE  # moving left
    output = np.zeros((3, 2), np.int8)
    output[MC_PUSH_RIGHT, 0] = output[MC_PUSH_LEFT, 1] = 1  # at rest: all zero, action 0
    net = SpikingQNetwork(
        layers=(Layer("hidden", hidden, 1.0, make_params(2, threshold=THRESHOLD)),
                Layer("output", output, 1.0, make_params(3), spiking=False)),
        timesteps=TIMESTEPS)
    encoder = RateEncoder(center=(-0.3, 0.0), half_range=(0.9, MC_VELOCITY_HALF_RANGE))
    manifest = {
        "env_id": "MountainCar-v0",
        "observation_space": {"shape": [2]},
        "action_space": {"n": 3},
        "provenance": {"made_by": "tests/helpers/artifacts.py (hand-set weights, not trained)"},
        **({"interface": interface} if interface is not None else {}),
    }
    save_artifact(out_dir, net, encoder, manifest)
    return Path(out_dir)


def count_manifest_reads(monkeypatch) -> list[str]:
    """Record each path `neuroq.deploy.artifact.read_manifest` is called with from now on
    (the real function still runs); returns the list it fills, as strings."""
    from neuroq.deploy import artifact

    reads: list[str] = []
    real = artifact.read_manifest

    def read_manifest(*args, **kwargs):
        reads.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(artifact, "read_manifest", read_manifest)
    return reads
