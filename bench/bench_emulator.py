"""Emulator benchmark: steps per second, single-action latency, 100 episodes, peak memory.

Targets (issue 4), on one core with event counting on:
- >= 200,000 emulated network time steps per second, batched over environments
  (a time step of one environment's network counts once);
- a single action for one environment at T = 8 in <= 250 us median (64-256-256-2 network);
- 100 CartPole-v1 episodes at T = 8 evaluated in under 10 s;
- peak memory (ru_maxrss) of an evaluation process without torch: reported.

Networks are random (weights int8, thresholds set for moderate firing) except the CartPole
controller, a 8-256-256-2 network wired so that it balances the pole (hidden layers relay
the rate-coded pole angle and angular velocity, plus random weights), so episodes are long
like a trained policy's. --artifact adds a real artifact's network, re-timed to T = 8, to
the single-action and episode figures (real weights, real firing rates).

The machine is shared: each figure is the best of --repeats runs, both as wall time and as
this process's CPU time (time.process_time), which other processes do not inflate as much.

usage: python bench/bench_emulator.py [--artifact DIR] [--repeats 3] [--quick]
Prints a table and writes bench/results/emulator.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core: before numpy loads BLAS
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuroq.deploy.compiler import compile_program  # noqa: E402
from neuroq.deploy.emulator import Emulator  # noqa: E402
from neuroq.deploy.encoders import PopulationEncoder, RateEncoder  # noqa: E402
from neuroq.deploy.network import Layer, SpikingQNetwork  # noqa: E402
from neuroq.deploy.neuron import make_params  # noqa: E402
from neuroq.deploy.policy import SpikingPolicy  # noqa: E402

T = 8
#: CartPole observation scales for the rate encoder: cart position (m), cart velocity (m/s),
#: pole angle (rad), pole angular velocity (rad/s).
CARTPOLE_HALF_RANGE = (2.4, 2.0, 0.1, 1.0)


def random_network(widths, timesteps=T, seed=0) -> SpikingQNetwork:
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        w = rng.integers(-100, 128, size=(n_out, n_in)).astype(np.int8)
        thr = np.full(n_out, 40.0 * n_in ** 0.5 + 200, np.float32)
        p = make_params(n_out, threshold=thr, i_offset=rng.normal(0, 5, n_out))
        layers.append(Layer(f"fc{k}", w, 0.01, p, spiking=k < len(widths) - 2))
    return SpikingQNetwork(tuple(layers), timesteps, q_scale=0.01)


def cartpole_controller(hidden=256, timesteps=T, seed=0) -> SpikingQNetwork:
    """8-h-h-2: h1/h2 neuron j relays rate-coded input j % 8 (weight 127, threshold 100),
    with small random weights elsewhere; Q(right) - Q(left) follows angle + angular rate."""
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-3, 4, size=(hidden, 8))
    w1[np.arange(hidden), np.arange(hidden) % 8] = 127
    w2 = rng.integers(-3, 4, size=(hidden, hidden))
    w2[np.arange(hidden), np.arange(hidden)] = 127
    w3 = np.zeros((2, hidden), np.int64)
    src = np.arange(hidden) % 8  # inputs: [ON_0, OFF_0, ON_1, OFF_1, ...]; dim 2 angle, 3 rate
    w3[1, np.isin(src, (4, 6))] = 10   # right: angle ON, angular rate ON
    w3[0, np.isin(src, (5, 7))] = 10   # left: angle OFF, angular rate OFF
    layers = (
        Layer("fc0", w1.astype(np.int8), 0.01, make_params(hidden, threshold=100.0)),
        Layer("fc1", w2.astype(np.int8), 0.01, make_params(hidden, threshold=100.0)),
        Layer("fc2", w3.astype(np.int8), 0.01, make_params(2), spiking=False),
    )
    return SpikingQNetwork(layers, timesteps, q_scale=0.01)


def cartpole_encoder() -> RateEncoder:
    return RateEncoder((0.0,) * 4, CARTPOLE_HALF_RANGE)


def best_of(fn, repeats):
    """(best wall s, best cpu s) of `repeats` calls of fn()."""
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def bench_batched(net, batch, repeats, runs=5) -> dict:
    emu = Emulator(compile_program(net))
    s = np.random.default_rng(1).random((net.timesteps, batch, net.n_inputs)) < 0.3
    emu.run(s)
    wall, cpu = best_of(lambda: [emu.run(s) for _ in range(runs)], repeats)
    steps = runs * batch * net.timesteps
    r = emu.run(s)
    return {"widths": net.widths, "batch": batch, "steps_per_s_wall": steps / wall,
            "steps_per_s_cpu": steps / cpu,
            "hidden_firing_rate": float(r.emitted[:, net.n_inputs:].mean() / net.timesteps)}


def median_latency(fn, n) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(n // 10):
        fn()
    for _ in range(n):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus))


def bench_single(net, encoder, n, obs) -> dict:
    pol = SpikingPolicy(net, encoder, backend="emulator")
    s = encoder.encode(obs[None], net.timesteps)
    emu_wall, emu_cpu = median_latency(lambda: pol.emulator.run(s), n)
    act_wall, act_cpu = median_latency(lambda: pol.act(obs), n)
    return {"widths": net.widths, "encoder": encoder.kind,
            "emulator_run_median_us_wall": emu_wall * 1e6,
            "emulator_run_median_us_cpu": emu_cpu * 1e6,
            "policy_act_median_us_wall": act_wall * 1e6,
            "policy_act_median_us_cpu": act_cpu * 1e6}


def bench_episodes(artifact: Path, episodes: int) -> dict:
    """`neuroq eval` in a fresh process: wall time, returns, peak RSS, torch not loaded."""
    code = (
        "import resource, sys, time, json\n"
        "t0 = time.perf_counter()\n"
        "from neuroq.agents.cli.main import main\n"
        "rc = main(sys.argv[1:])\n"
        "wall = time.perf_counter() - t0\n"
        "print(json.dumps({'rc': rc, 'wall_s': wall, 'torch_loaded': 'torch' in sys.modules,"
        " 'maxrss_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n")
    with tempfile.TemporaryDirectory() as out:
        p = subprocess.run(
            [sys.executable, "-c", code, "eval", str(artifact), "--episodes", str(episodes),
             "--seed", "0", "--out", out], capture_output=True, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        if p.returncode != 0:
            raise SystemExit(f"neuroq eval failed:\n{p.stderr}")
        stats = json.loads(p.stdout.strip().splitlines()[-1])
        (res,) = Path(out).glob("*/eval-*/result.json")
        r = json.loads(res.read_text())
    return {"episodes": episodes, "process_wall_s": stats["wall_s"],
            "evaluation_wall_s": r["measured"]["evaluation_wall_s"],
            "return_mean": r["return_mean"], "actions": r["actions"],
            "peak_rss_mib": stats["maxrss_kib"] / 1024, "torch_loaded": stats["torch_loaded"],
            "host_time_per_action_batched_us":
                r["measured"]["host_time_per_action_batched_s"] * 1e6,
            "single_action_median_us": r["measured"]["host_latency_single_action_median_s"]
            * 1e6,
            "modeled_energy_total_mj": r["modeled_per_action"]["energy_total_j"] * 1e3,
            "modeled_energy_dynamic_uj": r["modeled_per_action"]["energy_dynamic_j"] * 1e6,
            "synaptic_events_per_action": r["counted_per_action"]["synaptic_events"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", default=None, help="time this artifact's 100 episodes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    args = ap.parse_args()
    n_single = 300 if args.quick else 2000
    report: dict = {"T": T, "openblas_threads": os.environ["OPENBLAS_NUM_THREADS"],
                    "load_average": os.getloadavg()}

    print("batched emulator (event counting on), network time steps per second:")
    report["batched"] = []
    for widths in ((64, 256, 256, 2), (8, 256, 256, 2)):
        for batch in (100, 256, 1024):
            r = bench_batched(random_network(widths), batch, args.repeats)
            report["batched"].append(r)
            print(f"  {'-'.join(map(str, widths)):<14} batch {batch:>5}: "
                  f"{r['steps_per_s_wall']:>10,.0f} wall  {r['steps_per_s_cpu']:>10,.0f} cpu"
                  f"  (hidden firing {r['hidden_firing_rate']:.2f}/step)")

    print(f"single action, one environment, T = {T} (median):")
    report["single"] = []
    cases = [
        (random_network((64, 256, 256, 2)),
         PopulationEncoder((-2.4, -2.0, -0.2, -2.0), (2.4, 2.0, 0.2, 2.0), n_per_dim=16),
         np.array([0.1, -0.2, 0.03, 0.3], np.float32)),
        (cartpole_controller(), cartpole_encoder(), np.array([0.1, -0.2, 0.03, 0.3], np.float32)),
    ]
    if args.artifact:
        from neuroq.deploy.artifact import load_artifact

        art = load_artifact(args.artifact)
        retimed = SpikingQNetwork(art.network.layers, T, art.network.q_scale)
        cases.append((retimed, art.encoder, np.full(art.encoder.n_obs, 0.01, np.float32)))
    for net, enc, obs in cases:
        r = bench_single(net, enc, n_single, obs)
        report["single"].append(r)
        print(f"  {'-'.join(map(str, net.widths)):<14} emulator.run "
              f"{r['emulator_run_median_us_wall']:7.1f} us wall "
              f"{r['emulator_run_median_us_cpu']:7.1f} us cpu | policy.act "
              f"{r['policy_act_median_us_wall']:7.1f} us wall "
              f"{r['policy_act_median_us_cpu']:7.1f} us cpu")

    from neuroq.deploy.artifact import save_artifact

    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "cartpole-controller"
        save_artifact(artifact, cartpole_controller(), cartpole_encoder(), {
            "env_id": "CartPole-v1", "observation_space": {"shape": [4]},
            "action_space": {"n": 2}, "provenance": {"bench": "hand-wired controller"}})
        r = bench_episodes(artifact, 100)
        if args.artifact:  # the given artifact, re-timed to T = 8
            again = Path(tmp) / "artifact-T8"
            save_artifact(again, retimed, art.encoder, {
                k: art.manifest[k] for k in ("env_id", "observation_space", "action_space",
                                             "provenance")})
            report["episodes_artifact"] = ra = bench_episodes(again, 100)
            print(f"given artifact re-timed to T = {T}: 100 episodes "
                  f"{ra['evaluation_wall_s']:.2f} s, return {ra['return_mean']:.1f}, "
                  f"{ra['single_action_median_us']:.1f} us single action (median), "
                  f"{ra['synaptic_events_per_action']:.0f} events/action")
    report["episodes"] = r
    print(f"100 CartPole episodes at T = {T} (`neuroq eval`, fresh process): "
          f"{r['evaluation_wall_s']:.2f} s evaluation loop, {r['process_wall_s']:.2f} s "
          f"process, return {r['return_mean']:.1f}, {r['actions']} actions")
    print(f"  peak RSS {r['peak_rss_mib']:.1f} MiB, torch loaded: {r['torch_loaded']}; "
          f"{r['host_time_per_action_batched_us']:.1f} us/action batched, "
          f"{r['single_action_median_us']:.1f} us single (median, measured); "
          f"{r['synaptic_events_per_action']:.0f} events/action (counted); energy/action "
          f"{r['modeled_energy_dynamic_uj']:.2f} uJ dynamic, {r['modeled_energy_total_mj']:.3f}"
          " mJ total (modeled)")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "emulator.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / 'emulator.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
