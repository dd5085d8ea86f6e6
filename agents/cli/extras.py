"""Which optional extras a `neuroq` command needs, checked before it runs.

A command that needs an extra that is not installed stops with one line naming the extra
and how to install it (NeuroqError: exit 2), instead of an ImportError deep inside it.
Checked with importlib.util.find_spec, which imports nothing.

    train   torch + stable-baselines3: train, convert, finetune, export (of a finetune
            run: its gate plays the float DQN), energy, demo
    ros     rclpy (ROS 2): replay, demo's ROS 2 stage
    scale   ray + optuna: sweep (but not --serial), tune
    video   imageio (+ imageio-ffmpeg for MP4): eval --video
    events  aedat (AEDAT 4 files; the evt3 decoder where it has a wheel): replay and record
            of .aedat4 files, which say so themselves (listed by `neuroq paths`)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from neuroq.deploy.errors import NeuroqError
from neuroq.ros_nodes.entry import ROS_HINT, ROS_MODULES

#: extra -> modules it provides (the first missing one is named in the error)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "train": ("torch", "stable_baselines3"),
    "ros": ROS_MODULES,
    "scale": ("ray", "optuna"),
    "video": ("imageio",),
    "events": ("aedat",),
}


def _reinstall(extra: str, pin: str = "") -> str:
    """How to add `extra` to an install from the clone or from a wheel (an outsider with a
    wheel had no clone to run the clone's command in)."""
    return (f'in the neuroq clone: pip install ".[{extra}]"{pin}; from a wheel: pip install '
            f'"<the neuroq wheel file>[{extra}]"{pin}')


#: extra -> how to get it: neuroq installs from its clone or a wheel built from it (it is not
#: on PyPI, where a `pip install "neuroq[...]"` finds nothing or another project: an
#: outsider). torch pinned: an unpinned torch pulls several GB of CUDA packages.
INSTALL_HINT: dict[str, str] = {
    "train": _reinstall("train", " torch==2.13.0"),
    "ros": ROS_HINT,
    "scale": _reinstall("scale", " torch==2.13.0"),
    "video": _reinstall("video"),
    "events": _reinstall("events"),
}


def missing_module(extra: str) -> str | None:
    """The first module of `extra` that cannot be found, or None if all can."""
    for module in EXTRA_MODULES[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken parent package, or no __spec__
            found = False
        if not found:
            return module
    return None


def require(extras: Iterable[str]) -> None:
    """NeuroqError naming the first extra in `extras` that is not installed."""
    for extra in extras:
        module = missing_module(extra)
        if module is not None:
            raise NeuroqError(f"needs the '{extra}' extra ({module} is not installed): "
                              f"{INSTALL_HINT[extra]}")
