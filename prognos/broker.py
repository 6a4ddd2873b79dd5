"""Start a real mosquitto broker on a free loopback port, for tests and the demo.

mosquitto (Debian's package) is the reference broker; when it is not installed the
caller decides what to do (tests fail in CI and skip locally; the demo says so).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BrokerTls", "MosquittoBroker", "find_mosquitto", "free_port"]

_SEARCH = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/opt/homebrew/sbin")


def _find_tool(name: str) -> str | None:
    """A mosquitto program, also looking in sbin folders that are not on PATH."""
    return shutil.which(name) or shutil.which(name, path=":".join(_SEARCH))


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary."""
    return _find_tool("mosquitto")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """Server side of TLS: the certificate chain and key mosquitto presents."""

    certfile: Path
    keyfile: Path


class MosquittoBroker:
    """A mosquitto process with a generated config: one listener on 127.0.0.1.

    Anonymous by default; ``users`` (name -> password) switches to a password file,
    ``auth_dir`` to the password file and ACL the cloud writes from its registry
    (``auth_dir/passwd``, ``auth_dir/acl``; see ``cloud/broker_files.py``), and ``tls``
    makes the listener TLS-only, as a cloud-facing broker would be. The process id is in
    :attr:`pid_path`; :meth:`reload` makes mosquitto reread the password file and ACL.
    """

    def __init__(
        self,
        binary: str | None = None,
        port: int | None = None,
        persistence: bool = False,
        *,
        users: dict[str, str] | None = None,
        auth_dir: Path | None = None,
        tls: BrokerTls | None = None,
        max_queued: int = 100_000,
    ) -> None:
        found = binary or find_mosquitto()
        if found is None:
            raise FileNotFoundError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.binary = found
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.persistence = persistence  # keep sessions and queued messages across halt() + start()
        self.users = dict(users or {})
        self.auth_dir = auth_dir
        self.max_queued = max_queued  # per offline persistent session; beyond it mosquitto drops
        if self.users and auth_dir is not None:
            raise ValueError("give users or auth_dir, not both")
        self.tls = tls
        self._dir = Path(tempfile.mkdtemp(prefix="prognos-mosquitto-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self._dir / "mosquitto.log"

    @property
    def pid_path(self) -> Path:
        """Where mosquitto writes its process id (the cloud signals it to reload logins)."""
        return self._dir / "mosquitto.pid"

    def pid(self) -> int | None:
        """The running broker's process id (None when stopped)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def reload(self) -> None:
        """Reread the password file and ACL (SIGHUP), as after the registry changed."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGHUP)

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        conf = self._dir / "mosquitto.conf"
        persistence = "persistence false\n"
        if self.persistence:
            persistence = f"persistence true\npersistence_location {self._dir}/\n"
        # As root, mosquitto drops to the "mosquitto" user before it opens its log,
        # password file and certificates, which live in our private temp folder.
        run_as = "user root\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        conf.write_text(
            f"{run_as}pid_file {self.pid_path}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"{self._write_auth()}"
            f"{persistence}"
            f"max_queued_messages {self.max_queued}\n"
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

    def _write_auth(self) -> str:
        """Config lines for TLS and logins; writes the password file they name."""
        lines = ""
        if self.tls is not None:
            lines += f"certfile {self.tls.certfile}\nkeyfile {self.tls.keyfile}\n"
        if self.auth_dir is not None:
            for name in ("passwd", "acl"):
                if not (self.auth_dir / name).is_file():
                    missing = f"no {name} in {self.auth_dir}"
                    raise FileNotFoundError(f"{missing}: write them first (prognos cloud broker-files)")
            return lines + (
                f"allow_anonymous false\npassword_file {self.auth_dir / 'passwd'}\n"
                f"acl_file {self.auth_dir / 'acl'}\n"
            )
        if not self.users:
            return lines + "allow_anonymous true\n"
        passwd = self._dir / "passwd"
        passwd.write_text("")
        tool = _find_tool("mosquitto_passwd")
        if tool is None:
            raise FileNotFoundError("mosquitto_passwd is not installed (it ships with mosquitto)")
        for name, password in self.users.items():
            subprocess.run([tool, "-b", str(passwd), name, password], check=True, capture_output=True)
        return lines + f"allow_anonymous false\npassword_file {passwd}\n"

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self._dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: nothing is saved on the way out, so a
        persistent broker loses what it queued since its last autosave. The folder stays."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.halt()

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
