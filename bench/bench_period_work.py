"""The event node's work per control period in one process: back to back, and paced as a
camera paces it (a sleep between periods): what this machine charges for waking up.

The event node's share of a core at 1 M events/s (`bench/bench_event_node.py`) is its work per
10 ms control period divided by 10 ms, plus Fast DDS receiving. Measured in one process, the
same work costs several times more when the thread slept between periods than when periods
follow back to back: after a sleep the code and data of each step (decoder, spike collector,
emulated network, Fast DDS's writer) are no longer in the CPU's caches, more so on a virtual
machine whose host runs other work on the core meanwhile. This benchmark gives both figures
for the node's own code, so that a node figure can be read against the machine it ran on.

What runs: the real `EventPolicyNode` (the given artifact on the emulator backend; its take
thread never started: no executor spins it), fed the serialized 1 ms EventPackets of
`bench_event_node.make_packets` (1 M events/s row bursts by default) one control period
(10 packets) at a time through the node's own path for taken packets (`_handle_received`:
reading the packets' fields, the time-jump guard, decoding, the period's input spikes, the
policy, publishing the action: no subscriber, publishing still runs). The CPU time of each
period's call is read on this thread's clock (`time.thread_time_ns`). Modes, alternated in
blocks of `--block` periods so that drifts of the machine fall on each alike:
- `back-to-back`: the next period at once;
- `paced (sleep)`: the next period `--gap-ms` (default 10, the control period) after the
  last began, sleeping between, as the node's take thread does;
- `paced (spin)`: the same wait spent spinning on the clock (the thread never sleeps): what
  is left is the time-dependent part (other work on the machine evicting caches).
Camera time runs ahead of the host's clock in back-to-back blocks; the guard bounds each
take, not their sum (10 ms a take here), and a `--gap-ms` sleep after each back-to-back block
lets the host clock catch up anyway.

DDS stays on loopback: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a domain id of this
benchmark's own (80-89) are set before rclpy is imported. Bounded: `--periods` per mode (at
most 5000).

Run: .venv/bin/python bench/bench_period_work.py [--artifact DIR]
Writes bench/results/period_work.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = str(80 + os.getpid() % 10)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import rclpy  # noqa: E402
from bench_event_node import PERIOD_US, SENSOR_PX, make_packets  # noqa: E402
from event_camera_msgs.msg import EventPacket  # noqa: E402
from event_runs import latest_event_artifact, print_and_save  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402

from neuroq.deploy.events.evt3_encode import time_words  # noqa: E402

PACKET_US = 1000
"""Camera time per packet (us): the event node's bench default, 1 ms."""
MODES = ("back-to-back", "paced (sleep)", "paced (spin)")
MAX_PERIODS = 5000
"""The most periods per mode (a bound on the run: 3 x 5000 periods of 10 ms is 150 s)."""


def serialized_packets(rate: float, periods: int) -> list[bytes]:
    """The serialized EventPackets of `periods` control periods of a `rate` events/s row-burst
    stream (1 ms each, seq from 0), and one of time words only that closes the last period."""
    payloads = make_packets(rate, periods * PERIOD_US / 1e6, "bursts", packet_us=PACKET_US)
    payloads.append(time_words(len(payloads) * PACKET_US + 1))
    out = []
    for seq, data in enumerate(payloads):
        msg = EventPacket(width=SENSOR_PX, height=SENSOR_PX, seq=seq, time_base=0,
                          encoding="evt3", is_bigendian=False)
        msg.events = data
        out.append(serialize_message(msg))
    return out


