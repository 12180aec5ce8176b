"""Every folder of the corpus of real run folders, read by its family and checked against the facts
a person wrote down by reading the files (`data/real_runs/facts.csv`, sources in SOURCES.md).

A platform's rules are only as good as the folders they were tried on: these are instruments' own
files, with their CRLF endings, empty markers, wrong encoding declarations, prefixed XML roots,
dates in four formats and absolute transfer paths.
"""

from __future__ import annotations

import csv
import fnmatch
from pathlib import Path

import pytest

from ngs_lake.platforms import PLATFORMS, family_of
from ngs_lake.platforms.base import PlatformFamily, RunLocation

CORPUS = Path(__file__).parents[1] / "data" / "real_runs"
FACTS = list(csv.DictReader((CORPUS / "facts.csv").open(encoding="utf-8")))
FAMILY_PLATFORM = {"illumina": "miseq", "nanopore": "promethion", "pacbio": "revio"}


def _platform(row: dict[str, str]) -> str:
    """The row's platform; a model with none (HiSeq) is read by its family's rules."""
    return row["platform"] or FAMILY_PLATFORM[row["family"]]


def _files(row: dict[str, str]) -> dict[str, bytes]:
    folder = CORPUS / row["run_path"]
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _family(row: dict[str, str]) -> PlatformFamily:
    return family_of(_platform(row))


def _ids(row: dict[str, str]) -> str:
    return row["run_path"].rsplit("/", 2)[-1] if row["family"] != "pacbio" else row["run_path"]


ROWS = pytest.mark.parametrize("row", FACTS, ids=[_ids(r) for r in FACTS])


def test_the_corpus_is_at_least_25_runs_of_12_models_in_every_family():
    assert len(FACTS) >= 25
    assert len({r["model"] for r in FACTS}) >= 12
    assert {r["family"] for r in FACTS} == {"illumina", "nanopore", "pacbio", "element"}
    listed = {line.split("`")[1].split("/")[0] for line in (CORPUS / "SOURCES.md").open()
              if line.startswith("| `")}  # fmt: skip
    assert {r["run_path"].split("/")[0] for r in FACTS} <= listed


@ROWS
def test_the_platform_belongs_to_the_family(row):
    if row["platform"]:
        assert PLATFORMS[row["platform"]].family.value == row["family"]


@ROWS
def test_the_folder_name_is_recognised_as_the_instrument_named_it(row):
    family = _family(row)
    parts = row["run_path"].split("/")
    recognised = len(parts) == family.run_depth and family.is_run_path(parts)
    assert recognised is (row["recognised"] == "yes")


@ROWS
def test_facts_are_read_from_the_fact_files_alone(row):
    family, platform = _family(row), _platform(row)
    facts_files = {k: v for k, v in _files(row).items() if family.is_fact_file(platform, k)}
    facts = family.read_facts(platform, facts_files)
    expected = {k: row[k] or None for k in ("run_id", "flowcell", "instrument", "geometry")}
    expected["run_date"] = row["start_date"] or None
    assert facts.__dict__ == expected


@ROWS
def test_the_marker_completes_the_run_exactly_when_the_table_says(row):
    family, platform = _family(row), _platform(row)
    files = _files(row)
    markers = [
        path
        for path in files
        if family.is_completion_marker(platform, RunLocation(row["run_path"], path))
    ]
    if not row["platform"]:  # no platform id: the lake never completes it
        assert row["completes"] == "no"
        return
    if not row["marker"]:
        assert markers == [] and row["completes"] == "no"
        return
    assert row["marker"] in files
    patterns = family.metadata_paths(platform, row["run_path"])
    metadata = {k: v for k, v in files.items() if any(fnmatch.fnmatch(k, p) for p in patterns)}
    try:
        family.parse_metadata(platform, metadata)
        family.check_expected_files(platform, row["run_path"], metadata, set(files))
        readable = True
    except ValueError:
        readable = False
    completes = row["marker"] in markers and readable
    assert completes is (row["completes"] == "yes")


def test_a_revio_transfer_list_maps_absolute_instrument_paths_onto_the_cell():
    row = next(r for r in FACTS if r["run_path"] == "r84047_20230404_164149/1_A01")
    files = _files(row)
    marker = "metadata/m84047_230404_164952_s1.transferdone"
    report = family_of("revio").check_expected_files("revio", row["run_path"], files, set(files))
    assert report.expected == 46  # the 45 listed and the marker
    assert "fail_reads/m84047_230404_164952_s1.fail_reads.bc2073.bam" in report.missing
    assert "metadata/m84047_230404_164952_s1.metadata.xml" not in report.missing
    assert marker not in report.missing


def test_a_sequel_cell_expects_what_its_dataset_xml_names():
    row = next(r for r in FACTS if r["run_path"] == "r64174e_20210114_161659/1_A01")
    files = _files(row)
    report = family_of("sequel-2").check_expected_files(
        "sequel-2", row["run_path"], files, set(files)
    )
    assert "m64174e_210114_162751.reads.bam" in report.missing
    assert "m64174e_210114_162751.reads.bam.pbi" in report.missing
    assert not any(p.endswith(".transferdone") or p.endswith("set.xml") for p in report.missing)


def test_a_nextseq_550_completes_on_rta_complete_txt():
    from ngs_lake.platforms.illumina import MODELS

    assert MODELS["nextseq-550"].completion_marker == "RTAComplete.txt"
    family = family_of("nextseq-550")
    run = "200106_NS500488_0971_AHW5CYBGXC"
    assert family.is_completion_marker("nextseq-550", RunLocation(run, "RTAComplete.txt"))
    assert not family.is_completion_marker("nextseq-550", RunLocation(run, "RTAComplete.xml"))
