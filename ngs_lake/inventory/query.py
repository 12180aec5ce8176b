"""SQL over the catalogue with DuckDB: `objects`, `runs`, `sequencers` and `samples` views.

The catalogue's Parquet files are mirrored from the catalogue bucket into a local folder (only
files whose size or ETag changed are fetched again), then read with Hive partitioning, so
`site` and `sequencer_id` come from the partition path and prune the files a query reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from ngs_lake.inventory.refresh import CATALOG_PREFIX, TABLES
from ngs_lake.inventory.samples_catalog import MANIFEST_PREFIX, register_samples

# The inventory's tables, and the fixity audit's (ngs_lake/fixity/evidence.py writes it).
VIEWS = (*TABLES, "fixity")


def mirror_catalogue(s3: Any, bucket: str, into: Path, tables: tuple[str, ...] = VIEWS) -> Path:
    """Bring the local copy of the catalogue up to date; returns the folder holding `catalog/`."""
    wanted: set[Path] = set()
    for table in tables:
        prefix = f"{CATALOG_PREFIX}/{table}/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                target = into / item["Key"]
                wanted.add(target)
                stamp = target.with_name(target.name + ".etag")
                etag = item.get("ETag", "")
                if target.is_file() and stamp.is_file() and stamp.read_text() == etag:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(target))
                stamp.write_text(etag)
        local = into / prefix
        if local.is_dir():
            for stale in local.rglob("*.parquet"):
                if stale not in wanted:  # a sequencer removed from the catalogue
                    stale.unlink()
    return into


def open_catalogue(folder: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per catalogue table (empty views for absent tables)."""
    db = duckdb.connect()
    for table in VIEWS:
        files = sorted((folder / CATALOG_PREFIX / table).rglob("*.parquet"))
        if not files:
            db.execute(f"CREATE VIEW {table} AS {_EMPTY[table]}")
            continue
        listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
        source = f"read_parquet([{listed}], hive_partitioning = true, hive_types_autocast = false)"
        extra = (
            ", sequencer_id || '/' || run_folder AS run_key, "
            "substr(key, length(run_folder) + 2) AS relative_path"
            if table == "objects"
            else ""
        )
        db.execute(f"CREATE VIEW {table} AS SELECT *{extra} FROM {source}")
    # Issue #31: `samples`, from the per-run manifests mirrored beside the catalogue.
    register_samples(db, sorted((folder / MANIFEST_PREFIX).rglob("*.json")))
    return db


_EMPTY = {
    "objects": (
        "SELECT ''::VARCHAR AS site, ''::VARCHAR AS sequencer_id, ''::VARCHAR AS key, "
        "''::VARCHAR AS run_folder, ''::VARCHAR AS run_key, ''::VARCHAR AS relative_path, "
        "0::BIGINT AS size, "
        "NULL::TIMESTAMP AS last_modified LIMIT 0"
    ),
    "runs": (
        "SELECT ''::VARCHAR AS site, ''::VARCHAR AS sequencer_id, ''::VARCHAR AS run_key, "
        "''::VARCHAR AS platform, 0::BIGINT AS files, 0::BIGINT AS bytes, "
        "NULL::TIMESTAMP AS first_modified, NULL::TIMESTAMP AS last_modified LIMIT 0"
    ),
    "sequencers": (
        "SELECT ''::VARCHAR AS site, ''::VARCHAR AS sequencer_id, ''::VARCHAR AS platform, "
        "0::BIGINT AS runs, 0::BIGINT AS objects, 0::BIGINT AS bytes LIMIT 0"
    ),
    "fixity": (
        "SELECT ''::VARCHAR AS audit_date, ''::VARCHAR AS run_key, ''::VARCHAR AS bucket, "
        "''::VARCHAR AS key, ''::VARCHAR AS version_id, 0::BIGINT AS size, "
        "''::VARCHAR AS result LIMIT 0"
    ),
}


def run_query(db: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    relation = db.execute(sql)
    columns = [d[0] for d in relation.description or []]
    return columns, relation.fetchall()


def format_table(columns: list[str], rows: list[tuple]) -> str:
    """A plain fixed-width table, numbers right-aligned with thousands separators."""

    def text(value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:,.2f}"
        return "" if value is None else str(value)

    cells = [[text(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(columns))
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)
