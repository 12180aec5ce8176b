"""Illumina output from a run's geometry: the base-call and filter files each model writes, the
markers, and the expected-file check, judged against verbatim RunInfo.xml files.

Layouts (Illumina's documented folder structure): CBCL per lane, surface and cycle on the NovaSeq
and NextSeq 2000; per-tile `.bcl` per cycle on the MiSeq; one `.bcl.bgzf` per lane and cycle and
one filter file per lane on the NextSeq 550.
"""

from datetime import datetime
from pathlib import Path

import pytest

from ngs_lake.platforms import family_of
from ngs_lake.platforms.base import ExpectedFilesReport, RunLocation
from ngs_lake.platforms.illumina import (
    MODELS,
    RunInfo,
    cycle_files,
    data_files,
    filter_files,
    parse_run_info,
    run_folder_name,
    tile_names,
)

DATA = Path(__file__).parents[1] / "data" / "real_runs"
NOVASEQ_X = "NovaSeqX_WHGS_TruSeqPF_NA12878/RunInfo.xml"
NOVASEQ_6000 = "201125_A00291_0321_AHWHKYDRXX/RunInfo.xml"
MISEQ = "150602_M01270_0108_000000000-ADWKV/RunInfo.xml"
NEXTSEQ_550 = "../handmade/handmade_nextseq-550_v4_RunInfo.xml"
NEXTSEQ_2000_PARAMETERS = "200722_VH00123_5_AAAFWVYM5/RunParameters.xml"
CALLS = "Data/Intensities/BaseCalls"
ILLUMINA = family_of("novaseq-x")


def run_info(name: str) -> RunInfo:
    return parse_run_info((DATA / name).read_bytes())


def test_novaseq_x_writes_one_cbcl_per_lane_surface_and_cycle():
    files = cycle_files(MODELS["novaseq-x"], run_info(NOVASEQ_X))
    assert len(files) == 5_088  # 151 + 8 + 8 + 151 = 318 cycles x 8 lanes x 2 surfaces
    assert files[:3] == [
        (1, f"{CALLS}/L001/C1.1/L001_1.cbcl"),
        (1, f"{CALLS}/L001/C1.1/L001_2.cbcl"),
        (1, f"{CALLS}/L002/C1.1/L002_1.cbcl"),
    ]
    assert files[16] == (2, f"{CALLS}/L001/C2.1/L001_1.cbcl")
    assert files[-1] == (318, f"{CALLS}/L008/C318.1/L008_2.cbcl")


def test_novaseq_x_writes_one_filter_file_per_tile():
    files = filter_files(MODELS["novaseq-x"], run_info(NOVASEQ_X))
    assert len(files) == 3_136  # the tiles RunInfo.xml lists
    assert files[:2] == [f"{CALLS}/L001/s_1_1101.filter", f"{CALLS}/L001/s_1_1102.filter"]
    assert files[-1] == f"{CALLS}/L008/s_8_2298.filter"


def test_novaseq_6000_uses_its_declared_tiles():
    info = run_info(NOVASEQ_6000)
    assert len(cycle_files(MODELS["novaseq-6000"], info)) == 872  # 218 cycles x 2 lanes x 2
    assert filter_files(MODELS["novaseq-6000"], info)[-1] == f"{CALLS}/L002/s_2_1278.filter"


def test_miseq_writes_one_bcl_per_tile_and_cycle():
    files = cycle_files(MODELS["miseq"], run_info(MISEQ))
    assert len(files) == 23_180  # 301 + 8 + 301 = 610 cycles x 38 tiles (19 per surface)
    assert files[:2] == [
        (1, f"{CALLS}/L001/C1.1/s_1_1101.bcl"),
        (1, f"{CALLS}/L001/C1.1/s_1_1102.bcl"),
    ]
    assert files[19] == (1, f"{CALLS}/L001/C1.1/s_1_2101.bcl")
    assert files[-1] == (610, f"{CALLS}/L001/C610.1/s_1_2119.bcl")


def test_miseq_writes_one_filter_file_per_tile():
    files = filter_files(MODELS["miseq"], run_info(MISEQ))
    assert len(files) == 38
    assert files[0] == f"{CALLS}/L001/s_1_1101.filter"
    assert files[-1] == f"{CALLS}/L001/s_1_2119.filter"


def test_nextseq_550_writes_one_bgzf_per_lane_and_cycle():
    files = cycle_files(MODELS["nextseq-550"], run_info(NEXTSEQ_550))
    assert len(files) == 664  # 75 + 8 + 8 + 75 = 166 cycles x 4 lanes
    assert files[:2] == [(1, f"{CALLS}/L001/0001.bcl.bgzf"), (1, f"{CALLS}/L002/0001.bcl.bgzf")]
    assert files[-1] == (166, f"{CALLS}/L004/0166.bcl.bgzf")


