"""The executables' entry points (setup.py: `neuroq_policy_node` ... `neuroq_event_replay`).

A node process spends its first half second importing numpy, rclpy and the node's module,
before `process.run_node` makes SIGINT, SIGTERM and SIGHUP a stop request. A stop signal in that
time ended it with a KeyboardInterrupt traceback and status -2 (SIGINT) or -15 (SIGTERM),
where the docs promise 0 (an outsider stopped a node 0.3 s after starting it). Each entry
point here, light to import, first makes either signal end the process with status 0, then
imports the node's module and runs its `main`, which installs the node's own handlers.
`python -m neuroq.ros_nodes.<node>` imports the node's module itself: the package's
`__init__`, which Python runs first, calls `cover_python_m`, which does the same for the
modules in NODE_MODULES (until stop 40 it was not covered). Not covered: a signal before
the interpreter reaches this code, in its first 0.05-0.1 s.
"""

from __future__ import annotations

import importlib
import signal
from pathlib import Path
from typing import Any

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))
"""The signals that stop a node process as a stop request (status 0, the actuator's safe
command last): Ctrl-C, SIGTERM (`ros2 launch` after SIGINT, systemd, docker stop), and
SIGHUP (the terminal or ssh session that started the node closed; its default action ended
the process at once, without the safe command, and `neuroq replay` without its summary)."""


START_EXIT_LIMIT_S = 5
"""Seconds a process stopped while starting has to end (`process.TEARDOWN_LIMIT_S`'s bound:
the stop signals are ignored meanwhile, so a hang at exit needs SIGALRM to end it)."""


def handled_stop_signals() -> list[int]:
    """The STOP_SIGNALS to handle: all but a SIGHUP that is ignored already, as under
    `nohup` or a supervisor that ignores it (a node so started keeps running when its
    session closes, as it did before SIGHUP was a stop request; the review)."""
    return [sig for sig in STOP_SIGNALS if not (
        sig == getattr(signal, "SIGHUP", None) and signal.getsignal(sig) == signal.SIG_IGN)]


