"""Hardware-aware fine-tuning of a converted spiking Q-network (surrogate-gradient BPTT).

The model is `neuroq.agents.snn_torch.SpikingQNet`, which computes exactly what the chip (and
`neuroq.deploy.network.run_reference`) computes: int8 weights through a straight-through
estimator, float32 membrane arithmetic in the chip's order, one step of delay per
projection, T steps per action. Gradients flow back through all T steps.

Loss: distillation from the float DQN's Q-values (the teacher), per observation

    A = Q - mean_a Q                                  (advantages; they decide the action)
    L = mean_a (A_snn - A_ann)^2 / var(A_ann)
        + VALUE_WEIGHT * (V_snn - V_ann)^2 / var(V_ann)      (V = mean_a Q)
        + CE_WEIGHT * cross_entropy(A_snn / std(A_ann), argmax_a Q_ann)
        + margin * L_margin                                  (off unless margin > 0)
        + spike_penalty * synaptic events per action / number of synapses

The margin term asks the SNN to prefer the teacher's action a* = argmax_a Q_ann by at least
the teacher's own lead, capped at MARGIN_CAP advantage deviations (a hinge):

    g(Q)     = Q(a*) - max_{a != a*} Q(a)                      (the lead of a*)
    L_margin = relu(min(g(Q_ann), MARGIN_CAP * std(A_ann)) - g(Q_snn)) / std(A_ann)

Where the teacher is nearly indifferent (g(Q_ann) ~ 0) it asks for nothing; where it has a
clear preference the SNN must keep that lead, so int8 rounding and input perturbations do
not flip the action. Cross-entropy alone stops pushing once the action is right.

Observations come from the converted run (recorded with the trained policy) and, every
epoch, from episodes driven by the spiking policy itself, labelled by the teacher (DAgger,
Ross et al. 2011): the network learns the states its own mistakes lead to.
`loss="td"` trains on temporal-difference targets instead (Huber loss against
r + gamma max Q_target(s'), a target copy refreshed every epoch). It was tried and not kept
(docs/spiking.md): from a converted start it learns as slowly as DQN itself, while
distillation reaches the teacher's return within about ten epochs.

The checkpoint kept is the one with the best validation return (episodes seeded apart from
the benchmark episodes), ties broken by greedy-action agreement with the teacher, and the
latest of equals. The starting network is a candidate too (scored on epoch 0's validation
episodes): a start that no epoch matches, such as an imported network that already plays
well, is kept unchanged (an outsider's import played 500 and its fine-tuning, kept from
epoch 0, 172).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.agents.convert import WEIGHT_MAX, eval_seed_range, evaluate_returns
from neuroq.agents.mlp import FloatMLP
from neuroq.deploy import seeds
from neuroq.deploy.encoders import Encoder
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.network import SpikingQNetwork
from neuroq.deploy.rollout import Step, run_episodes

#: Weight of the state-value term relative to the advantage term.
VALUE_WEIGHT = 0.1
#: Weight of the cross-entropy on the teacher's greedy action.
CE_WEIGHT = 0.5
#: Cap of the lead the margin term asks for, in standard deviations of the teacher's
#: advantages (beyond it the action is safe; asking more would distort the Q-values).
MARGIN_CAP = 1.0
#: Validation episodes are seeded VALIDATION_SEED_BASE + i, apart from benchmark episodes.
VALIDATION_SEED_BASE = seeds.VALIDATION_BASE
#: Probability of a random action in the DAgger rollouts (covers recovery states).
DAGGER_EPSILON = 0.05
#: Episodes run at once in the DAgger and TD rollouts.
ROLLOUT_ENVS = 8
#: Transitions of the DQN's own policy that seed the replay data of TD fine-tuning.
TD_INITIAL_STEPS = 10_000
LOSSES = ("distill", "td")
#: Final learning rate as a fraction of the initial one (cosine schedule over the epochs).
LR_FLOOR = 0.05


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning settings.

    epochs: passes over the (growing) observation set. 60: at 30, CartPole's T = 4 network
        of training seed 3 was kept from its last epoch and refused by the export gate
        (96.7 %); at 60 training seeds 0-7 passed it (docs/spiking.md, "Training seeds").
    batch_size: observations per gradient step.
    lr: Adam learning rate as a fraction of the int8 range (127 weight units) per step;
        weights, i_offset and thresholds all live in weight units.
    spike_penalty: weight of synaptic events per action per synapse in the loss.
    dagger_steps: environment steps per epoch driven by the spiking policy (0: off).
    validation_episodes: episodes of the per-epoch return check (0: agreement only).
    train_thresholds: learn thresholds too (kept positive).
    margin: weight of the Q-margin hinge of the module docstring (0: off).
    loss: "distill" (kept) or "td": Huber loss on r + gamma max_a Q_target(s') with a target
        copy of the spiking network refreshed every epoch, on transitions of the DQN's policy
        (td_initial_steps) and then of the spiking policy (dagger_steps per epoch).
    gamma: discount of the TD target (the DQN's).
    td_initial_steps: DQN-policy transitions that seed TD fine-tuning.
    seed: torch, numpy and environment seed.
    """

    epochs: int = 60
    batch_size: int = 256
    lr: float = 2e-3
    spike_penalty: float = 0.0
    margin: float = 0.0
    dagger_steps: int = 2000
    validation_episodes: int = 10
    train_thresholds: bool = False
    loss: str = "distill"
    gamma: float = 0.99
    td_initial_steps: int = TD_INITIAL_STEPS
    seed: int = 0
    randomize: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def distillation_loss(q: Any, q_teacher: Any, stats: dict[str, float],
                      margin: float = 0.0) -> Any:
    """The loss of the module docstring without the spike term (torch tensors)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    a, a_t = q - q.mean(1, keepdim=True), q_teacher - q_teacher.mean(1, keepdim=True)
    v, v_t = q.mean(1), q_teacher.mean(1)
    loss = ((a - a_t) ** 2).mean() / stats["var_a"]
    loss = loss + VALUE_WEIGHT * ((v - v_t) ** 2).mean() / stats["var_v"]
    target = q_teacher.argmax(1)
    loss = loss + CE_WEIGHT * F.cross_entropy(a / stats["std_a"], target)
    if margin > 0:
        loss = loss + margin * margin_loss(q, q_teacher, stats["std_a"])
    return loss + torch.zeros((), dtype=q.dtype)


def lead(q: Any, action: Any) -> Any:
    """g(Q) = Q(action) - max of the other actions' Q, per row (torch tensors)."""
    import torch

    chosen = q.gather(1, action[:, None])[:, 0]
    others = q.masked_fill(torch.nn.functional.one_hot(action, q.shape[1]).bool(), -torch.inf)
    return chosen - others.max(1).values


