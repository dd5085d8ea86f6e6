"""Artifact: NIR + manifest round trip, bit-identical reference runs, refusal of tampering."""

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from neuroq.deploy.artifact import (
    MANIFEST_FILE,
    WEIGHTS_FILE,
    load_artifact,
    read_manifest,
    save_artifact,
    write_manifest,
)
from neuroq.deploy.encoders import PopulationEncoder, RateEncoder
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import run_reference
from tests.helpers.networks import random_network


def manifest_for(net):
    return {"env_id": "CartPole-v1",
            "observation_space": {"shape": [4], "dtype": "float32"},
            "action_space": {"n": net.n_actions},
            "provenance": {"train_run": "runs/x/train-1", "convert_run": "runs/x/convert-1"}}


OBS = np.random.default_rng(1).normal(size=(300, 4)).astype(np.float32)


@pytest.mark.parametrize("alpha,compare", [(1.0, ">="), (0.9, ">")])
def test_round_trip_same_arrays_and_bit_identical_runs(tmp_path, alpha, compare):
    enc = RateEncoder.fit(OBS)
    net = random_network(timesteps=6, alpha=alpha, compare=compare)
    path = save_artifact(tmp_path / "art", net, enc, manifest_for(net))
    assert path.name == MANIFEST_FILE and (tmp_path / "art" / WEIGHTS_FILE).is_file()
    assert (path.stat().st_mode & 0o777) == 0o644
    for where in (tmp_path / "art", path):
        art = load_artifact(where)
        assert art.encoder == enc and art.network.timesteps == net.timesteps
        assert art.network.q_scale == net.q_scale
        for a, b in zip(net.layers, art.network.layers, strict=True):
            assert a.name == b.name and a.spiking == b.spiking
            assert b.weight.dtype == np.int8 and np.array_equal(a.weight, b.weight)
            assert a.weight_scale == b.weight_scale
            for field in ("threshold", "alpha_decay", "i_offset", "v_reset"):
                x, y = getattr(a.params, field), getattr(b.params, field)
                assert y.dtype == np.float32 and np.array_equal(x, y), field
            assert a.params.reset == b.params.reset and a.params.compare == b.params.compare
    spikes = enc.encode(OBS, net.timesteps)
    r1, r2 = run_reference(net, spikes), run_reference(art.network, spikes)
    assert np.array_equal(r1.q.view(np.uint32), r2.q.view(np.uint32))
    m = art.manifest
    assert m["encoder"]["kind"] == "rate" and m["timesteps"] == 6
    assert [x["weight_scale"] for x in m["layers"]] == [x.weight_scale for x in net.layers]
    assert m["neuron"]["threshold_compare"] == compare
    assert len(m["weights_sha256"]) == 64 and m["provenance"]["train_run"]


def test_nir_graph_is_standard(tmp_path):
    import nir

    net = random_network(timesteps=6)
    save_artifact(tmp_path, net, PopulationEncoder.fit(OBS, 2), manifest_for(net))
    g = nir.read(tmp_path / WEIGHTS_FILE)
    kinds = [type(g.nodes[n]).__name__ for n in
             ("input", "layer0_w", "layer0", "layer1_w", "layer1", "layer2_w", "layer2",
              "output")]
    assert kinds == ["Input", "Affine", "IF", "Affine", "IF", "Affine", "I", "Output"]
    assert ("layer2", "output") in g.edges
    with h5py.File(tmp_path / WEIGHTS_FILE) as f:  # no object (pickle-able) datasets
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert obj.dtype.kind != "O" or h5py.check_string_dtype(obj.dtype), name
        f.visititems(visit)


def test_wrong_hash_is_refused(tmp_path):
    net = random_network(timesteps=6)
    save_artifact(tmp_path, net, PopulationEncoder.fit(OBS, 2), manifest_for(net))
    with h5py.File(tmp_path / WEIGHTS_FILE, "r+") as f:
        f["node/nodes/layer0_w/weight"][0, 0] += 1
    with pytest.raises(NeuroqError, match="does not match its manifest"):
        load_artifact(tmp_path)


