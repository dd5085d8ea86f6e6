"""Parameter helpers: descriptors with ranges and choices, declared read-only by default, and
a guard that refuses every change at run time (`use_sim_time` included)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.node import Node


def describe(text: str, *, read_only: bool = True, int_range: tuple[int, int] | None = None,
             float_range: tuple[float, float] | None = None,
             choices: Sequence[str] | None = None) -> ParameterDescriptor:
    """A parameter descriptor: description, read-only flag and an optional range or set of
    choices (stated in `additional_constraints`; `check_choice` enforces it)."""
    desc = ParameterDescriptor(description=text, read_only=read_only)
    if choices is not None:
        desc.additional_constraints = f"one of: {', '.join(choices)}"
    if int_range is not None:
        desc.integer_range = [IntegerRange(from_value=int_range[0], to_value=int_range[1],
                                           step=1)]
    if float_range is not None:
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(float_range[0]), to_value=float(float_range[1]), step=0.0)]
    return desc


def declare(node: Node, name: str, default: Any, text: str, **kwargs: Any) -> Any:
    """Declare a parameter with a descriptor and return its value (override or default).
    NeuroqError for a value rclpy reads as no value at all (`-p "artifact:= "`, `:=[]`,
    `null` in a params file: YAML's null, which rclpy accepts for any type and which was an
    AttributeError traceback in the policy node, an outsider)."""
    from neuroq.deploy.errors import NeuroqError

    if isinstance(default, float):
        _integer_as_double(node, name)
    value = node.declare_parameter(name, default, describe(text, **kwargs)).value
    if value is None and default is not None:
        example = f", e.g. {name}:={default}" if default != "" else ", or leave it out"
        kind = "a string" if isinstance(default, str) else f"a {type(default).__name__}"
        raise NeuroqError(f"parameter {name!r} was given no value (null, an empty list or "
                          f"only spaces: YAML's null): give it {kind}{example}")
    return value


def _integer_as_double(node: Node, name: str) -> None:
    """A whole number given for a parameter of real numbers (`control_rate_hz:=20`) taken as
    that number: rclpy refused it ("expecting type 'DOUBLE'"), and `ros2 launch` reads every
    launch argument as YAML, so the docs' own `ros2 launch neuroq nav_sim.launch.py
    control_rate_hz:=20` stopped the sim robot, and with it the launch, which still exited 0
    (an audit against launch_ros). Only an integer is changed; a text or a list is refused by
    rclpy as before."""
    from rclpy.parameter import Parameter

    overrides = getattr(node, "_parameter_overrides", None)  # rclpy keeps no public view
    given = overrides.get(name) if isinstance(overrides, dict) else None
    if given is not None and given.type_ == Parameter.Type.INTEGER:
        overrides[name] = Parameter(name, Parameter.Type.DOUBLE, float(given.value))


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """Return `value` if it is one of `choices`, else raise ValueError naming them."""
    if value not in choices:
        raise ValueError(f"parameter {name} must be one of {list(choices)}, got {value!r}")
    return value


def refuse_runtime_changes(node: Node) -> None:
    """Refuse every later change to a parameter `node` already has; declarations pass.

    Our own parameters are declared read-only, but rclpy declares `use_sim_time` writable on
    every node: set to true at run time with no /clock publisher, the ROS clock stops, and
    with it every timer on that clock (the watchdog and diagnostics stopped in a test by an
    integrator). Set it at start-up (`-p use_sim_time:=true`, a launch file, a params file);
    a change at run time gets `successful = False` and this reason.
    """

    def guard(params: list[Any]) -> SetParametersResult:
        changed = [p.name for p in params if node.has_parameter(p.name)]
        if changed:
            return SetParametersResult(
                successful=False,
                reason=f"parameters of {node.get_name()} are fixed at start-up, read-only "
                       f"while it runs: {', '.join(ascii(n) for n in changed)}")
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(guard)


def where_to_set(node: Node) -> str:
    """Where a parameter of `node` is set, for the messages of an empty one: a params file's
    section must match the node's full name (an outsider named it after the executable,
    and a fleet user left out the namespace: neither file was applied, without a word)."""
    name, full = node.get_name(), node.get_fully_qualified_name()
    root = node.get_namespace() == "/"
    return (f"in a params file under '{name if root else full}:', '/**/{name}:' or '/**:', "
            "then 'ros__parameters:'"
            + ("" if root else f" ('{name}:' applies in the root namespace only)"))


def empty_artifact(node: Node, example: str = "cartpole") -> str:
    """The message for an empty `artifact` parameter, with where it is set (`where_to_set`).
    example: a shipped artifact this node runs (the event node's is dvs_pan_tracking: it
    suggested cartpole, which it then refused)."""
    from neuroq.ros_nodes.process import run_argv, unapplied_sections

    # a section of a params file that was meant for this node and not applied, named (an
    # outsider's 'neuroq_event_node:' section held the artifact: only "is empty" was said)
    unapplied = "".join(f"; {text}" for _, _, text in unapplied_sections(node, run_argv()))
    return (f"parameter 'artifact' is empty: set it to a deploy artifact (a folder, or a "
            f"shipped one by name: {example}): -p artifact:=..., or {where_to_set(node)}"
            f"{unapplied}")


def section_keys(name: str) -> tuple[str, ...]:
    """The params-file section names that apply to a node called `name` in any namespace
    and that the shipped files use (`/**/name`), or to one in the root namespace only
    (`name`, `/name`): rcl matches a section against the node's full name."""
    return (f"/**/{name}", name, f"/{name}")


def node_section(doc: Any, name: str) -> Any:
    """The `ros__parameters` of node `name`'s section in a parsed params file (one of
    `section_keys`); KeyError if it has none, TypeError if `doc` is not a mapping."""
    for key in section_keys(name):
        if key in doc:
            return doc[key]["ros__parameters"]
    raise KeyError(name)


def warn_artifact(node: Node, manifest: Any) -> None:
    """Log a warning for each of `neuroq.deploy.artifact.artifact_warnings` of the node's
    artifact (a manifest without its hash; an export gate failed, exported with --force)."""
    from neuroq.deploy.artifact import artifact_warnings

    for line in artifact_warnings(manifest) if isinstance(manifest, dict) else ():
        node.get_logger().warning(line)
