"""Issue #34 in the simulation: run facts read at the first metadata read, and top-level share
folders that match no run folder. The world's actions (a run whose final summary lands in the
batch that starts it, the summary delivered again, a stray object in a foreign folder, Nanopore's
experiment and sample folders before their run folder) and their invariants, judged against
what the sequencers truly wrote and when it truly reached S3.

`FolderActions` is mixed into `LakeSimulation` (machine.py); `FolderJudge` is called from
`Judge.check` (invariants.py)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from ngs_lake.runs.events import OBJECT_UPLOAD
from ngs_lake.runs.model import Run
from ngs_lake.runs.run_facts import stored_facts
from ngs_lake.runs.unrecognised import SETTLING_WINDOW
from ngs_lake_tests.simulation.world import TrueRun, World, stamp

FACTS_KEPT = "stored facts are kept"
FACTS_SILENT = "recording facts announces nothing"
RUN_NOT_STRAY = "a run's file is never an unrecognised folder"
PARENT_NOT_ALERTED = "a run's parent folder is never alerted"
FOLDER_ALERT_ONCE = "an unrecognised folder alerts once, resolved by a run"
FOLDER_INVARIANTS = (FACTS_KEPT, FACTS_SILENT, RUN_NOT_STRAY, PARENT_NOT_ALERTED, FOLDER_ALERT_ONCE)
FOLDER_UNRECOGNISED = "folder_unrecognised"
REWRITTEN = {"flowcell": "PAQ00000", "run_id": "00000000-0000"}  # summary_rewritten's values
WINDOW = SETTLING_WINDOW.total_seconds()
# Top-level folders no PromethION run folder matches: a HiSeq X run, a PacBio RS II run, a note.
FOREIGN = ("151211_HX3_18448_B_HHH55CCXX", "m54006_160504_020705", "notes")


@dataclass
class StrayFolder:
    """A top-level folder the world put objects in, outside any run folder: the ground truth."""

    sequencer_id: str
    folder: str
    first_in_s3: float | None = None  # when its first object reached S3 (true time)
    run_keys: list[str] = field(default_factory=list)  # runs the sequencer wrote under it

    @property
    def subject(self) -> str:
        return f"{self.sequencer_id}/{self.folder}"


@dataclass
class FolderTruth:
    folders: dict[str, StrayFolder] = field(default_factory=dict)  # subject -> folder
    rewritten: set[str] = field(default_factory=set)  # runs whose final summary was rewritten
    experiments: int = 0

    def folder(self, sequencer_id: str, folder: str) -> StrayFolder:
        found = StrayFolder(sequencer_id, folder)
        return self.folders.setdefault(found.subject, found)


def upload_stray(world: World, truth: FolderTruth, sequencer_id: str, key: str) -> None:
    """The gateway uploads an object that lies in no run folder (a directory object `exp/`, a
    file of a foreign run) after the world's upload delay, and sends its event."""
    share = world.shares[sequencer_id]
    bucket = world.bucket_of[sequencer_id]
    stray = truth.folder(sequencer_id, key.split("/", 1)[0])
    written_at = world.clock.timestamp()

    def upload() -> None:
        gateway = world.api.gateway_of_share(share.arn)
        body = b"" if key.endswith("/") else b"<RunInfo/>\n"
        world.s3.put_object(Bucket=bucket, Key=key, Body=body)
        now = world.clock.timestamp()
        if stray.first_in_s3 is None:
            stray.first_in_s3 = now
        detail = {
            "object-size": len(body),
            "modification-time": stamp(written_at + gateway.skew_seconds),
            "object-key": key,
            "event-type": "object-upload-complete",
            "prefix": key.rsplit("/", 1)[0] + "/" if "/" in key.rstrip("/") else "",
            "bucket-name": bucket,
        }
        resources = [share.arn, gateway.arn, f"arn:aws:s3:::{bucket}"]
        world.send(world._envelope(OBJECT_UPLOAD, now + gateway.skew_seconds, resources, detail))

    world.at(written_at + world.upload_delay, upload)