def test_tampered_manifest_and_missing_files(tmp_path):
    net = random_network(timesteps=6)
    save_artifact(tmp_path, net, PopulationEncoder.fit(OBS, 2), manifest_for(net))
    m = json.loads((tmp_path / MANIFEST_FILE).read_text())
    m["layers"][1]["weight_scale"] = 1.0
    write_manifest(tmp_path, m)
    with pytest.raises(NeuroqError, match="layer table.*disagrees"):
        load_artifact(tmp_path)
    m["encoder"]["n_per_dim"] = 3
    write_manifest(tmp_path, m)
    with pytest.raises(NeuroqError, match="inputs"):
        load_artifact(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(NeuroqError, match="not valid JSON"):
        load_artifact(tmp_path)
    with pytest.raises(NeuroqError, match="nowhere does not exist"):
        load_artifact(tmp_path / "nowhere")


def test_save_refuses_incomplete_manifest_and_leaves_nothing(tmp_path):
    net = random_network(timesteps=6)
    with pytest.raises(NeuroqError, match="lacks provenance"):
        save_artifact(tmp_path / "a", net, PopulationEncoder.fit(OBS, 2),
                      {k: v for k, v in manifest_for(net).items() if k != "provenance"})
    assert not (tmp_path / "a").exists()
    with pytest.raises(NeuroqError, match="inputs"):
        save_artifact(tmp_path / "a", net, PopulationEncoder.fit(OBS, 3), manifest_for(net))


def test_manifest_must_be_plain_json(tmp_path):
    net = random_network(timesteps=6)
    bad = {**manifest_for(net), "note": float("nan")}
    with pytest.raises(NeuroqError, match="not plain JSON"):
        save_artifact(tmp_path / "b", net, PopulationEncoder.fit(OBS, 2), bad)
    assert not (tmp_path / "b").exists()


def test_corrupted_weights_file_with_matching_hash(tmp_path):
    from neuroq.deploy.artifact import sha256_file

    net = random_network(timesteps=6)
    save_artifact(tmp_path, net, PopulationEncoder.fit(OBS, 2), manifest_for(net))
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not hdf5 at all")
    m = json.loads((tmp_path / MANIFEST_FILE).read_text())
    m["weights_sha256"] = sha256_file(tmp_path / WEIGHTS_FILE)
    write_manifest(tmp_path, m)
    with pytest.raises(NeuroqError, match="not a readable NIR graph"):
        load_artifact(tmp_path)


def test_graph_states_delays_comparison_and_what_nir_cannot_say(tmp_path):
    import nir

    net = random_network(timesteps=6)
    save_artifact(tmp_path, net, PopulationEncoder.fit(OBS, 2), manifest_for(net))
    g = nir.read(tmp_path / WEIGHTS_FILE)
    for k, layer in enumerate(net.layers):
        assert (f"layer{k}_delay", f"layer{k}_w") in g.edges
        assert np.all(g.nodes[f"layer{k}_delay"].delay == 1.0)
        if layer.spiking:  # NIR's v > v_threshold is the chip's v >= threshold
            v_thr = g.nodes[f"layer{k}"].v_threshold
            assert np.all(v_thr < layer.params.threshold)
            assert np.array_equal(np.nextafter(v_thr, np.float32(np.inf)),
                                  layer.params.threshold)
    gap = g.metadata["not_expressed"]
    gap = gap.decode() if isinstance(gap, bytes) else gap
    assert "reset by subtracting the threshold" in gap
    # the layers are named with their nodes (it said "fc0", a name no node has: an outsider)
    named = re.findall(r"\(node (layer\d+)\)", gap)
    assert named and all(name in g.nodes for name in named), gap
    m = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert m["format_version"] == 2 and m["neuron"]["not_expressed_in_nir"] == [gap]


def _v1_graph(net):
    """The graph layout of format version 1: no Delay nodes, exact thresholds."""
    import nir

    nodes, edges, prev = {"input": nir.Input(np.array([net.n_inputs]))}, [], "input"
    for k, layer in enumerate(net.layers):
        p = layer.params
        meta = {"alpha_decay": p.alpha_decay, "weight_scale": layer.weight_scale,
                "spiking": int(layer.spiking), "reset": p.reset.value,
                "compare": p.compare.value}
        nodes[f"layer{k}.w"] = nir.Affine(layer.weight.astype(np.float32), p.i_offset,
                                          metadata={"name": layer.name})
        nodes[f"layer{k}"] = (
            nir.IF(np.ones(layer.n_out, np.float32), p.threshold, p.v_reset, metadata=meta)
            if layer.spiking else
            nir.I(np.ones(layer.n_out, np.float32),
                  metadata={**meta, "threshold": p.threshold, "v_reset": p.v_reset}))
        edges += [(prev, f"layer{k}.w"), (f"layer{k}.w", f"layer{k}")]
        prev = f"layer{k}"
    nodes["output"] = nir.Output(np.array([net.n_actions]))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={
        "producer": "neuroq-artifact", "dt": 1.0, "timesteps": net.timesteps,
        "q_scale": net.q_scale, "projection_delay_steps": 1})


