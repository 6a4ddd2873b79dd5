"""What bit flips on a serial line cost detection: SKAB through a noisy wire, then `prognos detect`.

Each SKAB file is sent as a device would send it: one binary telemetry frame per row
(docs/protocol.md, float32 values, CRC-16, COBS), and every bit of the byte stream is
flipped with probability ``--flip`` (1e-3 by default: a poor RS-485 run). The gateway's
decoder and message gate take what arrives; frames the CRC rejects are lost (counted), and
the rows that survive are written back as a CSV and scored by ``prognos detect`` as a user
runs it, beside the same file sent over a clean line. A lost row is judged by the output
of the last row before it (what the edge would show at that moment).

    python bench/serial_noise.py [--flip 1e-3] [--datasets ../shared/datasets] [--seed 7]

JSON on stdout: frames sent, lost and rejected by reason, values blanked, and SKAB's F1,
FAR and MAR (and the NAB-style event score) on the clean and the noisy line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from corpora import Case, skab_cases  # noqa: E402
from detection import Output, run_detect, skab_figures  # noqa: E402

from firmware_bridge import Decoder, MessageGate, Sample, TelemetryFrame, encode  # noqa: E402
from firmware_bridge.messages import message_from_frame  # noqa: E402

FIRST_FREE_CHANNEL_ID = 200  # ids the registry leaves free: they decode as "ch200", ...


def wire(case: Case) -> bytes:
    """The file as the frames its device would send."""
    assert case.X is not None and case.t is not None
    out = bytearray()
    for i, (t, row) in enumerate(zip(case.t.tolist(), case.X.tolist(), strict=True)):
        channels = tuple((FIRST_FREE_CHANNEL_ID + j, v) for j, v in enumerate(row))
        out += encode(TelemetryFrame("skab-1", i + 1, round(t * 1000), channels))
    return bytes(out)


def flip_bits(data: bytes, p: float, rng: np.random.Generator) -> tuple[bytes, int]:
    """Each bit flipped with probability ``p``; the noisy bytes and how many bits flipped."""
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    n_bits = buf.size * 8
    flips = rng.random(n_bits) < p
    positions = np.flatnonzero(flips)
    np.bitwise_xor.at(buf, positions // 8, (1 << (positions % 8)).astype(np.uint8))
    return buf.tobytes(), int(positions.size)


def through_the_gateway(data: bytes) -> tuple[list[Sample], Counter[str], MessageGate]:
    """What the gateway's decoder and gate let through, and why the decoder rejected the rest."""
    dec, gate, out = Decoder(), MessageGate(), []
    for i in range(0, len(data), 4096):
        for frame in dec.feed(data[i : i + 4096]):
            if isinstance(frame, TelemetryFrame):
                msg = gate.admit(message_from_frame(frame))
                if isinstance(msg, Sample):
                    out.append(msg)
    rejected = Counter({kind.value: n for kind, n in dec.errors.items()})
    rejected.update({f"gate_{why}": n for why, n in gate.dropped.items()})
    return out, rejected, gate


def write_csv(path: Path, header: list[str], samples: list[Sample]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", *header])
        for s in samples:
            row = [s.values.get(f"ch{FIRST_FREE_CHANNEL_ID + j}", float("nan")) for j in range(len(header))]
            w.writerow([f"{s.timestamp:.0f}", *(repr(v) for v in row)])


def spread(out: Output, seqs: list[int], n: int) -> Output:
    """Output per original row: each row takes the output of the last row that arrived at
    or before it (nothing before the first)."""
    idx = np.searchsorted(np.asarray(seqs) - 1, np.arange(n), side="right") - 1
    have = idx >= 0
    j = np.maximum(idx, 0)
    onset = np.zeros(n, bool)
    first_of = np.asarray(seqs) - 1  # a raise stays on the row where it was raised
    onset[first_of[out.alert]] = True
    return Output(
        np.where(have, out.score[j], 0.0),
        onset,
        np.where(have, out.in_alert[j], False),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flip", type=float, default=1e-3, help="probability of each bit flipping")
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    if not (args.datasets / "skab").is_dir():
        sys.exit(f"bench/serial_noise.py: no SKAB at {args.datasets / 'skab'}")
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="prognos-bench-noise-") as tmp_name:
        tmp = Path(tmp_name)
        cases = list(skab_cases(args.datasets, tmp))
        noisy_cases, arrived, totals = [], [], Counter[str]()
        for c in cases:
            data = wire(c)
            flipped, bits = flip_bits(data, args.flip, rng)
            samples, rejected, gate = through_the_gateway(flipped)
            with open(c.csv, newline="") as fh:
                header = next(csv.reader(fh))[1:]
            path = tmp / f"noisy-{c.csv.name}"
            write_csv(path, header, samples)
            noisy_cases.append(Case(c.corpus, c.name, path, len(samples)))
            arrived.append([s.seq for s in samples])
            totals.update(rejected)
            totals["frames"] += c.n_rows
            totals["arrived"] += len(samples)
            totals["bits_flipped"] += bits
            totals["values_blanked"] += gate.out_of_range
        python = [sys.executable]
        with ThreadPoolExecutor(args.jobs) as pool:
            clean = list(pool.map(lambda c: run_detect(python, ROOT, c, tmp, "clean"), cases))
            raw = list(pool.map(lambda c: run_detect(python, ROOT, c, tmp, "noisy"), noisy_cases))
        noisy = [spread(o, seqs, c.n_rows) for o, seqs, c in zip(raw, arrived, cases, strict=True)]
        report = {
            "flip_probability": args.flip,
            "files": len(cases),
            "frames_sent": totals["frames"],
            "frames_arrived": totals["arrived"],
            "frames_lost_share": round(1 - totals["arrived"] / totals["frames"], 4),
            "bits_flipped": totals["bits_flipped"],
            "rejected_by_reason": {
                k: v
                for k, v in totals.items()
                if k not in ("frames", "arrived", "bits_flipped", "values_blanked")
            },
            "values_blanked_by_the_gate": totals["values_blanked"],
            "skab_clean_line": skab_figures(cases, clean),
            "skab_noisy_line": skab_figures(cases, noisy),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
