"""Any discrete-action Gymnasium env: env references, unsupported spaces, default
hyperparameters, and every stage on a user's own env, MountainCar-v0 and LunarLander-v3."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from neuroq.agents import hyperparams
from neuroq.agents.convert import run_convert
from neuroq.agents.evaluate import evaluate_artifact
from neuroq.agents.export import export
from neuroq.agents.finetune import FinetuneConfig, run_finetune
from neuroq.agents.train import train_one
from neuroq.deploy.envref import package_of, with_package
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.rollout import make_env
from tests.helpers.user_envs import MAX_STEPS, REGISTERED_ID

ROOT = Path(__file__).resolve().parent.parent
MODULE = "tests.helpers.user_envs"
#: A few hundred steps: mechanics, not returns.
TINY = ["n_timesteps=400", "eval_freq=200", "n_eval_episodes=2", "final_eval_episodes=3",
        "learning_starts=100", "train_freq=32", "gradient_steps=4", "net_arch=[16, 16]"]


def neuroq(*args: str) -> subprocess.CompletedProcess:
    """The command line in a fresh process (cwd = the repository, so tests.helpers imports
    as a user's own package would from PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "neuroq.agents.cli.main", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def one_line_error(out: subprocess.CompletedProcess, command: str, fragment: str) -> None:
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith(f"neuroq {command}: error:") and fragment in lines[0], lines[0]


def tiny(env_id: str):
    return hyperparams.override(hyperparams.load_config(env_id), TINY)


def test_env_references_make_the_users_envs():
    assert with_package("NeuroqTestLine-v0", MODULE) == f"{MODULE}:NeuroqTestLine-v0"
    assert package_of(f"{MODULE}:LineEnv") == MODULE and package_of("CartPole-v1") is None
    env = make_env(f"{MODULE}:{REGISTERED_ID}")  # registered when the package is imported
    assert env.spec.max_episode_steps == MAX_STEPS
    env.close()
    env = make_env(f"{MODULE}:GridObsEnv")  # a class; its (2, 2) observation is flattened
    assert env.observation_space.shape == (4,) and env.reset(seed=0)[0].shape == (4,)
    env.close()
    with pytest.raises(NeuroqError, match="already names its module"):
        with_package(f"{MODULE}:LineEnv", MODULE)
    for ref, message in [(f"{MODULE}:Nope", "has no class 'Nope'"),
                         (f"{MODULE}:NOT_AN_ENV", "is no class or function"),
                         ("no_such_module_x:Env", "does not import"),
                         ("CartPol-v1", "did you mean CartPole-v1")]:
        with pytest.raises(NeuroqError, match=message):
            make_env(ref)


@pytest.mark.parametrize("env_class, fragment", [
    ("BoxActionEnv", "needs a Discrete action space"),
    ("DictObsEnv", "takes a Box observation"),
    ("ShiftedActionsEnv", "starts at 1"),
])
def test_unsupported_spaces_are_one_line(env_class, fragment, tmp_path):
    out = neuroq("train", "--env", f"{MODULE}:{env_class}", "--out", str(tmp_path))
    one_line_error(out, "train", fragment)
    assert not any(tmp_path.rglob("train-*"))


def test_an_env_whose_constructor_raises_is_one_line_naming_where(tmp_path):
    """An outsider's env raising RuntimeError in its constructor was a traceback, exit 1."""
    with pytest.raises(NeuroqError, match=r"its constructor raised RuntimeError: motor driver "
                                          r"not found \(at user_envs.py, line \d+\)$"):
        make_env(f"{MODULE}:CrashesOnMakeEnv")
    with pytest.raises(NeuroqError, match=r"unexpected keyword argument 'nosuch'.*\)$") as exc:
        make_env("CartPole-v1", nosuch=1)  # raised inside gymnasium: no frame of the user's
    assert " (at " not in str(exc.value)
    with pytest.raises(NeuroqError, match="^the robot's calibration file is missing$"):
        make_env(f"{MODULE}:RefusesInItsOwnWordsEnv")  # passed on as it is
    out = neuroq("train", "--env", f"{MODULE}:CrashesOnMakeEnv", "--out", str(tmp_path))
    one_line_error(out, "train", "motor driver not found")
    out = neuroq("train", "--env", f"{MODULE}:FailsOnResetEnv", "--out", str(tmp_path))
    one_line_error(out, "train", "its reset raised TimeoutError: homing did not finish (at "
                                 "user_envs.py, line ")
    assert not any(tmp_path.rglob("train-*"))


def test_demo_on_a_users_env_needs_an_interface_before_it_trains(tmp_path):
    """An outsider's demo on their own env ran 6 minutes of stages, then stopped at the ROS
    stage on "set the interface parameter", which demo had no option for: it is checked
    before training, and --interface gives one (recorded by the export, run by the ROS
    stage)."""
    import yaml as yaml_module

    from neuroq.agents.cli.demo import check_interface

    env = f"{MODULE}:LineEnv"
    out = neuroq("demo", "--env", env, "--out", str(tmp_path / "runs"))
    one_line_error(out, "demo", f"no robot interface names {env}")
    assert "give --interface FILE" in out.stderr and not (tmp_path / "runs").exists()
    with pytest.raises(NeuroqError, match=r"--interface cartpole is for CartPole-v1, not "):
        check_interface("cartpole", env, False)
    doc = yaml_module.safe_load((ROOT / "config" / "interfaces" / "cartpole.yaml").read_text())
    mine = tmp_path / "line.yaml"
    mine.write_text(yaml_module.safe_dump({**doc, "name": "line", "env_id": env}))
    with pytest.raises(NeuroqError, match=r"--interface: interface line makes 4 observation "
                                          r"values but the artifact .* takes 2"):
        check_interface(str(mine), env, False)  # cartpole's 4 values, LineEnv's 2
    doc["observation"] = doc["observation"][:2]
    mine.write_text(yaml_module.safe_dump({**doc, "name": "line", "env_id": env}))
    check_interface(str(mine), env, False)  # no error: the user's interface for the env
    del doc["env_id"]  # optional in the file (it was "is for , not ...": an outsider)
    mine.write_text(yaml_module.safe_dump({**doc, "name": "line"}))
    check_interface(str(mine), env, False)
    check_interface(None, env, True)  # --skip-ros: none needed
    check_interface(None, "CartPole-v1", False)  # a shipped one names it


def test_gym_package_and_a_module_in_env_conflict(tmp_path):
    out = neuroq("train", "--gym-package", MODULE, "--env", f"{MODULE}:LineEnv")
    one_line_error(out, "train", "give one or the other")


def test_env_without_a_section_gets_flagged_defaults(tmp_path):
    out = neuroq("train", "--gym-package", MODULE, "--env", REGISTERED_ID, "--out",
                 str(tmp_path), "--no-progress", "--set", *TINY)
    assert out.returncode == 0, out.stderr
    assert "using the default hyperparameters" in out.stderr
    (run,) = (tmp_path / MODULE / REGISTERED_ID).glob("train-seed0-*")  # runs.env_folder
    assert not [p for p in tmp_path.rglob("*") if ":" in p.name]
    config = yaml.safe_load((run / "config.yaml").read_text())
    result = json.loads((run / "result.json").read_text())
    assert config["env_id"] == result["env_id"] == f"{MODULE}:{REGISTERED_ID}"
    assert config["gym_package"] == result["gym_package"] == MODULE
    assert config["default_hyperparameters"] is True and result["default_hyperparameters"]
    shipped = hyperparams.load_hyperparameters("CartPole-v1")
    assert not shipped.defaults and "[CartPole-v1]" in shipped.source


def test_default_section_and_fallback(tmp_path):
    p = tmp_path / "dqn.yaml"
    p.write_text("default:\n  gamma: 0.9\nE-v0:\n  gamma: 0.5\n")
    assert hyperparams.load_hyperparameters("E-v0", p).config.gamma == 0.5
    other = hyperparams.load_hyperparameters("Other-v0", p)
    assert other.defaults and other.config.gamma == 0.9 and "[default]" in other.source
    p.write_text("E-v0:\n  gamma: 0.5\n")  # no default section: the DQNConfig defaults
    bare = hyperparams.load_hyperparameters("Other-v0", p)
    assert bare.defaults and bare.config == hyperparams.DQNConfig()
    shipped = hyperparams.load_hyperparameters("SomeUnknownEnv-v0")
    assert shipped.defaults and shipped.config.net_arch == (256, 256)


@pytest.mark.parametrize("env_id", ["MountainCar-v0", "LunarLander-v3"])
def test_shipped_sections_for_the_new_envs(env_id):
    loaded = hyperparams.load_hyperparameters(env_id)
    assert not loaded.defaults and loaded.config.n_timesteps >= 100_000


def _chain(env_id: str, out: Path) -> tuple[Path, dict]:
    """train -> convert -> finetune -> export -> eval with tiny settings; the artifact and
    the eval result."""
    train = train_one(env_id, 0, tiny(env_id), out)
    conv = run_convert(train, out, "population", 4, record_steps=300, eval_episodes=2,
                       log=lambda _: None)
    fine = run_finetune(conv, out, FinetuneConfig(epochs=1, dagger_steps=100,
                                                  validation_episodes=1), eval_episodes=2,
                        progress=False, log=lambda _: None)
    made = export(fine, out, eval_episodes=2, gate_episodes=2, force=True)
    manifest = json.loads((made.artifact / "manifest.json").read_text())
    assert manifest["env_id"] == env_id and manifest["gate"]["float_dqn"]["mean"] is not None
    ev = evaluate_artifact(made.artifact, episodes=2, out=out)
    assert ev.result["env_id"] == env_id and ev.result["modeled_per_action"] is not None
    return made.artifact, ev.result


@pytest.mark.slow
def test_every_stage_on_a_users_registered_env(tmp_path):
    ref = with_package(REGISTERED_ID, MODULE)
    artifact, _ = _chain(ref, tmp_path)
    # the reference's colon is a folder level in run folder names (runs.env_folder)
    assert artifact.resolve().is_relative_to((tmp_path / MODULE).resolve())
    assert not [p for p in tmp_path.rglob("*") if ":" in p.name]
    # a fresh process re-creates the env from the manifest's reference alone
    out = neuroq("eval", str(artifact), "--episodes", "2", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "return" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["MountainCar-v0", "LunarLander-v3"])
def test_every_stage_on_the_new_envs(env_id, tmp_path):
    if env_id.startswith("LunarLander"):
        pytest.importorskip("Box2D", reason='LunarLander needs pip install ".[box2d]"')
    artifact, result = _chain(env_id, tmp_path)
    assert result["episodes"] == 2
    from neuroq.agents.energy import energy_report

    rep, paths = energy_report(str(artifact), str(tmp_path), tensorboard=False, episodes=2,
                               latency_samples=20, probe_gpu=False)
    assert paths["markdown"].is_file() and rep.header["env_id"] == env_id


@pytest.mark.parametrize("env_class, fragment", [
    ("CrashesWhileRunningEnv", r"its step raised ValueError: simulated physics blew up \(at "
                               r"user_envs.py, line \d+\), after 30 steps"),
    ("WrongShapeObsEnv", r"its reset returned an observation of 3 values \(shape \(3,\)\), "
                         r"its observation_space says 2 \(2,\)"),
    ("NanRewardEnv", r"its step returned the reward nan after 10 steps"),
    ("OldGymApiEnv", r"its step raised ValueError: not enough values to unpack .*; a step "
                     r"of gym's old API \(obs, reward, done, info\)\?"),
    ("NanObsEnv", r"its step returned an observation holding NaN or inf \(\[.*nan.*\]\) "
                  r"after 20 steps"),
])
def test_what_a_users_env_does_wrong_while_it_runs_is_one_line(env_class, fragment, tmp_path):
    """An outsider's env raising at step 3000 of training ended in a 47-line traceback,
    status 1; one returning 4 values for a declared 6 in a broadcasting error; one with NaN
    in 1 % of its observations in "training diverged ... lower learning_rate", at any
    learning rate. Each is now one line naming the env, wherever it runs."""
    env = make_env(f"{MODULE}:{env_class}")
    with pytest.raises(NeuroqError, match=f"^environment '{MODULE}:{env_class}': {fragment}"):
        env.reset(seed=0)
        for _ in range(100):
            env.step(0 if env.unwrapped.state[1] > 0 else 1)
    if env_class == "CrashesWhileRunningEnv":  # through training's command line too
        out = neuroq("train", "--env", f"{MODULE}:{env_class}", "--steps", "200",
                     "--out", str(tmp_path))
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        last = out.stderr.strip().splitlines()[-1]  # after the config's warnings
        assert last.startswith("neuroq train: error: environment") and (
            "its step raised ValueError: simulated physics blew up" in last), last


def test_an_observation_of_the_right_size_in_another_shape_still_runs():
    """The checks compare sizes: rollouts flatten and stable-baselines3 broadcasts, so a
    (1, 2) observation for a (2,) space worked before them (the review)."""
    from neuroq.deploy.rollout import run_episodes

    env = make_env(f"{MODULE}:BatchedObsEnv")
    obs, _ = env.reset(seed=0)
    assert np.shape(obs) == (1, 2) and np.shape(env.step(0)[0]) == (1, 2)
    eps = run_episodes(f"{MODULE}:BatchedObsEnv", lambda o, _i: np.zeros(len(o), int), 2)
    assert eps.returns.shape == (2,)