def margin_loss(q: Any, q_teacher: Any, std_a: float) -> Any:
    """L_margin of the module docstring: mean hinge on the SNN's lead of the teacher's
    action, asked up to min(teacher's lead, MARGIN_CAP std_a), in units of std_a."""
    import torch

    target = q_teacher.argmax(1)
    want = torch.clamp(lead(q_teacher, target), max=MARGIN_CAP * std_a)
    return torch.relu(want - lead(q, target)).mean() / std_a


def _teacher_stats(q: np.ndarray) -> dict[str, float]:
    a = q - q.mean(1, keepdims=True)
    return {"var_a": float(max(a.var(), 1e-8)), "std_a": float(max(a.std(), 1e-4)),
            "var_v": float(max(q.mean(1).var(), 1e-8))}


@dataclass(frozen=True)
class Transitions:
    """Environment transitions (s, a, r, s', terminated), arrays of equal length."""

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray

    def __add__(self, other: Transitions) -> Transitions:
        return Transitions(*(np.concatenate([a, b]) for a, b in
                             zip(dataclasses.astuple(self), dataclasses.astuple(other),
                                 strict=True)))


def check_finetune_settings(cfg: FinetuneConfig, eval_episodes: Any = None) -> None:
    """NeuroqError naming the first setting of a finetune run that is not usable, before
    any work (`run_finetune` and sweep specs; the randomization's physics are checked
    against the convert run's env once it is known, `_randomization`)."""
    counts = [("epochs", cfg.epochs, 1), ("batch_size", cfg.batch_size, 1),
              ("dagger_steps", cfg.dagger_steps, 0),
              ("validation_episodes", cfg.validation_episodes, 0),
              ("td_initial_steps", cfg.td_initial_steps, 0)]
    counts += [("eval_episodes", eval_episodes, 1)] if eval_episodes is not None else []
    for name, value, least in counts:
        seeds.check_count(name, value, least)
    seeds.check_room("validation_episodes", cfg.validation_episodes, "finetune_validation",
                     share=2)  # a clean and a perturbed half
    if eval_episodes is not None:
        seeds.check_room("eval_episodes", eval_episodes, "stage_eval")
    for name, value, low, high, open_low in (("lr", cfg.lr, 0.0, math.inf, True),
                                              ("spike_penalty", cfg.spike_penalty, 0.0,
                                               math.inf, False),
                                              ("margin", cfg.margin, 0.0, math.inf, False),
                                              ("gamma", cfg.gamma, 0.0, 1.0, False)):
        ok = (isinstance(value, int | float) and not isinstance(value, bool)
              and math.isfinite(value) and low <= value <= high
              and not (open_low and value == low))
        if not ok:
            where = f"({low:g}, " if open_low else f"[{low:g}, "
            raise NeuroqError(f"{name} must be a number in {where}{high:g}], got {value!r}")
    if not isinstance(cfg.train_thresholds, bool):
        raise NeuroqError(f"train_thresholds must be true or false, got "
                          f"{cfg.train_thresholds!r}")
    if cfg.loss not in LOSSES:
        raise NeuroqError(f"unknown loss {cfg.loss!r} (choose from {', '.join(LOSSES)})")
    seeds.check_seed(cfg.seed)
    from neuroq.envs.perturb import RandomizationSpec

    try:
        RandomizationSpec.from_dict(cfg.randomize or None)
    except ValueError as exc:
        raise NeuroqError(str(exc)) from None


