"""Benchmarks: simulator throughput and wire-codec throughput, printed as one JSON object.

    python bench/run.py            # full sizes (about a minute on 2 cores)
    python bench/run.py --quick    # small sizes, for a smoke test

Figures are rates measured in this run on this machine; compare them as ratios
within one run, not across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_bridge import Decoder, TelemetryFrame, encode  # noqa: E402
from firmware_bridge.serial_reader import SerialReader  # noqa: E402
from simulators.device import DeviceSimulator  # noqa: E402
from simulators.files import write_fleet_files  # noqa: E402
from simulators.fleet import plan_fleet  # noqa: E402
from simulators.pty_link import PtyLink  # noqa: E402


def best_of(repeat: int, fn):  # type: ignore[no-untyped-def]
    """Smallest wall time of ``repeat`` runs (the least disturbed one) and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def bench_simulator(devices: int, days: float) -> dict[str, object]:
    fleet = plan_fleet(devices, days, seed=1)

    def generate_only() -> int:
        rows = 0
        for i, spec in enumerate(fleet.devices):
            for chunk in DeviceSimulator(spec, fleet, i).chunks():
                rows += len(chunk.t)
        return rows

    gen_s, rows = best_of(1, generate_only)
    out = {"devices": devices, "days": days, "rows": rows, "generate_rows_per_s_1core": round(rows / gen_s)}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, os.cpu_count() or 1):
            report = write_fleet_files(fleet, Path(tmp) / f"w{workers}", workers=workers)
            out[f"file_mode_rows_per_s_{workers}proc"] = round(report.rows_per_second)
            out[f"file_mode_values_per_s_{workers}proc"] = round(report.values / report.seconds)
    return out


def _frames(n: int) -> list[TelemetryFrame]:
    rng = np.random.default_rng(0)
    vals = rng.normal(10, 3, (n, 8)).astype(np.float32).tolist()
    return [
        TelemetryFrame(f"dev-{i % 50:04d}", i, 1_767_225_600_000 + i * 1000, tuple(enumerate(v, start=1)))
        for i, v in enumerate(vals)
    ]


def bench_codec(n: int) -> dict[str, object]:
    frames = _frames(n)
    enc_s, wire = best_of(3, lambda: b"".join(encode(f) for f in frames))
    chunks = [wire[i : i + 4096] for i in range(0, len(wire), 4096)]

    def decode_clean() -> int:
        dec = Decoder()
        return sum(len(dec.feed(c)) for c in chunks)

    dec_s, got = best_of(3, decode_clean)
    assert got == n
    rng = np.random.default_rng(1)
    noisy = bytearray()
    for f in frames:  # 5 % of frames preceded by a burst of garbage
        if rng.uniform() < 0.05:
            noisy += rng.integers(1, 256, 30, dtype=np.uint8).tobytes() + b"\x00"
        noisy += encode(f)
    noisy_chunks = [bytes(noisy[i : i + 4096]) for i in range(0, len(noisy), 4096)]

    def decode_noisy() -> int:
        dec = Decoder()
        return sum(len(dec.feed(c)) for c in noisy_chunks)

    noisy_s, got_noisy = best_of(3, decode_noisy)
    assert got_noisy == n
    frame_bytes = len(wire) / n
    return {
        "frames": n,
        "channels_per_frame": 8,
        "bytes_per_frame": round(frame_bytes, 1),
        "encode_frames_per_s": round(n / enc_s),
        "decode_frames_per_s": round(n / dec_s),
        "decode_MB_per_s": round(len(wire) / dec_s / 1e6, 2),
        "decode_with_5pct_noise_frames_per_s": round(n / noisy_s),
        "noise_over_clean_time_ratio": round(noisy_s / dec_s, 3),
    }


def bench_serial_pty(n: int) -> dict[str, object]:
    """Frames/s through a real pty into SerialReader (codec + pyserial + gate)."""
    frames = _frames(n)
    wire = b"".join(encode(f) for f in frames)
    with PtyLink(block_timeout=5.0) as link:
        reader = SerialReader(link.port)
        got = 0
        done = threading.Event()

        def consume() -> None:
            nonlocal got
            for _ in reader.messages():
                got += 1
                if got == n:
                    done.set()
                    return

        th = threading.Thread(target=consume, daemon=True)
        th.start()
        while reader.opens == 0:
            time.sleep(0.005)
        t0 = time.perf_counter()
        for i in range(0, len(wire), 4096):
            link.write(wire[i : i + 4096])
        done.wait(120)
        elapsed = time.perf_counter() - t0
        reader.stop()
        th.join(5)
    return {"frames": n, "received": got, "frames_per_s": round(got / elapsed)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    args = ap.parse_args()
    sim = (3, 1.0) if args.quick else (20, 30.0)
    n_frames = 5_000 if args.quick else 200_000
    n_pty = 2_000 if args.quick else 50_000
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "simulator": bench_simulator(*sim),
        "codec": bench_codec(n_frames),
        "serial_pty": bench_serial_pty(n_pty),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
