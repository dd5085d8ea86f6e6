"""`pip install` of this package (not editable) into a fresh venv, used from a folder outside
the repository, as a new user would: first without extras, then with the train extra.

Without extras: the shipped data is found under <venv>/share/neuroq (`neuroq paths`,
`neuroq --version`), `neuroq eval` runs a shipped artifact without torch, and commands that
need a missing extra say which, in one line, exit 2. With `neuroq[train]` (torch pinned):
`neuroq train` runs a few hundred steps with the shipped config/dqn.yaml, `neuroq eval` and
`neuroq demo --help` work. No --system-site-packages: a dependency setup.py forgets fails here.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
import yaml

from tests.helpers import REPO_ROOT
from tests.helpers.install import (
    TORCH_PIN,
    copy_sources,
    make_venv,
    pip_install,
    remove_in_background,
    venv_environ,
)

pytestmark = pytest.mark.slow

TRAIN_STEPS = 300
EVAL_EPISODES = 3


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("pip")
    source = copy_sources(root / "src")
    python = make_venv(root / "venv")
    pip_install(python, [str(source)])
    work = root / "work"  # outside the repository and the sources
    work.mkdir()
    yield {"python": python, "source": source, "work": work, "venv": root / "venv"}
    remove_in_background(root)


def neuroq(installed: dict, *args: str) -> subprocess.CompletedProcess:
    exe = installed["venv"] / "bin" / "neuroq"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600,
                          cwd=installed["work"], env=venv_environ(installed["python"]))


def _one_error_line(out: subprocess.CompletedProcess, command: str, extra: str) -> None:
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"neuroq {command}: error: needs the '{extra}' extra"), lines


def test_without_extras_data_is_found_and_missing_extras_are_named(installed):
    share = installed["venv"] / "share" / "neuroq"
    version = neuroq(installed, "--version")
    assert version.returncode == 0 and f"installed data in {share}" in version.stdout
    paths = neuroq(installed, "paths")
    assert paths.returncode == 0, paths.stderr
    assert f"config     {share / 'config'}: " in paths.stdout and "dqn.yaml" in paths.stdout
    assert "cartpole" in paths.stdout and "dvs_pan_tracking" in paths.stdout
    # the pages --help cites as docs/<page>.md, the sweep specs and ros.md's robot client
    # (none were installed: an outsider)
    assert f"docs       {share / 'docs'}: " in paths.stdout and "spiking.md" in paths.stdout
    assert (share / "docs" / "sweeps" / "cartpole_encoder_T.yaml").is_file()
    assert (share / "docs" / "measurements" / "event-node.md").is_file()
    assert (share / "examples" / "cartpole_robot_client.py").is_file()
    assert "extra      train: missing (torch)" in paths.stdout
    out = neuroq(installed, "train", "--env", "CartPole-v1", "--steps", str(TRAIN_STEPS))
    _one_error_line(out, "train", "train")
    assert 'in the neuroq clone: pip install ".[train]" torch==2.13.0' in out.stderr
    _one_error_line(neuroq(installed, "convert", "runs/x"), "convert", "train")
    _one_error_line(neuroq(installed, "finetune", "runs/x"), "finetune", "train")
    # exporting a finetune run of a converted DQN plays its gate against that DQN
    # (stable-baselines3); a path that is no run is named as such instead
    network = installed["work"] / "finetune-x" / "network"
    network.mkdir(parents=True)
    (network / "manifest.json").write_text('{"provenance": {"train_run": "runs/t"}}')
    _one_error_line(neuroq(installed, "export", str(network.parent)), "export", "train")
    # without a gate too: the float DQN is still loaded, to go into the artifact
    _one_error_line(neuroq(installed, "export", str(network.parent), "--gate-episodes", "0"),
                    "export", "train")
    missing = neuroq(installed, "export", "runs/x")
    assert missing.returncode == 2 and "does not exist" in missing.stderr, missing.stderr
    _one_error_line(neuroq(installed, "energy", str(share / "artifacts" / "cartpole")),
                    "energy", "train")
    _one_error_line(neuroq(installed, "replay", "x.raw"), "replay", "ros")
    # the node executables (and `python -m`) without ROS 2: one line, exit 2, not an
    # ImportError traceback (an outsider's sdist install without the `ros` extra)
    env = venv_environ(installed["python"])
    for exe in ("neuroq_policy_node", "neuroq_actuator_node", "neuroq_sim_robot",
                "neuroq_event_node", "neuroq_event_camera", "neuroq_event_replay"):
        out = subprocess.run([str(installed["venv"] / "bin" / exe), *(
            ["x.raw"] if exe == "neuroq_event_replay" else [])], capture_output=True,
            text=True, timeout=120, cwd=installed["work"], env=env)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1, (exe, out.stderr[-2000:])
        assert lines[0].startswith(f"{exe}: error: needs ROS 2 (rclpy is not installed)")
    out = subprocess.run([str(installed["python"]), "-m", "neuroq.ros_nodes.policy_node"],
                         capture_output=True, text=True, timeout=120, cwd=installed["work"],
                         env=env)
    assert out.returncode == 2 and out.stderr.startswith(
        "python -m neuroq.ros_nodes.policy_node: error: needs ROS 2"), out.stderr[-2000:]
    _one_error_line(neuroq(installed, "demo", "--skip-ros"), "demo", "train")
    # the robot side needs no torch: a shipped artifact evaluates
    ev = neuroq(installed, "eval", str(share / "artifacts" / "cartpole"), "--episodes",
                str(EVAL_EPISODES))
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert "return              500.00" in ev.stdout


def test_with_the_train_extra_training_runs_from_outside_the_repository(installed):
    pip_install(installed["python"], [f"{installed['source']}[train]", TORCH_PIN])
    out = neuroq(installed, "train", "--env", "CartPole-v1", "--steps", str(TRAIN_STEPS),
                 "--no-progress")
    assert out.returncode == 0, out.stderr[-3000:]
    runs = sorted((installed["work"] / "runs" / "CartPole-v1").glob("train-seed0-*"))
    assert len(runs) == 1
    result = json.loads((runs[0] / "result.json").read_text())
    # SB3 rolls out whole train_freq chunks (256 steps for CartPole): at least the steps asked
    assert result["steps"] >= TRAIN_STEPS
    # the shipped hyperparameters were used (from <venv>/share/neuroq/config/dqn.yaml)
    shipped = yaml.safe_load((REPO_ROOT / "config" / "dqn.yaml").read_text())["CartPole-v1"]
    used = yaml.safe_load((runs[0] / "config.yaml").read_text())
    used = used["hyperparameters"]
    assert used["n_timesteps"] == TRAIN_STEPS
    assert used["learning_rate"] == shipped["learning_rate"]
    assert used["net_arch"] == shipped["net_arch"]
    ev = neuroq(installed, "eval", str(installed["venv"] / "share" / "neuroq" / "artifacts"
                                       / "acrobot"), "--episodes", str(EVAL_EPISODES))
    assert ev.returncode == 0, ev.stderr[-2000:]
    demo = neuroq(installed, "demo", "--help")
    assert demo.returncode == 0 and "--skip-ros" in demo.stdout
    assert "extra      train: installed" in neuroq(installed, "paths").stdout



def test_a_robot_wheel_built_after_a_full_one_has_no_training_side(tmp_path):
    """setuptools reuses build/lib: an outsider's `NEUROQ_INSTALL=robot pip wheel .` after
    a full build in the same clone shipped neuroq.agents (54 files, the robot profile's
    promise broken). setup.py's build_py removes what the profile leaves out first. Both
    wheels carry the licence setup.py names."""
    import sys
    import zipfile

    from tests.helpers.install import clean_environ

    source = copy_sources(tmp_path / "src")
    names = {}
    for profile in ("full", "robot"):
        out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                              "--no-build-isolation", ".", "-w", str(tmp_path / profile)],
                             cwd=source, capture_output=True, text=True, timeout=600,
                             env=clean_environ(NEUROQ_INSTALL=profile))
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        (wheel,) = (tmp_path / profile).glob("*.whl")
        names[profile] = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("neuroq/agents/") for n in names["full"])
    assert not [n for n in names["robot"] if n.startswith("neuroq/agents/")]
    assert any(n.startswith("neuroq/ros_nodes/") for n in names["robot"])
    for profile, listed in names.items():
        assert any(n.endswith("dist-info/licenses/LICENSE") for n in listed), profile
