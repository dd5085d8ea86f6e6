"""Distribution metadata and install layout of neuroq, for pip and for colcon.

Everything setuptools needs lives here, not in pyproject.toml: colcon's ament_python build
reads it by running this file (colcon-python-setup-py cannot read pyproject's [project]
table, and `colcon build --symlink-install` runs this file from its build folder, where
pyproject.toml is absent). The version is read from package.xml, its one place.

Import names: the repository's folders agents/, deploy/, envs/ and ros_nodes/ install as
`neuroq.agents`, `neuroq.deploy`, `neuroq.envs` and `neuroq.ros_nodes` (`neuroq` is a
namespace package), so nothing generic lands at the top of site-packages.

Install profiles (environment variable NEUROQ_INSTALL):
    full   (default for pip)    every package, the `neuroq` command, training configs
    robot  (default for colcon) the robot side only: deploy, envs, ros_nodes, the node
           executables, launch files, node parameters and shipped artifacts; no training
           stages and no torch-side configs. `NEUROQ_INSTALL=full colcon build` adds them.
"""

import os
import sys
import xml.etree.ElementTree as ET
from glob import glob
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent
PACKAGE = "neuroq"
ROBOT_PACKAGES = ("deploy", "envs", "ros_nodes")
TRAINING_PACKAGES = ("agents",)
PROFILE_ENV = "NEUROQ_INSTALL"
PROFILES = ("full", "robot")


def _version() -> str:
    return ET.parse(SOURCE / "package.xml").getroot().findtext("version").strip()


def _under_colcon() -> bool:
    """colcon sets COLCON=1 in the environment of every build step it runs."""
    return os.environ.get("COLCON") == "1"


def _profile() -> str:
    profile = os.environ.get(PROFILE_ENV) or ("robot" if _under_colcon() else "full")
    if profile not in PROFILES:
        sys.exit(f"{PROFILE_ENV} must be one of {', '.join(PROFILES)}, got {profile!r}")
    return profile


def _subpackages(folder: str) -> list[str]:
    """`folder` and every folder below it holding an __init__.py, as dotted names."""
    root = SOURCE / folder
    return [".".join((folder, *p.parent.relative_to(root).parts))
            for p in sorted(root.rglob("__init__.py"))]


def _left_out(folders: tuple[str, ...]) -> tuple[str, ...]:
    """The package folders a profile of `folders` leaves out: what a build folder reused
    from another profile may still hold (build/lib, --symlink-install's links)."""
    return tuple(f for f in ROBOT_PACKAGES + TRAINING_PACKAGES if f not in folders)


def _package_dir(folders: tuple[str, ...]) -> dict[str, str]:
    """Map neuroq.<folder> to the folder. colcon --symlink-install runs `setup.py develop`
    in its build folder, which it puts on PYTHONPATH: there, a neuroq/ folder of links to
    the sources makes `import neuroq.deploy` find the source tree."""
    if Path.cwd().resolve() == SOURCE or "develop" not in sys.argv:
        return {f"{PACKAGE}.{f}": f for f in folders}
    links = Path.cwd() / PACKAGE
    links.mkdir(exist_ok=True)
    for f in _left_out(folders):  # a robot build after a full one: the training side's
        # link would stay on PYTHONPATH (a review)
        if (links / f).is_symlink():
            (links / f).unlink()
    for f in folders:
        link = links / f
        if link.is_symlink() and link.resolve() != SOURCE / f:
            link.unlink()
        if not link.exists():
            link.symlink_to(SOURCE / f, target_is_directory=True)
    return {f"{PACKAGE}.{f}": f"{PACKAGE}/{f}" for f in folders}


def _files(pattern: str) -> list[str]:
    """Files matching `pattern`, as paths relative to the source folder (colcon links them
    into its build folder under the same relative paths)."""
    return sorted(glob(pattern, root_dir=SOURCE))


def _data(target: str, pattern: str) -> tuple[str, list[str]]:
    return (target, _files(pattern))


PROFILE = _profile()
FOLDERS = ROBOT_PACKAGES + (TRAINING_PACKAGES if PROFILE == "full" else ())
NODES = {
    # through neuroq.ros_nodes.entry: a stop signal while the process starts exits 0
    "neuroq_policy_node": "neuroq.ros_nodes.entry:policy_node",
    "neuroq_actuator_node": "neuroq.ros_nodes.entry:actuator_node",
    "neuroq_sim_robot": "neuroq.ros_nodes.entry:sim_robot",
    "neuroq_event_node": "neuroq.ros_nodes.entry:event_node",
    "neuroq_event_camera": "neuroq.ros_nodes.entry:event_camera",
    "neuroq_event_replay": "neuroq.ros_nodes.entry:event_replay",  # not a node: a tool
}
COMMAND = {"neuroq": "neuroq.agents.cli.main:console_main"}
SCRIPTS = {**(COMMAND if PROFILE == "full" else {}), **NODES}
#: configs the training side reads; a robot install leaves them out
TRAINING_CONFIGS = ("config/dqn.yaml",)
ARTIFACTS = [_data(f"share/neuroq/artifacts/{Path(d).name}", f"{d}/*")
             for d in _files("config/artifacts/*") if (SOURCE / d).is_dir()]
