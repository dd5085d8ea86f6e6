"""Helpers shared by the tests: networks, artifacts, cached runs, ROS spinning, the launch
harness and a stand-in policy. Tests import them as `tests.helpers.<module>`."""

from pathlib import Path

#: the repository root (the tests run from a source checkout)
REPO_ROOT = Path(__file__).resolve().parents[2]
