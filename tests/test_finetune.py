"""Fine-tuning and export: run folders, learning, the exported artifact, bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from neuroq.agents.export import export
from neuroq.agents.finetune import FinetuneConfig, finetune, open_convert_run, run_finetune
from neuroq.deploy.artifact import load_artifact
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.interface import load_interface
from tests.helpers.runs import tiny_convert_run, tiny_finetune_run


def test_finetune_run_folder():
    run = tiny_finetune_run()
    assert run.name.startswith("finetune-population-")
    result = json.loads((run / "result.json").read_text())
    for key in ("mean_return", "std_return", "ann_mean_return", "fraction_of_ann_return",
                "agreement", "synaptic_events_per_action", "spike_rate_per_step", "timesteps"):
        assert key in result, key
    assert result["loss"] == "distill" and result["timesteps"] == 4
    # the seeds its returns come from, as the convert run's (an outsider found none)
    from neuroq.agents.convert import EVAL_SEED_BASE

    conv = json.loads((Path(result["convert_run"]) / "result.json").read_text())
    for r in (result, conv):
        assert r["episode_seeds"] == [EVAL_SEED_BASE, EVAL_SEED_BASE + r["episodes"] - 1]
    history = json.loads((run / "history.json").read_text())["epochs"]
    assert len(history) == 2 and history[1]["observations"] > history[0]["observations"]
    assert any((run / "tb").rglob("events.out.tfevents.*"))
    art = load_artifact(run / "network")
    assert art.manifest["provenance"]["convert_run"] == result["convert_run"]


def test_distillation_lowers_the_loss():
    from neuroq.agents.convert import load_mlp, open_train_run

    conv = open_convert_run(tiny_convert_run())
    teacher = load_mlp(open_train_run(conv.result["train_run"]))
    cfg = FinetuneConfig(epochs=8, batch_size=128, dagger_steps=0, validation_episodes=0)
    history = finetune(conv.network, conv.encoder, teacher, "CartPole-v1",
                       conv.observations[:3000], cfg, progress=False).history
    losses = [h["loss"] for h in history]
    assert losses[-1] < 0.8 * losses[0], losses


def _scored_by_call(monkeypatch, returns):
    """finetune's validation returns, in call order: the start, then epoch 0, 1, ..."""
    import neuroq.agents.finetune as ft

    calls = iter(returns)
    seeds = []

    def fake(env_id, act, episodes, seed_base=None, *a, **k):
        seeds.append(seed_base)
        return np.full(episodes, next(calls), dtype=float)

    monkeypatch.setattr(ft, "evaluate_returns", fake)
    return seeds


def _tiny_parts():
    from neuroq.agents.convert import load_mlp, open_train_run

    conv = open_convert_run(tiny_convert_run())
    return conv, load_mlp(open_train_run(conv.result["train_run"]))


def test_a_start_no_epoch_matches_is_kept_unchanged(monkeypatch):
    """An outsider's imported network played 500 and fine-tuning kept epoch 0 (172): the
    starting network is a candidate, scored on epoch 0's validation episodes."""
    from neuroq.agents.finetune import START_EPOCH, VALIDATION_SEED_BASE

    conv, teacher = _tiny_parts()
    seeds = _scored_by_call(monkeypatch, [500.0, 172.0, 300.0])
    cfg = FinetuneConfig(epochs=2, batch_size=256, dagger_steps=0, validation_episodes=2)
    tuned = finetune(conv.network, conv.encoder, teacher, "CartPole-v1",
                     conv.observations[:1000], cfg, progress=False)
    assert seeds == [VALIDATION_SEED_BASE, VALIDATION_SEED_BASE, VALIDATION_SEED_BASE + 1000]
    assert tuned.kept_epoch == START_EPOCH
    assert tuned.start["validation_return"] == 500.0
    assert [h["validation_return"] for h in tuned.history] == [172.0, 300.0]
    assert tuned.network is conv.network


def test_an_epoch_that_matches_the_start_is_kept(monkeypatch):
    """Equal validation returns: the greedy agreement decides, then the latest; a converted
    start (weak) is never kept over a better epoch."""
    conv, teacher = _tiny_parts()
    _scored_by_call(monkeypatch, [100.0, 50.0, 200.0, 200.0])
    cfg = FinetuneConfig(epochs=3, batch_size=256, dagger_steps=0, validation_episodes=2)
    tuned = finetune(conv.network, conv.encoder, teacher, "CartPole-v1",
                     conv.observations[:1000], cfg, progress=False)
    agree = [h["agreement"] for h in tuned.history]
    assert tuned.kept_epoch == (1 if agree[1] > agree[2] else 2)
    assert any(not np.array_equal(a.weight, b.weight)
               for a, b in zip(tuned.network.layers, conv.network.layers, strict=True))
    # a tie with the start itself: the agreement decides, an equal one goes to the epoch
    _scored_by_call(monkeypatch, [200.0, 200.0])
    cfg = FinetuneConfig(epochs=1, batch_size=256, dagger_steps=0, validation_episodes=2)
    tied = finetune(conv.network, conv.encoder, teacher, "CartPole-v1",
                    conv.observations[:1000], cfg, progress=False)
    start, epoch = tied.start["agreement"], tied.history[0]["agreement"]
    assert tied.kept_epoch == (0 if epoch >= start else -1), (start, epoch)
    assert (tied.network is conv.network) == (tied.kept_epoch == -1)


