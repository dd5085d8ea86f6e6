"""`neuroq energy`: metrics by hand, the int8 ANN, power counters, and the whole report
with power counters, GPU and train run missing (rows unavailable, never invented)."""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pytest

from neuroq.agents.energy import measure as em
from neuroq.agents.energy import metrics
from neuroq.agents.energy.compare import compare_published
from neuroq.agents.energy.figures import PROVENANCES, EnergyConfig, Report
from neuroq.agents.energy.render import PLOTS, write_report
from neuroq.agents.energy.report import build_report
from neuroq.agents.int8_ann import quantize_mlp
from neuroq.agents.mlp import FloatMLP
from neuroq.deploy.artifact import save_artifact, write_manifest
from neuroq.deploy.compiler import compile_program
from neuroq.deploy.emulator import Emulator
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import Layer, SpikingQNetwork, run_reference
from neuroq.deploy.neuron import make_params
from tests.helpers.networks import CARTPOLE_LIKE_OBS, random_network, rate_encoder

#: The shipped CartPole artifact (its float_dqn.npz is the float DQN it came from).
SHIPPED = Path(__file__).resolve().parent.parent / "config" / "artifacts" / "cartpole"

# --- metrics on a tiny network, by hand ----------------------------------------------------------


def tiny_network() -> SpikingQNetwork:
    """2 inputs -> 2 IF neurons (threshold 2) -> 2 outputs, T = 4."""
    hidden = Layer("fc0", np.array([[2, 0], [1, 3]], np.int8), 1.0, make_params(2, 2.0))
    out = Layer("fc1", np.array([[1, -1], [0, 2]], np.int8), 1.0, make_params(2), False)
    return SpikingQNetwork((hidden, out), timesteps=4, q_scale=0.5)


def tiny_input() -> np.ndarray:
    """Input 0 fires in steps 0 and 1, input 1 in step 0; steps 2, 3 silent."""
    s = np.zeros((4, 1, 2), bool)
    s[0, 0] = [True, True]
    s[1, 0, 0] = True
    return s


def test_snn_metrics_by_hand():
    # step 1: I = W0 [1,1] = [2,4] -> both fire, v = [0,2]
    # step 2: I = W0 [1,0] = [2,1] -> v = [2,3], both fire, v = [0,1];
    #         output gets W1 [1,1] = [0,2]
    # step 3: no input; hidden v = [0,1] silent; output gets [0,2] again -> v_out = [0,4]
    net, spikes = tiny_network(), tiny_input()
    ref = run_reference(net, spikes)
    assert ref.v_out.tolist() == [[0.0, 4.0]]
    assert [c.tolist() for c in ref.spike_counts] == [[[2, 1]], [[2, 2]]]
    # non-zero fan-out: W0 columns (2 and 1), W1 columns (1 and 2)
    assert metrics.nonzero_fanout(net.layers[0].weight).tolist() == [2, 1]
    delivered = [np.array([[2, 1]]), np.array([[2, 2]])]  # nothing fires in the last step
    acs = metrics.snn_effective_acs(net, delivered)
    assert acs.tolist() == [2 * 2 + 1 * 1 + 2 * 1 + 2 * 2]  # 11
    # the emulator counts the same events (spikes delivered x non-zero weights on chip)
    emu = Emulator(compile_program(net)).run(spikes)
    assert int(emu.events_per_pe.sum()) == 11
    assert int(emu.synaptic_events[0]) == 3 * 2 + 4 * 2  # dense definition: zeros included
    assert metrics.spiking_sparsity(np.array([3]), 2, 4) == pytest.approx(1 - 3 / 8)
    assert metrics.spiking_sparsity(np.array([4]), 2, 4) == pytest.approx(0.5)
    # 8 int8 weights + 4 neurons x 4 float32 parameters + q_scale
    assert metrics.snn_footprint_bytes(net) == 8 + 4 * 16 + 4


def test_ann_metrics_by_hand():
    w1 = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    w2 = np.array([[1.0, 1.0]])
    x = np.array([[0.5, 0.0, -1.0]])
    h = np.array([[0.0, 2.0]])
    # layer 1: inputs 0 and 2 are non-zero, reaching 1 and 2 non-zero weights: 3 MACs
    # layer 2: only hidden 1 is non-zero, reaching 1 weight: 1 MAC
    assert metrics.ann_effective_macs([w1, w2], [x, h]).tolist() == [4]
    assert metrics.activation_sparsity(h) == 0.5
    assert metrics.float_mlp_footprint_bytes((3, 2, 1)) == (6 + 2 + 2 + 1) * 4
    assert metrics.int8_mlp_footprint_bytes((3, 2, 1)) == (6 + 2) + (2 + 1) * 4 + (3 + 3) * 4
    assert metrics.op_energy_estimate_j(4, 0) == pytest.approx(4 * 4.6e-12)
    assert metrics.op_energy_estimate_j(0, 10, "int") == pytest.approx(10 * 0.1e-12)
    with pytest.raises(NeuroqError, match="convention"):
        metrics.op_energy_estimate_j(1, 1, "fp64")


def test_int8_ann_follows_the_float_network():
    rng = np.random.default_rng(3)
    mlp = FloatMLP((rng.normal(size=(32, 4)).astype(np.float32),
                    rng.normal(size=(2, 32)).astype(np.float32) / 4),
                   (rng.normal(size=32).astype(np.float32) / 4, np.zeros(2, np.float32)))
    x = rng.normal(size=(2000, 4)).astype(np.float32)
    q8 = quantize_mlp(mlp, x)
    assert all(w.dtype == np.int8 for w in q8.weights)
    ins, q = q8.layer_inputs(x)
    assert ins[0].dtype == np.int8 and ins[1].dtype == np.uint8  # ReLU outputs: uint8
    qf = mlp.q(x)
    assert np.corrcoef(q[:, 0], qf[:, 0])[0, 1] > 0.99
    gap = np.abs(qf[:, 0] - qf[:, 1])
    clear = gap > 0.1 * gap.std()  # actions the float net decides with a margin
    assert np.mean(q[clear].argmax(1) == qf[clear].argmax(1)) > 0.97


def test_torch_copy_of_the_float_dqn_acts_as_it_does():
    """The report times the float DQN with torch: `torch_mlp` must be the same network, for
    the shipped float_dqn.npz and for a random 3-layer MLP."""
    import torch

    from neuroq.agents.energy.runs import torch_act
    from neuroq.agents.mlp import load_mlp_file, torch_mlp

    rng = np.random.default_rng(5)
    random = FloatMLP((rng.normal(size=(16, 4)).astype(np.float32),
                       rng.normal(size=(16, 16)).astype(np.float32),
                       rng.normal(size=(3, 16)).astype(np.float32)),
                      tuple(rng.normal(size=n).astype(np.float32) for n in (16, 16, 3)))
    obs = np.concatenate([CARTPOLE_LIKE_OBS, rng.normal(size=(2000, 4)).astype(np.float32)])
    for mlp in (load_mlp_file(SHIPPED / "float_dqn.npz"), random):
        seq = torch_mlp(mlp)
        assert [type(m).__name__ for m in seq] == ["Linear", "ReLU"] * (
            len(mlp.weights) - 1) + ["Linear"]
        with torch.no_grad():
            q = seq(torch.from_numpy(obs)).numpy()
        np.testing.assert_allclose(q, mlp.q(obs), rtol=1e-5, atol=1e-5)
        batch, single = torch_act(seq)
        np.testing.assert_array_equal(batch(obs), mlp.act(obs))
        assert [single(o) for o in obs[:50]] == list(mlp.act(obs[:50]))


