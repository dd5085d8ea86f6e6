"""`run_closed_loop` (used by `neuroq demo` and the benchmark): episodes over DDS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.evaluate import evaluate
from neuroq.deploy.policy import load_policy
from neuroq.ros_nodes.closed_loop import run_closed_loop
from tests.helpers.artifacts import make_mountaincar_artifact, make_tiny_artifact

pytestmark = pytest.mark.ros


def test_closed_loop_runs_episodes_with_the_in_process_returns(tmp_path):
    artifact = make_tiny_artifact(tmp_path / "art", rate_weight=0)
    report = run_closed_loop(artifact, tmp_path / "logs", rate_hz=100.0, episodes=3, seed=5)
    expected = evaluate(load_policy(artifact), episodes=3, seed=5)["returns"]
    assert report.returns == list(expected)
    summary = report.summary()
    assert 0 < summary["peak_rss_mib"]["policy"] < 1024
    assert int(summary["policy_diagnostics"]["actions_published"]) > 0
    # on failure, each node's log ends with its stacks if its teardown hung (process.py)
    assert all(code == 0 for code in report.exit_codes.values()), (report.exit_codes, {
        f.name: f.read_text()[-3000:] for f in sorted((tmp_path / "logs").glob("*.log"))})


def test_episodes_that_end_within_the_warm_up_are_watched_whole(tmp_path):
    """An outsider's run on a loaded machine returned no latency sample. Two causes: a run
    that ends within the warm-up left an empty watch (the warm-up now ends with the
    episodes, which are then watched from the nodes' start), and a short run ended before
    DDS matched this process at all (2 episodes: 0 of 96 readings seen; the simulated
    robot now starts once the watcher is matched too, `wait_subscribers`, and
    MATCH_SETTLE_S later, since the writer's side matches first). Once the episodes have
    ended no reading's command is in flight: the last 0.5 s are no longer left out (47 of
    96 were counted before)."""
    artifact = make_tiny_artifact(tmp_path / "art", rate_weight=0)
    report = run_closed_loop(artifact, tmp_path / "logs", rate_hz=100.0, episodes=2, seed=5,
                             warmup_s=120.0)
    assert report.warmup_included and report.summary()["warmup_included"] is True
    assert report.returns == list(evaluate(load_policy(artifact), episodes=2,
                                           seed=5)["returns"])
    assert report.latency_ms.size >= 0.9 * sum(report.returns), report.latency_ms.size
    assert report.watched_s < 100  # not the warm-up's 120 s


def test_closed_loop_without_observer_reports_the_nodes_own_latency(tmp_path):
    artifact = make_tiny_artifact(tmp_path / "art", rate_weight=0)
    report = run_closed_loop(artifact, tmp_path / "logs", rate_hz=100.0, episodes=2, seed=1,
                             observe=False)
    assert report.returns == list(evaluate(load_policy(artifact), episodes=2,
                                           seed=1)["returns"])
    s = report.summary()
    assert s["readings_seen"] == 0  # nothing watched from outside
    robot, act = s["robot_loop_latency_ms"], s["actuator_reading_to_command_ms"]
    assert 0 < robot["median"] <= robot["p99"] <= robot["max"] * 1.01 < 1000
    assert 0 < act["median"] < robot["max"] * 1.01  # published before it arrives
    assert s["robot_loop_latency_samples"] >= sum(report.returns)
    assert s["sim_lost_commands"] == "0"


def test_shipped_acrobot_artifact_closes_the_loop_with_the_in_process_returns(tmp_path):
    """What `ros2 launch neuroq acrobot_sim.launch.py` runs by default, at 50 Hz here."""
    repo = Path(__file__).resolve().parents[1]
    artifact = repo / "config" / "artifacts" / "acrobot"
    report = run_closed_loop(artifact, tmp_path / "logs", rate_hz=50.0, episodes=2, seed=0,
                             config=repo / "config" / "acrobot_sim.yaml", observe=False)
    assert report.returns == list(evaluate(load_policy(artifact), episodes=2,
                                           seed=0)["returns"])
    # every episode solved: the tip reached the line before Acrobot's 500-step limit (-500)
    assert all(r > -500 for r in report.returns)


#: Episodes of the MountainCar loop (about 1 s each at 100 Hz): some run after the window.
EPISODES_MC = 7
#: Seconds from start that cover Fast DDS's start-up stall (its first participant
#: announcement, about 3 s, plus the 333 ms sleep).
DDS_STALL_WINDOW_S = 4.0


def test_an_env_with_only_a_shipped_interface_closes_the_loop_with_the_in_process_returns(
        tmp_path):
    """MountainCar-v0 over ROS 2 as docs/ros.md tells a user to run it: a parameters file
    whose sim robot names the interface (mountaincar: config/interfaces/mountaincar.yaml);
    the policy and actuator find it by the artifact's environment (its manifest records no
    interface). Seed 1000's episode stops at the left wall (-1.2), the bound of the
    interface's limits."""
    artifact = make_mountaincar_artifact(tmp_path / "art")
    config = tmp_path / "mountaincar_sim.yaml"
    config.write_text(yaml.safe_dump({
        "neuroq_sim_robot": {"ros__parameters": {"interface": "mountaincar",
                                                 "control_rate_hz": 100.0}},
        "neuroq_policy": {"ros__parameters": {"backend": "emulator"}},
        "neuroq_actuator": {"ros__parameters": {"watchdog_timeout_s": 0.015}}}))
    # Fast DDS may stall one send for 333 ms about 3 s after start (docs/ros.md,
    # "Lost commands at start-up: a 333 ms Fast DDS shared-memory health check"); the
    # lockstep robot publishes that reading again, so returns still match, and commands are
    # counted lost only after that window
    report = run_closed_loop(artifact, tmp_path / "logs", rate_hz=100.0, episodes=EPISODES_MC,
                             warmup_s=DDS_STALL_WINDOW_S, seed=1000, config=config,
                             observe=False, max_wall_s=60.0)
    assert report.returns == list(evaluate(load_policy(artifact), episodes=EPISODES_MC,
                                           seed=1000)["returns"])
    assert report.summary()["sim_lost_commands_watched"] == 0


