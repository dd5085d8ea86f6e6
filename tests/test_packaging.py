"""Packaging: one version, ament files present, and the robot side stays light."""

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_version_lives_in_package_xml_only():
    """setup.py reads the version from package.xml; pyproject.toml carries no [project]."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "project" not in pyproject
    assert ET.parse(ROOT / "package.xml").getroot().findtext("name") == "neuroq"
    assert "version=" not in (ROOT / "setup.py").read_text().replace("version=_version()", "")


def test_ament_python_files_exist():
    for name in ["setup.py", "setup.cfg", "resource/neuroq", "package.xml"]:
        assert (ROOT / name).is_file(), name
    assert "lib/neuroq" in (ROOT / "setup.cfg").read_text()


def test_installed_version_matches():
    from importlib.metadata import version

    assert version("neuroq") == ET.parse(ROOT / "package.xml").getroot().findtext("version")


def _loaded_modules(code: str) -> set[str]:
    """Modules loaded by a fresh interpreter that runs `code`, started outside the
    repository so that only the installed `neuroq.*` packages can be imported."""
    probe = code + "\nimport sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT.parent, env={**os.environ})
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def _modules(folder: str) -> list[str]:
    """Every module of a repository folder, as installed (neuroq.<folder>.<...>)."""
    root = ROOT / folder
    return [".".join(("neuroq", folder, *p.relative_to(root).with_suffix("").parts))
            .removesuffix(".__init__") for p in sorted(root.rglob("*.py"))]


HEAVY = {"torch", "stable_baselines3", "tensorboard"}
ROBOT_CLI = ("eval", "deploy", "show", "replay")


@pytest.mark.parametrize("what,code,forbidden", [
    ("deploy and envs", "\n".join(f"import {m}" for m in _modules("deploy") + _modules("envs")),
     HEAVY | {"rclpy"}),
    ("the command line's --help and robot commands",
     "from neuroq.agents.cli.main import build_parser, COMMANDS\nimport importlib\n"
     "build_parser()\n" + "\n".join(f"importlib.import_module(COMMANDS[{c!r}])"
                                     for c in ROBOT_CLI), HEAVY),
])
def test_the_robot_side_loads_no_training_stack(what, code, forbidden):
    """What a robot runs imports neither torch (nor SB3, TensorBoard) nor, below the ROS
    nodes, rclpy. (The ROS nodes are checked in tests/test_ros_nodes.py, with rclpy.)"""
    loaded = _loaded_modules(code)
    assert "neuroq.deploy.errors" in loaded  # the probe really imported neuroq
    heavy = {m for m in loaded if m.split(".")[0] in forbidden}
    assert not heavy, f"{what} loaded {sorted(heavy)[:5]}"


def test_imports_follow_the_documented_direction(tmp_path):
    """import-linter's contracts in pyproject.toml: agents and ros_nodes over deploy over
    envs, no torch on the robot side, the training library never imports its CLI. The
    packages are linked under a neuroq/ folder so the linter can read them as files."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is a dev dependency (make test installs it)"
    (tmp_path / "neuroq").mkdir()
    for folder in ("agents", "deploy", "envs", "ros_nodes"):
        (tmp_path / "neuroq" / folder).symlink_to(ROOT / folder, target_is_directory=True)
    run = subprocess.run([lint, str(ROOT / "pyproject.toml")], capture_output=True,
                         text=True, cwd=tmp_path, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout and "Analyzed" in run.stdout
