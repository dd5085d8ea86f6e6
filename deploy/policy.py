"""A deployed policy: observation in, action out, with per-action accounting.

This is the interface the closed-loop evaluator (`neuroq eval`) and the ROS 2 policy node
use. Backends (`emulator`, `spinnaker2`, `reference`) implement `Policy`; `load_policy`
picks one by name.

- `reference`: `neuroq.deploy.network.run_reference`, the definition (no chip model: chip time and
  energy are None).
- `emulator`: `neuroq.deploy.emulator`, bit-identical Q-values to the reference, plus counted
  events per PE and the MODELED chip time and energy of `neuroq.deploy.energy`.
- `spinnaker2`: one `hw.run` per action on a board through py-spinnaker2; its Q-values come
  from the board, its counts from the emulator (the board reports none), so its energy is
  MODELED from emulated counts and its chip time includes the modeled host I/O.

Host latency (`host_latency_s`) is always MEASURED on this host; chip time and energy are
always MODELED.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from neuroq.deploy.chip import DEFAULT_PERFORMANCE_LEVEL
from neuroq.deploy.encoders import step_events, takes_events
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.seeds import check_seed

if TYPE_CHECKING:
    from neuroq.deploy.artifact import Artifact

BACKENDS = ("emulator", "reference", "spinnaker2")


@dataclass(frozen=True)
class ActionInfo:
    """What one action cost and produced.

    action: chosen action index (argmax of q, lowest index on ties).
    q: float32 (n_actions,) Q-values.
    host_latency_s: measured wall time of `act` on this host, seconds.
    chip_time_s: on-chip time of the T steps, seconds, MODELED (None if not modeled).
    synaptic_events: synaptic events (spike x fan-out) in the action.
    spikes: spikes emitted by all populations, input source included.
    energy_dynamic_j / energy_total_j: MODELED energy of the action in joules (None when the
        backend has no energy model).
    backend: the backend that ran the action.
    chip_synaptic_events: events the chip processes (spikes x non-zero weights reached),
        None without a chip model.
    """

    action: int
    q: np.ndarray
    host_latency_s: float
    chip_time_s: float | None
    synaptic_events: int
    spikes: int
    energy_dynamic_j: float | None = None
    energy_total_j: float | None = None
    backend: str = ""
    chip_synaptic_events: int | None = None


class Policy(Protocol):
    """A loaded artifact on a backend. It may also offer `warm() -> bool` (see
    `SpikingPolicy.warm`); the ROS 2 policy node pre-warms only a policy that has it."""

    manifest: dict[str, Any]

    def act(self, observation: np.ndarray) -> ActionInfo:
        """Encode one observation, run T steps, return the action and its accounting."""
        ...

    def act_batch(self, observations: np.ndarray) -> np.ndarray:
        """Greedy actions (int64, (batch,)) for a batch of observations (batch, n_obs)."""
        ...


@dataclass(frozen=True)
class BatchResult:
    """One action for each of a batch of observations; per-action arrays (batch,).

    host_time_s: MEASURED wall time of the whole batch on this host.
    chip_time_s, energy_*: MODELED (None for the reference backend).
    tick_load: MODELED busiest PE's cycles per tick over the cycles a tick offers (> 1: the
        chip could not keep its 1 ms tick).
    """

    actions: np.ndarray
    q: np.ndarray
    synaptic_events: np.ndarray
    spikes: np.ndarray
    host_time_s: float
    chip_time_s: float | None = None
    chip_synaptic_events: np.ndarray | None = None
    energy_dynamic_j: np.ndarray | None = None
    energy_total_j: np.ndarray | None = None
    tick_load: np.ndarray | None = None


#: Largest |Q_board - Q_emulator| taken for rounding, relative to the largest |Q_emulator| of
#: the observation (and at least 1): float32 sums in another order (the chip's firmware may
#: add excitatory and inhibitory input apart) move Q by a few units in the last place; an
#: audit of the shipped CartPole artifact with that order measured 3.8e-6 on Q of about 40
#: (1e-7 relative) in 263 of 300 actions, no greedy action changed. A board that runs
#: another network (a delay, v_init or the recorded v read otherwise) moves Q by far more.
BOARD_ROUNDING_REL = 1e-4


@dataclass
class BoardCheck:
    """The board's Q-values against the emulator's on the same input spikes (the spinnaker2
    backend runs both: the emulator gives the counts). The emulator computes what the chip
    should, so a difference beyond rounding says the board runs another network than
    assumed (a connection delay, v_init or the recorded v read otherwise: what
    docs/chip.md marks to be confirmed on a board); an outsider's stand-in board returning
    zeros played "return 10.50" unnoticed.
    Rounding, per observation: |dQ| within BOARD_ROUNDING_REL of its largest |Q_emulator|
    (at least 1). actions: compared; differing: whose greedy action differs, but for a tie
    broken otherwise within rounding (counted in near_tie_flips: the emulator's top two
    within twice the rounding and every |dQ| within it); max_abs_dq: the largest
    |Q_board - Q_emulator|; beyond_rounding: actions with a |dQ| beyond rounding."""

    actions: int = 0
    differing: int = 0
    max_abs_dq: float = 0.0
    beyond_rounding: int = 0
    near_tie_flips: int = 0

    def add(self, q_board: np.ndarray, q_emulator: np.ndarray) -> int:
        """Compare a batch (batch, n_actions); returns how many of its actions differ."""
        finite = np.isfinite(q_board).all(axis=1)  # a NaN row is no agreement
        with np.errstate(invalid="ignore"):  # inf - inf: no agreement, counted below
            dq = np.abs(q_board.astype(np.float64) - q_emulator.astype(np.float64))
        dq = np.where(np.isfinite(dq), dq, np.inf)
        self.max_abs_dq = max(self.max_abs_dq, float(np.max(dq, initial=0.0)))
        # per observation: another row's large Q (or an inf) must not widen this one's
        scale = np.max(np.abs(q_emulator.astype(np.float64)), axis=1, initial=0.0)
        tolerance = BOARD_ROUNDING_REL * np.where(np.isfinite(scale), np.maximum(scale, 1.0),
                                                  1.0)
        within = np.max(dq, axis=1, initial=0.0) <= tolerance
        top = np.sort(q_emulator.astype(np.float64), axis=1)
        gap = top[:, -1] - top[:, -2] if top.shape[1] > 1 else np.full(len(top), np.inf)
        flipped = np.argmax(q_board, axis=1) != np.argmax(q_emulator, axis=1)
        tie = flipped & finite & within & (gap <= 2 * tolerance)
        differ = int(np.count_nonzero((flipped & ~tie) | ~finite))
        self.actions += q_board.shape[0]
        self.differing += differ
        self.near_tie_flips += int(np.count_nonzero(tie))
        self.beyond_rounding += int(np.count_nonzero(~within))
        return differ

    @property
    def differs(self) -> bool:
        """Whether the board's Q-values have differed from the emulator's beyond rounding
        (or in a greedy action other than a tie within rounding)."""
        return bool(self.differing or self.beyond_rounding)

    def to_dict(self) -> dict[str, Any]:
        return {"actions": self.actions, "differing_actions": self.differing,
                "max_abs_dq": self.max_abs_dq, "beyond_rounding": self.beyond_rounding,
                "near_tie_flips": self.near_tie_flips, "rounding_rel": BOARD_ROUNDING_REL,
                "differs": self.differs}


class SpikingPolicy:
    """A spiking Q-network with its encoder on one backend (see the module docstring).

    Use `load_policy` for an artifact on disk; this constructor takes the objects.
    seed: seeds the generator stochastic encoders draw from.
    spinnaker2_modules: py-spinnaker2 stand-in for tests (None: import the real one).
    """

    def __init__(
        self,
        network,
        encoder,
        manifest: dict[str, Any] | None = None,
        backend: str = "emulator",
        performance_level: str = DEFAULT_PERFORMANCE_LEVEL,
        static_scope: str = "chip",
        board_ip: str | None = None,
        seed: int | None = None,
        spinnaker2_modules: Any = None,
    ):
        if backend not in BACKENDS:
            raise NeuroqError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if encoder.n_inputs != network.n_inputs:
            raise NeuroqError(f"encoder gives {encoder.n_inputs} inputs, the network takes "
                              f"{network.n_inputs}")
        self._network = network
        self._encoder = encoder
        self.manifest = dict(manifest or {})
        self._backend = backend
        self._performance_level = performance_level
        self._n_obs = int(getattr(encoder, "n_obs", 0)) or None
        self.rng = np.random.default_rng(seed)
        # the last emulator action's input spikes (warm); stays None on other backends
        self._last_input: np.ndarray | None = None
        self.program = self.emulator = self.energy = self.board = None
        self.board_check: BoardCheck | None = None  # spinnaker2: board against emulator
        if backend in ("emulator", "spinnaker2"):
            from neuroq.deploy.compiler import compile_program
            from neuroq.deploy.emulator import Emulator
            from neuroq.deploy.energy import EnergyModel

            self.program = compile_program(network)
            self.emulator = Emulator(self.program)
            self.energy = EnergyModel(self.program, performance_level, static_scope,
                                      on_hardware=backend == "spinnaker2")
        if backend == "spinnaker2":
            from neuroq.deploy.spinnaker2 import SpiNNaker2Runner

            self.board = SpiNNaker2Runner(self.program, board_ip, spinnaker2_modules)
            self.board_check = BoardCheck()

    # --- what it runs: fixed at construction (the network is compiled for the chip then;
    # an outsider's `pol.performance_level = "high"` changed nothing and `pol.backend =
    # "spinnaker2"` relabelled emulator actions) ---------------------------------------------

    @property
    def network(self):
        """The spiking Q-network (`neuroq.deploy.network.SpikingQNetwork`; its arrays are
        read-only)."""
        return self._network

    @property
    def encoder(self):
        """The observation (or event) encoder."""
        return self._encoder

    @property
    def backend(self) -> str:
        """"emulator", "reference" or "spinnaker2"."""
        return self._backend

    @property
    def performance_level(self) -> str:
        """The chip performance level the energy model assumes ("low" or "high")."""
        return self._performance_level

    @property
    def timesteps(self) -> int:
        """T, the network's steps per action."""
        return self._network.timesteps

    @property
    def n_obs(self) -> int | None:
        """Observation values per action (None for an encoder that does not say)."""
        return self._n_obs

    # --- input ----------------------------------------------------------------------------

    def _check_obs(self, obs: np.ndarray, batched: bool) -> np.ndarray:
        try:
            x = np.asarray(obs)
        except (TypeError, ValueError, RuntimeError):  # RuntimeError: a torch tensor that
            # requires grad
            raise NeuroqError("observation must be an array of numbers (a torch tensor: "
                              "detach it)") from None
        if x.dtype.kind not in "biuf":  # text and complex numbers were converted (an
            # outsider's array of strings; complex lost its imaginary part with a warning)
            raise NeuroqError(f"observation must be an array of real numbers, got dtype "
                              f"{x.dtype}")
        x = x.astype(np.float32, copy=False)
        want = 2 if batched else 1
        if x.ndim != want or (self.n_obs is not None and x.shape[-1] != self.n_obs):
            shape = "(batch, n_obs)" if batched else "(n_obs,)"
            raise NeuroqError(f"observation must have shape {shape} with n_obs = "
                              f"{self.n_obs}, got {x.shape}")
        if batched and x.shape[0] == 0:
            raise NeuroqError("empty batch of observations")
        if not np.isfinite(x).all():
            raise NeuroqError("observation contains NaN or inf")
        return x if batched else x[None]

    # --- running --------------------------------------------------------------------------

    def run_batch(self, observations: np.ndarray) -> BatchResult:
        """One action per observation (batch, n_obs), with counts and the modeled cost."""
        start = time.perf_counter()
        x = self._check_obs(observations, batched=True)
        spikes_in = self.encoder.encode(x, self.timesteps, rng=self.rng)
        return self._run_spikes(spikes_in, start)

    def _run_spikes(self, spikes_in: np.ndarray, start: float) -> BatchResult:
        if self.backend == "reference":
            from neuroq.deploy.network import run_reference

            r = run_reference(self.network, spikes_in)
            total_spikes = sum(c.sum(axis=1) for c in r.spike_counts)
            return BatchResult(np.argmax(r.q, axis=1), r.q, r.synaptic_events, total_spikes,
                               time.perf_counter() - start)
        r = self.emulator.run(spikes_in)
        q = r.q
        if self.board is not None:
            q = np.stack([self.board.run(spikes_in[:, i]) for i in range(q.shape[0])])
            q = (q * np.float32(self.network.q_scale)).astype(np.float32)
            self.board_check.add(q, r.q)
        cost = self.energy.cost(r.events_per_pe, r.spikes_per_pe, r.neuron_updates_per_pe)
        return BatchResult(np.argmax(q, axis=1), q, r.synaptic_events, r.spikes,
                           time.perf_counter() - start, cost.chip_time_s,
                           r.events_per_pe.sum(axis=1), cost.energy_dynamic_j,
                           cost.energy_total_j, cost.tick_load)

    def act(self, observation: np.ndarray) -> ActionInfo:
        """Encode one observation (n_obs,), run T steps, return the action and its costs."""
        start = time.perf_counter()
        x = self._check_obs(observation, batched=False)
        spikes_in = self.encoder.encode(x, self.timesteps, rng=self.rng)
        if self.backend != "emulator":
            return self._first_action(self._run_spikes(spikes_in, start), start)
        return self._act_one(spikes_in[:, 0], start)

    def _act_one(self, spikes_in: np.ndarray, start: float) -> ActionInfo:
        """The emulator's per-action path: one environment's input spikes (T, n_inputs),
        summed counts (Emulator.run_one); host time since `start`."""
        self._last_input = spikes_in
        r = self.emulator.run_one(spikes_in)
        dyn, tot = self.energy.action_energy(r.chip_events, r.spikes, r.neuron_updates)
        return ActionInfo(int(r.q.argmax()), r.q, time.perf_counter() - start,
                          self.energy.chip_time_s, r.synaptic_events, r.spikes, dyn, tot,
                          self.backend, r.chip_events)

    def warm(self) -> bool:
        """Run the network once more on the last action's input spikes; discard the result.

        For a control loop that knows when its next reading comes: a network that ran just
        before finds its weights and the interpreter's code in cache. On the development VM
        the shipped CartPole network's act took a median 0.68 ms 10 ms after the previous
        one and 0.52 ms with a warm run 2 ms before (bench/bench_ros_loop.py, 100 Hz).
        Actions are unchanged: the encoder and its generator are not touched, and the
        emulator starts every run from a fresh state. Returns whether anything ran: only
        the emulator backend warms (only its act and act_events keep the input), after a
        first action.
        """
        if self._last_input is None:
            return False
        self.emulator.run_one(self._last_input)
        return True

    def act_batch(self, observations: np.ndarray) -> np.ndarray:
        """Greedy actions (int64, (batch,)) for observations (batch, n_obs)."""
        return self.run_batch(observations).actions.astype(np.int64)

    # --- events as input spikes (neuroq.deploy.encoders.EventEncoder) -----------------------

    def run_events(self, events: Any, window_start_us: Any) -> BatchResult:
        """One action per control period from its DVS events (event encoder only).

        events: `batch` event sets (EVENT_DTYPE arrays or x/y/t/p columns, t in us);
        window_start_us: each period's start. Each event is an input spike in the time bin
        of its timestamp (`EventEncoder.encode_events`).
        """
        start = time.perf_counter()
        return self._run_spikes(self._encode_events(events, window_start_us), start)

    def run_step(self, observations: np.ndarray, infos: Any) -> BatchResult:
        """One action per environment of a batched step: on each one's events for an event
        encoder (`neuroq.deploy.encoders.step_events`), else on the observations (batch,
        n_obs): how eval, robustness and the video play a policy."""
        if takes_events(self.encoder):
            return self.run_events(*step_events(infos))
        return self.run_batch(observations)

    def act_events(self, events: Any, window_start_us: int) -> ActionInfo:
        """The action for one control period's events, with its accounting (the same as
        `run_events` on a batch of one; on the emulator through its per-action path, as
        `act`)."""
        start = time.perf_counter()
        return self._act_spikes(self._encode_events([events], [window_start_us])[:, 0], start)

    def act_spikes(self, spikes_in: np.ndarray) -> ActionInfo:
        """The action for one control period's input spikes (T, n_inputs), already encoded
        (`EventEncoder.period_spikes`, the event node's path): `act_events` after its
        encoding."""
        return self._act_spikes(np.asarray(spikes_in), time.perf_counter())

    def _act_spikes(self, spikes_in: np.ndarray, start: float) -> ActionInfo:
        """One period's input spikes (T, n_inputs) -> its action; host time since `start`."""
        if self.backend != "emulator":
            return self._first_action(self._run_spikes(spikes_in[:, None, :], start), start)
        return self._act_one(spikes_in, start)

    def _encode_events(self, events: Any, window_start_us: Any) -> np.ndarray:
        """Input spikes (T, batch, n_inputs) from `batch` periods' events (event encoder
        only; NeuroqError for an encoder that takes observations)."""
        if not takes_events(self.encoder):
            raise NeuroqError(f"this artifact's {self.encoder.kind} encoder takes observations,"
                              " not events; use run_batch / act")
        return self.encoder.encode_events(events, window_start_us, self.timesteps)

    def _first_action(self, b: BatchResult, start: float) -> ActionInfo:
        """The first action of a batch result as an ActionInfo; host time since `start`."""
        dyn = None if b.energy_dynamic_j is None else float(b.energy_dynamic_j[0])
        tot = None if b.energy_total_j is None else float(b.energy_total_j[0])
        chip_ev = None if b.chip_synaptic_events is None else int(b.chip_synaptic_events[0])
        return ActionInfo(int(b.actions[0]), b.q[0], time.perf_counter() - start,
                          b.chip_time_s, int(b.synaptic_events[0]), int(b.spikes[0]),
                          dyn, tot, self.backend, chip_ev)


