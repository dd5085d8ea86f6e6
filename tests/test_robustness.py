"""The robustness suite: same held-out episodes for every network, every condition, honest
statistics, files written; the perturbation really changes the outcome."""

import json
import sys

import numpy as np
import pytest

from neuroq.agents.cli.main import main
from neuroq.agents.mlp import FLOAT_DQN_FILE, FloatMLP, save_mlp
from neuroq.agents.robustness import (
    run_robustness,
    suite,
    table_markdown,
    write_robustness,
)
from neuroq.deploy.artifact import write_manifest
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.evaluate import evaluate
from neuroq.deploy.policy import load_policy
from tests.helpers.artifacts import make_tiny_artifact


def lean_mlp() -> FloatMLP:
    """A float 'DQN' that pushes towards the pole's lean (Q = +-(angle + 0.3 rate))."""
    w1 = np.array([[0, 0, 1, 0.3], [0, 0, -1, -0.3]], np.float32)
    w2 = np.array([[0, 1], [1, 0]], np.float32)
    return FloatMLP((w1, w2), (np.zeros(2, np.float32), np.zeros(2, np.float32)))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    art = make_tiny_artifact(tmp_path_factory.mktemp("rob") / "art")
    save_mlp(art / FLOAT_DQN_FILE, lean_mlp())
    return art


def test_every_network_plays_the_same_held_out_episodes(artifact):
    conds = suite("CartPole-v1", noise=[0.05], action_delay=[2], drop=[], physics={})
    rob = run_robustness(artifact, episodes=4, seed=1_000_000, conditions=conds)
    assert [c.label for c in conds] == ["none", "obs noise 0.05", "action delay 2"]
    assert {(r["condition"], r["network"]) for r in rob.rows} == {
        (c.label, n) for c in conds for n in ("snn", "float", "int8")}
    clean = {r["network"]: r for r in rob.rows if r["condition"] == "none"}
    # the suite's clean SNN row is what neuroq eval gives on the same seeds
    ref = evaluate(load_policy(artifact), episodes=4, seed=1_000_000)
    assert clean["snn"]["mean"] == pytest.approx(ref["return_mean"])
    assert clean["snn"]["fraction_of_float"] == pytest.approx(
        clean["snn"]["mean"] / clean["float"]["mean"])
    flo, fhi = clean["snn"]["fraction_of_float_ci95"]  # paired: the same four episodes
    assert flo <= clean["snn"]["fraction_of_float"] <= fhi
    assert clean["float"]["fraction_of_float_ci95"] == [1.0, 1.0]
    lo, hi = clean["snn"]["ci95"]
    assert lo <= clean["snn"]["mean"] <= hi
    delayed = {r["network"]: r for r in rob.rows if r["condition"] == "action delay 2"}
    assert delayed["float"]["mean"] < clean["float"]["mean"]  # the delay really hurts
    d = rob.to_dict()
    assert d["held_out_seeds"] == d["episode_seeds"] == [1_000_000, 1_000_003]
    assert d["seed_table"]["held_out"]
    assert "| none |" in table_markdown(rob)


