"""Illumina RunInfo.xml and RunParameters.xml, parsed from verbatim instrument files."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ngs_lake.platforms.base import PlatformFileError
from ngs_lake.platforms.illumina import parse_run_date, parse_run_info, parse_run_parameters

DATA = Path(__file__).parents[1] / "data" / "real_runs"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "150602_M01270_0108_000000000-ADWKV/RunInfo.xml",
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
                tile_naming="FourDigit",
                reads=[(1, 301, False), (2, 8, True), (3, 301, False)],
            ),
        ),
        (
            "210827_M05898_0165_000000000-JVM38/RunInfo.xml",
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
                tile_naming="FourDigit",
                reads=[(1, 251, False), (2, 8, True), (3, 8, True), (4, 251, False)],
            ),
        ),
        (
            "../handmade/handmade_v3_RunInfo.xml",
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
                tile_naming="FourDigit",
                reads=[(1, 151, False), (2, 8, True), (3, 151, False)],
            ),
        ),
        (
            "160607_ML-PT1-15_0009_A000H02MFC/RunInfo.xml",
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
                tile_naming="FiveDigit",
                reads=[(1, 30, False), (2, 8, True), (3, 30, False)],
            ),
        ),
        (
            "../handmade/handmade_nextseq-550_v4_RunInfo.xml",
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
                tile_naming="FiveDigit",
                reads=[(1, 75, False), (2, 8, True), (3, 8, True), (4, 75, False)],
            ),
        ),
        (
            "201125_A00291_0321_AHWHKYDRXX/RunInfo.xml",
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
                tile_naming="FourDigit",
                reads=[(1, 101, False), (2, 8, True), (3, 8, True), (4, 101, False)],
            ),
        ),
        (
            "NovaSeqX_WHGS_TruSeqPF_NA12878/RunInfo.xml",
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
                tile_naming="FourDigit",
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
    assert info.tile_naming == expected["tile_naming"]
    assert [(r.number, r.cycles, r.is_index) for r in info.reads] == expected["reads"]


def test_declared_tiles_are_kept_in_instrument_order():
    info = parse_run_info(read("201125_A00291_0321_AHWHKYDRXX/RunInfo.xml"))
    assert info.tiles[:2] == ["1_2101", "1_2102"]
    assert info.tiles[-1] == "2_1278"
    assert info.lane_tiles(2)[0] == "2101"


def test_tiles_are_derived_from_the_layout_when_not_listed():
    info = parse_run_info(read("150602_M01270_0108_000000000-ADWKV/RunInfo.xml"))
    assert info.tiles[:3] == ["1_1101", "1_1102", "1_1103"]
    assert info.tiles[18:20] == ["1_1119", "1_2101"]


def test_novaseq_x_reverse_complement_index():
    info = parse_run_info(read("NovaSeqX_WHGS_TruSeqPF_NA12878/RunInfo.xml"))
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
    data = read("201125_A00291_0321_AHWHKYDRXX/RunInfo.xml")
    with pytest.raises(
        PlatformFileError, match=r"^RunInfo.xml: not well-formed XML \(.*\); truncated\?$"
    ):
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
    params = parse_run_parameters(read("200722_VH00123_5_AAAFWVYM5/RunParameters.xml"))
    assert params.application == "NextSeq 1000/2000 Control Software"
    assert params.application_version == "1.1.0.27334"
    assert params.experiment_name == "gap14_test_NS2000"
    assert params.rta_version == "3.6.14"
    assert params.chemistry is None


def run_info_xml(
    run: str = 'Id="r" Number="7"',
    layout: str = 'LaneCount="1" SurfaceCount="2" SwathCount="1" TileCount="2"',
    inside: str = "",
    reads: str = '<Read Number="1" NumCycles="3" IsIndexedRead="N"/>',
    root: str = 'Version="3"',
    date: str = "<Date>231116</Date>",
) -> bytes:
    """A RunInfo.xml with the parts a test varies; the rest as a MiSeq writes it."""
    return (
        f"<RunInfo {root}><Run {run}><Flowcell>F</Flowcell><Instrument>I</Instrument>{date}"
        f"<Reads>{reads}</Reads><FlowcellLayout {layout}>{inside}</FlowcellLayout></Run></RunInfo>"
    ).encode()


def test_a_minimal_run_info_is_read():
    info = parse_run_info(run_info_xml())
    assert (info.version, info.run_id, info.run_number, info.flowcell, info.instrument) == (
        3,
        "r",
        7,
        "F",
        "I",
    )
    assert info.date == datetime(2023, 11, 16)
    assert (info.lane_count, info.surface_count, info.swath_count, info.tile_count) == (1, 2, 1, 2)
    assert (info.sections_per_lane, info.tile_naming) == (1, "FourDigit")
    assert info.tiles == ["1_1101", "1_1102", "1_2101", "1_2102"]
    assert not info.tiles_declared


def test_what_run_info_leaves_out_gets_a_neutral_value():
    info = parse_run_info(run_info_xml(run='Id="r"', root="", date=""))
    assert (info.version, info.run_number, info.date) == (None, 0, None)


def test_reads_are_sorted_by_number_and_flags_default_to_no():
    reads = (
        '<Read Number="3" NumCycles="151"/>'
        '<Read Number="1" NumCycles="151" IsIndexedRead="n"/>'
        '<Read Number="2" NumCycles="10" IsIndexedRead="y" IsReverseComplement="y"/>'
    )
    info = parse_run_info(run_info_xml(reads=reads))
    assert [(r.number, r.cycles, r.is_index, r.is_reverse_complement) for r in info.reads] == [
        (1, 151, False, False),
        (2, 10, True, True),
        (3, 151, False, False),
    ]
    assert info.total_cycles == 312


def test_sections_per_lane_imply_five_digit_tiles():
    layout = 'LaneCount="1" SurfaceCount="1" SwathCount="1" TileCount="2" SectionPerLane="2"'
    info = parse_run_info(run_info_xml(layout=layout))
    assert (info.sections_per_lane, info.tile_naming) == (2, "FiveDigit")
    assert info.tiles == ["1_11101", "1_11102", "1_11201", "1_11202"]


def test_a_tile_set_without_a_naming_convention_is_four_digit():
    layout = 'LaneCount="1" SurfaceCount="1" SwathCount="1" TileCount="1" SectionPerLane="3"'
    inside = "<TileSet><Tiles><Tile> 1_1101 </Tile><Tile/></Tiles></TileSet>"
    info = parse_run_info(run_info_xml(layout=layout, inside=inside))
    assert info.tile_naming == "FourDigit"
    assert info.tiles == ["1_1101"]
    assert info.tiles_declared


def test_layout_counts_may_carry_spaces():
    info = parse_run_info(
        run_info_xml(layout='LaneCount=" 2 " SurfaceCount="1" SwathCount="1" TileCount="1"')
    )
    assert info.lane_count == 2


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (run_info_xml(run='Number="1"'), "RunInfo.xml: <Run> has no Id attribute"),
        (run_info_xml(run='Id="" Number="1"'), "RunInfo.xml: <Run> has no Id attribute"),
        (run_info_xml(reads=""), "RunInfo.xml: no <Read> elements under <Reads>"),
        (
            run_info_xml(layout='SurfaceCount="2" SwathCount="1" TileCount="2"'),
            "RunInfo.xml: <FlowcellLayout> attribute LaneCount=None is not a whole number",
        ),
        (
            run_info_xml(layout='LaneCount="1" SurfaceCount="-2" SwathCount="1" TileCount="2"'),
            "RunInfo.xml: <FlowcellLayout> attribute SurfaceCount='-2' is not a whole number",
        ),
        (
            b'<RunInfo><Run Id="r"><Flowcell>F</Flowcell><Instrument>I</Instrument></Run></RunInfo>',
            "RunInfo.xml: no <FlowcellLayout> element",
        ),
        (
            run_info_xml().replace(b"<Instrument>I</Instrument>", b"<Instrument> </Instrument>"),
            "RunInfo.xml: <Run> has no <Instrument>",
        ),
        (
            run_info_xml().replace(b"<Flowcell>F</Flowcell>", b""),
            "RunInfo.xml: <Run> has no <Flowcell>",
        ),
    ],
)
def test_each_missing_part_of_run_info_is_named(xml, message):
    with pytest.raises(PlatformFileError) as caught:
        parse_run_info(xml)
    assert str(caught.value) == message


@pytest.mark.usefixtures("machine_in_chicago")
def test_an_offset_date_is_stored_in_utc():
    assert parse_run_date("2024-02-02T17:36:21+02:00").isoformat() == "2024-02-02T15:36:21+00:00"


@pytest.mark.parametrize("text", [None, "", "   "])
def test_an_empty_date_is_none(text):
    assert parse_run_date(text) is None


def test_a_date_with_spaces_around_it_is_read():
    assert parse_run_date(" 231116\n") == datetime(2023, 11, 16)


def test_the_whole_unreadable_date_message():
    with pytest.raises(PlatformFileError) as caught:
        parse_run_date("16.11.2023")
    assert str(caught.value) == (
        "RunInfo.xml: <Date> '16.11.2023' is not YYMMDD, M/D/YYYY h:mm:ss AM or ISO 8601"
    )


@pytest.mark.parametrize(
    ("tag", "field"),
    [
        ("Application", "application"),
        ("ApplicationName", "application"),
        ("ApplicationVersion", "application_version"),
        ("SystemSuiteVersion", "application_version"),
        ("Chemistry", "chemistry"),
        ("ChemistryVersion", "chemistry"),
        ("ReagentKitVersion", "chemistry"),
        ("ExperimentName", "experiment_name"),
        ("RtaVersion", "rta_version"),
        ("RTAVersion", "rta_version"),
    ],
)
def test_run_parameters_are_found_under_each_generations_tag(tag, field):
    xml = f"<RunParameters><Setup><{tag}> v1 </{tag}></Setup></RunParameters>".encode()
    params = parse_run_parameters(xml)
    assert params.model_dump() == {
        "application": None,
        "application_version": None,
        "chemistry": None,
        "experiment_name": None,
        "rta_version": None,
    } | {field: "v1"}


def test_the_first_tag_with_text_wins():
    xml = (
        b"<RunParameters><Application> </Application><ApplicationName>MiSeq Control Software"
        b"</ApplicationName><Application>later</Application></RunParameters>"
    )
    assert parse_run_parameters(xml).application == "later"
    xml = b"<RunParameters><Application/><ApplicationName>MCS</ApplicationName></RunParameters>"
    assert parse_run_parameters(xml).application == "MCS"


def test_a_broken_run_parameters_names_its_file():
    with pytest.raises(PlatformFileError) as caught:
        parse_run_parameters(b"<RunParameters><Setup>")
    assert str(caught.value).startswith("RunParameters.xml: not well-formed XML (no element found")
    assert str(caught.value).endswith("); truncated?")


def test_a_hostile_run_parameters_is_refused_by_name():
    with pytest.raises(PlatformFileError) as caught:
        parse_run_parameters(b'<!DOCTYPE r [<!ENTITY a "b">]><RunParameters>&a;</RunParameters>')
    assert str(caught.value) == (
        "RunParameters.xml: refused: it declares a DTD or entities (DTDForbidden); instrument "
        "files never do"
    )


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (
            b"<?xml version='1.0' encoding='bogus'?><RunInfo/>",
            "RunInfo.xml: unreadable XML declaration (unknown encoding: bogus)",
        ),
        (
            b"<?xml version='1.0' encoding='shift_jis'?><RunInfo/>",
            "RunInfo.xml: unreadable XML declaration (multi-byte encodings are not supported)",
        ),
        (
            run_info_xml(layout='LaneCount="²" SurfaceCount="2" SwathCount="1" TileCount="2"'),
            "RunInfo.xml: <FlowcellLayout> attribute LaneCount='²' is not a whole number",
        ),
        (
            run_info_xml(
                layout='LaneCount="1" SurfaceCount="2" SwathCount="1" TileCount="2" '
                'SectionPerLane="two"'
            ),
            "RunInfo.xml: <FlowcellLayout> attribute SectionPerLane='two' is not a whole number",
        ),
        (
            run_info_xml(layout='LaneCount="8" SurfaceCount="2" SwathCount="4" TileCount="9801"'),
            "RunInfo.xml declares 9801 tiles per swath; at most 99",
        ),
        (
            run_info_xml(date="<Date>0001-01-01T00:00:00+01:00</Date>"),
            "RunInfo.xml: <Date> '0001-01-01T00:00:00+01:00' is out of range",
        ),
    ],
    ids=["unknown-encoding", "multi-byte-encoding", "non-ascii-digit", "sections", "huge", "date"],
)
def test_a_damaged_run_info_is_refused_as_a_platform_file_error(xml, message):
    with pytest.raises(PlatformFileError) as caught:
        parse_run_info(xml)
    assert str(caught.value) == message


def test_the_largest_layout_the_limits_allow_is_read():
    layout = 'LaneCount="8" SurfaceCount="2" SwathCount="8" TileCount="99"'
    assert len(parse_run_info(run_info_xml(layout=layout)).tiles) == 12_672


def test_a_version_or_run_number_in_other_digits_counts_as_absent():
    info = parse_run_info(run_info_xml(run='Id="r" Number="²"', root='Version="٣"'))
    assert (info.version, info.run_number) == (None, 0)
