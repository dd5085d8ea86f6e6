"""Recorded event files: Prophesee .raw (EVT 3.0) and AEDAT 4.

- Prophesee .raw: ASCII header lines starting with `%` (`% format EVT3;height=H;width=W`,
  `% geometry WxH`, ..., `% end`) followed by EVT 3.0 words; read and written in chunks.
- AEDAT 4 (iniVation DV): written here in numpy (uncompressed, one event stream); read
  through the optional `aedat` package (the `events` extra).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from typing import Any, Self

import numpy as np

from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.events.evt3_decoders import make_evt3_decoder
from neuroq.deploy.events.evt3_encode import encode_evt3, time_words
from neuroq.deploy.events.evt3_words import (
    EVT3_COORD_BITS,
    EVT3_CORRUPT_TYPES,
    EVT3_MAX_COORD,
    EVT3_TIME_HIGH,
    EVT3_TIME_LOW_BITS,
    EVT3_TYPE_SHIFT,
    EVT3_WRAP_DROP,
)
from neuroq.deploy.events.stats import DecodeStats
from neuroq.envs.event_array import check_events, concat_events, make_events

RAW_HEADER_END = "% end"
"""Last header line of a Prophesee .raw file written by recent Metavision versions."""
RAW_CHUNK_BYTES = 1 << 16
"""Default read size of `RawReader`: 64 KiB = 32 k EVT 3.0 words per chunk. Larger chunks
decoded slower per event here, with both decoders (data and events leave the CPU's cache):
sensor-like bursts with `evt3` 104 / 62 / 53 M events per CPU-second at 64 KiB / 1 MiB /
4 MiB, with numpy 36 / 25 / 22 (load average 14 on the 2-core machine)."""
RAW_CHECK_BYTES = 1 << 20
"""How much of a .raw file's data `RawReader` looks at when it opens the file, to tell
EVT 3.0 from other bytes (`check_evt3_start`): 512 k words, more than a sensor sends
between two TIME_HIGH words (every 4.096 ms) at 50 M events/s."""
RAW_CORRUPT_BLOCK_BYTES = 2048
"""`RawReader` skips garbage in blocks of this many bytes (1024 words, about one 1 ms packet
of a driver at 1 M events/s): a block that holds RAW_GARBAGE_WORDS words of an undefined
type or more is skipped whole with the blocks on either side of it (counted in
corrupt_packets, its undefined words in corrupt_words), as the event node skips a packet
that holds one. The neighbours go too because garbage is mostly words of defined types:
1000 random bytes inserted into an outsider's 8 s recording were read as TIME_HIGH words
and wraps, 8 s of camera time became 75 s, and the replay sent a 67 s "silence" the node
acted on."""
RAW_GARBAGE_WORDS = 4
"""Undefined words in one block that make it garbage (`RAW_CORRUPT_BLOCK_BYTES`): random
bytes hold about 5 in 16 (a block of them about 320); fewer, a damaged word or two in a
recording, are skipped alone and the block read (a few damaged words do not spoil a
recording). Not caught: garbage of fewer than about a dozen words, or only of defined
types."""
RAW_MIN_CORRUPT_WORDS = 16
"""However short the data, this many words of an undefined type at its start are read past
(counted), not taken as a sign that the file is not EVT 3.0."""
RAW_MAX_CORRUPT_FRACTION = 0.05
"""The largest share of words of an undefined type (`EVT3_CORRUPT_TYPES`) that the start
of a .raw file's data may hold. A sensor's stream has none; bytes that are not EVT 3.0 have
about 5 in 16 (uniformly random bytes: 31-33 % measured on 5000-byte files), and a
stream's few damaged words are far below it."""




# ------------------------------------------------------------------------------------------
# Prophesee .raw files (EVT 3.0)
# ------------------------------------------------------------------------------------------
_FORMAT_RE = re.compile(r"^format\s+(\w+)(.*)$", re.IGNORECASE)
_GEOMETRY_RE = re.compile(r"^geometry\s+(\d+)\s*x\s*(\d+)", re.IGNORECASE)


def check_evt3_start(data: bytes) -> str:
    """Why the first bytes of a .raw file's data (after its header) are not EVT 3.0, or ''
    when they may be: more than RAW_MAX_CORRUPT_FRACTION of their words (and more than
    RAW_MIN_CORRUPT_WORDS) are of a type the format does not define, or none is a TIME_HIGH
    (a sensor's stream starts with one, and no event can be decoded before it: text has
    none). Fewer than 2 bytes: ''."""
    n = len(data) // 2
    if n == 0:
        return ""
    types = np.frombuffer(data, dtype="<u2", count=n) >> EVT3_TYPE_SHIFT
    counts = np.bincount(types, minlength=16)
    corrupt = int(sum(counts[t] for t in EVT3_CORRUPT_TYPES))
    if corrupt > max(RAW_MAX_CORRUPT_FRACTION * n, RAW_MIN_CORRUPT_WORDS):
        return (f"{corrupt} of the first {n} words ({100 * corrupt / n:.0f} %) are of no "
                "EVT 3.0 type")
    if counts[EVT3_TIME_HIGH] == 0:
        return f"none of the first {n} words is an EVT 3.0 time word (TIME_HIGH)"
    return ""


def _parse_raw_header(lines: list[str]) -> tuple[dict[str, str], int, int, str, str]:
    """(the header's key -> value, width, height (-1: not given), format, a conflict: '' or
    what two lines say of the sensor size when they differ, or a size the format line gives
    that is no count of pixels, such as `height=-5`). The `% format` line's size comes
    before `% geometry`'s."""
    header: dict[str, str] = {}
    fmt_size = [-1, -1]
    unreadable: list[str] = []  # width=/height= items that are no count of pixels
    geometry: tuple[int, int] | None = None
    fmt = ""
    for line in lines:
        body = line[1:].strip()
        if not body or body == "end":
            continue
        key, _, value = body.partition(" ")
        header[key] = value.strip()
        m = _FORMAT_RE.match(body)
        if m:
            fmt = m.group(1).upper()
            for item in m.group(2).split(";"):
                k, _, v = item.partition("=")
                if k.strip() in ("width", "height") and not v.strip().isdigit():
                    unreadable.append(f"{k.strip()}={v.strip()}"[:40])
                elif k.strip() == "width":
                    fmt_size[0] = int(v)
                elif k.strip() == "height":
                    fmt_size[1] = int(v)
        m = _GEOMETRY_RE.match(body)
        if m:
            geometry = (int(m.group(1)), int(m.group(2)))
        if key == "evt" and not fmt:
            fmt = "EVT3" if value.strip().startswith("3") else f"EVT{value.strip()}"
    width, height = fmt_size
    conflict = ""
    if unreadable:  # -5 was read as "no sensor size" (an outsider's fuzzing, stop 40)
        conflict = f"its format line gives {', '.join(unreadable)}: no size in pixels"
    elif geometry is not None:
        if all(given in (-1, g) for given, g in zip(fmt_size, geometry, strict=True)):
            width, height = geometry  # the format line gives none, or only agreeing parts
        else:
            said = "x".join(str(v) if v >= 0 else "?" for v in fmt_size)
            conflict = (f"its format line gives a {said} sensor, its geometry line "
                        f"{geometry[0]}x{geometry[1]}")
    return header, width, height, fmt, conflict


def _event_file(path: str | os.PathLike, kind: str) -> str:
    """`path` as a string, once it names a file that exists; NeuroqError (one line) for a
    folder or a missing path, naming `kind` ("a Prophesee .raw", ...)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        raise NeuroqError(f"{p} is a folder, not a file: give {kind} file")
    if not os.path.isfile(p):
        raise NeuroqError(f"event file not found: {p}: give {kind} path")
    return p


class RawReader:
    """Reads a Prophesee EVT 3.0 .raw file in chunks: `for events, stats in reader:`.

    path: the .raw file. chunk_bytes: bytes read per chunk.
    width/height: sensor size from the header (`% format EVT3;height=..;width=..` or
    `% geometry WxH`); pass both to override or when the header has none.
    decoder: the EVT 3.0 decoder, "auto" (the `evt3` package where installed, else numpy),
        "evt3" or "numpy"; `decoder_name` says which one runs.
    Raises NeuroqError when the path is missing or a folder, when only one of width and
    height is given, for an unusable `decoder`, and when the file is not EVT 3.0: empty; a
    header naming another format; no header (no `%` lines) and no size given; a header
    naming neither a format nor a sensor size; or data whose start is not EVT 3.0
    (`check_evt3_start`). Bad words further in are counted in `stats`, not raised.
    """

    def __init__(self, path: str | os.PathLike, chunk_bytes: int = RAW_CHUNK_BYTES,
                 width: int | None = None, height: int | None = None, decoder: str = "auto"):
        self.path = _event_file(path, "a Prophesee .raw")
        if (width is None) != (height is None):
            raise NeuroqError(f"{self.path}: give the sensor size as both width and height "
                              f"(got only {'width' if height is None else 'height'})")
        if os.path.getsize(self.path) == 0:
            raise NeuroqError(f"{self.path} is empty (0 bytes): not a Prophesee .raw "
                              "(EVT 3.0) recording")
        if chunk_bytes < 2:
            raise NeuroqError(f"RawReader: chunk_bytes must be >= 2, got {chunk_bytes}")
        self.chunk_bytes = int(chunk_bytes)
        lines: list[str] = []
        cut = False  # the file ended inside its header: no `% end`, no data after it
        with open(self.path, "rb") as f:
            while True:
                pos = f.tell()
                first = f.read(1)
                if first != b"%":
                    cut = bool(lines) and not first
                    f.seek(pos)
                    break
                line = (first + f.readline()).decode("ascii", errors="replace").rstrip("\r\n")
                lines.append(line)
                if line.strip() == RAW_HEADER_END:
                    break
            self.data_offset = f.tell()
            start = f.read(RAW_CHECK_BYTES)
        if cut:
            raise NeuroqError(f"{self.path}: ends inside its header (no '{RAW_HEADER_END}' "
                              f"line and no data after its last line, {lines[-1][:60]!r}): "
                              "a truncated recording")
        self.header, hw, hh, fmt, conflict = _parse_raw_header(lines)
        if conflict and (width is None or height is None):  # which one is the sensor's?
            raise NeuroqError(f"{self.path}: {conflict}: give the sensor size (`neuroq replay "
                              f"--width W --height H`, or RawReader(path, width=W, "
                              f"height=H))")
        if fmt and fmt != "EVT3":
            raise NeuroqError(
                f"{self.path}: encoding {fmt} is not supported; only EVT 3.0 .raw files are "
                f"read (convert with Metavision's tools)"
            )
        self.header_width, self.header_height = hw, hh  # as the header gives them (-1: none)
        self.header_conflict = conflict  # two sizes, or an unreadable one ('': none)
        self.width = int(width) if width is not None else hw
        self.height = int(height) if height is not None else hh
        header_bad = width is None and (min(hw, hh) == 0 or min(hw, hh) < -1)
        if max(self.width, self.height) > EVT3_MAX_COORD + 1 or header_bad:
            # an outsider's header of 99999999x99999999 was read without a word, one of
            # -5x-5 said "no sensor size"
            raise NeuroqError(f"{self.path}: sensor size {self.width}x{self.height} cannot "
                              f"be an EVT 3.0 sensor's (1 to {EVT3_MAX_COORD + 1} pixels a "
                              "side: 11-bit coordinates); give it (`neuroq replay --width W "
                              "--height H`, or RawReader(path, width=W, height=H))")
        if self.width <= 0 or self.height <= 0:
            if not lines:
                raise NeuroqError(
                    f"{self.path}: no Prophesee header (its first byte is not '%'): not a "
                    f".raw (EVT 3.0) recording, or one whose header was removed; if it holds "
                    f"EVT 3.0 data, give its sensor size (`neuroq replay --width W --height "
                    f"H`, or RawReader(path, width=W, height=H))")
            if not fmt:
                raise NeuroqError(
                    f"{self.path}: its header names no event format (`% evt 3.0` or "
                    f"`% format EVT3;...`) and no sensor size: not a Prophesee EVT 3.0 "
                    f".raw file")
            raise NeuroqError(
                f"{self.path}: the header gives no sensor size; give it (`neuroq replay "
                f"--width W --height H`, or RawReader(path, width=W, height=H))"
            )
        why = check_evt3_start(start)
        if why:
            # without `% end`, a data byte '%' (0x25, e.g. a TIME_HIGH word's low byte) at
            # the start reads as one more header line, and the data then starts mid-word
            binary = bool(lines) and lines[-1].strip() != RAW_HEADER_END and any(
                not 32 <= ord(c) < 127 for c in lines[-1])
            hint = ("" if not binary else
                    f"; or the header has no '{RAW_HEADER_END}' line and its data starts "
                    "with the byte '%' (0x25), read as one more header line: end the header "
                    f"with '{RAW_HEADER_END}'")
            raise NeuroqError(f"{self.path}: not EVT 3.0 data: {why} (a damaged file, or "
                              f"another format{hint})")
        self.decoder = decoder
        self.decoder_name = make_evt3_decoder(self.width, self.height, decoder).name
        self.stats = DecodeStats()
        self.time_us = -1
        """Camera time the file has reached so far (us; its time words included, so it can
        lie past the last event; -1 before the first TIME_HIGH)."""

    def __iter__(self) -> Iterator[tuple[np.ndarray, DecodeStats]]:
        decoder = make_evt3_decoder(self.width, self.height, self.decoder)
        skip_first = False  # the block before this chunk was garbage (RAW_GARBAGE_WORDS)
        with open(self.path, "rb") as f:
            f.seek(self.data_offset)
            while True:
                chunk = f.read(self.chunk_bytes)
                if not chunk:
                    break
                stats = DecodeStats()
                # blocks need whole words from the chunk's start (no odd byte carried)
                whole = not decoder.pending_bytes and len(chunk) % 2 == 0
                if whole and (skip_first or decoder.corrupt_words(chunk) >= RAW_GARBAGE_WORDS):
                    events, skip_first = _without_damage(decoder, chunk, stats, skip_first)
                else:
                    events, skip_first = decoder.decode(chunk, stats, streaming=True), False
                self.stats.add(stats)
                self.time_us = decoder.time_us()
                yield events, stats
        self.stats.truncated_bytes += decoder.pending_bytes

    def read_all(self) -> np.ndarray:
        """All events of the file in one array."""
        parts = [events for events, _ in self]
        return concat_events(parts)


def _without_damage(decoder: Any, chunk: bytes, stats: DecodeStats,
                    skip_first: bool) -> tuple[np.ndarray, bool]:
    """Decode `chunk` (whole words) in RAW_CORRUPT_BLOCK_BYTES blocks, skipping each block
    that holds RAW_GARBAGE_WORDS undefined words or more and the blocks beside it (and the
    first block, `skip_first`, where the chunk before ended in such a block); the events
    and whether the last block was garbage."""
    size = RAW_CORRUPT_BLOCK_BYTES
    blocks = [chunk[i:i + size] for i in range(0, len(chunk), size)]
    corrupt = [decoder.corrupt_words(block) for block in blocks]
    garbage = [n >= RAW_GARBAGE_WORDS for n in corrupt]
    parts = []
    for i, block in enumerate(blocks):
        if any(garbage[max(i - 1, 0):i + 2]) or (i == 0 and skip_first):
            stats.packets += 1
            stats.corrupt_packets += 1
            stats.corrupt_words += corrupt[i]
        else:
            parts.append(decoder.decode(block, stats, streaming=True))
    return concat_events(parts), garbage[-1]


class _FileWriter:
    """An event file being written: `close()` once, or use it as a context manager."""

    _file: io.BufferedWriter | None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RawWriter(_FileWriter):
    """Writes a Prophesee EVT 3.0 .raw file: header, then `write(events)` chunks in time order.

    Use as a context manager. Raises NeuroqError when a chunk starts before the previous one
    ended, or when events lie outside the sensor.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int,
                 extra_header: dict[str, str] | None = None):
        if not (0 < width <= 1 << EVT3_COORD_BITS and 0 < height <= 1 << EVT3_COORD_BITS):
            raise NeuroqError(f"RawWriter: sensor size must be within 2048x2048, got "
                              f"{width}x{height}")
        self.path = os.fspath(path)
        self.width, self.height = int(width), int(height)
        self._last_t: int | None = None
        self._file: io.BufferedWriter | None = open(self.path, "wb")  # noqa: SIM115
        lines = [
            "% camera_integrator_name neuroq",
            "% evt 3.0",
            f"% format EVT3;height={self.height};width={self.width}",
            f"% geometry {self.width}x{self.height}",
        ]
        lines += [f"% {k} {v}" for k, v in (extra_header or {}).items()]
        lines.append(RAW_HEADER_END)
        self._file.write(("\n".join(lines) + "\n").encode("ascii"))

    def write(self, events: np.ndarray) -> None:
        """Append events (any order within the chunk; chunks in time order)."""
        if self._file is None:
            raise NeuroqError("RawWriter: write() after close()")
        events = check_events(events, "RawWriter.write")
        if events.size == 0:
            return
        if events["x"].max() >= self.width or events["y"].max() >= self.height:
            raise NeuroqError(
                f"RawWriter.write: events outside the {self.width}x{self.height} sensor"
            )
        words = encode_evt3(events, previous_t_us=self._last_t)
        self._file.write(words.astype("<u2").tobytes())
        self._last_t = int(events["t"].max())

    def write_time(self, t_us: int) -> None:
        """Append time words that take camera time to `t_us` with no event (what a sensor
        sends while no pixel fires: a reader, or a replay, then knows the stream went on to
        there). `t_us` must not lie before the last event written, nor more than half the
        24-bit time range (8.4 s) after it (one TIME_HIGH step would be read as a wrap)."""
        if self._file is None:
            raise NeuroqError("RawWriter: write_time() after close()")
        last = -1 if self._last_t is None else self._last_t
        if not last <= t_us < last + (EVT3_WRAP_DROP << EVT3_TIME_LOW_BITS):
            raise NeuroqError(f"RawWriter.write_time: {t_us} us is before the last event "
                              f"({last} us) or too far after it")
        self._file.write(time_words(t_us))
        self._last_t = int(t_us)