def test_finetune_run_says_when_it_kept_the_start(monkeypatch, tmp_path):
    conv = tiny_convert_run()
    _scored_by_call(monkeypatch, [500.0, 10.0, 500.0])  # start, epoch 0, the final eval
    lines = []
    cfg = FinetuneConfig(epochs=1, batch_size=512, dagger_steps=0, validation_episodes=1)
    run = run_finetune(conv, tmp_path, cfg, eval_episodes=1, progress=False,
                       log=lines.append)
    history = json.loads((run / "history.json").read_text())
    result = json.loads((run / "result.json").read_text())
    assert history["kept_epoch"] == result["kept_epoch"] == -1
    assert history["start"]["validation_return"] == 500.0
    assert any("no epoch did as well as the starting network (validation return 500.0"
               in line for line in lines), lines


def test_margin_term_asks_for_the_teachers_lead_up_to_the_cap():
    import torch

    from neuroq.agents.finetune import MARGIN_CAP, distillation_loss, lead, margin_loss

    teacher = torch.tensor([[3.0, 1.0, 0.0], [0.0, 0.1, 0.0]])  # a* = 0 (lead 2), 1 (0.1)
    assert lead(teacher, teacher.argmax(1)).tolist() == pytest.approx([2.0, 0.1])
    std_a = 1.0
    # an SNN that keeps both leads (capped at MARGIN_CAP std_a) costs nothing ...
    keeps = torch.tensor([[MARGIN_CAP, 0.0, 0.0], [0.0, 0.1, 0.0]])
    assert margin_loss(keeps, teacher, std_a).item() == pytest.approx(0.0, abs=1e-6)
    # ... one that picks the teacher's action by a hair pays the missing lead
    hair = torch.tensor([[0.01, 0.0, 0.0], [0.0, 0.1, 0.0]], requires_grad=True)
    want = (min(2.0, MARGIN_CAP) - 0.01) / 2
    assert margin_loss(hair, teacher, std_a).item() == pytest.approx(want, rel=1e-5)
    margin_loss(hair, teacher, std_a).backward()
    assert hair.grad[0, 0] < 0 < hair.grad[0, 1]  # descent raises Q(a*), lowers the rival
    stats = {"var_a": 1.0, "std_a": 1.0, "var_v": 1.0}
    on = distillation_loss(hair.detach(), teacher, stats, margin=1.0)
    off = distillation_loss(hair.detach(), teacher, stats)
    assert on.item() == pytest.approx(off.item() + want, rel=1e-5)


def test_td_loss_runs_on_transitions():
    from neuroq.agents.convert import load_mlp, open_train_run

    conv = open_convert_run(tiny_convert_run())
    teacher = load_mlp(open_train_run(conv.result["train_run"]))
    cfg = FinetuneConfig(epochs=2, batch_size=256, dagger_steps=200, validation_episodes=0,
                         loss="td", td_initial_steps=800)
    tuned = finetune(conv.network, conv.encoder, teacher, "CartPole-v1",
                     conv.observations[:500], cfg, progress=False)
    net, history = tuned.network, tuned.history
    assert np.isfinite([h["loss"] for h in history]).all()
    assert history[1]["observations"] > history[0]["observations"] >= 800
    assert net.timesteps == conv.network.timesteps


def test_export_writes_a_loadable_artifact(tmp_path):
    made = export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=2, gate=0.0,
                  gate_episodes=5)
    r = made.result
    art = load_artifact(made.artifact)
    prov = art.manifest["provenance"]
    assert {"train_run", "convert_run", "finetune_run", "export_run"} <= set(prov)
    assert art.manifest["encoder"]["kind"] == "population"
    assert art.manifest["action_space"] == {"type": "Discrete", "n": 2}
    assert r["episodes"] == 2 and np.isfinite(r["mean_return"])
    src = load_artifact(tiny_finetune_run() / "network")
    for a, b in zip(src.network.layers, art.network.layers, strict=True):
        assert np.array_equal(a.weight, b.weight)
    assert r["episode_seeds"][1] - r["episode_seeds"][0] == 1  # the seeds of its 2 episodes
    # the export run itself given again: its artifact is named (an outsider)
    with pytest.raises(NeuroqError, match=r"is not a finetune run .* or an artifact folder; "
                                          r"did you mean .*artifact\?"):
        export(str(made.run_dir), str(tmp_path))
    with pytest.raises(NeuroqError, match=r"this one is an export run\)"):  # "a export"
        open_convert_run(made.run_dir)


def test_finetune_bad_settings_write_nothing(tmp_path):
    with pytest.raises(NeuroqError, match="epochs"):
        run_finetune(tiny_convert_run(), tmp_path, FinetuneConfig(epochs=0), progress=False)
    with pytest.raises(NeuroqError, match="not a convert run"):
        run_finetune(tiny_finetune_run(), tmp_path, progress=False)
    # physics the convert run's env does not take (a sweep's finetune stage ran it)
    with pytest.raises(NeuroqError, match="finetune randomize.physics: physics parameter "
                                          "length must be positive, got 0"):
        run_finetune(tiny_convert_run(), tmp_path,
                     FinetuneConfig(randomize={"physics": {"length": [0, 0.7]}}),
                     progress=False)
    assert not any(tmp_path.rglob("*"))


