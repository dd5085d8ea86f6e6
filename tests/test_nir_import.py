"""`neuroq import`: networks trained in snnTorch and Norse, and other NIR graphs, read with
their own semantics, made into chip artifacts, fine-tuned and exported."""

import json

import numpy as np
import pytest
import yaml

from neuroq.agents.cli.main import main
from neuroq.agents.nir_import import to_chip
from neuroq.agents.nir_source import read_source, run_source
from neuroq.deploy.artifact import load_artifact
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import run_reference
from neuroq.deploy.nir_profiles import profile_graph
from tests.helpers.networks import random_network

nir = pytest.importorskip("nir")
#: Source steps per action of the trained networks (chip: T + 2 projections = 7 <= 8).
SOURCE_T = 5


@pytest.fixture(scope="module")
def cartpole_data():
    from tests.helpers.peer_training import cartpole_data as data
    from tests.helpers.peer_training import cartpole_encoder

    obs, labels = data(3000)
    return obs, labels, cartpole_encoder(obs)


def _write_inputs(tmp_path, graph, encoder):
    nir.write(tmp_path / "policy.nir", graph)
    (tmp_path / "encoder.yaml").write_text(yaml.safe_dump(encoder.to_dict()))
    return tmp_path / "policy.nir", tmp_path / "encoder.yaml"


def _only(folder, prefix):
    runs = [p for p in folder.iterdir() if p.name.startswith(prefix)]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.slow
