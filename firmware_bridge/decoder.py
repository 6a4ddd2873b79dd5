"""Bytes -> frames, sans-IO: feed any chunks, take frames and counted errors out.

The caller owns the port or socket and runs the loop::

    decoder = Decoder()
    decoder.receive_data(chunk)
    while (event := decoder.next_event()) is not NEED_DATA:
        ...  # a Frame, or a FrameError that was already counted in decoder.errors

or, when errors only need counting, ``frames = decoder.feed(chunk)``.

Nothing a device sends can make the decoder raise. A run of bytes between two 0x00
delimiters that is not a valid frame is dropped, counted by kind, and decoding resumes at
the next delimiter. A run that grows past ``max_frame_size`` without a delimiter is
discarded as it arrives (memory stays bounded) and counted once as ``oversize``.
"""

from __future__ import annotations

from collections import Counter

from .cobs import CobsError, cobs_decode
from .crc import CRC_SIZE, crc32
from .frames import DEFAULT_MAX_FRAME_SIZE, NEED_DATA, ErrorKind, Frame, FrameError, NeedData
from .layout import parse_body

__all__ = ["Decoder", "decode_one"]

_COMPACT_AT = 1 << 16


class Decoder:
    """Incremental v1 frame decoder with per-kind error counters."""

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 8:
            raise ValueError("max_frame_size must be at least 8 bytes")
        self.max_frame_size = max_frame_size
        self.errors: Counter[ErrorKind] = Counter()
        self.frames_decoded = 0
        self.bytes_received = 0
        self._buf = bytearray()
        self._pos = 0  # start of undecoded bytes in _buf
        self._scan = 0  # where the search for the next delimiter resumes
        self._discarding = False  # inside an oversize run: drop until the next delimiter

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet end in a delimiter."""
        return len(self._buf) - self._pos

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes from the wire; cheap, decoding happens in :meth:`next_event`."""
        self.bytes_received += len(data)
        self._buf += data

    def next_event(self) -> Frame | FrameError | NeedData:
        """Return the next frame or error, or ``NEED_DATA`` when no delimiter is buffered."""
        while True:
            end = self._buf.find(0, self._scan)
            if end < 0:
                return self._no_delimiter()
            start, self._pos = self._pos, end + 1
            self._scan = self._pos
            if self._discarding:
                self._discarding = False  # the tail of an oversize run: already counted
                continue
            if end == start:
                continue  # idle delimiters between frames are allowed
            event = self._decode(bytes(self._buf[start:end]))
            self._compact()
            return event

    def reset(self) -> None:
        """Forget buffered bytes, e.g. after a port reconnect; a partial frame counts as truncated."""
        if self.buffered and not self._discarding:
            self._count(ErrorKind.TRUNCATED)
        self._buf.clear()
        self._pos = self._scan = 0
        self._discarding = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Receive ``data`` and return every complete frame; errors only go to the counters."""
        self.receive_data(data)
        frames: list[Frame] = []
        while True:
            event = self.next_event()
            if event is NEED_DATA:
                return frames
            if not isinstance(event, FrameError):
                frames.append(event)

    def _no_delimiter(self) -> NeedData:
        pending = len(self._buf) - self._pos
        if pending > self.max_frame_size:
            if not self._discarding:
                self._count(ErrorKind.OVERSIZE)
                self._discarding = True
            self._pos = len(self._buf)
        self._scan = len(self._buf)
        self._compact()
        return NEED_DATA

    def _compact(self) -> None:
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = self._scan = 0
        elif self._pos > _COMPACT_AT:
            del self._buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0

    def _count(self, kind: ErrorKind) -> None:
        self.errors[kind] += 1

    def _error(self, kind: ErrorKind, detail: str, size: int) -> FrameError:
        self._count(kind)
        return FrameError(kind, detail, size)

    def _decode(self, encoded: bytes) -> Frame | FrameError:
        size = len(encoded)
        if size > self.max_frame_size:
            return self._error(ErrorKind.OVERSIZE, f"{size} bytes", size)
        try:
            raw = cobs_decode(encoded)
        except CobsError as exc:
            return self._error(ErrorKind.COBS, str(exc), size)
        if len(raw) <= CRC_SIZE:
            return self._error(ErrorKind.TRUNCATED, f"{len(raw)} bytes decoded", size)
        body, tail = raw[:-CRC_SIZE], raw[-CRC_SIZE:]
        expected = int.from_bytes(tail, "little")
        actual = crc32(body)
        if actual != expected:
            return self._error(ErrorKind.CRC, f"crc 0x{actual:08x} != 0x{expected:08x}", size)
        event = parse_body(body)
        if isinstance(event, FrameError):
            self._count(event.kind)
            return FrameError(event.kind, event.detail, size)
        self.frames_decoded += 1
        return event


def decode_one(payload: bytes, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> Frame | FrameError:
    """Decode a payload that holds exactly one frame (an MQTT message), delimiter optional."""
    decoder = Decoder(max_frame_size)
    decoder.receive_data(payload if payload.endswith(b"\x00") else payload + b"\x00")
    first = decoder.next_event()
    if first is NEED_DATA:
        return FrameError(ErrorKind.TRUNCATED, "empty payload", len(payload))
    if decoder.next_event() is not NEED_DATA:
        return FrameError(ErrorKind.MALFORMED, "more than one frame in one payload", len(payload))
    return first