def start_run_under(world: World, sequencer_id: str, experiment: str, sample: str) -> TrueRun:
    """`World.start_run`, in its own experiment and sample folders (the world's runs share
    `exp/sample/`)."""
    share = world.shares[sequencer_id]
    started = datetime.fromtimestamp(world.clock.timestamp(), UTC)
    flowcell = f"PAQ{world.rng.randint(10000, 99999)}"
    protocol, acquisition = f"{world.rng.getrandbits(32):08x}", f"{world.rng.getrandbits(32):08x}"
    folder = f"{experiment}/{sample}/{started:%Y%m%d_%H%M}_1A_{flowcell}_{protocol}"
    run = TrueRun(
        f"{sequencer_id}/{folder}",
        sequencer_id,
        share.arn,
        world.bucket_of[sequencer_id],
        folder,
        f"{flowcell}_{protocol}_{acquisition}",
    )
    world.runs[run.run_key] = run
    sheet = f"sample_sheet_{flowcell}_{started:%Y%m%d_%H%M}_{protocol}.csv"
    world.write(
        run, sheet, f"flow_cell_id,sample_id,experiment_id\n{flowcell},{sample},x\n".encode()
    )
    return run


class FolderActions(RuleBasedStateMachine):
    """The world's actions of issue #34 (mixed into LakeSimulation, which supplies `lake`,
    `world`, `checked` and `advance`)."""

    lake: Any
    world: World

    def _experiment(self) -> tuple[str, str]:
        truth = self.lake.folder_truth
        truth.experiments += 1
        return f"expt{truth.experiments}", f"sample{truth.experiments}"

    @rule(sequencer=st.sampled_from(["PRM-A01", "PRM-A02", "PRM-B01"]), pod5=st.integers(0, 2))
    def summary_first(self, sequencer: str, pod5: int = 0) -> None:
        """A run whose final summary (its fact file) is written with its first files, so its
        event is in the batch that starts the run, or a batch after it (events come in any
        order)."""
        from ngs_lake_tests.simulation.machine import note

        run = start_run_under(self.world, sequencer, *self._experiment())
        for _ in range(pod5):
            self.world.write_pod5(run)
        self.world.write_marker(run)
        note("sequencer: final summary with the first files")
        self.checked()

    @precondition(lambda self: any(r.marker_at for r in self.world.runs.values()))
    @rule(index=st.integers(0, 5), copies=st.integers(1, 2))
    def summary_again(self, index: int, copies: int = 1) -> None:
        """The fact file's event delivered again (at-least-once delivery, a replay)."""
        from ngs_lake_tests.simulation.machine import note

        marked = sorted(k for k, r in self.world.runs.items() if r.marker_at)
        run = self.world.runs[marked[index % len(marked)]]
        summaries = [u for u in run.uploads if u.path.startswith("final_summary_")]
        for _ in range(copies if summaries else 0):
            self.world.send(summaries[-1].body)
            note("eventbridge: fact file delivered again")
        self.checked()

    @precondition(lambda self: any(r.marker_at for r in self.world.runs.values()))
    @rule(index=st.integers(0, 5))
    def summary_rewritten(self, index: int) -> None:
        """The final summary written again with other values (a re-basecall, a tool that
        rewrites it): its new version is what S3 serves to any later read of the first file's
        event, so a stored fact must not follow it."""
        from ngs_lake_tests.simulation.machine import note

        marked = sorted(k for k, r in self.world.runs.items() if r.marker_at)
        run = self.world.runs[marked[index % len(marked)]]
        text = (
            f"instrument=PC24B999\nposition=1A\nflow_cell_id=PAQ00000\nsample_id=sample\n"
            f"protocol_group_id=exp\nprotocol_run_id=00000000-0000\n"
            f"pod5_files_in_final_dest={run.claimed_pod5}\nfastq_files_in_final_dest=0\n"
        )
        self.world.write(run, f"final_summary_{run.stem}.txt", text.encode())
        self.lake.folder_truth.rewritten.add(run.run_key)
        note("sequencer: final summary rewritten")
        self.checked()

    @rule(
        sequencer=st.sampled_from(["PRM-A01", "PRM-B01"]),
        folder=st.sampled_from(FOREIGN),
        files=st.integers(1, 2),
    )
    def foreign_folder(self, sequencer: str, folder: str, files: int = 1) -> None:
        """Objects in a top-level folder no run folder of the platform matches."""
        from ngs_lake_tests.simulation.machine import note

        for n in range(files):
            upload_stray(self.world, self.lake.folder_truth, sequencer, f"{folder}/file{n}.xml")
        note("sequencer: foreign top-level folder")
        self.checked()

    @rule(
        sequencer=st.sampled_from(["PRM-A01", "PRM-A02", "PRM-B01"]),
        minutes=st.sampled_from([0, 2, 10, 45]),
    )
    def experiment_folders_first(self, sequencer: str, minutes: int = 0) -> None:
        """MinKNOW makes `<experiment>/` and `<experiment>/<sample>/` before the run folder;
        the gateway uploads them as directory objects, then the run starts `minutes` later."""
        from ngs_lake_tests.simulation.machine import note

        experiment, sample = self._experiment()
        truth = self.lake.folder_truth
        upload_stray(self.world, truth, sequencer, f"{experiment}/")
        upload_stray(self.world, truth, sequencer, f"{experiment}/{sample}/")
        if minutes:
            self.advance(minutes * 60.0, daemon=True)
        run = start_run_under(self.world, sequencer, experiment, sample)
        truth.folder(sequencer, experiment).run_keys.append(run.run_key)
        note(f"sequencer: experiment folders {minutes} min before the run")
        self.checked()


