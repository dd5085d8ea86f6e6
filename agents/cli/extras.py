"""Which optional extras a `neuroq` command needs, checked before it runs.

A command that needs an extra that is not installed stops with one line naming the extra
and how to install it (NeuroqError: exit 2), instead of an ImportError deep inside it.
Checked with importlib.util.find_spec, which imports nothing.

    train   torch + stable-baselines3: train, convert, finetune, export (of a finetune
            run: its gate plays the float DQN), energy, demo
    ros     rclpy and the ROS 2 message packages (ROS_MODULES): replay, demo's ROS 2 stage
    scale   ray + optuna: sweep (but not --serial), tune
    video   imageio (+ imageio-ffmpeg for MP4): eval --video
    events  aedat (AEDAT 4 files; the evt3 decoder where it has a wheel): replay and record
            of .aedat4 files, which say so themselves (listed by `neuroq paths`)
"""

from __future__ import annotations

from collections.abc import Iterable

from neuroq.deploy.errors import NeuroqError
from neuroq.ros_nodes.entry import ROS_HINT, ROS_MODULES, first_missing, reinstall_hint

#: extra -> modules it provides (the first missing one is named in the error)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "train": ("torch", "stable_baselines3"),
    "ros": ROS_MODULES,
    "scale": ("ray", "optuna"),
    "video": ("imageio",),
    "events": ("aedat",),
}


#: extra -> how to get it: neuroq installs from its clone or a wheel built from it (it is not
#: on PyPI, where a `pip install "neuroq[...]"` finds nothing or another project: an
#: outsider). torch pinned: an unpinned torch pulls several GB of CUDA packages.
INSTALL_HINT: dict[str, str] = {
    "train": reinstall_hint("train", " torch==2.13.0"),
    "ros": ROS_HINT,
    "scale": reinstall_hint("scale", " torch==2.13.0"),
    "video": reinstall_hint("video"),
    "events": reinstall_hint("events"),
}


def missing_module(extra: str) -> str | None:
    """The first module of `extra` that cannot be found, or None if all can."""
    return first_missing(EXTRA_MODULES[extra])


def require(extras: Iterable[str]) -> None:
    """NeuroqError naming the first extra in `extras` that is not installed."""
    for extra in extras:
        module = missing_module(extra)
        if module is not None:
            raise NeuroqError(f"needs the '{extra}' extra ({module} is not installed): "
                              f"{INSTALL_HINT[extra]}")