def test_export_carries_its_float_dqn_and_the_gate_figures(tmp_path):
    made = export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=0, gate=0.0,
                  gate_episodes=5)
    art = load_artifact(made.artifact)
    gate = art.manifest["gate"]
    assert gate["passed"] is True and gate["seeds"] == [900_000, 900_004]
    assert gate["fraction"] == pytest.approx(gate["snn"]["mean"] / gate["float_dqn"]["mean"])
    # the first episodes' returns are recorded one by one (5 played, all 5 kept)
    first = gate["first_returns"]
    assert len(first["snn"]) == len(first["float_dqn"]) == 5
    assert np.mean(first["snn"]) == pytest.approx(gate["snn"]["mean"])
    from neuroq.agents.energy.runs import find_float_dqn

    found, why = find_float_dqn(made.artifact, art.manifest)
    assert found.source.endswith("float_dqn.npz") and found.mlp.widths[0] == 4
    assert found.train_run is None and why == ""
    # the shipped interface that names CartPole-v1 is recorded, and validated on load
    assert art.manifest["interface"]["name"] == "cartpole"
    assert made.result["interface"] == "cartpole"


def test_the_gate_says_when_its_reference_does_no_better_than_random_actions(tmp_path,
                                                                             capsys):
    """An outsider's MountainCar DQN at -200 (never reaching the flag) passed the gate at
    100 % without a word: the gate also plays actions drawn at random on its episodes, and
    a reference that does not beat them is said. The tiny run's float DQN (400 steps)
    holds the pole about 9 steps, random actions about 22."""
    from neuroq.agents.cli.main import main
    from neuroq.agents.export import random_warning

    assert main(["export", str(tiny_finetune_run()), "--out", str(tmp_path), "--gate", "0",
                 "--gate-episodes", "20", "--eval-episodes", "0"]) == 0
    err = capsys.readouterr().err
    assert "neuroq export: warning: the float DQN's return 9" in err, err
    assert "is no better than actions drawn at random (2" in err, err
    (artifact,) = tmp_path.rglob("artifact")
    gate = load_artifact(artifact).manifest["gate"]
    assert gate["teacher_beats_random"] is False and gate["random_policy"]["n"] == 20
    assert gate["random_policy"]["mean"] > gate["float_dqn"]["mean"]
    # a reference ahead of random actions, and gates recorded before: nothing to say
    assert random_warning({**gate, "teacher_beats_random": True}) is None
    assert random_warning({k: v for k, v in gate.items()
                           if k not in ("teacher_beats_random", "random_policy")}) is None
    assert "no robot interface recorded" not in err  # CartPole's shipped one is


def test_export_of_an_env_without_an_interface_says_the_nodes_need_one(tmp_path, capsys,
                                                                     monkeypatch):
    """An outsider's own env exported without a word; the policy node then refused it on
    the robot ("no robot interface")."""
    import neuroq.deploy.interface as interface
    from neuroq.agents.cli.main import main

    monkeypatch.setattr(interface, "interface_for_env", lambda _env: None)
    assert main(["export", str(tiny_finetune_run()), "--out", str(tmp_path), "--gate", "0",
                 "--gate-episodes", "2", "--eval-episodes", "0"]) == 0
    err = capsys.readouterr().err
    assert ("neuroq export: warning: no robot interface recorded: no file in "
            "config/interfaces/ names CartPole-v1, so the ROS nodes will need one") in err, err
    # an event-camera artifact runs in the event node, which reads events and needs no
    # interface: the warning did not apply (an outsider's re-export of the shipped one)
    shipped = Path(__file__).resolve().parents[1] / "config/artifacts/dvs_pan_tracking"
    assert main(["export", str(shipped), "--out", str(tmp_path / "dvs"), "--gate-episodes",
                 "0", "--eval-episodes", "0"]) == 0
    assert "no robot interface" not in capsys.readouterr().err


def test_an_export_stopped_during_its_gate_leaves_no_artifact_to_play(tmp_path, monkeypatch,
                                                                      capsys):
    """Ctrl-C during the gate kept the run folder with a whole artifact/ that never passed
    the gate, and `neuroq eval` played it without a word (an outsider). The artifact is
    written as artifact.partial/ and named artifact/ only after the gate."""
    import neuroq.agents.export as export_module
    from neuroq.agents.cli.main import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "gate_figures", interrupted)
    source = tiny_finetune_run()
    with pytest.raises(KeyboardInterrupt):
        export(str(source), str(tmp_path), eval_episodes=0, gate=0.99, gate_episodes=5)
    # interrupted: its run folder is removed, as after an error (it kept config.yaml and
    # part of its files, which every later stage refused: an outsider's convert, finetune)
    assert not list((tmp_path / "CartPole-v1").glob("export-*"))
    # killed instead (nothing removes its folder): artifact.partial stays, never artifact/
    import neuroq.agents.runs as runs_module

    monkeypatch.setattr(runs_module.shutil, "rmtree", lambda *a, **k: None)
    with pytest.raises(KeyboardInterrupt):
        export(str(source), str(tmp_path), eval_episodes=0, gate=0.99, gate_episodes=5)
    monkeypatch.undo()
    (run,) = (tmp_path / "CartPole-v1").glob("export-*")
    assert not (run / "artifact").exists() and (run / "artifact.partial").is_dir()
    capsys.readouterr()
    # the run folder's hint named artifact.partial (a reviewer), which played the network
    assert main(["eval", str(run), "--episodes", "1", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "is not an artifact: it has no manifest.json" in err and "partial" not in err, err
    for given in (run / "artifact.partial", run / "artifact.partial" / "manifest.json"):
        assert main(["eval", str(given), "--episodes", "1", "--out", str(tmp_path / "e")]) == 2
        assert "its export was still writing" in capsys.readouterr().err
    monkeypatch.undo()
    made = export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=0, gate=0.0,
                  gate_episodes=2)
    assert made.artifact.name == "artifact" and made.artifact.is_dir()
    assert not (made.run_dir / "artifact.partial").exists()


def test_export_records_the_interface_asked_for_and_refuses_one_that_does_not_fit(tmp_path):
    with pytest.raises(NeuroqError, match="interface acrobot makes 6 observation values but "
                                          "the artifact .CartPole-v1. takes 4"):
        export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=0, gate=0.0,
               gate_episodes=0, interface="acrobot")
    assert not list(tmp_path.rglob("export-*"))
    doc = load_interface("cartpole").to_dict()
    doc["name"] = "my_cartpole"
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(doc))
    made = export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=0, gate=0.0,
                  gate_episodes=0, interface=str(tmp_path / "mine.yaml"))
    assert load_artifact(made.artifact).manifest["interface"]["name"] == "my_cartpole"


