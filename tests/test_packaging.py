"""Packaging: one version, ament files present, and the robot side stays light."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

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
    probe = code + "\nimport sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ})
    return set(out.stdout.split())


def test_robot_side_imports_neither_torch_nor_rclpy():
    """Import every module of deploy/ and envs/; torch and rclpy must stay unloaded."""
    modules = [f"{pkg}.{p.stem}" for pkg in ("deploy", "envs")
               for p in sorted((ROOT / pkg).glob("*.py")) if p.stem != "__init__"]
    loaded = _loaded_modules("import deploy, envs\n" + "\n".join(f"import {m}"
                                                                 for m in modules))
    assert "neuroq.deploy.neuron" in loaded  # the probe really imported the robot side
    heavy = {m for m in loaded if m.split(".")[0] in {"torch", "rclpy", "stable_baselines3"}}
    assert not heavy, f"robot side loaded {sorted(heavy)[:5]}"


def test_cli_help_imports_no_torch():
    loaded = _loaded_modules("from neuroq.agents.cli.main import build_parser\nbuild_parser()")
    assert "neuroq.agents.cli.main" in loaded
    assert "torch" not in loaded
