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

from collections.abc import Iterable, Sequence
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
RUN_FIELDS = {  # samples column: the manifest's `run` field
    "flowcell": "flowcell",
    "instrument": "instrument",
    "platform": "platform",
    "site": "site",
    "sequencer_id": "sequencer_id",
    "run_date": "run_date",
    "run_bytes": "bytes",
    "run_objects": "objects",
}
# What the table reads of a manifest (runs/sample_manifest.py); other fields are left alone.
MANIFEST_SCHEMA = {
    "run_key": pl.String(),
    "sequence": pl.Int64(),
    "run": pl.Struct(
        {
            source: pl.Int64() if source in ("bytes", "objects") else pl.String()
            for source in RUN_FIELDS.values()
        }
    ),
    "samplesheet": pl.Struct({"digest": pl.String(), "version_id": pl.String()}),
    "samples": pl.List(
        pl.Struct({n: pl.Int64() if n == "lane" else pl.String() for n in SAMPLE_FIELDS})
    ),
}


def samples_frame(
    manifests: Iterable[dict[str, Any]], runs: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The samples table from manifests in memory (see `samples_from_files`)."""
    rows = [{k: m.get(k) for k in MANIFEST_SCHEMA} for m in manifests]
    return _samples(pl.from_dicts(rows, schema=MANIFEST_SCHEMA).lazy(), runs)


def samples_from_files(paths: Sequence[Path], runs: pl.DataFrame | None = None) -> pl.DataFrame:
    """The samples table from manifest files, read by polars (each manifest is one JSON line,
    so the files are NDJSON; parsed in parallel, outside Python)."""
    if not paths:
        return samples_frame([], runs)
    return _samples(pl.scan_ndjson(list(paths), schema=MANIFEST_SCHEMA), runs)


def _samples(manifests: pl.LazyFrame, runs: pl.DataFrame | None) -> pl.DataFrame:
    """Per run its latest manifest (highest `sequence`: the sheet in force, revised or pinned),
    a row per sample; `runs` (the catalogue's runs: run_key, files, bytes), when given, supplies
    the run's bytes and objects as the inventory counts them."""
    latest = manifests.sort("sequence").unique(subset="run_key", keep="last")
    frame = (
        latest.explode("samples")
        .filter(pl.col("samples").is_not_null())
        .select(
            *(pl.col("samples").struct.field(n).alias(n) for n in SAMPLE_FIELDS),
            "run_key",
            *(pl.col("run").struct.field(s).alias(n) for n, s in RUN_FIELDS.items()),
            pl.col("samplesheet").struct.field("digest").alias("sheet_digest"),
            pl.col("samplesheet").struct.field("version_id").alias("sheet_version_id"),
        )
        .with_columns(
            pl.col("lane").cast(pl.Int32),
            pl.col("run_date").str.to_date("%Y-%m-%d", strict=False),
        )
    )
    if runs is not None and runs.height:
        counted = runs.lazy().select(
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
    return frame.select(list(COLUMNS)).collect()


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


def register_samples(db: duckdb.DuckDBPyConnection, manifest_files: Sequence[Path]) -> None:
    """The `samples` view, from the manifests as they are now, with bytes and objects from the
    `runs` view where the inventory has the run."""
    db.register("samples_from_manifests", samples_from_files(manifest_files).to_arrow())
    db.execute(
        "CREATE VIEW samples AS SELECT s.* REPLACE ("
        "coalesce(r.bytes, s.run_bytes) AS run_bytes, coalesce(r.files, s.run_objects) "
        "AS run_objects) FROM samples_from_manifests s LEFT JOIN runs r USING (run_key)"
    )
