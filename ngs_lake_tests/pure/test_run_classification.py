"""Which run an uploaded object belongs to, decided by the share's sequencer and its family's
folder rules: a file, the completion marker, a directory, or a stray outside any run."""

from datetime import UTC, datetime

import pytest

from ngs_lake.runs.classification import (
    Classified,
    ObjectKind,
    ShareEntry,
    classify_upload_event,
    run_key_of,
)
from ngs_lake.runs.events import ObjectUpload

AT = datetime(2026, 11, 28, 12, 34, 56, tzinfo=UTC)


def share(sequencer_id: str, platform: str) -> ShareEntry:
    return ShareEntry(
        sequencer_id=sequencer_id,
        share_arn="arn:aws:storagegateway:us-east-1:123456789012:share/share-F123D451",
        bucket=f"lake-{sequencer_id.lower()}",
        platform=platform,
        site="madison",
        lab="Madison Biotechnology Core",
        timezone="America/Chicago",
        gateway_id="gw-a",
    )


def upload(key: str) -> ObjectUpload:
    return ObjectUpload(
        event_id="e1",
        time=AT,
        share_arn="arn:aws:storagegateway:us-east-1:123456789012:share/share-F123D451",
        gateway_arn="",
        bucket="lake",
        key=key,
        size=1,
        modified_at=AT,
    )


def test_a_run_key_is_the_sequencer_and_the_run_folder():
    assert run_key_of("NVX-MAD-01", "20231116_LH00123_0042_A22F7KLT4") == (
        "NVX-MAD-01/20231116_LH00123_0042_A22F7KLT4"
    )


NVX = "20231116_LH00123_0042_A22F7KLT4"
ONT = "exp1/sampleA/20231116_1503_1A_PAQ12345_3f2a1b9c"
CELL = "r84046_20231116_153000/1_A01"


@pytest.mark.parametrize(
    ("sequencer", "platform", "key", "expected"),
    [
        ("NVX-MAD-01", "novaseq-x", f"{NVX}/RunInfo.xml", Classified(ObjectKind.FILE, f"NVX-MAD-01/{NVX}", NVX, "RunInfo.xml")),
        ("NVX-MAD-01", "novaseq-x", f"{NVX}/CopyComplete.txt", Classified(ObjectKind.MARKER, f"NVX-MAD-01/{NVX}", NVX, "CopyComplete.txt")),
        ("NVX-MAD-01", "novaseq-x", f"{NVX}/RTAComplete.txt", Classified(ObjectKind.FILE, f"NVX-MAD-01/{NVX}", NVX, "RTAComplete.txt")),
        ("NVX-MAD-01", "novaseq-x", f"{NVX}/Data/", Classified(ObjectKind.DIRECTORY, f"NVX-MAD-01/{NVX}", NVX, "Data")),
        ("NVX-MAD-01", "novaseq-x", f"{NVX}/", Classified(ObjectKind.DIRECTORY, f"NVX-MAD-01/{NVX}", NVX, "")),
        ("NVX-MAD-01", "novaseq-x", "notes/readme.txt", Classified(ObjectKind.STRAY, None, None, "notes/readme.txt")),
        ("MIS-MAD-01", "miseq", f"{NVX}/RTAComplete.txt", Classified(ObjectKind.MARKER, f"MIS-MAD-01/{NVX}", NVX, "RTAComplete.txt")),
        ("PRM-MAD-01", "promethion", f"{ONT}/final_summary_PAQ12345_3f2a1b9c_a1b2c3d4.txt", Classified(ObjectKind.MARKER, f"PRM-MAD-01/{ONT}", ONT, "final_summary_PAQ12345_3f2a1b9c_a1b2c3d4.txt")),
        ("PRM-MAD-01", "promethion", "exp1/sampleA/", Classified(ObjectKind.STRAY, None, None, "exp1/sampleA/")),
        ("REV-BOS-01", "revio", f"{CELL}/metadata/m84046_231116_153611_s1.transferdone", Classified(ObjectKind.MARKER, f"REV-BOS-01/{CELL}", CELL, "metadata/m84046_231116_153611_s1.transferdone")),
        ("AVT-BOS-01", "aviti", "20231116_AV224503_Sim-1/RunUploaded.json", Classified(ObjectKind.MARKER, "AVT-BOS-01/20231116_AV224503_Sim-1", "20231116_AV224503_Sim-1", "RunUploaded.json")),
    ],
)  # fmt: skip
def test_uploads_are_classified_by_their_family(sequencer, platform, key, expected):
    assert classify_upload_event(upload(key), share(sequencer, platform)) == expected


def test_a_directory_named_like_the_marker_is_a_directory():
    classified = classify_upload_event(upload(f"{NVX}/CopyComplete.txt/"), share("N", "novaseq-x"))
    assert classified.kind == ObjectKind.DIRECTORY


def test_kinds_are_the_ledgers_strings():
    assert [k.value for k in ObjectKind] == ["file", "marker", "directory", "stray"]
