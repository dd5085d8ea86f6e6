"""The one exception type users see.

Every error a user can cause (bad input, missing files, unknown names) is raised as
`NeuroqError` with a message that says what went wrong and what to do. The CLI prints it as
one line on stderr and exits non-zero; anything else is a bug and keeps its traceback.
`given_path` and `read_text_file` say what is wrong with a path or a text file a user gave
(`read_capped_text`: regular files of at most MAX_TEXT_FILE_CHARS only);
`load_yaml` reads a user's YAML, refusing a key given twice.
"""

from __future__ import annotations

import errno
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

EXIT_USER_ERROR = 2
"""The exit status of a user error (a NeuroqError, a bad command line or parameter, output
that cannot be written for a full disk): one line on stderr, the `neuroq` command and the
ROS 2 nodes alike."""


class NeuroqError(Exception):
    """A user-facing error: the message is printed as is, without a traceback."""


def one_line(text: object) -> str:
    """`text` as one line for an error message on stderr: surrounding whitespace dropped,
    line breaks inside shown as \\n and \\r (a file name holding one stays readable), every
    other control or format character escaped (`printable`). The one way every command and
    node writes its error line."""
    return printable(str(text).strip())


CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode categories of characters that steer a terminal rather than show: controls (escape
sequences, line breaks, tabs), format characters (bidirectional overrides, zero-width
ones), line and paragraph separators."""


def _is_control(c: str) -> bool:
    import unicodedata

    return unicodedata.category(c) in CONTROL_CATEGORIES


def printable(text: str) -> str:
    """`text` with every control or format character (CONTROL_CATEGORIES) escaped as Python
    writes it (\\x1b, \\n, \\u202e): a name from someone else's file printed raw cleared an
    outsider's terminal, set its title and faked lines ("ALL CHECKS PASSED"). Other
    characters (a no-break space, an emoji newer than this Python) are kept."""
    if text.isprintable():
        return text
    return "".join(c.encode("unicode_escape").decode() if _is_control(c) else c
                   for c in text)


def printable_lines(text: str) -> str:
    """`text` with each line `printable` (its line breaks kept)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def has_control(text: str) -> bool:
    """Whether `text` holds a control or format character (`printable` would escape it)."""
    return not text.isprintable() and any(map(_is_control, text))


def permission_text(exc: OSError) -> str:
    """The one way a file this user may not read or write is named: "cannot use <file>:
    Permission denied (its permissions)" (an artifact at mode 000 was a 25-line traceback in
    the CLI and a raw "PermissionError: [Errno 13] ..." in a node's refusal: outsiders)."""
    return f"cannot use {exc.filename}: {exc.strerror} (its permissions)"


