"""One progress line on stderr: rewritten in place on a terminal, throttled lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, stream: TextIO | None = None, every: float = 1.0, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.quiet = quiet
        self._last = 0.0
        self._tty = self.stream.isatty()
        self._open = False

    def due(self) -> bool:
        """Would an update show now? Lets a caller skip the work of making the text."""
        return not self.quiet and time.monotonic() - self._last >= (0.1 if self._tty else self.every)

    def update(self, text: str, force: bool = False) -> None:
        if self.quiet or not (force or self.due()):
            return
        self._last = time.monotonic()
        if self._tty:
            self.stream.write("\r\033[K" + text)
            self._open = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, text: str | None = None) -> None:
        if text is not None:
            self.update(text, force=True)
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
