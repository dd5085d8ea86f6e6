"""The life of a node process: init, build the node, spin until asked to stop, tear down.

`run_node` is the body of every node's `main()`; `spin_until_stopped` is the one spin
loop. SIGINT, SIGTERM and SIGHUP only set a flag (`stop_requested`): the spin loop ends after the
callback running at that moment, and the context is shut down after that. rclpy's own
handler would shut the context down at once, under a callback that may be publishing
(which then fails with "publisher's context is invalid"). Teardown is bounded by
TEARDOWN_LIMIT_S.

Exit status, the same for every node (docs/ros.md, "Exit status"):
    0  stopped by SIGINT, SIGTERM or SIGHUP, or finished its work; also `--help` (the node
       module's docstring: topics, parameters, behaviour);
    1  refused to activate (valid parameters, but what they name cannot run: an artifact
       that does not load or check, an unreachable board), or a fatal error while running;
    2  bad parameter or bad input: one line `neuroq <node>: error: ...` on stderr (a value
       of the wrong type, out of range or not one of the choices, an unreadable params
       file or malformed --ros-args, an argument outside --ros-args other than --help, an
       unknown NEUROQ_ROS_EXECUTOR);
   -14 (142 from a shell) the teardown limit ended a process whose teardown hung.
A parameter given to a node that the node does not declare (a misspelt name) is logged as
a warning at start-up (`warn_unknown_parameters`): rclpy ignores it without a word.
A node with a `safe_stop(reason)` method (the actuator) has it called after the spin loop
ends for any reason (signal, fatal error, context shut down) and before teardown.

A node process that never spun (status 1 or 2 before its spin loop) ends at once, without
tearing DDS down (`_end_before_spinning`): it has commanded nothing, and Fast DDS 3.2 can
fail while a participant that has just started is torn down as the nodes launched beside it
discover it. Both were caught here, starting eight nodes with a bad parameter at a time: a
segmentation fault (its type lookup service answering a peer while it was destroyed; 2 of
about 800 starts, gone with the profile's type propagation off, `neuroq.ros_nodes.dds`) and
a deadlock between its discovery receive thread and its timer thread while a publisher was
destroyed (1 of 1,175 starts: the process hung until killed). The process removes its own
shared-memory segment first (`dds.remove_own_segments`: the one whose lock file it holds,
not the peers' segments it has mapped) and writes out its log file; the shared port files
(fastdds_port<N>) stay for the next participant that opens the same port, and peers
forget its participant after their lease duration.
"""

from __future__ import annotations

import faulthandler
import os
import re
import signal
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import rclpy
import rclpy.utilities
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from neuroq.deploy.errors import EXIT_USER_ERROR, one_line, permission_text
from neuroq.deploy.output import output_status, usable_streams
from neuroq.ros_nodes.dds import remove_own_segments, use_node_profile
from neuroq.ros_nodes.entry import STOP_SIGNALS, handled_stop_signals
from neuroq.ros_nodes.executor import make_executor
from neuroq.ros_nodes.realtime import (
    apply_realtime_priority,
    apply_wakeup_latency,
    fix_malloc_thresholds,
    freeze_startup_objects,
    reset_scheduling,
)

#: The executor is spun in slices this long so that a stop request is noticed.
SPIN_SLICE_S = 0.1

#: Seconds a node process may take to destroy its node and shut rclpy down after the spin
#: loop ends. Once, after about 150 node runs here, `Node.destroy_node` never returned and
#: the process spun at 95 % CPU (an actuator on the EventsExecutor, 36 minutes until
#: killed); past this limit SIGALRM ends the process (exit status -14 / 142).
TEARDOWN_LIMIT_S = 5
#: Seconds before the teardown limit at which a teardown still running dumps its stacks
#: (at half the limit when the limit is shorter than twice this).
TEARDOWN_DUMP_LEAD_S = 1.0

#: Exit status: see the module docstring.
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = EXIT_USER_ERROR
#: where a node's ROS arguments begin; before it, the node's own: only HELP_FLAGS
ROS_ARGS = "--ros-args"
HELP_FLAGS = frozenset({"-h", "--help"})

