"""Installing this package as users do, for the install tests: a copy of the sources, fresh
virtual environments, colcon workspaces and the environment their setup script gives.

Fresh venvs are plain `python -m venv` (no --system-site-packages: a missing dependency must
show). pip uses this machine's configuration, so wheels come from its wheel cache and
find-links where it has them; anything that could pull torch pins torch==2.13.0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.helpers import REPO_ROOT

TORCH_PIN = "torch==2.13.0"
#: what a clone has that a copy of the sources leaves out (build output, local state)
NOT_SOURCES = (".git", ".venv", "runs", "build", "install", "log", "__pycache__",
               "*.egg-info", ".pytest_cache", ".ruff_cache", "results")
#: environment variables of this test run that must not leak into an install under test
#: (they would point Python, ament or a venv at this checkout)
LEAKY = ("PYTHONPATH", "AMENT_PREFIX_PATH", "VIRTUAL_ENV", "COLCON_PREFIX_PATH",
         "NEUROQ_INSTALL", "PYTHONHOME", "CMAKE_PREFIX_PATH")
PIP_TIMEOUT_S = 900


def copy_sources(dest: Path) -> Path:
    """A copy of the repository's sources at `dest`, as a fresh clone has them."""
    shutil.copytree(REPO_ROOT, dest, symlinks=True,
                    ignore=shutil.ignore_patterns(*NOT_SOURCES))
    return dest


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without what points at this checkout; `extra` added."""
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    env.update(extra)
    return env


def make_venv(path: Path) -> Path:
    """A fresh venv at `path` (no system site-packages); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin" / "python"


def pip_install(python: Path, requirements: Sequence[str]) -> None:
    """`pip install` into the venv of `python`; raises with pip's output tail on failure."""
    out = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements],
                         capture_output=True, text=True, env=clean_environ(),
                         timeout=PIP_TIMEOUT_S)
    if out.returncode:
        raise RuntimeError(f"pip install {' '.join(requirements)} failed:\n"
                           f"{(out.stdout + out.stderr)[-3000:]}")


def venv_environ(python: Path, **extra: str) -> dict[str, str]:
    """The environment of an activated venv: its bin/ first on PATH, VIRTUAL_ENV set."""
    venv = python.parent.parent
    return clean_environ(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                         VIRTUAL_ENV=str(venv), **extra)


def sourced_environ(setup_sh: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment after `. <setup_sh>` in sh, starting from `env` (what a user gets
    from `source install/setup.bash`)."""
    out = subprocess.run(["sh", "-c", '. "$0" && env -0', str(setup_sh)], env=env,
                         capture_output=True, check=True, cwd=setup_sh.parent)
    pairs = (item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    return dict(pairs)


def remove_in_background(path: Path) -> None:
    """Delete `path` (a venv of 0.3-1.2 GB) without waiting: on a loaded machine rmtree took
    up to 90 s of test time."""
    subprocess.Popen(["rm", "-rf", "--", str(path)], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
