"""The I/O side of model rollouts: commands from the broker, downloads, hash checks, loading.

Three threads meet here, each doing only its part:

* paho's network thread hands a command's payload to :meth:`ModelRollout.on_command`, which
  only queues it;
* a download thread fetches the artifact from the cloud (``GET`` with the agent's token),
  writing ``<sha256>.onnx.part`` and renaming it only once its size and sha256 match the
  command; a file already on disk with that hash is not fetched again;
* the runner thread calls :meth:`ModelRollout.poll` between batches: it loads the model,
  checks it against the devices' channels and hands the agent its new pipelines
  (:meth:`edge.agent.Agent.begin_deployment`). Samples never wait on a download.

Whatever goes wrong (bad command, HTTP error, wrong hash, a file ONNX Runtime refuses, a
model whose channels no device has) is reported to the cloud as ``failed`` with the reason,
and the devices keep the model they had.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from firmware_bridge.contract import ModelCommand
from models.registry import make_detector

from .agent import Agent
from .deployment import Deployment
from .pipeline import DevicePipeline
from .policy import AlertPolicy

__all__ = ["CloudLink", "ModelFetchError", "ModelRollout", "fetch_model"]

log = logging.getLogger(__name__)
CHUNK = 1 << 16


class ModelFetchError(Exception):
    """The artifact could not be fetched intact; the message says why."""


@dataclass(frozen=True)
class CloudLink:
    """Where the agent downloads models from, and the ``agent`` token it shows."""

    url: str
    token: str
    ca_file: Path | None = None
    timeout_s: float = 30.0


def fetch_model(link: CloudLink, path: str, sha256: str, size: int, into: Path) -> Path:
    """``into/<sha256>.onnx``, downloaded unless already there; checked byte for byte."""
    into.mkdir(parents=True, exist_ok=True)
    final = into / f"{sha256}.onnx"
    if final.exists() and _sha256(final) == sha256:
        return final
    part = final.with_suffix(".onnx.part")
    request = urllib.request.Request(
        link.url.rstrip("/") + path, headers={"Authorization": f"Bearer {link.token}"}
    )
    context = ssl.create_default_context(cafile=str(link.ca_file)) if link.ca_file else None
    digest, got = hashlib.sha256(), 0
    try:
        with (
            urllib.request.urlopen(request, timeout=link.timeout_s, context=context) as resp,
            open(part, "wb") as fh,
        ):  # noqa: S310 - configured URL
            while chunk := resp.read(CHUNK):
                got += len(chunk)
                if got > size:
                    raise ModelFetchError(f"download is larger than the {size} bytes announced")
                digest.update(chunk)
                fh.write(chunk)
    except urllib.error.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise ModelFetchError(f"cloud answered {exc.code} for {path}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        raise ModelFetchError(f"cannot download {path}: {getattr(exc, 'reason', exc)}") from None
    except ModelFetchError:
        part.unlink(missing_ok=True)
        raise
    if got != size or digest.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise ModelFetchError(
            f"sha256 mismatch: expected {sha256[:12]}…, got {digest.hexdigest()[:12]}… ({got} bytes)"
        )
    part.replace(final)
    return final


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class ModelRollout:
    def __init__(self, agent: Agent, models_dir: Path, link: CloudLink | None) -> None:
        self.agent = agent
        self.models_dir = models_dir
        self.link = link
        self._commands: queue.Queue[bytes] = queue.Queue()
        self._fetched: queue.Queue[tuple[ModelCommand, Path | str]] = queue.Queue()
        self._busy: set[int] = set()  # rollouts downloading now

    def on_command(self, payload: bytes) -> None:
        """paho's thread: queue it for the runner."""
        self._commands.put(bytes(payload))

    def poll(self) -> list[Any]:
        """The runner's thread: act on commands and finished downloads; status rows to store."""
        out: list[Any] = []
        while True:
            try:
                payload = self._commands.get_nowait()
            except queue.Empty:
                break
            out += self._command(payload)
        while True:
            try:
                cmd, result = self._fetched.get_nowait()
            except queue.Empty:
                break
            self._busy.discard(cmd.rollout_id)
            out += self._deploy(cmd, result)
        return out

    def _command(self, payload: bytes) -> list[Any]:
        try:
            cmd = ModelCommand.model_validate_json(payload)
        except ValidationError as exc:
            log.warning("ignored a model command that is not valid: %s", exc.errors()[0]["msg"])
            return []
        order = self._order(cmd)
        current = self.agent.deployment
        if cmd.action == "revert":
            if current is not None and current.rollout_id == cmd.rollout_id and current.state == "reverted":
                return []  # the retained command again, after a reconnect
            return self.agent.revert_deployment(order)
        if cmd.rollout_id in self._busy or (current is not None and current.rollout_id == cmd.rollout_id):
            return []  # already under way or done
        if self.link is None:
            return [
                self.agent.model_status("failed", "no cloud URL configured to download models from", order)
            ]
        self._busy.add(cmd.rollout_id)
        threading.Thread(target=self._download, args=(cmd,), name="model-download", daemon=True).start()
        return [self.agent.model_status("downloading", f"{cmd.model.name} {cmd.model.version}", order)]  # type: ignore[union-attr]

    @staticmethod
    def _order(cmd: ModelCommand) -> Deployment:
        ref = cmd.model
        return Deployment(
            cmd.rollout_id,
            ref.version if ref else "",
            ref.sha256 if ref else "",
            list(cmd.devices),
            cmd.probation_samples,
            cmd.max_alert_factor,
        )

    def _download(self, cmd: ModelCommand) -> None:
        ref = cmd.model
        assert ref is not None and self.link is not None
        try:
            result: Path | str = fetch_model(self.link, ref.path, ref.sha256, ref.size, self.models_dir)
        except ModelFetchError as exc:
            result = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported, never raised into a dead thread
            result = f"download failed: {type(exc).__name__}: {exc}"
        self._fetched.put((cmd, result))

    def _deploy(self, cmd: ModelCommand, fetched: Path | str) -> list[Any]:
        order = self._order(cmd)
        if isinstance(fetched, str):
            return [self.agent.model_status("failed", fetched, order)]
        try:
            model = make_detector(f"onnx:{fetched}")
        except ValueError as exc:
            return [self.agent.model_status("failed", f"cannot load the model: {exc}", order)]
        wanted = cmd.devices or sorted(self.agent.devices)
        candidates: dict[str, DevicePipeline] = {}
        skipped: dict[str, str] = {}
        policy = self.agent.settings.policy
        for device_id in wanted:
            state = self.agent.devices.get(device_id)
            if state is None:
                skipped[device_id] = "not seen by this agent yet"
                continue
            channels = list(state.pipeline.detector.features)
            missing = [f for f in model.features if f not in channels]
            if missing:
                skipped[device_id] = f"lacks channels {missing}"
                continue
            if cmd.mode == "ensemble":
                name = f"{self.agent.settings.detector}+onnx"
                detector = make_detector(f"{self.agent.settings.detector}+onnx:{fetched}", channels)
            else:
                name, detector = "onnx", model
            candidates[device_id] = DevicePipeline(
                detector, policy=AlertPolicy(**policy), name=name, version=order.version  # type: ignore[arg-type]
            )
        return self.agent.begin_deployment(order, candidates, skipped)
