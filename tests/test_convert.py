"""Conversion: Q-MLP -> 8-bit spiking network; the convert stage and its bad inputs."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroq.agents.cli.main import main
from neuroq.agents.convert import (
    FloatMLP,
    convert,
    make_encoder,
    open_train_run,
    record_observations,
)
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import run_reference
from tests.helpers.runs import tiny_convert_run, tiny_train_run

ROOT = Path(__file__).resolve().parent.parent


def toy_mlp(seed=0, widths=(4, 32, 32, 2)):
    rng = np.random.default_rng(seed)
    ws = tuple((rng.normal(size=(o, i)) / np.sqrt(i)).astype(np.float32)
               for i, o in zip(widths[:-1], widths[1:], strict=True))
    bs = tuple(rng.normal(0, 0.1, size=o).astype(np.float32) for o in widths[1:])
    return FloatMLP(ws, bs)


def test_conversion_structure_and_large_t_tracks_the_ann():
    mlp = toy_mlp()
    obs = np.random.default_rng(1).normal(size=(3000, 4)).astype(np.float32)
    enc = make_encoder("rate", obs, n_layers=3)
    net = convert(mlp, enc, obs, 128)
    for layer in net.layers:
        assert np.abs(layer.weight.astype(int)).max() == 127
    assert [layer.spiking for layer in net.layers] == [True, True, False]
    q = run_reference(net, enc.encode(obs[:500], 128)).q
    q_ann = mlp.q(obs[:500])
    corr = [np.corrcoef(q[:, a], q_ann[:, a])[0, 1] for a in range(2)]
    assert min(corr) > 0.9, corr
    q_short = run_reference(convert(mlp, enc, obs, 4), enc.encode(obs[:500], 4)).q
    corr_short = np.corrcoef(q_short[:, 0], q_ann[:, 0])[0, 1]
    assert corr_short < min(corr)  # the delay leaves one input step at T = 4


def test_too_few_timesteps():
    mlp = toy_mlp()
    obs = np.random.default_rng(1).normal(size=(100, 4)).astype(np.float32)
    enc = make_encoder("population", obs, n_layers=3)
    with pytest.raises(NeuroqError, match="T = 3 steps is too few"):
        convert(mlp, enc, obs, 3)


def test_record_observations_follow_the_env():
    obs = record_observations(toy_mlp(), "CartPole-v1", 300, seed=0)
    assert obs.shape == (300, 4) and obs.dtype == np.float32 and np.isfinite(obs).all()


def test_convert_run_folder():
    run = tiny_convert_run()
    assert run.name.startswith("convert-population-")
    result = json.loads((run / "result.json").read_text())
    assert result["stage"] == "convert" and result["timesteps"] == 4
    assert set(result["returns_by_timesteps"]) == {"4", "8"}
    assert result["encoder"]["kind"] == "population" and result["encoder"]["silent_tail"] == 3
    for f in ("config.yaml", "observations.npy", "teacher_q.npy", "network/manifest.json",
              "network/network.nir.h5"):
        assert (run / f).is_file(), f
    assert np.load(run / "observations.npy").shape == (10_000, 4)


def test_open_train_run_refuses_other_stages(tmp_path):
    with pytest.raises(NeuroqError, match="not a train run"):
        open_train_run(tiny_convert_run())
    with pytest.raises(NeuroqError, match="does not exist"):
        open_train_run(tmp_path / "missing")


def neuroq(*args):
    return subprocess.run([sys.executable, "-m", "neuroq.agents.cli.main", *args],
                          capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_cli_wrong_stage_is_one_line(tmp_path):
    out = neuroq("finetune", str(tiny_train_run()), "--out", str(tmp_path))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a convert run" in lines[0], out.stderr


@pytest.mark.parametrize("make_args,fragment", [
    (lambda: ["convert", str(tiny_convert_run())], "is not a train run"),
    (lambda: ["convert", str(tiny_train_run()), "-T", "2"], "T = 2 steps is too few"),
    (lambda: ["convert", str(tiny_train_run()), "--percentile", "0"], "percentile"),
    (lambda: ["finetune", str(tiny_train_run())], "is not a convert run"),
    (lambda: ["export", str(tiny_convert_run())], "is not a finetune run"),
    # a real convert run holds a network/ that plays: the stages left are named first (a
    # recheck was sent to play it, at another T than convert had chosen)
    (lambda: ["eval", str(tiny_convert_run())],
     "it is a convert run: finetune and export make an artifact of it (next: neuroq "
     "finetune"),
])
def test_bad_input_is_one_line_and_writes_nothing(make_args, fragment, tmp_path, capsys):
    assert main([*make_args(), "--out", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines
    assert not any(tmp_path.rglob("*")), "nothing may be written for bad input"


def test_an_event_encoder_for_an_env_without_a_camera_is_refused_before_recording(
        tmp_path, monkeypatch):
    """`neuroq convert --encoder event` on a CartPole run recorded 20,000 observations
    before it said the env is no event camera (an outsider)."""
    from neuroq.agents import convert

    def no_recording(*args, **kwargs):
        raise AssertionError("observations were recorded first")

    monkeypatch.setattr(convert, "record_observations", no_recording)
    with pytest.raises(NeuroqError, match="CartPole-v1 is not an event-camera env"):
        convert.run_convert(tiny_train_run(), tmp_path, "event", log=lambda _: None)
    assert not any(tmp_path.iterdir())


def test_convert_says_which_observation_dimensions_hardly_varied():
    """An outsider's LunarLander encoder had its legs' contacts (never touching in the
    recorded episodes) fitted to [-0.0001, 0.0011], without a word; under observation noise
    of 0.01 its network kept 57.7 % of its return."""
    import numpy as np

    from neuroq.agents.convert import encoder_warnings
    from neuroq.deploy.encoders import narrow_dimensions

    rng = np.random.default_rng(0)
    obs = rng.standard_normal((2000, 8)).astype(np.float32)
    obs[:, 6:] = 0.0  # the legs' contacts
    obs[:5, 7] = 1.0  # touched down in 5 of 2000 records: still within the 99 %
    assert narrow_dimensions(obs) == [6, 7]
    (said,) = encoder_warnings("population", obs)
    assert said.startswith("observation dimensions 6, 7 hardly varied in the 2,000 recorded")
    assert encoder_warnings("population", rng.standard_normal((2000, 8))) == []
    assert encoder_warnings("event", obs) == []


class _Marker:
    """Unpickled, it creates the file at `path` (a harmless stand-in for a payload)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _rewrite_zip(src, dst, change):
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, change(item.filename, zin.read(item.filename)))