CONFIGS = [c for c in _files("config/*.yaml") if PROFILE == "full" or c not in TRAINING_CONFIGS]
DATA_FILES = [
    ("share/ament_index/resource_index/packages", ["resource/neuroq"]),
    ("share/neuroq", ["package.xml"]),
    _data("share/neuroq/launch", "launch/*.launch.py"),
    ("share/neuroq/config", CONFIGS),
    _data("share/neuroq/config/interfaces", "config/interfaces/*.yaml"),
    _data("share/neuroq/config/fastdds", "config/fastdds/*.xml"),
    *ARTIFACTS,
    # the pages --help texts cite as docs/<page>.md, and the sweep specs `neuroq sweep
    # --help` names (a wheel install had none of them: an outsider)
    _data("share/neuroq/docs", "docs/*.md"),
    _data("share/neuroq/docs/measurements", "docs/measurements/*.md"),
    ("share/neuroq/docs/sweeps", _files("docs/sweeps/*.yaml") + _files("docs/sweeps/*.png")),
    _data("share/neuroq/examples", "examples/*.py"),  # ros.md's robot client
]

ROS_WHEELS = [  # ROS 2 Kilted from PyPI; on a robot with apt ROS 2, leave this extra out
    "ros-rclpy[fastrtps]==9.1.2",
    "ros-std-msgs==5.5.1",
    "ros-sensor-msgs==5.5.1",
    "ros-geometry-msgs==5.5.1",
    "ros-diagnostic-msgs==5.5.1",
    "ros-nav-msgs==5.5.1",
]


class BuildPy(build_py):
    """build_py that first removes, from the build folder, the packages this profile leaves
    out: setuptools reuses build/lib, so a robot wheel built after a full one carried
    neuroq.agents (an outsider's `NEUROQ_INSTALL=robot pip wheel .` in a clone)."""

    def run(self) -> None:
        import shutil

        for folder in _left_out(FOLDERS):
            shutil.rmtree(Path(self.build_lib) / PACKAGE / folder, ignore_errors=True)
        super().run()


setup(
    name=PACKAGE,
    version=_version(),
    description=("Deep Q-networks to 8-bit spiking Q-networks on SpiNNaker2 (or its emulator), "
                 "closed loop in ROS 2."),
    long_description=(SOURCE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=[f"{PACKAGE}.{p}" for f in FOLDERS for p in _subpackages(f)],
    package_dir=_package_dir(FOLDERS),
    data_files=DATA_FILES,
    # the event_camera_msgs interface and its build script (no wheel of it exists): a wheel
    # or sdist install builds the message with `bash <this>/build_event_msgs.sh VENV`
    package_data={f"{PACKAGE}.ros_nodes": ["interfaces/build_event_msgs.sh",
                                           "interfaces/event_camera_msgs/*",
                                           "interfaces/event_camera_msgs/msg/*"]},
    # The robot side (deploy, envs, ros_nodes) needs only these: no torch, no pickle.
    install_requires=["numpy>=1.26", "gymnasium>=1.0,<2", "pyyaml>=6", "nir>=1.0.8",
                      "h5py>=3.10", "psutil>=5.9", "tqdm>=4.66"],
    extras_require={
        # torch: pin torch==2.13.0 in the same pip command on machines with a local CPU build
        "train": ["torch>=2.2", "stable-baselines3>=2.4,<3", "tensorboard>=2.15", "rich>=13",
                  "matplotlib>=3.8"],
        "ros": ROS_WHEELS,
        # reading recorded AEDAT 4 event files; the fast EVT 3.0 decoder (wheels for Linux
        # x86_64 with glibc >= 2.34 only; without it neuroq decodes EVT 3.0 in numpy)
        "events": ["aedat==2.3.0",
                   'evt3==0.4.1; platform_machine == "x86_64" and sys_platform == "linux"'],
        # `neuroq sweep` and `neuroq tune` (issue 20); neither pulls torch
        "scale": ["ray>=2.40", "optuna>=4.0"],
        # LunarLander-v3 and the other Box2D envs: Gymnasium's extra (Box2D and pygame-ce
        # wheels; swig and a compiler only on Python >= 3.14, where Box2D has no wheel)
        "box2d": ["gymnasium[box2d]>=1.0,<2"],
        # neuroq eval --video: GIF through Pillow (an imageio dependency), MP4 through ffmpeg
        "video": ["imageio>=2.30", "imageio-ffmpeg>=0.5"],
        # the energy report's measured GPU row (NVML's energy counter; it needs a CUDA build
        # of torch==2.13.0 too, docs/energy.md)
        "gpu": ["nvidia-ml-py>=12"],
        # snntorch and norse: the NIR peers tests/test_nir_peers.py checks exports against
        # (they need torch: pin torch==2.13.0 in the same pip command, as the Makefile does)
        "dev": ["pytest>=8", "ruff>=0.6", "import-linter>=2.1", "colcon-core>=0.17",
                "colcon-ros>=0.5", "colcon-python-setup-py>=0.2.8",
                "colcon-package-selection>=0.2", "snntorch==1.0.0", "norse==1.1.0"],
    },
    entry_points={"console_scripts": [f"{k} = {v}" for k, v in SCRIPTS.items()]},
    cmdclass={"build_py": BuildPy},
    zip_safe=False,
)
