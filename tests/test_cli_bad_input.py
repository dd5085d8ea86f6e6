"""Wrong input of every kind: one line on stderr, exit status 2, nothing left behind.

The commands run in this process through `neuroq.agents.cli.main.main`, so an uncaught
exception (a traceback) fails the test instead of being turned into a status.
"""

import argparse
import json
import shutil
from pathlib import Path

import pytest

from neuroq.agents.cli.main import main
from neuroq.deploy.artifact import load_artifact, write_manifest
from tests.helpers import REPO_ROOT
from tests.helpers.artifacts import count_manifest_reads

SHIPPED = REPO_ROOT / "config" / "artifacts" / "cartpole"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, command, match):
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"neuroq {command}: error: "), err
    assert match in lines[0], lines[0]
    assert "Traceback" not in err


def tampered(tmp_path: Path, edit) -> Path:
    art = tmp_path / "art"
    shutil.copytree(SHIPPED, art)
    manifest = json.loads((art / "manifest.json").read_text())
    edit(manifest)
    write_manifest(art, manifest)
    return art


def _set(path, value):
    def edit(m):
        *keys, last = path.split(".")
        d = m
        for k in keys:
            d = d[k]
        if value is KeyError:
            del d[last]
        else:
            d[last] = value
    return edit


@pytest.mark.parametrize("path,value,match", [
    ("env_id", 123, "env_id"),
    ("env_id", "", "env_id"),
    ("encoder.silent_tail", 2.5, "silent_tail"),
    ("n_inputs", 65, "n_inputs"),
    ("n_inputs", 0, "n_inputs"),
    ("n_inputs", -1, "n_inputs"),
    ("n_inputs", "sixty-four", "n_inputs"),
    ("n_inputs", KeyError, "n_inputs"),
    ("n_actions", 3, "n_actions"),
    ("n_actions", KeyError, "n_actions"),
    ("observation_space.shape", [7], "observation_space.shape"),
    ("action_space", "Discrete(2)", "action_space"),
    ("action_space.n", 3, "action_space.n"),
    ("timesteps", 5, "timesteps"),
    ("provenance", "nowhere", "provenance"),
])
def test_eval_refuses_a_manifest_that_disagrees_with_its_network(tmp_path, capsys, path,
                                                                  value, match):
    art = tampered(tmp_path, _set(path, value))
    code, _, err = run_cli(capsys, "eval", art, "--episodes", 1, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "eval", match)
    assert not (tmp_path / "runs").exists()


def test_eval_of_an_env_that_does_not_import_is_one_line(tmp_path, capsys):
    art = tampered(tmp_path, _set("env_id", "nosuchmodule:Foo-v0"))
    code, _, err = run_cli(capsys, "eval", art, "--episodes", 1, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "eval", "cannot make environment")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv,match", [
    (["--seed", "-1"], "seed"),
    (["--max-steps", "0"], "max-steps"),
    (["--max-steps", "-5"], "max-steps"),
    (["--episodes", "0"], "episodes"),
])
def test_eval_refuses_bad_settings_before_making_anything(tmp_path, capsys, argv, match):
    code, _, err = run_cli(capsys, "eval", SHIPPED, *argv, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "eval", match)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_train_refuses_a_non_finite_hyperparameter_and_writes_no_run(tmp_path, capsys, value):
    pytest.importorskip("stable_baselines3")
    cfg = tmp_path / "dqn.yaml"
    cfg.write_text(f"CartPole-v1:\n  learning_rate: {value}\n  n_timesteps: 300\n")
    code, _, err = run_cli(capsys, "train", "--config", cfg, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "train", "learning_rate")
    assert not list((tmp_path / "runs").rglob("config.yaml"))


@pytest.mark.parametrize("setting, seeds, match", [
    ("randomize={physics: {bar: [1, 2]}}", [],
     "randomize.physics: CartPole-v1 has no physics parameter 'bar'"),
    ("select_randomize={physics: {length: [0, 1]}}", ["--seeds", "1", "2"],
     "select_randomize.physics: physics parameter length must be positive, got 0"),
])
def test_train_checks_its_randomizations_against_the_env_and_writes_no_run(
        tmp_path, capsys, setting, seeds, match):
    """A physics parameter CartPole does not have was a ValueError traceback from inside
    the first episode; a pole of length 0 in select_randomize trained (finetune refused
    it). Both are refused before any run folder, one seed or several."""
    pytest.importorskip("stable_baselines3")
    code, _, err = run_cli(capsys, "train", "--env", "CartPole-v1", "--set", setting,
                           "n_timesteps=300", *seeds, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "train", match)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.yaml"))


def test_tune_checks_its_randomizations_before_the_study(tmp_path, capsys):
    """`neuroq tune --set 'randomize={physics: {bar: [1, 2]}}'` ran every trial to a failure,
    exited 0 and kept the study's settings, so that the corrected command was refused as
    'begun with other settings' (a reviewer). One line now, before the study's folder."""
    pytest.importorskip("optuna")
    code, _, err = run_cli(capsys, "tune", "--env", "CartPole-v1", "--serial", "--trials",
                           "1", "--set", "randomize={physics: {bar: [1, 2]}}", "--out",
                           tmp_path / "runs")
    assert_one_line_error(code, err, "tune", "randomize.physics: CartPole-v1 has no physics "
                                             "parameter 'bar'")
    assert not list(tmp_path.rglob("settings.yaml"))


