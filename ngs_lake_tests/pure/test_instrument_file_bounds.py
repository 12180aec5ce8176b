"""Instrument files are bounded before anything is generated from them, and every way one can be
unreadable is a PlatformFileError naming the file, which verification turns into INCOMPLETE.

RunInfo.xml is bounded by the instruments' real maxima (illumina.MAX_*): the verbatim files of
every instrument parse, and a document one step beyond any bound is refused with a literal
message, before a single tile name is made (the issue's 300-byte file asked for 10^6 of them).
"""

from pathlib import Path

import pytest

from ngs_lake.platforms import family_of
from ngs_lake.platforms.base import PlatformFileError
from ngs_lake.platforms.element import parse_run_parameters
from ngs_lake.platforms.illumina import MODELS, data_file_count, data_files, parse_run_info
from ngs_lake.platforms.nanopore import parse_output_hash
from ngs_lake.runs.model import VerificationSummary

DATA = Path(__file__).parents[1] / "data" / "real_runs"


def run_info_xml(
    lanes: int = 1,
    surfaces: int = 2,
    swaths: int = 1,
    tiles: int = 19,
    sections: int | None = None,
    reads: tuple[int, ...] = (151, 8, 151),
    tile_list: list[str] | None = None,
) -> bytes:
    """A RunInfo.xml (version 5 shape) with this geometry; attributes as the instruments write."""
    section = f' SectionPerLane="{sections}" LanePerSection="1"' if sections else ""
    naming = ' TileNamingConvention="FiveDigit"' if sections else ""
    listed = "".join(f"<Tile>{t}</Tile>" for t in tile_list or [])
    read_elements = "".join(
        f'<Read Number="{n}" NumCycles="{c}" IsIndexedRead="N"/>'
        for n, c in enumerate(reads, start=1)
    )
    return (
        '<?xml version="1.0"?><RunInfo Version="5"><Run Id="261201_M00001_0001_000000000-ABCDE" '
        'Number="1"><Flowcell>000000000-ABCDE</Flowcell><Instrument>M00001</Instrument>'
        f"<Date>261201</Date><Reads>{read_elements}</Reads>"
        f'<FlowcellLayout LaneCount="{lanes}" SurfaceCount="{surfaces}" SwathCount="{swaths}" '
        f'TileCount="{tiles}"{section}><TileSet{naming}><Tiles>{listed}</Tiles></TileSet>'
        "</FlowcellLayout></Run></RunInfo>"
    ).encode()


@pytest.mark.parametrize(
    ("name", "lanes", "tiles", "cycles"),
    [
        ("../handmade/handmade_nextseq-550_v4_RunInfo.xml", 4, 2, 166),
        ("../handmade/handmade_v3_RunInfo.xml", 8, 896, 310),
        ("160607_ML-PT1-15_0009_A000H02MFC/RunInfo.xml", 1, 56, 68),
        ("150602_M01270_0108_000000000-ADWKV/RunInfo.xml", 1, 38, 610),
        ("210827_M05898_0165_000000000-JVM38/RunInfo.xml", 1, 28, 518),
        ("201125_A00291_0321_AHWHKYDRXX/RunInfo.xml", 2, 624, 218),
        ("NovaSeqX_WHGS_TruSeqPF_NA12878/RunInfo.xml", 8, 3136, 318),
    ],
)
def test_every_real_run_info_is_within_the_bounds(name, lanes, tiles, cycles):
    info = parse_run_info((DATA / name).read_bytes())
    assert (info.lane_count, len(info.tiles), info.total_cycles) == (lanes, tiles, cycles)


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"lanes": 9}, "RunInfo.xml declares 9 lanes; at most 8"),
        ({"surfaces": 3}, "RunInfo.xml declares 3 surfaces; at most 2"),
        ({"swaths": 9}, "RunInfo.xml declares 9 swaths; at most 8"),
        ({"tiles": 100}, "RunInfo.xml declares 100 tiles per swath; at most 99"),
        ({"sections": 10}, "RunInfo.xml declares 10 sections per lane; at most 9"),
        (
            {"swaths": 8, "tiles": 99, "sections": 9},
            "RunInfo.xml declares 14256 tiles per lane; at most 2000",
        ),
        ({"lanes": 0}, "RunInfo.xml declares 0 lanes; at least 1"),
        ({"tiles": 0}, "RunInfo.xml declares 0 tiles per swath; at least 1"),
        ({"reads": (151,) * 9}, "RunInfo.xml declares 9 reads; at most 8"),
        ({"reads": (151, 1001)}, "RunInfo.xml declares 1001 cycles in read 2; at most 1000"),
        (
            {"tile_list": [f"1_{n:04d}" for n in range(2001)]},
            "RunInfo.xml lists 2001 tiles for a 1-lane flow cell; at most 2000",
        ),
    ],
    ids=[
        "9-lanes",
        "3-surfaces",
        "9-swaths",
        "100-tiles-per-swath",
        "10-sections",
        "tiles-per-lane",
        "no-lanes",
        "no-tiles",
        "9-reads",
        "1001-cycles",
        "declared-list",
    ],
)
def test_a_geometry_beyond_the_instruments_is_refused(geometry, message):
    with pytest.raises(PlatformFileError) as refused:
        parse_run_info(run_info_xml(**geometry))
    assert str(refused.value) == message


