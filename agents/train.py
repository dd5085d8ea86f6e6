"""DQN training with stable-baselines3: one seed, or several in parallel processes.

A run trains `DQN("MlpPolicy")` on a Gymnasium env with the hyperparameters of
config/dqn.yaml, evaluates the greedy policy every `eval_freq` steps on `n_eval_episodes`
episodes (selection episodes, seeded apart from training) and keeps the best checkpoint,
then reports the chosen checkpoint on `final_eval_episodes` fresh episodes (report
episodes, seeded apart from both). It writes `runs/<env>/train-seed<seed>-<time>/`:

    config.yaml         env, seed, hyperparameters, library versions
    best_model.zip      best checkpoint by the selection episodes (SB3 format)
    final_model.zip     the model after the last step
    eval_history.json   the selection evaluations over training
    tb/                 TensorBoard logs (training loss, exploration, eval/mean_reward)
    result.json         env_id, seed, steps, wall_s, mean_return, std_return, episodes,
                        checkpoint ("best"|"final"), model (file name), and more
    resume/             while the run trains: the model and its optimizer, its replay
                        buffer, the selection state and best_model.zip as they were at
                        the last selection evaluation at least `checkpoint_every_s`
                        after the one before (removed at the end; no pickle:
                        neuroq.agents.checkpoint)

An interrupted run (Ctrl-C, SIGTERM, a crash: its folder has resume/ and no result.json)
goes on from that checkpoint with `resume_run` (`neuroq train --resume RUN`): the same
total steps, exploration schedule and selection, but not bit-identical to a run that was
never interrupted (the random generators start again from the seed). The run goes back
to the checkpoint whole: a best_model.zip saved after it (by an evaluation whose training
is lost with the interruption) is replaced by the checkpoint's, so the model reported
is the one the selection history names.

Seeding: python, numpy and torch through SB3's `set_random_seed(seed)`, the training env
and its action space through `DQN(seed=seed)`, the selection and report episodes from
their own seed ranges (`neuroq.deploy.seeds.first_seed`: "train_selection",
"train_selection_perturbed", "train_report").
"""

from __future__ import annotations

import errno
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from neuroq.agents import checkpoint as checkpoint_files
from neuroq.agents.hyperparams import DQNConfig
from neuroq.agents.runs import (
    LOCK_FILE,
    RESULT_FILE,
    duplicate_interrupt_ignored,
    held_lock,
    interrupts_deferred,
    make_run_dir,
    read_json,
    read_yaml_mapping,
    removed_on_failure,
    write_json,
    written_beside,
)
from neuroq.deploy import seeds
from neuroq.deploy.envref import package_of
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.output import NO_ROOM_ERRNOS
from neuroq.deploy.rollout import make_env, run_episodes

#: Training steps between progress reports.
PROGRESS_EVERY_STEPS = 250

ProgressFn = Callable[[int], None]
#: Called after every selection evaluation with (steps, mean return); it may raise to stop
#: the run (`neuroq tune` prunes trials this way; the run folder is then removed).
EvalHook = Callable[[int, float], None]
RESUME_DIR = "resume"
"""The run folder's checkpoint for `resume_run` (model.pt, replay_buffer.npz, state.json:
neuroq.agents.checkpoint; best_model.zip once the selection has a best)."""
DEFAULT_CHECKPOINT_EVERY_S = 60.0
"""Wall time (s) at least between two checkpoints (each at a selection evaluation): the
replay buffer's filled rows are written each time (up to 51 MB for DVSPanTrackingPooled's
50 000 transitions of 128 floats), so not at every evaluation of a long run."""
BEST_MODEL = "best_model.zip"
"""The selection's best model, in a run folder and in its checkpoint."""


def check_env_id(env_id: str, reset: bool = False) -> None:
    """Raise NeuroqError unless `env_id` is an env reference (a registered id, ours
    included, 'package:EnvId' or 'module:ClassName'; see neuroq.deploy.envref) whose spaces
    a Q-network can take (a Box observation, a Discrete action space; agents/envspec.py),
    and with `reset` (the commands' first check, once) whose reset works."""
    from neuroq.agents.envspec import check_trainable

    check_trainable(env_id, reset)


def check_randomizations(env_id: str, cfg: DQNConfig) -> None:
    """Raise NeuroqError unless `env_id` takes the physics of the config's `randomize` and
    `select_randomize` (`neuroq.envs.perturb.randomization_for`), before any work."""
    from neuroq.agents.hyperparams import checked_randomization

    for name in ("randomize", "select_randomize"):
        checked_randomization(env_id, getattr(cfg, name), name)