def test_re_export_records_the_shipped_interface_of_an_env_beyond_the_shipped_robots(tmp_path):
    """A MountainCar-v0 artifact that records no interface (as the sweeps exported them):
    exported again, it records config/interfaces/mountaincar.yaml, found by env_id."""
    from tests.helpers.artifacts import make_mountaincar_artifact

    old = make_mountaincar_artifact(tmp_path / "old")
    assert "interface" not in load_artifact(old).manifest
    # it never passed a gate and holds no reference to play one: --force
    with pytest.raises(NeuroqError, match="holds no reference to play it against .*export "
                                          "the finetune run it came from.*; or "):
        export(str(old), str(tmp_path / "runs"), eval_episodes=0)
    made = export(str(old), str(tmp_path / "runs"), eval_episodes=0, force=True)
    assert load_artifact(made.artifact).manifest["interface"]["name"] == "mountaincar"
    assert made.result["interface"] == "mountaincar"


def test_a_shipped_artifact_is_re_exported_by_name(tmp_path, monkeypatch):
    """`neuroq export cartpole` said "run folder cartpole does not exist", where eval, show,
    energy and robustness take a shipped artifact by name (an outsider following the
    README); a name that is no shipped artifact still says the folder does not exist."""
    monkeypatch.chdir(tmp_path)  # no folder named cartpole here
    made = export("cartpole", str(tmp_path / "runs"), eval_episodes=0)
    manifest = load_artifact(made.artifact).manifest
    assert manifest["env_id"] == "CartPole-v1" and manifest["interface"]["name"] == "cartpole"
    # the gate it passed comes along (it was replaced by "skipped" before)
    shipped = load_artifact("cartpole").manifest["gate"]
    assert manifest["gate"]["passed"] is True and manifest["gate"]["carried"]
    assert {k: manifest["gate"][k] for k in shipped} == shipped
    assert made.result["forced"] is False
    with pytest.raises(NeuroqError, match="^run folder nosuch does not exist$"):
        export("nosuch", str(tmp_path / "runs"), eval_episodes=0)


def test_the_gate_refusal_names_how_each_command_forces_it(tmp_path, monkeypatch):
    """`neuroq demo` said "or --force to export anyway", an option demo does not have: the
    demo and the sweep pass export the hint in their own terms, and gate 0 passes any
    return (the hint's promise), even one whose fraction is not defined."""
    from neuroq.agents import convert, pipeline, train
    from neuroq.agents import export as export_module
    from neuroq.agents import finetune as finetune_module
    from neuroq.agents.cli.main import build_parser
    from neuroq.agents.sweep_stages import SWEEP_TO_FORCE, _export

    with pytest.raises(NeuroqError, match=r"fine-tune further, or a --gate at or below"):
        export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=0, gate=2.0,
               gate_episodes=5, to_force=pipeline.DEMO_TO_FORCE)
    assert build_parser().parse_args(["demo", "--gate", "0"]).gate == 0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--force"])
    passed = export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=0, gate=0.0,
                    gate_episodes=2)
    assert load_artifact(passed.artifact).manifest["gate"]["passed"] is True

    given = {}

    def refused(*args, **kwargs):
        given.update(kwargs)
        raise NeuroqError("refused")

    monkeypatch.setattr(export_module, "export", refused)
    with pytest.raises(NeuroqError, match="refused"):
        _export("CartPole-v1", {"gate": 0.99}, {"run_dir": "x"}, tmp_path, print)
    assert given["to_force"] == SWEEP_TO_FORCE and given["gate"] == 0.99
    given.clear()
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "result.json").write_text(json.dumps({"mean_return": 1.0, "episodes": 1,
                                                   "episode_seeds": [50_000, 50_000],
                                                   "ann_mean_return": 1.0}))
    monkeypatch.setattr(train, "train_one", lambda *a, **k: stage)
    monkeypatch.setattr(convert, "run_convert", lambda *a, **k: stage)
    monkeypatch.setattr(finetune_module, "run_finetune", lambda *a, **k: stage)
    with pytest.raises(NeuroqError, match="refused"):
        pipeline.run_pipeline(out_root=tmp_path / "runs", say=lambda _: None, energy=False)
    assert given["to_force"] == pipeline.DEMO_TO_FORCE


