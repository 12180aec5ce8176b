"""Run-folder recognition per family, with property-based tests for the folder-name patterns."""

import re
import string
from datetime import date

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ngs_lake.inventory.catalog import run_folder
from ngs_lake.platforms import PLATFORM_IDS, family_of
from ngs_lake.platforms.base import PlatformFileError, RunLocation
from ngs_lake.platforms.illumina import RUN_FOLDER as ILLUMINA_RUN
from ngs_lake.platforms.nanopore import RUN_FOLDER as ONT_RUN

ILLUMINA = family_of("novaseq-x")
ONT = family_of("promethion")
PACBIO = family_of("revio")
ELEMENT = family_of("aviti")


KEYS = [
    (
        ILLUMINA,
        "20231116_LH00123_0042_A22F7KLT4/RunInfo.xml",
        RunLocation("20231116_LH00123_0042_A22F7KLT4", "RunInfo.xml"),
    ),
    (
        ILLUMINA,
        "200722_VH00123_5_AAAFWVYM5/Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl",
        RunLocation(
            "200722_VH00123_5_AAAFWVYM5", "Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl"
        ),
    ),
    (
        ILLUMINA,
        "200316_NDX550421_RUO_0003_AHJK57BGXF/RTAComplete.txt",
        RunLocation("200316_NDX550421_RUO_0003_AHJK57BGXF", "RTAComplete.txt"),
    ),
    (
        ILLUMINA,
        "20231116_LH00123_0042_A22F7KLT4/",
        RunLocation("20231116_LH00123_0042_A22F7KLT4", ""),
    ),
    (ILLUMINA, "notes.txt", None),
    (ILLUMINA, "Scratch/RunInfo.xml", None),
    (
        ONT,
        "exp1/sampleA/20231116_1503_1A_PAQ12345_3f2a1b9c/pod5/PAQ12345_3f2a1b9c_1.pod5",
        RunLocation(
            "exp1/sampleA/20231116_1503_1A_PAQ12345_3f2a1b9c", "pod5/PAQ12345_3f2a1b9c_1.pod5"
        ),
    ),
    (ONT, "exp1/sampleA/", None),
    (ONT, "exp1/sampleA/not-a-run/x.pod5", None),
    (
        PACBIO,
        "r84046_20231116_153000/1_A01/metadata/m84046_231116_153611_s1.transferdone",
        RunLocation(
            "r84046_20231116_153000/1_A01", "metadata/m84046_231116_153611_s1.transferdone"
        ),
    ),
    (PACBIO, "r84046_20231116_153000/run.log", None),
    (
        ELEMENT,
        "20231116_AV224503_Sim-1/RunUploaded.json",
        RunLocation("20231116_AV224503_Sim-1", "RunUploaded.json"),
    ),
]


@pytest.mark.parametrize(("family", "key", "expected"), KEYS)
def test_keys_map_to_their_run(family, key, expected):
    assert family.locate(key) == expected


@pytest.mark.parametrize(("family", "key", "expected"), KEYS)
def test_the_catalogue_maps_keys_to_the_same_runs(family, key, expected):
    """The catalogue maps millions of inventory keys at once, in polars, with the family's
    run-folder pattern; each key must land in the run `locate` gives it."""
    mapped = pl.DataFrame({"key": [key]}).select(
        run_folder(pl.col("key"), family.run_depth, family.run_path_pattern)
    )
    assert mapped.item() == (expected.run_folder if expected else None)


@pytest.mark.parametrize(
    ("platform", "relative", "is_marker"),
    [
        ("novaseq-x", "CopyComplete.txt", True),
        ("novaseq-x", "RTAComplete.txt", False),
        ("miseq", "RTAComplete.txt", True),
        ("nextseq-550", "RTAComplete.txt", True),
        ("nextseq-550", "RTAComplete.xml", False),
        ("promethion", "final_summary_PAQ12345_3f2a1b9c_a1b2c3d4.txt", True),
        ("promethion", "sequencing_summary_PAQ12345_3f2a1b9c_a1b2c3d4.txt", False),
        ("revio", "metadata/m84046_231116_153611_s1.transferdone", True),
        ("revio", "metadata/m84046_231116_153611_s1.metadata.xml", False),
        ("aviti", "RunUploaded.json", True),
    ],
)
def test_completion_markers(platform, relative, is_marker):
    family = family_of(platform)
    assert family.is_completion_marker(platform, RunLocation("run", relative)) is is_marker


def test_unknown_platform_is_named():
    with pytest.raises(
        ValueError, match="unknown platform 'hiseq-2500'; expected one of: novaseq-x"
    ):
        family_of("hiseq-2500")


def test_every_platform_has_a_family():
    assert {family_of(p).name for p in PLATFORM_IDS} == {
        "illumina",
        "nanopore",
        "pacbio",
        "element",
    }


# Property-based: names built from valid parts are recognised and split back into those parts.

run_days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
dates = run_days.map(lambda d: d.strftime("%y%m%d")) | run_days.map(lambda d: d.strftime("%Y%m%d"))
instruments = st.from_regex(r"\A[A-Z]{1,2}[0-9]{5,6}(_RUO)?\Z")
flowcells = st.from_regex(r"\A[AB]?[A-Z0-9]{5,9}(-[A-Z0-9]{5})?\Z")


