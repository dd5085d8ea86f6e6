"""The launch harness behaves as real launch (launch 3.7, launch_ros 0.28) where our launch
files can reach: arguments, substitutions, Node command lines, on_exit, respawn, shutdown.

Each expectation here is what the real stack does (docs/ros.md, "The launch harness and real
launch"); no ROS: the processes are small Python scripts in a fake install prefix.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import python_script_header
from tests.helpers.launch_harness import (
    LaunchError,
    load_launch,
    node_command,
    parse_launch_arguments,
)
from tests.helpers.launch_runner import LaunchedNodes, environ_with_prefix

PKG = "fakepkg"
#: behaviours of the fake node executables, picked by their name
SCRIPTS = {
    # runs until SIGINT, then exits 0
    "sleeper": "import signal, sys, time\n"
               "signal.signal(signal.SIGINT, lambda *a: sys.exit(0))\n"
               "print('started', flush=True)\n"
               "while True: time.sleep(0.05)\n",
    # exits at once with the status given as its first argument
    "dies": "import sys, time\ntime.sleep(0.2)\nsys.exit(int(sys.argv[1]))\n",
    # ignores SIGINT and SIGTERM, says which it got
    "stubborn": "import signal, time\n"
                "for s in (signal.SIGINT, signal.SIGTERM):\n"
                "    signal.signal(s, lambda n, f: print('got', n, flush=True))\n"
                "print('started', flush=True)\n"
                "while True: time.sleep(0.05)\n",
}


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    root = tmp_path / "prefix"
    marker = root / "share" / "ament_index" / "resource_index" / "packages"
    marker.mkdir(parents=True)
    (marker / PKG).write_text("")
    (root / "share" / PKG / "config").mkdir(parents=True)
    (root / "share" / PKG / "config" / "p.yaml").write_text("/**:\n  ros__parameters: {}\n")
    lib = root / "lib" / PKG
    lib.mkdir(parents=True)
    for name, code in SCRIPTS.items():
        (lib / name).write_text(f"{python_script_header()}{code}")
        (lib / name).chmod(0o755)
    return root


def launch_file(tmp_path: Path, body: str) -> Path:
    """A launch file whose generate_launch_description returns LaunchDescription([body])."""
    path = tmp_path / "t.launch.py"
    path.write_text(textwrap.dedent("""\
        from launch import LaunchDescription
        from launch.actions import DeclareLaunchArgument, LogInfo, Shutdown
        from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
        from launch_ros.actions import Node
        from launch_ros.substitutions import FindPackageShare


        def generate_launch_description():
            return LaunchDescription([
        """) + textwrap.indent(textwrap.dedent(body), " " * 8) + "    ])\n")
    return path


BACKEND = ('DeclareLaunchArgument("backend", default_value="emulator",\n'
           '                      choices=["emulator", "reference"]),\n')


def test_undeclared_arguments_are_accepted_and_become_configurations(tmp_path, prefix):
    path = launch_file(tmp_path, BACKEND + 'LogInfo(msg=LaunchConfiguration("bakend")),\n')
    plan = load_launch(path, ["bakend:=reference"], environ_with_prefix(prefix))
    assert plan.arguments == {"bakend": "reference", "backend": "emulator"}
    assert plan.messages == ["reference"]


def test_a_value_outside_the_choices_fails_with_launchs_message(tmp_path, prefix):
    path = launch_file(tmp_path, BACKEND)
    with pytest.raises(LaunchError) as err:
        load_launch(path, {"backend": "gpu"}, environ_with_prefix(prefix))
    assert str(err.value) == ('Argument "backend" provided value "gpu" is not valid. Valid '
                              "options are: ['emulator', 'reference']")


def test_a_missing_required_argument_fails_before_anything_runs(tmp_path, prefix):
    path = launch_file(tmp_path, BACKEND + 'LogInfo(msg=LaunchConfiguration("nope")),\n'
                       'DeclareLaunchArgument("needed", description="a required one"),\n')
    with pytest.raises(LaunchError) as err:
        load_launch(path, {"other": "1"}, environ_with_prefix(prefix))
    assert str(err.value) == ("Included launch description missing required argument "
                              "'needed' (description: 'a required one'), given: [other]")


def test_arguments_are_parsed_as_ros2launch_parses_them():
    assert parse_launch_arguments(["a:=b", "url:=x:=y", "a:=c"]) == {"a": "c", "url": "x:=y"}
    with pytest.raises(LaunchError, match="malformed launch argument 'foo', expected format "
                                          "'<name>:=<value>'"):
        parse_launch_arguments(["foo"])
    # nothing after the only `:=`, or no name: ros2launch refuses them (they passed here: a
    # script's empty `board_ip:=$IP` worked in CI and failed on the robot, an audit)
    for bad in ("board_ip:=", ":=x", ":="):
        with pytest.raises(LaunchError, match=f"malformed launch argument '{bad}'"):
            parse_launch_arguments([bad])
    assert parse_launch_arguments(["a:=x:="]) == {"a": "x:="}  # two: its value is "x:="


def test_missing_configuration_and_missing_package_fail(tmp_path, prefix):
    env = environ_with_prefix(prefix)
    with pytest.raises(LaunchError, match="launch configuration 'nope' does not exist"):
        load_launch(launch_file(tmp_path, 'LogInfo(msg=LaunchConfiguration("nope")),\n'),
                    {}, env)
    path = launch_file(tmp_path, 'LogInfo(msg=PathJoinSubstitution([FindPackageShare("x"), '
                                 '"a"])),\n')
    with pytest.raises(LaunchError, match=r"package 'x' not found, searching: \["):
        load_launch(path, {}, env)
    with pytest.raises(LaunchError, match="AMENT_PREFIX_PATH' is not set or empty"):
        load_launch(path, {}, {"AMENT_PREFIX_PATH": ""})


def test_find_package_share_takes_the_first_prefix_that_has_the_package(tmp_path, prefix):
    other = tmp_path / "other"
    other.mkdir()
    env = environ_with_prefix(prefix, {"AMENT_PREFIX_PATH": f"/does/not/exist:{other}"})
    path = launch_file(tmp_path, 'LogInfo(msg=PathJoinSubstitution([FindPackageShare('
                                 f'"{PKG}"), "config", "p.yaml"])),\n')
    assert load_launch(path, {}, env).messages == [str(prefix / "share" / PKG / "config"
                                                       / "p.yaml")]


def test_node_command_line_and_parameter_typing(tmp_path, prefix):
    path = launch_file(tmp_path, f"""\
        Node(package="{PKG}", executable="sleeper", name="pol", namespace="robot1",
             arguments=["--foo", "bar"],
             parameters=[PathJoinSubstitution([FindPackageShare("{PKG}"), "config", "p.yaml"]),
                         "/no/such/params.yaml",
                         {{"seed": LaunchConfiguration("seed"), "name": "3",
                          "ip": LaunchConfiguration("ip"), "xs": [1, 2.5],
                          "nested": {{"a": True}}, "l": LaunchConfiguration("l")}}],
             remappings=[("a", "b")]),
        """)
    with pytest.warns(UserWarning, match="/no/such/params.yaml"):
        # an empty value comes from a default or an include, never the command line
        plan = load_launch(path, {"seed": "3", "ip": "", "l": "[1, 2]"},
                           environ_with_prefix(prefix))
    cmd = node_command(plan.nodes[0], tmp_path)
    files = [cmd[k + 1] for k, a in enumerate(cmd) if a == "--params-file"]
    assert cmd == [str(prefix / "lib" / PKG / "sleeper"), "--foo", "bar", "--ros-args",
                   "-r", "__node:=pol", "-r", "__ns:=/robot1",
                   "--params-file", str(prefix / "share" / PKG / "config" / "p.yaml"),
                   "--params-file", files[1], "-r", "a:=b"]
    assert yaml.safe_load(Path(files[1]).read_text()) == {"/robot1/pol": {"ros__parameters": {
        "seed": 3, "name": "3", "ip": "", "xs": [1.0, 2.5], "nested.a": True, "l": [1, 2]}}}
    mixed = launch_file(tmp_path, f'Node(package="{PKG}", executable="sleeper", '
                                  'parameters=[{"m": LaunchConfiguration("m")}]),\n')
    with pytest.raises(LaunchError, match="TypeError"):
        load_launch(mixed, ["m:=[1, a]"], environ_with_prefix(prefix))


def test_parameter_value_of_str_keeps_the_text(tmp_path, prefix):
    """launch_ros's ParameterValue(value_type=str) passes a substitution's text unread by
    YAML (a bare one typed "2025-01-01" as a date, which launch refuses); value_type None
    reads it as YAML; the harness refuses the value types it does not implement."""
    path = tmp_path / "pv.launch.py"
    path.write_text(textwrap.dedent(f"""\
        from launch import LaunchDescription
        from launch.substitutions import LaunchConfiguration
        from launch_ros.actions import Node
        from launch_ros.parameter_descriptions import ParameterValue


        def generate_launch_description():
            return LaunchDescription([Node(package="{PKG}", executable="sleeper", parameters=[{{
                "s": ParameterValue(LaunchConfiguration("a"), value_type=str),
                "n": ParameterValue(LaunchConfiguration("a"))}}])])
        """))
    plan = load_launch(path, ["a:=123"], environ_with_prefix(prefix))
    assert plan.nodes[0].parameter_files == [{"s": "123", "n": 123}]
    with pytest.raises(LaunchError, match="TypeError"):  # n: a date
        load_launch(path, ["a:=2025-01-01"], environ_with_prefix(prefix))
    typed = path.read_text().replace("LaunchConfiguration(\"a\"))",
                                     "LaunchConfiguration(\"a\"), value_type=int)")
    path.write_text(typed)
    with pytest.raises(LaunchError, match="harness: ParameterValue with value_type"):
        load_launch(path, ["a:=1"], environ_with_prefix(prefix))


def test_empty_namespace_and_no_namespace(tmp_path, prefix):
    path = launch_file(tmp_path, f'Node(package="{PKG}", executable="sleeper", name="n", '
                                 'namespace="", parameters=[{"a": 1}]),\n'
                                 f'Node(package="{PKG}", executable="sleeper"),\n')
    with_ns, without = load_launch(path, {}, environ_with_prefix(prefix)).nodes
    cmd = node_command(with_ns, tmp_path)
    assert cmd[2:6] == ["-r", "__node:=n", "-r", "__ns:=/"]
    assert "/n" in yaml.safe_load(Path(cmd[-1]).read_text())
    assert node_command(without, tmp_path)[1:] == ["--ros-args"]


def test_unknown_keywords_and_executables_are_refused(tmp_path, prefix):
    env = environ_with_prefix(prefix)
    with pytest.raises(TypeError):
        load_launch(launch_file(tmp_path, f'Node(package="{PKG}", executable="sleeper", '
                                          'condition=None),\n'), {}, env)
    with pytest.raises(LaunchError, match="executable 'nope' not found on the libexec"):
        load_launch(launch_file(tmp_path, f'Node(package="{PKG}", executable="nope"),\n'),
                    {}, env)


def test_on_exit_shutdown_stops_the_others_and_the_launch_ends(tmp_path, prefix):
    path = launch_file(tmp_path, f"""\
        Node(package="{PKG}", executable="sleeper", name="a"),
        Node(package="{PKG}", executable="dies", name="b", arguments=["3"],
             on_exit=[LogInfo(msg="b is gone"), Shutdown()]),
        """)
    plan = load_launch(path, {}, environ_with_prefix(prefix))
    with LaunchedNodes(plan, tmp_path / "logs") as run:
        assert run.wait(10.0)
    assert run.result == 0 and run.returncodes == {"a": 0, "b": 3}
    assert run.shutdown_reason.startswith("process[b] was required")
    assert "b is gone" in run.messages


def test_the_launch_ends_when_every_process_has_exited(tmp_path, prefix):
    path = launch_file(tmp_path, f'Node(package="{PKG}", executable="dies", name="x", '
                                 'arguments=["5"]),\n')
    with LaunchedNodes(load_launch(path, {}, environ_with_prefix(prefix)),
                       tmp_path / "logs") as run:
        assert run.wait(10.0)
        assert run.shutdown_reason is None
    assert run.result == 0 and run.exits == {"x": [5]}


def test_respawn_restarts_on_any_exit_up_to_max_retries(tmp_path, prefix):
    path = launch_file(tmp_path, f'Node(package="{PKG}", executable="dies", name="x", '
                                 'arguments=["0"], respawn=True, respawn_delay=0.1, '
                                 'respawn_max_retries=2),\n')
    with LaunchedNodes(load_launch(path, {}, environ_with_prefix(prefix)),
                       tmp_path / "logs") as run:
        assert run.wait(15.0)
    assert run.exits == {"x": [0, 0, 0]}  # one run and two respawns


def test_shutdown_escalates_to_sigterm_then_sigkill(tmp_path, prefix):
    """sigterm_timeout / sigkill_timeout are undeclared launch arguments real launch reads."""
    path = launch_file(tmp_path, f'Node(package="{PKG}", executable="stubborn", name="s"),\n')
    plan = load_launch(path, ["sigterm_timeout:=0.5", "sigkill_timeout:=0.5"],
                       environ_with_prefix(prefix))
    with LaunchedNodes(plan, tmp_path / "logs") as run:
        time.sleep(0.5)  # let it install its handlers
        start = time.monotonic()
        run.shutdown("test")
        assert run.wait(5.0)
        took = time.monotonic() - start
    assert run.returncodes == {"s": -9}
    assert 0.9 <= took < 3.0
    log = run.log("s")
    assert log.index("got 2") < log.index("got 15")  # SIGINT, then SIGTERM


def test_stand_in_executables_run_from_an_interpreter_path_with_a_space(tmp_path, monkeypatch):
    """A `#!` line cannot name an interpreter under "/work/trial paths/" (an outsider's
    clone: 11 tests failed with FileNotFoundError); the scripts the tests write start it
    through /bin/sh then."""
    import subprocess
    import sys

    folder = tmp_path / "trial paths"
    folder.mkdir()
    (folder / "py thon").symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(folder / "py thon"))
    script = folder / "a node"
    script.write_text(python_script_header() + "import sys\nprint(sys.argv[1:])\n")
    script.chmod(0o755)
    run = subprocess.run([script, "x y", "z"], capture_output=True, text=True, timeout=30)
    assert (run.returncode, run.stdout) == (0, "['x y', 'z']\n"), run.stderr


@pytest.mark.parametrize("namespace", ["//robot1", "robot-1", "robot1/"])
def test_a_namespace_real_launch_refuses_is_refused_before_any_process(tmp_path, prefix,
                                                                      namespace):
    """The harness made '//robot1' '/robot1' and passed 'robot-1' on to rcl; launch_ros
    checks the namespace before the process starts (an audit)."""
    path = launch_file(tmp_path, f'Node(package="{PKG}", executable="sleeper", name="n", '
                                 f'namespace="{namespace}"),\n')
    with pytest.raises(LaunchError, match="Invalid namespace"):
        load_launch(path, {}, environ_with_prefix(prefix))