class StopRequest(threading.Event):
    """A request to stop: `request(reason)` sets it once and keeps why ("SIGINT")."""

    reason = ""

    def request(self, reason: str) -> bool:
        """Set it with `reason`; whether this call set it (False: it was set before)."""
        if self.is_set():
            return False
        self.reason = reason
        self.set()
        return True


#: Set by SIGINT/SIGTERM/SIGHUP (`install_stop_handlers`: node processes, `neuroq replay`);
#: the spin loop stops between slices, the replay between packets and wait slices.
_STOP = StopRequest()


def _arm_teardown_limit() -> None:
    """From now on the process has TEARDOWN_LIMIT_S to end: SIGALRM's default action ends
    it even if the GIL is never released. Never cancelled: it also covers what rclpy and
    DDS destroy at interpreter exit. TEARDOWN_DUMP_LEAD_S before that end, a teardown
    still running writes every thread's Python stack to stderr (the node's log), so that a
    hang says where it is (`faulthandler`'s own thread: it needs no GIL)."""
    limit = TEARDOWN_LIMIT_S
    remaining = signal.alarm(limit)
    if 0 < remaining < limit:  # keep an earlier, shorter deadline
        signal.alarm(remaining)
        limit = remaining
    faulthandler.dump_traceback_later(max(limit - TEARDOWN_DUMP_LEAD_S, limit / 2),
                                      exit=False)


def _request_stop(signum: int, _frame: Any) -> None:
    """SIGINT/SIGTERM/SIGHUP handler: ask the spin loop to stop; teardown is bounded from here.
    Only sets an event that nothing waits on under a lock (polled), so it cannot block on a
    lock the interrupted code holds. A repeat changes nothing: the stop signals get
    `_repeat_ignored` from then on, and SIG_IGN once the spin loop has ended
    (`ignore_stop_signals`). Not SIG_IGN at once: a second signal that arrived before this
    handler ran is then run by Python against SIG_IGN, "OSError: Signal 15 ignored due to
    race condition", a traceback on stderr (an outsider: SIGINT and SIGTERM 1 ms apart, 7
    of 8 tries). The teardown limit still ends a hung teardown."""
    if _STOP.request(signal.Signals(signum).name):
        for sig in STOP_SIGNALS:
            signal.signal(sig, _repeat_ignored)
        _arm_teardown_limit()


def _repeat_ignored(_signum: int, _frame: Any) -> None:
    """A stop signal after the first: nothing (the stop is under way)."""


def ignore_stop_signals() -> None:
    """SIG_IGN for the stop signals once a stop was requested, before teardown: Python's
    exit resets the signals it handles to their default action, so a second Ctrl-C (or a
    supervisor's SIGTERM after its SIGINT) while Fast DDS tore down ended the process by that
    signal, status 130 or 143 instead of 0 (an outsider: a second signal 0.03-0.08 s after
    the first, 3 of 3 tries); an ignored signal stays ignored through that exit. Main
    thread only (elsewhere nothing is changed)."""
    if not _STOP.is_set() or threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is _repeat_ignored:  # (a SIGHUP nohup ignored stays so)
            signal.signal(sig, signal.SIG_IGN)


