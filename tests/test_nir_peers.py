"""Exported NIR profiles read by the real snnTorch 1.0.0 and Norse 1.1.0 act like neuroq.

Each graph is the file `save_artifact(..., nir_profiles=...)` writes, read back with
`nir.read`, its metadata emptied (`neuroq.agents.nir_peers.strip_metadata`), imported with
the library's stock node mapping plus glue for nir.Delay only (and, where the network resets
by subtraction, which NIR cannot state, the reset setting named in the artifact's
manifest). The reference is neuroq's `run_reference`.
"""

from pathlib import Path

import numpy as np
import pytest

from neuroq.deploy.artifact import load_artifact, profile_file, save_artifact
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import run_reference
from neuroq.deploy.rollout import run_episodes
from tests.helpers.networks import random_network

snntorch = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse")
nir = pytest.importorskip("nir")
from neuroq.agents.nir_peers import RUNNERS, strip_metadata  # noqa: E402

torch = pytest.importorskip("torch")

ARTIFACTS = Path(__file__).resolve().parent.parent / "config" / "artifacts"
#: Environment steps of each closed-loop comparison (the issue's figure).
CLOSED_LOOP_STEPS = 10_000
#: Held-out reset seeds: episode i starts from seed HELD_OUT_SEED + i.
HELD_OUT_SEED = 1000


def exported_graph(tmp_path, network, encoder, profile):
    """The profile graph as `save_artifact` writes it, read back, metadata emptied."""
    manifest = {"env_id": "CartPole-v1", "observation_space": {"shape": [encoder.n_obs]},
                "action_space": {"n": network.n_actions}, "provenance": {"test": "peers"}}
    save_artifact(tmp_path, network, encoder, manifest, nir_profiles=(profile,))
    return strip_metadata(nir.read(tmp_path / profile_file(profile)))


def _subtract(manifest) -> bool:
    """The one setting NIR cannot carry: the artifact's documented reset mode."""
    return manifest["neuron"]["reset"] == "reset_by_subtraction"


@pytest.mark.slow
@pytest.mark.parametrize("library", ["snntorch", "norse"])
@pytest.mark.parametrize("name,batch", [("cartpole", 20), ("acrobot", 40)])
def test_shipped_artifact_acts_identically_in_the_peer_for_10000_steps(tmp_path, library,
                                                                        name, batch):
    art = load_artifact(ARTIFACTS / name)
    net, enc = art.network, art.encoder
    graph = exported_graph(tmp_path, net, enc, library)
    _, run_peer = RUNNERS[library](graph, subtract=_subtract(art.manifest))
    actions = {"same": 0, "steps": 0}

    def peer_act(obs, _infos):
        spikes = enc.encode(obs, net.timesteps)
        a_peer = run_peer(spikes).argmax(1)
        a_ref = run_reference(net, spikes).q.argmax(1)
        actions["same"] += int((a_peer == a_ref).sum())
        actions["steps"] += len(obs)
        return a_peer

    def ref_act(obs, _infos):
        return run_reference(net, enc.encode(obs, net.timesteps)).q.argmax(1)

    kw = {"episodes": 10_000, "seed": HELD_OUT_SEED, "batch": batch,
          "max_total_steps": CLOSED_LOOP_STEPS}
    peer = run_episodes(art.manifest["env_id"], peer_act, **kw)
    ref = run_episodes(art.manifest["env_id"], ref_act, **kw)
    assert actions["steps"] >= CLOSED_LOOP_STEPS
    assert actions["same"] == actions["steps"], \
        f"{actions['steps'] - actions['same']} of {actions['steps']} actions differ"
    assert np.array_equal(peer.returns, ref.returns)
    assert np.array_equal(peer.lengths, ref.lengths)


def _spikes(net, batch=512, p=0.5, seed=3):
    return np.random.default_rng(seed).random((net.timesteps, batch, net.n_inputs)) < p


@pytest.mark.parametrize("library", ["snntorch", "norse"])
@pytest.mark.parametrize("alpha", [1.0, 0.9, 0.0])  # 0: no memory (refused until stop 43)
@pytest.mark.parametrize("reset", ["reset_by_subtraction", "reset_to_v_reset"])
def test_random_network_in_the_peer(tmp_path, library, alpha, reset):
    """Reset to 0 needs no setting at all: then the standard fields are the whole truth."""
    from tests.helpers.networks import rate_encoder

    net = random_network(timesteps=7, alpha=alpha, reset=reset, v_reset_sd=0.0,
                         thresholds_per_layer=library == "snntorch")
    graph = exported_graph(tmp_path, net, rate_encoder(), library)
    _, run_peer = RUNNERS[library](graph, subtract=reset == "reset_by_subtraction")
    spikes = _spikes(net)
    v_ref = run_reference(net, spikes).v_out
    v = run_peer(spikes)
    assert (v.argmax(1) == v_ref.argmax(1)).mean() == 1.0
    # float32 rounding only: the peers add bias and synaptic input in another order
    assert np.abs(v - v_ref).max() <= 1e-3 * max(1.0, np.abs(v_ref).max())


