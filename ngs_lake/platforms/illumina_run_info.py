"""Illumina's RunInfo.xml, read: the run's identity and its flow cell geometry, bounded to the
instruments' real maxima before any tile name is generated, so a 300-byte document cannot ask
for 10^11 of them. Versions 2 to 6, as the instruments in ngs_lake_tests/data/real_runs wrote them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from pydantic import BaseModel, ConfigDict

from ngs_lake.platforms.base import PlatformFileError
from ngs_lake.platforms.instrument_xml import parse_instrument_xml

RUN_INFO = "RunInfo.xml"
# What a RunInfo.xml may declare: the instruments' real maxima with a margin, checked before any
# tile or file name is generated, so a 300-byte document cannot ask for 10^11 of them. The largest
# real layouts (<FlowcellLayout> of the instruments' own RunInfo.xml, as in ngs_lake_tests/data/
# illumina and Illumina's flow cell specifications): NovaSeq X 10B 8 lanes x 2 surfaces x 2 swaths
# x 98 tiles; NovaSeq 6000 S4 4 x 2 x 6 x 78; NextSeq 550 4 x 2 x 3 x 12 in 3 sections per lane;
# MiSeq v2/v3 1 x 2 x 1 x 19 with 2 x 301 cycles plus two indexes.
MAX_LANES = 8  # NovaSeq X 10B and 25B, HiSeq 2500, 4000 and X: 8
MAX_SURFACES = 2  # the top and bottom of the flow cell
MAX_SWATHS = 8  # NovaSeq 6000 S4: 6
MAX_TILES_PER_SWATH = 99  # the tile number is two digits in every naming convention
MAX_SECTIONS_PER_LANE = 9  # one digit of a FiveDigit tile name; NextSeq 550: 3
MAX_TILES_PER_LANE = 2_000  # NovaSeq 6000 S4: 2 x 6 x 78 = 936
MAX_READS = 8  # R1, I1, I2, R2 on every instrument, UMI reads a few more
MAX_CYCLES_PER_READ = 1_000  # MiSeq and NextSeq 2000 600-cycle kits: 301
MAX_EXPECTED_FILES = 100_000  # MiSeq, 2 x 301 + 2 x 8 cycles on 38 tiles: 23,522 files
MAX_TILES = MAX_LANES * MAX_TILES_PER_LANE  # so no RunInfo.xml lists or implies more in all


class Read(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int
    cycles: int
    is_index: bool
    is_reverse_complement: bool = False


class RunInfo(BaseModel):
    """RunInfo.xml as parsed. `date` is instrument-local (naive) unless the file says UTC."""

    model_config = ConfigDict(frozen=True)

    version: int | None
    run_id: str
    instrument: str
    run_number: int
    flowcell: str
    date: datetime | None
    lane_count: int
    surface_count: int
    swath_count: int
    tile_count: int
    sections_per_lane: int
    tile_naming: str
    tiles: list[str]
    tiles_declared: bool
    reads: list[Read]

    @property
    def total_cycles(self) -> int:
        return sum(r.cycles for r in self.reads)

    def lane_tiles(self, lane: int) -> list[str]:
        """Tile numbers (without the lane prefix) of one lane, e.g. ["1101", "1102"]."""
        prefix = f"{lane}_"
        return [t.removeprefix(prefix) for t in self.tiles if t.startswith(prefix)]


def parse_run_info(data: bytes) -> RunInfo:
    """Parse RunInfo.xml of any version 2 to 6; refuse DTDs, entities, truncated files and
    geometries beyond the instruments' (the MAX_ constants), before generating any tile name."""
    root = parse_instrument_xml(data, RUN_INFO)
    if root.tag != "RunInfo":
        raise PlatformFileError(f"{RUN_INFO}: the root element is <{root.tag}>, not <RunInfo>")
    run = root.find("Run")
    if run is None:
        raise PlatformFileError(f"{RUN_INFO}: no <Run> element")
    layout = run.find("FlowcellLayout")
    if layout is None:
        raise PlatformFileError(f"{RUN_INFO}: no <FlowcellLayout> element")
    _at_most(sum(1 for _ in run.iterfind("Reads/Read")), "reads", MAX_READS)
    reads = [_read(r) for r in run.iterfind("Reads/Read")]
    if not reads:
        raise PlatformFileError(f"{RUN_INFO}: no <Read> elements under <Reads>")
    tile_set = layout.find("TileSet")
    naming = tile_set.get("TileNamingConvention", "FourDigit") if tile_set is not None else None
    counts = {
        "lane_count": _int(layout, "LaneCount"),
        "surface_count": _int(layout, "SurfaceCount"),
        "swath_count": _int(layout, "SwathCount"),
        "tile_count": _int(layout, "TileCount"),
        "sections_per_lane": _int(layout, "SectionPerLane", default=1),
    }
    naming = naming or ("FiveDigit" if counts["sections_per_lane"] > 1 else "FourDigit")
    _check_layout(counts, naming)
    tiles = layout.findall("TileSet/Tiles/Tile")
    lanes = counts["lane_count"]
    _at_most(len(tiles), f"tiles for a {lanes}-lane flow cell", lanes * MAX_TILES_PER_LANE, "lists")
    declared = [t.text.strip() for t in tiles if t.text]
    return RunInfo(
        version=_whole(root.get("Version")),
        run_id=_required_attr(run, "Id"),
        instrument=_text(run, "Instrument"),
        run_number=_whole(run.get("Number")) or 0,
        flowcell=_text(run, "Flowcell"),
        date=parse_run_date(run.findtext("Date")),
        tile_naming=naming,
        tiles=declared or tile_names(naming=naming, **counts),
        tiles_declared=bool(declared),
        reads=sorted(reads, key=lambda r: r.number),
        **counts,
    )