def test_format_version_1_artifacts_still_load(tmp_path):
    import nir

    from neuroq.deploy.artifact import sha256_file

    net = random_network(timesteps=6)
    enc = PopulationEncoder.fit(OBS, 2)
    save_artifact(tmp_path, net, enc, manifest_for(net))
    nir.write(tmp_path / WEIGHTS_FILE, _v1_graph(net))
    m = json.loads((tmp_path / MANIFEST_FILE).read_text())
    m.update(format_version=1, weights_sha256=sha256_file(tmp_path / WEIGHTS_FILE))
    write_manifest(tmp_path, m)
    spikes = enc.encode(OBS, net.timesteps)
    loaded = load_artifact(tmp_path).network
    assert np.array_equal(run_reference(net, spikes).q, run_reference(loaded, spikes).q)


def test_missing_metadata_is_named_as_missing_and_foreign_graphs_point_to_import(tmp_path):
    from neuroq.deploy.artifact import network_from_nir, network_to_nir

    net = random_network(timesteps=6)
    g = network_to_nir(net)
    del g.metadata["timesteps"]
    with pytest.raises(NeuroqError, match="metadata 'timesteps' is missing"):
        network_from_nir(g, 6)
    g = network_to_nir(net)
    with pytest.raises(NeuroqError, match="graph metadata says timesteps = 6, the manifest 5"):
        network_from_nir(g, 5)
    del g.nodes["layer1"].metadata["alpha_decay"]
    with pytest.raises(NeuroqError, match="layer1: metadata 'alpha_decay' is missing"):
        network_from_nir(g, 6)
    g.metadata = {}
    with pytest.raises(NeuroqError, match="'producer' is missing.*neuroq import"):
        network_from_nir(g, 6)
    (tmp_path / "g.nir").write_bytes(b"x")
    with pytest.raises(NeuroqError, match="not an artifact folder.*neuroq import"):
        load_artifact(tmp_path / "g.nir")


def test_profiles_are_extra_files_with_their_hash(tmp_path):
    import nir

    from neuroq.deploy.nir_profiles import F32_MAX

    net = random_network(timesteps=6)
    save_artifact(tmp_path, net, PopulationEncoder.fit(OBS, 2), manifest_for(net),
                  nir_profiles=("snntorch", "norse", "spinnaker2", "neuroq"))
    m = load_artifact(tmp_path).manifest
    assert sorted(m["nir_profiles"]) == ["norse", "snntorch", "spinnaker2"]
    s2 = nir.read(tmp_path / "network.spinnaker2.nir")
    # s2_nir reads Input, Output, Affine, IF and LIF; it refuses Delay, I and LI
    assert {type(n).__name__ for n in s2.nodes.values()} == {"Input", "Output", "Affine", "IF"}
    assert np.all(s2.nodes["layer2"].v_threshold == F32_MAX)
    with h5py.File(tmp_path / "network.norse.nir", "r+") as f:
        f["node/nodes/layer0_w/weight"][0, 0] += 1
    with pytest.raises(NeuroqError, match="network.norse.nir does not match its manifest"):
        load_artifact(tmp_path)


def test_spinnaker2_profile_read_as_s2_nir_documents_it(tmp_path):
    """s2_nir (ConversionConfig(dt=1, integrator=FORWARD, scale_weights=False)): per Affine
    and IF/LIF, alpha = 1 - dt/tau, threshold = v_threshold / (dt/tau r) (IF: / r),
    i_offset = bias, one step of conn_delay per projection; the readout's voltage."""
    import nir

    from neuroq.deploy.network import Layer, SpikingQNetwork
    from neuroq.deploy.neuron import make_params

    net = random_network(timesteps=6, alpha=0.9, v_reset_sd=0.0)
    save_artifact(tmp_path, net, PopulationEncoder.fit(OBS, 2), manifest_for(net),
                  nir_profiles=("spinnaker2",))
    g = nir.read(tmp_path / "network.spinnaker2.nir")
    assert "adds it itself (conn_delay)" in str(g.metadata["not_expressed"])
    # the reader it names sets what the board adapter writes (a review: conn_delay was left
    # at s2_nir's default, 1) and the network's reset
    from neuroq.deploy.spinnaker2 import CONNECTION_DELAY

    reader = str(g.metadata["reader"])
    assert f"conn_delay={CONNECTION_DELAY}," in reader and "IntegratorMethod.FORWARD" in reader
    resets = {la.params.reset.name for la in net.layers if la.spiking}
    assert f"reset=ResetMethod.{'SUBTRACT' if resets == {'SUBTRACT'} else 'ZERO'}" in reader
    layers = []
    for k, ref in enumerate(net.layers):
        aff, lif = g.nodes[f"layer{k}_w"], g.nodes[f"layer{k}"]
        dt_tau = 1.0 / lif.tau.astype(np.float64)
        p = make_params(ref.n_out, threshold=lif.v_threshold / (dt_tau * lif.r),
                        alpha_decay=(1 - dt_tau).astype(np.float32), i_offset=aff.bias,
                        reset=ref.params.reset, compare=">")
        layers.append(Layer(ref.name, aff.weight.astype(np.int8), 1.0, p, ref.spiking))
    s2 = SpikingQNetwork(tuple(layers), net.timesteps, net.q_scale)
    spikes = np.random.default_rng(0).random((6, 500, net.n_inputs)) < 0.5
    a, b = run_reference(net, spikes).q, run_reference(s2, spikes).q
    assert (a.argmax(1) == b.argmax(1)).all()
    assert np.abs(a - b).max() <= 1e-3 * np.abs(a).max()


