"""Consistent Overhead Byte Stuffing (COBS), pure functions.

COBS rewrites a frame so that it contains no 0x00 byte; a single 0x00 then marks the
end of every frame on the wire. A receiver that starts mid-stream, or sees garbage,
resynchronises at the next 0x00. Overhead is one byte per 254 bytes of data, plus one.

The work is done block-wise with ``bytes.split`` / slicing rather than a per-byte loop,
because the decoder's throughput depends on it.
"""

from __future__ import annotations

__all__ = ["CobsError", "cobs_decode", "cobs_encode", "max_encoded_size"]

_MAX_BLOCK = 254


class CobsError(ValueError):
    """The input is not a valid COBS encoding (a zero byte, or a block past the end)."""


def max_encoded_size(n: int) -> int:
    """Largest COBS output for ``n`` input bytes (without the 0x00 delimiter)."""
    return n + n // _MAX_BLOCK + 1


def cobs_encode(data: bytes) -> bytes:
    """Encode ``data`` so that the result holds no 0x00 byte."""
    out = bytearray()
    for segment in data.split(b"\x00"):
        # A segment longer than 254 bytes is cut into 0xFF blocks that carry no implied zero.
        while len(segment) >= _MAX_BLOCK:
            out.append(0xFF)
            out += segment[:_MAX_BLOCK]
            segment = segment[_MAX_BLOCK:]
        out.append(len(segment) + 1)
        out += segment
    return bytes(out)


def cobs_decode(data: bytes | bytearray | memoryview) -> bytes:
    """Invert :func:`cobs_encode`; raise :class:`CobsError` on malformed input."""
    out = bytearray()
    n = len(data)
    i = 0
    while i < n:
        code = data[i]
        if code == 0:
            raise CobsError(f"zero byte at offset {i} inside a COBS frame")
        end = i + code
        if end > n:
            raise CobsError(f"block at offset {i} claims {code - 1} bytes, {n - i - 1} remain")
        block = data[i + 1 : end]
        if 0 in block:
            raise CobsError(f"zero byte inside the block at offset {i}")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)
