"""Inventory cataloguing: a 1,000,000-object CSV.gz S3 Inventory report (four data files, as AWS
splits large reports), catalogued by ngs_lake (MD5 check of every data file, key decoding, key to
run mapping through the platform module, objects/runs/sequencer Parquet) against DuckDB reading
the same files and aggregating bytes and objects per run folder.

Issue #31: both sides also build the samples table from per-run sample manifests (100,000 samples
over the report's runs, as the lake writes them into the catalogue bucket): ngs_lake with its
`samples_frame` (latest manifest per run, joined with the runs' bytes and objects) written as
Parquet, DuckDB by reading the same JSON files and joining them with its per-run aggregate.

A third side shows what writing every object costs DuckDB by itself: its bare copy of the same
files to one Parquet file, every column as text, with nothing decoded, mapped or checked. That
copy alone takes about 1.35x the aggregate, which is why the catalogue streams with polars.

Each side runs in its own subprocess, so peak RSS (ru_maxrss, imports included) is measured
separately; wall time is measured inside each, after imports.

    .venv/bin/python bench/inventory.py [--objects 1000000] [--samples 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FILES = 4
GOAL_TIME_RATIO = 1.2
GOAL_PEAK_MIB = 512


def generate(directory: Path, objects: int) -> Path:
    """Write the report's data files and manifest.json (NovaSeq X keys, some with spaces)."""
    from ngs_lake.config.model import DEFAULT_INVENTORY_FIELDS
    from ngs_lake.inventory.report import manifest_document
    from ngs_lake.local.inventory_writer import encode_csv_gz, report_columns

    rng = random.Random(7)
    columns = report_columns(DEFAULT_INVENTORY_FIELDS)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    files_per_run = 5000
    rows = []
    for i in range(objects):
        run, n = divmod(i, files_per_run)
        folder = f"2026{(run % 12) + 1:02d}{(run % 28) + 1:02d}_LH00{run % 7:03d}_{run:04d}_A22KJ{run:04d}LT3"
        lane, cycle = divmod(n, 200)
        key = (
            f"{folder}/Data/Intensities/BaseCalls/L{lane % 8 + 1:03d}/C{cycle + 1}.1/"
            f"L{lane % 8 + 1:03d}_{n % 2 + 1}.cbcl"
            if n % 50
            else f"{folder}/Sample Sheets/sample sheet {n}.csv"
        )
        modified = start + timedelta(seconds=i * 7)
        rows.append(
            {
                "Bucket": "ngs-lake-nvx-bos-01",
                "Key": key,
                "Size": rng.randint(1_000, 400_000_000),
                "LastModifiedDate": modified,
                "ETag": f"{rng.getrandbits(128):032x}",
                "StorageClass": "STANDARD",
                "EncryptionStatus": "SSE-KMS",
                "ObjectLockMode": "COMPLIANCE",
                "ObjectLockRetainUntilDate": modified + timedelta(days=3650),
                "ChecksumAlgorithm": "SHA256",
            }
        )
    per_file = -(-objects // FILES)
    entries = []
    import hashlib

    for index in range(FILES):
        body = encode_csv_gz(rows[index * per_file : (index + 1) * per_file], columns)
        path = directory / f"data-{index}.csv.gz"
        path.write_bytes(body)
        entries.append(
            {"key": path.name, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()}
        )
    manifest = directory / "manifest.json"
    manifest.write_bytes(
        manifest_document(
            "ngs-lake-nvx-bos-01",
            "ngs-lake-inventory",
            datetime.now(UTC),
            "CSV",
            ", ".join(columns),
            entries,
        )
    )
    return manifest


def generate_sample_manifests(directory: Path, objects: int, samples: int) -> int:
    """Per-run sample manifests (as runs/sample_manifest.py writes them) for the report's runs;
    returns the number of sample rows."""
    runs = max(1, -(-objects // 5000))
    per_run, extra = divmod(samples, runs)
    written = 0
    for run in range(runs):
        folder = f"2026{(run % 12) + 1:02d}{(run % 28) + 1:02d}_LH00{run % 7:03d}_{run:04d}_A22KJ{run:04d}LT3"
        count = per_run + (1 if run < extra else 0)
        body = {
            "schema": "ngs-lake/sample-manifest/v1",
            "run_key": f"NVX-BOS-01/{folder}",
            "sequence": 3,
            "run": {
                "site": "boston",
                "platform": "novaseq-x",
                "flowcell": f"22KJ{run:04d}LT3",
                "instrument": "LH00123",
                "run_date": f"2026-{(run % 12) + 1:02d}-01",
                "sequencer_id": "NVX-BOS-01",
                "bytes": 0,
                "objects": 0,
            },
            "samplesheet": {"digest": f"{run:064x}", "version_id": "v1", "status": "ok"},
            "samples": [
                {
                    "sample_id": f"S{run:04d}_{n:04d}",
                    "project": f"P{n % 40:02d}",
                    "lane": n % 8 + 1,
                    "index": "ACGTACGTAC",
                    "index2": "TGCATGCATG",
                    "library": None,
                }
                for n in range(count)
            ],
        }
        path = directory / "samples" / "NVX-BOS-01" / folder / f"{run:064x}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body))
        written += count
    return written


def duckdb_report(manifest_path: Path) -> str:
    """The report's data files as DuckDB's `read_csv`, every column text but Size: what both
    DuckDB sides read, the same way."""
    from ngs_lake.inventory.report import parse_manifest

    manifest = parse_manifest(manifest_path.read_bytes(), str(manifest_path))
    files = [str(manifest_path.parent / f.key) for f in manifest.files]
    types = {c: "BIGINT" if c == "Size" else "VARCHAR" for c in manifest.columns}
    return f"read_csv({files!r}, columns = {types!r}, header = false, auto_detect = false)"


def side_duckdb(manifest_path: Path) -> dict:
    import duckdb

    report = duckdb_report(manifest_path)
    manifests = str(manifest_path.parent / "samples" / "**" / "*.json")
    started = time.perf_counter()
    db = duckdb.connect()
    db.execute(
        "CREATE TABLE agg AS SELECT split_part(url_decode(replace(\"Key\", '+', '%20')), '/', 1) "
        f'AS run, count(*) AS objects, sum("Size") AS bytes FROM {report} GROUP BY ALL'
    )
    rows = db.execute("SELECT run, objects FROM agg").fetchall()
    samples = db.execute(
        "SELECT count(*) FROM (SELECT m.run_key, unnest(m.samples, recursive := true), "
        f"a.objects, a.bytes FROM read_json_auto('{manifests}') m "
        "LEFT JOIN agg a ON a.run = split_part(m.run_key, '/', 2))"
    ).fetchone()[0]
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "runs": len(rows),
        "objects": sum(r[1] for r in rows),
        "samples": samples,
    }


def side_duckdb_copy(manifest_path: Path) -> dict:
    import duckdb

    report = duckdb_report(manifest_path)
    work = Path(tempfile.mkdtemp(prefix="ngs-lake-copy-"))
    try:
        db = duckdb.connect()
        db.execute("SET preserve_insertion_order = false")  # lets DuckDB write in parallel
        started = time.perf_counter()
        db.execute(
            f"COPY (SELECT * FROM {report}) TO '{work / 'objects.parquet'}' (FORMAT parquet)"
        )
        elapsed = time.perf_counter() - started
        objects = db.execute(f"SELECT count(*) FROM '{work / 'objects.parquet'}'").fetchone()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"seconds": elapsed, "runs": 0, "objects": objects}


def side_ngs_lake(manifest_path: Path) -> dict:
    from ngs_lake.inventory.catalog import SourceBucket, catalogue_bucket
    from ngs_lake.inventory.report import fetch_verified, parse_manifest

    manifest = parse_manifest(manifest_path.read_bytes(), str(manifest_path))
    work = Path(tempfile.mkdtemp(prefix="ngs-lake-catalogue-"))
    try:
        started = time.perf_counter()
        # The catalogue's own verified fetch, from the local files instead of S3.
        local = fetch_verified(
            manifest.files,
            lambda entry: (manifest_path.parent / entry.key).open("rb"),
            work,
            str(manifest_path),
        )
        summary = catalogue_bucket(
            local,
            manifest.file_format,
            manifest.columns,
            SourceBucket("ngs-lake-nvx-bos-01", "NVX-BOS-01", "boston", "novaseq-x"),
            manifest.created_at,
            work / "out",
        )
        samples = samples_table(manifest_path.parent / "samples", summary.files[1], work)
        elapsed = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "seconds": elapsed,
        "runs": summary.runs,
        "objects": summary.objects,
        "samples": samples,
    }


