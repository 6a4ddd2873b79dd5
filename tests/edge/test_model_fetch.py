"""Model downloads on the edge against a real HTTP server, and the rollout controller's guards."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.agent import Agent, AgentSettings
from edge.model_rollout import CloudLink, ModelFetchError, ModelRollout, fetch_model
from firmware_bridge.contract import ModelCommand, ModelRef

BODY = b"model bytes " * 1000
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.headers.get("Authorization", ""))
            if self.path != "/api/v1/models/1/artifact":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def test_a_download_is_checked_stored_by_hash_and_reused(
    server: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = server
    link = CloudLink(url, "prg_token123")
    path = fetch_model(link, "/api/v1/models/1/artifact", SHA, len(BODY), tmp_path)
    assert path == tmp_path / f"{SHA}.onnx" and path.read_bytes() == BODY
    assert seen == ["Bearer prg_token123"]
    assert fetch_model(link, "/api/v1/models/1/artifact", SHA, len(BODY), tmp_path) == path
    assert len(seen) == 1  # already on disk with the right hash: not fetched again


@pytest.mark.parametrize(
    ("path", "sha", "size", "why"),
    [
        ("/api/v1/models/1/artifact", "0" * 64, len(BODY), "sha256 mismatch"),
        ("/api/v1/models/1/artifact", SHA, len(BODY) - 1, "larger than the"),
        ("/api/v1/models/1/artifact", SHA, len(BODY) + 1, "sha256 mismatch"),
        ("/api/v1/models/2/artifact", SHA, len(BODY), "cloud answered 404"),
    ],
)
def test_a_bad_download_leaves_nothing_behind(
    server: tuple[str, list[str]], tmp_path: Path, path: str, sha: str, size: int, why: str
) -> None:
    with pytest.raises(ModelFetchError, match=why):
        fetch_model(CloudLink(server[0], "prg_token123"), path, sha, size, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_cloud_is_a_clear_failure(tmp_path: Path) -> None:
    with pytest.raises(ModelFetchError, match="cannot download"):
        fetch_model(
            CloudLink("http://127.0.0.1:9", "prg_token123", timeout_s=2),
            "/api/v1/models/1/artifact",
            SHA,
            10,
            tmp_path,
        )


def command(rollout_id: int = 5, action: str = "deploy") -> bytes:
    ref = ModelRef(
        artifact_id=1,
        name="pumps",
        version="v5",
        sha256=SHA,
        size=len(BODY),
        path="/api/v1/models/1/artifact",
    )
    return (
        ModelCommand(rollout_id=rollout_id, action=action, model=ref, issued_at=1.0)
        .model_dump_json()
        .encode()
    )  # type: ignore[arg-type]


def test_without_a_cloud_link_a_deploy_fails_and_garbage_is_ignored(tmp_path: Path) -> None:
    control = ModelRollout(Agent(AgentSettings()), tmp_path, link=None)
    control.on_command(b"{not json")
    control.on_command(command())
    (out,) = control.poll()
    report = out
    assert (report.state, report.rollout_id, report.version) == ("failed", 5, "v5")
    assert "no cloud URL configured" in report.reason


def test_a_retained_command_heard_again_is_not_acted_on_twice(
    server: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = server
    control = ModelRollout(Agent(AgentSettings()), tmp_path, CloudLink(url, "prg_token123"))
    control.on_command(command())
    control.on_command(command())  # the broker's retained copy after a reconnect
    # The download may finish before this poll (then its outcome follows), but it starts once.
    states = [p.state for p in control.poll()]
    assert states[:1] == ["downloading"] and states.count("downloading") == 1
