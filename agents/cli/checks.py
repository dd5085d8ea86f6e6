"""Checks of what a command is given, made before any work starts, each a `NeuroqError`
(one line, exit status 2): an output folder that cannot be made or written (`writable`),
--board-ip without the board's backend or the backend without it (`board_ip`). The readers of
artifacts, run folders, NIR graphs and text files say themselves what is wrong with their
path (`neuroq.deploy.artifact.read_manifest` and `load_artifact`,
`neuroq.agents.runs.require_run_dir`, `neuroq.agents.nir_import.read_graph`,
`neuroq.deploy.errors.read_text_file`), and each command calls them before its work.
"""

from __future__ import annotations

import os
from pathlib import Path

from neuroq.deploy.errors import given_path


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


def board_ip(address: str | None, option: str, choice: str) -> None:
    """--board-ip goes with `option` spinnaker2 (--backend of eval, --target of deploy), and
    spinnaker2 needs it: an address given for the emulator was ignored, and a user thinking
    the board ran was not told."""
    from neuroq.deploy.errors import NeuroqError

    if choice == "spinnaker2" and not address:
        raise NeuroqError(f"{option} spinnaker2 needs the board's address: "
                          + ("--board-ip is empty" if address is not None else
                             "pass --board-ip"))
    if choice != "spinnaker2" and address is not None:
        raise NeuroqError(f"--board-ip is for {option} spinnaker2 (this is {option} {choice})")
    if choice == "spinnaker2":  # an address, before anything loads
        from neuroq.deploy.spinnaker2 import check_board_ip

        check_board_ip(address)