def test_the_demo_goes_on_past_a_refused_gate_and_never_ships_it(tmp_path, monkeypatch):
    """`make demo` on a fresh clone stopped at its first step: the default CartPole run's
    SNN at 97.2 % of the float DQN, gate 99 %, exit 2, and the DVS and robot demos never
    ran (an outsider). The demo now exports anyway (forced, said, and said again in its
    summary) and goes on; --ship refuses such an artifact."""
    from neuroq.agents import convert, evaluate, pipeline, train
    from neuroq.agents import export as export_module
    from neuroq.agents import finetune as finetune_module
    from neuroq.agents.evaluate import Evaluation
    from neuroq.agents.export import Exported

    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "result.json").write_text(json.dumps({"mean_return": 479.9, "episodes": 1,
                                                   "episode_seeds": [50_000, 50_000],
                                                   "ann_mean_return": 500.0}))
    given = {}
    refused = {"passed": False, "threshold": 0.99, "fraction": 0.972, "seeds": [900_000,
                                                                                  900_099],
               "snn": {"mean": 486.0}, "float_dqn": {"mean": 500.0}}

    def export(*args, **kwargs):
        given.update(kwargs)
        return Exported(stage, stage, {"gate": refused, "forced": True})

    monkeypatch.setattr(train, "train_one", lambda *a, **k: stage)
    monkeypatch.setattr(convert, "run_convert", lambda *a, **k: stage)
    monkeypatch.setattr(finetune_module, "run_finetune", lambda *a, **k: stage)
    monkeypatch.setattr(export_module, "export", export)
    monkeypatch.setattr(evaluate, "evaluate_artifact", lambda *a, **k: Evaluation(
        stage, {"return_mean": 480.0, "episode_seeds": [0, 99]}))
    monkeypatch.setattr(pipeline, "_float_return", lambda *a, **k: None)
    said = []
    run = pipeline.run_pipeline(out_root=tmp_path / "runs", say=said.append, energy=False)
    assert given["force"] is True and run.eval_result["return_mean"] == 480.0
    assert run.gate_refused and any(line.startswith("gate REFUSED: SNN 486.0 vs float DQN "
                                                    "500.0 (97.2 %") for line in said), said
    with pytest.raises(NeuroqError, match=r"not shipped to .*ship: the export gate refused"):
        pipeline.run_pipeline(out_root=tmp_path / "runs", say=said.append, energy=False,
                              ship=tmp_path / "ship")
    assert not (tmp_path / "ship").exists()


def test_the_gate_passes_an_snn_at_or_above_a_float_return_of_any_sign():
    """A float DQN at -0.5 and an SNN at 0.2: the fraction is not defined (NaN), and the
    gate refused the better SNN (an outsider's env with a per-step penalty)."""
    from neuroq.agents.export import gate_passes
    from neuroq.deploy.stats import fraction_of

    def passes(snn, dqn, gate):
        return gate_passes(fraction_of(snn, dqn), snn, dqn, gate)

    assert passes(0.2, -0.5, 0.99) and passes(0.0, 0.0, 0.99) and passes(5.0, 0.0, 1.0)
    assert not passes(-0.6, 0.0, 0.99) and not passes(0.0, 0.0, 1.2)  # worse; equal above 1
    assert passes(0.2, -0.5, 1.5) and passes(100.0, -0.5, 1.2)  # better, whatever the gate
    assert passes(495.0, 500.0, 0.99) and not passes(490.0, 500.0, 0.99)  # as before
    assert passes(-80.0, -80.0, 0.99) and not passes(-90.0, -80.0, 0.99)  # Acrobot
    assert passes(-1e9, 500.0, 0)  # gate 0 passes any return


def test_a_float_return_near_zero_is_gated_by_the_paired_difference():
    """An outsider's task (returns about 3 +- 14 per episode): the share of the float return
    was refused at 65.6 % and passed at 99.5 % on the draw of the episodes. Where the float
    return's resampled means take both signs, the share is not defined (fraction_ci) and the
    gate asks instead that the paired interval of SNN - float lie above -(1 - gate) x the
    float returns' spread (a non-inferiority margin): a review found a first rule ("passes
    unless shown worse") passing a network 4 below the float DQN in 24 of 96 draws, whatever
    the gate. A constant added to every return changes the share, not the difference."""
    from neuroq.agents.export import gate_margin, gate_passes, interval_text
    from neuroq.deploy.stats import difference_ci, fraction_ci

    rng = np.random.default_rng(0)
    ann = rng.normal(3.0, 14.0, 100)
    spread = float(ann.std())

    def verdict(snn, gate):
        assert np.isnan(fraction_ci(snn, ann)[0])  # the share is no quantity here
        lo, hi = difference_ci(snn, ann)
        assert lo <= snn.mean() - ann.mean() <= hi
        return gate_passes(float("nan"), snn.mean(), ann.mean(), gate, lo,
                           gate_margin(gate, spread))

    same = ann.copy()
    assert verdict(same, 0.99) and verdict(same, 1.0)  # equal on every episode
    worse = ann - 4.0 + rng.normal(0.0, 14.0, 100)  # clearly worse, and noisy
    assert not verdict(worse, 0.99) and not verdict(worse, 0.9) and verdict(worse, 0)
    close = ann - 1.0 + rng.normal(0.0, 2.0, 100)  # 1 below: within a loose gate only
    assert not verdict(close, 0.99) and verdict(close, 0.8)
    for c in (0.0, 1000.0):  # a constant on the reward: same difference interval
        assert difference_ci(close + c, ann + c) == pytest.approx(difference_ci(close, ann))
    text = interval_text({"rule": "difference", "difference": -1.4,
                          "difference_ci95": [-3.0, 0.2], "difference_margin": 0.14})
    assert "share means nothing here" in text and "at most 0.14" in text and "+0.20" in text


