"""Facts from the first metadata read: a run's flowcell, instrument, run id, date and geometry,
stored on the run as soon as its metadata file lands, not only when it completes.

The flowcell is what a lab searches by, so a STARTED, STALLED or INCOMPLETE run must carry it
(`runs show`, the UI, `run.started`). Illumina writes RunInfo.xml first; the other families write
their metadata when they write it (Nanopore's final summary and PacBio's metadata at the end), so
their facts arrive then. Facts merge: a later file fills what is missing and never overwrites a
fact already stored, and nothing but a fact file ever writes them, so a later data file, marker
or redelivery cannot lose them. A fact file that cannot be read now is left for verification,
which reads it again and fails the run closed if it is bad; the reason is kept on the run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.names import LakeNames
from ngs_lake.platforms import family_of
from ngs_lake.runs.dynamo_items import to_item
from ngs_lake.runs.model import NewRun, Run, RunFile

log = logging.getLogger(__name__)

FACTS_ERROR = "facts_error"  # kept beside the facts: why a fact file could not be read


@dataclass(frozen=True)
class FactFile:
    run: NewRun | Run
    path: str


def fact_files(files: Sequence[RunFile], runs: Mapping[str, NewRun]) -> dict[str, list[FactFile]]:
    """Per run, the flushed files its family reads facts from (pure)."""
    found: dict[str, list[FactFile]] = {}
    for row in files:
        run = runs.get(row.run_key)
        if run is None:
            continue
        if family_of(run.platform).is_fact_file(run.platform, row.path):
            found.setdefault(row.run_key, []).append(FactFile(run, row.path))
    return found


def stored_facts(run: Run) -> dict[str, str]:
    """The facts on the run, without the note of a failed read."""
    return {k: v for k, v in run.facts.items() if k != FACTS_ERROR}


def folder_facts(run: Run) -> dict[str, str]:
    """What the run folder's name says: known from the run's first event, whatever it is."""
    return family_of(run.platform).folder_facts(run.run_folder).as_dict()


def read_facts(clients: AwsClients, run: Run | NewRun, present: set[str]) -> dict[str, str]:
    """The facts from the run's fact files in S3: for a message whose run has none stored (its
    fact file's read at ingest failed), so `run.completed` always carries them."""
    family = family_of(run.platform)
    wanted = [FactFile(run, p) for p in sorted(present) if family.is_fact_file(run.platform, p)]
    facts = _read(clients.s3(), wanted) if wanted else {}
    return {k: v for k, v in facts.items() if k != FACTS_ERROR}


def _read(s3: Any, wanted: list[FactFile]) -> dict[str, str]:
    run = wanted[0].run
    contents = {}
    for item in wanted:
        key = f"{run.run_folder}/{item.path}"
        try:
            contents[item.path] = s3.get_object(Bucket=run.bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:  # verification reads it again
            log.warning("facts of %s: cannot read %s: %s", run.run_key, key, exc)
    if not contents:
        return {}
    try:
        return family_of(run.platform).read_facts(run.platform, contents).as_dict()
    except ValueError as exc:  # a bad file fails the run at verification, named there
        log.warning("facts of %s unreadable: %s", run.run_key, exc)
        return {FACTS_ERROR: str(exc)[:500]}


def merged_facts(stored: Mapping[str, str], read: Mapping[str, str]) -> dict[str, str]:
    """What was stored wins; what was read fills the gaps. A good read clears an old error."""
    merged = {**read, **stored}
    if set(read) - {FACTS_ERROR}:
        merged.pop(FACTS_ERROR, None)
    return merged


class RunFactsRecorder:
    """Reads a run's fact files from S3 when their upload events are flushed, stores the facts."""

    def __init__(self, clients: AwsClients, names: LakeNames) -> None:
        self.s3 = clients.s3()
        self.ddb = clients.dynamodb()
        self.table = names.runs_table

    def record(
        self, files: Sequence[RunFile], runs: Mapping[str, NewRun], known: Mapping[str, Run]
    ) -> list[str]:
        """Store the facts of every run with a fact file among `files`; the runs updated."""
        updated = []
        for run_key, wanted in fact_files(files, runs).items():
            read = _read(self.s3, wanted)
            stored = known[run_key].facts if run_key in known else {}
            facts = merged_facts(stored, read)
            if facts != stored:
                self._store(run_key, facts)
                updated.append(run_key)
        return updated

    def _store(self, run_key: str, facts: dict[str, str]) -> None:
        """One UpdateItem of the `facts` attribute alone, so it races with no lifecycle write."""
        self.ddb.update_item(
            TableName=self.table,
            Key={"run_key": {"S": run_key}},
            UpdateExpression="SET facts = :facts",
            ConditionExpression="attribute_exists(run_key)",
            ExpressionAttributeValues=to_item({":facts": facts}),
        )
