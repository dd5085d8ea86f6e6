"""The energy-per-action report: every figure with where it came from.

`build_report` runs the artifact's spiking network, the float DQN it came from (its
float_dqn.npz, else the train run its provenance names: `find_float_dqn`) and an int8 ANN
of that DQN on the same episodes, measures latency (and CPU energy when RAPL is
readable) on this host, models SpiNNaker2, adds the published GPU comparison, and returns a
`Report` (`neuroq.agents.energy.figures`). `neuroq.agents.energy.render` writes it out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from neuroq.agents.energy import measure as em
from neuroq.agents.energy import metrics
from neuroq.agents.energy.compare import (
    add_baseline,
    compare_baseline,
    compare_cpu,
    compare_gpu,
    compare_published,
    load_baseline,
)
from neuroq.agents.energy.figures import (
    EnergyConfig,
    Report,
    add_cpu_row,
    add_cpu_unavailable,
    add_gpu,
    add_neurobench_ann,
    add_neurobench_snn,
    add_returns,
    add_spinnaker2,
    default_sweep,
    say_progress,
    spikes_per_layer,
)
from neuroq.agents.energy.runs import (
    closed_loop,
    find_float_dqn,
    run_snn,
    torch_act,
)
from neuroq.agents.int8_ann import calibrated_int8, sample_rows
from neuroq.agents.mlp import torch_mlp
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import SpikingQNetwork
from neuroq.deploy.stats import worst_fraction_mean


def check_energy_config(cfg: EnergyConfig) -> None:
    """NeuroqError naming the first setting of `cfg` that is not usable, before any work
    (`build_report` and sweep specs; the artifact and --sweep against its network are
    checked once it is loaded)."""
    from neuroq.deploy.rollout import check_settings
    from neuroq.deploy.seeds import check_episode_seeds, check_seed, is_int

    check_settings(cfg.episodes, cfg.seed, cfg.max_steps)
    check_seed(cfg.seed)  # (its upper end)
    for name in ("latency_samples", "sweep_episodes"):
        value = getattr(cfg, name)
        if not is_int(value) or value < 1:
            raise NeuroqError(f"{name} must be an integer >= 1, got {value!r}")
    # the sweep and the baseline's screen play sweep_episodes from the same seed (review)
    check_episode_seeds(cfg.seed, cfg.episodes, "--episodes")
    check_episode_seeds(cfg.seed, cfg.sweep_episodes, "--sweep-episodes")
    if not isinstance(cfg.probe_gpu, bool):
        raise NeuroqError(f"probe_gpu must be true or false, got {cfg.probe_gpu!r}")


def build_report(cfg: EnergyConfig, say: Callable[[str], None] = say_progress) -> Report:
    """Run everything (see the module docstring) and return the report."""
    from neuroq.deploy.artifact import artifact_name, load_artifact, say_artifact_warnings
    from neuroq.deploy.rollout import check_artifact_env

    check_energy_config(cfg)
    art = load_artifact(cfg.artifact)
    check_artifact_env(art.manifest)
    say_artifact_warnings(art.manifest, "neuroq energy")  # as eval and the nodes say it
    net, env_id = art.network, str(art.manifest["env_id"])
    # a --baseline is loaded and checked before minutes of work, as the artifact
    given = (load_baseline(str(cfg.baseline), art.manifest) if cfg.baseline is not None
             else None)
    if cfg.sweep:  # refused before minutes of work
        from neuroq.deploy.network import check_timesteps

        try:
            check_timesteps(min(cfg.sweep), len(net.layers))
        except NeuroqError as exc:
            raise NeuroqError(f"--sweep: {exc}") from None
    # the float DQN: a damaged float_dqn.npz is refused here, before minutes of work; a
    # train run that is not here or cannot be loaded leaves the rows unavailable (why)
    dqn, why = find_float_dqn(art.path, art.manifest)
    cfg_json = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    rep = Report(cfg_json, {
        "artifact": artifact_name(art), "env_id": env_id, "timesteps": net.timesteps,
        "widths": list(net.widths), "encoder": art.encoder.kind,
        "provenance": art.manifest.get("provenance"), "episodes": cfg.episodes,
        "seed": cfg.seed, "max_steps": cfg.max_steps,
        "created_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())})

    say(f"[1/6] spiking network on the emulator: {cfg.episodes} episodes of {env_id}, "
        f"T = {net.timesteps}")
    run = run_snn(net, art.encoder, env_id, cfg.episodes, cfg.seed, cfg.max_steps)
    add_returns(rep, "snn", run.returns, "spiking network, SpiNNaker2 emulator")
    add_spinnaker2(rep, run)
    add_neurobench_snn(rep, run)
    rep.spikes_per_layer[f"artifact (T = {net.timesteps})"] = spikes_per_layer(run)
    rep.header["energy_model"] = run.model_settings  # every level/scope's settings (modeled)
    if run.compile_error is None:
        rep.samples["energy_total/spinnaker2.low"] = run.energy[("low", "chip")]["total_j"]
        rep.samples["energy_dynamic/spinnaker2.low"] = run.energy[("low", "chip")]["dynamic_j"]
    timing_obs = sample_rows(run.observations, cfg.latency_samples, cfg.seed)
    if len(timing_obs) < cfg.latency_samples:  # said, not only recorded (an outsider)
        say(f"      (latency timed on the {len(timing_obs)} actions the episodes made, fewer "
            f"than --latency-samples {cfg.latency_samples})")
        rep.header["latency_samples_used"] = len(timing_obs)
    meter = em.RaplMeter(cfg.powercap_root)
    rep.header["rapl"] = "readable" if meter.status.available else meter.status.reason

    say("[2/6] float DQN (the artifact's float_dqn.npz, else the train run named in its "
        "provenance) and int8 ANN")
    if dqn is not None and dqn.mlp.widths[0] != run.observations.shape[1]:
        dqn, why = None, f"{dqn.source}: the DQN's input width differs from the env's"
    # where the float DQN was read from (None: unavailable); the train run, when from there
    rep.header["float_dqn_source"] = dqn.source if dqn is not None else None
    rep.header["train_run"] = str(dqn.train_run) if dqn and dqn.train_run else None
    common = f"same {len(run.observations)} observations the spiking network acted on"
    mlp = None
    if dqn is not None:
        import torch

        mlp = dqn.mlp
        say(f"      float DQN: {dqn.source}")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            batch_act, single_act = torch_act(torch_mlp(mlp))
            f_returns, _, _ = closed_loop(env_id, batch_act, cfg.episodes, cfg.seed, cfg.max_steps)
            add_returns(rep, "float_dqn", f_returns, f"float DQN (torch fp32), {dqn.source}")
            q8 = calibrated_int8(mlp, env_id, cfg.max_steps)
            i_returns, _, _ = closed_loop(env_id, lambda o: q8.q(o).argmax(axis=1), cfg.episodes,
                                       cfg.seed, cfg.max_steps)
            add_returns(rep, "int8_ann", i_returns, "int8 ANN (numpy, our quantization)")
            say("[3/6] latency on this CPU: float DQN (torch, numpy), int8 ANN, spiking "
                "emulator")
            add_cpu_row(rep, "cpu.float_dqn", "float DQN, torch fp32",
                     em.measure_cpu(single_act, timing_obs, meter))
            # the same weights without torch's per-call overhead (an outsider: torch took
            # 3.5 times numpy's 10 us, so the torch row alone flattered the chip)
            add_cpu_row(rep, "cpu.float_dqn_numpy", "float DQN, numpy fp32",
                     em.measure_cpu(lambda o: int(mlp.act(o[None])[0]), timing_obs, meter))
            add_cpu_row(rep, "cpu.int8_ann", "int8 ANN, numpy int32 matmuls",
                     em.measure_cpu(lambda o: int(q8.q(o[None])[0].argmax()), timing_obs,
                                    meter))
        finally:
            torch.set_num_threads(threads)
        f_in, _ = mlp.layer_inputs(run.observations)
        add_neurobench_ann(rep, "neurobench.float_dqn", mlp.weights, f_in,
                        metrics.float_mlp_footprint_bytes(mlp.widths), f"float DQN, {common}",
                        "fp32")
        q_in, _ = q8.layer_inputs(run.observations)
        add_neurobench_ann(rep, "neurobench.int8_ann", q8.weights, q_in,
                        metrics.int8_mlp_footprint_bytes(q8.widths), f"int8 ANN, {common}",
                        "int")
    else:
        for key, what in (("float_dqn", "float DQN, torch fp32"),
                          ("int8_ann", "int8 ANN of the float DQN")):
            add_returns(rep, key, None, what, why)
            add_cpu_unavailable(rep, f"cpu.{key}", what, why)
            for m, unit in (("effective_macs", "MAC/action"), ("effective_acs", "AC/action"),
                            ("footprint_bytes", "byte")):
                rep.unavailable(f"neurobench.{key}.{m}", unit, what, why)
        add_cpu_unavailable(rep, "cpu.float_dqn_numpy", "float DQN, numpy fp32", why)
        say(f"      float DQN unavailable: {why}")
        say("[3/6] latency on this CPU: spiking emulator")
    from neuroq.deploy.policy import SpikingPolicy

    backend = "emulator" if run.compile_error is None else "reference"
    pol = SpikingPolicy(net, art.encoder, art.manifest, backend=backend, seed=cfg.seed)
    add_cpu_row(rep, "cpu.snn_emulator", f"spiking network, {backend} (numpy)",
             em.measure_cpu(pol.act, timing_obs, meter))

    say("[4/6] GPU")
    add_gpu(rep, cfg, mlp, timing_obs)
    gpu = rep.get("gpu.energy_j")
    if gpu is not None and gpu.value is None:  # the reason was in report.md only (an outsider)
        say(f"      GPU unavailable: {gpu.source}")

    sweep_ts = cfg.sweep or default_sweep(net)
    say(f"[5/6] return against T: T in {list(sweep_ts)}, {cfg.sweep_episodes} episodes each")
    for t in sweep_ts:
        try:
            net_t = SpikingQNetwork(net.layers, int(t), net.q_scale)
        except NeuroqError as exc:
            rep.sweep.append({"timesteps": int(t), "error": str(exc)})
            continue
        r = run_snn(net_t, art.encoder, env_id, cfg.sweep_episodes, cfg.seed, cfg.max_steps)
        row = {"timesteps": int(t), "return_mean": float(r.returns.mean()),
               "return_worst5pct": worst_fraction_mean(r.returns),
               "spikes_per_action": float(r.spikes.sum(axis=1).mean()),
               "provenance": {"return": "measured (environment, emulator)",
                              "energy": "modeled (SpiNNaker2, low level)"},
               "note": "same weights and neuron parameters, only T changed (not re-fitted)"}
        if r.compile_error is None:
            row["energy_total_j"] = float(r.energy[("low", "chip")]["total_j"].mean())
            row["energy_dynamic_j"] = float(r.energy[("low", "chip")]["dynamic_j"].mean())
        rep.sweep.append(row)

    say("[6/6] comparisons")
    rep.comparisons["published_gpu"] = compare_published(rep, env_id)
    base, base_path, why_b = add_baseline(rep, cfg, art, dqn, why, run, say, given)
    rep.comparisons["plain_conversion"] = compare_baseline(rep, run, base, base_path, why_b)
    rep.comparisons["plain_conversion"]["search"] = rep.header.pop("baseline_search", [])
    rep.comparisons["this_cpu"] = compare_cpu(rep)  # (c), after (a) and (b)
    rep.comparisons["measured_gpu"] = compare_gpu(rep)  # (d)
    return rep