def check_policy_settings(backend: Any = "emulator",
                          performance_level: Any = DEFAULT_PERFORMANCE_LEVEL,
                          static_scope: Any = "chip", board_ip: Any = None,
                          seed: Any = None) -> None:
    """NeuroqError naming the first of `load_policy`'s settings it would refuse, before any
    file is read: `load_policy` and sweep specs check with it."""
    from neuroq.deploy.chip import performance_level as level_named
    from neuroq.deploy.energy import check_static_scope

    if backend not in BACKENDS:
        raise NeuroqError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "spinnaker2":
        from neuroq.deploy.spinnaker2 import check_board_ip

        check_board_ip(board_ip)
    level_named(performance_level)
    check_static_scope(static_scope)
    check_seed(seed, optional=True)


def load_policy(
    artifact: str | os.PathLike | Artifact,
    backend: str = "emulator",
    performance_level: str = DEFAULT_PERFORMANCE_LEVEL,
    board_ip: str | None = None,
    static_scope: str = "chip",
    seed: int | None = None,
) -> SpikingPolicy:
    """Load a deploy artifact (folder or its manifest.json, or an `Artifact` that
    `load_artifact` loaded already) onto `backend`.

    backend: "emulator" (default), "reference" or "spinnaker2" (needs `board_ip` and
    py-spinnaker2). performance_level: "low" (150 MHz, 0.5 V) or "high" (300 MHz, 0.8 V),
    used by the energy model. seed: the encoder's random generator (Poisson encoders), an
    integer in [0, 2**32 - 1], or None. Raises NeuroqError for every user error.
    """
    check_policy_settings(backend, performance_level, static_scope, board_ip, seed)
    from neuroq.deploy.artifact import Artifact, load_artifact

    art = artifact if isinstance(artifact, Artifact) else load_artifact(artifact)
    return SpikingPolicy(art.network, art.encoder, art.manifest, backend, performance_level,
                         static_scope, board_ip, seed)
