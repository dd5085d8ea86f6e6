"""Benchmark: spiking CartPole networks trained in snnTorch and Norse, made chip-ready by
`neuroq import` + `neuroq finetune`, against their source networks.

For each library: a network trained by behaviour cloning of a linear controller
(tests/helpers/peer_training.py), exported with the library's own NIR exporter, imported
(`neuroq.agents.nir_import.run_import`), fine-tuned with the source network as the teacher
(`neuroq.agents.finetune.run_finetune`) and exported. Returns on held-out episodes (episode
i reset with seed HELD_OUT_SEED + i; neither import, fine-tuning's validation nor its
checkpoint choice saw them): the source network in its own semantics (numpy model of the
library, tested equal to it), the imported int8 network before fine-tuning and the
fine-tuned one, both on the emulator (the chip model). Greedy-action agreement with the
source on the import's recorded observations.

usage:
  python bench/bench_nir_import.py [--libraries snntorch norse] [--epochs 20]
Results: printed as a markdown table and saved to bench/results/nir-import-<time>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neuroq.agents.finetune import FinetuneConfig, run_finetune  # noqa: E402
from neuroq.agents.nir_import import (  # noqa: E402
    ImportSettings,
    read_encoder,
    read_graph,
    run_import,
    source_teacher,
)
from neuroq.deploy.artifact import load_artifact  # noqa: E402
from neuroq.deploy.evaluate import evaluate  # noqa: E402
from neuroq.deploy.policy import load_policy  # noqa: E402
from neuroq.deploy.rollout import run_episodes  # noqa: E402

#: Held-out evaluation episodes: seeds 1000, 1001, ... (the issue's seeds).
HELD_OUT_SEED = 1000
EPISODES = 100
SOURCE_T = 5


def emulator_return(artifact: Path) -> float:
    return float(evaluate(load_policy(artifact, backend="emulator"), episodes=EPISODES,
                          seed=HELD_OUT_SEED)["return_mean"])


def one(library: str, epochs: int, train_steps: int, out: Path) -> dict:
    import nir
    import torch
    import yaml

    from tests.helpers import peer_training as pt

    torch.set_num_threads(1)
    obs, labels = pt.cartpole_data(4000)
    encoder = pt.cartpole_encoder(obs)
    train = pt.train_snntorch if library == "snntorch" else pt.train_norse
    t0 = time.perf_counter()
    _, graph = train(obs, labels, encoder, SOURCE_T, steps=train_steps)
    nir.write(out / f"{library}.nir", graph)
    (out / "encoder.yaml").write_text(yaml.safe_dump(encoder.to_dict()))
    graph_path = out / f"{library}.nir"
    imp = run_import(graph_path, read_graph(graph_path), "CartPole-v1",
                     read_encoder(out / "encoder.yaml"), ImportSettings(timesteps=SOURCE_T),
                     out / "runs", log=lambda _m: None,
                     warn=lambda m: print(f"  warning: {m}"))
    ft = run_finetune(imp, out / "runs", FinetuneConfig(epochs=epochs), progress=False,
                      log=lambda _m: None)
    teacher = source_teacher(imp)
    src = run_episodes("CartPole-v1", lambda o, _i: teacher.act(o), EPISODES, HELD_OUT_SEED)
    imp_result = json.loads((imp / "result.json").read_text())
    ft_result = json.loads((ft / "result.json").read_text())
    art = load_artifact(ft / "network")
    row = {"library": library, "source_T": SOURCE_T, "chip_T": art.network.timesteps,
           "source_return": float(src.returns.mean()),
           "imported_return": emulator_return(imp / "network"),
           "finetuned_return": emulator_return(ft / "network"),
           "import_agreement": imp_result["agreement"],
           "finetuned_agreement": ft_result["agreement"], "epochs": epochs,
           "wall_s": round(time.perf_counter() - t0, 1)}
    row["fraction_of_source"] = row["finetuned_return"] / row["source_return"]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--libraries", nargs="+", default=["snntorch", "norse"])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--train-steps", type=int, default=1500)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for lib in args.libraries:
            print(f"{lib}: train, import, fine-tune ...", flush=True)
            folder = Path(tmp) / lib
            folder.mkdir()
            rows.append(one(lib, args.epochs, args.train_steps, folder))
    head = ("| library | source T | chip T | source return | imported (emulator) | "
            "fine-tuned (emulator) | fraction | agreement import -> fine-tuned |")
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(f"| {r['library']} | {r['source_T']} | {r['chip_T']} | "
                     f"{r['source_return']:.1f} | {r['imported_return']:.1f} | "
                     f"{r['finetuned_return']:.1f} | {100 * r['fraction_of_source']:.1f} % | "
                     f"{r['import_agreement']:.3f} -> {r['finetuned_agreement']:.3f} |")
    text = (f"CartPole-v1, {EPISODES} held-out episodes (seeds {HELD_OUT_SEED}.."
            f"{HELD_OUT_SEED + EPISODES - 1})\n\n" + "\n".join(lines))
    print(text)
    res = ROOT / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (res / f"nir-import-{stamp}.json").write_text(json.dumps(rows, indent=2))
    (res / f"nir-import-{stamp}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
