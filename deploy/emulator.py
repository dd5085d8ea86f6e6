"""The SpiNNaker2 emulator: runs a compiled `Program` step by step with the chip's numerics.

Numerics are those of `neuroq.deploy.neuron` and `neuroq.deploy.network.run_reference`,
bit for bit:
int8 weights, exact integer synaptic sums (rounded once to float32), float32 neuron state
updated as `(alpha_decay * v + i_offset) + I`, threshold, reset; one step of delay per
projection, the input source included; non-spiking output; Q = v_out * q_scale.

How it is fast without changing a bit:
- Weights are kept transposed as float32 (n_pre, n_post) and spikes as float32 0/1. A
  synaptic sum of 0/1 spikes times integer weights is an integer of magnitude at most
  127 * n_pre < 2**24, which float32 holds exactly whatever the order of summation, so BLAS
  (sgemv for one environment, sgemm for many) gives exactly the int32 sum cast to float32.
- Within one step every layer reads only spikes of the previous step, so all layers share
  one state vector and each elementwise operation runs once per step over all of them.
- Exact no-ops are skipped: `alpha_decay * v` when every alpha_decay is 1, `+ i_offset`
  when every i_offset is +0.0 and every alpha_decay is 1. Exact because v never holds -0.0
  (no parameter holds -0.0; checked) and x * 1 == x, x + 0.0 == x for every other float32.
- State is neuron-major ((neurons,) for one environment, (neurons, batch) for many), so every
  layer's block is contiguous and BLAS computes W @ spikes.
- Every population's spikes go straight into a preallocated history (T, neurons, batch);
  all counting is done once per run from it: spikes per neuron, synaptic events per PE
  (spikes delivered x the non-zero weights they reach on that PE), spikes sent per PE and
  neuron updates per PE. Spikes of the last step are sent but never delivered.

State is reset at the start of every run, so a failed or interrupted call cannot leak into
the next one. The preallocated buffers are the emulator's own: a lock lets one run at a time
use them (two threads sharing one policy got wrong Q-values in about 1 % of 2000 calls each:
an outsider), and a copy or pickle leaves them behind, to be made again on its first run (a
deep copy turned their views into separate arrays: a copied policy's Q-values were its
output biases alone).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from neuroq.deploy.compiler import Program
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.neuron import Compare, Reset

#: one environment: projections with at least this many weights skip their sgemv in early
#: steps when the presynaptic population was silent (the check costs less than the product)
SKIP_SILENT_MIN_WEIGHTS = 8192
#: environments per internal chunk: bounds the spike history and keeps sgemm cache-friendly.
MAX_CHUNK = 256


@dataclass(frozen=True, eq=False)
class EmulatorResult:
    """One batched run of T steps (batch = number of environments).

    q: float32 (batch, n_actions), Q-values; v_out: float32 raw output potential.
    spike_counts: int64 (batch, n) per spiking population, input source first (derived
        from `emitted`, int64 (batch, all spiking neurons)).
    synaptic_events: int64 (batch,), spikes delivered x fan-out incl. zero weights (the
        reference model's definition).
    events_per_pe: int64 (batch, n_pes), synaptic events the chip processes per PE (spikes
        delivered x non-zero weights on that PE).
    spikes_per_pe: int64 (batch, n_pes), spikes sent by each PE.
    neuron_updates_per_pe: int64 (n_pes,), neuron updates per PE (the same for every env).
    """

    q: np.ndarray
    v_out: np.ndarray
    emitted: np.ndarray
    population_sizes: tuple[int, ...]
    synaptic_events: np.ndarray
    events_per_pe: np.ndarray
    spikes_per_pe: np.ndarray
    neuron_updates_per_pe: np.ndarray

    @property
    def spike_counts(self) -> tuple[np.ndarray, ...]:
        ends = np.cumsum(self.population_sizes)
        return tuple(self.emitted[:, e - n:e] for n, e in zip(self.population_sizes, ends,
                                                               strict=True))

    @property
    def spikes(self) -> np.ndarray:
        """Spikes emitted by all populations, input source included, int64 (batch,)."""
        return self.spikes_per_pe.sum(axis=1)

    @property
    def actions(self) -> np.ndarray:
        """Greedy actions, int64 (batch,); lowest index on ties."""
        return np.argmax(self.q, axis=1)


@dataclass(frozen=True, eq=False)
class OneResult:
    """One environment's run, totals only (the per-action fast path, `Emulator.run_one`).

    q: float32 (n_actions,) Q-values.
    synaptic_events: spikes delivered x fan-out incl. zero weights (reference definition).
    chip_events: synaptic events the chip processes (spikes delivered x non-zero weights).
    spikes: spikes emitted by all populations, input source included (= spikes sent).
    neuron_updates: neuron updates on all PEs (the same for every run).
    """

    q: np.ndarray
    synaptic_events: int
    chip_events: int
    spikes: int
    neuron_updates: int


def _check_spikes(s: np.ndarray) -> None:
    """NeuroqError unless `s` holds spikes: bools, or numbers that are all 0 or 1 (0.5, 2,
    -1 and NaN were spikes: any non-zero value counted, an outsider)."""
    if s.dtype == bool:
        return
    if s.dtype.kind not in "iuf" or not ((s == 0) | (s == 1)).all():
        raise NeuroqError("input spikes must be bools, or numbers that are 0 or 1")


def _has_negative_zero(a: np.ndarray) -> bool:
    return bool(np.any((a == 0) & np.signbit(a)))


class _Projection:
    """Transposed float32 weights of one layer and where it reads and writes."""

    def __init__(self, weight: np.ndarray, pre: slice, post: slice):
        self.wt = np.ascontiguousarray(weight.T, dtype=np.float32)  # (n_pre, n_post)
        self.w = np.ascontiguousarray(weight, dtype=np.float32)  # (n_post, n_pre)
        self.pre, self.post = pre, post


class Emulator:
    """Runs a `Program` on batches of input spike trains; stateless between runs.

    Within one step every layer reads only spikes of the previous step, so all layers are
    updated together: one state vector holds every layer's neurons (hidden layers first,
    the output layer last) and each elementwise operation runs once per step over all.
    """

    def __init__(self, program: Program):
        self.program = program
        net = program.network
        self.timesteps = net.timesteps
        self.n_inputs = net.n_inputs
        self.n_actions = net.n_actions
        self.q_scale = np.float32(net.q_scale)
        #: spiking populations (input source, hidden layers): one history column block each
        self.spiking_sizes = net.widths[:-1]
        self.spike_offsets = np.concatenate([[0], np.cumsum(self.spiking_sizes)]).astype(int)
        self.n_spiking = int(self.spike_offsets[-1])
        post = np.concatenate([[0], np.cumsum(net.widths[1:])]).astype(int)
        self.n_post = int(post[-1])
        self.n_hidden = self.n_post - self.n_actions
        self.projections = [
            _Projection(layer.weight,
                        slice(int(self.spike_offsets[k]), int(self.spike_offsets[k + 1])),
                        slice(int(post[k]), int(post[k + 1])))
            for k, layer in enumerate(net.layers)]

        def cat(field: str, layers) -> np.ndarray:
            return np.concatenate([getattr(ly.params, field) for ly in layers]).astype(
                np.float32)

        layers, hidden = net.layers, net.layers[:-1]
        self.alpha = cat("alpha_decay", layers)
        self.i_offset = cat("i_offset", layers)
        self.threshold = cat("threshold", hidden) if hidden else np.zeros(0, np.float32)
        self.v_reset = cat("v_reset", hidden) if hidden else np.zeros(0, np.float32)
        self.ge = program.compare is Compare.GE
        self.subtract = [Reset(ly.params.reset) is Reset.SUBTRACT for ly in hidden]
        self.hidden_slices = [self.projections[k].post for k in range(len(hidden))]
        # every hidden neuron resets to v_reset: one copyto over all of them (the hidden
        # populations' slices are consecutive and tile [0, n_hidden))
        self.reset_all = bool(hidden) and not any(self.subtract)
        self.exact_zeros = not any(_has_negative_zero(a) for a in
                                   (self.i_offset, self.v_reset, self.threshold))
        self.skip_alpha = bool(np.all(self.alpha == 1.0))
        self.skip_offset = (self.exact_zeros and self.skip_alpha
                            and bool(np.all(self.i_offset == 0)))
        self._build_counters()
        self._new_buffers()

    def _new_buffers(self) -> None:
        """Empty buffers and the lock that guards them (at start, and in a copy)."""
        self._buffers: dict[int, tuple] = {}
        self._both_one = np.empty(2 * self.n_spiking, np.float32)  # run_one's counts
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        """A copy or pickle without the buffers (views into one another) or the lock."""
        state = self.__dict__.copy()
        for name in ("_buffers", "_both_one", "_lock"):
            del state[name]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._new_buffers()

    def _build_counters(self) -> None:
        """(n_spiking, n_pes) matrices: non-zero weights each spiking neuron reaches on each
        PE (events per spike delivered), and the PE that sends each neuron's spikes."""
        prog = self.program
        n_pes = prog.n_pes
        self._fan = np.zeros((self.n_spiking, n_pes), np.float64)
        self._sent = np.zeros((self.n_spiking, n_pes), np.float64)
        self._updates = np.zeros(n_pes, np.int64)
        offs = self.spike_offsets
        for slot in prog.placement:
            k = slot.pop_index  # population k is fed by population k-1 through layer k-1
            if k < len(self.spiking_sizes):
                self._sent[offs[k] + slot.start: offs[k] + slot.stop, slot.pe] = 1.0
            if k >= 1:
                w = prog.projections[k - 1].weight[slot.start:slot.stop]
                self._fan[offs[k - 1]: offs[k], slot.pe] = np.count_nonzero(w, axis=0)
                self._updates[slot.pe] = slot.n_neurons * self.timesteps
        dense_fanout = np.concatenate([
            np.full(layer.n_in, float(layer.n_out)) for layer in prog.network.layers])
        # one matrix for all counts: [delivered, emitted] @ it = [events/PE, sent/PE, dense]
        n = self.n_spiking
        self._count_matrix = np.zeros((2 * n, 2 * n_pes + 1), np.float64)
        self._count_matrix[:n, :n_pes] = self._fan
        self._count_matrix[n:, n_pes:2 * n_pes] = self._sent
        self._count_matrix[:n, -1] = dense_fanout
        self._count_matrix_t = np.ascontiguousarray(self._count_matrix.T)
        self._updates.flags.writeable = False  # shared by every result
        # totals for one environment: [delivered, emitted] @ it = [dense, chip events, spikes]
        self._total_matrix = np.zeros((2 * n, 3), np.float64)
        self._total_matrix[:n, 0] = dense_fanout
        self._total_matrix[:n, 1] = self._fan.sum(axis=1)
        self._total_matrix[n:, 2] = 1.0
        self._neuron_updates = int(self._updates.sum())

    def _get_buffers(self, batch: int) -> tuple:
        """Preallocated state for one batch size, neuron-major: (n,) for one environment,
        (n, batch) for many, so that every layer's block of neurons is contiguous.

        hist: spike history (T, n_spiking[, batch]) float32 0/1 that BLAS reads directly.
        plan[t-1]: per projection (a, b, out, check) for `out = a @ b`: sgemv spikes @ W.T
            for one environment, sgemm W @ spikes for many; skipped (out = 0) when `check`,
            the presynaptic spikes, are all zero (None: no check).
        params: alpha_decay, i_offset, threshold, v_reset, full size for many environments
            (elementwise operations on equal shapes run faster than broadcast ones).
        scratch: (tmp, fired), the hidden neurons' threshold * spikes (float32) and spikes
            as bools (`_fire_bool`'s where=), rewritten every step.
        """
        buf = self._buffers.get(batch)
        if buf is None:
            tail = () if batch == 1 else (batch,)
            hist = np.zeros((self.timesteps, self.n_spiking, *tail), np.float32)
            v = np.zeros((self.n_post, *tail), np.float32)
            isyn = np.zeros((self.n_post, *tail), np.float32)
            tmp = np.zeros((self.n_hidden, *tail), np.float32)
            fired = np.zeros((self.n_hidden, *tail), bool)
            plan = []
            for t in range(1, self.timesteps):
                step = []
                for k, p in enumerate(self.projections):
                    spikes_in, out = hist[t - 1, p.pre], isyn[p.post]
                    if batch == 1:
                        # population k (0: input) typically first fires in step k: check
                        # for silence only before then, where it pays
                        skip = t - 1 < k and p.wt.size >= SKIP_SILENT_MIN_WEIGHTS
                        step.append((spikes_in, p.wt, out, spikes_in if skip else None))
                    else:  # a check of the spikes costs a small part of the sgemm
                        step.append((p.w, spikes_in, out, spikes_in))
                plan.append(step)
            spike_views = [hist[t, self.n_inputs:] for t in range(self.timesteps)]

            def full(a: np.ndarray) -> np.ndarray:
                return a if batch == 1 else np.repeat(a[:, None], batch, axis=1)

            params = (full(self.alpha) if not self.skip_alpha else None,
                      full(self.i_offset) if not self.skip_offset else None,
                      full(self.threshold), full(self.v_reset))
            buf = (hist, v, isyn, (tmp, fired), plan, spike_views, params)
            if len(self._buffers) > 8:
                self._buffers.clear()
            self._buffers[batch] = buf
        return buf

    def check_input(self, input_spikes: np.ndarray) -> np.ndarray:
        """`input_spikes` as an array of shape (T, batch, n_inputs) holding spikes (bools,
        or numbers that are 0 or 1); NeuroqError otherwise."""
        s = np.asarray(input_spikes)
        if s.ndim != 3 or s.shape[0] != self.timesteps or s.shape[2] != self.n_inputs:
            raise NeuroqError(
                f"input spikes must have shape (T={self.timesteps}, batch, {self.n_inputs}),"
                f" got {s.shape}")
        if s.shape[1] == 0:
            raise NeuroqError("input spikes hold an empty batch")
        _check_spikes(s)
        return s

    def run(self, input_spikes: np.ndarray) -> EmulatorResult:
        """Run T steps on input spikes (T, batch, n_inputs) of bools (or 0/1)."""
        return self._run_checked(self.check_input(input_spikes))

    def _run_checked(self, s: np.ndarray) -> EmulatorResult:
        """`run` of spikes `check_input` passed (each chunk of a large batch is not checked
        again)."""
        batch = s.shape[1]
        if batch > MAX_CHUNK:
            parts = [self._run_checked(s[:, i:i + MAX_CHUNK])
                     for i in range(0, batch, MAX_CHUNK)]
            return EmulatorResult(
                np.concatenate([p.q for p in parts]),
                np.concatenate([p.v_out for p in parts]),
                np.concatenate([p.emitted for p in parts]),
                parts[0].population_sizes,
                np.concatenate([p.synaptic_events for p in parts]),
                np.concatenate([p.events_per_pe for p in parts]),
                np.concatenate([p.spikes_per_pe for p in parts]),
                parts[0].neuron_updates_per_pe)
        with self._lock:
            hist, v = self._simulate(s[:, 0, :] if batch == 1 else s.transpose(0, 2, 1),
                                     batch)
            v_out = v[self.n_hidden:].reshape(self.n_actions, batch).T
            return self._result(hist.reshape(self.timesteps, self.n_spiking, batch), v_out)

    def run_one(self, input_spikes: np.ndarray) -> OneResult:
        """One environment's input spikes (T, n_inputs) -> Q-values and total counts.

        The same steps as `run` with batch 1 (bit-identical q) and the same counts summed
        over PEs, with fewer array operations: the per-action path of a deployed policy.
        """
        s = np.asarray(input_spikes)
        if s.shape != (self.timesteps, self.n_inputs):
            raise NeuroqError(f"input spikes must have shape (T={self.timesteps}, "
                              f"{self.n_inputs}), got {s.shape}")
        _check_spikes(s)
        with self._lock:
            hist, v = self._simulate(s, 1)
            both = self._both_one
            self._delivered_and_emitted(hist, both)
            totals = both @ self._total_matrix
            q = (v[self.n_hidden:] * self.q_scale).astype(np.float32)
        dense, chip, spikes = (int(round(c)) for c in totals)
        return OneResult(q, dense, chip, spikes, self._neuron_updates)

    def _simulate(self, inputs: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """T steps from a fresh state; inputs (T, n_inputs[, batch]), neuron-major.

        Returns the buffers (spike history, membrane potentials) the run wrote; the next
        run of the same batch size overwrites them.
        """
        hist, v, isyn, scratch, plan, spike_views, params = self._get_buffers(batch)
        v.fill(0.0)
        isyn.fill(0.0)
        np.not_equal(inputs, 0, out=hist[:, :self.n_inputs])
        self._run(v, isyn, scratch, plan, spike_views, params, single=batch == 1)
        return hist, v

    def _delivered_and_emitted(self, hist: np.ndarray, out: np.ndarray) -> None:
        """Per spiking neuron, spikes delivered (out[:n]) and emitted (out[n:]), float32,
        from the history (T, n[, batch]). Spikes of the last step are sent but never
        delivered. Exact: at most T per neuron."""
        n = self.n_spiking
        hist.sum(axis=0, dtype=np.float32, out=out[n:])
        np.subtract(out[n:], hist[-1], out=out[:n])

    def _fire_bool(self, vh, spikes, thr, v_reset) -> None:
        """Threshold and reset of the hidden neurons, literally; spikes: bool out."""
        if self.ge:
            np.greater_equal(vh, thr, out=spikes)
        else:
            np.greater(vh, thr, out=spikes)
        if self.reset_all:
            np.copyto(vh, v_reset, where=spikes)
            return
        for sl, sub in zip(self.hidden_slices, self.subtract, strict=True):
            if sub:
                np.subtract(vh[sl], thr[sl], out=vh[sl], where=spikes[sl])
            else:
                np.copyto(vh[sl], v_reset[sl], where=spikes[sl])

    def _run(self, v, isyn, scratch, plan, spike_views, params, single: bool) -> None:
        """T steps over the buffers of `_get_buffers`, the input spikes already in hist."""
        alpha, i_offset, thr, v_reset = params
        vh = v[: self.n_hidden]
        fast_reset = all(self.subtract) and self.exact_zeros
        tmp, sb = scratch
        fire = np.greater_equal if self.ge else np.greater
        # one environment: sgemv through np.dot (least call overhead); many: sgemm through
        # matmul; either is skipped when the presynaptic population was silent (see plan)
        product = np.dot if single else np.matmul
        for t in range(self.timesteps):
            if t > 0:  # in step 0 no spike has arrived yet: I = 0
                for a, b, out, silent_check in plan[t - 1]:
                    if silent_check is not None and not silent_check.any():
                        out.fill(0.0)
                    else:
                        product(a, b, out=out)
                if not self.exact_zeros:  # BLAS may sum to -0.0 where int32 gives +0
                    np.add(isyn, np.float32(0.0), out=isyn)
            # v <- (alpha_decay * v + i_offset) + I, exact no-ops skipped (module docstring)
            if alpha is not None:
                np.multiply(alpha, v, out=v)
            if i_offset is not None:
                np.add(v, i_offset, out=v)
            np.add(v, isyn, out=v)
            if not self.n_hidden:
                continue
            spikes = spike_views[t]
            if fast_reset:
                # v - threshold * s equals where(s, v - threshold, v) bit for bit:
                # threshold * 1 == threshold, and v - (+-0.0) == v as v never holds -0.0
                fire(vh, thr, out=spikes)
                np.multiply(spikes, thr, out=tmp)
                np.subtract(vh, tmp, out=vh)
            else:
                self._fire_bool(vh, sb, thr, v_reset)
                spikes[...] = sb

    def _result(self, hist, v_out) -> EmulatorResult:
        """Counts from the history (T, n_spiking, batch); v_out (batch, n_actions)."""
        batch, n, n_pes = v_out.shape[0], self.n_spiking, self.program.n_pes
        both = np.empty((2 * n, batch), np.float32)
        self._delivered_and_emitted(hist, both)
        emitted = both[n:]
        counts = np.rint(self._count_matrix_t @ both).astype(np.int64).T
        v_out = np.array(v_out)  # a copy: a batch of one's (1, n) view counts as contiguous,
        # and ascontiguousarray handed out the buffer the next run overwrites
        q = (v_out * self.q_scale).astype(np.float32)
        return EmulatorResult(q, v_out, emitted.T.astype(np.int64), tuple(self.spiking_sizes),
                              counts[:, -1], counts[:, :n_pes], counts[:, n_pes:2 * n_pes],
                              self._updates)
