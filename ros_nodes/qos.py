"""Topic names, QoS profiles, stamp helpers and the raw take shared by the neuroq nodes.

QoS, chosen for a control loop:
- Sensor streams (`joint_states`): best effort, keep last `depth` (SENSOR_QUEUE_DEPTH, 1,
  for a sim robot's publishers; the policy node's subscriptions keep its
  `sensor_queue_depth`, 10 by default). A late reading is worth nothing once a newer one
  exists; retransmitting it would only add delay.
- Commands (`action`, `joint_commands`, `cmd_vel`): reliable, keep last 10. Each command
  answers one reading; losing one silently would stall or jolt the loop.
- `episode_return`: reliable, transient local, keep last 10: infrequent events that a
  monitor started late still wants (it receives the last 10 on joining).
- `/diagnostics`: reliable, keep last 10.
"""

from __future__ import annotations

from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from neuroq.deploy.interface_spec import (  # noqa: F401 - the nodes import them from here
    TOPIC_ACTION,
    TOPIC_DIAGNOSTICS,
    TOPIC_EPISODE_RETURN,
    TOPIC_EVENTS,
)

# Topic names, relative so that namespaces and remappings apply (the nodes' own, and
# /diagnostics, from neuroq.deploy.interface_spec: its interface check refuses them).
TOPIC_JOINT_STATES = "joint_states"
TOPIC_JOINT_COMMANDS = "joint_commands"
TOPIC_CMD_VEL = "cmd_vel"

MATCH_SETTLE_S = 1.0
"""How long a publisher that must not lose its first messages waits once it sees a
subscription (s): DDS matches a writer with a reader on the writer's side first, and
best-effort data sent before the reader's side has matched the writer is lost. An
outsider's `neuroq replay` into a running event node lost its first 764 packets in 3 of
11 runs, with nothing said on either side; `run_closed_loop`'s watcher missed 49 of a short
run's 96 readings (stop 40)."""
COMMAND_QUEUE_DEPTH = 10
SENSOR_QUEUE_DEPTH = 1


def sensor_qos(depth: int = SENSOR_QUEUE_DEPTH) -> QoSProfile:
    """Best effort, keep last `depth`: for sensor streams."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def command_qos(depth: int = COMMAND_QUEUE_DEPTH) -> QoSProfile:
    """Reliable, keep last `depth`: for commands, returns and diagnostics."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos(depth: int = COMMAND_QUEUE_DEPTH) -> QoSProfile:
    """Reliable, transient local, keep last `depth`: late joiners get the last `depth`."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def stamp_ns(stamp: Any) -> int:
    """A builtin_interfaces/Time as integer nanoseconds (the key that pairs messages)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def set_stamp(stamp: Any, ns: int) -> None:
    """Write integer nanoseconds into a builtin_interfaces/Time in place (no new message)."""
    stamp.sec, stamp.nanosec = divmod(int(ns), 1_000_000_000)


def take_queued(sub: Any, msg_type: Any, limit: int,
                received_ns: list[int] | None = None) -> tuple[list[bytes], Exception | None]:
    """Up to `limit` messages already queued in the raw subscription `sub`, oldest first,
    without waiting (rclpy's take, as its executors call it), and the error that stopped
    the taking, if any (the messages taken before it are kept). `received_ns`: a list to
    which each message's reception time is appended (the middleware's
    `received_timestamp`, ns on the system clock; 0 where it gives none)."""
    taken: list[bytes] = []
    handle = sub.handle
    try:
        while len(taken) < limit:
            with handle:
                got = handle.take_message(msg_type, True)
            if got is None:
                break
            taken.append(got[0])
            if received_ns is not None:
                received_ns.append(int(got[1].get("received_timestamp") or 0))
    except Exception as exc:  # noqa: BLE001 - rclpy/rmw internals: the caller decides
        return taken, exc
    return taken, None
