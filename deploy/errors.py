"""The one exception type users see.

Every error a user can cause (bad input, missing files, unknown names) is raised as
`NeuroqError` with a message that says what went wrong and what to do. The CLI prints it as
one line on stderr and exits non-zero; anything else is a bug and keeps its traceback.
"""


class NeuroqError(Exception):
    """A user-facing error: the message is printed as is, without a traceback."""


def yaml_problem(exc: Exception) -> str:
    """One line saying where and what a PyYAML error is ("at line 2, column 1: expected
    the node content"), for messages of the form f"{path} is not valid YAML {...}"; PyYAML's
    own text spans several lines with a caret."""
    mark = getattr(exc, "problem_mark", None)
    at = f"at line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split()) or "syntax error"
    return at + problem


def counted(n: int, noun: str) -> str:
    """`n` and the noun, singular for one: "1 episode", "2 episodes" (for the counts that
    commands and nodes print)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