def test_the_issues_300_byte_run_info_asking_for_a_million_tiles_is_refused():
    document = run_info_xml(lanes=100, surfaces=1, swaths=1, tiles=10_000, reads=(1,))
    assert len(document) < 600
    with pytest.raises(PlatformFileError, match=r"^RunInfo.xml declares 100 lanes; at most 8$"):
        parse_run_info(document)


def test_a_geometry_at_every_bound_still_parses():
    info = parse_run_info(run_info_xml(lanes=8, swaths=8, tiles=99, reads=(1000,) * 8))
    assert (len(info.tiles), info.total_cycles) == (8 * 2 * 8 * 99, 8000)


def test_a_run_info_implying_more_files_than_any_instrument_writes_is_refused():
    """Within every dimension's bound, a MiSeq's per-tile .bcl files still multiply out."""
    document = run_info_xml(swaths=8, tiles=99, reads=(301, 8, 8, 301))
    with pytest.raises(PlatformFileError) as refused:
        family_of("miseq").check_expected_files("miseq", "r", {"RunInfo.xml": document}, set())
    assert str(refused.value) == "RunInfo.xml implies 980496 files for a miseq run; at most 100000"


@pytest.mark.parametrize("platform", ["novaseq-x", "miseq", "nextseq-550"])
def test_the_file_count_checked_is_the_count_listed(platform):
    info = parse_run_info((DATA / "201125_A00291_0321_AHWHKYDRXX/RunInfo.xml").read_bytes())
    assert data_file_count(MODELS[platform], info) == len(data_files(MODELS[platform], info))


def test_a_nanopore_count_that_is_not_a_number_is_a_platform_file_error():
    summary = "final_summary_PAQ12345_3f2a1b9c_a1b2c3d4.txt"
    data = b"flow_cell_id=PAQ12345\nprotocol_run_id=x\npod5_files_in_final_dest=many\n"
    with pytest.raises(PlatformFileError) as refused:
        family_of("promethion").check_expected_files("promethion", "r", {summary: data}, set())
    assert (
        str(refused.value) == "final_summary: pod5_files_in_final_dest='many' is not a whole number"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"filename,sha256\n" + b"a" * 200_000 + b",00\n",
            "output_hash: not CSV (field larger than field limit (131072))",
        ),
        (b"\xff\xfe", "output_hash: not UTF-8 text"),
    ],
    ids=["field-over-csv-limit", "not-utf8"],
)
def test_an_output_hash_that_is_not_csv_is_a_platform_file_error(data, message):
    with pytest.raises(PlatformFileError) as refused:
        parse_output_hash(data)
    assert str(refused.value) == message


def test_element_cycles_beyond_the_instruments_are_refused():
    data = (
        b'{"RunName": "r", "RunFolderName": "f", "InstrumentName": "AV1", "Cycles": {"R1": 5000}}'
    )
    with pytest.raises(PlatformFileError) as refused:
        parse_run_parameters(data)
    assert str(refused.value) == "RunParameters.json declares 5000 cycles for R1; 0 to 1000"


def test_deeply_nested_json_is_a_platform_file_error_not_a_recursion_error():
    with pytest.raises(PlatformFileError, match=r"^RunParameters.json: not JSON \(RecursionError"):
        parse_run_parameters(b"[" * 100_000)


def test_a_verification_summary_keeps_ten_reasons_of_300_characters():
    summary = VerificationSummary(missing_count=0, reasons=[f"{n}" + "x" * 400 for n in range(12)])
    assert len(summary.reasons) == 10
    assert {len(r) for r in summary.reasons} == {300}
