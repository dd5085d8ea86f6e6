"""The torch training model computes exactly what neuroq.deploy.network.run_reference computes."""

import json

import numpy as np
import pytest
import torch

from neuroq.agents.finetune import open_convert_run
from neuroq.agents.snn_torch import SpikingQNet, quantize
from neuroq.deploy.artifact import load_artifact
from neuroq.deploy.network import run_reference
from tests.helpers.networks import random_network
from tests.helpers.runs import tiny_finetune_run

MIN_OBSERVATIONS = 10_000


def compare(net, spikes):
    ref = run_reference(net, spikes)
    with torch.no_grad():
        q, counts = SpikingQNet(net)(torch.from_numpy(spikes))
    q = q.numpy()
    return ref, q, [c.numpy() for c in counts]


def test_finetuned_network_agrees_on_recorded_observations():
    ft = tiny_finetune_run()
    art = load_artifact(ft / "network")
    conv = open_convert_run(json.loads((ft / "result.json").read_text())["convert_run"])
    obs = conv.observations
    assert len(obs) >= MIN_OBSERVATIONS
    spikes = art.encoder.encode(obs, art.network.timesteps)
    ref, q, counts = compare(art.network, spikes)
    same = (q.argmax(1) == ref.q.argmax(1)).mean()
    max_dq = float(np.abs(q - ref.q).max())
    print(f"\nagreement on {len(obs)} observations: {100 * same:.3f} %, max |dQ| = {max_dq}")
    assert same == 1.0 and max_dq == 0.0
    for a, b in zip(counts, ref.spike_counts, strict=True):
        assert np.array_equal(a, b)
    assert sum(c.sum() for c in ref.spike_counts[1:]) > 0, "hidden layers must spike"


@pytest.mark.parametrize("alpha,compare_op,reset", [
    (1.0, ">=", "reset_by_subtraction"), (0.9, ">", "reset_by_subtraction"),
    (0.75, ">=", "reset_to_v_reset")])
def test_random_networks_agree_bit_for_bit(alpha, compare_op, reset):
    net = random_network((24, 48, 40, 3), timesteps=7, alpha=alpha, compare=compare_op)
    if reset != "reset_by_subtraction":
        from dataclasses import replace

        from neuroq.deploy.network import SpikingQNetwork
        layers = tuple(replace(layer, params=layer.params._replace(
            reset=type(layer.params.reset)(reset),
            v_reset=np.full_like(layer.params.v_reset, -5.0))) for layer in net.layers)
        net = SpikingQNetwork(layers, net.timesteps, net.q_scale)
    spikes = np.random.default_rng(3).random((7, 3000, 24)) < 0.3
    ref, q, counts = compare(net, spikes)
    assert np.array_equal(q.view(np.uint32), ref.q.view(np.uint32))
    for a, b in zip(counts, ref.spike_counts, strict=True):
        assert np.array_equal(a, b)


def test_round_trip_to_network_and_gradients():
    net = random_network((12, 20, 16, 2), timesteps=6)
    model = SpikingQNet(net)
    back = model.to_network()
    for a, b in zip(net.layers, back.layers, strict=True):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.params.i_offset,
                                                                    b.params.i_offset)
    spikes = torch.from_numpy(np.random.default_rng(0).random((6, 64, 12)) < 0.4)
    q, _ = model(spikes)
    q.pow(2).sum().backward()
    for w in model.weights:
        assert w.grad is not None and w.grad.abs().sum() > 0  # surrogate reaches every layer


def test_quantize_is_exact_integers_with_straight_through_gradient():
    w = torch.tensor([-300.0, -127.6, -0.5, 0.49, 1.5, 126.6, 200.0], requires_grad=True)
    q = quantize(w)
    assert q.tolist() == [-127.0, -127.0, -0.0, 0.0, 2.0, 127.0, 127.0]
    q.sum().backward()
    assert w.grad.tolist() == [1.0] * 7


def test_the_surrogate_gradient_is_finite_at_a_threshold_of_zero():
    """A threshold of 0 (an all-zero layer, or one learned with --train-thresholds) gave NaN
    or inf gradients (a review): the surrogate divides by |threshold| no smaller than
    MIN_SURROGATE_THRESHOLD; elsewhere the gradient is as before."""
    from neuroq.agents.snn_torch import MIN_SURROGATE_THRESHOLD, SURROGATE_SLOPE, _Spike

    v = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
    thr = torch.zeros(3, requires_grad=True)
    _Spike.apply(v, thr, True).sum().backward()
    assert torch.isfinite(v.grad).all() and torch.isfinite(thr.grad).all()
    assert v.grad[1] == pytest.approx(1 / MIN_SURROGATE_THRESHOLD)
    v2 = torch.tensor([1.5], requires_grad=True)
    _Spike.apply(v2, torch.tensor([2.0]), True).sum().backward()
    assert v2.grad[0] == pytest.approx(1 / (2.0 * (1 + SURROGATE_SLOPE * 0.25) ** 2))
