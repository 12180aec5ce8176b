"""The sample fields no library reads, and which file of a run is its sample sheet.

- Nanopore: MinKNOW's final summary names one `sample_id` and its `protocol_group_id` (the
  experiment); its `sample_sheet_<flow cell>_<date>_<time>_<id>.csv` (columns `flow_cell_id`,
  `kit`, `sample_id`, `experiment_id`, and for barcoded runs `barcode` and `alias`, as MinKNOW and
  dorado read it) names a sample per barcode by its alias.
- PacBio: the cell's `WellSample` (the library loaded in the well) and its `BioSample`s, each
  with the `DNABarcode` it was tagged with, in Revio's `metadata.xml` or a Sequel dataset XML.
"""

from __future__ import annotations

import csv
import io
import re

from ngs_lake.platforms import PLATFORMS, Family
from ngs_lake.platforms.base import PlatformFileError
from ngs_lake.platforms.instrument_xml import local_name, parse_instrument_xml
from ngs_lake.platforms.nanopore import FINAL_SUMMARY, parse_final_summary
from ngs_lake.platforms.pacbio import FACT_FILES
from ngs_lake.platforms.sample_sheets import (
    MAX_PROBLEMS,
    SampleSheet,
    SheetFormat,
    SheetSample,
    SheetUnreadable,
    duplicate_problems,
    read_element_manifest,
    read_illumina_sheet,
)

NANOPORE_SHEET = re.compile(r"^(?:[^/]+/)?sample_sheet_[^/]+\.csv$")


def read_nanopore_summary(data: bytes, name: str) -> SampleSheet:
    try:
        values = parse_final_summary(data)
    except PlatformFileError as exc:
        raise SheetUnreadable(f"{name}: {exc}") from None
    sample = values.get("sample_id", "").strip()
    if not sample:
        raise SheetUnreadable(f"{name}: no sample_id= line")
    project = values.get("protocol_group_id", "").strip() or None
    return SampleSheet(
        format=SheetFormat.NANOPORE_SUMMARY,
        samples=[SheetSample(sample_id=sample, project=project)],
    )


def read_nanopore_sample_sheet(data: bytes, name: str) -> SampleSheet:
    """One sample per row: its `alias` on a barcoded row, else its `sample_id`."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SheetUnreadable(f"{name}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or [])
    if not columns & {"sample_id", "alias"}:
        raise SheetUnreadable(f"{name}: neither a sample_id nor an alias column")
    samples = []
    for number, row in enumerate(reader, start=1):
        barcode = (row.get("barcode") or "").strip() or None
        alias = (row.get("alias") or "").strip()
        sample = (alias if barcode and alias else row.get("sample_id") or alias or "").strip()
        if not sample:
            raise SheetUnreadable(f"{name}: row {number} names no sample")
        project = (row.get("experiment_id") or "").strip() or None
        samples.append(SheetSample(sample_id=sample, project=project, index=barcode))
    if not samples:
        raise SheetUnreadable(f"{name}: no sample rows")
    problems = duplicate_problems(samples) if any(s.index for s in samples) else []
    return SampleSheet(
        format=SheetFormat.NANOPORE_SHEET, samples=samples, problems=problems[:MAX_PROBLEMS]
    )


def read_pacbio_samples(data: bytes, name: str) -> SampleSheet:
    """Each BioSample of each WellSample (tagged with its barcode); a well without BioSamples is
    one sample, the WellSample itself."""
    try:
        root = parse_instrument_xml(data, name)
    except PlatformFileError as exc:
        raise SheetUnreadable(str(exc)) from None
    samples = []
    for well in (e for e in root.iter() if local_name(e) == "WellSample"):
        library = (well.get("Name") or "").strip() or None
        bios = [e for e in well.iter() if local_name(e) == "BioSample"]
        for bio in bios:
            barcode = next(
                (e.get("Name") for e in bio.iter() if local_name(e) == "DNABarcode"), None
            )
            bio_name = (bio.get("Name") or "").strip()
            if bio_name:
                samples.append(SheetSample(sample_id=bio_name, index=barcode, library=library))
        if not bios and library:
            samples.append(SheetSample(sample_id=library, library=library))
    if not samples:
        raise SheetUnreadable(f"{name}: no WellSample or BioSample names")
    return SampleSheet(format=SheetFormat.PACBIO, samples=samples)


def is_sample_sheet(platform: str, path: str) -> bool:
    """Whether this file of a run (relative to its folder) is one its samples are read from."""
    family = PLATFORMS[platform].family
    if family == Family.ILLUMINA:
        return path == "SampleSheet.csv"
    if family == Family.ELEMENT:
        return path == "RunManifest.csv"
    if family == Family.NANOPORE:
        return bool(FINAL_SUMMARY.match(path) or NANOPORE_SHEET.match(path))
    return bool(FACT_FILES[platform].match(path))


def read_sample_sheet(
    platform: str, path: str, data: bytes, geometry: str | None = None
) -> SampleSheet:
    """The samples of a run's sheet file. SheetUnreadable (a ValueError) if no parser reads it."""
    family = PLATFORMS[platform].family
    if family == Family.ILLUMINA:
        return read_illumina_sheet(data, path, geometry)
    if family == Family.ELEMENT:
        return read_element_manifest(data, path)
    if family == Family.NANOPORE:
        if NANOPORE_SHEET.match(path):
            return read_nanopore_sample_sheet(data, path)
        return read_nanopore_summary(data, path)
    return read_pacbio_samples(data, path)