def _a(word: str) -> str:
    """The word with its indefinite article: "an eval", "a train"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _randomization(randomize: dict[str, Any], env_id: str) -> tuple:
    """Wrappers of a domain randomization spec (neuroq.envs.perturb.RandomizationSpec) whose
    physics `env_id` takes (`randomization_for`)."""
    from neuroq.agents.hyperparams import checked_randomization

    spec = checked_randomization(env_id, randomize, "finetune randomize")
    return (spec.wrapper(),) if spec.active else ()


def _rollout_seed(seed: int, epoch: int) -> int:
    """First episode seed of a fine-tuning rollout (neuroq.deploy.seeds; epoch -1: the TD
    warm-up rollout)."""
    return seeds.first_seed("finetune_rollouts", seed, epoch + 1)


def _rollout(env_id: str, act: Callable[[np.ndarray], np.ndarray], steps: int, seed: int,
             n_actions: int, n_envs: int = ROLLOUT_ENVS, wrappers: tuple = ()) -> Transitions:
    """Transitions of `act` (epsilon-greedy) over `steps` environment steps, `n_envs`
    episodes at a time (episode i seeded seed + i, wrapping within seeds.BLOCK)."""
    rng = np.random.default_rng(seed)
    cols: list[list[np.ndarray]] = [[], [], [], [], []]

    def eps_greedy(obs: np.ndarray, _infos: Any) -> np.ndarray:
        a = np.asarray(act(obs))
        return np.where(rng.random(len(obs)) < DAGGER_EPSILON,
                        rng.integers(0, n_actions, len(obs)), a)

    def record(s: Step) -> None:
        for c, v in zip(cols, (s.obs, s.actions, s.rewards.astype(np.float32), s.next_obs,
                               s.terminated), strict=True):
            c.append(v)

    run_episodes(env_id, eps_greedy, episodes=max(1, steps), seed=seed, batch=n_envs,
                 max_total_steps=max(1, steps), on_step=record, wrappers=wrappers,
                 seed_span=seeds.BLOCK)
    return Transitions(*(np.concatenate(c) for c in cols))


START_EPOCH = -1
"""`FinetuneResult.kept_epoch` when no epoch did as well as the starting network."""


@dataclass(frozen=True)
class FinetuneResult:
    """What `finetune` returns.

    network: the kept network: the epoch with the best (validation return, agreement), the
        latest of equals, or the starting network itself when it beat every epoch.
    history: one record per epoch (loss, agreement, validation return, synaptic events).
    start: the starting network's validation return (epoch 0's episodes) and agreement.
    kept_epoch: the epoch `network` comes from, START_EPOCH for the starting network.
    """

    network: SpikingQNetwork
    history: list[dict[str, Any]]
    start: dict[str, Any]
    kept_epoch: int


def finetune(network: SpikingQNetwork, encoder: Encoder, teacher: FloatMLP, env_id: str,
             observations: np.ndarray, cfg: FinetuneConfig, log_dir: Path | None = None,
             progress: bool = True) -> FinetuneResult:
    """Fine-tune `network`; return the kept network, the per-epoch history and the
    starting network's scores (FinetuneResult)."""
    import torch

    from neuroq.agents.snn_torch import SpikingQNet

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    perturbed = _randomization(cfg.randomize, env_id)
    model = SpikingQNet(network, train_thresholds=cfg.train_thresholds)
    groups = []
    for k in range(model.n_layers):
        params = [model.weights[k], model.i_offsets[k]]
        if cfg.train_thresholds and model.spiking[k]:
            params.append(model.thresholds[k])
        groups.append({"params": params, "lr": cfg.lr * WEIGHT_MAX})
    opt = torch.optim.Adam(groups)
    # cosine decay to LR_FLOOR x lr over the epochs: late epochs refine instead of jumping
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + np.cos(np.pi * e / cfg.epochs)))
    n_synapses = sum(int(np.prod(w.shape)) for w in model.weights)
    fanout = [w.shape[0] for w in model.weights]
    obs = np.asarray(observations, np.float32)
    q_t = teacher.q(obs)
    stats = _teacher_stats(q_t)
    writer = None
    if log_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(log_dir))
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.epochs, desc="finetune", unit="epoch", disable=not progress,
               dynamic_ncols=True)
    history: list[dict[str, Any]] = []
    check_obs, check_q = obs[-2000:], q_t[-2000:]
    td = cfg.loss == "td"
    if td:
        import copy

        trans = _rollout(env_id, lambda o: teacher.q(o).argmax(1), cfg.td_initial_steps,
                         _rollout_seed(cfg.seed, -1), network.n_actions)

    def check(epoch: int, rng: np.random.Generator) -> tuple[float, float, Callable]:
        """(validation return, greedy agreement with the teacher, act) of the model now,
        on epoch `epoch`'s validation episodes (NaN return: validation_episodes = 0)."""
        act = _act_fn(model, encoder, rng)
        agree = float((_q_of(model, encoder, check_obs, rng).argmax(1)
                       == check_q.argmax(1)).mean())
        val = float("nan")
        if cfg.validation_episodes:
            first = seeds.first_seed("finetune_validation", epoch=epoch)
            val = float(evaluate_returns(env_id, act, cfg.validation_episodes, first).mean())
            if perturbed:  # selection also on perturbed episodes: the mean of both
                val_p = float(evaluate_returns(env_id, act, cfg.validation_episodes,
                                               first + seeds.VALIDATION_HALF,
                                               perturbed).mean())
                val = (val + val_p) / 2
        return val, agree, act

    # the starting network is a candidate too, on epoch 0's validation episodes: a good
    # start (an imported network) is kept unless an epoch does at least as well. Its own
    # generator: the epochs draw what they drew before this check was added.
    val, agree, _ = check(0, np.random.default_rng(cfg.seed))
    start = {"epoch": START_EPOCH, "validation_return": val, "agreement": agree}
    best = ((val if np.isfinite(val) else 0.0, agree), network, START_EPOCH)
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        if td:
            target = copy.deepcopy(model).eval()
        order = rng.permutation(len(trans.obs) if td else len(obs))
        losses, events = [], []
        for i in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            batch_obs = trans.obs[idx] if td else obs[idx]
            spikes = torch.from_numpy(encoder.encode(batch_obs, model.timesteps, rng=rng))
            q, counts = model(spikes)
            if td:
                loss = _td_loss(q, target, encoder, trans, idx, cfg.gamma, rng)
            else:
                loss = distillation_loss(q, torch.from_numpy(q_t[idx]), stats, cfg.margin)
            ev = sum(c.sum(1) * f for c, f in zip(counts, fanout, strict=True)).mean()
            if cfg.spike_penalty > 0:
                loss = loss + cfg.spike_penalty * ev / n_synapses
            opt.zero_grad()
            loss.backward()
            opt.step()
            if cfg.train_thresholds:
                with torch.no_grad():
                    for thr in model.thresholds:
                        thr.clamp_(min=1.0)
            losses.append(loss.item())
            events.append(ev.item())
        net = model.to_network()
        val, agree, act = check(epoch, rng)
        rec = {"epoch": epoch, "loss": float(np.mean(losses)), "agreement": agree,
               "validation_return": val, "synaptic_events_per_action": float(np.mean(events)),
               "observations": len(trans.obs) if td else len(obs),
               "wall_s": round(time.perf_counter() - t0, 2)}
        history.append(rec)
        key = (val if np.isfinite(val) else 0.0, agree)
        if key >= best[0]:
            best = (key, net, epoch)
        if writer is not None:
            for name in ("loss", "agreement", "validation_return", "synaptic_events_per_action"):
                writer.add_scalar(f"finetune/{name}", rec[name], epoch)
        sched.step()
        bar.set_postfix(loss=f"{rec['loss']:.3f}", agree=f"{agree:.3f}", ret=f"{val:.1f}")
        bar.update(1)
        if cfg.dagger_steps and epoch < cfg.epochs - 1:
            new = _rollout(env_id, act, cfg.dagger_steps, _rollout_seed(cfg.seed, epoch),
                           network.n_actions, wrappers=perturbed)
            if td:
                trans = trans + new
            else:
                obs = np.concatenate([obs, new.obs])
                q_t = np.concatenate([q_t, teacher.q(new.obs)])
    bar.close()
    if writer is not None:
        writer.close()
    return FinetuneResult(best[1], history, start, best[2])


