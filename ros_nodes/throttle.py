"""Throttled logging cheap enough for a control period or a flood of bad input."""

from __future__ import annotations

import time
from typing import Any

#: At most one throttled log line per this many seconds.
LOG_THROTTLE_S = 1.0


class ThrottledLog:
    """At most one line per `period_s` from a node's logger.

    rclpy's own throttle inspects the caller's frames on every call (about 0.5 ms): too slow
    for something that can happen every control period or under a flood of bad input, so
    the throttling happens here, before rclpy is called.
    """

    def __init__(self, logger: Any, period_s: float = LOG_THROTTLE_S) -> None:
        self._logger = logger
        self._period_s = period_s
        self._last_s = -period_s

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last_s < self._period_s:
            return False
        self._last_s = now
        return True

    def warning(self, text: str) -> None:
        if self._due():
            self._logger.warning(text)

    def info(self, text: str) -> None:
        if self._due():
            self._logger.info(text)
