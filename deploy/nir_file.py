"""Reading a NIR graph file (HDF5) that may come from anyone.

An artifact's `network.nir.h5` and a graph given to `neuroq import` are files from other
people. The SHA-256 in an artifact's manifest says that the file is the one its manifest
names; it says nothing of what the file asks HDF5 to do while it is read. `nir.read` reads
every dataset of the file, and HDF5 follows what the file says:
- an external link or external storage reads another file of this machine (an outsider's
  artifact took its output weights from /etc/passwd, and put /proc/self/environ into an
  error message and the ROS log);
- a virtual dataset maps other files in (read from memory, it crashed the process with a
  segmentation fault: every loader, the policy node too);
- a chunked, compressed dataset declares any shape at almost no size on disk (a 205 kB
  file took 3 GB of memory, and a larger one would take what the machine has);
- a filter that HDF5 does not build in is looked up as a plugin, a shared library;
- hard links can make a cycle, and groups can nest without end (RecursionError).

`check_graph_file` walks the graph's group (/node, all that nir.read reads) first,
following no link and reading no data, and refuses each of these with one line
(NeuroqError): links other than hard links, an object reached twice, nesting deeper than
MAX_DEPTH, datasets with external storage or virtual ones, filters other than HDF5's own
and h5py's LZF, types other than numbers and strings, and more than MAX_GRAPH_BYTES
declared in all. What lies outside /node is never read, so not refused (an exporter's
provenance table, an alias of a weight: an outsider's files). `read_graph_bytes` reads the
graph from the bytes it checked. Needs h5py and nir only (no torch): the robot side uses it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from neuroq.deploy.errors import NeuroqError

MAX_FILE_BYTES = 1 << 30
"""Largest NIR graph file read (bytes): a network of about a billion int8 weights, thousands
of times what SpiNNaker2's SRAM holds (docs/chip.md); the file is read whole, so that the
bytes checked (and hashed, for an artifact) are the bytes parsed."""

MAX_GRAPH_BYTES = 256 << 20
"""Most bytes a graph's datasets may declare in all, once read: about 13 times the 19 MiB
of SRAM of SpiNNaker2's 152 PEs (docs/chip.md), and far above any network neuroq trains (the
shipped ones declare 0.1-0.4 MB). Compressed datasets declare more than they take on disk,
so the file's size does not bound this."""

VLEN_STRING_BYTES = 64
"""What one variable-length string of a dataset costs once read, counted against
MAX_GRAPH_BYTES (bytes): its 16-byte reference in the file, but a Python object of 33-49
bytes besides its text once read (sys.getsizeof of b"" and ""). Counted at 16, a recheck's
205 kB file of 16 million empty strings took 1.44 GB in `neuroq import`."""

MAX_DEPTH = 32
"""Deepest nesting of groups read (a graph's nodes sit 4 deep; nested subgraphs add 2 a
level)."""

GRAPH_GROUP = "node"
"""The group of a NIR file that holds the graph, the only one `nir.read` reads."""

ALLOWED_FILTERS = {1: "deflate (gzip)", 2: "shuffle", 3: "fletcher32", 4: "szip",
                   5: "nbit", 6: "scaleoffset", 32000: "lzf"}
"""HDF5's built-in filters and h5py's LZF (nir writes gzip): any other filter id is loaded
by HDF5 as a plugin, a shared library from its plugin path."""


