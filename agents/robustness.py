"""The robustness suite: a spiking policy, its float DQN and an int8 ANN under perturbation.

Every network plays the same held-out episodes (episode i seeded `seed + i`, by default
`neuroq.deploy.seeds.HELD_OUT_BASE + i`, which no stage uses for selection or reporting)
under each condition of the suite: none, Gaussian observation noise (sigma in observation
units), action delay (steps), dropped actions (probability), observation delay (steps; the
DVS task's event latency) and physics shifts of the environment (`neuroq.envs.perturb`).
Perturbations draw their randomness from the episode seed, so the three networks meet the
same noise and the same physics.

Networks:
- snn: the artifact on the emulator (bit-identical to the reference model); an event
  encoder takes each period's events.
- float: the DQN the artifact came from, as numpy (the artifact's `float_dqn.npz`, else the
  train run its provenance names, which needs the `train` extra to read;
  `neuroq.agents.energy.runs.find_float_dqn`, as `neuroq energy` finds it).
- int8: the float DQN quantized to int8 (`neuroq.agents.int8_ann`), calibrated on
  observations of calibration episodes (CALIBRATION_BASE seeds).

Per network and condition: mean return with its 95 % bootstrap interval, std, worst 5 %,
and each network's return as a fraction of the float DQN's on the same episodes with its
paired 95 % bootstrap interval (`fraction_of_float_ci95`, `neuroq.deploy.stats.fraction_ci`:
a shortfall whose whole interval lies below a threshold is not an accident of the episodes
drawn); for
environments that report outcomes (DiffDriveNav), also the success and collision rates
(`neuroq.deploy.rollout.outcome_summary`) and the SNN's success as a fraction of the float
DQN's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.deploy import seeds
from neuroq.deploy.artifact import Artifact, artifact_name, load_artifact
from neuroq.deploy.encoders import takes_events
from neuroq.deploy.errors import NeuroqError, counted
from neuroq.deploy.seeds import seed_span
from neuroq.deploy.stats import SHARE_MIXED_SIGNS

#: Default strengths of each perturbation kind.
DEFAULT_NOISE = (0.01, 0.05, 0.1)
DEFAULT_ACTION_DELAY = (1, 2)
DEFAULT_DROP = (0.1, 0.25)
#: Physics shifts per env id: parameter -> values (Gymnasium's defaults in envs/perturb.py).
DEFAULT_PHYSICS: dict[str, dict[str, tuple[float, ...]]] = {
    "CartPole-v1": {"length": (0.3, 0.75), "masspole": (0.05, 0.2), "masscart": (0.5, 2.0),
                    "force_mag": (7.0, 13.0)},
    "Acrobot-v1": {"link_mass_1": (0.8, 1.2), "link_mass_2": (0.8, 1.2),
                   "link_length_1": (0.9, 1.1), "link_length_2": (0.9, 1.1)},
    "neuroq/DVSPanTrackingPooled-v0": {"noise_rate_hz": (1.0, 5.0)},
    "neuroq/DiffDriveNav-v0": {"speed_scale": (0.7, 1.2), "lidar_noise": (2.0, 4.0)},
}
# the same env with a 200-step limit (an artifact for it ran no physics shift: an outsider)
DEFAULT_PHYSICS["CartPole-v0"] = DEFAULT_PHYSICS["CartPole-v1"]
#: Observation delay (steps) tried on event-camera envs: events one control period late.
DEFAULT_EVENT_LATENCY = (1,)
NETWORKS = ("snn", "float", "int8")


@dataclass(frozen=True)
class Condition:
    """One perturbation: its kind, strength, a label, and how to wrap an environment."""

    kind: str
    strength: float
    label: str
    wrappers: tuple[Callable[[Any], Any], ...] = ()
    parameter: str = ""
    sigma: tuple[float, ...] = ()
    """Observation noise with a shape (`suite`'s noise_shape): each dimension's sigma
    (observation units), strength times its weight; () otherwise."""


def _episode_limit(env_id: str) -> int | None:
    """The env's time limit in steps (its registered max_episode_steps), None without one."""
    import gymnasium as gym

    from neuroq.deploy.envref import resolve

    spec = resolve(env_id)
    spec = gym.spec(spec) if isinstance(spec, str) else spec
    limit = getattr(spec, "max_episode_steps", None)
    return int(limit) if limit else None


def suite(env_id: str, noise: Sequence[float] | None = None,
          action_delay: Sequence[int] | None = None, drop: Sequence[float] | None = None,
          physics: dict[str, Sequence[float]] | None = None,
          observation_delay: Sequence[int] | None = None,
          event_env: bool = False, max_steps: int | None = None,
          noise_shape: Sequence[float] | None = None) -> list[Condition]:
    """The conditions for `env_id`: none first, then each perturbation at each strength.

    noise_shape: per observation dimension, the weight of each noise strength s (sigma of
    dimension i = s * noise_shape[i], observation units): sensors of different precision
    (an outsider: one sigma for a cart's position in m and its pole's angle in rad); None:
    the same sigma s for every dimension. Its length is checked by the caller, who knows
    the observation's (`check_noise_shape`).

    None takes the defaults; an empty sequence leaves a kind out. Observation noise is not
    tried on event-camera envs (`event_env`): it would perturb the observation vector,
    which their spiking network does not read (it reads the events), so only the float DQN
    and the int8 ANN would be perturbed (an outsider's --noise 0.5 gave the SNN "153.6 %"
    of the float DQN); NeuroqError where `noise` names any. Observation delay is only tried
    on event-camera envs by default, and not at a delay the action delays already cover:
    for a policy that keeps no state from one action to the next (each action's network
    run starts from rest), an observation delay of k steps is the same condition as an
    action delay of k (an outsider: identical rows for all three networks).
    """
    from neuroq.envs import perturb

    if event_env and noise:
        raise NeuroqError(
            "--noise perturbs the observation vector, which an event artifact's spiking "
            "network does not read (it reads the events): only the float DQN and the int8 "
            "ANN would see it. Perturb the events with --physics noise_rate_hz=V1,V2 (where "
            "the env has it), or leave --noise out")
    noise = (() if event_env else DEFAULT_NOISE) if noise is None else noise
    action_delay = DEFAULT_ACTION_DELAY if action_delay is None else action_delay
    drop = DEFAULT_DROP if drop is None else drop
    if observation_delay is None:
        observation_delay = tuple(d for d in (DEFAULT_EVENT_LATENCY if event_env else ())
                                  if d not in action_delay)
    physics = DEFAULT_PHYSICS.get(env_id, {}) if physics is None else physics
    limit = _episode_limit(env_id)
    if max_steps is not None:  # the episodes played end there (a recheck's --max-steps 20
        limit = max_steps if limit is None else min(limit, max_steps)  # with delay 50)
    for flag, delays in (("--action-delay", action_delay), ("--obs-delay", observation_delay)):
        long = [int(d) for d in delays if limit is not None and int(d) >= limit]
        if long:  # no action would ever act: every network at the same no-op return
            # (an outsider's --action-delay 100000 read "100.0 % [100.0, 100.0]")
            raise NeuroqError(f"{flag} {long[0]} is as long as the episodes played or longer "
                              f"({env_id}, at most {limit} steps): no action would ever take "
                              "effect")
    out = [Condition("none", 0.0, "none")]
    if noise_shape is None:
        out += [Condition("observation_noise", float(s), f"obs noise {s:g}",
                          (lambda e, s=s: perturb.ObservationNoise(e, float(s)),))
                for s in noise]
    else:
        for s in noise:
            sigma = tuple(float(s) * float(w) for w in noise_shape)
            if not all(np.isfinite(sigma)):  # 1e300 x 1e300 (a review)
                raise NeuroqError(f"--noise {s:g} x --noise-shape gives a sigma that is not "
                                  "finite")
            out.append(Condition("observation_noise", float(s), f"obs noise {s:g} x shape",
                                 (lambda e, sigma=sigma: perturb.ObservationNoise(e, sigma),),
                                 sigma=sigma))
    out += [Condition("action_delay", float(d), f"action delay {d}",
                      (lambda e, d=d: perturb.ActionDelay(e, int(d)),)) for d in action_delay]
    out += [Condition("dropped_actions", float(p), f"dropped {p:g}",
                      (lambda e, p=p: perturb.DroppedActions(e, float(p)),)) for p in drop]
    out += [Condition("observation_delay", float(d), f"obs delay {d}",
                      (lambda e, d=d: perturb.ObservationDelay(e, int(d)),))
            for d in observation_delay]
    if physics:
        known = perturb.physics_parameters(env_id)
        for name, values in physics.items():
            if name not in known:
                raise NeuroqError(f"{env_id} has no physics parameter {name!r}; known: "
                                  f"{', '.join(known)}")
            out += [Condition("physics", float(v), f"{name} {v:g}",
                              (lambda e, n=name, v=v: perturb.PhysicsShift(e, **{n: float(v)}),),
                              parameter=name) for v in values]
    return out


def check_noise_shape(shape: Sequence[float], n_obs: int) -> None:
    """NeuroqError unless `shape` gives a weight for each of the `n_obs` observation
    values, each finite and >= 0, at least one > 0."""
    if len(shape) != n_obs:
        raise NeuroqError(f"--noise-shape gives {counted(len(shape), 'weight')}; the "
                          f"observation has {counted(n_obs, 'value')} (one weight each)")
    if not all(np.isfinite(w) and w >= 0 for w in shape) or not any(w > 0 for w in shape):
        raise NeuroqError(f"--noise-shape weights must be finite and >= 0, one of them > 0; "
                          f"got {','.join(f'{w:g}' for w in shape)}")


@dataclass
class Robustness:
    """What `run_robustness` measured; `rows` holds one dict per (condition, network)."""

    env_id: str
    artifact: str
    seed: int
    episodes: int
    networks: dict[str, str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """result.json: the episodes' seeds as `episode_seeds`, and as `held_out_seeds` too
        only where no stage plays them (`pipeline_seed_note`: a recheck found the key
        beside the note that said they were not)."""
        span = [self.seed, self.seed + self.episodes - 1]
        held_out = seeds.pipeline_seed_note(self.seed, self.episodes) is None
        return {"stage": "robustness", "env_id": self.env_id, "artifact": self.artifact,
                "episode_seeds": span, **({"held_out_seeds": span} if held_out else {}),
                "seed_table": seeds.SEED_RANGES, "episodes": self.episodes,
                "networks": self.networks, "notes": self.notes, "rows": self.rows}


def policy_act(policy: Any) -> Callable[[np.ndarray, Any], np.ndarray]:
    """Batched greedy actions of a loaded policy for `run_episodes` (`SpikingPolicy.run_step`:
    its events, for an event encoder)."""
    return lambda obs, infos: policy.run_step(obs, infos).actions


def run_robustness(artifact: str | os.PathLike | Artifact, episodes: int = 100,
                   seed: int = seeds.HELD_OUT_BASE, conditions: list[Condition] | None = None,
                   networks: Sequence[str] = NETWORKS, backend: str = "emulator",
                   max_steps: int | None = None,
                   say: Callable[[str], None] | None = None,
                   require_dqn: bool = False) -> Robustness:
    """Play the suite; see the module docstring. artifact: its folder or manifest.json, or
    the `Artifact` that `neuroq robustness` loaded already (loaded once). say: gets the
    plan (conditions x networks x episodes, the seeds) once the artifact is checked against
    its env and its float DQN is found (when float or int8 is asked for), then one line per
    condition. The float DQN comes from `find_float_dqn`: a float_dqn.npz that fails its
    SHA-256 is a NeuroqError (a damaged artifact); without one and without a loadable train
    run the float and int8 networks are left out with a note saying why, or, with
    `require_dqn` (the networks were asked for by name), a NeuroqError saying why."""
    from neuroq.agents.energy.runs import find_float_dqn
    from neuroq.agents.int8_ann import calibrated_int8
    from neuroq.deploy.policy import load_policy
    from neuroq.deploy.rollout import (
        check_artifact_env,
        check_settings,
        outcome_summary,
        run_episodes,
    )
    from neuroq.deploy.seeds import check_episode_seeds
    from neuroq.deploy.stats import (
        difference_ci,
        fraction_ci,
        fraction_of,
        share_undefined_reason,
        summarize,
    )

    check_settings(episodes, seed, max_steps)
    check_episode_seeds(seed, episodes, "--episodes")  # before anything loads (review)
    unknown = set(networks) - set(NETWORKS)
    if unknown or "snn" not in networks:
        raise NeuroqError(f"networks must include snn and be among {', '.join(NETWORKS)}, "
                          f"got {', '.join(networks)}")
    art = artifact if isinstance(artifact, Artifact) else load_artifact(artifact)
    policy = load_policy(art, backend=backend, seed=seed)
    check_artifact_env(policy.manifest)
    env_id = policy.manifest["env_id"]
    event = takes_events(policy.encoder)
    conditions = conditions if conditions is not None else suite(env_id, event_env=event)
    wants_dqn = bool({"float", "int8"} & set(networks))
    found, why = find_float_dqn(art.path, art.manifest) if wants_dqn else (None, "")
    if wants_dqn and found is None and require_dqn:
        asked = " and ".join(n for n in networks if n != "snn")
        raise NeuroqError(f"--networks {asked}: the float DQN is unavailable ({why})")
    played = networks if found is not None else ["snn"]
    if say is not None:  # the plan, once the artifact is known to fit its env
        say(f"{counted(len(conditions), 'condition')} x {counted(len(played), 'network')}"
            f" x {counted(episodes, 'episode')}, seeds {seed_span((seed, seed + episodes - 1))}")
    name = artifact_name(art)
    out = Robustness(env_id, name, seed, episodes, {"snn": f"{name} ({backend})"})
    if not any(c.kind == "physics" for c in conditions) and env_id not in DEFAULT_PHYSICS:
        # said, not left to be noticed (an outsider's env ran no physics shift silently)
        from neuroq.envs.perturb import physics_parameters

        try:
            known = ", ".join(physics_parameters(env_id))
        except ValueError:
            known = ""
        out.notes.append(
            f"no physics shifts: neuroq has no default shifts for {env_id} (DEFAULT_PHYSICS); "
            + (f"its physics parameters are {known}: give --physics NAME=V1,V2" if known else
               "--physics NAME=V1,V2 needs parameters the env declares (neuroq_physics on "
               "its class, docs/robustness.md)"))
    not_held_out = seeds.pipeline_seed_note(seed, episodes)
    if not_held_out:  # (robustness --seed 50000 wrote them as held_out_seeds: an outsider)
        out.notes.append(not_held_out)
    acts: dict[str, Callable] = {"snn": policy_act(policy)}
    if wants_dqn:
        if found is None:
            out.notes.append(f"float DQN and int8 ANN unavailable: {why}")
        else:
            mlp, where = found.mlp, found.source
            if "float" in networks:
                acts["float"] = lambda obs, _infos: mlp.act(obs)
                out.networks["float"] = where
            if "int8" in networks:
                q8 = calibrated_int8(mlp, env_id, max_steps)
                acts["int8"] = lambda o, _infos: q8.q(o).argmax(axis=1)
                out.networks["int8"] = f"int8 quantization of {where}"
    for cond in conditions:
        returns: dict[str, np.ndarray] = {}
        for name, act in acts.items():
            try:
                res = run_episodes(env_id, act, episodes, seed, max_steps=max_steps,
                                   wrappers=cond.wrappers)
            except NeuroqError as exc:  # e.g. physics so far off the env's states overflow
                raise NeuroqError(f"condition {cond.label}, {name} network: {exc}") from None
            stats = summarize(res.returns)
            returns[name] = np.asarray(res.returns)
            out.rows.append({"condition": cond.label, "kind": cond.kind,
                             "parameter": cond.parameter, "strength": cond.strength,
                             **({"sigma_per_dimension": list(cond.sigma)} if cond.sigma
                                else {}),
                             "network": name, **stats, **outcome_summary(res.outcomes)})
        rows = out.rows[-len(acts):]
        if "float" in returns:
            float_row = next(r for r in rows if r["network"] == "float")
            for row in rows:
                row["fraction_of_float"] = fraction_of(row["mean"], float_row["mean"])
                row["fraction_of_float_ci95"] = list(fraction_ci(returns[row["network"]],
                                                                 returns["float"]))
                if not np.isfinite(row["fraction_of_float_ci95"][0]):  # resampled again
                    # only where there is no interval to say why
                    row["fraction_of_float_no_interval"] = share_undefined_reason(
                        returns[row["network"]], returns["float"])
                # defined whatever the returns' sign (the share is not, near 0)
                row["difference_from_float"] = row["mean"] - float_row["mean"]
                row["difference_from_float_ci95"] = list(difference_ci(
                    returns[row["network"]], returns["float"]))
                if "success_rate" in row:
                    row["success_fraction_of_float"] = fraction_of(
                        row["success_rate"], float_row["success_rate"])
        if say is not None:
            say(f"{cond.label:<22} " + "  ".join(
                f"{r['network']} {r['mean']:8.1f}" + (
                    f" ({100 * r['success_rate']:.0f} % success)" if "success_rate" in r
                    else "") for r in rows))
    return out


def fraction_text(row: dict[str, Any]) -> str:
    """A row's fraction of the float DQN as text: "95.6 % [85.3, 107.2]" (its paired 95 %
    interval where there is one), "n/a" where the fraction is not defined; where it has no
    interval (`share_undefined_reason`: the float return's resampled means take both signs,
    or a negative one and the other's reach 0 or above: a share means nothing),
    the paired difference SNN - float and its interval beside it (an outsider's table showed
    bare fractions under a header promising intervals)."""
    frac = row.get("fraction_of_float")
    lo, hi = row.get("fraction_of_float_ci95", (np.nan, np.nan))
    if frac is not None and np.isfinite(frac) and np.isfinite(lo):
        return f"{100 * frac:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"
    share = "n/a" if frac is None or not np.isfinite(frac) else f"{100 * frac:.1f} %"
    d, (dlo, dhi) = row.get("difference_from_float"), row.get("difference_from_float_ci95",
                                                              (np.nan, np.nan))
    if d is None or not np.isfinite(dlo) or row.get("network") == "float":
        return share
    why = row.get("fraction_of_float_no_interval") or SHARE_MIXED_SIGNS  # (older runs)
    return (f"{share} [no interval: {why}; "
            f"{str(row.get('network', 'snn')).upper()} - float {d:+.1f} "
            f"[{dlo:+.1f}, {dhi:+.1f}]]")


def table_markdown(rob: Robustness) -> str:
    """One row per condition: each network's mean [95 % CI], the SNN / float fraction [its
    paired 95 % CI] where a float DQN played (a column of n/a without one: an outsider)
    and, where the environment reports it, each network's success rate."""
    names = [n for n in NETWORKS if n in rob.networks]
    success = any("success_rate" in r for r in rob.rows)
    share = "float" in names
    head = ["condition", *(f"{n} mean [95 % CI]" for n in names),
            *(["snn / float [95 % CI]"] if share else []),
            *((f"{n} success" for n in names) if success else ())]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by_cond: dict[str, dict[str, dict]] = {}
    for row in rob.rows:
        by_cond.setdefault(row["condition"], {})[row["network"]] = row
    for cond, rows in by_cond.items():
        cells = [cond]
        for n in names:
            r = rows.get(n)
            cells.append("n/a" if r is None else
                         f"{r['mean']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]")
        if share:
            cells.append(fraction_text(rows["snn"]))
        if success:
            cells += ["n/a" if n not in rows or "success_rate" not in rows[n]
                      else f"{100 * rows[n]['success_rate']:.0f} %" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    shaped = {r["condition"]: r["sigma_per_dimension"] for r in rob.rows
              if "sigma_per_dimension" in r}
    if shaped:  # which sigma each observation value had (--noise-shape)
        lines.append("")
        lines += [f"{cond}: sigma per observation value "
                  f"{', '.join(f'{v:.4g}' for v in sigma)}" for cond, sigma in shaped.items()]
    return "\n".join(lines)


PLOT_FILE = "robustness.png"


def plot(rob: Robustness, path: Path) -> Path | None:
    """Return against perturbation strength, one panel per kind, one line per network."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    kinds = [(k, p) for k, p in dict.fromkeys((r["kind"], r["parameter"]) for r in rob.rows)
             if k != "none"]
    if not kinds:
        return None
    base = {r["network"]: r["mean"] for r in rob.rows if r["kind"] == "none"}
    cols = min(4, len(kinds))
    rows_n = (len(kinds) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.6 * cols, 2.8 * rows_n), squeeze=False)
    for ax, (kind, param) in zip(axes.flat, kinds, strict=False):
        for net in rob.networks:
            pts = sorted((r["strength"], r["mean"], r["ci95"]) for r in rob.rows
                         if r["kind"] == kind and r["parameter"] == param
                         and r["network"] == net)
            if kind != "physics" and net in base:
                pts = [(0.0, base[net], [base[net], base[net]]), *pts]
            x = [p[0] for p in pts]
            ax.plot(x, [p[1] for p in pts], marker="o", label=net)
            ax.fill_between(x, [p[2][0] for p in pts], [p[2][1] for p in pts], alpha=0.15)
        ax.set_title(param or kind.replace("_", " "), fontsize=9)
        ax.set_xlabel("strength")
        ax.set_ylabel("return")
    for ax in list(axes.flat)[len(kinds):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    span = seed_span((rob.seed, rob.seed + rob.episodes - 1))
    fig.suptitle(f"{rob.env_id}: return under perturbation, episodes {span} (95 % CI "
                 "shaded)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_robustness(rob: Robustness, out_root: str | os.PathLike) -> Path:
    """Write runs/<env>/robustness-<time>/ (result.json, table.md, PLOT_FILE where
    matplotlib is installed and something was shifted)."""
    from neuroq.agents.runs import make_run_dir, removed_on_failure, write_json

    run_dir = make_run_dir(out_root, rob.env_id, "robustness")
    with removed_on_failure(run_dir):
        write_json(run_dir / "result.json", rob.to_dict())
        (run_dir / "table.md").write_text(table_markdown(rob) + "\n")
        plot(rob, run_dir / PLOT_FILE)
    return run_dir
