"""What `neuroq energy` MEASURES on this host: latency per action, CPU and GPU energy.

- Latency: wall time of one action (one observation in, one action out), timed with
  `time.perf_counter_ns` around each call, after WARMUP_ACTIONS untimed calls.
- CPU energy: Intel RAPL package counters (`/sys/class/powercap/intel-rapl:N/energy_uj`)
  read before and after the timed loop, minus the idle power of the package (measured over
  IDLE_WINDOW_S of sleep just before) times the loop's duration, divided by the actions.
  When no counter is readable (often the case without root, or in a VM) the energy is an
  ESTIMATE: median latency x CPU_CORE_POWER_ESTIMATE_W, and is labelled so.
- GPU energy: NVML (`pynvml`, package nvidia-ml-py) total-energy counter around at least
  GPU_MIN_ACTIONS single actions of the float DQN on the GPU (the counter updates every
  20-100 ms, so thousands of actions are averaged), minus idle power x duration. Only when
  pynvml imports, a GPU is present and torch has CUDA; otherwise the GPU row is unavailable
  here and the report shows the published figure instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Where Linux exposes RAPL counters.
POWERCAP_ROOT = Path("/sys/class/powercap")
#: Untimed calls before timing (caches, lazy allocations, BLAS thread start-up).
WARMUP_ACTIONS = 20
#: Seconds of sleep over which the idle package power is measured before a timed loop.
IDLE_WINDOW_S = 1.0
#: Power of one busy core of a server Xeon, watts: Intel Xeon Platinum 8480+, TDP 350 W over
#: 56 cores (Intel ARK). Used only when RAPL is unreadable, and the result is an ESTIMATE
#: for any host (TDP over cores is not a core's power, and the host's own CPU may be
#: another: the development VMs have shown a hidden "Intel(R) Xeon(R) Processor" and an
#: AMD EPYC); its power is not measured. Each action runs on one core (torch and BLAS: one
#: thread). The estimate follows the host's load: an outsider's repeats moved it by 60 %.
CPU_CORE_POWER_ESTIMATE_W = 350.0 / 56
#: The CPU whose rating that is, as the report's rows name it.
CPU_POWER_REFERENCE = "an Intel Xeon Platinum 8480+"
CPU_POWER_SOURCE = ("Intel ARK, Xeon Platinum 8480+: 350 W TDP / 56 cores = 6.25 W per busy "
                    "core; an assumed figure, not this host's")
#: Fewest single actions timed on the GPU, and the shortest window (NVML update period).
GPU_MIN_ACTIONS = 5000
GPU_MIN_WINDOW_S = 2.0
#: torch device the GPU row runs on (NVML device 0 is assumed to be the same GPU).
GPU_TORCH_DEVICE = "cuda:0"
#: Seconds between NVML power samples while measuring idle power.
NVML_SAMPLE_PERIOD_S = 0.02


@dataclass(frozen=True)
class Availability:
    """Whether a measurement is possible here, and why not."""

    available: bool
    reason: str = ""


class RaplMeter:
    """Sum of the package-level RAPL energy counters under `root`, in joules."""

    def __init__(self, root: Path = POWERCAP_ROOT):
        self.root = Path(root)
        self.domains: list[Path] = []
        self.status = self._probe()

    def _probe(self) -> Availability:
        if not self.root.is_dir():
            return Availability(False, f"{self.root} does not exist (no powercap interface)")
        pkgs = sorted(p for p in self.root.glob("intel-rapl:*")
                      if p.name.count(":") == 1 and (p / "energy_uj").exists())
        if not pkgs:
            return Availability(False, f"no intel-rapl package domain under {self.root}")
        for p in pkgs:
            try:
                int((p / "energy_uj").read_text())
            except (OSError, ValueError) as exc:
                return Availability(False, f"{p / 'energy_uj'} is not readable: "
                                           f"{getattr(exc, 'strerror', None) or exc}")
        self.domains = pkgs
        return Availability(True)

    def _read_uj(self) -> list[int]:
        return [int((p / "energy_uj").read_text()) for p in self.domains]

    def _ranges_uj(self) -> list[int | None]:
        out: list[int | None] = []
        for p in self.domains:
            try:
                out.append(int((p / "max_energy_range_uj").read_text()))
            except (OSError, ValueError):
                out.append(None)
        return out

    def energy_between(self, fn: Callable[[], Any]) -> tuple[float, float]:
        """Run fn(); return (joules the packages used meanwhile, seconds it took)."""
        ranges = self._ranges_uj()
        before = self._read_uj()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        after = self._read_uj()
        total = 0
        for b, a, r in zip(before, after, ranges, strict=True):
            d = a - b
            if d < 0 and r:  # the counter wrapped around
                d += r
            total += max(d, 0)
        return total * 1e-6, dt


def time_actions(act: Callable[[np.ndarray], Any], observations: np.ndarray) -> np.ndarray:
    """Seconds per action, float64 (n,): act(observation) timed one observation at a time."""
    obs = np.asarray(observations, np.float32)
    for o in obs[:WARMUP_ACTIONS]:
        act(o)
    out = np.empty(len(obs), np.float64)
    for i, o in enumerate(obs):
        t0 = time.perf_counter_ns()
        act(o)
        out[i] = (time.perf_counter_ns() - t0) * 1e-9
    return out


@dataclass(frozen=True)
class CpuMeasurement:
    """Latencies (MEASURED) and energy per action (MEASURED via RAPL, or an ESTIMATE)."""

    latencies_s: np.ndarray
    energy_j: float
    energy_provenance: str  # "measured" | "estimate"
    energy_source: str


def measure_cpu(act: Callable[[np.ndarray], Any], observations: np.ndarray,
                meter: RaplMeter) -> CpuMeasurement:
    """Time `act` on every observation; energy from RAPL when readable, else estimated."""
    if not meter.status.available:
        lat = time_actions(act, observations)
        # the median: on a shared host the mean is inflated by time the core spent on
        # other processes, which this action did not use
        return CpuMeasurement(
            lat, float(np.median(lat)) * CPU_CORE_POWER_ESTIMATE_W, "estimate",
            f"median latency x {CPU_CORE_POWER_ESTIMATE_W:.2f} W ({CPU_POWER_SOURCE}); RAPL "
            f"unavailable: {meter.status.reason}")
    idle_j, idle_s = meter.energy_between(lambda: time.sleep(IDLE_WINDOW_S))
    idle_w = idle_j / idle_s
    box: dict[str, np.ndarray] = {}

    def loop() -> None:
        box["lat"] = time_actions(act, observations)

    busy_j, busy_s = meter.energy_between(loop)
    lat = box["lat"]
    n = len(lat) + min(WARMUP_ACTIONS, len(lat))
    per_action = max(busy_j - idle_w * busy_s, 0.0) / n
    return CpuMeasurement(
        lat, per_action, "measured",
        f"Intel RAPL package counters ({', '.join(p.name for p in meter.domains)}), "
        f"idle {idle_w:.2f} W subtracted; includes anything else running on the package")


def gpu_availability() -> Availability:
    """Whether NVML and a CUDA torch are usable here."""
    try:
        import pynvml
    except ImportError:
        return Availability(False, "pynvml (nvidia-ml-py) is not installed")
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except Exception as exc:  # noqa: BLE001 - NVMLError has many subclasses
        return Availability(False, f"NVML cannot start: {exc}")
    if count < 1:
        return Availability(False, "NVML sees no GPU")
    try:
        import torch
    except ImportError:
        return Availability(False, "torch is not installed")
    if not torch.cuda.is_available():
        return Availability(False, "torch has no CUDA device (CPU build or no driver)")
    return Availability(True)


@dataclass(frozen=True)
class GpuMeasurement:
    device: str
    latencies_s: np.ndarray
    energy_j: float
    idle_power_w: float
    actions: int


def measure_gpu(mlp: Any, observations: np.ndarray) -> GpuMeasurement:
    """Float DQN (`mlp`, a FloatMLP) on the first GPU, one observation per action (see
    module doc)."""
    import pynvml
    import torch

    from neuroq.agents.mlp import torch_mlp

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    name = pynvml.nvmlDeviceGetName(handle)
    name = name.decode() if isinstance(name, bytes) else str(name)
    dev = torch.device(GPU_TORCH_DEVICE)
    net = torch_mlp(mlp).to(dev)

    def act(o: np.ndarray) -> int:
        with torch.no_grad():
            q = net(torch.from_numpy(o[None]).to(dev))
            return int(q.argmax(dim=1).item())  # .item() synchronizes

    obs = np.asarray(observations, np.float32)
    reps = int(np.ceil(GPU_MIN_ACTIONS / max(len(obs), 1)))
    obs = np.concatenate([obs] * reps)
    for o in obs[:WARMUP_ACTIONS]:
        act(o)
    samples = []
    t_end = time.perf_counter() + IDLE_WINDOW_S
    while time.perf_counter() < t_end:
        samples.append(pynvml.nvmlDeviceGetPowerUsage(handle) * 1e-3)
        time.sleep(NVML_SAMPLE_PERIOD_S)
    idle_w = float(np.mean(samples))
    lat: list[float] = []
    e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # millijoules
    t0 = time.perf_counter()
    i = 0
    while i < len(obs) or time.perf_counter() - t0 < GPU_MIN_WINDOW_S:
        o = obs[i % len(obs)]
        s = time.perf_counter_ns()
        act(o)
        lat.append((time.perf_counter_ns() - s) * 1e-9)
        i += 1
    dt = time.perf_counter() - t0
    e1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    energy = max((e1 - e0) * 1e-3 - idle_w * dt, 0.0) / i
    return GpuMeasurement(name, np.asarray(lat), energy, idle_w, i)