@pytest.mark.parametrize("library", ["snntorch", "norse"])
def test_trained_network_goes_import_eval_finetune_export(tmp_path, capsys, cartpole_data,
                                                          library):
    pytest.importorskip(library)
    from tests.helpers import peer_training as pt

    obs, labels, encoder = cartpole_data
    train, q_lib = ((pt.train_snntorch, pt.snntorch_q) if library == "snntorch"
                    else (pt.train_norse, pt.norse_q))
    net, graph = train(obs, labels, encoder, SOURCE_T, steps=200)
    graph_path, enc_path = _write_inputs(tmp_path, graph, encoder)
    # the source semantics neuroq reads from the graph are the library's own network
    src, _ = read_source(nir.read(graph_path))
    spikes = encoder.encode(obs, SOURCE_T)
    q_src, q_own = run_source(src, spikes), q_lib(net, spikes)
    assert (q_src.argmax(1) == q_own.argmax(1)).mean() == 1.0
    assert np.abs(q_src - q_own).max() <= 1e-4 * max(1.0, np.abs(q_own).max())

    out = tmp_path / "runs"
    assert main(["import", str(graph_path), "--env", "CartPole-v1", "--encoder",
                 str(enc_path), "-T", str(SOURCE_T), "--record-steps", "500",
                 "--eval-episodes", "2", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "neuroq import: warning:" in err and "delay-free" in err
    run = _only(out / "CartPole-v1", "import-")
    result = json.loads((run / "result.json").read_text())
    assert result["source"] == library and result["timesteps"] == SOURCE_T + 2
    assert 0.5 <= result["agreement"] <= 1.0
    art = load_artifact(run / "network")
    assert art.network.timesteps == SOURCE_T + 2 and art.encoder.silent_tail == 2
    assert all(la.weight.dtype == np.int8 for la in art.network.layers)

    assert main(["eval", str(run / "network"), "--episodes", "2", "--out", str(out)]) == 0
    assert main(["finetune", str(run), "--epochs", "2", "--dagger-steps", "200",
                 "--validation-episodes", "1", "--eval-episodes", "2", "--out", str(out),
                 "--no-progress"]) == 0
    ft = _only(out / "CartPole-v1", "finetune-")
    ft_result = json.loads((ft / "result.json").read_text())
    kept = ft_result["kept_epoch"]  # the start (-1) when no epoch did as well
    assert kept in (-1, 0, 1)
    assert ("kept: the starting network" if kept < 0 else f"kept: epoch {kept} (epochs 0-1 "
            ) in capsys.readouterr().out
    assert ft_result["import_run"] == str(run.resolve()) and "train_run" not in ft_result
    assert ft_result["teacher"].startswith("the imported source network")
    # the export gate plays the source network (there is no float DQN); --force: the test
    # checks the path, not how far two fine-tuning epochs get
    assert main(["export", str(ft), "--eval-episodes", "2", "--gate-episodes", "3", "--force",
                 "--out", str(out), "--nir-profile", "snntorch", "norse", "spinnaker2"]) == 0
    exported = load_artifact(_only(out / "CartPole-v1", "export-") / "artifact")
    assert exported.manifest["provenance"]["import_run"] == str(run.resolve())
    assert exported.manifest["gate"]["teacher"] == "imported source network"
    assert "float_dqn" not in exported.manifest
    assert set(exported.manifest["nir_profiles"]) == {"snntorch", "norse", "spinnaker2"}


@pytest.mark.parametrize("profile", ["neuroq", "norse", "snntorch"])
def test_neuroq_profiles_import_back_to_the_same_network(tmp_path, profile):
    """A graph with one-step Delay nodes already has the chip's timing: T stays, weights stay
    integers (scale 1), and the chip network computes what the source does."""
    net = random_network(timesteps=7, alpha=1.0, reset="reset_to_v_reset", v_reset_sd=0.0,
                         thresholds_per_layer=True)
    nir.write(tmp_path / "g.nir", profile_graph(net, profile))
    src, read_notes = read_source(nir.read(tmp_path / "g.nir"), reset="zero")
    assert src.delays
    # a readout drawn at float32 max never fires: the "readout ... is a spiking" warning
    # did not apply (an outsider)
    assert not any("is a spiking" in n for n in read_notes), read_notes
    chip, notes = to_chip(src, net.timesteps)
    assert chip.timesteps == net.timesteps
    for a, b in zip(net.layers, chip.layers, strict=True):
        assert np.array_equal(a.weight, b.weight)
    # kept, not quantized: the note said "weights quantized to int8" here (an outsider)
    assert not any("quantized" in n for n in notes), notes
    spikes = np.random.default_rng(0).random((7, 400, net.n_inputs)) < 0.5
    v_ref = run_reference(net, spikes).v_out
    assert (run_source(src, spikes).argmax(1) == v_ref.argmax(1)).all()
    assert (run_reference(chip, spikes).v_out.argmax(1) == v_ref.argmax(1)).all()


@pytest.mark.parametrize("profile", ["neuroq", "norse", "snntorch", "spinnaker2"])
@pytest.mark.parametrize("reset", ["reset_to_v_reset", "reset_by_subtraction"])
@pytest.mark.parametrize("alpha", [1.0, 0.9, 0.0])  # 0: no memory (was refused: a recheck)
def test_a_neuroq_export_imports_back_with_its_q_scale_and_reset(tmp_path, profile, reset,
                                                                 alpha):
    """An outsider re-imported a shipped artifact's snnTorch profile: Q came out 1/q_scale
    (41.6x) too large and the network was read as resetting by subtraction where it reset
    to v_reset (measured before: 77 % of greedy actions kept in such cases, |dQ| ~ 2000).
    The graph metadata of a neuroq export says both; nothing passed by hand."""
    net = random_network(timesteps=7, alpha=alpha, reset=reset, v_reset_sd=0.0,
                         thresholds_per_layer=True)
    nir.write(tmp_path / "g.nir", profile_graph(net, profile))
    src, notes = read_source(nir.read(tmp_path / "g.nir"))
    assert src.q_scale == pytest.approx(net.q_scale)
    assert src.reset == ("zero" if reset == "reset_to_v_reset" else "subtract")
    assert not src.reset_delay and any("neuroq's own export" in n for n in notes)
    assert src.delays  # spinnaker2: none drawn, the chip's all the same (s2_nir adds them)
    spikes = np.random.default_rng(0).random((7, 400, net.n_inputs)) < 0.5
    q_ref = run_reference(net, spikes).q
    q = run_source(src, spikes)
    assert (q.argmax(1) == q_ref.argmax(1)).all()
    assert np.abs(q - q_ref).max() <= 1e-5 * np.abs(q_ref).max()
    chip, _ = to_chip(src, net.timesteps)
    assert chip.q_scale == pytest.approx(net.q_scale)
    stripped = nir.read(tmp_path / "g.nir")
    stripped.metadata = {**stripped.metadata, "q_scale": -1.0}
    with pytest.raises(NeuroqError, match="a neuroq export whose metadata q_scale"):
        read_source(stripped)


def test_norse_export_conventions_are_mapped(cartpole_data):
    """Norse writes tau = dt x tau and r = 1: read back as alpha 0.9, gain 0.1 at dt 1e-3."""
    pytest.importorskip("norse")
    from tests.helpers import peer_training as pt

    obs, labels, encoder = cartpole_data
    _, graph = pt.train_norse(obs[:300], labels[:300], encoder, SOURCE_T, steps=1)
    src, notes = read_source(graph)
    assert src.convention == "norse" and src.reset == "zero"
    assert np.allclose(src.layers[-1].alpha, 0.9) and np.allclose(src.layers[-1].gain, 0.1)
    assert any("Norse's export" in n for n in notes)


def _chain_graph(neuron, extra=None):
    n_in, n = 4, 3
    nodes = {"input": nir.Input(np.array([n_in])),
             "fc": nir.Affine(np.ones((n, n_in), np.float32), np.zeros(n, np.float32)),
             "lif": neuron, "output": nir.Output(np.array([n]))}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "output")]
    if extra:
        nodes, edges = extra(nodes, edges)
    return nir.NIRGraph(nodes=nodes, edges=edges)


