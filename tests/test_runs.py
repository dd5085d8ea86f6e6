"""Run folders: where each stage writes (neuroq.agents.runs)."""

import json
import time

import pytest

from neuroq.agents.runs import env_folder, make_run_dir
from neuroq.deploy.errors import NeuroqError


@pytest.mark.parametrize("env_id, folder", [
    ("CartPole-v1", "CartPole-v1"),
    ("neuroq/DVSPanTracking-v0", "neuroq/DVSPanTracking-v0"),
    ("my_pkg:GridWorld-v0", "my_pkg/GridWorld-v0"),
    ("my_pkg.envs:GridWorld", "my_pkg.envs/GridWorld"),
    ('a|b?c"d', "a_b_c_d"),
])
def test_env_folder_reads_a_colon_as_a_folder_level(env_id, folder):
    assert env_folder(env_id).as_posix() == folder


@pytest.mark.parametrize("env_id", ["", "/etc", "../up", "a//b", ":x", "a/./b", "x:"])
def test_an_env_id_that_names_no_folder_below_the_output_is_refused(env_id):
    with pytest.raises(NeuroqError, match="cannot name a run folder"):
        env_folder(env_id)


def test_run_folders_of_a_module_env_have_no_colon(tmp_path):
    a = make_run_dir(tmp_path, "my_pkg.envs:GridWorld", "train", "seed0")
    b = make_run_dir(tmp_path, "my_pkg.envs:GridWorld", "train", "seed0")  # same second
    assert a.parent == b.parent == tmp_path / "my_pkg.envs" / "GridWorld" and a != b
    assert a.name.startswith("train-seed0-") and ":" not in str(a.relative_to(tmp_path))


def test_require_run_dir_says_what_is_wrong_with_its_path(tmp_path, monkeypatch):
    """It says itself what the commands' own pre-check said: empty, missing, a file, not
    finished (show, convert, finetune and export call it instead of checking first)."""
    from neuroq.agents.runs import require_run_dir

    monkeypatch.chdir(tmp_path)
    file = tmp_path / "result.json"
    file.write_text("{}")  # "" must not read as "."
    (tmp_path / "unfinished").mkdir()
    for path, match in [("", "run folder: an empty path"),
                        (tmp_path / "missing", "run folder .*missing does not exist"),
                        (file, "result.json is a file, not a run folder"),
                        (tmp_path / "unfinished", "unfinished is not a finished run folder")]:
        with pytest.raises(NeuroqError, match=match):
            require_run_dir(path)
    assert require_run_dir(tmp_path / "unfinished", must_contain="") == tmp_path / "unfinished"
    assert require_run_dir(tmp_path) == tmp_path


