"""Checks of the paths and files a command is given, made before any work starts, each a
`NeuroqError` (one line, exit status 2) that says what is wrong: the path is empty, does not
exist, is a file where a folder is expected (or the reverse), cannot be written, or is not
text.
"""

from __future__ import annotations

import os
from pathlib import Path

from neuroq.deploy.errors import NeuroqError


def given(path: str | os.PathLike, what: str) -> Path:
    """`path` as a Path; an empty one is refused (Path("") would mean the current folder)."""
    if not str(path).strip():
        raise NeuroqError(f"{what}: an empty path")
    return Path(path)


def artifact(path: str | os.PathLike, what: str = "artifact") -> Path:
    """Check that `path` names an artifact folder or its manifest.json that exists, with a
    readable manifest (`neuroq.deploy.artifact.read_manifest`, which says what is wrong:
    missing, a file, no or a bad manifest); the weights are checked by the loader."""
    from neuroq.deploy.artifact import read_manifest

    read_manifest(path, what)
    return Path(path)


def folder(path: str | os.PathLike, what: str = "run folder") -> Path:
    """Check that `path` is a folder that exists."""
    p = given(path, what)
    if not p.exists():
        raise NeuroqError(f"{what} {p} does not exist")
    if not p.is_dir():
        raise NeuroqError(f"{p} is a file, not a {what}")
    return p


def file(path: str | os.PathLike, what: str) -> Path:
    """Check that `path` is a file that exists."""
    p = given(path, what)
    if not p.exists():
        raise NeuroqError(f"{what} {p} does not exist")
    if p.is_dir():
        raise NeuroqError(f"{p} is a folder, not a {what}")
    return p


def text_file(path: str | os.PathLike, what: str) -> Path:
    """Check that the file at `path`, if there is one, reads as UTF-8 text (a YAML or JSON
    file; a missing one is left to the reader, which says so)."""
    p = given(path, what)
    if p.is_file():
        try:
            p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise NeuroqError(f"{what} {p} is not a text file (byte {exc.start} is not "
                              "UTF-8)") from None
        except OSError as exc:
            raise NeuroqError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    return p


def writable(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check that the folder `path` can be created (if missing) and written, with the check
    `train --out` makes (neuroq.agents.runs.ensure_writable), and leave nothing behind: the
    folders made for the check are removed again, deepest first and only while empty (a
    folder another command wrote into meanwhile stays), so a command refused later makes
    none."""
    from neuroq.agents.runs import ensure_writable

    p = given(path, option)
    missing = []  # the folders the check may make, deepest first
    q = p
    while not q.exists() and q.parent != q:
        missing.append(q)
        q = q.parent
    try:
        ensure_writable(p, option)
    finally:
        for folder in missing:
            try:
                folder.rmdir()
            except OSError:  # not made, or not empty: another command's now
                break
    return p
