"""The `neuroq` command line: help everywhere, one clear line for every user error."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuroq.agents.cli.main import COMMANDS, build_parser, main
from tests.helpers import REPO_ROOT

ROOT = Path(__file__).resolve().parent.parent


def neuroq(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuroq.agents.cli.main", *args],
                          capture_output=True,
                          text=True, cwd=cwd, env={**os.environ}, timeout=120)


def test_top_level_help_lists_every_command():
    out = neuroq("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert f"neuroq {command}" in text and "options" in text


def _one_line_error(out: subprocess.CompletedProcess, fragment: str) -> None:
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert fragment in lines[0]


def test_unknown_env_id():
    _one_line_error(neuroq("train", "--env", "CartPol-v1"), "unknown env id 'CartPol-v1'")
    # nothing close: the forms an env of one's own takes (an outsider tried a dotted path)
    # the demo checked for a robot interface first and sent a typo to write one (an outsider)
    _one_line_error(neuroq("demo", "--env", "CartPol-v1"), "unknown env id 'CartPol-v1'")
    _one_line_error(neuroq("train", "--env", "owndrone.env.DroneAltitude"),
                    "unknown env id 'owndrone.env.DroneAltitude'; an env of your own is named "
                    "'module:ClassName'")


def test_options_are_taken_only_spelt_out_and_a_close_one_is_named(tmp_path):
    """argparse's prefix matching took a newcomer's `--timestep 4` for `--timesteps`
    without a word."""
    _one_line_error(neuroq("convert", str(tmp_path), "--timestep", "4"),
                    "unrecognized arguments: --timestep 4 (--timestep: did you mean "
                    "--timesteps?)")


def test_eval_of_a_run_of_an_earlier_stage_names_the_stages_left(tmp_path):
    run = tmp_path / "train-seed0-x"
    run.mkdir()
    (run / "config.yaml").write_text("env_id: CartPole-v1\nseed: 0\nhyperparameters: {}\n")
    _one_line_error(neuroq("eval", str(run)),
                    "it is a train run: convert, finetune and export make an artifact of it "
                    f"(next: neuroq convert {run})")
    (run / "config.yaml").write_text("stage: convert\nenv_id: CartPole-v1\n")
    _one_line_error(neuroq("eval", str(run)), "it is a convert run: finetune and export make")
    (run / "config.yaml").write_text("stage: finetune\nenv_id: CartPole-v1\n")
    _one_line_error(neuroq("eval", str(run)), "it is a finetune run: export makes an artifact")
    # a config.yaml that does not read: the plain line, no hint
    (run / "config.yaml").write_text("stage: [unclosed\n")
    _one_line_error(neuroq("eval", str(run)), "is not an artifact: it has no manifest.json")


def test_bad_hyperparameter_in_yaml(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("CartPole-v1:\n  learning_rat: 0.1\n")
    _one_line_error(neuroq("train", "--config", str(cfg), "--out", str(tmp_path)),
                    "unknown hyperparameter 'learning_rat'")


def test_malformed_yaml(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("CartPole-v1:\n  gamma: [0.9\n")
    _one_line_error(neuroq("train", "--config", str(cfg)), "is not valid YAML")


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    _one_line_error(neuroq("train", "--out", str(blocker / "runs")),
                    "cannot write the output folder")


def test_run_folder_that_does_not_exist(tmp_path):
    _one_line_error(neuroq("show", str(tmp_path / "missing")), "does not exist")


def test_main_returns_exit_code_for_user_errors(capsys, tmp_path):
    assert main(["show", str(tmp_path)]) == 2
    assert "no result.json" in capsys.readouterr().err


def test_show_reads_an_energy_run(capsys, tmp_path):
    """An energy run writes report.json, not result.json (an outsider's `neuroq show` of
    the folder the demo printed said "did the run end early?")."""
    (tmp_path / "report.json").write_text(json.dumps({
        "header": {"env_id": "CartPole-v1", "episodes": 20},
        "main_table": {"header": ["platform", "energy per action"],
                       "rows": [["SpiNNaker2 low", "3.06 uJ [modeled]"]]}}))
    assert main(["show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "CartPole-v1" in out and "SpiNNaker2 low | 3.06 uJ [modeled]" in out


def test_show_reads_a_robustness_run(capsys, tmp_path):
    """`neuroq show` of a robustness run printed stage, env, artifact and episodes: none of
    its figures, seeds or notes (an outsider)."""
    (tmp_path / "result.json").write_text(json.dumps({
        "stage": "robustness", "env_id": "CartPole-v1", "artifact": "cartpole",
        "held_out_seeds": [1000000, 1000019], "episodes": 20, "notes": ["a note"],
        "rows": [{"condition": "none"}]}))
    (tmp_path / "table.md").write_text("| condition | snn |\n|---|---|\n| none | 500.0 |\n")
    assert main(["show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "episode_seeds  1000000..1000019" in out and "note: a note" in out, out
    assert "| none | 500.0 |" in out, out


def test_show_reads_a_deploy_artifact(capsys, tmp_path):
    """`neuroq show config/artifacts/cartpole` said "is not a finished run folder ... did the
    run end early?" (an outsider): it shows the manifest; a damaged one is one line."""
    import shutil

    artifact = ROOT / "config" / "artifacts" / "cartpole"
    assert main(["show", str(artifact)]) == 0
    out = capsys.readouterr().out
    assert "env_id" in out and "CartPole-v1" in out
    # one table: the key column keeps its width; the gate's share rounded (a newcomer saw
    # 0.9720599999999999)
    lines = [x for x in out.splitlines() if not x.startswith("(")]
    assert len({len(x) - len(x[22:]) for x in lines}) == 1 and all(
        x[20:22] == "  " and x[22] != " " for x in lines), out
    assert "gate_seeds            900000..900099" in out
    fraction = next(x for x in lines if x.startswith("gate_fraction")).split()[1]
    assert len(fraction.split(".")[1]) == 4, fraction
    # a share just under its gate is not rounded onto it (a review: 0.89996 read 0.9000)
    from neuroq.deploy.artifact import write_manifest

    near = tmp_path / "near"
    shutil.copytree(artifact, near)
    manifest = json.loads((near / "manifest.json").read_text())
    manifest["gate"].update(fraction=0.89996, threshold=0.9, passed=False)
    write_manifest(near, manifest)
    assert main(["show", str(near)]) == 0
    out = capsys.readouterr().out
    assert "gate_fraction         0.89996" in out and "gate_threshold        0.9" in out, out
    assert main(["show", str(artifact), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["env_id"] == "CartPole-v1"
    broken = tmp_path / "art"
    shutil.copytree(artifact, broken)
    (broken / "manifest.json").write_text("{not json")
    assert main(["show", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "manifest.json" in err[0], err


def test_show_takes_a_shipped_artifact_by_name(capsys, tmp_path, monkeypatch):
    """`neuroq show cartpole` (as `neuroq eval cartpole`), where no such folder is here; a
    misspelt name lists the shipped ones; a blank argument is still an empty path."""
    monkeypatch.chdir(tmp_path)
    assert main(["show", "cartpole"]) == 0
    assert "CartPole-v1" in capsys.readouterr().out
    assert main(["show", "cartpol"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run folder cartpol does not exist" in err[0], err
    assert "(shipped: acrobot, cartpole" in err[0], err
    assert main(["show", " "]) == 2
    assert "an empty path" in capsys.readouterr().err


def test_demo_records_its_command_without_the_local_run_folder():
    """PROVENANCE.md's regenerate line: every argument as given, less --out (a local path)."""
    from neuroq.agents.cli.demo import shipped_command

    argv = ["--env", "CartPole-v1", "--out", "/tmp/x y", "-T", "4", "--randomize",
            "{obs_noise: [0, 0.1]}", "--out=/elsewhere", "--ship", "config/artifacts/cartpole"]
    assert shipped_command(argv) == ("neuroq demo --env CartPole-v1 -T 4 --randomize "
                                     "'{obs_noise: [0, 0.1]}' --ship config/artifacts/cartpole")
    # the fine-tuning options it ran with, where not given: its defaults may change (they
    # did, and the shipped commands no longer regenerated their artifacts: a review)
    from neuroq.agents.cli.main import build_parser

    args = build_parser().parse_args(["demo", *argv, "--epochs=12"])
    assert shipped_command([*argv, "--epochs=12"], args).endswith(
        "--ship config/artifacts/cartpole --epochs=12 --spike-penalty 0")


def test_ctrl_c_while_the_commands_load_is_one_line(monkeypatch, capsys):
    """Building the parser imports every command's module (0.6 s with a cold disk cache
    here): a Ctrl-C then was a KeyboardInterrupt traceback."""
    import neuroq.agents.cli.main as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["replay", "x.raw"]) == 130
    assert capsys.readouterr().err == "neuroq: interrupted\n"


def test_hints_to_paste_quote_a_path_with_a_space(capsys, tmp_path):
    """show's hint named /tmp/my art unquoted (an outsider pasted it)."""
    import shlex
    import shutil

    art = shutil.copytree(REPO_ROOT / "config" / "artifacts" / "cartpole", tmp_path / "my art")
    assert main(["show", str(art)]) == 0
    assert f"neuroq show {shlex.quote(str(art))} --json" in capsys.readouterr().out


def test_show_reads_a_sweep_folder_and_a_tune_studys_best(tmp_path, capsys):
    """`neuroq show` of a finished sweep said "not a finished run folder", and of a tune
    study printed no best trial (an outsider)."""
    import json as _json

    from neuroq.agents.cli.main import main

    sweep = tmp_path / "sweep-s"
    sweep.mkdir()
    (sweep / "trials.json").write_text(_json.dumps({"wall_s": 3.5, "trials": [
        {"status": "ok"}, {"status": "failed"}, {"status": "ok"}]}))
    (sweep / "results.md").write_text("| trial | status |\n|---|---|\n| 0 | ok |\n")
    assert main(["show", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "| trial | status |" in out and "trials_ok      2" in out
    assert "trials_failed  1" in out and "wall_s         3.5" in out
    study = tmp_path / "tune-dqn"
    study.mkdir()
    (study / "result.json").write_text(_json.dumps({
        "env_id": "CartPole-v1", "trials": 3, "study": "study.journal",
        "best": {"number": 2, "value": 195.5, "run_dir": "r", "hyperparameters": {},
                 "held_out": {"mean_return": 210.2, "seeds": [1000000, 1000099]}}}))
    assert main(["show", str(study)]) == 0
    out = capsys.readouterr().out
    assert "best_trial" in out and "best_held_out_mean_return  210.2" in out
    assert "best_held_out_seeds        1000000..1000099" in out


def test_sigterm_stops_a_command_as_ctrl_c_does(tmp_path):
    """A supervisor's `kill` (SIGTERM) ended a command at once and without a word: no
    summary, no cleanup (an outsider's `neuroq energy` left a half-written folder, exit
    143). It now stops as for a Ctrl-C: the "interrupted" line and exit 130; an ignored
    SIGTERM (SIG_IGN, as a parent may set) stays ignored."""
    import signal
    import time

    cmd = [sys.executable, "-m", "neuroq.agents.cli.main", "eval", "cartpole", "--episodes",
           "1000000", "--out", str(tmp_path / "runs")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, start_new_session=True)
    try:
        time.sleep(6.0)  # imports, the artifact loaded, episodes running
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert err.rstrip().splitlines()[-1] == "neuroq eval: interrupted", err[-2000:]
    assert "Traceback" not in err
    ignored = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    try:
        time.sleep(6.0)
        ignored.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert ignored.poll() is None  # still running: the SIGTERM stayed ignored
    finally:
        os.killpg(ignored.pid, signal.SIGKILL)
        ignored.communicate(timeout=30)


@pytest.mark.parametrize("sig, status", [("SIGINT", 0), ("SIGTERM", 0), ("SIGINT", 2)])
def test_a_signal_once_the_command_has_finished_keeps_its_status(sig, status):
    """A Ctrl-C or SIGTERM in the second of Python's shutdown after a command finished
    ended it with status 130 (or 143) and no word, its run complete (an outsider's train,
    its table printed and result.json written). Ignored once the command has finished; a
    Python handler did not survive the shutdown (a recheck), so the signal here comes
    after an exit handler has run, as it would during teardown."""
    script = ("import atexit, os, signal, sys; "
              "from neuroq.agents.cli.main import ignore_late_signals; "
              "print('a table line'); "  # still buffered (a pipe): flushed, not lost
              f"atexit.register(lambda: os.kill(os.getpid(), signal.{sig})); "
              f"ignore_late_signals(); sys.exit({status})")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, env=env)
    assert out.returncode == status and not out.stderr, (out.returncode, out.stderr)
    assert out.stdout == "a table line\n", out.stdout


def test_the_command_goes_through_console_main(monkeypatch):
    """The installed `neuroq` script is console_main, which keeps a late signal's status
    (ignore_late_signals) after main (the review: only the helper was tested)."""
    from importlib.metadata import entry_points

    import neuroq.agents.cli.main as cli

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "neuroq"]
    assert ep.value == "neuroq.agents.cli.main:console_main"
    seen = []
    monkeypatch.setattr(cli, "main", lambda: 7)
    monkeypatch.setattr(cli, "ignore_late_signals", lambda: seen.append("ignored"))
    with pytest.raises(SystemExit) as exc:
        cli.console_main()
    assert exc.value.code == 7 and seen == ["ignored"]


def test_the_command_runs_numpy_s_blas_on_one_thread_unless_told_otherwise():
    """An outsider's batched host times were 25-50 times longer with OpenBLAS's second thread
    on a busy 2-core machine (here, with one core kept busy: 164-236 against 52-59 us per
    action for `neuroq eval nav --episodes 100`). The command sets OPENBLAS_NUM_THREADS=1
    before numpy loads; a value the user set stays."""
    import os

    code = ("import os, sys\n"
            "sys.argv = ['neuroq', 'paths']\n"
            "from neuroq.agents.cli import main as m\n"
            "assert 'numpy' not in sys.modules\n"
            "try:\n"
            "    m.console_main()\n"
            "except SystemExit:\n"
            "    pass\n"
            "print('threads', os.environ['OPENBLAS_NUM_THREADS'])\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    # the nodes' entry points too, before the node's module loads numpy (a review)
    node = ("import os, sys\n"
            "from neuroq.ros_nodes import entry\n"
            "entry._stop_signals_end_start_up()\n"
            "assert 'numpy' not in sys.modules\n"
            "print('threads', os.environ['OPENBLAS_NUM_THREADS'])\n")
    proc = subprocess.run([sys.executable, "-c", node], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0 and proc.stdout == "threads 1\n", proc.stderr
    for given, want in ((None, "1"), ("3", "3")):
        run_env = env if given is None else {**env, "OPENBLAS_NUM_THREADS": given}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60, env=run_env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.rstrip().endswith(f"threads {want}"), proc.stdout
