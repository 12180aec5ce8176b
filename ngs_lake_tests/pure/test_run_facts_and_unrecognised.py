"""Facts from the first metadata read merge and are never lost; a folder that matches no run
folder of its platform becomes one candidate, judged after settling (issue #34)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ngs_lake.alerts.conditions import FOLDER_UNRECOGNISED, unrecognised_folder_findings
from ngs_lake.config.model import ALERT_CONDITIONS
from ngs_lake.platforms import PLATFORM_IDS, family_of
from ngs_lake.platforms.base import RunFacts
from ngs_lake.runs.announcements import run_event_schema
from ngs_lake.runs.classification import ObjectKind, ShareEntry, classify_upload_event
from ngs_lake.runs.model import NewRun, RunFile
from ngs_lake.runs.run_facts import FACTS_ERROR, fact_files, merged_facts
from ngs_lake.runs.unrecognised import (
    GATEWAY_CLOCK_TOLERANCE,
    SETTLING_WINDOW,
    StrayObject,
    candidates,
    top_folder,
    why_unrecognised,
)
from ngs_lake_tests.pure.test_run_classification import share, upload

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
SHARE = ShareEntry("NVX-MAD-01", "arn:share", "bucket", "novaseq-x", "madison", "", "UTC", "gw-a")


def _new_run(run_folder: str, platform: str = "novaseq-x") -> NewRun:
    return NewRun(
        f"NVX-MAD-01/{run_folder}", run_folder, "NVX-MAD-01", platform, "madison", "", "UTC",
        "bucket", "arn:share", T0,
    )  # fmt: skip


def _file(run_key: str, path: str) -> RunFile:
    return RunFile(run_key, path, 1, T0, "evt", T0)


def test_stored_facts_win_and_a_later_read_only_fills_gaps():
    stored = {"flowcell": "HWHKYDRXX", "run_id": "R"}
    read = {"flowcell": "OTHER", "geometry": "R1:101 I1:8 I2:8 R2:101"}
    assert merged_facts(stored, read) == {
        "flowcell": "HWHKYDRXX",
        "run_id": "R",
        "geometry": "R1:101 I1:8 I2:8 R2:101",
    }


def test_a_good_read_clears_an_earlier_failure_and_a_failure_keeps_the_facts():
    assert merged_facts({FACTS_ERROR: "RunInfo.xml: truncated"}, {"flowcell": "X"}) == {
        "flowcell": "X"
    }
    assert merged_facts({"flowcell": "X"}, {FACTS_ERROR: "bad"}) == {
        "flowcell": "X",
        FACTS_ERROR: "bad",
    }


def test_only_a_runs_fact_files_are_read():
    run = _new_run("201125_A00291_0321_AHWHKYDRXX")
    files = [
        _file(run.run_key, "RunInfo.xml"),
        _file(run.run_key, "runParameters.xml"),
        _file(run.run_key, "Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl"),
        _file(run.run_key, "CopyComplete.txt"),
    ]
    found = fact_files(files, {run.run_key: run})
    assert [f.path for f in found[run.run_key]] == ["RunInfo.xml", "runParameters.xml"]


def test_a_flongle_run_is_a_run_not_a_stray():
    """The flow cell pattern used to refuse `AOZ898`; its files were silently strays."""
    key = "20231107_MIN2_26171SS/26171SS0001L02/20231108_1411_MN32284_AOZ898_35873099/x.pod5"
    assert classify_upload_event(upload(key), share("MIN-MAD-01", "minion")).kind == ObjectKind.FILE


def test_a_hiseq_x_folder_is_a_stray_of_a_novaseq_share_with_the_layout_named():
    key = "151211_HX3_18448_B_HHH55CCXX/RunInfo.xml"
    assert classify_upload_event(upload(key), SHARE).kind == ObjectKind.STRAY
    reason = why_unrecognised("novaseq-x", key)
    assert reason.startswith(f"{key!r} is in no novaseq-x run folder; its run folders are <YYMMDD")
    assert family_of("novaseq-x").run_path_pattern in reason


def test_strays_make_one_candidate_per_top_folder_from_the_first_sighting():
    strays = [
        StrayObject("NVX-MAD-01", "novaseq-x", "151211_HX3_18448_B_HHH55CCXX/runParameters.xml",
                    T0 + timedelta(seconds=5)),
        StrayObject("NVX-MAD-01", "novaseq-x", "151211_HX3_18448_B_HHH55CCXX/RunInfo.xml", T0),
        StrayObject("NVX-MAD-01", "novaseq-x", "notes.txt", T0),
    ]  # fmt: skip
    found = candidates(strays)
    assert [(c.folder, c.first_seen, c.example_key) for c in found] == [
        ("151211_HX3_18448_B_HHH55CCXX", T0, "151211_HX3_18448_B_HHH55CCXX/RunInfo.xml"),
        ("notes.txt", T0, "notes.txt"),
    ]
    assert top_folder("exp/sample/") == "exp"


def test_subscribers_can_filter_on_the_condition():
    assert FOLDER_UNRECOGNISED in ALERT_CONDITIONS


def test_a_settled_candidate_is_one_warning_naming_status():
    (folder,) = candidates(
        [StrayObject("NVX-MAD-01", "novaseq-x", "151211_HX3_18448_B_HHH55CCXX/RunInfo.xml", T0)]
    )
    # settled by a drain started the window (and the gateway clock's 5 minutes) after it was
    # first seen that ended drained; never without one, however late the lake's clock is
    drained = T0 + SETTLING_WINDOW + GATEWAY_CLOCK_TOLERANCE
    assert timedelta(minutes=5) == GATEWAY_CLOCK_TOLERANCE
    assert not folder.settled(None)
    assert not folder.settled(drained - timedelta(seconds=1))
    assert folder.settled(drained)
    (alert,) = unrecognised_folder_findings([folder])
    assert (alert.condition, alert.subject, alert.began_at, alert.severity, alert.command) == (
        FOLDER_UNRECOGNISED,
        "NVX-MAD-01/151211_HX3_18448_B_HHH55CCXX",
        T0 + SETTLING_WINDOW,
        "warning",
        "ngs-lake status",
    )


def test_the_message_schema_names_every_platform_and_the_facts():
    """Consumers validate against the shipped schema: a platform it does not list (MinION,
    Sequel II, ...) would fail every message of that platform."""
    schema = run_event_schema()["properties"]["run"]["properties"]
    assert schema["platform"]["enum"] == list(PLATFORM_IDS)
    assert set(schema["facts"]["properties"]) == set(RunFacts.__dataclass_fields__)