def test_a_node_neuroq_cannot_run_is_named():
    g = _chain_graph(nir.Threshold(np.ones(3, np.float32)))
    with pytest.raises(NeuroqError, match="node 'lif' is a Threshold.*Affine/Linear with IF"):
        read_source(g)


def _recurrent(nodes, edges):  # snnTorch's RLeaky: the neuron feeds a weight back to itself
    nodes = {**nodes, "rec": nir.Linear(np.ones((3, 3), np.float32))}
    return nodes, [*edges, ("lif", "rec"), ("rec", "lif")]


def _branch(nodes, edges):
    nodes = {**nodes, "side": nir.Output(np.array([3]))}
    return nodes, [*edges, ("lif", "side")]


def _unfed_output(nodes, edges):
    return nodes, [e for e in edges if e[1] != "output"]


@pytest.mark.parametrize("extra, match", [
    (_recurrent, r"node 'lif' feeds back into itself \(lif -> rec -> lif\): a recurrent "
                 r"connection; neuroq reads feed-forward sequential graphs only"),
    (_branch, r"node 'lif' feeds more than one node \('output', 'side'\)"),
    (_unfed_output, r"needs exactly one Input node, found 2 \('input' feeding 'fc', "
                    r"'input_output' feeding 'output'; nir adds an Input node before each "
                    r"node that no edge feeds: is an edge missing\?\)"),
])
def test_a_graph_that_is_no_chain_is_named_for_what_it_is(extra, match):
    """An snnTorch RLeaky was refused as "feeds more than one node" (never "recurrent"), and
    an Output nothing feeds as "needs exactly one Input node, found 2"."""
    g = _chain_graph(nir.IF(np.ones(3, np.float32), np.ones(3, np.float32)), extra)
    with pytest.raises(NeuroqError, match=match):
        read_source(g)


def test_a_slow_synapse_is_refused_with_the_reason():
    n = 3
    cuba = nir.CubaLIF(tau_syn=np.full(n, 5e-4, np.float32), tau_mem=np.full(n, 1e-3, np.float32),
                       r=np.full(n, 10.0, np.float32), v_leak=np.zeros(n, np.float32),
                       v_threshold=np.ones(n, np.float32), w_in=np.ones(n, np.float32))
    with pytest.raises(NeuroqError, match="synaptic current that outlasts one step"):
        read_source(_chain_graph(cuba), "snntorch")


def _lif(tau=1e-3, r=1.0, n=3):
    return nir.LIF(tau=np.full(n, tau, np.float32), r=np.full(n, r, np.float32),
                   v_leak=np.zeros(n, np.float32), v_threshold=np.ones(n, np.float32))