def training_warnings(env_id: str, cfg: DQNConfig, train_seeds=(),
                      searched: frozenset[str] = frozenset()) -> list[str]:
    """What a run of `cfg` on `env_id` would do without a word, for the command line to
    say before it starts (an outsider: a 600-step run made no gradient step, a 3000-step
    one kept no checkpoint, an env without a time limit hung the final evaluation; a
    review: the training env's first episode is seeded with the run's seed, so a seed in
    the seed table's ranges trains on an episode another stage plays). searched: the
    hyperparameters a tune draws per trial, whose checks are its own (`neuroq tune` said
    none of these until an outsider's --steps 800 ran every trial without an evaluation)."""
    from neuroq.deploy.rollout import make_env

    said: list[str] = []
    inside = sorted(s for s in train_seeds if s >= seeds.SELECTION_BASE)
    if inside:
        said.append(f"seed{'s' if len(inside) > 1 else ''} {', '.join(map(str, inside))}: "
                    "the training env's first episode is seeded with the run's seed, and "
                    f"seeds from {seeds.SELECTION_BASE:,} on are the stages' episodes (from "
                    f"{seeds.STAGE_EVAL_BASE:,} on, episodes results are reported on: "
                    "neuroq.deploy.seeds); a seed below 10,000 keeps training apart from them")
    # drawn per trial by a tune: its own check (tune._learning_starts_within)
    drawn = bool({"learning_starts", "n_timesteps"} & searched)
    if not drawn and cfg.n_timesteps <= cfg.learning_starts:
        said.append(f"n_timesteps {cfg.n_timesteps} is not above learning_starts "
                    f"{cfg.learning_starts}: no gradient step is taken (the DQN stays as "
                    "initialised)")
    if "eval_freq" not in searched and cfg.n_timesteps < cfg.eval_freq:
        said.append(f"n_timesteps {cfg.n_timesteps} is below eval_freq {cfg.eval_freq}: no "
                    "selection evaluation runs, so the final model is kept (no best "
                    "checkpoint), nothing is checkpointed for --resume and a tune's pruner "
                    "has no evaluation to act on (--set eval_freq=N)")
    from neuroq.deploy.envref import CLASS_MAX_EPISODE_STEPS, resolve

    # a class or function named directly (module:ClassName) has no registration, so no
    # time limit but its own; a registered id's is its registration's choice (neuroq's own
    # envs end their episodes themselves)
    if not isinstance(resolve(env_id), str):
        env = make_env(env_id)
        try:
            limit = getattr(env.spec, "max_episode_steps", None)
        finally:
            env.close()
        if limit == CLASS_MAX_EPISODE_STEPS:
            said.append(f"{env_id} is a class with no registration to give its time limit: "
                        f"an episode that has not ended by {CLASS_MAX_EPISODE_STEPS:,} steps "
                        "is cut there (one that never ended hung the evaluations; nothing "
                        "changes for episodes that end sooner); register it with "
                        "max_episode_steps for another limit")
    return said


def _versions() -> dict[str, str]:
    import gymnasium
    import stable_baselines3
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "stable_baselines3": stable_baselines3.__version__,
                "gymnasium": gymnasium.__version__, "numpy": np.__version__}
    return {k: str(v) for k, v in versions.items()}


def greedy_act(model: Any) -> Callable[[np.ndarray, Any], np.ndarray]:
    """Batched greedy actions of an SB3 DQN, for `run_episodes`."""
    return lambda obs, _infos: np.asarray(model.predict(obs, deterministic=True)[0])


def saved_greedy_act(path: Path) -> Callable[[np.ndarray, Any], np.ndarray]:
    """Batched greedy actions of a DQN zip neuroq train wrote, read without running anything
    from it (`neuroq.agents.mlp.read_sb3_mlp`; SB3's DQN.load unpickles): its Q-network in
    torch, the layers of SB3's in their order, so the Q-values and actions are SB3's
    `predict`'s (observations as float32, argmax per row)."""
    import torch

    from neuroq.agents.mlp import read_sb3_mlp, torch_mlp

    net = torch_mlp(read_sb3_mlp(path))

    def act(obs: np.ndarray, _infos: Any) -> np.ndarray:
        with torch.no_grad():
            q = net(torch.as_tensor(np.asarray(obs), dtype=torch.float32))
        return q.argmax(dim=1).numpy()

    return act


def evaluate(model: Any, env_id: str, episodes: int, seed: int,
             wrappers: tuple = ()) -> np.ndarray:
    """Returns of `episodes` greedy episodes of `model` (episode i seeded seed + i)."""
    return run_episodes(env_id, greedy_act(model), episodes, seed, wrappers=wrappers).returns


def randomization(cfg: DQNConfig, selection: bool = False) -> tuple:
    """The env wrappers of the config's domain randomization (none when it is empty);
    selection: those of `select_randomize` instead."""
    from neuroq.envs.perturb import RandomizationSpec

    spec = RandomizationSpec.from_dict((cfg.select_randomize if selection else cfg.randomize)
                                       or None)
    return (spec.wrapper(),) if spec.active else ()


def selection_returns(model: Any, env_id: str, seed: int, cfg: DQNConfig) -> np.ndarray:
    """Returns of a checkpoint's selection episodes (seeds of "train_selection" + i,
    neuroq.deploy.seeds): n_eval_episodes under `randomize`, and with `select_randomize`
    also n_eval_episodes under it (seeds of "train_selection_perturbed"), so the score is
    the mean of both."""
    r = evaluate(model, env_id, cfg.n_eval_episodes, seeds.first_seed("train_selection", seed),
                 randomization(cfg))
    perturbed = randomization(cfg, selection=True)
    if perturbed:
        r = np.concatenate([r, evaluate(model, env_id, cfg.n_eval_episodes,
                                        seeds.first_seed("train_selection_perturbed", seed),
                                        perturbed)])
    return r