def test_a_dqn_zip_from_someone_else_runs_nothing_of_theirs(tmp_path):
    """An outsider's train run whose best_model.zip marked a value of its `data` as
    cloudpickled (SB3's `:serialized:`): convert, finetune, export and tune's held-out
    episodes ran it through SB3's DQN.load. The Q-network is read from policy.pth by
    torch's weights-only loader and `data` as JSON: the same weights, nothing run; a pickle
    in policy.pth, another activation, a zip bomb are refused in one line."""
    import base64
    import json
    import pickle

    import numpy as np
    import torch
    from stable_baselines3 import DQN

    from neuroq.agents.mlp import MAX_POLICY_BYTES, read_sb3_mlp

    model = DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8, 8]}, seed=0,
                device="cpu")
    good = tmp_path / "good.zip"
    model.save(good)
    mlp = read_sb3_mlp(good)
    layers = [m for m in model.policy.q_net.q_net if isinstance(m, torch.nn.Linear)]
    assert all(np.array_equal(w, m.weight.detach().numpy())
               for w, m in zip(mlp.weights, layers, strict=True))
    marker = tmp_path / "RAN"
    payload = base64.b64encode(pickle.dumps(_Marker(marker))).decode()

    def data_with(key, value):  # a change of the zip's `data` JSON: `key` set to `value`
        def change(name, raw):
            return raw if name != "data" else json.dumps({**json.loads(raw),
                                                          key: value}).encode()
        return change

    _rewrite_zip(good, tmp_path / "evil.zip",
                 data_with("_evil", {":type:": "x", ":serialized:": payload}))
    assert np.array_equal(read_sb3_mlp(tmp_path / "evil.zip").weights[0], mlp.weights[0])
    assert not marker.exists()
    _rewrite_zip(good, tmp_path / "evil_pth.zip",
                 lambda n, raw: pickle.dumps(_Marker(marker)) if n == "policy.pth" else raw)
    with pytest.raises(NeuroqError, match="cannot load the DQN"):
        read_sb3_mlp(tmp_path / "evil_pth.zip")
    assert not marker.exists()

    _rewrite_zip(good, tmp_path / "tanh.zip", data_with(
        "policy_kwargs", {":type:": "<class 'dict'>", ":serialized:": payload}))
    with pytest.raises(NeuroqError, match="policy_kwargs are pickled with no readable text"):
        read_sb3_mlp(tmp_path / "tanh.zip")
    _rewrite_zip(good, tmp_path / "bomb.zip", lambda n, raw: raw + (
        b"\0" * (MAX_POLICY_BYTES + 1) if n == "policy.pth" else b""))
    with pytest.raises(NeuroqError, match=r"policy.pth unpacks to 268,4\d\d,\d\d\d bytes"):
        read_sb3_mlp(tmp_path / "bomb.zip")
    assert not marker.exists()


