"""ANN-to-SNN conversion of a trained DQN's Q-MLP into an 8-bit spiking Q-network.

Steps (Diehl et al. 2015, Rueckauer et al. 2017 "data-based normalization"; Tan et al. 2021
for Q-networks):

1. Record observations with the trained greedy policy (a fraction RECORD_EPSILON of random
   actions widens the coverage of states) and its Q-values on them.
2. Input layer. The encoder turns x into input spike rates r (fraction of the A = T - L
   active steps that carry a spike). A linear decoder `x ~ D r + c`, fitted by least squares
   on the recorded observations, moves the ANN's first layer onto spikes:
   `W_1' = W_1 D`, `b_1' = b_1 + W_1 c`. (Exact for rate coding inside its range.)
3. Normalization. lambda_k = the `percentile` of layer k's ReLU activations over the
   recorded observations (lambda_0 = 1: input rates lie in [0, 1]). With threshold 1 an IF
   neuron fed `W_k lambda_{k-1} / lambda_k` and `b_k / lambda_k` fires at about
   a_k / lambda_k spikes per step.
4. 8 bit. Per layer, s_k = 127 / max|W_k_hat| weight units per normalized unit:
   int8 weights `round(W_k_hat * s_k)`, threshold `s_k`, i_offset `b_k_hat * s_k`, all in
   weight units; `weight_scale` = lambda_k / (lambda_{k-1} s_k) (ANN units per weight unit).
5. Output layer (non-spiking): weights `round(W_L lambda_{L-1} s_L)`; it integrates the last
   hidden layer's spikes of N = T - 1 steps (steps 0..T-2; the delay hides the last step)
   and T bias additions, so i_offset = b_L s_L N / T and q_scale = 1 / (N s_L), giving
   Q ~ v_out * q_scale.

Reset after a spike: to v_reset = 0 by default (`reset="reset_to_v_reset"`, what NIR's IF
and LIF nodes say, so exported graphs need no reader setting), or by subtracting the
threshold (`--reset subtract`; docs/nir.md).

Only the spikes of the first T - L input steps reach the output (one step of delay per
projection), so conversion alone needs many steps; fine-tuning (agents/finetune.py) removes
the conversion error at small T.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.agents.mlp import FloatMLP
from neuroq.agents.runs import read_json, require_run_dir, save_array
from neuroq.deploy import seeds
from neuroq.deploy.chip import constant
from neuroq.deploy.encoders import (
    DEFAULT_N_PER_DIM,
    DEFAULT_WIDTH,
    NARROW_RANGE,
    Encoder,
    EventEncoder,
    PoissonEncoder,
    PopulationEncoder,
    RateEncoder,
    narrow_dimensions,
)
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import (
    MAX_TIMESTEPS,
    MAX_TIMESTEPS_REASON,
    Layer,
    SpikingQNetwork,
    check_timesteps,
    run_reference,
)
from neuroq.deploy.neuron import RESET_BY_NAME, make_params
from neuroq.deploy.rollout import BatchAct, make_env, run_episodes

#: `--reset` choices -> the neuron's reset mode (deploy/neuron.py `Reset`).
RESETS = RESET_BY_NAME
RESET_CHOICES = tuple(RESETS)
#: Reset to v_reset = 0: the reset NIR's IF/LIF nodes define, so every NIR reader runs the
#: network as the chip does; after fine-tuning it returned as much as reset by subtraction
#: on CartPole and Acrobot (docs/nir.md, "The chip's network in standard NIR fields").
DEFAULT_RESET = "zero"
#: Percentile of activations that sets each layer's scale (Rueckauer et al. 2017).
DEFAULT_PERCENTILE = 99.9
#: Probability of a random action while recording observations (wider state coverage).
RECORD_EPSILON = 0.1
#: Observations recorded from the trained policy by default.
DEFAULT_RECORD_STEPS = 20_000
#: Episodes of every return evaluation (the issue's benchmark uses 100).
DEFAULT_EVAL_EPISODES = 100
#: Episode seeds are EVAL_SEED_BASE + i for episode i (disjoint from training seeds).
EVAL_SEED_BASE = seeds.STAGE_EVAL_BASE
#: Environments stepped together while recording (numpy ANN, one batched call per step).
RECORD_ENVS = 16
#: Int8 weight magnitude used for the largest weight of a layer.
WEIGHT_MAX = int(constant("max_weight_magnitude"))
ENCODER_KINDS = ("population", "rate", "poisson", "event")
#: Returns at T above this are measured with neuroq.agents.snn_torch (bit-identical to the deploy/
#: numpy model, tested, and much faster at large T); at or below it with deploy/ itself.
REFERENCE_MAX_T = 8
#: T at which `neuroq convert` measures returns besides its own T.
DEFAULT_EVAL_TIMESTEPS = (8, 16, 32)


@dataclass(frozen=True)
class TrainRun:
    path: Path
    result: dict[str, Any]
    env_id: str
    model_path: Path


def open_train_run(path: str | os.PathLike) -> TrainRun:
    """Check that `path` is a finished train run and return what conversion needs."""
    p = require_run_dir(path, kind="train run").resolve()
    result = read_json(p / "result.json")
    if not p.name.startswith("train-") or "model" not in result or "env_id" not in result:
        raise NeuroqError(f"{p} is not a train run (expected runs/<env>/train-<id>/ with a "
                          "model in result.json)")
    model_path = (p / str(result["model"])).resolve()
    if not model_path.is_relative_to(p):  # a result.json naming a model elsewhere (an
        # outsider's ../../ and absolute paths were followed)
        raise NeuroqError(f"{p}: its model {result['model']!r} lies outside the run folder")
    if not model_path.is_file():
        raise NeuroqError(f"{p}: the model file {result['model']} is missing")
    return TrainRun(p, result, str(result["env_id"]), model_path)


def load_mlp(train: TrainRun) -> FloatMLP:
    """The train run's Q-network (`neuroq.agents.mlp.read_sb3_mlp`: nothing in the file
    runs)."""
    from neuroq.agents.mlp import read_sb3_mlp

    return read_sb3_mlp(train.model_path)


def event_encoder_for(env_id: str, silent_tail: int) -> EventEncoder:
    """The event encoder of a DVS env (sensor size, pooling and control period from it)."""
    env = make_env(env_id)
    core = env.unwrapped
    try:
        enc = EventEncoder(core.dvs_params.width, core.dvs_params.height, core.pool,
                           core.period_us, silent_tail)
    except AttributeError:
        raise NeuroqError(f"{env_id} is not an event-camera env: the event encoder needs "
                          "one (e.g. neuroq/DVSPanTrackingPooled-v0)") from None
    finally:
        env.close()
    return enc


def record_observations(mlp: FloatMLP, env_id: str, n: int, seed: int,
                        epsilon: float = RECORD_EPSILON) -> np.ndarray:
    """`n` observations (n, n_obs) float32 visited by the epsilon-greedy ANN policy
    (RECORD_ENVS episodes at a time; episode i seeded `seeds.first_seed("convert_record",
    seed)` + i, wrapping within its block of seeds.BLOCK; see neuroq.deploy.seeds)."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []

    def act(obs: np.ndarray, _infos: Any) -> np.ndarray:
        out.append(obs.copy())
        greedy = mlp.q(obs).argmax(axis=1)
        rand = rng.random(len(obs)) < epsilon
        return np.where(rand, rng.integers(0, mlp.widths[-1], len(obs)), greedy)

    run_episodes(env_id, act, episodes=n, seed=seeds.first_seed("convert_record", seed),
                 batch=RECORD_ENVS, max_total_steps=n, seed_span=seeds.BLOCK)
    return np.concatenate(out)[:n]


