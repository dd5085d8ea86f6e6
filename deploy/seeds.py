"""Where every stage's episodes take their seeds: one table, disjoint ranges.

Episode i of a run seeded `base` is reset with seed `base + i`
(`neuroq.deploy.rollout.episode_seed`). The bases below keep each purpose in its own range,
so that episodes used to choose anything (a checkpoint, an epoch, an export) never overlap
the episodes a result is reported on, and the held-out episodes of `neuroq robustness` and
the export gate were never seen by any stage. `s` is the stage's own --seed, any seed; a
purpose that depends on it (or on the fine-tuning epoch e) takes it modulo a number of
slots, so that it stays inside its range whatever the seed (`first_seed`, `STAGE_RANGES`;
until stop 40 `s` was used as it was, and fine-tuning with --seed 8 played the held-out
episodes as rollouts, a review):

    purpose                                        seeds
    DQN checkpoint selection (train)               SELECTION_BASE + (s % 1000) + i
    ... its perturbed half (select_randomize)      SELECTION_PERTURBED_BASE + (s % 1000) + i
    DQN report episodes (train)                    REPORT_BASE + (s % 1000) + i
    recording observations (convert)               RECORD_BASE + 1000 (s % 20) + i
    ... energy's plain-conversion baseline         RECORD_BASE + i (s = 0, whatever --seed)
    return checks of convert, finetune, export     STAGE_EVAL_BASE + i
    fine-tuning validation, epoch e (the start: 0) VALIDATION_BASE + 1000 (e % 20) + i
    fine-tuning rollouts (DAgger, TD), epoch e     ROLLOUT_BASE + 100_000 (s % 7)
                                                       + 1000 ((e + 1) % 99) + i
    int8 ANN calibration (energy, robustness)      CALIBRATION_BASE + i
    export gate (SNN vs float DQN)                 GATE_BASE + i
    held-out report (neuroq robustness default)    HELD_OUT_BASE + i

Seeds under the slot counts give the seeds they gave before (s < 1000 for train, s < 20 for
convert, s < 7 and e < 98 for fine-tuning, e < 20 for validation). The episodes a setting
plays are bounded by the room left in its range (`room`, `check_room`: 4001 selection and
9001 report episodes, 500 validation episodes per half, 20,000 return-check and 100,000
gate episodes); recording and rollouts, which play
as many episodes as their steps take, wrap within their block of 1000 seeds (`BLOCK`).

`neuroq eval --seed S` plays S, S+1, ...; seeds 0-9,999 belong to no stage, so any of them
(1000-1099 and 5000-5099 are used in the docs) are held out too.
"""

from dataclasses import dataclass

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


def check_episode_seeds(seed, episodes, what: str = "episodes") -> None:
    """NeuroqError where episodes seeded seed + i (i < episodes) would pass MAX_SEED (an
    outsider's `--seed 4294967295 --episodes 3` played seeds above the range --help
    states); `what` names the count in the message (an option, "episodes" by default).
    For integers already checked."""
    if is_int(seed) and is_int(episodes) and seed + episodes - 1 > MAX_SEED:
        from neuroq.deploy.errors import NeuroqError

        raise NeuroqError(f"seed {seed} with {what} {episodes} (episode i seeded seed + i) "
                          f"reaches {seed + episodes - 1}, beyond the largest seed {MAX_SEED}: "
                          f"give a seed of at most {MAX_SEED - episodes + 1}")


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


SEED_PURPOSES = {
    "train_selection": "train's checkpoint selection",
    "train_selection_perturbed": "train's perturbed selection",
    "train_report": "train's report episodes",
    "convert_record": "convert's recording",
    "stage_eval": "the return checks of convert, finetune and export",
    "finetune_validation": "finetune's validation",
    "finetune_rollouts": "finetune's rollouts",
    "calibration": "the int8 ANN's calibration",
    "export_gate": "the export gate",
    "held_out": "held out",
}
"""What each of SEED_RANGES is for, in the words of docs/robustness.md's seed table (the
note named "stage eval (50,000-69,999)", read as `neuroq eval`'s: an outsider)."""

BLOCK = 1000
"""Seeds of one recording or one rollout (convert, fine-tuning): their episodes wrap within
it (`neuroq.deploy.rollout.run_episodes(..., seed_span=BLOCK)`), since they play as many
episodes as their steps take."""