def samples_table(folder: Path, runs_file: Path, work: Path) -> int:
    """The catalogue's samples table, as inventory_catalog builds it from the manifests."""
    import polars as pl

    from ngs_lake.inventory.samples_catalog import samples_from_files

    runs = pl.read_parquet(runs_file, columns=["run_key", "files", "bytes"])
    frame = samples_from_files(sorted(folder.rglob("*.json")), runs)
    frame.write_parquet(work / "samples.parquet", compression="lz4")
    return frame.height


SIDES = {"duckdb": side_duckdb, "duckdb_copy": side_duckdb_copy, "ngs_lake": side_ngs_lake}


def peak_rss_mib() -> float:
    """This process's own peak RSS (VmHWM): unlike ru_maxrss, not inherited from the parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_side(side: str, manifest: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--side", side, "--manifest", str(manifest)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--side", choices=tuple(SIDES))
    parser.add_argument("--manifest", type=Path)
    args = parser.parse_args()
    if args.side:
        result = SIDES[args.side](args.manifest)
        result["peak_mib"] = peak_rss_mib()
        print(json.dumps(result))
        return

    directory = Path(tempfile.mkdtemp(prefix="ngs-lake-inventory-bench-"))
    try:
        t0 = time.perf_counter()
        manifest = generate(directory, args.objects)
        samples = generate_sample_manifests(directory, args.objects, args.samples)
        size = sum(p.stat().st_size for p in directory.glob("*.csv.gz"))
        print(
            f"generated {args.objects:,} objects in {FILES} CSV.gz files "
            f"({size / 1e6:.1f} MB) and {samples:,} samples in per-run manifests "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        results: dict[str, list[dict]] = {"duckdb": [], "duckdb_copy": [], "ngs_lake": []}
        for _ in range(args.repeat):
            for side in results:  # alternate, so drift in machine load hits both
                results[side].append(run_side(side, manifest))
        for side, runs in results.items():
            if {r["objects"] for r in runs} != {args.objects}:
                raise SystemExit(f"{side} counted {[r['objects'] for r in runs]} objects")
            if side != "duckdb_copy" and {r["samples"] for r in runs} != {samples}:
                raise SystemExit(f"{side} counted {[r['samples'] for r in runs]} samples")
        ours, base = results["ngs_lake"], results["duckdb"]
        t_ours = statistics.median(r["seconds"] for r in ours)
        t_base = statistics.median(r["seconds"] for r in base)
        t_copy = statistics.median(r["seconds"] for r in results["duckdb_copy"])
        m_ours = max(r["peak_mib"] for r in ours)
        m_base = max(r["peak_mib"] for r in base)
        print(
            f"duckdb read+aggregate   : {t_base:6.2f} s   peak {m_base:6.0f} MiB  (median of {args.repeat})"
        )
        print(
            f"duckdb copy to Parquet  : {t_copy:6.2f} s   ({t_copy / t_base:.2f}x the read+aggregate: "
            "DuckDB writing a row per object, nothing else)"
        )
        print(
            f"ngs_lake catalogue      : {t_ours:6.2f} s   peak {m_ours:6.0f} MiB  ({ours[0]['runs']} runs, "
            f"{t_ours / t_copy:.2f}x the bare copy)"
        )
        ratio = t_ours / t_base
        print(
            f"time ratio {ratio:.2f} (goal <= {GOAL_TIME_RATIO}), "
            f"peak {m_ours:.0f} MiB (goal <= {GOAL_PEAK_MIB} MiB)"
        )
        print(
            json.dumps(
                {
                    "bench": "inventory",
                    "ngs_lake_s": t_ours,
                    "duckdb_s": t_base,
                    "ratio": ratio,
                    "duckdb_copy_s": t_copy,
                    "copy_ratio": t_copy / t_base,
                    "ngs_lake_peak_mib": m_ours,
                    "duckdb_peak_mib": m_base,
                }
            )
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
