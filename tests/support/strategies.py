"""Hypothesis strategies that build valid v1 frames."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

from firmware_bridge import ConsumableFrame, EventFrame, Frame, HeartbeatFrame, TelemetryFrame

device_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", fullmatch=True)
u32 = st.integers(0, 2**32 - 1)
timestamps_ms = st.integers(0, 2**64 - 1)
# Only float32-representable values survive the wire unchanged; NaN is tested separately.
float32s = st.floats(width=32, allow_nan=False).map(lambda v: struct.unpack("<f", struct.pack("<f", v))[0])


@st.composite
def telemetry_frames(draw: st.DrawFn) -> TelemetryFrame:
    ids = draw(st.lists(st.integers(0, 255), min_size=1, max_size=32, unique=True))
    channels = tuple((cid, draw(float32s)) for cid in ids)
    return TelemetryFrame(draw(device_ids), draw(u32), draw(timestamps_ms), channels)


frames: st.SearchStrategy[Frame] = st.one_of(
    telemetry_frames(),
    st.builds(EventFrame, device_ids, u32, timestamps_ms, st.integers(0, 0xFFFF), st.integers(0, 255)),
    st.builds(
        ConsumableFrame,
        device_ids,
        u32,
        timestamps_ms,
        st.integers(0, 255),
        st.integers(0, 255),
        st.floats(allow_nan=False),
        st.booleans(),
    ),
    st.builds(
        HeartbeatFrame, device_ids, u32, timestamps_ms, u32, st.integers(0, 0xFFFF), st.integers(0, 255)
    ),
)
