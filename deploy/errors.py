"""The one exception type users see.

Every error a user can cause (bad input, missing files, unknown names) is raised as
`NeuroqError` with a message that says what went wrong and what to do. The CLI prints it as
one line on stderr and exits non-zero; anything else is a bug and keeps its traceback.
"""


class NeuroqError(Exception):
    """A user-facing error: the message is printed as is, without a traceback."""
