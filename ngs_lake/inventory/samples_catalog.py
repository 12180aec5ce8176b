"""The catalogue's `samples` table (issue #31): one row per sample and lane of each run's sheet in
force, with the run it was sequenced in (key, flowcell, instrument, platform, site, date), the
sheet's digest and the run's bytes and objects.

It is made from the per-run sample manifests (runs/sample_manifest.py) in the catalogue bucket:
`ngs-lake catalog query` reads them directly, so a run's samples are queryable as soon as it
completes, while the daily `inventory_catalog` also writes the table as Parquet
(`catalog/samples/samples.parquet`), its bytes and objects from the inventory when it has the
run (S3 Inventory can lag by up to 48 hours:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

MANIFEST_PREFIX = "samples/"
SAMPLES_TABLE_KEY = "catalog/samples/samples.parquet"
COLUMNS: dict[str, pl.DataType] = {
    "sample_id": pl.String(),
    "project": pl.String(),
    "lane": pl.Int32(),
    "index": pl.String(),
    "index2": pl.String(),
    "library": pl.String(),
    "run_key": pl.String(),
    "flowcell": pl.String(),
    "instrument": pl.String(),
    "platform": pl.String(),
    "site": pl.String(),
    "sequencer_id": pl.String(),
    "run_date": pl.Date(),
    "sheet_digest": pl.String(),
    "sheet_version_id": pl.String(),
    "run_bytes": pl.Int64(),
    "run_objects": pl.Int64(),
}


def latest_manifests(manifests: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run, the manifest of its latest announcement (highest `sequence`): the sheet in
    force, pinned or revised."""
    latest: dict[str, dict[str, Any]] = {}
    for manifest in manifests:
        held = latest.get(manifest["run_key"])
        if held is None or manifest.get("sequence", 0) > held.get("sequence", 0):
            latest[manifest["run_key"]] = manifest
    return list(latest.values())


SAMPLE_FIELDS = ("sample_id", "project", "lane", "index", "index2", "library")
RUN_FIELDS = {
    "flowcell": "flowcell",
    "instrument": "instrument",
    "platform": "platform",
    "site": "site",
    "sequencer_id": "sequencer_id",
    "run_date": "run_date",
    "run_bytes": "bytes",
    "run_objects": "objects",
}


def samples_frame(
    manifests: Iterable[dict[str, Any]], runs: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The samples table; `runs` (the catalogue's runs: run_key, files, bytes), when given,
    supplies the run's bytes and objects as the inventory counts them. Built a run at a time
    (polars reads each run's sample dicts at once), then joined with one row per run."""
    sample_schema = {n: COLUMNS[n] for n in SAMPLE_FIELDS}
    parts, per_run = [], []
    for manifest in latest_manifests(manifests):
        run, sheet = manifest.get("run") or {}, manifest.get("samplesheet") or {}
        samples = manifest.get("samples") or []
        if samples:
            part = pl.from_dicts(samples, schema=sample_schema)
            parts.append(part.with_columns(pl.lit(manifest["run_key"]).alias("run_key")))
        per_run.append(
            {"run_key": manifest["run_key"]}
            | {name: run.get(source) for name, source in RUN_FIELDS.items()}
            | {"sheet_digest": sheet.get("digest"), "sheet_version_id": sheet.get("version_id")}
        )
    run_schema = {"run_key": pl.String(), **{n: COLUMNS[n] for n in RUN_FIELDS}}
    run_schema |= {"run_date": pl.String(), "sheet_digest": pl.String()}
    run_schema["sheet_version_id"] = pl.String()
    run_rows = pl.from_dicts(per_run or [{}], schema=run_schema).with_columns(
        pl.col("run_date").str.to_date("%Y-%m-%d", strict=False)
    )
    empty = pl.DataFrame(schema={**sample_schema, "run_key": pl.String()})
    frame = (pl.concat(parts) if parts else empty).join(run_rows, on="run_key", how="left")
    if runs is not None and runs.height:
        counted = runs.select(
            "run_key",
            pl.col("bytes").cast(pl.Int64).alias("_bytes"),
            pl.col("files").cast(pl.Int64).alias("_objects"),
        )
        frame = (
            frame.join(counted, on="run_key", how="left")
            .with_columns(
                pl.coalesce("_bytes", "run_bytes").alias("run_bytes"),
                pl.coalesce("_objects", "run_objects").alias("run_objects"),
            )
            .drop("_bytes", "_objects")
        )
    return frame.select(list(COLUMNS))


def read_manifests(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """Every manifest in the catalogue bucket (the daily table's source)."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=MANIFEST_PREFIX):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".json"):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                out.append(json.loads(body))
    return out


def mirror_manifests(s3: Any, bucket: str, into: Path) -> list[Path]:
    """The manifests, copied into `into` (only the new or changed ones fetched again)."""
    paths = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=MANIFEST_PREFIX):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".json"):
                continue
            target = into / item["Key"]
            stamp = target.with_name(target.name + ".etag")
            etag = item.get("ETag", "")
            if not (target.is_file() and stamp.is_file() and stamp.read_text() == etag):
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(target))
                stamp.write_text(etag)
            paths.append(target)
    return paths


def register_samples(db: duckdb.DuckDBPyConnection, manifest_files: Iterable[Path]) -> None:
    """The `samples` view, from the manifests as they are now, with bytes and objects from the
    `runs` view where the inventory has the run."""
    manifests = [json.loads(p.read_text()) for p in manifest_files]
    frame = samples_frame(manifests)
    db.register("samples_from_manifests", frame.to_arrow())
    db.execute(
        "CREATE VIEW samples AS SELECT s.* REPLACE ("
        "coalesce(r.bytes, s.run_bytes) AS run_bytes, coalesce(r.files, s.run_objects) "
        "AS run_objects) FROM samples_from_manifests s LEFT JOIN runs r USING (run_key)"
    )
