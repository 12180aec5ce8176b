"""Real instruments' run folders in a local lake (issue #34): five corpus runs of four families are
written into the shares of a lake (moto server, the software gateway, the events sensor played by
`Driver`), each with its verbatim metadata and marker files and data files made to its geometry.
Each is recognised, completed and announced, with the facts a person read from its files in
`run.started` and `run.completed`; a HiSeq X folder, which no platform's pattern matches, is
recorded once, listed by `status` and raised as one `folder_unrecognised` alert.

Small geometries keep it quick: a MiniSeq (68 cycles, one lane), a MinION Flongle run, a Revio
cell, a Sequel IIe cell and an AVITI cytoprofiling run (no base-call cycles).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from ngs_lake.alerts.conditions import FOLDER_UNRECOGNISED
from ngs_lake.alerts.dispatch import dispatch
from ngs_lake.alerts.sheet_conditions import SAMPLESHEET_UNREADABLE
from ngs_lake.alerts.sources import evaluate
from ngs_lake.alerts.state import AlertState
from ngs_lake.cli import main as cli_main
from ngs_lake.operations.run_views import run_report
from ngs_lake.operations.status import collect_status, render_status
from ngs_lake.platforms.illumina import MODELS, data_files, parse_run_info
from ngs_lake.platforms.pacbio import dataset_resources, parse_transferdone
from ngs_lake.runs.model import RunState
from ngs_lake.runs.unrecognised import GATEWAY_CLOCK_TOLERANCE, SETTLING_WINDOW
from ngs_lake.runs.unrecognised_ledger import UnrecognisedFolders
from ngs_lake.runs.watermarks import QueueDrains, drained_from
from ngs_lake_tests.conftest import local_environment
from ngs_lake_tests.lake_fixtures import Lake
from ngs_lake_tests.pure.test_samples_catalog import documented_sample_queries
from ngs_lake_tests.simulation.clock import VirtualClock
from ngs_lake_tests.test_completion import Driver
from ngs_lake_tests.test_gateway_uploads import wait_for

CORPUS = Path(__file__).parent / "data" / "real_runs"
FACTS = {r["run_path"]: r for r in csv.DictReader((CORPUS / "facts.csv").open(encoding="utf-8"))}
HISEQ_X = "151211_HX3_18448_B_HHH55CCXX"  # Sanger's name for it: no platform's pattern matches
MADE = b"made to the run's geometry\n"


@dataclass
class CorpusRun:
    """A corpus run as written into a share: its first file (the one that starts the run), the
    rest, and its marker, last."""

    sequencer_id: str
    run_path: str
    first: tuple[str, bytes]
    rest: dict[str, bytes]
    marker: tuple[str, bytes]

    @property
    def run_key(self) -> str:
        return f"{self.sequencer_id}/{self.run_path}"

    @property
    def expected_facts(self) -> dict[str, str]:
        row = FACTS[self.run_path]
        named = {k: row[k] for k in ("run_id", "flowcell", "instrument", "geometry")}
        return {k: v for k, v in (named | {"run_date": row["start_date"]}).items() if v}


def _corpus(run_path: str, name: str) -> bytes:
    return (CORPUS / run_path / name).read_bytes()


def _miniseq() -> CorpusRun:
    path = "160607_ML-PT1-15_0009_A000H02MFC"
    run_info = _corpus(path, "RunInfo.xml")
    data = data_files(MODELS["miniseq"], parse_run_info(run_info))
    rest = dict.fromkeys(data, MADE) | {"RunParameters.xml": b"<RunParameters />\n"}
    return CorpusRun("MNS-MAD-01", path, ("RunInfo.xml", run_info), rest, ("RTAComplete.txt", b""))


def _minion() -> CorpusRun:
    """Flongle AOZ898: its final summary counts 38 POD5 and 33 FASTQ files."""
    path = FACTS_BY_MODEL["MinION (Flongle)"]
    summary = "final_summary_AOZ898_35873099_e8dfad65.txt"
    rest = {f"pod5/AOZ898_35873099_{i}.pod5": MADE for i in range(1, 38)}
    rest |= {f"fastq_pass/AOZ898_pass_35873099_{i}.fastq.gz": MADE for i in range(33)}
    first = ("pod5/AOZ898_35873099_0.pod5", MADE)
    return CorpusRun("MIN-MAD-01", path, first, rest, (summary, _corpus(path, summary)))


def _revio() -> CorpusRun:
    """The transferdone lists 45 files by absolute instrument paths (/data/icc/<movie>/...)."""
    path, movie = "r84047_20230404_164149/1_A01", "m84047_230404_164952_s1"
    marker = f"metadata/{movie}.transferdone"
    metadata = f"metadata/{movie}.metadata.xml"
    listed = parse_transferdone(_corpus(path, marker), movie)
    rest = {p: MADE for p in listed if p != metadata}
    return CorpusRun(
        "REV-MAD-01",
        path,
        (metadata, _corpus(path, metadata)),
        rest,
        (marker, _corpus(path, marker)),
    )


def _sequel() -> CorpusRun:
    """A 0-byte transferdone beside the dataset XML, which names the cell's files."""
    path, movie = "r64174e_20210114_161659/1_A01", "m64174e_210114_162751"
    dataset = f"{movie}.consensusreadset.xml"
    xml = _corpus(path, dataset)
    rest = dict.fromkeys(dataset_resources(xml, dataset, movie), MADE)
    marker = f"{movie}.transferdone"
    return CorpusRun("SQ2-MAD-01", path, (dataset, xml), rest, (marker, _corpus(path, marker)))


