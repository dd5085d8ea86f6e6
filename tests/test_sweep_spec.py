"""Sweep specs: parsing and its one-line errors, trials, shared stage runs, Pareto fronts.
No Ray here (tests/test_scale.py runs sweeps on Ray)."""

import pytest

from neuroq.agents.sweep import Outcome, _run_plan, make_plan, priorities, trial_size
from neuroq.agents.sweep_report import enrich, pareto_front
from neuroq.agents.sweep_spec import load_spec, parse_spec
from neuroq.agents.sweep_stages import gate_summary
from neuroq.agents.tune import apply, parse_space
from neuroq.deploy.errors import NeuroqError


def spec(**extra):
    return parse_spec({"env": "CartPole-v1", **extra}, "spec.yaml", "s")


def test_grid_times_random_draws_and_shared_stage_runs():
    s = spec(fixed={"train": {"n_timesteps": 1000}},
             grid={"convert.encoder": ["population", "rate"], "convert.timesteps": [4, 6, 8]},
             random={"samples": 2, "seed": 3,
                     "params": {"finetune.spike_penalty": {"uniform": [0.0, 0.5]}}})
    trials = s.trials()
    assert len(trials) == 2 * 3 * 2
    assert len({t.trial_id for t in trials}) == len(trials)
    assert [t.point for t in trials] == [t.point for t in s.trials()]  # same draws on rerun
    assert all(0.0 <= t.settings["finetune"]["spike_penalty"] <= 0.5 for t in trials)
    assert all(t.settings["train"] == {"n_timesteps": 1000} for t in trials)
    plan = make_plan(s)
    stages = [r.stage for r in plan.runs.values()]
    # one training run serves every trial; one convert run per (encoder, T)
    assert stages.count("train") == 1 and stages.count("convert") == 6
    assert stages.count("finetune") == stages.count("eval") == 12


class _FakeRunner:
    """Stands in for Ray: `slots` at once, each submitted run ends in the next `finished`
    call, in submission order; runs of `fail` stages raise."""

    def __init__(self, slots, fail=()):
        self.slots, self.fail, self.started, self.running = slots, fail, [], []

    def submit(self, plan, run, upstream):
        assert run.parent is None or upstream["run_dir"] == run.parent  # its input finished
        assert len(self.running) < self.slots
        self.started.append(run)
        self.running.append(run.key)
        return run.key

    def finished(self, handles):
        key = self.running.pop(0)
        stage = key.split("-")[0]
        return [(key, None, "boom") if stage in self.fail else (key, {"run_dir": key}, None)]


class _NoBar:
    def update(self):
        pass


def test_largest_trials_start_first_and_failures_stop_their_chain(tmp_path, monkeypatch):
    monkeypatch.setattr("neuroq.agents.sweep._record",
                        lambda folder, key, summary, outcome: outcome.done.update({key: summary}))
    s = spec(stages=["convert", "finetune", "export"], train_run="runs/x",
             fixed={"finetune": {"epochs": 10}},
             grid={"convert.encoder": ["population", "rate"], "convert.timesteps": [2, 8, 4]})
    plan = make_plan(s)
    assert [trial_size(t.settings) for t in plan.trials] == [20, 80, 40, 20, 80, 40]
    rank = priorities(plan)
    assert all(rank[k] == trial_size(t.settings) for t in plan.trials for k in plan.chains[
        t.trial_id])
    runner = _FakeRunner(slots=2)
    _run_plan(plan, tmp_path, outcome := Outcome(), _NoBar(), runner)
    assert len(outcome.done) == len(plan.runs) == 18 and not outcome.failed
    sizes = [rank[r.key] for r in runner.started]
    # first the two T=8 trials' converts, then never a smaller trial while a larger is ready
    assert sizes[:2] == [80, 80] and sizes[-1] == 20
    assert [r.settings.get("encoder") for r in runner.started[:2]] == ["population", "rate"]
    runner = _FakeRunner(slots=2, fail=("finetune",))
    _run_plan(plan, tmp_path, outcome := Outcome(), _NoBar(), runner)
    assert {r.stage for r in runner.started} == {"convert", "finetune"}  # no export started
    assert len(outcome.failed) == 12 and set(outcome.failed.values()) == {"boom"}


