"""A pseudo-terminal standing in for a device's serial cable.

The simulator writes frames to the master side; the edge opens the slave side with
pyserial exactly as it would open ``/dev/ttyUSB0``. An optional symlink gives the port
a stable name, the way udev's ``/dev/serial/by-id`` links do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import tty
from pathlib import Path

__all__ = ["PtyLink"]


class PtyLink:
    """Master side of a pty pair, written by the simulated device.

    Writes block for up to ``block_timeout`` seconds while a reader drains the line
    (back-pressure when the simulator runs faster than real time); when nobody reads,
    the frame is dropped and counted, as bytes on a real cable with nothing attached are.
    """

    def __init__(self, link: Path | None = None, block_timeout: float = 1.0) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no newline translation: bytes pass unchanged
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self._slave)  # kept open so the line never hangs up
        self.link = link
        self.block_timeout = block_timeout
        self.bytes_written = 0
        self.writes_dropped = 0
        if link is not None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.port)

    @property
    def path(self) -> str:
        """What a reader should open: the symlink if one was made, else the pts device."""
        return str(self.link) if self.link is not None else self.port

    def write(self, data: bytes) -> bool:
        """Write all of ``data`` or, if the line stays full, drop what is left; True if whole."""
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                _, ready, _ = select.select([], [self.master], [], self.block_timeout)
                if not ready:
                    self.writes_dropped += 1
                    return False
                continue
            except OSError as exc:  # pragma: no cover - EIO only if the slave side is gone
                if exc.errno == errno.EIO:
                    self.writes_dropped += 1
                    return False
                raise
            self.bytes_written += n
            view = view[n:]
        return True

    def close(self) -> None:
        """Hang up the line: readers see the port disappear."""
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def __enter__(self) -> PtyLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
