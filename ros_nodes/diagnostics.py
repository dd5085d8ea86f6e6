"""One `diagnostic_msgs/DiagnosticArray` per report, one status named after the node; topics
that more than one node publishes on where one is expected (`Crowding`); peers whose QoS
DDS finds incompatible with a node's endpoint (`QosMismatches`)."""

from __future__ import annotations

from collections import deque
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


class RecentCount:
    """How much a growing total (a counter) rose within the last `hold_s` seconds: the
    diagnostics WARN while it is above 0 and say it, then go back to OK (a counter's whole
    total kept an outsider's soak WARN for good after one lost command). `update(total,
    now)` with the counter's total and the time (monotonic s) returns that rise."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self._rises: deque[tuple[float, int]] = deque()
        self._total = 0

    def update(self, total: int, now: float) -> int:
        if total > self._total:
            self._rises.append((now, total - self._total))
        self._total = max(self._total, total)
        while self._rises and now - self._rises[0][0] >= self.hold_s:
            self._rises.popleft()
        return sum(n for _, n in self._rises)


class Crowding:
    """Topics where one publisher is expected and more are seen (two stacks in one
    namespace, a remap onto another robot's topic): an outsider's fleet drove one robot
    from two policies, and one from the other robot's sensors after its own had died, with
    every status OK. `check` once per diagnostics period logs a warning once per rise;
    `crowded` maps each such topic to its publishers, for the diagnostics (WARN)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self.crowded: dict[str, int] = {}

    def check(self, topic: str, what: str, msg_type: str | None = None) -> None:
        """Count the publishers on `topic` (of `msg_type` only, "sensor_msgs/LaserScan",
        where given); `what` names them in the warning ("policies publish actions")."""
        publishers = count_sources(self._node, topic, msg_type)
        if publishers <= 1:
            self.crowded.pop(topic, None)
            return
        if publishers > self.crowded.get(topic, 1):
            self._node.get_logger().warning(
                f"{publishers} {what} on {self._node.resolve_topic_name(topic)!r}: expected "
                "one (two stacks in one namespace, or a remap onto another robot's topic? A "
                "publisher killed in the last seconds is counted too until DDS drops it, "
                "after its lease: up to 8 s for neuroq's nodes, 20 s for a node on Fast "
                "DDS's defaults: docs/ros.md)")
        self.crowded[topic] = publishers

    def status(self, checks: tuple[tuple[str, ...], ...], values: dict[str, Any],
               level: bytes, message: str) -> tuple[bytes, str]:
        """`check` each (topic, what[, msg_type]) of `checks`; where any is crowded, `values` gets
        `crowded_topics` and an OK status becomes WARN naming them. Returns (level,
        message), unchanged otherwise (a worse status stays)."""
        for check in checks:
            self.check(*check)
        if not self.crowded:
            return level, message
        values["crowded_topics"] = self.describe()
        if level == LEVEL_OK:
            return LEVEL_WARN, "more than one publisher: " + self.describe()
        return level, message

    def describe(self) -> str:
        """"topic: publishers, ..." of the crowded topics (resolved names)."""
        return ", ".join(f"{self._node.resolve_topic_name(t)}: {n}"
                         for t, n in sorted(self.crowded.items()))


def count_sources(node: Node, topic: str, msg_type: str | None = None,
                  subscription_qos: Any = None) -> int:
    """Publishers on `topic` (of `msg_type` only, "sensor_msgs/Joy", where given; with
    `subscription_qos`, only those whose QoS can deliver to such a subscription), from the
    node's view of the graph."""
    # count_publishers applies the namespace but not remaps: the resolved name does
    name = node.resolve_topic_name(topic)
    if msg_type is None:
        return node.count_publishers(name)
    # a publisher of another type is no second source of these messages: it was warned as
    # one ("2 nodes publish the trigger readings") before the line that names its type (an
    # outsider); nor is one whose QoS never matches (a best-effort publisher of actions
    # stopped an actuator as "two policies": a recheck)
    want = type_name(msg_type)
    return sum(type_name(info.topic_type) == want
               and (subscription_qos is None or _delivers(info.qos_profile, subscription_qos))
               for info in node.get_publishers_info_by_topic(name))


def _delivers(publisher_qos: Any, subscription_qos: Any) -> bool:
    """Whether DDS would match a publisher of `publisher_qos` with a subscription of
    `subscription_qos` (rclpy's check; a warning is a match)."""
    from rclpy.qos import QoSCompatibility, qos_check_compatible

    return qos_check_compatible(publisher_qos, subscription_qos)[0] != QoSCompatibility.ERROR


def foreign_publishers(node: Node, topic: str, msg_type: str) -> list[str]:
    """The message types, other than `msg_type` ("sensor_msgs/JointState"), that publishers
    on `topic` use. DDS never matches them with the node's subscription, so nothing they
    send arrives and nothing else says why (an outsider's Float64MultiArray on the
    JointState trigger topic: "no fresh readings", 841 safe commands, no line)."""
    return _other_types(node.get_publishers_info_by_topic(node.resolve_topic_name(topic)),
                        msg_type)


def foreign_subscribers(node: Node, topic: str, msg_type: str) -> list[str]:
    """The message types, other than `msg_type`, that subscribers of `topic` take: DDS never
    matches them with the node's publisher, so they get nothing it sends (an outsider's
    motor driver subscribing JointState to Float64MultiArray commands got no command, not
    even the safe one, under the actuator's OK)."""
    return _other_types(node.get_subscriptions_info_by_topic(node.resolve_topic_name(topic)),
                        msg_type)


def _other_types(infos: Any, msg_type: str) -> list[str]:
    """The endpoints' message types other than `msg_type` (either naming form)."""
    want = type_name(msg_type)
    return sorted({i.topic_type for i in infos if type_name(i.topic_type) != want})


def type_name(msg_type: str) -> str:
    """A message type as the interface files name it ("sensor_msgs/JointState"), from the
    graph's form too ("sensor_msgs/msg/JointState")."""
    return msg_type.replace("/msg/", "/")


def qos_summary(qos: Any) -> str:
    """"reliable, volatile" of a QoSProfile (and its deadline where one is set)."""
    text = f"{qos.reliability.name.lower()}, {qos.durability.name.lower()}"
    deadline = qos.deadline.nanoseconds if qos.deadline is not None else 0
    return text + (f", deadline {deadline / 1e9:g} s" if 0 < deadline < 2**62 else "")


class QosMismatches:
    """Peers on a node's topics whose QoS DDS finds incompatible with the node's endpoint:
    they never match, and nothing flows between them. An outsider's motor driver whose
    subscription asked for transient-local durability (or a 50 ms deadline) got no command,
    not even the safe one, and a goal published best effort never reached the policy's
    reliable subscription, while the diagnostics said OK and rclpy logged one generic line.

    `create_publisher` / `create_subscription` make the node's endpoint with the event
    callbacks that hear of them (`what`: "command", ...). Each incompatibility DDS reports
    is logged (the resolved topic, the policy, this node's QoS, what to change) and held
    until every peer in the graph on that topic matches the endpoint again (`refresh`, each
    diagnostics period). `describe` names the topics held, for the diagnostics
    (`qos_mismatches`, WARN)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._endpoints: dict[str, tuple[Any, bool]] = {}  # topic -> (endpoint, is_publisher)
        self.held: dict[str, str] = {}  # resolved topic -> "DURABILITY: a subscriber ..."

    def create_publisher(self, msg_type: Any, topic: str, qos: Any, what: str) -> Any:
        """The node's publisher on `topic`, its incompatible-QoS events heard here."""
        from rclpy.event_handler import PublisherEventCallbacks

        pub = self._node.create_publisher(msg_type, topic, qos, event_callbacks=(
            PublisherEventCallbacks(
                incompatible_qos=lambda event: self._on(topic, qos, what, event, True))))
        self._endpoints[topic] = (pub, True)
        return pub

    def create_subscription(self, msg_type: Any, topic: str, callback: Any, qos: Any,
                            what: str, **kwargs: Any) -> Any:
        """The node's subscription to `topic` (`kwargs`: raw, ...), its incompatible-QoS
        events heard here."""
        from rclpy.event_handler import SubscriptionEventCallbacks

        sub = self._node.create_subscription(msg_type, topic, callback, qos, event_callbacks=(
            SubscriptionEventCallbacks(
                incompatible_qos=lambda event: self._on(topic, qos, what, event, False))),
            **kwargs)
        self._endpoints[topic] = (sub, False)
        return sub

    def _on(self, topic: str, qos: Any, what: str, event: Any, is_publisher: bool) -> None:
        entry = self._endpoints.get(topic)
        name = entry[0].topic_name if entry is not None else self._node.resolve_topic_name(
            topic)
        policy = getattr(event.last_policy_kind, "name", str(event.last_policy_kind))
        policy = policy.removeprefix("RMW_QOS_POLICY_")
        if is_publisher:
            text = (f"{policy}: a subscriber asks for more than this node's {what} publisher "
                    f"offers ({qos_summary(qos)}), so it gets none of them")
            fix = ("subscribe with reliable or best effort, volatile durability and no "
                   "deadline" if qos.reliability.name == "RELIABLE" else
                   "subscribe best effort, volatile, no deadline")
        else:
            text = (f"{policy}: a publisher offers less than this node's {what} subscription "
                    f"asks for ({qos_summary(qos)}), so none of its messages arrive here")
            fix = ("publish reliable, with volatile or transient-local durability"
                   if qos.reliability.name == "RELIABLE" else
                   "publish reliable or best effort, volatile or transient local")
        if self.held.get(name) != text:
            self._node.get_logger().warning(f"QoS not matched on {name!r}: {text}; DDS does "
                                            f"not connect them: {fix}")
        self.held[name] = text

    def refresh(self) -> None:
        """Drop the topics where every peer in the graph now matches the endpoint."""
        for endpoint, is_publisher in self._endpoints.values():
            name = endpoint.topic_name
            if name not in self.held:
                continue
            if is_publisher:
                unmatched = self._node.count_subscribers(name) - endpoint.get_subscription_count()
            else:
                unmatched = self._node.count_publishers(name) - endpoint.get_publisher_count()
            if unmatched <= 0:
                del self.held[name]

    def describe(self) -> str:
        """"topic: POLICY: ..." of the topics held."""
        return "; ".join(f"{t}: {text}" for t, text in sorted(self.held.items()))

    def status(self, values: dict[str, Any], level: bytes, message: str) -> tuple[bytes, str]:
        """`refresh`; where a topic is held, `values` gets `qos_mismatches`, and an OK
        status becomes WARN naming it (a worse status stays, the topic added to it)."""
        self.refresh()
        if not self.held:
            return level, message
        values["qos_mismatches"] = self.describe()
        text = "QoS not matched on " + ", ".join(sorted(self.held))
        if level == LEVEL_OK:
            return LEVEL_WARN, "QoS not matched on " + self.describe()
        return level, f"{message}; {text}"