def test_a_ctrl_c_while_files_are_written_is_raised_after_them():
    """CI: a Ctrl-C inside torch's zip writer (a checkpoint being saved) came out as a
    RuntimeError, and the seed was reported failed, not interrupted. interrupts_deferred
    holds it until the block ends."""
    import os
    import signal

    from neuroq.agents.runs import interrupts_deferred

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("written")  # not cut off
    assert finished == ["written"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with interrupts_deferred():  # no Ctrl-C: nothing raised
        pass
    # a second Ctrl-C stops at once (here: any second one, the duplicate window at 0);
    # an error of the block with one held is the interrupt
    import neuroq.agents.runs as runs_module

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs_module, "DUPLICATE_SIGINT_S", 0.0)
        with pytest.raises(KeyboardInterrupt):
            with interrupts_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)
                os.kill(os.getpid(), signal.SIGINT)
                finished.append("cut")  # never reached
    assert finished == ["written"]
    # but the same SIGINT delivered twice at once (coreutils timeout: to the command, then
    # to its process group) is one: the block still ends whole
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("whole")
    assert finished == ["written", "whole"]
    with pytest.raises(KeyboardInterrupt) as exc:
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            raise RuntimeError("unexpected pos 1666 vs 1553")
    assert isinstance(exc.value.__cause__, RuntimeError)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # ignored: stays ignored
    try:
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_sigint_delivered_twice_does_not_cut_the_handling_of_the_first():
    """coreutils `timeout -s INT` signals the command, then its process group: an outsider's
    `neuroq train --seeds` got two KeyboardInterrupts and lost its per-seed summary in 2
    runs of 4. Within duplicate_interrupt_ignored a SIGINT right after is ignored, a later
    one raises."""
    import os
    import signal

    import neuroq.agents.runs as runs_module
    from neuroq.agents.runs import duplicate_interrupt_ignored

    said = []
    with duplicate_interrupt_ignored():
        os.kill(os.getpid(), signal.SIGINT)
        said.append("summary")
    assert said == ["summary"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs_module, "DUPLICATE_SIGINT_S", 0.0)
        with pytest.raises(KeyboardInterrupt):
            with duplicate_interrupt_ignored():
                time.sleep(0.01)
                os.kill(os.getpid(), signal.SIGINT)
                said.append("cut")
    assert said == ["summary"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(("content", "message"), [
    (b"stage: [convert\n", "is not valid YAML: at line 2"),
    (b"- a list\n", "holds no settings"),
    (b"", "holds no settings"),
    (b"\xff\xfe binary", "is not a text file"),
])
def test_a_damaged_run_file_is_one_line_naming_it(tmp_path, content, message):
    """A run folder's config.yaml was read with a bare yaml.safe_load in five places: a
    damaged one was a traceback (a review)."""
    from neuroq.agents.runs import read_yaml_mapping

    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(NeuroqError, match=message) as caught:
        read_yaml_mapping(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(NeuroqError, match="does not exist"):
        read_yaml_mapping(tmp_path / "missing.yaml")


def test_a_sigterm_is_an_interrupt_held_while_files_are_written():
    """SIGTERM stops a command as a Ctrl-C does (`sigterm_as_interrupt`), and is held as a
    Ctrl-C is while files are written (`interrupts_deferred`): the block ends whole, then
    `Terminated` (a KeyboardInterrupt) is raised; the handlers are given back after."""
    import os
    import signal

    from neuroq.agents.runs import Terminated, interrupts_deferred, sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    finished = []
    with pytest.raises(Terminated):
        with sigterm_as_interrupt():
            with interrupts_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                finished.append("written")
            finished.append("never")  # raised when the block ended
    assert finished == ["written"]
    with pytest.raises(Terminated):
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1.0)
            finished.append("never")
    assert finished == ["written"] and signal.getsignal(signal.SIGTERM) == before
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ignored: stays ignored
    try:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            finished.append("ignored")
        assert finished[-1] == "ignored"
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_stage_interrupted_leaves_no_half_written_run_but_a_train_run_is_kept(tmp_path):
    """Convert and finetune runs stopped by Ctrl-C kept config.yaml and part of their files,
    which every later stage refused (an outsider): an interrupt removes the run folder as
    an error does, except where the run can be resumed (train: keep_interrupted)."""
    from neuroq.agents.runs import Terminated, removed_on_failure

    for exc in (KeyboardInterrupt(), Terminated(), ValueError("x")):
        run = tmp_path / f"convert-{type(exc).__name__}"
        run.mkdir()
        with pytest.raises(type(exc)), removed_on_failure(run):
            (run / "config.yaml").write_text("x: 1\n")
            raise exc
        assert not run.exists()
    kept = tmp_path / "train-seed0"
    kept.mkdir()
    with pytest.raises(KeyboardInterrupt), removed_on_failure(kept, keep_interrupted=True):
        raise KeyboardInterrupt
    assert kept.is_dir()


def test_a_file_size_limit_is_one_line_and_leaves_no_part_of_a_file(tmp_path):
    """`ulimit -f`: numpy's own writing raised "OSError: 8000 requested and 4064 written"
    (no errno: a traceback), HDF5 writing an artifact ended in a segmentation fault, and
    EFBIG ("File too large") was no write error of the CLI's (an outsider). Under a 4 KiB
    limit, in a process of its own: an array, an artifact, and the CLI's line for both."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import errno, resource, sys
        import numpy as np
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from neuroq.agents.runs import save_array
        from neuroq.deploy.artifact import save_artifact
        from neuroq.deploy.errors import NeuroqError
        from neuroq.deploy.output import output_failed
        try:
            save_array("obs.npy", np.zeros(10_000))
        except OSError as exc:
            assert exc.errno == errno.EFBIG and exc.filename == "obs.npy", exc
            assert output_failed(exc, "neuroq convert") == 2
        from neuroq.deploy.artifact import load_artifact
        art = load_artifact("cartpole")  # 205 kB of weights
        try:
            save_artifact("art", art.network, art.encoder, art.manifest)
        except NeuroqError as exc:
            print("artifact:", exc)
    """)
    import os

    from tests.helpers import REPO_ROOT

    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "neuroq convert: error: cannot write obs.npy: File too large" in proc.stderr
    assert proc.stdout.startswith("artifact: cannot write the artifact to art: File too large")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_more_workers_than_cpus_is_warned(monkeypatch):
    """An outsider's `--workers 64` on 2 CPUs (train --seeds, sweep, tune) was taken without
    a word."""
    import os

    from neuroq.agents.runs import oversubscribed

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert oversubscribed(2) is None and oversubscribed(1, "seeds") is None
    assert oversubscribed(8, "seeds") == (
        "8 seeds at once on 2 CPUs: they share them, so each runs slower and none finishes "
        "sooner; --workers 2 is as fast")