def _selection_callback(model_dir: Path, env_id: str, seed: int, cfg: DQNConfig,
                        progress: ProgressFn | None, on_eval: EvalHook | None = None,
                        checkpoint: Callable[[Any], None] | None = None,
                        state: dict[str, Any] | None = None) -> Any:
    """Every eval_freq steps: the greedy return over the selection episodes
    (`selection_returns`: under the config's domain randomization when it has one, and as
    many again under `select_randomize` when it is set); the model is saved as
    best_model.zip on a strict improvement, and the history kept for eval_history.json.
    checkpoint(callback): called after each evaluation (it decides whether to write one).
    state: the `best` and `history` of a resumed run."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Selection(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list[float]] = {"steps": [], "mean_return": [],
                                                    "std_return": []}
            self.best = -np.inf
            if state is not None:
                self.history = {k: list(v) for k, v in state["history"].items()}
                self.best = float(state["best"])

        def _on_step(self) -> bool:
            if progress is not None and self.num_timesteps % PROGRESS_EVERY_STEPS == 0:
                progress(self.num_timesteps)
            if self.num_timesteps % cfg.eval_freq == 0:
                r = selection_returns(self.model, env_id, seed, cfg)
                self.history["steps"].append(int(self.num_timesteps))
                self.history["mean_return"].append(float(r.mean()))
                self.history["std_return"].append(float(r.std()))
                self.logger.record("eval/mean_reward", float(r.mean()))
                # written now, at the evaluation's step (SB3 writes at its next log
                # interval: TensorBoard's steps were a few hundred past eval_history.json's,
                # and the last evaluation was never written; an outsider, a recheck)
                self.logger.dump(self.num_timesteps)
                with interrupts_deferred():  # the files below are written whole
                    if r.mean() > self.best:
                        self.best = float(r.mean())
                        with written_beside(model_dir / BEST_MODEL) as partial:
                            self.model.save(partial)
                    if checkpoint is not None:
                        checkpoint(self)
                if on_eval is not None:
                    on_eval(int(self.num_timesteps), float(r.mean()))
            return True

    return Selection()


def train_one(env_id: str, seed: int, cfg: DQNConfig, out_root: str | os.PathLike,
              progress: ProgressFn | None = None, progress_bar: bool = False,
              threads: int = 1, defaults: bool = False,
              on_eval: EvalHook | None = None,
              checkpoint_every_s: float | None = DEFAULT_CHECKPOINT_EVERY_S) -> Path:
    """Train one seed; return its run folder (with result.json written last).

    defaults: `cfg` is the default hyperparameters (no section for the env), recorded as
    `default_hyperparameters` in config.yaml and result.json. on_eval: see EvalHook.
    checkpoint_every_s: wall time at least between checkpoints for `resume_run` (each at a
    selection evaluation; 0: at every one; None: none).
    """
    check_env_id(env_id)
    check_randomizations(env_id, cfg)
    run_dir = make_run_dir(out_root, env_id, "train", f"seed{seed}")
    with removed_on_failure(run_dir, keep_on=(RunKeptError,), keep_interrupted=True), \
            _run_lock(run_dir), \
            _resume_hint_on_write_error(run_dir):
        try:  # the env and the model take seconds to make: an interrupt then says so too
            env = _training_env(env_id, seed, cfg, threads)
            config_doc = {"env_id": env_id, "gym_package": package_of(env_id), "seed": seed,
                          "default_hyperparameters": defaults,
                          "hyperparameters": cfg.to_dict(), "threads": threads,
                          "versions": _versions()}
            (run_dir / "config.yaml").write_text(yaml.safe_dump(config_doc, sort_keys=False))
            model = _new_model(env, seed, cfg, run_dir)
        except KeyboardInterrupt as stopped:
            if not isinstance(stopped, StoppedBySeeds):  # train_many's summary says it
                _say_no_checkpoint(run_dir, env_id, seed, cfg)
            raise
        return _learn_and_report(run_dir, model, env_id, seed, cfg, defaults, progress,
                                 progress_bar, on_eval, checkpoint_every_s)


ADOPTED_TAG = "sb3"
"""A train run made from a DQN zip trained elsewhere: runs/<env>/train-sb3-<time>/."""
ADOPT_REPORT_SEED = 0
"""The train seed whose report episodes an adopted model plays (seeds.first_seed
("train_report", 0): those a seed-0 train run of neuroq's reports on)."""


def adopt_sb3(zip_path: str | os.PathLike, env_id: str, out_root: str | os.PathLike,
              episodes: int = 100, log: Callable[[str], None] | None = None) -> Path:
    """A train run of a stable-baselines3 DQN trained elsewhere (`neuroq train --from-sb3`),
    for convert, finetune and export to take as their own: the zip read without running
    anything from it (`read_sb3_zip`: a DQN's MLP Q-network with ReLU, refused by what it is
    otherwise) and checked against `env_id`'s spaces before anything is written, copied in
    as final_model.zip, and played greedily on `episodes` report episodes (seeds
    seeds.first_seed("train_report", 0) + i, numpy's float32 Q-network: SB3's predict)
    for result.json's mean_return. config.yaml names the zip (path and sha256) and its
    net_arch; it has no training hyperparameters, since neuroq did not train it (an
    outsider placed their zip in a copied train run: show gave that run's return and
    net_arch, convert another return, without a word). What it cannot know: observation
    normalisation or wrappers the model was trained behind (VecNormalize), which the zip
    does not hold; a model that needs them plays worse here, as mean_return shows. log:
    told once the zip passed its checks, before the episodes."""
    from neuroq.agents.convert import check_fits_spaces
    from neuroq.agents.mlp import read_sb3_zip
    from neuroq.deploy.artifact import sha256_file
    from neuroq.deploy.errors import given_path, printable

    source = given_path(zip_path, "--from-sb3")
    if not source.is_file():
        raise NeuroqError(f"--from-sb3: {printable(str(source))} is not a file (a stable-"
                          "baselines3 DQN zip, as DQN.save writes)")
    mlp, data = read_sb3_zip(source)
    check_env_id(env_id)
    check_fits_spaces(mlp, env_id, f"{printable(str(source))}: its Q-network")
    steps = data.get("num_timesteps") if isinstance(data, dict) else None
    run_dir = make_run_dir(out_root, env_id, "train", ADOPTED_TAG)
    if log is not None:
        log(f"{printable(str(source))}: a DQN Q-network of widths {list(mlp.widths)}; "
            f"playing it on {episodes} report episodes of {env_id} ...")
    with removed_on_failure(run_dir):
        shutil.copyfile(source, run_dir / "final_model.zip")
        digest = sha256_file(run_dir / "final_model.zip")
        config_doc = {"env_id": env_id, "gym_package": package_of(env_id), "seed": None,
                      "adopted_from": {"path": str(source.resolve()), "sha256": digest},
                      "hyperparameters": {"net_arch": [int(w) for w in mlp.widths[1:-1]]},
                      "versions": _versions()}
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config_doc, sort_keys=False))
        report_seed = seeds.first_seed("train_report", ADOPT_REPORT_SEED)
        t0 = time.perf_counter()
        returns = run_episodes(env_id, saved_greedy_act(run_dir / "final_model.zip"),
                               episodes, report_seed).returns
        result = {
            "env_id": env_id, "seed": None,
            "steps": int(steps) if isinstance(steps, int) else None,
            "wall_s": round(time.perf_counter() - t0, 2),  # playing the report episodes
            "mean_return": float(returns.mean()), "std_return": float(returns.std()),
            "min_return": float(returns.min()), "episodes": int(returns.size),
            "checkpoint": "adopted", "model": "final_model.zip",
            "final_model_mean_return": float(returns.mean()), "report_seed": report_seed,
            "gym_package": package_of(env_id), "adopted_from": str(source.resolve()),
            "adopted_sha256": digest,
        }
        write_json(run_dir / RESULT_FILE, result)
    return run_dir