def test_the_demo_ros_stage_runs_an_interface_without_a_shipped_parameters_file(tmp_path,
                                                                              capfd):
    """`neuroq demo --env MountainCar-v0` ends with this stage. No config/<name>_sim.yaml
    is shipped for the artifact's interface (here one recorded only in its manifest, with
    a joint name no shipped file has): the stage writes a parameters file for it."""
    from neuroq.deploy.interface import load_interface
    from neuroq.ros_nodes.demo_ros import run_ros_demo

    spec = load_interface("mountaincar").to_dict()
    spec["name"] = "my_mountaincar"
    for feature in spec["observation"]:
        feature["joint"] = "my_car"
    spec["command"]["channels"] = ["my_car"]
    artifact = make_mountaincar_artifact(tmp_path / "art", interface=spec)
    summary = run_ros_demo(artifact, episodes=2, seed=1000)
    assert summary["episode_returns"] == list(evaluate(load_policy(artifact), episodes=2,
                                                       seed=1000)["returns"])
    # the line names its seeds and says whether they are the in-process returns (a
    # newcomer could not tell whether a 343 among 500s was the network's or the loop's)
    line = next(x for x in capfd.readouterr().out.splitlines() if "returns over ROS 2" in x)
    assert "seeds 1000..1001)" in line and line.endswith(
        "equal to the in-process returns on those seeds"), line
    from neuroq.ros_nodes.demo_ros import against_in_process

    said = against_in_process(artifact, [0.0, 0.0], 2, 1000)
    assert said["equal"] is False and said["text"].startswith("DIFFER")
    assert summary["in_process"]["equal"] is True


def test_cpu_shares_process_cpu_time_and_resident_memory():
    import os
    from types import SimpleNamespace

    from neuroq.ros_nodes.closed_loop import (
        cpu_shares,
        machine_cpu_times,
        process_cpu_s,
        rss_kib,
        update_peaks,
    )

    def times(user, nice, system, idle, iowait, irq, softirq, steal):
        return SimpleNamespace(user=user, nice=nice, system=system, idle=idle, iowait=iowait,
                               irq=irq, softirq=softirq, steal=steal, guest=0.0)

    before = times(100, 0, 10, 500, 0, 0, 0, 5)
    after = times(160, 0, 20, 580, 20, 0, 0, 25)
    shares = cpu_shares(before, after)
    assert shares == pytest.approx({"busy": 70 / 190, "idle": 100 / 190, "steal": 20 / 190})
    assert cpu_shares(before, before) == {"busy": None, "idle": None, "steal": None}
    assert cpu_shares(None, after)["steal"] is None
    now = machine_cpu_times()
    assert now is not None and now.user > 0 and now.idle >= 0
    used = process_cpu_s(os.getpid())
    sum(i * i for i in range(300_000))  # burn a little CPU
    assert used is not None and process_cpu_s(os.getpid()) >= used > 0
    missing = 2**22 + 12345  # no such process
    assert process_cpu_s(missing) is None and rss_kib(missing) is None
    rss = rss_kib(os.getpid())
    assert rss is not None and 1024 < rss < 16 * 1024 * 1024
    peaks = {"me": 10, "gone": None}
    update_peaks(peaks, {"me": os.getpid(), "gone": missing})
    assert peaks["me"] >= rss * 0.9 and peaks["gone"] is None


