"""Stopping node processes started with subprocess (no rclpy here: safe to import anywhere).

`stop_processes` signals every process still running, then waits for all of them against
one deadline and kills whatever is left, so a stuck node costs at most the deadline plus a
kill, never a hang.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Mapping

#: Seconds all processes together get to exit after the signal before they are killed.
STOP_TIMEOUT_S = 5.0


def stop_processes(procs: Mapping[str, subprocess.Popen], sig: int = signal.SIGINT,
                   timeout_s: float = STOP_TIMEOUT_S) -> dict[str, int | None]:
    """Send `sig` to each running process, wait up to `timeout_s` in all, kill the rest.

    Returns each process's exit status (negative: ended by that signal number).
    """
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(sig)
    deadline = time.monotonic() + timeout_s
    codes: dict[str, int | None] = {}
    for name, p in procs.items():
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=timeout_s)
        codes[name] = p.returncode
    return codes