# --- power counters ------------------------------------------------------------------------------


def test_rapl_missing_and_unreadable(tmp_path):
    assert not em.RaplMeter(tmp_path / "nothing").status.available
    bad = tmp_path / "powercap" / "intel-rapl:0"
    bad.mkdir(parents=True)
    (bad / "energy_uj").write_text("not a number\n")
    status = em.RaplMeter(tmp_path / "powercap").status
    assert not status.available and "not readable" in status.reason
    m = em.measure_cpu(lambda o: None, np.zeros((30, 4), np.float32),
                       em.RaplMeter(tmp_path / "nothing"))
    assert m.energy_provenance == "estimate" and "RAPL unavailable" in m.energy_source
    assert m.energy_j == pytest.approx(np.median(m.latencies_s) * em.CPU_CORE_POWER_ESTIMATE_W)


def test_rapl_counter_gives_measured_energy(tmp_path, monkeypatch):
    monkeypatch.setattr(em, "IDLE_WINDOW_S", 0.01)
    dom = tmp_path / "intel-rapl:0"
    dom.mkdir()
    counter = dom / "energy_uj"
    counter.write_text("1000\n")
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-domain: not summed again

    def act(o):  # every action costs exactly 500 uJ; idle costs nothing
        counter.write_text(f"{int(counter.read_text()) + 500}\n")

    meter = em.RaplMeter(tmp_path)
    assert meter.status.available and [p.name for p in meter.domains] == ["intel-rapl:0"]
    m = em.measure_cpu(act, np.zeros((40, 4), np.float32), meter)
    assert m.energy_provenance == "measured"
    assert m.energy_j == pytest.approx(500e-6, rel=0.05)  # idle power x time is ~0


# --- the whole report ----------------------------------------------------------------------------


def _artifact(path, timesteps=8, provenance=None):
    net = random_network((8, 16, 8, 2), timesteps=timesteps, seed=1)
    manifest = {"env_id": "CartPole-v1", "observation_space": {"shape": [4]},
                "action_space": {"n": 2},
                "provenance": provenance or {"train_run": "runs/CartPole-v1/train-missing"}}
    save_artifact(path, net, rate_encoder(), manifest)
    return path


@pytest.fixture(scope="module")
def bare_report(tmp_path_factory):
    """A report where RAPL, GPU and the train run are all missing, with a baseline."""
    tmp = tmp_path_factory.mktemp("energy")
    art = _artifact(tmp / "art", timesteps=8)
    _artifact(tmp / "convert-run" / "artifact", timesteps=16)
    mp = pytest.MonkeyPatch()
    mp.setattr(em, "gpu_availability", lambda: em.Availability(False, "simulated: no GPU"))
    cfg = EnergyConfig(str(art), episodes=3, latency_samples=30, sweep=(4, 8),
                       sweep_episodes=2, baseline=str(tmp / "convert-run"),
                       powercap_root=tmp / "no-powercap")
    try:
        rep = build_report(cfg, say=lambda msg: None)
    finally:
        mp.undo()
    paths = write_report(rep, tmp / "out", tensorboard=True)
    return rep, paths


def test_report_has_every_section_and_plot(bare_report):
    rep, paths = bare_report
    md = paths["markdown"].read_text()
    for heading in ("## 1. Energy and latency per action by platform",
                    "## 2. SpiNNaker2 model at each performance level",
                    "## 3. NeuroBench-style metrics", "## 4. Return against T",
                    "## 5. Spikes per layer", "## 6. Comparisons",
                    "## 7. Unavailable figures and why", "## 8. Sources"):
        assert heading in md
    for name in PLOTS.values():
        assert (paths["markdown"].parent / name).read_bytes()[:4] == b"\x89PNG"
        assert f"]({name})" in md
    assert list(paths["tensorboard"].glob("events.out.tfevents.*"))


def _row(md: str, start: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(start))


def test_missing_counters_gpu_and_train_run_are_unavailable(bare_report):
    rep, paths = bare_report
    md = paths["markdown"].read_text()
    for start in ("| this CPU | float DQN", "| this CPU | int8 ANN", "| GPU (NVML)"):
        row = _row(md, start)
        cells = [c.strip() for c in row.split("|")[1:-1]]
        # latency and energy unavailable; the kind says why (it was empty: an outsider)
        assert cells[2:4] == ["unavailable", "unavailable"] and "[measured]" not in row, row
        assert cells[4].startswith("unavailable: ") and len(cells[4]) > 20, row
    assert "[estimate]" in _row(md, "| this CPU | spiking network")
    assert "[measured]" in _row(md, "| this CPU | spiking network")  # its latency
    # quoted from a summary of the paper: said so (an outsider read "[published]" as the
    # paper's own table)
    assert "145 mJ [published, via a summary]" in _row(md, "| GTX 1650")
    assert "[modeled]" in _row(md, "| SpiNNaker2 low (150 MHz, 0.5 V) | baseline")
    assert "[modeled]" in _row(md, "| SpiNNaker2 low")
    assert "simulated: no GPU" in md and "no finished train run" in md
    assert ("**(d) SpiNNaker2 against the GPU measured here** - not compared: no GPU measured "
            "here. The GPU row has no measured energy (simulated: no GPU)") in md
    assert "RAPL unavailable" in md
    for key in ("cpu.float_dqn.energy_j", "gpu.energy_j", "int8_ann.return_mean"):
        f = rep.get(key)
        assert f.value is None and f.provenance == "unavailable" and f.source


def test_every_figure_says_where_it_came_from(bare_report):
    _, paths = bare_report
    data = json.loads(paths["json"].read_text())
    assert len(data["figures"]) > 40
    for f in data["figures"]:
        assert f["provenance"] in PROVENANCES, f
        assert f["on"] and f["source"] and f["unit"], f
        assert (f["value"] is None) == (f["provenance"] == "unavailable"), f
        if f["key"].startswith(("spinnaker2.", "baseline.spinnaker2.")) and f["value"]:
            assert f["provenance"] in ("modeled", "counted"), f  # no chip: nothing measured
    for row in data["return_vs_timesteps"]:
        assert row["provenance"]["energy"].startswith("modeled")
    assert data["main_table"]["rows"]
    for row in data["main_table"]["rows"]:
        assert row[3] == "unavailable" or row[3].endswith(
            ("[measured]", "[counted]", "[modeled]", "[published]",
             "[published, via a summary]", "[estimate]")), row


