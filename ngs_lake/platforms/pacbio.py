"""PacBio Revio: one run folder per plate run, one SMRT cell folder per cell, each its own run.

`r<instrument>_<YYYYMMDD>_<HHMMSS>/<plate>_<well>` (e.g. `r84046_20231116_153000/1_A01`). A cell's
data arrives when that cell finishes, and `metadata/<movie>.transferdone` is written last: it
lists the files of the transfer, so the check is per cell, against that list.
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
    RunLocation,
    bare,
    expected_report,
)

RUN_FOLDER = re.compile(r"^r(?P<instrument>\d{5}[A-Za-z]?)_(?P<date>\d{8})_(?P<time>\d{6})$")
CELL_FOLDER = re.compile(r"^(?P<plate>[1-4])_(?P<well>[A-D]0[1-9])$")
MOVIE = re.compile(
    r"^m(?P<instrument>\d{5}[A-Za-z]?)_(?P<date>\d{6})_(?P<time>\d{6})_s(?P<cell>[1-4])$"
)
TRANSFERDONE = re.compile(r"^metadata/(?P<movie>m[^/]+)\.transferdone$")


def movie_name(instrument: str, stamp: str, cell_number: int) -> str:
    """`m84046_231116_153611_s1`, from the instrument, `YYMMDD_HHMMSS` and the cell slot."""
    return f"m{instrument}_{stamp}_s{cell_number}"


def parse_transferdone(data: bytes) -> list[str]:
    """The transferred files, one path (relative to the cell folder) per line."""
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise PlatformFileError(".transferdone: not UTF-8 text") from None
    paths = [line.strip() for line in lines if line.strip()]
    bad = [p for p in paths if p.startswith("/") or ".." in p.split("/")]
    if bad:
        raise PlatformFileError(f".transferdone: paths must stay inside the cell folder: {bad[0]}")
    return paths


class PacBio(PlatformFamily):
    name = "pacbio"
    run_depth = 2
    # Revio writes a cell's data only when the cell ends, up to 30 hours after it starts.
    default_stall_window = timedelta(hours=36)

    run_path_pattern = f"{bare(RUN_FOLDER)}/{bare(CELL_FOLDER)}"

    def completion_marker(self, platform: str, run_folder: str) -> str:
        return "metadata/*.transferdone"

    def is_completion_marker(self, platform: str, location: RunLocation) -> bool:
        return bool(TRANSFERDONE.match(location.relative_path))

    def metadata_paths(self, platform: str, run_folder: str) -> tuple[str, ...]:
        return ("metadata/*.transferdone", "metadata/*.metadata.xml")

    def parse_metadata(self, platform: str, files: Mapping[str, bytes]) -> dict[str, Any]:
        marker = next((k for k in files if TRANSFERDONE.match(k)), None)
        if marker is None:
            return {}
        movie = TRANSFERDONE.match(marker)["movie"]  # type: ignore[index]
        parts = MOVIE.match(movie)
        out: dict[str, Any] = {"run_id": movie, "movie": movie}
        if parts:
            out |= {"instrument": parts["instrument"], "cell_slot": int(parts["cell"])}
        out["files_listed"] = len(parse_transferdone(files[marker]))
        return out

    def check_expected_files(
        self, platform: str, run_folder: str, files: Mapping[str, bytes], present: set[str]
    ) -> ExpectedFilesReport:
        marker = next((k for k in files if TRANSFERDONE.match(k)), None)
        if marker is None:
            return expected_report(["metadata/*.transferdone"], present)
        return expected_report([marker, *parse_transferdone(files[marker])], present)
