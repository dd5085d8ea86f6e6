"""Where neuroq's shipped data is: configs, node parameters, launch files, artifacts.

One resolver for every supported install. It starts at this package's own folder (symlinks
resolved) and walks up the parents; the nearest folder that matches one of two layouts wins:

    source     <root>/package.xml (name neuroq), <root>/config/, <root>/launch/
               a source checkout, `pip install -e .`, and `colcon build --symlink-install`
               (its build folder links back to the sources, so resolving lands here)
    installed  <prefix>/share/neuroq/package.xml
               `pip install .` (data_files go to <prefix>/share/neuroq; <prefix> is the venv,
               /usr/local or ~/.local), and `colcon build` (<ws>/install/neuroq/share/neuroq)

Walking up from the package's folder finds <prefix> because site-packages always lies
below it (<prefix>/lib/pythonX.Y/site-packages/neuroq/deploy). What lies where:

    source:     config/*.yaml, config/artifacts/<name>/, launch/*.launch.py
    installed:  share/neuroq/config/*.yaml, share/neuroq/artifacts/<name>/,
                share/neuroq/launch/*.launch.py

A robot install (NEUROQ_INSTALL=robot, colcon's default) ships no training configs
(config/dqn.yaml): `config_file` then says which file is missing and where it looked.
numpy-free and rclpy-free: the robot side and the CLI both use it.
"""

from __future__ import annotations

import difflib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from neuroq.deploy.errors import NeuroqError

PACKAGE = "neuroq"
SOURCE, INSTALLED = "source", "installed"


@dataclass(frozen=True)
class ShippedData:
    """The folders of one install's shipped data."""

    layout: str  # SOURCE or INSTALLED
    root: Path  # the source checkout, or <prefix>/share/neuroq
    config_dir: Path
    artifacts_dir: Path
    launch_dir: Path
    docs_dir: Path  # the documentation the --help texts cite as docs/<page>.md

    def config_file(self, name: str) -> Path:
        """`config/<name>`; NeuroqError naming the path if this install does not ship it."""
        path = self.config_dir / name
        if not path.is_file():
            raise NeuroqError(f"{name} is not shipped with this install ({self.layout}: "
                              f"{path} does not exist)")
        return path

    def artifact(self, name: str) -> Path:
        """The shipped artifact folder `name` (cartpole, acrobot, dvs_pan_tracking)."""
        path = self.artifacts_dir / name
        if not (path / "manifest.json").is_file():
            names = sorted(m.parent.name for m in self.artifacts_dir.glob("*/manifest.json"))
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise NeuroqError(f"no shipped artifact {name!r} in {self.artifacts_dir} "
                              f"(shipped: {', '.join(names) or 'none'}{hint})")
        return path


def _is_our_package_xml(path: Path) -> bool:
    try:
        return ET.parse(path).getroot().findtext("name") == PACKAGE
    except (OSError, ET.ParseError):
        return False


def layout_at(folder: Path) -> ShippedData | None:
    """The shipped data if `folder` is a source checkout or an install prefix, else None."""
    if ((folder / "config").is_dir() and (folder / "launch").is_dir()
            and _is_our_package_xml(folder / "package.xml")):
        return ShippedData(SOURCE, folder, folder / "config", folder / "config" / "artifacts",
                           folder / "launch", folder / "docs")
    share = folder / "share" / PACKAGE
    if _is_our_package_xml(share / "package.xml"):
        return ShippedData(INSTALLED, share, share / "config", share / "artifacts",
                           share / "launch", share / "docs")
    return None


def find_shipped_data(start: Path) -> ShippedData:
    """Walk up from `start` (symlinks resolved) to the nearest source or install layout."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        found = layout_at(folder)
        if found is not None:
            return found
    raise NeuroqError(f"cannot find neuroq's shipped data (config/, launch/, artifacts/): "
                      f"no source checkout or share/{PACKAGE}/package.xml above {start}; "
                      "reinstall the package (pip install . or colcon build)")


@cache
def shipped_data() -> ShippedData:
    """The shipped data of the neuroq this module belongs to."""
    return find_shipped_data(Path(__file__).parent)