def read_capped_bytes(path: Path, what: str = "NIR graph file") -> bytes:
    """The file's bytes, read once through one descriptor; NeuroqError for no regular file
    or more than MAX_FILE_BYTES (also for a file that grows, or one that states no size,
    while it is read)."""
    import stat

    if not path.is_file():  # before opening: a FIFO's open waits for a writer
        raise NeuroqError(f"{what} {path} is not a regular file")
    with open(path, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise NeuroqError(f"{what} {path} is not a regular file")
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise NeuroqError(f"{path} holds more than {MAX_FILE_BYTES:,} bytes, more than any "
                          "network neuroq runs: the file is not a NIR graph of one")
    return data


def check_graph_file(f: Any, where: str) -> None:
    """NeuroqError for anything in the open h5py File `f` that reading it would turn into
    another file's contents, a crash or an allocation beyond MAX_GRAPH_BYTES (module
    docstring); reads no dataset."""
    import h5py

    seen: set[Any] = set()
    declared = 0

    def refuse(name: str, problem: str,
               why: str = "a graph file neuroq or a NIR exporter writes has none") -> None:
        raise NeuroqError(f"{where}: {name!r} {problem}: not read ({why})")

    def walk(group: Any, prefix: str, depth: int) -> None:
        nonlocal declared
        if depth > MAX_DEPTH:
            refuse(prefix, f"nests groups more than {MAX_DEPTH} deep")
        for name in group:
            path = f"{prefix}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                refuse(path, "is a link to another file")
            if isinstance(link, h5py.SoftLink):
                refuse(path, "is a soft link")
            obj = group[name]
            info = h5py.h5o.get_info(obj.id)
            key = (info.fileno, info.addr)
            if key in seen:
                refuse(path, "is an object reached a second time (a hard link: a cycle, or "
                             "one dataset read twice)")
            seen.add(key)
            if isinstance(obj, h5py.Group):
                walk(obj, path, depth + 1)
                continue
            if not isinstance(obj, h5py.Dataset):
                refuse(path, "is neither a group nor a dataset")
            plist = obj.id.get_create_plist()
            if plist.get_external_count() > 0:
                refuse(path, "keeps its data in another file (external storage)")
            if obj.is_virtual:
                refuse(path, "is a virtual dataset (its data mapped from other files)")
            for i in range(plist.get_nfilters()):
                code = plist.get_filter(i)[0]
                if code not in ALLOWED_FILTERS:
                    refuse(path, f"needs HDF5 filter {code}, a plugin (a shared library)")
            kind = obj.dtype.kind
            if kind not in "biufS" and not (kind == "O"
                                             and h5py.check_string_dtype(obj.dtype)):
                refuse(path, f"holds {obj.dtype} values, neither numbers nor text")
            per_value = VLEN_STRING_BYTES if kind == "O" else obj.dtype.itemsize
            declared += (obj.size or 0) * per_value  # size None: no dataspace
            if declared > MAX_GRAPH_BYTES:
                # an honest exporter's file can be this large (an outsider's 64-8192-8192-2
                # network, 251 MB): the limit is said, not blamed on the file
                refuse(path, f"brings the graph's data, counted as read into memory, above "
                             f"{MAX_GRAPH_BYTES >> 20} MiB",
                       "the most neuroq reads: about 13 times what SpiNNaker2's 152 PEs "
                       "hold; float16 weights count half, int8 a quarter of float32")

    # nir.read reads the graph under /node only: what else the file holds (an exporter's
    # provenance table, a named datatype, an alias of a weight: an outsider's files) is
    # never read, so neither walked nor refused
    link = f.get(GRAPH_GROUP, getlink=True)
    if link is None:  # nir.read's KeyError, which the callers name
        return
    if isinstance(link, h5py.ExternalLink):
        refuse(f"/{GRAPH_GROUP}", "is a link to another file")
    if isinstance(link, h5py.SoftLink):
        refuse(f"/{GRAPH_GROUP}", "is a soft link")
    graph = f[GRAPH_GROUP]
    if not isinstance(graph, h5py.Group):
        refuse(f"/{GRAPH_GROUP}", "is not a group (nir.write stores the graph as one)")
    info = h5py.h5o.get_info(graph.id)
    seen.add((info.fileno, info.addr))
    walk(graph, f"/{GRAPH_GROUP}", 1)


def read_graph_bytes(data: bytes, where: str) -> Any:
    """The NIR graph in `data` (the bytes of a graph file), checked first
    (`check_graph_file`). nir.read's own errors are raised as they are (callers name them);
    NeuroqError for what the check refuses and for bytes that are no HDF5 file."""
    import h5py
    import nir

    try:
        f = h5py.File(io.BytesIO(data), "r")
    except OSError as exc:
        raise NeuroqError(f"{where} is not a readable NIR graph: not an HDF5 file "
                          f"({' '.join(str(exc).split())})") from None
    with f:
        check_graph_file(f, where)
    return nir.read(io.BytesIO(data))
