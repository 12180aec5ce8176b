"""PacBio Revio and Sequel II/IIe: one run folder per plate run, one SMRT cell folder per cell,
each cell its own run.

`r<instrument>_<YYYYMMDD>_<HHMMSS>/<plate>_<well>` (e.g. `r84047_20230404_164149/1_A01`). A cell's
data arrives when that cell finishes, and its `<movie>.transferdone` is written last. Layouts, as
real cells show them (ngs_lake_tests/data/real_runs, from wtsi-npg/npg_irods):
- Revio: `metadata/<movie>.transferdone` lists the cell's files by their ABSOLUTE instrument paths
  (`/data/icc/m84047_230404_164952_s1/fail_reads/...bam`) after two header lines; each is mapped
  onto the cell folder by the movie name, which is what the instrument means. Its facts are in
  `metadata/<movie>.metadata.xml`, which declares UTF-16 and is UTF-8.
- Sequel II/IIe (and Sequel): `<movie>.transferdone` (0 bytes) beside `<movie>.subreadset.xml` or
  `<movie>.consensusreadset.xml`, no `metadata/` folder; the dataset XML (prefixed roots such as
  `pbds:SubreadSet`, many namespaces) names every file of the cell as an `ExternalResource`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ngs_lake.platforms.base import (
    ExpectedFilesReport,
    PlatformFamily,
    PlatformFileError,
    RunFacts,
    RunLocation,
    bare,
    expected_report,
)
from ngs_lake.platforms.instrument_xml import first_named, local_name, parse_instrument_xml

RUN_FOLDER = re.compile(r"^r(?P<instrument>\d{5}[A-Za-z]?)_(?P<date>\d{8})_(?P<time>\d{6})$")
CELL_FOLDER = re.compile(r"^(?P<plate>[1-4])_(?P<well>[A-D]0[1-9])$")
MOVIE = re.compile(
    r"^m(?P<instrument>\d{5}[A-Za-z]?)_(?P<date>\d{6})_(?P<time>\d{6})(?:_s(?P<cell>[1-4]))?$"
)
TRANSFERDONE = {
    "revio": re.compile(r"^metadata/(?P<movie>m[^/]+)\.transferdone$"),
    "sequel-2": re.compile(r"^(?P<movie>m[^/]+)\.transferdone$"),
}
FACT_FILES = {
    "revio": re.compile(r"^metadata/m[^/]+\.metadata\.xml$"),
    "sequel-2": re.compile(r"^m[^/.]+\.(?:subreadset|consensusreadset)\.xml$"),
}
# Revio's header lines: "Transfer Manifest nfiles: 45", "AcqId <uuid> transfer list size : 45".
_HEADER = re.compile(r"^(?:Transfer Manifest nfiles|AcqId \S+ transfer list size)\s*:\s*(\d+)$")
_PLACEHOLDER_DATE = "0001-01-01"  # what the Sequel writes in WhenStarted


def movie_name(instrument: str, stamp: str, cell_number: int) -> str:
    """`m84046_231116_153611_s1`, from the instrument, `YYMMDD_HHMMSS` and the cell slot."""
    return f"m{instrument}_{stamp}_s{cell_number}"


def _inside_cell(path: str, movie: str | None) -> str | None:
    """The path relative to the cell folder, or None if it leaves it.

    An absolute path is the instrument's own (`/data/icc/<movie>/<rest>`): its part after the
    movie's folder is the path within the cell."""
    if path.startswith("/"):
        parts = path.split("/")
        if movie is None or movie not in parts:
            return None
        path = "/".join(parts[len(parts) - parts[::-1].index(movie) :])
    parts = path.split("/")
    if not path or ".." in parts or "" in parts:
        return None
    return path


def parse_transferdone(data: bytes, movie: str | None = None) -> list[str]:
    """The transferred files, relative to the cell folder, one per line (absolute instrument
    paths mapped by `movie`); Revio's header lines are checked against the count listed."""
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise PlatformFileError(".transferdone: not UTF-8 text") from None
    paths, declared = [], []
    for line in (raw.strip() for raw in lines):
        header = _HEADER.match(line)
        if header:
            declared.append(int(header[1]))
        elif line:
            inside = _inside_cell(line, movie)
            if inside is None:
                raise PlatformFileError(
                    f".transferdone: paths must stay inside the cell folder: {line}"
                )
            paths.append(inside)
    wrong = [n for n in declared if n != len(paths)]
    if wrong:
        raise PlatformFileError(
            f".transferdone: its header says {wrong[0]} files but it lists {len(paths)}"
        )
    return paths


def dataset_resources(data: bytes, name: str, movie: str) -> list[str]:
    """Every `ExternalResource@ResourceId` of a Sequel dataset XML, relative to the cell."""
    root = parse_instrument_xml(data, name)
    found = []
    for element in root.iter():
        resource = element.get("ResourceId")
        if resource is None or local_name(element) not in ("ExternalResource", "FileIndex"):
            continue
        inside = _inside_cell(resource, movie)
        if inside is None:
            raise PlatformFileError(f"{name}: ResourceId leaves the cell folder: {resource}")
        found.append(inside)
    return found


