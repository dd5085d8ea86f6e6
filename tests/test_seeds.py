"""The seed table (neuroq.deploy.seeds): every purpose inside its own range, whatever the
stage's --seed and the fine-tuning epoch.

A review (stop 40) found that the seeds depending on a stage's --seed ran into the
protected ranges: fine-tuning with --seed 8 played the held-out episodes (1,000,000+) as
rollouts, --seed 7 the export gate's, convert --seed 20 recorded on the return checks'
episodes, and validation at epoch 20 played the calibration episodes.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuroq.deploy import seeds
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.rollout import episode_seed

PROTECTED = [(seeds.STAGE_EVAL_BASE, seeds.VALIDATION_BASE),
             (seeds.CALIBRATION_BASE, seeds.ROLLOUT_BASE),
             (seeds.GATE_BASE, seeds.HELD_OUT_BASE), (seeds.HELD_OUT_BASE, seeds.MAX_SEED + 1)]
"""Episodes results are reported on (or calibrated, or gated on): no stage chooses on them."""


def _stage_seeds():
    rng = np.random.default_rng(0)
    return [*range(0, 1200), *rng.integers(0, seeds.MAX_SEED + 1, 500).tolist(),
            seeds.MAX_SEED]


@pytest.mark.parametrize("purpose", [p for p in seeds.STAGE_RANGES
                                     if p not in ("stage_eval", "export_gate")])
def test_every_stage_seed_and_epoch_stays_in_its_own_range(purpose):
    r = seeds.STAGE_RANGES[purpose]
    room = seeds.room(purpose)
    assert room >= 500, purpose
    for s in _stage_seeds():
        for epoch in (0, 1, 19, 20, 40, 97, 98, 99, 100, 1000):
            first = seeds.first_seed(purpose, s, epoch)
            last = first + room - 1
            assert r.base <= first and last < r.end, (purpose, s, epoch, first)
            for lo, hi in PROTECTED:
                assert last < lo or first >= hi, (purpose, s, epoch, lo)


def test_the_reviewers_cases_and_the_seeds_of_before():
    # the cases found overlapping, now inside their ranges
    for s in (7, 8):
        for epoch in range(-1, 60):
            first = seeds.first_seed("finetune_rollouts", s, epoch + 1)
            assert seeds.ROLLOUT_BASE <= first and first + seeds.BLOCK <= seeds.GATE_BASE
    assert seeds.first_seed("convert_record", 20) + seeds.BLOCK <= seeds.STAGE_EVAL_BASE
    assert seeds.first_seed("finetune_validation", epoch=20) + 1000 <= seeds.CALIBRATION_BASE
    # seeds under the slot counts give the seeds of before (results stay reproducible)
    assert seeds.first_seed("train_selection", 999) == seeds.SELECTION_BASE + 999
    assert seeds.first_seed("train_report", 3) == seeds.REPORT_BASE + 3
    assert seeds.first_seed("convert_record", 19) == seeds.RECORD_BASE + 19_000
    assert seeds.first_seed("finetune_rollouts", 6, 98) == seeds.ROLLOUT_BASE + 698_000
    assert seeds.first_seed("finetune_validation", epoch=19) == seeds.VALIDATION_BASE + 19_000


def test_runs_that_play_as_many_episodes_as_their_steps_take_wrap_in_their_block():
    first = seeds.first_seed("convert_record", 19)
    assert [episode_seed(first, i, seeds.BLOCK) for i in (0, 999, 1000, 2500)] == [
        first, first + 999, first, first + 500]
    assert episode_seed(40, 1500) == 1540  # no span: no wrap


@pytest.mark.parametrize(("name", "value", "purpose", "share", "limit"), [
    ("n_eval_episodes", 4002, "train_selection", 1, "4,001"),
    ("final_eval_episodes", 9002, "train_report", 1, "9,001"),
    ("validation_episodes", 501, "finetune_validation", 2, "500"),
    ("eval_episodes", 20_001, "stage_eval", 1, "20,000"),
    ("gate_episodes", 100_001, "export_gate", 1, "100,000"),
])
def test_a_setting_that_would_leave_its_range_is_refused(name, value, purpose, share, limit):
    seeds.check_room(name, value - 1, purpose, share)
    with pytest.raises(NeuroqError, match=f"{name} must be at most {limit}, got {value}"):
        seeds.check_room(name, value, purpose, share)


def test_the_stages_check_their_episode_counts():
    from neuroq.agents import hyperparams
    from neuroq.agents.convert import check_convert_settings
    from neuroq.agents.export import check_export_settings
    from neuroq.agents.finetune import FinetuneConfig, check_finetune_settings

    with pytest.raises(NeuroqError, match="n_eval_episodes must be at most 4,001"):
        hyperparams.override(hyperparams.DQNConfig(), ["n_eval_episodes=5000"])
    with pytest.raises(NeuroqError, match="validation_episodes must be at most 500"):
        check_finetune_settings(FinetuneConfig(validation_episodes=600))
    with pytest.raises(NeuroqError, match="eval_episodes must be at most 20,000"):
        check_convert_settings(eval_episodes=30_000)
    with pytest.raises(NeuroqError, match="gate_episodes must be at most 100,000"):
        check_export_settings(gate_episodes=200_000)


def test_episode_seeds_past_the_largest_seed_are_refused():
    """`neuroq eval --seed 4294967295 --episodes 3` played seeds 4294967295..4294967297,
    beyond the range its --help states (an outsider)."""
    from neuroq.agents.evaluate import check_eval_settings
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.rollout import run_episodes
    from neuroq.deploy.seeds import MAX_SEED, check_episode_seeds

    check_episode_seeds(MAX_SEED - 2, 3)  # the last seed itself: fine
    with pytest.raises(NeuroqError, match="reaches 4294967297.*at most 4294967293"):
        check_episode_seeds(MAX_SEED, 3)
    with pytest.raises(NeuroqError, match="beyond the largest seed"):
        check_eval_settings(episodes=3, seed=MAX_SEED)
    with pytest.raises(NeuroqError, match="beyond the largest seed"):
        run_episodes("CartPole-v1", lambda obs, _i: obs[:, 0] * 0, 2, MAX_SEED)


def test_every_count_of_episodes_a_command_plays_is_checked_before_it_runs(tmp_path):
    """The energy report's sweep plays --sweep-episodes from the same seed: --episodes 1
    --seed 4294967294 ran four of its six steps, then failed naming neither option; and
    robustness checked only inside its first condition (review)."""
    from neuroq.agents.energy.figures import EnergyConfig
    from neuroq.agents.energy.report import check_energy_config
    from neuroq.agents.robustness import run_robustness
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.seeds import MAX_SEED

    with pytest.raises(NeuroqError, match="with --sweep-episodes 10 .*at most 4294967286"):
        check_energy_config(EnergyConfig("art", episodes=1, seed=MAX_SEED - 1))
    check_energy_config(EnergyConfig("art", episodes=1, sweep_episodes=2, seed=MAX_SEED - 1))
    with pytest.raises(NeuroqError, match="with --episodes 3 "):  # before the artifact loads
        run_robustness(tmp_path / "no-such-artifact", episodes=3, seed=MAX_SEED)


@pytest.mark.parametrize("first, episodes, named", [
    (0, 100, None), (9_900, 100, None), (1_000_000, 100, None), (2**32 - 10, 10, None),
    (9_990, 20, "train's checkpoint selection (10,000-14,999)"),
    (50_000, 20, "the return checks of convert, finetune and export (50,000-69,999)"),
    (900_000, 100, "the export gate (900,000-999,999)"),
    (49_990, 20, "convert's recording (30,000-49,999), the return checks of convert, "
                 "finetune and export (50,000-69,999)"),
])
def test_seeds_a_stage_plays_are_said_not_to_be_held_out(first, episodes, named):
    """`neuroq robustness --seed 50000` wrote held_out_seeds [50000, 50019], the stages'
    return-check seeds, and `neuroq eval --seed 900000` played the export gate's own
    episodes, without a word (an outsider)."""
    from neuroq.deploy.seeds import pipeline_seed_note

    note = pipeline_seed_note(first, episodes)
    if named is None:
        assert note is None, note
    else:
        assert note is not None and f"stages play: {named}; results on them are not held " \
            "out" in note, note
