"""`neuroq sweep` and `neuroq tune` on a local Ray: a tiny sweep (with a failing trial and a
resumed rerun) and a tiny search (resumed), a few hundred training steps each.

One local Ray instance serves the whole module (starting one takes 15-20 s on the 2-core
machine). The tests check that it listens on the loopback address only.
"""

import csv
import json
import os
import re
import time
from pathlib import Path

import psutil
import pytest
import yaml

from neuroq.agents import hyperparams
from neuroq.agents.sweep import run_sweep
from neuroq.agents.sweep_spec import parse_spec
from neuroq.agents.tune import StudyKeeper, run_tune

pytestmark = pytest.mark.slow
WORKERS = 2
TINY_TRAIN = {"n_timesteps": 400, "eval_freq": 200, "n_eval_episodes": 2,
              "final_eval_episodes": 3, "learning_starts": 100, "train_freq": 32,
              "gradient_steps": 4, "net_arch": [16, 16]}
LOOPBACK = ("127.0.0.1", "::ffff:127.0.0.1", "::1")


@pytest.fixture(scope="module")
def ray_local():
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # not imported here: start_local sets its
        pytest.skip('Ray is not installed (pip install ".[scale]" in the clone)')  # env first
    from neuroq.agents.ray_session import start_local, stop

    ray = start_local(WORKERS)
    yield ray
    stop(ray)


def test_local_ray_listens_on_loopback_only(ray_local):
    assert ray_local.util.get_node_ip_address() == "127.0.0.1"
    listening = [c for p in psutil.Process().children(recursive=True)
                 for c in _connections(p) if c.status == psutil.CONN_LISTEN]
    assert listening, "no Ray server found among this process's children"
    assert all(c.laddr.ip in LOOPBACK for c in listening), listening


def _connections(p):
    try:
        return p.net_connections(kind="inet")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def tiny_spec(name="tiny"):
    return parse_spec({
        "name": name, "env": "CartPole-v1", "workers": WORKERS,
        "fixed": {"train": TINY_TRAIN,
                  "convert": {"record_steps": 200, "eval_episodes": 2},
                  "finetune": {"epochs": 1, "dagger_steps": 100, "validation_episodes": 1,
                               "eval_episodes": 2},
                  "export": {"eval_episodes": 0, "gate_episodes": 0},
                  "eval": {"episodes": 2}},
        # T = 2 is too few steps for two projections: that trial fails at convert
        "grid": {"convert.timesteps": [2, 4]},
    }, "tiny.yaml")