def eval_seed_range(episodes: int, seed: int = EVAL_SEED_BASE) -> list[int]:
    """[first, last] episode seed of `evaluate_returns`'s episodes, as result.json names the
    seeds its returns come from."""
    return [int(seed), int(seed) + int(episodes) - 1]


def evaluate_returns(env_id: str, act_batch: Callable[[np.ndarray], np.ndarray],
                     episodes: int = DEFAULT_EVAL_EPISODES,
                     seed: int = EVAL_SEED_BASE, wrappers: tuple = ()) -> np.ndarray:
    """Returns of the training side's evaluation episodes (episode i seeded seed + i),
    played by `neuroq.deploy.rollout.run_episodes`; `act_batch(obs (k, n_obs)) -> (k,)`."""
    return run_episodes(env_id, lambda obs, _infos: act_batch(obs), episodes, seed,
                        wrappers=wrappers).returns


def mlp_act(mlp: FloatMLP) -> Callable[[np.ndarray], np.ndarray]:
    """Greedy batched actions of the float Q-MLP."""
    return lambda obs: mlp.q(obs).argmax(axis=1)


def make_encoder(kind: str, observations: np.ndarray, n_layers: int,
                 n_per_dim: int = DEFAULT_N_PER_DIM, width: float = DEFAULT_WIDTH,
                 env_id: str | None = None) -> Encoder:
    """An encoder of `kind` fitted to recorded observations, silent for the last L steps.

    The event encoder is not fitted: it takes its geometry from the event env `env_id`.
    """
    if kind == "event":
        if env_id is None:
            raise NeuroqError("the event encoder needs the env id of an event-camera env")
        return event_encoder_for(env_id, n_layers)
    if kind == "population":
        return PopulationEncoder.fit(observations, n_per_dim, width, silent_tail=n_layers)
    if kind == "rate":
        return RateEncoder.fit(observations, silent_tail=n_layers)
    if kind == "poisson":
        return PoissonEncoder.fit(observations, silent_tail=n_layers)
    raise NeuroqError(f"unknown encoder {kind!r} (choose from {', '.join(ENCODER_KINDS)})")