def _aviti() -> CorpusRun:
    path = "20250415_AV244103_2345"
    first = ("RunParameters.json", _corpus(path, "RunParameters.json"))
    rest = {"RunManifest.json": _corpus(path, "RunManifest.json")}
    return CorpusRun(
        "AVI-MAD-01", path, first, rest, ("RunUploaded.json", _corpus(path, "RunUploaded.json"))
    )


FACTS_BY_MODEL = {r["model"]: p for p, r in FACTS.items()}
SEQUENCERS = {  # id: (gateway, platform)
    "MNS-MAD-01": ("gw-a", "miniseq"),
    "MIN-MAD-01": ("gw-b", "minion"),
    "REV-MAD-01": ("gw-b", "revio"),
    "SQ2-MAD-01": ("gw-b", "sequel-2"),
    "AVI-MAD-01": ("gw-a", "aviti"),
}


@pytest.fixture
def real_lake(lake_with: Callable[[Callable[[dict], None]], Lake]) -> Lake:
    def add_sequencers(document: dict) -> None:
        for sequencer_id, (gateway, platform) in SEQUENCERS.items():
            document["sequencers"].append(
                {
                    "id": sequencer_id,
                    "gateway": gateway,
                    "platform": platform,
                    "data_rate": "1 GB/h",
                }
            )

    return lake_with(add_sequencers)


def _write(lake: Lake, sequencer_id: str, relative: str, data: bytes) -> None:
    path = lake.share_folder(sequencer_id) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _uploaded(lake: Lake, sequencer_id: str, key: str) -> Callable[[], bool]:
    s3 = lake.clients.s3()
    bucket = lake.config.bucket_name(sequencer_id)

    def check() -> bool:
        return any(
            o["Key"] == key
            for o in s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
        )

    return check


def _all_uploaded(lake: Lake, run: CorpusRun) -> Callable[[], bool]:
    s3 = lake.clients.s3()
    bucket = lake.config.bucket_name(run.sequencer_id)
    wanted = {f"{run.run_path}/{p}" for p in [run.first[0], *run.rest, run.marker[0]]}

    def check() -> bool:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=run.run_path)
        return wanted <= {o["Key"] for page in pages for o in page.get("Contents", [])}

    return check


def _messages(lake: Lake) -> dict[tuple[str, str], dict]:
    return {(b["run"]["run_key"], b["event_type"]): b for b in _bodies(lake)}


def _bodies(lake: Lake) -> list[dict]:
    return [json.loads(m["Body"]) for m in lake.consumer_messages("lims")]


# Issue #31: the MiniSeq's v2 sheet (its RunInfo: R1:30 I1:8 R2:30), the AVITI's RunManifest.csv
# (verbatim, elsheeto), and a MinKNOW sample sheet no parser reads for the MinION.
MINISEQ_SHEET = (
    b"[Header]\nFileFormatVersion,2\nRunName,160607_ML-PT1-15_0009_A000H02MFC\n"
    b"InstrumentPlatform,MiniSeq\n\n[Reads]\nRead1Cycles,30\nRead2Cycles,30\nIndex1Cycles,8\n\n"
    b"[BCLConvert_Settings]\nOverrideCycles,Y30;I8;Y30\n\n[BCLConvert_Data]\n"
    b"Lane,Sample_ID,Index,Sample_Project\n1,MyFirstSample,ACGTACGT,SampleProject\n"
    b"1,MySecondSample,TGCATGCA,SampleProject\n"
)
AVITI_MANIFEST = (
    CORPUS.parent / "samplesheets" / "elsheeto_aviti_example1_RunManifest.csv"
).read_bytes()
MINION_SHEET = "sample_sheet_AOZ898_20231108_1411_35873099.csv"
SHEETS = {  # sequencer: (path in the run, bytes)
    "MNS-MAD-01": ("SampleSheet.csv", MINISEQ_SHEET),
    "AVI-MAD-01": ("RunManifest.csv", AVITI_MANIFEST),
    "MIN-MAD-01": (MINION_SHEET, b"flow_cell_id,sample_id,experiment_id\n"),
}