def test_convert_of_a_garbage_model_is_one_line_and_leaves_no_run(tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    run = tmp_path / "runs" / "CartPole-v1" / "train-seed0-garbage"
    run.mkdir(parents=True)
    (run / "best_model.zip").write_bytes(b"this is not a zip file" * 10)
    (run / "result.json").write_text(json.dumps({"env_id": "CartPole-v1",
                                                 "model": "best_model.zip"}))
    code, _, err = run_cli(capsys, "convert", run, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "convert", "cannot load the DQN")
    assert [p.name for p in (tmp_path / "runs" / "CartPole-v1").iterdir()] == [run.name]


@pytest.mark.parametrize("argv,match", [
    (["train", "--env", "CartPole-v1", "--seed", "-1"], "argument --seed"),
    (["train", "--env", "CartPole-v1", "--seed", str(2**32)], "argument --seed"),
    (["train", "--env", "CartPole-v1", "--seeds", "-1", "2"], "argument --seeds"),
    (["train", "--env", "CartPole-v1", "--seeds", "3", "0", "3"], "--seeds: 3 given more"),
    (["train", "--env", "CartPole-v1", "--threads", "0"], "argument --threads"),
    (["train", "--env", "CartPole-v1", "--steps", "500", "--set", "n_timesteps=20000"],
     "--steps 500 and --set n_timesteps"),
    (["train", "--env", "CartPole-v1", "--set", "gamma=0.9", "gamma=0.99"],
     "gamma given more than once"),
    (["train", "--env", "CartPole-v1", "--set", "gamma=0.9", "--set", "gamma=0.99"],
     "gamma given more than once"),  # a second --set replaced the first (a reviewer)
    (["train", "--env", "CartPole-v1", "--set", "n_timesteps=900", "--set", "gamma=0.9",
      "--steps", "500"], "--steps 500 and --set n_timesteps"),
    (["tune", "--env", "CartPole-v1", "--steps", "500", "--set", "n_timesteps=900"],
     "--steps 500 and --set n_timesteps"),
    (["demo", "--steps", "500", "--set", "n_timesteps=900"], "--steps 500 and --set n_timesteps"),
    (["demo", "--set", "nope=1"], "unknown hyperparameter 'nope'"),
    (["train", "--env", "CartPole-v1", "--steps", "-5"], "argument --steps"),
    (["convert", "runs/x", "--seed", "-1"], "argument --seed"),
    (["finetune", "runs/x", "--seed", "-1"], "argument --seed"),
    (["robustness", SHIPPED, "--noise", "-0.1"], "argument --noise"),
    (["robustness", SHIPPED, "--noise", "nan"], "argument --noise"),
    (["robustness", SHIPPED, "--drop", "1.5"], "argument --drop"),
    (["robustness", SHIPPED, "--episodes", "-2"], "argument --episodes"),
    (["robustness", SHIPPED, "--action-delay", "-1"], "argument --action-delay"),
    (["eval", SHIPPED, "--episodes", "abc"], "argument --episodes"),
    (["eval", SHIPPED, "--episodes", "1.5"], "not an integer: '1.5'"),
    (["eval", SHIPPED, "--episodes", "1e300"], "too large in float notation: '1e300'"),
    # an outsider's fuzzing: each was a traceback, or a new run, once the command had started
    (["eval", SHIPPED, "--episodes", "99999999999999999999"], "must be at most 10,000,000"),
    (["export", "runs/x", "--gate-episodes", "20000000"], "must be at most 10,000,000"),
    (["eval", "a" * 300, "--episodes", "1"], "File name too long (300 characters"),
    (["eval", "cart\npole", "--episodes", "1"], "cart\\npole does not exist"),
    (["train", "--env", "gymnasium:Env", "--steps", "200"], "has no observation_space"),
    (["eval", SHIPPED, "--episodes", "1", "--video", "/proc/x.gif"], "--video: cannot write"),
    (["eval", SHIPPED, "--episodes", "1", "--video", ""], "--video: an empty path"),
    (["eval", SHIPPED, "--backend", "spinnaker2", "--board-ip", "999.1.1.1"],
     "board_ip '999.1.1.1' is not an IP address or a host name"),
    (["eval", SHIPPED, "--no-such-option"], "unrecognized arguments"),
])
def test_a_bad_command_line_is_one_line_before_anything_runs(tmp_path, capsys, argv, match):
    """Found by an outsider: negative or 33-bit seeds, --threads 0, --noise -0.1 and
    --drop 1.5 ended in tracebacks (exit 1), some after minutes of work; repeated seeds
    trained the same network twice."""
    code, out, err = run_cli(capsys, *argv, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, argv[0], match)
    assert not (tmp_path / "runs").exists() and not out


@pytest.mark.parametrize("argv,match", [
    (["finetune", "runs/x", "--epochs", "0"], "argument --epochs"),
    (["finetune", "runs/x", "--lr", "-1"], "argument --lr"),
    (["finetune", "runs/x", "--batch-size", "0"], "argument --batch-size"),
    (["replay", "x.raw", "--speed", "0"], "argument --speed"),
    (["replay", "x.raw", "--max-packets", "-1"], "argument --max-packets"),
    (["demo", "--epochs", "0"], "argument --epochs"),
    (["eval", SHIPPED, "--max-steps", "0"], "argument --max-steps"),
    # T without a bound ran on without a word (T = 100000: 100 s of chip time per action)
    (["convert", "runs/x", "-T", "1025"], "argument --timesteps/-T: must be at most 1024"),
    (["convert", "runs/x", "--eval-timesteps", "8", "5000"],
     "argument --eval-timesteps: must be at most 1024"),
    (["import", "g.nir", "--env", "CartPole-v1", "--encoder", "e.yaml", "-T", "0"],
     "argument --timesteps/-T: must be an integer >= 1"),
    (["import", "g.nir", "--env", "CartPole-v1", "--encoder", "e.yaml", "-T", "100000"],
     "argument --timesteps/-T: must be at most 1024"),
    (["demo", "-T", "2000"], "argument --timesteps/-T: must be at most 1024"),
    # negative numbers argparse does not take for numbers were "expected one argument"
    (["replay", "x.raw", "--speed", "-inf"], "argument --speed: must be > 0, got -inf"),
    (["replay", "x.raw", "--speed", "-1e3"], "argument --speed: must be > 0, got -1000"),
    (["finetune", "runs/x", "--lr", "-1e-3"], "argument --lr: must be > 0"),
    (["robustness", SHIPPED, "--noise", "-.5E1"], "argument --noise: must be >= 0, got -5"),
])
def test_each_bad_setting_is_named(tmp_path, capsys, argv, match):
    """One message per option, naming it: finetune said "epochs and batch size must be >=
    1, lr > 0, ..." for any of them, and demo took --epochs 0 until its third stage."""
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, argv[0], match)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("sweep,match", [
    ("4,4", "argument --sweep: T = 4 given more than once"),
    ("4,100000", "T at most 1024 (1 s of chip time per action), got 100000"),  # ran on
])
def test_an_energy_sweep_without_bounds_or_with_a_repeat_is_one_line(tmp_path, capsys,
                                                                      sweep, match):
    code, _, err = run_cli(capsys, "energy", SHIPPED, "--sweep", sweep, "--out",
                           tmp_path / "runs")
    assert_one_line_error(code, err, "energy", match)
    assert not (tmp_path / "runs").exists()


def test_an_energy_sweep_shorter_than_the_network_is_refused_first(tmp_path, capsys):
    pytest.importorskip("torch")
    code, _, err = run_cli(capsys, "energy", SHIPPED, "--sweep", "1,2", "--out",
                           tmp_path / "runs")
    assert_one_line_error(code, err, "energy", "T must be at least 4")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv,match", [
    (["finetune", "runs/x", "--eval-episodes", "0"], "argument --eval-episodes"),
    (["demo", "--spike-penalty", "-1"], "argument --spike-penalty"),
    (["demo", "-T", "0"], "argument --timesteps"),
    (["demo", "--gate", "3"], "argument --gate"),
    (["export", "runs/x", "--gate", "-0.5"], "argument --gate"),
    (["train", "--env", "CartPole-v1", "--seed", str(2**32)], "2**32 - 1"),
])
def test_options_the_stages_refuse_later_are_refused_first(tmp_path, capsys, argv, match):
    """From the review: values the parser let through and a later stage refused after
    minutes of work (demo's -T, --gate, --spike-penalty; --eval-episodes 0)."""
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, argv[0], match)


def test_zero_validation_episodes_still_means_agreement_only(capsys):
    """`finetune --validation-episodes 0` is documented (agreement only): the parser keeps
    taking it (the run then fails only on its missing folder)."""
    code, _, err = run_cli(capsys, "finetune", "runs/does-not-exist", "--validation-episodes",
                           "0")
    assert code == 2 and "argument --validation-episodes" not in err, err


# --- found by an outsider: wrong input reported only after the work, or misreported ------


def _no_work(monkeypatch, module: str, name: str) -> None:
    """Replace the long work of a command with a failure: the check must come first."""
    import importlib

    def work(*args, **kwargs):
        pytest.fail(f"{module}.{name} ran before the input was checked")

    monkeypatch.setattr(importlib.import_module(module), name, work)


WORK = {"eval": ("neuroq.agents.evaluate", "evaluate_artifact"),
        "robustness": ("neuroq.agents.robustness", "run_robustness"),
        "energy": ("neuroq.agents.energy", "energy_report")}
#: deploy's work: compiling the network for the chip
DEPLOY_WORK = {"deploy": ("neuroq.deploy.compiler", "compile_program")}


@pytest.mark.parametrize("command", list(WORK))
def test_an_unwritable_out_is_refused_before_the_work(tmp_path, capsys, monkeypatch, command):
    """eval, robustness and energy --out /proc/x said so only after all episodes."""
    if command == "energy":
        pytest.importorskip("torch")
    _no_work(monkeypatch, *WORK[command])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run_cli(capsys, command, SHIPPED, "--out", blocker / "runs")
    assert_one_line_error(code, err, command, "cannot write the output folder")
    assert not out


#: the stages that make a run folder from another run or a file, with their work and the
#: rest of a command line that would start it (the inputs need not exist: --out comes first)
MAKERS = {"convert": (("neuroq.agents.convert", "run_convert"), ["runs/train-x"]),
          "finetune": (("neuroq.agents.finetune", "run_finetune"), ["runs/convert-x"]),
          "export": (("neuroq.agents.export", "export"), ["runs/finetune-x"]),
          "import": (("neuroq.agents.nir_import", "run_import"),
                     ["g.nir", "--env", "CartPole-v1", "--encoder", "e.yaml"]),
          "tune": (("neuroq.agents.tune", "run_tune"), ["--env", "CartPole-v1"]),
          "sweep": (("neuroq.agents.sweep", "run_sweep"), ["spec.yaml"]),
          "demo": (("neuroq.agents.pipeline", "run_pipeline"), [])}


