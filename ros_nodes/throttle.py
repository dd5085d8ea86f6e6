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

    def _due(self, text: str) -> str | None:
        now = time.monotonic()
        if now - self._last_s < self._period_s:
            self.suppressed += 1
            return None
        self._last_s = now
        if self.suppressed:
            text += f" ({self.suppressed} more lines suppressed since the last one)"
            self.suppressed = 0
        return text

    def flush(self) -> None:
        """Say how many lines were suppressed, if any, once `period_s` has passed since the
        last line (for the nodes' diagnostics timers): a burst that ended left only its
        first line, e.g. "corrupt_packets=3" for 10 corrupt packets (an outsider)."""
        now = time.monotonic()
        if self.suppressed and now - self._last_s >= self._period_s:
            self._last_s = now
            self._logger.warning(f"{self.suppressed} more lines like the last suppressed "
                                 "since it (the diagnostics count every case)")
            self.suppressed = 0

    def warning(self, text: str) -> None:
        line = self._due(text)
        if line is not None:
            self._logger.warning(line)

    def info(self, text: str) -> None:
        line = self._due(text)
        if line is not None:
            self._logger.info(line)
