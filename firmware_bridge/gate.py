"""The checks every device message passes before the edge sees it, whatever the transport.

* sequence: duplicates and replays are dropped, gaps and restarts counted
  (:class:`~firmware_bridge.sequence.SequenceTracker`);
* values: a reading that is infinite or beyond ``max_abs_value`` is physically
  impossible for any sensor we read; that one channel becomes NaN (a dropout) and is
  counted, and the rest of the sample is kept;
* time: a device clock more than ``future_s`` ahead of the edge's (a clock that jumped to
  next year), or before :data:`EARLIEST` (a device without a real-time clock counting from
  1970), is replaced by the edge's time and counted, so one bad reading cannot hold
  windows, cooldowns and replay detection in the future or the past.

Serial and MQTT readers share one gate type so the edge gets the same guarantees from both.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from .messages import DeviceMessage, Sample
from .sequence import SequenceTracker, SeqVerdict

__all__ = ["DEFAULT_MAX_ABS_VALUE", "EARLIEST", "MessageGate"]

DEFAULT_MAX_ABS_VALUE = 1e9
EARLIEST = 946_684_800.0  # 2000-01-01: no fleet we serve has data from before it


class MessageGate:
    """Admit or drop device messages; keeps the counts readers report."""

    def __init__(
        self,
        max_abs_value: float = DEFAULT_MAX_ABS_VALUE,
        *,
        future_s: float = 86_400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_abs_value = max_abs_value
        self.future_s = future_s
        self.clock = clock
        self.sequence = SequenceTracker()
        self.accepted = 0
        self.dropped: Counter[str] = Counter()
        self.out_of_range = 0
        self.clamped_times = 0

    def admit(self, msg: DeviceMessage) -> DeviceMessage | None:
        """Return the message to pass on (possibly with bad values blanked, or its time
        replaced by the edge's), or None to drop."""
        now = self.clock()
        at: float | None = msg.timestamp
        if not EARLIEST <= msg.timestamp <= now + self.future_s:  # also NaN
            self.clamped_times += 1
            msg, at = replace(msg, timestamp=now), None  # the edge's time says nothing of the device's
        if self.sequence.observe(msg.device_id, msg.seq, at) is SeqVerdict.DUPLICATE:
            self.dropped["duplicate"] += 1
            return None
        if isinstance(msg, Sample):
            msg = self._blank_impossible(msg)
        self.accepted += 1
        return msg

    def reject(self, kind: str) -> None:
        """Count a message that could not be parsed at all (e.g. malformed JSON)."""
        self.dropped[kind] += 1

    def _blank_impossible(self, sample: Sample) -> Sample:
        limit = self.max_abs_value
        bad = [k for k, v in sample.values.items() if not math.isnan(v) and not abs(v) <= limit]
        if not bad:
            return sample
        self.out_of_range += len(bad)
        values = {k: (math.nan if k in bad else v) for k, v in sample.values.items()}
        return replace(sample, values=values)

    def snapshot(self) -> dict[str, object]:
        """Counters as plain data, for logs, progress lines and the bench."""
        seq = self.sequence.stats
        return {
            "accepted": self.accepted,
            "dropped": dict(self.dropped),
            "out_of_range_values": self.out_of_range,
            "clamped_times": self.clamped_times,
            "sequence_gaps": seq.gaps,
            "messages_missing": seq.missing,
            "duplicates": seq.duplicates,
            "restarts": seq.restarts,
        }

    def state(self) -> dict[str, list[float]]:
        """What an edge restart must not forget (the sequence tracker), JSON-ready."""
        return self.sequence.state()

    def restore(self, state: dict[str, list[float]]) -> None:
        self.sequence.restore(state)
