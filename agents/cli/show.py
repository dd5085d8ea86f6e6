"""Show the result of a run folder (any stage): its result.json, summarised (an energy
run's report.json: `neuroq energy` writes a report, not a result), or a deploy artifact's
manifest.json (its env, T, encoder and export gate). A train run with no result yet
(training now, or interrupted) shows its state and what comes next.

examples:
  neuroq show runs/CartPole-v1/train-seed0-20261122-153012
  neuroq show runs/CartPole-v1/energy-20261122-160201
  neuroq show cartpole
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys

HELP = "print the result of a run folder, or what a deploy artifact's manifest says"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a run folder, e.g. runs/CartPole-v1/train-seed0-<time>, or "
                               "a deploy artifact folder")
    p.add_argument("--json", action="store_true",
                   help="print result.json (an artifact's manifest.json) as is")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neuroq.agents.runs import REPORT_FILE, RESULT_FILE, read_json, require_run_dir
    from neuroq.deploy.artifact import (
        MANIFEST_FILE,
        artifact_warnings,
        read_manifest,
        tampering,
    )
    from neuroq.deploy.errors import NeuroqError, printable, read_capped_text
    from neuroq.deploy.seeds import seed_span

    manifest = None  # read once, where the argument names a shipped artifact
    try:
        run_dir = require_run_dir(args.run, must_contain="")
    except NeuroqError as exc:
        if Path(args.run).exists() or not args.run.strip():
            raise
        try:  # no such folder: a shipped artifact by name (cartpole)?
            run_dir, manifest = read_manifest(args.run, verify=False)
        except NeuroqError as as_artifact:  # its own words: the shipped names, for a name
            raise NeuroqError(f"{exc}; as an artifact: {as_artifact}") from None
    found = [run_dir / name for name in (RESULT_FILE, REPORT_FILE) if (run_dir / name).exists()]
    if not found and (run_dir / MANIFEST_FILE).exists():  # a deploy artifact (damaged too)
        if manifest is None:
            _, manifest = read_manifest(run_dir, verify=False)
        # shown all the same: said first (what eval and the nodes say of it too: a gate
        # of 1 episode was said everywhere but here, a recheck)
        for problem in [*tampering(run_dir, manifest), *artifact_warnings(manifest)]:
            print(f"neuroq show: warning: {printable(problem)}", file=sys.stderr)
        if args.json:
            print(json.dumps(manifest, indent=2))
            return 0
        # a malformed value ("gate": [1], rehashed) was an AttributeError (an outsider)
        encoder, gate = ({} if not isinstance(manifest.get(k), dict) else manifest[k]
                         for k in ("encoder", "gate"))
        seeds = gate.get("seeds") if isinstance(gate.get("seeds"), list) else ()
        fraction, threshold = gate.get("fraction"), gate.get("threshold")
        # one table (its key column changed width halfway: a newcomer), the share as a
        # share (0.9720599999999999 was printed as it is), with enough digits not to round
        # onto the gate (0.89996 against 0.9 read 0.9000: a review)
        shown = fraction
        if type(fraction) is float:
            shown = f"{fraction:.4f}"
            if type(threshold) in (int, float) and (float(shown) >= threshold) != (
                    fraction >= threshold):
                shown = repr(fraction)
        _print_scalars({**manifest, "encoder": encoder.get("kind"),
                        "gate_passed": gate.get("passed"), "gate_threshold": threshold,
                        "gate_fraction": shown,
                        "gate_seeds": seed_span(seeds) if seeds else None})
        print(f"(the whole manifest: neuroq show {shlex.quote(str(args.run))} --json)")
        return 0
    if not found and (run_dir / "trials.json").is_file():  # a sweep's folder
        return _show_sweep(run_dir, args.json)
    if not found and (run_dir / "spec.yaml").is_file():  # a sweep's, before its first end
        raise NeuroqError(f"{run_dir} is a sweep that has not ended yet (its trials.json comes "
                          "when it ends; a sweep interrupted before writing it: run the spec "
                          "again)")
    if not found and (run_dir / "settings.yaml").is_file() and (
            (run_dir / "study.journal").is_file() or (run_dir / "trials").is_dir()):
        # (interrupted in its first seconds, a study has no journal yet: a recheck)
        return _show_unfinished_study(run_dir, args.json)
    if not found:
        from neuroq.agents.runs import lock_held
        from neuroq.agents.train import resumable

        # a train run training now or interrupted: its state, not an error (an outsider's
        # `neuroq show` of an interrupted run was exit 2, "error: ...")
        training = lock_held(run_dir)
        if training or resumable(run_dir) or _train_config(run_dir) is not None:
            return _show_unfinished_train(run_dir, args.json, training)
        raise NeuroqError(f"{run_dir} is not a finished run folder: it has no {RESULT_FILE} "
                          f"(nor an energy run's {REPORT_FILE}): it is still running, or it "
                          "ended early")
    result = read_json(found[0])
    if not isinstance(result, dict):
        kind = {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
            type(result), "number")
        raise NeuroqError(f"{found[0]} is not a run's result: it holds a JSON {kind}, not an "
                          "object")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if found[0].name == REPORT_FILE:  # an energy report: its header and main table
        _print_scalars(result.get("header", {}))
        table = result.get("main_table", {})
        for row in [table.get("header", []), *table.get("rows", [])]:
            print(printable(" | ".join(map(str, row))))
        print(f"(every figure with its source: {run_dir / 'report.md'})")
        return 0
    robustness = result.get("stage") == "robustness"  # its figures are lists and a table:
    # it showed four lines and none of them (an outsider)
    seeds = (result.get("episode_seeds") or result.get("held_out_seeds")) if robustness \
        else None  # (older runs wrote held_out_seeds only)
    _print_scalars({**_runs_where_now(result, run_dir),
                    **({"episode_seeds": seed_span(seeds)}
                       if isinstance(seeds, list) and seeds else {})})
    if robustness:
        notes = result.get("notes")
        for note in notes if isinstance(notes, list) else []:  # a damaged file: none
            print(f"note: {printable(str(note))}")
        table = run_dir / "table.md"
        if table.is_file():  # capped: a sparse 3 GB file took 7.8 GB (an outsider)
            for line in read_capped_text(table, "robustness table").rstrip().splitlines():
                print(printable(line))
    best = result.get("best")
    if isinstance(best, dict) and "study" in result:  # a tune study: its best trial
        held = best.get("held_out") or {}
        _print_scalars({"best_trial": best.get("number"), "best_objective": best.get("value"),
                        "best_held_out_mean_return": held.get("mean_return"),
                        "best_held_out_std_return": held.get("std_return"),
                        "best_held_out_episodes": held.get("episodes"),
                        "best_held_out_seeds": seed_span(held["seeds"]) if held.get("seeds")
                        else None, "best_run": best.get("run_dir")})
    return 0


def _train_config(run_dir) -> dict | None:
    """The config.yaml of a train run folder (a later stage's names its stage), else None."""
    from neuroq.agents.runs import read_yaml_mapping
    from neuroq.deploy.errors import NeuroqError

    try:
        doc = read_yaml_mapping(run_dir / "config.yaml")
    except NeuroqError:  # none, or damaged
        return None
    return doc if "stage" not in doc and "hyperparameters" in doc else None


def _show_unfinished_train(run_dir, as_json: bool, training: bool) -> int:
    """A train run with no result.json yet: being trained now (a process holds its lock),
    or interrupted with a checkpoint to go on from. Its config.yaml and the checkpoint's
    state.json, as far as they can be read, and what comes next."""
    from neuroq.agents.runs import LOCK_FILE, RESULT_FILE, read_json
    from neuroq.agents.train import RESUME_DIR, resume_command, retrain_command
    from neuroq.deploy.errors import NeuroqError, printable

    config = _train_config(run_dir) or {}  # a damaged or missing one: the state alone
    hyper = config.get("hyperparameters")
    asked = hyper.get("n_timesteps") if isinstance(hyper, dict) else None
    steps = best = None  # the last checkpoint's, where one can be read
    if (run_dir / RESUME_DIR / "state.json").is_file():
        try:
            state = read_json(run_dir / RESUME_DIR / "state.json")
            steps, best = int(state["steps"]), float(state["best"])
        except (NeuroqError, KeyError, TypeError, ValueError):
            pass
    if training:
        state_line = f"training now (a running process holds its {LOCK_FILE})"
        next_line = f"its {RESULT_FILE} comes when it finishes"
    elif steps is None:  # stopped before its first checkpoint (a recheck: exit 2, "not a
        # finished run folder")
        state_line = f"interrupted before its first checkpoint (no {RESULT_FILE})"
        # quoted for a shell, as it is to be pasted (an outsider's env id held ';' and escape
        # sequences)
        next_line = ("nothing to go on from: train it again "
                     f"({retrain_command(config, run_dir)})")
    else:
        state_line = f"interrupted (no {RESULT_FILE})"
        next_line = f"go on with: {resume_command(run_dir)}"
    doc = {"state": "training" if training else "interrupted",
           "env_id": config.get("env_id"), "seed": config.get("seed"),
           "steps_asked": asked, "checkpoint_step": steps,
           "best_selection_mean_return": best if best is not None and best > -math.inf
           else None,
           "next": next_line}
    if as_json:
        print(json.dumps(doc, indent=2))
        return 0
    _print_scalars({k: v for k, v in {**doc, "state": state_line}.items()
                    if v is not None and k != "next"})
    print(printable(next_line[0].upper() + next_line[1:]))
    return 0


def _show_unfinished_study(folder, as_json: bool) -> int:
    """A tune study no trial of which has finished yet (searching now, or interrupted before
    its first trial ended; an outsider's `neuroq show` of one was exit 2, "is not a finished
    run folder"): its settings and what comes next, exit 0."""
    from neuroq.agents.runs import lock_held, read_yaml_mapping

    searching = lock_held(folder)
    settings = read_yaml_mapping(folder / "settings.yaml")
    state = "searching" if searching else "interrupted"
    nxt = ("another neuroq tune is searching it now; its result.json comes when its first "
           "trial ends" if searching else "no trial finished: run the same neuroq tune "
           "command (same --env and --name) to go on")
    if as_json:
        print(json.dumps({"state": state, "settings": settings, "next": nxt}, indent=2))
        return 0
    _print_scalars({"state": state, **{k: v for k, v in settings.items()
                                       if not isinstance(v, (dict, list))}})
    print(nxt)
    return 0


def _show_sweep(folder, as_json: bool) -> int:
    """A sweep's folder (trials.json, results.md): it was "not a finished run folder" (an
    outsider)."""
    from collections import Counter

    from neuroq.agents.runs import read_json
    from neuroq.deploy.errors import NeuroqError, printable, read_capped_text

    doc = read_json(folder / "trials.json")
    if not (isinstance(doc, dict) and isinstance(doc.get("trials", []), list)
            and all(isinstance(r, dict) for r in doc.get("trials", []))):
        # a damaged file: {"trials": 5} was a TypeError traceback, [1, 2] "0 trials", exit
        # 0 (an outsider)
        raise NeuroqError(f"{folder / 'trials.json'} is not a sweep's trials.json (a mapping "
                          "whose `trials` is a list of trials): the sweep folder is damaged")
    if as_json:
        print(json.dumps(doc, indent=2))
        return 0
    rows = doc.get("trials", [])
    states = Counter(str(r.get("status")) for r in rows if isinstance(r, dict))
    table = folder / "results.md"
    if table.is_file():  # capped: a sparse 3 GB file took 7.8 GB (an outsider)
        for line in read_capped_text(table, "sweep table").rstrip().splitlines():
            print(printable(line))
    _print_scalars({"sweep": folder.name.removeprefix("sweep-"), "trials": len(rows),
                    **{f"trials_{k}": v for k, v in sorted(states.items())},
                    "wall_s": doc.get("wall_s") if isinstance(doc, dict) else None})
    return 0


def _runs_where_now(result: dict, run_dir) -> dict:
    """`result` with each run folder it names (`*_run`, recorded where it was made) that is
    not there marked, and where the commands now find it (`recorded_run`: beside this run,
    a runs root moved or copied): an outsider's show of a copied run named the old root's
    folders as if they were there."""
    from pathlib import Path

    from neuroq.agents.runs import recorded_run

    marked = dict(result)
    for key, value in result.items():
        if key.endswith("_run") and isinstance(value, str) and value \
                and Path(value).is_absolute() and not Path(value).exists():
            now = recorded_run(value, run_dir)
            marked[key] = (f"{value} (not there; found beside this run: {now})" if now != value
                           else f"{value} (not on this machine)")
    return marked


def _print_scalars(result: dict) -> None:
    """`result`'s top-level values that are not mappings or lists, one per line."""
    from neuroq.deploy.errors import printable

    # a run folder or manifest may come from anyone: its text is shown escaped (an
    # outsider's env_id of escape sequences cleared the terminal and faked a line)
    shown = {printable(str(k)): v for k, v in result.items()
             if not isinstance(v, (dict, list))}
    width = max(map(len, shown), default=0)
    for key, value in shown.items():
        if not isinstance(value, (dict, list)):
            print(f"{key:<{width}}  {printable(str(value))}")