def _read(element: Element) -> Read:
    number = _int(element, "Number")
    cycles = _at_most(_int(element, "NumCycles"), f"cycles in read {number}", MAX_CYCLES_PER_READ)
    return Read(
        number=number,
        cycles=cycles,
        is_index=element.get("IsIndexedRead", "N").upper() == "Y",
        is_reverse_complement=element.get("IsReverseComplement", "N").upper() == "Y",
    )


def _check_layout(counts: dict[str, int], naming: str) -> None:
    """Each dimension of <FlowcellLayout> at least 1 and at most the instruments' maximum, and
    the tiles a lane has (what `tile_names` would generate per lane) too."""
    for key, what, limit in (
        ("lane_count", "lanes", MAX_LANES),
        ("surface_count", "surfaces", MAX_SURFACES),
        ("swath_count", "swaths", MAX_SWATHS),
        ("tile_count", "tiles per swath", MAX_TILES_PER_SWATH),
        ("sections_per_lane", "sections per lane", MAX_SECTIONS_PER_LANE),
    ):
        if counts[key] < 1:
            raise PlatformFileError(f"{RUN_INFO} declares {counts[key]} {what}; at least 1")
        _at_most(counts[key], what, limit)
    per_lane = counts["surface_count"] * counts["swath_count"] * counts["tile_count"]
    if naming == "FiveDigit":
        per_lane *= counts["sections_per_lane"]
    _at_most(per_lane, "tiles per lane", MAX_TILES_PER_LANE)


def _at_most(value: int, what: str, limit: int, verb: str = "declares") -> int:
    if value > limit:
        raise PlatformFileError(f"{RUN_INFO} {verb} {value} {what}; at most {limit}")
    return value


def tile_names(
    *,
    lane_count: int,
    surface_count: int,
    swath_count: int,
    tile_count: int,
    sections_per_lane: int = 1,
    naming: str = "FourDigit",
) -> list[str]:
    """Tiles implied by the layout: `<lane>_<surface><swath>[<section>]<tile:02>`."""
    names = []
    for lane in range(1, lane_count + 1):
        for surface in range(1, surface_count + 1):
            for swath in range(1, swath_count + 1):
                sections = range(1, sections_per_lane + 1) if naming == "FiveDigit" else [None]
                for section in sections:
                    for tile in range(1, tile_count + 1):
                        middle = "" if section is None else str(section)
                        names.append(f"{lane}_{surface}{swath}{middle}{tile:02d}")
    return names


_DATE_FORMATS = ("%y%m%d", "%Y%m%d", "%m/%d/%Y %I:%M:%S %p")


def parse_run_date(text: str | None) -> datetime | None:
    """`YYMMDD`, `YYYYMMDD`, `M/D/YYYY h:mm:ss AM` (instrument-local) or ISO 8601."""
    if not text or not text.strip():
        return None
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PlatformFileError(
            f"{RUN_INFO}: <Date> {text!r} is not YYMMDD, M/D/YYYY h:mm:ss AM or ISO 8601"
        ) from None
    try:
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise PlatformFileError(f"{RUN_INFO}: <Date> {text!r} is out of range") from None


def _whole(text: str | None) -> int | None:
    """A whole number written in ASCII digits (at most 9 of them), else None."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        return None
    return int(text)


def _int(element: Element, attribute: str, default: int | None = None) -> int:
    value = element.get(attribute)
    if value is None and default is not None:
        return default
    number = _whole(value)
    if number is None:
        raise PlatformFileError(
            f"{RUN_INFO}: <{element.tag}> attribute {attribute}={value!r} is not a whole number"
        )
    return number


def _required_attr(element: Element, attribute: str) -> str:
    value = element.get(attribute)
    if not value:
        raise PlatformFileError(f"{RUN_INFO}: <{element.tag}> has no {attribute} attribute")
    return value


def _text(element: Element, tag: str) -> str:
    value = element.findtext(tag)
    if value is None or not value.strip():
        raise PlatformFileError(f"{RUN_INFO}: <Run> has no <{tag}>")
    return value.strip()
