"""Ray for `neuroq sweep` and `neuroq tune`: a private local Ray, or an existing cluster.

Local (the default): a new Ray instance on this machine only, started for the command and
shut down after it, with

- every Ray server bound to 127.0.0.1: Ray binds its servers to the node's address, and
  takes the loopback address as that address when RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (the
  mode Ray uses on machines that never join a cluster); set before Ray is imported, and
  checked after start (the command stops if the node address is not 127.0.0.1);
- no dashboard (`include_dashboard=False`) and no usage statistics sent anywhere
  (RAY_USAGE_STATS_ENABLED=0);
- bounded resources: `workers` CPUs (one per trial), no GPUs, a small object store
  (OBJECT_STORE_BYTES: trials pass only small summaries; run folders hold the data).

Cluster (`--address HOST:PORT`, or `auto`): connect to a cluster started with `ray start
--head` (and `ray start --address HOST:PORT` on the other machines); nothing is started or
stopped here. Every node must have neuroq installed and see the output folder at the same
path (a shared file system).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from neuroq.agents.runs import Terminated, sigterm_as_interrupt
from neuroq.deploy.errors import NeuroqError

#: Object store of the local instance, bytes (Ray's minimum is 75 MiB; summaries are small).
OBJECT_STORE_BYTES = 128 * 1024**2
LOCALHOST = "127.0.0.1"
#: Session folder of a local instance: a fresh temporary folder, removed when it stops.
TEMP_PREFIX = "nq-ray-"
#: Bytes of a Unix socket's path (Linux: sun_path holds 108, its last a NUL).
UNIX_SOCKET_PATH_BYTES = 107
#: What Ray adds to its session folder's parent for its longest socket path:
#: "/<TEMP_PREFIX>xxxxxxxx/session_YYYY-MM-DD_HH-MM-SS_uuuuuu_<pid, up to 7
#: digits>/sockets/plasma_store" (Ray 2.x's layout, measured).
RAY_SOCKET_SUFFIX_BYTES = 1 + len(TEMP_PREFIX) + 8 + 43 + len("/sockets/plasma_store")
SHORT_TEMP_BASE = "/tmp"
"""Where the session folder goes when the temporary folder's path is too long for Ray's
sockets (a long TMPDIR: Ray failed with an OSError traceback)."""
_TEMP_DIRS: list[str] = []
OWNER_FILE = "neuroq-owner"
"""In a session folder: '<host> <boot id> <pid> <start ticks>' of the neuroq process that
made it. A later local session removes the folders whose owner has ended
(`remove_stale_sessions`)."""
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
"""Linux: a random id per boot."""
START_TICKS_FIELD = 22
"""/proc/PID/stat: the process's start time in clock ticks after boot (proc(5))."""
#: Environment of the local instance and its workers (see the module docstring). One BLAS
#: thread per worker: each trial is one process on one CPU.
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def error_line(exc: BaseException) -> str:
    """One line for a failed trial or stage run: the original exception, not Ray's wrapper
    (its text spans a traceback and carries colour codes, which landed in an outsider's
    trials.csv: "[36mray::run_trial()[39m")."""
    cause = getattr(exc, "cause", None) or exc
    text = [line for line in _ANSI.sub("", str(cause)).strip().splitlines() if line.strip()]
    return f"{type(cause).__name__}: {text[0] if text else ''}"[:500]