def _td_loss(q: Any, target: Any, encoder: Encoder, trans: Transitions, idx: np.ndarray,
             gamma: float, rng: np.random.Generator) -> Any:
    """Huber loss of Q(s, a) against r + gamma (1 - terminated) max_a' Q_target(s')."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    with torch.no_grad():
        nxt = torch.from_numpy(encoder.encode(trans.next_obs[idx], target.timesteps, rng=rng))
        q_next = target(nxt)[0].max(1).values
        y = torch.from_numpy(trans.reward[idx]) + gamma * q_next * torch.from_numpy(
            (~trans.terminated[idx]).astype(np.float32))
    q_sa = q.gather(1, torch.from_numpy(trans.action[idx].astype(np.int64))[:, None])[:, 0]
    return F.smooth_l1_loss(q_sa, y)


def _q_of(model: Any, encoder: Encoder, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(encoder.encode(obs, model.timesteps, rng=rng)))[0].numpy()


def _act_fn(model: Any, encoder: Encoder,
            rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    def act(obs: np.ndarray) -> np.ndarray:
        return _q_of(model, encoder, obs, rng).argmax(axis=1)

    return act


FINETUNE_STAGE = "finetune"


@dataclass(frozen=True)
class ConvertRun:
    """What fine-tuning reads from a convert run folder."""

    path: Path
    result: dict[str, Any]
    config: dict[str, Any]
    network: SpikingQNetwork
    encoder: Encoder
    manifest: dict[str, Any]
    observations: np.ndarray


def open_convert_run(path: Any) -> ConvertRun:
    """Check that `path` is a finished convert run and load its network and data."""

    from neuroq.agents.convert import CONVERT_STAGE, NETWORK_DIR, OBS_FILE
    from neuroq.agents.nir_import import IMPORT_STAGE
    from neuroq.agents.runs import load_array, read_json, read_yaml_mapping, require_run_dir
    from neuroq.deploy.artifact import load_artifact

    p = require_run_dir(path, kind="convert run or import run").resolve()
    result = read_json(p / "result.json")
    stage = result.get("stage")
    if stage not in (CONVERT_STAGE, IMPORT_STAGE) or not p.name.startswith(stage + "-"):
        raise NeuroqError(f"{p} is not a convert run or an import run (expected runs/<env>/"
                          f"convert-<id>/ or import-<id>/; this one is "
                          f"{_a(str(stage or p.name.split('-')[0]))} run)")
    art = load_artifact(p / NETWORK_DIR)
    obs = load_array(p / OBS_FILE, "recorded observations")
    config = read_yaml_mapping(p / "config.yaml")
    return ConvertRun(p, result, config, art.network, art.encoder, art.manifest, obs)


def load_teacher(conv: ConvertRun) -> tuple[Any, dict[str, str]]:
    """The teacher of a convert run (its float DQN) or of an import run (its source network,
    neuroq.agents.nir_import), and the provenance entry naming it."""
    if conv.result.get("stage") == "import":
        from neuroq.agents.nir_import import source_teacher

        return source_teacher(conv.path), {"import_run": str(conv.path)}
    from neuroq.agents.convert import recorded_teacher

    mlp, train = recorded_teacher(conv.result["train_run"], conv.path, conv.path,
                                  f"{conv.path} (its teacher, the float DQN)")
    return mlp, {"train_run": str(train.path)}


def run_finetune(convert_path: Any, out_root: Any = "runs", cfg: FinetuneConfig | None = None,
                 eval_episodes: int | None = None, progress: bool = True,
                 log: Callable[[str], None] = print) -> Path:
    """The `neuroq finetune` stage; returns the new run folder (result.json written last).

    Writes config.yaml, tb/ (TensorBoard), history.json, network/ (artifact format) and
    result.json (return of the fine-tuned network run by neuroq.deploy.network.run_reference on
    the convert run's evaluation episodes, next to the float DQN's).
    """
    import yaml

    from neuroq.agents.convert import NETWORK_DIR, activity, spiking_act
    from neuroq.agents.runs import make_run_dir, removed_on_failure, write_json
    from neuroq.deploy.artifact import save_artifact

    cfg = cfg or FinetuneConfig()
    conv = open_convert_run(convert_path)
    check_finetune_settings(cfg, eval_episodes)
    import torch

    teacher, origin = load_teacher(conv)
    env_id = conv.result["env_id"]
    _randomization(cfg.randomize, env_id)  # checked before the run folder is made
    torch.set_num_threads(1)
    run_dir = make_run_dir(out_root, env_id, FINETUNE_STAGE, conv.encoder.kind)
    with removed_on_failure(run_dir):
        (run_dir / "config.yaml").write_text(yaml.safe_dump(
            {"stage": FINETUNE_STAGE, "convert_run": str(conv.path),
             **origin, "env_id": env_id,
             "timesteps": conv.network.timesteps, **cfg.to_dict()}, sort_keys=False))
        t0 = time.perf_counter()
        tuned = finetune(conv.network, conv.encoder, teacher, env_id, conv.observations,
                         cfg, run_dir / "tb", progress)
        best = tuned.network
        wall_s = time.perf_counter() - t0
        write_json(run_dir / "history.json", {"start": tuned.start, "epochs": tuned.history,
                                              "kept_epoch": tuned.kept_epoch})
        if tuned.kept_epoch == START_EPOCH:
            log(f"no epoch did as well as the starting network (validation return "
                f"{tuned.start['validation_return']:.1f}, agreement "
                f"{tuned.start['agreement']:.3f}): it is kept unchanged")
        provenance = {**origin, "convert_run": str(conv.path),
                      "finetune_run": str(run_dir.resolve())}
        save_artifact(run_dir / NETWORK_DIR, best, conv.encoder,
                      {k: conv.manifest[k] for k in ("env_id", "observation_space",
                                                     "action_space")}
                      | {"provenance": provenance})
        episodes = eval_episodes or int(conv.result["episodes"])
        log(f"evaluating on {episodes} episodes with the deploy/ numpy model")
        r = evaluate_returns(env_id, spiking_act(best, conv.encoder, cfg.seed), episodes)
        rng = np.random.default_rng(cfg.seed)
        obs = conv.observations
        q = run_reference_q(best, conv.encoder, obs, rng)
        agree = float((q.argmax(1) == teacher.q(obs).argmax(1)).mean())
        ann = conv.result["ann_mean_return"]
        result = {"stage": FINETUNE_STAGE, "env_id": env_id, "convert_run": str(conv.path),
                  **origin, "timesteps": best.timesteps,
                  "encoder": conv.encoder.to_dict(), "loss": cfg.loss,
                  "episodes": episodes, "episode_seeds": eval_seed_range(episodes),
                  "mean_return": float(r.mean()),
                  "std_return": float(r.std()), "ann_mean_return": ann,
                  "fraction_of_ann_return": _fraction(float(r.mean()), ann),
                  "teacher": conv.result.get("teacher", "the float DQN"),
                  "converted_mean_return": conv.result["mean_return"],
                  "agreement": agree, "epochs": cfg.epochs, "kept_epoch": tuned.kept_epoch,
                  "wall_s": round(wall_s, 1),
                  **activity(best, conv.encoder, obs[:1000], cfg.seed),
                  "network": NETWORK_DIR, "backend": "neuroq.deploy.network.run_reference"}
        write_json(run_dir / "result.json", result)
        return run_dir


def _fraction(snn: float, ann: float) -> float:
    """SNN return as a fraction of the ANN's; for negative returns (Acrobot) ann / snn."""
    if ann > 0:
        return snn / ann
    return ann / snn if snn < 0 else float("nan")


def run_reference_q(network: SpikingQNetwork, encoder: Encoder, obs: np.ndarray,
                    rng: np.random.Generator, chunk: int = 2000) -> np.ndarray:
    """Q-values of the deploy/ numpy model on `obs`, in chunks."""
    from neuroq.deploy.network import run_reference

    return np.concatenate([
        run_reference(network, encoder.encode(obs[i:i + chunk], network.timesteps, rng=rng)).q
        for i in range(0, len(obs), chunk)])
