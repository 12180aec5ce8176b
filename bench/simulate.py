"""Simulator write speed: files/s and MB/s, against a plain Python loop writing the same bytes.

The simulator's time includes planning-free execution: ordering, path checks, directory
creation, payload generation (seeded pseudo-random bytes) and the writes, including appends for
files that grow in place. The baseline is the floor: a loop that opens and writes the very same
(path, mode, bytes) sequence, from the same buffers, prepared before its clock starts.

    .venv/bin/python bench/simulate.py [--platform novaseq-x] [--scale 0.01]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake.simulator.writer import payload_parts


def plain_loop(steps, share: Path, data: list[list]) -> float:
    started = time.perf_counter()
    for step, parts in zip(steps, data, strict=True):
        target = share / step.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "ab" if step.kind == "append" else "wb") as handle:  # noqa: PTH123
            for part in parts:
                handle.write(part)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", default="novaseq-x")
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--dir",
        default="/dev/shm" if Path("/dev/shm").is_dir() else None,
        help="Where to write (default: tmpfs, so disk writeback noise does not swamp the CPU cost)",
    )
    args = parser.parse_args()
    runs = plan_simulation(
        RunSpec(platform=args.platform, scale=args.scale, duration_seconds=0, seed=args.seed)
    )
    steps = sorted((s for r in runs for s in r.steps), key=lambda s: s.at)
    work = Path(tempfile.mkdtemp(prefix="bench-simulate-", dir=args.dir))
    data = [[s.content] if s.content is not None else payload_parts(args.seed, s) for s in steps]
    ours_times, plain_times = [], []
    try:
        # Alternate the two, each into a fresh folder, so page-cache writeback of one run does
        # not land on the other's clock; report the median of each.
        for round_number in range(args.repeat):
            plain_times.append(plain_loop(steps, work / f"plain-{round_number}", data))
            shutil.rmtree(work / f"plain-{round_number}")
            ours = simulate(runs, work / f"simulator-{round_number}", seed=args.seed)
            ours_times.append(ours.seconds)
            shutil.rmtree(work / f"simulator-{round_number}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours.seconds = statistics.median(ours_times)
    baseline = statistics.median(plain_times)
    megabytes = ours.bytes / 1e6
    print(
        f"simulate: {args.platform} at scale {args.scale}: {ours.files} files, "
        f"{megabytes:.0f} MB, {len(steps)} writes"
    )
    print(
        f"  simulator         {ours.files / ours.seconds:9.0f} files/s  "
        f"{megabytes / ours.seconds:7.0f} MB/s  ({ours.seconds:.2f} s)"
    )
    print(
        f"  plain write loop  {ours.files / baseline:9.0f} files/s  "
        f"{megabytes / baseline:7.0f} MB/s  ({baseline:.2f} s)"
    )
    print(f"  ratio simulator / plain (throughput)  {baseline / ours.seconds:.2f}")
    print(
        json.dumps(
            {
                "bench": "simulate",
                "simulator_mb_s": megabytes / ours.seconds,
                "plain_mb_s": megabytes / baseline,
                "ratio": baseline / ours.seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