def install_stop_handlers() -> StopRequest:
    """Make SIGINT, SIGTERM and SIGHUP (`entry.STOP_SIGNALS`) a stop request (the one a
    node process and `neuroq replay` poll; rclpy's own handlers, which shut the context
    down under a running callback or publish, are not installed) and SIGALRM end the
    process (the teardown limit, armed by the first stop signal). Main thread only.
    Returns the request."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # ends the process (bounded teardown)
    for sig in handled_stop_signals():  # a SIGHUP ignored already (nohup) stays ignored
        signal.signal(sig, _request_stop)
    return _STOP


@contextmanager
def stop_handlers() -> Iterator[StopRequest]:
    """`install_stop_handlers` for a command that returns (`neuroq replay`, run in process
    by tests): the handlers before come back on leaving, unless a stop was requested (the
    process is ending then, its teardown limit armed; the stop signals are left ignored,
    which a child started in those seconds would inherit)."""
    signals = (signal.SIGALRM, *STOP_SIGNALS)
    before = {sig: signal.getsignal(sig) for sig in signals}
    stop = install_stop_handlers()
    try:
        yield stop
    finally:
        ignore_stop_signals()
        if not stop.is_set():
            for sig, handler in before.items():
                signal.signal(sig, handler)


def stop_requested() -> bool:
    """Whether this node process was asked to stop (a signal of STOP_SIGNALS, see
    `run_node`)."""
    return _STOP.is_set()


def spin_until_stopped(node: Node, executor: Any | None = None) -> None:
    """Spin `node` in SPIN_SLICE_S slices until its context ends or a stop is requested.

    executor: default `make_executor(node.context)` (NEUROQ_ROS_EXECUTOR); shut down at the
    end either way.
    """
    executor = executor if executor is not None else make_executor(node.context)
    executor.add_node(node)
    try:
        while node.context.ok() and not stop_requested():
            executor.spin_once(timeout_sec=SPIN_SLICE_S)
    finally:
        executor.shutdown()


def _unknown_words(exc: Exception) -> str:
    """The words of rclpy's UnknownROSArgsError, which says them as a Python list."""
    import ast

    text = str(exc)
    try:
        words = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return " ".join(map(str, words)) if isinstance(words, list) else text


def _parameter_text(exc: Exception | str) -> str:
    """The message of `exc` without the ": <name>" rclpy's ParameterException appends to a
    message that names the parameter already ("... expecting type 'DOUBLE':
    watchdog_timeout_s", an outsider's note)."""
    text = str(exc)
    if isinstance(exc, ParameterException):
        head, sep, tail = text.rpartition(": ")
        if sep and f"'{tail}'" in head:
            return head
    return text


def _usage_error(label: str, exc: Exception | str) -> int:
    """One line on stderr for a node that cannot start as configured; exit status 2."""
    text = one_line(_parameter_text(exc))  # one line, whatever the message holds
    print(f"neuroq {label}: error: {text}", file=sys.stderr)
    return EXIT_USAGE


#: "..., at /project/src/rcl/arguments.c:415": where in rcl's C sources an error was raised
_RCL_SOURCE_LOCATION = re.compile(r",? at /\S+:\d+")


