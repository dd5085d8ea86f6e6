"""Where every stage's episodes take their seeds: one table, disjoint ranges.

Episode i of a run seeded `base` is reset with seed `base + i`
(`neuroq.deploy.rollout.episode_seed`). The bases below keep each purpose in its own range,
so that episodes used to choose anything (a checkpoint, an epoch, an export) never overlap
the episodes a result is reported on, and the held-out episodes of `neuroq robustness` and
the export gate were never seen by any stage. `s` is the stage's own --seed (0-999 keeps the
ranges apart); every range is 1,000 or more episodes wide.

    purpose                                        seeds
    DQN checkpoint selection (train)               SELECTION_BASE + s + i
    ... its perturbed half (select_randomize)      SELECTION_PERTURBED_BASE + s + i
    DQN report episodes (train)                    REPORT_BASE + s + i
    recording observations (convert)               RECORD_BASE + s * 1000 + i
    ... energy's plain-conversion baseline         RECORD_BASE + i (s = 0, whatever --seed)
    return checks of convert, finetune, export     STAGE_EVAL_BASE + i
    fine-tuning validation, epoch e (the start: 0) VALIDATION_BASE + 1000 e + i
    fine-tuning rollouts (DAgger, TD), epoch e     ROLLOUT_BASE + s * 100_000 + 1000 e + i
    int8 ANN calibration (energy, robustness)      CALIBRATION_BASE + i
    export gate (SNN vs float DQN)                 GATE_BASE + i
    held-out report (neuroq robustness default)    HELD_OUT_BASE + i

`neuroq eval --seed S` plays S, S+1, ...; seeds 0-9,999 belong to no stage, so any of them
(1000-1099 and 5000-5099 are used in the docs) are held out too.
"""

#: The largest seed any stage or node takes: numpy's legacy seeding (stable-baselines3's
#: `set_random_seed`) takes 32 bits.
MAX_SEED = 2**32 - 1


def is_int(value) -> bool:
    """Whether `value` is an integer (Python or numpy), not a bool."""
    import numpy as np

    return isinstance(value, int | np.integer) and not isinstance(value, bool)


#: Most episodes a setting takes: ten million CartPole episodes of 500 steps would take this
#: machine months; 1e20 was a numpy "Maximum allowed dimension exceeded" traceback once a
#: command had started (an outsider's fuzzing). The command line and sweep specs alike.
MAX_EPISODES = 10_000_000


def seed_span(seeds) -> str:
    """Episode seeds [first, last] as messages and reports name them: "first..last"."""
    return "..".join(map(str, seeds))


def check_count(name: str, value, least: int) -> None:
    """NeuroqError unless `value` is an integer >= `least`; a setting named "...episodes" at
    most MAX_EPISODES too."""
    from neuroq.deploy.errors import NeuroqError

    if not is_int(value) or value < least:
        raise NeuroqError(f"{name} must be an integer >= {least}, got {value!r}")
    if name.endswith("episodes") and value > MAX_EPISODES:
        raise NeuroqError(f"{name} must be at most {MAX_EPISODES:,}, got {value!r}")


def check_seed(value, name: str = "seed", optional: bool = False) -> None:
    """NeuroqError unless `value` is a seed: an integer in [0, MAX_SEED] (or None where
    `optional`)."""
    if value is None and optional:
        return
    if not (is_int(value) and 0 <= value <= MAX_SEED):
        from neuroq.deploy.errors import NeuroqError

        raise NeuroqError(f"{name} must be an integer in [0, {MAX_SEED}]"
                          f"{' or None' if optional else ''}, got {value!r}")


SELECTION_BASE = 10_000
SELECTION_PERTURBED_BASE = 15_000
REPORT_BASE = 20_000
RECORD_BASE = 30_000
STAGE_EVAL_BASE = 50_000
VALIDATION_BASE = 70_000
CALIBRATION_BASE = 90_000
ROLLOUT_BASE = 200_000
GATE_BASE = 900_000
HELD_OUT_BASE = 1_000_000

#: The table above as data, for result.json files: purpose -> first seed (before offsets).
SEED_RANGES = {
    "train_selection": SELECTION_BASE, "train_selection_perturbed": SELECTION_PERTURBED_BASE,
    "train_report": REPORT_BASE,
    "convert_record": RECORD_BASE, "stage_eval": STAGE_EVAL_BASE,
    "finetune_validation": VALIDATION_BASE, "finetune_rollouts": ROLLOUT_BASE,
    "calibration": CALIBRATION_BASE, "export_gate": GATE_BASE, "held_out": HELD_OUT_BASE,
}
