"""Run folders: `runs/<env>/<stage>-<id>/` with the config used, logs, results and artifacts.

Every stage writes one. The id is `<tag>-<UTC time>` (a counter is appended when two runs
start in the same second), so listing a folder sorts runs by start time.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from neuroq.deploy.errors import NeuroqError, given_path

RESULT_FILE = "result.json"
#: What an energy run writes instead (agents/energy/render.py; `neuroq show` reads both).
REPORT_FILE = "report.json"


ENV_FOLDER_UNSAFE = '<>"\\|?*'
"""Characters of an env id that become "_" in its folder name (not allowed in file names on
Windows, or special to shells)."""


def env_folder(env_id: str) -> Path:
    """The folder (relative) of an env's runs: its id with ':' read as '/', so that
    `--env mypkg.envs:Reach-v0` writes runs/mypkg.envs/Reach-v0/..., as a namespaced id
    `neuroq/DVSPanTracking-v0` writes runs/neuroq/DVSPanTracking-v0/ (a colon in a folder
    name breaks scp, rsync and Windows). Raises NeuroqError for an id that names no folder
    below the output folder (empty, absolute, or with "." or ".." parts)."""
    name = "".join("_" if c in ENV_FOLDER_UNSAFE or ord(c) < 32 else c
                   for c in str(env_id).replace(":", "/"))
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts):
        raise NeuroqError(f"env id {env_id!r} cannot name a run folder: use an id such as "
                          "CartPole-v1, neuroq/DVSPanTracking-v0 or mypkg.envs:Reach-v0")
    return Path(*parts)


def make_run_dir(out_root: str | os.PathLike, env_id: str, stage: str, tag: str = "") -> Path:
    """Create and return a fresh run folder `out_root/<env folder>/<stage>-<tag>-<time>/`
    (`env_folder`).

    Raises NeuroqError when the folder cannot be created or written.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = f"{stage}-{tag}-{stamp}" if tag else f"{stage}-{stamp}"
    parent = Path(out_root) / env_folder(env_id)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(1000):
            path = parent / (base if n == 0 else f"{base}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            probe = path / ".write-test"
            probe.write_text("")
            probe.unlink()
            return path
    except OSError as exc:
        raise NeuroqError(
            f"cannot write the output folder {parent}: {exc.strerror or exc}; "
            "choose another with --out"
        ) from None
    raise NeuroqError(f"too many runs named {base} in {parent}")


@contextmanager
def removed_on_failure(run_dir: Path, keep_on: tuple[type[BaseException], ...] = (),
                       keep_interrupted: bool = False) -> Iterator[Path]:
    """Yield `run_dir`; if the stage fails with an exception or is interrupted (Ctrl-C,
    SIGTERM), remove the folder again, so it leaves no half-written run behind, unless the
    exception is one of `keep_on` (a failure the run can go on from) or, with
    `keep_interrupted`, an interrupt (a train run, which `--resume` goes on with). Convert
    and finetune runs stopped by Ctrl-C were left holding config.yaml and part of their
    files, which every later stage refuses (an outsider)."""
    try:
        yield run_dir
    except (Exception, KeyboardInterrupt) as exc:
        if not isinstance(exc, keep_on) and not (
                keep_interrupted and isinstance(exc, KeyboardInterrupt)):
            # the same Ctrl-C delivered again (coreutils timeout) cut a removal short: 1 of
            # 29 of an outsider's energy runs kept a folder holding one plot
            with duplicate_interrupt_ignored():
                shutil.rmtree(run_dir, ignore_errors=True)
        raise


LOCK_FILE = ".lock"
"""A folder's lock file (`held_lock`): a train run being trained, a tune study searched."""


@contextmanager
def held_lock(folder: Path, busy: str) -> Iterator[None]:
    """Hold `folder`'s LOCK_FILE for this process (fcntl.flock: released when the process
    ends, however it ends); NeuroqError(`busy`) when another process holds it. A folder
    where no lock file can be made, or a file system without flock (some network and FUSE
    mounts), goes unlocked rather than refused."""
    import fcntl

    try:
        handle = open(folder / LOCK_FILE, "a")  # noqa: SIM115 - closed below
    except OSError:
        handle = None
    if handle is not None:
        try:
            _flock_retrying(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise NeuroqError(busy) from None
        except OSError:  # no flock here (ENOLCK, EOPNOTSUPP, ...): unlocked
            pass
    try:
        yield
    finally:
        if handle is not None:
            handle.close()


LOCK_RETRIES = 3
LOCK_RETRY_S = 0.05
"""A lock found held is tried again LOCK_RETRIES times this far apart (s): `lock_held`'s
probe (`neuroq show` of a run) holds a lock for a moment, and a --resume starting then
must not take it for a process training the run (a reviewer)."""


def _flock_retrying(handle: Any, operation: int) -> None:
    """fcntl.flock, tried again on BlockingIOError (LOCK_RETRIES, LOCK_RETRY_S)."""
    import fcntl

    for _ in range(LOCK_RETRIES):
        try:
            fcntl.flock(handle, operation)
            return
        except BlockingIOError:
            time.sleep(LOCK_RETRY_S)
    fcntl.flock(handle, operation)


def lock_held(folder: Path) -> bool:
    """Whether a running process holds `folder`'s LOCK_FILE (`held_lock`) now."""
    import fcntl

    try:
        with open(folder / LOCK_FILE, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released on close
    except BlockingIOError:
        return True
    except OSError:  # no lock file, or no flock on this file system
        return False
    return False


def ensure_writable(folder: str | os.PathLike, option: str = "--out") -> Path:
    """Create `folder` if needed and check a file can be written there, else raise (the
    message names `option`, the command-line option that gave the folder)."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno == errno.EEXIST:  # mkdir met something that is no folder
            blocker = next((p for p in (path, *path.parents)
                            if p.is_symlink() or p.exists() and not p.is_dir()), path)
            why = (f"{blocker} is a link to no folder" if blocker.is_symlink()
                   and not blocker.exists() else f"{blocker} is a file, not a folder")
        raise NeuroqError(
            f"cannot write the output folder {path}: {why}; choose another with {option}"
        ) from None
    return path


def require_run_dir(path: str | os.PathLike, must_contain: str = RESULT_FILE,
                    kind: str = "run folder") -> Path:
    """Return `path` as a run folder that exists and holds `must_contain` ("": anything),
    else NeuroqError (one line): an empty path, a path that does not exist, a file ("is a
    file, not a run folder"), a deploy artifact folder (it holds manifest.json: "is a
    deploy artifact, not a <kind>"), a folder without `must_contain` (an unfinished run).
    kind: the run expected, for that message (e.g. "train run")."""
    p = given_path(path, "run folder")
    if not p.exists():
        raise NeuroqError(f"run folder {p} does not exist")
    if not p.is_dir():
        raise NeuroqError(f"{p} is a file, not a run folder")
    if must_contain and not (p / must_contain).exists():
        from neuroq.deploy.artifact import MANIFEST_FILE

        if (p / MANIFEST_FILE).is_file():
            raise NeuroqError(f"{p} is a deploy artifact (it holds {MANIFEST_FILE}), not a "
                              f"{kind}")
        raise NeuroqError(
            f"{p} is not a finished run folder: it has no {must_contain} "
            "(did the run end early?)"
        )
    return p


def _jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays and paths into JSON types; NaN/inf become null."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    """Write `data` as indented JSON (numpy values converted) and return the path. Written
    beside it and renamed, so the file is whole or absent: a result.json a full disk cut
    short marked a trained run finished, and the run was removed with its checkpoint (a
    reviewer)."""
    p = Path(path)
    with written_beside(p) as tmp:
        tmp.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")
    return p


def save_array(path: str | os.PathLike, array: Any) -> Path:
    """`numpy.save` of `array` (no pickle) to `path`, written beside it and renamed. The
    bytes are made in memory and written by Python: numpy's own writing met a file-size
    limit with "OSError: 8000 requested and 4064 written", no errno, a traceback (an
    outsider); this error names the file and why."""
    import io

    import numpy as np

    p = Path(path)
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    with written_beside(p) as tmp:
        try:
            tmp.write_bytes(buf.getvalue())
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(p)) from None
    return p


MAX_ARRAY_BYTES = 256 << 20
"""Largest array `load_array` reads (bytes): a run's recorded observations take kilobytes to
a few megabytes (20,000 steps of a few dozen floats). An outsider's 4 kB observations.npy
declaring (2e9, 4) was a 29.8 GiB MemoryError traceback; a real 480 MB one failed later,
asking for 28.6 GiB."""


def npy_header(f: Any) -> tuple[tuple[int, ...], Any]:
    """The shape and dtype the .npy array in the open binary file `f` declares, from its
    header (no array read; ValueError for no .npy header)."""
    from numpy.lib import format as npy

    version = npy.read_magic(f)
    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, _, dtype = read_header(f)
    return tuple(shape), dtype


def npy_declared_bytes(f: Any) -> int:
    """The bytes the .npy array in the open binary file `f` declares (`npy_header`): what a
    crafted file asks to allocate."""
    import numpy as np

    shape, dtype = npy_header(f)
    return int(np.prod(shape, dtype=np.float64)) * dtype.itemsize


def load_array(path: str | os.PathLike, what: str, max_bytes: int = MAX_ARRAY_BYTES) -> Any:
    """An array `save_array` wrote (.npy, no pickle), its header read first: NeuroqError for
    no regular file, a file numpy cannot read, or one declaring more than `max_bytes`."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise NeuroqError(f"{what} {p} is missing or not a regular file")
    try:
        with open(p, "rb") as f:
            declared = npy_declared_bytes(f)
            if declared > max_bytes:
                raise NeuroqError(f"{what} {p} declares {declared:,} bytes, more than a run "
                                  f"records ({max_bytes:,}): not read")
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except NeuroqError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise NeuroqError(f"{what} {p} cannot be read: {exc}") from None


def stored_path(path: Any, folder: Path) -> Any:
    """`path` as a sweep or study keeps it in its folder: relative to `folder` where it lies
    inside it (so a folder moved or copied elsewhere still finds its runs), else as it is;
    anything that is not a string, and '', as it is. `resolved_path` reads it back."""
    if not isinstance(path, str) or not path:
        return path
    p = Path(path)
    return str(p.relative_to(folder)) if p.is_absolute() and p.is_relative_to(folder) else path


def resolved_path(stored: Any, folder: Path) -> Any:
    """A path `stored_path` kept, as an absolute path (a relative one lies inside `folder`);
    anything that is not a string, '', and absolute paths as they are."""
    if not isinstance(stored, str) or not stored or Path(stored).is_absolute():
        return stored
    return str(folder / stored)


def recorded_run(recorded: Any, beside: str | os.PathLike) -> Any:
    """A run folder that the run `beside` recorded where it was made (absolute, as a
    convert run names its train run): as recorded where it exists, else the folder of the
    same name beside `beside` (one output root's runs lie side by side in <root>/<env>/,
    a sweep's in trials/<env>/, and a root or sweep moved or copied elsewhere keeps them
    so: a recheck's sweep moved halfway failed its next stage on the old path), else as
    recorded (the error that follows names it). Not a string, or '': as it is."""
    if not isinstance(recorded, str) or not recorded or Path(recorded).exists():
        return recorded
    sibling = Path(beside).parent / Path(recorded).name
    return str(sibling) if sibling.is_dir() else recorded


def earlier_wall_s(path: Path) -> float:
    """The `wall_s` a resumable command's file recorded in its earlier sessions (0 without
    one): a rerun adds its own, so the figure stays the search's whole wall time (an
    outsider's resumed sweep, which ran nothing, recorded 0.0)."""
    try:
        value = read_json(path).get("wall_s")
    except NeuroqError:
        return 0.0
    return float(value) if isinstance(value, (int, float)) and value >= 0 else 0.0


def oversubscribed(workers: int, what: str = "workers") -> str | None:
    """A warning for more parallel workers than this machine has CPUs (None otherwise):
    they share the CPUs, so each is slower and none finishes sooner (an outsider's
    `--workers 64` on 2 CPUs was taken without a word)."""
    cpus = os.cpu_count() or 1
    if workers <= cpus:
        return None
    return (f"{workers} {what} at once on {cpus} CPUs: they share them, so each runs "
            f"slower and none finishes sooner; --workers {cpus} is as fast")


DUPLICATE_SIGINT_S = 0.5
"""A SIGINT this soon (s) after the one being handled is the same interrupt delivered twice:
coreutils `timeout -s INT` signals the command, then its whole process group, the command
again among it; Python then raised a second KeyboardInterrupt inside the handling of the
first (an outsider's `neuroq train --seeds` lost its per-seed summary in 2 runs of 4). A
second Ctrl-C typed by hand comes later."""


def _second_interrupt_after(first: float, exc: type = KeyboardInterrupt) -> Any:
    """A SIGINT (SIGTERM) handler: `exc`, unless within DUPLICATE_SIGINT_S of `first`
    (time.monotonic())."""
    import time as time_mod

    def handler(_signum: int, _frame: Any) -> None:
        if time_mod.monotonic() - first > DUPLICATE_SIGINT_S:
            raise exc

    return handler


@contextmanager
def duplicate_interrupt_ignored() -> Iterator[None]:
    """For the handling of a KeyboardInterrupt (a summary, the workers stopped): a SIGINT,
    or a SIGTERM where it raises `Terminated` (`sigterm_as_interrupt`), within
    DUPLICATE_SIGINT_S of entering is ignored, a later one raises as usual (`timeout -s
    TERM` signals the command and its group as `-s INT` does: a second Terminated escaped
    the summary of `train --seeds`, and the pool then waited for workers nobody drained: a
    recheck saw 2 hangs in 5). Main thread only; elsewhere nothing changes."""
    import signal
    import threading
    import time as time_mod

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    now = time_mod.monotonic()
    held = {}  # the handlers replaced here, given back on leaving
    for sig, before, exc in ((signal.SIGINT, signal.default_int_handler, KeyboardInterrupt),
                             (signal.SIGTERM, raise_terminated, Terminated)):
        if signal.getsignal(sig) is before:
            signal.signal(sig, _second_interrupt_after(now, exc))
            held[sig] = before
    try:
        yield
    finally:
        for sig, before in held.items():
            signal.signal(sig, before)


class Terminated(KeyboardInterrupt):
    """SIGTERM while a command runs: it stops as for a Ctrl-C (`sigterm_as_interrupt`)."""


def raise_terminated(_signum: int, _frame: Any) -> None:
    """The SIGTERM handler that makes it a `Terminated` (`sigterm_as_interrupt`; the
    training workers of `train --seeds`)."""
    raise Terminated("terminated (SIGTERM)")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread during the
    block, so a command stops as for a Ctrl-C: its summary, its resume line, its cleanup
    (a supervisor's `kill` ended `neuroq energy` without a word and left a half-written
    folder: an outsider; ray.init's own handler printed a stack dump and aborted a sweep:
    another). A SIGTERM ignored on entry (SIG_IGN) stays ignored; elsewhere than the main
    thread nothing changes."""
    import signal
    import threading

    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN):
        yield
        return
    before = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) that arrives during the block until it ends, then raise it
    (KeyboardInterrupt), so that what the block writes is whole: a Ctrl-C inside torch's
    zip writer came out as a RuntimeError ("unexpected pos 1666 vs 1553") and the seed was
    reported failed, not interrupted (CI). The first Ctrl-C says so on stderr; a second one
    stops at once (not one within DUPLICATE_SIGINT_S: the first delivered twice). An error
    of the block while a Ctrl-C is held is raised as the
    KeyboardInterrupt. Only where SIGINT raises KeyboardInterrupt, in the main thread;
    elsewhere (ignored, another handler) the block runs as it is."""
    import signal
    import threading

    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    held: list[int] = []

    def hold(signum: int, _frame: Any) -> None:
        import time as time_mod

        held.append(signum)
        # said, and a second Ctrl-C stops at once (the files then may be cut)
        signal.signal(signal.SIGINT, _second_interrupt_after(time_mod.monotonic()))
        print("(finishing the files being written; Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, hold)
    # a SIGTERM taken as an interrupt (`sigterm_as_interrupt`) is held alike
    term = signal.getsignal(signal.SIGTERM) is raise_terminated
    if term:
        signal.signal(signal.SIGTERM, hold)
    try:
        yield
    except Exception as exc:
        if held:  # the Ctrl-C stands for what happened (the zip writer's error: CI)
            raise _interrupt(held) from exc
        raise
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if term:
            signal.signal(signal.SIGTERM, raise_terminated)
    if held:
        raise _interrupt(held)


def _remove_dead_partials(path: Path) -> None:
    """Remove the temporary files `written_beside` left beside `path` in processes that no
    longer run (a SIGKILL gives no chance to clean up: a recheck's killed video runs left a
    hidden .x.mp4.<pid>.tmp.mp4 each, piling up)."""
    import re

    pattern = re.compile(re.escape(f".{path.name}.") + r"(\d+)\.tmp")
    try:
        names = [f for f in path.parent.iterdir() if f.name.startswith(f".{path.name}.")]
    except OSError:
        return
    for f in names:
        m = pattern.match(f.name)
        if m is None or int(m[1]) == os.getpid() or _alive(int(m[1])):
            continue
        with contextlib.suppress(OSError):
            f.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's: alive
        return True
    return True


@contextmanager
def written_beside(path: Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside `path` for the block to write; renamed onto `path` when the
    block ends (with the mode of the file it replaces, where there is one), removed when it
    fails: `path` is whole, or as it was. suffix: the temporary name's ending (for writers
    that choose a format by it, `.gif`)."""
    _remove_dead_partials(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        yield tmp
        with contextlib.suppress(FileNotFoundError):  # a 0600 video stayed 0600 (a review)
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _interrupt(held: list[int]) -> KeyboardInterrupt:
    """The interrupt a held signal stands for: `Terminated` for a SIGTERM."""
    import signal

    return (Terminated("terminated (SIGTERM)") if held[0] == signal.SIGTERM
            else KeyboardInterrupt())


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON file, raising NeuroqError with the path when it is missing or malformed."""
    from neuroq.deploy.errors import read_capped_text

    p = Path(path)
    try:
        return json.loads(read_capped_text(p, "JSON file"))
    except FileNotFoundError:
        raise NeuroqError(f"{p} does not exist") from None
    except IsADirectoryError:
        raise NeuroqError(f"{p} is a folder, not a JSON file") from None
    except UnicodeDecodeError as exc:
        raise NeuroqError(f"{p} is not valid JSON: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise NeuroqError(f"{p} is not valid JSON: {exc}") from None
    except RecursionError:
        raise NeuroqError(f"{p} is not valid JSON here: nested too deeply") from None
    except OSError as exc:
        raise NeuroqError(f"cannot read {p}: {exc.strerror or exc}") from None


def read_yaml_mapping(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML file a run folder holds (config.yaml, settings.yaml), read as a mapping;
    NeuroqError with the path when it is missing, not UTF-8, not YAML or not a mapping (a
    damaged run folder was a traceback in five places, a review)."""
    from neuroq.deploy.errors import load_yaml, read_text_file, yaml_problem

    p = Path(path)
    text = read_text_file(p, "run file")
    try:
        doc = load_yaml(text)
    except Exception as exc:  # yaml.YAMLError: import yaml only where a file is read
        raise NeuroqError(f"{p} is not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(doc, dict):
        raise NeuroqError(f"{p} holds no settings (a YAML mapping): the run folder is "
                          "damaged")
    return doc