def wait_until(t: float, spin: bool) -> None:
    """Until the monotonic clock reaches `t` (s): sleeping, or spinning on the clock."""
    if spin:
        while time.monotonic() < t:
            pass
    else:
        time.sleep(max(0.0, t - time.monotonic()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifact", default=None,
                    help="an event-encoder deploy artifact (default: the newest under "
                         "runs/neuroq/DVSPanTrackingPooled-v0, else the shipped one)")
    ap.add_argument("--rate", type=float, default=1e6, help="events per second (default 1e6)")
    ap.add_argument("--periods", type=int, default=400,
                    help=f"control periods per mode (default 400, at most {MAX_PERIODS})")
    ap.add_argument("--block", type=int, default=50,
                    help="periods per block; the modes alternate block by block (default 50)")
    ap.add_argument("--gap-ms", type=float, default=PERIOD_US / 1e3,
                    help="paced modes: from one period's start to the next's (ms; default "
                         "10, the control period)")
    ap.add_argument("--max-jump-ms", type=float, default=None,
                    help="the node's max_jump_ms (default: the node's, 1000; 0: no time-jump "
                         "guard)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/period_work.json"))
    args = ap.parse_args()
    if not 1 <= args.periods <= MAX_PERIODS or not 1 <= args.block <= args.periods:
        ap.error(f"--periods must lie in [1, {MAX_PERIODS}] and --block in [1, --periods]")
    if not 0 < args.rate <= 1e8 or not 0 < args.gap_ms <= 1000:
        ap.error("--rate must lie in (0, 1e8] and --gap-ms in (0, 1000]")
    artifact = args.artifact or latest_event_artifact()
    packets_per_period = PERIOD_US // PACKET_US
    total = args.periods * len(MODES)
    print(f"encoding {total} periods of {args.rate:g} events/s ...", file=sys.stderr)
    data = serialized_packets(args.rate, total)
    rclpy.init(args=["--ros-args", "-p", f"artifact:={artifact}",
                     *(["-p", f"max_jump_ms:={float(args.max_jump_ms)}"]
                       if args.max_jump_ms is not None else [])])
    from neuroq.ros_nodes.event_node import EventPolicyNode

    node = EventPolicyNode()
    cpu_us: dict[str, list[float]] = {m: [] for m in MODES}
    gap_s = args.gap_ms / 1e3
    try:
        at = 0  # the next packet
        for block in range(0, args.periods, args.block):
            for mode in MODES:
                due = time.monotonic()
                for _ in range(min(args.block, args.periods - block)):
                    if mode != "back-to-back":
                        wait_until(due, spin=mode == "paced (spin)")
                        due += gap_s
                    part = data[at:at + packets_per_period]
                    at += packets_per_period
                    t0 = time.thread_time_ns()
                    node._handle_received(part)
                    cpu_us[mode].append((time.thread_time_ns() - t0) / 1e3)
                if mode == "back-to-back":  # camera time ran ahead: let the host catch up
                    time.sleep(min(args.block, args.periods - block) * gap_s)
        node._handle_received(data[at:])  # the closing time words
        actions = node.counters["actions"]
        problems = {k: v for k, v in node.stats().items()
                    if k in ("time_jumps", "camera_restarts", "callback_errors",
                             "policy_failures", "bad_messages", "stale_periods") and v}
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    result: dict = {"artifact": artifact, "rate_events_per_s": args.rate,
                    "periods_per_mode": args.periods, "block": args.block,
                    "gap_ms": args.gap_ms, "max_jump_ms": args.max_jump_ms or "node default",
                    "actions": actions,
                    "periods_fed": total, "problems": problems or "none"}
    base = statistics.median(cpu_us["back-to-back"])
    for mode, values in cpu_us.items():
        key = mode.split(" ")[0] if mode == "back-to-back" else mode.replace(" ", "_").replace(
            "(", "").replace(")", "")
        result[f"{key}_cpu_us_median"] = statistics.median(values)
        result[f"{key}_cpu_us_mean"] = statistics.fmean(values)
        result[f"{key}_vs_back_to_back"] = statistics.median(values) / base
        result[f"{key}_share_of_core_at_gap"] = statistics.fmean(values) / (args.gap_ms * 1e3)
    result.update(host=platform.node(), cpus=os.cpu_count(), loadavg_end=os.getloadavg())
    print_and_save(result, args.out, 36)
    ok = actions == total and not problems
    if not ok:
        print(f"expected {total} actions and no problem counters: {actions}, {problems}",
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