def test_export_gate_refuses_and_leaves_nothing_unless_forced(tmp_path):
    # the way through that is not --force is named too (an outsider found --gate in --help)
    with pytest.raises(NeuroqError, match=r"export refused: the SNN's return .* % of the float"
                                          r".*; fine-tune further, or --gate FRACTION to "
                                          r"accept a lower share of its return, or --force"):
        export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=0, gate=2.0,
               gate_episodes=5)
    assert not list(tmp_path.rglob("export-*"))
    made = export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=0, gate=2.0,
                  gate_episodes=5, force=True)
    gate = load_artifact(made.artifact).manifest["gate"]
    assert gate["passed"] is False and made.result["forced"] is True


def test_a_convert_run_whose_train_run_is_gone_says_which_run_is_missing(tmp_path):
    """finetune of a convert run whose train run was moved said only "run folder X does
    not exist" (an outsider): which run that is, and whose, is said now."""
    import dataclasses
    import shutil

    from neuroq.agents.finetune import load_teacher

    conv = open_convert_run(tiny_convert_run())
    copy = shutil.copytree(conv.path, tmp_path / "convert-copy")
    moved = dataclasses.replace(conv, path=copy,
                                result={**conv.result, "train_run": str(tmp_path / "gone")})
    with pytest.raises(NeuroqError, match=r"the train run of .*convert-copy \(its teacher, the "
                                          r"float DQN\): run folder .*gone does not exist"):
        load_teacher(moved)


def test_an_artifact_that_never_passed_the_gate_is_not_re_exported_past_it(tmp_path):
    """An outsider exported an import run's network/ folder (return 8.8): exit 0, an
    artifact with no gate, which eval played. An artifact that never passed the gate plays
    it against what it holds (float_dqn.npz), or is refused without a reference unless
    forced."""
    import shutil

    from neuroq.agents.mlp import FLOAT_DQN_FILE

    finetuned = tiny_finetune_run()
    network = finetuned / "network"
    assert "gate" not in load_artifact(network).manifest
    with pytest.raises(NeuroqError, match=r"has not passed the export gate at 99 % \(its "
                       r"manifest holds no gate.*export the finetune run it came from "
                       r"\(.*finetune-"):
        export(str(network), str(tmp_path / "a"), eval_episodes=0)
    # nor by skipping it (the review: --gate-episodes 0 exported it, forced False)
    with pytest.raises(NeuroqError, match=r"has not passed the export gate"):
        export(str(network), str(tmp_path / "a"), eval_episodes=0, gate_episodes=0)
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").rglob("manifest.json"))
    forced = export(str(network), str(tmp_path / "b"), eval_episodes=0, force=True)
    gate = load_artifact(forced.artifact).manifest["gate"]
    assert gate["skipped"] and gate["forced"] and gate["passed"] is None
    assert forced.result["forced"] is True
    # a gate played on export and failed (--force): re-exported, the gate is played again
    # against the artifact's own float DQN, and fails again
    failed = export(str(finetuned), str(tmp_path / "c"), eval_episodes=0, gate=2.0,
                    gate_episodes=3, force=True)
    assert load_artifact(failed.artifact).manifest["gate"]["passed"] is False
    assert (failed.artifact / FLOAT_DQN_FILE).is_file()
    copy = tmp_path / "failed-artifact"
    shutil.copytree(failed.artifact, copy)
    with pytest.raises(NeuroqError, match="export refused: the SNN's return"):
        export(str(copy), str(tmp_path / "d"), eval_episodes=0, gate=2.0, gate_episodes=3)
    # the advice is to play the gate here, against the artifact's own float DQN (it named
    # the finetune run the provenance names, a path of another machine: an outsider)
    with pytest.raises(NeuroqError, match="--gate-episodes 0 would skip it: leave "
                                          "--gate-episodes at its default .* to play it here "
                                          "against") as exc:
        export(str(copy), str(tmp_path / "d"), eval_episodes=0, gate_episodes=0)
    assert "finetune run" not in str(exc.value), exc.value
    # forced past it without playing: the failed gate stays failed (eval and nodes warn)
    kept_failed = export(str(copy), str(tmp_path / "f"), eval_episodes=0, gate_episodes=0,
                         force=True)
    gate = load_artifact(kept_failed.artifact).manifest["gate"]
    assert gate["passed"] is False and gate["forced"] and gate["before"]["passed"] is False
    assert kept_failed.result["forced"] is True
    again = export(str(copy), str(tmp_path / "e"), eval_episodes=0, gate=0.0, gate_episodes=3)
    assert load_artifact(again.artifact).manifest["gate"]["passed"] is True
    assert not load_artifact(again.artifact).manifest["gate"].get("carried")
    # a gate passed at 0 does not stand for one asked at 2.0: played again, and refused
    passed = tmp_path / "passed-artifact"
    shutil.copytree(again.artifact, passed)
    with pytest.raises(NeuroqError, match="export refused"):
        export(str(passed), str(tmp_path / "g"), eval_episodes=0, gate=2.0, gate_episodes=3)
    carried = export(str(passed), str(tmp_path / "h"), eval_episodes=0, gate=0.0)
    assert load_artifact(carried.artifact).manifest["gate"]["carried"]
    # the float DQN carried is read and written again, never copied: an outsider's
    # float_dqn.npz, a link to /etc/passwd, travelled into the new artifact
    from neuroq.agents.mlp import load_mlp_file

    assert np.array_equal(load_mlp_file(carried.artifact / FLOAT_DQN_FILE).weights[0],
                          load_mlp_file(passed / FLOAT_DQN_FILE).weights[0])
    secret = tmp_path / "secret.npz"
    shutil.copyfile(passed / FLOAT_DQN_FILE, secret)
    (passed / FLOAT_DQN_FILE).unlink()
    (passed / FLOAT_DQN_FILE).symlink_to(secret)
    with pytest.raises(NeuroqError, match="is not a regular file .a link.."):
        export(str(passed), str(tmp_path / "i"), eval_episodes=0, gate=0.0)
    (passed / FLOAT_DQN_FILE).unlink()
    (passed / FLOAT_DQN_FILE).write_bytes(secret.read_bytes() + b"\0")
    with pytest.raises(NeuroqError, match="does not match its manifest"):
        export(str(passed), str(tmp_path / "j"), eval_episodes=0, gate=0.0)


