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
from datetime import datetime, timedelta
from typing import Any, Literal

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
from ngs_lake.platforms.illumina_run_info import (
    MAX_CYCLES_PER_READ,
    MAX_EXPECTED_FILES,
    MAX_LANES,
    MAX_READS,
    MAX_SECTIONS_PER_LANE,
    MAX_SURFACES,
    MAX_SWATHS,
    MAX_TILES,
    MAX_TILES_PER_LANE,
    MAX_TILES_PER_SWATH,
    RUN_INFO,
    Read,
    RunInfo,
    parse_run_date,
    parse_run_info,
    tile_names,
)

__all__ = [
    "MAX_CYCLES_PER_READ",
    "MAX_EXPECTED_FILES",
    "MAX_LANES",
    "MAX_READS",
    "MAX_SECTIONS_PER_LANE",
    "MAX_SURFACES",
    "MAX_SWATHS",
    "MAX_TILES",
    "MAX_TILES_PER_LANE",
    "MAX_TILES_PER_SWATH",
    "RUN_INFO",
    "RUN_PARAMETERS",
    "Read",
    "RunInfo",
    "RunParameters",
    "parse_run_date",
    "parse_run_info",
    "parse_run_parameters",
    "tile_names",
]

OutputFormat = Literal["cbcl", "bcl", "bcl.bgzf"]
BASECALLS = "Data/Intensities/BaseCalls"
FILTER_CYCLE = 26  # RTA writes the per-tile filter files once cycle 26 is done

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
