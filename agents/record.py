"""Record an event env's stream into a Prophesee EVT 3.0 .raw file (`neuroq record`).

A recording to try `neuroq replay` and the event node with, where no camera is at hand:
the env's DVS events of `seconds` of camera time, episodes back to back (episode i seeded
`seed + i`; each episode's camera time continues where the last one ended, so the file's
time only grows), actions from an event artifact (`SpikingPolicy.act_events`, emulator) or
uniformly random (seeded). The env must put each step's events in `info["events"]` and the
start of the step's window in `info["window_start_us"]`, as neuroq's event envs do
(`neuroq/DVSPanTracking-v0`).
"""

from __future__ import annotations

import os
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroq.deploy.artifact import Artifact, artifact_name
from neuroq.deploy.encoders import takes_events
from neuroq.deploy.errors import NeuroqError

DEFAULT_ENV = "neuroq/DVSPanTracking-v0"


@dataclass
class Recording:
    """What `record_events` wrote."""

    path: str
    env_id: str
    width: int
    height: int
    events: int
    episodes: int
    steps: int
    camera_s: float
    actions: str
    bytes: int


def _sensor_size(env: Any, policy: Any, env_id: str) -> tuple[int, int]:
    """The sensor size: the artifact's encoder's, else the env's DVS (`dvs_params`)."""
    if policy is not None:
        return policy.encoder.width, policy.encoder.height
    params = getattr(env.unwrapped, "dvs_params", None)
    if params is None:
        raise NeuroqError(f"{env_id} has no DVS whose size neuroq can read (no dvs_params): "
                          f"record an event env such as {DEFAULT_ENV}, or give an event "
                          "artifact for it (--artifact), whose sensor size is used")
    return int(params.width), int(params.height)


def record_events(out_path: str | os.PathLike, env_id: str | None = None,
                  seconds: float = 10.0, seed: int = 0,
                  artifact: str | os.PathLike | Artifact | None = None,
                  progress: Any = None) -> Recording:
    """Write `seconds` of `env_id`'s events to `out_path` (.raw, EVT 3.0); see the module
    docstring. env_id None: the artifact's env, else DEFAULT_ENV. progress(camera_s):
    called after each step. artifact: a folder or manifest.json, or an `Artifact` loaded
    already (`neuroq record` loads it once, for its checks). Raises NeuroqError for an env
    without events, an artifact that is not an event artifact or does not control the env,
    and a file that cannot be written."""
    from neuroq.deploy.events import RawWriter
    from neuroq.deploy.rollout import episode_seed, make_env
    from neuroq.envs.event_array import from_columns

    policy = None
    if artifact is not None:
        from neuroq.deploy.policy import load_policy

        policy = load_policy(artifact)
        artifact = artifact_name(artifact)
        if not takes_events(policy.encoder):
            raise NeuroqError(f"{artifact} has a {policy.encoder.kind} encoder, not an event "
                              "encoder: record with an event artifact or with none")
        env_id = env_id or policy.manifest.get("env_id")
        if policy.manifest.get("env_id") != env_id:
            raise NeuroqError(f"{artifact} controls {policy.manifest.get('env_id')}, "
                              f"not {env_id}")
    env_id = env_id or DEFAULT_ENV
    with closing(make_env(env_id)) as env:  # closed on success, error and interruption
        width, height = _sensor_size(env, policy, env_id)
        rng = np.random.default_rng(seed)
        end_us = int(round(seconds * 1e6))
        offset = 0  # camera time (us) at which the current episode started
        events = steps = episodes = 0
        try:
            writer = RawWriter(out_path, width, height,
                               {"neuroq_env": env_id, "neuroq_seed": str(seed)})
        except OSError as exc:
            raise NeuroqError(f"cannot write {out_path}: {exc.strerror or exc}") from None
        with writer:
            while offset < end_us:
                _, info = env.reset(seed=episode_seed(seed, episodes))
                episodes += 1
                window, done = 1, False
                while True:
                    if "events" not in info or "window_start_us" not in info:
                        raise NeuroqError(f"{env_id} puts no events in its info (needs "
                                          "info['events'] and info['window_start_us'])")
                    start = int(info["window_start_us"])
                    ev = from_columns(info["events"])
                    ev = ev[ev["t"] + offset <= end_us]
                    if ev.size:
                        ev = ev.copy()
                        ev["t"] += offset
                        writer.write(ev)
                        events += ev.size
                    if done or offset + start + window >= end_us:
                        break
                    action = (policy.act_events(info["events"], start).action
                              if policy is not None
                              else int(rng.integers(env.action_space.n)))
                    _, _, terminated, truncated, info = env.step(action)
                    steps += 1
                    window = max(int(info["window_start_us"]) - start, 1)
                    done = terminated or truncated
                    if progress is not None:
                        progress(min(offset + start + window, end_us) / 1e6)
                offset += start + window  # the next episode starts after this one's end
            # time words to where the env's camera time went: the last period is complete
            writer.write_time(min(offset, end_us))
    return Recording(os.fspath(out_path), env_id, width, height, events, episodes, steps,
                     min(offset, end_us) / 1e6,
                     f"artifact {artifact}" if policy is not None else f"random (seed {seed})",
                     os.path.getsize(out_path))


__all__ = ["DEFAULT_ENV", "Recording", "record_events"]