def test_eval_warns_of_an_artifact_that_failed_its_gate(tmp_path, capsys):
    """An outsider's artifact exported with --force at 55 % played in eval without a word."""
    from neuroq.agents.cli.main import main

    failed = export(str(tiny_finetune_run()), str(tmp_path / "a"), eval_episodes=0, gate=2.0,
                    gate_episodes=3, force=True)
    passed = export(str(tiny_finetune_run()), str(tmp_path / "b"), eval_episodes=0, gate=0.0,
                    gate_episodes=3)
    for made, warned in ((failed, True), (passed, False)):
        assert main(["eval", str(made.artifact), "--episodes", "1",
                     "--out", str(tmp_path / "evals")]) == 0
        err = capsys.readouterr().err
        assert ("neuroq eval: warning: this artifact failed its export gate: SNN " in err
                and "exported with --force" in err) == warned, err
        # and robustness, as the recheck found it silent
        assert main(["robustness", str(made.artifact), "--episodes", "1", "--networks", "snn",
                     "--noise", "--action-delay", "--drop", "--no-physics",
                     "--out", str(tmp_path / "rob")]) == 0
        err = capsys.readouterr().err
        assert ("neuroq robustness: warning: this artifact failed its export gate" in err
                ) == warned, err
        # and energy (untested until an outsider's list named it)
        assert main(["energy", str(made.artifact), "--episodes", "1", "--latency-samples",
                     "5", "--sweep", "4", "--sweep-episodes", "1", "--no-gpu",
                     "--no-tensorboard", "--out", str(tmp_path / "energy")]) == 0
        err = capsys.readouterr().err
        assert ("neuroq energy: warning: this artifact failed its export gate" in err
                ) == warned, err


def test_the_gate_records_the_interval_of_its_fraction_and_says_when_it_cannot_decide(
        tmp_path):
    """An outsider's export was refused at 97.1 % (gate 99 %) on a task whose returns spread
    by 53, right after fine-tuning reported 100.1 % on other episodes: the refusal gives the
    fraction's paired 95 % interval and says when it reaches the gate."""
    from neuroq.agents.export import _undecided, interval_text

    made = export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=0, gate=2.0,
                  gate_episodes=5, force=True)
    gate = load_artifact(made.artifact).manifest["gate"]
    lo, hi = gate["fraction_ci95"]
    assert lo <= gate["fraction"] <= hi
    figures = {"fraction_ci95": [0.931, 1.004], "threshold": 0.99, "snn": {"n": 100}}
    assert interval_text(figures) == "; paired 95 % interval of the fraction 93.1-100.4 %"
    assert _undecided(figures).startswith(": the interval reaches the gate, so these 100 "
                                          "episodes do not tell")
    assert _undecided({**figures, "fraction_ci95": [0.90, 0.97]}) == ""
    assert interval_text({"fraction_ci95": [None, None]}) == interval_text({}) == ""
    # one episode: no interval, and too few to decide whatever it says (a 1-episode refusal
    # quoted "93.1-93.1 %": stop 45)
    one = {**figures, "fraction_ci95": [0.931, 0.931], "snn": {"n": 1}}
    assert interval_text(one) == "; one episode gives no interval"
    assert _undecided(one).startswith(": 1 episode is too few to tell this network from one")
    few = {**figures, "fraction_ci95": [0.90, 0.97], "snn": {"n": 5}}
    assert interval_text(few).endswith("90.0-97.0 %") and _undecided(few).startswith(
        ": 5 episodes are too few")
    assert _undecided({**figures, "fraction_ci95": [0.90, 0.97], "snn": {"n": 20}}) == ""


def test_a_refusal_across_signs_gives_no_percentage(tmp_path, monkeypatch):
    """An outsider's refusal read "the SNN's return -3.3 is -532.9 % of the float DQN's
    0.6": a share of a return of the other sign means nothing."""
    import neuroq.agents.export as export_module

    figures = {"snn": {"mean": -3.3, "n": 10}, "float_dqn": {"mean": 0.62, "n": 10},
               "fraction": -5.33, "fraction_ci95": [None, None], "threshold": 0.99,
               "passed": False, "seeds": [900000, 900009]}
    monkeypatch.setattr(export_module, "gate_figures", lambda *a, **k: figures)
    with pytest.raises(NeuroqError, match=r"the SNN's return -3.3 is below, and of the other "
                                          r"sign from, the float DQN's 0.6 on held-out") as e:
        export(str(tiny_finetune_run()), str(tmp_path), eval_episodes=0, gate=0.99,
               gate_episodes=10)
    assert "%" not in str(e.value).split("(gate")[0]
    # the one wording everywhere a gate's share is printed (the --force line, the demo
    # report), and a share that is not defined (a float return of 0) is not "below"
    from neuroq.agents.export import percent, share_clause

    assert percent(-5.33) == "no share: of the other sign" and percent(None) == "no share"
    assert percent(0.931) == "93.1 %" and share_clause(0.931) == "is 93.1 % of"
    assert share_clause(None) == "cannot be put as a share of"


