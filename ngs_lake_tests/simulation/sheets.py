"""Issue #31 in the simulation: sample sheet versions. The world's actions (a run's MinKNOW sample
sheet re-written with other samples, the same bytes again, or a sheet no parser reads; its event
delivered again) and their invariants, judged against the versions S3 truly holds:

- each S3 version of a sheet is recorded at most once, whatever the redeliveries and orders;
- a run announces `run.samplesheet_changed` at most once per version, never for the bytes
  consumers were already told of, and only once it is COMPLETED;
- a bad sheet never holds a run back: at quiescence a run whose sheet is unreadable or invalid
  and whose marker was written is COMPLETED, or waits on something another open alert names;
- no sheet vanishes in silence: at quiescence a COMPLETED run whose sheet file S3 holds has a
  version of it recorded, or completed naming it unreadable (a read that failed at its upload
  event, e.g. under a ledger fault, is tried again at completion).

`SheetActions` is mixed into `LakeSimulation` (machine.py); `SheetJudge` is called from
`Judge.check` (invariants.py)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from ngs_lake.runs.model import Run, RunEventType, RunState
from ngs_lake.runs.sample_sheets import SHEET
from ngs_lake_tests.simulation.aws import Fault
from ngs_lake_tests.simulation.world import TrueRun, World

SHEET_VERSION_ONCE = "each sheet version is recorded once"
SHEET_CHANGE_ONCE = "a sheet change is announced once per version"
SHEET_NEVER_BLOCKS = "a bad sheet never holds a run back"
SHEET_NOT_SILENT = "a completed run's sheet is recorded or named unreadable"
SHEET_INVARIANTS = (SHEET_VERSION_ONCE, SHEET_CHANGE_ONCE, SHEET_NEVER_BLOCKS, SHEET_NOT_SILENT)
HEADER = b"flow_cell_id,sample_id,experiment_id,barcode,alias\n"


def sheet_path(run: TrueRun) -> str | None:
    return next((p for p in sorted(run.written) if p.startswith("sample_sheet_")), None)


def sheet_content(run: TrueRun, variant: int) -> bytes:
    """A barcoded MinKNOW sheet; variant 0 no parser reads (no sample rows)."""
    if variant == 0:
        return HEADER
    flowcell = run.stem[:8]
    rows = [f"{flowcell},pool,exp,barcode0{n},patient_{variant}_{n}\n" for n in (1, 2)]
    return HEADER + "".join(rows).encode()


class SheetActions(RuleBasedStateMachine):
    """The world's actions of issue #31 (mixed into LakeSimulation, which supplies `lake`,
    `world`, `checked` and `run_of`)."""

    lake: Any
    world: World

    @precondition(lambda self: bool(self.world.runs))
    @rule(index=st.integers(0, 5), variant=st.integers(0, 2))
    def sheet_rewritten(self, index: int, variant: int) -> None:
        """The lab writes the run's sample sheet again on the share: other samples, the same
        bytes as a version before, or a sheet no parser reads (variant 0)."""
        from ngs_lake_tests.simulation.machine import note

        run = self.run_of(index)
        path = sheet_path(run) if run else None
        if run is None or path is None:
            return
        self.world.write(run, path, sheet_content(run, variant))
        note(f"lab: sample sheet rewritten (variant {variant})")
        self.checked()

    @precondition(lambda self: bool(self.world.runs))
    @rule(index=st.integers(0, 5), copies=st.integers(1, 2))
    def sheet_event_again(self, index: int, copies: int = 1) -> None:
        """A sheet's upload event delivered again (at-least-once delivery, a replay), after
        later versions may have landed."""
        from ngs_lake_tests.simulation.machine import note

        run = self.run_of(index)
        uploads = [u for u in run.uploads if u.path.startswith("sample_sheet_")] if run else []
        for upload in uploads[:1] * copies:  # the first event: its version is long replaced
            self.world.send(upload.body)
            note("eventbridge: sample sheet event delivered again")
        self.checked()

    @rule(kind=st.sampled_from(["throttle", "fail"]), times=st.integers(1, 4))
    def sheet_read_fault(self, kind: str, times: int = 1) -> None:
        """S3 refuses the next HeadObject calls (only sheet reads make them in the run core): a
        sheet's version goes unrecorded at its upload event, and maybe at completion too."""
        from ngs_lake_tests.simulation.machine import note

        self.lake.faults.faults.append(Fault("s3", "HeadObject", kind, times))
        note(f"s3: HeadObject {kind} x{times}")
        self.checked()


