"""Checks of the paths a command is given, made before any work starts, each a
`NeuroqError` (one line, exit status 2) that says what is wrong: an artifact that is not
there or has no readable manifest, an output folder that cannot be written. The readers of
run folders, NIR graphs and text files say themselves what is wrong with their path
(`neuroq.agents.runs.require_run_dir`, `neuroq.agents.nir_import.read_graph`,
`neuroq.deploy.errors.read_text_file`), and each command calls them before its work.
"""

from __future__ import annotations

import os
from pathlib import Path

from neuroq.deploy.errors import given_path


def artifact(path: str | os.PathLike, what: str = "artifact") -> Path:
    """Check that `path` names an artifact folder or its manifest.json that exists, with a
    readable manifest (`neuroq.deploy.artifact.read_manifest`, which says what is wrong:
    missing, a file, no or a bad manifest); the weights are checked by the loader."""
    from neuroq.deploy.artifact import read_manifest

    read_manifest(path, what)
    return Path(path)


def writable(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check that the folder `path` can be created (if missing) and written, with the check
    `train --out` makes (neuroq.agents.runs.ensure_writable), and leave nothing behind: the
    folders made for the check are removed again, deepest first and only while empty (a
    folder another command wrote into meanwhile stays), so a command refused later makes
    none."""
    from neuroq.agents.runs import ensure_writable

    p = given_path(path, option)
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