def test_the_demo_and_neuroq_finetune_fine_tune_with_one_recipe(tmp_path, monkeypatch):
    """The demo fine-tuned 20 epochs with spike penalty 0.2 while `neuroq finetune` took
    30 and 0 (CartPole training seed 1 at 62 % of its DQN by the demo's): both take
    FinetuneConfig's defaults now, the parsers and the pipeline alike; given values win."""
    from neuroq.agents import convert, pipeline, train
    from neuroq.agents import export as export_module
    from neuroq.agents import finetune as finetune_module
    from neuroq.agents.cli.main import build_parser
    from neuroq.agents.finetune import FinetuneConfig

    d = FinetuneConfig()
    demo = build_parser().parse_args(["demo"])
    tune = build_parser().parse_args(["finetune", "runs/x"])
    assert (demo.epochs, demo.spike_penalty) == (tune.epochs, tune.spike_penalty) == (
        d.epochs, d.spike_penalty)
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "result.json").write_text(json.dumps({"mean_return": 1.0, "episodes": 1,
                                                   "episode_seeds": [50_000, 50_000],
                                                   "ann_mean_return": 1.0}))
    used = []
    monkeypatch.setattr(train, "train_one", lambda *a, **k: stage)
    monkeypatch.setattr(convert, "run_convert", lambda *a, **k: stage)
    monkeypatch.setattr(finetune_module, "run_finetune",
                        lambda _run, _out, cfg, *a, **k: used.append(cfg) or stage)

    def stop(*args, **kwargs):
        raise NeuroqError("stop here")

    monkeypatch.setattr(export_module, "export", stop)
    for given, expected in (({}, (d.epochs, d.spike_penalty)),
                            ({"epochs": 7, "spike_penalty": 0.3}, (7, 0.3))):
        with pytest.raises(NeuroqError, match="stop here"):
            pipeline.run_pipeline(out_root=tmp_path / "runs", say=lambda _: None,
                                  energy=False, **given)
        assert (used[-1].epochs, used[-1].spike_penalty) == expected


def test_a_runs_root_moved_elsewhere_finds_the_runs_its_runs_recorded(tmp_path):
    """A convert run records its train run, a finetune run's network its train run, by
    the absolute path where they were made: a runs root (or a sweep) moved or copied
    elsewhere failed finetune and export on the old path (a recheck's sweep moved halfway).
    They now take the run of that name beside the one that recorded it."""
    import shutil

    from neuroq.agents.finetune import load_teacher

    fine = tiny_finetune_run()
    root = fine.parents[1]
    copy = tmp_path / "copied" / "runs"
    shutil.copytree(root, copy)
    away = root.with_name(root.name + "-away")
    root.rename(away)  # the recorded paths are gone, as on another machine
    try:
        conv = copy / "CartPole-v1" / tiny_convert_run().name
        _, prov = load_teacher(open_convert_run(conv))
        assert prov["train_run"] == str(copy / "CartPole-v1" / "train-seed0-test")
        made = export(str(copy / "CartPole-v1" / fine.name), str(tmp_path / "out"),
                      eval_episodes=1, gate=0.0, gate_episodes=2)
        assert made.result["gate"]["teacher"] == "float DQN" and "float_dqn" in made.result["gate"]
        # the artifact names the runs where they are now, not the old root's (an outsider)
        prov = load_artifact(made.artifact).manifest["provenance"]
        assert {prov[k] for k in ("train_run", "convert_run", "finetune_run")} == {
            str(copy / "CartPole-v1" / name) for name in ("train-seed0-test", conv.name,
                                                          fine.name)}
        # a run of that name that is another run (another seed, another env, copied in and
        # renamed: an outsider's was taken silently as the teacher, or crashed on a matmul)
        from stable_baselines3 import DQN

        from neuroq.agents.energy.runs import find_float_dqn
        from neuroq.agents.mlp import FLOAT_DQN_FILE

        (made.artifact / FLOAT_DQN_FILE).unlink()  # energy and robustness: the train run
        manifest = load_artifact(made.artifact).manifest
        assert find_float_dqn(made.artifact, manifest)[0] is not None
        train = copy / "CartPole-v1" / "train-seed0-test"
        for env_id, match in (("CartPole-v1", r"max \|dQ\|"),
                              ("Acrobot-v1", "another observation size")):
            DQN("MlpPolicy", env_id, policy_kwargs={"net_arch": [32, 32]}, seed=7,
                device="cpu").save(train / "final_model.zip")
            for attempt in (lambda: load_teacher(open_convert_run(conv)),
                            lambda: export(str(copy / "CartPole-v1" / fine.name),
                                           str(tmp_path / "out"), eval_episodes=1, gate=0.0,
                                           gate_episodes=2)):
                with pytest.raises(NeuroqError, match=r"is not the one the convert run .*"
                                   + match):
                    attempt()
            dqn, why = find_float_dqn(made.artifact, manifest)
            assert dqn is None and "is not the one the convert run" in why, why
    finally:
        away.rename(root)
    # a recorded run that is nowhere: the error names the recorded path
    from neuroq.agents.runs import recorded_run

    assert recorded_run("/nowhere/runs/CartPole-v1/train-x", conv) == \
        "/nowhere/runs/CartPole-v1/train-x"
    assert recorded_run("", conv) == "" and recorded_run(None, conv) is None