# ------------------------------------------------------------------------------------------
# AEDAT 4 files (iniVation DV): writer in numpy, reader through the `aedat` package
# ------------------------------------------------------------------------------------------
AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"
"""First bytes of an AEDAT 4 file. Layout (iniVation DV documentation): magic, uint32 length
of the IOHeader FlatBuffer, the IOHeader (compression, data-table position, an XML
description of the streams), then packets: int32 stream id, uint32 size, and a size-prefixed
FlatBuffer whose identifier names the stream type ("EVTS" for polarity events)."""
AEDAT4_EVENT_BYTES = 16
"""One AEDAT 4 polarity event: int64 t (us), int16 x, int16 y, bool on, 3 padding bytes."""
_AEDAT4_EVENT = np.dtype({"names": ["t", "x", "y", "on"],
                          "formats": ["<i8", "<i2", "<i2", "u1"],
                          "offsets": [0, 8, 10, 12], "itemsize": AEDAT4_EVENT_BYTES})


def _u32(value: int) -> bytes:
    return int(value).to_bytes(4, "little")


def _aedat4_ioheader(width: int, height: int) -> bytes:
    """IOHeader FlatBuffer (no compression, no data table) describing one event stream."""
    description = (
        '<dv version="2.0"><node name="outInfo" path="/mainloop/neuroq/outInfo/">'
        '<node name="0" path="/mainloop/neuroq/outInfo/0/">'
        '<attr key="compression" type="string">NONE</attr>'
        '<attr key="originalOutputName" type="string">events</attr>'
        '<attr key="typeIdentifier" type="string">EVTS</attr>'
        '<node name="info" path="/mainloop/neuroq/outInfo/0/info/">'
        f'<attr key="sizeX" type="int">{width}</attr>'
        f'<attr key="sizeY" type="int">{height}</attr>'
        "</node></node></node></dv>"
    ).encode("ascii")
    # root offset | "IOHE" | vtable (10 B) + 6 pad | table @24: soffset, compression,
    # file_data_position (int64, 8-aligned), description offset | string @44
    vtable = np.array([10, 20, 4, 8, 16], dtype="<u2").tobytes() + bytes(6)
    table_at, string_at = 24, 44
    table = (np.int32(table_at - 8).tobytes() + np.int32(0).tobytes()
             + np.int64(-1).tobytes() + _u32(string_at - (table_at + 16)))
    string = _u32(len(description)) + description + b"\0"
    buf = _u32(table_at) + b"IOHE" + vtable + table + string
    return buf + bytes(-len(buf) % 4)


