"""The edge agent's I/O shell: sources -> Agent.handle -> outbox -> uplink, one thread each.

Every output of ``Agent.handle`` is written to the outbox at once, in one transaction;
a transaction that carries an alert transition also carries that device's checkpoint,
and all devices are checkpointed every ``checkpoint_every_s``. So after a SIGKILL the
agent restarts with a state consistent with what it has already sent: it neither loses
an alert nor raises one twice.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from firmware_bridge import DeviceMessage, MessageGate
from firmware_bridge.contract import AgentStatus, AlertMessage, model_command_topic
from firmware_bridge.mqtt_reader import MqttReader
from firmware_bridge.serial_reader import SerialReader
from mqtt_client import parse_broker, parse_brokers

from .agent import Agent, AgentSettings
from .config import EdgeConfig
from .consumables import CONDITION, RATED_LIFE
from .model_rollout import CloudLink, ModelRollout
from .outbox import Outbox
from .pending import PendingMessage, to_pending
from .status_file import write_status
from .uplink_mqtt import MqttUplink

__all__ = ["EdgeRunner"]

STATUS_FILE_EVERY_S = 2.0  # how fresh `prognos edge status` is
MAX_UNSTORED = 50_000  # messages held in memory while the outbox cannot be written


def _bounded(waiting: list[PendingMessage], lost: Counter[str]) -> list[PendingMessage]:
    """At most MAX_UNSTORED messages, letting the oldest summaries go first (counted)."""
    excess = len(waiting) - MAX_UNSTORED
    if excess <= 0:
        return waiting
    kept: list[PendingMessage] = []
    for p in waiting:
        if excess > 0 and p.kind == "summary":
            excess -= 1
            lost["summary"] += 1
        else:
            kept.append(p)
    return kept


def _gate_key(kind: str, name: object) -> str:
    """The checkpoint key of a source's sequence state: its kind and port or position."""
    return f"gate/{kind}/{name}"


SOURCE_SESSION_EXPIRY_S = 86_400  # a day of restarts, deploys and reboots
log = logging.getLogger(__name__)