@dataclass(frozen=True)
class StageRange:
    """The seeds of one purpose: base + (s % seed_slots) * seed_stride + (e % epoch_slots)
    * epoch_stride + i, all below `end` (the next purpose's base)."""

    base: int
    end: int
    seed_slots: int = 1
    seed_stride: int = 0
    epoch_slots: int = 1
    epoch_stride: int = 0

    def first(self, s: int = 0, epoch: int = 0) -> int:
        return (self.base + (int(s) % self.seed_slots) * self.seed_stride
                + (int(epoch) % self.epoch_slots) * self.epoch_stride)

    @property
    def room(self) -> int:
        """Episodes that fit after the last slot's first seed."""
        return self.end - self.first(self.seed_slots - 1, self.epoch_slots - 1)


VALIDATION_HALF = 500
"""Fine-tuning validation's perturbed half starts this far after its clean half."""

STAGE_RANGES = {
    "train_selection": StageRange(SELECTION_BASE, SELECTION_PERTURBED_BASE, 1000, 1),
    "train_selection_perturbed": StageRange(SELECTION_PERTURBED_BASE, REPORT_BASE, 1000, 1),
    "train_report": StageRange(REPORT_BASE, RECORD_BASE, 1000, 1),
    "convert_record": StageRange(RECORD_BASE, STAGE_EVAL_BASE, 20, BLOCK),
    "finetune_validation": StageRange(VALIDATION_BASE, CALIBRATION_BASE,
                                      epoch_slots=20, epoch_stride=BLOCK),
    "finetune_rollouts": StageRange(ROLLOUT_BASE, GATE_BASE, 7, 100_000, 99, BLOCK),
    "stage_eval": StageRange(STAGE_EVAL_BASE, VALIDATION_BASE),
    "export_gate": StageRange(GATE_BASE, HELD_OUT_BASE),
}
"""The ranges whose width bounds a setting: those whose seeds depend on the stage's seed or
epoch, and the stages' return checks and the export gate (20,000 and 100,000 episodes)."""


def first_seed(purpose: str, s: int = 0, epoch: int = 0) -> int:
    """The first episode seed of `purpose` (a key of STAGE_RANGES) for stage seed `s` and
    epoch `epoch` (fine-tuning rollouts: the epoch + 1, the TD warm-up being 0)."""
    return STAGE_RANGES[purpose].first(s, epoch)


def room(purpose: str) -> int:
    """How many episodes one run of `purpose` may play inside its range."""
    return STAGE_RANGES[purpose].room


def check_room(name: str, value, purpose: str, share: int = 1) -> None:
    """NeuroqError when `value` episodes (the setting `name`) would leave `purpose`'s seed
    range; `share`: how many runs of that many split the room (validation's two halves)."""
    from neuroq.deploy.errors import NeuroqError

    limit = room(purpose) // share
    if is_int(value) and value > limit:
        r = STAGE_RANGES[purpose]
        raise NeuroqError(f"{name} must be at most {limit:,}, got {value!r}: more episodes "
                          f"would leave the seeds of {purpose.replace('_', ' ')} "
                          f"({r.base:,}-{r.end - 1:,}) for another stage's "
                          "(neuroq.deploy.seeds)")


def pipeline_seed_note(first: int, episodes: int) -> str | None:
    """A warning where episodes seeded first .. first + episodes - 1 meet the seeds some
    stage plays (SEED_RANGES, each purpose up to the next base; not the held-out range):
    results on them are not held out from what made or chose the network. None where they
    meet none (0-9,999 and from HELD_OUT_BASE on). An outsider's `neuroq robustness --seed
    50000` wrote `held_out_seeds: [50000, 50019]`, the stages' return-check seeds, and
    `neuroq eval --seed 900000` played the export gate's own episodes, without a word."""
    if not (is_int(first) and is_int(episodes)) or episodes < 1:
        return None
    bases = sorted(SEED_RANGES.items(), key=lambda kv: kv[1])
    last = first + episodes - 1
    met = []
    for (name, base), nxt in zip(bases, [*bases[1:], ("", None)], strict=True):
        if name == "held_out":
            continue
        end = nxt[1] - 1 if nxt[1] is not None else MAX_SEED
        if first <= end and last >= base:
            met.append(f"{SEED_PURPOSES[name]} ({base:,}-{end:,})")
    if not met:
        return None
    return (f"episode seeds {first:,}..{last:,} are seeds the pipeline's stages play: "
            f"{', '.join(met)}; results on them are not held out (seeds from "
            f"{HELD_OUT_BASE:,} on are, and 0-9,999 but for a train run's first episode, its "
            "--seed)")


def say_pipeline_seeds(first, episodes, command: str) -> None:
    """`pipeline_seed_note` as a warning line of `command` on stderr, if any."""
    import sys

    note = pipeline_seed_note(first, episodes)
    if note:
        print(f"{command}: warning: {note}", file=sys.stderr)