def test_sweep_records_failures_and_resumes(ray_local, tmp_path):
    spec = tiny_spec()
    first = run_sweep(spec, tmp_path, show_progress=False, say=lambda _: None)
    by_t = {r["convert.timesteps"]: r for r in first.rows}
    assert by_t[4]["status"] == "ok" and by_t[2]["status"] == "failed"
    assert "convert" in by_t[2]["error"] and "T = 2 steps is too few" in by_t[2]["error"]
    ok = by_t[4]
    assert ok["eval_return"] is not None and ok["modeled_energy_per_action_j"] > 0
    for stage in ("train", "convert", "finetune", "export", "eval"):
        assert (tmp_path / "CartPole-v1" / "sweep-tiny" / "trials").exists()
        run = ok[f"{stage}_run"]
        assert json.loads(open(f"{run}/result.json").read()), stage
    with open(first.table_csv) as f:
        assert len(list(csv.DictReader(f))) == 2
    # on Ray too, every stage run has its log, a failed one its traceback (an outsider:
    # 9 logs for 21 stage runs, none for the failures)
    logs = {p.stem: p.read_text() for p in (first.folder / "logs").glob("*.log")}
    states = {p.stem for p in (first.folder / "stages").glob("*.json")}
    assert states <= set(logs) and len(logs) == len(states) + 1, (sorted(logs), states)
    failed_log = next(text for key, text in logs.items() if key not in states)
    assert "Traceback" in failed_log and "T = 2 steps is too few" in failed_log
    assert all(text.splitlines()[-1].startswith("finished in ")
               for key, text in logs.items() if key in states)
    assert "| 4 |" in first.table_md.read_text() and first.plot.is_file()
    # which episodes each return was played on, and that the table's best is optimistic
    # (an outsider: results.md said neither)
    for stage in ("train", "convert", "finetune", "eval"):
        assert re.fullmatch(r"\d+\.\.\d+", ok[f"{stage}_seeds"]), ok
        assert f"{stage}_return on episode seeds {ok[stage + '_seeds']}" in " ".join(
            first.table_md.read_text().split())
    assert "optimistic figure" in first.table_md.read_text()
    # the rerun skips the finished trial and tries the failed one again (the shared
    # training run is not repeated)
    first_wall = json.loads((first.folder / "trials.json").read_text())["wall_s"]
    assert first_wall == round(first.wall_s, 2) > 0
    t0 = time.perf_counter()
    again = run_sweep(spec, tmp_path, show_progress=False, say=lambda _: None)
    # the wall time is the sweep's, both sessions (a resume recorded its own alone)
    assert again.wall_s >= first_wall + 0.9 * (time.perf_counter() - t0) - 0.5
    assert json.loads((first.folder / "trials.json").read_text())["wall_s"] == round(
        again.wall_s, 2)
    # (stage runs left: the failed convert run and the three after it)
    assert again.skipped == 1 and again.ran == 4 and again.failed == 1
    failed = next(r for r in again.rows if r["status"] == "failed")
    assert "T = 2 steps is too few" in failed["error"]
    trains = list((first.folder / "trials" / "CartPole-v1").glob("train-*"))
    assert len(trains) == 1
    # a sweep folder moved elsewhere still finds its finished runs (their state files name
    # them inside it: absolute paths made it run everything again)
    moved = tmp_path / "moved"
    (moved / "CartPole-v1").mkdir(parents=True)
    first.folder.rename(moved / "CartPole-v1" / first.folder.name)
    third = run_sweep(spec, moved, show_progress=False, say=lambda _: None)
    assert third.skipped == 1 and third.failed == 1
    ok = next(r for r in third.rows if r["status"] == "ok")
    assert all(str(ok[f"{stage}_run"]).startswith(str(moved.resolve()))
               for stage in ("train", "convert", "finetune", "export", "eval")), ok
    # moved after export, before eval: eval plays the moved folder's artifact (a review)
    folder = moved / "CartPole-v1" / first.folder.name
    (evaluated,) = [p for p in (folder / "stages").glob("eval-*.json")
                    if json.loads(p.read_text())["run_dir"] == str(
                        Path(ok["eval_run"]).relative_to(folder.resolve()))]
    evaluated.unlink()
    again_moved = tmp_path / "again"
    (again_moved / "CartPole-v1").mkdir(parents=True)
    folder.rename(again_moved / "CartPole-v1" / folder.name)
    fourth = run_sweep(spec, again_moved, show_progress=False, say=lambda _: None)
    ok = next(r for r in fourth.rows if r["status"] == "ok")
    assert str(ok["eval_run"]).startswith(str(again_moved.resolve())), ok
    assert str(ok["artifact"]).startswith(str(again_moved.resolve())), ok


