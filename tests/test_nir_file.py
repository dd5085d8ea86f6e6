"""A NIR graph file from anyone: what it asks HDF5 to do is refused before it is read
(neuroq.deploy.nir_file). Each file here is the shipped CartPole artifact's graph with one
change an outsider made (and, for the artifact, its hashes made again, as an attacker
would)."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from neuroq.deploy.artifact import (
    MANIFEST_FILE,
    WEIGHTS_FILE,
    load_artifact,
    sha256_file,
    write_manifest,
)
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.nir_file import read_graph_bytes
from tests.helpers import REPO_ROOT

SHIPPED = REPO_ROOT / "config" / "artifacts" / "cartpole"
WEIGHT = "node/nodes/layer2_w/weight"  # the readout's weights, (2, 256) in the shipped file


def _replace_weight(f, make):
    group = f[WEIGHT.rsplit("/", 1)[0]]
    shape = group["weight"].shape
    del group["weight"]
    make(group, shape)


def _external_storage(f, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 32)
    _replace_weight(f, lambda g, shape: g.create_dataset(
        "weight", shape=shape, dtype="u1", external=[(str(secret), 0, int(np.prod(shape)))]))


def _external_link(f, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as o:
        o["w"] = np.zeros((2, 256), np.float32)
    _replace_weight(f, lambda g, shape: g.__setitem__("weight", h5py.ExternalLink(str(other),
                                                                                  "w")))


def _soft_link(f, tmp_path):
    _replace_weight(f, lambda g, shape: g.__setitem__("weight", h5py.SoftLink(
        "/node/nodes/layer1_w/weight")))


def _virtual(f, tmp_path):
    source = SHIPPED.parent / "acrobot" / WEIGHTS_FILE

    def make(g, shape):
        layout = h5py.VirtualLayout(shape, "f4")
        layout[:] = h5py.VirtualSource(str(source), WEIGHT, shape=(3, 256))[:2]
        g.create_virtual_dataset("weight", layout, fillvalue=0)
    _replace_weight(f, make)


def _bomb(f, tmp_path):
    f["node/metadata"].create_dataset("pad", shape=(55_000, 55_000), dtype="i1",
                                      chunks=(1000, 1000), compression="gzip")


def _cycle(f, tmp_path):
    f["node/metadata/loop"] = f["node/metadata"]


def _complex(f, tmp_path):
    _replace_weight(f, lambda g, shape: g.create_dataset(
        "weight", data=np.ones(shape, complex) * (1 + 50j)))


def _deep(f, tmp_path):
    g = f["node/metadata"]
    for i in range(40):
        g = g.create_group(f"g{i}")


CASES = [
    (_external_storage, "keeps its data in another file"),
    (_external_link, "is a link to another file"),
    (_soft_link, "is a soft link"),
    (_virtual, "is a virtual dataset"),
    (_bomb, "brings the graph's data, counted as read into memory, above 256 MiB"),
    (_cycle, "is an object reached a second time"),
    (_complex, "holds complex128 values, neither numbers nor text"),
    (_deep, "nests groups more than 32 deep"),
]


def _crafted(tmp_path, change):
    art = tmp_path / "art"
    shutil.copytree(SHIPPED, art)
    with h5py.File(art / WEIGHTS_FILE, "a") as f:
        change(f, tmp_path)
    manifest = json.loads((art / MANIFEST_FILE).read_text())
    manifest["weights_sha256"] = sha256_file(art / WEIGHTS_FILE)  # as an attacker would
    write_manifest(art, manifest)
    return art


@pytest.mark.parametrize(("change", "said"), CASES, ids=[c[0].__name__ for c in CASES])
def test_a_graph_file_that_asks_hdf5_for_more_than_a_graph_is_refused(tmp_path, change, said):
    """An outsider's rehashed artifacts: weights read from /etc/passwd (external storage),
    /proc/self/environ in an error message and the ROS log, a segmentation fault (a virtual
    dataset read from memory), 3 GB of memory for a 205 kB file (a compressed dataset's
    declared shape), RecursionErrors (a cycle, deep nesting), complex weights taken as real.
    Each is refused in one line before any dataset is read; the loader runs in a process of
    its own, so a crash fails the test rather than the suite."""
    import subprocess
    import sys

    art = _crafted(tmp_path, change)
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
            "from neuroq.deploy.artifact import load_artifact\n"
            "from neuroq.deploy.errors import NeuroqError\n"
            "try:\n"
            f"    load_artifact({str(art)!r})\n"
            "except NeuroqError as exc:\n"
            "    print(exc)\n"
            "    sys.exit(2)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert said in proc.stdout and proc.stdout.count("\n") == 1, proc.stdout
    assert "root:x" not in proc.stdout


def test_the_shipped_graphs_and_a_checked_file_read_as_before():
    for name in ("cartpole", "acrobot", "dvs_pan_tracking", "nav"):
        art = load_artifact(SHIPPED.parent / name)
        data = (SHIPPED.parent / name / WEIGHTS_FILE).read_bytes()
        graph = read_graph_bytes(data, name)
        assert sorted(graph.nodes) == sorted(
            ["input", "output", *(f"layer{k}{s}" for k in range(len(art.network.layers))
                                  for s in ("", "_delay", "_w"))])


def test_bytes_that_are_no_hdf5_file_are_one_line():
    with pytest.raises(NeuroqError, match="not an HDF5 file"):
        read_graph_bytes(b"not hdf5 at all", "x.nir")


def test_neuroq_import_refuses_such_a_graph_too(tmp_path):
    """An outsider's `neuroq import` of a graph with external storage put /etc/passwd into
    a self-contained artifact, ready to share."""
    from neuroq.agents.nir_import import read_graph

    art = _crafted(tmp_path, _external_storage)
    with pytest.raises(NeuroqError, match="keeps its data in another file"):
        read_graph(art / WEIGHTS_FILE)


def test_a_float_q_mlp_file_declaring_gigabytes_is_refused_before_it_is_read(tmp_path):
    """An outsider's float_dqn.npz of 11.6 MB declaring (4, 750,000,000) float32: `neuroq
    robustness` asked for 11.2 GiB and ended in a MemoryError traceback. The members' headers
    are read first."""
    import zipfile

    from numpy.lib import format as npy

    from neuroq.agents.mlp import load_mlp_file

    path = tmp_path / "float_dqn.npz"
    with zipfile.ZipFile(path, "w") as z:
        with z.open("w0.npy", "w") as member:
            npy.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False,
                                                "shape": (4, 750_000_000)})
            member.write(b"\0" * 1024)  # the rest never comes
        with z.open("b0.npy", "w") as member:
            npy.write_array(member, np.zeros(4, np.float32))
    with pytest.raises(NeuroqError, match=r"declares 12,000,000,016 bytes of arrays"):
        load_mlp_file(path)
    shipped = load_mlp_file(SHIPPED / "float_dqn.npz")  # a real one reads as before
    assert shipped.weights[0].shape[1] == 4
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(NeuroqError, match="is not a float Q-MLP file"):
        load_mlp_file(tmp_path / "junk.npz")


def _rehashed(art):
    manifest = json.loads((art / MANIFEST_FILE).read_text())
    manifest["weights_sha256"] = sha256_file(art / WEIGHTS_FILE)
    write_manifest(art, manifest)


def test_text_weights_and_names_or_env_ids_with_control_characters_are_refused(tmp_path,
                                                                               capsys):
    """An outsider's artifacts: weights stored as strings were parsed as numbers; a layer
    name of escape sequences and a newline was printed raw by `deploy --show-placement`
    ("ALL CHECKS PASSED" on a line of its own), an env_id of them cleared the terminal in
    `neuroq show`."""
    from neuroq.agents.cli.main import main

    art = _crafted(tmp_path / "a", lambda f, _: _replace_weight(
        f, lambda g, shape: g.create_dataset("weight", data=np.full(shape, b"3", "S4"))))
    with pytest.raises(NeuroqError, match="weight must be real numbers, got |S4"):
        load_artifact(art)
    art = tmp_path / "b" / "art"
    shutil.copytree(SHIPPED, art)
    with h5py.File(art / WEIGHTS_FILE, "a") as f:
        meta = f["node/nodes/layer0/metadata"]
        del meta["name"]
        meta["name"] = "hidden\x1b[2J\nALL CHECKS PASSED"
    _rehashed(art)
    with pytest.raises(NeuroqError, match=r"its name holds control characters: "
                                          r"hidden\\x1b\[2J\\nALL CHECKS PASSED"):
        load_artifact(art)
    art = tmp_path / "c" / "art"
    shutil.copytree(SHIPPED, art)
    manifest = json.loads((art / MANIFEST_FILE).read_text())
    manifest["env_id"] = "\x1b]0;PWNED\x07CartPole-v1\u202e"
    write_manifest(art, manifest)
    assert main(["show", str(art)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b]0;PWNED\\x07" in out
    with pytest.raises(NeuroqError, match="env_id holds control characters"):
        load_artifact(art)


def test_a_dataset_without_a_dataspace_and_a_fifo_are_no_crash(tmp_path):
    """A review: a dataset of h5py.Empty made the check raise TypeError (None * itemsize);
    the capped read of a FIFO would wait for a writer."""
    import io
    import os

    from neuroq.deploy.nir_file import check_graph_file, read_capped_bytes

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("node").create_dataset("empty", data=h5py.Empty("f4"))
    with h5py.File(io.BytesIO(buf.getvalue()), "r") as f:
        check_graph_file(f, "x")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NeuroqError, match="is not a regular file"):
        read_capped_bytes(tmp_path / "fifo")


def test_text_in_a_neuron_s_fields_is_no_number_and_a_no_break_space_is_no_control(tmp_path):
    """A review: text was refused in the weights only (metadata "1" was read as 1.0), and a
    name with a no-break space or a new emoji was called "control characters"."""
    from neuroq.deploy.errors import has_control, printable

    art = tmp_path / "art"
    shutil.copytree(SHIPPED, art)
    with h5py.File(art / WEIGHTS_FILE, "a") as f:
        meta = f["node/nodes/layer0/metadata"]
        del meta["alpha_decay"]
        meta["alpha_decay"] = np.array([b"1"] * f["node/nodes/layer0_w/weight"].shape[0])
    _rehashed(art)
    with pytest.raises(NeuroqError, match="metadata 'alpha_decay' must be real numbers"):
        load_artifact(art)
    assert not has_control("hidden\u00a0layer \U0001FAE8") and has_control("a\u2028b")
    assert printable("x\u00a0y\x1b") == "x\u00a0y\\x1b"


def test_variable_length_strings_count_as_the_objects_they_become(tmp_path):
    """A recheck: node/edges replaced by 8,000,000 x 2 variable-length strings (205 kB on
    disk, under the cap at their 16-byte references) took 767 MB in eval and 1.44 GB in
    `neuroq import` before nir refused the graph."""
    def many_strings(f, _):
        del f["node/edges"]
        f["node"].create_dataset("edges", shape=(8_000_000, 2), dtype=h5py.string_dtype(),
                                 chunks=(100_000, 2), compression="gzip")

    art = _crafted(tmp_path, many_strings)
    with pytest.raises(NeuroqError,
                       match="brings the graph's data, counted as read into memory, above"):
        load_artifact(art)


def test_what_lies_outside_the_graph_group_is_never_read_nor_refused(tmp_path):
    """nir.read reads /node only. An outsider's ordinary files held a provenance table of a
    compound type, a named datatype and a second link to a weight outside it, and were
    refused; a link to another file there is not followed either (nothing reads it)."""
    from neuroq.deploy.policy import load_policy

    def extras(f, _):
        f["extra"] = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f4")])
        f["extra_float_t"] = np.dtype("<f4")
        f["aliases/w"] = f["node/nodes"][sorted(f["node/nodes"])[1]]
        f["elsewhere"] = h5py.ExternalLink("/etc/passwd", "/x")
        f.create_dataset("huge", shape=(55_000, 55_000), dtype="i1", chunks=(1000, 1000),
                         compression="gzip")

    art = _crafted(tmp_path, extras)
    obs = np.random.default_rng(0).normal(0, 0.5, (200, 4)).astype(np.float32)
    assert np.array_equal(load_policy(art).run_batch(obs).actions,
                          load_policy(SHIPPED).run_batch(obs).actions)
    # the same under /node is refused as before
    with pytest.raises(NeuroqError, match="holds .* values, neither numbers nor text"):
        load_artifact(_crafted(tmp_path / "b", lambda f, _: f["node/metadata"].create_dataset(
            "t", data=np.zeros(3, dtype=[("a", "<i4"), ("b", "<f4")]))))
