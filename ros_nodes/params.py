"""Parameter helpers: descriptors with ranges and choices, declared read-only by default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
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
    """Declare a parameter with a descriptor and return its value (override or default)."""
    return node.declare_parameter(name, default, describe(text, **kwargs)).value


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """Return `value` if it is one of `choices`, else raise ValueError naming them."""
    if value not in choices:
        raise ValueError(f"parameter {name} must be one of {list(choices)}, got {value!r}")
    return value
