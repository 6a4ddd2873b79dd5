"""A checked-in corpus of malformed frames: each file is rejected as the kind its name says."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge import Decoder, FrameError, TelemetryFrame, encode

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.bin"))
GOOD = TelemetryFrame("ac-0001", 9, 0, ((1, 1.0),))


def test_corpus_covers_every_error_kind() -> None:
    from firmware_bridge import ErrorKind

    assert {p.name.split("-")[0] for p in CORPUS} == {k.value for k in ErrorKind}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_entry(path: Path) -> None:
    dec = Decoder()
    dec.receive_data(path.read_bytes() + encode(GOOD))
    event = dec.next_event()
    assert isinstance(event, FrameError) and event.kind.value == path.name.split("-")[0]
    assert dec.next_event() == GOOD  # and the next frame still decodes
