"""EVT 3.0 words: the Prophesee 16-bit word format's types and time rules.

EVT 3.0 is the format Metavision sensors (IMX636, GenX320) stream and that `metavision_driver`
puts in `event_camera_msgs/EventPacket` as is. Each little-endian 16-bit word carries its type
in the 4 most significant bits and a 12-bit payload; coordinates, polarity and time are sent
only when they change, so decoding keeps state (current y, time, vector base x). Time is 24
bits of microseconds and wraps every 2^24 us (16.8 s). Source: Prophesee Metavision
documentation, "EVT 3.0 Format" (docs.prophesee.ai/stable/data/encoding_formats/evt3.html).

The encoder is `evt3_encode`; the decoders are `evt3_numpy` (numpy, always there) and
`evt3_rust` (the `evt3` package from PyPI, with neuroq's validation); `evt3_decoders` picks one.
"""

from __future__ import annotations

# --- word types (4 MSBs of each 16-bit word). Source: Prophesee "EVT 3.0 Format". ---
EVT3_ADDR_Y = 0x0
"""Sets the current row y (bits 0-10); bit 11 is the system type (master/slave), ignored."""
EVT3_ADDR_X = 0x2
"""One event at the current y and time: x in bits 0-10, polarity in bit 11."""
EVT3_VECT_BASE_X = 0x3
"""Sets the base x (bits 0-10) and polarity (bit 11) for the following vector words."""
EVT3_VECT_12 = 0x4
"""12-bit validity mask: bit i is an event at base x + i; then base x advances by 12."""
EVT3_VECT_8 = 0x5
"""8-bit validity mask (bits 0-7) at base x; then base x advances by 8."""
EVT3_TIME_LOW = 0x6
"""Lower 12 bits of the 24-bit time base, microseconds."""
EVT3_CONTINUED_4 = 0x7
"""Extra 4-bit data for the previous word (vendor specific): ignored."""
EVT3_TIME_HIGH = 0x8
"""Upper 12 bits of the 24-bit time base, units of 4096 us. It also sets the lower 12 bits
to 0 until the next TIME_LOW, as the `evt3` package does (measured on 0.4.1). The Metavision
SDK's decoder (OpenEB, hal/.../evt3_decoder.h) does so when the TIME_HIGH value changes and
keeps them on a repeated value: only events between a repeated TIME_HIGH and the next
TIME_LOW differ, which neither sensors (TIME_LOW follows TIME_HIGH) nor our encoder send."""
EVT3_EXT_TRIGGER = 0xA
"""External trigger edge: counted in `DecodeStats.triggers`, not returned as an event."""
EVT3_OTHERS = 0xE
"""Extension words (vendor specific): ignored."""
EVT3_CONTINUED_12 = 0xF
"""Extra 12-bit data for the previous word (vendor specific): ignored."""
EVT3_KNOWN_TYPES = frozenset(
    {
        EVT3_ADDR_Y,
        EVT3_ADDR_X,
        EVT3_VECT_BASE_X,
        EVT3_VECT_12,
        EVT3_VECT_8,
        EVT3_TIME_LOW,
        EVT3_CONTINUED_4,
        EVT3_TIME_HIGH,
        EVT3_EXT_TRIGGER,
        EVT3_OTHERS,
        EVT3_CONTINUED_12,
    }
)
"""Word types the format defines."""
EVT3_CORRUPT_TYPES = frozenset(range(16)) - EVT3_KNOWN_TYPES
"""Types the format does not define (0x1, 0x9, 0xB, 0xC, 0xD): corrupt data, counted."""
EVT3_TYPE_SHIFT = 12
"""The word type is the 4 bits above the 12-bit payload."""
EVT3_PAYLOAD_MASK = (1 << EVT3_TYPE_SHIFT) - 1

EVT3_COORD_BITS = 11
"""Bits of x and y in EVT 3.0 words: sensors up to 2048 x 2048 pixels."""
EVT3_MAX_COORD = (1 << EVT3_COORD_BITS) - 1
EVT3_POLARITY_BIT = 11
"""Polarity bit of EVT_ADDR_X and VECT_BASE_X payloads."""
EVT3_VECT_12_WIDTH = 12
EVT3_VECT_8_WIDTH = 8

# --- time ---
EVT3_TIME_LOW_BITS = 12
"""Bits of TIME_LOW (and of TIME_HIGH): the time base is 24 bits of microseconds."""
EVT3_TIME_HIGH_PERIOD = 1 << EVT3_TIME_LOW_BITS
"""Number of TIME_HIGH values before the 24-bit time base wraps (4096)."""
EVT3_TIME_WRAP_US = 1 << (2 * EVT3_TIME_LOW_BITS)
"""The 24-bit time base wraps every 2^24 us = 16.78 s."""
EVT3_WRAP_DROP = EVT3_TIME_HIGH_PERIOD // 2
"""neuroq's wrap rule, the Metavision SDK decoder's (OpenEB: a wrap when the previous
TIME_HIGH >= 2048 + the new one): a TIME_HIGH value that drops by half its range (2048 x
4096 us) or more is a wrap; a smaller drop is time going backwards. It also reads a wrap
right when up to about 8 s of a stream were lost around it (dropped packets on a
best-effort link)."""
EVT3_LOOP_DROP = EVT3_TIME_HIGH_PERIOD - 1 - 10
"""The wrap rule of the `evt3` package (measured on 0.4.1): only a TIME_HIGH drop of at
least 4085 (10 steps short of the full range) is a wrap. Drops from `EVT3_WRAP_DROP` up to
this are wraps to neuroq and time going backwards to evt3: `evt3_rust` hands such data to
the numpy decoder."""
EVT3_MAX_HIGH_STEP = 8
"""Largest forward step between two TIME_HIGH words the encoder writes (8 x 4096 us): across
longer silences it inserts intermediate TIME_HIGH words, as a sensor does by sending
TIME_HIGH every 4096 us. A wrap then drops TIME_HIGH by at least 4096 - 8 = 4088 >=
`EVT3_LOOP_DROP`, so readers with evt3's stricter rule decode our streams right too (a step
of up to 11 would do; 8 leaves a margin). Cost: 1 word per 32.8 ms of silence."""