def _say_no_checkpoint(run_dir: Path, env_id: str, seed: int, cfg: DQNConfig) -> None:
    """A new run interrupted before its first checkpoint: which folder it left and the
    command that trains it again with its settings (a recheck: an interrupt while the env
    and the model were being made said "interrupted" alone)."""
    best = (f" (its {BEST_MODEL} is the best so far, but --resume needs a checkpoint)"
            if (run_dir / BEST_MODEL).is_file() else "")
    again = retrain_command({"env_id": env_id, "seed": seed, "hyperparameters": cfg.to_dict()},
                            run_dir)
    print(f"\ninterrupted before the first checkpoint: {run_dir} holds no checkpoint to go "
          f"on from{best}: train it again ({again})", file=sys.stderr)


def _new_model(env: Any, seed: int, cfg: DQNConfig, run_dir: Path) -> Any:
    """The run's SB3 DQN as a new run starts it (a resumed one is then given its
    checkpoint)."""
    from stable_baselines3 import DQN

    return DQN("MlpPolicy", env, seed=seed, verbose=0, device="cpu",
               tensorboard_log=str(run_dir / "tb"), **cfg.sb3_kwargs())


def resumable(run_dir: Path) -> bool:
    """Whether a train run folder holds a checkpoint to go on from and no result."""
    return (run_dir / RESUME_DIR / "state.json").is_file() and not (run_dir / RESULT_FILE
                                                                     ).exists()


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of a resumable run's checkpoint (None: not resumable, or unreadable)."""
    if not resumable(run_dir):
        return None
    try:
        return int(read_json(run_dir / RESUME_DIR / "state.json")["steps"])
    except (NeuroqError, KeyError, TypeError, ValueError):
        return None


def resume_command(run_dir: Path) -> str:
    """The command that goes on with an interrupted train run (its path quoted)."""
    return f"neuroq train --resume {shlex.quote(str(run_dir))}"


def retrain_command(config: Mapping[str, Any], run_dir: Path | None = None) -> str:
    """The command that trains a run again from its config.yaml (`config`, as read): its
    env reference as stored (`my_pkg:GridWorld-v0` already names the module --gym-package
    gave, and train refuses both), seed, and every hyperparameter that differs from the
    shipped config/dqn.yaml's for that env (--steps for n_timesteps, --set for the rest),
    each quoted for a shell. An outsider's run of 10,000 steps, stopped before its first
    checkpoint, was told to train again without them (50,000 steps, the default). Missing
    or unreadable fields are left out (a damaged config.yaml: env and seed as placeholders).
    `run_dir` (the run's folder): its output root as --out where it is not the default
    `runs` (a recheck's run under --out /tmp/x was told to train again into ./runs)."""
    import yaml

    from neuroq.agents.hyperparams import load_config
    from neuroq.agents.runs import env_folder

    env_id, seed = config.get("env_id"), config.get("seed")
    words = ["neuroq", "train", "--env", str(env_id if env_id is not None else "ENV"),
              "--seed", str(seed if seed is not None else "SEED")]
    hyper = config.get("hyperparameters")
    sets: list[str] = []
    if isinstance(hyper, Mapping) and env_id is not None:
        try:
            shipped = load_config(str(env_id)).to_dict()
        except NeuroqError:  # the shipped file unreadable: nothing to compare against
            shipped = {}
        for key, value in hyper.items():
            if key in shipped and _as_yaml(value) != _as_yaml(shipped[key]):
                if key == "n_timesteps":
                    words += ["--steps", str(value)]
                else:
                    text = yaml.safe_dump(value, default_flow_style=True, width=10**9)
                    sets.append(f"{key}={text.strip().removesuffix('...').strip()}")
    if run_dir is not None and env_id is not None:
        try:
            root = Path(run_dir).parents[len(env_folder(str(env_id)).parts)]
        except (NeuroqError, IndexError):
            root = None
        if root is not None and root != Path("runs"):
            words += ["--out", str(root)]
    if sets:  # last: --set takes every word after it
        words += ["--set", *sets]
    return " ".join(shlex.quote(w) for w in words)