def test_nextseq_550_writes_one_filter_file_per_lane():
    assert filter_files(MODELS["nextseq-550"], run_info(NEXTSEQ_550)) == [
        f"{CALLS}/L001/s_1.filter",
        f"{CALLS}/L002/s_2.filter",
        f"{CALLS}/L003/s_3.filter",
        f"{CALLS}/L004/s_4.filter",
    ]


def test_data_files_are_the_base_calls_then_the_filter_files():
    files = data_files(MODELS["nextseq-550"], run_info(NEXTSEQ_550))
    assert len(files) == 668
    assert files[0] == f"{CALLS}/L001/0001.bcl.bgzf"
    assert files[663] == f"{CALLS}/L004/0166.bcl.bgzf"
    assert files[664:] == [f"{CALLS}/L00{lane}/s_{lane}.filter" for lane in (1, 2, 3, 4)]


@pytest.mark.parametrize(
    ("platform", "marker", "written_before"),
    [
        ("novaseq-x", "CopyComplete.txt", ("RTAComplete.txt", "RunCompletionStatus.xml")),
        ("novaseq-6000", "CopyComplete.txt", ("RTAComplete.txt",)),
        ("nextseq-2000", "CopyComplete.txt", ("RTAComplete.txt",)),
        ("nextseq-550", "RTAComplete.txt", ()),
        ("miseq", "RTAComplete.txt", ()),
    ],
)
def test_each_model_writes_its_markers_in_order(platform, marker, written_before):
    assert ILLUMINA.completion_marker(platform, "run") == marker
    assert MODELS[platform].markers_before == written_before
    assert ILLUMINA.is_completion_marker(platform, RunLocation("run", marker))
    for earlier in written_before:
        assert not ILLUMINA.is_completion_marker(platform, RunLocation("run", earlier))


@pytest.mark.parametrize(
    ("platform", "output"),
    [
        ("novaseq-x", "cbcl"),
        ("novaseq-6000", "cbcl"),
        ("nextseq-2000", "cbcl"),
        ("nextseq-550", "bcl.bgzf"),
        ("miseq", "bcl"),
    ],
)
def test_each_model_has_its_output_format(platform, output):
    assert MODELS[platform].output == output


def test_metadata_is_run_info_and_run_parameters():
    assert ILLUMINA.metadata_paths("miseq", "run") == (
        "RunInfo.xml",
        "RunParameters.xml",
        "runParameters.xml",
    )


def _complete_nextseq_550() -> tuple[dict[str, bytes], set[str]]:
    files = {"RunInfo.xml": (DATA / NEXTSEQ_550).read_bytes()}
    present = {"RunInfo.xml", "RunParameters.xml", "RTAComplete.txt", "SampleSheet.csv"}
    return files, present | set(data_files(MODELS["nextseq-550"], run_info(NEXTSEQ_550)))


def test_a_complete_run_has_every_expected_file():
    files, present = _complete_nextseq_550()
    report = ILLUMINA.check_expected_files("nextseq-550", "run", files, present)
    assert report == ExpectedFilesReport(671, ())  # 664 + 4 data files, 3 metadata and marker


def test_missing_base_calls_filters_and_markers_are_named():
    files, present = _complete_nextseq_550()
    present -= {f"{CALLS}/L003/0100.bcl.bgzf", f"{CALLS}/L002/s_2.filter", "RunParameters.xml"}
    report = ILLUMINA.check_expected_files("nextseq-550", "run", files, present)
    assert report == ExpectedFilesReport(
        671,
        (f"{CALLS}/L002/s_2.filter", f"{CALLS}/L003/0100.bcl.bgzf", "RunParameters.xml"),
    )


def test_novaseq_x_expects_its_three_markers():
    files = {"RunInfo.xml": (DATA / NOVASEQ_X).read_bytes()}
    present = {"RunInfo.xml", "RunParameters.xml", "RTAComplete.txt"}
    present |= set(data_files(MODELS["novaseq-x"], run_info(NOVASEQ_X)))
    report = ILLUMINA.check_expected_files("novaseq-x", "run", files, present)
    assert report == ExpectedFilesReport(8_229, ("CopyComplete.txt", "RunCompletionStatus.xml"))