class FolderJudge:
    """Reads the ledger, the unrecognised-folders table and the operations topic."""

    def __init__(self, lake: Any, ddb: Any, checked: Counter[str]) -> None:
        self.lake, self.ddb, self.checked = lake, ddb, checked
        self.facts: dict[str, dict[str, str]] = {}
        self.lifecycle: dict[str, tuple] = {}

    def check(self, runs: list[Run], quiescent: bool, violate: Any) -> None:
        self.facts_kept(runs, violate)
        self.facts_silent(runs, violate)
        self.run_not_stray(violate)
        sends = self.folder_sends()
        self.parent_not_alerted(sends, violate)
        self.alert_once(sends, quiescent, violate)

    def facts_kept(self, runs: list[Run], violate: Any) -> None:
        """Once stored, a fact never changes or goes; and it is what the final summary says."""
        self.checked[f"invariant checked: {FACTS_KEPT}"] += 1
        for run in runs:
            now, before = stored_facts(run), self.facts.get(run.run_key, {})
            changed = {k: (v, now.get(k)) for k, v in before.items() if now.get(k) != v}
            if changed:
                violate(FACTS_KEPT, f"{run.run_key} facts changed (was, now): {changed}")
            self.facts[run.run_key] = {**before, **now}
            truth = self.lake.world.runs.get(run.run_key)
            if truth is None or truth.marker_at is None or "run_id" not in now:
                continue
            # the summary's first version, or its rewrite when that was in S3 by the first read
            versions = [{"flowcell": truth.stem[:8], "run_id": f"{truth.stem[9:17]}-0000"}]
            if run.run_key in self.lake.folder_truth.rewritten:
                versions.append(REWRITTEN)
            read = {k: now.get(k) for k in REWRITTEN}
            if read not in versions:
                violate(FACTS_KEPT, f"{run.run_key} facts {read}, its summary says {versions}")

    def facts_silent(self, runs: list[Run], violate: Any) -> None:
        """A step that changed a run's facts and nothing of its lifecycle sent no message."""
        self.checked[f"invariant checked: {FACTS_SILENT}"] += 1
        for run in runs:
            shape = (run.state, len(run.steps), run.amended_count, run.resumed_count)
            facts = stored_facts(run)
            previous = self.lifecycle.get(run.run_key)
            self.lifecycle[run.run_key] = (shape, facts, run.sequence)
            if previous is None or previous[0] != shape or previous[1] == facts:
                continue
            if run.sequence != previous[2]:
                violate(
                    FACTS_SILENT,
                    f"{run.run_key} recorded messages {previous[2]} -> {run.sequence} when only "
                    f"its facts changed ({previous[1]} -> {facts})",
                )

    def run_not_stray(self, violate: Any) -> None:
        self.checked[f"invariant checked: {RUN_NOT_STRAY}"] += 1
        table = self.lake.names.unrecognised_folders_table
        items = self.ddb.scan(TableName=table, ConsistentRead=True)["Items"]
        for item in items:
            sequencer, key = item["sequencer_id"]["S"], item["example_key"]["S"]
            for run in self.lake.world.runs.values():
                if run.sequencer_id == sequencer and key.startswith(f"{run.folder}/"):
                    violate(RUN_NOT_STRAY, f"{key} of run {run.run_key} recorded as unrecognised")

    def folder_sends(self) -> list[dict]:
        deliveries = self.lake.sns.delivered_to(self.lake.operations)
        return [
            json.loads(json.loads(d.body)["sqs"])  # MessageStructure json: the machine's copy
            for d in deliveries
            if d.attributes["condition"]["StringValue"] == FOLDER_UNRECOGNISED
        ]

    def parent_not_alerted(self, sends: list[dict], violate: Any) -> None:
        """No alert for a folder whose run reached S3 within the settling window of the
        folder's first object (true times)."""
        self.checked[f"invariant checked: {PARENT_NOT_ALERTED}"] += 1
        truth = self.lake.folder_truth.folders
        for body in sends:
            folder = truth.get(body["subject"])
            if body["status"] == "resolved" or folder is None or folder.first_in_s3 is None:
                continue
            for run_key in folder.run_keys:
                uploads = self.lake.world.runs[run_key].uploads
                first = min((u.true_at for u in uploads), default=None)
                if first is not None and first - folder.first_in_s3 < WINDOW:
                    violate(
                        PARENT_NOT_ALERTED,
                        f"{body['subject']} alerted although run {run_key} was in S3 "
                        f"{first - folder.first_in_s3:.0f} s after the folder's first object",
                    )

    def alert_once(self, sends: list[dict], quiescent: bool, violate: Any) -> None:
        """One alert per folder, ever; resolved once a run is under it; at quiescence every
        settled foreign folder is named by an open alert."""
        self.checked[f"invariant checked: {FOLDER_ALERT_ONCE}"] += 1
        opened: dict[str, set[str]] = {}
        for body in sends:
            if body["status"] != "resolved":
                opened.setdefault(body["subject"], set()).add(body["alert_id"])
        twice = {s: sorted(ids) for s, ids in opened.items() if len(ids) > 1}
        if twice:
            violate(FOLDER_ALERT_ONCE, f"folders alerted more than once: {twice}")
        if not quiescent or self.lake.sqs.queues[self.lake.dlq_url].messages:
            return  # a folder's event parked in the DLQ is named by the DLQ's alert
        named = self.lake.open_alert_subjects()
        now = self.lake.clock.timestamp()
        for subject, folder in self.lake.folder_truth.folders.items():
            if folder.run_keys and subject in named:
                violate(FOLDER_ALERT_ONCE, f"{subject} has a run under it and is still alerted")
            settled = folder.first_in_s3 is not None and now - folder.first_in_s3 > 2 * WINDOW
            if not folder.run_keys and settled and subject not in named:
                violate(FOLDER_ALERT_ONCE, f"{subject} matches no run folder and is not alerted")
