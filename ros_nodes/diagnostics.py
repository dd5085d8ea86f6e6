"""One `diagnostic_msgs/DiagnosticArray` per report, one status named after the node."""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

LEVEL_OK = DiagnosticStatus.OK
LEVEL_WARN = DiagnosticStatus.WARN
LEVEL_ERROR = DiagnosticStatus.ERROR


def diagnostic_array(node: Node, level: bytes, message: str, hardware_id: str,
                     values: dict[str, Any]) -> DiagnosticArray:
    """One DiagnosticStatus named after the node, with `values` as key/value strings."""
    status = DiagnosticStatus(
        level=level, name=f"neuroq: {node.get_fully_qualified_name()}", message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=_fmt(v)) for k, v in values.items()])
    out = DiagnosticArray(status=[status])
    out.header.stamp = node.get_clock().now().to_msg()
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