def test_a_shipped_artifact_is_found_by_name_where_no_such_path_exists(tmp_path, monkeypatch):
    """`-p artifact:=cartpole` was "artifact cartpole does not exist" while
    `interface:=cartpole` found the shipped interface (an outsider's robot). A bare name
    that is no path names a shipped artifact now; a path never does, and a folder of that
    name in the working directory comes first."""
    from neuroq.deploy.paths import shipped_data

    monkeypatch.chdir(tmp_path)
    assert read_manifest("cartpole")[0] == shipped_data().artifact("cartpole")
    # a trailing slash was "does not exist" (an outsider)
    assert read_manifest("cartpole/")[0] == shipped_data().artifact("cartpole")
    assert load_artifact("nav").manifest["env_id"] == "neuroq/DiffDriveNav-v0"
    with pytest.raises(NeuroqError, match=r"artifact cartpol does not exist, and no shipped "
                                          r"artifact 'cartpol' in .* \(shipped: .*cartpole.*; "
                                          r"did you mean cartpole\?\)"):
        read_manifest("cartpol")
    for path in ("sub/cartpole", "cartpole.json", "./cartpole2"):
        with pytest.raises(NeuroqError, match=r"does not exist$"):
            read_manifest(path)
    (tmp_path / "cartpole").mkdir()  # a folder here is the one meant; the shipped one named
    with pytest.raises(NeuroqError, match="is not an artifact: it has no manifest.json; the "
                                          "shipped artifact of that name is /"):
        read_manifest("cartpole")


def test_a_weight_of_minus_128_is_refused_when_the_artifact_loads(tmp_path):
    """The chip's synapses are [-127, 127] (max_weight_magnitude): an artifact holding -128
    loaded and ran on the reference backend, and only the emulator's compiler refused it
    (a review). It is refused when read, naming the limit."""
    from dataclasses import replace

    net = random_network(timesteps=6)
    w = net.layers[0].weight.copy()
    w[0, 0] = -128
    bad = replace(net, layers=(replace(net.layers[0], weight=w), *net.layers[1:]))
    save_artifact(tmp_path, bad, PopulationEncoder.fit(OBS, 2), manifest_for(bad))
    with pytest.raises(NeuroqError, match=r"integers in \[-127, 127\].*max_weight_magnitude"):
        load_artifact(tmp_path)


@pytest.mark.parametrize("what, match", [
    ("q_scale_zero", r"metadata 'q_scale' must lie in \[1.18e-38, 8.51e\+37\]"),
    ("q_scale_negative", "metadata 'q_scale' must lie in"),
    ("q_scale_tiny", "metadata 'q_scale' must lie in"),  # Q underflows (a recheck: 1e-300)
    ("q_scale_huge", "metadata 'q_scale' must lie in"),
    ("bias", "beyond float32's range"),
])
def test_values_no_trained_network_has_are_refused_at_load(tmp_path, what, match):
    """An outsider rehashed artifacts with q_scale 0 or -1 (every action the worst one:
    9.15 against 500) and an output bias of 3e38 (inf): each loaded and ran, exit 0."""
    import dataclasses

    from neuroq.deploy.network import SpikingQNetwork

    net = random_network(timesteps=4)
    if what.startswith("q_scale"):
        scale = {"zero": 0.0, "negative": -1.0, "tiny": 1e-300, "huge": 1e300}[
            what.removeprefix("q_scale_")]
        net = SpikingQNetwork(net.layers, net.timesteps, scale)
    else:
        out = net.layers[-1]
        params = out.params._replace(i_offset=np.full_like(out.params.i_offset, 3e38))
        net = SpikingQNetwork((*net.layers[:-1], dataclasses.replace(out, params=params)),
                              net.timesteps, net.q_scale)
    save_artifact(tmp_path / "art", net, RateEncoder.fit(OBS), manifest_for(net))
    with pytest.raises(NeuroqError, match=match):
        load_artifact(tmp_path / "art")


