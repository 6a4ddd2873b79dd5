"""An h11-style connection pair: a device's encoder wired to an edge decoder."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from firmware_bridge import NEED_DATA, Decoder, Frame, FrameError, encode


def wire(frames: Iterable[Frame]) -> bytes:
    """The bytes a device would write for ``frames``, back to back."""
    return b"".join(encode(f) for f in frames)


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (sorted, clipped) into consecutive chunks."""
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


def decode_all(
    chunks: Iterable[bytes], decoder: Decoder | None = None
) -> tuple[list[Frame], list[FrameError]]:
    """Feed chunks one by one; collect frames and error events in arrival order."""
    dec = decoder or Decoder()
    frames: list[Frame] = []
    errors: list[FrameError] = []
    for chunk in chunks:
        dec.receive_data(chunk)
        while (event := dec.next_event()) is not NEED_DATA:
            (errors if isinstance(event, FrameError) else frames).append(event)  # type: ignore[arg-type]
    return frames, errors
