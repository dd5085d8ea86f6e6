"""A train run's checkpoint (`neuroq train --resume`), written and read without pickle.

stable-baselines3's own checkpoint (`DQN.save`'s zip and `save_replay_buffer`'s .pkl) is
read back by unpickling: `DQN.load` unpickles every value its `data` marks `:serialized:`
and `load_replay_buffer` the whole buffer, so resuming a run folder from someone else ran
code of theirs (an outsider; the checkpoint of neuroq before 2026-11-29 was SB3's). This
one holds plain data only:

    model.pt              torch.save of {"policy": the policy's state dict (Q-network and
                          target network), "optimizer": the optimizer's state dict}: tensors,
                          numbers and lists, read back by torch's weights-only loader
    replay_buffer.npz     the replay buffer's filled rows (observations, next_observations,
                          actions, rewards, dones, timeouts), read with allow_pickle=False
                          once their headers match the buffer a new model of the run's config
                          allocates (shape and dtype)
    state.json            written by the caller, with what `write` returns: the steps, the
                          learner's counters, its exploration rate and the buffer's
                          position

A resumed model is built as a new run builds it (the run's config) and then given these
(`restore`); nothing else of the old model is needed (SB3 rebuilds the same schedules from
the same hyperparameters). Its random generators start again from the seed, as with SB3's
own checkpoint.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError

MODEL_FILE = "model.pt"
BUFFER_FILE = "replay_buffer.npz"
LEGACY_FILES = ("model.zip", "replay_buffer.pkl")
"""The checkpoint of neuroq before 2026-11-29 (SB3's pickles): not read (module docstring)."""
BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones",
                 "timeouts")
"""The replay buffer's arrays (stable-baselines3's ReplayBuffer), each (buffer_size, n_envs,
...). neuroq never sets optimize_memory_usage (its buffer keeps next_observations): with it
the next observation of row pos - 1 would lie in row pos, which the filled rows leave out,
so `write` refuses such a buffer."""
COUNTERS = ("num_timesteps", "_n_updates", "_n_calls", "_episode_num")
"""The learner's counters a resumed run goes on from (whole numbers >= 0): the steps taken
(which set the exploration schedule and learning_starts), gradient updates, calls (which time
the target network's updates) and episodes."""
MAX_MODEL_BYTES = 256 << 20
"""Largest model.pt read (bytes): a DQN of neuroq's and its Adam state take kilobytes to a
few megabytes; a file from someone else may declare anything."""


def write(folder: Path, model: Any) -> dict[str, Any]:
    """Write `model`'s weights, optimizer state and replay buffer into `folder` (which
    exists); return the learner's state for state.json (`restore` reads it back)."""
    import torch

    _check_counters(model)
    torch.save({"policy": model.policy.state_dict(),
                "optimizer": model.policy.optimizer.state_dict()}, folder / MODEL_FILE)
    buffer = model.replay_buffer
    if getattr(buffer, "optimize_memory_usage", False):
        raise NeuroqError("a replay buffer with optimize_memory_usage keeps next observations "
                          "in the following row: neuroq's checkpoint does not hold it")
    rows = buffer.buffer_size if buffer.full else buffer.pos
    arrays = {name: getattr(buffer, name)[:rows] for name in BUFFER_ARRAYS
              if getattr(buffer, name, None) is not None}
    with open(folder / BUFFER_FILE, "wb") as f:
        np.savez(f, **arrays)
    return {"steps": int(model.num_timesteps),
            "counters": {name: int(getattr(model, name)) for name in COUNTERS},
            "exploration_rate": float(model.exploration_rate),
            "buffer": {"pos": int(buffer.pos), "full": bool(buffer.full)}}