def _aedat4_event_packet(events: np.ndarray) -> bytes:
    """Size-prefixed EventPacket FlatBuffer holding `events`."""
    elements = np.zeros(events.size, dtype=_AEDAT4_EVENT)
    elements["t"] = events["t"]
    elements["x"] = events["x"]
    elements["y"] = events["y"]
    elements["on"] = events["p"]
    # root offset | "EVTS" | vtable (6 B) + 2 pad | table @16: soffset, vector offset |
    # 4 pad | vector @28: length, elements @32 (8-aligned)
    vtable = np.array([6, 8, 4], dtype="<u2").tobytes() + bytes(2)
    table_at, vector_at = 16, 28
    table = np.int32(table_at - 8).tobytes() + _u32(vector_at - (table_at + 4))
    buf = (_u32(table_at) + b"EVTS" + vtable + table + bytes(4) + _u32(events.size)
           + elements.tobytes())
    return _u32(len(buf)) + buf


class Aedat4Writer(_FileWriter):
    """Writes an uncompressed AEDAT 4 file with one polarity-event stream (id 0), so tests
    and tools can make their own recordings. Context manager; `write(events)` per packet."""

    def __init__(self, path: str | os.PathLike, width: int, height: int):
        if not (0 < width < 1 << 15 and 0 < height < 1 << 15):
            raise NeuroqError(f"Aedat4Writer: sensor size must be within 32767x32767, got "
                              f"{width}x{height}")
        self.width, self.height = int(width), int(height)
        self._file: io.BufferedWriter | None = open(os.fspath(path), "wb")  # noqa: SIM115
        header = _aedat4_ioheader(self.width, self.height)
        self._file.write(AEDAT4_MAGIC + _u32(len(header)) + header)

    def write(self, events: np.ndarray) -> None:
        if self._file is None:
            raise NeuroqError("Aedat4Writer: write() after close()")
        events = check_events(events, "Aedat4Writer.write")
        if events.size == 0:
            return
        if events["x"].max() >= self.width or events["y"].max() >= self.height:
            raise NeuroqError(f"Aedat4Writer.write: events outside the {self.width}x"
                              f"{self.height} sensor")
        packet = _aedat4_event_packet(events)
        self._file.write(np.int32(0).tobytes() + _u32(len(packet)) + packet)


