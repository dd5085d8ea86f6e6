"""The one place an executor is built (the kind NEUROQ_ROS_EXECUTOR names), the one way a
node makes a timer that simulated time cannot stop (`steady_timer`), and the one way a
simulator node makes the timer that paces it (`pace_timer`).

"events" (default): rclpy's EventsExecutor (C++ dispatch). With these wheels (rclpy 9.1.2)
one hop between two processes took a median 530 us and a p99 0.7 ms on it against 680 us
and 1.2 ms on SingleThreadedExecutor, at half the CPU (bench/bench_ros_loop.py gives the
whole loop). Its `spin()` never returned and fired no timers here, so every user spins it
in `spin_once` slices (`neuroq.ros_nodes.process.spin`).
"single": rclpy's SingleThreadedExecutor.

Steady timers: a ROS-time timer follows /clock when `use_sim_time` is true, so a paused
simulation or a bag replay without /clock stops it. Watchdogs, diagnostics, the event
node's takes and the policy's pre-warming must go on whatever the simulated time does, so
they run on the steady (monotonic) clock.

Pace timers: a simulator node (the sim robot, the event camera) follows simulated time when
`use_sim_time` is true, and otherwise runs on the steady clock too. rclpy's default timer
clock is ROS time, which without simulated time is the system clock: a step of the system
clock back (NTP, a virtual machine's clock sync, `date -s`) stalls such a timer for as long
as the step (rclpy issue 1490): the likely cause of a sim robot's exit check that once
stopped in our CI.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

#: Environment variable choosing the executor: one of EXECUTORS.
EXECUTOR_ENV = "NEUROQ_ROS_EXECUTOR"
EXECUTORS = ("events", "single")


def make_executor(context: Any) -> Any:
    """A new executor on `context`, of the kind `NEUROQ_ROS_EXECUTOR` names ("events" when
    unset or empty). Raises ValueError for any other value."""
    choice = os.environ.get(EXECUTOR_ENV, "events") or "events"
    if choice == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    if choice == "single":
        from rclpy.executors import SingleThreadedExecutor

        return SingleThreadedExecutor(context=context)
    raise ValueError(f"{EXECUTOR_ENV} must be one of {list(EXECUTORS)}, got {choice!r}")


def _signed(callback: Callable[[], Any]) -> Callable[[], None]:
    """`callback` behind a function whose signature is set: rclpy's executors read a timer
    callback's signature at every call (`inspect.signature`, looking for a TimerInfo
    parameter), about 10 us for a bound method here; a preset `__signature__` is read at
    once. Measured with an empty callback at 1 kHz on the EventsExecutor: 87-103 against
    112-124 us of CPU per call (3 pairs).

    Only for what neuroq's nodes pass: a plain function or method taking no argument.
    Raises TypeError for a coroutine function (rclpy awaits those; behind this wrapper it
    would never run) or one with parameters (rclpy may pass it a TimerInfo)."""
    if inspect.iscoroutinefunction(callback) or inspect.signature(callback).parameters:
        raise TypeError(f"a steady or pace timer takes a plain callback without parameters, "
                        f"got {callback!r}")

    @functools.wraps(callback)
    def call() -> None:
        callback()

    call.__signature__ = inspect.Signature()  # no TimerInfo parameter: called without one
    return call


def steady_timer(node: Any, period_s: float, callback: Any, **kwargs: Any) -> Any:
    """`node.create_timer(period_s, callback)` on the steady clock (module docstring);
    kwargs go to create_timer (e.g. autostart)."""
    from rclpy.clock import Clock, ClockType

    return node.create_timer(period_s, _signed(callback),
                             clock=Clock(clock_type=ClockType.STEADY_TIME), **kwargs)


def pace_timer(node: Any, period_s: float, callback: Any) -> Any:
    """The timer that paces a simulator node: on the node's ROS clock when its
    `use_sim_time` is true (simulated time), else on the steady clock (module docstring).
    The choice is made once: the node must refuse `use_sim_time` changes at run time
    (`neuroq.ros_nodes.params.refuse_runtime_changes`, as the sim robot and event camera
    do)."""
    if node.get_parameter("use_sim_time").value:
        return node.create_timer(period_s, _signed(callback))
    return steady_timer(node, period_s, callback)