def restore(folder: Path, model: Any, state: dict[str, Any],
            max_steps: int | None = None) -> None:
    """Give `model` (built from the run's config, as a new run builds it) the checkpoint in
    `folder` and the learner's `state` (state.json's, as `write` returned it). NeuroqError,
    naming the file and what is wrong, for a checkpoint that does not fit the model or is
    not one of this format (a checkpoint of SB3's pickles included: not read); max_steps:
    the most steps the run can have taken (its n_timesteps and one collection)."""
    if not (folder / MODEL_FILE).is_file() and any((folder / n).exists() for n in LEGACY_FILES):
        raise NeuroqError(
            f"{folder} holds a checkpoint of an older neuroq (stable-baselines3's "
            f"{' and '.join(LEGACY_FILES)}), which can only be read by unpickling it, and "
            "that runs code from the files (docs/trust.md): neuroq no longer reads it; train "
            "the run again")
    counters, pos, full, rate = _learner_state(folder, state)
    _check_counters(model)
    if max_steps is not None and counters["num_timesteps"] > max_steps:
        raise NeuroqError(f"{folder / 'state.json'}: {counters['num_timesteps']} steps, more "
                          f"than the run can take ({max_steps}: its n_timesteps and one "
                          "collection, config.yaml)")
    # one transition per step: the buffer's position follows from the steps (a recheck's
    # 1,000,000,000 steps trained nothing and reported them). A checkpoint written at a
    # selection evaluation (a callback, before SB3 stores that step's transition) holds one
    # transition fewer than its steps; one written after training, as many.
    steps, size = counters["num_timesteps"], model.replay_buffer.buffer_size
    if (pos, full) not in {(t % size, t >= size) for t in (steps - 1, steps) if t >= 0}:
        raise NeuroqError(f"{folder / 'state.json'} is not a checkpoint's state: its buffer "
                          f"position {pos} (full: {full}) does not follow from its {steps} "
                          f"steps with buffer_size {size}")
    weights = _read_model(folder / MODEL_FILE)
    try:
        model.policy.load_state_dict(weights["policy"])
        model.policy.optimizer.load_state_dict(weights["optimizer"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise NeuroqError(f"{folder / MODEL_FILE} does not fit the run's DQN (its config.yaml): "
                          f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
    _restore_buffer(folder / BUFFER_FILE, model.replay_buffer, pos, full)
    for name, value in counters.items():
        setattr(model, name, value)
    model.exploration_rate = rate


def _check_counters(model: Any) -> None:
    """NeuroqError unless `model` has every counter of COUNTERS: they are stable-baselines3's
    own (private) attributes, which another version may rename; a write would then fail in
    the middle of a run and a restore set a name nothing reads (a review)."""
    missing = [name for name in COUNTERS if not hasattr(model, name)]
    if missing:
        import stable_baselines3

        raise NeuroqError(f"stable-baselines3 {stable_baselines3.__version__} has no "
                          f"{', '.join(missing)}, which neuroq's train checkpoint keeps: "
                          "install the version neuroq names (setup.py's train extra)")


def _learner_state(folder: Path, state: dict[str, Any]) -> tuple[dict[str, int], int, bool,
                                                                  float]:
    """state.json's counters, buffer position and exploration rate, checked."""
    def bad(why: str) -> NeuroqError:
        return NeuroqError(f"{folder / 'state.json'} is not a checkpoint's state: {why}")

    counters = state.get("counters") if isinstance(state, dict) else None
    buffer = state.get("buffer") if isinstance(state, dict) else None
    if not isinstance(counters, dict) or not isinstance(buffer, dict):
        raise bad("it has no counters and buffer position")
    out = {}
    for name in COUNTERS:
        value = counters.get(name)
        if type(value) is not int or value < 0:
            raise bad(f"its {name} is not a whole number >= 0: {value!r}"[:200])
        out[name] = value
    if state.get("steps") != out["num_timesteps"]:  # two counts of one thing must agree
        raise bad(f"its steps {state.get('steps')!r} and counters.num_timesteps "
                  f"{out['num_timesteps']} differ"[:200])
    pos, full, rate = buffer.get("pos"), buffer.get("full"), state.get("exploration_rate")
    if type(pos) is not int or pos < 0 or type(full) is not bool:
        raise bad("its buffer position is not a whole number >= 0 and a full flag")
    if type(rate) not in (int, float) or not 0.0 <= rate <= 1.0:
        raise bad(f"its exploration_rate is not a number in [0, 1]: {rate!r}"[:200])
    return out, pos, full, float(rate)


def _read_model(path: Path) -> dict[str, Any]:
    """model.pt through torch's weights-only loader (a pickle asking for anything but
    tensors, numbers, strings and containers is refused by it), size capped."""
    import pickle

    import torch

    from neuroq.agents.mlp import torch_file_problem, weights_only_reason

    if not path.is_file():
        raise NeuroqError(f"{path} is missing: the checkpoint is not whole; train the run again")
    problem = torch_file_problem(path, MAX_MODEL_BYTES)  # its size once read, not on disk
    if problem:
        raise NeuroqError(f"{path} is not a checkpoint's weights: {problem}: not read")
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, ValueError, RuntimeError, EOFError, KeyError, RecursionError,
            zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise NeuroqError(f"{path} cannot be read as a checkpoint's weights (weights only, "
                          f"nothing else is loaded): {weights_only_reason(exc)}") from None
    if not (isinstance(weights, dict) and isinstance(weights.get("policy"), dict)
            and isinstance(weights.get("optimizer"), dict)):
        raise NeuroqError(f"{path} holds no policy and optimizer state")
    return weights


def _restore_buffer(path: Path, buffer: Any, pos: int, full: bool) -> None:
    """Fill `buffer` (a new model's, empty) from replay_buffer.npz: each array's header must
    match the buffer's array (dtype, shape but the rows) before it is read."""
    from neuroq.agents.runs import npy_header

    rows = buffer.buffer_size if full else pos  # pos checked by `restore` against the steps
    wanted = {name: getattr(buffer, name) for name in BUFFER_ARRAYS
              if getattr(buffer, name, None) is not None}
    try:
        with zipfile.ZipFile(path) as z:
            names = sorted(n.removesuffix(".npy") for n in z.namelist())
            if names != sorted(wanted):
                raise NeuroqError(f"{path} holds {names}, not the run's replay buffer arrays "
                                  f"{sorted(wanted)}")
            for name, target in wanted.items():
                with z.open(name + ".npy") as member:
                    shape, dtype = npy_header(member)
                if dtype != target.dtype or shape != (rows, *target.shape[1:]):
                    raise NeuroqError(
                        f"{path}: {name} is {dtype} {shape}, the run's buffer takes "
                        f"{target.dtype} {(rows, *target.shape[1:])}")
        with np.load(path, allow_pickle=False) as data:
            for name, target in wanted.items():
                target[:rows] = data[name]
    except NeuroqError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise NeuroqError(f"{path} cannot be read as a replay buffer: {type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:300]}") from None
    buffer.pos, buffer.full = pos, full

