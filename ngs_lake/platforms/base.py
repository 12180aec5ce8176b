"""The one small interface every instrument family implements.

A family knows where a run folder sits in a share, which file marks the run complete, how to read
its metadata, which files a complete run must hold, and how long a run may be silent before it
counts as stalled. Pure: no AWS, no Dagster, no file system.
"""

from __future__ import annotations

import fnmatch
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any


class PlatformFileError(ValueError):
    """An instrument file that cannot be read; the message names the file and what is wrong.

    `parse_metadata` and `check_expected_files` raise it for a file they cannot parse or that
    declares more than an instrument writes. It is a ValueError, and callers treat any
    ValueError from those two methods alike (a file that was read but cannot be trusted), so a
    number or a decode a family did not wrap still fails closed; nothing else is raised for a
    file's content.
    """


@dataclass(frozen=True)
class RunLocation:
    """Where a share key falls: its run folder (within the share) and its path inside that run."""

    run_folder: str
    relative_path: str

    @property
    def is_run_folder_itself(self) -> bool:
        return self.relative_path == ""


@dataclass(frozen=True)
class InstrumentHashes:
    """The instrument's own digests: `sha256` is {relative path: hex}, "" where the instrument
    listed a file without hashing it; `file` is the run's path of the list itself."""

    file: str
    sha256: dict[str, str]


@dataclass(frozen=True)
class ExpectedFilesReport:
    expected: int
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing

    def summary(self, first: int = 5) -> str:
        if self.complete:
            return f"all {self.expected} expected files present"
        shown = ", ".join(self.missing[:first])
        more = f" and {len(self.missing) - first} more" if len(self.missing) > first else ""
        return f"{len(self.missing)} of {self.expected} expected files missing: {shown}{more}"


@dataclass(frozen=True)
class RunFacts:
    """What a lab searches a run by, read from its first metadata file (issue #34): the same
    five facts for every family, each None where the family's files do not say it."""

    run_id: str | None = None
    flowcell: str | None = None
    instrument: str | None = None
    run_date: str | None = None  # YYYY-MM-DD, as the file dates the run (instrument-local or UTC)
    geometry: str | None = None  # reads in order, e.g. "R1:151 I1:8 I2:8 R2:151"; None: long reads

    def as_dict(self) -> dict[str, str]:
        """The facts that are known, for the ledger and messages."""
        return {k: v for k, v in self.__dict__.items() if v}


def bare(pattern: re.Pattern[str]) -> str:
    """A whole-name regex without its anchors, to compose into a path pattern."""
    return pattern.pattern.removeprefix("^").removesuffix("$")


def expected_report(expected: Iterable[str], present: set[str]) -> ExpectedFilesReport:
    wanted = sorted(set(expected))
    return ExpectedFilesReport(len(wanted), tuple(p for p in wanted if p not in present))


class PlatformFamily(ABC):
    """Knowledge of one instrument family, shared by recognition, verification and the simulator."""

    name: str
    run_depth: int
    default_stall_window: timedelta
    folder_layout: str  # the run folder's shape, for people: named when a folder matches none

    def locate(self, key: str) -> RunLocation | None:
        """The run a share key belongs to, or None for a stray key outside any run folder.

        Directory objects end with `/`; a key shorter than the run depth is a parent folder of
        runs, not part of one.
        """
        parts = [p for p in key.strip("/").split("/") if p]
        if len(parts) < self.run_depth or not self.is_run_path(parts[: self.run_depth]):
            return None
        return RunLocation("/".join(parts[: self.run_depth]), "/".join(parts[self.run_depth :]))

    # The run folder's path (its `run_depth` components joined by "/") as one unanchored regex,
    # in the syntax Python's `re` and Rust's `regex` (polars) share, so the catalogue can map
    # millions of inventory keys to runs at once with the very rule recognition uses here.
    run_path_pattern: str

    @cached_property
    def _run_path(self) -> re.Pattern[str]:
        return re.compile(self.run_path_pattern)

    def is_run_path(self, parts: list[str]) -> bool:
        """Whether these `run_depth` path components name a run folder of this family."""
        return self._run_path.fullmatch("/".join(parts)) is not None

    @abstractmethod
    def completion_marker(self, platform: str, run_folder: str) -> str:
        """The file (relative to the run folder) written last, once the run is complete."""

    def is_completion_marker(self, platform: str, location: RunLocation) -> bool:
        return location.relative_path == self.completion_marker(platform, location.run_folder)

    @abstractmethod
    def metadata_paths(self, platform: str, run_folder: str) -> tuple[str, ...]:
        """Files (relative to the run folder) whose content describes the run."""

    def is_fact_file(self, platform: str, relative_path: str) -> bool:
        """Whether this file of a run carries its facts (read at ingest, when it lands)."""
        return any(
            fnmatch.fnmatchcase(relative_path, pattern)
            for pattern in self.metadata_paths(platform, "")
        )

    def folder_facts(self, run_folder: str) -> RunFacts:
        """What the run folder's own name says (present on every event of the run, so known from
        its first); a fact read from the run's files replaces it."""
        return RunFacts()

    @abstractmethod
    def read_facts(self, platform: str, files: Mapping[str, bytes]) -> RunFacts:
        """The run's facts from whichever of its fact files are given.

        Raises PlatformFileError (a ValueError) for a file it cannot parse.
        """

    @abstractmethod
    def parse_metadata(self, platform: str, files: Mapping[str, bytes]) -> dict[str, Any]:
        """A flat, JSON-ready summary of the run from its metadata files (those present).

        Raises PlatformFileError (a ValueError) for a file it cannot parse.
        """

    def instrument_hashes(
        self, platform: str, files: Mapping[str, bytes]
    ) -> InstrumentHashes | None:
        """The hashes the instrument wrote for its own files, from the metadata files in
        `files`; None for a family whose instruments ship no checksums (Illumina, Element,
        PacBio) or a run without its hash file.

        Raises PlatformFileError (a ValueError) for a hash file it cannot parse.
        """
        return None

    @abstractmethod
    def check_expected_files(
        self,
        platform: str,
        run_folder: str,
        files: Mapping[str, bytes],
        present: set[str],
    ) -> ExpectedFilesReport:
        """The files a complete run must hold, judged from its own metadata, and which are missing.

        `files` holds the content of the metadata (and marker) files; `present` every relative
        path the run has. Raises PlatformFileError (a ValueError) for a file it cannot parse or
        whose geometry is beyond the instrument's, before listing any expected path.
        """
