"""Is a run completely in S3? Checked against the ledger and against the run's own geometry.

NotifyWhenUploaded covers the whole share and says nothing about files that never reached it,
so completion is verified per run: every file the ledger recorded must be in S3 with its size
(one paginated ListObjectsV2 under the run's prefix, not a HEAD per file), and the platform's
expected-file check, driven by the run's own metadata, must find nothing missing.

It fails closed: the check is only as good as the metadata it reads, so a metadata or marker file
that cannot be read (GetObject denied, a connection lost) or parsed (malformed, or a geometry
beyond the instrument's) fails the run, with a reason naming the file, instead of being skipped.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ngs_lake.platforms import family_of
from ngs_lake.platforms.base import RunLocation
from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock
from ngs_lake.runs.fixity_checksums import ChecksumReadOverBudget, ObjectChecksum, read_checksums
from ngs_lake.runs.fixity_instrument import InstrumentCheck, check_instrument_hashes
from ngs_lake.runs.model import Run, RunFile

NAMED_HASH_FAILURES = 20  # hash failures named one by one; the rest are counted


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
    expected_count: int = 0  # 0 when a file the check needs could not be read
    metadata: dict[str, Any] = field(default_factory=dict)  # the instrument's, e.g. flowcell
    unreadable: dict[str, str] = field(default_factory=dict)  # relative path -> why, naming it
    # Fixity, read once everything else passed: each object's checksum, and the instrument's
    # own hashes checked against the lake's bytes (runs/fixity_*.py).
    checksums: dict[str, ObjectChecksum] = field(default_factory=dict)
    instrument: list[InstrumentCheck] = field(default_factory=list)
    hash_file: str | None = None

    @property
    def instrument_failures(self) -> list[InstrumentCheck]:
        return [check for check in self.instrument if check.failed]

    @property
    def passed(self) -> bool:
        return not (
            self.missing_from_s3
            or self.size_mismatch
            or self.missing_expected
            or self.unreadable
            or self.instrument_failures
        )

    @property
    def reasons(self) -> list[str]:
        """Why files could not be checked or do not hold the instrument's bytes, one sentence
        per file, each naming it (and for a hash mismatch, both digests)."""
        unreadable = [self.unreadable[path] for path in sorted(self.unreadable)]
        hash_file = self.hash_file or "the instrument's hash list"
        failures = self.instrument_failures
        named = [c.reason(hash_file) for c in failures[:NAMED_HASH_FAILURES]]
        if len(failures) > NAMED_HASH_FAILURES:  # the ledger item stays under 400 KB
            more = len(failures) - NAMED_HASH_FAILURES
            named.append(f"and {more} more files not as {hash_file} lists them")
        return unreadable + named

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


class OverBudget(Exception):
    """The run's listing did not fit the time it was given; a Dagster run verifies it instead."""


def _within(deadline: float | None, run_folder: str, clock: Clock) -> None:
    if deadline is not None and clock.monotonic() >= deadline:
        raise OverBudget(f"{run_folder}: listing not done within the tick's verification budget")


def list_run_objects(
    s3: Any,
    bucket: str,
    run_folder: str,
    deadline: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, S3Object]:
    """Every object under the run's prefix; OverBudget once `deadline` (monotonic) passes."""
    prefix = f"{run_folder}/"
    objects: dict[str, S3Object] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        _within(deadline, run_folder, clock)
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