def test_tune_writes_a_config_section_and_resumes(ray_local, tmp_path):
    from neuroq.agents.tune import parse_space

    settings = [f"{k}={v}" for k, v in TINY_TRAIN.items() if k != "n_timesteps"]
    # a space apart from the tiny settings (the default space draws several of them, which
    # replaced them: --set of a drawn setting is refused now)
    space = parse_space({"learning_rate": {"loguniform": [1e-4, 1e-2]},
                         "gamma": [0.95, 0.99]}, "tiny space")
    first = run_tune("CartPole-v1", 2, tmp_path, steps=400, workers=WORKERS, space=space,
                     overrides=settings, show_progress=False, say=lambda _: None)
    assert len(first.trials) == 2
    assert {t["state"] for t in first.trials} <= {"complete", "pruned"}
    assert (first.folder / "study.journal").is_file()
    section = yaml.safe_load(first.best_yaml.read_text())
    cfg = hyperparams.parse_config(section, "CartPole-v1", str(first.best_yaml))
    assert cfg.n_timesteps == 400
    assert cfg.to_dict() == first.best["hyperparameters"]
    again = run_tune("CartPole-v1", 3, tmp_path, steps=400, workers=WORKERS, space=space,
                     overrides=settings, show_progress=False, say=lambda _: None)
    assert len(again.trials) == 3
    params = [t["hyperparameters"] for t in again.trials]
    assert params[2] not in params[:2]  # a resumed sampler proposes new settings
    with open(again.folder / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["number"]) for r in rows] == [0, 1, 2] and "rerun_of" in rows[0]
    # the best trial again on held-out episodes: its objective chose it (an outsider)
    from stable_baselines3 import DQN

    from neuroq.agents.convert import open_train_run
    from neuroq.agents.train import evaluate
    from neuroq.deploy.seeds import HELD_OUT_BASE

    held = again.held_out
    train = open_train_run(again.best["run_dir"])
    assert held["episodes"] == train.result["episodes"]
    assert held["seeds"] == [HELD_OUT_BASE, HELD_OUT_BASE + held["episodes"] - 1]
    returns = evaluate(DQN.load(train.model_path, device="cpu"), "CartPole-v1",
                       held["episodes"], HELD_OUT_BASE)
    assert held["mean_return"] == pytest.approx(float(returns.mean()))
    saved = json.loads((again.folder / "result.json").read_text())
    assert saved["best"]["held_out"] == held and saved["states"]["interrupted"] == 0
    assert "# Held out (not seen by the search): mean return" in again.best_yaml.read_text()
    # a study folder moved elsewhere finds its trials' runs (their run folders are stored
    # relative to it): no trial runs again, and the best is the moved copy's
    moved = tmp_path / "moved" / again.folder.relative_to(tmp_path.resolve())
    moved.parent.mkdir(parents=True)
    again.folder.rename(moved)
    third = run_tune("CartPole-v1", 3, tmp_path / "moved", steps=400, workers=WORKERS,
                     space=space, overrides=settings, show_progress=False, say=lambda _: None)
    assert len(third.trials) == 3
    assert third.best["run_dir"].startswith(str(moved.resolve()))
    assert Path(third.best["run_dir"]).is_dir()


def test_median_pruner_stops_a_trial_below_the_median(tmp_path):
    keeper = StudyKeeper(str(tmp_path), seed=0, startup_trials=1, warmup_steps=200)
    base = hyperparams.DQNConfig().to_dict()
    space = {}
    n, _ = keeper.ask(space, base)
    for step in (100, 200, 300):
        assert not keeper.report(n, step, 100.0)
    keeper.tell(n, {"state": "complete", "value": 100.0})
    n2, _ = keeper.ask(space, base)
    assert not keeper.report(n2, 100, 1.0)  # before the warm-up: never pruned
    assert keeper.report(n2, 200, 1.0)  # below the median at the same step
    keeper.tell(n2, {"state": "pruned", "value": None, "pruned_at_step": 200})
    assert [t["state"] for t in keeper.trials()] == ["complete", "pruned"]


def test_trials_an_interrupted_search_left_running_are_run_again(tmp_path):
    """A rerun of an interrupted `tune` marked the trials left running failed and counted
    them finished: it ran none of them again and reported "2 failed" (an outsider). They
    are queued again with their parameters, and count only once run."""
    from neuroq.agents.tune import parse_space

    space = parse_space({"learning_rate": {"loguniform": [1e-4, 1e-2]}}, "test")
    base = hyperparams.DQNConfig().to_dict()
    first = StudyKeeper(str(tmp_path), seed=0, startup_trials=1, warmup_steps=200)
    n0, _ = first.ask(space, base)
    first.tell(n0, {"state": "complete", "value": 100.0})
    left = [first.ask(space, base) for _ in range(2)]  # running when the search stops
    again = StudyKeeper(str(tmp_path), seed=0, startup_trials=1, warmup_steps=200)
    assert again.fail_stale() == 2 and again.finished() == 1
    for number, hp in left:  # the queued trials come first, with the same parameters
        n, hp2 = again.ask(space, base)
        assert n > number and hp2["learning_rate"] == hp["learning_rate"]
        again.tell(n, {"state": "complete", "value": 50.0})
    assert again.finished() == 3
    states = [t["state"] for t in again.trials()]
    assert states == ["complete", "interrupted", "interrupted", "complete", "complete"]
    assert [t["rerun_of"] for t in again.trials()][3:] == [left[0][0], left[1][0]]


