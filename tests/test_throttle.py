"""ThrottledLog: at most one line a period, and the next line counts what it suppressed."""

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