def import_ray() -> Any:
    """The ray module, or a one-line NeuroqError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise NeuroqError('Ray is not installed: in the neuroq clone: pip install ".[scale]" '
                          "torch==2.13.0") from None
    return ray


def _pythonpath() -> str:
    """PYTHONPATH of the workers: the working folder and the driver's PYTHONPATH, so that
    workers import a user's env module from where `neuroq` finds it."""
    paths = [os.getcwd(), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    return os.pathsep.join(dict.fromkeys(p for p in paths if p))


def _init(workers: int, address: str | None) -> Any:
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise NeuroqError(f"workers must be an integer >= 1, got {workers!r}")
    loopback = address is None or _is_loopback(address)
    if loopback:  # a cluster on this machine only must be reached on the loopback address
        os.environ.update(LOCAL_ENV)  # before `import ray`: Ray reads them at import
    ray = import_ray()
    if loopback:
        _loopback_if_imported_early(ray)
    runtime_env = {"env_vars": {**WORKER_ENV, "PYTHONPATH": _pythonpath()}}
    if address is None:
        base = _temp_base()
        remove_stale_sessions(base)
        temp = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=base)
        _TEMP_DIRS.append(temp)
        _write_owner(temp)
        try:
            with _sigterm_kept():
                ray.init(address="local", num_cpus=workers, num_gpus=0,
                         include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
                         log_to_driver=False, logging_level="ERROR",
                         runtime_env=runtime_env, _temp_dir=temp)
        except BaseException:  # a Ctrl-C while Ray starts: end what it started
            stop(ray)
            raise
        if ray.util.get_node_ip_address() != LOCALHOST:
            stop(ray)
            raise NeuroqError("local Ray did not bind to 127.0.0.1 (Ray was imported before "
                              f"{', '.join(LOCAL_ENV)} could be set); start neuroq afresh")
        return ray
    _check_reachable(address)
    try:
        with _sigterm_kept():
            ray.init(address=address, log_to_driver=False, logging_level="ERROR",
                     runtime_env=runtime_env)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise NeuroqError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    return ray


def _process_stamp(pid: int) -> str | None:
    """'<host> <boot id> <pid> <start ticks>' of a running process, None if there is none
    (or this is no Linux /proc). The start time in clock ticks since boot (/proc/PID/stat,
    field 22) tells a reused pid apart, the boot id a reboot and the host name another
    machine or container sharing the folder; none of them moves with the wall clock (a
    float create_time from psutil does, when the clock is stepped: the review)."""
    import socket

    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(BOOT_ID_FILE, encoding="ascii") as f:
            boot = f.read().strip()
    except (OSError, IndexError):
        return None
    if len(fields) < START_TICKS_FIELD - 2:
        return None
    # fields[0] is field 3 (state): the text before ')' holds fields 1 and 2 (pid, comm).
    # Field 24 (fields[21]) is the resident size, which moves: a stamp read there said a
    # live sweep's owner had ended, and another neuroq command removed its folder (an
    # outsider's tune failed with FileNotFoundError)
    return f"{socket.gethostname()} {boot} {pid} {fields[START_TICKS_FIELD - 3]}"


def _write_owner(temp: str) -> None:
    """Name this process as the owner of the session folder `temp` (OWNER_FILE), when it can
    be named (`_process_stamp`; else no owner file, and no later session removes it)."""
    stamp = _process_stamp(os.getpid())
    if stamp is None:
        return
    path = os.path.join(temp, OWNER_FILE)
    with open(path + ".tmp", "w", encoding="ascii") as f:
        f.write(stamp)
    os.replace(path + ".tmp", path)  # whole when read: a half-written stamp is no owner


def _owner_ended(owner: str) -> bool:
    """Whether the process an OWNER_FILE names has ended, for certain: same host, and
    another boot, or no process with that pid and start time. Anything unclear (another
    host or container, a malformed stamp, no /proc) keeps the folder."""
    import socket

    parts = owner.split()
    if len(parts) != 4 or parts[0] != socket.gethostname() or not parts[2].isdigit():
        return False
    mine = _process_stamp(os.getpid())
    if mine is None:
        return False
    if parts[1] != mine.split()[1]:
        return True  # the machine rebooted since: its processes are gone
    return _process_stamp(int(parts[2])) != owner


OWNERLESS_STALE_S = 60.0
"""A session folder of this user without an owner file, older than this (s), is debris: the
owner file is written right after the folder is made wherever a process can be named (Linux),
and a second Ctrl-C during a cleanup left such folders (an outsider: 4 of 12 double
Ctrl-Cs), which no later session removed."""