def test_distributions():
    s = spec(random={"samples": 50, "params": {
        "train.learning_rate": {"loguniform": [1e-4, 1e-2]}, "train.seed": {"int": [0, 3]},
        "convert.encoder": ["rate", "population"]}})
    pts = [t.point for t in s.trials()]
    assert all(1e-4 <= p["train.learning_rate"] <= 1e-2 for p in pts)
    assert {p["train.seed"] for p in pts} == {0, 1, 2, 3}
    assert {p["convert.encoder"] for p in pts} == {"rate", "population"}


@pytest.mark.parametrize("extra, message", [
    ({"grid": {"convrt.timesteps": [4]}}, "unknown stage 'convrt'"),
    ({"grid": {"convert.T": [4]}}, "convert has no setting 'T'"),
    ({"grid": {"timesteps": [4]}}, "must be written stage.key"),
    ({"grid": {"convert.timesteps": []}}, "non-empty list"),
    ({"grid": {"energy.episodes": [2]}}, "stage energy is not run by this sweep"),
    ({"stages": ["train", "finetune"]}, "prefix of the pipeline"),
    ({"stages": ["convert"]}, "start at convert, which needs the train run"),
    ({"stages": ["train", "covnert"]}, r"unknown stage 'covnert' in stages \(stages: train, "),
    ({"stages": {"train": 1}}, "stages must be a list of stages"),
    ({"stages": []}, r"stages names no stage \(leave the key out for train, convert"),
    ({"stages": None}, "stages names no stage"),
    ({"stages": ["train", "convert"], "train_run": "x"},
     "a train_run is given, so the sweep starts at convert"),
    ({"fixed": {"train": {"gamma": 1.5}}}, r"spec.yaml \[fixed.train\]: gamma = 1.5 is out"),
    ({"grid": {"train.gamma": [0.9, 2]}}, r"spec.yaml \[grid.train.gamma\[1\]\]: gamma = 2.0"),
    ({"random": {"samples": 2, "params": {"train.gamma": {"normal": [0, 1]}}}},
     "unknown distribution 'normal'"),
    ({"random": {"samples": 2, "params": {"train.gamma": {"uniform": [1, 0]}}}},
     "low <= high"),
    ({"random": {"samples": 0, "params": {}}}, "samples must be an integer >= 1"),
    ({"fixed": {"train": {"learning_rat": 1}}}, "train has no setting 'learning_rat'"),
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"gird": {}}, "unknown key 'gird'"),
    ({"grid": {"train.gamma": [0.9, 1.5]}}, "gamma = 1.5 is out of range"),
    ({"fixed": {"train": {"batch_size": 3.5}}}, "batch_size must be an integer"),
    # an outsider's: an empty grid ran one trial of the defaults; a key both fixed and in
    # the grid took the grid's values without a word; 200,000 trials took 1 GB first
    ({"grid": {}}, r"'grid' is empty: leave the key out for one trial of the fixed"),
    ({"fixed": {}}, r"'fixed' is empty: leave the key out"),
    ({"fixed": {"train": {}}}, r"fixed.train is empty: leave it out"),
    ({"random": {"samples": 3, "params": {}}}, "random.params is empty"),
    ({"fixed": {"train": {"seed": 3}}, "grid": {"train.seed": [0, 1]}},
     "train.seed is both fixed and in grid: give it in one place"),
    ({"fixed": {"train": {"gamma": 0.9}}, "random": {"samples": 2, "params": {
        "train.gamma": {"uniform": [0.9, 0.99]}}}}, "train.gamma is both fixed and drawn"),
    ({"grid": {"train.gamma": [0.9]}, "random": {"samples": 2, "params": {
        "train.gamma": {"uniform": [0.9, 0.99]}}}}, "train.gamma is both in grid and drawn"),
    ({"grid": {f"train.{k}": list(range(1, 11)) for k in (
        "batch_size", "train_freq", "gradient_steps", "target_update_interval", "seed")}},
     r"100,000 trials, more than 10,000"),
    ({"grid": {"train.seed": list(range(100))},
      "random": {"samples": 1000, "params": {"train.gamma": {"uniform": [0.9, 0.99]}}}},
     r"100,000 trials, more than 10,000"),
    # an outsider's: convert without a train run was "must be a prefix of the pipeline";
    # `name: ""` fell back to the file's name without a word
    ({"stages": ["convert", "finetune"]}, r"start at convert, which needs the train run"),
    ({"name": ""}, r"name must be a non-empty string \(leave it out for 's'"),
    ({"name": 3}, r"name must be a non-empty string"),
    # an outsider's [0, 0] ran two trials of one stage run, without a word
    ({"grid": {"train.seed": [0, 0]}}, r"grid.train.seed lists 0 twice"),
    ({"grid": {"train.gamma": [0.9, 0.99, 9e-1]}}, r"grid.train.gamma lists 0.9 twice"),
    ({"grid": {"train.select_randomize": [{"obs_noise": [0, 0.1]}, {"obs_noise": [0, 0.1]}]}},
     r"grid.train.select_randomize lists .* twice"),
    ({"train_run": ["runs/a", "runs/b", "runs/./a"], "stages": ["convert"]},
     r"train_run lists .*runs/a' twice"),
])
def test_spec_errors_are_one_line(extra, message):
    with pytest.raises(NeuroqError, match=message):
        spec(**extra)


