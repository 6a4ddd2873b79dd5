"""Start a real mosquitto broker on a free loopback port, for tests and the demo.

mosquitto (Debian's package) is the reference broker; when it is not installed the
caller decides what to do (tests fail in CI and skip locally; the demo says so).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["MosquittoBroker", "find_mosquitto", "free_port"]

_SEARCH = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/opt/homebrew/sbin")


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary, also looking in sbin folders that are not on PATH."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path=":".join(_SEARCH))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MosquittoBroker:
    """A mosquitto process with a generated config: one listener on 127.0.0.1, anonymous."""

    def __init__(self, binary: str | None = None, port: int | None = None, persistence: bool = False) -> None:
        found = binary or find_mosquitto()
        if found is None:
            raise FileNotFoundError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.binary = found
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.persistence = persistence  # keep sessions and queued messages across halt() + start()
        self._dir = Path(tempfile.mkdtemp(prefix="prognos-mosquitto-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self._dir / "mosquitto.log"

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        conf = self._dir / "mosquitto.conf"
        persistence = "persistence false\n"
        if self.persistence:
            persistence = f"persistence true\npersistence_location {self._dir}/\n"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"{persistence}"
            "max_queued_messages 100000\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self._proc.returncode}: {err.strip()}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on port {self.port} within {timeout}s")

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self._dir, ignore_errors=True)

    def halt(self) -> None:
        """Stop the process but keep its folder: ``start()`` brings the broker back on the
        same port, with its sessions when ``persistence`` is on (an outage, in tests)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None and self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
