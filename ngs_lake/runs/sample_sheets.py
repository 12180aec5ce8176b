"""Sample sheet versions in the ledger (issue #31): recorded when a sheet lands and again for each
new S3 version of it, pinned by an operator, and announced once per later version.

The buckets are versioned, so a re-written sheet is a new object version. On each upload event
of a run's sheet file the lake asks S3 which version is there now (HeadObject's VersionId),
reads that version's bytes, and records it in the run log as `samplesheet#<key>`, keyed by the
path, the VersionId and the SHA-256 of the bytes, with a put that only creates: a redelivered
or replayed event finds its version recorded and records nothing new.

Bounded: a version item holds the sheet's summary (status, sample count, at most 50 projects),
never its sample rows; the samples are read again from the S3 version itself (by VersionId,
its digest checked) when the per-run sample manifest is written. The run item carries only the
summary of the version in force: the latest, unless an operator pinned one.

A later version of a COMPLETED run whose bytes differ from the version in force is announced as
`run.samplesheet_changed`, its version put in the same transaction as the announcement, so
each version is announced at most once. A sheet that cannot be read, or is ambiguous, is
recorded as such (`samplesheet: unreadable|invalid: <reason>`) and never stops the run.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from ngs_lake.platforms.nanopore import FINAL_SUMMARY
from ngs_lake.platforms.sample_sheet_readers import is_sample_sheet, read_sample_sheet
from ngs_lake.platforms.sample_sheets import SampleSheet, SheetFormat, SheetStatus
from ngs_lake.runs.dynamo_items import from_item, to_item
from ngs_lake.runs.ledger import RunLedger, TransitionConflict
from ngs_lake.runs.model import MAX_REASON_CHARS, Run, RunState, Trigger, utc_iso

log = logging.getLogger(__name__)

SHEET = "samplesheet#"
PIN = "sheetpin#"
MAX_PROJECTS = 50  # projects named in a summary; `projects_total` counts them all
ATTEMPTS = 3
# A Nanopore run's `sample_sheet_*.csv` names its barcoded samples; its final summary one sample:
# the summary is the run's sheet only when there is no sample sheet.
_RANK = {SheetFormat.NANOPORE_SUMMARY: 0}


class SheetVersion(BaseModel):
    """One recorded version of a run's sheet: what it is and what it says, never its samples."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    entry: str
    path: str
    version_id: str
    digest: str
    landed_at: str  # S3's LastModified of the version, UTC (to the second)
    # Recording order, which is landing order: each event records the version S3 holds then.
    number: int = 0
    format: str | None = None
    status: str
    reason: str | None = None
    sample_count: int = 0
    projects: list[str] = []
    projects_total: int = 0
    pinned: str | None = None

    def summary(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class SheetRefused(Exception):
    """S3 would not give the lake a sheet (HeadObject or GetObject failed); names the object
    and the error code."""


class SheetNotFound(ValueError):
    """No such version recorded for the run; the message names the run and the version."""


def version_entry(path: str, version_id: str, digest: str) -> str:
    key = hashlib.sha256(f"{path}\n{version_id}\n{digest}".encode()).hexdigest()[:40]
    return f"{SHEET}{key}"


def sheet_version(
    path: str, version_id: str, data: bytes, landed_at: str, sheet: SampleSheet | None, error: str
) -> SheetVersion:
    """The version's summary: `sheet` as read, or None with why no parser read it."""
    digest = hashlib.sha256(data).hexdigest()
    common = {
        "entry": version_entry(path, version_id, digest),
        "path": path,
        "version_id": version_id,
        "digest": digest,
        "landed_at": landed_at,
    }
    if sheet is None:
        return SheetVersion(
            **common, status=SheetStatus.UNREADABLE.value, reason=error[:MAX_REASON_CHARS]
        )
    projects = sheet.projects
    return SheetVersion(
        **common,
        format=sheet.format.value,
        status=sheet.status.value,
        reason=(sheet.reason or "")[:MAX_REASON_CHARS] or None,
        sample_count=len({(s.sample_id, s.lane) for s in sheet.samples}),
        projects=projects[:MAX_PROJECTS],
        projects_total=len(projects),
    )


def _rank(summary: dict[str, Any] | SheetVersion | None) -> int:
    if summary is None:
        return -1
    fmt = summary.format if isinstance(summary, SheetVersion) else summary.get("format")
    return _RANK.get(SheetFormat(fmt), 1) if fmt else 1


def in_force(run: Run, version: SheetVersion) -> bool:
    """Whether `version`, the one in S3 now, becomes the run's sheet: unless an operator pinned
    one, or it is a Nanopore final summary and the run has a sample sheet."""
    current = run.samplesheet
    if current is not None and current.get("pinned"):
        return False
    return _rank(version) >= _rank(current)


def changes_sheet(run: Run, version: SheetVersion) -> bool:
    """A COMPLETED run's later version that consumers must hear of: in force, and other bytes
    than the version they were last told of (a re-saved, identical sheet is not a change)."""
    current = run.samplesheet or {}
    return (
        run.state == RunState.COMPLETED
        and in_force(run, version)
        and version.digest != current.get("digest")
    )


class SampleSheetRecorder:
    """Records the versions of runs' sheets as their upload events are flushed."""

    def __init__(self, s3: Any, ledger: RunLedger) -> None:
        self.s3 = s3
        self.ledger = ledger
        self.ddb = ledger.ddb
        self.log_table = ledger.names.run_log_table
        self.runs_table = ledger.names.runs_table

    def record(self, files: Any, platforms: dict[str, str]) -> list[str]:
        """Every sheet file among flushed `files` (`platforms`: run key -> platform): the runs
        a new version was recorded for."""
        recorded = []
        for row in files:
            platform = platforms.get(row.run_key)
            if not platform or not is_sample_sheet(platform, row.path):
                continue
            try:
                if self.record_version(row.run_key, row.path) is not None:
                    recorded.append(row.run_key)
            except (BotoCoreError, ClientError, TransitionConflict, SheetRefused) as exc:
                # One run's sheet never stops the tick; its next upload event tries again.
                log.warning("%s: sample sheet %s not recorded: %s", row.run_key, row.path, exc)
        return recorded

    def record_version(self, run_key: str, path: str) -> SheetVersion | None:
        """The version of `path` now in S3, recorded; None if it was recorded before (or the
        run or object is gone). Reads S3 before any write, so a failed read records nothing."""
        run = self.ledger.get_run(run_key)
        if run is None:
            return None
        key = f"{run.run_folder}/{path}"
        try:
            head = self.s3.head_object(Bucket=run.bucket, Key=key)
            version_id = head.get("VersionId") or "null"
            extra = {"VersionId": version_id} if version_id != "null" else {}
            data = self.s3.get_object(Bucket=run.bucket, Key=key, **extra)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else None
            if code in ("404", "NoSuchKey", "NoSuchVersion"):
                log.warning("sample sheet of %s: s3://%s/%s is gone", run_key, run.bucket, key)
                return None
            raise SheetRefused(f"could not read s3://{run.bucket}/{key}: {code or exc}") from exc
        version = read_version(run, path, version_id, data, utc_iso(head["LastModified"]))
        for _ in range(ATTEMPTS):
            try:
                return self._write(run, version)
            except TransitionConflict:
                if self._held(run_key, version.entry):
                    return None
                run = self.ledger.require_run(run_key)
        raise TransitionConflict(f"{run_key}: the run kept moving while its sheet was recorded")

    def unread_at_completion(
        self, run: Run, paths: Iterable[str]
    ) -> tuple[Run, dict[str, Any] | None]:
        """Before `run` completes: each sheet file among `paths` (in S3, verified) with no
        recorded version, because the read at its upload event failed and the event was then
        deleted, is read once more. Returns the run as it is now, and, if one still cannot be
        read from S3 and would be the sheet in force, its summary (`unreadable`, the reason
        naming the object and the error): the run completes with it, never as if it had no
        sheet. TransitionConflict if the run moved meanwhile (its completion is decided again)."""
        current = run.samplesheet or {}
        sheets = [p for p in sorted(paths) if is_sample_sheet(run.platform, p)]
        if all(p == current.get("path") for p in sheets):
            return run, None  # the common case: no sheet, or its one sheet recorded
        recorded = {v.path for v in self.versions(run.run_key)}
        unread = None
        for path in (p for p in sheets if p not in recorded):
            try:
                self.record_version(run.run_key, path)
            except SheetRefused as exc:  # the ledger's own errors stop the completion
                summary = unread_summary(path, str(exc), self.ledger.clock.now())
                log.warning("%s: sample sheet %s", run.run_key, summary["reason"])
                if unread is None or _rank(summary) >= _rank(unread):
                    unread = summary
        run = self.ledger.require_run(run.run_key)
        current = run.samplesheet
        if unread is None or (current or {}).get("pinned") or _rank(unread) < _rank(current):
            return run, None
        return run, unread

    def _held(self, run_key: str, entry: str) -> bool:
        return "Item" in self.ddb.get_item(
            TableName=self.log_table,
            Key={"run_key": {"S": run_key}, "entry": {"S": entry}},
            ConsistentRead=True,
        )

    def _write(self, run: Run, version: SheetVersion) -> SheetVersion:
        version = version.model_copy(update={"number": run.sheet_versions + 1})
        put = {
            "Put": {
                "TableName": self.log_table,
                "Item": to_item({"run_key": run.run_key, **version.summary()}),
                "ConditionExpression": "attribute_not_exists(run_key)",
            }
        }
        fields: dict[str, Any] = {"sheet_versions": run.sheet_versions + 1}
        if in_force(run, version):
            fields["samplesheet"] = version.summary()
        if changes_sheet(run, version):
            self.ledger.apply(
                run,
                Trigger.SHEET_REVISED,
                fields=fields,
                details={"samplesheet": version.summary()},
                unchanged=("sheet_versions",),
                extra_items=[put],
            )
        else:
            self._plain_write(run, fields, put)
        log.info(
            "%s: sample sheet %s version recorded (%s, %d samples)",
            run.run_key,
            version.path,
            version.status,
            version.sample_count,
        )
        return version

    def _plain_write(self, run: Run, fields: dict[str, Any], *items: dict[str, Any]) -> None:
        """The version (or pin) and the run's summary in one transaction, guarded by the run's
        state and sheet counter as read (a completion or another version meanwhile retries)."""
        names = {"#state": "state"}
        values: dict[str, Any] = {":state": run.state.value}
        sets = []
        for index, (name, value) in enumerate(fields.items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
        condition = "#state = :state"
        for counter in ("sheet_versions", "sheet_pins"):
            names[f"#{counter}"] = counter
            values[f":{counter}"] = getattr(run, counter)
            condition += f" AND (attribute_not_exists(#{counter}) OR #{counter} = :{counter})"
        update = {
            "Update": {
                "TableName": self.runs_table,
                "Key": {"run_key": {"S": run.run_key}},
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(values),
            }
        }
        try:
            self.ddb.transact_write_items(TransactItems=[update, *items])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise TransitionConflict(
                    f"{run.run_key}: moved while its sheet was recorded"
                ) from None
            raise

    # Reads and the operator's pin

    def versions(self, run_key: str) -> list[SheetVersion]:
        """Every recorded version, in the order they landed."""
        out = []
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.log_table,
            KeyConditionExpression="run_key = :r AND begins_with(#e, :p)",
            ExpressionAttributeNames={"#e": "entry"},
            ExpressionAttributeValues={":r": {"S": run_key}, ":p": {"S": SHEET}},
            ConsistentRead=True,
        ):
            out += [SheetVersion.model_validate(from_item(i)) for i in page["Items"]]
        return sorted(out, key=lambda v: v.number)

    def pin(self, run_key: str, wanted: str, reason: str) -> SheetVersion:
        """Make a recorded version the run's sheet, with the operator's reason, kept in the run
        log (`sheetpin#<n>`); a COMPLETED run announces it. Nothing is overwritten: versions and
        earlier pins stay. `wanted`: the version's entry, its S3 VersionId or a digest prefix."""
        run = self.ledger.require_run(run_key)
        matches = [
            v
            for v in self.versions(run_key)
            if wanted in (v.entry, v.entry.removeprefix(SHEET), v.version_id)
            or (len(wanted) >= 8 and v.digest.startswith(wanted))
        ]
        if len(matches) != 1:
            found = "no" if not matches else f"{len(matches)}"
            raise SheetNotFound(
                f"{run_key}: {found} recorded sample sheet version(s) match {wanted!r}; "
                f"see `ngs-lake runs sheets {run_key}`"
            )
        pinned = matches[0].model_copy(update={"pinned": reason[:MAX_REASON_CHARS]})
        number = run.sheet_pins + 1
        record = {
            "run_key": run_key,
            "entry": f"{PIN}{number:08d}",
            "version": pinned.entry,
            "reason": pinned.pinned,
            "pinned_at": utc_iso(self.ledger.clock.now()),
        }
        put = {
            "Put": {
                "TableName": self.log_table,
                "Item": to_item(record),
                "ConditionExpression": "attribute_not_exists(run_key)",
            }
        }
        fields = {"samplesheet": pinned.summary(), "sheet_pins": number}
        if run.state == RunState.COMPLETED:
            self.ledger.apply(
                run,
                Trigger.OPERATOR_PIN_SHEET,
                fields=fields,
                details={"samplesheet": pinned.summary()},
                unchanged=("sheet_pins",),
                extra_items=[put],
            )
        else:
            self._plain_write(run, fields, put)
        return pinned


def unread_summary(path: str, reason: str, at: datetime) -> dict[str, Any]:
    """The summary of a sheet S3 would not give the lake: no version, no digest, no samples."""
    summary: dict[str, Any] = {"path": path, "status": SheetStatus.UNREADABLE.value}
    summary["refused_at"] = utc_iso(at)  # no version, so no landed_at: when the lake gave up
    if FINAL_SUMMARY.match(path):  # ranks below a Nanopore sample sheet
        summary["format"] = SheetFormat.NANOPORE_SUMMARY.value
    return summary | {"reason": reason[:MAX_REASON_CHARS], "sample_count": 0, "projects": []}


def read_version(run: Run, path: str, version_id: str, data: bytes, landed: str) -> SheetVersion:
    """The summary of one version's bytes, whatever they hold (pure)."""
    geometry = run.facts.get("geometry")
    try:
        sheet = read_sample_sheet(run.platform, path, data, geometry)
    except ValueError as exc:  # SheetUnreadable, or a file the family could not read at all
        return sheet_version(path, version_id, data, landed, None, str(exc))
    return sheet_version(path, version_id, data, landed, sheet, "")
