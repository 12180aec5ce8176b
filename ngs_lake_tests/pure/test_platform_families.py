"""The closed list of platforms (ARCHITECTURE §2), the family that knows each, and what every
family shares: finding a key's run folder and reporting the files a complete run lacks."""

import re

import pytest

from ngs_lake.platforms import PLATFORM_IDS, PLATFORMS, Family, family_of
from ngs_lake.platforms.base import ExpectedFilesReport, RunLocation, bare, expected_report

FAMILIES = {
    "novaseq-x": ("illumina", "NovaSeq X"),
    "novaseq-6000": ("illumina", "NovaSeq 6000"),
    "nextseq-2000": ("illumina", "NextSeq 2000"),
    "nextseq-1000": ("illumina", "NextSeq 1000"),
    "nextseq-550": ("illumina", "NextSeq 550"),
    "miniseq": ("illumina", "MiniSeq"),
    "miseq": ("illumina", "MiSeq"),
    "iseq-100": ("illumina", "iSeq 100"),
    "promethion": ("nanopore", "PromethION"),
    "gridion": ("nanopore", "GridION"),
    "minion": ("nanopore", "MinION (and Flongle)"),
    "revio": ("pacbio", "Revio"),
    "sequel-2": ("pacbio", "Sequel II/IIe"),
    "aviti": ("element", "AVITI"),
}


def test_the_platform_ids_are_the_closed_list():
    assert tuple(FAMILIES) == PLATFORM_IDS


@pytest.mark.parametrize("platform", list(FAMILIES))
def test_each_platform_has_its_family_and_model(platform):
    family, model = FAMILIES[platform]
    assert family_of(platform).name == family
    assert PLATFORMS[platform].family == Family(family)
    assert PLATFORMS[platform].model == model


def test_family_modules_are_shared_by_their_platforms():
    assert family_of("novaseq-x") is family_of("miseq")
    assert family_of("promethion") is family_of("gridion")


def test_an_unknown_platform_is_named_with_the_closed_list():
    with pytest.raises(ValueError) as caught:
        family_of("hiseq-2500")
    assert str(caught.value) == (
        "unknown platform 'hiseq-2500'; expected one of: novaseq-x, novaseq-6000, nextseq-2000, "
        "nextseq-1000, nextseq-550, miniseq, miseq, iseq-100, promethion, gridion, minion, revio, "
        "sequel-2, aviti"
    )


def test_bare_drops_the_anchors_of_a_whole_name_pattern():
    assert bare(re.compile(r"^r\d{5}$")) == r"r\d{5}"
    assert bare(re.compile(r"^a^b$")) == "a^b"
    assert bare(re.compile("ab")) == "ab"


def test_expected_report_lists_missing_files_sorted_once():
    report = expected_report(["b", "a", "c", "a"], {"a", "z"})
    assert report == ExpectedFilesReport(3, ("b", "c"))
    assert not report.complete


def test_a_report_with_nothing_missing_is_complete():
    report = expected_report(["RunInfo.xml"], {"RunInfo.xml", "x"})
    assert report.complete
    assert report.summary() == "all 1 expected files present"


def test_a_summary_shows_the_first_five_missing_files():
    missing = tuple(f"f{i}" for i in range(1, 6))
    assert ExpectedFilesReport(9, missing).summary() == (
        "5 of 9 expected files missing: f1, f2, f3, f4, f5"
    )


def test_a_summary_counts_the_missing_files_it_does_not_show():
    missing = tuple(f"f{i}" for i in range(1, 8))
    assert ExpectedFilesReport(9, missing).summary() == (
        "7 of 9 expected files missing: f1, f2, f3, f4, f5 and 2 more"
    )
    assert ExpectedFilesReport(9, missing).summary(first=6) == (
        "7 of 9 expected files missing: f1, f2, f3, f4, f5, f6 and 1 more"
    )


MISEQ_RUN = "150602_M01270_0108_000000000-ADWKV"
ONT_RUN = "exp/sample/20231116_1503_1A_PAQ12345_3f2a1b9c"
CELL = "r84046_20231116_153000/1_A01"
AVITI_RUN = "20231116_AV224503_Sim-1"


@pytest.mark.parametrize(
    ("platform", "key", "location"),
    [
        ("miseq", MISEQ_RUN, RunLocation(MISEQ_RUN, "")),
        ("miseq", f"/{MISEQ_RUN}//RunInfo.xml", RunLocation(MISEQ_RUN, "RunInfo.xml")),
        ("miseq", f"{MISEQ_RUN}/Data/Intensities/", RunLocation(MISEQ_RUN, "Data/Intensities")),
        ("miseq", "", None),
        ("miseq", f"SampleSheets/{MISEQ_RUN}/RunInfo.xml", None),
        ("promethion", f"{ONT_RUN}/", RunLocation(ONT_RUN, "")),
        ("promethion", f"{ONT_RUN}/pod5/a.pod5", RunLocation(ONT_RUN, "pod5/a.pod5")),
        ("promethion", "exp/sample/", None),
        ("promethion", "exp/20231116_1503_1A_PAQ12345_3f2a1b9c/pod5/a.pod5", None),
        ("revio", f"{CELL}/hifi_reads/a.bam", RunLocation(CELL, "hifi_reads/a.bam")),
        ("revio", "r84046_20231116_153000/1_E01/a.bam", None),
        (
            "aviti",
            f"{AVITI_RUN}/BaseCalls/R1_C001.zip",
            RunLocation(AVITI_RUN, "BaseCalls/R1_C001.zip"),
        ),
        ("aviti", "20231116_AV22450_Sim-1/RunUploaded.json", None),
    ],
)
def test_a_key_falls_in_its_run_folder_or_none(platform, key, location):
    assert family_of(platform).locate(key) == location


def test_keys_are_split_on_slashes_only():
    """S3 keys may start or end with any character; only `/` separates folders."""
    run = "201125_A00291_0321_AHWHKYDRXX"
    assert family_of("novaseq-6000").locate(run) == RunLocation(run, "")
    assert family_of("novaseq-6000").locate(f"{run}/") == RunLocation(run, "")
    assert family_of("novaseq-6000").locate(f"{run}/SampleSheet.csv ") == RunLocation(
        run, "SampleSheet.csv "
    )
    assert family_of("novaseq-6000").locate(f" {run}/SampleSheet.csv") is None


def test_the_run_folder_itself_is_told_apart():
    assert RunLocation("run", "").is_run_folder_itself
    assert not RunLocation("run", "RunInfo.xml").is_run_folder_itself
