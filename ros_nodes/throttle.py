"""Throttled logging cheap enough for a control period or a flood of bad input."""

from __future__ import annotations

import time
from typing import Any

#: At most one throttled log line per this many seconds.
LOG_THROTTLE_S = 1.0


class ThrottledLog:
    """At most one line per `period_s` from a node's logger; a line that follows suppressed
    ones says how many were suppressed since the last line, so that a flood is not mistaken
    for one event.

    rclpy's own throttle inspects the caller's frames on every call (about 0.5 ms): too slow
    for something that can happen every control period or under a flood of bad input, so
    the throttling happens here, before rclpy is called.
    """

    def __init__(self, logger: Any, period_s: float = LOG_THROTTLE_S) -> None:
        self._logger = logger
        self._period_s = period_s
        self._last_s = -period_s
        self.suppressed = 0  # lines not logged since the last one that was
        self._newest: tuple[str, str] = ("warning", "")  # the newest suppressed: level, text
        self._newest_s = 0.0  # when it came (monotonic)

    def _due(self, text: str, level: str) -> str | None:
        now = time.monotonic()
        if now - self._last_s < self._period_s:
            self.suppressed += 1
            self._newest, self._newest_s = (level, text), now
            return None
        self._last_s = now
        if self.suppressed:
            text += f" ({self.suppressed} more lines suppressed since the last one)"
            self.suppressed = 0
        return text

    def flush(self) -> None:
        """Once `period_s` has passed since the last line, log the newest suppressed line,
        at its level, with how many were suppressed (for the nodes' diagnostics timers): a
        burst that ended left only its first line, e.g. "corrupt_packets=3" for 10 corrupt
        packets (an outsider). The throttle's clock is left alone: a line after the flush
        is logged as it would have been (a review: a flush that counted as a line hid the
        next warning for a second). The line says how long ago it came: its log stamp is the
        flush's (an outsider read a trip 1.5 s late from the actuator's log)."""
        now = time.monotonic()
        if self.suppressed and now - self._last_s >= self._period_s:
            level, text = self._newest
            n, self.suppressed = self.suppressed, 0
            line = (f"{text} (the newest of {n} lines suppressed since the last one shown; "
                    f"it came {now - self._newest_s:.2f} s ago)")
            # one call site per severity: rclpy refuses a call site whose severity changes
            # ("Logger severity cannot be changed between calls", CI: the actuator's
            # watchdog log flushed a release (info), then a trip (warning), and the node
            # ended in a fatal error)
            if level == "info":
                self._logger.info(line)
            else:
                self._logger.warning(line)

    def warning(self, text: str) -> None:
        line = self._due(text, "warning")
        if line is not None:
            self._logger.warning(line)

    def info(self, text: str) -> None:
        line = self._due(text, "info")
        if line is not None:
            self._logger.info(line)
