"""Exported NIR profiles read by the real snnTorch 1.0.0 and Norse 1.1.0 act like neuroq.

Each graph is the file `save_artifact(..., nir_profiles=...)` writes, read back with
`nir.read`, its metadata emptied (`tests.helpers.nir_peers.strip_metadata`), imported with
the library's stock node mapping plus glue for nir.Delay only (and, where the network resets
by subtraction, which NIR cannot state, the reset setting named in the artifact's
manifest). The reference is neuroq's `run_reference`.
"""

from pathlib import Path

import numpy as np
import pytest

from neuroq.deploy.artifact import load_artifact, profile_file, save_artifact
from neuroq.deploy.network import run_reference
from neuroq.deploy.rollout import run_episodes
from tests.helpers.networks import random_network

snntorch = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse")
nir = pytest.importorskip("nir")
from tests.helpers.nir_peers import RUNNERS, strip_metadata  # noqa: E402

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
@pytest.mark.parametrize("alpha", [1.0, 0.9])
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
    """Subtraction read as NIR's reset to v_reset changes the network: the documented gap."""
    art = load_artifact(ARTIFACTS / "acrobot")
    graph = exported_graph(tmp_path, art.network, art.encoder, library)
    _, run_peer = RUNNERS[library](graph, subtract=False)
    rng = np.random.default_rng(0)
    lo, hi = np.array(art.encoder.low), np.array(art.encoder.high)
    obs = (lo + (hi - lo) * rng.random((2000, lo.size))).astype(np.float32)
    spikes = art.encoder.encode(obs, art.network.timesteps)
    ref = run_reference(art.network, spikes).v_out
    assert (run_peer(spikes).argmax(1) == ref.argmax(1)).mean() < 0.99
