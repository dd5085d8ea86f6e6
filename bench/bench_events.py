"""Event-pipeline throughput: EVT 3.0 decoding with both decoders (the `evt3` package with
neuroq's validation, and numpy), of a stream read as `RawReader` reads a file (64 KiB calls)
and in the event node's packet path; mono decoding, EVT 3.0 encoding, the DVS emulator and
the DVSPanTracking env.

Run: .venv/bin/python bench/bench_events.py [--events N] [--repeats R] [--decoders evt3,numpy]
Prints one line per figure and writes bench/results/events.json. Each figure is the best of
R runs, one process. Decoding is also given per CPU-second of this process, a figure less
disturbed by other work sharing the machine; the load average is recorded with the results.

The packet path is what `neuroq.ros_nodes.event_node` runs: 1 ms EventPackets (`encode_packet`,
each self-contained as the simulated camera sends them) of 1000 events (a 1 M events/s
stream) or 10 000 (10 M events/s), decoded by one `PacketDecoder` per stream, with
`decode_many(..., columns=True)` over batches of 1, 2 or 10 packets (the node batches what
arrives within `batch_ms`, 2 ms by default, and keeps the events as columns, building no
EVENT_DTYPE array). The issue's target: >= 50 M events/s there, on sensor-like
bursts and on the sparse worst case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


import neuroq.envs  # noqa: E402,F401  (registers the env)
from neuroq.deploy.events import (  # noqa: E402
    PacketDecoder,
    decode_mono,
    encode_evt3,
    encode_mono,
    encode_packet,
    evt3_decoder_name,
    make_events,
    make_evt3_decoder,
    sort_events,
)
from neuroq.deploy.events.files import RAW_CHUNK_BYTES  # noqa: E402
from neuroq.deploy.events.stats import DecodeStats  # noqa: E402
from neuroq.envs.dvs import DvsParams, dvs_reset, dvs_step  # noqa: E402
from neuroq.envs.event_array import concat_events  # noqa: E402

SENSOR_W, SENSOR_H = 1280, 720
"""Prophesee IMX636 (EVK4) resolution, for the decode benchmarks."""
DECODE_TARGET_MEV_S = 50.0
"""Issue 21's target for EVT 3.0 decoding in the node's packet path, million events/s."""
PACKET_EVENTS = (1000, 10_000)
"""Events per 1 ms packet: 1 M and 10 M events/s streams."""
BATCHES = (1, 2, 10)
"""Packets per `decode_many` call."""


def best_of(fn, repeats: int) -> tuple[float, float]:
    """(best wall time, best CPU time of this process) over `repeats` runs, seconds."""
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def readout_bursts(rng, n_events: int) -> np.ndarray:
    """Sensor-like stream: an edge sweeping the sensor fires runs of neighbouring pixels on one
    row that the readout timestamps together (runs of 4-24 pixels, a few missing)."""
    n_runs = n_events // 14
    run_len = rng.integers(4, 25, n_runs)
    total = int(run_len.sum())
    run_of = np.repeat(np.arange(n_runs), run_len)
    k = np.arange(total) - np.repeat(np.cumsum(run_len) - run_len, run_len)
    x0 = rng.integers(0, SENSOR_W - 40, n_runs)
    t = np.cumsum(rng.integers(0, 2, n_runs))  # ~2 runs per microsecond: ~28 Mev/s stream
    ev = make_events(x0[run_of] + k, rng.integers(0, SENSOR_H, n_runs)[run_of], t[run_of],
                     rng.integers(0, 2, n_runs)[run_of])
    keep = rng.random(total) > 0.1
    return ev[keep]


def sparse_worst_case(rng, n_events: int) -> np.ndarray:
    """Every event on its own row and time: no vectors, ~3 words per event."""
    return make_events(rng.integers(0, SENSOR_W, n_events), rng.integers(0, SENSOR_H, n_events),
                       np.sort(rng.integers(0, n_events // 2, n_events)),
                       rng.integers(0, 2, n_events))


def dvs_stream(n_frames: int, width=640, height=480) -> np.ndarray:
    """Events of the DVS emulator watching a drifting grating (per-pixel interpolated times)."""
    params = DvsParams(width, height, refractory_us=0)
    xs = np.arange(width)[None, :]
    ys = np.arange(height)[:, None]

    def frame(i):
        return 0.5 + 0.45 * np.sin((xs + 0.5 * ys + 2.0 * i) / 6.0)

    state = dvs_reset(frame(0), 0, params)
    parts = []
    for i in range(1, n_frames + 1):
        ev, state = dvs_step(state, frame(i), i * 1000, params)
        parts.append(ev)
    return np.concatenate(parts)


def bench_decode(name, events, decoder, repeats, results):
    """One stream in RAW_CHUNK_BYTES calls, as `RawReader` reads a file."""
    events = sort_events(events)
    data = encode_evt3(events).tobytes()
    chunks = [data[i:i + RAW_CHUNK_BYTES] for i in range(0, len(data), RAW_CHUNK_BYTES)]

    def decode():
        stats = DecodeStats()
        dec = make_evt3_decoder(SENSOR_W, SENSOR_H, decoder)
        return concat_events([dec.decode(c, stats, streaming=True) for c in chunks]), stats

    out, stats = decode()
    if not np.array_equal(out, events) or stats.skipped:
        raise SystemExit(f"{name}: {decoder} does not reproduce the events ({stats})")
    wall, cpu = best_of(decode, repeats)
    r = {
        "events": int(events.size),
        "bytes_per_event": len(data) / events.size,
        "decode_mev_s": events.size / wall / 1e6,
        "decode_mev_per_cpu_s": events.size / cpu / 1e6,
    }
    if decoder == "numpy":  # the encoder does not depend on the decoder: time it once
        enc_wall, _ = best_of(lambda: encode_evt3(events), max(1, repeats // 2))
        r["encode_mev_s"] = events.size / enc_wall / 1e6
    results[f"evt3_{decoder}_{name}"] = r
    enc = f", encode {r['encode_mev_s']:5.1f} M ev/s" if "encode_mev_s" in r else ""
    print(f"evt3 file   {decoder:5s} {name:22s} {r['decode_mev_s']:6.1f} M ev/s wall "
          f"({r['decode_mev_per_cpu_s']:5.1f} per CPU-s), {r['bytes_per_event']:.2f} B/ev"
          f"{enc}  [{events.size / 1e6:.1f} M events]")


def bench_packet_path(name, events, per_packet, decoder, repeats, results):
    """1 ms packets of `per_packet` events through one PacketDecoder, as the node decodes
    them: decode_many over batches of BATCHES packets, events as columns, packets with a
    word of an undefined type dropped (drop_corrupt: one scan of each joined run)."""
    events = sort_events(events)
    n_packets = max(1, events.size // per_packet)
    packets = [("evt3", encode_packet("evt3", chunk)[0], 0, False)
               for chunk in np.array_split(events, n_packets)]
    n_bytes = sum(len(p[1]) for p in packets)
    for batch in BATCHES:
        def run(batch=batch):
            dec = PacketDecoder(SENSOR_W, SENSOR_H, decoder)
            parts = [dec.decode_many(packets[i:i + batch], columns=True, drop_corrupt=True)[0]
                     for i in range(0, len(packets), batch)]
            return parts, dec.stats

        parts, stats = run()
        if stats.skipped or sum(p.size for p in parts) != events.size:
            raise SystemExit(f"{name}: {decoder} packet path lost events ({stats})")
        wall, cpu = best_of(run, repeats)
        key = f"packets_{decoder}_{name}_{per_packet}ev_batch{batch}"
        r = results[key] = {
            "events_per_packet": per_packet, "packets_per_call": batch,
            "bytes_per_event": n_bytes / events.size,
            "mev_s": events.size / wall / 1e6, "mev_per_cpu_s": events.size / cpu / 1e6,
            "us_per_packet_cpu": cpu / n_packets * 1e6,
            "cpu_share_at_stream_rate": cpu / (n_packets * 1e-3),
        }
        print(f"packets {decoder:5s} {name:7s} {per_packet:5d} ev/packet, {batch:2d} per call: "
              f"{r['mev_s']:6.1f} M ev/s wall ({r['mev_per_cpu_s']:5.1f} per CPU-s), "
              f"{r['us_per_packet_cpu']:6.1f} us CPU per packet = "
              f"{100 * r['cpu_share_at_stream_rate']:5.1f} % of a core at "
              f"{per_packet / 1000:g} M ev/s")
        if decoder == "evt3":
            bare_package_feed(name, packets, events.size, per_packet, batch, repeats, results)


def bare_package_feed(name, packets, n_events, per_packet, batch, repeats, results):
    """The `evt3` package alone on the same joined packets: its columns, no validation, no
    event array. The ceiling for the validated decoder."""
    import evt3  # noqa: PLC0415  (only where the package is installed)

    calls = [b"".join(p[1] for p in packets[i:i + batch]) for i in range(0, len(packets), batch)]

    def run():
        dec = evt3.Decoder(sensor_width=SENSOR_W, sensor_height=SENSOR_H)
        return sum(len(dec.feed(c)) for c in calls)

    if run() != n_events:
        raise SystemExit(f"{name}: the evt3 package alone decoded another number of events")
    wall, cpu = best_of(run, repeats)
    r = results[f"packets_bare_evt3_{name}_{per_packet}ev_batch{batch}"] = {
        "mev_s": n_events / wall / 1e6, "mev_per_cpu_s": n_events / cpu / 1e6}
    print(f"  the evt3 package alone, same calls:            {r['mev_s']:6.1f} M ev/s wall "
          f"({r['mev_per_cpu_s']:5.1f} per CPU-s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=4_000_000, help="events per decode data set")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--env-steps", type=int, default=3000)
    ap.add_argument("--packet-events", type=int, default=2_000_000,
                    help="events per packet-path stream (bursts; sparse: half)")
    ap.add_argument("--decoders", default="evt3,numpy",
                    help="comma-separated EVT 3.0 decoders to time (evt3, numpy)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    results: dict = {
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "cpus": os.cpu_count(), "loadavg_1min": os.getloadavg()[0]},
        "target_decode_mev_s": DECODE_TARGET_MEV_S,
    }

    decoders = args.decoders.split(",")
    results["evt3_decoder_auto"] = evt3_decoder_name()
    print(f"EVT 3.0 decoder 'auto' here: {results['evt3_decoder_auto']}")
    bursts = readout_bursts(rng, args.events)
    sparse = sparse_worst_case(rng, args.events // 4)
    dvs = dvs_stream(8)
    for decoder in decoders:
        bench_decode("readout_bursts", bursts, decoder, args.repeats, results)
        bench_decode("dvs_emulator_640x480", dvs, decoder, args.repeats, results)
        bench_decode("sparse_worst_case", sparse, decoder, args.repeats, results)

    ev = sort_events(sparse_worst_case(rng, args.events))
    mono = encode_mono(ev, 0).tobytes()
    best, _ = best_of(lambda: decode_mono(mono, 0, SENSOR_W, SENSOR_H), args.repeats)
    results["mono_decode_mev_s"] = ev.size / best / 1e6
    print(f"mono decode  {'any':22s} {results['mono_decode_mev_s']:6.1f} M ev/s")

    # The event node's packet path: 1 ms packets at 1 M and 10 M events/s
    stream_bursts = readout_bursts(rng, args.packet_events)
    stream_sparse = sparse_worst_case(rng, args.packet_events // 2)
    for decoder in decoders:
        for per_packet in PACKET_EVENTS:
            bench_packet_path("bursts", stream_bursts, per_packet, decoder, args.repeats,
                              results)
            bench_packet_path("sparse", stream_sparse, per_packet, decoder, args.repeats,
                              results)

    # DVS emulator: the env's 32x32 sensor per frame, and a DAVIS346-sized sensor.
    for (w, h), n_frames in (((32, 32), 3000), ((346, 260), 60)):
        params = DvsParams(w, h, noise_rate_hz=0.2)
        xs = np.arange(w)[None, :]
        frames = [0.5 + 0.45 * np.sin((xs + 2.0 * i) / 5.0) * np.ones((h, 1))
                  for i in range(n_frames + 1)]
        gen = np.random.default_rng(1)

        def run(frames=frames, params=params, gen=gen, n_frames=n_frames):
            state = dvs_reset(frames[0], 0, params)
            n = 0
            for i in range(1, n_frames + 1):
                ev, state = dvs_step(state, frames[i], i * 1000, params, gen)
                n += ev.size
            return n

        n_ev = run()
        best, cpu = best_of(run, 3)
        key = f"dvs_{w}x{h}"
        results[key] = {"frames_s": n_frames / best, "frames_per_cpu_s": n_frames / cpu,
                        "mpix_s": w * h * n_frames / best / 1e6,
                        "mev_s": n_ev / best / 1e6, "events_per_frame": n_ev / n_frames}
        r = results[key]
        print(f"DVS emulator {w}x{h:<15d} {r['frames_s']:8.0f} frames/s "
              f"({r['frames_per_cpu_s']:.0f} per CPU-s), {r['mpix_s']:6.1f} Mpix/s, "
              f"{r['mev_s']:5.2f} M ev/s ({r['events_per_frame']:.0f} ev/frame)")

    from neuroq.deploy.rollout import make_env

    env = make_env("neuroq/DVSPanTracking-v0")
    env.reset(seed=0)
    act_rng = np.random.default_rng(2)
    actions = act_rng.integers(0, 3, args.env_steps)

    def steps():
        for a in actions:
            _, _, term, trunc, _ = env.step(int(a))
            if term or trunc:
                env.reset()

    best, cpu = best_of(steps, 3)
    results["env_steps_s"] = args.env_steps / best
    results["env_steps_per_cpu_s"] = args.env_steps / cpu
    results["loadavg_1min_end"] = os.getloadavg()[0]
    print(f"DVSPanTracking-v0 env    {results['env_steps_s']:8.0f} steps/s "
          f"({results['env_steps_per_cpu_s']:.0f} per CPU-s; random actions, make_env "
          f"wrappers included)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "events.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out / 'events.json'}")


if __name__ == "__main__":
    main()
