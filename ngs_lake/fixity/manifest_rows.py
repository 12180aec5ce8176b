"""The run manifest's rows: every current object version of the run, with the checksum its
fixity record holds for that version. A version the record does not name (a file amended after
completion) has its checksum read now, with one GetObjectAttributes."""

from __future__ import annotations

from typing import Any

from ngs_lake.runs.fixity_checksums import read_checksum
from ngs_lake.runs.fixity_record import FixityRecord, ObjectFixity
from ngs_lake.runs.model import Run

COLUMNS = (
    "key",
    "size",
    "etag",
    "version_id",
    "last_modified",
    "checksum_algorithm",
    "checksum",
    "checksum_type",
    "instrument_sha256",
    "instrument_result",
)


def manifest_rows(s3: Any, run: Run, record: FixityRecord | None) -> dict[str, list[Any]]:
    recorded: dict[tuple[str, str | None], ObjectFixity] = {
        (o.key, o.version_id): o for o in (record.objects if record else [])
    }
    rows: dict[str, list[Any]] = {column: [] for column in COLUMNS}
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=run.bucket, Prefix=f"{run.run_folder}/"
    ):
        for version in page.get("Versions", []):
            if not version.get("IsLatest"):
                continue
            key, version_id = version["Key"], version.get("VersionId")
            fixity = recorded.get((key, version_id))
            if fixity is None:
                found = read_checksum(s3, run.bucket, key, version_id)
                algorithm, checksum, kind = found.algorithm, found.value, found.checksum_type
                instrument = (None, None)
            else:
                algorithm, checksum, kind = fixity.algorithm, fixity.checksum, fixity.checksum_type
                instrument = (fixity.instrument_sha256, fixity.instrument_result)
            rows["key"].append(key)
            rows["size"].append(version["Size"])
            rows["etag"].append(version.get("ETag", "").strip('"'))
            rows["version_id"].append(version_id)
            rows["last_modified"].append(version["LastModified"].isoformat())
            rows["checksum_algorithm"].append(algorithm)
            rows["checksum"].append(checksum)
            rows["checksum_type"].append(kind)
            rows["instrument_sha256"].append(instrument[0])
            rows["instrument_result"].append(instrument[1])
    return rows