def read_aedat4(path: str | os.PathLike) -> Iterator[tuple[np.ndarray, int, int]]:
    """Yield (events, width, height) for each polarity-event packet of an AEDAT 4 file.

    Decoding is done by the `aedat` package (a maintained Rust-backed AEDAT 4 reader; it also
    handles LZ4 and Zstd compressed files); frames, IMU and trigger packets are skipped.
    Raises NeuroqError when the package is missing, the file is not AEDAT 4, or (while
    reading) a packet is damaged or cut off.
    """
    try:
        import aedat  # noqa: PLC0415  (optional dependency)
    except ImportError as exc:
        raise NeuroqError("reading AEDAT 4 files needs the `aedat` package: "
                          "pip install aedat (or, in the neuroq clone, pip install "
                          "\".[events]\")") from exc
    path = _event_file(path, "an AEDAT 4 (.aedat4)")
    try:
        decoder = aedat.Decoder(path)
        streams = decoder.id_to_stream()
    except Exception as exc:  # the package raises plain exceptions on bad files
        raise NeuroqError(f"{path}: not a readable AEDAT 4 file ({exc})") from exc
    packets = iter(decoder)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - plain exceptions again (a cut file)
            raise NeuroqError(f"{path}: cannot read past a damaged or truncated packet "
                              f"({exc})") from None
        if "events" not in packet:
            continue
        raw = packet["events"]
        stream = streams.get(packet["stream_id"], {})
        polarity = raw["on"] if "on" in raw.dtype.names else raw["p"]
        events = make_events(raw["x"], raw["y"], raw["t"], polarity.astype(np.uint8))
        yield events, int(stream.get("width", 0)), int(stream.get("height", 0))
