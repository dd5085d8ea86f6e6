"""load_policy backends, bad input, closed-loop evaluation and the eval/deploy commands."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroq.deploy.artifact import WEIGHTS_FILE, write_manifest
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.evaluate import evaluate
from neuroq.deploy.policy import ActionInfo, SpikingPolicy, load_policy
from neuroq.deploy.stats import worst_fraction_mean
from tests.helpers.networks import random_network, rate_encoder, save_cartpole_artifact

ROOT = Path(__file__).resolve().parents[1]
OBS = np.array([0.02, -0.3, 0.05, 0.4], np.float32)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return save_cartpole_artifact(tmp_path_factory.mktemp("chip") / "artifact")


def test_emulator_and_reference_backends_agree(artifact):
    emu, ref = load_policy(artifact), load_policy(artifact, backend="reference")
    a, b = emu.act(OBS), ref.act(OBS)
    assert isinstance(a, ActionInfo) and a.backend == "emulator"
    assert np.array_equal(a.q.view(np.uint32), b.q.view(np.uint32)) and a.action == b.action
    assert a.synaptic_events == b.synaptic_events and a.spikes == b.spikes
    assert a.chip_time_s == pytest.approx(8e-3) and b.chip_time_s is None
    assert 0 < a.energy_dynamic_j < a.energy_total_j and b.energy_total_j is None
    assert a.host_latency_s > 0
    obs = np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32) * 0.1
    assert np.array_equal(emu.act_batch(obs), ref.act_batch(obs))
    assert emu.act_batch(obs).dtype == np.int64
    batch = emu.run_batch(obs)
    assert np.array_equal(batch.q[3], emu.act(obs[3]).q)
    assert batch.energy_total_j[3] == pytest.approx(emu.act(obs[3]).energy_total_j)


@pytest.mark.parametrize("bad", [[np.nan, 0, 0, 0], [0, np.inf, 0, 0], [0, 0, 0],
                                 [[0, 0, 0, 0]], "abcd"])
def test_bad_observation_is_refused_and_state_survives(artifact, bad):
    pol = load_policy(artifact)
    before = pol.act(OBS)
    with pytest.raises(NeuroqError, match="observation"):
        pol.act(np.array(bad) if not isinstance(bad, str) else bad)
    after = pol.act(OBS)
    assert np.array_equal(before.q, after.q) and before.spikes == after.spikes
    with pytest.raises(NeuroqError, match="observation"):
        pol.act_batch(np.zeros((2, 5), np.float32))


def test_bad_artifact_paths_and_tampering(tmp_path, artifact):
    with pytest.raises(NeuroqError, match="missing does not exist"):
        load_policy(tmp_path / "missing")
    tampered = save_cartpole_artifact(tmp_path / "tampered")
    data = bytearray((tampered / WEIGHTS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tampered / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(NeuroqError, match="does not match its manifest"):
        load_policy(tampered)
    with pytest.raises(NeuroqError, match="performance level"):
        load_policy(artifact, performance_level="max")


def test_emulator_returns_equal_reference_returns(artifact):
    res = {b: evaluate(load_policy(artifact, backend=b), episodes=6, seed=3)
           for b in ("emulator", "reference")}
    assert res["emulator"]["returns"] == res["reference"]["returns"]
    assert res["emulator"]["actions"] == sum(res["emulator"]["returns"])  # CartPole: 1/step
    e = res["emulator"]
    assert e["modeled_per_action"]["energy_model"]["modeled"] is True
    assert e["modeled_per_action"]["energy_total_j"] > e["modeled_per_action"][
        "energy_dynamic_j"] > 0
    assert 0 < e["modeled_per_action"]["max_tick_load"] < 1
    assert res["reference"]["modeled_per_action"] is None
    assert e["counted_per_action"]["synaptic_events"] == res["reference"][
        "counted_per_action"]["synaptic_events"]


def test_network_too_big_for_the_chip_is_refused_when_loading():
    big = random_network((8, 2000, 2000, 2), timesteps=4, seed=1)
    with pytest.raises(NeuroqError, match=r"layer fc1 .*usable_pes_per_chip"):
        SpikingPolicy(big, rate_encoder(), backend="emulator")


def test_max_steps_caps_episodes(artifact):
    r = evaluate(load_policy(artifact), episodes=4, seed=0, max_steps=3)
    assert r["episode_length"]["max"] <= 3 and r["actions"] <= 12


def test_worst_fraction_mean():
    r = np.arange(100.0)
    assert worst_fraction_mean(r) == pytest.approx(2.0)  # mean of 0..4
    assert worst_fraction_mean([7.0, 1.0]) == 1.0


def run_cli(*args, cwd):
    code = ("import sys; from neuroq.agents.cli.main import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1",
                               "PATH": "/usr/bin:/bin"})


def test_eval_command_writes_result_without_torch(artifact, tmp_path):
    p = run_cli("eval", artifact, "--episodes", "5", "--out", tmp_path / "runs", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "[modeled]" in p.stdout and "[measured]" in p.stdout
    (result,) = (tmp_path / "runs" / "CartPole-v1").glob("eval-emulator-*/result.json")
    r = json.loads(result.read_text())
    for key in ("return_mean", "return_std", "return_worst5pct_mean", "measured",
                "counted_per_action", "modeled_per_action", "config"):
        assert key in r
    assert r["measured"]["host_latency_single_action_median_s"] > 0
    p = run_cli("eval", artifact, "--backend", "spinnaker2", cwd=tmp_path)
    assert p.returncode == 2 and "--board-ip" in p.stderr
    p = run_cli("eval", tmp_path / "nothing", cwd=tmp_path)
    assert p.returncode == 2 and "nothing does not exist" in p.stderr
    (tmp_path / "empty").mkdir()
    p = run_cli("eval", tmp_path / "empty", cwd=tmp_path)
    assert p.returncode == 2 and "no manifest.json" in p.stderr


def test_deploy_command_shows_placement(artifact, tmp_path):
    p = run_cli("deploy", artifact, "--target", "emulator", "--show-placement", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "lif_no_delay" in p.stdout and "of 148 usable PEs" in p.stdout
    assert "SRAM bytes" in p.stdout
    p = run_cli("deploy", artifact, "--target", "spinnaker2", "--board-ip", "10.1.2.3",
                cwd=tmp_path)
    assert p.returncode == 2 and "pip install git+" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_warm_runs_the_network_again_without_changing_any_action():
    """warm() between actions leaves every Q-value bit and count unchanged, with a
    stochastic (Poisson) encoder too (its generator is not drawn from); it runs only on the
    emulator and only after a first action."""
    from neuroq.deploy.encoders import PoissonEncoder
    from tests.helpers.networks import cartpole_network

    enc = rate_encoder()
    poisson = PoissonEncoder(center=tuple(enc.center), half_range=tuple(enc.half_range))
    obs = np.random.default_rng(3).normal(0.0, 0.5, (20, 4)).astype(np.float32)
    for encoder in (enc, poisson):
        plain, warmed = (SpikingPolicy(cartpole_network(), encoder, seed=7) for _ in range(2))
        assert warmed.warm() is False  # nothing to warm before the first action
        for k, x in enumerate(obs):
            a = plain.act(x)
            assert warmed.warm() is (k > 0)
            b = warmed.act(x)
            assert np.array_equal(a.q.view(np.uint32), b.q.view(np.uint32))
            assert (a.spikes, a.synaptic_events, a.chip_synaptic_events) == (
                b.spikes, b.synaptic_events, b.chip_synaptic_events)
    reference = SpikingPolicy(cartpole_network(), enc, backend="reference")
    reference.act(obs[0])
    assert reference.warm() is False


def test_an_artifact_whose_env_does_not_fit_its_network_is_refused_before_any_episode(
        tmp_path, monkeypatch):
    """A manifest whose env_id names another env (edited by hand): eval, robustness and
    the energy report refuse it in one line before playing anything, instead of failing
    on a shape inside the first step (robustness gave a numpy traceback)."""
    import shutil

    from neuroq.agents.energy.figures import EnergyConfig
    from neuroq.agents.energy.report import build_report
    from neuroq.agents.evaluate import evaluate_artifact
    from neuroq.agents.robustness import run_robustness
    from neuroq.deploy import rollout

    art = tmp_path / "acrobot_named"
    shutil.copytree(ROOT / "config" / "artifacts" / "cartpole", art)
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["env_id"] = "Acrobot-v1"
    write_manifest(art, manifest)

    def no_episode(*args, **kwargs):
        raise AssertionError("an episode was played")

    monkeypatch.setattr(rollout, "run_episodes", no_episode)
    calls = [lambda: evaluate_artifact(art, episodes=2, out=tmp_path / "runs"),
             lambda: run_robustness(art, episodes=2),
             lambda: build_report(EnergyConfig(artifact=str(art), episodes=2),
                                  say=lambda _: None)]
    for call in calls:
        with pytest.raises(NeuroqError, match=r"observes shape \[6\] with 3 actions"):
            call()
    rollout.check_artifact_env(json.loads(
        (ROOT / "config" / "artifacts" / "cartpole" / "manifest.json").read_text()))
    # sizes that fit, in spaces a Q-network cannot act in: train's own rule (an outsider's
    # Discrete(3, start=1) env was an AssertionError traceback in eval's first step)
    shifted = {"env_id": "tests.helpers.user_envs:ShiftedActionsEnv",
               "observation_space": {"shape": [2]}, "action_space": {"n": 2}}
    with pytest.raises(NeuroqError, match=r"starts at 1: a Q-network's actions are 0..n-1"):
        rollout.check_artifact_env(shifted)


def test_load_policy_refuses_a_bad_seed_and_names_board_ip_in_python_terms(artifact):
    for seed in (-1, 2**32, "abc", 1.5, True):
        with pytest.raises(NeuroqError, match="seed must be an integer"):
            load_policy(artifact, seed=seed)
    assert load_policy(artifact, seed=np.int64(7)).act(OBS).action in (0, 1)
    with pytest.raises(NeuroqError, match="board_ip"):
        load_policy(artifact, backend="spinnaker2")


def test_what_is_wrong_with_an_artifact_path_is_said_as_it_is(tmp_path):
    from neuroq.deploy.artifact import read_manifest

    graph = ROOT / "config" / "artifacts" / "cartpole" / WEIGHTS_FILE
    cases = [("", "artifact: an empty path"),
             (tmp_path / "nothing", "does not exist"),
             (ROOT / "README.md", r"is a file, not an artifact folder \(a folder holding"),
             (tmp_path, "is not an artifact: it has no manifest.json")]
    for path, message in cases:
        with pytest.raises(NeuroqError, match=message) as err:
            read_manifest(path)
        assert "neuroq import" not in str(err.value)
    with pytest.raises(NeuroqError, match="becomes an artifact with `neuroq import"):
        read_manifest(graph)  # an HDF5 file: the NIR import hint
    plain = tmp_path / "graph.bin"
    plain.write_bytes(graph.read_bytes())  # HDF5 by its signature, whatever its name
    with pytest.raises(NeuroqError, match="neuroq import"):
        read_manifest(plain)


def test_an_energy_baseline_for_another_env_is_refused_before_step_one(monkeypatch):
    """`neuroq energy A --baseline B` with B for another env ran all six steps first."""
    from neuroq.agents.energy import report
    from neuroq.agents.energy.figures import EnergyConfig

    def no_run(*args, **kwargs):
        raise AssertionError("step 1 ran before the baseline was checked")

    monkeypatch.setattr(report, "run_snn", no_run)
    arts = ROOT / "config" / "artifacts"
    with pytest.raises(NeuroqError, match="is for Acrobot-v1, the artifact for CartPole-v1"):
        report.build_report(EnergyConfig(artifact=str(arts / "cartpole"), episodes=2,
                                         baseline=str(arts / "acrobot")), say=lambda _: None)