def test_a_second_search_of_a_study_being_searched_is_refused(tmp_path):
    """A second `neuroq tune` of a study marked the first's running trials failed and
    queued them again (a reviewer): the study's lock is held while it is searched."""
    from neuroq.agents.runs import held_lock
    from neuroq.agents.tune import tune_dir
    from neuroq.deploy.errors import NeuroqError

    folder = tune_dir("CartPole-v1", "study", tmp_path)
    folder.mkdir(parents=True)
    with held_lock(folder, "held by the first search"):
        with pytest.raises(NeuroqError, match="is being searched by another neuroq tune"):
            run_tune("CartPole-v1", 1, tmp_path, name="study", steps=400, serial=True,
                     show_progress=False, say=lambda _: None)
    assert not (folder / "study.journal").exists()


def test_sweep_on_a_users_env_module(ray_local, tmp_path):
    """Ray workers import the user's module (here from the working folder, the repository)."""
    spec = parse_spec({"name": "user", "env": "tests.helpers.user_envs:LineEnv",
                       "stages": ["train"], "fixed": {"train": TINY_TRAIN},
                       "grid": {"train.seed": [0, 1]}}, "user.yaml")
    result = run_sweep(spec, tmp_path, show_progress=False, say=lambda _: None)
    assert [r["status"] for r in result.rows] == ["ok", "ok"], result.rows
    assert all(r["default_hyperparameters"] for r in result.rows)