def _stop_while_starting(signum: int, _frame: Any) -> None:
    """Nothing runs yet (no node, no command): end the process, status 0 (a repeated stop
    signal ignored while it ends, as `process._request_stop` does, and SIGALRM ending it
    after START_EXIT_LIMIT_S should the exit hang)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(START_EXIT_LIMIT_S)
    raise SystemExit(0)


NODE_MODULES = frozenset({
    "neuroq.ros_nodes.policy_node", "neuroq.ros_nodes.actuator_node",
    "neuroq.ros_nodes.sim_robot_node", "neuroq.ros_nodes.event_node",
    "neuroq.ros_nodes.event_camera_node", "neuroq.ros_nodes.replay_command"})
"""The modules run as nodes (or the replay command) that install stop handlers of their own
once started (`process.run_node`, the replay's): the ones `cover_python_m` covers."""


ROS_MODULES = ("rclpy", "std_msgs", "sensor_msgs", "geometry_msgs", "diagnostic_msgs",
               "nav_msgs")
"""The ROS 2 packages the nodes need: rclpy, and the message packages they and the shipped
robot interfaces use (setup.py's `ros` extra installs them as PyPI wheels; an apt ROS 2 has
them once sourced). Without one, a node ended in a 22-line ImportError traceback naming
`diagnostic_msgs`, exit 1 (an outsider's `pip install` of the sdist without the extra)."""


def reinstall_hint(extra: str, pin: str = "") -> str:
    """How to add neuroq's `extra` to an install from the clone or from a wheel (an outsider
    with a wheel had no clone to run the clone's command in; neuroq is not on PyPI, where
    `pip install "neuroq[...]"` finds nothing or another project)."""
    return (f'in the neuroq clone: pip install ".[{extra}]"{pin}; from a wheel: pip install '
            f'"<the neuroq wheel file>[{extra}]"{pin}')


ROS_HINT = "source ROS 2 (. /opt/ros/<distro>/setup.bash), or " + reinstall_hint("ros")
"""How to get ROS 2 (`neuroq.agents.cli.extras` names it for the `ros` extra too)."""


def first_missing(modules: tuple[str, ...]) -> str | None:
    """The first of `modules` that cannot be found (importlib's find_spec: nothing is
    imported), or None."""
    from importlib.util import find_spec

    for module in modules:
        try:
            if find_spec(module) is None:
                return module
        except (ImportError, ValueError):  # a broken parent package, or no __spec__
            return module
    return None


def ros_missing_text() -> str | None:
    """"needs ROS 2 (<package> is not installed): <how to get it>" where a package of
    ROS_MODULES is missing, else None: the one line of every executable without ROS 2."""
    missing = first_missing(ROS_MODULES)
    return None if missing is None else f"needs ROS 2 ({missing} is not installed): {ROS_HINT}"


def _exit_without_ros(program: str) -> None:
    """SystemExit(2) with one line on stderr if a ROS 2 package the nodes need is missing
    (the exit status of a node's bad input, docs/ros.md "Exit status")."""
    import sys

    text = ros_missing_text()
    if text is not None:
        print(f"{program}: error: {text}", file=sys.stderr)
        raise SystemExit(2)


def _stop_signals_end_start_up() -> None:
    """Before the node's module (and numpy) loads: the stop signals end the process, and
    numpy's BLAS runs on one thread (neuroq.deploy.blas)."""
    from neuroq.deploy.blas import one_blas_thread

    one_blas_thread()
    for sig in handled_stop_signals():
        signal.signal(sig, _stop_while_starting)


def cover_python_m(argv: list[str] | None = None) -> bool:
    """If this process is `python -m <one of NODE_MODULES>` (its original command line,
    `sys.orig_argv`), make the stop signals end it with status 0 while it imports;
    returns whether it did. Anything else (a library import, `python -m` of another
    module, a demo whose Ctrl-C must stay an interrupt) is left as it is."""
    import sys

    argv = list(getattr(sys, "orig_argv", []) if argv is None else argv)
    try:
        module = argv[argv.index("-m") + 1]
    except (ValueError, IndexError):
        return False
    if module not in NODE_MODULES:
        return False
    _stop_signals_end_start_up()
    if module != ENTRY_MODULES["event_replay"]:  # the replay checks once its options are
        # read (its --help works without ROS)
        _exit_without_ros(f"python -m {module}")
    return True


def run(module: str) -> int:
    """Make the stop signals (STOP_SIGNALS) end the process with status 0, then import `module` (a
    dotted name) and return what its `main()` returns; without ROS 2 (ROS_MODULES), one
    line and status 2 (the replay command checks once its options are read)."""
    _stop_signals_end_start_up()
    if module != ENTRY_MODULES["event_replay"]:
        import sys

        _exit_without_ros(Path(sys.argv[0]).name if sys.argv and sys.argv[0] else module)
    return importlib.import_module(module).main()


#: The module each entry point runs (console scripts name these functions in setup.py).
ENTRY_MODULES = {"policy_node": "neuroq.ros_nodes.policy_node",
                 "actuator_node": "neuroq.ros_nodes.actuator_node",
                 "sim_robot": "neuroq.ros_nodes.sim_robot_node",
                 "event_node": "neuroq.ros_nodes.event_node",
                 "event_camera": "neuroq.ros_nodes.event_camera_node",
                 "event_replay": "neuroq.ros_nodes.replay_command"}


def policy_node() -> int:
    return run(ENTRY_MODULES["policy_node"])


def actuator_node() -> int:
    return run(ENTRY_MODULES["actuator_node"])


def sim_robot() -> int:
    return run(ENTRY_MODULES["sim_robot"])


def event_node() -> int:
    return run(ENTRY_MODULES["event_node"])


def event_camera() -> int:
    return run(ENTRY_MODULES["event_camera"])


def event_replay() -> int:
    return run(ENTRY_MODULES["event_replay"])