def remove_stale_sessions(base: str) -> list[str]:
    """Remove the session folders under `base` whose owner process has ended (a command
    killed with SIGKILL leaves its folder: nothing of it runs to remove it), and those without
    an owner file older than OWNERLESS_STALE_S. Only this user's folders whose owner has
    surely ended (`_owner_ended`) are touched; returns those removed."""
    removed = []
    try:
        names = [n for n in os.listdir(base) if n.startswith(TEMP_PREFIX)]
    except OSError:
        return removed
    for name in names:
        folder = os.path.join(base, name)
        try:
            info = os.stat(folder)
        except OSError:  # removed meanwhile
            continue
        try:
            if info.st_uid != os.getuid():
                continue
            with open(os.path.join(folder, OWNER_FILE), encoding="ascii") as f:
                owner = f.read().strip()
        except FileNotFoundError:  # no owner file: being made, or debris
            if (_process_stamp(os.getpid()) is not None  # a live folder has one here
                    and time.time() - info.st_mtime > OWNERLESS_STALE_S):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            continue
        except (OSError, UnicodeDecodeError):
            continue  # not a folder of ours
        if _owner_ended(owner):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _temp_base() -> str:
    """The folder for a local instance's session folder: the temporary folder (TMPDIR) if
    Ray's socket paths under it fit a Unix socket's path, else SHORT_TEMP_BASE; else
    NeuroqError saying how to mend it."""
    for base in dict.fromkeys((tempfile.gettempdir(), SHORT_TEMP_BASE)):
        fits = len(os.fsencode(base)) + RAY_SOCKET_SUFFIX_BYTES <= UNIX_SOCKET_PATH_BYTES
        # Ray encodes its session paths as ASCII: a TMPDIR with a non-ASCII character was a
        # UnicodeEncodeError traceback, its session folder left behind (an outsider)
        if (fits and base.isascii() and os.path.isdir(base)
                and os.access(base, os.W_OK | os.X_OK)):
            return base
    limit = UNIX_SOCKET_PATH_BYTES - RAY_SOCKET_SUFFIX_BYTES
    raise NeuroqError(f"the temporary folder {tempfile.gettempdir()} is too long a path for "
                      f"Ray's sockets (at most {limit} bytes) and {SHORT_TEMP_BASE} cannot "
                      "be written: set TMPDIR to a shorter folder")


CONNECT_TIMEOUT_S = 5.0
"""How long a cluster's address gets to accept a TCP connection before `ray.init` is tried:
Ray retries an unreachable head for ever (an outsider's --address 127.0.0.1:1 was still
retrying after 330 s and did not stop on SIGTERM)."""


