"""Training smoke runs: a couple of thousand steps write a complete, valid run folder."""

import json
import re

import gymnasium as gym
import numpy as np
import pytest
import yaml

from neuroq.agents import hyperparams
from neuroq.agents.train import train_many, train_one
from neuroq.deploy import seeds
from tests.helpers import REPO_ROOT

SMOKE = ["n_timesteps=2000", "eval_freq=1000", "n_eval_episodes=4", "final_eval_episodes=4",
         "learning_starts=200", "train_freq=64", "gradient_steps=16", "net_arch=[32, 32]"]


def replay_returns(model_path, env_id, seed, episodes):
    """Greedy returns of a saved DQN, episode i reset with seed + i, plain Gymnasium."""
    from stable_baselines3 import DQN

    model = DQN.load(model_path, device="cpu")
    out = []
    for i in range(episodes):
        env = gym.make(env_id)
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(int(model.predict(obs, deterministic=True)[0]))
            total, done = total + r, term or trunc
        env.close()
        out.append(total)
    return out


def smoke_config(env_id="CartPole-v1"):
    return hyperparams.override(hyperparams.load_config(env_id), SMOKE)


def test_train_writes_a_valid_run_folder(tmp_path):
    run = train_one("CartPole-v1", 3, smoke_config(), tmp_path)
    assert run.parent == tmp_path / "CartPole-v1" and run.name.startswith("train-seed3-")
    result = json.loads((run / "result.json").read_text())
    for key in ["env_id", "seed", "steps", "wall_s", "mean_return", "std_return", "episodes",
                "checkpoint", "model"]:
        assert key in result, key
    assert result["env_id"] == "CartPole-v1" and result["seed"] == 3
    assert result["steps"] >= 2000 and result["episodes"] == 4
    assert result["checkpoint"] == "best" and (run / result["model"]).is_file()
    # the reported return is the chosen model's on the report episodes (seed + 20,000 + i),
    # replayed here without neuroq's evaluator
    assert result["report_seed"] == 3 + seeds.REPORT_BASE
    assert result["mean_return"] == pytest.approx(np.mean(replay_returns(
        run / result["model"], "CartPole-v1", result["report_seed"], result["episodes"])))
    assert (run / "final_model.zip").is_file()
    history = json.loads((run / "eval_history.json").read_text())
    assert history["steps"] == [1000, 2000]
    assert result["best_eval_step"] in history["steps"]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["hyperparameters"]["n_timesteps"] == 2000 and config["seed"] == 3
    assert any((run / "tb").rglob("events.out.tfevents.*"))
    # TensorBoard holds every evaluation, the last too (it was one short: an outsider)
    _assert_tensorboard_holds_every_evaluation(run, history)
    # docs/training.md's outputs table names what the run wrote (it listed evaluations.npz)
    text = (REPO_ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    table = text.split("## Outputs: `runs/<env>/train-seed<N>-<UTC time>/`")[1].split("\n\n")[0]
    listed = {name.rstrip("/") for row in table.splitlines()[2:]
              for name in re.findall(r"`([\w.]+/?)`", row.split("|")[1])}
    assert {p.name for p in run.iterdir()} == listed - {"resume"}, listed


def _assert_tensorboard_holds_every_evaluation(run, history):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    written = []  # (step, value)
    for events in (run / "tb").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        if "eval/mean_reward" in acc.Tags().get("scalars", []):
            written += [(e.step, e.value) for e in acc.Scalars("eval/mean_reward")]
    written.sort()
    assert [v for _, v in written] == pytest.approx(history["mean_return"]), written
    assert [s for s, _ in written] == history["steps"]  # at the evaluations' own steps


def test_tensorboard_gets_the_last_evaluation_too(tmp_path):
    """SB3 writes what was recorded at its next log interval (every 4 episodes): with
    200-step episodes none came after the evaluation at the last step, and TensorBoard was
    one evaluation short of eval_history.json (an outsider's 50-step task, every seed)."""
    cfg = hyperparams.override(smoke_config("MountainCar-v0"), ["n_timesteps=2000",
                                                                "eval_freq=1000"])
    run = train_one("MountainCar-v0", 0, cfg, tmp_path)
    history = json.loads((run / "eval_history.json").read_text())
    assert history["steps"] == [1000, 2000]
    _assert_tensorboard_holds_every_evaluation(run, history)


def test_same_seed_same_result(tmp_path):
    cfg = hyperparams.override(smoke_config(), ["n_timesteps=1000", "eval_freq=500"])
    a = json.loads((train_one("CartPole-v1", 7, cfg, tmp_path / "a") / "result.json")
                   .read_text())
    b = json.loads((train_one("CartPole-v1", 7, cfg, tmp_path / "b") / "result.json")
                   .read_text())
    assert a["mean_return"] == b["mean_return"] and a["std_return"] == b["std_return"]


@pytest.mark.slow
def test_parallel_seeds(tmp_path):
    cfg = hyperparams.override(smoke_config("Acrobot-v1"), ["n_timesteps=1000",
                                                            "eval_freq=500"])
    runs = train_many("Acrobot-v1", [0, 1], cfg, tmp_path, show_progress=False)
    seeds = sorted(json.loads((r / "result.json").read_text())["seed"] for r in runs)
    assert seeds == [0, 1]


class _PushRight:
    """A stand-in for an SB3 DQN: always action 1 (CartPole falls within ~10 steps)."""

    def predict(self, obs, deterministic=True):
        return np.ones(len(obs), np.int64), None


def test_selection_scores_clean_and_perturbed_episodes_with_select_randomize():
    from neuroq.agents.train import evaluate, selection_returns
    from neuroq.deploy import seeds
    from neuroq.envs.perturb import RandomizationSpec

    clean = hyperparams.override(smoke_config(), ["n_eval_episodes=3"])
    r = selection_returns(_PushRight(), "CartPole-v1", 5, clean)
    plain = evaluate(_PushRight(), "CartPole-v1", 3, 5 + seeds.SELECTION_BASE)
    assert r.tolist() == plain.tolist()
    spec = {"physics": {"force_mag": [30.0, 30.0]}}  # a 3x push: the pole falls sooner
    both = hyperparams.override(clean, [f"select_randomize={spec}"])
    r2 = selection_returns(_PushRight(), "CartPole-v1", 5, both)
    assert len(r2) == 6 and r2[:3].tolist() == r.tolist()
    perturbed = evaluate(_PushRight(), "CartPole-v1", 3, 5 + seeds.SELECTION_PERTURBED_BASE,
                         (RandomizationSpec.from_dict(spec).wrapper(),))
    assert r2[3:].tolist() == perturbed.tolist() and perturbed.mean() < r.mean()


def test_training_says_what_its_settings_will_not_do():
    """An outsider's 600-step run made no gradient step, a 3000-step one kept no
    checkpoint (eval_freq 5000), and an env without a time limit hung the final
    evaluation, each without a word: `neuroq train` now warns before it starts."""
    import dataclasses

    from neuroq.agents.hyperparams import DQNConfig
    from neuroq.agents.train import training_warnings

    cfg = DQNConfig()
    untrained = dataclasses.replace(cfg, n_timesteps=cfg.learning_starts)
    unselected = dataclasses.replace(cfg, n_timesteps=cfg.learning_starts + 1,
                                     eval_freq=cfg.learning_starts + 2)
    fine = dataclasses.replace(cfg, n_timesteps=cfg.eval_freq + cfg.learning_starts)
    said = training_warnings("CartPole-v1", untrained)
    # both that apply, not the first alone (an audit: --steps 1500 --set
    # learning_starts=5000 said nothing of eval_freq 2500)
    assert len(said) == 2 and "no gradient step is taken" in said[0]
    assert "no selection evaluation runs" in said[1]
    early = dataclasses.replace(cfg, n_timesteps=cfg.eval_freq + 1,
                                learning_starts=cfg.eval_freq + 2)
    said = training_warnings("CartPole-v1", early)
    assert len(said) == 1 and "no gradient step is taken" in said[0]
    said = training_warnings("CartPole-v1", unselected)
    assert len(said) == 1 and "no selection evaluation runs" in said[0]
    assert training_warnings("CartPole-v1", fine) == []
    # a class named directly has no registration to give a time limit: its episodes are
    # cut at CLASS_MAX_EPISODE_STEPS, which train says; registered ids are left to their
    # registration (neuroq's own envs end theirs themselves)
    said = training_warnings("tests.helpers.user_envs:LineEnv", fine)
    assert len(said) == 1
    assert "an episode that has not ended by 10,000 steps is cut there" in said[0]
    for env_id in ("neuroq/DVSPanTracking-v0", "neuroq/DiffDriveNav-v0"):
        assert training_warnings(env_id, fine) == [], env_id
    # a training seed in the seed table's ranges: its first episode is another stage's
    assert training_warnings("CartPole-v1", fine, [0, 1, 9999]) == []
    said = training_warnings("CartPole-v1", fine, [3, 900000])
    assert len(said) == 1 and said[0].startswith("seed 900000: the training env's first")
    # a tune: what it draws per trial is its own to check (learning_starts: said when the
    # default space is fitted to --steps); the rest as for train
    said = training_warnings("CartPole-v1", untrained, searched=frozenset({"learning_starts"}))
    assert len(said) == 1 and "no selection evaluation runs" in said[0]  # not "no gradient"
    said = training_warnings("CartPole-v1", unselected, searched=frozenset({"gamma"}))
    assert len(said) == 1 and "a tune's pruner has no evaluation to act on" in said[0]
    assert training_warnings("CartPole-v1", unselected, searched=frozenset({"eval_freq"})) == []



def test_several_seeds_are_summed_up_under_their_table():
    """An outsider computed the seeds' mean, spread and interval by hand from the table of
    `neuroq train --seeds 0 ... 7`."""
    from neuroq.agents.cli.train import across_seeds

    line = across_seeds([153.2, 160.7, 116.1])
    assert line.startswith("across 3 seeds: 143.3 +- 23.9 (mean +- std of their mean "
                           "returns), 95 % bootstrap interval of the mean [")
    lo, hi = (float(v) for v in line.rsplit("[", 1)[1].rstrip("]").split(", "))
    assert 116.1 <= lo < 143.3 < hi <= 160.7
