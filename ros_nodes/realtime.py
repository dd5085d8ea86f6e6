"""Keeping a node process's control periods free of avoidable stalls and its memory flat: a
frozen start-up heap (no full garbage collection walks it), fixed malloc thresholds, an
optional real-time scheduling priority and an optional Linux PM QoS wake-up latency hold."""

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


#: glibc mallopt parameter numbers (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
"""Blocks this large or larger get an mmap of their own (4 MiB). Smaller ones come from the
heap, whose pages stay mapped once touched: taking a 3.2 MB message (a fuzzer's, a broken
driver's) costs rclpy and rmw_fastrtps several blocks of its size, which page-fault afresh
each time when they are mmaps (7-8 ms per take here with a 128 KiB threshold, 1.7 ms with
this one; docs/ros.md, "Megabyte readings and the malloc thresholds")."""
TRIM_THRESHOLD_BYTES = 16 * 1024 * 1024
"""A heap gives memory back to the system only when this much (16 MiB) is free at its top
(per malloc arena): enough to keep the blocks of one such take, so the next one does not
fault again. The price: a process that takes megabyte messages keeps more resident (+13.8
MiB for the policy node in a 10-minute soak, reached in the first 30 s, flat after)."""


def fix_malloc_thresholds(threshold: int = MMAP_THRESHOLD_BYTES,
                          trim: int = TRIM_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap and trim thresholds (bytes); True if glibc took both (False
    elsewhere, e.g. musl).

    glibc raises its mmap threshold to the size of each mmapped block freed (up to 32 MiB,
    "dynamic mmap threshold" in mallopt(3)), and the trim threshold to twice that; the
    heap then keeps blocks of every size seen so far. Fixed thresholds turn that
    adjustment off: blocks under `threshold` are reused from the heap without page faults,
    larger ones are mapped and unmapped each time, and a heap's top is trimmed once more
    than `trim` bytes are free there (per arena; free space below live blocks is not
    returned: the bound is measured, not guaranteed).
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
    return ok and mallopt(M_TRIM_THRESHOLD, int(trim)) == 1


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
    want = _wakeup_latency_parameter(node)
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


#: `realtime_priority` value that leaves the process's scheduling alone
REALTIME_PRIORITY_UNSET = 0
#: highest SCHED_FIFO priority Linux accepts (sched(7): 1-99)
REALTIME_PRIORITY_MAX = 99
#: where Linux lists the threads of this process
TASKS_DIR = "/proc/self/task"
#: passes over the thread list at most: a thread started while the list is walked is set in
#: the next pass
MAX_PASSES = 5


def _threads(tasks_dir: str) -> set[int]:
    return {int(name) for name in os.listdir(tasks_dir)}


def _set_all(policy: int, priority: int, tasks_dir: str) -> int:
    """Set `policy` at `priority` on every thread, passing over the list again until no
    new thread shows up; the number of threads set."""
    param = os.sched_param(priority)
    done: set[int] = set()
    for _ in range(MAX_PASSES):
        todo = _threads(tasks_dir) - done
        if not todo:
            break
        for tid in sorted(todo):
            try:
                os.sched_setscheduler(tid, policy, param)
            except ProcessLookupError:  # the thread ended meanwhile
                pass
            done.add(tid)
    return len(done & _threads(tasks_dir))


def set_fifo_priority(priority: int, tasks_dir: str = TASKS_DIR) -> int:
    """Run every thread of this process under SCHED_FIFO at `priority` (1-99); the number
    of threads set. Threads started later inherit it from the thread that starts them.

    Raises ValueError for a priority outside 1-99 and OSError (PermissionError) where the
    process may not: it needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least `priority`
    (e.g. `@realtime - rtprio 98` in /etc/security/limits.conf). A failure part-way puts
    the threads already set back to normal scheduling before it raises.
    """
    if not 1 <= priority <= REALTIME_PRIORITY_MAX:
        raise ValueError(f"priority must be 1-{REALTIME_PRIORITY_MAX}, got {priority}")
    try:
        return _set_all(os.SCHED_FIFO, priority, tasks_dir)
    except OSError:
        reset_scheduling(tasks_dir)
        raise


def reset_scheduling(tasks_dir: str = TASKS_DIR) -> None:
    """Put every thread of this process back under normal scheduling (SCHED_OTHER); errors
    are ignored (a process may always lower its own priority, and this runs on the way
    out)."""
    try:
        _set_all(os.SCHED_OTHER, 0, tasks_dir)
    except OSError:
        pass


def apply_realtime_priority(node: Node, tasks_dir: str = TASKS_DIR) -> int | None:
    """Declare `realtime_priority` on `node` and set it if non-zero; the priority set or
    None.

    0 (default) leaves the scheduling alone. 1-99 put every thread of the node process
    (its executor's, rclpy's and Fast DDS's, and numpy's idle OpenBLAS worker) under
    SCHED_FIFO at that priority, so that the process runs as soon as a reading or an
    action wakes it instead of waiting for the time slice of whatever else runs on the
    CPU. (ros2_control's controller manager raises only its update-loop thread, 50 by
    default; here the DDS threads that deliver the readings are raised too.) Threads of
    one priority do not preempt each other: give the actuator a higher priority than the
    policy so its watchdog never waits behind a policy callback. Linux keeps 5 % of each
    second for normal threads by default (/proc/sys/kernel/sched_rt_runtime_us), so a
    runaway real-time thread cannot lock a CPU up. `run_node` puts the threads back under
    normal scheduling after the safe stop, before teardown. What it did in the safety soak
    (bench/bench_safety_soak.py): docs/ros.md, "Watchdog timing". A node that may not set
    it logs a warning and runs with normal scheduling.
    """
    want = _realtime_priority_parameter(node)
    if want == REALTIME_PRIORITY_UNSET:
        return None
    try:
        threads = set_fifo_priority(want, tasks_dir)
    except OSError as exc:
        node.get_logger().warning(
            f"realtime_priority {want}: cannot set SCHED_FIFO ({exc.strerror or exc}; it "
            "needs CAP_SYS_NICE or an rtprio limit, e.g. in /etc/security/limits.conf); "
            "running with normal scheduling")
        return None
    node.get_logger().info(f"SCHED_FIFO priority {want} on {threads} threads")
    return want


def declare_process_parameters(node: Node) -> None:
    """Declare the parameters `neuroq.ros_nodes.process.run_node` applies to the node's
    process: `cpu_wakeup_latency_us` and `realtime_priority`. Each node calls this first in
    its constructor, so that a bad value stops it (status 2, one line) before it logs
    anything; `apply_wakeup_latency` and `apply_realtime_priority` declare them on a node
    that did not."""
    _wakeup_latency_parameter(node)
    _realtime_priority_parameter(node)


def _declared(node: Node, name: str, default: int, text: str, low: int, high: int) -> int:
    if node.has_parameter(name):
        return node.get_parameter(name).value
    return declare(node, name, default, text, int_range=(low, high))


def _wakeup_latency_parameter(node: Node) -> int:
    return _declared(node, "cpu_wakeup_latency_us", WAKEUP_LATENCY_UNSET,
                     "hold CPU wake-up latency under this many us while running (PM QoS "
                     f"{CPU_DMA_LATENCY_DEVICE}; -1: leave the machine alone; 0: idle CPUs "
                     "poll)", WAKEUP_LATENCY_UNSET, WAKEUP_LATENCY_MAX_US)


def _realtime_priority_parameter(node: Node) -> int:
    return _declared(node, "realtime_priority", REALTIME_PRIORITY_UNSET,
                     "SCHED_FIFO priority of every thread of the node process (1-99; 0: "
                     "normal scheduling)", REALTIME_PRIORITY_UNSET, REALTIME_PRIORITY_MAX)