def test_figures_agree_with_the_runs(bare_report):
    rep, _ = bare_report
    # the T sweep at the artifact's T reproduces the main run's modeled energy per action
    # only up to the episodes run; but the chip time follows T x sys_tick exactly
    assert rep.value("spinnaker2.low.chip_time_s") == pytest.approx(8e-3)
    assert rep.value("spinnaker2.high.energy_dynamic_j") > rep.value(
        "spinnaker2.low.energy_dynamic_j")
    assert rep.value("spinnaker2.low.energy_total_j") > rep.value(
        "spinnaker2.low.energy_dynamic_j")
    assert rep.value("neurobench.snn.effective_acs") == rep.value("spinnaker2.synaptic_events")
    b = rep.comparisons["plain_conversion"]
    assert b["baseline_timesteps"] == 16 and b["timesteps"] == 8
    assert b["ratio_total"] == pytest.approx(
        rep.value("baseline.spinnaker2.low.energy_total_j")
        / rep.value("spinnaker2.low.energy_total_j"))
    assert b["ratio_total"] > 1.8  # 16 vs 8 steps of whole-chip static power
    tol = 0.05 * max(abs(b["baseline_return_mean"]), 1.0)
    assert b["return_not_lower"] == (b["return_mean"] >= b["baseline_return_mean"] - tol)
    # equal both ways (it was "not lower" alone: true for 500 against 56.7, an outsider)
    assert b["equal_return"] == (abs(b["return_mean"] - b["baseline_return_mean"]) <= tol)
    assert [r["timesteps"] for r in rep.sweep] == [4, 8]


def test_published_comparison_per_environment():
    rep = Report({}, {})
    rep.add("spinnaker2.low.energy_total_j", 2e-3, "J", "modeled", "x", "y")
    rep.add("spinnaker2.low.energy_total_with_host_io_j", 3e-3, "J", "modeled", "x", "y")
    rep.add("spinnaker2.low.chip_time_s", 8e-3, "s", "modeled", "x", "y")
    cart = compare_published(rep, "CartPole-v1")
    # a model is compared with the published figures, never said to reproduce them (an
    # outsider: "reproduced" held for any model figure under the published 6 mJ)
    assert cart["status"] == "compared, not reproduced (modeled; no board)"
    assert cart["model_ratio_chip"] == pytest.approx(72.5)
    assert cart["model_to_published_with_host_io"] == pytest.approx(0.5)
    # 2 mJ over 8 ms: 0.25 W static; the published 6 mJ at 24 ms, 16 ms of host I/O
    assert cart["host_io_s_at_published"] == pytest.approx(0.016)
    assert "16.0 ms per run the modeled figure equals the published one" in cart["text"]
    assert "published" in cart["text"] and "modeled" in cart["text"].lower()
    assert compare_published(rep, "Acrobot-v1")["status"].startswith("not checked")
    assert compare_published(rep, "MountainCar-v0")["status"] == "not applicable"
    empty = Report({}, {})
    assert compare_published(empty, "CartPole-v1")["status"] == "not compared: no modeled figure"


def test_missing_artifact_is_one_line_error(tmp_path, capsys):
    from neuroq.agents.cli import energy as energy_cmd
    from neuroq.agents.cli import main as cli

    assert cli.COMMANDS["energy"] == "neuroq.agents.cli.energy"
    assert cli.main(["energy", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    p = argparse.ArgumentParser()
    energy_cmd.add_arguments(p)
    args = p.parse_args([str(tmp_path / "nope")])
    t0 = time.perf_counter()
    with pytest.raises(NeuroqError) as exc:
        energy_cmd.run(args)
    assert "does not exist" in str(exc.value) and "\n" not in str(exc.value)
    assert time.perf_counter() - t0 < 5


def test_float_dqn_int8_ann_and_plain_conversion_from_provenance(tmp_path, monkeypatch):
    """The train and convert runs named in the provenance give the float DQN and int8 ANN
    rows (measured) and the plain-conversion baseline of comparison (b)."""
    from stable_baselines3 import DQN

    train = tmp_path / "runs" / "CartPole-v1" / "train-seed0-x"
    train.mkdir(parents=True)
    DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [16]}, device="cpu",
        seed=0).save(train / "best_model.zip")
    (train / "result.json").write_text(json.dumps({"env_id": "CartPole-v1",
                                                   "model": "best_model.zip"}))
    conv = tmp_path / "runs" / "CartPole-v1" / "convert-x"
    conv.mkdir()
    np.save(conv / "observations.npy", CARTPOLE_LIKE_OBS)
    enc = rate_encoder()
    (conv / "result.json").write_text(json.dumps({"stage": "convert",
                                                  "encoder": {**enc.to_dict(), "silent_tail": 2},
                                                  "percentile": 99.9}))
    net = random_network((8, 16, 2), timesteps=6, seed=4)
    save_artifact(tmp_path / "art", net, enc, {
        "env_id": "CartPole-v1", "observation_space": {"shape": [4]}, "action_space": {"n": 2},
        "provenance": {"train_run": "runs/CartPole-v1/train-seed0-x",
                       "convert_run": "runs/CartPole-v1/convert-x"}})
    monkeypatch.chdir(tmp_path)  # provenance paths are relative to the repository root
    monkeypatch.setattr(em, "gpu_availability", lambda: em.Availability(False, "no GPU"))
    rep = build_report(EnergyConfig(str(tmp_path / "art"), episodes=2, latency_samples=20,
                                    sweep=(6,), sweep_episodes=1,
                                    powercap_root=tmp_path / "none"), say=lambda m: None)
    assert rep.header["train_run"].endswith("train-seed0-x")
    assert rep.header["float_dqn_source"] == rep.header["train_run"]  # no float_dqn.npz
    for key in ("cpu.float_dqn.latency_median_s", "cpu.int8_ann.latency_median_s",
                "float_dqn.return_mean", "int8_ann.return_mean"):
        assert rep.get(key).provenance == "measured" and rep.value(key) > 0, key
    assert rep.get("cpu.int8_ann.energy_j").provenance == "estimate"
    # a 4-16-2 float MLP: footprint (4*16 + 16 + 16*2 + 2) float32 values
    assert rep.value("neurobench.float_dqn.footprint_bytes") == (64 + 16 + 32 + 2) * 4
    assert 0 < rep.value("neurobench.int8_ann.effective_macs") <= 4 * 16 + 16 * 2
    b = rep.comparisons["plain_conversion"]
    assert b["status"] != "not made" and "plain conversion" in b["baseline"]
    assert b["search"] and b["search"][0]["timesteps"] == 8
    assert b["ratio_dynamic"] == pytest.approx(
        rep.value("baseline.spinnaker2.low.energy_dynamic_j")
        / rep.value("spinnaker2.low.energy_dynamic_j"))