def _init(args: list[str] | None) -> None:
    """rclpy.init without rclpy's signal handlers. rcl logs its own line about bad
    arguments to stderr before raising; that line is held back when init fails (the caller
    prints one line instead) and passed on when it succeeds."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        text = held.read()
    if text:
        sys.stderr.buffer.write(text)
        sys.stderr.flush()


def init_rclpy(args: list[str]) -> None:
    """`_init` for a command that is not a node (`neuroq_event_replay`): rcl's refusal of
    its arguments (malformed --ros-args) is a NeuroqError of one line."""
    from neuroq.deploy.errors import NeuroqError

    try:
        _init(args)
    except _rclpy.UnknownROSArgsError as exc:  # as run_node says it (a traceback, exit 1)
        raise NeuroqError(f"unrecognized ROS arguments: {_unknown_words(exc)} (after "
                          "--ros-args come -r FROM:=TO and the like)") from None
    except _rclpy.RCLError as exc:
        raise NeuroqError(_RCL_SOURCE_LOCATION.sub("", str(exc))) from None


def _end_before_spinning(status: int) -> NoReturn:
    """End a node process whose node was built (DDS started) but never spun, with `status`
    and without tearing DDS down (module docstring): write out the log file (rcl's file
    logger holds info and warning lines back; its shutdown writes them, DDS untouched),
    flush the output, remove this process's own shared-memory segment, `os._exit`."""
    try:
        _rclpy.rclpy_logging_fini()
    except Exception as exc:  # logging never set up, or already shut down
        print(f"neuroq: could not write out the log file: {exc!r}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    remove_own_segments()
    os._exit(status)


def _safe_stop(node: Node, reason: str) -> None:
    """Call the node's `safe_stop(reason)` if it has one; a failure there is reported, not
    raised (teardown must go on)."""
    stop = getattr(node, "safe_stop", None)
    if not callable(stop):
        return
    try:
        stop(reason)
    except Exception as exc:  # e.g. the context is already shut down: nothing can publish
        print(f"neuroq: safe stop ({reason}) failed: {exc!r}", file=sys.stderr)


def _help_text(make_node: Callable[[], Node], label: str) -> str:
    """What `--help` prints: the node module's docstring (topics, parameters, behaviour)
    and how parameters are given."""
    module = sys.modules.get(getattr(make_node, "__module__", ""), None)
    doc = (getattr(module, "__doc__", None) or "").strip()
    return (f"neuroq {label}\n\n{doc}\n\nEvery node also takes realtime_priority (a "
            "SCHED_FIFO priority for its process, 0: none) and cpu_wakeup_latency_us (held "
            "through /dev/cpu_dma_latency while it runs, -1: none).\n\nParameters are ROS "
            "parameters: --ros-args -p NAME:=VALUE (repeatable) or --params-file FILE; "
            "docs/ros.md lists every node's parameters with their defaults.")


def warn_unknown_parameters(node: Node, argv: list[str] | None = None) -> list[str]:
    """Log a warning for each parameter given to `node` (command line, params file) that
    it does not declare, and return their names: rclpy ignores them silently, so a
    misspelt name (`watchdog_timout_s`) would leave the default in force unnoticed.
    Not refused: a params file shared by several nodes (`/**`) may hold others' keys. So a
    name that only sections for every node (`/**:`, `/**/*:`) give (`argv`'s params files;
    not `-p`, not a section naming this node) is warned only where it is close to one of the
    node's own names (difflib): an outsider's shared `/**:` file had each node call the
    others' parameters misspelt."""
    import difflib

    given = getattr(node, "_parameter_overrides", None) or {}  # rclpy keeps no public view
    unknown = sorted(name for name in given if not node.has_parameter(name))
    shared = _shared_only_names(node, argv or [])
    own = sorted(node._parameters)  # noqa: SLF001 - rclpy keeps no public list either
    warned = []
    for name in unknown:
        close = difflib.get_close_matches(name, own, n=1, cutoff=0.8)
        if name in shared and not close:
            continue  # another node's, in a file shared by every node
        hint = f"did you mean {close[0]!r}?" if close else "misspelt?"
        node.get_logger().warning(f"parameter {name!r} is not one of this node's: ignored "
                                  f"({hint} --help describes the node's parameters)")
        warned.append(name)
    return warned


def _shared_only_names(node: Node, argv: list[str]) -> set[str]:
    """Parameter names that the params files in `argv` give only in sections for every node
    (their last part `*` or `**`), never in a section naming this node or with `-p`."""
    from neuroq.deploy.errors import load_yaml

    shared: set[str] = set()
    specific: set[str] = set()
    for path in params_files(argv):
        try:
            with open(path, encoding="utf-8") as f:
                doc = load_yaml(f.read())
        except Exception:  # noqa: BLE001 - rcl read it already; nothing to add here
            continue
        for key, section in (doc.items() if isinstance(doc, dict) else ()):
            values = section.get("ros__parameters") if isinstance(section, dict) else None
            if not isinstance(values, dict):
                continue
            last = str(key).rstrip("/").rsplit("/", 1)[-1]
            (shared if last in ("*", "**") else specific).update(_flat_names(values))
    inside = False
    for arg, after in zip(argv, [*argv[1:], None][:len(argv)], strict=True):
        if arg == ROS_ARGS:
            inside = True
        elif arg == "--":
            inside = False
        elif inside and arg in ("-p", "--param") and after:
            specific.add(after.split(":=", 1)[0])
    return shared - specific


def _flat_names(values: dict, prefix: str = "") -> set[str]:
    """The parameter names of a `ros__parameters` mapping (nested maps: dotted names)."""
    names: set[str] = set()
    for k, v in values.items():
        name = f"{prefix}{k}"
        names |= _flat_names(v, name + ".") if isinstance(v, dict) else {name}
    return names


def params_files(argv: list[str]) -> list[str]:
    """The files given as `--params-file FILE` inside the --ros-args blocks of `argv`."""
    files, inside = [], False
    for arg, after in zip(argv, [*argv[1:], None][:len(argv)], strict=True):
        if arg == ROS_ARGS:
            inside = True
        elif arg == "--":
            inside = False
        elif inside and arg == "--params-file" and after is not None:
            files.append(after)
    return files


def _names_this_node(key: str, name: str, full: str) -> bool:
    """Whether params-file section `key` names node `name` (its last part is the name or a
    `*`) and applies to its full name `full` (rcl's wildcards: `*` one part, `/**` any
    number of parts)."""
    last = key.rstrip("/").rsplit("/", 1)[-1]
    if last not in (name, "*") or not key.startswith("/"):
        return False
    pattern = "".join("(/[^/]+)*" if part == "**" else "/[^/]+" if part == "*"
                      else "/" + re.escape(part) for part in key.strip("/").split("/"))
    return re.fullmatch(pattern, full) is not None


def warn_unapplied_sections(node: Node, argv: list[str]) -> list[str]:
    """Log a warning for each of `unapplied_sections` and return their "file: key" names."""
    unapplied = []
    for path, key, text in unapplied_sections(node, argv):
        unapplied.append(f"{path}: {key}")
        node.get_logger().warning(text)
    return unapplied


def unapplied_sections(node: Node, argv: list[str]) -> list[tuple[str, str, str]]:
    """(file, key, what to say) for each params-file section meant for `node` that rcl does
    not apply to it: rcl matches a section against the node's
    full name (a bare name only in the root namespace), so these leave the defaults in
    force without a word. Meant for it: its bare name while it runs in a namespace
    (`neuroq_actuator:` for /robot1/neuroq_actuator: an outsider's fleet ran a 15 ms
    watchdog at 50 Hz); a section that names the node's default name where the node was
    renamed (`__node:=act2`), or its executable (`neuroq_actuator_node:`), and would apply
    under that name (an outsider's renamed nodes and executable-named sections ran on the
    defaults). Not where another section of the file applies to the node (the others are
    then for other nodes, on purpose). A section for every node (`/**:`, `/**/*:`) does
    not count. The executable is the program run or, for `python -m <node module>` (the
    form docs/ros.md shows), the console script of that module (a recheck: silent there)."""
    name, full, ns = node.get_name(), node.get_fully_qualified_name(), node.get_namespace()
    module = _module_name(type(node))
    default = getattr(sys.modules.get(type(node).__module__), "NODE_NAME", name)
    exes = _executables(module, argv) - {name, default}
    from neuroq.deploy.errors import load_yaml

    def applies(key: str, as_name: str) -> bool:
        at = f"{'' if ns == '/' else ns}/{as_name}"
        return _names_this_node(key, as_name, at) or (key == as_name and ns == "/")

    unapplied = []
    for path in params_files(argv):
        try:
            with open(path, encoding="utf-8") as f:
                keys = [str(k) for k in load_yaml(f.read())]
        except Exception:  # noqa: BLE001 - rcl read it already; nothing to add here
            continue
        if any(applies(k, name) and _section_last(k) not in ("*", "**") for k in keys):
            continue
        for key in keys:
            if _section_last(key) in ("*", "**"):  # for every node, on purpose
                continue
            exe = next((e for e in sorted(exes) if applies(key, e) or key.strip("/") == e),
                       None)
            if key.strip("/") == name and ns != "/":
                why = "a namespaced node"
            elif default != name and applies(key, default):
                why = f"the node's default name {default!r}; it runs as {name!r} (renamed)"
            elif exe is not None:
                why = f"the executable {exe!r}, not the node"
            else:
                continue
            unapplied.append((path, key, (
                f"{path}: section '{key}:' does not apply to {full} ({why}): name it "
                f"'{full}:' or '/**/{name}:'; its parameters are not set")))
    return unapplied


_RUN_ARGV: list[str] | None = None
"""The command line `run_node` was given (program name first), for messages of the nodes
built under it (`run_argv`)."""


def run_argv() -> list[str]:
    """The command line of the node process: the one `run_node` was given, else sys.argv."""
    return list(sys.argv if _RUN_ARGV is None else _RUN_ARGV)


def _section_last(key: str) -> str:
    """The last part of a params-file section's key (`/**/neuroq_policy` -> neuroq_policy)."""
    return key.rstrip("/").rsplit("/", 1)[-1]


#: The module the console scripts of the nodes point into (ros_nodes/entry.py).
ENTRY_MODULE = "neuroq.ros_nodes.entry"


def _module_name(cls: type) -> str:
    """The dotted name of the module defining `cls`: under `python -m <node module>` it is
    `__main__`, whose spec names the module run (a node started so had no console script
    found, and an executable-named params section went unwarned: an outsider)."""
    module = cls.__module__
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        return getattr(spec, "name", None) or module
    return module


def _executables(module: str, argv: list[str]) -> set[str]:
    """The names a node of `module` may be run by: the program in `argv` and the console
    scripts whose entry point is in `module` (installed metadata; none where missing)."""
    from neuroq.ros_nodes.entry import ENTRY_MODULES

    names = {os.path.basename(argv[0])} if argv and argv[0] else set()
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="console_scripts"):
            where, _, attr = ep.value.partition(":")
            if where == ENTRY_MODULE and ENTRY_MODULES.get(attr.strip()) == module:
                names.add(ep.name)
    except Exception:  # noqa: BLE001 - metadata of other packages: never stop a node
        pass
    return names


