"""A run's sample sheet, read into one typed shape whatever wrote it (issue #31).

Illumina `SampleSheet.csv` (v1 IEM `[Data]`; v2 `[BCLConvert_Data]`, `[Cloud_Data]`) and Element
`RunManifest.csv` (`[Samples]`) are read by `samplesheet-parser` (Apache-2.0, pinned in setup.py):
the one maintained library here that reads all three (elsheeto needs Python 3.12+, samshee reads
v2 only). Nanopore's final summary and `sample_sheet_*.csv` and PacBio's WellSample/BioSample
names are read by hand (platforms/sample_sheet_readers.py): no library reads them.

A sheet is *unreadable* when no parser reads it (SheetUnreadable), and *invalid* when it is read
but ambiguous: a Sample_ID twice in one lane, two samples of a lane whose indexes a demultiplexer
allowing the sheet's barcode mismatches cannot tell apart, or a v2 `OverrideCycles` that
disagrees with RunInfo's reads. Neither stops a run; problems never quote sample names (they can
be patient accession numbers): they give lanes, row numbers and counts.

Pure in the package's sense (no AWS, no Dagster); the library reads only from a path, so the
bytes are handed to it through a private temporary file.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from samplesheet_parser import ElementRunManifest, SampleSheetFactory, SampleSheetV2
from samplesheet_parser.validators import index_collision_distance

from ngs_lake.platforms.base import PlatformFileError

# The library logs skipped rows verbatim (sample names included) at WARNING: never in our logs.
logging.getLogger("samplesheet_parser").setLevel(logging.CRITICAL)

MAX_PROBLEMS = 10
DEFAULT_MISMATCHES = 1  # BCL Convert's and bcl2fastq's default BarcodeMismatchesIndex1/2


class SheetFormat(StrEnum):
    ILLUMINA_V1 = "illumina-v1"
    ILLUMINA_V2 = "illumina-v2"
    ELEMENT = "element-run-manifest"
    NANOPORE_SUMMARY = "nanopore-final-summary"
    NANOPORE_SHEET = "nanopore-sample-sheet"
    PACBIO = "pacbio-metadata"


class SheetStatus(StrEnum):
    OK = "ok"
    INVALID = "invalid"
    UNREADABLE = "unreadable"


class SheetUnreadable(PlatformFileError):
    """No parser reads the file; the message names the file and why, never a sample."""


class SheetSample(BaseModel):
    model_config = ConfigDict(frozen=True)

    sample_id: str
    project: str | None = None
    lane: int | None = None
    index: str | None = None
    index2: str | None = None
    library: str | None = None  # PacBio's WellSample (the pool in the well)


class SampleSheet(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: SheetFormat
    samples: list[SheetSample] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)  # why the sheet is invalid; no sample names

    @property
    def status(self) -> SheetStatus:
        return SheetStatus.INVALID if self.problems else SheetStatus.OK

    @property
    def projects(self) -> list[str]:
        return sorted({s.project for s in self.samples if s.project})

    @property
    def reason(self) -> str | None:
        return "; ".join(self.problems) if self.problems else None


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _lane(value: Any, name: str) -> int | None:
    text = _text(value)
    if text is None:
        return None
    if not text.isdigit():
        raise SheetUnreadable(f"{name}: Lane {text!r} is not a lane number")
    return int(text)


def _parse_with_library(data: bytes, name: str, element: bool = False) -> Any:
    """The library's parser for these bytes, parsed; SheetUnreadable for anything it refuses.
    `element`: read as an Element RunManifest (else the library tells v1 from v2)."""
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SheetUnreadable(f"{name}: not UTF-8 text") from None
    with tempfile.TemporaryDirectory(prefix="ngs-lake-sheet-") as folder:
        path = Path(folder) / "sheet.csv"
        path.write_bytes(_v2_columns_capitalised(_SECTION_PADDING.sub(rb"\1", data)))
        try:
            if element:
                parser: Any = ElementRunManifest(path)
            else:
                parser = SampleSheetFactory().create_parser(path, clean=True)
            parser.parse(do_clean=True)
        except (ValueError, KeyError, IndexError, RuntimeError) as exc:
            raise SheetUnreadable(f"{name}: {_first_line(exc)}") from None
    return parser


# `[Samples],,,`: a spreadsheet's padding after a section name. Instruments read through it; the
# library's Element detection does not, so the padding is dropped before it reads the sheet.
_SECTION_PADDING = re.compile(rb"(?m)^(\[[^\]\r\n]+\])[, \t]*(?=\r?$)")
_V2_DATA_HEADER = re.compile(rb"(\[BCLConvert_Data\][^\n]*\n)([^\n]*)", re.IGNORECASE)
_LOWER_INDEX = re.compile(rb"(?<![A-Za-z_])index(2?)(?![A-Za-z_0-9])")


def _v2_columns_capitalised(data: bytes) -> bytes:
    """`index`/`index2` in the [BCLConvert_Data] header as `Index`/`Index2`: BCL Convert reads
    either (UMCCR's sheets, checked with bcl-convert, write them lower-case), the library only
    the capitalised names. Nothing else of the sheet is touched."""

    def capitalise(match: re.Match[bytes]) -> bytes:
        return match[1] + _LOWER_INDEX.sub(rb"Index\1", match[2])

    return _V2_DATA_HEADER.sub(capitalise, data, count=1)


def _first_line(exc: Exception) -> str:
    """The library's error without the quoted row it may carry (a row can hold sample names)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(":", 1)[0] if "line" in text.lower() else text


def read_illumina_sheet(data: bytes, name: str, geometry: str | None = None) -> SampleSheet:
    """A v1 or v2 `SampleSheet.csv`. `geometry`: RunInfo's reads ("R1:151 I1:10 ..."), to check
    a v2 sheet's OverrideCycles against; None when RunInfo is not read yet."""
    parser = _parse_with_library(data, name)
    if isinstance(parser, ElementRunManifest):
        raise SheetUnreadable(f"{name}: an Element RunManifest, not an Illumina sample sheet")
    v2 = isinstance(parser, SampleSheetV2)
    records: list[dict[str, str]] = list(parser.records or [])
    if not records:
        raise SheetUnreadable(f"{name}: no sample rows in its data section")
    cloud_projects = {
        row.get("Sample_ID", ""): row.get("ProjectName")
        for row in getattr(parser, "cloud_data", [])
    }
    samples = []
    for number, row in enumerate(records, start=1):
        sample_id = _text(row.get("Sample_ID"))
        if sample_id is None:
            raise SheetUnreadable(f"{name}: data row {number} has no Sample_ID")
        project = _text(row.get("Sample_Project")) or _text(cloud_projects.get(sample_id))
        samples.append(
            SheetSample(
                sample_id=sample_id,
                project=project,
                lane=_lane(row.get("Lane"), name),
                index=_text(row.get("Index") or row.get("index")),
                index2=_text(row.get("Index2") or row.get("index2")),
            )
        )
    settings = parser.settings or {}
    mismatches = (
        _mismatches(settings.get("BarcodeMismatchesIndex1")),
        _mismatches(settings.get("BarcodeMismatchesIndex2")),
    )
    problems = duplicate_problems(samples) + collision_problems(samples, mismatches)
    if v2 and geometry:
        overrides = [settings.get("OverrideCycles")] + [r.get("OverrideCycles") for r in records]
        problems += override_cycle_problems([o for o in overrides if _text(o)], geometry)
    return SampleSheet(
        format=SheetFormat.ILLUMINA_V2 if v2 else SheetFormat.ILLUMINA_V1,
        samples=samples,
        problems=problems[:MAX_PROBLEMS],
    )


def read_element_manifest(data: bytes, name: str) -> SampleSheet:
    """An Element AVITI `RunManifest.csv`; a sample on lanes `1+2` is a row for each lane."""
    parser = _parse_with_library(data, name, element=True)
    samples = []
    for number, row in enumerate(parser.samples(), start=1):
        sample_id = _text(row.get("sample_id"))
        if sample_id is None:
            raise SheetUnreadable(f"{name}: sample row {number} has no SampleName")
        lanes = (_text(row.get("lane")) or "").replace("+", " ").split() or [None]
        for lane in lanes:
            samples.append(
                SheetSample(
                    sample_id=sample_id,
                    project=_text(row.get("sample_project")),
                    lane=_lane(lane, name),
                    index=_text(row.get("index")),
                    index2=_text(row.get("index2")),
                )
            )
    settings = {k.lower(): v for k, v in (parser.settings or {}).items()}
    mismatches = (
        _mismatches(settings.get("i1mismatchthreshold")),
        _mismatches(settings.get("i2mismatchthreshold")),
    )
    problems = duplicate_problems(samples) + collision_problems(samples, mismatches)
    return SampleSheet(
        format=SheetFormat.ELEMENT, samples=samples, problems=problems[:MAX_PROBLEMS]
    )


def _mismatches(value: Any) -> int:
    text = _text(value)
    return int(text) if text and text.isdigit() else DEFAULT_MISMATCHES


def _lanes(samples: Sequence[SheetSample]) -> dict[int | None, list[tuple[int, SheetSample]]]:
    """Rows by lane; a row without a lane is in every lane, so all rows are one group then."""
    numbered = list(enumerate(samples, start=1))
    if any(s.lane is None for s in samples):
        return {None: numbered}
    groups: dict[int | None, list[tuple[int, SheetSample]]] = {}
    for number, sample in numbered:
        groups.setdefault(sample.lane, []).append((number, sample))
    return groups


def _where(lane: int | None) -> str:
    return f"lane {lane}" if lane is not None else "the sheet (no Lane column)"


def duplicate_problems(samples: Sequence[SheetSample]) -> list[str]:
    """A Sample_ID on two rows of one lane: which rows, never which sample."""
    problems = []
    for lane, rows in sorted(_lanes(samples).items(), key=lambda kv: kv[0] or 0):
        first: dict[str, int] = {}
        for number, sample in rows:
            if sample.sample_id in first:
                problems.append(
                    f"Sample_ID repeated in {_where(lane)} (rows {first[sample.sample_id]} "
                    f"and {number})"
                )
            else:
                first[sample.sample_id] = number
    return problems


def collision_problems(samples: Sequence[SheetSample], mismatches: tuple[int, int]) -> list[str]:
    """Two samples of a lane a demultiplexer cannot tell apart: every index read within twice
    the allowed mismatches (a read `m` mismatches from each would match both; bcl2fastq and
    BCL Convert refuse such sheets as barcode collisions). `N` matches any base."""
    problems = []
    for lane, rows in sorted(_lanes(samples).items(), key=lambda kv: kv[0] or 0):
        indexed = [(n, s) for n, s in rows if s.index]
        for a, b in _candidate_pairs(indexed, 2 * mismatches[0]):
            (row_a, sample_a), (row_b, sample_b) = indexed[a], indexed[b]
            if sample_a.sample_id != sample_b.sample_id and _collide(
                sample_a, sample_b, mismatches
            ):
                problems.append(
                    f"indexes of rows {row_a} and {row_b} in {_where(lane)} are within "
                    f"{mismatches[0]}+{mismatches[0]} mismatches of each other"
                )
                if len(problems) >= MAX_PROBLEMS:
                    return problems
    return problems


def _candidate_pairs(indexed: Sequence[tuple[int, SheetSample]], within: int) -> list[tuple]:
    """The pairs whose first index could be `within` mismatches of each other, in row order.

    Pigeonhole: two indexes that differ in at most `within` places agree exactly on one of
    `within + 1` blocks (of the lane's shortest index length, since distance is counted over
    the shorter one), so only pairs sharing a block are compared: a 384-sample lane costs a few
    thousand comparisons, not 73,000. An index with an `N` is compared with every other."""
    seqs = [(s.index or "").upper() for _, s in indexed]
    length = min((len(q) for q in seqs), default=0)
    blocks = within + 1
    if length < blocks:
        return [(a, b) for a in range(len(seqs)) for b in range(a + 1, len(seqs))]
    bounds = [round(i * length / blocks) for i in range(blocks + 1)]
    buckets: dict[tuple[int, str], list[int]] = {}
    wild = []
    for position, seq in enumerate(seqs):
        if "N" in seq[:length]:
            wild.append(position)
            continue
        for block in range(blocks):
            part = seq[bounds[block] : bounds[block + 1]]
            buckets.setdefault((block, part), []).append(position)
    pairs = {(a, b) for members in buckets.values() for a in members for b in members if a < b}
    pairs |= {(min(w, o), max(w, o)) for w in wild for o in range(len(seqs)) if o != w}
    return sorted(pairs)


def _collide(a: SheetSample, b: SheetSample, mismatches: tuple[int, int]) -> bool:
    pairs = [(a.index or "", b.index or "", mismatches[0])]
    if a.index2 and b.index2:
        pairs.append((a.index2, b.index2, mismatches[1]))
    return all(index_collision_distance(x.upper(), y.upper()) <= 2 * m for x, y, m in pairs)


_SEGMENT = re.compile(r"([YINU])(\d+|\*)", re.IGNORECASE)


def override_cycle_problems(overrides: Iterable[str], geometry: str) -> list[str]:
    """Each OverrideCycles (`Y151;I8N2;N2I8;Y151`) must give, read by read, RunInfo's cycles."""
    reads = [int(part.split(":")[1]) for part in geometry.split() if ":" in part]
    problems = []
    for override in dict.fromkeys(o.strip() for o in overrides):
        segments = [s for s in override.split(";") if s.strip()]
        cycles = []
        for segment in segments:
            parts = _SEGMENT.findall(segment)
            if not parts or "".join(f"{k}{n}" for k, n in parts).lower() != segment.lower():
                problems.append(f"OverrideCycles {override!r}: {segment!r} is not a read pattern")
                break
            wild = any(n == "*" for _, n in parts)
            cycles.append(None if wild else sum(int(n) for _, n in parts))
        else:
            if len(cycles) != len(reads) or any(
                c is not None and c != r for c, r in zip(cycles, reads, strict=False)
            ):
                shown = ["*" if c is None else c for c in cycles]
                problems.append(
                    f"OverrideCycles {override!r} gives {len(cycles)} reads of {shown} cycles; "
                    f"RunInfo has {reads}"
                )
    return problems
