"""Serial adapter: owns a pyserial port, runs the feed -> drain loop, survives unplugging.

The codec never touches the port (see :mod:`firmware_bridge.decoder`); this module is
the only place that imports pyserial, and it translates pyserial's errors once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import serial

from .decoder import Decoder
from .frames import DEFAULT_MAX_FRAME_SIZE, NEED_DATA, FrameError
from .gate import MessageGate
from .messages import DeviceMessage, message_from_frame

__all__ = ["SerialReader"]

log = logging.getLogger(__name__)


class SerialReader:
    """Yield device messages read from a serial port path or pyserial URL.

    When the port disappears (a USB adapter unplugged, a pty closed) the reader closes
    it, waits with exponential backoff and opens the same path again, until
    :meth:`stop` is called. A partial frame cut by the disconnect is counted as
    truncated; everything after the next delimiter decodes normally.
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        *,
        tenant: str | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        read_timeout: float = 0.1,
        reconnect_min: float = 0.1,
        reconnect_max: float = 5.0,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.tenant = tenant
        self.read_timeout = read_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.decoder = Decoder(max_frame_size)
        self.gate = MessageGate()
        self.opens = 0  # successful opens; pyserial flushes the input queue on each
        self.reconnects = 0
        self.open_failures = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._serial: serial.SerialBase | None = None

    def stop(self) -> None:
        """Make :meth:`messages` return after its current read (thread-safe)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def messages(self) -> Iterator[DeviceMessage]:
        """Blocking iterator over admitted messages; ends after :meth:`stop`."""
        delay = self.reconnect_min
        try:
            while not self._stop.is_set():
                port = self._open()
                if port is None:
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.reconnect_max)
                    continue
                delay = self.reconnect_min
                yield from self._read_until_error(port)
        finally:
            self._close()

    def stats(self) -> dict[str, object]:
        """Decoder and gate counters plus reconnects, as plain data."""
        return {
            "port": self.port,
            "bytes": self.decoder.bytes_received,
            "frames": self.decoder.frames_decoded,
            "frame_errors": {k.value: n for k, n in self.decoder.errors.items()},
            "opens": self.opens,
            "reconnects": self.reconnects,
            "open_failures": self.open_failures,
            **self.gate.snapshot(),
        }

    def _open(self) -> serial.SerialBase | None:
        try:
            port = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=self.read_timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            self.open_failures += 1
            log.warning("cannot open %s: %s", self.port, exc)
            return None
        with self._lock:
            self._serial = port
        self.opens += 1
        log.info("opened %s at %d baud", self.port, self.baudrate)
        return port

    def _close(self) -> None:
        with self._lock:
            port, self._serial = self._serial, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    def _read_until_error(self, port: serial.SerialBase) -> Iterator[DeviceMessage]:
        while not self._stop.is_set():
            try:
                chunk = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError) as exc:
                # pyserial raises SerialException (or OSError EIO on a pty) when the device
                # goes away; TypeError comes from reading a port closed under us by stop().
                if self._stop.is_set():
                    return
                log.warning("lost %s: %s; reconnecting", self.port, exc)
                self.reconnects += 1
                self.decoder.reset()
                self._close()
                return
            if not chunk:
                continue
            self.decoder.receive_data(chunk)
            while (event := self.decoder.next_event()) is not NEED_DATA:
                if isinstance(event, FrameError):
                    log.debug("dropped frame: %s", event)
                    continue
                msg = self.gate.admit(message_from_frame(event, self.tenant))
                if msg is not None:
                    yield msg
