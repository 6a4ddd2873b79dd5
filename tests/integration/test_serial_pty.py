"""SerialReader against a real pseudo-terminal that pyserial opens like a real port."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from firmware_bridge import DeviceEvent, Sample, TelemetryFrame, encode
from firmware_bridge.encoder import encode_body
from firmware_bridge.frames import EventFrame
from firmware_bridge.serial_reader import SerialReader
from simulators.pty_link import PtyLink
from tests.support.threads import Collector, eventually

pytestmark = pytest.mark.integration


def frame(seq: int, device: str = "pump-0001", value: float = 1.5) -> TelemetryFrame:
    return TelemetryFrame(device, seq, 1_767_225_600_000 + seq * 60_000, ((1, value), (2, 12.25)))


def test_reads_frames_written_to_a_pty_in_pieces() -> None:
    with PtyLink() as link:
        reader = SerialReader(link.port, 115200, tenant="acme")
        got = Collector(reader.messages())
        assert eventually(lambda: reader.opens == 1)  # pyserial flushes input on open
        data = b"".join(encode(frame(i)) for i in range(1, 201))
        for i in range(0, len(data), 37):  # odd-sized writes split frames anywhere
            link.write(data[i : i + 37])
        items = got.wait_for(200)
        reader.stop()
        got.join()
    assert len(items) == 200
    first = items[0]
    assert isinstance(first, Sample)
    assert first == Sample("pump-0001", 1_767_225_660.0, 1, {"vibration_rms": 1.5, "motor_current": 12.25})
    assert first.tenant == "acme"
    assert [m.seq for m in items] == list(range(1, 201))
    assert reader.stats()["frame_errors"] == {}


def test_garbage_on_the_line_is_counted_and_frames_recovered() -> None:
    with PtyLink() as link:
        reader = SerialReader(link.port)
        got = Collector(reader.messages())
        assert eventually(lambda: reader.opens == 1)
        link.write(b"\xde\xad\xbe\xef" * 10 + b"\x00")  # noise, then resync
        link.write(encode(frame(1)))
        corrupt = bytearray(encode(frame(2)))
        corrupt[12] ^= 0x40
        link.write(bytes(corrupt))  # a damaged frame: dropped, counted
        link.write(encode(frame(3)))
        link.write(encode(frame(3)))  # retransmission: dropped as a duplicate
        link.write(encode(EventFrame("pump-0001", 4, 1_767_226_000_000, 0x1003, 3)))
        items = got.wait_for(3)
        assert eventually(lambda: reader.stats()["duplicates"] == 1)
        reader.stop()
        got.join()
    assert [m.seq for m in items] == [1, 3, 4]
    assert isinstance(items[-1], DeviceEvent) and items[-1].name == "high_vibration_trip"
    stats = reader.stats()
    assert sum(stats["frame_errors"].values()) == 2  # the noise and the damaged frame
    assert stats["sequence_gaps"] == 1 and stats["messages_missing"] == 1


def test_reconnects_when_the_port_disappears(tmp_path: Path) -> None:
    by_id = tmp_path / "usb-prognos-gateway"
    first = PtyLink(by_id)
    reader = SerialReader(str(by_id), reconnect_min=0.05, reconnect_max=0.2)
    got = Collector(reader.messages())
    assert eventually(lambda: reader.opens == 1)
    first.write(encode(frame(1)))
    assert len(got.wait_for(1)) == 1
    first.write(encode(frame(2))[:9])  # the cable is pulled mid-frame
    first.close()  # hang-up: the reader's next read fails; the symlink is gone too
    assert eventually(lambda: reader.reconnects >= 1)
    second = PtyLink(by_id)  # plugged back in: same name, a new device node
    try:
        assert eventually(lambda: reader.opens == 2)
        second.write(encode(frame(3)))
        items = got.wait_for(2)
    finally:
        reader.stop()
        got.join()
        second.close()
    assert [m.seq for m in items] == [1, 3]
    stats = reader.stats()
    assert stats["reconnects"] >= 1
    assert stats["frame_errors"].get("truncated", 0) <= 1  # the half frame, if it was read


def test_open_failure_retries_until_the_port_appears(tmp_path: Path) -> None:
    path = tmp_path / "late"
    reader = SerialReader(str(path), reconnect_min=0.05, reconnect_max=0.1)
    got = Collector(reader.messages())
    assert eventually(lambda: reader.open_failures >= 2)
    link = PtyLink(path)
    try:
        assert eventually(lambda: reader.opens == 1)
        link.write(encode(frame(1)))
        assert len(got.wait_for(1)) == 1
    finally:
        reader.stop()
        got.join()
        link.close()


def test_pty_write_without_a_reader_drops_instead_of_blocking() -> None:
    with PtyLink(block_timeout=0.05) as link:
        payload = encode(frame(1)) * 400
        results = [link.write(payload) for _ in range(20)]
        assert not all(results)
        assert link.writes_dropped >= 1


def test_crc_protected_body_matches_the_frame() -> None:
    body = encode_body(frame(5))
    assert body[:3] == bytes([1, 1, 9]) and body[3:12] == b"pump-0001"
    assert os.path.exists("/dev/ptmx")


def test_pyserial_url_to_a_tcp_serial_server_reconnects() -> None:
    """A `socket://` URL, as used for ser2net-style serial-over-TCP servers, with a server restart."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    reader = SerialReader(f"socket://127.0.0.1:{port}", reconnect_min=0.05, reconnect_max=0.2)
    got = Collector(reader.messages())
    try:
        conn, _ = server.accept()
        assert eventually(lambda: reader.opens == 1)  # open() flushes what arrived before it
        conn.sendall(encode(frame(1)) + encode(frame(2)))
        assert len(got.wait_for(2)) == 2
        conn.close()  # the serial server drops the connection...
        conn, _ = server.accept()  # ...and the reader dials back in
        assert eventually(lambda: reader.opens == 2)
        conn.sendall(encode(frame(3)))
        items = got.wait_for(3)
        conn.close()
    finally:
        reader.stop()
        got.join()
        server.close()
    assert [m.seq for m in items] == [1, 2, 3]
    assert reader.reconnects >= 1
