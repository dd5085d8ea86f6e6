"""Event-camera events on the robot side: formats, codecs, files, replay and windowing.

Events are a numpy structured array of `EVENT_DTYPE` (`neuroq.envs.event_array`: x, y in
pixels, t in microseconds, p = 1 ON / 0 OFF). The modules of this package, one concept each:

- `evt3_words`: EVT 3.0, the Prophesee 16-bit word format that Metavision sensors stream and
  that `metavision_driver` puts in `event_camera_msgs/EventPacket` as is: word types and time
  rules. Source: Prophesee Metavision documentation, "EVT 3.0 Format".
- `evt3_encode`: the EVT 3.0 encoder (our writers, the simulated camera, tests).
- `evt3_decoders`: which EVT 3.0 stream decoder runs: `evt3_rust` (the `evt3` package from
  PyPI, a Rust decoder, with neuroq's validation around it) where it is installed, else
  `evt3_numpy` (`decode_evt3`, vectorised numpy; also the tests' reference).
- `mono`: the deprecated 64-bit `mono` encoding of event_camera_msgs (still read).
- `packets`: EventPacket payloads by encoding name; `PacketDecoder` keeps one stream's state.
- `stats`: `DecodeStats`, what a decode saw and skipped, per reason.
- `files`: Prophesee .raw files (EVT 3.0) and AEDAT 4 files.
- `replay`: recorded events cut into driver-sized packets and paced in real time.
- `stream`: a live stream cut into the control periods of a spiking policy.
- `jumps`: a live stream's camera time held to the host's clock (garbage read as time).

Decoding never raises on bad data: truncated words, reserved word types, events before the
state they need, events outside the sensor and time going backwards are counted in
`DecodeStats` and skipped, so one bad packet from a driver cannot stop a robot. Encoding,
which only our own code and tests call, raises `NeuroqError` on bad arguments.

This package re-exports the names robot code uses, so `from neuroq.deploy.events import
PacketDecoder` is the one way to import them.
"""

from neuroq.deploy.events.evt3_decoders import (
    EVT3_DECODERS,
    evt3_decoder_name,
    make_evt3_decoder,
)
from neuroq.deploy.events.evt3_encode import encode_evt3, sort_events
from neuroq.deploy.events.evt3_numpy import Evt3State, decode_evt3
from neuroq.deploy.events.evt3_words import (
    EVT3_ADDR_X,
    EVT3_ADDR_Y,
    EVT3_EXT_TRIGGER,
    EVT3_TIME_HIGH,
    EVT3_TIME_LOW,
    EVT3_TIME_LOW_BITS,
    EVT3_TIME_WRAP_US,
    EVT3_VECT_8,
    EVT3_VECT_12,
    EVT3_VECT_BASE_X,
)
from neuroq.deploy.events.files import (
    AEDAT4_MAGIC,
    Aedat4Writer,
    RawReader,
    RawWriter,
    read_aedat4,
)
from neuroq.deploy.events.jumps import DEFAULT_MAX_JUMP_MS, MIN_MAX_JUMP_MS, TimeJumpGuard
from neuroq.deploy.events.mono import US_PER_S, decode_mono, encode_mono
from neuroq.deploy.events.packets import (
    ENCODINGS,
    PacketDecoder,
    decode_packet,
    encode_packet,
    mislabelled,
    skip_details,
)
from neuroq.deploy.events.replay import DRIVER_PACKET_US, Pacer, paced, packetize
from neuroq.deploy.events.stats import DecodeStats
from neuroq.envs.event_array import (
    EVENT_DTYPE,
    empty_events,
    from_columns,
    make_events,
    to_columns,
)

__all__ = [
    "AEDAT4_MAGIC", "DEFAULT_MAX_JUMP_MS", "DRIVER_PACKET_US", "ENCODINGS", "EVENT_DTYPE",
    "EVT3_ADDR_X", "EVT3_ADDR_Y",
    "EVT3_DECODERS", "EVT3_EXT_TRIGGER", "EVT3_TIME_HIGH", "EVT3_TIME_LOW", "EVT3_TIME_LOW_BITS",
    "EVT3_TIME_WRAP_US", "EVT3_VECT_12", "EVT3_VECT_8", "EVT3_VECT_BASE_X", "MIN_MAX_JUMP_MS",
    "US_PER_S",
    "Aedat4Writer", "DecodeStats", "Evt3State", "PacketDecoder", "RawReader", "RawWriter",
    "decode_evt3", "decode_mono", "decode_packet", "empty_events", "encode_evt3", "encode_mono",
    "encode_packet", "evt3_decoder_name", "from_columns", "make_events", "make_evt3_decoder",
    "mislabelled", "Pacer", "TimeJumpGuard", "paced", "packetize", "read_aedat4",
    "skip_details", "sort_events", "to_columns"
]
