"""Oxford Nanopore: PromethION, GridION and MinION (with Flongle) runs written by MinKNOW.

A run is `<experiment>/<sample>/<YYYYMMDD>_<HHMM>_<position>_<flow cell>_<protocol run id:8>`.
MinKNOW writes POD5 (older: FAST5) batches and basecalled FASTQ through the run, then the output
hash list, then `final_summary_<flow cell>_<protocol run id:8>_<acquisition id:8>.txt` last; older
MinKNOW wrote `final_summary_<flow cell>_<id:8>.txt` or a bare `final_summary.txt`, sometimes under
`summary/` (ARCHITECTURE §2). The summary counts the files in their final destination; the hash
list names each one. Flow cells are three letters and five digits (`PAM83464`), Flongles three
and three (`AOZ898`); a MinION's position is its device id (`MN32284`)
(ngs_lake_tests/data/real_runs/20231107_MIN2_26171SS, from EdinburghGenomics/hesiod).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ngs_lake.platforms.base import (
    ExpectedFilesReport,
    InstrumentHashes,
    PlatformFamily,
    PlatformFileError,
    RunFacts,
    RunLocation,
    bare,
    expected_report,
)

FLOWCELL = r"[A-Z]{3}\d{3}(?:\d{2})?"  # PromethION/MinION/GridION: PAM83464; Flongle: AOZ898
RUN_FOLDER = re.compile(
    r"^(?P<date>\d{8})_(?P<time>\d{4})_(?P<position>[A-Za-z0-9-]{1,12})_"
    rf"(?P<flowcell>{FLOWCELL})_(?P<protocol>[0-9a-f]{{8}})$"
)
NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
FINAL_SUMMARY = re.compile(
    rf"^(?:final_summary_{FLOWCELL}_[0-9a-f]{{8}}(?:_[0-9a-f]{{8}})?|(?:summary/)?final_summary)\.txt$"
)
OUTPUT_HASH = re.compile(rf"^output_hash_{FLOWCELL}_[0-9a-f]{{8}}_[0-9a-f]{{8}}\.csv$")


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def run_stem(flowcell: str, protocol: str, acquisition: str) -> str:
    return f"{flowcell}_{protocol}_{acquisition}"


def final_summary_name(stem: str) -> str:
    return f"final_summary_{stem}.txt"


def output_hash_name(stem: str) -> str:
    return f"output_hash_{stem}.csv"


def parse_final_summary(data: bytes) -> dict[str, str]:
    """`key=value` lines, as MinKNOW writes them."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PlatformFileError("final_summary: not UTF-8 text") from None
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise PlatformFileError(f"final_summary: line {number} is not key=value: {line!r}")
        values[key.strip()] = value.strip()
    for required in ("flow_cell_id", "protocol_run_id"):
        if required not in values:
            raise PlatformFileError(f"final_summary: no {required}= line")
    return values