def _as_yaml(value: Any) -> Any:
    """A hyperparameter as YAML reads it (tuples as lists), for comparing."""
    import yaml

    return yaml.safe_load(yaml.safe_dump(value if not isinstance(value, tuple) else
                                         list(value)))


class RunKeptError(NeuroqError):
    """A train run failed in a way it can go on from (a write error with a checkpoint in
    place): its folder is kept (`removed_on_failure`'s keep_on), the message says how."""


#: Errors of writing that space, permissions or the disk cause, which a user can mend and
#: then go on: a run holding a checkpoint is kept for them (`_resume_hint_on_write_error`).
WRITE_ERRNOS = NO_ROOM_ERRNOS | {errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


@contextmanager
def _resume_hint_on_write_error(run_dir: Path) -> Iterator[None]:
    """A write error (WRITE_ERRNOS: a full disk, a folder made read-only) while the run
    holds a checkpoint: RunKeptError, one line saying so and how to go on. An outsider's
    full disk removed the run, its good checkpoint with it. Any other error is left as it
    is (the run is then removed, as every failed stage)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS or not resumable(run_dir):
            raise
        steps = checkpoint_step(run_dir)
        raise RunKeptError(
            f"cannot write {exc.filename or 'the run'}: {exc.strerror or exc}; {run_dir} keeps "
            f"its checkpoint at step {steps}: once it can be written, go on with: "
            f"{resume_command(run_dir)}") from None


def resume_run(run_dir: str | os.PathLike, progress: ProgressFn | None = None,
               progress_bar: bool = False, threads: int | None = None,
               checkpoint_every_s: float | None = DEFAULT_CHECKPOINT_EVERY_S) -> Path:
    """Go on with an interrupted train run from its last checkpoint (`RESUME_DIR`) to its
    `n_timesteps`, then write its results as `train_one` does; return the run folder.
    Everything but `threads` (default: the run's) comes from the run's config.yaml.
    Raises NeuroqError for a folder that is no train run, one that finished, one
    interrupted before its first checkpoint, or one another process is training (its lock
    file). A failure here leaves the folder as it was."""
    from neuroq.deploy.errors import given_path

    run_dir = given_path(run_dir, "--resume")  # "" is no folder (Path("") is this one)
    doc = _resumable_config(run_dir)  # before the lock: no lock file in a wrong folder
    with _run_lock(run_dir):
        _refuse_finished(run_dir)  # the other process finished meanwhile
        return _resume(run_dir, doc, progress, progress_bar, threads, checkpoint_every_s)


def _resumable_config(run_dir: Path) -> dict[str, Any]:
    """The config.yaml of a train run folder that `--resume` can go on with, else
    NeuroqError saying why not."""
    if not run_dir.is_dir():
        raise NeuroqError(f"{run_dir} does not exist: give the folder of an interrupted run")
    if not (run_dir / "config.yaml").is_file():
        raise NeuroqError(f"{run_dir} is not a train run folder (no config.yaml)")
    try:
        doc = read_yaml_mapping(run_dir / "config.yaml")
    except NeuroqError as exc:
        raise NeuroqError(f"{run_dir}/config.yaml cannot be read as a train run's: "
                          f"{exc}") from None
    stage = doc.get("stage", "train") if isinstance(doc, dict) else "train"
    if stage != "train":  # the later stages keep their config.yaml too, with their stage
        raise NeuroqError(f"{run_dir} is a {stage} run, not a train run: --resume goes on "
                          "with an interrupted train run")
    _refuse_finished(run_dir)
    if not (run_dir / RESUME_DIR / "state.json").is_file():
        raise NeuroqError(f"{run_dir} has no checkpoint to resume from ({RESUME_DIR}/): it "
                          "stopped before its first one; train it again")
    return doc


def _refuse_finished(run_dir: Path) -> None:
    """NeuroqError for a run that finished (its result is there): nothing to resume."""
    if (run_dir / RESULT_FILE).exists():
        raise NeuroqError(f"{run_dir} finished already ({RESULT_FILE} is there): nothing to "
                          "resume")


@contextmanager
def _run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir`'s lock while it trains (`held_lock`); a finished run's lock file is
    removed. Two `--resume` of one run both trained into it and removed each other's
    checkpoints (an outsider)."""
    with held_lock(run_dir, f"{run_dir} is being trained by another process now (its "
                            f"{LOCK_FILE} is held): one --resume at a time"):
        try:
            yield
        finally:
            if (run_dir / RESULT_FILE).exists():  # finished: nothing left to lock
                (run_dir / LOCK_FILE).unlink(missing_ok=True)


def _resume(run_dir: Path, doc: dict[str, Any], progress: ProgressFn | None,
            progress_bar: bool, threads: int | None, checkpoint_every_s: float | None
            ) -> Path:
    """`resume_run` with the run's lock held; `doc` its config.yaml."""
    checkpoint = run_dir / RESUME_DIR
    try:
        env_id, seed = str(doc["env_id"]), int(doc["seed"])
        cfg = DQNConfig.from_dict(doc["hyperparameters"])
        defaults = bool(doc.get("default_hyperparameters", False))
        threads = int(threads or doc.get("threads", 1))
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise NeuroqError(f"{run_dir}/config.yaml cannot be read as a train run's: "
                          f"{type(exc).__name__}: {exc}") from None
    state = read_json(checkpoint / "state.json")
    env = _training_env(env_id, seed, cfg, threads)
    # built as a new run builds it, then given the checkpoint: plain data, nothing in it
    # runs (SB3's own checkpoint is unpickled: resuming someone else's run ran their code)
    model = _new_model(env, seed, cfg, run_dir)
    # SB3 collects train_freq steps at a time: a run ends less than that past n_timesteps
    checkpoint_files.restore(checkpoint, model, state, cfg.n_timesteps + cfg.train_freq)
    if (checkpoint / BEST_MODEL).is_file():  # the one the report plays: read now, not after
        from neuroq.agents.mlp import read_sb3_mlp  # the training (a recheck waited 10 s)

        read_sb3_mlp(checkpoint / BEST_MODEL)
    with _resume_hint_on_write_error(run_dir):
        _restore_best(run_dir)
        return _learn_and_report(run_dir, model, env_id, seed, cfg, defaults, progress,
                                 progress_bar, None, checkpoint_every_s, state)


def _restore_best(run_dir: Path) -> None:
    """best_model.zip as the checkpoint has it (written beside, then renamed). One saved
    after the checkpoint came from training the resumed run does again: kept, it was
    reported (an evaluation the history no longer has) unless the resumed run beat its
    score, which the checkpoint's selection state does not know. Checkpoints written before
    they held a copy leave it as it is."""
    kept = run_dir / RESUME_DIR / BEST_MODEL
    if kept.is_file():
        with written_beside(run_dir / BEST_MODEL) as partial:
            shutil.copyfile(kept, partial)


def _training_env(env_id: str, seed: int, cfg: DQNConfig, threads: int) -> Any:
    """Torch's threads and every generator seeded (module docstring), then the training
    env (SB3's Monitor around it), for a new run and a resumed one alike."""
    import torch
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.utils import set_random_seed

    torch.set_num_threads(threads)
    set_random_seed(seed)
    return Monitor(make_env(env_id, randomization(cfg)))


def _save_checkpoint(run_dir: Path, model: Any, selection: Any, wall_s: float) -> None:
    """Write the checkpoint `resume_run` reads, replacing the last one only once it is
    whole (written beside it, then renamed)."""
    new, old = run_dir / f"{RESUME_DIR}.new", run_dir / f"{RESUME_DIR}.old"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    learner = checkpoint_files.write(new, model)
    if (run_dir / BEST_MODEL).is_file():  # the best as of this checkpoint (module docstring)
        shutil.copyfile(run_dir / BEST_MODEL, new / BEST_MODEL)
    write_json(new / "state.json", {**learner, "best": selection.best,
                                    "history": selection.history, "wall_s": wall_s})
    current = run_dir / RESUME_DIR
    shutil.rmtree(old, ignore_errors=True)
    if current.exists():
        current.rename(old)
    new.rename(current)
    shutil.rmtree(old, ignore_errors=True)


def _learn_and_report(run_dir: Path, model: Any, env_id: str, seed: int, cfg: DQNConfig,
                      defaults: bool, progress: ProgressFn | None, progress_bar: bool,
                      on_eval: EvalHook | None, checkpoint_every_s: float | None,
                      state: dict[str, Any] | None = None) -> Path:
    """Train `model` to cfg.n_timesteps (from its num_timesteps and the selection `state`
    of a resumed run), checkpointing, then evaluate and write the results."""
    import torch

    wall_before = float(state["wall_s"]) if state is not None else 0.0
    t0 = time.perf_counter()
    last_saved = [t0]

    def checkpoint(selection: Any) -> None:
        now = time.perf_counter()
        if checkpoint_every_s is not None and now - last_saved[0] >= checkpoint_every_s:
            _save_checkpoint(run_dir, model, selection, wall_before + now - t0)
            last_saved[0] = now

    selection = _selection_callback(run_dir, env_id, seed, cfg, progress, on_eval,
                                    checkpoint, state)
    try:
        model.learn(total_timesteps=cfg.n_timesteps - (model.num_timesteps if state else 0),
                    callback=selection, tb_log_name="dqn", progress_bar=progress_bar,
                    reset_num_timesteps=state is None)
    except KeyboardInterrupt as stopped:
        if isinstance(stopped, StoppedBySeeds):  # the summary of train_many says it
            raise
        steps = checkpoint_step(run_dir)
        if steps is not None:
            print(f"\ninterrupted: {run_dir} keeps its checkpoint at step {steps}; go on "
                  f"with: {resume_command(run_dir)}", file=sys.stderr)
        elif state is None:  # the folder said nothing of itself (an outsider)
            _say_no_checkpoint(run_dir, env_id, seed, cfg)
        raise
    wall_s = wall_before + time.perf_counter() - t0
    if not all(torch.isfinite(w).all() for w in model.policy.parameters()):
        raise NeuroqError(f"training diverged: the Q-network's weights are NaN or inf "
                          f"after {model.num_timesteps} steps; lower learning_rate")
    best = run_dir / BEST_MODEL
    checkpoint_name = "best" if best.exists() else "final"
    report_seed = seeds.first_seed("train_report", seed)
    try:
        # whole, or not there: a Ctrl-C inside the zip writer was a RuntimeError, which
        # removes the run folder (removed_on_failure), its checkpoint with it (a review)
        with interrupts_deferred(), written_beside(run_dir / "final_model.zip") as partial:
            model.save(partial)
        history = _eval_history(run_dir, selection.history)
        # the best read without unpickling: a resumed run's came from its checkpoint
        chosen = saved_greedy_act(best) if checkpoint_name == "best" else greedy_act(model)
        returns = run_episodes(env_id, chosen, cfg.final_eval_episodes, report_seed).returns
        final_returns = (returns if checkpoint_name == "final"
                         else evaluate(model, env_id, cfg.final_eval_episodes, report_seed))
    except KeyboardInterrupt:  # trained: a checkpoint now, so only the report is left to do
        with interrupts_deferred():
            _save_checkpoint(run_dir, model, selection, wall_s)
        print(f"\ninterrupted during the final evaluation: {run_dir} is trained "
              f"({model.num_timesteps} steps); write its report with: "
              f"{resume_command(run_dir)}", file=sys.stderr)
        raise
    result = {
        "env_id": env_id, "seed": seed, "steps": int(model.num_timesteps),
        "wall_s": round(wall_s, 2),
        "wall_s_per_10k_steps": round(wall_s * 1e4 / max(model.num_timesteps, 1), 2),
        "mean_return": float(returns.mean()), "std_return": float(returns.std()),
        "min_return": float(returns.min()), "episodes": int(returns.size),
        "checkpoint": checkpoint_name, "model": f"{checkpoint_name}_model.zip",
        "best_eval_step": history["best_step"],
        "final_model_mean_return": float(final_returns.mean()),
        "report_seed": report_seed,
        "gym_package": package_of(env_id), "default_hyperparameters": defaults,
        "resumed": state is not None,
    }
    write_json(run_dir / RESULT_FILE, result)
    shutil.rmtree(run_dir / RESUME_DIR, ignore_errors=True)  # finished: not needed
    return run_dir


def _eval_history(run_dir: Path, history: dict[str, Any]) -> dict[str, Any]:
    """Write the selection history as eval_history.json; return it with the best step."""
    means = history["mean_return"]
    # the best model is replaced only on a strict improvement: the first maximum
    best = history["steps"][int(np.argmax(means))] if means else None
    out = {**history, "best_step": best}
    write_json(run_dir / "eval_history.json", out)
    return out


_WORKER: dict[str, Any] = {}
"""A training worker's progress queue and the parent's stop event (`_init_worker`)."""
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


class StoppedBySeeds(KeyboardInterrupt):
    """A seed of `train_many` stopped at its progress report because the parent asked
    (another seed failed, or a Ctrl-C reached the parent only): the parent's summary says
    what became of it, so the seed's own interrupted line is not printed (it said
    "interrupted before the first checkpoint ... train it again" above a summary saying
    "stopped (seed 1 failed)": an outsider's recheck)."""


def _init_worker(queue: Any, stop: Any, parent: int) -> None:
    """In each worker process: SIGTERM when the parent dies (Linux: prctl PR_SET_PDEATHSIG),
    so a killed `neuroq train --seeds` leaves no worker training on (an outsider found two
    orphans that went on to train a queued seed); the queue and the stop event. SIGINT is
    ignored while a worker waits for a seed (a Ctrl-C there broke the pool). parent: the
    pid of the process that started the pool; another parent now means it died already
    (a parent pid of 1 alone does not: neuroq may run as PID 1 in a container)."""
    import signal

    _WORKER.update(queue=queue, stop=stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # idle: a Ctrl-C must not break the pool
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM),
                                                    0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the parent's stop event still works
            pass
    if os.getppid() != parent:  # the parent died before the signal was set
        os._exit(1)


def _worker(args: tuple[str, int, dict[str, Any], str, bool, float | None]) -> str | None:
    """Train one seed; None when the parent asked to stop before it started. A stop asked
    while it trains is a KeyboardInterrupt at its next progress report (its checkpoint
    kept, its resume line printed), returned as None."""
    import signal

    env_id, seed, cfg_dict, out_root, defaults, checkpoint_every_s = args
    queue, stop = _WORKER["queue"], _WORKER["stop"]
    if stop.is_set():
        return None
    cfg = DQNConfig.from_dict(cfg_dict)

    def report(steps: int) -> None:
        queue.put((seed, steps))
        if stop.is_set():
            raise StoppedBySeeds

    signal.signal(signal.SIGINT, signal.default_int_handler)  # a Ctrl-C stops the training
    try:
        return str(train_one(env_id, seed, cfg, out_root, progress=report, defaults=defaults,
                             checkpoint_every_s=checkpoint_every_s))
    except KeyboardInterrupt:
        # a Ctrl-C reached this worker: the next seed must not start before the parent
        # has said stop (CI: a worker took a queued seed in between)
        stop.set()
        return None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def train_many(env_id: str, seeds: list[int], cfg: DQNConfig, out_root: str | os.PathLike,
               workers: int | None = None, show_progress: bool = True,
               defaults: bool = False,
               checkpoint_every_s: float | None = DEFAULT_CHECKPOINT_EVERY_S) -> list[Path]:
    """Train `seeds` in parallel processes (one torch thread each); return run folders.

    Ctrl-C stops them all: the seeds not started are not started, the running ones stop at
    their next progress report (each keeps its checkpoint and prints its resume line),
    then a summary and KeyboardInterrupt. A seed that fails (an error, or its worker dies:
    killed, out of memory) stops the others the same way: the summary, then NeuroqError
    (or the seed's own error). The workers end with the parent, even a killed one
    (Linux)."""
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    check_env_id(env_id)
    check_randomizations(env_id, cfg)
    workers = workers or min(len(seeds), os.cpu_count() or 1)
    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    started = time.time()
    bars = {}
    if show_progress:
        from tqdm.auto import tqdm

        bars = {s: tqdm(total=cfg.n_timesteps, desc=f"{env_id} seed {s}", position=i,
                        unit="step", leave=True, dynamic_ncols=True)
                for i, s in enumerate(seeds)}
    jobs = [(env_id, s, cfg.to_dict(), str(out_root), defaults, checkpoint_every_s)
            for s in seeds]
    done: dict[int, Path | None] = {}

    def drain(timeout: float) -> None:
        try:
            seed, steps = q.get(timeout=timeout)
        except queue_mod.Empty:
            return
        if seed in bars:
            bars[seed].update(steps - bars[seed].n)

    failures: dict[int, BaseException] = {}

    def collect(futures: dict) -> None:
        """The finished seeds' runs into `done`, the failed ones' errors into `failures`."""
        for f, seed in futures.items():
            if f.cancelled():
                continue
            failure = f.exception()
            if failure is None:
                done[seed] = None if f.result() is None else Path(f.result())
            else:
                failures[seed] = failure

    futures: dict = {}
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                 initializer=_init_worker,
                                 initargs=(q, stop, os.getpid())) as pool:
            try:
                for job in jobs:  # inside: a Ctrl-C while the workers start stops them too
                    futures[pool.submit(_worker, job)] = job[1]
                while not all(f.done() for f in futures):
                    drain(0.5)
                    if any(f.done() and not f.cancelled() and f.exception() is not None
                           for f in futures):
                        break  # a seed failed: the others are stopped too
                _stop_all(stop, futures, drain)  # nothing to stop unless a seed failed
                collect(futures)
            except KeyboardInterrupt:  # also while the others stop after a failure
                with duplicate_interrupt_ignored():  # `timeout -s INT` delivers it twice
                    _stop_all(stop, futures, drain)
                    collect(futures)
                    # a worker ended by the same signal (one sent to the process group:
                    # `timeout -s TERM`, `kill -- -PGID`) was interrupted with the rest,
                    # not "ended abruptly" (an outsider)
                    for seed in [s for s, f in failures.items()
                                 if isinstance(f, BrokenProcessPool)]:
                        del failures[seed]
                    _say_stopped(seeds, done, failures, out_root, env_id, started)
                raise
        if not failures and stop.is_set() and any(done.get(s) is None for s in seeds):
            # a SIGINT that reached the workers only (the command itself ignoring it, as a
            # script's background job does): they stopped; say so, as for a Ctrl-C
            _say_stopped(seeds, done, failures, out_root, env_id, started)
            raise KeyboardInterrupt
        if failures:
            _say_stopped(seeds, done, failures, out_root, env_id, started)
            seed, first = next(iter(failures.items()))
            if isinstance(first, BrokenProcessPool):
                raise NeuroqError(f"a training worker ended abruptly ({first}); the other "
                                  "seeds were stopped with it (the runs to go on with are "
                                  "listed above)")
            if isinstance(first, NeuroqError):
                raise NeuroqError(f"seed {seed}: {first}; the other seeds were stopped "
                                  "(listed above)")
            raise first
        for bar in bars.values():
            bar.update(cfg.n_timesteps - bar.n)
    finally:
        for bar in bars.values():
            bar.close()
    return [p for p in (done[s] for s in seeds) if p is not None]


def _stop_all(stop: Any, futures: dict, drain: Callable[[float], None]) -> None:
    """Ask every worker to stop: the seeds not started do not start (`_worker` returns at
    once once `stop` is set), the running ones stop at their next progress report; return
    once all are done. No future is cancelled: a pool broken after that (its workers ended
    by a SIGTERM to the process group) set an exception on the cancelled ones, and its
    thread printed an InvalidStateError traceback (Python 3.11's concurrent.futures)."""
    if all(f.done() for f in futures):
        return
    stop.set()
    while not all(f.done() for f in futures):
        drain(0.2)


def _say_stopped(seeds: list[int], done: dict[int, Path | None],
                 failures: dict[int, BaseException], out_root: str | os.PathLike,
                 env_id: str, started: float) -> None:
    """On stderr: per seed, its finished run, its error, its interrupted run to resume (a
    checkpoint in a train run folder of this seed made since `started`), or that it did
    not start."""
    from concurrent.futures.process import BrokenProcessPool

    from neuroq.agents.runs import env_folder

    folder = Path(out_root) / env_folder(env_id)
    failed = [s for s, f in failures.items() if not isinstance(f, BrokenProcessPool)]
    # a seed neuroq stopped because another failed was not interrupted by the user (it
    # said "interrupted": an outsider)
    stopped = (f"stopped (seed {', '.join(map(str, failed))} failed)" if failed
               else "interrupted")
    lines = []
    for seed in seeds:
        run = done.get(seed)
        if run is not None:
            lines.append(f"  seed {seed}: finished, {run}")
            continue
        runs = sorted((p for p in folder.glob(f"train-seed{seed}-*")
                       if p.stat().st_mtime >= started - 1), key=lambda p: p.stat().st_mtime)
        kept = [p for p in runs if resumable(p)]
        failure = failures.get(seed)
        own = failure is not None and not isinstance(failure, BrokenProcessPool)
        what = (f"failed ({' '.join(str(failure).split()) or type(failure).__name__})" if own
                else stopped if failure is None else "stopped (a worker ended abruptly)")
        if kept:
            lines.append(f"  seed {seed}: {what}; go on with: {resume_command(kept[-1])}")
        elif runs or own:
            lines.append(f"  seed {seed}: {what}, with no checkpoint to go on from")
        else:
            lines.append(f"  seed {seed}: not started")
    print("neuroq train: stopped:\n" + "\n".join(lines), file=sys.stderr)
