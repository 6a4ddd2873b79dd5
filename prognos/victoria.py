"""A throwaway VictoriaMetrics server for tests and benchmarks: a real time-series engine
that accepts InfluxDB 2.x writes (``/api/v2/write``), since an InfluxDB 2.x server cannot be
installed here, and answers Prometheus-style queries."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .broker import free_port
from .http_ready import wait_until_ok

__all__ = ["VictoriaMetrics", "find_victoria_metrics"]


def find_victoria_metrics() -> str | None:
    return shutil.which("victoria-metrics") or shutil.which("victoria-metrics-prod")


class VictoriaMetrics:
    def __init__(self, binary: str, data_dir: Path, port: int | None = None) -> None:
        self.binary, self.data_dir = binary, data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        self._proc = subprocess.Popen(
            [
                self.binary,
                f"-storageDataPath={self.data_dir}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y",  # test data carries simulated, not current, timestamps
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_ok(f"{self.url}/health", self._proc, "victoria-metrics", timeout)
        except RuntimeError:
            self.stop()
            raise

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def flush(self) -> None:
        """Make just-written samples searchable now."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10):
            pass

    def query(self, promql: str, at: float) -> list[dict[str, Any]]:
        """An instant query (MetricsQL) at epoch second ``at``: the result vector."""
        self.flush()
        args = urllib.parse.urlencode({"query": promql, "time": f"{at:.3f}"})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{args}", timeout=30) as r:
            doc = json.load(r)
        if doc.get("status") != "success":
            raise RuntimeError(f"VictoriaMetrics query failed: {doc}")
        return list(doc["data"]["result"])

    def export(self, match: str = '{__name__=~".+"}') -> list[dict[str, Any]]:
        """Every stored series matching ``match``, as /api/v1/export's JSON lines."""
        self.flush()
        query = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