@pytest.mark.parametrize("extra, message", [
    ({"fixed": {"finetune": {"randomize": {"physics": {"length": [0, 0.7]}}}}},
     r"spec.yaml fixed.finetune.randomize.physics: physics parameter length must be "
     r"positive, got 0"),
    ({"grid": {"train.select_randomize": [{}, {"physics": {"bar": [1, 2]}}]}},
     r"spec.yaml grid.train.select_randomize\[1\].physics: CartPole-v1 has no physics "
     r"parameter 'bar'"),
    ({"random": {"samples": 2, "params": {"train.randomize": [
        {"obs_noise": [0, 0.1]}, {"physics": {"masspole": [0, 0.1]}}]}}},
     r"spec.yaml random.train.randomize.physics: physics parameter masspole must be "
     r"positive, got 0"),
    ({"fixed": {"finetune": {"randomize": {"drop": [0, 2]}}}},
     r"spec.yaml fixed.finetune.randomize.drop must lie in \[0, 1\]"),
])
def test_spec_checks_each_randomization_against_its_env(extra, message):
    """A finetune randomization's physics the env does not take passed the spec, and the
    finetune stage ran it (a pole of length 0 to 0.7, which `neuroq finetune` refuses);
    train's failed each trial with a ValueError. Now the spec fails, in one line."""
    with pytest.raises(NeuroqError, match=message):
        spec(stages=["train", "convert", "finetune"], **extra)
    # the same settings the env takes are a spec
    spec(stages=["train", "convert", "finetune"],
         fixed={"finetune": {"randomize": {"physics": {"length": [0.3, 0.7]}}}},
         grid={"train.select_randomize": [{}, {"physics": {"masspole": [0.05, 0.2]}}]})


ALL_STAGES = ["train", "convert", "finetune", "export", "eval", "energy"]


@pytest.mark.parametrize("extra, message", [
    ({"grid": {"convert.encoder": ["population", "populaton"]}},
     "spec.yaml trial 1 (convert.encoder='populaton'), convert: unknown encoder 'populaton'"),
    ({"fixed": {"convert": {"percentile": "abc"}}},
     "trial 0, convert: percentile must lie in (0, 100], got 'abc'"),
    ({"fixed": {"convert": {"eval_timesteps": [4, 0]}}},
     "trial 0, convert: eval_timesteps must be an integer >= 1, got 0"),
    ({"fixed": {"finetune": {"epochs": 0}}},
     "trial 0, finetune: epochs must be an integer >= 1, got 0"),
    ({"grid": {"finetune.lr": [1e-3, -1]}}, "trial 1 (finetune.lr=-1), finetune: lr must be"),
    ({"fixed": {"finetune": {"loss": "mse"}}}, "finetune: unknown loss 'mse'"),
    ({"fixed": {"export": {"gate": 5}}}, "export: gate must lie in [0, 2]"),
    ({"fixed": {"export": {"force": "yes"}}}, "export: force must be true or false"),
    ({"fixed": {"eval": {"backend": "emulater"}}}, "eval: unknown backend 'emulater'"),
    ({"fixed": {"eval": {"backend": "spinnaker2"}}}, "eval: the spinnaker2 backend needs"),
    ({"fixed": {"eval": {"episodes": 0}}}, "eval: episodes must be an integer >= 1"),
    ({"fixed": {"energy": {"latency_samples": 0}}},
     "energy: latency_samples must be an integer >= 1"),
    ({"fixed": {"train": {"seed": -1}}}, "train: seed must be an integer in [0, 4294967295]"),
    # random draws too (a reviewer: only fixed and grid values were checked)
    ({"random": {"samples": 2, "params": {"train.gamma": {"choice": [0.99, 5]}}}},
     "(train.gamma=5), train: gamma = 5.0 is out of range"),
    ({"random": {"samples": 1, "params": {"train.randomize": {"uniform": [0, 1]}}}},
     "train: randomize must be a mapping"),
    ({"random": {"samples": 1, "params": {"finetune.randomize": {"choice": [
        {"physics": {"length": [0, 1]}}]}}}},
     "random.finetune.randomize.physics: physics parameter length must be positive"),
])
def test_each_trials_settings_are_checked_as_its_stages_check_them(extra, message):
    """A value a stage refuses (a misspelt encoder, epochs 0, gate 5, an unknown backend)
    passed the spec and failed that stage of every trial after its upstream stages had run
    (a training first). Now the spec fails in one line naming the trial, by each stage's
    own check (`sweep_stages.check_stage`)."""
    with pytest.raises(NeuroqError) as err:
        spec(stages=ALL_STAGES, **extra)
    assert message in str(err.value)
    # the same stages with values they take are a spec
    spec(stages=ALL_STAGES, grid={"convert.encoder": ["population", "rate"],
                                  "convert.eval_timesteps": [8, [4, 6]]},
         fixed={"finetune": {"epochs": 2, "loss": "td", "lr": 1e-3},
                "export": {"gate": 0.9, "force": True},
                "eval": {"backend": "spinnaker2", "board_ip": "192.0.2.1"},
                "energy": {"latency_samples": "1e1"}})  # YAML 1.1's string: 10, a count