def _read_failure(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')} ({error.get('Message', '')})"
    return f"{type(exc).__name__} ({exc})"


def read_metadata(s3: Any, run: Run, result: Verification) -> dict[str, bytes]:
    """The content of the run's metadata and marker files; each one that cannot be read goes
    into `result.unreadable`, with the error S3 or botocore gave."""
    family = family_of(run.platform)
    patterns = family.metadata_paths(run.platform, run.run_folder)
    wanted = sorted(
        path
        for path in result.objects
        if any(fnmatch.fnmatch(path, p) for p in patterns)
        or family.is_completion_marker(run.platform, RunLocation(run.run_folder, path))
    )
    contents = {}
    for path in wanted:
        try:
            body = s3.get_object(Bucket=run.bucket, Key=result.objects[path].key)["Body"]
            contents[path] = body.read()
        except (ClientError, BotoCoreError) as exc:
            result.unreadable[path] = f"{path} could not be read: {_read_failure(exc)}"
    return contents


def _named_file(message: str, paths: list[str]) -> str:
    """The file a family's error is about: its messages start with the file's name or stem
    (`RunInfo.xml: ...`, `final_summary: ...`, `.transferdone: ...`)."""
    label = message.split(":", 1)[0].split(" ", 1)[0]
    named = [p for p in paths if label and label in p.rsplit("/", 1)[-1]]
    return named[0] if named else ", ".join(paths) or "metadata"


def _unparsed(result: Verification, paths: list[str], exc: ValueError) -> None:
    message = str(exc)
    path = _named_file(message, paths)
    reason = message if message.startswith(path) else f"{path}: {message}"
    result.unreadable.setdefault(path, reason)


def verify_run(
    s3: Any,
    run: Run,
    ledger_files: list[RunFile],
    deadline: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Verification:
    """One listing of the run's prefix, checked against the ledger and the run's geometry; the
    metadata files read for the geometry also give the run's metadata. With a `deadline`
    (`clock.monotonic`), OverBudget if the listing and the checks are not done by then.

    The expected-file check runs only on metadata that was read in full: without it the check
    would judge the run by a guess (RunInfo.xml unread: one file expected, none missing).
    """
    result = Verification(run.run_key)
    result.objects = list_run_objects(s3, run.bucket, run.run_folder, deadline, clock)
    for row in ledger_files:
        found = result.objects.get(row.path)
        if found is None:
            result.missing_from_s3.append(row.path)
        elif found.size != row.size and not _an_earlier_version(
            s3, run.bucket, found.key, row.size
        ):
            result.size_mismatch.append(row.path)
    _within(deadline, run.run_folder, clock)
    contents = read_metadata(s3, run, result)
    if result.unreadable:
        return result
    family = family_of(run.platform)
    paths = sorted(contents)
    try:  # the families' documented error for a file's content: ValueError (PlatformFileError)
        report = family.check_expected_files(
            run.platform, run.run_folder, contents, set(result.objects)
        )
        result.expected_count = report.expected
        result.missing_expected = list(report.missing)
    except ValueError as exc:
        _unparsed(result, paths, exc)
    try:
        result.metadata = family.parse_metadata(run.platform, contents)
    except ValueError as exc:
        _unparsed(result, paths, exc)
    if result.passed:
        read_fixity(s3, run, result, contents, deadline, clock)
    return result


def read_fixity(
    s3: Any,
    run: Run,
    result: Verification,
    contents: dict[str, bytes],
    deadline: float | None,
    clock: Clock,
) -> None:
    """Every object's checksum (one call each, in parallel), then the instrument's hashes
    compared with them; an object whose checksum S3 refused is unreadable, naming it."""
    family = family_of(run.platform)
    try:
        hashes = family.instrument_hashes(run.platform, contents)
    except ValueError as exc:
        _unparsed(result, sorted(contents), exc)
        return
    keys = {path: o.key for path, o in result.objects.items()}
    try:
        reads = read_checksums(s3, run.bucket, keys, deadline, clock)
        for path, why in reads.errors.items():
            result.unreadable[path] = f"{path}: its checksum could not be read: {why}"
        result.checksums = reads.checksums
        if hashes is None or reads.errors:
            return
        result.hash_file = hashes.file
        result.instrument = check_instrument_hashes(
            s3, run.bucket, hashes.sha256, reads.checksums, deadline, clock
        )
    except ChecksumReadOverBudget as exc:
        raise OverBudget(f"{run.run_folder}: {exc}") from None
