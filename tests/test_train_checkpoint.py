"""A train run's checkpoint is plain data: written and read back whole, and resuming a run
folder from someone else runs nothing from it (an outsider's model.zip ran its pickle)."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

pytest.importorskip("stable_baselines3")

from stable_baselines3 import DQN  # noqa: E402

from neuroq.agents import checkpoint, hyperparams  # noqa: E402
from neuroq.agents.cli.main import main  # noqa: E402
from neuroq.agents.train import (  # noqa: E402
    RESUME_DIR,
    greedy_act,
    saved_greedy_act,
    train_one,
)
from neuroq.deploy.errors import NeuroqError  # noqa: E402

TINY = ["n_timesteps=600", "eval_freq=200", "n_eval_episodes=2", "final_eval_episodes=3",
        "learning_starts=100", "train_freq=32", "gradient_steps=4", "net_arch=[16, 16]"]


def _model(seed=0, buffer_size=500):
    return DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [16, 16]}, seed=seed,
               device="cpu", learning_starts=50, train_freq=16, buffer_size=buffer_size)


class _Payload:
    """Unpickling it creates a marker file: what a crafted checkpoint would run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _System:
    """A payload through a module torch blocks outright (os.system)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_written_and_restored_whole():
    import tempfile
    from pathlib import Path

    for buffer_size, steps in ((500, 300), (200, 450)):  # partly filled, then wrapped round
        trained = _model(buffer_size=buffer_size)
        trained.learn(steps)
        with tempfile.TemporaryDirectory() as d:
            state = checkpoint.write(Path(d), trained)
            assert sorted(os.listdir(d)) == ["model.pt", "replay_buffer.npz"]
            fresh = _model(seed=5, buffer_size=buffer_size)
            checkpoint.restore(Path(d), fresh, json.loads(json.dumps(state)))
        a, b = trained.policy.state_dict(), fresh.policy.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        oa, ob = trained.policy.optimizer.state_dict(), fresh.policy.optimizer.state_dict()
        assert all(torch.equal(oa["state"][0][k], ob["state"][0][k]) for k in oa["state"][0])
        rb, fb = trained.replay_buffer, fresh.replay_buffer
        assert (fb.pos, fb.full) == (rb.pos, rb.full) and rb.full == (steps > buffer_size)
        for name in ("observations", "next_observations", "actions", "rewards", "dones"):
            assert np.array_equal(getattr(fb, name), getattr(rb, name)), name
        for name in checkpoint.COUNTERS:
            assert getattr(fresh, name) == getattr(trained, name) > 0, name
        assert fresh.exploration_rate == trained.exploration_rate


def test_saved_greedy_act_is_sb3s_predict(tmp_path):
    model = _model()
    model.learn(300)
    model.save(tmp_path / "m.zip")
    obs = np.random.default_rng(0).normal(0, 1.5, (2000, 4)).astype(np.float32)
    assert np.array_equal(saved_greedy_act(tmp_path / "m.zip")(obs, None),
                          greedy_act(model)(obs, None))


def _interrupted_run(tmp_path, capsys):
    cfg = hyperparams.override(hyperparams.load_config("CartPole-v1"), TINY)

    def stop(steps, _mean):
        if steps == 400:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_one("CartPole-v1", 2, cfg, tmp_path, on_eval=stop, checkpoint_every_s=0)
    (run,) = (tmp_path / "CartPole-v1").glob("train-seed2-*")
    capsys.readouterr()  # its "interrupted" line
    assert sorted(os.listdir(run / RESUME_DIR)) == ["best_model.zip", "model.pt",
                                                    "replay_buffer.npz", "state.json"]
    return run


def _resume_refused(run, capsys, fragment):
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert not (run / "result.json").exists()
    return err[0]


def test_a_crafted_checkpoint_runs_nothing(tmp_path, capsys):
    run = _interrupted_run(tmp_path, capsys)
    marker = tmp_path / "ran"
    ckpt = run / RESUME_DIR
    good_model = (ckpt / "model.pt").read_bytes()
    # weights with a payload beside them: torch's weights-only loader refuses it
    weights = torch.load(ckpt / "model.pt", weights_only=True)
    torch.save({**weights, "extra": _Payload(str(marker))}, ckpt / "model.pt")
    line = _resume_refused(run, capsys, "cannot be read as a checkpoint's weights (weights only")
    # the reason torch gives, not its advice to load with weights_only=False
    assert "Unsupported global" in line and "weights_only" not in line.split("(weights")[1]
    # a blocked module's payload: torch words it otherwise, its reason came after the advice
    # and was cut off (a recheck)
    torch.save({**weights, "extra": _System("true")}, ckpt / "model.pt")
    line = _resume_refused(run, capsys, "Trying to load unsupported GLOBAL posix.system")
    assert "weights_only" not in line.split("(weights")[1] and "trust" not in line, line
    assert not marker.exists()
    # a record compressed, which torch inflates: a reviewer's 2 MB model.pt held 2 GiB of
    # zeros; refused before torch reads it
    with zipfile.ZipFile(ckpt / "model.pt", "w", zipfile.ZIP_DEFLATED) as z:
        with zipfile.ZipFile(__import__("io").BytesIO(good_model)) as src:
            for info in src.infolist():
                z.writestr(info.filename, src.read(info))
    _resume_refused(run, capsys, "is compressed (torch stores records as they are")
    # a replay buffer of pickled objects: refused before its data is read
    (ckpt / "model.pt").write_bytes(good_model)
    with np.load(ckpt / "replay_buffer.npz") as data:
        arrays = dict(data)
    bad = np.empty(1, dtype=object)
    bad[0] = _Payload(str(marker))
    np.savez(ckpt / "replay_buffer.npz", **{**arrays, "rewards": bad})
    _resume_refused(run, capsys, "rewards is object (1,), the run's buffer takes float32")
    assert not marker.exists()
    # rows that do not fit the run's buffer; an array missing
    np.savez(ckpt / "replay_buffer.npz", **{**arrays, "dones": arrays["dones"][:5]})
    _resume_refused(run, capsys, "dones is float32 (5, 1)")
    np.savez(ckpt / "replay_buffer.npz",
             **{k: v for k, v in arrays.items() if k != "timeouts"})
    _resume_refused(run, capsys, "not the run's replay buffer arrays")
    # two counts of the steps that disagree
    np.savez(ckpt / "replay_buffer.npz", **arrays)
    state = json.loads((ckpt / "state.json").read_text())
    (ckpt / "state.json").write_text(json.dumps({**state, "steps": state["steps"] + 1}))
    _resume_refused(run, capsys, "and counters.num_timesteps")
    (ckpt / "state.json").write_text(json.dumps(state))
    # counters that are not whole numbers; a buffer position beyond the buffer
    np.savez(ckpt / "replay_buffer.npz", **arrays)
    state = json.loads((ckpt / "state.json").read_text())
    (ckpt / "state.json").write_text(json.dumps(
        {**state, "counters": {**state["counters"], "_n_calls": -3}}))
    _resume_refused(run, capsys, "its _n_calls is not a whole number >= 0: -3")
    (ckpt / "state.json").write_text(json.dumps(
        {**state, "buffer": {"pos": 10 ** 9, "full": False}}))
    _resume_refused(run, capsys, "does not follow from its 400 steps")
    # steps far beyond the run's (and a buffer that would match them): refused, not
    # "trained" and reported (a recheck's 1,000,000,000)
    many = 10 ** 9
    (ckpt / "state.json").write_text(json.dumps(
        {**state, "steps": many, "counters": {**state["counters"], "num_timesteps": many},
         "buffer": {"pos": many % 100_000, "full": True}}))
    _resume_refused(run, capsys, "1000000000 steps, more than the run can take (632")
    # the weights of another network shape
    (ckpt / "state.json").write_text(json.dumps(state))
    other = DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8]}, device="cpu")
    torch.save({"policy": other.policy.state_dict(),
                "optimizer": other.policy.optimizer.state_dict()}, ckpt / "model.pt")
    _resume_refused(run, capsys, "does not fit the run's DQN")
    # put back whole, it goes on to the end
    (ckpt / "model.pt").write_bytes(good_model)
    assert main(["train", "--resume", str(run)]) == 0
    result = json.loads((run / "result.json").read_text())
    assert result["resumed"] is True and result["steps"] >= 600


def test_an_older_checkpoint_of_sb3_pickles_is_not_read(tmp_path, capsys):
    """The checkpoint of neuroq before 2026-11-29 (SB3's model.zip and replay_buffer.pkl):
    reading it means unpickling it; refused, and its payload never runs."""
    run = _interrupted_run(tmp_path, capsys)
    ckpt = run / RESUME_DIR
    marker = tmp_path / "ran"
    (ckpt / "model.pt").unlink()
    (ckpt / "replay_buffer.npz").unlink()
    with zipfile.ZipFile(ckpt / "model.zip", "w") as z:
        z.writestr("data", json.dumps({"policy_class": {":serialized:": "x"}}))
    (ckpt / "replay_buffer.pkl").write_bytes(pickle.dumps(_Payload(str(marker))))
    _resume_refused(run, capsys, "holds a checkpoint of an older neuroq")
    assert not marker.exists()
    with pytest.raises(NeuroqError, match="no longer reads it; train the run again"):
        checkpoint.restore(ckpt, _model(), {})


def test_torch_files_declare_no_more_than_they_may_hold(tmp_path):
    """Both readers of torch files (the checkpoint's model.pt, a DQN zip's policy.pth) refuse
    a file that is not torch's zip, one with a compressed record and one holding more than
    the cap once read; a plain torch.save passes."""
    import io

    from neuroq.agents.mlp import read_sb3_mlp, torch_file_problem

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(100)}, buf)
    data = buf.getvalue()
    assert torch_file_problem(data) is None
    assert "more than a DQN's (100)" in torch_file_problem(data, max_bytes=100)
    assert "not torch's zip format" in torch_file_problem(b"not a zip")
    # a DQN zip whose policy.pth holds a compressed record
    model = _model()
    model.save(tmp_path / "m.zip")
    with zipfile.ZipFile(tmp_path / "m.zip") as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
        with zipfile.ZipFile(io.BytesIO(members["policy.pth"])) as src:
            for info in src.infolist():
                z.writestr(info.filename, src.read(info))
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        for name, content in {**members, "policy.pth": inner.getvalue()}.items():
            z.writestr(name, content)
    read_sb3_mlp(tmp_path / "m.zip")
    with pytest.raises(NeuroqError, match="its policy.pth: its record .* is compressed"):
        read_sb3_mlp(tmp_path / "bad.zip")