def test_without_run_info_only_run_info_is_expected():
    assert ILLUMINA.check_expected_files("miseq", "run", {}, {"RTAComplete.txt"}) == (
        ExpectedFilesReport(1, ("RunInfo.xml",))
    )
    assert ILLUMINA.check_expected_files("miseq", "run", {}, {"RunInfo.xml"}) == (
        ExpectedFilesReport(1, ())
    )


def test_metadata_summarises_run_info_and_run_parameters():
    metadata = ILLUMINA.parse_metadata(
        "novaseq-x",
        {
            "RunInfo.xml": (DATA / NOVASEQ_X).read_bytes(),
            "RunParameters.xml": (DATA / NEXTSEQ_2000_PARAMETERS).read_bytes(),
        },
    )
    assert metadata == {
        "run_id": "NovaSeqX_WHGS_TruSeqPF_NA12878",
        "instrument": "Pi1-9",
        "run_number": 30,
        "flowcell": "222VLMLT3",
        "run_date": "2023-01-31T03:08:30+00:00",
        "lanes": 8,
        "surfaces": 2,
        "tiles": 3_136,
        "reads": [
            {"number": 1, "cycles": 151, "is_index": False, "is_reverse_complement": False},
            {"number": 2, "cycles": 8, "is_index": True, "is_reverse_complement": False},
            {"number": 3, "cycles": 8, "is_index": True, "is_reverse_complement": True},
            {"number": 4, "cycles": 151, "is_index": False, "is_reverse_complement": False},
        ],
        "cycles": 318,
        "application": "NextSeq 1000/2000 Control Software",
        "application_version": "1.1.0.27334",
        "experiment_name": "gap14_test_NS2000",
        "rta_version": "3.6.14",
    }


def test_metadata_without_a_date_says_none():
    xml = (DATA / MISEQ).read_bytes().replace(b"<Date>150602</Date>", b"")
    metadata = ILLUMINA.parse_metadata("miseq", {"RunInfo.xml": xml})
    assert metadata["run_date"] is None
    assert metadata["run_id"] == "150602_M01270_0108_000000000-ADWKV"


def test_metadata_of_no_files_is_empty():
    assert ILLUMINA.parse_metadata("miseq", {}) == {}


def test_four_digit_tiles_are_lane_surface_swath_tile():
    assert tile_names(lane_count=2, surface_count=2, swath_count=2, tile_count=2) == [
        "1_1101", "1_1102", "1_1201", "1_1202", "1_2101", "1_2102", "1_2201", "1_2202",
        "2_1101", "2_1102", "2_1201", "2_1202", "2_2101", "2_2102", "2_2201", "2_2202",
    ]  # fmt: skip


def test_five_digit_tiles_add_the_section():
    assert tile_names(
        lane_count=1, surface_count=1, swath_count=2, tile_count=2, sections_per_lane=3,
        naming="FiveDigit",
    ) == [
        "1_11101", "1_11102", "1_11201", "1_11202", "1_11301", "1_11302",
        "1_12101", "1_12102", "1_12201", "1_12202", "1_12301", "1_12302",
    ]  # fmt: skip
    assert tile_names(
        lane_count=1, surface_count=1, swath_count=1, tile_count=1, naming="FiveDigit"
    ) == ["1_11101"]


def test_lane_tiles_drop_the_lane_prefix():
    info = run_info(NOVASEQ_6000)
    assert info.lane_tiles(1)[:2] == ["2101", "2102"]
    assert len(info.lane_tiles(1)) == len(info.lane_tiles(2)) == 312
    assert info.lane_tiles(3) == []


@pytest.mark.parametrize(
    ("date", "instrument", "number", "flowcell", "folder"),
    [
        (datetime(2023, 11, 16), "LH00123", 42, "A22F7KLT4", "20231116_LH00123_0042_A22F7KLT4"),
        (datetime(2020, 7, 22), "VH00123", 5, "AAAFWVYM5", "200722_VH00123_5_AAAFWVYM5"),
        (datetime(2020, 11, 25), "A00291", 321, "AHWHKYDRXX", "201125_A00291_0321_AHWHKYDRXX"),
        (datetime(2015, 6, 2), "M01270", 108, "000000000-ADWKV", "150602_M01270_0108_000000000-ADWKV"),
        (datetime(2019, 11, 13), "NB551452", 101, "AHW7JJAFXY", "191113_NB551452_0101_AHW7JJAFXY"),
    ],
)  # fmt: skip
def test_run_folders_are_named_as_each_instrument_names_them(
    date, instrument, number, flowcell, folder
):
    assert run_folder_name(date, instrument, number, flowcell) == folder
    assert ILLUMINA.locate(f"{folder}/RunInfo.xml") == RunLocation(folder, "RunInfo.xml")
