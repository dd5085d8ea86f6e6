"""Run a ROS 2 launch file without the launch stack: read what it declares, start exactly that.

The `launch` and `launch_ros` packages cannot be installed here (docs/ros.md, "ROS 2 from
PyPI wheels"), so this harness loads a launch file with small stand-ins for the parts of their
API our launch files use, injected into `sys.modules` only while the file loads:

    launch.LaunchDescription, launch.actions.DeclareLaunchArgument,
    launch.substitutions.{LaunchConfiguration, PathJoinSubstitution, TextSubstitution},
    launch_ros.actions.Node, launch_ros.substitutions.FindPackageShare

The stand-ins only record what the file declares. `load_launch` then resolves the launch
arguments (declared defaults, choices, the values given) and turns each declared Node into a
command line with exactly its parameters files, parameter dicts (written to a parameters
file, as launch_ros does), remappings, name and namespace, as `--ros-args`. `LaunchedNodes`
starts those commands as separate processes with this process's full environment (so DDS
stays wherever the caller put it) and stops them when done.

Anything else a launch file might use (conditions, event handlers, other actions, other
keyword arguments) is refused with an error, so a launch file cannot silently do more than
what the tests check.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from neuroq.ros_nodes.processes import stop_processes
from tests.helpers import REPO_ROOT  # noqa: E402

#: package name -> its share directory. Ours is the source tree: it has the same layout
#: (config/, launch/, package.xml) that setup.py installs to share/neuroq.
SHARE_DIRS = {"neuroq": REPO_ROOT}
#: executable (console script) -> Python module that runs it with `python -m`.
EXECUTABLES = {
    "neuroq_policy_node": "neuroq.ros_nodes.policy_node",
    "neuroq_sim_robot": "neuroq.ros_nodes.sim_robot_node",
    "neuroq_actuator_node": "neuroq.ros_nodes.actuator_node",
}
STOP_TIMEOUT_S = 5.0


class LaunchError(Exception):
    """A launch file uses something the harness does not support, or bad arguments."""


# --- stand-ins for launch / launch_ros ----------------------------------------------------


class _Substitution:
    """Base of the recorded substitutions."""


class LaunchConfiguration(_Substitution):
    def __init__(self, variable_name: str, default: Any = None) -> None:
        self.name = variable_name
        self.default = default


class PathJoinSubstitution(_Substitution):
    def __init__(self, substitutions: list[Any]) -> None:
        self.parts = list(substitutions)


class TextSubstitution(_Substitution):
    def __init__(self, *, text: str) -> None:
        self.text = text


class FindPackageShare(_Substitution):
    def __init__(self, package: str) -> None:
        self.package = package


class DeclareLaunchArgument:
    def __init__(self, name: str, *, default_value: Any = None, description: str = "",
                 choices: list[str] | None = None) -> None:
        self.name = name
        self.default_value = default_value
        self.description = description
        self.choices = choices


class RecordedNode:
    """launch_ros.actions.Node: records its keyword arguments."""

    def __init__(self, *, package: str, executable: str, name: Any = None,
                 namespace: Any = None, parameters: list[Any] | None = None,
                 remappings: list[tuple[Any, Any]] | None = None,
                 arguments: list[Any] | None = None, output: str = "log",
                 emulate_tty: bool = False) -> None:
        self.package = package
        self.executable = executable
        self.name = name
        self.namespace = namespace
        self.parameters = list(parameters or [])
        self.remappings = list(remappings or [])
        self.arguments = list(arguments or [])


class LaunchDescription:
    def __init__(self, initial_entities: list[Any] | None = None) -> None:
        self.entities = list(initial_entities or [])


def _fake_modules() -> dict[str, types.ModuleType]:
    def module(name: str, **attrs: Any) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        return mod

    actions = module("launch.actions", DeclareLaunchArgument=DeclareLaunchArgument)
    subs = module("launch.substitutions", LaunchConfiguration=LaunchConfiguration,
                  PathJoinSubstitution=PathJoinSubstitution, TextSubstitution=TextSubstitution)
    launch = module("launch", LaunchDescription=LaunchDescription, actions=actions,
                    substitutions=subs)
    ros_actions = module("launch_ros.actions", Node=RecordedNode)
    ros_subs = module("launch_ros.substitutions", FindPackageShare=FindPackageShare)
    launch_ros = module("launch_ros", actions=ros_actions, substitutions=ros_subs)
    return {"launch": launch, "launch.actions": actions, "launch.substitutions": subs,
            "launch_ros": launch_ros, "launch_ros.actions": ros_actions,
            "launch_ros.substitutions": ros_subs}


# --- what a launch file declares, resolved --------------------------------------------------


@dataclass
class NodeSpec:
    """One declared node, with every substitution resolved."""

    package: str
    executable: str
    name: str | None
    namespace: str | None
    parameter_files: list[Path | dict[str, Any]]
    remappings: list[tuple[str, str]]
    arguments: list[str]


@dataclass
class LaunchPlan:
    arguments: dict[str, str]
    nodes: list[NodeSpec]
    declared: dict[str, DeclareLaunchArgument] = field(default_factory=dict)


def _resolve(value: Any, args: dict[str, str]) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "".join(_resolve(v, args) for v in value)
    if isinstance(value, LaunchConfiguration):
        if value.name in args:
            return args[value.name]
        if value.default is not None:
            return _resolve(value.default, args)
        raise LaunchError(f"launch configuration {value.name!r} is not set")
    if isinstance(value, PathJoinSubstitution):
        return os.path.join(*(_resolve(p, args) for p in value.parts))
    if isinstance(value, TextSubstitution):
        return value.text
    if isinstance(value, FindPackageShare):
        if value.package not in SHARE_DIRS:
            raise LaunchError(f"package {value.package!r} has no known share directory")
        return str(SHARE_DIRS[value.package])
    raise LaunchError(f"unsupported substitution {type(value).__name__}")


def _parameter_value(value: Any, args: dict[str, str]) -> Any:
    """Literal values pass through; substitutions resolve to text, read as YAML (launch_ros
    does the same), so `backend:=emulator` is a string and `seed:=3` an integer."""
    if isinstance(value, bool | int | float) or (
            isinstance(value, list) and all(isinstance(v, bool | int | float | str)
                                            for v in value)):
        return value
    text = _resolve(value, args)
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return parsed if isinstance(parsed, bool | int | float | str) else text


def load_launch(path: str | os.PathLike, arguments: dict[str, str] | None = None) -> LaunchPlan:
    """Load the launch file at `path` with `arguments` (name -> value) and resolve it."""
    path = Path(path)
    fakes = _fake_modules()
    saved = {name: sys.modules.get(name) for name in fakes}
    try:
        sys.modules.update(fakes)
        spec = importlib.util.spec_from_file_location(f"_launch_{path.stem.replace('.', '_')}",
                                                      path)
        if spec is None or spec.loader is None:
            raise LaunchError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        description = module.generate_launch_description()
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod
    if not isinstance(description, LaunchDescription):
        raise LaunchError(f"{path}: generate_launch_description() must return a "
                          "LaunchDescription")
    given = dict(arguments or {})
    resolved: dict[str, str] = {}
    declared: dict[str, DeclareLaunchArgument] = {}
    nodes: list[NodeSpec] = []
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            declared[entity.name] = entity
            if entity.name in given:
                value = given[entity.name]
            elif entity.default_value is not None:
                value = _resolve(entity.default_value, resolved)
            else:
                raise LaunchError(f"launch argument {entity.name!r} is required")
            if entity.choices is not None and value not in entity.choices:
                raise LaunchError(f"launch argument {entity.name}:={value} is not one of "
                                  f"{entity.choices}")
            resolved[entity.name] = value
        elif isinstance(entity, RecordedNode):
            nodes.append(_node_spec(entity, resolved))
        else:
            raise LaunchError(f"{path}: unsupported launch entity {type(entity).__name__}")
    unknown = set(given) - set(declared)
    if unknown:
        raise LaunchError(f"{path}: no launch argument named {sorted(unknown)}")
    return LaunchPlan(resolved, nodes, declared)


def _node_spec(node: RecordedNode, args: dict[str, str]) -> NodeSpec:
    params: list[Path | dict[str, Any]] = []
    for entry in node.parameters:
        if isinstance(entry, dict):
            params.append({k: _parameter_value(v, args) for k, v in entry.items()})
        else:
            file = Path(_resolve(entry, args))
            if not file.is_file():
                raise LaunchError(f"parameters file {file} does not exist")
            params.append(file)
    return NodeSpec(
        package=node.package, executable=node.executable,
        name=None if node.name is None else _resolve(node.name, args),
        namespace=None if node.namespace is None else _resolve(node.namespace, args),
        parameter_files=params,
        remappings=[(_resolve(a, args), _resolve(b, args)) for a, b in node.remappings],
        arguments=[_resolve(a, args) for a in node.arguments])


def node_command(spec: NodeSpec, param_dir: Path,
                 executable_override: list[str] | None = None) -> list[str]:
    """The command line that runs `spec`; parameter dicts are written under `param_dir`."""
    if executable_override is not None:
        cmd = list(executable_override)
    elif spec.executable in EXECUTABLES:
        cmd = [sys.executable, "-m", EXECUTABLES[spec.executable]]
    else:
        raise LaunchError(f"unknown executable {spec.package}/{spec.executable}")
    cmd += spec.arguments + ["--ros-args"]
    if spec.name:
        cmd += ["-r", f"__node:={spec.name}"]
    if spec.namespace:
        cmd += ["-r", f"__ns:=/{spec.namespace.lstrip('/')}"]
    for k, entry in enumerate(spec.parameter_files):
        if isinstance(entry, dict):
            file = param_dir / f"{spec.name or spec.executable}_{k}.yaml"
            file.write_text(yaml.safe_dump({"/**": {"ros__parameters": entry}}))
            entry = file
        cmd += ["--params-file", str(entry)]
    for old, new in spec.remappings:
        cmd += ["-r", f"{old}:={new}"]
    return cmd


class LaunchedNodes:
    """Context manager: start a plan's nodes as processes; stop them (SIGINT, then kill).

    overrides: executable -> command prefix to run instead (e.g. the stand-in policy node).
    Each process's output goes to `<log_dir>/<name>.log`; `returncodes` is filled on exit.
    """

    def __init__(self, plan: LaunchPlan, log_dir: Path,
                 overrides: dict[str, list[str]] | None = None) -> None:
        self.plan = plan
        self.log_dir = Path(log_dir)
        self.overrides = overrides or {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.returncodes: dict[str, int | None] = {}
        self._tmp: tempfile.TemporaryDirectory | None = None

    def commands(self) -> dict[str, list[str]]:
        assert self._tmp is not None
        return {spec.name or spec.executable: node_command(
            spec, Path(self._tmp.name), self.overrides.get(spec.executable))
            for spec in self.plan.nodes}

    def __enter__(self) -> LaunchedNodes:
        self._tmp = tempfile.TemporaryDirectory(prefix="neuroq-launch-")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name, cmd in self.commands().items():
                log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115
                self.processes[name] = subprocess.Popen(
                    cmd, cwd=REPO_ROOT, env=os.environ.copy(), stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True)
                log.close()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        self.returncodes.update(stop_processes(self.processes, signal.SIGINT, STOP_TIMEOUT_S))
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