def test_sigterm_stops_a_sweep_as_ctrl_c_does(tmp_path, request):
    """`kill` of a running sweep printed Ray's stack dump ("*** SIGTERM received ...") and
    aborted (exit 134), leaving Ray's session folder behind: it stops as a Ctrl-C does,
    its Ray processes gone and the session folder removed."""
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "sigterm", "env": "CartPole-v1", "workers": WORKERS, "stages": ["train"],
        "fixed": {"train": {**TINY_TRAIN, "n_timesteps": 200_000}},
        "grid": {"train.seed": [0, 1]}}))
    temp = Path(tempfile.mkdtemp(dir="/tmp", prefix="nq-test-"))  # short: Ray's sockets
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    log = open(tmp_path / "stderr.txt", "w+")  # noqa: SIM115 - a pipe unread would fill
    request.addfinalizer(log.close)
    proc = subprocess.Popen([sys.executable, "-m", "neuroq.agents.cli.main", "sweep",
                             str(spec), "--out", str(tmp_path / "runs")],
                            stderr=log, text=True, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(temp)})
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((tmp_path / "runs").glob("**/train-seed*"))) == 2:
                break  # both trials train
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()[-2000:]
        family = psutil.Process(proc.pid).children(recursive=True)
        assert list(temp.glob("nq-ray-*")), "no Ray session folder: nothing to check"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 130, (proc.returncode, err[-3000:])
    assert "SIGTERM received" not in err and err.rstrip().endswith(
        "neuroq sweep: interrupted; run the same command again (same spec and --out) to go "
        "on: finished stage runs are kept, the rest runs again"), err[-3000:]
    assert not list(temp.glob("nq-ray-*"))
    def alive(p):  # running and not a zombie; one that ends between two calls is gone
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + 30
    while any(alive(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [p for p in family if alive(p)]


def test_session_folders_left_by_a_killed_command_are_removed_by_the_next(tmp_path):
    """A sweep killed with SIGKILL left its Ray session folder in /tmp (measured: Ray's
    agents end on their own about a minute later, the folder stays): the next local session
    removes the folders whose owner has surely ended, and no other (another host or
    container, unclear stamps, a live process: kept)."""
    import socket
    import subprocess
    import sys

    from neuroq.agents.ray_session import (
        OWNER_FILE,
        TEMP_PREFIX,
        _process_stamp,
        _write_owner,
        remove_stale_sessions,
    )

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    host, boot, pid, ticks = _process_stamp(os.getpid()).split()

    def session(name, owner=None):
        folder = tmp_path / (TEMP_PREFIX + name)
        (folder / "session_x" / "logs").mkdir(parents=True)
        if owner is not None:
            (folder / OWNER_FILE).write_text(owner)
        return folder

    dead = session("dead", f"{host} {boot} {ended.pid} 1")
    reused = session("reused", f"{host} {boot} {pid} {int(ticks) + 1}")  # our pid, later
    rebooted = session("rebooted", f"{host} another-boot {pid} {ticks}")
    live = session("live")
    _write_owner(str(live))
    kept = [live,
            session("unowned"),  # an older neuroq's, or being made
            session("garbage", "not a stamp"),
            session("empty", ""),
            session("old-format", f"{ended.pid} 12345.000"),  # pid and a float time
            session("other-host", f"not-{socket.gethostname()} {boot} {ended.pid} 1")]
    other = tmp_path / "ray-other"
    other.mkdir()
    (other / OWNER_FILE).write_text(f"{host} {boot} {ended.pid} 1")
    removed = remove_stale_sessions(str(tmp_path))
    assert sorted(removed) == sorted(str(f) for f in (dead, reused, rebooted))
    assert not any(f.exists() for f in (dead, reused, rebooted))
    assert all(f.exists() for f in kept) and other.exists()
    assert (live / OWNER_FILE).read_text() == _process_stamp(os.getpid())
    assert remove_stale_sessions(str(tmp_path / "missing")) == []
    # the stamp's ticks are this process's start time (it read the resident size, which
    # moves: a live owner was taken for ended and another command removed its folder)
    import psutil

    started = psutil.boot_time() + int(ticks) / os.sysconf("SC_CLK_TCK")
    assert abs(started - psutil.Process().create_time()) < 0.05, (started, ticks)
    grown = bytearray(64 << 20)  # 64 MiB, touched: the resident size moves
    grown[::4096] = b"x" * len(grown[::4096])
    assert _process_stamp(os.getpid()).split()[3] == ticks
    assert not remove_stale_sessions(str(tmp_path)) and live.exists()
    del grown


def test_a_second_run_of_a_sweep_being_run_is_refused(tmp_path):
    """Two `neuroq sweep` of one spec and --out both ran every stage, each writing the
    tables as it ended (an outsider); tune refused its own case already."""
    from neuroq.agents.runs import held_lock
    from neuroq.agents.sweep import sweep_dir
    from neuroq.deploy.errors import NeuroqError

    spec = tiny_spec()
    folder = sweep_dir(spec, tmp_path)
    folder.mkdir(parents=True)
    with held_lock(folder.resolve(), "held by the first run"):
        with pytest.raises(NeuroqError, match="is being run by another neuroq sweep now"):
            run_sweep(spec, tmp_path, serial=True, show_progress=False, say=lambda _: None)
    assert not (folder / "spec.yaml").exists()


def test_sweep_and_tune_exit_1_when_no_trial_succeeded(tmp_path, monkeypatch, capsys):
    """Both exited 0 when every trial failed (an outsider's scripts read it as success)."""
    from types import SimpleNamespace

    import neuroq.agents.sweep as sweep_module
    import neuroq.agents.tune as tune_module
    from neuroq.agents.cli.main import main

    spec_file = tmp_path / "s.yaml"
    spec_file.write_text("name: s\nenv: CartPole-v1\nstages: [train]\n")
    table = tmp_path / "t.md"
    table.write_text("| trial |\n")
    for failed in (2, 1):
        rows = [{"status": "failed"}, {"status": "failed" if failed == 2 else "ok"}]
        result = SimpleNamespace(rows=rows, failed=failed, skipped=0, wall_s=1.0,
                                 table_csv=tmp_path / "t.csv", table_md=table, plot=None,
                                 folder=tmp_path)
        monkeypatch.setattr(sweep_module, "run_sweep", lambda *a, r=result, **k: r)
        code = main(["sweep", str(spec_file), "--serial", "--out", str(tmp_path / "runs")])
        err = capsys.readouterr().err
        assert code == (1 if failed == 2 else 0), err
        assert ("neuroq sweep: every trial failed" in err) == (failed == 2), err
    monkeypatch.setattr(tune_module, "run_tune", lambda *a, **k: SimpleNamespace(
        best=None, folder=tmp_path, wall_s=1.0, trials=[{"state": "fail"}] * 2,
        best_yaml=None))
    code = main(["tune", "--env", "CartPole-v1", "--trials", "2", "--serial",
                 "--out", str(tmp_path / "runs")])
    assert code == 1 and "no trial completed" in capsys.readouterr().err


def test_tune_refuses_set_of_a_searched_key_and_fits_learning_starts(tmp_path):
    """An outsider's --set learning_rate=0.1 trained at 0.00125 (the draw replaced it), and
    --steps 4000 drew learning_starts 5000 (no gradient step, no word); a resumed study with
    another base said only "(base differ)"."""
    from neuroq.agents.tune import (
        _check_settings,
        _learning_starts_within,
        load_space,
        parse_space,
    )
    from neuroq.deploy.errors import NeuroqError

    with pytest.raises(NeuroqError, match=r"--set learning_rate: the search space draws "
                                          r"learning_rate, so each trial's value would"):
        run_tune("CartPole-v1", 1, tmp_path, steps=400, overrides=["learning_rate=0.1"],
                 serial=True, show_progress=False, say=lambda _: None)
    with pytest.raises(NeuroqError, match=r"--set gradient_steps: gradient_steps follows "
                                          r"gradient_ratio"):
        run_tune("CartPole-v1", 1, tmp_path, steps=400, overrides=["gradient_steps=2"],
                 serial=True, show_progress=False, say=lambda _: None)
    said = []
    space = _learning_starts_within(load_space(None), 4000, True, said.append)
    assert space["learning_starts"].args == (0, 1000)
    assert said == ["tune: the default space's learning_starts 5000 left out: with 4000 "
                    "steps no gradient step would follow"]
    assert _learning_starts_within(load_space(None), 50_000, True, said.append) == \
        load_space(None) and len(said) == 1
    mine = parse_space({"learning_starts": {"uniform": [0, 6000]}}, "my.yaml")
    with pytest.raises(NeuroqError, match="learning_starts reaches 6000, at or above the "
                                          "4000 training steps"):
        _learning_starts_within(mine, 4000, False, said.append)
    folder = tmp_path / "study"
    folder.mkdir()
    _check_settings(folder, {"seed": 0, "base": {"gamma": 0.99, "batch_size": 64}})
    with pytest.raises(NeuroqError, match=r"\(base.gamma differ\)"):
        _check_settings(folder, {"seed": 0, "base": {"gamma": 0.9, "batch_size": 64}})


def test_a_failed_trials_error_is_one_line_without_colour_codes():
    """Ray's wrapper of a trial's error spans a traceback with colour codes, which landed in
    an outsider's trials.csv ("[36mray::run_trial()[39m")."""
    from neuroq.agents.ray_session import error_line

    class Wrapped(Exception):
        def __init__(self, text, cause=None):
            super().__init__(text)
            self.cause = cause

    raw = Wrapped("\x1b[36mray::run_trial()\x1b[39m (pid=1)\n  File \"x.py\", line 3\nboom")
    assert error_line(raw) == "Wrapped: ray::run_trial() (pid=1)"
    assert error_line(Wrapped("outer", cause=ValueError("\n\n inner\nmore"))) == \
        "ValueError: inner"


def test_tune_from_the_command_line_fits_the_default_space_to_few_steps(tmp_path, capsys):
    """The review: the command line gave the default space as loaded, so --steps 3000 was
    refused as a space of the user's reaching 5000. Now the default space's learning_starts
    is fitted (said), the best trial's held-out line names its seeds, and neither range
    overlaps the objective's report episodes."""
    from neuroq.agents.cli.main import main
    from neuroq.deploy.seeds import HELD_OUT_BASE, REPORT_BASE

    assert main(["tune", "--env", "CartPole-v1", "--trials", "1", "--steps", "400",
                 "--serial", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert ("tune: the default space's learning_starts 1000, 5000 left out: with 400 steps "
            "no gradient step would follow") in out
    # train's warnings, which tune did not give (an outsider's --steps 800 ran every trial
    # without an evaluation for its pruner); learning_starts is drawn: the line above
    assert "tune: warning: n_timesteps 400 is below eval_freq " in out
    assert "no selection evaluation runs" in out and "no gradient step is taken" not in out
    line = next(x for x in out.splitlines() if x.startswith("best: trial 0"))
    assert f"report episodes that chose it (seeds {REPORT_BASE}..{REPORT_BASE + 99}, 100 " \
        "episodes)" in line, line
    assert "held out" in line and f"seeds {HELD_OUT_BASE}..{HELD_OUT_BASE + 99}" in line
    study = tmp_path / "CartPole-v1" / "tune-dqn"
    first = json.loads((study / "result.json").read_text())["best"]["held_out"]
    # a rerun with the same best trial does not play them again: the same figures
    assert main(["tune", "--env", "CartPole-v1", "--trials", "1", "--steps", "400",
                 "--serial", "--no-progress", "--out", str(tmp_path)]) == 0
    assert json.loads((study / "result.json").read_text())["best"]["held_out"] == first
    assert main(["show", str(study)]) == 0
    assert "best_held_out_mean_return" in capsys.readouterr().out


def test_a_best_trial_whose_run_is_gone_leaves_the_search_standing(tmp_path, monkeypatch):
    """The review: a best trial's folder gone (deleted, or --out not shared with a cluster)
    made a finished search fail; it is recorded and said, the search stands."""
    import neuroq.agents.tune as tune_module

    def gone(run_dir, env_id):
        raise tune_module.NeuroqError(f"{run_dir} does not exist")

    monkeypatch.setattr(tune_module, "held_out_return", gone)
    said = []
    result = run_tune("CartPole-v1", 1, tmp_path, steps=400, serial=True,
                      show_progress=False, say=said.append)
    assert result.best is not None and "does not exist" in result.held_out["error"]
    assert any("held-out episodes were not played" in line for line in said), said
    assert "# Held out: not played (" in result.best_yaml.read_text()


def test_progress_into_a_log_is_a_line_per_trial(tmp_path, capsys):
    """A sweep's progress bar into a redirected stderr was one line of carriage returns (an
    outsider's log): into a stderr that is no terminal, sweep and tune say each trial that
    ends on a line of its own."""
    from neuroq.agents.cli.main import main

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "env": "CartPole-v1", "stages": ["train"],
                                    "fixed": {"train": TINY_TRAIN},
                                    "grid": {"train.seed": [0, 1]}}))
    assert main(["sweep", str(spec), "--serial", "--out", str(tmp_path / "sw")]) == 0
    err = capsys.readouterr().err
    assert "sweep s: trial 0 ok; 1 of 2 ended, 0 failed\n" in err, err
    assert "sweep s: trial 1 ok; 2 of 2 ended, 0 failed\n" in err, err
    assert main(["tune", "--env", "CartPole-v1", "--trials", "1", "--steps", "400",
                 "--serial", "--out", str(tmp_path / "tn")]) == 0
    err += capsys.readouterr().err
    assert "tune CartPole-v1: trial 0 complete, mean return " in err, err
    assert "; 1 of 1 finished\n" in err and "\r" not in err, err


def test_show_of_a_study_no_trial_of_which_has_finished(tmp_path, capsys):
    """An outsider's `neuroq show` of a tune study interrupted before its first trial ended
    was exit 2, "is not a finished run folder"."""
    from neuroq.agents.cli.main import main

    folder = tmp_path / "tune-x"
    folder.mkdir()
    (folder / "settings.yaml").write_text("env_id: CartPole-v1\nseed: 0\nspace: {}\n")
    (folder / "study.journal").write_text("")
    assert main(["show", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "interrupted" in out and "run the same neuroq tune command" in out
    assert main(["show", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "interrupted"
    # stopped in its first seconds: no journal yet, an empty trials/ (a recheck)
    (folder / "study.journal").unlink()
    (folder / "trials").mkdir()
    assert main(["show", str(folder)]) == 0 and "interrupted" in capsys.readouterr().out


def test_the_episodes_line_says_whose_episodes_judge_the_trials():
    """results.md said "every trial is judged on these same episodes" for a sweep over
    train.seed, whose trials played their own seeds' (an audit), and told a sweep of train
    alone to play an artifact it never made."""
    from neuroq.agents.sweep_report import _episodes_note

    same = [{"train_seeds": "20007..20011", "eval_seeds": "0..9", "artifact": "a"},
            {"train_seeds": "20007..20011", "eval_seeds": "0..9", "artifact": "b"}]
    (line,) = _episodes_note(same)
    assert "Every trial is judged on these same episodes" in line
    assert "play that trial's artifact" in line
    own = [{"train_seeds": "20007..20011", "eval_seeds": "0..9"},
           {"train_seeds": "20051..20055", "eval_seeds": "0..9"}]
    (line,) = _episodes_note(own)
    assert "20007..20011, 20051..20055" in line
    assert ("judged on the same episodes but for train_return, which each trial played on "
            "episodes of its own seeds") in line
    assert "artifact" not in line.split("before relying")[0]  # no export: no artifact
    assert _episodes_note([{"train_return": 1.0}]) == []