@pytest.mark.parametrize("command", list(MAKERS))
def test_stages_refuse_an_unwritable_out_before_reading_or_working(tmp_path, capsys,
                                                                   monkeypatch, command):
    """convert, finetune, export, import, tune, sweep and demo wrote their run folder only
    after the work: `convert <run> --out /proc/x` evaluated for 13 s, then failed."""
    pytest.importorskip("torch")
    work, rest = MAKERS[command]
    _no_work(monkeypatch, *work)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run_cli(capsys, command, *rest, "--out", blocker / "runs")
    assert_one_line_error(code, err, command, "cannot write the output folder")
    assert not out


def test_the_out_check_leaves_no_folder_behind(tmp_path):
    """The check of --out makes the folder to try it, and removes what it made again, so a
    command refused afterwards has made nothing."""
    from neuroq.agents.cli.checks import writable
    from neuroq.deploy.errors import NeuroqError

    assert writable(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    (tmp_path / "kept").mkdir()
    writable(tmp_path / "kept")
    assert (tmp_path / "kept").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(NeuroqError, match="choose another with --ship"):
        writable(tmp_path / "file" / "x", "--ship")


def test_the_out_check_never_removes_what_another_command_wrote(tmp_path, monkeypatch):
    """Another command writing into the folders the check made, while it checks: they stay
    (the check removed them with rmtree, another run's folder inside included)."""
    from neuroq.agents import runs
    from neuroq.agents.cli.checks import writable

    real = runs.ensure_writable

    def and_another_run(folder, *args):
        made = real(folder, *args)
        (tmp_path / "res" / "other-run").mkdir()  # a second command's run folder
        (tmp_path / "res" / "other-run" / "result.json").write_text("{}")
        return made

    monkeypatch.setattr(runs, "ensure_writable", and_another_run)
    writable(tmp_path / "res" / "mine")
    assert not (tmp_path / "res" / "mine").exists()
    assert (tmp_path / "res" / "other-run" / "result.json").is_file()


@pytest.mark.parametrize("given,match", [
    ("nonexistent", "does not exist"),
    ("", "--baseline: an empty path"),  # not the current folder (resolve_artifact_dir)
    # the artifact itself (a copy): "not met, 1.00x" after minutes of work
    ("SHIPPED", "is the artifact's own network"),
    ("cartpole", "is the artifact's own network"),  # shipped names, as the artifact takes
])
def test_a_missing_energy_baseline_is_refused_before_the_work(tmp_path, capsys, monkeypatch,
                                                              given, match):
    """The report loads the artifact and the baseline before its first step (the SNN's
    episodes)."""
    pytest.importorskip("torch")
    _no_work(monkeypatch, "neuroq.agents.energy.report", "run_snn")
    baseline = str(tmp_path / given) if given and given != "cartpole" else given
    if given == "SHIPPED":
        baseline = str(tmp_path / "copy")
        shutil.copytree(SHIPPED, baseline)
    code, _, err = run_cli(capsys, "energy", SHIPPED, "--baseline", baseline,
                           "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "energy", "baseline")
    assert match in err and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("physics,match", [
    ("length=-1", "length must be positive, got -1"),
    ("length=0.5,0", "length must be positive, got 0"),
    ("masspole=nan", "masspole must be positive"),
    ("foo=1,2", "no physics parameter 'foo'"),
])
def test_robustness_refuses_a_bad_physics_value_before_any_episode(tmp_path, capsys,
                                                                   monkeypatch, physics, match):
    """--physics length=-1 was a ValueError traceback (envs/perturb.py) mid-run."""
    _no_work(monkeypatch, *WORK["robustness"])
    code, _, err = run_cli(capsys, "robustness", SHIPPED, "--physics", physics,
                           "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "robustness", match)
    assert not (tmp_path / "runs").exists()


def test_robustness_names_an_artifact_given_after_physics(tmp_path, capsys, monkeypatch):
    """--physics takes several shifts since stop 50: an artifact after it was read as one
    (a review); the error says to give the artifact first."""
    _no_work(monkeypatch, *WORK["robustness"])
    code, _, err = run_cli(capsys, "robustness", "--physics", "length=0.3", "cartpole",
                           "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "robustness", "got 'cartpole' (give the artifact before "
                                                   "--physics: it takes every word after it)")
    # a name given twice kept its last values only, silently (a recheck)
    code, _, err = run_cli(capsys, "robustness", "cartpole", "--physics", "length=0.3",
                           "length=0.5", "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "robustness", "--physics names length more than once: "
                                                   "give each name's values once, as "
                                                   "length=V1,V2")


def test_robustness_physics_and_no_physics_exclude_each_other(tmp_path, capsys, monkeypatch):
    """--no-physics silently dropped the --physics given with it."""
    _no_work(monkeypatch, *WORK["robustness"])
    code, _, err = run_cli(capsys, "robustness", SHIPPED, "--physics", "length=0.3,0.7",
                           "--no-physics", "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "robustness", "not allowed with argument --physics")


@pytest.mark.parametrize("argv,command", [
    (["eval", "{missing}"], "eval"),
    (["deploy", "{missing}"], "deploy"),
    (["robustness", "{missing}"], "robustness"),
    (["energy", "{missing}"], "energy"),
    (["record", "{tmp}/x.raw", "--artifact", "{missing}"], "record"),
])
def test_a_missing_artifact_is_said_not_to_exist(tmp_path, capsys, argv, command):
    """eval, deploy, robustness and record said "is not an artifact: it has no
    manifest.json" of a path that does not exist."""
    if command == "energy":
        pytest.importorskip("torch")
    missing = tmp_path / "nonexistent"
    argv = [a.format(missing=missing, tmp=tmp_path) for a in argv]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, command, f"{missing} does not exist")
    assert not (tmp_path / "x.raw").exists()


@pytest.mark.parametrize("command", ["eval", "energy"])
def test_eval_and_energy_read_the_manifest_once(tmp_path, capsys, monkeypatch, command):
    """Both read the artifact's manifest in a check of their own, then again to load it."""
    from neuroq.deploy.errors import NeuroqError

    if command == "energy":
        pytest.importorskip("torch")
        from neuroq.agents.energy import report

        def first_step(*args, **kwargs):
            raise NeuroqError("stopped at the first step")

        monkeypatch.setattr(report, "run_snn", first_step)
    reads = count_manifest_reads(monkeypatch)
    code, _, err = run_cli(capsys, command, SHIPPED, "--episodes", 1, "--out", tmp_path / "runs")
    if command == "energy":  # after its progress line "[1/6] ..."
        assert code == 2 and err.strip().endswith("error: stopped at the first step"), err
    else:
        assert code == 0, err
    assert reads == [str(SHIPPED)]


def test_robustness_reads_the_manifest_once(tmp_path, capsys, monkeypatch):
    """The command loaded the artifact for its checks, then run_robustness loaded it again."""
    from neuroq.deploy import rollout
    from neuroq.deploy.errors import NeuroqError

    def first_episodes(*args, **kwargs):
        raise NeuroqError("stopped at the first episodes")

    monkeypatch.setattr(rollout, "run_episodes", first_episodes)
    reads = count_manifest_reads(monkeypatch)
    code, _, err = run_cli(capsys, "robustness", SHIPPED, "--episodes", 1, "--out",
                           tmp_path / "runs")
    assert code == 2 and err.strip().endswith("error: stopped at the first episodes"), err
    assert reads == [str(SHIPPED)]


def test_eval_offers_import_only_for_a_file_that_looks_like_a_nir_graph(tmp_path, capsys):
    """`neuroq eval README.md` suggested `neuroq import README.md ...`."""
    code, _, err = run_cli(capsys, "eval", REPO_ROOT / "README.md")
    assert_one_line_error(code, err, "eval", "is a file, not an artifact folder")
    assert "neuroq import" not in err
    graph = tmp_path / "graph.bin"  # an HDF5 file by its signature, whatever its name
    shutil.copy(SHIPPED / "network.nir.h5", graph)
    code, _, err = run_cli(capsys, "eval", graph)
    assert_one_line_error(code, err, "eval", f"neuroq import {graph} --env ENV")


@pytest.mark.parametrize("command", ["eval", "deploy", "robustness"])
def test_an_empty_artifact_path_is_an_error(tmp_path, capsys, monkeypatch, command):
    """`neuroq eval ""` was read as the current folder."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, command, "")
    assert_one_line_error(code, err, command, "an empty path")


@pytest.mark.parametrize("argv", [
    ["eval", SHIPPED, "--board-ip", "1.2.3.4"],
    ["eval", SHIPPED, "--backend", "reference", "--board-ip", "1.2.3.4"],
    ["deploy", SHIPPED, "--board-ip", "x"],
    ["deploy", SHIPPED, "--backend", "emulator", "--board-ip", "x"],
])
def test_board_ip_without_a_board_is_refused(tmp_path, capsys, monkeypatch, argv):
    """--board-ip was ignored on the emulator: a user thinking the board ran was not told."""
    _no_work(monkeypatch, *DEPLOY_WORK.get(argv[0], WORK["eval"]))
    code, out, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, argv[0], "--board-ip is for --")
    assert not out


@pytest.mark.parametrize("argv,option", [
    (["eval", SHIPPED, "--backend", "spinnaker2"], "--backend"),
    (["deploy", SHIPPED, "--target", "spinnaker2"], "--target"),
    # deploy takes --backend as eval does (it was "unrecognized arguments": an outsider),
    # and its error names --backend then (it named --target: a review)
    (["deploy", SHIPPED, "--backend", "spinnaker2"], "--backend"),
    (["deploy", SHIPPED, "--backend", "emulator", "--target", "spinnaker2"], "--target"),
])
def test_the_board_backend_without_an_address_is_refused(tmp_path, capsys, monkeypatch, argv,
                                                          option):
    """eval and deploy say the same thing, before any work (one rule for both)."""
    _no_work(monkeypatch, *DEPLOY_WORK.get(argv[0], WORK["eval"]))
    code, out, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, argv[0],
                          f"{option} spinnaker2 needs the board's address: pass --board-ip")
    assert not out


def test_demo_checks_ship_before_training(tmp_path, capsys, monkeypatch):
    """demo --ship /proc/x failed after export and evaluation (15 min in by default)."""
    pytest.importorskip("stable_baselines3")
    _no_work(monkeypatch, "neuroq.agents.pipeline", "run_pipeline")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run_cli(capsys, "demo", "--skip-ros", "--skip-energy", "--ship",
                             blocker / "ship", "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "demo", "choose another with --ship")
    assert not out and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("randomize,match", [
    ("{foo: 1}", "unknown key(s) ['foo']"),
    ("{obs_noise: [0.1, 0]}", "randomize.obs_noise"),
    ("{physics: {bar: [1, 2]}}", "no physics parameter 'bar'"),
    ("{physics: {length: [0, 0.7]}}", "length must be positive, got 0"),
])
def test_demo_checks_randomize_before_training(tmp_path, capsys, monkeypatch, randomize, match):
    """demo --randomize '{foo: 1}' was refused only at the fine-tuning stage."""
    pytest.importorskip("stable_baselines3")
    _no_work(monkeypatch, "neuroq.agents.pipeline", "run_pipeline")
    code, _, err = run_cli(capsys, "demo", "--skip-ros", "--randomize", randomize,
                           "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "demo", match)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("randomize,match", [
    ("{physics: {bar: [1, 2]}}", "no physics parameter 'bar'"),
    ("{physics: {length: [0, 0.7]}}", "length must be positive, got 0"),
])
def test_finetune_checks_randomize_physics_against_the_convert_runs_env(
        tmp_path, capsys, monkeypatch, randomize, match):
    """finetune --randomize checked only its keys and ranges when read; physics the convert
    run's env does not have failed at fine-tuning time (demo checked them up front)."""
    _no_work(monkeypatch, "neuroq.agents.finetune", "run_finetune")
    run = tmp_path / "convert-run"
    run.mkdir()
    (run / "result.json").write_text(json.dumps({"env_id": "CartPole-v1"}))
    code, _, err = run_cli(capsys, "finetune", run, "--randomize", randomize)
    assert_one_line_error(code, err, "finetune", match)


def test_finetune_randomize_takes_inline_yaml_or_a_file(tmp_path, capsys):
    """`--randomize rand.yaml` was refused as "expected a YAML mapping, got 'rand.yaml'"."""
    from neuroq.agents.cli.finetune import randomization

    good = tmp_path / "rand.yaml"
    good.write_text("obs_noise: [0, 0.05]\naction_delay: [0, 1]\n")
    assert randomization(str(good)) == {"obs_noise": [0, 0.05], "action_delay": [0, 1]}
    assert randomization("{drop: [0, 0.1]}") == {"drop": [0, 0.1]}
    code, _, err = run_cli(capsys, "finetune", tmp_path / "no-run", "--randomize", good)
    assert_one_line_error(code, err, "finetune", "does not exist")  # the file was taken
    bad = tmp_path / "bad.yaml"
    bad.write_text("{foo: 1}\n")
    code, _, err = run_cli(capsys, "finetune", tmp_path / "no-run", "--randomize", bad)
    assert_one_line_error(code, err, "finetune", "argument --randomize: randomize: unknown key")
    binary = tmp_path / "noise.raw"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 8)
    code, _, err = run_cli(capsys, "finetune", tmp_path / "no-run", "--randomize", binary)
    assert_one_line_error(code, err, "finetune", "is not a text file")
    # a long inline mapping is no file name (the file check raised OSError: name too long)
    ranges = ", ".join(f"{k}: [0.9, 1.1]" for k in ("gravity", "masscart", "masspole",
                                                     "length", "force_mag"))
    long_inline = f"{{obs_noise: [0.0, 0.05], action_delay: [0, 1], physics: {{{ranges}}}, " \
                  f"drop: [0.0, 0.1], bias: [0.0, 0.01], comment_pad: {'x' * 120}}}"
    assert len(long_inline) > 255
    with pytest.raises(argparse.ArgumentTypeError, match="unknown key"):
        randomization(long_inline)  # parsed as YAML, then refused for its extra key
    code, _, err = run_cli(capsys, "finetune", tmp_path / "no-run", "--randomize",
                           tmp_path / "missing.yaml")
    assert_one_line_error(code, err, "finetune", "missing.yaml does not exist")


def test_show_of_a_result_that_is_not_an_object_is_one_line(tmp_path, capsys):
    """A result.json holding `[1]` was a TypeError traceback."""
    (tmp_path / "result.json").write_text("[1]\n")
    code, _, err = run_cli(capsys, "show", tmp_path)
    assert_one_line_error(code, err, "show", "holds a JSON list, not an object")
    (tmp_path / "result.json").write_text("null\n")
    code, _, err = run_cli(capsys, "show", tmp_path)
    assert_one_line_error(code, err, "show", "holds a JSON null, not an object")
    (tmp_path / "result.json").write_bytes(b"\xfe\xff{}")  # not UTF-8: UnicodeDecodeError
    code, _, err = run_cli(capsys, "show", tmp_path)
    assert_one_line_error(code, err, "show", "not UTF-8 text")
    (tmp_path / "result.json").unlink()
    (tmp_path / "result.json").mkdir()  # IsADirectoryError before
    code, _, err = run_cli(capsys, "show", tmp_path)
    assert_one_line_error(code, err, "show", "is a folder, not a JSON file")


@pytest.mark.parametrize("command", ["show", "convert", "finetune", "export"])
def test_a_file_given_for_a_run_folder_is_called_a_file(tmp_path, capsys, command):
    """`neuroq show <run>/result.json` and `neuroq convert setup.py` said "does not exist"."""
    if command in ("convert", "finetune"):
        pytest.importorskip("stable_baselines3")
    given = tmp_path / "result.json"
    given.write_text("{}\n")
    code, _, err = run_cli(capsys, command, given)
    assert_one_line_error(code, err, command, f"{given} is a file, not a run folder")


@pytest.mark.parametrize("command,kind", [("convert", "train run"),
                                          ("finetune", "convert run or import run")])
def test_an_artifact_given_for_a_run_folder_is_called_an_artifact(tmp_path, capsys, command,
                                                                 kind):
    """`neuroq convert config/artifacts/cartpole` said it "is not a finished run folder: it
    has no result.json (did the run end early?)"; a run that did end early still says so."""
    pytest.importorskip("stable_baselines3")
    code, _, err = run_cli(capsys, command, SHIPPED, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, command,
                          f"{SHIPPED} is a deploy artifact (it holds manifest.json), not a "
                          f"{kind}")
    unfinished = tmp_path / "train-x"
    unfinished.mkdir()
    code, _, err = run_cli(capsys, command, unfinished, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, command, f"{unfinished} is not a finished run folder: "
                          "it has no result.json (did the run end early?)")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["eval", "robustness", "energy"])
def test_an_export_run_given_for_its_artifact_names_the_artifact(tmp_path, capsys, command):
    """`neuroq eval runs/<env>/export-<time>` said only "is not an artifact: it has no
    manifest.json"; the artifact is the run's artifact/ folder."""
    if command == "energy":
        pytest.importorskip("torch")
    run = tmp_path / "export-x"
    shutil.copytree(SHIPPED, run / "artifact")
    (run / "result.json").write_text("{}\n")
    code, _, err = run_cli(capsys, command, run, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, command,
                          f"{run} is not an artifact: it has no manifest.json; did you mean "
                          f"{run / 'artifact'}?")
    assert not (tmp_path / "runs").exists()


def test_a_folder_given_for_a_nir_graph_is_called_a_folder(tmp_path, capsys):
    """`neuroq import <a folder>` said the folder does not exist."""
    code, _, err = run_cli(capsys, "import", tmp_path, "--env", "CartPole-v1", "--encoder",
                           tmp_path / "encoder.yaml", "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "import", f"{tmp_path} is a folder, not a NIR graph file")


@pytest.mark.parametrize("command", ["show", "convert", "export"])
def test_an_empty_run_folder_path_is_an_error(tmp_path, capsys, monkeypatch, command):
    if command == "convert":
        pytest.importorskip("stable_baselines3")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "result.json").write_text('{"seed": 0}')  # "" must not read as "."
    code, _, err = run_cli(capsys, command, "")
    assert_one_line_error(code, err, command, "an empty path")


BINARY = b"\xff\xfe\x00\x81not text" * 4


@pytest.mark.parametrize("argv,match", [
    (["train", "--config", "{bin}"], "config file {bin} is not a text file"),
    (["import", "{graph}", "--env", "CartPole-v1", "--encoder", "{bin}"],
     "--encoder {bin} is not a text file"),
    (["sweep", "{bin}", "--serial"], "sweep spec {bin} is not a text file"),
    (["tune", "--env", "CartPole-v1", "--serial", "--space", "{bin}"],
     "search space {bin} is not a text file"),
    (["tune", "--env", "CartPole-v1", "--serial", "--config", "{bin}"],
     "config file {bin} is not a text file"),
])
def test_a_binary_file_for_a_yaml_input_is_one_line(tmp_path, capsys, monkeypatch, argv,
                                                     match):
    """A .raw (non-UTF-8) file as train --config, import --encoder or the sweep spec was a
    UnicodeDecodeError traceback; invalid YAML was already one line."""
    if argv[0] in ("train", "sweep", "tune"):
        pytest.importorskip("stable_baselines3")
    if argv[0] in ("sweep", "tune"):
        pytest.importorskip("optuna")
    work = {"train": ("neuroq.agents.train", "train_one"),
            "import": ("neuroq.agents.nir_import", "run_import"),
            "sweep": ("neuroq.agents.sweep", "run_sweep"),
            "tune": ("neuroq.agents.tune", "run_tune")}
    _no_work(monkeypatch, *work[argv[0]])
    binary = tmp_path / "events.raw"
    binary.write_bytes(BINARY)
    names = {"bin": binary, "graph": SHIPPED / "network.nir.h5"}
    argv = [a.format(**names) for a in argv]
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, argv[0], match.format(**names))
    assert not (tmp_path / "runs").exists()


def _yaml_reader(what: str):
    """The function that reads the file a command is given as `what`."""
    from neuroq.agents.hyperparams import load_hyperparameters
    from neuroq.agents.nir_import import read_encoder
    from neuroq.agents.sweep_spec import load_spec
    from neuroq.agents.tune import load_space

    return {"config file": lambda path: load_hyperparameters("CartPole-v1", path),
            "search space": load_space, "sweep spec": load_spec,
            "--encoder": read_encoder}[what]


@pytest.mark.parametrize("what", ["config file", "search space", "sweep spec", "--encoder"])
def test_each_yaml_reader_says_what_is_wrong_with_its_file(tmp_path, monkeypatch, what):
    """The readers say themselves what the commands' text check said before reading the
    file a second time: not text, missing, a folder, an empty path."""
    from neuroq.deploy.errors import NeuroqError

    read = _yaml_reader(what)
    binary = tmp_path / "events.raw"
    binary.write_bytes(BINARY)
    monkeypatch.chdir(tmp_path)  # "" must not read as "."
    for path, match in [(binary, f"{what} {binary} is not a text file (byte 0 is not UTF-8)"),
                        (tmp_path / "nope.yaml", f"{what} {tmp_path / 'nope.yaml'} does not "
                                                 "exist"),
                        (tmp_path, f"cannot read {what} {tmp_path}: Is a directory"),
                        ("", f"{what}: an empty path")]:
        with pytest.raises(NeuroqError) as exc:
            read(path)
        assert str(exc.value) == match


def test_tune_hands_on_the_space_and_config_it_read(tmp_path, capsys, monkeypatch):
    """`neuroq tune` reads --space and --config before Ray starts and passes the parsed
    space and hyperparameters on, so run_tune reads neither file again."""
    import inspect

    from neuroq.agents import tune
    from neuroq.deploy.errors import NeuroqError

    space = tmp_path / "space.yaml"
    space.write_text("gamma: [0.9, 0.95]\n")
    config = tmp_path / "dqn.yaml"
    config.write_text("CartPole-v1:\n  learning_rate: 0.002\n")
    given, signature = {}, inspect.signature(tune.run_tune)

    def run_tune(*args, **kwargs):
        given.update(signature.bind(*args, **kwargs).arguments)
        raise NeuroqError("stopped before the search")

    monkeypatch.setattr(tune, "run_tune", run_tune)
    code, _, err = run_cli(capsys, "tune", "--env", "CartPole-v1", "--serial", "--space",
                           space, "--config", config, "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "tune", "stopped before the search")
    assert given["space"] == tune.load_space(space)
    assert given["hyperparameters"].config.learning_rate == 0.002
    assert given["hyperparameters"].source == f"{config} [CartPole-v1]"


@pytest.mark.parametrize("name", ["../../x", "a/b", "a\\b", "..", "", " "])
def test_tune_refuses_a_name_that_is_no_plain_folder_name(tmp_path, capsys, monkeypatch, name):
    """--name ../../x wrote outside the env folder; --name '' made tune-."""
    _no_work(monkeypatch, "neuroq.agents.tune", "run_tune")
    code, _, err = run_cli(capsys, "tune", "--env", "CartPole-v1", "--name", name,
                           "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "tune", "argument --name")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "x").exists()


def test_the_study_folder_is_checked_by_the_library_too(tmp_path):
    from neuroq.agents.tune import tune_dir
    from neuroq.deploy.errors import NeuroqError

    assert tune_dir("CartPole-v1", "lr-search", tmp_path).name == "tune-lr-search"
    with pytest.raises(NeuroqError, match="cannot name the study folder"):
        tune_dir("CartPole-v1", "../x", tmp_path)


def test_one_episode_is_one_episode(tmp_path, capsys):
    """eval --episodes 1 printed "over 1 episodes"."""
    code, out, err = run_cli(capsys, "eval", SHIPPED, "--episodes", 1, "--out",
                             tmp_path / "runs")
    assert code == 0, err
    assert "over 1 episode (" in out and "1 episodes" not in out


@pytest.mark.parametrize("option,default", [("--performance-level", "low"),
                                            ("--static-scope", "chip")])
def test_eval_help_states_the_energy_model_defaults(capsys, option, default):
    from neuroq.agents.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    options = text[text.index("options:"):]  # past the usage lines
    entry = options[options.index(option + " {"):]
    assert f"(default: {default})" in entry[:entry.index(" --", 3)]


def test_robustness_refuses_an_artifact_for_another_env_before_its_plan(tmp_path, capsys):
    """It printed its plan ("12 conditions x ...") and then the error: a plan it never ran."""
    art = tampered(tmp_path, _set("env_id", "Acrobot-v1"))
    code, out, err = run_cli(capsys, "robustness", art, "--episodes", 1, "--out",
                             tmp_path / "runs")
    assert_one_line_error(code, err, "robustness", "observes shape [6] with 3 actions")
    assert not out


def test_eval_names_the_artifact_as_it_was_given(tmp_path, capsys):
    """Loaded once, the artifact was shown by its folder: `eval A/manifest.json` wrote
    config.artifact "A" and said "evaluating A"; it is the path as given again."""
    given = str(SHIPPED / "manifest.json")
    code, out, err = run_cli(capsys, "eval", given, "--episodes", 1, "--out", tmp_path / "runs")
    assert code == 0, err
    (result,) = (tmp_path / "runs").rglob("result.json")
    assert json.loads(result.read_text())["config"]["artifact"] == given
    assert f"evaluating {given} on" in err


def test_finetune_names_its_teacher_in_the_summary(tmp_path, capsys, monkeypatch):
    """Fine-tuning an import run printed "% of the float DQN's 37.0": there was no float
    DQN, the teacher was the imported source network."""
    from neuroq.agents import finetune

    source = tmp_path / "import-run"
    source.mkdir()
    (source / "result.json").write_text(json.dumps({"stage": "import", "env_id": "CartPole-v1"}))
    done = tmp_path / "finetune-run"
    done.mkdir()
    (done / "result.json").write_text(json.dumps({
        "timesteps": 4, "encoder": {"kind": "population"}, "mean_return": 32.7,
        "std_return": 1.0, "fraction_of_ann_return": 0.883, "ann_mean_return": 37.0,
        "teacher": "the imported source network (source.nir)",
        "synaptic_events_per_action": 10.0, "epochs": 3, "kept_epoch": 1}))
    monkeypatch.setattr(finetune, "run_finetune", lambda *args, **kwargs: done)
    code, out, err = run_cli(capsys, "finetune", source)
    assert code == 0, err
    assert ("(88.3 % of 37.0, the return of the imported source network (source.nir))"
            in out), out
    assert "float DQN" not in out
    assert "kept: epoch 1 (epochs 0-2 in history.json)" in out


def test_a_manifest_changed_after_export_is_refused_and_shown_with_a_warning(tmp_path, capsys):
    """An outsider swapped two digits of an encoder bound in a shipped manifest: `neuroq
    eval` played it at 116.45 (the original 500.0), exit 0, and the policy node activated.
    The manifest's own hash now covers it: every stage that runs it refuses, `show` shows it
    with a warning, a manifest written with a fresh hash (write_manifest) loads."""
    from neuroq.deploy.artifact import MANIFEST_HASH_KEY, read_manifest
    from neuroq.deploy.errors import NeuroqError

    art = tmp_path / "art"
    shutil.copytree(SHIPPED, art)
    path = art / "manifest.json"
    text = path.read_text()
    manifest = json.loads(text)
    high = manifest["encoder"]["high"]
    edited = text.replace(repr(high[2]), repr(high[2] * 2.3), 1)
    assert edited != text
    path.write_text(edited)
    for argv in (["eval", art, "--episodes", "1"], ["deploy", art, "--target", "emulator"],
                 ["robustness", art, "--episodes", "1"]):
        code, _, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err, argv[0], "was changed after export")
    with pytest.raises(NeuroqError, match="was changed after export"):
        read_manifest(art)  # what the actuator reads
    code, out, err = run_cli(capsys, "show", art)
    assert code == 0 and "env_id" in out
    assert err.startswith("neuroq show: warning: ") and "was changed after export" in err
    # written on purpose, with a fresh hash: it loads (and plays the edited bound)
    write_manifest(art, json.loads(edited))
    assert read_manifest(art)[1]["encoder"]["high"][2] == high[2] * 2.3
    # a key without a hash is no way around it (a re-check found null read as no key)
    nulled = json.loads(edited)
    nulled[MANIFEST_HASH_KEY] = None
    path.write_text(json.dumps(nulled))
    with pytest.raises(NeuroqError, match="was changed after export"):
        read_manifest(art)
    # one written before the hash existed is read, with a warning wherever it is run or
    # shown (deleting the key's line was a silent way around the check: an outsider)
    old = json.loads(edited)
    del old[MANIFEST_HASH_KEY]
    path.write_text(json.dumps(old))
    assert MANIFEST_HASH_KEY not in read_manifest(art)[1]
    for argv in (["eval", art, "--episodes", "1"], ["deploy", art, "--target", "emulator"],
                 ["show", art]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 0 and f"neuroq {argv[0]}: warning: " in err, (argv, err)
        assert f"carries no {MANIFEST_HASH_KEY} (exported before 2026-11-27, or the key was " \
               "removed): a change made to it after export cannot be detected" in err, err


def test_show_names_weights_that_do_not_match_their_hash(tmp_path, capsys):
    art = tmp_path / "art"
    shutil.copytree(SHIPPED, art)
    with open(art / "network.nir.h5", "ab") as f:
        f.write(b"\0")
    code, out, err = run_cli(capsys, "show", art)
    assert code == 0 and "weights_sha256" in err and "does not match" in err


def test_a_shipped_artifacts_checkout_path_elsewhere_names_the_shipped_one(
        tmp_path, capsys, monkeypatch):
    """The --help examples named config/artifacts/nav, which a pip install (or another
    working directory) does not have: "does not exist" said nothing of the shipped `nav`."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "eval", "config/artifacts/nav", "--episodes", "1")
    assert_one_line_error(code, err, "eval", "config/artifacts/nav does not exist (the "
                          "shipped artifact 'nav' is ")
    assert err.rstrip().endswith("name it nav)")


def test_deploy_checks_the_board_address_before_it_builds(capsys):
    """`neuroq deploy --target spinnaker2 --board-ip not:an:address` compiled the network
    and failed only when py-spinnaker2 was asked to build it (a reviewer)."""
    code, out, err = run_cli(capsys, "deploy", SHIPPED, "--target", "spinnaker2",
                             "--board-ip", "10.0.0.2:5000")
    assert_one_line_error(code, err, "deploy", "board_ip '10.0.0.2:5000' is not an IP")
    assert not out


def test_an_empty_board_address_and_a_full_disk_are_one_line(capsys, tmp_path):
    """`--board-ip ''` was told to "pass --board-ip"; a stdout on a full disk (`neuroq paths
    > /dev/full`) was an OSError traceback (an outsider's fuzzing)."""
    import os
    import subprocess
    import sys

    code, _, err = run_cli(capsys, "deploy", SHIPPED, "--target", "spinnaker2",
                           "--board-ip", "")
    assert_one_line_error(code, err, "deploy", "--board-ip is empty")
    code, _, err = run_cli(capsys, "train", "--resume", "")  # began a new run
    assert_one_line_error(code, err, "train", "--resume: an empty path")
    if not Path("/dev/full").exists():
        return
    # buffered, as a user's stdout is (a reviewer: with PYTHONUNBUFFERED the write failed
    # inside the command, without it at the interpreter's last flush, rc 120)
    # and unbuffered: argparse drops the help's write error (`--help > /dev/full` exited
    # 0 without a word)
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    for env in (buffered, {**buffered, "PYTHONUNBUFFERED": "1"}):
        for argv, label in ((["paths"], "neuroq paths"), (["--version"], "neuroq"),
                            (["--help"], "neuroq"), (["train", "--help"], "neuroq")):
            with open("/dev/full", "w") as full:
                run = subprocess.run([sys.executable, "-m", "neuroq.agents.cli.main", *argv],
                                     stdout=full, stderr=subprocess.PIPE, text=True,
                                     timeout=120, env=env)
            assert run.returncode == 2, (argv, run.stderr)
            assert run.stderr == (f"{label}: error: cannot write the output: No space left "
                                  "on device\n"), argv


@pytest.mark.parametrize("buffered", [True, False])
def test_output_into_a_closed_pipe_or_closed_streams_is_no_traceback(tmp_path, buffered):
    """An outsider: `neuroq --version | true` was a BrokenPipeError traceback, exit 1;
    `neuroq show cartpole >&-` an AttributeError traceback (stdout None), and `neuroq eval
    ... 2>&-` exited 1 without a word. A reader gone is exit 0, as for `| head`; a closed
    stream takes the output to nowhere."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-m", "neuroq.agents.cli.main"]
    for argv in (["--version"], ["show", str(SHIPPED)], ["paths"]):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the first line
        try:
            run = subprocess.run([*cmd, *argv], stdout=write, stderr=subprocess.PIPE,
                                 text=True, timeout=120, env=env)
        finally:
            os.close(write)
        assert (run.returncode, run.stderr) == (0, ""), (argv, run.stderr[-600:])
    for argv, redirect in ((["show", str(SHIPPED)], ">&-"),
                           (["eval", str(SHIPPED), "--episodes", "1", "--out",
                             str(tmp_path / "runs")], "2>&-")):
        line = " ".join(f"'{a}'" for a in [*cmd, *argv])
        run = subprocess.run(["bash", "-c", f"{line} {redirect}"], capture_output=True,
                             text=True, timeout=300, env=env)
        assert run.returncode == 0 and "Traceback" not in run.stderr, (argv, run.stderr[-600:])
    assert list((tmp_path / "runs").glob("*/eval-*/result.json"))  # the eval ran and wrote
    # a broken pipe of the command's own (Ray, multiprocessing) with stdout fine is no
    # reader gone: not a silent exit 0 (a reviewer)
    from neuroq.deploy.output import output_failed

    read, write = os.pipe()
    try:
        with open(write, "w", closefd=False) as healthy:
            saved, sys.stdout = sys.stdout, healthy
            try:
                assert output_failed(BrokenPipeError(32, "Broken pipe"), "neuroq x") is None
            finally:
                sys.stdout = saved
    finally:
        os.close(read)
        os.close(write)


def test_a_yaml_file_of_megabytes_is_refused_not_parsed_for_minutes(tmp_path, capsys):
    """An outsider's 4.5 MB YAML (300,000 keys) hung every command that reads YAML for more
    than 30 s without a word."""
    huge = tmp_path / "huge.yaml"
    huge.write_text("".join(f"k{i}: {i}\n" for i in range(300_000)))
    code, _, err = run_cli(capsys, "train", "--config", huge, "--steps", "200",
                           "--out", tmp_path / "runs")
    assert_one_line_error(code, err, "train", "more than 1,048,576")


def test_episode_counts_in_settings_are_bounded_as_on_the_command_line():
    """The command line bounds episode counts (1e20 was a numpy traceback once a command
    had started); sweep specs check every stage's settings with the same functions (a
    reviewer: they took any count)."""
    from neuroq.agents.convert import check_convert_settings
    from neuroq.agents.evaluate import check_eval_settings
    from neuroq.agents.export import check_export_settings
    from neuroq.deploy.errors import NeuroqError

    for check in (lambda: check_convert_settings(eval_episodes=10**20),
                  lambda: check_eval_settings(episodes=10**20),
                  lambda: check_export_settings(gate_episodes=10**8)):
        with pytest.raises(NeuroqError, match="episodes must be at most 10,000,000"):
            check()
    check_eval_settings(episodes=10_000_000)  # the bound itself is taken
    # the stages' own episodes are bounded tighter, by the room in their seed ranges
    # (neuroq.deploy.seeds.check_room; tests/test_seeds.py)
    with pytest.raises(NeuroqError, match="gate_episodes must be at most 100,000"):
        check_export_settings(gate_episodes=10_000_000)
    check_export_settings(gate_episodes=100_000)


def test_steps_per_action_are_bounded_in_settings_and_networks():
    """T = 100000 ran on without a word; sweep specs and graphs (import's metadata T) are
    held to the command line's bound, MAX_TIMESTEPS, by the settings check and the
    network itself."""
    from neuroq.agents.convert import check_convert_settings
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.network import MAX_TIMESTEPS, SpikingQNetwork

    for settings in ({"timesteps": MAX_TIMESTEPS + 1}, {"eval_timesteps": [8, 10**5]}):
        with pytest.raises(NeuroqError, match="timesteps must be at most 1024"):
            check_convert_settings(**settings)
    check_convert_settings(timesteps=MAX_TIMESTEPS, eval_timesteps=[MAX_TIMESTEPS])
    layers = load_artifact(SHIPPED).network.layers
    SpikingQNetwork(layers, MAX_TIMESTEPS)
    with pytest.raises(NeuroqError, match="T = 1025 steps is too many: at most 1024"):
        SpikingQNetwork(layers, MAX_TIMESTEPS + 1)


def test_an_out_that_is_a_file_or_a_dangling_link_is_named_so(tmp_path):
    """--out naming a file, a dangling link or a link loop said "File exists" (an
    outsider)."""
    from neuroq.agents.runs import ensure_writable
    from neuroq.deploy.errors import NeuroqError

    (tmp_path / "afile").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for name, says in (("afile", "is a file, not a folder"),
                       ("dangling", "is a link to no folder"),
                       ("loop", "is a link to no folder")):
        with pytest.raises(NeuroqError, match=says):
            ensure_writable(tmp_path / name)


# --- an outsider's fuzzing of the newest commands (stop 40) --------------------------------


def test_yaml_aliases_that_explode_or_refer_to_themselves_are_one_line(tmp_path, capsys):
    """A 471-byte spec of nested aliases expands to 10^9 values and hung neuroq sweep and
    neuroq tune; `&a [*a]` was a RecursionError. Every user YAML file goes through
    load_yaml, which bounds the expansion (MAX_YAML_VALUES) and refuses self-reference."""
    rows = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    rows += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]" for k in range(1, 8)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("env: CartPole-v1\nstages: [train]\n" + "\n".join(rows)
                    + "\ngrid:\n  train.seed: *a7\n")
    code, _, err = run_cli(capsys, "sweep", str(bomb), "--serial", "--out", str(tmp_path))
    assert code == 2 and "expands to more than 100,000 values" in err, err
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: &a [*a]\n")
    code, _, err = run_cli(capsys, "tune", "--env", "CartPole-v1", "--space", str(space),
                           "--out", str(tmp_path))
    assert code == 2 and "refers to the value that holds it" in err, err
    from neuroq.deploy.errors import load_yaml

    assert load_yaml("base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n") == {
        "base": {"x": 1}, "merged": {"x": 1, "y": 2}}  # merges and plain aliases still read


@pytest.mark.parametrize(("value", "message"), [
    ({"uniform": [-1.0e308, 1.0e308]}, "whose width is a finite number"),
    ({"int": [0, 1.0e30]}, "bounds within"),
])
def test_random_settings_that_numpy_cannot_draw_are_refused_when_read(value, message):
    from neuroq.agents.sweep_spec import parse_distribution
    from neuroq.deploy.errors import NeuroqError

    with pytest.raises(NeuroqError, match=message):
        parse_distribution(value, "spec")


def test_a_tune_space_reads_numbers_as_the_sweep_spec_does(tmp_path):
    """loguniform [1e-4, 1e-2] (YAML 1.1 strings) was refused as "low <= high, got
    ['1e-4', '1e-2']" by tune, read as numbers by the sweep spec."""
    from neuroq.agents.tune import load_space

    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {loguniform: [1e-4, 1e-2]}\n")
    assert load_space(str(space))["learning_rate"].args == (1e-4, 1e-2)


@pytest.mark.parametrize("argv, message", [
    (["tune", "--env", "CartPole-v1", "--trials", "99999999999999999999"],
     "--trials must be an integer in [1, 10,000]"),
    (["replay", "x.raw", "--packet-us", "99999999999999999999"],
     "--packet-us: must be at most 1e+09"),
])
def test_counts_beyond_their_bound_are_refused(tmp_path, capsys, argv, message):
    code, _, err = run_cli(capsys, *argv, *(["--out", str(tmp_path)] if argv[0] == "tune"
                                            else []))
    assert code == 2 and message in err, err


@pytest.mark.parametrize("content", ['{"trials": 5, "wall_s": "x"}', "[1, 2]",
                                     '{"trials": [null, 1]}'])
def test_show_of_a_damaged_sweep_folder_is_one_line(tmp_path, capsys, content):
    """{"trials": 5} was a TypeError traceback, [1, 2] "trials 0", exit 0."""
    folder = tmp_path / "sweep-x"
    folder.mkdir()
    (folder / "trials.json").write_text(content)
    code, _, err = run_cli(capsys, "show", str(folder))
    assert code == 2 and "is not a sweep's trials.json" in err, err


def test_an_encoder_file_with_a_value_that_is_no_number_is_one_line():
    from neuroq.deploy.encoders import encoder_from_dict
    from neuroq.deploy.errors import NeuroqError

    for low in ([-1, -1, -1, "x"], [[-1], [-1, 2], -1, -1]):
        with pytest.raises(NeuroqError, match="bad parameters for the population encoder"):
            encoder_from_dict({"kind": "population", "low": low, "high": [1, 1, 1, 1],
                               "n_per_dim": 8})


def test_ray_cluster_addresses_and_temporary_folders_that_would_hang_or_crash(monkeypatch):
    """--address 127.0.0.1:1 (nothing listening) retried for ever and ignored SIGTERM; a
    TMPDIR with a non-ASCII character was a UnicodeEncodeError traceback in Ray."""
    import tempfile

    from neuroq.agents import ray_session
    from neuroq.deploy.errors import NeuroqError

    with pytest.raises(NeuroqError, match="nothing accepted a connection there"):
        ray_session._check_reachable("127.0.0.1:1")
    monkeypatch.setattr(tempfile, "tempdir", "/tmp/t z \u00fc")
    assert ray_session._temp_base() == ray_session.SHORT_TEMP_BASE


@pytest.mark.parametrize(("space", "message"), [
    ("gamma: {uniform: [0.5, 3]}\n", "gamma = 3.0 is out of range"),
    ("gradient_ratio: [0, -1]\n", "gradient_ratio must be a number > 0"),
    ("learning_rate: [1.0e82]\n", "too large for float32"),
])
def test_a_tune_space_that_can_draw_a_bad_value_is_refused_before_its_study(
        tmp_path, capsys, space, message):
    """gamma {uniform: [0.5, 3]} was refused only once its study folder held a failed
    trial (the rerun then said no trial completed); gradient_ratio [0, -1] trained with
    -1; a learning rate of 1e82 failed inside torch."""
    path = tmp_path / "space.yaml"
    path.write_text(space)
    code, _, err = run_cli(capsys, "tune", "--env", "CartPole-v1", "--space", str(path),
                           "--out", str(tmp_path / "out"))
    assert code == 2 and message in err, err
    assert not (tmp_path / "out").exists()


def test_eval_on_the_export_gates_seeds_says_they_are_not_held_out(tmp_path, capsys):
    """`neuroq eval --seed 900000` played the export gate's own episodes without a word (an
    outsider); seeds of no stage say nothing."""
    code, _, err = run_cli(capsys, "eval", SHIPPED, "--seed", "900000", "--episodes", "2",
                           "--max-steps", "20", "--out", tmp_path)
    assert code == 0 and ("neuroq eval: warning: episode seeds 900,000..900,001 are seeds "
                          "the pipeline's stages play: the export gate") in err, err
    code, _, err = run_cli(capsys, "eval", SHIPPED, "--seed", "5000", "--episodes", "2",
                           "--max-steps", "20", "--out", tmp_path)
    assert code == 0 and "not held out" not in err, err


def test_a_count_in_float_notation_is_taken_as_set_takes_it():
    """`--set n_timesteps=1e3` was taken and `--episodes 1e2` refused beside it (an
    outsider): a whole number in float notation is an integer on the command line too."""
    import argparse

    from neuroq.deploy.argtypes import episode_count, seed

    assert episode_count("1e2") == 100 and episode_count("100.0") == 100
    assert seed("4.294967295e9") == 2**32 - 1
    for bad in ("1.5", "1e-1", "nan", "inf", "0x10"):
        with pytest.raises(argparse.ArgumentTypeError, match="not an integer"):
            episode_count(bad)


def test_files_that_never_end_or_are_huge_are_refused_before_they_are_read(tmp_path, capsys):
    """An outsider's `interface:=/dev/zero` was read until the machine ran out of memory
    (24 GB), a FIFO hung a node's start, and a 3 GiB sparse manifest.json took 6.3 GB and
    27 s before its error; 100,000 nested brackets in a manifest were a RecursionError
    traceback. Each is one line now, before anything is read whole."""
    import os
    import time

    from neuroq.deploy.errors import MAX_TEXT_FILE_CHARS, NeuroqError, read_text_file

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path, match in (("/dev/zero", "is not a regular file"),
                        (fifo, "is not a regular file")):
        with pytest.raises(NeuroqError, match=match):
            read_text_file(path, "interface")
    art = tmp_path / "art"
    shutil.copytree(SHIPPED, art)
    manifest = art / "manifest.json"
    original = manifest.read_text()
    with open(manifest, "r+b") as f:
        f.truncate(3 << 30)  # sparse: no disk used
    start = time.monotonic()
    for command in (["show", art], ["deploy", art, "--target", "emulator"],
                    ["eval", art, "--episodes", "1"]):
        code, _, err = run_cli(capsys, *command)
        assert_one_line_error(code, err, command[0], f"is longer than {MAX_TEXT_FILE_CHARS:,}")
    assert time.monotonic() - start < 10.0
    manifest.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run_cli(capsys, "show", art)
    assert_one_line_error(code, err, "show", "nested too deeply")
    manifest.write_text(original)
    code, _, err = run_cli(capsys, "show", art)
    assert code == 0, err


def test_a_file_whose_permissions_refuse_the_user_is_one_line():
    """An artifact at mode 000 (read by another user) was a 25-line PermissionError
    traceback, exit 1, in show, deploy and eval (an outsider; root reads anything, so the
    error is made here): one line, exit 2, as a full disk."""
    import contextlib
    import io

    from neuroq.deploy.output import output_failed

    exc = PermissionError(13, "Permission denied", "/art/network.nir.h5")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert output_failed(exc, "neuroq eval") == 2
    assert err.getvalue() == ("neuroq eval: error: cannot use /art/network.nir.h5: Permission "
                              "denied (its permissions)\n")
    assert output_failed(PermissionError(13, "Permission denied"), "neuroq eval") is None


def test_a_failure_is_named_in_one_line_without_python_s_words():
    """`failure_text`: what the nodes' refusals say (a node named an unreadable NIR file
    with a raw "PermissionError: [Errno 13] ..." line: stop 45)."""
    from neuroq.deploy.errors import NeuroqError, failure_text

    assert failure_text(NeuroqError("artifact x not found")) == "artifact x not found"
    assert failure_text(PermissionError(13, "Permission denied", "/a/n.h5")) == (
        "cannot use /a/n.h5: Permission denied (its permissions)")
    assert failure_text(IsADirectoryError(21, "Is a directory", "/a/n.h5")) == (
        "cannot read /a/n.h5: Is a directory")
    assert failure_text(ValueError("bad")) == "ValueError: bad"
    assert failure_text(OSError("no file named")) == "OSError: no file named"


def test_show_says_what_eval_says_of_an_artifact_and_a_manifest_that_is_no_file(tmp_path,
                                                                                capsys):
    """A recheck: `neuroq show` of an artifact whose gate was played on 1 episode printed
    gate_passed True and nothing else (eval and the nodes warned); a manifest.json that is
    a folder was "it has no manifest.json"."""
    from neuroq.deploy.artifact import write_manifest

    art = tmp_path / "art"
    shutil.copytree(SHIPPED, art)
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["gate"]["snn"]["n"] = 1
    write_manifest(art, manifest)
    code, out, err = run_cli(capsys, "show", art)
    assert code == 0 and "gate_passed" in out
    assert err.startswith("neuroq show: warning: this artifact's export gate was played on 1 "
                          "episode only"), err
    (art / "manifest.json").unlink()
    (art / "manifest.json").mkdir()
    code, _, err = run_cli(capsys, "show", art)
    assert_one_line_error(code, err, "show", "manifest.json is not a regular file")


def test_stdout_in_ascii_and_stderr_that_cannot_be_written_stop_no_command(tmp_path):
    """An outsider's PYTHONIOENCODING=ascii with a path of "é日本" was a UnicodeEncodeError
    traceback after eval had saved its result (and its video was never written); with
    `2>/dev/full` eval's first warning ended it, exit 1, and a bad path exited 1, not 2."""
    import os
    import subprocess
    import sys

    script = ("from neuroq.deploy.output import usable_streams\n"
              "usable_streams()\n"
              "import sys\n"
              "print('saved é日本/result.json')\n"
              "print('a warning', file=sys.stderr)\n"
              "sys.stderr.flush()\n"
              "print('still here')\n")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              stderr=full, text=True, timeout=60,
                              env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0
    assert proc.stdout == "saved \\xe9\\u65e5\\u672c/result.json\nstill here\n"
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "neuroq.agents.cli.main", "eval",
                               str(tmp_path / "none")], stdout=subprocess.PIPE, stderr=full,
                              text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
