"""What the catalogue's asset checks assert, computed over one bucket's catalogued objects.

Each audit reads the objects Parquet just written (DuckDB, a few columns), so checking a
million-object bucket costs a fraction of a second and never loads it into Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

ENCRYPTED = ("SSE-KMS", "DSSE-KMS", "SSE-S3", "SSE-C")
SAMPLE = 5  # offending keys named per finding


@dataclass(frozen=True)
class Finding:
    """How many objects break a rule, and the first few of them by key."""

    count: int
    sample: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.count == 0

    def describe(self, bucket: str) -> str:
        shown = ", ".join(self.sample)
        more = f" and {self.count - len(self.sample)} more" if self.count > len(self.sample) else ""
        return f"{bucket}: {self.count} ({shown}{more})"


def _finding(db: duckdb.DuckDBPyConnection, objects: Path, where: str, params: dict) -> Finding:
    source = f"read_parquet('{objects}')"
    count = db.execute(f"SELECT count(*) FROM {source} WHERE {where}", params).fetchone()
    keys = db.execute(
        f"SELECT key FROM {source} WHERE {where} ORDER BY key LIMIT {SAMPLE}", params
    ).fetchall()
    return Finding(int(count[0]) if count else 0, tuple(k[0] for k in keys))


def unencrypted(objects: Path) -> Finding:
    with duckdb.connect() as db:
        return _finding(
            db,
            objects,
            "encryption_status IS NULL OR encryption_status NOT IN $ok",
            {"ok": list(ENCRYPTED)},
        )


def not_locked(objects: Path, retention_days: int) -> Finding:
    """Current objects not under COMPLIANCE until at least upload time plus the retention.

    S3 computes a default retain-until from the upload instant; a minute of slack absorbs the
    gap between that instant and LastModified.
    """
    with duckdb.connect() as db:
        return _finding(
            db,
            objects,
            "object_lock_mode IS DISTINCT FROM 'COMPLIANCE' OR retain_until IS NULL OR "
            "retain_until < last_modified + to_days($days) - INTERVAL 1 MINUTE",
            {"days": retention_days},
        )


def missing_from_inventory(objects: Path, ledger_keys: Iterable[str]) -> Finding:
    """Keys the ledger recorded as uploaded (before the report) that the report lacks."""
    with duckdb.connect() as db:
        db.register("recorded", pa.table({"key": pa.array(list(ledger_keys), pa.string())}))
        where = f"key NOT IN (SELECT key FROM read_parquet('{objects}'))"
        count = db.execute(f"SELECT count(*) FROM recorded WHERE {where}").fetchone()
        keys = db.execute(
            f"SELECT key FROM recorded WHERE {where} ORDER BY key LIMIT {SAMPLE}"
        ).fetchall()
    return Finding(int(count[0]) if count else 0, tuple(k[0] for k in keys))


def report_age_days(report_time: datetime, now: datetime) -> float:
    return (now - report_time).total_seconds() / 86400