def test_energy_on_the_shipped_artifact_uses_its_float_dqn(tmp_path, capsys):
    """A fresh clone has no run folders: `neuroq energy` on a shipped artifact reads the
    float DQN from its float_dqn.npz (it said 'float DQN unavailable: no finished train
    run ...'), so the float DQN and int8 ANN rows are measured, and the plain conversion is
    made from that float DQN with the artifact's encoder. Given as its manifest.json, the
    report names the artifact as given (as eval and robustness do), not its folder."""
    from neuroq.agents.cli.main import main

    given = str(SHIPPED / "manifest.json")
    code = main(["energy", given, "--episodes", "2", "--latency-samples", "20",
                 "--sweep", "4", "--sweep-episodes", "1", "--max-steps", "50", "--no-gpu",
                 "--no-tensorboard", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    npz = str(SHIPPED / "float_dqn.npz")
    assert f"float DQN: {npz}" in err and "float DQN unavailable" not in err
    data = json.loads(next(tmp_path.rglob("report.json")).read_text())
    assert data["header"]["float_dqn_source"] == npz
    assert data["header"]["artifact"] == given
    assert data["header"]["train_run"] is None  # not read from a train run
    figures = {f["key"]: f for f in data["figures"]}
    for key in ("float_dqn.return_mean", "int8_ann.return_mean",
                "cpu.float_dqn.latency_median_s", "cpu.float_dqn_numpy.latency_median_s",
                "cpu.int8_ann.latency_median_s"):
        assert figures[key]["provenance"] == "measured" and figures[key]["value"] > 0, key
    # the same weights in numpy too, with the chip set against it (torch's per-call cost
    # alone made the CPU 3.5 times costlier: an outsider)
    assert "float_dqn_numpy" in data["comparisons"]["this_cpu"], data["comparisons"]
    # arithmetic on the network, not a measurement (an outsider found it marked measured)
    assert figures["neurobench.int8_ann.effective_macs"]["provenance"] == "counted"
    assert figures["neurobench.int8_ann.effective_macs"]["value"] > 0
    assert npz in figures["float_dqn.return_mean"]["on"]
    assert figures["float_dqn.return_mean"]["value"] == 50.0  # --max-steps 50: balanced
    for row in ("this CPU: float DQN (torch fp32)", "this CPU: float DQN (numpy fp32)",
                "this CPU: int8 ANN (numpy)"):
        line = next(x for x in out.splitlines() if x.startswith(row))
        assert "unavailable" not in line and "[measured]" in line, line
    b = data["comparisons"]["plain_conversion"]
    assert b["status"] != "not made", b["text"]
    assert b["baseline"].startswith(f"plain conversion of {npz} at T = ")
    assert "the artifact's encoder" in b["baseline"]
    assert b["search"] and b["search"][0]["timesteps"] == 8


class FakeNvml:
    """pynvml stand-in: idle 50 W, 60 W while anything has started (energy in mJ)."""

    IDLE_W, BUSY_W = 50.0, 60.0

    def __init__(self):
        self.t0 = None

    def nvmlInit(self):
        pass

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return b"Fake GPU"

    def nvmlDeviceGetPowerUsage(self, h):
        return int(self.IDLE_W * 1000)  # milliwatts

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        now = time.perf_counter()
        if self.t0 is None:
            self.t0 = now
        return (now - self.t0) * self.BUSY_W * 1000  # millijoules since the first read


def test_gpu_measurement_subtracts_idle_power(monkeypatch):
    import sys

    import torch

    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    status = em.gpu_availability()
    assert not status.available and "no CUDA" in status.reason
    monkeypatch.setattr(em, "GPU_TORCH_DEVICE", "cpu")
    monkeypatch.setattr(em, "GPU_MIN_ACTIONS", 200)
    monkeypatch.setattr(em, "GPU_MIN_WINDOW_S", 0.2)
    monkeypatch.setattr(em, "IDLE_WINDOW_S", 0.05)
    rng = np.random.default_rng(0)
    g = em.measure_gpu(FloatMLP((rng.normal(size=(8, 4)).astype(np.float32),
                                 rng.normal(size=(2, 8)).astype(np.float32)),
                                (np.zeros(8, np.float32), np.zeros(2, np.float32))),
                       rng.normal(size=(50, 4)).astype(np.float32))
    assert g.device == "Fake GPU" and g.idle_power_w == 50.0 and g.actions >= 200
    # (60 W - 50 W) x window / actions: the window holds every timed action and lasts at
    # least GPU_MIN_WINDOW_S, plus a little loop overhead
    lo = 10.0 * g.latencies_s.sum() / g.actions
    hi = 10.0 * max(0.2, g.latencies_s.sum()) * 1.5 / g.actions
    assert lo * 0.99 <= g.energy_j <= hi


def test_network_that_does_not_fit_the_chip_has_no_chip_figures(tmp_path, monkeypatch):
    """No modeled energy (the compiler refuses the network): every SpiNNaker2 row is
    unavailable with the compiler's reason, and the report still comes out."""
    import neuroq.deploy.compiler

    def refuse(network, *a, **k):
        raise NeuroqError("layer fc0 needs 200 PEs, the chip has 148 (simulated)")

    monkeypatch.setattr(neuroq.deploy.compiler, "compile_program", refuse)
    monkeypatch.setattr(em, "gpu_availability", lambda: em.Availability(False, "no GPU"))
    art = _artifact(tmp_path / "art")
    rep = build_report(EnergyConfig(str(art), episodes=2, latency_samples=10, sweep=(8,),
                                    sweep_episodes=1, powercap_root=tmp_path / "none"),
                       say=lambda m: None)
    paths = write_report(rep, tmp_path / "out", tensorboard=False)
    md = paths["markdown"].read_text()
    for lv in ("low", "high"):
        f = rep.get(f"spinnaker2.{lv}.energy_total_j")
        assert f.value is None and "does not fit the chip" in f.source
    row = _row(md, "| SpiNNaker2 low")
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2:4] == ["unavailable", "unavailable"] and "[modeled]" not in row
    assert "does not fit the chip" in cells[4], row
    assert rep.comparisons["published_gpu"]["status"] == "not compared: no modeled figure"
    assert rep.value("snn.return_mean") is not None  # still run, on the reference model
    assert rep.get("cpu.snn_emulator.latency_median_s").on.startswith("this CPU (spiking "
                                                                      "network, reference")
    assert "energy_total_j" not in rep.sweep[0] and "unavailable" in md
    # no float DQN and no convert run: no baseline, and the comparison says exactly why
    b = rep.comparisons["plain_conversion"]
    assert b["status"] == "not made" and ("no float DQN to convert (no float_dqn.npz in the "
                                          "artifact and no finished train run") in b["text"]


# --- the plain-conversion baseline: its neuron reset, its recording seeds, its status -----------


def _mlp_4_16_2(seed=0) -> FloatMLP:
    rng = np.random.default_rng(seed)
    return FloatMLP((rng.normal(size=(16, 4)).astype(np.float32),
                     rng.normal(size=(2, 16)).astype(np.float32)),
                    (np.abs(rng.normal(size=16)).astype(np.float32),
                     np.zeros(2, np.float32)))


@pytest.mark.parametrize("reset,compare_op", [("reset_by_subtraction", ">="),
                                              ("reset_to_v_reset", ">="),
                                              ("reset_by_subtraction", ">")])
def test_the_plain_conversion_keeps_the_artifacts_neuron_reset(tmp_path, monkeypatch, reset,
                                                                compare_op):
    """plain_conversion called convert without reset=, so an artifact converted with
    `--reset subtract` was compared with a conversion resetting to v_reset; nor with the
    artifact's threshold comparison (an imported network may use >). It records its
    observations with seed 0 whatever --seed is (--seed 870 recorded on the export gate's
    seeds)."""
    import neuroq.agents.convert
    from neuroq.agents.energy import compare
    from neuroq.agents.energy.runs import FloatDqn, plain_conversion
    from neuroq.deploy.artifact import load_artifact

    net = random_network((8, 16, 2), timesteps=8, seed=3, reset=reset, compare=compare_op)
    save_artifact(tmp_path / "art", net, rate_encoder(), {
        "env_id": "CartPole-v1", "observation_space": {"shape": [4]},
        "action_space": {"n": 2}, "provenance": {"made_by": "this test"}})
    art = load_artifact(tmp_path / "art")
    seeds_used = []

    def record(mlp, env_id, n, seed, *a, **k):
        seeds_used.append(seed)
        return CARTPOLE_LIKE_OBS

    monkeypatch.setattr(neuroq.agents.convert, "record_observations", record)
    got = []
    monkeypatch.setattr(compare, "add_plain_conversion_baseline",
                        lambda rep, cfg, dqn, inputs, run, say: got.append(inputs))
    compare.add_baseline(Report({}, {}), EnergyConfig(str(tmp_path / "art"), seed=870), art,
                         FloatDqn(_mlp_4_16_2(), "test"), "", None, lambda m: None)
    (inputs,) = got
    assert seeds_used == [0]  # RECORD_BASE + i, the recording range, not 870's
    assert inputs.reset == reset and f"reset ({reset})" in inputs.origin
    assert inputs.compare == compare_op and f"comparison ({compare_op})" in inputs.origin
    plain = plain_conversion(inputs, _mlp_4_16_2(), 8)
    assert [layer.params.reset.value for layer in plain.layers if layer.spiking] == [reset]
    assert [layer.params.compare.value for layer in plain.layers if layer.spiking] == [
        compare_op]


@pytest.mark.parametrize("config,reset", [
    ("reset: subtract\n", "reset_by_subtraction"),
    ("reset: zero\n", "reset_to_v_reset"),
    ("percentile: 99.0\n", "reset_by_subtraction"),  # before --reset: every run subtracted
    (None, "reset_by_subtraction"),
])
def test_a_convert_runs_reset_comes_from_its_config(tmp_path, config, reset):
    from neuroq.agents.energy.runs import conversion_inputs_of_run, plain_conversion

    conv = tmp_path / "convert-x"
    conv.mkdir()
    np.save(conv / "observations.npy", CARTPOLE_LIKE_OBS)
    (conv / "result.json").write_text(json.dumps({"encoder": rate_encoder().to_dict(),
                                                  "percentile": 99.9}))
    if config is not None:
        (conv / "config.yaml").write_text(config)
    inputs = conversion_inputs_of_run(conv)
    assert inputs.reset == reset and f"reset ({reset})" in inputs.origin
    plain = plain_conversion(inputs, _mlp_4_16_2(), 8)
    assert [layer.params.reset.value for layer in plain.layers if layer.spiking] == [reset]


def _fake_run(returns, dynamic_j, total_j, timesteps, cut_episodes=0, episodes=20):
    """A run whose `returns` repeat over `episodes` episodes (enough for a verdict)."""
    from types import SimpleNamespace

    n = max(len(returns), episodes)
    return SimpleNamespace(
        returns=np.resize(np.asarray(returns, float), n), compile_error=None,
        cut_episodes=cut_episodes,
        network=SimpleNamespace(timesteps=timesteps),
        energy={("low", "chip"): {"dynamic_j": np.full(n, dynamic_j),
                                  "total_j": np.full(n, total_j)}})


def _search(*rows):
    return [{"timesteps": t, "return_mean": r, "episodes": 2, "reaches_return": ok,
             "provenance": "measured"} for t, r, ok in rows]


NOT_KNOWN = "(ratio at equal return not known)"


@pytest.mark.parametrize("base_returns,search,base_j,status,in_text,not_in_text", [
    # the baseline falls short, no search (a --baseline): both ratios above 1
    ([300.0], None, (3e-6, 2e-3),
     f"dynamic 3.00x below, total 2.00x below a baseline that does not reach the "
     f"artifact's return {NOT_KNOWN}",
     ["returns more for less energy"], ["search below", "screen"]),
    # searched, no T reached it; more dynamic energy than the baseline
    ([300.0], [(8, 200.0, False), (16, 300.0, False)], (0.8e-6, 2e-3),
     f"dynamic 1.25x above, total 2.00x below a plain conversion that does not reach the "
     f"artifact's return at any T tried {NOT_KNOWN}",
     ["see the search below", "No T tried (up to T = 16)"], ["for less energy"]),
    # reached in the screen (2 episodes), not over the full episodes
    ([300.0, 310.0], [(8, 200.0, False), (16, 500.0, True)], (3e-6, 2e-3),
     f"dynamic 3.00x below, total 2.00x below a plain conversion that reached the "
     f"artifact's return in the screen but not over the full episodes {NOT_KNOWN}",
     ["T = 16 reached the artifact's return over the screen's 2 episodes (500.0) but not "
      "over the full 2", "returns more for less energy"], ["No T tried"]),
    # equal return: the target
    ([500.0], [(16, 500.0, True)], (3e-6, 2e-3), "met", [], ["not known"]),
    ([500.0], [(16, 500.0, True)], (3e-6, 1.5e-3), "met for dynamic energy only", [], []),
    # equal over the report's episodes, short in the screen: said (an outsider's nav
    # report read "met" from 2 episodes against a screen that had every T short)
    ([490.0], [(8, 300.0, False), (16, 450.0, False)], (3e-6, 2e-3),
     "met (equal return over the report's episodes only: the search's screen had every T "
     "short of it; more episodes decide)", [], []),
    # the artifact returns less
    ([600.0], None, (3e-6, 2e-3), "not met (the artifact's return is lower)",
     ["does not count"], []),
])
def test_the_baseline_comparison_says_what_it_is(base_returns, search, base_j, status,
                                                 in_text, not_in_text):
    """With a baseline short of the artifact's return the status said "met (the artifact
    also has the higher return)", though the ratio at equal return is not known."""
    from neuroq.agents.energy.compare import compare_baseline

    rep = Report({}, {})
    if search is not None:
        rep.header["baseline_search"] = _search(*search)
    run = _fake_run([500.0] * len(base_returns), 1e-6, 1e-3, 8)
    base = _fake_run(base_returns, *base_j, 16)
    b = compare_baseline(rep, run, base, "baseline x", "")
    assert b["status"] == status, b["status"]
    for s in in_text:
        assert s in b["text"], (s, b["text"])
    for s in not_in_text:
        assert s not in b["text"], (s, b["text"])
    if NOT_KNOWN in status:
        assert b["met_dynamic"] is None and b["met_total"] is None
        assert b["artifact_return_higher"]
    else:
        assert not b["artifact_return_higher"]


def test_a_float_dqn_failing_its_sha256_is_refused_before_the_work(tmp_path, monkeypatch):
    """A float_dqn.npz that does not match the manifest's SHA-256 is a damaged artifact in
    `neuroq energy` as in `neuroq robustness`: one error before the first step (energy gave
    "unavailable" rows)."""
    from neuroq.agents.energy import report
    from neuroq.agents.mlp import FLOAT_DQN_FILE, save_mlp

    art = _artifact(tmp_path / "art")
    save_mlp(art / FLOAT_DQN_FILE, _mlp_4_16_2())
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["float_dqn"] = {"file": FLOAT_DQN_FILE, "sha256": "0" * 64}
    write_manifest(art, manifest)

    def no_work(*a, **k):
        pytest.fail("the spiking network ran before the float DQN was checked")

    monkeypatch.setattr(report, "run_snn", no_work)
    said = []
    with pytest.raises(NeuroqError, match="does not match the SHA-256 in its manifest"):
        build_report(EnergyConfig(str(art), powercap_root=tmp_path / "none"), say=said.append)
    assert not said


@pytest.mark.parametrize("env_id, shown", [("CartPole-v1", True), ("Acrobot-v1", False),
                                           ("neuroq/DiffDriveNav-v0", False)])
def test_the_published_cartpole_rows_are_in_cartpole_reports_only(env_id, shown):
    """An outsider's nav report plotted the published CartPole GTX 1650 figure as its
    longest bar; the comparison itself said "not applicable"."""
    from neuroq.agents.energy.render import main_table

    rep = Report({}, {"env_id": env_id})
    rep.add("published.gtx1650.energy_j", 0.145, "J", "published", "GTX 1650", "src")
    rep.add("published.spinnaker2.energy_j", 0.006, "J", "published", "board", "src")
    rows = main_table(rep)
    assert any("Arfa" in r[0] for r in rows) == shown
    assert any(r[0].startswith("this CPU") for r in rows)  # the rest stays


def test_returns_cut_by_max_steps_are_said_to_tie_at_the_cap():
    """--max-steps 5 cut every episode at 5 steps: every network "equal", and comparison (b)
    read "met" on a ratio that was only T against T (an outsider)."""
    from neuroq.agents.energy.compare import compare_baseline

    rep = Report({}, {"max_steps": 5})
    run = _fake_run([5.0, 5.0], 1e-6, 1e-3, 4, cut_episodes=2)
    base = _fake_run([5.0, 5.0], 3e-6, 2e-3, 8, cut_episodes=2)
    b = compare_baseline(rep, run, base, "baseline x", "")
    assert b["status"] == ("met (episodes cut at --max-steps 5: returns that tie may be the "
                           "cap's, not the networks')"), b["status"]
    assert b["equal_return"] and b["return_not_lower"]
    rep.header["max_steps"] = None
    assert compare_baseline(rep, run, base, "baseline x", "")["status"] == "met"
    # a cap no episode reached (CartPole stops at 500; --max-steps 1000): no caveat (review)
    rep.header["max_steps"] = 1000
    uncut = _fake_run([5.0, 5.0], 1e-6, 1e-3, 4)
    assert compare_baseline(rep, uncut, base, "baseline x", "")["status"] == "met"
    lower = compare_baseline(Report({}, {}), _fake_run([500.0], 1e-6, 1e-3, 4),
                             _fake_run([56.7], 3e-6, 2e-3, 8), "baseline x", "")
    assert lower["return_not_lower"] and not lower["equal_return"]  # 500 against 56.7


def test_the_host_io_row_shows_the_time_its_energy_is_over():
    """The host I/O row showed the chip time alone (4 ms) beside an energy computed over
    the chip time plus host I/O (24 ms: an outsider); the CPU rows say their energy is an
    estimate from another CPU's rating."""
    from neuroq.agents.energy.render import main_table

    rep = Report({}, {"env_id": "Acrobot-v1"})
    for lv in ("low", "high"):
        rep.add(f"spinnaker2.{lv}.chip_time_s", 0.004, "s", "modeled", "chip", "src")
        rep.add(f"spinnaker2.{lv}.energy_total_with_host_io_j", 5.6e-3, "J", "modeled", "chip",
                "src")
    rep.add("spinnaker2.chip_time_with_host_io_s", 0.024, "s", "modeled", "chip", "src")
    rep.add("cpu.float_dqn.latency_median_s", 35e-6, "s", "measured", "cpu", "src")
    rep.add("cpu.float_dqn.energy_j", 219e-6, "J", "estimate", "cpu", "src")
    rows = main_table(rep)
    host_io = [r for r in rows if r[4].startswith("total + chip idle over host I/O")]
    assert len(host_io) == 2 and all(r[2] == "24 ms [modeled]" for r in host_io), host_io
    chip = [r for r in rows if r[4] == "total: dynamic + whole-chip static"]
    assert all(r[2] == "4 ms [modeled]" for r in chip), chip
    cpu = [r for r in rows if r[1] == "float DQN (torch fp32)"]
    assert "estimate" in cpu[0][4] and "Xeon Platinum 8480+" in cpu[0][4], cpu


def test_the_chip_is_compared_with_this_cpu_whichever_way_it_goes():
    """The report gave verdict lines only for comparisons the chip wins (the published GPU
    figure, a plain conversion); the float DQN on this CPU took 4.3x less energy than the
    modeled chip and answered 114x sooner, said only in the docs (an outsider)."""
    from neuroq.agents.energy.compare import compare_cpu

    rep = Report({}, {"env_id": "CartPole-v1"})
    rep.add("spinnaker2.low.energy_total_j", 945e-6, "J", "modeled", "chip", "src")
    rep.add("spinnaker2.low.chip_time_s", 4e-3, "s", "modeled", "chip", "src")
    rep.add("cpu.float_dqn.energy_j", 219e-6, "J", "estimate", "cpu", "src")
    rep.add("cpu.float_dqn.latency_median_s", 35e-6, "s", "measured", "cpu", "src")
    rep.add("cpu.int8_ann.energy_j", 9.45e-3, "J", "measured", "cpu", "src")
    rep.add("cpu.int8_ann.latency_median_s", 8e-3, "s", "measured", "cpu", "src")
    c = compare_cpu(rep)
    assert c["float_dqn"]["energy_ratio_chip_to_cpu"] == pytest.approx(945 / 219)
    assert c["float_dqn"]["latency_ratio_chip_to_cpu"] == pytest.approx(4e-3 / 35e-6)
    assert "4.3x the energy of the float DQN" in c["status"]
    assert "10x less energy than the int8 ANN" in c["status"]  # the other way round
    assert "an estimate" in c["text"] and "114x the latency" in c["text"]
    fast = Report({}, {"env_id": "CartPole-v1"})
    for key, value, unit in (("spinnaker2.low.energy_total_j", 945e-6, "J"),
                             ("spinnaker2.low.chip_time_s", 4e-3, "s"),
                             ("cpu.float_dqn.energy_j", 219e-6, "J"),
                             ("cpu.float_dqn.latency_median_s", 1.1e-6, "s")):
        fast.add(key, value, unit, "measured", "cpu", "src")
    assert "3,636x the latency" in compare_cpu(fast)["text"]  # not 3.64e+03 (review)
    assert "(0.00945 J, measured)" in c["text"] and "2x less latency" in c["text"]
    assert compare_cpu(Report({}, {})).get("status") == "not compared: no modeled figure"


def test_the_cpu_comparison_says_unequal_returns_and_an_unresolved_counter():
    """An outsider's swapped-in untrained float DQN (13.6 against the SNN's 500) made "5.1x
    less energy than the float DQN" a plain verdict; and a RAPL energy of 0 above idle
    dropped the torch row from (c) without a word. Both are said; the measured CPU energy's
    scope (above idle) against the chip's total (static included) too."""
    from neuroq.agents.energy.compare import compare_cpu

    rep = Report({}, {"env_id": "CartPole-v1"})
    for key, value, unit, kind in (("spinnaker2.low.energy_total_j", 945e-6, "J", "modeled"),
                                   ("spinnaker2.low.chip_time_s", 4e-3, "s", "modeled"),
                                   ("snn.return_mean", 500.0, "return", "measured"),
                                   ("float_dqn.return_mean", 13.6, "return", "measured"),
                                   ("int8_ann.return_mean", 490.0, "return", "measured"),
                                   ("cpu.float_dqn.energy_j", 0.0, "J", "measured"),
                                   ("cpu.float_dqn.latency_median_s", 35e-6, "s", "measured"),
                                   ("cpu.float_dqn_numpy.energy_j", 4.8e-3, "J", "measured"),
                                   ("cpu.float_dqn_numpy.latency_median_s", 12e-6, "s",
                                    "measured"),
                                   ("cpu.int8_ann.energy_j", 9.45e-3, "J", "measured"),
                                   ("cpu.int8_ann.latency_median_s", 60e-6, "s", "measured")):
        rep.add(key, value, unit, kind, "here", "src")
    c = compare_cpu(rep)
    assert "less energy than the float DQN (numpy fp32) (returns unequal)" in c["status"], c
    assert "it returns 13.6 against the spiking network's 500" in c["text"], c["text"]
    assert c["float_dqn_numpy"]["returns_equal"] is False
    assert c["int8_ann"]["returns_equal"] is True  # 490 against 500: within 5 %
    assert "(returns unequal)" not in c["status"].split("int8 ANN")[-1]
    assert ("the float DQN (torch fp32): its measured energy above idle power is 0, below "
            "what the counter resolves; not compared") in c["text"], c["text"]
    assert "float_dqn" not in c and "the figure of like scope" in c["text"]


def test_an_unavailable_row_says_why_in_the_table():
    """The GPU row read "unavailable unavailable" with an empty reason; the reason was in
    the report's section 7 only (an outsider)."""
    from neuroq.agents.energy.render import main_table

    rep = Report({}, {"env_id": "Acrobot-v1"})
    rep.add("gpu.energy_j", None, "J", "unavailable", "GPU",
            "pynvml (nvidia-ml-py) is not installed")
    gpu = [r for r in main_table(rep) if r[0] == "GPU (NVML)"]
    assert gpu[0][4] == "unavailable: pynvml (nvidia-ml-py) is not installed", gpu


def test_a_verdict_over_few_episodes_says_so_and_the_total_ratio_is_mostly_t():
    """"met" came from 5 episodes (35.42 +- 5.71 against 35.39) with no caveat, and the
    total ratio, 99.7 % static power, is close to the ratio of T alone (an outsider)."""
    from neuroq.agents.energy.compare import MIN_VERDICT_EPISODES, compare_baseline

    few = compare_baseline(Report({}, {}), _fake_run([35.4], 1e-6, 1e-3, 4, episodes=5),
                           _fake_run([35.4], 3e-6, 2.2e-3, 8, episodes=5), "baseline x", "")
    assert few["status"] == ("met (over 5 episodes: too few to tell the returns apart; "
                             f"--episodes {MIN_VERDICT_EPISODES} or more decides)")
    many = compare_baseline(Report({}, {}), _fake_run([35.4], 1e-6, 1e-3, 4),
                            _fake_run([35.4], 3e-6, 2.2e-3, 8), "baseline x", "")
    assert many["status"] == "met"
    assert many["static_share"] == pytest.approx(0.999)
    assert "99.9% of the artifact's modeled total" in many["text"]
    assert "ratio of time steps (8 / 4 = 2)" in many["text"]
    # a network whose static power is not most of its total: the share alone (review)
    half = compare_baseline(Report({}, {}), _fake_run([35.4], 0.5e-3, 1e-3, 4),
                            _fake_run([35.4], 1.5e-3, 2.2e-3, 8), "baseline x", "")
    assert "50.0% of the artifact's modeled total." in half["text"]
    assert "ratio of time steps" not in half["text"]


def test_a_float_dqn_the_manifest_names_but_the_artifact_lacks_is_said(tmp_path):
    """A float_dqn.npz deleted from a copied artifact gave "plain_conversion: not made" and
    nothing more (an outsider). (A truncated one is refused by its SHA-256: tested above.)"""
    import shutil

    from neuroq.agents.energy.runs import find_float_dqn

    art = tmp_path / "art"
    shutil.copytree(SHIPPED, art)
    manifest = json.loads((art / "manifest.json").read_text())
    (art / "float_dqn.npz").unlink()
    dqn, why = find_float_dqn(art, manifest)
    assert dqn is None and "although its manifest names one (not copied" in why, why


def test_an_interrupt_while_writing_leaves_no_report_folder(tmp_path, monkeypatch):
    """A Ctrl-C during the report's writing left an empty energy-<time> folder (an
    outsider)."""
    import neuroq.agents.energy as energy
    from neuroq.agents.energy import render, report

    monkeypatch.setattr(report, "build_report", lambda cfg: Report({}, {"env_id": "X-v0"}))

    def interrupted(rep, run_dir, tensorboard=True):
        (Path(run_dir) / "report.json").write_text("{")
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "write_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        energy.energy_report("art", str(tmp_path / "out"))
    assert not list((tmp_path / "out").rglob("energy-*")), list((tmp_path / "out").rglob("*"))


def test_a_reason_with_a_bar_or_a_line_break_keeps_the_table_whole():
    """A free-text reason in the table (an error quoted) could hold | or a newline (review)."""
    from neuroq.agents.energy.render import _md_table

    table = _md_table(["a", "b"], [["x | y", "line\nbreak"]])
    assert table.splitlines()[2] == "| x \\| y | line break |"


def test_the_same_interrupt_delivered_twice_does_not_cut_the_cleanup(tmp_path, monkeypatch):
    """coreutils `timeout` delivers a Ctrl-C to the command and again to its group: the
    second one cut the removal of the half-written folder short (an outsider: 1 of 29 runs
    kept a folder holding one plot)."""
    import os
    import shutil
    import signal

    import neuroq.agents.energy as energy
    from neuroq.agents.energy import render, report

    monkeypatch.setattr(report, "build_report", lambda cfg: Report({}, {"env_id": "X-v0"}))

    def interrupted(rep, run_dir, tensorboard=True):
        (Path(run_dir) / "energy_per_action.png").write_bytes(b"png")
        raise KeyboardInterrupt

    removing = shutil.rmtree

    def rmtree_hit_again(path, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the duplicate, while the folder goes
        removing(path, *args, **kwargs)

    monkeypatch.setattr(render, "write_report", interrupted)
    monkeypatch.setattr(shutil, "rmtree", rmtree_hit_again)
    with pytest.raises(KeyboardInterrupt):
        energy.energy_report("art", str(tmp_path / "out"))
    assert not list((tmp_path / "out").rglob("energy-*")), list((tmp_path / "out").rglob("*"))


def _report_with_a_measured_gpu(gpu_j: float | None = 2.058e-3,
                                provenance: str = "measured") -> Report:
    """The shipped CartPole artifact's modeled figures and the H200's measured ones
    (device run of 2026-11-28, run 1)."""
    rep = Report({}, {"env_id": "CartPole-v1"})
    for key, value, unit in (("spinnaker2.low.energy_dynamic_j", 3.08e-6, "J"),
                             ("spinnaker2.low.energy_total_j", 945e-6, "J"),
                             ("spinnaker2.low.energy_total_with_host_io_j", 5.65e-3, "J"),
                             ("spinnaker2.low.chip_time_s", 4e-3, "s")):
        rep.add(key, value, unit, "modeled", "chip", "src")
    if provenance == "unavailable":
        rep.unavailable("gpu.energy_j", "J", "GPU (float DQN)", "NVML sees no GPU")
        return rep
    on = "NVIDIA H200 (float DQN, torch CUDA, one observation per call)"
    rep.add("gpu.latency_median_s", 158e-6, "s", provenance, on, "12362 single actions")
    rep.add("gpu.energy_j", gpu_j, "J", provenance, on, "NVML")
    rep.add("gpu.idle_power_w", 108.5, "W", provenance, on, "NVML")
    return rep


def test_the_chip_is_compared_with_a_measured_gpu_like_with_like():
    """A measured GPU row (an H100, then an H200 lent to two sessions) stood in the table
    beside the model, but the report compared the model with the published GTX 1650 figure
    only: the chip's dynamic energy against the GPU's board-minus-idle energy, its
    whole-chip total against the GPU's idle power over its latency plus that, were worked
    out by hand in the docs."""
    from neuroq.agents.energy.compare import compare_gpu

    c = compare_gpu(_report_with_a_measured_gpu())
    assert c["energy_ratio_dynamic_chip_to_gpu"] == pytest.approx(3.08e-6 / 2.058e-3)
    gpu_total = 108.5 * 158e-6 + 2.058e-3
    assert c["gpu_total_j"] == pytest.approx(gpu_total)
    assert c["energy_ratio_total_chip_to_gpu"] == pytest.approx(945e-6 / gpu_total)
    assert c["latency_ratio_chip_to_gpu"] == pytest.approx(4e-3 / 158e-6)
    assert c["status"].startswith("SpiNNaker2 (modeled, low level) takes 668x less dynamic "
                                  "energy than the float DQN on the GPU"), c["status"]
    assert "20x less total energy than it" in c["status"], c["status"]
    assert "3.4x less total energy than the GPU's" in c["text"]  # with host I/O
    assert "25x the latency of the GPU" in c["text"] and "NVIDIA H200" in c["text"]
    assert "The GPU's idle draw is 89% of its figure" in c["text"], c["text"]
    # the chip losing is said the same way round
    small = compare_gpu(_report_with_a_measured_gpu(gpu_j=1e-6))
    assert "3.1x the dynamic energy of the float DQN on the GPU" in small["status"]


@pytest.mark.parametrize("gpu_j, provenance, why", [
    (None, "unavailable", "NVML sees no GPU"),
    (2e-3, "published", "its figure is published"),
    (0.0, "measured", "below what the counter resolves"),
])
def test_no_gpu_comparison_without_a_measured_gpu(gpu_j, provenance, why):
    from neuroq.agents.energy.compare import compare_gpu

    c = compare_gpu(_report_with_a_measured_gpu(gpu_j, provenance))
    assert c["status"] == "not compared: no GPU measured here"
    assert why in c["text"], c["text"]


def test_a_measured_gpu_row_gets_its_comparison_in_the_report(tmp_path, monkeypatch):
    """End to end with a stand-in NVML (idle 50 W, 60 W busy) and torch on the CPU: the
    GPU's idle power is a figure of its own, and section 6 has comparison (d) built from
    the same figures as the table."""
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    monkeypatch.setattr(em, "gpu_availability", lambda: em.Availability(True))
    monkeypatch.setattr(em, "GPU_TORCH_DEVICE", "cpu")
    monkeypatch.setattr(em, "GPU_MIN_ACTIONS", 200)
    monkeypatch.setattr(em, "GPU_MIN_WINDOW_S", 0.2)
    monkeypatch.setattr(em, "IDLE_WINDOW_S", 0.05)
    rep = build_report(EnergyConfig(str(SHIPPED), episodes=1, max_steps=40,
                                    latency_samples=10, sweep=(4,), sweep_episodes=1,
                                    powercap_root=tmp_path / "none"), say=lambda m: None)
    assert rep.value("gpu.idle_power_w") == 50.0
    assert rep.get("gpu.idle_power_w").provenance == "measured"
    d = rep.comparisons["measured_gpu"]
    assert d["gpu"].startswith("Fake GPU") and d["gpu_idle_power_w"] == 50.0
    assert d["energy_ratio_dynamic_chip_to_gpu"] == pytest.approx(
        rep.value("spinnaker2.low.energy_dynamic_j") / rep.value("gpu.energy_j"))
    md = write_report(rep, tmp_path / "out", tensorboard=False)["markdown"].read_text()
    assert "**(d) SpiNNaker2 against the GPU measured here** - SpiNNaker2 (modeled" in md
    assert "measured on Fake GPU" in md


def test_the_event_task_is_played_on_its_events_as_eval_plays_it():
    """An outsider: the energy report played the DVS artifact on the observation's event
    counts (an approximation), where eval, robustness and the nodes give the events; the
    report's return and energy then described another policy than the deployed one."""
    from neuroq.agents.energy.runs import run_snn
    from neuroq.deploy.artifact import load_artifact
    from neuroq.deploy.evaluate import evaluate
    from neuroq.deploy.policy import load_policy

    art = load_artifact("dvs_pan_tracking")
    played = run_snn(art.network, art.encoder, art.manifest["env_id"], 3, 0)
    evaluated = evaluate(load_policy(art), 3, 0)
    assert np.array_equal(played.returns, np.asarray(evaluated["returns"]))