def test_snntorch_profile_scales_rows_of_per_neuron_thresholds(tmp_path):
    from tests.helpers.networks import rate_encoder

    net = random_network(timesteps=7, v_reset_sd=0.0)
    assert np.unique(net.layers[0].params.threshold).size > 1
    graph = exported_graph(tmp_path, net, rate_encoder(), "snntorch")
    _, run_peer = RUNNERS["snntorch"](graph, subtract=True)
    spikes = _spikes(net)
    v_ref = run_reference(net, spikes).v_out
    assert (run_peer(spikes).argmax(1) == v_ref.argmax(1)).mean() == 1.0


@pytest.mark.parametrize("library", ["snntorch", "norse"])
def test_stock_reader_without_the_reset_setting_is_what_the_export_warns_about(tmp_path,
                                                                               library):
    """Subtraction read as NIR's reset to v_reset changes the network: the documented gap
    (a network that resets by subtraction, as `neuroq convert --reset subtract` makes)."""
    from tests.helpers.networks import rate_encoder

    net = random_network(timesteps=8, reset="reset_by_subtraction", v_reset_sd=0.0)
    graph = exported_graph(tmp_path, net, rate_encoder(), library)
    _, run_peer = RUNNERS[library](graph, subtract=False)
    spikes = _spikes(net)
    ref = run_reference(net, spikes).v_out
    # the same reader with the setting the export names agrees on every action
    _, run_set = RUNNERS[library](graph, subtract=True)
    assert (run_set(spikes).argmax(1) == ref.argmax(1)).mean() == 1.0
    agreement = (run_peer(spikes).argmax(1) == ref.argmax(1)).mean()
    print(f"agreement without the reset setting: {agreement:.3f}")
    assert agreement < 0.99


@pytest.mark.parametrize("library", ["snntorch", "norse"])
def test_load_profile_gives_the_artifacts_q_values_in_the_library(tmp_path, library):
    """The shipped reader (neuroq.agents.nir_peers.load_profile): an artifact folder with
    its profile in, the library's module and Q-values out, reset taken from the manifest.
    An outsider had to write these 40 lines from the libraries' sources."""
    from neuroq.agents.nir_peers import load_profile

    art = load_artifact(ARTIFACTS / "cartpole")
    folder = tmp_path / "art"
    manifest = {k: art.manifest[k] for k in ("env_id", "observation_space", "action_space")}
    save_artifact(folder, art.network, art.encoder, manifest | {"provenance": {"test": 1}},
                  nir_profiles=(library,))
    model, q_of = load_profile(folder, library)
    assert isinstance(model, torch.nn.Module)
    load_profile(folder / "manifest.json", library)  # as load_artifact takes it (a reviewer)
    obs = np.random.default_rng(3).uniform(-0.2, 0.2, (200, art.encoder.n_obs))
    spikes = art.encoder.encode(obs.astype(np.float32), art.network.timesteps)
    q_ref = run_reference(art.network, spikes).q
    q = q_of(spikes)
    assert q.shape == q_ref.shape and (q.argmax(1) == q_ref.argmax(1)).all()
    assert np.abs(q - q_ref).max() <= 1e-4 * max(1.0, np.abs(q_ref).max())
    other = "norse" if library == "snntorch" else "snntorch"
    with pytest.raises(NeuroqError, match=f"has no network.{other}.nir: .neuroq export .* "
                                          f"--nir-profile {other}. writes a new export"):
        load_profile(folder, other)
    with pytest.raises(NeuroqError, match="library must be one of snntorch, norse"):
        load_profile(folder, "lava")
    # the profile file is read as the weights file is: hashed and checked (a review: it was
    # plain nir.read, so a changed or crafted profile was taken)
    profile = folder / f"network.{library}.nir"
    profile.write_bytes(profile.read_bytes() + b"\0")
    with pytest.raises(NeuroqError, match="does not match its manifest"):
        load_profile(folder, library)
