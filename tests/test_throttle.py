"""ThrottledLog: at most one line a period, and the next line counts what it suppressed."""

import time

import pytest

from neuroq.ros_nodes import throttle
from neuroq.ros_nodes.throttle import ThrottledLog


class Logger:
    def __init__(self):
        self.lines = []

    def warning(self, text):
        self.lines.append(("W", text))

    def info(self, text):
        self.lines.append(("I", text))


def test_suppressed_lines_are_counted_in_the_next_line(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: now[0])
    logger = Logger()
    log = ThrottledLog(logger, period_s=1.0)
    log.warning("a")
    for k in range(5):
        now[0] += 0.1
        log.warning(f"b{k}")
    now[0] += 1.0
    log.info("c")
    now[0] += 1.5
    log.warning("d")
    assert logger.lines == [("W", "a"),
                            ("I", "c (5 more lines suppressed since the last one)"),
                            ("W", "d")]
    assert log.suppressed == 0


def test_a_burst_that_ended_is_counted_by_flush(monkeypatch):
    """An outsider's 10 corrupt packets left one line, "corrupt_packets=3", and nothing
    after: the diagnostics timers flush, once the period has passed, the newest suppressed
    line at its level with the count. The flush does not count as a line (a review: it hid
    the next warning for a second)."""
    now = [100.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: now[0])
    logger = Logger()
    log = ThrottledLog(logger, period_s=1.0)
    log.flush()  # nothing suppressed: nothing said
    log.warning("a")
    for k in range(8):
        now[0] += 0.01
        log.warning(f"b{k}")
    now[0] += 0.01
    log.info("released")  # the newest suppressed, an info line
    log.flush()  # within the period: not yet
    assert logger.lines == [("W", "a")]
    now[0] += 1.0
    log.flush()
    log.flush()  # said once
    # with how long ago the line came: its stamp is the flush's (an outsider read a trip
    # 1.5 s late)
    assert logger.lines == [("W", "a"), ("I", "released (the newest of 9 lines suppressed "
                                               "since the last one shown; it came 1.00 s ago)")]
    assert log.suppressed == 0
    now[0] += 0.1  # a new line right after the flush is logged, not suppressed
    log.warning("c")
    assert logger.lines[-1] == ("W", "c") and log.suppressed == 0


def test_flush_logs_each_severity_from_its_own_call_site():
    """rclpy's logger refuses a call site whose severity changes ("Logger severity cannot be
    changed between calls"): flushing an info line, then a warning, ended the actuator in a
    fatal error in CI. With rclpy's own logger here."""
    rclpy_logging = pytest.importorskip("rclpy.logging")
    log = ThrottledLog(rclpy_logging.get_logger("neuroq_throttle_test"), period_s=0.01)
    for level in ("info", "warning", "info"):
        log.warning("shown")
        getattr(log, level)("suppressed")
        time.sleep(0.02)
        log.flush()  # raised ValueError on the second round
        assert log.suppressed == 0
