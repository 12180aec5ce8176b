"""Is a run completely in S3? Checked against the ledger and against the run's own geometry.

NotifyWhenUploaded covers the whole share and says nothing about files that never reached it,
so completion is verified per run: every file the ledger recorded must be in S3 with its size
(one paginated ListObjectsV2 under the run's prefix, not a HEAD per file), and the platform's
expected-file check, driven by the run's own metadata, must find nothing missing.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake.platforms import family_of
from ngs_lake.platforms.base import RunLocation
from ngs_lake.runs.model import Run, RunFile


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


@dataclass
class Verification:
    run_key: str
    objects: dict[str, S3Object] = field(default_factory=dict)  # relative path -> object
    missing_from_s3: list[str] = field(default_factory=list)  # in the ledger, not in S3
    size_mismatch: list[str] = field(default_factory=list)
    missing_expected: list[str] = field(default_factory=list)  # by the platform's check
    expected_count: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)  # the instrument's, e.g. flowcell

    @property
    def passed(self) -> bool:
        return not (self.missing_from_s3 or self.size_mismatch or self.missing_expected)

    @property
    def missing(self) -> list[str]:
        return sorted(
            set(self.missing_from_s3) | set(self.missing_expected) | set(self.size_mismatch)
        )

    @property
    def files(self) -> int:
        return sum(1 for path in self.objects if not path.endswith("/"))

    @property
    def bytes(self) -> int:
        return sum(o.size for o in self.objects.values())


def list_run_objects(s3: Any, bucket: str, run_folder: str) -> dict[str, S3Object]:
    prefix = f"{run_folder}/"
    objects: dict[str, S3Object] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if relative:
                objects[relative] = S3Object(item["Key"], item["Size"], item.get("ETag", ""))
    return objects


def _an_earlier_version(s3: Any, bucket: str, key: str, size: int) -> bool:
    """Whether the ledger's size is that of an earlier version of the object.

    The ledger keeps the size from the last event it processed for a path. For a file the
    instrument rewrote, an older event that arrived late (redelivered, replayed, reordered)
    can leave an earlier version's size there while S3 holds the newer file. That is not a
    missing upload: the current object is newer than what the ledger saw. A size that matches
    no version at all still fails.
    """
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        if any(v["Key"] == key and v.get("Size") == size for v in page.get("Versions", [])):
            return True
    return False


def verify_run(s3: Any, run: Run, ledger_files: list[RunFile]) -> Verification:
    """One listing of the run's prefix, checked against the ledger and the run's geometry; the
    metadata files read for the geometry also give the run's metadata."""
    result = Verification(run.run_key)
    result.objects = list_run_objects(s3, run.bucket, run.run_folder)
    for row in ledger_files:
        found = result.objects.get(row.path)
        if found is None:
            result.missing_from_s3.append(row.path)
        elif found.size != row.size and not _an_earlier_version(
            s3, run.bucket, found.key, row.size
        ):
            result.size_mismatch.append(row.path)
    family = family_of(run.platform)
    patterns = family.metadata_paths(run.platform, run.run_folder)
    present = set(result.objects)
    wanted = {
        path
        for path in present
        if any(fnmatch.fnmatch(path, p) for p in patterns)
        or family.is_completion_marker(run.platform, RunLocation(run.run_folder, path))
    }
    contents = {}
    for path in wanted:
        try:
            body = s3.get_object(Bucket=run.bucket, Key=result.objects[path].key)["Body"]
            contents[path] = body.read()
        except ClientError:
            continue
    report = family.check_expected_files(run.platform, run.run_folder, contents, present)
    result.expected_count = report.expected
    result.missing_expected = list(report.missing)
    try:
        result.metadata = family.parse_metadata(run.platform, contents)
    except ValueError as exc:  # unreadable instrument files: said so, beside the verdict
        result.metadata = {"metadata_error": str(exc)}
    return result