@pytest.mark.parametrize("dt", [0.0, -1.0, float("nan"), float("inf"), "abc"])
def test_a_graph_dt_that_is_no_step_is_refused(dt):
    """A graph whose metadata said dt = 0 imported with every layer's input gain 0 (dead),
    exit 0 and "agreement 1.0000" (an outsider), where --dt 0 was refused."""
    g = _chain_graph(_lif())
    g.metadata = {"dt": dt}
    for source in ("auto", "nir"):
        with pytest.raises(NeuroqError, match=r"its metadata's dt = .* is not a positive "
                                              r"number of seconds \(pass --dt"):
            read_source(g, source)
    net, _ = read_source(g, "nir", dt=1e-3)  # --dt says what it is: the metadata is unread
    assert net.dt == 1e-3 and np.all(net.layers[0].gain > 0)
    g.metadata = {"dt": 1e-3}
    assert read_source(g, "nir")[0].dt == 1e-3


def test_standard_nir_time_constants_without_any_dt_are_refused():
    """`--source nir` on a graph of LIF nodes with no dt in its metadata and no --dt took
    dt = 1 without a word (an outsider's tau = 10 graph imported, agreement 0.99; taus in
    seconds would have read as steps). A graph without time constants needs none."""
    g = _chain_graph(_lif())
    g.metadata = {}
    with pytest.raises(NeuroqError, match="its LIF/LI time constants need the time step, "
                                          "and neither --dt nor the graph's metadata gives "
                                          "it: pass --dt"):
        read_source(g, "nir")
    assert read_source(g, "nir", dt=1e-3)[0].dt == 1e-3
    g.metadata = {"dt": 5e-4}
    assert read_source(g, "nir")[0].dt == 5e-4


def test_a_lif_without_leak_but_a_finite_r_is_refused():
    """tau = inf with a finite r has input gain r dt / tau = 0: an outsider's such LIF
    imported as a dead layer, exit 0. tau = r = inf (snnTorch's beta = 1) still imports."""
    with pytest.raises(NeuroqError, match="node 'lif': tau = inf with a finite r: its input "
                                          "gain r dt/tau is 0"):
        read_source(_chain_graph(_lif(tau=np.inf, r=2.0)), "nir", dt=1e-3)
    net, _ = read_source(_chain_graph(_lif(tau=np.inf, r=np.inf)), "nir", dt=1e-3)
    assert np.all(net.layers[0].gain == 1.0) and np.all(net.layers[0].alpha == 1.0)


@pytest.mark.parametrize("field", ["weight", "bias"])
def test_a_nan_weight_or_bias_is_named_as_such(field):
    """A NaN weight was refused as "neuron parameter threshold has non-finite values"."""
    g = _chain_graph(_lif())
    fc = g.nodes["fc"]
    getattr(fc, field).flat[1] = np.nan
    with pytest.raises(NeuroqError, match=f"Affine 'fc' has NaN or infinite values in its "
                                          f"{field}"):
        read_source(g, "nir", dt=1e-3)