@given(date=dates, instrument=instruments, number=st.integers(0, 99999), flowcell=flowcells)
def test_illumina_names_round_trip(date, instrument, number, flowcell):
    name = f"{date}_{instrument}_{number:04d}_{flowcell}"
    match = ILLUMINA_RUN.match(name)
    assert match is not None
    assert (match["date"], match["instrument"], int(match["number"]), match["flowcell"]) == (
        date,
        instrument,
        number,
        flowcell,
    )
    assert ILLUMINA.locate(f"{name}/RunInfo.xml") == RunLocation(name, "RunInfo.xml")


@given(
    name=st.text(alphabet=string.ascii_letters + string.digits + "_- ./", min_size=0, max_size=40)
)
def test_illumina_names_need_date_instrument_number_and_flowcell(name):
    parts = name.split("_")
    valid_shape = (
        len(parts) >= 4
        and parts[0].isdigit()
        and len(parts[0]) in (6, 8)
        and " " not in name
        and "/" not in name
        and "." not in name
    )
    if not valid_shape:
        assert ILLUMINA_RUN.match(name) is None


@given(
    date=run_days.map(lambda d: d.strftime("%Y%m%d")),
    time=st.times().map(lambda t: t.strftime("%H%M")),
    position=st.from_regex(r"\A([1-3][A-H]|X[1-5]|MN[0-9]{5})\Z"),
    flowcell=st.from_regex(r"\A(PAQ|FAW|FBA)[0-9]{5}\Z"),
    protocol=st.from_regex(r"\A[0-9a-f]{8}\Z"),
    experiment=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,20}\Z"),
)
def test_ont_run_paths_round_trip(date, time, position, flowcell, protocol, experiment):
    run = f"{date}_{time}_{position}_{flowcell}_{protocol}"
    match = ONT_RUN.match(run)
    assert match is not None
    assert (match["flowcell"], match["protocol"]) == (flowcell, protocol)
    key = f"{experiment}/sample/{run}/pod5/a.pod5"
    assert ONT.locate(key) == RunLocation(f"{experiment}/sample/{run}", "pod5/a.pod5")
    assert ONT.locate(f"{experiment}/{run}/pod5/a.pod5") is None  # one level short


@pytest.mark.parametrize(
    "run",
    [
        "20231116_1503_1A_PAQ12345_3F2A1B9C",  # MinKNOW writes the id in lower case
        "20231116_1503_1A_PAQ1234_3f2a1b9c",  # flow cell ids have five digits
        "2023-11-16_1503_1A_PAQ12345_3f2a1b9c",
        "20231116_1503_1A_PAQ12345",
    ],
)
def test_ont_names_that_are_not_runs(run):
    assert ONT_RUN.match(run) is None


def test_ont_final_summary_lines_must_be_key_value():
    from ngs_lake.platforms.nanopore import parse_final_summary

    with pytest.raises(PlatformFileError, match="line 2 is not key=value: 'garbage'"):
        parse_final_summary(b"flow_cell_id=PAQ12345\ngarbage\n")
    assert parse_final_summary(b"flow_cell_id=PAQ12345\nprotocol_run_id=abc\n") == {
        "flow_cell_id": "PAQ12345",
        "protocol_run_id": "abc",
    }


def test_ont_summary_counts_catch_files_the_hash_list_never_named():
    run = "e/s/20231116_1503_1A_PAQ12345_3f2a1b9c"
    summary = "final_summary_PAQ12345_3f2a1b9c_a1b2c3d4.txt"
    files = {summary: b"flow_cell_id=PAQ12345\nprotocol_run_id=x\npod5_files_in_final_dest=3\n"}
    present = {summary, "pod5/a.pod5", "pod5/b.pod5"}
    report = ONT.check_expected_files("promethion", run, files, present)
    assert report.missing == ("pod5_files_in_final_dest=3 but 2 present",)


def test_pacbio_transfer_list_must_stay_inside_the_cell():
    from ngs_lake.platforms.pacbio import parse_transferdone

    with pytest.raises(
        PlatformFileError, match=re.escape("inside the cell folder: ../1_B01/x.bam")
    ):
        parse_transferdone(b"hifi_reads/a.bam\n../1_B01/x.bam\n")


def test_pacbio_names_the_missing_cell_files():
    marker = "metadata/m84046_231116_153611_s1.transferdone"
    files = {marker: b"hifi_reads/a.bam\nhifi_reads/a.bam.pbi\n"}
    report = PACBIO.check_expected_files(
        "revio", "r84046_20231116_153000/1_A01", files, {marker, "hifi_reads/a.bam"}
    )
    assert report.missing == ("hifi_reads/a.bam.pbi",)


def test_element_run_parameters_without_cycles_expect_no_base_calls():
    """A cytoprofiling run images in batches and lists no Cycles (real_runs/20250415_AV244103_2345)."""
    params = b'{"RunName": "r", "RunFolderName": "f", "InstrumentName": "AV1"}'
    files = {"RunParameters.json": params}
    report = ELEMENT.check_expected_files("aviti", "f", files, set(files))
    assert report.missing == ("RunManifest.json", "RunUploaded.json")


def test_element_outcome_is_read_from_the_marker():
    params = (
        b'{"RunName": "r", "RunFolderName": "20231116_AV224503_r", "InstrumentName": "AV224503",'
        b' "Cycles": {"R1": 2}}'
    )
    metadata = ELEMENT.parse_metadata(
        "aviti",
        {"RunParameters.json": params, "RunUploaded.json": b'{"Outcome": "OutcomeFailed"}'},
    )
    assert metadata["outcome"] == "OutcomeFailed"
    assert metadata["cycles"] == {"R1": 2}