def run_node(make_node: Callable[[], Node], label: str, args: list[str] | None,
             spin: Callable[[Node], None] | None = None) -> int:
    """`_run_node` with its command line kept for the messages of the node it builds
    (`run_argv`), and forgotten after (a node built later in the process, a test's, named
    another run's params file: a review)."""
    global _RUN_ARGV
    _RUN_ARGV = list(sys.argv if args is None else args)
    try:
        return _run_node(make_node, label, args, spin)
    finally:
        _RUN_ARGV = None


def _run_node(make_node: Callable[[], Node], label: str, args: list[str] | None,
              spin: Callable[[Node], None] | None = None) -> int:
    """The body of every node's `main()`: init, build the node, spin until shut down; the
    exit status (module docstring). args: the command line, program name first (None:
    sys.argv); the nodes take no argument of their own but --help.

    Bad parameters are NeuroqError, ValueError or rclpy's ParameterException raised while
    the node is built, and rclpy's RCLError from init (unreadable params file, malformed
    --ros-args). A node built with `active` False refused to activate. Any other exception
    out of the spin loop is a fatal error: traceback on stderr, safe stop, status 1.
    spin: how to spin the node (default: `spin_until_stopped` on the executor
    NEUROQ_ROS_EXECUTOR names; a bad value there is a usage error, status 2); it should
    return once `stop_requested()`.
    """
    usable_streams()  # started with stdout or stderr closed (a daemon, `>&-`)
    argv = list(sys.argv if args is None else args)  # the program name first
    try:  # what is not a ROS argument: before --ros-args, or after its closing `--`
        own = rclpy.utilities.remove_ros_args(argv)[1:]
    except _rclpy.UnknownROSArgsError as exc:  # a stray word: an unquoted path with a space
        return _usage_error(label, f"unrecognized ROS arguments: {_unknown_words(exc)} (after "
                            "--ros-args come -p NAME:=VALUE, --params-file FILE, -r FROM:=TO "
                            "and the like; quote a value holding a space)")
    except _rclpy.RCLError:  # malformed --ros-args: init says so below, in one line
        own = argv[1:argv.index(ROS_ARGS)] if ROS_ARGS in argv else argv[1:]
    if HELP_FLAGS & set(own):
        try:  # into a closed pipe, onto a full disk: as the neuroq command (deploy.output)
            print(_help_text(make_node, label))
            sys.stdout.flush()
        except OSError as exc:
            return output_status(exc, f"neuroq {label}")
        return EXIT_OK
    if own:  # the nodes take no arguments of their own: a misplaced parameter, a typo
        return _usage_error(label, f"unrecognized arguments: {' '.join(own)} (parameters "
                            "go after --ros-args: -p NAME:=VALUE or --params-file FILE; "
                            "--help lists them)")
    fix_malloc_thresholds()  # before DDS and rclpy allocate their buffers
    profile = use_node_profile()  # before rclpy starts Fast DDS
    # before init: a signal from here on is a stop request, the teardown bounded (the entry
    # points' start-up handler would end the process with rclpy half started, a review)
    install_stop_handlers()
    try:
        _init(args)
    except _rclpy.RCLError as exc:
        return _usage_error(label, _RCL_SOURCE_LOCATION.sub("", str(exc)))
    from neuroq.deploy.errors import NeuroqError

    executor = None
    if spin is None:  # checked before the node is built: one line, nothing logged before
        try:
            executor = make_executor(rclpy.get_default_context())
        except ValueError as exc:
            rclpy.try_shutdown()
            return _usage_error(label, exc)

    def shutdown_executor() -> None:
        # before the node and the context go (a second call is a no-op)
        if executor is not None:
            executor.shutdown()

    try:
        with warnings.catch_warnings():  # rclpy's own, after a name rcl refused (below)
            warnings.filterwarnings("ignore", "Failed to fini rosout publisher")
            node = make_node()
    except (NeuroqError, ValueError, ParameterException) as exc:
        _end_before_spinning(_usage_error(label, exc))
    except NameValidationException as exc:  # an interface's '{ns}/action' in the root
        # namespace expands to '//action': a traceback, exit 1 (a recheck)
        _end_before_spinning(_usage_error(label, " ".join(str(exc).split())))
    except PermissionError as exc:  # an artifact or interface this user may not read (a
        # traceback, exit 1: an outsider)
        _end_before_spinning(_usage_error(label, permission_text(exc)))
    except _rclpy.RCLError as exc:  # a name rcl refuses (`__ns:=/robot1/`): the node's own
        _end_before_spinning(_usage_error(label, _RCL_SOURCE_LOCATION.sub("", str(exc))))
    warn_unknown_parameters(node, argv)
    warn_unapplied_sections(node, argv)
    if not getattr(node, "active", True):
        _end_before_spinning(EXIT_REFUSED)
    try:
        hold = apply_wakeup_latency(node)
        realtime = apply_realtime_priority(node)
    except ParameterException as exc:
        _end_before_spinning(_usage_error(label, exc))
    except Exception:  # nothing commanded yet: a fatal error before the spin loop
        traceback.print_exc()
        _end_before_spinning(EXIT_REFUSED)
    status = EXIT_OK
    reason = "spin loop ended"
    spinning = False  # nothing was commanded before: no safe stop needed
    try:
        if profile is not None:
            node.get_logger().info(f"Fast DDS profile {profile} (NEUROQ_FASTDDS_PROFILE=0 "
                                   "leaves rmw_fastrtps's defaults)")
        freeze_startup_objects()
        spinning = True
        if executor is not None:
            spin_until_stopped(node, executor)
        else:
            spin(node)
        if _STOP.reason:
            reason = _STOP.reason
    except ExternalShutdownException:
        reason = "context shut down"
    except Exception as exc:
        # a context shut down from elsewhere (not by our signal handlers) can make a take
        # fail inside rclpy with RuntimeError. After shutdown that is the normal end.
        if isinstance(exc, RuntimeError) and not rclpy.ok():
            reason = "context shut down"
        else:
            traceback.print_exc()
            reason = f"fatal error: {exc!r}"
            status = EXIT_REFUSED
    finally:
        ignore_stop_signals()  # pending ones have run by now (`_request_stop`)
        shutdown_executor()
        if spinning:
            _safe_stop(node, reason)
        if realtime is not None:  # teardown runs at normal priority (it may hang: bounded)
            reset_scheduling()
        if hold is not None:
            os.close(hold)
        _arm_teardown_limit()  # if no stop signal armed it already
        node.destroy_node()
        rclpy.try_shutdown()
    return status
