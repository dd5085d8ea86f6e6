"""Argument types shared by the `neuroq` commands: a bad number is refused while the
command line is read (argparse: the usage and one error line naming the option, exit 2),
before anything is built or written.

A seed is an integer in [0, deploy.seeds.MAX_SEED] (2**32 - 1: what numpy's legacy
seeding, used by stable-baselines3, accepts), the range the ROS nodes' `seed` parameters
take too, so a seed one stage takes is one every stage takes.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from typing import IO, Any, NoReturn

from neuroq.deploy.errors import EXIT_USER_ERROR
from neuroq.deploy.seeds import MAX_EPISODES, MAX_SEED

NEGATIVE_NUMBER = re.compile(
    r"^-(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf(?:inity)?|nan)$", re.IGNORECASE)
"""A command-line word that is a negative number (as float() reads it), not an option."""


def close_options(words: list[str], known: list[str]) -> str:
    """" (--timestep: did you mean --timesteps?)" for the words that look like options and
    are close to one of `known`; "" when none is."""
    import difflib

    hints = []
    for word in words:
        name = word.split("=", 1)[0]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75) if name.startswith(
            "--") else []
        if close:
            hints.append(f"{name}: did you mean {close[0]}?")
    return f" ({'; '.join(hints)})" if hints else ""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose command-line errors are one line on stderr ("neuroq <cmd>:
    error: argument --seed: ..."), exit status 2, as every other user error; `--help`
    shows the usage. Subcommand parsers are made of the same class; the robot install's
    executables (neuroq_event_replay) use it too.

    A negative number in any form float() reads (-1e-3, -inf, -nan) is a value, not an
    option: argparse takes only -1 and -1.5 for numbers, so `--speed -inf` was refused as
    "expected one argument" instead of by the option's own check (an outsider's fuzzing,
    stop 40). argparse keeps that test in the private attribute `_negative_number_matcher`
    (Python 3.11-3.13); a parser without it keeps argparse's own behaviour.

    Options are taken only spelt out (allow_abbrev False): argparse's prefix matching took
    a newcomer's `--timestep 4` for `--timesteps` without a word, and would take any
    misspelling that happens to be a prefix."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        if hasattr(self, "_negative_number_matcher"):
            self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        if text.startswith("unrecognized arguments:"):  # a misspelt option: the close one
            text += close_options(text.split(":", 1)[1].split(),
                                   [o for a in self._actions for o in a.option_strings])
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {text} (see {self.prog} --help)\n")

    def print_help(self, file: IO[str] | None = None) -> None:
        """The help, its write errors raised (argparse drops them: with unbuffered output,
        `neuroq --help > /dev/full` exited 0 without a word)."""
        (file or sys.stdout).write(self.format_help())


def _integer(text: str) -> int:
    """An integer, also written as a whole number in float notation ("1e5", "100.0"), as
    `--set n_timesteps=1e5` takes it (--episodes 1e2 was refused beside it: an outsider)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value.is_integer()):
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if abs(value) > 2**53:  # beyond float's whole numbers: write it out
        raise argparse.ArgumentTypeError(f"too large in float notation: {text!r}")
    return int(value)


def _real(text: str, infinite: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if math.isnan(value) or (math.isinf(value) and not infinite):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def within(value, ok: bool, rule: str, shown: str):
    """`value` if `ok`, else the argparse error "must <rule>, got <shown>" (for argument
    types of one command built on these)."""
    if not ok:
        raise argparse.ArgumentTypeError(f"must {rule}, got {shown}")
    return value


def seed(text: str) -> int:
    """An integer in [0, MAX_SEED]."""
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is an integer in [0, 2**32 - 1], got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _integer(text)
    return within(value, value >= 1, "be an integer >= 1", str(value))


def timesteps(text: str) -> int:
    """Steps per action T: an integer from 1 to MAX_TIMESTEPS."""
    from neuroq.deploy.network import MAX_TIMESTEPS, MAX_TIMESTEPS_REASON

    value = positive_int(text)
    return within(value, value <= MAX_TIMESTEPS, f"be {MAX_TIMESTEPS_REASON}", str(value))


def episode_count(text: str) -> int:
    """An integer from 1 to MAX_EPISODES."""
    value = positive_int(text)
    return within(value, value <= MAX_EPISODES, f"be at most {MAX_EPISODES:,}", str(value))


def episode_count_or_0(text: str) -> int:
    """An integer from 0 (none) to MAX_EPISODES."""
    value = nonnegative_int(text)
    return within(value, value <= MAX_EPISODES, f"be at most {MAX_EPISODES:,}", str(value))


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    value = _integer(text)
    return within(value, value >= 0, "be an integer >= 0", str(value))


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _real(text)
    return within(value, value >= 0, "be >= 0", f"{value:g}")


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _real(text)
    return within(value, value > 0, "be > 0", f"{value:g}")


def positive_or_inf(text: str) -> float:
    """A number > 0, `inf` included (no limit, no waiting)."""
    value = _real(text, infinite=True)
    return within(value, value > 0, "be > 0", f"{value:g}")


def gate_fraction(text: str) -> float:
    """A fraction of the float DQN's return in [0, 2] (the export gate)."""
    value = _real(text)
    return within(value, 0.0 <= value <= 2.0,
                   "lie in [0, 2] (a fraction of the float return)", f"{value:g}")


def probability(text: str) -> float:
    """A number in [0, 1]."""
    value = _real(text)
    return within(value, 0.0 <= value <= 1.0, "lie in [0, 1]", f"{value:g}")
