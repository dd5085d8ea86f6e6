"""Which environments a Q-network can be trained on, checked before anything is made.

A DQN here (and the spiking Q-network it becomes) needs

- an observation space that is a `Box` (any shape: `neuroq.deploy.rollout.make_env` flattens
  it in C order, so the network sees one vector of n_obs = prod(shape) floats), and
- a `Discrete` action space starting at 0 (one Q-value per action; the action is the index
  of the largest Q-value).

Anything else (Dict, Tuple, MultiDiscrete, continuous Box actions, ...) is refused with one
line naming the space. The environment is named by an env reference
(`neuroq.deploy.envref`), so a user's own package or class goes through the same factory as
every built-in id.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnvInfo:
    """What training needs to know of an environment: its reference, input and action count."""

    env_id: str
    n_obs: int
    n_actions: int


def check_spaces(env_id: str, observation_space: object, action_space: object) -> EnvInfo:
    """EnvInfo for the (already flattened) spaces, or NeuroqError naming the one refused
    (`neuroq.deploy.rollout.q_network_spaces`, the one rule, which deploy checks too)."""
    from neuroq.deploy.rollout import q_network_spaces

    return EnvInfo(env_id, *q_network_spaces(env_id, observation_space, action_space))


def check_trainable(env_id: str, reset: bool = False) -> EnvInfo:
    """Make `env_id` once with the one env factory and check its spaces (see the module);
    with `reset`, reset it once too (the commands' first check: not again per seed)."""
    from neuroq.deploy.rollout import make_env

    env = make_env(env_id)
    try:
        info = check_spaces(env_id, env.observation_space, env.action_space)
        if reset:  # one reset, as training's first: a user's env that fails there is one
            # line (it was a traceback from deep in stable-baselines3; make_env's wrapper
            # says what went wrong, `neuroq.deploy.rollout.checked_env`)
            env.reset(seed=0)
        return info
    finally:
        env.close()
