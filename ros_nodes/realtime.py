"""Keeping a node process's control periods free of avoidable stalls and its memory flat: a
frozen start-up heap (no full garbage collection walks it), fixed malloc thresholds and an
optional Linux PM QoS wake-up latency hold."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import struct

from rclpy.node import Node

from neuroq.ros_nodes.params import declare


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive now out of the garbage collector's reach.

    A node imports numpy, rclpy, the backend and its messages: tens of thousands of objects
    that live as long as the process. A full collection walks all of them (about 10-20 ms
    here), and one can fall in the middle of a control period. `gc.freeze()` parks them in
    a permanent generation, so later collections walk only what the loop itself allocates.
    """
    gc.collect()
    gc.freeze()


#: glibc mallopt parameter numbers (malloc.h) and the threshold we fix: glibc's own initial
#: M_MMAP_THRESHOLD, 128 KiB
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def fix_malloc_thresholds(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Serve every allocation of `threshold` bytes or more with its own mmap, returned to
    the system when freed; True if glibc took it (False elsewhere, e.g. musl).

    glibc raises its mmap threshold to the size of each mmapped block freed (up to 32 MiB,
    "dynamic mmap threshold" in mallopt(3)); from then on blocks that size come from the
    heap and stay with the process. A node that is sent a 1 MB message now and then (a
    fuzzer, a broken driver) then grows by megabytes per minute: 36 MiB in 3 minutes in
    bench/bench_safety_soak.py before this. Setting the threshold turns the adjustment
    off (for the trim threshold too). Only blocks this large pay an mmap, and no normal
    message is that large.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(M_MMAP_THRESHOLD, int(threshold)) == 1
    return ok and mallopt(M_TRIM_THRESHOLD, 2 * int(threshold)) == 1


#: Linux PM QoS device. While a process keeps it open after writing a 32-bit integer N, no
#: CPU enters an idle state that takes more than N microseconds to leave (kernel
#: documentation, Documentation/power/pm_qos_interface.rst); closing it (or exiting) drops
#: the request. cyclictest holds 0 by default while it measures.
CPU_DMA_LATENCY_DEVICE = "/dev/cpu_dma_latency"
#: `cpu_wakeup_latency_us` value that leaves the machine's idle states alone
WAKEUP_LATENCY_UNSET = -1
#: largest `cpu_wakeup_latency_us` accepted, us (1 s: beyond any idle state's exit latency)
WAKEUP_LATENCY_MAX_US = 1_000_000


def hold_wakeup_latency(max_us: int, device: str = CPU_DMA_LATENCY_DEVICE) -> int:
    """Ask the kernel to keep CPU wake-up latency under `max_us` microseconds while the
    returned file descriptor stays open (close it to let go). Raises OSError (typically
    PermissionError: the device is root's unless the robot's set-up grants it)."""
    if max_us < 0:
        raise ValueError(f"max_us must be >= 0, got {max_us}")
    fd = os.open(device, os.O_WRONLY)
    try:
        os.write(fd, struct.pack("=i", max_us))
    except OSError:
        os.close(fd)
        raise
    return fd


def apply_wakeup_latency(node: Node, device: str = CPU_DMA_LATENCY_DEVICE) -> int | None:
    """Declare `cpu_wakeup_latency_us` on `node` and hold it if set; the fd or None.

    -1 (default) leaves the machine alone. 0 keeps idle CPUs polling instead of halting:
    on the development VM a thread sleeping one 10 ms period then woke a median 0.11 ms
    late with a p99 of 0.18-0.73 ms, against 0.18 ms and 2.2-6.0 ms without, in 5 s
    probes taken back to back (more in docs/ros.md). The price is idle power: a CPU that
    polls never sleeps. A node that may not open the device logs a warning and runs
    without the hold.
    """
    want = declare(node, "cpu_wakeup_latency_us", WAKEUP_LATENCY_UNSET,
                   "hold CPU wake-up latency under this many us while running (PM QoS "
                   f"{device}; -1: leave the machine alone; 0: idle CPUs poll)",
                   int_range=(WAKEUP_LATENCY_UNSET, WAKEUP_LATENCY_MAX_US))
    if want < 0:
        return None
    try:
        fd = hold_wakeup_latency(want, device)
    except OSError as exc:
        node.get_logger().warning(
            f"cpu_wakeup_latency_us {want}: cannot hold it ({exc.strerror or exc} on "
            f"{device}; it needs write access, e.g. root or a udev rule); running without")
        return None
    node.get_logger().info(f"holding CPU wake-up latency <= {want} us ({device})")
    return fd