def test_an_unreadable_graph_says_what_it_lacks_or_that_it_cycles(tmp_path):
    """nir.read's own errors: a missing field was "'type'", and a recurrent graph whose
    shapes do not line up a "type mismatch" that never said "cycle" (an outsider)."""
    import h5py

    from neuroq.agents.nir_import import read_graph

    path = tmp_path / "g.nir"
    nir.write(path, _chain_graph(_lif()))
    with h5py.File(path, "r+") as f:
        del f["node"]["nodes"]["lif"]["type"]
    with pytest.raises(NeuroqError, match=r"not a readable NIR graph: node 'lif' has no "
                                          r"'type' field$"):
        read_graph(path)
    nir.write(path, _chain_graph(_lif()))  # a parameter, not the type (the recheck: the
    with h5py.File(path, "r+") as f:  # node was not named)
        del f["node"]["nodes"]["fc"]["weight"]
    with pytest.raises(NeuroqError, match=r"not a readable NIR graph: node 'fc': .*missing 1 "
                                          r"required positional argument: 'weight'$"):
        read_graph(path)
    nir.write(path, _chain_graph(_lif()))  # an unknown type: nir says a bare AssertionError
    with h5py.File(path, "r+") as f:
        del f["node"]["nodes"]["lif"]["type"]
        f["node"]["nodes"]["lif"]["type"] = b"Bogus"
    with pytest.raises(NeuroqError, match=r"not a readable NIR graph: node 'lif': Unknown "
                                          r"unit type: b'Bogus'$"):
        read_graph(path)
    nir.write(path, _chain_graph(_lif()))  # the graph's own field
    with h5py.File(path, "r+") as f:
        del f["node"]["edges"]
    with pytest.raises(NeuroqError, match=r"not a readable NIR graph: [^']*'edges'") as err:
        read_graph(path)
    assert "node '" not in str(err.value)  # every node reads: none is blamed
    nodes = {"input": nir.Input(np.array([4])),
             "fc": nir.Affine(np.ones((3, 4), np.float32), np.zeros(3, np.float32)),
             "lif": _lif(), "fc2": nir.Affine(np.ones((2, 3), np.float32),
                                              np.zeros(2, np.float32)),
             "output": nir.Output(np.array([2]))}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "fc2"), ("fc2", "output"), ("fc2", "fc")]
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    with pytest.raises(NeuroqError, match=r"not a readable NIR graph: .*\(its edges form a "
                                          r"cycle, .*fc2 -> fc.*: a recurrent connection"):
        read_graph(path)


def test_missing_timesteps_is_named_as_missing(tmp_path, capsys, cartpole_data):
    g = _chain_graph(nir.IF(np.ones(3, np.float32), np.ones(3, np.float32)))
    obs, _, encoder = cartpole_data
    graph_path, enc_path = _write_inputs(tmp_path, g, encoder)
    code = main(["import", str(graph_path), "--env", "CartPole-v1", "--encoder", str(enc_path),
                 "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "no 'timesteps' in its metadata" in err
    assert not (tmp_path / "runs").exists()


def test_encoder_that_does_not_fit_the_graph_is_refused(tmp_path, capsys, cartpole_data):
    g = _chain_graph(nir.IF(np.ones(3, np.float32), np.ones(3, np.float32)))
    obs, _, encoder = cartpole_data
    graph_path, enc_path = _write_inputs(tmp_path, g, encoder)
    code = main(["import", str(graph_path), "--env", "CartPole-v1", "--encoder", str(enc_path),
                 "-T", "4", "--out", str(tmp_path / "runs")])
    assert code == 2 and "encoder gives 32 inputs" in capsys.readouterr().err


def _readout_graph(n_in: int, n_out: int = 2, metadata=None):
    """Input -> Affine (random weights) -> IF that never fires (a non-spiking readout)."""
    weights = np.random.default_rng(0).normal(size=(n_out, n_in)).astype(np.float32)
    never = np.full(n_out, np.finfo(np.float32).max, np.float32)
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([n_in])),
                               "fc": nir.Affine(weights, np.zeros(n_out, np.float32)),
                               "if": nir.IF(r=np.ones(n_out, np.float32), v_threshold=never),
                               "output": nir.Output(np.array([n_out]))},
                        edges=[("input", "fc"), ("fc", "if"), ("if", "output")],
                        metadata=metadata or {})