def _check_reachable(address: str) -> None:
    """NeuroqError unless HOST:PORT accepts a TCP connection within CONNECT_TIMEOUT_S
    ("auto", and addresses Ray reads otherwise, are left to Ray)."""
    import socket

    host, port = _host_port(address)
    if port is None:
        return
    try:
        with socket.create_connection((host, port), CONNECT_TIMEOUT_S):
            pass
    except (OSError, ValueError, OverflowError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise NeuroqError(f"cannot connect to the Ray cluster at {address}: nothing accepted "
                          f"a connection there within {CONNECT_TIMEOUT_S:g} s ({why}); start "
                          "it with `ray start --head` on that machine") from None


def _host_port(address: str) -> tuple[str, int | None]:
    """(host, port) of "HOST:PORT" ("[v6]:PORT" too); port None where none is given as
    digits (then the host is the whole address up to its last colon, or all of it)."""
    host, sep, port = address.rpartition(":")
    if not sep:
        return address.strip("[]"), None
    return host.strip("[]"), int(port) if port.isdigit() else None


def _is_loopback(address: str) -> bool:
    return _host_port(address)[0] in ("127.0.0.1", "localhost", "::1")


def _loopback_if_imported_early(ray: Any) -> None:
    """If Ray was imported before LOCAL_ENV was set, set the flag it read from it then (a
    private attribute, so the node address is still checked after start)."""
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
        constants.ENABLE_RAY_CLUSTER = False


@contextmanager
def ray_session(workers: int, address: str | None = None) -> Iterator[Any]:
    """Yield the ray module connected as asked (see the module docstring), and disconnect
    (stopping a local instance) afterwards.

    If this process is already connected to Ray (a caller's instance, e.g. a test fixture's
    from `start_local`), that connection is used and left open.
    """
    ray = import_ray() if address is not None or "ray" in _loaded() else None
    if ray is not None and ray.is_initialized():
        yield ray
        return
    ray = _init_keeping_sigterm(workers, address)
    try:
        with sigterm_as_interrupt():  # ray.init's own handler aborted with a stack dump
            yield ray
    finally:
        stop(ray)


@contextmanager
def _sigterm_kept() -> Iterator[None]:
    """This process's SIGTERM handler as it was before the block, put back as the block
    ends: ray.init installs its own (`sys.exit(15)`), which stayed after the session, for a
    sweep's summary and tune's held-out evaluation (an outsider). Put back inside `_init`'s
    cleanup, so a SIGTERM right after ray.init still ends what it started (a review)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _init_keeping_sigterm(workers: int, address: str | None) -> Any:
    """`_init`, a SIGTERM during start-up (met by Ray's handler: exit 15, no "interrupted"
    line, an outsider) raised as a `Terminated`, as one at any other time."""
    import signal

    try:
        return _init(workers, address)
    except SystemExit as exc:
        if exc.code != signal.SIGTERM:
            raise
        raise Terminated("terminated (SIGTERM)") from None


SESSION_END_TIMEOUT_S = 2.0
"""How long a local instance's processes left after `ray.shutdown` get to end after SIGTERM
before SIGKILL."""


def stop(ray: Any) -> None:
    """Disconnect from Ray; a local instance stops (its processes that outlived
    `ray.shutdown` are ended: `end_session_processes`), and its session folder (logs,
    sockets) is removed."""
    try:
        ray.shutdown()
    finally:
        while _TEMP_DIRS:
            temp = _TEMP_DIRS.pop()
            end_session_processes(temp)
            shutil.rmtree(temp, ignore_errors=True)


def session_processes(temp: str) -> list[int]:
    """The pids of this user's processes in this process's session (this one aside) that
    hold a file open under the session folder `temp`: a local Ray instance's processes
    write their logs there, and run in the session that started them. Another terminal's
    `tail -f` of a log there is in another session: left alone (the review). Linux /proc;
    [] elsewhere."""
    prefix = os.path.join(os.path.realpath(temp), "")
    found = []
    try:
        session = os.getsid(0)
    except OSError:
        return found
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        if pid == os.getpid():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            if os.stat(f"/proc/{pid}").st_uid != os.getuid() or os.getsid(pid) != session:
                continue
            links = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if any(link.startswith(prefix) for link in links):
            found.append(pid)
    return found


def end_session_processes(temp: str, timeout_s: float | None = None) -> list[int]:
    """End the processes of the local instance whose session folder is `temp`
    (`session_processes`): SIGTERM, then SIGKILL for those still running after `timeout_s`
    (default SESSION_END_TIMEOUT_S, read at the call).
    Returns the pids found. A Ctrl-C while Ray started (it reaches Ray's processes too, in
    the terminal's process group) left two of its agents running for good (ray::
    DashboardAgent and ray::RuntimeEnvAgent, which took SIGTERM without ending), as
    `ray.shutdown` knew of no instance yet (an outsider's fuzzing, stop 40: 2 of 5 tries)."""
    import signal

    timeout_s = SESSION_END_TIMEOUT_S if timeout_s is None else timeout_s
    found = targets = session_processes(temp)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if sig == signal.SIGKILL:  # only those still holding the folder's files: a pid
            # reused since by another process is not one of them
            still = set(session_processes(temp))
            targets = [pid for pid in targets if pid in still]
        for pid in targets:
            try:
                os.kill(pid, sig)
            except OSError:  # ended meanwhile
                pass
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(_running(pid) for pid in targets):
            time.sleep(0.05)
        if not any(_running(pid) for pid in targets):
            break
    return found


def _running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _loaded() -> set[str]:
    import sys

    return set(sys.modules)


def start_local(workers: int) -> Any:
    """Start a local instance (as `ray_session` does) and leave it running, for callers that
    run several sweeps or studies on one instance (tests); end it with `stop(ray)`."""
    return _init(workers, None)
