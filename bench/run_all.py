"""`make bench`: run every benchmark in bench/, each against its baseline, then print one table of
figure, baseline, ratio and goal.

Each benchmark prints its own report and, last, one JSON line naming itself (`"bench"`); this
script reads that line. A benchmark that fails shows as failed in the table, and the exit code is
non-zero.

    .venv/bin/python bench/run_all.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = (
    "provision",
    "simulate",
    "gateway_upload",
    "ingest",
    "latency",
    "inventory",
    "alerts",
    "fixity_checksums",
)

Row = tuple[str, str, str, str, bool | None]  # figure, baseline, ratio, goal, met (None: no goal)


def alerts(r: dict) -> Row:
    return (
        f"{r['runs']} alerts in {r['first_s']:.2f} s; steady {r['steady_s']:.2f} s",
        f"raw Publish {r['raw_publish_s']:.2f} s; reads {r['raw_reads_s']:.2f} s",
        f"{r['first_s'] / r['raw_publish_s']:.2f} / {r['steady_s'] / r['raw_reads_s']:.2f}",
        "a tick inside 60 s",
        r["first_s"] < 60 and r["steady_s"] < 60,
    )


def provision(r: dict) -> Row:
    return (
        f"plan+apply {r['ngs_lake_s']:.2f} s",
        f"raw boto3 {r['raw_s']:.2f} s",
        f"{r['ratio']:.2f} (time)",
        "none set; lower is better",
        None,
    )


def simulate(r: dict) -> Row:
    return (
        f"{r['simulator_mb_s']:.0f} MB/s",
        f"plain loop {r['plain_mb_s']:.0f} MB/s",
        f"{r['ratio']:.2f} (throughput)",
        "none set; higher is better",
        None,
    )


def gateway_upload(r: dict) -> Row:
    return (
        f"{r['gateway_mb_s']:.1f} MB/s, RSS {r['peak_rss_mib']:.0f} MiB",
        f"awscli {r['awscli_mb_s']:.1f} MB/s; with the events {r['awscli_with_events_mb_s']:.1f}",
        f"{r['ratio']:.2f} (throughput)",
        ">= 0.9",
        r["ratio"] >= 0.9,
    )


def ingest(r: dict) -> Row:
    return (
        f"{r['sensor_events_s']:.0f} events/s, {r['writes_per_event']:.3f} writes/event",
        f"receive+delete {r['floor_events_s']:.0f} events/s",
        f"{r['ratio']:.2f} (throughput)",
        ">= 0.7, <= 0.1 writes/event",
        r["ratio"] >= 0.7 and r["writes_per_event"] <= 0.1,
    )


def latency(r: dict) -> Row:
    default, delayed = r.get("default", {}), r.get("delayed", {})
    p50s = [x.get("s3_to_completed_p50") for x in (default, delayed)]
    return (
        "S3 -> completed p50/p95: default "
        f"{default.get('s3_to_completed_p50', float('nan')):.1f}/"
        f"{default.get('s3_to_completed_p95', float('nan')):.1f} s, 30 s-delayed launcher "
        f"{delayed.get('s3_to_completed_p50', float('nan')):.1f}/"
        f"{delayed.get('s3_to_completed_p95', float('nan')):.1f} s; "
        f"{default.get('dagster_runs_per_sequencing_run', float('nan')):.1f} Dagster runs/run",
        "default launcher",
        f"{r['delayed_over_default_p50']:.2f} (time)" if "delayed_over_default_p50" in r else "-",
        "p50 <= 10 s, both launchers",
        all(p is not None and p <= 10 for p in p50s),
    )


def fixity_checksums(r: dict) -> Row:
    return (
        f"{r['objects']} objects: {r['objects_per_s']:.0f} objects/s, "
        f"{r['calls_per_object']:.2f} calls/object, {r['threads']} threads; "
        f"{r['fits_in_tick']} objects fit a tick",
        f"one at a time {r['baseline_objects_per_s']:.0f} objects/s",
        f"{r['objects_per_s'] / r['baseline_objects_per_s']:.2f} (throughput)",
        "1 call per object",
        r["calls_per_object"] <= 1.0,
    )


def inventory(r: dict) -> Row:
    return (
        f"{r['ngs_lake_s']:.2f} s, peak {r['ngs_lake_peak_mib']:.0f} MiB",
        f"DuckDB {r['duckdb_s']:.2f} s, {r['duckdb_peak_mib']:.0f} MiB; "
        f"bare Parquet copy {r['duckdb_copy_s']:.2f} s",
        f"{r['ratio']:.2f} (time)",
        "<= 1.2x time, <= 512 MiB",
        r["ratio"] <= 1.2 and r["ngs_lake_peak_mib"] <= 512,
    )


FORMATS: dict[str, Callable[[dict], Row]] = {
    "provision": provision,
    "simulate": simulate,
    "gateway_upload": gateway_upload,
    "ingest": ingest,
    "latency": latency,
    "inventory": inventory,
    "alerts": alerts,
    "fixity_checksums": fixity_checksums,
}


def run(name: str) -> dict | None:
    """Run one benchmark, echoing its output; return its JSON line, or None if it failed."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / f"{name}.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=HERE.parent,
    )
    result = None
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                continue
            if parsed.get("bench") == name:
                result = parsed
    return result if process.wait() == 0 else None


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark and summarise.")
    parser.add_argument("--only", nargs="*", choices=ORDER)
    args = parser.parse_args()
    names = args.only or list(ORDER)
    rows: list[tuple[str, Row | None]] = []
    for name in names:
        print(f"\n===== {name} =====", flush=True)
        result = run(name)
        rows.append((name, FORMATS[name](result) if result else None))
    header = ("benchmark", "figure", "baseline", "ratio", "goal", "met")
    table = [header] + [
        (name, *row[:4], {True: "yes", False: "NO", None: "-"}[row[4]])
        if row
        else (name, "FAILED", "", "", "", "")
        for name, row in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print("\nSummary")
    for index, line in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))
    return 0 if all(row for _, row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