def _image_env():
    """A gymnasium env of 36x36 RGB observations (the smallest SB3's CnnPolicy takes)."""
    import gymnasium as gym

    class ImageEnv(gym.Env):
        observation_space = gym.spaces.Box(0, 255, (36, 36, 3), np.uint8)
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 0.0, True, False, {}

    return ImageEnv()


def test_sb3_dqns_written_by_other_scripts_are_read_or_refused_by_name(tmp_path):
    """An outsider's own SB3 scripts: ReLU named as activation_fn, an optimizer eps, or
    normalize_images were refused as "policy_kwargs are not neuroq's" (the same ReLU MLP
    without them was read); Tanh was refused without naming Tanh; a PPO and a CnnPolicy zip
    were "not a chain of Linear layers". Each is read (the same weights as SB3's) or refused
    by what it is, before any work, and nothing of the zip's pickles runs."""
    import numpy as np
    import torch
    from stable_baselines3 import DQN, PPO

    from neuroq.agents.mlp import read_sb3_mlp

    def saved(name, model):
        model.save(tmp_path / name)
        return tmp_path / f"{name}.zip"

    def dqn(**policy_kwargs):
        return DQN("MlpPolicy", "CartPole-v1", policy_kwargs=policy_kwargs, seed=0,
                   device="cpu")

    for name, kwargs in (("relu", {"net_arch": [8, 8], "activation_fn": torch.nn.ReLU}),
                         ("eps", {"net_arch": [8], "optimizer_kwargs": {"eps": 1e-5}}),
                         ("images", {"net_arch": [8, 8], "normalize_images": False}),
                         ("default", {})):
        model = dqn(**kwargs)
        mlp = read_sb3_mlp(saved(name, model))
        layers = [m for m in model.policy.q_net.q_net if isinstance(m, torch.nn.Linear)]
        assert all(np.array_equal(w, m.weight.detach().numpy())
                   for w, m in zip(mlp.weights, layers, strict=True)), name
        assert [w.shape[0] for w in mlp.weights[:-1]] == kwargs.get("net_arch", [64, 64])
    refused = {
        "tanh": (dqn(net_arch=[8], activation_fn=torch.nn.Tanh),
                 "its activation_fn is Tanh: neuroq converts ReLU Q-networks"),
        "extractor": (dqn(net_arch=[8], features_extractor_kwargs={}),
                      "its policy_kwargs set features_extractor_kwargs, which neuroq does "
                      "not read"),
        "ppo": (PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu"),
                "its policy class is from stable_baselines3.common.policies, not "
                "stable_baselines3.dqn"),
        "cnn": (DQN("CnnPolicy", _image_env(), buffer_size=10, seed=0, device="cpu"),
                "its Q-network starts with a CNN (CnnPolicy)"),
    }
    for name, (model, match) in refused.items():
        with pytest.raises(NeuroqError, match=re.escape(match)):
            read_sb3_mlp(saved(name, model))
    # a class of another module named like torch's ReLU is named as written (a recheck's
    # 'evil.ReLU' was refused as "its activation_fn is ReLU"); a zip cut short says so
    relu = tmp_path / "relu.zip"

    def evil_relu(name, raw):
        if name != "data":
            return raw
        data = json.loads(raw)
        data["policy_kwargs"]["activation_fn"] = "<class 'evil.ReLU'>"
        return json.dumps(data).encode()

    _rewrite_zip(relu, tmp_path / "evil_relu.zip", evil_relu)
    with pytest.raises(NeuroqError,
                       match=re.escape("its activation_fn is \"<class 'evil.ReLU'>\"")):
        read_sb3_mlp(tmp_path / "evil_relu.zip")
    (tmp_path / "cut.zip").write_bytes(relu.read_bytes()[:len(relu.read_bytes()) // 2])
    with pytest.raises(NeuroqError, match=r"or one cut\s+short"):
        read_sb3_mlp(tmp_path / "cut.zip")


def test_a_train_run_naming_a_model_outside_itself_is_refused(tmp_path):
    """An outsider's result.json with "model": "../../../x/best_model.zip" or an absolute
    path: convert followed it out of the run folder."""
    import json

    from neuroq.agents.convert import open_train_run

    run = tmp_path / "runs" / "CartPole-v1" / "train-seed0-x"
    run.mkdir(parents=True)
    (tmp_path / "elsewhere.zip").write_bytes(b"")
    for model in ("../../../elsewhere.zip", str(tmp_path / "elsewhere.zip")):
        (run / "result.json").write_text(json.dumps({"model": model,
                                                     "env_id": "CartPole-v1"}))
        with pytest.raises(NeuroqError, match="lies outside the run folder"):
            open_train_run(run)