def failure_text(exc: BaseException) -> str:
    """Why something failed, for a one-line refusal: a NeuroqError's own message, a file
    this user may not use as `permission_text`, a file that cannot be read as "cannot read
    <file>: <reason>", anything else as "<type>: <message>"."""
    if isinstance(exc, NeuroqError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return permission_text(exc)
        return f"cannot read {exc.filename}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def given_path(path: str | os.PathLike, what: str) -> Path:
    """`path` as a Path; NeuroqError "<what>: an empty path" for an empty one (Path("")
    would mean the current folder)."""
    if not str(path).strip():
        raise NeuroqError(f"{what}: an empty path")
    p = Path(path)
    try:  # a name the file system refuses to look up (a 300-character one): a traceback
        os.stat(p)  # from the first Path.exists
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            shown = str(path) if len(str(path)) <= 60 else str(path)[:60] + "..."
            raise NeuroqError(f"{what}: {exc.strerror} ({len(str(path)):,} characters: "
                              f"{shown})") from None
    return p


MAX_TEXT_FILE_CHARS = 16 << 20
"""Longest text file read whole (`read_capped_text`): settings, manifests and run results
are kilobytes to a few megabytes. An outsider's `interface:=/dev/zero` was read until the
machine ran out of memory (24 GB), and a 3 GiB manifest took 6.3 GB and 27 s before its
one-line error."""


def read_capped_text(p: Path, what: str, limit: int = MAX_TEXT_FILE_CHARS) -> str:
    """The UTF-8 text of the regular file `p`, at most `limit` characters; NeuroqError for a
    device, a pipe or a socket (it may never end, or never open: a FIFO hung a node's
    start) and for a longer file. OSError and UnicodeDecodeError as `open` and `read`
    raise them (a folder, no permission, not UTF-8)."""
    import stat

    st = p.stat()
    mode = st.st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a folder: open says so
        raise NeuroqError(f"{what} {p} is not a regular file (a device, a pipe or a socket: "
                          "give a file)")
    too_long = (f"{what} {p} is longer than {limit:,} characters: not a file of settings, a "
                "manifest or a run's results")
    if stat.S_ISREG(mode) and st.st_size > 4 * limit:  # not read at all
        raise NeuroqError(too_long)
    with open(p, encoding="utf-8") as f:
        text = f.read(limit + 1)
    if len(text) > limit:
        raise NeuroqError(too_long)
    return text


def read_text_file(path: str | os.PathLike, what: str) -> str:
    """The text of the UTF-8 file at `path` (a YAML or JSON file a user gave), read once;
    NeuroqError for an empty path (`given_path`), "<what> <path> does not exist",
    "<what> <path> is not a text file (byte N is not UTF-8)", "cannot read <what>
    <path>: <reason>" (a folder, no permission), and a device, pipe or file longer than
    MAX_TEXT_FILE_CHARS (`read_capped_text`). what: how the file was given ("config file",
    "--encoder")."""
    p = given_path(path, what)
    try:
        return read_capped_text(p, what)
    except FileNotFoundError:
        raise NeuroqError(f"{what} {p} does not exist") from None
    except UnicodeDecodeError as exc:
        raise NeuroqError(f"{what} {p} is not a text file (byte {exc.start} is not "
                          "UTF-8)") from None
    except OSError as exc:
        raise NeuroqError(f"cannot read {what} {p}: {exc.strerror or exc}") from None


def yaml_problem(exc: Exception) -> str:
    """One line saying where and what a PyYAML error is ("at line 2, column 1: expected
    the node content"), for messages of the form f"{path} is not valid YAML {...}"; PyYAML's
    own text spans several lines with a caret."""
    mark = getattr(exc, "problem_mark", None)
    at = f"at line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split()) or "syntax error"
    return at + problem


#: Longest YAML text `load_yaml` parses, characters: every YAML file a user gives here
#: holds settings (a few KB); an outsider's 4.5 MB file hung each command for more than 30 s.
MAX_YAML_CHARS = 1 << 20
#: Most values (mappings, lists and scalars, aliases counted each time they are used) a
#: YAML file `load_yaml` reads may expand to: an outsider's 471-byte spec of nested aliases
#: (`&a9 [*a8, *a8, ...]`) expands to 10^9 values and hung neuroq sweep and neuroq tune,
#: and one that refers to itself (`&a [*a]`) was a RecursionError (stop 40).
MAX_YAML_VALUES = 100_000


def load_yaml(text: str) -> Any:
    """`yaml.safe_load(text)`, except that a mapping holding one key twice is an error
    (yaml.constructor.ConstructorError, a yaml.YAMLError that `yaml_problem` reads: "at line
    5, column 3: found duplicate key 'type'"). PyYAML keeps the last value without a word,
    so a user's file with `type` given twice loaded as the second. Every file a user writes
    (interfaces, configs, specs, encoders) is read with it."""
    import yaml

    if len(text) > MAX_YAML_CHARS:  # PyYAML takes seconds per MB: a mistake, not settings
        raise yaml.YAMLError(f"(it holds {len(text):,} characters, more than "
                             f"{MAX_YAML_CHARS:,}: settings files are a few thousand)")
    data = yaml.load(text, Loader=_unique_keys_loader())  # noqa: S506 - a SafeLoader subclass
    _check_expansion(data)
    return data


def _check_expansion(data: Any) -> None:
    """yaml.YAMLError when `data` (as loaded: aliases are shared objects) refers to itself,
    or expands to more than MAX_YAML_VALUES values (every use of an alias counted), before
    any code walks it."""
    import yaml

    count = 0
    stack: list[tuple[Any, tuple[int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        count += 1
        if count > MAX_YAML_VALUES:
            raise yaml.YAMLError(f"(it expands to more than {MAX_YAML_VALUES:,} values: YAML "
                                 "aliases nested in aliases; settings files hold a few hundred)")
        if isinstance(value, dict | list):
            if id(value) in path:
                raise yaml.YAMLError("(an alias refers to the value that holds it: a YAML "
                                     "value cannot contain itself)")
            children = value.values() if isinstance(value, dict) else value
            inner = (*path, id(value))
            stack.extend((child, inner) for child in children)


@cache
def _unique_keys_loader() -> Any:
    """The SafeLoader subclass of `load_yaml` (made once)."""
    import yaml

    # libyaml's parser where PyYAML has it (its wheels do): 6.7 s per MB in Python here
    class UniqueKeys(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        pass

    def mapping(loader: Any, node: Any) -> Any:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` merges; keys may override
                continue
            key = loader.construct_object(key_node)
            try:
                repeated = key in seen
            except TypeError:  # an unhashable key: construct_mapping says so
                break
            if repeated:
                raise yaml.constructor.ConstructorError(
                    None, None, f"found duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        # as SafeConstructor.construct_yaml_map: the dict first, filled after, so that
        # nesting and recursive anchors load as with yaml.safe_load
        data: dict = {}
        yield data
        data.update(loader.construct_mapping(node))

    UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    # YAML 1.1 reads a number in exponent form without a dot (1e3, 1e-4) as text; YAML 1.2
    # and every user mean a number (an outsider's interface `limits: [1e3]` was refused as
    # "needs 1 finite values"). The loader's own resolver table, not SafeLoader's.
    UniqueKeys.add_implicit_resolver("tag:yaml.org,2002:float", EXPONENT_FLOAT,
                                     list("-+0123456789."))
    return UniqueKeys


EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")
"""A number in exponent form, with or without a dot: read as a float by `load_yaml`."""


def counted(n: int, noun: str) -> str:
    """`n` and the noun, singular for one: "1 episode", "2 episodes" (for the counts that
    commands and nodes print)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
