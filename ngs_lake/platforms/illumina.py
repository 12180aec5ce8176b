"""Illumina: NovaSeq X, NovaSeq 6000, NextSeq 1000/2000, NextSeq 500/550, MiniSeq, MiSeq, iSeq 100.

The run folder is a top-level folder of the share named `<YYMMDD|YYYYMMDD>_<instrument>_<run
number>_<flowcell>`. RunInfo.xml (written first) gives the geometry, lanes x surfaces x tiles x
cycles, from which the expected output follows: one CBCL per lane, surface and cycle on the
NovaSeq, NextSeq 1000/2000 and iSeq 100, one .bcl per tile and cycle on the MiSeq, and one
.bcl.bgzf per lane and cycle on the NextSeq 500/550 and MiniSeq.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from xml.etree.ElementTree import Element

from pydantic import BaseModel, ConfigDict

from ngs_lake.platforms.base import (
    ExpectedFilesReport,
    PlatformFamily,
    PlatformFileError,
    RunFacts,
    bare,
    expected_report,
)
from ngs_lake.platforms.illumina_parameters import (
    RUN_PARAMETERS,
    RUN_PARAMETERS_NAMES,
    RunParameters,
    parse_run_parameters,
    run_parameters_facts,
    run_parameters_of,
)
from ngs_lake.platforms.instrument_xml import parse_instrument_xml

__all__ = ["RUN_PARAMETERS", "RunParameters", "parse_run_parameters"]

OutputFormat = Literal["cbcl", "bcl", "bcl.bgzf"]
RUN_INFO = "RunInfo.xml"
BASECALLS = "Data/Intensities/BaseCalls"
FILTER_CYCLE = 26  # RTA writes the per-tile filter files once cycle 26 is done
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

RUN_FOLDER = re.compile(
    r"^(?P<date>\d{6}|\d{8})_(?P<instrument>[A-Za-z0-9][A-Za-z0-9_-]*?)_"
    r"(?P<number>\d{1,5})_(?P<flowcell>[A-Za-z0-9][A-Za-z0-9-]*)$"
)


@dataclass(frozen=True)
class IlluminaModel:
    platform: str
    output: OutputFormat
    completion_marker: str
    markers_before: tuple[str, ...]  # written earlier, in this order, before the completion marker


# Which file completes a run, per model, and why (sources in the README's platform table):
# - NovaSeq X/6000 and NextSeq 1000/2000 copy the run to its output folder after RTA ends:
#   RTAComplete.txt says base calling ended, CopyComplete.txt (written last) that the copy did.
# - NextSeq 500/550 and MiniSeq (RTA 2) write the run where it is read: RTAComplete.txt is the
#   last data write. They also write RunCompletionStatus.xml, the control software's verdict,
#   whose order against RTAComplete.txt no public folder shows, so it is not waited for.
#   (`RTAComplete.xml` is an older RTA's name, never seen in an NCS 2 folder.)
# - MiSeq and iSeq 100 write RTAComplete.txt last.
MODELS: dict[str, IlluminaModel] = {
    m.platform: m
    for m in (
        IlluminaModel(
            "novaseq-x",
            "cbcl",
            "CopyComplete.txt",
            ("RTAComplete.txt", "RunCompletionStatus.xml"),
        ),
        IlluminaModel("novaseq-6000", "cbcl", "CopyComplete.txt", ("RTAComplete.txt",)),
        IlluminaModel("nextseq-2000", "cbcl", "CopyComplete.txt", ("RTAComplete.txt",)),
        IlluminaModel("nextseq-1000", "cbcl", "CopyComplete.txt", ("RTAComplete.txt",)),
        IlluminaModel("nextseq-550", "bcl.bgzf", "RTAComplete.txt", ()),
        IlluminaModel("miniseq", "bcl.bgzf", "RTAComplete.txt", ()),
        IlluminaModel("miseq", "bcl", "RTAComplete.txt", ()),
        IlluminaModel("iseq-100", "cbcl", "RTAComplete.txt", ()),
    )
}


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


def data_file_count(model: IlluminaModel, run_info: RunInfo) -> int:
    """How many files `data_files` lists, counted without listing them."""
    lanes = range(1, run_info.lane_count + 1)
    tiles = sum(len(run_info.lane_tiles(lane)) for lane in lanes)
    per_cycle = {
        "cbcl": run_info.lane_count * run_info.surface_count,
        "bcl": tiles,
        "bcl.bgzf": run_info.lane_count,
    }[model.output]
    filters = run_info.lane_count if model.output == "bcl.bgzf" else tiles
    return run_info.total_cycles * per_cycle + filters


def data_files(model: IlluminaModel, run_info: RunInfo) -> list[str]:
    """Every base-call and filter file the model writes for this geometry, in writing order."""
    return [path for _cycle, path in cycle_files(model, run_info)] + filter_files(model, run_info)


def cycle_files(model: IlluminaModel, run_info: RunInfo) -> list[tuple[int, str]]:
    """(cycle, path) of every per-cycle base-call file."""
    out: list[tuple[int, str]] = []
    for cycle in range(1, run_info.total_cycles + 1):
        for lane in range(1, run_info.lane_count + 1):
            lane_dir = f"{BASECALLS}/L{lane:03d}"
            if model.output == "cbcl":
                out.extend(
                    (cycle, f"{lane_dir}/C{cycle}.1/L{lane:03d}_{surface}.cbcl")
                    for surface in range(1, run_info.surface_count + 1)
                )
            elif model.output == "bcl":
                out.extend(
                    (cycle, f"{lane_dir}/C{cycle}.1/s_{lane}_{tile}.bcl")
                    for tile in run_info.lane_tiles(lane)
                )
            else:
                out.append((cycle, f"{lane_dir}/{cycle:04d}.bcl.bgzf"))
    return out


def filter_files(model: IlluminaModel, run_info: RunInfo) -> list[str]:
    out = []
    for lane in range(1, run_info.lane_count + 1):
        lane_dir = f"{BASECALLS}/L{lane:03d}"
        if model.output == "bcl.bgzf":
            out.append(f"{lane_dir}/s_{lane}.filter")
        else:
            out.extend(f"{lane_dir}/s_{lane}_{tile}.filter" for tile in run_info.lane_tiles(lane))
    return out


class Illumina(PlatformFamily):
    name = "illumina"
    run_depth = 1
    folder_layout = "<YYMMDD|YYYYMMDD>_<instrument>_<run number>_<flow cell> at the share's top"
    # A NovaSeq X spends ~5 minutes a cycle and pauses for the paired-end turn; two hours without a
    # file is unusual.
    default_stall_window = timedelta(hours=2)

    run_path_pattern = bare(RUN_FOLDER)

    def completion_marker(self, platform: str, run_folder: str) -> str:
        return MODELS[platform].completion_marker

    def metadata_paths(self, platform: str, run_folder: str) -> tuple[str, ...]:
        return (RUN_INFO, *RUN_PARAMETERS_NAMES)

    def folder_facts(self, run_folder: str) -> RunFacts:
        """Run id, instrument and date; not the flow cell, whose folder form carries the A/B
        side letter that RunInfo's <Flowcell> lacks (real_runs/201125_A00291_0321_AHWHKYDRXX)."""
        parts = RUN_FOLDER.match(run_folder)
        if parts is None:
            return RunFacts()
        stamp = parts["date"]
        day = stamp if len(stamp) == 8 else f"20{stamp}"
        return RunFacts(
            run_id=run_folder,
            instrument=parts["instrument"],
            run_date=f"{day[:4]}-{day[4:6]}-{day[6:]}",
        )

    def read_facts(self, platform: str, files: Mapping[str, bytes]) -> RunFacts:
        """From RunInfo.xml (written first); from RunParameters.xml until it is there."""
        if RUN_INFO in files:
            info = parse_run_info(files[RUN_INFO])
            return RunFacts(
                run_id=info.run_id,
                flowcell=info.flowcell,
                instrument=info.instrument,
                run_date=info.date.date().isoformat() if info.date else None,
                geometry=read_geometry(info.reads),
            )
        found = run_parameters_of(files)
        return run_parameters_facts(found[1], found[0]) if found else RunFacts()

    def parse_metadata(self, platform: str, files: Mapping[str, bytes]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if RUN_INFO in files:
            info = parse_run_info(files[RUN_INFO])
            out |= {
                "run_id": info.run_id,
                "instrument": info.instrument,
                "run_number": info.run_number,
                "flowcell": info.flowcell,
                "run_date": info.date.isoformat() if info.date else None,
                "lanes": info.lane_count,
                "surfaces": info.surface_count,
                "tiles": len(info.tiles),
                "reads": [r.model_dump() for r in info.reads],
                "cycles": info.total_cycles,
            }
        found = run_parameters_of(files)
        if found:
            out |= parse_run_parameters(found[1], found[0]).model_dump(exclude_none=True)
        return out

    def check_expected_files(
        self, platform: str, run_folder: str, files: Mapping[str, bytes], present: set[str]
    ) -> ExpectedFilesReport:
        model = MODELS[platform]
        if RUN_INFO not in files:
            return expected_report([RUN_INFO], present)
        info = parse_run_info(files[RUN_INFO])
        count = data_file_count(model, info)
        if count > MAX_EXPECTED_FILES:
            raise PlatformFileError(
                f"{RUN_INFO} implies {count} files for a {platform} run; at most "
                f"{MAX_EXPECTED_FILES}"
            )
        found = run_parameters_of(files)  # MiSeq and HiSeq spell it runParameters.xml
        parameters = found[0] if found else RUN_PARAMETERS
        expected = [RUN_INFO, parameters, *model.markers_before, model.completion_marker]
        return expected_report(expected + data_files(model, info), present)


def read_geometry(reads: list[Read]) -> str:
    """`R1:151 I1:8 I2:8 R2:151`: reads in number order, index reads counted apart."""
    counts = {"R": 0, "I": 0}
    labels = []
    for read in reads:
        kind = "I" if read.is_index else "R"
        counts[kind] += 1
        labels.append(f"{kind}{counts[kind]}:{read.cycles}")
    return " ".join(labels)


def run_folder_name(date: datetime, instrument: str, number: int, flowcell: str) -> str:
    """The folder name an instrument gives a run (the NovaSeq X, `LH`, and the iSeq 100, `FS`,
    use YYYYMMDD: `20190730_FS10000507_18_BPC29604-1714`; the NextSeq 1000/2000, `VH`, and the
    iSeq write the number unpadded: `200722_VH00123_5_AAAFWVYM5`)."""
    long_date = instrument.startswith(("LH", "FS"))
    stamp = date.strftime("%Y%m%d") if long_date else date.strftime("%y%m%d")
    digits = f"{number}" if instrument.startswith(("VH", "FS")) else f"{number:04d}"
    return f"{stamp}_{instrument}_{digits}_{flowcell}"


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
