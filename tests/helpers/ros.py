"""Helpers for the ROS tests: an rclpy context per test, nodes spun in a thread, a probe.

DDS stays on loopback (tests/conftest.py sets the environment before rclpy loads). The event
suites spin their in-process nodes on a domain of their own, EVENT_DOMAIN_ID.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


@contextmanager
def spinning(*make_nodes: Callable[[Context], Node],
             domain_id: int | None = None) -> Iterator[list[Node]]:
    """Create nodes in a fresh context (on `domain_id` if given, else the environment's),
    spin them in a thread, clean up afterwards."""
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    executor = SingleThreadedExecutor(context=context)
    nodes = [make(context) for make in make_nodes]
    for node in nodes:
        executor.add_node(node)

    def spin() -> None:
        try:
            executor.spin()
        except ExternalShutdownException:
            pass

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield nodes
    finally:
        executor.shutdown(timeout_sec=2.0)
        # spin() returns once the executor is shut down; destroying a node while its
        # callback still runs in the thread raises InvalidHandle there
        thread.join(timeout=5.0)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def wait_until(condition: Callable[[], Any], timeout_s: float, step_s: float = 0.01) -> bool:
    """Poll `condition` until it holds or `timeout_s` passes; returns whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return bool(condition())


class Probe(Node):
    """Records every message on the topics it is told to watch, with arrival times."""

    def __init__(self, context: Context, name: str = "test_probe") -> None:
        super().__init__(name, context=context)
        self.received: dict[str, list[tuple[float, Any]]] = {}
        self._lock = threading.Lock()

    def watch(self, msg_type: Any, topic: str, qos: Any) -> None:
        self.received[topic] = []

        def record(msg: Any) -> None:
            with self._lock:
                self.received[topic].append((time.monotonic(), msg))

        self.create_subscription(msg_type, topic, record, qos)

    def messages(self, topic: str) -> list[tuple[float, Any]]:
        with self._lock:
            return list(self.received[topic])


def watching(msg_type: Any, topic: str, qos: Any) -> Callable[[Context], Probe]:
    """A `spinning` factory of a Probe that watches `topic`."""
    def make(ctx: Context) -> Probe:
        probe = Probe(ctx)
        probe.watch(msg_type, topic, qos)
        return probe

    return make


#: the event suites' DDS domain (loopback only): half the id range away from the run's own
EVENT_DOMAIN_ID = (int(os.environ.get("ROS_DOMAIN_ID", "0")) + 51) % 102


def spinning_on_event_domain(*make_nodes: Callable[[Context], Node]):
    """`spinning` on EVENT_DOMAIN_ID."""
    return spinning(*make_nodes, domain_id=EVENT_DOMAIN_ID)