def test_an_unknown_env_is_named_as_the_spec_names_it(tmp_path):
    """The env id's error had no spec file or key in front (an outsider)."""
    from neuroq.agents.sweep import run_sweep

    with pytest.raises(NeuroqError, match=r"^spec.yaml env: cannot make environment: unknown "
                                          r"env id 'CartPol-v1'"):
        run_sweep(parse_spec({"env": "CartPol-v1", "stages": ["train"]}, "spec.yaml", "s"),
                  tmp_path, serial=True, show_progress=False, say=lambda _: None)
    assert not any(tmp_path.iterdir())


def test_a_single_stage_may_be_written_without_brackets():
    """`stages: train` was split into letters: "got ['t', 'r', 'a', 'i', 'n']"."""
    assert spec(stages="train").stages == ("train",)


def test_spec_file_errors(tmp_path):
    with pytest.raises(NeuroqError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: [CartPole\n")
    with pytest.raises(NeuroqError, match="not valid YAML"):
        load_spec(bad)
    good = tmp_path / "my-sweep.yaml"
    good.write_text("env: CartPole-v1\ngym_package: null\n")
    assert load_spec(good).name == "my-sweep"


def test_train_runs_start_at_convert():
    s = spec(train_run="runs/x", stages=["convert", "finetune"])
    assert s.stages == ("convert", "finetune") and s.train_runs == ("runs/x",)
    s = spec(train_run=["runs/a", "runs/b"], stages=["convert"],
             grid={"convert.timesteps": [4, 8]})
    trials = s.trials()
    assert [(t.train_run, t.point["convert.timesteps"]) for t in trials] == [
        ("runs/a", 4), ("runs/a", 8), ("runs/b", 4), ("runs/b", 8)]
    assert s.varied == ["train_run", "convert.timesteps"]
    assert len(make_plan(s).runs) == 4 and len({t.trial_id for t in trials}) == 4
    with pytest.raises(NeuroqError, match="train_run is a train run folder"):
        spec(train_run=[], stages=["convert"])


def test_pareto_front():
    pts = [(10.0, 100.0), (5.0, 90.0), (20.0, 100.0), (5.0, 95.0), (1.0, 10.0)]
    assert pareto_front(pts) == [4, 3, 0]
    row = enrich({"train_return": 5.0, "finetune_return": 7.0, "eval_return": None,
                  "synaptic_events_per_action": 3.0, "modeled_energy_per_action_j": 2e-6})
    assert row["return"] == 7.0 and row["return_from"] == "finetune"
    assert row["synaptic_events"] == 3.0 and row["modeled_energy_uj"] == pytest.approx(2.0)


def test_tune_space_and_derived_gradient_steps():
    from neuroq.agents.hyperparams import DQNConfig

    parse_space({"learning_rate": {"loguniform": [1e-4, 1e-2]}, "net_arch": [[8], [16, 16]]})
    with pytest.raises(NeuroqError, match="unknown hyperparameter 'lr'"):
        parse_space({"lr": [1]})
    cfg = apply(DQNConfig(), {"train_freq": 16, "gradient_ratio": 0.25, "net_arch": [8, 8]})
    assert cfg.gradient_steps == 4 and cfg.net_arch == (8, 8)
    with pytest.raises(NeuroqError, match="out of range"):
        apply(DQNConfig(), {"gamma": 2.0})


def test_gate_figures_in_the_table():
    played = {"snn": {"mean": 95.0}, "float_dqn": {"mean": 100.0}, "fraction": 0.95,
              "passed": False, "threshold": 0.99, "seeds": [900000, 900099]}
    assert gate_summary(played) == {"gate_snn_return": 95.0, "gate_float_return": 100.0,
                                    "gate_fraction": 0.95, "gate_passed": False,
                                    "gate_seeds": "900000..900099"}
    skipped = gate_summary({"skipped": True, "passed": None, "threshold": 0.99})
    assert skipped["gate_fraction"] is None and skipped["gate_passed"] is None


def test_the_docs_settings_table_lists_each_stages_keys():
    """docs/scale.md listed only eval_episodes for export (gate, gate_episodes and force
    are taken too) and left out finetune's randomize."""
    import re

    from neuroq.agents.sweep_spec import STAGE_KEYS
    from tests.helpers import REPO_ROOT

    text = (REPO_ROOT / "docs" / "scale.md").read_text(encoding="utf-8")
    for stage, keys in STAGE_KEYS.items():
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{stage}` |")]
        listed = set(re.findall(r"`(\w+)`", row.split("|")[2]))
        missing = set(keys) - listed
        assert not missing, f"docs/scale.md, {stage}: not listed {sorted(missing)}"
        if stage != "train":  # train's row names dqn.yaml's hyperparameters by example
            extra = listed - set(keys)
            assert not extra, f"docs/scale.md, {stage}: not a setting {sorted(extra)}"


def test_a_convert_stage_gives_the_sweep_its_agreement_and_synaptic_events(tmp_path,
                                                                          monkeypatch):
    """A [train, convert] sweep had no agreement and no synaptic events in results.csv,
    so no pareto.png, without a word (an outsider): convert's result.json holds both for
    its T. A fake run_convert stands in (the stage's reading of its result is what is
    tested); the row then has a cost to plot, and the plot is written."""
    import json
    from types import SimpleNamespace

    from neuroq.agents import convert as convert_mod
    from neuroq.agents.sweep_report import plot_pareto
    from neuroq.agents.sweep_stages import _convert

    def fake_run_convert(train_run, out, kind, timesteps, eval_t, log=None, **_):
        run = tmp_path / "convert-run"
        run.mkdir(exist_ok=True)
        (run / "result.json").write_text(json.dumps({
            "ann_mean_return": 0.69, "mean_return": -2.76, "timesteps": 4,
            "returns_by_timesteps": {"4": {"agreement": 0.25,
                                           "synaptic_events_per_action": 990.779}}}))
        return run

    monkeypatch.setattr(convert_mod, "run_convert", fake_run_convert)
    summary = _convert("CartPole-v1", {"timesteps": 4}, {"run_dir": "train"}, tmp_path,
                       lambda *_: None)
    assert (summary["agreement"], summary["synaptic_events_per_action"]) == (0.25, 990.779)
    row = enrich({"trial": 0, "status": "ok", **summary})
    assert (row["return"], row["return_from"], row["synaptic_events"]) == (-2.76, "convert",
                                                                          990.779)
    spec = SimpleNamespace(name="reach-ft", env="mine.myenv:Reach")
    assert plot_pareto(tmp_path / "pareto.png", spec, [row]).is_file()


def test_a_sweep_train_stage_logs_trains_warnings(tmp_path, monkeypatch):
    """A sweep's train stage with n_timesteps 2000 (below eval_freq) ran without the
    warning `neuroq train` and `neuroq tune` give (an outsider's recheck): its log has it."""
    import json

    from neuroq.agents import train as train_mod
    from neuroq.agents.sweep_stages import _train

    def fake_train_one(env, seed, cfg, out, defaults=False):
        run = tmp_path / "train-run"
        run.mkdir(exist_ok=True)
        (run / "result.json").write_text(json.dumps({"mean_return": 20.0}))
        return run

    monkeypatch.setattr(train_mod, "train_one", fake_train_one)
    said = []
    summary = _train("CartPole-v1", {"seed": 0, "n_timesteps": 2000}, None, tmp_path,
                     said.append)
    assert summary["train_return"] == 20.0
    assert any(line.startswith("warning: n_timesteps 2000 is below eval_freq") for line in
               said), said
