"""A stand-in for a deployed policy, and a policy node process that runs it.

`StandInPolicy` implements `neuroq.deploy.policy.Policy` with a fixed linear rule, so ROS tests
need no trained artifact. Run as a script, it is the policy node with this policy injected
(the launch harness starts it in place of `neuroq_policy_node` when told to).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

from neuroq.deploy.policy import ActionInfo

# CartPole: push towards the side the pole falls to (pole angle plus a little of its rate);
# this keeps the pole up for tens to hundreds of steps.
CARTPOLE_GAINS = np.array([0.0, 0.0, 1.0, 0.3], np.float32)
STAND_IN_SPIKES = 7
STAND_IN_SYNAPTIC_EVENTS = 42
STAND_IN_ENERGY_J = 1e-6


class StandInPolicy:
    """act(obs) -> ActionInfo from sign(gains . obs); counts its calls."""

    def __init__(self, gains: np.ndarray = CARTPOLE_GAINS, env_id: str = "CartPole-v1",
                 fail_on_call: int | None = None, n_actions: int = 2) -> None:
        self.gains = np.asarray(gains, np.float32)
        self.n_actions = n_actions  # it chooses 0 or 1 of them
        # what a real manifest says of the spaces (the node checks its interface against it)
        self.manifest: dict[str, Any] = {
            "env_id": env_id, "observation_space": {"shape": [int(self.gains.size)]},
            "action_space": {"n": n_actions}}
        self.calls = 0
        self.fail_on_call = fail_on_call

    def act(self, observation: np.ndarray) -> ActionInfo:
        self.calls += 1
        if self.fail_on_call is not None and self.calls >= self.fail_on_call:
            raise RuntimeError("stand-in board stopped answering")
        start = time.perf_counter()
        score = float(self.gains @ np.asarray(observation, np.float32))
        action = int(score > 0)
        q = np.zeros(self.n_actions, np.float32)
        q[:2] = (-score, score)
        return ActionInfo(action=action, q=q, host_latency_s=time.perf_counter() - start,
                          chip_time_s=None, synaptic_events=STAND_IN_SYNAPTIC_EVENTS,
                          spikes=STAND_IN_SPIKES, energy_total_j=STAND_IN_ENERGY_J)

    def act_batch(self, observations: np.ndarray) -> np.ndarray:
        return (np.asarray(observations, np.float32) @ self.gains > 0).astype(np.int64)


#: environment variable with comma-separated gains for the stand-in node process
GAINS_ENV = "NEUROQ_STAND_IN_GAINS"


def stand_in_loader(artifact: str, backend: str) -> StandInPolicy:
    gains = os.environ.get(GAINS_ENV)
    if gains:
        return StandInPolicy(np.array([float(g) for g in gains.split(",")], np.float32))
    return StandInPolicy()


if __name__ == "__main__":
    from neuroq.ros_nodes.policy_node import main

    sys.exit(main(sys.argv, policy_loader=stand_in_loader))