def parse_output_hash(data: bytes) -> dict[str, str]:
    """`filename,sha256` rows (with a header) -> {relative path: sha256}."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    except UnicodeDecodeError:
        raise PlatformFileError("output_hash: not UTF-8 text") from None
    except csv.Error as exc:  # e.g. a field over csv's 128 KiB limit; not a ValueError
        raise PlatformFileError(f"output_hash: not CSV ({exc})") from None
    if not rows or [c.strip() for c in rows[0]] != ["filename", "sha256"]:
        raise PlatformFileError("output_hash: the header must be 'filename,sha256'")
    return {row[0]: row[1] for row in rows[1:] if len(row) == 2}


def _count(values: dict[str, str], key: str) -> int:
    text = values.get(key, "0") or "0"
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise PlatformFileError(f"final_summary: {key}={text!r} is not a whole number")
    return int(text)


class Nanopore(PlatformFamily):
    name = "nanopore"
    run_depth = 3
    folder_layout = "<experiment>/<sample>/<YYYYMMDD>_<HHMM>_<position>_<flow cell>_<8 hex>"
    # POD5 batches close every few minutes at most; an hour of silence means trouble.
    default_stall_window = timedelta(hours=1)

    run_path_pattern = f"{bare(NAME_PART)}/{bare(NAME_PART)}/{bare(RUN_FOLDER)}"

    def completion_marker(self, platform: str, run_folder: str) -> str:
        return "final_summary_*.txt"

    def is_completion_marker(self, platform: str, location: RunLocation) -> bool:
        return bool(FINAL_SUMMARY.match(location.relative_path))

    def metadata_paths(self, platform: str, run_folder: str) -> tuple[str, ...]:
        return ("final_summary*.txt", "summary/final_summary.txt", "output_hash_*.csv")

    def is_fact_file(self, platform: str, relative_path: str) -> bool:
        return bool(FINAL_SUMMARY.match(relative_path))

    def folder_facts(self, run_folder: str) -> RunFacts:
        """The flow cell and the start date, from `<YYYYMMDD>_<HHMM>_<position>_<flow cell>_..`."""
        parts = RUN_FOLDER.match(run_folder.rsplit("/", 1)[-1])
        if parts is None:
            return RunFacts()
        day = parts["date"]
        return RunFacts(flowcell=parts["flowcell"], run_date=f"{day[:4]}-{day[4:6]}-{day[6:]}")

    def read_facts(self, platform: str, files: Mapping[str, bytes]) -> RunFacts:
        """From the final summary, MinKNOW's one file that names the run; it is written last."""
        summary = next((v for k, v in files.items() if FINAL_SUMMARY.match(k)), None)
        if summary is None:
            return RunFacts()
        values = parse_final_summary(summary)
        started = values.get("started", "")
        return RunFacts(
            run_id=values["protocol_run_id"],
            flowcell=values["flow_cell_id"],
            instrument=values.get("instrument") or None,
            run_date=started[:10] if _DATE.match(started) else None,
        )

    def parse_metadata(self, platform: str, files: Mapping[str, bytes]) -> dict[str, Any]:
        summary = next((v for k, v in files.items() if FINAL_SUMMARY.match(k)), None)
        if summary is None:
            return {}
        values = parse_final_summary(summary)
        keep = (
            "instrument",
            "position",
            "flow_cell_id",
            "sample_id",
            "protocol_group_id",
            "protocol",
            "protocol_run_id",
            "acquisition_run_id",
            "started",
            "acquisition_stopped",
            "processing_stopped",
            "basecalling_enabled",
            "pod5_files_in_final_dest",
            "fastq_files_in_final_dest",
        )
        out: dict[str, Any] = {k: values[k] for k in keep if k in values}
        out["flowcell"] = values["flow_cell_id"]
        out["run_id"] = values["protocol_run_id"]
        return out

    def instrument_hashes(
        self, platform: str, files: Mapping[str, bytes]
    ) -> InstrumentHashes | None:
        """MinKNOW's `output_hash_*.csv`: a sha256 per output file, empty for POD5 batches
        (MinKNOW writes the hash list before final_summary)."""
        hash_name = next((k for k in files if OUTPUT_HASH.match(k)), None)
        if hash_name is None:
            return None
        listed = parse_output_hash(files[hash_name])
        return InstrumentHashes(hash_name, {p: d.strip().lower() for p, d in listed.items()})

    def check_expected_files(
        self, platform: str, run_folder: str, files: Mapping[str, bytes], present: set[str]
    ) -> ExpectedFilesReport:
        summary_name = next((k for k in files if FINAL_SUMMARY.match(k)), None)
        hash_name = next((k for k in files if OUTPUT_HASH.match(k)), None)
        if summary_name is None:
            return expected_report(["final_summary_*.txt"], present)
        expected = {summary_name}
        if hash_name is not None:
            expected |= {hash_name, *parse_output_hash(files[hash_name])}
        report = expected_report(expected, present)
        # The summary's own counts catch files the hash list never saw.
        values = parse_final_summary(files[summary_name])
        shortfalls = []
        for key, suffixes in (
            ("pod5_files_in_final_dest", (".pod5",)),
            ("fast5_files_in_final_dest", (".fast5",)),
            ("fastq_files_in_final_dest", (".fastq", ".fastq.gz")),
        ):
            want = _count(values, key)
            have = sum(1 for p in present if p.endswith(suffixes))
            if have < want:
                shortfalls.append(f"{key}={want} but {have} present")
        return ExpectedFilesReport(report.expected, report.missing + tuple(shortfalls))