class EdgeRunner:
    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.outbox = Outbox(config.data_dir / "outbox.sqlite", config.outbox_max_rows)
        settings = AgentSettings(
            tenant=config.tenant,
            agent_id=config.agent_id,
            detector=config.detector,
            summary_every_s=config.summary_every_s,
            rated_life={**RATED_LIFE, **config.rated_life},
            condition={**CONDITION, **config.condition},
            rul_model=str(config.rul_model) if config.rul_model else None,
        )
        self.agent = Agent(settings)
        saved = self.outbox.checkpoints()
        self.restored = self.agent.restore(saved)
        self._saved_gates = {k: v for k, v in saved.items() if k.startswith("gate/")}
        for why in self.agent.restore_errors:
            log.warning("checkpoint not restored, starting that state afresh: %s", why)
        up = config.uplink
        nodes = [node.login(up.username, up.password) for node in parse_brokers(up.broker)]
        try:
            self.uplink = MqttUplink(
                self.outbox,
                nodes[0],
                tenant=config.tenant,
                agent_id=config.agent_id,
                tls=up.tls,
                ca_file=up.ca_file,
                client_cert=up.client_cert,
                client_key=up.client_key,
                client_id=up.client_id,
                max_inflight=up.max_inflight,
                confirm_by_cloud=up.confirm_by == "cloud",
                confirm_timeout_s=up.confirm_timeout_s,
                mqtt_version=up.mqtt_version,
                puback_timeout_s=up.puback_timeout_s,
                failover=nodes[1:],
            )
        except Exception:
            self.outbox.close()  # a bad uplink setting must not leave the database open
            raise
        link = None
        if config.cloud is not None:
            c = config.cloud
            link = CloudLink(c.url, c.token, c.ca_file, c.timeout_s)
        self.rollout = ModelRollout(self.agent, config.data_dir / "models", link)
        self.uplink.subscribe(model_command_topic(config.tenant, config.agent_id), self.rollout.on_command)
        self.inbox: queue.Queue[DeviceMessage] = queue.Queue(maxsize=10_000)
        self.stop_event = threading.Event()
        self.counts: Counter[str] = Counter()
        self._serial: list[SerialReader] = []
        self._mqtt: list[MqttReader] = []
        self._threads: list[threading.Thread] = []
        self._final: dict[str, object] | None = None  # stats frozen at shutdown
        self._reported: dict[str, int] = {}  # the drop counts of the last status report
        self._unstored: list[PendingMessage] = []  # produced while the outbox could not be written
        self._lost_to_disk: Counter[str] = Counter()
        self._store_failed_at = 0.0
        self._seen: dict[str, list[float]] = {}  # device -> [messages, last seen (wall), device time]

    def _start_sources(self) -> None:
        for src in self.config.sources:
            if src.kind == "serial":
                reader = SerialReader(str(src.port), src.baudrate, tenant=self.config.tenant)
                self._restore_gate(_gate_key("serial", reader.port), reader.gate)
                self._serial.append(reader)
                self._threads.append(threading.Thread(target=self._pump_serial, args=(reader,), daemon=True))
            else:
                broker = parse_broker(str(src.broker)).login(src.username, src.password)
                mqtt_reader = MqttReader(
                    broker,
                    tenant=src.tenant or self.config.tenant,
                    into=self.inbox,
                    # a stable id and a persistent session: what devices publish while this
                    # agent restarts waits in the broker instead of being missed
                    client_id=f"prognos-edge-{self.config.agent_id}-source-{len(self._mqtt)}",
                    session_expiry_s=SOURCE_SESSION_EXPIRY_S,
                )
                self._restore_gate(_gate_key("mqtt", len(self._mqtt)), mqtt_reader.gate)
                self._mqtt.append(mqtt_reader)
                mqtt_reader.start()
        for th in self._threads:
            th.start()

    def _restore_gate(self, key: str, gate: MessageGate) -> None:
        """Before a source starts: what its gate knew, so a replay after a restart is still one."""
        if key in self._saved_gates:
            try:
                gate.restore(json.loads(self._saved_gates[key]))
            except (ValueError, TypeError) as exc:
                log.warning("sequence state %s not restored, starting it afresh: %s", key, exc)

    def _gates(self) -> dict[str, MessageGate]:
        """Each source's gate under a name that is stable across restarts."""
        gates = {_gate_key("serial", r.port): r.gate for r in self._serial}
        gates.update({_gate_key("mqtt", i): r.gate for i, r in enumerate(self._mqtt)})
        return gates

    def dropped(self) -> dict[str, int]:
        """Everything this agent refused or lost on its side, by source and reason: bad
        frames and payloads, duplicates, impossible values, clamped clocks, topics that are
        no device's, summaries the full outbox let go, messages the cloud refused."""
        out: Counter[str] = Counter()
        for key, gate in self._gates().items():
            kind = key.split("/")[1]
            out.update({f"{kind}:{why}": n for why, n in gate.dropped.items()})
            out[f"{kind}:value_out_of_range"] += gate.out_of_range
            out[f"{kind}:clock_in_the_future"] += gate.clamped_times
        for reader in self._serial:
            out.update({f"serial:frame_{k.value}": n for k, n in reader.decoder.errors.items()})
        for mqtt_reader in self._mqtt:
            out["mqtt:not_a_device_topic"] += mqtt_reader.rejected_topics
        out["outbox:summaries_over_bound"] += self.outbox.counter("dropped_summaries")
        out["outbox:summaries_disk_full"] += self._lost_to_disk["summary"]
        out["cloud:refused"] += self.uplink.refused
        return {k: n for k, n in sorted(out.items()) if n}

    def lost(self) -> dict[str, int]:
        """Per device, the messages it numbered that never arrived (sequence gaps)."""
        out: Counter[str] = Counter()
        for gate in self._gates().values():
            out.update(gate.sequence.lost())
        return dict(out)

    def _report(self) -> None:
        """Log what was dropped since the last report, and send the cloud the totals."""
        dropped = self.dropped()
        new = {k: n - self._reported.get(k, 0) for k, n in dropped.items() if n > self._reported.get(k, 0)}
        if new:
            log.warning("dropped since the last report: %s", ", ".join(f"{k} {n}" for k, n in new.items()))
        self._reported = dropped
        me, now, lost = self.config.agent_id, time.time(), self.lost()
        self.uplink.report(AgentStatus(agent_id=me, state="online", at=now, dropped=dropped, lost=lost))

    def status(self, running: bool = True) -> dict[str, Any]:
        """What ``prognos edge status`` shows: the agent, its uplink, what it dropped, and per
        device what it hears, its model, whether an alert is open and its health."""
        devices = {}
        lost = self.lost()  # once: it walks every source's sequence tracker
        for device_id, state in self.agent.devices.items():
            count, wall, device_time = self._seen.get(device_id, [0, float("nan"), float("nan")])
            pipe = state.pipeline
            devices[device_id] = {
                "messages": int(count),
                "last_seen_at": None if wall != wall else round(wall, 3),
                "device_time": None if device_time != device_time else round(device_time, 3),
                "model": f"{pipe.name} {pipe.version}" if pipe.version != pipe.name else pipe.name,
                "alert_open": bool(pipe.policy.active),
                "trend_alert_open": bool(pipe.trend.active),
                "lost": lost.get(device_id, 0),
            }
        return {
            "agent": self.config.agent_id,
            "tenant": self.config.tenant,
            "pid": os.getpid(),
            "running": running,
            "at": round(time.time(), 3),
            "uplink": {
                "connected": self.uplink.connected.is_set(),
                "outbox": self.outbox.size(),
                "awaiting_confirmation": self.outbox.awaiting(),
                "confirmed": self.uplink.confirmed,
                "resent": self.uplink.resent,
                "outbox_failing": bool(self._unstored),
            },
            "dropped": self.dropped(),
            "devices": devices,
        }

    def _write_status(self, running: bool) -> None:
        try:
            write_status(self.config.data_dir, self.status(running))
        except OSError as exc:  # a full disk: the status waits, the agent goes on
            log.debug("status file not written: %s", exc)

    def _checkpoint(self, only_dirty: bool = True) -> dict[str, bytes]:
        """The agent's (dirty) states and the sources' sequence state, stored atomically with
        the messages they produced."""
        out = self.agent.checkpoint(only_dirty)
        out.update({k: json.dumps(g.state()).encode() for k, g in self._gates().items()})
        return out

    def _pump_serial(self, reader: SerialReader) -> None:
        for msg in reader.messages():
            self.inbox.put(msg)

    def sources_ready(self) -> bool:
        """Serial ports open and MQTT subscriptions acknowledged (False before they start)."""
        if len(self._serial) + len(self._mqtt) < len(self.config.sources):
            return False
        return all(r.opens > 0 for r in self._serial) and all(r.wait_subscribed(0) for r in self._mqtt)

    def run(
        self,
        progress: Callable[[dict[str, object]], None] | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        """Run until :meth:`stop`; ``on_ready`` fires once every source is open and subscribed."""
        self.uplink.start()
        self._start_sources()
        last_checkpoint = last_report = last_status_file = time.monotonic()
        last_progress = 0.0
        ready = False
        try:
            while not self.stop_event.is_set():
                if not ready and self.sources_ready():
                    ready = True
                    if on_ready is not None:
                        on_ready()
                batch = self._take(timeout=0.2)
                if batch:
                    self.counts.update(type(msg).__name__ for msg in batch)
                    now = time.time()
                    for msg in batch:
                        seen = self._seen.setdefault(msg.device_id, [0, now, msg.timestamp])
                        seen[0], seen[1], seen[2] = seen[0] + 1, now, msg.timestamp
                    self._store(self.agent.handle_many(batch))
                self._store(self.rollout.poll())  # also retries what a full disk held back
                if time.monotonic() - last_checkpoint >= self.config.checkpoint_every_s:
                    try:
                        self.outbox.add([], self._checkpoint(only_dirty=not self._unstored))
                    except sqlite3.Error as exc:  # a full disk: the states go with the next write
                        log.warning("checkpoint not written: %s", exc)
                    last_checkpoint = time.monotonic()
                if time.monotonic() - last_status_file >= STATUS_FILE_EVERY_S:
                    self._write_status(running=True)
                    last_status_file = time.monotonic()
                if time.monotonic() - last_report >= self.config.status_every_s:
                    self._report()
                    last_report = time.monotonic()
                if progress is not None and time.monotonic() - last_progress >= 1.0:
                    progress(self.stats())
                    last_progress = time.monotonic()
        finally:
            self._shutdown()

    def _take(self, timeout: float) -> list[DeviceMessage]:
        """What the sources have queued, up to ``batch_max``; waits ``timeout`` for the first.

        Batches only form when the agent is behind, so a lone sample is not held back.
        """
        try:
            batch = [self.inbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(batch) < self.config.batch_max:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _store(self, messages: list[Any]) -> None:
        """One outbox transaction; with an alert or a model change in it, the checkpoints go along.

        When the disk is full (or the database otherwise refuses the write) the agent keeps
        running: the messages wait in memory, oldest first, and go in with the next write
        that succeeds. Past ``MAX_UNSTORED`` waiting messages the oldest summaries are let go
        (counted as ``outbox:summaries_disk_full``), never alerts; the status and the log say
        the outbox is failing."""
        out = [to_pending(m, self.config.tenant, self.config.agent_id) for m in messages]
        self.counts.update(f"out_{p.kind}" for p in out)
        for m in messages:
            if isinstance(m, AlertMessage) and m.transition != "update":
                log.info(
                    "alert %s on %s: %s (%s, %s, score %.4f)",
                    "raised" if m.transition == "raise" else "cleared",
                    m.device_id, m.fault_key, m.severity, m.cause, m.score,
                )  # fmt: skip
        waiting = self._unstored + out
        if not waiting:
            return
        alerting = any(p.kind in ("alert", "model") for p in waiting)
        retrying = bool(self._unstored)  # a failed write took the dirty marks: save every state
        try:
            self.outbox.add(waiting, self._checkpoint(only_dirty=not retrying) if alerting else None)
        except sqlite3.Error as exc:
            self._unstored = _bounded(waiting, self._lost_to_disk)
            if time.monotonic() - self._store_failed_at > 60.0:
                log.error("outbox cannot be written (%s): %d messages wait", exc, len(self._unstored))
                self._store_failed_at = time.monotonic()
            return
        if self._unstored:
            log.warning("outbox writable again: %d waiting messages stored", len(self._unstored))
        self._unstored, self._store_failed_at = [], 0.0
        self.uplink.notify()

    def stop(self) -> None:
        self.stop_event.set()

    def _shutdown(self) -> None:
        for reader in self._serial:
            reader.stop()
        while batch := self._take(timeout=0):  # what the sources already delivered is still handled
            self._store(self.agent.handle_many(batch))
        final = [to_pending(m, self.config.tenant, self.config.agent_id) for m in self.agent.flush()]
        self.outbox.add(final, self._checkpoint(only_dirty=False))
        self._report()  # the last counts go out with the offline status
        self._write_status(running=False)
        self.uplink.stop()
        for mqtt_reader in self._mqtt:
            mqtt_reader.stop()
        for th in self._threads:
            th.join(2)
        self._final = self.stats()
        self.outbox.close()

    def stats(self) -> dict[str, object]:
        if self._final is not None:
            return self._final
        return {
            "devices": len(self.agent.devices),
            "inbox": self.inbox.qsize(),
            "received": dict(self.counts),
            "outbox": self.outbox.size(),
            "outbox_failing": bool(self._unstored),
            "waiting_in_memory": len(self._unstored),
            "awaiting_confirmation": self.outbox.awaiting(),
            "acked": self.uplink.acked,
            "confirmed": self.uplink.confirmed,
            "refused": self.uplink.refused,
            "resent": self.uplink.resent,
            "uplink_connected": self.uplink.connected.is_set(),
            "dropped_summaries": self.outbox.counter("dropped_summaries"),
            "dropped": self.dropped(),
            "lost": sum(self.lost().values()),
        }
