from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import (
    NEED_DATA,
    Decoder,
    ErrorKind,
    FrameError,
    LocalProtocolError,
    TelemetryFrame,
    decode_one,
    encode,
)
from firmware_bridge.cobs import cobs_encode
from firmware_bridge.crc import crc32
from firmware_bridge.encoder import encode_body
from tests.support.pairs import decode_all, split, wire
from tests.support.strategies import frames, telemetry_frames

FRAME = TelemetryFrame("ac-0001", 1, 1_767_225_600_000, ((1, 1.5), (2, 3.25)))


@given(st.lists(frames, max_size=20), st.lists(st.integers(0, 5000), max_size=30))
def test_round_trip_through_random_chunks(sent: list, cuts: list[int]) -> None:
    data = wire(sent)
    got, errors = decode_all(split(data, cuts))
    assert got == sent
    assert errors == []


def test_byte_at_a_time() -> None:
    sent = [FRAME, TelemetryFrame("ac-0001", 2, 1_767_225_660_000, ((1, -0.0),))]
    data = wire(sent)
    got, errors = decode_all([data[i : i + 1] for i in range(len(data))])
    assert got == sent and errors == []


def test_nan_and_infinity_travel_as_float32() -> None:
    frame = TelemetryFrame("d1", 1, 0, ((1, float("nan")), (2, float("inf"))))
    (got,) = Decoder().feed(encode(frame))
    assert isinstance(got, TelemetryFrame)
    assert got.channels[0][1] != got.channels[0][1]  # NaN
    assert got.channels[1][1] == float("inf")


# Garbage is any bytes; an "intact" frame is one whose bytes arrive unchanged right after
# a delimiter (or at the very start), which is exactly when a receiver can recover it.
segment = st.one_of(
    frames.map(lambda f: ("frame", f)), st.binary(min_size=1, max_size=300).map(lambda b: ("junk", b))
)


@settings(max_examples=300)
@given(st.lists(segment, max_size=25), st.lists(st.integers(0, 8000), max_size=20))
def test_garbage_never_crashes_and_intact_frames_survive(segments: list, cuts: list[int]) -> None:
    stream = b""
    intact = []
    for kind, item in segments:
        if kind == "frame":
            if stream == b"" or stream.endswith(b"\x00"):
                intact.append(item)
            stream += encode(item)
        else:
            stream += item
    dec = Decoder()
    got, errors = decode_all(split(stream, cuts), dec)
    it = iter(got)
    assert all(any(g == want for g in it) for want in intact), "an intact frame was lost"
    assert sum(dec.errors.values()) == len(errors)
    assert dec.buffered <= dec.max_frame_size


@settings(max_examples=300)
@given(st.lists(frames, min_size=1, max_size=15), st.data())
def test_bit_flips_drop_only_the_damaged_frames(sent: list, data: st.DataObject) -> None:
    encoded = [bytearray(encode(f)) for f in sent]
    flipped = data.draw(st.sets(st.integers(0, len(sent) - 1)))
    for i in flipped:
        frame = encoded[i]
        pos = data.draw(st.integers(0, len(frame) - 2))  # never the delimiter itself
        frame[pos] ^= 1 << data.draw(st.integers(0, 7))
    dec = Decoder()
    got, errors = decode_all([bytes(b"".join(encoded))], dec)
    assert got == [f for i, f in enumerate(sent) if i not in flipped]
    assert len(errors) >= len(flipped)


def _body_with_crc(body: bytes) -> bytes:
    return cobs_encode(body + crc32(body).to_bytes(4, "little")) + b"\x00"


