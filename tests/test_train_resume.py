"""An interrupted train run goes on from its last checkpoint (`neuroq train --resume`)."""

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("stable_baselines3")

from neuroq.agents import hyperparams  # noqa: E402
from neuroq.agents.cli.main import main  # noqa: E402
from neuroq.agents.train import RESUME_DIR, resumable, resume_run, train_one  # noqa: E402
from neuroq.deploy.errors import NeuroqError  # noqa: E402

TINY = ["n_timesteps=600", "eval_freq=200", "n_eval_episodes=2", "final_eval_episodes=3",
        "learning_starts=100", "train_freq=32", "gradient_steps=4", "net_arch=[16, 16]"]


def _cfg():
    return hyperparams.override(hyperparams.load_config("CartPole-v1"), TINY)


def _interrupt_at(step):
    def on_eval(steps, _mean):
        if steps == step:
            raise KeyboardInterrupt
    return on_eval


def test_an_interrupted_run_goes_on_from_its_checkpoint(tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):
        train_one("CartPole-v1", 3, _cfg(), tmp_path, on_eval=_interrupt_at(400),
                  checkpoint_every_s=0)
    (run,) = (tmp_path / "CartPole-v1").glob("train-seed3-*")
    assert "neuroq train --resume" in capsys.readouterr().err
    assert not (run / "result.json").exists()  # kept, unfinished
    state = json.loads((run / RESUME_DIR / "state.json").read_text())
    assert state["steps"] == 400 and state["history"]["steps"] == [200, 400]
    resume_run(run, checkpoint_every_s=0)
    result = json.loads((run / "result.json").read_text())
    history = json.loads((run / "eval_history.json").read_text())
    # SB3 collects train_freq (32) steps at a time: a run ends within one collection of
    # n_timesteps, and a resumed one starts its collections over
    assert 600 <= result["steps"] < 600 + 32 and result["resumed"] is True
    assert result["seed"] == 3
    assert history["steps"] == [200, 400, 600]  # the selection went on where it stopped
    assert result["wall_s"] >= state["wall_s"] > 0
    assert not (run / RESUME_DIR).exists()  # finished: the checkpoint is gone
    # a run that never stopped has the same selection points and no checkpoint left
    other = train_one("CartPole-v1", 3, _cfg(), tmp_path / "b", checkpoint_every_s=0)
    assert json.loads((other / "eval_history.json").read_text())["steps"] == [200, 400, 600]
    assert not (other / RESUME_DIR).exists()
    assert json.loads((other / "result.json").read_text())["resumed"] is False


