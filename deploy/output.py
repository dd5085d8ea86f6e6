"""A command's own output that cannot be written: the exit status and the one line of the
`neuroq` command and the ROS 2 nodes alike (a reader gone, a full disk, closed streams).

Exit status: 0 when stdout's reader has closed it (`| head`, `| true`: nothing more is
wanted there), 2 with one line on stderr for a full disk (`> /dev/full`, a quota, a file-size
limit) and for a file
or folder whose permissions refuse this user; any other error is the caller's (raised
again by `output_status`).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

from neuroq.deploy.errors import EXIT_USER_ERROR, permission_text

EXIT_READER_GONE = 0

NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""No room for the output: a full disk, a quota, a file-size limit (`ulimit -f`: EFBIG, "File
too large", was a traceback, exit 1, where a full disk was one line: an outsider)."""


def usable_streams() -> None:
    """Streams a command can always write, called first by the `neuroq` command and the
    nodes' processes:
    - stdout or stderr closed at start (`>&-`, a daemon) is None: output goes nowhere
      instead of every print failing (an outsider's `neuroq show cartpole >&-` was an
      AttributeError traceback, exit 1; `eval ... 2>&-` exited 1 silently);
    - stdout in an encoding that cannot hold a name (PYTHONIOENCODING=ascii, a latin-1
      terminal) writes it with backslash escapes, as stderr does (a path of "é日本" was a
      UnicodeEncodeError traceback after eval had saved its result, and its video was never
      written: an outsider);
    - stderr that cannot be written (`2>/dev/full`, a full log disk) loses its lines rather
      than stopping the command (eval's first warning there ended it, exit 1: an outsider).
    For the process: what is called in-process (`main` from a test or a script) keeps
    sys.stderr wrapped and stdout reconfigured after it returns.
    """
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - for the process
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and sys.stdout.errors == "strict":
        reconfigure(errors="backslashreplace")
    if not isinstance(sys.stderr, LossyStream):
        sys.stderr = LossyStream(sys.stderr)


class LossyStream:
    """A text stream whose writes and flushes never raise OSError: once one fails, the rest
    go nowhere (`usable_streams` puts stderr, which carries progress and warnings, behind
    one). Everything else is the stream's."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.lost = False  # a write has failed: nothing is written after it

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._stream.write(text)
            except OSError:
                self.lost = True
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._stream.flush()
            except OSError:
                self.lost = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def output_failed(exc: OSError, label: str) -> int | None:
    """The exit status for output that cannot be written (module docstring), None for any
    other error. label: the line's prefix ("neuroq paths", "neuroq policy node")."""
    if isinstance(exc, BrokenPipeError) and stdout_reader_gone():
        _stdout_to_devnull()
        return EXIT_READER_GONE
    if exc.errno in (errno.EACCES, errno.EPERM) and exc.filename is not None:
        # a file or folder this user may not read or write (an artifact at mode 000 was a
        # 25-line traceback, exit 1: an outsider): the user's to mend, as a full disk
        print(f"{label}: error: {permission_text(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    if exc.errno not in NO_ROOM_ERRNOS:
        return None
    if exc.filename is None:  # stdout: nothing more to flush there at exit
        _stdout_to_devnull()
    print(f"{label}: error: cannot write {exc.filename or 'the output'}: {exc.strerror}",
          file=sys.stderr)
    return EXIT_USER_ERROR  # the output's place is the user's to mend


def output_status(exc: OSError, label: str) -> int:
    """`output_failed`'s exit status, or `exc` raised again for any other error."""
    status = output_failed(exc, label)
    if status is None:
        raise exc
    return status


def stdout_reader_gone() -> bool:
    """Whether stdout's reader has closed it (poll: POLLERR for a pipe, POLLHUP for a
    socket), so that a BrokenPipeError from a pipe of the command's own (multiprocessing,
    Ray, a subprocess) is not taken for a reader gone (a reviewer)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        gone = select.POLLERR | select.POLLHUP  # a pipe's reader: ERR; a socket's peer: HUP
        return any(events & gone for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _stdout_to_devnull() -> None:
    """stdout's descriptor onto /dev/null: the interpreter's last flush has nowhere to fail."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


__all__ = ["LossyStream", "output_failed", "output_status", "stdout_reader_gone",
           "usable_streams"]
