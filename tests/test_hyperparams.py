"""Hyperparameter files: parsing, overrides and every error a user can make."""

from pathlib import Path

import pytest

from neuroq.agents import hyperparams
from neuroq.agents.hyperparams import DQNConfig
from neuroq.deploy.errors import NeuroqError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "dqn.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1"])
def test_shipped_config_parses(env_id):
    cfg = hyperparams.load_config(env_id)
    assert cfg.n_timesteps <= {"CartPole-v1": 50_000, "Acrobot-v1": 100_000}[env_id]
    assert cfg.sb3_kwargs()["policy_kwargs"] == {"net_arch": list(cfg.net_arch)}
    assert "n_timesteps" not in cfg.sb3_kwargs()


def test_values_and_types(tmp_path):
    p = write(tmp_path, "E-v0:\n  learning_rate: 1e-3\n  batch_size: 32.0\n  net_arch: [8, 4]\n")
    cfg = hyperparams.load_config("E-v0", p)
    assert cfg.learning_rate == pytest.approx(1e-3)
    assert cfg.batch_size == 32 and isinstance(cfg.batch_size, int)
    assert cfg.net_arch == (8, 4)
    assert cfg.gamma == DQNConfig().gamma  # unset keys keep defaults


@pytest.mark.parametrize(
    "text, message",
    [
        ("E-v0:\n  learning_rat: 1e-3\n", "unknown hyperparameter 'learning_rat'"),
        ("E-v0:\n  batch_size: 3.5\n", "batch_size must be an integer"),
        ("E-v0:\n  batch_size: many\n", "batch_size must be a number"),
        ("E-v0:\n  gamma: 1.5\n", "gamma = 1.5 is out of range"),
        ("E-v0:\n  buffer_size: 0\n", "buffer_size = 0 is out of range"),
        ("E-v0:\n  net_arch: [8, -1]\n", "net_arch must be a list of positive integers"),
        ("E-v0:\n  gamma: [0.9\n", "is not valid YAML at line"),
        ("Other-v0:\n  gamma: 0.9\ndefault:\n  gama: 0.9\n", "unknown hyperparameter 'gama'"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_errors_name_the_problem(tmp_path, text, message):
    with pytest.raises(NeuroqError, match=message.replace("[", r"\[")):
        hyperparams.load_config("E-v0", write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(NeuroqError, match="does not exist"):
        hyperparams.load_config("E-v0", tmp_path / "nope.yaml")


def test_from_dict_reads_what_to_dict_writes():
    """One conversion for config.yaml's hyperparameters, tune trials and config sections."""
    cfg = DQNConfig(n_timesteps=123, net_arch=(16, 8), randomize={"drop": [0.0, 0.1]})
    d = cfg.to_dict()
    assert d["net_arch"] == [16, 8]
    assert DQNConfig.from_dict(d) == cfg and DQNConfig.from_dict(d).net_arch == (16, 8)
    assert DQNConfig.from_dict({"gamma": 0.9}) == DQNConfig(gamma=0.9)  # defaults filled
    assert DQNConfig.from_dict({"net_arch": (4,)}).net_arch == (4,)
    with pytest.raises(TypeError, match="nope"):
        DQNConfig.from_dict({**d, "nope": 1})


def test_override():
    cfg = hyperparams.override(DQNConfig(), ["n_timesteps=123", "net_arch=[16, 16]"])
    assert cfg.n_timesteps == 123 and cfg.net_arch == (16, 16)
    with pytest.raises(NeuroqError, match="expects key=value"):
        hyperparams.override(DQNConfig(), ["n_timesteps"])
    with pytest.raises(NeuroqError, match="unknown hyperparameter 'nope'"):
        hyperparams.override(DQNConfig(), ["nope=1"])
    with pytest.raises(NeuroqError, match="n_timesteps given more than once"):
        hyperparams.override(DQNConfig(), ["n_timesteps=1000", " n_timesteps =2000"])
    with pytest.raises(NeuroqError, match="expects key=value"):
        hyperparams.override(DQNConfig(), [" =1"])


def test_steps_and_a_set_n_timesteps_are_not_both_taken():
    assert hyperparams.with_steps(["gamma=0.9"], 500) == ["gamma=0.9", "n_timesteps=500"]
    assert hyperparams.with_steps(["gamma=0.9"], None) == ["gamma=0.9"]
    with pytest.raises(NeuroqError, match="--steps 500 and --set n_timesteps"):
        hyperparams.with_steps(["n_timesteps=20000"], 500)


def test_a_file_without_the_envs_section_or_a_default_one_says_so():
    """A --config file with one section, named for another id, was said to give its
    "[default]" section, which it did not have: neuroq's built-in defaults were used."""
    from neuroq.agents.hyperparams import parse_hyperparameters

    got = parse_hyperparameters({"Reach1D-v0": {"gamma": 0.9}}, "reach:Reach1D-v0", "f.yaml")
    assert got.defaults and got.config.gamma == DQNConfig().gamma
    assert got.source == ("neuroq's built-in defaults (f.yaml has no section reach:Reach1D-v0 "
                          "and no default section; sections: Reach1D-v0)")
    got = parse_hyperparameters({"default": {"gamma": 0.9}}, "CartPole-v1", "f.yaml")
    assert got.defaults and got.config.gamma == 0.9 and got.source == "f.yaml [default]"


def test_a_training_budget_that_would_never_end_is_refused():
    """An outsider's `--steps 1e15` started without a word (about 600,000 years here)."""
    from neuroq.agents.hyperparams import MAX_TRAIN_STEPS, check_value
    from neuroq.deploy.errors import NeuroqError

    assert check_value("n_timesteps", MAX_TRAIN_STEPS, "--set") == MAX_TRAIN_STEPS
    with pytest.raises(NeuroqError, match=r"n_timesteps = 1,000,000,000,000,000 is more than "
                                          r"1,000,000,000 steps"):
        check_value("n_timesteps", 1e15, "--set")