def test_closed_loop_reports_a_policy_that_will_not_start(tmp_path):
    with pytest.raises(NeuroqError, match="policy node exited early"):
        run_closed_loop(tmp_path / "missing", tmp_path / "logs", duration_s=1.0,
                        start_timeout_s=20.0)
    assert "not activating" in (tmp_path / "logs" / "policy.log").read_text()


def test_lost_commands_while_watched_leave_out_the_warm_up():
    from neuroq.ros_nodes.closed_loop import LoopReport

    def report(at_start):
        return LoopReport(100.0, 60.0, 0, 0, 0, np.zeros(0), np.zeros(0), [], 0, {},
                          {"sim_robot": {"lost_commands": "3"}},
                          diagnostics_at_start=at_start).summary()

    assert report({"lost_commands": "2"})["sim_lost_commands_watched"] == 1
    assert report({})["sim_lost_commands_watched"] == 3  # no snapshot: the whole run
    assert report({"lost_commands": "x"})["sim_lost_commands_watched"] is None
    assert report({"lost_commands": "2"})["sim_lost_commands"] == "3"


def test_running_the_demo_ros_module_says_what_runs_it():
    """`python -m neuroq.ros_nodes.demo_ros` (a library module) did nothing, exit 0."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "neuroq.ros_nodes.demo_ros"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "run `neuroq demo`" in done.stderr, done


@pytest.mark.parametrize("argv, expected", [
    (["--episodes", "0"], "argument --episodes: must be an integer >= 1, got 0"),
    (["--rate", "-1"], "argument --rate: must be > 0, got -1"),
    (["--seed", "-3"], "argument --seed: a seed is an integer in [0, 2**32 - 1]"),
    (["--seed", "4294967295", "--episodes", "2"], "reaches 4294967296, beyond the largest"),
    (["--artifact", "/nonexistent"], "demo_nav: error: artifact /nonexistent does not exist"),
])
def test_the_nav_demo_refuses_bad_options_before_it_starts(argv, expected, capsys):
    """An outsider's `demo_nav --episodes 0` printed the empty seed range 1000000..999999,
    then its error: the options are checked as the CLI's are, before the banner."""
    from neuroq.ros_nodes.demo_nav import main

    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's refusals
        status = exc.code
    assert status == 2
    out, err = capsys.readouterr()
    assert expected in err and out == "", (out, err)


def test_the_nav_demo_without_ros_2_says_so_in_one_line(monkeypatch, capsys):
    """A recheck: `python -m neuroq.ros_nodes.demo_nav` in an install without ROS 2 printed
    its banner, then an ImportError traceback on rclpy, exit 1. A module standing in for a
    missing one (this venv has ROS 2)."""
    from neuroq.ros_nodes import entry
    from neuroq.ros_nodes.demo_nav import main

    monkeypatch.setattr(entry, "ROS_MODULES", ("no_such_ros_msgs",))
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("python -m neuroq.ros_nodes.demo_nav: error: needs "
                                        "ROS 2 (no_such_ros_msgs is not installed)"), err


def test_the_nav_demo_of_an_env_without_goals_prints_its_returns_only(monkeypatch, capsys):
    """A recheck's `demo_nav --artifact cartpole`: the loop ran (500, equal in process),
    then a KeyError on the in-process success rate, exit 1. The ROS 2 run stands in here
    (its summary, as run_ros_demo gives it for an env that reports no goal)."""
    from neuroq.ros_nodes import demo_ros
    from neuroq.ros_nodes.demo_nav import main

    monkeypatch.setattr(demo_ros, "run_ros_demo", lambda *a, **k: {
        "episode_returns": [500.0], "in_process": {"local": {"returns": [500.0]},
                                                   "equal": True}})
    assert main(["--artifact", "cartpole", "--episodes", "1"]) == 0
    out = capsys.readouterr().out
    assert "success over ROS 2:  not reported" in out and "success in process:  not " \
        "reported" in out and "returns equal over ROS 2 and in process" in out, out
