"""Issue #33 in the simulation: the world's fixity actions, and the invariant that verification
records every object's checksum and never takes an unhashed or unchecked file for a pass.

Actions: the sequencer writes MinKNOW's `output_hash` (POD5 rows empty, as MinKNOW leaves them,
or hashed); a break-glass writer puts a new version with one byte changed of a hashed file that
is already in S3 (no gateway event: it is not the gateway's upload); the gateway uploads the next
files without any checksum (`request_checksum_calculation=when_required`), as S3 before December
2024 held some objects.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import hypothesis.strategies as st
from botocore.config import Config
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from ngs_lake.runs.fixity_instrument import MATCHED, NOT_HASHED
from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.model import Run, RunState

FIXITY = "fixity recorded, never assumed"
FIXITY_INVARIANTS = (FIXITY,)


def write_output_hash(world: Any, run: Any, hash_pod5: bool) -> None:
    """The hash list of every POD5 written so far (empty hashes unless `hash_pod5`)."""
    pod5 = sorted(p for p in run.written if p.endswith(".pod5"))
    rows = ["filename,sha256"]
    for path in pod5:
        digest = hashlib.sha256(run.content[path]).hexdigest() if hash_pod5 else ""
        rows.append(f"{path},{digest}")
        run.instrument_sha256[path] = digest
    world.write(run, f"output_hash_{run.stem}.csv", ("\n".join(rows) + "\n").encode())


def corrupt_in_s3(world: Any, run: Any) -> str | None:
    """A new version, one byte changed, of a hashed file S3 already holds."""
    uploaded = {u.path for u in run.uploads}
    hashed = sorted(p for p, d in run.instrument_sha256.items() if d and p in uploaded)
    if not hashed:
        return None
    path = hashed[0]
    body = bytearray(run.content[path])
    body[0] ^= 0x01
    world.s3.put_object(Bucket=run.bucket, Key=f"{run.folder}/{path}", Body=bytes(body))
    run.corrupted[path] = world.clock.timestamp()
    return path


def bare_s3(session: Any) -> Any:
    """An S3 client that sends no checksum: S3 (and moto) then stores none for the object."""
    return session.client("s3", config=Config(request_checksum_calculation="when_required"))


def _note(name: str) -> None:
    from ngs_lake_tests.simulation.machine import note  # the machine imports this module

    note(name)


class FixityActions(RuleBasedStateMachine):
    """The world's actions of issue #33 (mixed into LakeSimulation, which supplies `world`,
    `checked` and `run_of`)."""

    world: Any

    @precondition(lambda self: self.world.runs)
    @rule(index=st.integers(0, 5), hash_pod5=st.booleans())
    def write_output_hash(self, index: int, hash_pod5: bool = False) -> None:
        write_output_hash(self.world, self.run_of(index), hash_pod5)
        _note("sequencer: output_hash " + ("hashed" if hash_pod5 else "with empty POD5 hashes"))
        self.checked()

    @precondition(lambda self: self.world.runs)
    @rule(index=st.integers(0, 5))
    def corrupt_in_s3(self, index: int) -> None:
        if corrupt_in_s3(self.world, self.run_of(index)):
            _note("break-glass: a hashed file's new version, one byte changed")
        self.checked()

    @rule(count=st.sampled_from([1, 4]))
    def uploads_without_checksum(self, count: int) -> None:
        self.world.bare_uploads += count
        _note("gateway: uploads without a checksum")
        self.checked()


class FixityJudge:
    def __init__(self, lake: Any, checked: Counter[str]) -> None:
        self.lake, self.checked = lake, checked
        self.judged: set[str] = set()

    def check(self, runs: list[Run], violate: Any) -> None:
        """A COMPLETED run has a fixity record listing every object S3 had for it then, each
        with its checksum or as having none; an empty instrument hash is "not hashed by the
        instrument", and a "matched" hash is the sha256 of the recorded version's bytes."""
        self.checked[f"invariant checked: {FIXITY}"] += 1
        s3 = self.lake.inspect["s3"]
        store = FixityRecordStore(s3, self.lake.config.lake.catalog_bucket)
        for run in runs:
            if run.state != RunState.COMPLETED or run.run_key in self.judged:
                continue
            self.judged.add(run.run_key)
            record = store.read(run.run_key)
            if record is None:
                violate(FIXITY, f"{run.run_key} COMPLETED without a fixity record")
                continue
            truth = self.lake.world.runs.get(run.run_key)
            completed = run.steps.get("COMPLETED")
            listed = {o.path for o in record.objects}
            if truth is not None and completed is not None:
                missing = truth.uploaded_by(completed.timestamp()) - listed
                if missing:
                    violate(FIXITY, f"{run.run_key} record lacks {sorted(missing)}")
            for o in record.objects:
                self._judge_object(s3, run.run_key, o, violate)

    def _judge_object(self, s3: Any, run_key: str, o: Any, violate: Any) -> None:
        if o.has_checksum != bool(o.algorithm) or (
            not o.has_checksum and o.checksum_type != "NONE"
        ):
            violate(FIXITY, f"{run_key} {o.path}: checksum neither recorded nor listed as none")
        if o.instrument_sha256 == "" and o.instrument_result != NOT_HASHED:
            violate(
                FIXITY, f"{run_key} {o.path}: empty instrument hash taken as {o.instrument_result}"
            )
        if o.instrument_result not in (None, MATCHED, NOT_HASHED):
            violate(
                FIXITY, f"{run_key} {o.path}: COMPLETED with instrument hash {o.instrument_result}"
            )
        if o.instrument_result == MATCHED:
            body = s3.get_object(
                Bucket=self.lake.world.runs[run_key].bucket, Key=o.key, VersionId=o.version_id
            )
            if hashlib.sha256(body["Body"].read()).hexdigest() != o.instrument_sha256:
                violate(
                    FIXITY, f"{run_key} {o.path}: 'matched' but its bytes are not the instrument's"
                )