def encoder_warnings(kind: str, observations: np.ndarray) -> list[str]:
    """What convert says of an encoder fitted to `observations`: the dimensions that hardly
    varied there (`neuroq.deploy.encoders.narrow_dimensions`; the event encoder is not
    fitted)."""
    if kind == "event":
        return []
    narrow = narrow_dimensions(observations)
    if not narrow:
        return []
    return [f"observation dimension{'s' if len(narrow) > 1 else ''} "
            f"{', '.join(map(str, narrow))} hardly varied in the {len(observations):,} "
            f"recorded observations (99 % of them within {NARROW_RANGE:g} x max(|value|, "
            "1)): the encoder's range there is that narrow, so any change on them (sensor "
            "noise, a contact that closes) drives their inputs to the edge; record more "
            "varied episodes (--record-steps), or check what those dimensions hold"]


def input_rates(encoder: Encoder, obs: np.ndarray, timesteps: int) -> np.ndarray:
    """Spikes per active step of each input (batch, n_in): what the first layer sees.

    Deterministic encoders: the rounded counts of the actual spike trains; Poisson: the
    expected rate.
    """
    if isinstance(encoder, PoissonEncoder):
        return encoder.rates(obs)
    active = timesteps - encoder.silent_tail
    return encoder.encode(obs, timesteps).sum(axis=0, dtype=np.float32) / active