class SheetJudge:
    """Reads the run log and S3 through the machine's own (fault-free) moto clients."""

    def __init__(self, lake: Any, ddb: Any, checked: Counter[str]) -> None:
        self.lake, self.ddb, self.checked = lake, ddb, checked

    def check(self, runs: list[Run], quiescent: bool, violate: Any) -> None:
        self.checked[f"invariant checked: {SHEET_VERSION_ONCE}"] += 1
        self.checked[f"invariant checked: {SHEET_CHANGE_ONCE}"] += 1
        for run in runs:
            log = self._log(run.run_key)
            recorded = [i for i in log if i["entry"].startswith(SHEET)]
            self.versions_once(run, recorded, violate)
            self.changes_once(run, log, violate)
            if quiescent:
                self.not_silent(run, recorded, violate)
        if quiescent:
            self.never_blocks(runs, violate)

    def _log(self, run_key: str) -> list[dict]:
        from ngs_lake.runs.dynamo_items import from_item

        items: list[dict] = []
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.lake.names.run_log_table,
            KeyConditionExpression="run_key = :r",
            ExpressionAttributeValues={":r": {"S": run_key}},
            ConsistentRead=True,
        ):
            items += [from_item(i) for i in page["Items"]]
        return items

    def versions_once(self, run: Run, recorded: list[dict], violate: Any) -> None:
        seen = Counter((v["path"], v["version_id"], v["digest"]) for v in recorded)
        twice = [k for k, n in seen.items() if n > 1]
        if twice:
            violate(SHEET_VERSION_ONCE, f"{run.run_key} recorded {twice} more than once")
        s3 = self.lake.inspect["s3"]
        for path in {v["path"] for v in recorded}:
            key = f"{run.run_folder}/{path}"
            listed = s3.list_object_versions(Bucket=run.bucket, Prefix=key).get("Versions", [])
            in_s3 = {v["VersionId"] for v in listed if v["Key"] == key}
            mine = {v["version_id"] for v in recorded if v["path"] == path}
            if not mine <= in_s3:
                violate(SHEET_VERSION_ONCE, f"{run.run_key} recorded versions S3 never held")

    def not_silent(self, run: Run, recorded: list[dict], violate: Any) -> None:
        self.checked[f"invariant checked: {SHEET_NOT_SILENT}"] += 1
        truth = self.lake.world.runs.get(run.run_key)
        path = sheet_path(truth) if truth else None
        if run.state != RunState.COMPLETED or path is None:
            return
        key = f"{run.run_folder}/{path}"
        s3 = self.lake.inspect["s3"]
        listed = s3.list_objects_v2(Bucket=run.bucket, Prefix=key).get("Contents", [])
        if not any(o["Key"] == key for o in listed):
            return
        told = run.samplesheet_at_completion or {}
        named = told.get("path") == path and told.get("status") == "unreadable"
        if not named and not any(v["path"] == path for v in recorded):
            violate(SHEET_NOT_SILENT, f"{run.run_key} completed; its sheet {path} vanished")

    def changes_once(self, run: Run, log: list[dict], violate: Any) -> None:
        changed = [
            i["details"]["samplesheet"]
            for i in sorted(log, key=lambda i: i["entry"])
            if i.get("event_type") == RunEventType.SAMPLESHEET_CHANGED.value
            and not (i["details"]["samplesheet"].get("pinned"))
        ]
        entries = Counter(c["entry"] for c in changed)
        if any(n > 1 for n in entries.values()):
            violate(SHEET_CHANGE_ONCE, f"{run.run_key} announced one version twice: {entries}")
        told = (run.samplesheet_at_completion or {}).get("digest")
        for summary in changed:
            if summary["digest"] == told:
                violate(
                    SHEET_CHANGE_ONCE,
                    f"{run.run_key} announced a sheet consumers already had ({summary['entry']})",
                )
            told = summary["digest"]

    def never_blocks(self, runs: list[Run], violate: Any) -> None:
        self.checked[f"invariant checked: {SHEET_NEVER_BLOCKS}"] += 1
        named = self.lake.open_alert_subjects()  # the sheet's own alert excuses nothing
        for run in runs:
            truth = self.lake.world.runs.get(run.run_key)
            bad = (run.samplesheet or {}).get("status") in ("unreadable", "invalid")
            if not bad or truth is None or truth.marker_at is None:
                continue
            if run.state not in (RunState.COMPLETED, RunState.ABORTED) and run.run_key not in named:
                violate(
                    SHEET_NEVER_BLOCKS,
                    f"{run.run_key} is {run.state.value} with a {run.samplesheet['status']} "
                    f"sheet and no other alert names it: {json.dumps(run.samplesheet)[:200]}",
                )