def test_five_real_runs_of_four_families_complete_with_their_facts(real_lake):
    lake = real_lake
    runs = [_miniseq(), _minion(), _revio(), _sequel(), _aviti()]
    # 1. Each run's first file, and a folder no platform recognises; one tick starts the runs.
    for run in runs:
        _write(lake, run.sequencer_id, f"{run.run_path}/{run.first[0]}", run.first[1])
    for name in ("RunInfo.xml", "runParameters.xml"):
        _write(lake, "NVX-MAD-01", f"{HISEQ_X}/{name}", _corpus(HISEQ_X, name))
    for run in runs:  # issue #31: each run's sample sheet with its first file
        if run.sequencer_id in SHEETS:
            path, data = SHEETS[run.sequencer_id]
            _write(lake, run.sequencer_id, f"{run.run_path}/{path}", data)
    for run in runs:
        wait_for(
            _uploaded(lake, run.sequencer_id, f"{run.run_path}/{run.first[0]}"), what=run.first[0]
        )
        if run.sequencer_id in SHEETS:
            path = f"{run.run_path}/{SHEETS[run.sequencer_id][0]}"
            wait_for(_uploaded(lake, run.sequencer_id, path), what=path)
    wait_for(
        _uploaded(lake, "NVX-MAD-01", f"{HISEQ_X}/runParameters.xml"), what="the HiSeq X folder"
    )
    with dg.instance_for_test() as instance:
        driver = Driver(lake, instance)
        driver.until(lambda: all(lake.ledger().get_run(r.run_key) for r in runs), what="5 runs")
        # Facts from the first read, on the STARTED run (not only once it completes).
        for run in runs:
            stored = lake.ledger().get_run(run.run_key)
            assert stored.state == RunState.STARTED
            if run.sequencer_id != "MIN-MAD-01":  # a final summary is Nanopore's fact file
                assert stored.facts == run.expected_facts, run.run_key
        miniseq = lake.ledger().get_run(runs[0].run_key)
        report = run_report(miniseq, [], [])  # what `ngs-lake runs show` prints
        assert "flowcell  000H02MFC" in report
        assert (
            "instrument ML-PT1-15; flowcell 000H02MFC; run_date 2016-06-07; geometry R1:30"
            in report
        )
        # 2. The rest of each run, its marker last; each completes.
        for run in runs:
            for relative, data in run.rest.items():
                _write(lake, run.sequencer_id, f"{run.run_path}/{relative}", data)
            _write(lake, run.sequencer_id, f"{run.run_path}/{run.marker[0]}", run.marker[1])
        for run in runs:  # uploaded before the next tick: one drain takes each run whole
            wait_for(_all_uploaded(lake, run), what=f"{run.run_key} uploaded")

        def all_completed() -> bool:
            states = [(r := lake.ledger().get_run(x.run_key)) and r.state for x in runs]
            return all(s == RunState.COMPLETED for s in states)

        driver.until(all_completed, what="all five COMPLETED", timeout=180)
        driver.tick()  # publishes what is still owed
        messages = _messages(lake)
        _samples_in_messages_and_queries(lake, runs[0].run_key, messages)
        _a_revised_sheet_is_announced_once(lake, driver, runs[0])
    for run in runs:
        started = messages[(run.run_key, "run.started")]["run"]
        completed = messages[(run.run_key, "run.completed")]["run"]
        assert completed["facts"] == run.expected_facts, run.run_key
        assert completed["flowcell"] == run.expected_facts["flowcell"]
        assert started["facts"]["flowcell"] == run.expected_facts["flowcell"], run.run_key
        if run.sequencer_id != "MIN-MAD-01":
            assert started["facts"] == run.expected_facts, run.run_key
    # 3. The HiSeq X folder: one record, listed by status, one alert, sent once.
    table = UnrecognisedFolders(lake.clients, lake.names)
    assert f"NVX-MAD-01/{HISEQ_X}  settling" in render_status(
        collect_status(lake.clients, lake.config)
    )
    # The window on: a tick's drain of the (empty) events queue then, ending drained, settles it.
    later = datetime.now(UTC) + SETTLING_WINDOW + GATEWAY_CLOCK_TOLERANCE + timedelta(seconds=1)
    drain = QueueDrains(
        lake.clients, lake.names, lake.names.events_queue, timedelta(0), VirtualClock(later)
    )
    drain.open()
    drain.close(drained=True)
    drained = drained_from(lake.clients, lake.names, lake.config)
    (folder,) = table.unrecognised(drained, prune=True)  # the MinION's experiment folder is a run's
    assert folder.subject == f"NVX-MAD-01/{HISEQ_X}"
    assert "no novaseq-x run folder" in folder.reason
    sent: list[tuple[str, str]] = []
    state = AlertState(lake.clients, lake.names)
    evaluation = evaluate(lake.clients, lake.config, state, later)
    for _ in range(2):  # a second pass finds it open: nothing is sent again
        dispatch(
            state, lambda a, _status, _at: sent.append((a.condition, a.subject)), evaluation, later
        )
    assert [s for s in sent if s[0] == FOLDER_UNRECOGNISED] == [
        (FOLDER_UNRECOGNISED, f"NVX-MAD-01/{HISEQ_X}")
    ]
    # Issue #31: the MinION completed with a sheet no parser reads; one alert names it, once.
    minion = runs[1]
    assert lake.ledger().get_run(minion.run_key).state == RunState.COMPLETED
    assert [s for s in sent if s[0] == SAMPLESHEET_UNREADABLE] == [
        (SAMPLESHEET_UNREADABLE, minion.run_key)
    ]
    report = run_report(lake.ledger().get_run(minion.run_key), [], [])  # `runs show`
    assert f"samplesheet unreadable: {MINION_SHEET}: no sample rows" in report
    (alert,) = [a for a in evaluation.alerts if a.condition == SAMPLESHEET_UNREADABLE]
    assert f"samplesheet unreadable: {MINION_SHEET}: no sample rows" in alert.summary