def fit_decoder(rates: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares `x ~ D r + c`: D (n_obs, n_in), c (n_obs,)."""
    a = np.concatenate([rates, np.ones((len(rates), 1), np.float32)], axis=1).astype(np.float64)
    sol, *_ = np.linalg.lstsq(a, obs.astype(np.float64), rcond=None)
    return sol[:-1].T.astype(np.float32), sol[-1].astype(np.float32)


def check_convert_settings(encoder_kind: Any = "population", timesteps: Any = None,
                           eval_timesteps: Any = (), percentile: Any = DEFAULT_PERCENTILE,
                           n_per_dim: Any = DEFAULT_N_PER_DIM, width: Any = DEFAULT_WIDTH,
                           record_steps: Any = DEFAULT_RECORD_STEPS,
                           eval_episodes: Any = DEFAULT_EVAL_EPISODES, seed: Any = 0,
                           reset: Any = DEFAULT_RESET) -> None:
    """NeuroqError naming the first setting of a convert run (`run_convert`'s) that is not
    usable, by its name (the command line's --record-steps is record_steps), before any
    work: `run_convert` and sweep specs check with it. T against the
    network's depth is checked once the network is known (`check_timesteps`)."""
    if encoder_kind not in ENCODER_KINDS:
        raise NeuroqError(f"unknown encoder {encoder_kind!r} "
                          f"(choose from {', '.join(ENCODER_KINDS)})")
    counts = [("record_steps", record_steps, 100), ("eval_episodes", eval_episodes, 1)]
    counts += [("timesteps", timesteps, 1)] if timesteps is not None else []
    counts += [("eval_timesteps", t, 1) for t in as_tuple(eval_timesteps)]
    for name, value, least in counts:
        seeds.check_count(name, value, least)
        if name == "eval_episodes":
            seeds.check_room(name, value, "stage_eval")
        if name.endswith("timesteps") and value > MAX_TIMESTEPS:
            raise NeuroqError(f"{name} must be {MAX_TIMESTEPS_REASON}, got {value!r}")
    seeds.check_seed(seed)
    if not _is_real(percentile) or not 0 < percentile <= 100:
        raise NeuroqError(f"percentile must lie in (0, 100], got {percentile!r}")
    if reset not in RESETS:
        raise NeuroqError(f"unknown reset {reset!r} (choose from {', '.join(RESET_CHOICES)})")
    if encoder_kind == "population" and not (seeds.is_int(n_per_dim) and n_per_dim >= 2
                                             and _is_real(width) and width > 0):
        raise NeuroqError("population encoder: n_per_dim must be an integer >= 2 and "
                          f"width > 0, got {n_per_dim!r} and {width!r}")


def as_tuple(values: Any) -> tuple:
    """`values` as a tuple (a list or tuple), else a tuple holding it (one value given
    where several may be: `eval_timesteps: 8`)."""
    return tuple(values) if isinstance(values, list | tuple) else (values,)


def _is_real(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool) and bool(np.isfinite(value)))


def convert(mlp: FloatMLP, encoder: Encoder, observations: np.ndarray, timesteps: int,
            percentile: float = DEFAULT_PERCENTILE, compare: str = ">=",
            reset: str = RESETS[DEFAULT_RESET]) -> SpikingQNetwork:
    """The spiking network for `timesteps` steps per action (see the module docstring)."""
    n_layers = len(mlp.weights)
    check_timesteps(timesteps, n_layers)
    if not 0 < percentile <= 100:
        raise NeuroqError(f"percentile must lie in (0, 100], got {percentile}")
    if encoder.n_obs != mlp.widths[0]:
        raise NeuroqError(f"encoder takes {encoder.n_obs} observation dimensions, the "
                          f"Q-network {mlp.widths[0]}")
    rates = input_rates(encoder, observations, timesteps)
    dec, off = fit_decoder(rates, observations)
    weights = [mlp.weights[0] @ dec, *mlp.weights[1:]]
    biases = [mlp.biases[0] + mlp.weights[0] @ off, *mlp.biases[1:]]
    acts = FloatMLP(tuple(weights), tuple(biases)).activations(rates)
    lam_prev, layers = 1.0, []
    n_out_steps = timesteps - 1
    for k in range(n_layers):
        spiking = k < n_layers - 1
        lam = float(np.percentile(acts[k], percentile)) if spiking else 1.0
        if spiking and lam <= 0:
            raise NeuroqError(f"layer {k} never activates on the recorded observations")
        w_hat = weights[k] * (lam_prev / lam)
        b_hat = biases[k] / lam
        s = WEIGHT_MAX / max(float(np.abs(w_hat).max()), 1e-12)
        w_int = np.round(w_hat * s).astype(np.int8)
        if spiking:
            params = make_params(len(b_hat), threshold=s, i_offset=b_hat * s,
                                 reset=reset, compare=compare)
        else:
            params = make_params(len(b_hat), i_offset=b_hat * s * n_out_steps / timesteps)
            q_scale = 1.0 / (n_out_steps * s)
        layers.append(Layer(f"fc{k}", w_int, lam / (lam_prev * s), params, spiking))
        lam_prev = lam
    return SpikingQNetwork(tuple(layers), timesteps, q_scale)


def spiking_act(network: SpikingQNetwork, encoder: Encoder, seed: int = 0,
                backend: str = "reference") -> BatchAct:
    """Greedy batched action function for `run_episodes` (Poisson draws from `seed`)."""
    rng = np.random.default_rng(seed)
    if backend == "torch":
        import torch

        from neuroq.agents.snn_torch import SpikingQNet

        model = SpikingQNet(network).eval()

        def act_torch(obs: np.ndarray, _infos: Any = None) -> np.ndarray:
            spikes = encoder.encode(obs, network.timesteps, rng=rng)
            with torch.no_grad():
                return model(torch.from_numpy(spikes))[0].numpy().argmax(axis=1)

        return act_torch

    def act(obs: np.ndarray, _infos: Any = None) -> np.ndarray:
        spikes = encoder.encode(obs, network.timesteps, rng=rng)
        return run_reference(network, spikes).q.argmax(axis=1)

    return act


def activity(network: SpikingQNetwork, encoder: Encoder, obs: np.ndarray,
             seed: int = 0) -> dict[str, Any]:
    """Synaptic events per action and spikes per neuron per step of every population."""
    spikes = encoder.encode(obs, network.timesteps, rng=np.random.default_rng(seed))
    res = run_reference(network, spikes)
    names = ["input", *(layer.name for layer in network.layers[:-1])]
    rates = {n: float(c.mean() / network.timesteps) for n, c in
             zip(names, res.spike_counts, strict=True)}
    return {"synaptic_events_per_action": float(res.synaptic_events.mean()),
            "spike_rate_per_step": rates}


def check_fits_spaces(mlp: FloatMLP, env_id: str, what: str
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """`env_id`'s `space_descriptions`, or NeuroqError "<what> takes N observation values and
    gives M Q-values; <env> has ..." where `mlp` does not fit them (a DQN of another env: its
    shapes named, an outsider's Acrobot model read "does not fit" alone)."""
    obs_space, act_space = space_descriptions(env_id)
    if obs_space["shape"] != [mlp.widths[0]] or act_space.get("n") != mlp.widths[-1]:
        raise NeuroqError(f"{what} takes {mlp.widths[0]} observation values and gives "
                          f"{mlp.widths[-1]} Q-values; {env_id} has observations of shape "
                          f"{tuple(obs_space['shape'])} and {act_space.get('n')} actions: "
                          "a DQN of another environment?")
    return obs_space, act_space


def space_descriptions(env_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """JSON descriptions of the env's observation and action spaces (inf bounds -> null)."""
    from neuroq.deploy.rollout import q_network_spaces

    env = make_env(env_id)
    o, a = env.observation_space, env.action_space
    env.close()
    q_network_spaces(env_id, o, a)  # the one rule (import ran Discrete(3, start=1) before)

    def bounds(x: np.ndarray) -> list[float | None]:
        return [float(v) if np.isfinite(v) else None for v in x]

    obs_d = {"type": "Box", "shape": list(o.shape), "dtype": str(o.dtype),
             "low": bounds(o.low), "high": bounds(o.high)}
    return obs_d, {"type": "Discrete", "n": int(a.n)}


CONVERT_STAGE = "convert"
NETWORK_DIR = "network"
OBS_FILE = "observations.npy"
TEACHER_Q_FILE = "teacher_q.npy"
TEACHER_CHECK_ROWS = 256
"""Recorded observations on which `check_teacher` compares a train run's float DQN with
the Q-values its convert run recorded."""


def recorded_teacher(recorded: Any, beside: Path, convert_dir: Path | None,
                     whose: str) -> tuple[FloatMLP, TrainRun]:
    """The float DQN of the train run a run recorded (`recorded`: where it was made, else
    the run of that name beside `beside`, `recorded_run`), and that run; checked against
    the Q-values the convert run `convert_dir` recorded (`check_teacher`) where given.
    NeuroqError (one line) naming `whose` train run it is when it cannot be opened, and
    that none of that name is beside `beside` where the recorded one is gone (finetune's
    teacher and export's gate reference alike)."""
    from neuroq.agents.runs import recorded_run

    found = recorded_run(recorded, beside)
    try:
        train = open_train_run(found)
    except NeuroqError as exc:  # "run folder X does not exist": which run, and whose
        gone = " (nor is a run of that name beside it)" if not Path(str(found)).exists() else ""
        raise NeuroqError(f"the train run of {whose}: {exc}{gone}") from None
    mlp = load_mlp(train)
    if convert_dir is not None:  # the run it was converted from
        check_teacher(mlp, convert_dir, train.path)
    return mlp, train


def check_teacher(mlp: FloatMLP, convert_dir: Path, found: Path) -> None:
    """NeuroqError unless `mlp`, the float DQN of the train run `found`, gives the
    Q-values the convert run `convert_dir` recorded from its teacher (TEACHER_Q_FILE) on
    its first TEACHER_CHECK_ROWS recorded observations: the same computation, so equal to
    float32 rounding. A train run of the right name that is another run (another seed,
    another env: an outsider's copy renamed beside a moved convert run was taken silently,
    or crashed on a matmul) is refused. Nothing to check without those files."""
    from neuroq.agents.runs import load_array

    q_file, obs_file = convert_dir / TEACHER_Q_FILE, convert_dir / OBS_FILE
    if not (q_file.is_file() and obs_file.is_file()):
        return
    obs = load_array(obs_file, "recorded observations")[:TEACHER_CHECK_ROWS]
    want = load_array(q_file, "recorded teacher Q-values")[:TEACHER_CHECK_ROWS]
    try:
        got = mlp.q(np.asarray(obs, np.float32))
        same = got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-5, atol=1e-5))
        diff = (f"max |dQ| {float(np.max(np.abs(got - want))):.3g}" if got.shape == want.shape
                else f"Q-values of shape {got.shape} against {want.shape}")
    except ValueError:  # another observation size: another env
        same, diff = False, (f"it takes another observation size than the "
                             f"{obs.shape[-1]} values recorded")
    if not same:
        raise NeuroqError(f"the train run {found} is not the one the convert run "
                          f"{convert_dir} was made from: its float DQN does not give the "
                          f"Q-values recorded in {TEACHER_Q_FILE} ({diff} on "
                          f"{len(obs)} recorded observations); another run under the same "
                          "name? Put the convert run's own train run beside it, or convert "
                          "again")


def run_convert(train_path: str | os.PathLike, out_root: str | os.PathLike = "runs",
                encoder_kind: str = "population", timesteps: int | None = None,
                eval_timesteps: tuple[int, ...] = (), percentile: float = DEFAULT_PERCENTILE,
                n_per_dim: int = DEFAULT_N_PER_DIM, width: float = DEFAULT_WIDTH,
                record_steps: int = DEFAULT_RECORD_STEPS,
                eval_episodes: int = DEFAULT_EVAL_EPISODES, seed: int = 0,
                log: Callable[[str], None] = print, reset: str = DEFAULT_RESET,
                warn: Callable[[str], None] | None = None) -> Path:
    """The `neuroq convert` stage; returns the new run folder (result.json written last).
    warn: says a warning (default: `log` of "warning: ..."); result.json keeps them.

    Writes config.yaml, observations.npy and teacher_q.npy (recorded observations and the
    DQN's Q-values on them), network/ (the converted network for `timesteps`, in the
    artifact format) and result.json (returns at `timesteps` and every `eval_timesteps`).
    """
    import yaml

    from neuroq.agents.runs import make_run_dir, removed_on_failure, write_json
    from neuroq.deploy.artifact import save_artifact

    train = open_train_run(train_path)
    check_convert_settings(encoder_kind, timesteps, eval_timesteps, percentile, n_per_dim,
                           width, record_steps, eval_episodes, seed, reset)
    import torch

    torch.set_num_threads(1)  # shared machines; the work here is numpy and small matmuls
    mlp = load_mlp(train)
    n_layers = len(mlp.weights)
    timesteps = timesteps or n_layers + 1
    for t in (timesteps, *eval_timesteps):
        check_timesteps(t, n_layers)
    obs_space, act_space = check_fits_spaces(mlp, train.env_id, f"{train.path}: the Q-network")
    if encoder_kind == "event":  # an env that is no event camera: refused before recording
        event_encoder_for(train.env_id, n_layers)
    run_dir = make_run_dir(out_root, train.env_id, CONVERT_STAGE, encoder_kind)
    with removed_on_failure(run_dir):
        config = {"stage": CONVERT_STAGE, "train_run": str(train.path), "env_id": train.env_id,
                  "encoder": encoder_kind, "n_per_dim": n_per_dim, "width": width,
                  "percentile": percentile, "timesteps": timesteps, "reset": reset,
                  "eval_timesteps": list(eval_timesteps), "record_steps": record_steps,
                  "record_epsilon": RECORD_EPSILON, "eval_episodes": eval_episodes, "seed": seed}
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        log(f"recording {record_steps} observations with the trained policy")
        obs = record_observations(mlp, train.env_id, record_steps, seed)
        save_array(run_dir / OBS_FILE, obs)
        save_array(run_dir / TEACHER_Q_FILE, mlp.q(obs))
        encoder = make_encoder(encoder_kind, obs, n_layers, n_per_dim, width, train.env_id)
        warnings = encoder_warnings(encoder_kind, obs)
        for text in warnings:
            (warn or (lambda m: log(f"warning: {m}")))(text)
        ann = evaluate_returns(train.env_id, mlp_act(mlp), eval_episodes)
        log(f"float DQN: {ann.mean():.1f} +- {ann.std():.1f} over {eval_episodes} episodes")
        returns: dict[str, Any] = {}
        network = None
        for t in sorted({timesteps, *eval_timesteps}):
            net = convert(mlp, encoder, obs, t, percentile, reset=RESETS[reset])
            backend = "reference" if t <= REFERENCE_MAX_T else "torch"
            r = evaluate_returns(train.env_id, spiking_act(net, encoder, seed, backend),
                                 eval_episodes)
            agree = float((run_reference(net, encoder.encode(obs, t, rng=np.random.default_rng(
                seed))).q.argmax(1) == mlp.q(obs).argmax(1)).mean())
            returns[str(t)] = {"mean_return": float(r.mean()), "std_return": float(r.std()),
                               "agreement": agree, "backend": backend,
                               **activity(net, encoder, obs[:1000], seed)}
            log(f"T = {t:3d}: {r.mean():.1f} +- {r.std():.1f}, greedy agreement {agree:.3f}")
            if t == timesteps:
                network = net
        assert network is not None
        save_artifact(run_dir / NETWORK_DIR, network, encoder, {
            "env_id": train.env_id, "observation_space": obs_space, "action_space": act_space,
            "provenance": {"train_run": str(train.path), "convert_run": str(run_dir.resolve())}})
        main = returns[str(timesteps)]
        write_json(run_dir / "result.json", {
            "stage": CONVERT_STAGE, "env_id": train.env_id, "train_run": str(train.path),
            "encoder": encoder.to_dict(), "timesteps": timesteps, "percentile": percentile,
            "episodes": eval_episodes, "episode_seeds": eval_seed_range(eval_episodes),
            "ann_mean_return": float(ann.mean()),
            "ann_std_return": float(ann.std()), "mean_return": main["mean_return"],
            "std_return": main["std_return"], "returns_by_timesteps": returns,
            "network": NETWORK_DIR, "warnings": warnings,
            "backend": f"neuroq.deploy.network.run_reference for T <= {REFERENCE_MAX_T}, else "
                       "neuroq.agents.snn_torch (bit-identical)"})
        return run_dir