def test_files_and_json_output(artifact, tmp_path, capsys):
    code = main(["robustness", str(artifact), "--episodes", "2", "--noise", "0.1",
                 "--action-delay", "--drop", "--no-physics", "--networks", "snn", "float",
                 "--json", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)  # one JSON object on stdout, nothing else
    run_dir = tmp_path / "CartPole-v1"
    (folder,) = run_dir.iterdir()
    assert result["run_dir"] == str(folder)
    assert {p.name for p in folder.iterdir()} >= {"result.json", "table.md", "robustness.png"}
    assert {r["network"] for r in result["rows"]} == {"snn", "float"}


def test_one_physics_option_takes_several_shifts(artifact, tmp_path, capsys):
    """An outsider's `--physics DRAG=0,0.6 FORCE=1.5,3` was "unrecognized arguments:
    FORCE=1.5,3" (the usage line did not show the option repeats); both forms work."""
    for physics in (["--physics", "length=0.3", "masscart=2"],
                    ["--physics", "length=0.3", "--physics", "masscart=2"]):
        assert main(["robustness", str(artifact), "--episodes", "1", "--noise",
                     "--action-delay", "--drop", *physics, "--networks", "snn", "--json",
                     "--out", str(tmp_path)]) == 0
        rows = json.loads(capsys.readouterr().out)["rows"]
        assert {r["condition"] for r in rows} == {"none", "length 0.3", "masscart 2"}, rows


def test_without_a_float_dqn_it_says_so(tmp_path, capsys):
    """By default the networks there are run, with a note; named with --networks, a missing
    float DQN is an error (an outsider's `--networks snn float` ran the SNN alone, exit 0,
    and its plan line counted 2 networks)."""
    art = make_tiny_artifact(tmp_path / "art")
    said = []
    rob = run_robustness(art, episodes=2, conditions=suite("CartPole-v1", [], [], [], {}),
                         say=said.append)
    assert {r["network"] for r in rob.rows} == {"snn"}
    assert "unavailable" in rob.notes[0]
    assert "x 1 network x" in said[0], said
    assert write_robustness(rob, tmp_path / "runs").is_dir()
    # no column of n/a for a share no float DQN could give (an outsider)
    assert table_markdown(rob).splitlines()[0] == "| condition | snn mean [95 % CI] |"
    capsys.readouterr()
    for networks in (["float"], ["snn", "int8"]):
        code = main(["robustness", str(art), "--episodes", "2", "--no-physics",
                     "--networks", *networks, "--out", str(tmp_path / "cli")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1, err
        assert "the float DQN is unavailable" in err[0] and "--networks" in err[0], err


def test_a_float_dqn_failing_its_sha256_is_an_error_before_the_plan(artifact, tmp_path):
    """A damaged float_dqn.npz is an error, as in `neuroq energy`, and it comes before the
    plan line (it came after it)."""
    import shutil

    art = shutil.copytree(artifact, tmp_path / "art")
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["float_dqn"] = {"file": FLOAT_DQN_FILE, "sha256": "0" * 64}
    write_manifest(art, manifest)
    said = []
    with pytest.raises(NeuroqError, match="does not match the SHA-256 in its manifest"):
        run_robustness(art, episodes=2, conditions=suite("CartPole-v1", [], [], [], {}),
                       say=said.append)
    assert said == []
    rob = run_robustness(art, episodes=2, networks=("snn",),  # not asked for: not read
                         conditions=suite("CartPole-v1", [], [], [], {}))
    assert {r["network"] for r in rob.rows} == {"snn"}


def test_a_train_run_that_cannot_be_loaded_leaves_the_float_dqn_unavailable(tmp_path,
                                                                            monkeypatch):
    """No float_dqn.npz and a train run whose checkpoint does not load: the float DQN and
    int8 ANN are unavailable with the reason, as in `neuroq energy` (it was an error)."""
    pytest.importorskip("stable_baselines3")
    train = tmp_path / "runs" / "CartPole-v1" / "train-seed0-x"
    train.mkdir(parents=True)
    (train / "best_model.zip").write_bytes(b"not a zip")
    (train / "result.json").write_text(json.dumps({"env_id": "CartPole-v1",
                                                   "model": "best_model.zip"}))
    art = make_tiny_artifact(tmp_path / "art")
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["provenance"] = {"train_run": str(train)}
    write_manifest(art, manifest)
    said = []
    rob = run_robustness(art, episodes=2, conditions=suite("CartPole-v1", [], [], [], {}),
                         say=said.append)
    assert {r["network"] for r in rob.rows} == {"snn"}
    assert rob.notes[0].startswith("float DQN and int8 ANN unavailable: ")
    assert "cannot load the DQN" in rob.notes[0] and said


def _bench(name: str):
    import importlib.util

    from tests.helpers import REPO_ROOT

    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benches_read_the_float_dqn_as_the_commands_do(artifact, tmp_path):
    """bench_robustness and bench_nav_baselines read float_dqn.npz without its SHA-256
    check (and without the train-run fallback): now through find_float_dqn."""
    import shutil

    nav = _bench("bench_nav_baselines")
    assert "float DQN" in nav.policies(str(artifact))
    art = shutil.copytree(artifact, tmp_path / "art")
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["float_dqn"] = {"file": FLOAT_DQN_FILE, "sha256": "0" * 64}
    write_manifest(art, manifest)
    with pytest.raises(NeuroqError, match="does not match the SHA-256 in its manifest"):
        nav.policies(str(art))
    with pytest.raises(NeuroqError, match="does not match the SHA-256 in its manifest"):
        _bench("bench_robustness").clean_rows(art, 1, "emulator")


def test_bad_requests_are_one_clear_error(artifact):
    with pytest.raises(NeuroqError, match="no physics parameter 'lenght'"):
        suite("CartPole-v1", physics={"lenght": [0.3]})
    with pytest.raises(NeuroqError, match="episodes"):
        run_robustness(artifact, episodes=0)


def test_a_condition_whose_episodes_fail_is_named(artifact, monkeypatch):
    """--physics length=1e308 ran 52 s and ended in "observation contains NaN or inf",
    naming no condition."""
    from neuroq.agents.robustness import Condition, run_robustness
    from neuroq.deploy import rollout

    def overflow(*args, **kwargs):
        raise NeuroqError("observation contains NaN or inf")

    monkeypatch.setattr(rollout, "run_episodes", overflow)
    with pytest.raises(NeuroqError, match="condition length x1e\\+308, snn network: "
                                          "observation contains NaN or inf"):
        run_robustness(artifact, episodes=2, networks=("snn",),
                       conditions=[Condition("physics", 1e308, "length x1e+308")])


def test_the_docs_seed_table_lists_every_seed_range():
    """docs/robustness.md's table missed the perturbed selection range (15,000) that
    `neuroq robustness --json` prints in its seed_table."""
    from neuroq.deploy.seeds import SEED_RANGES
    from tests.helpers import REPO_ROOT

    text = (REPO_ROOT / "docs" / "robustness.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    missing = [name for name, base in SEED_RANGES.items()
               if not any(f"| {base:,} " in row for row in rows)]
    assert not missing, f"seed ranges not in docs/robustness.md's table: {missing}"


def test_an_env_without_physics_shifts_is_said_so(tmp_path, monkeypatch):
    """An outsider's own env ran no physics shift without a word (notes: [])."""
    from neuroq.agents import robustness

    art = make_tiny_artifact(tmp_path / "art")
    rob = run_robustness(art, episodes=1, networks=("snn",),
                         conditions=suite("CartPole-v1", [], [], [], None))
    assert any(c.kind == "physics" for c in suite("CartPole-v1", [], [], [], None))
    assert not any("no physics shifts" in n for n in rob.notes)
    monkeypatch.setattr(robustness, "DEFAULT_PHYSICS", {})  # an env with none defined
    rob = run_robustness(art, episodes=1, networks=("snn",))
    # CartPole's parameters are known (PHYSICS): named, with how to shift them
    assert any("no physics shifts: neuroq has no default shifts for CartPole-v1" in n
               and "its physics parameters are length, masspole, masscart, force_mag: give "
                   "--physics" in n
               for n in rob.notes), rob.notes
    from neuroq.envs import perturb

    monkeypatch.setattr(perturb, "PHYSICS", {})  # and none declared either
    rob = run_robustness(art, episodes=1, networks=("snn",))
    assert any("needs parameters the env declares (neuroq_physics" in n for n in rob.notes)


def test_without_matplotlib_the_plot_is_not_claimed(artifact, tmp_path, capsys, monkeypatch):
    """On a robot install (no matplotlib: it comes with the train extra) the command printed
    "saved ..., robustness.png" and wrote no such file (an outsider's wheel install)."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # its import fails
    code = main(["robustness", str(artifact), "--episodes", "1", "--noise", "0.1",
                 "--no-physics", "--networks", "snn", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    (folder,) = (tmp_path / "CartPole-v1").iterdir()
    assert not (folder / "robustness.png").exists()
    assert "table.md (no robustness.png: matplotlib is not installed" in out


def test_a_row_without_a_share_interval_shows_the_paired_difference():
    """An outsider's table (returns near 0) showed bare fractions under a header promising
    intervals: where the share has none, the paired difference and its interval stand
    beside it; a defined interval is shown as before."""
    from neuroq.agents.robustness import fraction_text

    nan = float("nan")
    near_zero = {"network": "snn", "fraction_of_float": 0.994,
                 "fraction_of_float_ci95": [nan, nan], "difference_from_float": -0.02,
                 "difference_from_float_ci95": [-0.9, 1.0]}
    text = fraction_text(near_zero)
    assert text.startswith("99.4 % [no interval") and "SNN - float -0.0 [-0.9, +1.0]" in text
    usual = {"network": "snn", "fraction_of_float": 0.956,
             "fraction_of_float_ci95": [0.853, 1.072], "difference_from_float": -20.0,
             "difference_from_float_ci95": [-70.0, 30.0]}
    assert fraction_text(usual) == "95.6 % [85.3, 107.2]"
    assert fraction_text({"network": "snn", "fraction_of_float": nan}) == "n/a"


def test_event_suites_refuse_observation_noise_and_count_no_condition_twice():
    """--noise on the event task perturbed the float DQN and the int8 ANN only (the SNN
    reads the events): "153.6 %" of float; its default suite had obs delay 1, the same
    condition as action delay 1 for a policy with no state across actions (identical rows
    for all three networks: an outsider)."""
    from neuroq.deploy.errors import NeuroqError

    env = "neuroq/DVSPanTrackingPooled-v0"
    with pytest.raises(NeuroqError, match="does not read"):
        suite(env, noise=[0.5], event_env=True)
    labels = [c.label for c in suite(env, physics={}, event_env=True)]
    assert labels == ["none", "action delay 1", "action delay 2", "dropped 0.1",
                      "dropped 0.25"], labels
    # a delay the action delays do not cover is still tried, and one asked for is kept
    assert "obs delay 1" in [c.label for c in suite(env, action_delay=[2], physics={},
                                                     event_env=True)]
    assert "obs delay 1" in [c.label for c in suite(env, observation_delay=[1], physics={},
                                                     event_env=True)]
    assert suite(env, noise=[], physics={}, event_env=True)  # none given: fine


def test_cartpole_v0_gets_cartpoles_physics_shifts():
    """An artifact for CartPole-v0 ran 8 conditions, no physics, though the env has
    CartPole's parameters (an outsider)."""
    physics = [c.label for c in suite("CartPole-v0", [], [], []) if c.kind == "physics"]
    assert physics == [c.label for c in suite("CartPole-v1", [], [], []) if c.kind == "physics"]
    assert len(physics) == 8


def test_seeds_a_stage_plays_are_no_held_out_seeds_in_result_json():
    """result.json wrote `held_out_seeds: [50000, 50004]` beside the note that said a
    stage plays them (a recheck): `episode_seeds` always, `held_out_seeds` only where no
    stage plays them."""
    from neuroq.agents.robustness import Robustness

    d = Robustness("CartPole-v1", "cartpole", 50_000, 5, {}).to_dict()
    assert d["episode_seeds"] == [50_000, 50_004] and "held_out_seeds" not in d
    d = Robustness("CartPole-v1", "cartpole", 1_000_000, 5, {}).to_dict()
    assert d["held_out_seeds"] == d["episode_seeds"] == [1_000_000, 1_000_004]


def test_a_delay_as_long_as_the_episodes_is_refused():
    """An outsider's --action-delay 100000 on CartPole (episodes of at most 500 steps)
    reported every network at the same return and "100.0 % [100.0, 100.0]": no action ever
    acted. Refused before anything runs."""
    from neuroq.agents.robustness import suite

    with pytest.raises(NeuroqError, match=r"--action-delay 100000 is as long as the episodes "
                                          r"played or longer \(CartPole-v1, at most 500 "
                                          r"steps\)"):
        suite("CartPole-v1", action_delay=[1, 100000])
    with pytest.raises(NeuroqError, match=r"--action-delay 50 .*at most 20 steps"):
        suite("CartPole-v1", action_delay=[50], max_steps=20)  # --max-steps (a recheck)
    with pytest.raises(NeuroqError, match="--obs-delay 500 is as long"):
        suite("CartPole-v1", action_delay=[], observation_delay=[500])
    assert [c.label for c in suite("CartPole-v1", noise=[], action_delay=[499], drop=[],
                                   physics={})] == ["none", "action delay 499"]


def test_noise_shaped_per_observation_value(artifact, tmp_path, capsys):
    """One sigma for every observation value (an outsider: a cart's position in m and its
    pole's angle in rad alike): --noise-shape weights each value's sigma. A weight of 0
    leaves its value as it was; the rows and the table name each value's sigma."""
    import gymnasium as gym

    from neuroq.agents.robustness import check_noise_shape

    (cond,) = suite("CartPole-v1", noise=[0.5], action_delay=[], drop=[], physics={},
                    noise_shape=[0, 1, 0, 2])[1:]
    assert cond.label == "obs noise 0.5 x shape" and cond.sigma == (0.0, 0.5, 0.0, 1.0)
    env = cond.wrappers[0](gym.make("CartPole-v1"))
    clean = gym.make("CartPole-v1")
    noisy, _ = env.reset(seed=3)
    obs, _ = clean.reset(seed=3)
    assert noisy[0] == obs[0] and noisy[2] == obs[2]  # weight 0: untouched
    assert noisy[1] != obs[1] and noisy[3] != obs[3]
    for shape, match in (([1, 1], "gives 2 weights; the observation has 4 values"),
                         ([0, 0, 0, 0], "one of them > 0"), ([1, -1, 1, 1], ">= 0"),
                         ([1, float("nan"), 1, 1], "finite")):
        with pytest.raises(NeuroqError, match=match):
            check_noise_shape(shape, 4)
    code = main(["robustness", str(artifact), "--episodes", "2", "--noise", "0.1",
                 "--noise-shape", "0,1,0,2", "--action-delay", "--drop", "--no-physics",
                 "--networks", "snn", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "obs noise 0.1 x shape: sigma per observation value 0, 0.1, 0, 0.2" in out
    (folder,) = (tmp_path / "CartPole-v1").iterdir()
    rows = json.loads((folder / "result.json").read_text())["rows"]
    assert [r.get("sigma_per_dimension") for r in rows] == [None, [0.0, 0.1, 0.0, 0.2]]
    assert "sigma per observation value" in (folder / "table.md").read_text()
    for argv, match in ((["--noise-shape", "1,1"], "the observation has 4 values"),
                        (["--noise", "1e300", "--noise-shape", "1e300,1,1,1"], "not finite"),
                        (["--noise", "--noise-shape", "1,1,1,1"], "is off")):
        assert main(["robustness", str(artifact), *argv]) == 2
        assert match in capsys.readouterr().err