def _patched(offset: int, value: int) -> bytes:
    body = bytearray(encode_body(FRAME)[:-4])
    body[offset] = value
    return _body_with_crc(bytes(body))


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (_patched(0, 2), ErrorKind.BAD_VERSION),
        (_patched(1, 0x7F), ErrorKind.UNKNOWN_TYPE),
        (_patched(2, 0), ErrorKind.MALFORMED),  # device id length 0
        (_body_with_crc(encode_body(FRAME)[:-4] + b"\x99"), ErrorKind.MALFORMED),  # trailing byte
        (_body_with_crc(encode_body(FRAME)[:-9]), ErrorKind.TRUNCATED),
        (_body_with_crc(b"\x01"), ErrorKind.TRUNCATED),
        (cobs_encode(encode_body(FRAME)[:-1] + b"\x42") + b"\x00", ErrorKind.CRC),
        (b"\x05\x01\x02\x00", ErrorKind.COBS),
        (b"\x07" * 300 + b"\x00", ErrorKind.OVERSIZE),
    ],
)
def test_each_error_kind_is_counted_and_decoding_resumes(payload: bytes, kind: ErrorKind) -> None:
    dec = Decoder()
    got, errors = decode_all([payload + encode(FRAME)], dec)
    assert [e.kind for e in errors] == [kind]
    assert dec.errors == {kind: 1}
    assert got == [FRAME]


def test_oversize_run_without_delimiter_is_discarded_as_it_arrives() -> None:
    dec = Decoder(max_frame_size=64)
    for _ in range(100):
        dec.receive_data(b"\x55" * 1000)
        assert dec.next_event() is NEED_DATA
        assert dec.buffered <= 64
    assert dec.errors == {ErrorKind.OVERSIZE: 1}
    dec.receive_data(b"\x00" + encode(FRAME))
    assert dec.next_event() == FRAME


def test_reset_counts_a_cut_frame_as_truncated() -> None:
    dec = Decoder()
    dec.receive_data(encode(FRAME)[:10])
    dec.reset()
    assert dec.errors == {ErrorKind.TRUNCATED: 1}
    assert dec.feed(encode(FRAME)) == [FRAME]


def test_idle_delimiters_are_not_errors() -> None:
    dec = Decoder()
    assert dec.feed(b"\x00\x00\x00" + encode(FRAME) + b"\x00\x00") == [FRAME]
    assert not dec.errors


def test_decode_one() -> None:
    assert decode_one(encode(FRAME)) == FRAME
    assert decode_one(encode(FRAME)[:-1]) == FRAME  # delimiter optional
    assert isinstance(decode_one(b""), FrameError)
    two = decode_one(encode(FRAME) + encode(FRAME))
    assert isinstance(two, FrameError) and two.kind is ErrorKind.MALFORMED


@pytest.mark.parametrize(
    "bad",
    [
        TelemetryFrame("", 1, 0, ((1, 1.0),)),
        TelemetryFrame("x" * 33, 1, 0, ((1, 1.0),)),
        TelemetryFrame("has space", 1, 0, ((1, 1.0),)),
        TelemetryFrame("d", -1, 0, ((1, 1.0),)),
        TelemetryFrame("d", 2**32, 0, ((1, 1.0),)),
        TelemetryFrame("d", 1, 0, ()),
        TelemetryFrame("d", 1, 0, ((1, 1.0), (1, 2.0))),
        TelemetryFrame("d", 1, 0, ((256, 1.0),)),
        TelemetryFrame("d", 1, 0, ((1, 1e39),)),
        TelemetryFrame("d", 1, 0, tuple((i, 0.0) for i in range(33))),
    ],
)
def test_encoder_refuses_frames_that_do_not_fit(bad: TelemetryFrame) -> None:
    with pytest.raises(LocalProtocolError):
        encode(bad)


@given(telemetry_frames())
def test_largest_frames_fit_the_default_cap(frame: TelemetryFrame) -> None:
    assert len(encode(frame)) - 1 <= Decoder().max_frame_size


def test_random_noise_soak() -> None:
    rng = random.Random(1234)
    dec = Decoder()
    sent = []
    for i in range(2000):
        frame = TelemetryFrame("soak", i, i * 1000, ((1, struct.unpack("<f", struct.pack("<f", i / 7))[0]),))
        sent.append(frame)
        dec.receive_data(encode(frame))
        if rng.random() < 0.2:
            dec.receive_data(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))) + b"\x00")
    got = []
    while (event := dec.next_event()) is not NEED_DATA:
        if not isinstance(event, FrameError):
            got.append(event)
    assert got == sent
