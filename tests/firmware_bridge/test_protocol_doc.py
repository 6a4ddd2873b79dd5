"""The test vectors printed in docs/protocol.md are what the codec produces and accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import firmware_bridge as fb
from firmware_bridge.encoder import encode_body

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
BLOCKS = re.findall(r"```vector\n(.*?)```", DOC.read_text(), flags=re.S)
FRAME_TYPES = {
    t.__name__: t for t in (fb.TelemetryFrame, fb.EventFrame, fb.ConsumableFrame, fb.HeartbeatFrame)
}


def parse(block: str) -> tuple[fb.Frame, bytes, bytes]:
    fields = dict(line.split(":", 1) for line in block.strip().splitlines())
    frame = eval(fields["frame"].strip(), {"__builtins__": {}}, FRAME_TYPES)  # noqa: S307 - our own doc
    return frame, bytes.fromhex(fields["body"]), bytes.fromhex(fields["wire"])


def test_doc_has_a_vector_per_frame_type() -> None:
    assert {type(parse(b)[0]) for b in BLOCKS} == set(FRAME_TYPES.values())


@pytest.mark.parametrize("block", BLOCKS)
def test_vector(block: str) -> None:
    frame, body, wire = parse(block)
    assert encode_body(frame) == body
    assert fb.encode(frame) == wire
    assert fb.Decoder().feed(wire) == [frame]
