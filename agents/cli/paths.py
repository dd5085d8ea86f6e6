"""Print where this install of neuroq is and where it found its shipped data.

Shipped data: hyperparameters (dqn.yaml), node parameters (*_sim.yaml, cartpole_robot.yaml),
launch files and deploy artifacts. A source checkout, an editable install and
`colcon build --symlink-install` read them from the sources; `pip install .` and
`colcon build` from <prefix>/share/neuroq (neuroq.deploy.paths). Also says which optional
extras are installed.
"""

from __future__ import annotations

import argparse
import shlex

HELP = "print where neuroq and its shipped configs, launch files and artifacts are"


def add_arguments(p: argparse.ArgumentParser) -> None:
    del p  # no options


def run(args: argparse.Namespace) -> int:
    import importlib.util
    from pathlib import Path

    import neuroq.deploy
    from neuroq.agents.cli.extras import EXTRA_MODULES, missing_module
    from neuroq.agents.cli.main import _version
    from neuroq.deploy.paths import shipped_data
    from neuroq.ros_nodes.messages import EVENT_MSGS_BUILD_SCRIPT

    data = shipped_data()
    artifacts = sorted(m.parent.name for m in data.artifacts_dir.glob("*/manifest.json"))
    configs = sorted(p.name for p in data.config_dir.glob("*.yaml"))
    print(f"version    {_version()}")
    print(f"package    {Path(neuroq.deploy.__file__).resolve().parent.parent}")
    print(f"layout     {data.layout}")
    print(f"data       {data.root}")
    print(f"config     {data.config_dir}: {', '.join(configs) or 'none'}")
    print(f"artifacts  {data.artifacts_dir}: {', '.join(artifacts) or 'none'}")
    print(f"launch     {data.launch_dir}")
    # the pages --help texts cite as docs/<page>.md (a wheel install had none: an outsider)
    pages = sorted(p.name for p in data.docs_dir.glob("*.md"))
    print(f"docs       {data.docs_dir}: " + (", ".join(pages) if pages else
                                             "none (this install has no docs: reinstall neuroq)"))
    for extra in EXTRA_MODULES:
        module = missing_module(extra)
        print(f"extra      {extra}: {'installed' if module is None else f'missing ({module})'}")
    try:  # the event nodes' and replay's message package: no wheel of it exists
        found = importlib.util.find_spec("event_camera_msgs") is not None
    except (ImportError, ValueError):
        found = False
    script = shlex.quote(str(EVENT_MSGS_BUILD_SCRIPT))  # a path with a space, pasted
    print("messages   event_camera_msgs: " + ("installed" if found else
          f"missing (bash {script} VENV builds it into a venv)"))
    return 0
