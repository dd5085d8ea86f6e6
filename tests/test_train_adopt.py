"""`neuroq train --from-sb3`: a stable-baselines3 DQN trained elsewhere as a train run.

An outsider with their own SB3 scripts found no way in: convert took run folders only, and
their zip placed in a copied train run carried that run's return and net_arch (show said
292.79, the model played 120.0) without a word.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from neuroq.agents.cli.main import main
from neuroq.agents.convert import run_convert
from neuroq.agents.mlp import read_sb3_mlp
from neuroq.agents.runs import read_json
from neuroq.agents.train import adopt_sb3, saved_greedy_act
from neuroq.deploy import seeds
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.rollout import run_episodes
from tests.test_cli_bad_input import assert_one_line_error


def _sb3_zip(tmp_path, env_id="CartPole-v1", name="mine", net_arch=(16, 8)):
    from stable_baselines3 import DQN

    model = DQN("MlpPolicy", env_id, policy_kwargs={"net_arch": list(net_arch)}, seed=3,
                device="cpu")
    model.save(tmp_path / name)
    return tmp_path / f"{name}.zip"


def test_an_sb3_zip_becomes_a_train_run_that_convert_takes(tmp_path):
    source = _sb3_zip(tmp_path)
    run = adopt_sb3(source, "CartPole-v1", tmp_path / "runs", episodes=5)
    assert run.name.startswith("train-sb3-")
    result = read_json(run / "result.json")
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["hyperparameters"] == {"net_arch": [16, 8]}  # the zip's, nothing else
    assert config["adopted_from"]["path"] == str(source.resolve())
    assert result["adopted_from"] == str(source.resolve()) and result["seed"] is None
    assert (run / "final_model.zip").read_bytes() == source.read_bytes()
    # the return is the zip's own on the report episodes, played here
    first = seeds.first_seed("train_report", 0)
    own = run_episodes("CartPole-v1", saved_greedy_act(source), 5, first).returns
    assert result["report_seed"] == first and result["episodes"] == 5
    assert result["mean_return"] == pytest.approx(float(own.mean()))
    converted = run_convert(run, tmp_path / "runs", record_steps=200, eval_episodes=2,
                            log=lambda _: None)
    assert read_json(converted / "result.json")["train_run"] == str(run)
    mlp = read_sb3_mlp(source)
    assert np.array_equal(np.load(converted / "observations.npy")[:1].shape[1:],
                          (mlp.widths[0],))


def test_the_command_says_what_it_did_and_refuses_what_it_cannot_do(tmp_path, capsys):
    source = _sb3_zip(tmp_path)
    out = str(tmp_path / "runs")
    assert main(["train", "--env", "CartPole-v1", "--from-sb3", str(source), "--out",
                 out]) == 0
    printed = capsys.readouterr().out
    assert "adopted: mean return " in printed and "(seeds 20000..20099)" in printed
    assert "net_arch [16, 8]" in printed and "next: neuroq convert " in printed
    acrobot = _sb3_zip(tmp_path, "Acrobot-v1", "acro")
    for args, match in (
            (["--from-sb3", str(source)], "--from-sb3 needs --env"),
            (["--env", "CartPole-v1", "--from-sb3", str(source), "--seed", "2"],
             "--from-sb3 trains nothing: drop --seed"),
            (["--env", "CartPole-v1", "--from-sb3", str(source), "--steps", "10",
              "--set", "gamma=0.9"], "drop --set, --steps"),
            (["--env", "CartPole-v1", "--from-sb3", str(tmp_path / "none.zip")],
             "is not a file (a stable-baselines3 DQN zip"),
            (["--env", "CartPole-v1", "--from-sb3", str(acrobot)],
             "its Q-network takes 6 observation values and gives 3 Q-values; CartPole-v1 "
             "has observations of shape (4,) and 2 actions: a DQN of another environment?"),
    ):
        code = main(["train", *args, "--out", out])
        assert_one_line_error(code, capsys.readouterr().err, "train", match)
    assert len(list((tmp_path / "runs" / "CartPole-v1").iterdir())) == 1  # nothing else


def test_a_zip_neuroq_cannot_convert_is_refused_before_a_folder_is_made(tmp_path):
    import torch
    from stable_baselines3 import DQN

    DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8],
                                                   "activation_fn": torch.nn.Tanh},
        seed=0, device="cpu").save(tmp_path / "tanh")
    with pytest.raises(NeuroqError, match="its activation_fn is Tanh"):
        adopt_sb3(tmp_path / "tanh.zip", "CartPole-v1", tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
