"""Run a loaded launch plan's nodes as real launch runs them: processes, on_exit, respawn,
shutdown escalation, and the launch ending when nothing is left to run.

`LaunchedNodes(plan, log_dir)` is a context manager. On entry it starts every node of the
plan (tests.helpers.launch_harness) in order, with the plan's environment and this process's
working directory, as launch does. A supervisor thread then mirrors launch 3.7:

- when a process exits (any exit code), its `on_exit` actions run: `Shutdown` starts the
  shutdown, `LogInfo` is recorded in `messages`;
- unless shutting down, a node with `respawn` is started again after `respawn_delay`, at
  most `respawn_max_retries` times (-1: forever), whatever its exit code;
- shutdown (a Shutdown action, or leaving the `with` block, which is `ros2 launch -n` getting
  Ctrl-C): SIGINT to every running process, SIGTERM `sigterm_timeout` later, SIGKILL
  `sigkill_timeout` after that (5 s + 5 s by default); a second shutdown does nothing;
- the launch ends when no process runs and none waits to respawn; its result is 0 whatever
  the exit codes (`ros2 launch` exits 0 then).

`wait(timeout)` waits for that end. Each node's output goes to `<log_dir>/<label>.log`
(appended across respawns); `exits[label]` lists every exit code, `returncodes[label]` the
last one, `shutdown_reason` why the launch shut down (None if it ended by itself).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.launch_harness import LaunchPlan, LogInfo, NodeSpec, Shutdown, node_command

#: how often the supervisor looks at the processes, seconds
POLL_S = 0.02
#: after SIGKILL, seconds to wait for a process to be reaped before giving up on it
REAP_S = 2.0


@dataclass
class _Proc:
    spec: NodeSpec
    command: list[str]
    process: subprocess.Popen | None = None
    respawns: int = 0
    respawn_at: float | None = None
    exits: list[int] = field(default_factory=list)


class LaunchedNodes:
    """Context manager: run a plan's nodes until the launch ends or the block is left.

    overrides: executable -> command prefix to run instead of `<prefix>/lib/<pkg>/<exe>`
    (e.g. the stand-in policy node).
    """

    def __init__(self, plan: LaunchPlan, log_dir: Path,
                 overrides: dict[str, list[str]] | None = None) -> None:
        self.plan = plan
        self.log_dir = Path(log_dir)
        self.overrides = overrides or {}
        self.messages: list[str] = list(plan.messages)
        self.shutdown_reason: str | None = None
        self.result: int | None = None
        self._procs: dict[str, _Proc] = {}
        self._lock = threading.RLock()  # a Shutdown on_exit runs under it
        self._ended = threading.Event()
        self._shutdown_at: float | None = None
        self._signalled: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # --- what tests read ----------------------------------------------------------------

    @property
    def processes(self) -> dict[str, subprocess.Popen]:
        """The current (or last) process of each node."""
        return {k: p.process for k, p in self._procs.items() if p.process is not None}

    @property
    def exits(self) -> dict[str, list[int]]:
        return {k: list(p.exits) for k, p in self._procs.items()}

    @property
    def returncodes(self) -> dict[str, int | None]:
        return {k: (p.exits[-1] if p.exits else None) for k, p in self._procs.items()}

    def commands(self) -> dict[str, list[str]]:
        return {k: list(p.command) for k, p in self._procs.items()}

    def log(self, label: str) -> str:
        return (self.log_dir / f"{label}.log").read_text(errors="replace")

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Wait until the launch has ended by itself or by a shutdown; whether it has."""
        return self._ended.wait(timeout_s)

    # --- running ------------------------------------------------------------------------

    def __enter__(self) -> LaunchedNodes:
        self._tmp = tempfile.TemporaryDirectory(prefix="neuroq-launch-")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for spec in self.plan.nodes:
                cmd = node_command(spec, Path(self._tmp.name),
                                   self.overrides.get(spec.executable))
                proc = self._procs[spec.label] = _Proc(spec, cmd)
                self._start(proc)
        except BaseException:
            self.shutdown("start failed")
            self._finish()
            raise
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown("the test left the launch")
        self._finish()

    def shutdown(self, reason: str) -> None:
        """launch's Shutdown: SIGINT now, SIGTERM and SIGKILL later (by the supervisor)."""
        with self._lock:
            if self._shutdown_at is not None or self._ended.is_set():
                return
            self._shutdown_at = time.monotonic()
            self.shutdown_reason = reason
            for proc in self._procs.values():
                proc.respawn_at = None
                self._signal(proc, signal.SIGINT)

    def _start(self, proc: _Proc) -> None:
        with open(self.log_dir / f"{proc.spec.label}.log", "ab") as log:
            proc.process = subprocess.Popen(proc.command, env=self.plan.environ, stdout=log,
                                            stderr=subprocess.STDOUT)

    def _signal(self, proc: _Proc, sig: int) -> None:
        if proc.process is not None and proc.process.poll() is None:
            proc.process.send_signal(sig)

    def _supervise(self) -> None:
        while not self._ended.is_set():
            with self._lock:
                self._step(time.monotonic())
            time.sleep(POLL_S)

    def _step(self, now: float) -> None:
        for proc in self._procs.values():
            p = proc.process
            if p is not None and p.returncode is None and p.poll() is not None:
                proc.exits.append(p.returncode)
                self._on_exit(proc, now)
            if proc.respawn_at is not None and now >= proc.respawn_at \
                    and self._shutdown_at is None:
                proc.respawn_at = None
                proc.respawns += 1
                self._start(proc)
        if self._shutdown_at is not None:
            for proc in self._procs.values():
                t = proc.spec.sigterm_timeout
                if now - self._shutdown_at >= t + proc.spec.sigkill_timeout:
                    self._signal(proc, signal.SIGKILL)
                elif now - self._shutdown_at >= t:
                    if self._signalled.get(proc.spec.label) != signal.SIGTERM:
                        self._signalled[proc.spec.label] = signal.SIGTERM
                        self._signal(proc, signal.SIGTERM)
        running = any((p.process is not None and p.process.poll() is None)
                      or p.respawn_at is not None for p in self._procs.values())
        if not running:
            self.result = 0
            self._ended.set()

    def _on_exit(self, proc: _Proc, now: float) -> None:
        for action in proc.spec.on_exit:
            if isinstance(action, Shutdown):
                self.shutdown(f"process[{proc.spec.label}] was required: {action.reason}")
            elif isinstance(action, LogInfo):
                self.messages.append(str(action.msg))
        spec = proc.spec
        if spec.respawn and self._shutdown_at is None and (
                spec.respawn_max_retries < 0 or proc.respawns < spec.respawn_max_retries):
            proc.respawn_at = now + spec.respawn_delay

    def _finish(self) -> None:
        """Wait for the end (the escalation bounds it), then clean up."""
        longest = max((s.sigterm_timeout + s.sigkill_timeout for s in self.plan.nodes),
                      default=0.0)
        if self._thread is not None:
            self._ended.wait(longest + REAP_S)
            self._ended.set()
            self._thread.join(timeout=REAP_S)
        for proc in self._procs.values():  # a start that failed midway, or a stuck reap
            p = proc.process
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=REAP_S)
            if p is not None and p.returncode is not None and (
                    not proc.exits or len(proc.exits) < proc.respawns + 1):
                proc.exits.append(p.returncode)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def environ_with_prefix(prefix: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with `prefix` first on
    AMENT_PREFIX_PATH, as sourcing the prefix's setup script would put it."""
    env = dict(os.environ if base is None else base)
    rest = env.get("AMENT_PREFIX_PATH", "")
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(p for p in (str(prefix), rest) if p)
    return env
