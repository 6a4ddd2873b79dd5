"""The InfluxDB sink, which no InfluxDB 2.x server can be installed here to check, so twice:

- against a local HTTP endpoint that records what influxdb-client sends: it checks each
  request (path, org, bucket, precision, token, line protocol) and answers 503 to the
  first one, which the client must retry;
- against VictoriaMetrics (Debian's package), a real engine that accepts the same
  ``/api/v2/write`` requests: every point is stored and read back, also when the engine
  comes up only after the first writes.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.db import Device
from cloud.settings import Settings
from cloud.state import CloudState
from cloud.telemetry_history import DatabaseHistory, VictoriaHistory, Window
from cloud.telemetry_sink import InfluxSink
from prognos.victoria import VictoriaMetrics, find_victoria_metrics
from tests.support.engines import engine_missing
from tests.support.threads import eventually

from .conftest import NOW
from .messages import summary, wire
from .world import World


class Recorder(ThreadingHTTPServer):
    def __init__(self, fail_first: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, object]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        url = urlsplit(self.path)
        with self.server.lock:
            failing = self.server.fail_first > 0
            self.server.fail_first -= 1
            self.server.requests.append(
                {
                    "path": url.path,
                    "query": parse_qs(url.query),
                    "auth": self.headers.get("Authorization"),
                    "lines": body.decode().splitlines(),
                    "status": 503 if failing else 204,
                }
            )
        self.send_response(503 if failing else 204)
        if failing:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder(fail_first=1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_batches_line_protocol_with_auth_and_retries_after_503(recorder: Recorder) -> None:
    host, port = recorder.server_address[:2]
    settings = Settings(
        influx_url=f"http://{host}:{port}",
        influx_token="s3cret",
        influx_org="acme-org",
        influx_bucket="fleet",
        influx_batch_size=4,
        influx_flush_interval_ms=200,
    )
    sink = InfluxSink(settings, retry_interval_ms=100)
    for i in range(6):  # 2 points each: one channel + the anomaly score
        sink.write(summary("ac-1", NOW + timedelta(minutes=5 * i), score=0.1 * i))
    sink.close()
    eventually(
        lambda: sum(len(r["lines"]) for r in recorder.requests if r["status"] == 204) == 12, timeout=10
    )
    reqs = recorder.requests
    assert reqs[0]["status"] == 503 and reqs[1]["lines"] == reqs[0]["lines"], "the failed batch is sent again"
    for r in reqs:
        assert r["path"] == "/api/v2/write" and r["auth"] == "Token s3cret"
        assert r["query"] == {"org": ["acme-org"], "bucket": ["fleet"], "precision": ["ms"]}
        assert len(r["lines"]) <= 4
    lines = [line for r in reqs if r["status"] == 204 for line in r["lines"]]
    assert len(lines) == len(set(lines)) == 12
    end_ms = int((NOW + timedelta(minutes=10)).timestamp() * 1000)  # second window, start + 300 s
    assert (
        f"telemetry,agent=edge-1,channel=suction_pressure,device=ac-1,tenant=acme "
        f"count=5i,max=3.2,mean=3.1,min=3 {end_ms}"
    ) in lines
    assert f"anomaly,agent=edge-1,device=ac-1,tenant=acme max_score=0.1,window_s=300 {end_ms}" in lines
    assert sink.failed == 0


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    binary = find_victoria_metrics()
    if binary is None:
        engine_missing("victoria-metrics", "apt-get install victoria-metrics")
    server = VictoriaMetrics(binary, tmp_path / "vm")
    yield server
    server.stop()


def test_a_real_time_series_engine_stores_every_summary_even_when_it_starts_late(
    victoria: VictoriaMetrics,
) -> None:
    """VictoriaMetrics speaks InfluxDB 2.x's write API. The sink starts writing while the
    engine is still down; influxdb-client keeps the batch and retries until it is up."""
    settings = Settings(
        influx_url=victoria.url, influx_token="t", influx_batch_size=5, influx_flush_interval_ms=100
    )
    sink = InfluxSink(settings, retry_interval_ms=200)
    windows = [NOW + timedelta(minutes=5 * i) for i in range(8)]
    for i, at in enumerate(windows):
        sink.write(summary("ac-1", at, score=0.1 * i))
    time.sleep(0.5)  # the first batches meet a refused connection
    victoria.start()
    sink.close()  # flushes, retrying what was refused
    assert sink.failed == 0
    series = {s["metric"]["__name__"]: s for s in victoria.export()}
    ends = [int((at + timedelta(minutes=5)).timestamp() * 1000) for at in windows]
    scores = series["anomaly_max_score"]
    assert scores["metric"] == {
        "__name__": "anomaly_max_score",
        "tenant": "acme",
        "device": "ac-1",
        "agent": "edge-1",
    }
    assert scores["timestamps"] == ends and scores["values"] == pytest.approx([0.1 * i for i in range(8)])
    mean = series["telemetry_mean"]
    assert mean["metric"]["channel"] == "suction_pressure" and mean["values"] == [3.1] * 8
    assert series["telemetry_count"]["values"] == [5] * 8


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_device_page_and_api_read_the_same_windows_back_from_victoria_metrics(
    victoria: VictoriaMetrics, state: CloudState, world: World
) -> None:
    """Summaries ingested and written to VictoriaMetrics come back from it window for window
    as the database has them; the API and the page configured to read from the engine show
    them; with the engine away the page still answers and says the history is unavailable."""
    victoria.start()
    sink = InfluxSink(Settings(influx_url=victoria.url, influx_batch_size=5, influx_flush_interval_ms=100))
    for i in range(12):
        msg = summary("ac-1", NOW + timedelta(minutes=5 * i), score=0.05 * i, health=0.9 - 0.01 * i)
        assert state.ingestor.handle(*wire(msg)).summary is not None
        sink.write(msg)
    sink.close()
    victoria.flush()  # searchable now rather than within the second
    with state.sessions() as s:
        device = s.get(Device, world.device["ac-1"])
        assert device is not None
        from_db = DatabaseHistory().recent(s, device, 10)
        from_engine = VictoriaHistory(victoria.url).recent(s, device, 10)
    assert len(from_db) == 10 and len(from_engine) == 10
    assert [(w.window_start, w.window_end) for w in from_engine] == [
        (w.window_start, w.window_end) for w in from_db
    ]

    def numbers(windows: list[Window]) -> list[float]:  # the line protocol keeps 15-16 digits
        return [
            x
            for w in windows
            for x in (
                w.max_score,
                w.health,
                *(v for c in sorted(w.channels) for _, v in sorted(w.channels[c].items())),
            )
        ]

    assert numbers(from_engine) == pytest.approx(numbers(from_db), rel=1e-12)
    assert from_db[-1].health == pytest.approx(0.79) and from_db[0].window_end == NOW + timedelta(minutes=15)

    state.settings.history_source, state.history = "victoriametrics", VictoriaHistory(victoria.url)
    with TestClient(create_app(state.settings, state=state)) as client:
        api = client.get(f"/api/v1/devices/{device.id}/health", headers=world.auth("dispatcher")).json()
        scores = [w["max_score"] for w in api["recent_summaries"]]
        assert scores == pytest.approx([0.05 * i for i in range(12)]), "all 12 windows, oldest first"
        client.post("/ui/login", data={"token": world.token["dispatcher"]})
        page = client.get(f"/ui/devices/{device.id}").text
        assert 'data-channel="suction_pressure"' in page and "history-problem" not in page
        victoria.stop()
        away = client.get(f"/ui/devices/{device.id}")
        assert away.status_code == 200 and 'id="history-problem"' in away.text
        assert 'data-channel="suction_pressure"' not in away.text
        api_away = client.get(f"/api/v1/devices/{device.id}/health", headers=world.auth("dispatcher"))
        assert api_away.status_code == 503 and "VictoriaMetrics" in api_away.json()["detail"]