@pytest.mark.parametrize("tail", [0, 2])
def test_an_encoder_that_leaves_source_steps_silent_is_named(tmp_path, capsys, cartpole_data,
                                                             tail):
    """An artifact manifest as --encoder kept that artifact's silent tail (3), so a
    delay-free source of 5 steps saw input in 2 and played 16 instead of 500, while the
    warning said "input in the first 5 steps". Now a tail is named with the steps it
    leaves; none, no such warning."""
    from neuroq.deploy.encoders import with_silent_tail

    _, _, encoder = cartpole_data
    g = _readout_graph(encoder.n_inputs)
    graph_path, enc_path = _write_inputs(tmp_path, g, with_silent_tail(encoder, tail))
    code = main(["import", str(graph_path), "--env", "CartPole-v1", "--encoder", str(enc_path),
                 "-T", str(SOURCE_T), "--record-steps", "100", "--eval-episodes", "1",
                 "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "input in the source's steps and none in the last 1" in err
    said = f"leaves the last {tail} of the source's {SOURCE_T} steps without input"
    assert (said in err and f"sees input in {SOURCE_T - tail} steps" in err) == bool(tail)
    assert ("silent_tail" in err) == bool(tail)
    # a tail as long as the source's steps leaves no input: refused before any run folder
    graph_path, enc_path = _write_inputs(tmp_path, g, with_silent_tail(encoder, SOURCE_T))
    code = main(["import", str(graph_path), "--env", "CartPole-v1", "--encoder", str(enc_path),
                 "-T", str(SOURCE_T), "--out", str(tmp_path / "runs2")])
    err = capsys.readouterr().err
    assert code == 2 and f"leaves all {SOURCE_T} of the source's steps without input" in err
    assert not (tmp_path / "runs2").exists()


def test_read_graph_says_what_is_wrong_with_its_path(tmp_path, monkeypatch):
    """It says what `neuroq import` checked before reading it: empty, missing, a folder."""
    from neuroq.agents.nir_import import read_graph

    monkeypatch.chdir(tmp_path)  # "" must not read as "."
    missing = tmp_path / "model.nir"
    for path, match in [("", "NIR graph file: an empty path"),
                        (missing, f"NIR graph file {missing} does not exist"),
                        (tmp_path, f"{tmp_path} is a folder, not a NIR graph file")]:
        with pytest.raises(NeuroqError) as exc:
            read_graph(path)
        assert str(exc.value) == match


def test_an_hdf5_file_without_a_graph_and_a_bad_graph_timesteps_say_what_they_are(tmp_path):
    """An outsider: an HDF5 file without NIR's node group read 'a node (or the graph) has
    no "Unable to synchronously open object ..." field'; a graph whose metadata says
    timesteps -4 was refused as "--timesteps must be ...", though none was given."""
    import h5py
    import nir

    from neuroq.agents.nir_import import read_graph, source_timesteps_of
    from neuroq.deploy.errors import NeuroqError

    path = tmp_path / "other.nir"
    with h5py.File(path, "w") as f:
        f.create_group("other")
    with pytest.raises(NeuroqError, match="it holds no NIR graph where NIR keeps one"):
        read_graph(path)
    graph = nir.NIRGraph(nodes={}, edges=[], metadata={"timesteps": -4})
    with pytest.raises(NeuroqError, match="the graph metadata's timesteps .* got -4"):
        source_timesteps_of(graph, None)
    with pytest.raises(NeuroqError, match="--timesteps must be a positive integer"):
        source_timesteps_of(graph, 0)


def test_a_graph_exported_with_a_batched_sample_says_how_to_export_it(tmp_path):
    """Norse's to_nir given torch.zeros(1, 64) writes an Input of shape (1, 64), which
    nir.read refuses ("type mismatch: input.output: [[ 1 64]] -> 0.input: [[64]]"): an
    outsider got that line and no hint (the docs gave it for snnTorch only)."""
    from neuroq.agents.nir_import import read_graph

    g = _chain_graph(_lif())
    g.nodes["input"] = nir.Input(np.array([1, 4]))
    nir.write(tmp_path / "batched.nir", g)
    with pytest.raises(NeuroqError, match=r"type mismatch.*\(a \(1, 4\) output before a "
                                          r"layer of 4 inputs: the exporter was given a "
                                          r"batched sample; export with one unbatched "
                                          r"sample, e.g. torch.zeros\(4\)\)"):
        read_graph(tmp_path / "batched.nir")


@pytest.mark.parametrize("field", ["v_threshold", "v_reset"])
def test_a_nan_threshold_or_reset_names_its_node(field):
    """A NaN v_threshold was refused as "neuron parameter threshold has non-finite values",
    naming neither the file nor the node (an outsider's NIR trial)."""
    g = _chain_graph(_lif())
    getattr(g.nodes["lif"], field).flat[0] = np.nan
    with pytest.raises(NeuroqError, match=f"node 'lif': LIF has NaN or infinite values in "
                                          f"its {field}"):
        read_source(g, "nir", dt=1e-3)


def test_a_timesteps_other_than_the_graphs_own_is_said(tmp_path, capsys, cartpole_data):
    """An outsider's `neuroq import` of a T = 4 network with the README's -T 5 played 270
    instead of 500, with no word: a --timesteps that differs from the graph metadata's is
    now said (and the same one, or none, says nothing)."""
    _, _, encoder = cartpole_data
    g = _readout_graph(encoder.n_inputs, metadata={"timesteps": 4})
    graph_path, enc_path = _write_inputs(tmp_path, g, encoder)
    for given, said in (("5", True), ("4", False)):
        code = main(["import", str(graph_path), "--env", "CartPole-v1", "--encoder",
                     str(enc_path), "-T", given, "--record-steps", "100", "--eval-episodes",
                     "1", "--out", str(tmp_path / f"runs{given}")])
        err = capsys.readouterr().err
        assert code == 0, err
        assert ("--timesteps 5 differs from the 4 steps the graph's metadata says" in err) \
            == said, err


def test_a_seed_the_recording_would_run_past_names_record_steps(tmp_path, capsys,
                                                                  cartpole_data):
    """The recording plays up to one episode per step, seeded seed + i: past the largest
    seed the message said "with episodes 1000", an option `neuroq import` does not have
    (a review)."""
    _, _, encoder = cartpole_data
    g = _readout_graph(encoder.n_inputs, metadata={"timesteps": 4})
    graph_path, enc_path = _write_inputs(tmp_path, g, encoder)
    code = main(["import", str(graph_path), "--env", "CartPole-v1", "--encoder", str(enc_path),
                 "--seed", "4294967000", "--record-steps", "1000",
                 "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "with --record-steps 1000 (episode i seeded seed + i)" in err, err
    assert not (tmp_path / "runs").exists()


def _lif_of(tau, r, n=3):
    return nir.LIF(tau=np.full(n, tau, np.float32), r=np.full(n, r, np.float32),
                   v_leak=np.zeros(n, np.float32), v_threshold=np.ones(n, np.float32))


def test_a_graph_that_fits_snntorch_and_norse_is_read_as_the_dt_given_says():
    """r = 1 and tau = 1e-4 s on every LIF node is Norse's export of tau_mem_inv 10 at dt
    1e-3 and snnTorch's of beta 0: an outsider's Norse network was read as snnTorch's, its
    --dt dropped without a word (516 of 1000 actions as Norse's, agreement said 0.98)."""
    g = _chain_graph(_lif_of(1e-4, 1.0))
    with pytest.raises(NeuroqError, match=r"fit both snnTorch's export .*--source snntorch, "
                                          r"or --source norse with --dt"):
        read_source(g)
    src, notes = read_source(g, dt=1e-3)
    assert src.convention == "norse", notes
    assert np.allclose(src.layers[0].alpha, 0.99)  # 1 - dt^2 / tau: tau_mem_inv 10 at 1 ms
    assert any("as --dt was given" in n and "--source snntorch reads it so" in n
               for n in notes), notes
    src, _ = read_source(g, "snntorch")  # said outright: snnTorch's beta 0
    assert src.convention == "snntorch" and np.allclose(src.layers[0].alpha, 0.0)
    _, notes = read_source(g, "snntorch", dt=1e-3)  # its --dt unused, said (a recheck)
    assert any("--dt 0.001 is not used" in n for n in notes), notes
    # a graph only snnTorch's export fits: its --dt unused, said
    src, notes = read_source(_chain_graph(_lif_of(1e-3, 10.0)), dt=1e-3)
    assert src.convention == "snntorch" and np.allclose(src.layers[0].alpha, 0.9)
    assert any("--dt 0.001 is not used" in n for n in notes), notes


@pytest.mark.parametrize("threshold, said", [(0.5, True), (np.finfo(np.float32).max, False)])
def test_a_spiking_readout_that_crosses_its_threshold_is_counted(tmp_path, capsys,
                                                                  cartpole_data, threshold,
                                                                  said):
    """A spiking readout is read as a membrane, "if the source's readout does spike ... the
    agreement does not show it": an outsider's snnTorch readout crossed its threshold, the
    agreement said 1.0 and 927 of 1000 actions matched snnTorch. neuroq runs the source, so
    it counts the recorded observations where the readout rose above its threshold."""
    _, _, encoder = cartpole_data
    g = _readout_graph(encoder.n_inputs, metadata={"timesteps": SOURCE_T})
    g.nodes["if"] = nir.IF(r=np.ones(2, np.float32),
                           v_threshold=np.full(2, threshold, np.float32))
    graph_path, enc_path = _write_inputs(tmp_path, g, encoder)
    code = main(["import", str(graph_path), "--env", "CartPole-v1", "--encoder", str(enc_path),
                 "--record-steps", "100", "--eval-episodes", "1",
                 "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert ("the readout 'if' rose above its threshold (0.5) on " in err) == said, err
    if said:
        n = int(err.split("rose above its threshold (0.5) on ")[1].split(" of ")[0])
        assert 0 < n <= 100
        result = json.loads(next((tmp_path / "runs").rglob("result.json")).read_text())
        assert any("rose above its threshold" in note for note in result["notes"])


@pytest.mark.parametrize("version, said", [("99.0.0", "newer than the nir"),
                                           ("banana", "which is no version number"),
                                           (None, None)])
def test_a_nir_file_of_a_newer_version_is_said(tmp_path, version, said):
    """A file whose `version` said 99.0.0 imported without a note (an outsider): nir.read
    ignores it. Newer than the installed nir, or no version number: a note; a file that
    states none (older NIR writers): none."""
    import h5py

    from neuroq.agents.nir_import import nir_version_notes

    path = tmp_path / "g.nir"
    nir.write(path, _chain_graph(nir.IF(np.ones(3, np.float32), np.ones(3, np.float32))))
    assert nir_version_notes(path) == []  # as written here
    with h5py.File(path, "a") as f:
        del f["version"]
        if version is not None:
            f["version"] = version
    notes = nir_version_notes(path)
    assert (said is None and notes == []) or (len(notes) == 1 and said in notes[0]), notes
    assert nir.read(path) is not None  # nir itself reads it either way


def test_norse_if_layers_are_not_read_as_subtracting():
    """An outsider's Norse network (LIFBoxCell with reset_subtract, then an IAFCell, which
    resets to 0 whatever the method) imported with --reset subtract: the IF layer was read as
    subtracting too, 92 % of actions as Norse's, without a word. Refused in one line; with
    --reset zero, or without an IF layer, it is read."""
    pytest.importorskip("norse")
    import norse.torch as norse
    import torch
    from norse.torch.functional.reset import reset_subtract

    def lif(n):
        return norse.LIFBoxCell(norse.LIFBoxParameters(
            tau_mem_inv=torch.full((n,), 200.0), v_leak=torch.zeros(n),
            v_th=torch.full((n,), 0.3), v_reset=torch.zeros(n), reset_method=reset_subtract))

    def graph(second):
        net = norse.SequentialState(torch.nn.Linear(8, 6), lif(6), torch.nn.Linear(6, 5),
                                    second, torch.nn.Linear(5, 2),
                                    norse.LIBoxCell(norse.LIBoxParameters(
                                        tau_mem_inv=torch.full((2,), 50.0),
                                        v_leak=torch.zeros(2))))
        return norse.to_nir(net, torch.zeros(8))

    with_if = graph(norse.IAFCell(norse.IAFParameters(v_th=torch.full((5,), 1.5),
                                                      v_reset=torch.zeros(5))))
    with pytest.raises(NeuroqError, match=r"--reset subtract, but node '\w+' is an IF node "
                                          r"from Norse \(IAFCell\), which resets to 0"):
        read_source(with_if, reset="subtract")
    assert read_source(with_if, reset="zero")[0].reset == "zero"
    assert read_source(graph(lif(5)), reset="subtract")[0].reset == "subtract"
