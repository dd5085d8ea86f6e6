"""neuroq.deploy.paths: the shipped data is found in every install layout.

Layouts are laid out in temporary folders as each install puts them (the colcon and pip
tests check the real installs); the source checkout is this repository.
"""

from __future__ import annotations

import shutil

import pytest

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.paths import INSTALLED, SOURCE, find_shipped_data, shipped_data
from tests.helpers import REPO_ROOT


def _installed_prefix(prefix):
    share = prefix / "share" / "neuroq"
    (share / "config").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "package.xml", share / "package.xml")
    (share / "config" / "dqn.yaml").write_text("CartPole-v1: {}\n")
    (share / "artifacts" / "cartpole").mkdir(parents=True)
    (share / "artifacts" / "cartpole" / "manifest.json").write_text("{}")
    module = prefix / "lib" / "python3.11" / "site-packages" / "neuroq" / "deploy"
    module.mkdir(parents=True)
    return share, module


def test_this_checkout_is_a_source_layout():
    data = shipped_data()
    assert data.layout == SOURCE and data.root == REPO_ROOT
    assert data.config_file("dqn.yaml") == REPO_ROOT / "config" / "dqn.yaml"
    assert data.artifact("dvs_pan_tracking") == REPO_ROOT / "config" / "artifacts" / \
        "dvs_pan_tracking"
    assert data.launch_dir == REPO_ROOT / "launch"
    # docs/<page>.md, as --help cites it, from the root of either layout
    assert data.docs_dir == REPO_ROOT / "docs" and (data.docs_dir / "spiking.md").is_file()


def test_pip_and_colcon_installs_are_found_above_site_packages(tmp_path):
    share, module = _installed_prefix(tmp_path / "venv")
    data = find_shipped_data(module)
    assert data.layout == INSTALLED and data.root == share
    assert data.config_file("dqn.yaml") == share / "config" / "dqn.yaml"
    assert data.artifact("cartpole") == share / "artifacts" / "cartpole"
    assert data.docs_dir == share / "docs"
    with pytest.raises(NeuroqError, match=r"no shipped artifact 'acrobot' .*shipped: cartpole"):
        data.artifact("acrobot")


def test_a_robot_install_says_the_training_config_is_not_shipped(tmp_path):
    share, module = _installed_prefix(tmp_path / "install" / "neuroq")
    (share / "config" / "dqn.yaml").unlink()
    with pytest.raises(NeuroqError, match="dqn.yaml is not shipped with this install"):
        find_shipped_data(module).config_file("dqn.yaml")


def test_symlinked_sources_resolve_to_the_sources(tmp_path):
    """colcon --symlink-install: build/neuroq/neuroq/deploy links to <src>/deploy."""
    links = tmp_path / "build" / "neuroq" / "neuroq"
    links.mkdir(parents=True)
    (links / "deploy").symlink_to(REPO_ROOT / "deploy", target_is_directory=True)
    assert find_shipped_data(links / "deploy").root == REPO_ROOT


def test_the_nearest_layout_wins_and_none_is_an_error(tmp_path):
    outer_share, _ = _installed_prefix(tmp_path)
    inner_share, module = _installed_prefix(tmp_path / "nested")
    assert find_shipped_data(module).root == inner_share != outer_share
    other = tmp_path / "x" / "y"
    other.mkdir(parents=True)
    (tmp_path / "x" / "package.xml").write_text("<package><name>other</name></package>")
    assert find_shipped_data(other).root == outer_share  # another package is skipped
    lonely = tmp_path.parent / f"{tmp_path.name}-lonely"
    lonely.mkdir()
    with pytest.raises(NeuroqError, match="cannot find neuroq's shipped data"):
        find_shipped_data(lonely)


def test_a_robot_develop_build_after_a_full_one_drops_the_training_link(tmp_path):
    """colcon --symlink-install runs `setup.py develop` in its build folder, where
    setup.py links neuroq/<folder> to the sources; a robot build after a full one in the
    same folder kept the neuroq/agents link on PYTHONPATH (a review)."""
    import json
    import os
    import subprocess
    import sys

    from tests.helpers import REPO_ROOT

    record = ("import json, runpy, sys, setuptools\n"
              "setuptools.setup = lambda **kw: print(json.dumps(sorted(kw['package_dir'])))\n"
              "sys.argv = ['setup.py', 'develop']\n"
              f"runpy.run_path({str(REPO_ROOT / 'setup.py')!r}, run_name='__main__')\n")
    links = tmp_path / "neuroq"
    for profile, kept in (("full", {"agents", "deploy"}), ("robot", {"deploy"})):
        out = subprocess.run([sys.executable, "-c", record], cwd=tmp_path, check=True,
                             capture_output=True, text=True,
                             env={**os.environ, "NEUROQ_INSTALL": profile})
        assert ("neuroq.agents" in json.loads(out.stdout.splitlines()[-1])) == (
            profile == "full")
        present = {p.name for p in links.iterdir() if p.is_symlink()}
        assert kept <= present and ("agents" in present) == (profile == "full"), present