def test_arrays_and_states_of_run_folders_from_others_are_read_with_bounds(tmp_path):
    """An outsider's 4 kB observations.npy declaring (2e9, 4) was a 29.8 GiB MemoryError
    traceback in finetune; a sweep stage state of 200,000 '[' a RecursionError traceback."""
    import numpy as np
    from numpy.lib import format as npy

    from neuroq.agents.runs import load_array, save_array
    from neuroq.agents.sweep import _load_done

    with open(tmp_path / "obs.npy", "wb") as f:
        npy.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                       "shape": (2_000_000_000, 4)})
    with pytest.raises(NeuroqError, match="declares 32,000,000,000 bytes"):
        load_array(tmp_path / "obs.npy", "recorded observations")
    save_array(tmp_path / "ok.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    assert load_array(tmp_path / "ok.npy", "x").tolist() == [[0, 1, 2], [3, 4, 5]]
    (tmp_path / "bad.npy").write_bytes(b"not npy")
    with pytest.raises(NeuroqError, match="cannot be read"):
        load_array(tmp_path / "bad.npy", "x")
    state = tmp_path / "stages"
    state.mkdir()
    (state / "convert-1.json").write_text("[" * 200_000)
    (state / "train-1.json").write_text(json.dumps({"run_dir": str(tmp_path)}))
    assert list(_load_done(tmp_path)) == ["train-1"]


def test_show_of_an_unfinished_train_run_from_someone_else_prints_nothing_raw(tmp_path,
                                                                              capsys):
    """An outsider's config.yaml env_id "CartPole-v1\\x1b[2J; rm x" reached the terminal raw
    in `neuroq show`'s "train it again" line, unquoted for the shell it is pasted into."""
    from neuroq.agents.cli.main import main

    run = tmp_path / "CartPole-v1" / "train-seed0-x"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text('env_id: "CartPole-v1\\e[2J; rm x"\nseed: 0\n'
                                     "hyperparameters: {}\n")
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "--env 'CartPole-v1\\x1b[2J; rm x'" in out, out


def test_a_moved_artifacts_provenance_is_looked_for_beside_it():
    """neuroq energy and robustness find an artifact's train run by its provenance: an
    absolute path that is not there (a runs root moved or copied since) is looked for by
    its folder name beside the folders above the artifact."""
    from pathlib import Path

    from neuroq.agents.energy.runs import _candidates

    art = Path("/a/runs/CartPole-v1/export-1/artifact")
    found = list(_candidates("/gone/runs/CartPole-v1/train-seed0-x", art))
    assert found[0] == Path("/gone/runs/CartPole-v1/train-seed0-x")
    assert Path("/a/runs/CartPole-v1/train-seed0-x") in found


def test_show_marks_recorded_runs_that_are_not_there(tmp_path, capsys):
    """An outsider's show of a copied runs root named the old root's folders as if they
    were there: a recorded run folder that is gone is marked, with where the commands now
    find it (beside the run shown)."""
    import json as json_module

    from neuroq.agents.cli.main import main

    env = tmp_path / "runs" / "CartPole-v1"
    (env / "train-seed0-a").mkdir(parents=True)
    (env / "convert-x").mkdir()
    (env / "convert-x" / "result.json").write_text(json_module.dumps({
        "stage": "convert", "train_run": "/gone/runs/CartPole-v1/train-seed0-a",
        "other_run": "/gone/y", "here_run": str(env / "train-seed0-a")}))
    assert main(["show", str(env / "convert-x")]) == 0
    out = capsys.readouterr().out
    assert (f"/gone/runs/CartPole-v1/train-seed0-a (not there; found beside this run: "
            f"{env / 'train-seed0-a'})") in out
    assert "/gone/y (not on this machine)" in out
    assert f"{env / 'train-seed0-a'}\n" in out  # one that is there: as it is
    assert main(["show", str(env / "convert-x"), "--json"]) == 0  # the file as it is
    assert json_module.loads(capsys.readouterr().out)["other_run"] == "/gone/y"