def cell_facts(data: bytes, name: str, movie: str | None) -> RunFacts:
    """Movie, cell, instrument and start from a Revio metadata.xml or a Sequel dataset XML."""
    root = parse_instrument_xml(data, name)
    collection = first_named(root, "CollectionMetadata")
    cell = first_named(root, "CellPac")
    started = (getattr(first_named(root, "WhenStarted"), "text", None) or "").strip()
    context = collection.get("Context") if collection is not None else None
    movie = context or movie
    parts = MOVIE.match(movie or "")
    if started[:4].isdigit() and not started.startswith(_PLACEHOLDER_DATE):
        run_date: str | None = started[:10]
    elif parts:
        stamp = parts["date"]
        run_date = f"20{stamp[:2]}-{stamp[2:4]}-{stamp[4:]}"
    else:
        run_date = None
    return RunFacts(
        run_id=movie,
        flowcell=(cell.get("LabelNumber") or cell.get("Barcode")) if cell is not None else None,
        instrument=collection.get("InstrumentId") if collection is not None else None,
        run_date=run_date,
    )


class PacBio(PlatformFamily):
    name = "pacbio"
    run_depth = 2
    folder_layout = "r<instrument>_<YYYYMMDD>_<HHMMSS>/<plate>_<well>, one run per SMRT cell"
    # A cell writes its data only when it ends, up to 30 hours after it starts.
    default_stall_window = timedelta(hours=36)

    run_path_pattern = f"{bare(RUN_FOLDER)}/{bare(CELL_FOLDER)}"

    def _marker(self, platform: str, files: Mapping[str, bytes]) -> tuple[str, str] | None:
        for key in files:
            matched = TRANSFERDONE[platform].match(key)
            if matched:
                return key, matched["movie"]
        return None

    def completion_marker(self, platform: str, run_folder: str) -> str:
        return "metadata/*.transferdone" if platform == "revio" else "*.transferdone"

    def is_completion_marker(self, platform: str, location: RunLocation) -> bool:
        return bool(TRANSFERDONE[platform].match(location.relative_path))

    def metadata_paths(self, platform: str, run_folder: str) -> tuple[str, ...]:
        if platform == "revio":
            return ("metadata/*.transferdone", "metadata/*.metadata.xml")
        return ("*.transferdone", "*.subreadset.xml", "*.consensusreadset.xml")

    def is_fact_file(self, platform: str, relative_path: str) -> bool:
        return bool(FACT_FILES[platform].match(relative_path))

    def folder_facts(self, run_folder: str) -> RunFacts:
        """The instrument and the run's date, from `r<instrument>_<YYYYMMDD>_<HHMMSS>/<cell>`."""
        parts = RUN_FOLDER.match(run_folder.split("/", 1)[0])
        if parts is None:
            return RunFacts()
        day = parts["date"]
        return RunFacts(instrument=parts["instrument"], run_date=f"{day[:4]}-{day[4:6]}-{day[6:]}")

    def read_facts(self, platform: str, files: Mapping[str, bytes]) -> RunFacts:
        marker = self._marker(platform, files)
        movie = marker[1] if marker else None
        for key, data in files.items():
            if FACT_FILES[platform].match(key):
                return cell_facts(data, key, movie)
        return RunFacts(run_id=movie)

    def parse_metadata(self, platform: str, files: Mapping[str, bytes]) -> dict[str, Any]:
        marker = self._marker(platform, files)
        if marker is None:
            return {}
        key, movie = marker
        parts = MOVIE.match(movie)
        out: dict[str, Any] = {"run_id": movie, "movie": movie}
        if parts:
            out["instrument"] = parts["instrument"]
            if parts["cell"]:
                out["cell_slot"] = int(parts["cell"])
        out["files_listed"] = len(parse_transferdone(files[key], movie))
        return out | self.read_facts(platform, files).as_dict()

    def check_expected_files(
        self, platform: str, run_folder: str, files: Mapping[str, bytes], present: set[str]
    ) -> ExpectedFilesReport:
        marker = self._marker(platform, files)
        if marker is None:
            return expected_report([self.completion_marker(platform, run_folder)], present)
        key, movie = marker
        listed = parse_transferdone(files[key], movie)
        if platform == "revio" and not listed:
            raise PlatformFileError(
                f"{key}: lists no files; a Revio transferdone lists the cell's files, so this "
                "cell cannot be checked"
            )
        expected = [key, *listed]
        if platform != "revio":
            datasets = [k for k in files if FACT_FILES[platform].match(k)]
            if not datasets:
                return expected_report([*expected, f"{movie}.*set.xml"], present)
            for name in datasets:
                expected += [name, *dataset_resources(files[name], name, movie)]
        return expected_report(expected, present)
