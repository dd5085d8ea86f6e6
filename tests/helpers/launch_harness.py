"""Load a ROS 2 launch file as real launch does, without the launch stack.

`launch` and `launch_ros` are not on PyPI (docs/ros.md, "ROS 2 from PyPI wheels"), so this
module loads a launch file with small stand-ins for the parts of their API our launch files
use, injected into `sys.modules` only while the file loads:

    launch.LaunchDescription, launch.actions.{DeclareLaunchArgument, LogInfo, Shutdown,
    EmitEvent, RegisterEventHandler}, launch.events.Shutdown,
    launch.event_handlers.OnProcessExit,
    launch.substitutions.{LaunchConfiguration, PathJoinSubstitution, TextSubstitution},
    launch_ros.actions.Node, launch_ros.substitutions.FindPackageShare,
    launch_ros.parameter_descriptions.ParameterValue (value_type str or None)

and resolves it with the rules of launch 3.7 / launch_ros 0.28 (docs/ros.md, "The launch
harness and real launch", lists what differs):

- arguments `name:=value` (`parse_launch_arguments`: split on the first `:=`, the last of a
  repeated name wins); a declared argument without default that is not given fails before
  anything else; choices are checked on the given or default value when the declaration is
  visited; names that no declaration has are accepted silently and become launch
  configurations (`sigterm_timeout`, `sigkill_timeout` among them);
- `FindPackageShare` is `<first AMENT_PREFIX_PATH entry with
  share/ament_index/resource_index/packages/<pkg>>/share/<pkg>`, and a Node's executable is
  `<that prefix>/lib/<pkg>/<exe>`, so the launch files run against an install tree
  (tests/helpers/launch_prefix.py builds one for the source checkout; the colcon test uses
  colcon's);
- a Node becomes `exe [arguments] [--ros-args ros_arguments] --ros-args [-r __node:=name]
  [-r __ns:=/ns] [--params-file f]... [-r from:=to]...`, parameter dicts written to a
  parameters file under `/**` (or `/<ns>/<name>` when both are known), substitution values
  read as YAML unless wrapped in `ParameterValue(..., value_type=str)` (the text as it is:
  `artifact:=2025-01-01` a date, `artifact:=123` an integer otherwise); a parameters file
  that does not exist is skipped with a warning;
- `on_exit` (Shutdown, EmitEvent(Shutdown), LogInfo, or a list of them), `respawn`,
  `respawn_delay`, `respawn_max_retries`, `sigterm_timeout`, `sigkill_timeout` are kept for
  tests.helpers.launch_runner, which runs the processes.

What real launch reports as an exception (`ros2 launch` exit 1) raises `LaunchError` with
real launch's message. Anything else (conditions, groups, namespaces pushed, timers,
includes, callables, other keyword arguments) is refused: `TypeError` for an unknown
keyword, as Python gives real launch too, `LaunchError("harness: ...")` for an entity the
harness does not implement, so a launch file cannot do more than the tests check.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: ament_index: a package is installed under a prefix if this file exists there
PACKAGE_MARKER = Path("share", "ament_index", "resource_index", "packages")
#: launch's defaults for the shutdown escalation: SIGINT, then SIGTERM after this many
#: seconds, then SIGKILL this many seconds after that (LaunchConfiguration defaults in
#: launch/actions/execute_local.py)
SIGTERM_TIMEOUT_S = 5.0
SIGKILL_TIMEOUT_S = 5.0


class LaunchError(Exception):
    """What real launch raises while launching (`ros2 launch` exits 1 with the message)."""


# --- stand-ins for launch / launch_ros ----------------------------------------------------


class _Substitution:
    """Base of the recorded substitutions."""


class LaunchConfiguration(_Substitution):
    def __init__(self, variable_name: str, *, default: Any = None) -> None:
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
    def __init__(self, name: str, *, default_value: Any = None, description: str | None = None,
                 choices: list[str] | None = None) -> None:
        if choices is not None and len(choices) == 0:
            raise LaunchError("Provided choices arg is empty. Use None to ignore the choice "
                              "check.")
        if isinstance(default_value, str) and choices is not None \
                and default_value not in choices:
            raise LaunchError(f'Provided default_value "{default_value}" is not in provided '
                              f"choices {choices}.")
        self.name = name
        self.default_value = default_value
        self.description = "no description given" if description is None else description
        self.choices = choices


class Shutdown:
    """launch.actions.Shutdown: ends the launch (every process gets SIGINT, then SIGTERM,
    then SIGKILL, see launch_runner)."""

    def __init__(self, *, reason: str = "reason not given") -> None:
        self.reason = reason


class ShutdownEvent:
    """launch.events.Shutdown: only emitted through EmitEvent."""

    def __init__(self, *, reason: str = "reason not given") -> None:
        self.reason = reason


def EmitEvent(*, event: Any) -> Shutdown:  # noqa: N802 - launch's class name
    """launch.actions.EmitEvent: the harness knows only the Shutdown event."""
    if not isinstance(event, ShutdownEvent):
        raise LaunchError(f"harness: EmitEvent of {type(event).__name__} is not supported")
    return Shutdown(reason=event.reason)


class LogInfo:
    def __init__(self, *, msg: Any) -> None:
        self.msg = msg


class OnProcessExit:
    def __init__(self, *, target_action: Any = None, on_exit: Any = None) -> None:
        if not isinstance(target_action, RecordedNode):
            raise LaunchError("harness: OnProcessExit needs a Node as target_action")
        self.target = target_action
        self.on_exit = on_exit


class RegisterEventHandler:
    def __init__(self, event_handler: Any) -> None:
        if not isinstance(event_handler, OnProcessExit):
            raise LaunchError(f"harness: event handler {type(event_handler).__name__} is not "
                              "supported (only OnProcessExit)")
        self.handler = event_handler


class ParameterValue:
    """launch_ros.parameter_descriptions.ParameterValue: a parameter's value and the type its
    substituted text is coerced to. The harness implements value_type str (the text as it
    is, never read as YAML) and None (YAML rules, as a bare substitution)."""

    def __init__(self, value: Any, *, value_type: Any = None) -> None:
        if value_type not in (None, str):
            raise LaunchError(f"harness: ParameterValue with value_type {value_type!r} is not "
                              "supported (str or None)")
        self.value = value
        self.value_type = value_type


class RecordedNode:
    """launch_ros.actions.Node: records its keyword arguments (unknown ones: TypeError)."""

    def __init__(self, *, executable: Any, package: Any = None, name: Any = None,
                 namespace: Any = None, parameters: list[Any] | None = None,
                 remappings: list[tuple[Any, Any]] | None = None,
                 ros_arguments: list[Any] | None = None, arguments: list[Any] | None = None,
                 output: str = "log", emulate_tty: bool = False, respawn: Any = False,
                 respawn_delay: float | None = None, respawn_max_retries: int = -1,
                 on_exit: Any = None, sigterm_timeout: Any = None,
                 sigkill_timeout: Any = None) -> None:
        if package is None:
            raise LaunchError("harness: a Node without package (an executable on PATH) is "
                              "not supported")
        self.package = package
        self.executable = executable
        self.name = name
        self.namespace = namespace
        self.parameters = list(parameters or [])
        self.remappings = list(remappings or [])
        self.ros_arguments = list(ros_arguments or [])
        self.arguments = list(arguments or [])
        self.respawn = respawn
        self.respawn_delay = respawn_delay
        self.respawn_max_retries = respawn_max_retries
        self.on_exit = _actions(on_exit)
        self.sigterm_timeout = sigterm_timeout
        self.sigkill_timeout = sigkill_timeout


def _actions(value: Any) -> list[Any]:
    """on_exit as a list of the actions the harness runs."""
    if value is None:
        return []
    items = list(value) if isinstance(value, list | tuple) else [value]
    for item in items:
        if callable(item) and not isinstance(item, Shutdown | LogInfo):
            raise LaunchError("harness: on_exit callables are not supported")
        if not isinstance(item, Shutdown | LogInfo):
            raise LaunchError(f"harness: on_exit action {type(item).__name__} is not "
                              "supported (Shutdown, EmitEvent(Shutdown), LogInfo)")
    return items


class LaunchDescription:
    def __init__(self, initial_entities: list[Any] | None = None) -> None:
        self.entities = list(initial_entities or [])


def _fake_modules() -> dict[str, types.ModuleType]:
    def module(name: str, **attrs: Any) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        return mod

    actions = module("launch.actions", DeclareLaunchArgument=DeclareLaunchArgument,
                     Shutdown=Shutdown, EmitEvent=EmitEvent, LogInfo=LogInfo,
                     RegisterEventHandler=RegisterEventHandler)
    subs = module("launch.substitutions", LaunchConfiguration=LaunchConfiguration,
                  PathJoinSubstitution=PathJoinSubstitution, TextSubstitution=TextSubstitution)
    events = module("launch.events", Shutdown=ShutdownEvent)
    handlers = module("launch.event_handlers", OnProcessExit=OnProcessExit)
    launch = module("launch", LaunchDescription=LaunchDescription, actions=actions,
                    substitutions=subs, events=events, event_handlers=handlers)
    ros_actions = module("launch_ros.actions", Node=RecordedNode)
    ros_subs = module("launch_ros.substitutions", FindPackageShare=FindPackageShare)
    ros_params = module("launch_ros.parameter_descriptions", ParameterValue=ParameterValue)
    launch_ros = module("launch_ros", actions=ros_actions, substitutions=ros_subs,
                        parameter_descriptions=ros_params)
    return {"launch": launch, "launch.actions": actions, "launch.substitutions": subs,
            "launch.events": events, "launch.event_handlers": handlers,
            "launch_ros": launch_ros, "launch_ros.actions": ros_actions,
            "launch_ros.substitutions": ros_subs,
            "launch_ros.parameter_descriptions": ros_params}


# --- what a launch file declares, resolved --------------------------------------------------


@dataclass
class NodeSpec:
    """One declared node, with every substitution resolved."""

    package: str
    executable: str
    executable_path: Path
    name: str | None
    namespace: str | None
    parameter_files: list[Path | dict[str, Any]]
    remappings: list[tuple[str, str]]
    arguments: list[str]
    ros_arguments: list[str]
    respawn: bool = False
    respawn_delay: float = 0.0
    respawn_max_retries: int = -1
    on_exit: list[Shutdown | LogInfo] = field(default_factory=list)
    sigterm_timeout: float = SIGTERM_TIMEOUT_S
    sigkill_timeout: float = SIGKILL_TIMEOUT_S

    @property
    def label(self) -> str:
        """What the runner calls it (its log file's name): the node name, else the exe."""
        return self.name or self.executable


@dataclass
class LaunchPlan:
    """A loaded launch file: every launch configuration (declared or not), the nodes in
    order, the LogInfo messages, and the environment it was resolved in."""

    arguments: dict[str, str]
    nodes: list[NodeSpec]
    declared: dict[str, DeclareLaunchArgument] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    environ: dict[str, str] = field(default_factory=dict)


def parse_launch_arguments(argv: list[str]) -> dict[str, str]:
    """`ros2 launch pkg file a:=b c:=d` arguments as ros2launch parses them: no name, or a
    name with nothing after its only `:=` (`board_ip:=`, a script's empty variable), is
    malformed there (ros2launch's api.parse_launch_arguments: it passed here, an audit)."""
    parsed: dict[str, str] = {}
    for arg in argv:
        name, sep, value = arg.partition(":=")
        if not sep or not name or (not value and arg.count(":=") == 1):
            raise LaunchError(f"malformed launch argument '{arg}', expected format "
                              "'<name>:=<value>'")
        parsed[name] = value
    return parsed


def package_prefix(package: str, environ: Mapping[str, str]) -> Path:
    """ament_index_python.get_package_prefix over environ's AMENT_PREFIX_PATH."""
    paths = [p for p in environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    if not paths:
        raise LaunchError("Environment variable 'AMENT_PREFIX_PATH' is not set or empty")
    existing = [p for p in paths if os.path.exists(p)]
    for prefix in existing:
        if (Path(prefix) / PACKAGE_MARKER / package).is_file():
            return Path(prefix)
    raise LaunchError(f"\"package '{package}' not found, searching: {existing}\"")


class _Resolver:
    def __init__(self, configs: dict[str, str], environ: Mapping[str, str]) -> None:
        self.configs = configs
        self.environ = environ

    def text(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, list | tuple):
            return "".join(self.text(v) for v in value)
        if isinstance(value, LaunchConfiguration):
            if value.name in self.configs:
                return self.configs[value.name]
            if value.default is not None:
                return self.text(value.default)
            raise LaunchError(f"launch configuration '{value.name}' does not exist")
        if isinstance(value, PathJoinSubstitution):
            return os.path.join(*(self.text(p) for p in value.parts))
        if isinstance(value, TextSubstitution):
            return value.text
        if isinstance(value, FindPackageShare):
            return str(package_prefix(value.package, self.environ) / "share" / value.package)
        raise LaunchError(f"harness: substitution {type(value).__name__} is not supported")

    def number(self, value: Any, default: float) -> float:
        if value is None:
            return default
        if isinstance(value, int | float):
            return float(value)
        return float(self.text(value))

    def condition(self, value: Any) -> bool:
        """launch's condition rule: true/1 or false/0, case-insensitive, else an error."""
        if isinstance(value, bool):
            return value
        text = self.text(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise LaunchError(f"invalid condition expression, expected one of [true, 1, false, 0] "
                          f"but got '{text}'")

    def parameter(self, name: str, value: Any) -> Any:
        """launch_ros's typing: literals pass (lists made uniform); substitutions are read
        as YAML: scalars typed, uniform lists kept, anything else a TypeError; a
        ParameterValue of value_type str is its text."""
        if isinstance(value, ParameterValue):
            if value.value_type is str:
                return self.text(value.value)
            value = value.value
        if isinstance(value, bool | int | float):
            return value
        if isinstance(value, list) and value and all(
                isinstance(v, bool | int | float | str) for v in value):
            return _uniform(value)
        text = self.text(value)
        if isinstance(value, str):
            return text
        if text == "":
            return text
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError:
            raise LaunchError(f"TypeError: unable to parse the value of parameter {name}: "
                              f"{text!r}") from None
        if isinstance(parsed, bool | int | float | str):
            return parsed
        if isinstance(parsed, list) and parsed and len({type(v) for v in parsed}) == 1 \
                and isinstance(parsed[0], bool | int | float | str):
            return parsed
        raise LaunchError(f"TypeError: allowed value types are bytes, bool, int, float, str, "
                          f"list of one of these; parameter {name} got {text!r}")


def _uniform(values: list[Any]) -> list[Any]:
    if all(isinstance(v, bool) for v in values):
        return values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    return [str(v) for v in values]


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameter dicts become dotted names (launch_ros normalize_parameter_dict)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _load_description(path: Path) -> LaunchDescription:
    fakes = _fake_modules()
    saved = {name: sys.modules.get(name) for name in fakes}
    try:
        sys.modules.update(fakes)
        spec = importlib.util.spec_from_file_location(
            f"_launch_{path.name.replace('.', '_')}", path)
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
    return description


def load_launch(path: str | os.PathLike, arguments: Mapping[str, str] | list[str] | None = None,
                environ: Mapping[str, str] | None = None) -> LaunchPlan:
    """Load the launch file at `path` with `arguments` (name -> value, or `name:=value`
    strings) in `environ` (default: this process's environment) and resolve it."""
    path = Path(path)
    env = dict(os.environ if environ is None else environ)
    given = (parse_launch_arguments(arguments) if isinstance(arguments, list)
             else dict(arguments or {}))
    description = _load_description(path)
    declared = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    for arg in declared.values():  # IncludeLaunchDescription checks these before anything
        if arg.default_value is None and arg.name not in given:
            raise LaunchError(f"Included launch description missing required argument "
                              f"'{arg.name}' (description: '{arg.description}'), given: "
                              f"[{', '.join(given)}]")
    configs = dict(given)  # every given argument is a launch configuration, declared or not
    resolver = _Resolver(configs, env)
    plan = LaunchPlan(configs, [], declared, environ=env)
    handlers: list[OnProcessExit] = []
    recorded: list[tuple[RecordedNode, NodeSpec]] = []
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            if entity.name not in configs:
                configs[entity.name] = resolver.text(entity.default_value)
            value = configs[entity.name]
            if entity.choices is not None and value not in entity.choices:
                raise LaunchError(f'Argument "{entity.name}" provided value "{value}" is not '
                                  f"valid. Valid options are: {entity.choices}")
        elif isinstance(entity, RecordedNode):
            spec = _node_spec(entity, resolver)
            recorded.append((entity, spec))
            plan.nodes.append(spec)
        elif isinstance(entity, LogInfo):
            plan.messages.append(resolver.text(entity.msg))
        elif isinstance(entity, RegisterEventHandler):
            handlers.append(entity.handler)
        else:
            raise LaunchError(f"harness: launch entity {type(entity).__name__} is not "
                              "supported")
    for handler in handlers:
        for node, spec in recorded:
            if node is handler.target:
                spec.on_exit.extend(_actions(handler.on_exit))
    return plan


def _node_spec(node: RecordedNode, r: _Resolver) -> NodeSpec:
    package = r.text(node.package)
    executable = r.text(node.executable)
    exe_path = package_prefix(package, r.environ) / "lib" / package / executable
    if not exe_path.is_file():
        raise LaunchError(f"executable '{executable}' not found on the libexec directory "
                          f"'{exe_path.parent}'")
    params: list[Path | dict[str, Any]] = []
    for entry in node.parameters:
        if isinstance(entry, Mapping):
            params.append({k: r.parameter(k, v) for k, v in _flatten(entry).items()})
            continue
        file = Path(r.text(entry))
        if not file.is_file():
            warnings.warn(f"Parameter file path is not a file: {file}", stacklevel=2)
            continue
        params.append(file)
    return NodeSpec(
        package=package, executable=executable, executable_path=exe_path,
        name=None if node.name is None else r.text(node.name),
        namespace=_checked_namespace(None if node.namespace is None
                                     else r.text(node.namespace)),
        parameter_files=params,
        remappings=[(r.text(a), r.text(b)) for a, b in node.remappings],
        arguments=[r.text(a) for a in node.arguments],
        ros_arguments=[r.text(a) for a in node.ros_arguments],
        respawn=r.condition(node.respawn),
        respawn_delay=r.number(node.respawn_delay, 0.0),
        respawn_max_retries=int(node.respawn_max_retries),
        on_exit=list(node.on_exit),
        sigterm_timeout=r.number(node.sigterm_timeout if node.sigterm_timeout is not None
                                 else r.configs.get("sigterm_timeout"), SIGTERM_TIMEOUT_S),
        sigkill_timeout=r.number(node.sigkill_timeout if node.sigkill_timeout is not None
                                 else r.configs.get("sigkill_timeout"), SIGKILL_TIMEOUT_S))


def _absolute(namespace: str) -> str:
    """launch_ros's make_namespace_absolute: a leading '/' added where there is none."""
    return namespace if namespace.startswith("/") else "/" + namespace


def _checked_namespace(namespace: str | None) -> str | None:
    """The node's namespace, checked as launch_ros checks it before the process starts
    (rclpy's validate_namespace on the absolute one: repeated or trailing '/', characters
    other than letters, digits and '_'); the harness made '//robot1' '/robot1' (an audit)."""
    if namespace is None:
        return None
    from rclpy.exceptions import InvalidNamespaceException
    from rclpy.validate_namespace import validate_namespace

    try:
        validate_namespace(_absolute(namespace))
    except InvalidNamespaceException as exc:
        raise LaunchError(str(exc).splitlines()[0].rstrip(":")) from None
    return namespace


def node_command(spec: NodeSpec, param_dir: Path,
                 executable_override: list[str] | None = None) -> list[str]:
    """The command line that runs `spec`; parameter dicts are written under `param_dir`."""
    cmd = list(executable_override) if executable_override is not None \
        else [str(spec.executable_path)]
    cmd += spec.arguments
    if spec.ros_arguments:
        cmd += ["--ros-args", *spec.ros_arguments]
    cmd += ["--ros-args"]
    if spec.name:
        cmd += ["-r", f"__node:={spec.name}"]
    if spec.namespace is not None:
        cmd += ["-r", f"__ns:={_absolute(spec.namespace)}"]
    key = "/**"
    if spec.name and spec.namespace is not None:
        key = f"{_absolute(spec.namespace).rstrip('/')}/{spec.name}"
    for k, entry in enumerate(spec.parameter_files):
        if isinstance(entry, dict):
            file = param_dir / f"launch_params_{spec.label}_{k}.yaml"
            file.write_text(yaml.dump({key: {"ros__parameters": entry}},
                                      default_flow_style=False))
            entry = file
        cmd += ["--params-file", str(entry)]
    for old, new in spec.remappings:
        cmd += ["-r", f"{old}:={new}"]
    return cmd
