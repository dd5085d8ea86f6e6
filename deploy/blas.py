"""numpy's BLAS on one thread in neuroq's processes (the `neuroq` command, the nodes).

The emulator's matrices are small (a few hundred neurons; batches of up to 100 episodes),
so a second BLAS thread has nothing to gain and, on a machine whose other core is busy,
much to lose: an outsider's batched host times per action were 25-50 times longer with
OpenBLAS's second thread on a shared 2-core VM (533 against 13 us at batch 30), and here
`neuroq eval nav --episodes 100` took 164-236 against 52-59 us per action with one core kept
busy (2026-11-29). The CPU energy estimates of `neuroq energy` assume one core too.

OpenBLAS reads OPENBLAS_NUM_THREADS when numpy loads it, so `one_blas_thread` runs before
numpy is imported (the command's `console_main`, the nodes' entry points); a value the user
set is kept. Training sets torch's own threads (`neuroq train --threads`).
"""

from __future__ import annotations

import os

BLAS_THREADS_ENV = {"OPENBLAS_NUM_THREADS": "1"}
"""The environment that puts numpy's BLAS (OpenBLAS, in numpy's wheels) on one thread."""


def one_blas_thread() -> None:
    """Set BLAS_THREADS_ENV where the environment does not say otherwise (no effect once
    numpy is loaded)."""
    for key, value in BLAS_THREADS_ENV.items():
        os.environ.setdefault(key, value)
