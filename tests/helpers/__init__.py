"""Helpers shared by the tests: networks, artifacts, cached runs, ROS spinning, the launch
harness and a stand-in policy. Tests import them as `tests.helpers.<module>`."""

import sys
from pathlib import Path

#: the repository root (the tests run from a source checkout)
REPO_ROOT = Path(__file__).resolve().parents[2]


def python_script_header() -> str:
    """The first lines of an executable Python script run by this interpreter. A `#!` line
    cannot name an interpreter whose path holds a space (Linux splits it: an outsider's
    clone under "/work/trial paths/" failed 11 tests), so /bin/sh starts it then: the
    second line is an `exec` for sh and a bare string expression, a no-op, for Python."""
    if " " not in sys.executable:
        return f"#!{sys.executable}\n"
    return f'#!/bin/sh\n"exec" "{sys.executable}" "$0" "$@"\n'