def _samples_in_messages_and_queries(lake: Lake, run_key: str, messages: dict) -> None:
    """run.started and run.completed carry the sheet's counts (never its samples); the
    manifest the completed message names holds them; the manual's three queries find them."""
    completed = messages[(run_key, "run.completed")]
    samples = completed["samples"]
    assert (samples["status"], samples["sample_count"]) == ("ok", 2)
    assert samples["projects"] == ["SampleProject"]
    assert "MyFirstSample" not in json.dumps(completed)
    assert messages[(run_key, "run.started")]["samples"]["sample_count"] == 2
    manifest = json.loads(
        lake.clients.s3()
        .get_object(Bucket=samples["manifest_bucket"], Key=samples["manifest_key"])["Body"]
        .read()
    )
    assert [s["sample_id"] for s in manifest["samples"]] == ["MyFirstSample", "MySecondSample"]
    aviti = messages[("AVI-MAD-01/20250415_AV244103_2345", "run.completed")]["samples"]
    assert (aviti["sample_count"], aviti["projects"]) == (3, ["Library_Pool_1", "Library_Pool_2"])
    runs_of_sample, project_by_month, site_in_range = documented_sample_queries()
    assert _query(lake, runs_of_sample) == [
        {"run_key": run_key, "flowcell": "000H02MFC", "run_date": "2016-06-07", "lane": 1}
    ]
    assert _query(lake, project_by_month) == [
        {"month": "2016-06", "runs": 1, "bytes": completed["upload"]["bytes"]}
    ]
    assert [r["sample_id"] for r in _query(lake, site_in_range)] == [
        "MyFirstSample",
        "MySecondSample",
    ]


def _query(lake: Lake, sql: str) -> list[dict]:
    """`ngs-lake catalog query SQL --format json`, in this process (a child costs seconds)."""
    env = local_environment(lake.moto.endpoint, lake.gateway.endpoint)
    state = lake.gateway.state_dir.parent / "query-state"
    args = ["catalog", "query", sql, "--format", "json", "--config", str(lake.config_path)]
    result = CliRunner().invoke(cli_main, [*args, "--state", str(state)], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _a_revised_sheet_is_announced_once(lake: Lake, driver: Driver, miniseq: CorpusRun) -> None:
    """The lab corrects the sheet on the share after completion: one run.samplesheet_changed,
    naming the new version and its manifest; the sheet's event again announces nothing more."""
    revised = MINISEQ_SHEET.replace(b"MySecondSample", b"MySecondSampleB")
    _write(lake, miniseq.sequencer_id, f"{miniseq.run_path}/SampleSheet.csv", revised)

    def changed() -> bool:
        run = lake.ledger().get_run(miniseq.run_key)
        return run.sheet_changes == 1 and not run.unpublished

    driver.until(changed, what="run.samplesheet_changed recorded and published")
    driver.tick()
    bodies = [b for b in _bodies(lake) if b["run"]["run_key"] == miniseq.run_key]
    (change,) = [b for b in bodies if b["event_type"] == "run.samplesheet_changed"]
    assert change["samples"]["sample_count"] == 2
    assert change["samples"]["manifest_key"].endswith(f"{change['samples']['digest']}.json")