def test_resume_refuses_what_it_cannot_go_on_with(tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):  # before the first checkpoint
        train_one("CartPole-v1", 0, _cfg(), tmp_path, on_eval=_interrupt_at(200),
                  checkpoint_every_s=None)
    (early,) = (tmp_path / "CartPole-v1").glob("train-seed0-*")
    # it said nothing of the folder it left (an outsider), nor how to train it again with
    # its own settings (an audit)
    err = capsys.readouterr().err
    assert "interrupted before the first checkpoint: " in err
    assert "train it again (neuroq train --env CartPole-v1 --seed 0 --steps " in err, err
    for argv, fragment in [
        (["--resume", str(early)], "no checkpoint to resume from"),
        (["--resume", str(tmp_path)], "not a train run folder"),
        (["--resume", str(early), "--set", "n_timesteps=5"], "drop --set"),
        # were ignored without a word (an outsider): the run's own env, seed and folder
        (["--resume", str(early), "--seed", "9", "--env", "Acrobot-v1", "--out", "x",
          "--workers", "2"], "drop --env, --seed, --out, --workers"),
        (["--resume", str(early), "--seed", "0"], "drop --seed"),
    ]:
        assert main(["train", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0], (argv, err)
    done = train_one("CartPole-v1", 1, _cfg(), tmp_path)
    assert main(["train", "--resume", str(done)]) == 2
    assert "finished already" in capsys.readouterr().err


def test_a_full_disk_keeps_the_checkpoint_and_says_how_to_go_on(tmp_path, monkeypatch):
    """An outsider's full disk removed the whole run, its good checkpoint with it ("a failed
    stage leaves nothing"): a run holding a checkpoint is kept, and the error says how to
    go on from it."""
    import errno

    import neuroq.agents.train as train_module

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.json"))

    monkeypatch.setattr(train_module, "_eval_history", full)  # after training, as a disk fills
    with pytest.raises(NeuroqError, match=r"cannot write .*x.json: No space left on device; "
                                          r".* keeps its checkpoint at step \d+: once it can "
                                          r"be written, go on with: neuroq train --resume "):
        train_one("CartPole-v1", 5, _cfg(), tmp_path, checkpoint_every_s=0)
    (run,) = (tmp_path / "CartPole-v1").glob("train-seed5-*")
    assert (run / RESUME_DIR / "state.json").is_file()
    monkeypatch.undo()
    assert (resume_run(run) / "result.json").is_file()
    # without a checkpoint the failed run is removed, as every failed stage is
    monkeypatch.setattr(train_module, "_eval_history", full)
    with pytest.raises(OSError):
        train_one("CartPole-v1", 6, _cfg(), tmp_path, checkpoint_every_s=None)
    assert not list((tmp_path / "CartPole-v1").glob("train-seed6-*"))


def test_a_full_disk_at_the_last_write_keeps_the_trained_run(tmp_path, monkeypatch):
    """A result.json that a full disk cut short made the run look finished, and the run was
    removed with its checkpoint (a reviewer): result.json is written whole or not at all,
    the run kept. An error that is not one of writing still removes the run."""
    import errno
    import pathlib

    import neuroq.agents.train as train_module

    write_text = pathlib.Path.write_text

    def half_then_full(self, text, *args, **kwargs):
        if self.name.startswith(".result.json"):
            write_text(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return write_text(self, text, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(pathlib.Path, "write_text", half_then_full)
        with pytest.raises(NeuroqError, match="keeps its checkpoint at step"):
            train_one("CartPole-v1", 9, _cfg(), tmp_path, checkpoint_every_s=0)
    (run,) = (tmp_path / "CartPole-v1").glob("train-seed9-*")
    assert not (run / "result.json").exists() and not list(run.glob(".result.json*"))
    assert (resume_run(run) / "result.json").is_file()

    def missing(*args, **kwargs):  # not a write error: the run goes, as any failed stage
        raise OSError(errno.ENOENT, "No such file or directory", "asset.xml")

    monkeypatch.setattr(train_module, "_eval_history", missing)
    with pytest.raises(OSError):
        train_one("CartPole-v1", 10, _cfg(), tmp_path, checkpoint_every_s=0)
    assert not list((tmp_path / "CartPole-v1").glob("train-seed10-*"))


def test_ctrl_c_during_the_final_evaluation_leaves_a_run_to_report(tmp_path, monkeypatch,
                                                                    capsys):
    """A run trained in under --checkpoint-every had no checkpoint; a Ctrl-C during its
    final evaluation left a trained run that --resume called "stopped before its first
    checkpoint; train it again" (an outsider). It checkpoints there now, and --resume
    writes the report without training on."""
    import neuroq.agents.train as train_module

    evaluate = train_module.evaluate

    def interrupted(*args, **kwargs):  # the selection's evaluations run; the final one not
        if list(tmp_path.glob("CartPole-v1/train-seed7-*/final_model.zip")):
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_one("CartPole-v1", 7, _cfg(), tmp_path, checkpoint_every_s=3600)
    assert "interrupted during the final evaluation" in capsys.readouterr().err
    (run,) = (tmp_path / "CartPole-v1").glob("train-seed7-*")
    steps = json.loads((run / RESUME_DIR / "state.json").read_text())["steps"]
    # show says what it is and how to go on (it said "did the run end early?", then an
    # error line with exit 2: an outsider expected its state)
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split() == ["state", "interrupted", "(no", "result.json)"], out
    assert ["checkpoint_step", str(steps)] in [line.split() for line in out], out
    assert ["seed", "7"] in [line.split() for line in out], out
    assert out[-1] == f"Go on with: neuroq train --resume {run}", out
    assert main(["show", str(run), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["state"] == "interrupted" and doc["checkpoint_step"] == steps, doc
    assert doc["env_id"] == "CartPole-v1" and doc["steps_asked"] == _cfg().n_timesteps, doc
    assert doc["next"] == f"go on with: neuroq train --resume {run}", doc
    monkeypatch.undo()
    result = json.loads((resume_run(run) / "result.json").read_text())
    assert result["steps"] == steps and result["resumed"] is True


def test_one_process_at_a_time_trains_a_run(tmp_path, capsys):
    """Two `--resume` of one run were both accepted, trained into the same folder and
    removed each other's checkpoints (an outsider). The run's lock file is held by the
    process training it; a second one is refused in one line."""
    import fcntl

    from neuroq.agents.train import LOCK_FILE

    with pytest.raises(KeyboardInterrupt):  # a run with a checkpoint to go on from
        train_one("CartPole-v1", 8, _cfg(), tmp_path, on_eval=_interrupt_at(400),
                  checkpoint_every_s=0)
    (run,) = (tmp_path / "CartPole-v1").glob("train-seed8-*")
    capsys.readouterr()  # the interruption's line
    with open(run / LOCK_FILE, "a") as other:  # another process's resume, training now
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(NeuroqError, match="is being trained by another process now"):
            resume_run(run)
        # show says so too (it asked "did the run end early?" of a run training)
        assert main(["show", str(run)]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert " ".join(out[0].split()) == "state training now (a running process holds " \
            "its .lock)", out
        assert out[-1] == "Its result.json comes when it finishes", out
    assert main(["show", str(run)]) == 0  # released: interrupted, with its checkpoint
    assert "interrupted (no result.json)" in capsys.readouterr().out
    assert (resume_run(run) / "result.json").is_file()  # released: it goes on


def test_resume_names_a_later_stage_run_given_for_a_train_run(tmp_path, capsys):
    """The later stages keep a config.yaml too: `--resume <convert run>` said "finished
    already ... nothing to resume", as if it were a train run."""
    for stage in ("convert", "finetune"):
        run = tmp_path / f"{stage}-x"
        run.mkdir()
        (run / "config.yaml").write_text(f"stage: {stage}\nenv_id: CartPole-v1\n")
        (run / "result.json").write_text("{}")
        assert main(["train", "--resume", str(run)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"is a {stage} run, not a train run" in err[0], err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text("env_id: [CartPole\n")
    assert main(["train", "--resume", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config.yaml cannot be read as a train run's" in err[0], err


@pytest.mark.slow
def test_ctrl_c_on_the_command_line_then_resume(tmp_path):
    """As a user does it: SIGINT to `neuroq train` once it has a checkpoint, then
    `neuroq train --resume` in a new process finishes the run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cmd = [sys.executable, "-m", "neuroq.agents.cli.main", "train", "--env", "CartPole-v1",
           "--seed", "4", "--out", str(tmp_path), "--no-progress", "--checkpoint-every", "0",
           "--set", *[t for t in TINY if not t.startswith("n_timesteps")],
           "n_timesteps=20000"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    state = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(tmp_path.glob(f"CartPole-v1/train-seed4-*/{RESUME_DIR}/state.json"))
        if found:
            state = found[0]
            break
        time.sleep(0.2)
    assert state is not None, "no checkpoint appeared"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "neuroq train --resume" in err, err[-2000:]
    run = state.parents[1]
    assert not (run / "result.json").exists()
    out = subprocess.run([sys.executable, "-m", "neuroq.agents.cli.main", "train", "--resume",
                          str(run), "--no-progress"], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((run / "result.json").read_text())
    assert result["resumed"] and 20000 <= result["steps"] < 20000 + 32


def _seeds_cmd(tmp_path, seeds, steps=20000):
    import sys

    return [sys.executable, "-m", "neuroq.agents.cli.main", "train", "--env", "CartPole-v1",
            "--seeds", *map(str, seeds), "--workers", "2", "--out", str(tmp_path),
            "--no-progress", "--checkpoint-every", "0",
            "--set", *[t for t in TINY if not t.startswith("n_timesteps")],
            f"n_timesteps={steps}"]


def _wait_for_checkpoints(tmp_path, proc, seeds, limit_s=120.0) -> None:
    import time

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        if all(list(tmp_path.glob(f"CartPole-v1/train-seed{s}-*/{RESUME_DIR}/state.json"))
               for s in seeds):
            return
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint of seeds {seeds} appeared")


def _group_alive(pgid: int) -> list[int]:
    import psutil

    alive = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.info["pid"]) == pgid:
                alive.append(p.info["pid"])
        except (ProcessLookupError, PermissionError):
            continue
    return alive


@pytest.mark.slow
@pytest.mark.parametrize("parent_ignores, sig", [(False, "SIGINT"), (True, "SIGINT"),
                                                 (False, "SIGTERM")])
def test_ctrl_c_of_several_seeds_stops_them_all_and_says_what_is_where(tmp_path,
                                                                       parent_ignores, sig):
    """An outsider's Ctrl-C of `--seeds 0 1 2 3` started the two queued seeds as the
    interrupt arrived, trained them to the end (28 s, 78 s with 20k steps) and named only
    the first two. Now the queued seeds do not start and every seed is accounted for, also
    when the command itself ignores SIGINT (a script's background job) and only its
    workers stop (it exited 0 without a word: a reviewer). A SIGTERM to the process group
    (`timeout -s TERM`, `kill -- -PGID`) said "stopped (a worker ended abruptly)" of each
    seed (another outsider): interrupted, as for a Ctrl-C."""
    import signal
    import subprocess
    import time

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(_seeds_cmd(tmp_path, [0, 1, 2, 3]), stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=ignore_sigint if parent_ignores else None)
    try:
        _wait_for_checkpoints(tmp_path, proc, [0, 1])
        sent = time.monotonic()
        os.killpg(proc.pid, getattr(signal, sig))  # as a terminal's Ctrl-C: the group
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and took < 30, (proc.returncode, took, err[-2000:])
    assert "Traceback" not in err, err[-3000:]
    for seed in (0, 1):
        assert f"seed {seed}: interrupted; go on with: neuroq train --resume" in err, err
    for seed in (2, 3):
        assert f"seed {seed}: not started" in err, err
        assert not list(tmp_path.glob(f"CartPole-v1/train-seed{seed}-*"))


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["parent", "worker"])
def test_a_killed_parent_leaves_no_worker_and_a_killed_worker_is_one_line(tmp_path, victim):
    """An outsider's `kill -KILL` of `neuroq train --seeds 0 1 2` left both workers training
    on as orphans (and they started seed 2); killing one worker was a BrokenProcessPool
    traceback that named no run."""
    import signal
    import subprocess
    import time

    import psutil

    proc = subprocess.Popen(_seeds_cmd(tmp_path, [0, 1, 2], steps=200_000),
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_for_checkpoints(tmp_path, proc, [0, 1])
        if victim == "parent":
            proc.kill()
            proc.wait(10)
            deadline = time.monotonic() + 20
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not _group_alive(proc.pid), "workers outlived their parent"
            assert not list(tmp_path.glob("CartPole-v1/train-seed2-*"))
            return
        trainers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                    if "spawn_main" in " ".join(c.cmdline())]  # not the resource tracker
        assert trainers, "no training worker found"
        trainers[0].kill()
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2 and "Traceback" not in err, (proc.returncode, err[-3000:])
    assert "neuroq train: error: a training worker ended abruptly" in err, err[-2000:]
    assert "go on with: neuroq train --resume" in err and "seed 2: not started" in err, err


def test_a_lock_is_not_required_where_the_file_system_has_none(tmp_path, monkeypatch):
    """On a mount without flock (ENOLCK; some network and FUSE mounts) every train run
    failed with a traceback (a reviewer): the run goes unlocked there; a folder where no
    lock file can be made too. A lock another process holds is still refused."""
    import errno
    import fcntl

    from neuroq.agents.runs import held_lock

    def no_flock(*args):
        raise OSError(errno.ENOLCK, "No locks available")

    with monkeypatch.context() as m:
        m.setattr(fcntl, "flock", no_flock)
        with held_lock(tmp_path, "busy"):
            pass
    with held_lock(tmp_path / "missing", "busy"):  # no lock file can be made: unlocked
        pass
    with held_lock(tmp_path, "busy"), pytest.raises(NeuroqError, match="busy"):
        with held_lock(tmp_path, "busy"):
            pass


@pytest.mark.slow
def test_a_seed_failing_with_its_own_error_stops_the_others_and_names_each(tmp_path):
    """A user's env that raises in one seed of two (seed 1, after 300 steps): the other
    seed stops at its next report and keeps its checkpoint, the summary names the error of
    the one and the resume command of the other, and one line naming the env and where it
    raised ends the command, status 2 (it was the user's traceback, status 1, and for an
    outsider's env a 60-line _RemoteTraceback: `checked_env`)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "neuroq.agents.cli.main", "train", "--env",
           "tests.helpers.user_envs:FailsOnSeedOneEnv", "--seeds", "0", "1", "--workers", "2",
           "--out", str(tmp_path), "--no-progress", "--checkpoint-every", "0",
           "--set", *[t for t in TINY if not t.startswith("n_timesteps")], "n_timesteps=50000"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err[-3000:])
    assert ("  seed 1: failed (environment 'tests.helpers.user_envs:FailsOnSeedOneEnv': its "
            "step raised RuntimeError: the simulated sensor stopped answering (at "
            "user_envs.py, line ") in err, err[-3000:]
    assert "  seed 0: stopped (seed 1 failed); go on with: neuroq train --resume" in err, \
        err[-3000:]
    # the stopped seed's own "interrupted" line no longer stands above that summary
    assert "\ninterrupted" not in err, err[-3000:]
    last = err.rstrip().splitlines()[-1]
    assert last.startswith("neuroq train: error: seed 1: environment") and last.endswith(
        "after 300 steps; the other seeds were stopped (listed above)"), last
    assert "Traceback" not in err, err[-3000:]
    (run,) = tmp_path.glob("tests.helpers.user_envs/FailsOnSeedOneEnv/train-seed0-*")
    assert resumable(run)


def test_resume_goes_back_to_the_checkpoints_best_model(tmp_path):
    """A best_model.zip saved after the last checkpoint (its evaluation's training lost
    with the interruption) was kept by --resume and reported, while the selection history
    and score went back to the checkpoint's: the report named a step whose model it did
    not play. The checkpoint holds the best model of its time, and --resume puts it back."""
    at_checkpoint = {}

    def interrupt_at_600(steps, _mean):  # after the step-600 checkpoint is written
        if steps == 600:
            (run,) = (tmp_path / "CartPole-v1").glob("train-seed3-*")
            at_checkpoint["best"] = (run / "best_model.zip").read_bytes()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # at the last evaluation, after its checkpoint
        train_one("CartPole-v1", 3, _cfg(), tmp_path, on_eval=interrupt_at_600,
                  checkpoint_every_s=0)
    (run,) = (tmp_path / "CartPole-v1").glob("train-seed3-*")
    kept = at_checkpoint["best"]  # the best model as the checkpoint was written
    # a best saved after the checkpoint: any other model of the run's shape will do
    from stable_baselines3 import DQN

    DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [16, 16]}, seed=1,
        device="cpu").save(tmp_path / "other.zip")
    lost = (tmp_path / "other.zip").read_bytes()
    assert lost != kept
    (run / "best_model.zip").write_bytes(lost)
    resume_run(run, checkpoint_every_s=0)  # nothing left to train: the report only
    result = json.loads((run / "result.json").read_text())
    assert result["checkpoint"] == "best" and result["steps"] == 600
    assert (run / "best_model.zip").read_bytes() == kept
    assert not list(run.glob(".best_model.zip*"))


def test_show_of_a_run_stopped_before_its_first_checkpoint_says_so(tmp_path, capsys):
    """A recheck: a train run interrupted before its first checkpoint was exit 2 in `neuroq
    show`, "not a finished run folder ... still running, or it ended early"."""
    run = tmp_path / "CartPole-v1" / "train-seed4-20261129-000000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("env_id: CartPole-v1\nseed: 4\nhyperparameters:\n"
                                     "  n_timesteps: 6000\n")
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert " ".join(out[0].split()) == ("state interrupted before its first checkpoint (no "
                                        "result.json)"), out
    # with the steps it was asked for (an outsider's 10,000-step run was told to train
    # again without them: 50,000, the default)
    # and its output root, not ./runs (a recheck)
    assert out[-1] == ("Nothing to go on from: train it again (neuroq train --env "
                       f"CartPole-v1 --seed 4 --steps 6000 --out {tmp_path})"), out


def test_the_train_again_command_gives_the_runs_own_hyperparameters():
    """retrain_command: every hyperparameter of the run's config.yaml that differs from the
    shipped dqn.yaml's, read back as `neuroq train` reads its options, gives the run's."""
    import shlex

    from neuroq.agents.cli.main import build_parser
    from neuroq.agents.hyperparams import load_config, override, with_steps
    from neuroq.agents.train import retrain_command

    run = load_config("CartPole-v1").to_dict()
    assert retrain_command({"env_id": "CartPole-v1", "seed": 3, "hyperparameters": run}) \
        == "neuroq train --env CartPole-v1 --seed 3"
    # as train writes config.yaml: the values checked (randomize in its full form)
    run = override(load_config("CartPole-v1"), [
        "n_timesteps=10000", "net_arch=[32, 16]", "learning_rate=5e-4",
        "randomize={obs_noise: [0.0, 0.02]}"]).to_dict()
    line = retrain_command({"env_id": "CartPole-v1", "seed": 3, "hyperparameters": run})
    argv = shlex.split(line)
    assert argv[:2] == ["neuroq", "train"] and "--steps" in argv, line
    args = build_parser().parse_args(argv[1:])
    assert (args.env, args.seed, args.gym_package) == ("CartPole-v1", 3, None)
    again = override(load_config("CartPole-v1"), with_steps(args.set or [], args.steps))
    assert again.to_dict() == run
    assert retrain_command({}) == "neuroq train --env ENV --seed SEED"
    # the output root where it is not the default
    assert retrain_command({"env_id": "neuroq/DVSPanTracking-v0", "seed": 0},
                           Path("/data/x y/neuroq/DVSPanTracking-v0/train-seed0-1")) == \
        "neuroq train --env neuroq/DVSPanTracking-v0 --seed 0 --out '/data/x y'"
    assert retrain_command({"env_id": "CartPole-v1", "seed": 0},
                           Path("runs/CartPole-v1/train-seed0-1")) == \
        "neuroq train --env CartPole-v1 --seed 0"
    # a --gym-package run stores the whole reference and the package: the reference alone
    # (both given is refused by train: a review)
    from neuroq.deploy.envref import with_package

    stored = {"env_id": "my_pkg:GridWorld-v0", "gym_package": "my_pkg", "seed": 1}
    args = build_parser().parse_args(shlex.split(retrain_command(stored))[1:])
    assert with_package(args.env, args.gym_package) == "my_pkg:GridWorld-v0"


def test_an_interrupt_while_the_model_is_made_says_how_to_train_again(tmp_path, capsys,
                                                                     monkeypatch):
    """A recheck: Ctrl-C in the first seconds, while the env and the model were being made,
    printed "interrupted" alone, though the run folder was there."""
    import neuroq.agents.train as train

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "_new_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_one("CartPole-v1", 5, _cfg(), tmp_path, checkpoint_every_s=None)
    (run,) = (tmp_path / "CartPole-v1").glob("train-seed5-*")
    err = capsys.readouterr().err
    assert f"interrupted before the first checkpoint: {run} holds no checkpoint" in err
    assert "train it again (neuroq train --env CartPole-v1 --seed 5 --steps " in err, err
