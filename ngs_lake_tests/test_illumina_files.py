"""Illumina RunInfo.xml and RunParameters.xml, parsed from verbatim instrument files."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ngs_lake.platforms.base import PlatformFileError
from ngs_lake.platforms.illumina import parse_run_date, parse_run_info, parse_run_parameters

DATA = Path(__file__).parent / "data" / "illumina"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "miseq_v2_150602_M01270_0108_000000000-ADWKV_RunInfo.xml",
            dict(
                version=2,
                run_id="150602_M01270_0108_000000000-ADWKV",
                instrument="M01270",
                run_number=108,
                flowcell="000000000-ADWKV",
                date=datetime(2015, 6, 2),
                lane_count=1,
                surface_count=2,
                tiles=38,
                tiles_declared=False,
                reads=[(1, 301, False), (2, 8, True), (3, 301, False)],
            ),
        ),
        (
            "miseq_v2_210827_M05898_0165_000000000-JVM38_RunInfo.xml",
            dict(
                version=2,
                run_id="210827_M05898_0165_000000000-JVM38",
                instrument="M05898",
                run_number=165,
                flowcell="000000000-JVM38",
                date=datetime(2021, 8, 27),
                lane_count=1,
                surface_count=2,
                tiles=28,
                tiles_declared=False,
                reads=[(1, 251, False), (2, 8, True), (3, 8, True), (4, 251, False)],
            ),
        ),
        (
            "handmade_v3_RunInfo.xml",
            dict(
                version=3,
                run_id="160606_K00166_0102_BHF22YBBXX",
                instrument="K00166",
                run_number=102,
                flowcell="HF22YBBXX",
                date=datetime(2016, 6, 6),
                lane_count=8,
                surface_count=2,
                tiles=896,
                tiles_declared=False,
                reads=[(1, 151, False), (2, 8, True), (3, 151, False)],
            ),
        ),
        (
            "miniseq_v4_160607_ML-PT1-15_0009_A000H02MFC_RunInfo.xml",
            dict(
                version=4,
                run_id="160607_ML-PT1-15_0009_A000H02MFC",
                instrument="ML-PT1-15",
                run_number=9,
                flowcell="000H02MFC",
                date=datetime(2016, 6, 7),
                lane_count=1,
                surface_count=2,
                tiles=56,
                tiles_declared=True,
                reads=[(1, 30, False), (2, 8, True), (3, 30, False)],
            ),
        ),
        (
            "handmade_nextseq-550_v4_RunInfo.xml",
            dict(
                version=4,
                run_id="231116_NB551452_0142_AHW7JJBGXY",
                instrument="NB551452",
                run_number=142,
                flowcell="HW7JJBGXY",
                date=datetime(2023, 11, 16),
                lane_count=4,
                surface_count=2,
                tiles=2,
                tiles_declared=True,
                reads=[(1, 75, False), (2, 8, True), (3, 8, True), (4, 75, False)],
            ),
        ),
        (
            "novaseq-6000_v5_201125_A00291_0321_AHWHKYDRXX_RunInfo.xml",
            dict(
                version=5,
                run_id="201125_A00291_0321_AHWHKYDRXX",
                instrument="A00291",
                run_number=321,
                flowcell="HWHKYDRXX",
                date=datetime(2020, 11, 25, 16, 50, 1),
                lane_count=2,
                surface_count=2,
                tiles=624,
                tiles_declared=True,
                reads=[(1, 101, False), (2, 8, True), (3, 8, True), (4, 101, False)],
            ),
        ),
        (
            "novaseq-x_v6_NovaSeqX_WHGS_TruSeqPF_NA12878_RunInfo.xml",
            dict(
                version=6,
                run_id="NovaSeqX_WHGS_TruSeqPF_NA12878",
                instrument="Pi1-9",
                run_number=30,
                flowcell="222VLMLT3",
                date=datetime(2023, 1, 31, 3, 8, 30, tzinfo=UTC),
                lane_count=8,
                surface_count=2,
                tiles=3136,
                tiles_declared=True,
                reads=[(1, 151, False), (2, 8, True), (3, 8, True), (4, 151, False)],
            ),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_verbatim_run_info_files(name, expected):
    info = parse_run_info(read(name))
    assert info.version == expected["version"]
    assert info.run_id == expected["run_id"]
    assert info.instrument == expected["instrument"]
    assert info.run_number == expected["run_number"]
    assert info.flowcell == expected["flowcell"]
    assert info.date == expected["date"]
    assert info.lane_count == expected["lane_count"]
    assert info.surface_count == expected["surface_count"]
    assert len(info.tiles) == expected["tiles"]
    assert info.tiles_declared == expected["tiles_declared"]
    assert [(r.number, r.cycles, r.is_index) for r in info.reads] == expected["reads"]


def test_declared_tiles_are_kept_in_instrument_order():
    info = parse_run_info(read("novaseq-6000_v5_201125_A00291_0321_AHWHKYDRXX_RunInfo.xml"))
    assert info.tiles[:2] == ["1_2101", "1_2102"]
    assert info.tiles[-1] == "2_1278"
    assert info.lane_tiles(2)[0] == "2101"


def test_tiles_are_derived_from_the_layout_when_not_listed():
    info = parse_run_info(read("miseq_v2_150602_M01270_0108_000000000-ADWKV_RunInfo.xml"))
    assert info.tiles[:3] == ["1_1101", "1_1102", "1_1103"]
    assert info.tiles[18:20] == ["1_1119", "1_2101"]


def test_novaseq_x_reverse_complement_index():
    info = parse_run_info(read("novaseq-x_v6_NovaSeqX_WHGS_TruSeqPF_NA12878_RunInfo.xml"))
    assert [r.is_reverse_complement for r in info.reads] == [False, False, True, False]
    assert info.total_cycles == 318


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("231116", datetime(2023, 11, 16)),
        ("20231116", datetime(2023, 11, 16)),
        ("1/24/2025 6:34:10 PM", datetime(2025, 1, 24, 18, 34, 10)),
        ("11/25/2020 4:50:01 AM", datetime(2020, 11, 25, 4, 50, 1)),
        ("2024-02-02T15:36:21Z", datetime(2024, 2, 2, 15, 36, 21, tzinfo=UTC)),
        ("2024-02-02T15:36:21", datetime(2024, 2, 2, 15, 36, 21)),
    ],
)
def test_run_dates_in_every_instrument_format(text, expected):
    assert parse_run_date(text) == expected


def test_an_unreadable_date_is_named():
    with pytest.raises(PlatformFileError, match="<Date> 'next tuesday' is not"):
        parse_run_date("next tuesday")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<RunInfo Version="2"><Run Id="&lol2;" Number="1"/></RunInfo>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<RunInfo Version="2"><Run Id="&secret;" Number="1"/></RunInfo>"""