def test_encoder_bounds_beyond_float32_are_refused():
    """An outsider's encoder bounds of 1e308 overflowed to inf in the float32 cast."""
    with pytest.raises(NeuroqError, match=r"must lie within \+-8.51e\+37 \(the encoders "
                                          r"compute in float32\), got 1e\+308"):
        RateEncoder(center=(0.0,) * 4, half_range=(1e308, 1.0, 1.0, 1.0))
    with pytest.raises(NeuroqError, match="must lie within"):
        PopulationEncoder(low=(-1e308,) * 4, high=(1.0,) * 4, n_per_dim=4)


def test_a_gate_passed_on_too_few_episodes_is_said():
    """An outsider's `--gate-episodes 1` passed with a zero-width interval ("105.8-105.8 %"),
    and show, eval and the nodes then told it from a 100-episode gate by nothing."""
    from neuroq.deploy.artifact import artifact_warnings, gate_warning
    from neuroq.deploy.stats import MIN_INTERVAL_EPISODES

    for n in (1, MIN_INTERVAL_EPISODES - 1):
        line = gate_warning({"gate": {"passed": True, "snn": {"mean": 1.0, "n": n}}})
        assert line.startswith(f"this artifact's export gate was played on {n} episode"
                               f"{'s' if n > 1 else ''} only (fewer than "
                               f"{MIN_INTERVAL_EPISODES}): its pass and its interval say "
                               "little"), line
    for gate in ({"passed": True, "snn": {"n": MIN_INTERVAL_EPISODES}},
                 {"passed": True, "snn": {"mean": 1.0}}):  # enough, or not recorded
        assert gate_warning({"gate": gate}) is None
    # the count's key removed (a recheck's way around): the seed span says it
    assert "played on 1 episode only" in gate_warning(
        {"gate": {"passed": True, "snn": {"mean": 1.0}, "seeds": [900000, 900000]}})
    shipped = json.loads((Path(__file__).resolve().parents[1] / "config" / "artifacts"
                          / "cartpole" / "manifest.json").read_text())
    assert artifact_warnings(shipped) == []


def test_the_weights_parsed_are_the_bytes_that_were_hashed(tmp_path, monkeypatch):
    """An outsider rewrote an artifact in place between two valid versions while another
    process loaded it: 6 of 5000 loads took one version's manifest with the other's
    weights (the file was hashed, then read again to parse). Here the file changes right
    after its bytes are read: the load parses those bytes, which the manifest vouches for."""
    import neuroq.deploy.artifact as artifact_module
    from tests.helpers.artifacts import make_tiny_artifact

    a = make_tiny_artifact(tmp_path / "a")
    b = make_tiny_artifact(tmp_path / "b", rate_weight=0)
    weights_a = (a / "network.nir.h5").read_bytes()
    assert weights_a != (b / "network.nir.h5").read_bytes()
    read = artifact_module.read_capped_bytes

    def read_then_swap(path, what):
        data = read(path, what)
        (a / "network.nir.h5").write_bytes((b / "network.nir.h5").read_bytes())
        return data

    monkeypatch.setattr(artifact_module, "read_capped_bytes", read_then_swap)
    loaded = load_artifact(a)
    monkeypatch.undo()
    (a / "network.nir.h5").write_bytes(weights_a)
    want = load_artifact(a).network
    assert np.array_equal(loaded.network.layers[0].weight, want.layers[0].weight)
    assert not np.array_equal(loaded.network.layers[0].weight,
                              load_artifact(b).network.layers[0].weight)


def test_a_weights_file_larger_than_any_network_is_refused_before_it_is_read(tmp_path,
                                                                           monkeypatch):
    import neuroq.deploy.nir_file as nir_file
    from tests.helpers.artifacts import make_tiny_artifact

    art = make_tiny_artifact(tmp_path / "a")
    monkeypatch.setattr(nir_file, "MAX_FILE_BYTES", 1000)
    with pytest.raises(NeuroqError, match="more than any network neuroq runs"):
        load_artifact(art)
