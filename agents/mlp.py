"""The float Q-MLP of a trained DQN as plain numpy arrays (no torch needed to run it).

`FloatMLP`: weights[k] float32 (n_out, n_in), biases[k] float32 (n_out,), ReLU after every
layer but the last: Q(x) = W_L relu(... relu(W_1 x + b_1) ...) + b_L. It is what conversion
starts from, the teacher of fine-tuning, and the float baseline of the energy report and
the robustness suite. `save_mlp` / `load_mlp_file` store it as an .npz of plain arrays
(read with allow_pickle=False), so an artifact can carry its float DQN without pickle
(FLOAT_DQN_FILE, written by `neuroq export`). `torch_mlp` builds the same network in torch
(needs torch) for the energy report's torch latency rows.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.deploy.errors import NeuroqError

#: The float DQN stored beside an artifact (`save_mlp`; `neuroq export` writes it, its
#: SHA-256 in the manifest's "float_dqn").
FLOAT_DQN_FILE = "float_dqn.npz"


@dataclass(frozen=True)
class FloatMLP:
    """weights[k] float32 (n_out, n_in), biases[k] float32 (n_out,); ReLU between layers."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.biases) or not self.weights:
            raise NeuroqError("an MLP needs one bias per weight matrix and at least one layer")
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise NeuroqError(f"layer {k}: weight (n_out, n_in) and bias (n_out,) needed, "
                                  f"got {w.shape} and {b.shape}")
            if k and w.shape[1] != self.weights[k - 1].shape[0]:
                raise NeuroqError(f"layer {k} takes {w.shape[1]} inputs, layer {k - 1} gives "
                                  f"{self.weights[k - 1].shape[0]}")

    @property
    def widths(self) -> tuple[int, ...]:
        return (int(self.weights[0].shape[1]), *(int(w.shape[0]) for w in self.weights))

    def layer_inputs(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """(what each layer multiplies: x, then hidden activations), Q-values."""
        h = np.asarray(x, np.float32)
        inputs = []
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            inputs.append(h)
            h = h @ w.T + b
            if k < len(self.weights) - 1:
                h = np.maximum(h, np.float32(0.0))
        return inputs, h

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """Post-ReLU activations of every hidden layer, then the Q-values (last)."""
        inputs, q = self.layer_inputs(x)
        return [*inputs[1:], q]

    def q(self, x: np.ndarray) -> np.ndarray:
        return self.layer_inputs(x)[1]

    def act(self, x: np.ndarray) -> np.ndarray:
        """Greedy actions (lowest index on ties) for observations (batch, n_obs)."""
        return self.q(x).argmax(axis=1)


def save_mlp(path: str | os.PathLike, mlp: FloatMLP) -> Path:
    """Write `mlp` as an .npz of arrays w0, b0, w1, b1, ... (float32)."""
    arrays = {}
    for k, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        arrays[f"w{k}"], arrays[f"b{k}"] = w.astype(np.float32), b.astype(np.float32)
    p = Path(path)
    with open(p, "wb") as f:
        np.savez(f, **arrays)
    return p


MAX_MLP_BYTES = 256 << 20
"""Most bytes the arrays of a float Q-MLP file may declare in all (a float DQN of neuroq's
takes kilobytes to a few megabytes): an outsider's 11.6 MB file declaring (4, 750,000,000)
float32 was a MemoryError traceback after asking for 11.2 GiB."""


def _declared_bytes(path: str | os.PathLike) -> int:
    """The bytes the .npy members of the .npz at `path` declare, read from their headers
    (no array is read); ValueError for a member that is no .npy array."""
    import zipfile

    from neuroq.agents.runs import npy_declared_bytes

    total = 0
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            with z.open(name) as member:
                total += npy_declared_bytes(member)
    return total


def load_mlp_file(path: str | os.PathLike) -> FloatMLP:
    """Read an .npz written by `save_mlp` (no pickle; arrays declaring more than
    MAX_MLP_BYTES in all refused before any is read)."""
    import zipfile

    try:
        declared = _declared_bytes(path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise NeuroqError(f"{path} is not a float Q-MLP file: {exc}") from None
    if declared > MAX_MLP_BYTES:
        raise NeuroqError(f"{path} declares {declared:,} bytes of arrays, more than a float "
                          f"Q-MLP holds ({MAX_MLP_BYTES:,}): not read")
    try:
        with np.load(path, allow_pickle=False) as data:
            n = len(data.files) // 2
            ws = tuple(data[f"w{k}"].astype(np.float32) for k in range(n))
            bs = tuple(data[f"b{k}"].astype(np.float32) for k in range(n))
    except (OSError, KeyError, ValueError) as exc:
        raise NeuroqError(f"{path} is not a float Q-MLP file: {exc}") from None
    if not all(np.isfinite(a).all() for a in ws + bs):
        raise NeuroqError(f"{path}: the Q-MLP holds NaN or inf")
    return FloatMLP(ws, bs)


MAX_POLICY_BYTES = 256 << 20
"""Largest policy.pth read from a DQN zip (bytes; a DQN of neuroq's takes kilobytes to a
few megabytes): a zip from someone else may inflate to anything."""


def weights_only_reason(exc: BaseException) -> str:
    """The reason torch's weights-only loader gives for refusing a file, without the advice
    around it: its text goes on to suggest weights_only=False, which runs the payload, and
    cut at 300 characters it left out the reason itself (a recheck). "WeightsUnpickler
    error: ..." and "Trying to load unsupported GLOBAL ..." (a blocked module) are kept;
    any other error is named with its own text."""
    import re

    text = " ".join(str(exc).split())
    for pattern in (r"WeightsUnpickler error:\s*(.*)", r"(Trying to load unsupported GLOBAL.*)",
                    r"(Unsupported global:.*)"):
        found = re.search(pattern, text)
        if found:  # its first sentence: the next ones say how to let the payload in
            return found.group(1).split(". ")[0].rstrip(".")[:300]
    if "weights_only" in text:  # the advice alone: say what it means, not what it says
        return "it asks the unpickler for more than tensors and plain values"
    return f"{type(exc).__name__}: {text[:300]}"


def torch_file_problem(data: Any, max_bytes: int = MAX_POLICY_BYTES) -> str | None:
    """What is wrong with a file torch.save wrote (a path or its bytes) before torch reads
    it, else None: it must be torch's zip format, with records stored as they are (torch
    writes them so) and at most `max_bytes` in all once read. torch inflates a deflated
    record: a reviewer's 2 MB model.pt held 2 GiB of zeros, which the loader allocated."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as z:
            infos = z.infolist()
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        return f"not torch's zip format ({type(exc).__name__}: {exc})"
    packed = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED]
    if packed:
        return (f"its record {packed[0]!r} is compressed (torch stores records as they are; "
                "a compressed one may inflate to anything)")
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        return f"it holds {total:,} bytes, more than a DQN's ({max_bytes:,})"
    return None


SB3_RELU = "<class 'torch.nn.modules.activation.ReLU'>"
"""How SB3's `data` JSON names ReLU as policy_kwargs' activation_fn (its readable text
beside the pickled class, which neuroq never unpickles)."""
SB3_DEFAULT_NET_ARCH = [64, 64]
"""SB3's DQN hidden layers when policy_kwargs gives no net_arch."""
SB3_TRAINING_ONLY_KWARGS = frozenset({"optimizer_class", "optimizer_kwargs",
                                      "normalize_images"})
"""policy_kwargs that do not change an MLP Q-network's forward pass on a vector observation
(the optimizer; image scaling, which SB3 applies to image observations only)."""


def sb3_policy_kind(data: Any, state: Any) -> str:
    """Why an SB3 zip's policy is not a DQN's MLP Q-network ('' when it is): another
    algorithm's policy (PPO's ActorCriticPolicy, QR-DQN's) or a CNN feature extractor. Read
    from the readable text of `data` and the state dict's names (an outsider's PPO and CNN
    zips were "not a chain of Linear layers", which did not say what they were)."""
    policy = data.get("policy_class") if isinstance(data, dict) else None
    module = policy.get("__module__") if isinstance(policy, dict) else None
    if isinstance(module, str) and not module.startswith("stable_baselines3.dqn."):
        return (f"its policy class is from {module}, not stable_baselines3.dqn (another "
                "algorithm's, or a class of your own that neuroq cannot read without running "
                "it): neuroq converts the Q-network of a stable-baselines3 DQN's MlpPolicy")
    names = list(state) if isinstance(state, dict) else []
    if any(str(n).startswith("q_net.features_extractor.cnn") for n in names):
        return ("its Q-network starts with a CNN (CnnPolicy): neuroq converts MLP "
                "Q-networks (MlpPolicy) of vector observations")
    return ""


def sb3_net_arch(data: Any, bad: Callable[[str], Exception]) -> list[int]:
    """The hidden layer widths of an SB3 DQN zip's MLP from its `data` JSON, read as text
    (never unpickled): policy_kwargs may hold net_arch, activation_fn ReLU (SB3's default,
    named), and the training-only SB3_TRAINING_ONLY_KWARGS; raises bad(why) for anything
    else, naming it (an outsider's net written with activation_fn=nn.ReLU, or an
    optimizer eps, was refused as "not neuroq's"; a Tanh net was refused without naming
    Tanh)."""
    kwargs = data.get("policy_kwargs") if isinstance(data, dict) else None
    if kwargs is None:
        return list(SB3_DEFAULT_NET_ARCH)
    if not isinstance(kwargs, dict):
        raise bad("its policy_kwargs are not a mapping")
    # beside a pickled dict SB3 writes each value's text: read those, never the pickle
    given = {k: v for k, v in kwargs.items() if k not in (":type:", ":serialized:")}
    if ":serialized:" in kwargs and not given:
        raise bad("its policy_kwargs are pickled with no readable text beside them (SB3 "
                  "writes both): what they set cannot be read without running code from it")
    activation = given.pop("activation_fn", SB3_RELU)
    if activation != SB3_RELU:
        text = str(activation)
        torch_class = re.fullmatch(r"<class 'torch\.nn\.modules\.activation\.(\w+)'>", text)
        name = torch_class.group(1) if torch_class else repr(text[:80])  # as written (a
        # recheck's 'evil.ReLU' was named "ReLU" in a refusal of it)
        raise bad(f"its activation_fn is {name}: neuroq converts ReLU Q-networks (a spiking "
                  "neuron's rate is a ReLU of its input)")
    other = sorted(set(given) - SB3_TRAINING_ONLY_KWARGS - {"net_arch"})
    if other:
        raise bad(f"its policy_kwargs set {', '.join(other)}, which neuroq does not read: it "
                  "converts an MLP of net_arch with ReLU between the layers")
    arch = given.get("net_arch", SB3_DEFAULT_NET_ARCH)
    if isinstance(arch, str):  # the text of a pickled dict's value: "[64, 64]"
        try:
            arch = json.loads(arch)
        except ValueError:
            arch = None
    if arch == []:
        raise bad("its net_arch is [] (no hidden layer): a spiking Q-network needs one at "
                  "least")
    if not (isinstance(arch, list)
            and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in arch)):
        raise bad(f"its net_arch is {str(arch)[:60]}, not a list of layer widths")
    return arch


def read_sb3_mlp(path: str | os.PathLike) -> FloatMLP:
    """The Q-network of a stable-baselines3 DQN zip (`read_sb3_zip`)."""
    return read_sb3_zip(path)[0]


def read_sb3_zip(path: str | os.PathLike) -> tuple[FloatMLP, dict[str, Any]]:
    """(the Q-network, the `data` JSON as read) of a stable-baselines3 DQN zip, by
    `neuroq train` or anyone's script, read without running anything from the file: its
    `policy.pth` through torch's weights-only loader, and its `data` as plain JSON. SB3's
    own `DQN.load` unpickles every value its `data` marks `:serialized:` (cloudpickle), so
    a train run from someone else ran their code in
    `neuroq convert`, `finetune`, `export` and tune's held-out episodes (an outsider). The
    network must be an MLP Q-network of a DQN (`sb3_policy_kind`) with ReLU between Linear
    layers `q_net.q_net.<i>` that chain, as `sb3_net_arch` reads its policy_kwargs (net_arch,
    activation_fn ReLU, training-only settings). NeuroqError otherwise."""
    import io
    import json
    import pickle
    import zipfile

    import torch

    def bad(why: str) -> NeuroqError:
        return NeuroqError(f"cannot load the DQN {path}: {why}")

    try:
        with zipfile.ZipFile(path) as z:
            infos = {i.filename: i for i in z.infolist()}
            for name in ("data", "policy.pth"):
                if name not in infos:
                    shown = ", ".join(sorted(infos)[:4]) + (", ..." if len(infos) > 4 else "")
                    raise bad(f"it has no {name} (not a stable-baselines3 model zip, or one cut "
                              f"short: a truncated zip can read as a torch file inside it; "
                              f"its entries: {shown})")
                if infos[name].file_size > MAX_POLICY_BYTES:
                    raise bad(f"its {name} unpacks to {infos[name].file_size:,} bytes, more "
                              f"than a DQN holds ({MAX_POLICY_BYTES:,})")
            data = json.loads(z.read("data"))
            policy = z.read("policy.pth")
            problem = torch_file_problem(policy)
            if problem:
                raise bad(f"its policy.pth: {problem}")
            state = torch.load(io.BytesIO(policy), map_location="cpu", weights_only=True)
    except NeuroqError:
        raise
    except zipfile.BadZipFile as exc:  # "File is not a zip file" of a download cut short
        raise bad(f"not a zip file ({exc}): not a stable-baselines3 model zip, or one cut "
                  "short") from None
    except (OSError, ValueError, RecursionError, RuntimeError,
            KeyError, EOFError, pickle.UnpicklingError) as exc:  # weights-only: a pickle
        # asking for anything but tensors
        raise bad(weights_only_reason(exc)) from None
    kind = sb3_policy_kind(data, state)
    if kind:
        raise bad(kind)
    net_arch = sb3_net_arch(data, bad)
    if not isinstance(state, dict):
        raise bad("its policy.pth holds no state dict")
    ws, bs = [], []
    while f"q_net.q_net.{2 * len(ws)}.weight" in state:
        k = 2 * len(ws)
        w, b = state[f"q_net.q_net.{k}.weight"], state.get(f"q_net.q_net.{k}.bias")
        if not isinstance(w, torch.Tensor) or w.ndim != 2 or not isinstance(
                b, torch.Tensor) or b.shape != (w.shape[0],):
            raise bad(f"its layer q_net.q_net.{k} is not a Linear layer")
        ws.append(w.detach().numpy().astype(np.float32))
        bs.append(b.detach().numpy().astype(np.float32))
    if len(ws) < 2 or any(ws[i + 1].shape[1] != ws[i].shape[0] for i in range(len(ws) - 1)):
        raise bad("its Q-network is not a chain of Linear layers (at least 2)")
    if [w.shape[0] for w in ws[:-1]] != net_arch:
        raise bad("its layers do not match its net_arch")
    if not all(np.isfinite(a).all() for a in ws + bs):
        raise NeuroqError("the Q-network's weights are not all finite (NaN or inf): training "
                          "diverged; train again with a smaller learning_rate")
    return FloatMLP(tuple(ws), tuple(bs)), data


def torch_mlp(mlp: FloatMLP) -> Any:
    """A torch nn.Sequential computing `mlp`'s Q-values (Linear, ReLU, ..., Linear; float32,
    CPU, eval mode), copied from its weights and biases. Needs torch."""
    import torch
    from torch import nn

    layers: list[nn.Module] = []
    for k, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        lin = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.asarray(w, np.float32)))
            lin.bias.copy_(torch.from_numpy(np.asarray(b, np.float32)))
        layers.append(lin)
        if k < len(mlp.weights) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).eval()