@pytest.mark.parametrize("hostile", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["entities", "external"])
def test_hostile_xml_is_refused(hostile):
    with pytest.raises(PlatformFileError, match="refused: it declares a DTD or entities"):
        parse_run_info(hostile)


def test_a_truncated_file_is_refused():
    data = read("novaseq-6000_v5_201125_A00291_0321_AHWHKYDRXX_RunInfo.xml")
    with pytest.raises(PlatformFileError, match="not well-formed XML"):
        parse_run_info(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"<RunParameters/>", "the root element is <RunParameters>, not <RunInfo>"),
        (b'<RunInfo Version="2"/>', "no <Run> element"),
        (
            b'<RunInfo><Run Id="x" Number="1"><Flowcell>F</Flowcell><Instrument>I</Instrument>'
            b'<Reads><Read Number="1" NumCycles="lots" IsIndexedRead="N"/></Reads>'
            b'<FlowcellLayout LaneCount="1" SurfaceCount="2" SwathCount="1" TileCount="2"/>'
            b"</Run></RunInfo>",
            "<Read> attribute NumCycles='lots' is not a whole number",
        ),
    ],
)
def test_malformed_run_info_names_what_is_wrong(xml, message):
    with pytest.raises(PlatformFileError) as caught:
        parse_run_info(xml)
    assert message in str(caught.value)


def test_nextseq_2000_run_parameters():
    params = parse_run_parameters(read("nextseq-2000_200722_VH00123_5_AAAFWVYM5_RunParameters.xml"))
    assert params.application == "NextSeq 1000/2000 Control Software"
    assert params.application_version == "1.1.0.27334"
    assert params.experiment_name == "gap14_test_NS2000"
    assert params.rta_version == "3.6.14"
    assert params.chemistry is None
