"""Illumina runs in the instrument's order: RunInfo.xml and RunParameters.xml first, base calls
cycle by cycle, filter files at cycle 26, InterOp rewritten throughout, RTAComplete.txt, then
the completion marker. Paths come from `ngs_lake.platforms.illumina`, the same functions the
expected-file check uses, so simulator and recognition cannot drift apart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from ngs_lake.platforms import PLATFORMS
from ngs_lake.platforms.illumina import (
    FILTER_CYCLE,
    MODELS,
    RUN_INFO,
    RUN_PARAMETERS,
    Read,
    RunInfo,
    cycle_files,
    filter_files,
    run_folder_name,
    tile_names,
)
from ngs_lake.simulator.plan import PlannedRun, RunSpec, Timeline, alnum, scaled
from ngs_lake.simulator.sample_sheets import render_v1_sheet, render_v2_sheet


@dataclass(frozen=True)
class FullGeometry:
    """A real flow cell's geometry and the nominal size of its files."""

    lanes: int
    surfaces: int
    swaths: int
    tiles: int
    reads: tuple[tuple[int, bool], ...]  # (cycles, is_index)
    run_info_version: int
    instrument: str
    data_file_bytes: float  # one CBCL / BCL / BGZF file
    filter_file_bytes: float
    sections_per_lane: int = 1


FULL: dict[str, FullGeometry] = {
    # NovaSeq X 25B: 2x151+10+10 -> 5,152 CBCLs and 6,272 filter files.
    "novaseq-x": FullGeometry(
        8, 2, 4, 98, ((151, False), (10, True), (10, True), (151, False)), 6, "LH00123", 500e6, 4e6
    ),
    "novaseq-6000": FullGeometry(
        4, 2, 6, 78, ((151, False), (10, True), (10, True), (151, False)), 5, "A00123", 300e6, 3e6
    ),
    "nextseq-2000": FullGeometry(
        2, 2, 6, 16, ((151, False), (10, True), (10, True), (151, False)), 6, "VH00123", 150e6, 2e6
    ),
    "nextseq-550": FullGeometry(
        4,
        2,
        3,
        12,
        ((151, False), (8, True), (8, True), (151, False)),
        4,
        "NB551234",
        60e6,
        10e6,
        sections_per_lane=3,
    ),
    "miseq": FullGeometry(
        1, 2, 1, 19, ((301, False), (8, True), (8, True), (301, False)), 2, "M01234", 650e3, 650e3
    ),
    # NextSeq 1000 P2: one lane (as the NextSeq 2000 P1/P2), RunInfo 6.
    "nextseq-1000": FullGeometry(
        1, 2, 6, 16, ((151, False), (10, True), (10, True), (151, False)), 6, "VH01234", 150e6, 2e6
    ),
    # MiniSeq: one lane, 2 surfaces x 3 swaths x 10 tiles, FiveDigit names, RunInfo 4
    # (real_runs/160607_ML-PT1-15_0009_A000H02MFC).
    "miniseq": FullGeometry(
        1,
        2,
        3,
        10,
        ((151, False), (8, True), (8, True), (151, False)),
        4,
        "MN00123",
        30e6,
        5e6,
        sections_per_lane=1,
    ),
    # iSeq 100: one lane, one surface, 16 tiles.
    "iseq-100": FullGeometry(
        1, 1, 1, 16, ((151, False), (8, True), (8, True), (151, False)), 5, "FS10000123", 20e6, 1e6
    ),
}

TINY_READS = ((3, False), (1, True), (1, True), (3, False))
INTEROP = (
    "ExtractionMetricsOut.bin",
    "QMetricsOut.bin",
    "TileMetricsOut.bin",
    "ErrorMetricsOut.bin",
)


def scaled_run_info(
    platform: str, spec: RunSpec, run_id: str, flowcell: str, number: int
) -> RunInfo:
    """The geometry of the simulated run; its RunInfo.xml describes exactly this."""
    full = FULL[platform]
    tiny = spec.scenario == "tiny"
    lanes = 1 if tiny else min(full.lanes, scaled(full.lanes, spec.scale))
    swaths = 1 if tiny else min(full.swaths, scaled(full.swaths, spec.scale))
    tiles = 2 if tiny else min(full.tiles, scaled(full.tiles, spec.scale))
    read_plan = (
        TINY_READS
        if tiny
        else tuple((scaled(c, spec.scale), is_index) for c, is_index in full.reads)
    )
    naming = "FiveDigit" if full.sections_per_lane > 1 else "FourDigit"
    sections = 1 if tiny else full.sections_per_lane
    return RunInfo(
        version=full.run_info_version,
        run_id=run_id,
        instrument=spec.instrument or full.instrument,
        run_number=number,
        flowcell=flowcell,
        date=spec.start.replace(microsecond=0, tzinfo=None),
        lane_count=lanes,
        surface_count=full.surfaces,
        swath_count=swaths,
        tile_count=tiles,
        sections_per_lane=sections,
        tile_naming=naming,
        tiles=tile_names(
            lane_count=lanes,
            surface_count=full.surfaces,
            swath_count=swaths,
            tile_count=tiles,
            sections_per_lane=sections,
            naming=naming,
        ),
        tiles_declared=full.run_info_version >= 4,
        reads=[Read(number=i + 1, cycles=c, is_index=x) for i, (c, x) in enumerate(read_plan)],
    )


def plan_illumina(
    spec: RunSpec, rng: random.Random, side: str = "A", offset: float = 0.0
) -> PlannedRun:
    platform = spec.platform
    model = MODELS[platform]
    full = FULL[platform]
    instrument = spec.instrument or full.instrument
    number = spec.run_number or rng.randint(1, 999)
    flowcell = _flowcell_id(platform, rng)
    folder_flowcell = f"{side}{flowcell}" if platform in ("novaseq-x", "novaseq-6000") else flowcell
    run_folder = run_folder_name(spec.start, instrument, number, folder_flowcell)
    info = scaled_run_info(platform, spec, run_folder, flowcell, number)
    timeline = Timeline(run_folder, rng, spec, offset)
    duration = spec.duration_seconds
    sequencing_end = duration * 0.9
    cycle_seconds = sequencing_end / info.total_cycles

    timeline.text(0.0, RUN_INFO, render_run_info(info))
    timeline.text(0.0, RUN_PARAMETERS, render_run_parameters(platform, info, side))
    timeline.text(0.0, "SampleSheet.csv", render_sample_sheet(platform, info, spec.seed))
    data_size = timeline.size(full.data_file_bytes)
    filter_size = timeline.size(full.filter_file_bytes)
    for cycle, path in cycle_files(model, info):
        timeline.write(cycle * cycle_seconds, path, data_size, spread=cycle_seconds * 0.8)
    filter_at = min(FILTER_CYCLE, info.total_cycles) * cycle_seconds
    for path in filter_files(model, info):
        timeline.write(filter_at, path, filter_size)
    # InterOp grows through the run, appended every few cycles.
    every = max(1, info.total_cycles // 10)
    for cycle in range(1, info.total_cycles + 1, every):
        for name in INTEROP:
            at = cycle * cycle_seconds
            if cycle == 1:
                timeline.text(at, f"InterOp/{name}", bytes([2, 32]) + bytes(30))
            else:
                timeline.append(at, f"InterOp/{name}", 32)
    timeline.text(duration * 0.05, "Logs/Sequencing.log", f"{spec.start.isoformat()} run started\n")
    for marker, fraction in zip(model.markers_before, (0.93, 0.95), strict=False):
        timeline.text(duration * fraction, marker, _marker_content(marker, spec.start))
    if platform in RTA2_VERDICT:  # NCS 2 writes its verdict beside RTAComplete.txt
        status = "RunCompletionStatus.xml"
        timeline.text(duration * 0.99, status, _marker_content(status, spec.start))
    timeline.text(
        duration, model.completion_marker, _marker_content(model.completion_marker, spec.start)
    )
    metadata = {
        "run_id": info.run_id,
        "instrument": info.instrument,
        "run_number": info.run_number,
        "flowcell": info.flowcell,
        "lanes": info.lane_count,
        "surfaces": info.surface_count,
        "tiles": len(info.tiles),
        "cycles": info.total_cycles,
        "reads": [r.model_dump() for r in info.reads],
    }
    return PlannedRun(platform, run_folder, timeline.steps, metadata, model.completion_marker)


# NextSeq 500/550 and MiniSeq (NCS 2, RTA 2) write RunCompletionStatus.xml as well as
# RTAComplete.txt; RTAComplete.txt completes the run (platforms/illumina.py says why).
RTA2_VERDICT = ("nextseq-550", "miniseq")


def render_run_info(info: RunInfo) -> str:
    """RunInfo.xml as the instrument generation of this version writes it."""
    version = info.version or 2
    if version >= 6:
        date = f"{info.date:%Y-%m-%dT%H:%M:%S}Z" if info.date else ""
    elif version == 5:
        date = f"{info.date:%-m/%-d/%Y %-I:%M:%S %p}" if info.date else ""
    else:
        date = f"{info.date:%y%m%d}" if info.date else ""
    reads = "\n".join(
        f'\t\t\t<Read Number="{r.number}" NumCycles="{r.cycles}" '
        f'IsIndexedRead="{"Y" if r.is_index else "N"}"'
        + (
            f' IsReverseComplement="{"Y" if r.is_reverse_complement else "N"}"'
            if version >= 6
            else ""
        )
        + "/>"
        for r in info.reads
    )
    sections = (
        f' SectionPerLane="{info.sections_per_lane}" LanePerSection="2"'
        if info.tile_naming == "FiveDigit"
        else ""
    )
    layout_open = (
        f'\t\t<FlowcellLayout LaneCount="{info.lane_count}" SurfaceCount="{info.surface_count}" '
        f'SwathCount="{info.swath_count}" TileCount="{info.tile_count}"{sections}'
    )
    if info.tiles_declared:
        tiles = "\n".join(f"\t\t\t\t\t<Tile>{t}</Tile>" for t in info.tiles)
        layout = (
            f'{layout_open}>\n\t\t\t<TileSet TileNamingConvention="{info.tile_naming}">\n'
            f"\t\t\t\t<Tiles>\n{tiles}\n\t\t\t\t</Tiles>\n\t\t\t</TileSet>\n\t\t</FlowcellLayout>"
        )
    else:
        layout = f"{layout_open} />"
    return (
        f'<?xml version="1.0"?>\n<RunInfo Version="{version}">\n'
        f'\t<Run Id="{info.run_id}" Number="{info.run_number}">\n'
        f"\t\t<Flowcell>{info.flowcell}</Flowcell>\n"
        f"\t\t<Instrument>{info.instrument}</Instrument>\n"
        f"\t\t<Date>{date}</Date>\n"
        f"\t\t<Reads>\n{reads}\n\t\t</Reads>\n"
        f"{layout}\n\t</Run>\n</RunInfo>\n"
    )


APPLICATIONS = {
    "novaseq-x": ("NovaSeq X Series Control Software", "1.2.0.28691"),
    "novaseq-6000": ("NovaSeq Control Software", "1.7.5"),
    "nextseq-2000": ("NextSeq 1000/2000 Control Software", "1.5.0.42699"),
    "nextseq-1000": ("NextSeq 1000/2000 Control Software", "1.5.0.42699"),
    "nextseq-550": ("NextSeq Control Software", "4.0.1.41"),
    "miniseq": ("MiniSeq Control Software", "2.2.0.4"),
    "miseq": ("MiSeq Control Software", "4.0.0.1769"),
    "iseq-100": ("iSeq Control Software", "2.0.0"),
}


def render_run_parameters(platform: str, info: RunInfo, side: str) -> str:
    application, version = APPLICATIONS[platform]
    return (
        '<?xml version="1.0"?>\n<RunParameters>\n'
        f"  <RunId>{info.run_id}</RunId>\n"
        f"  <Side>{side}</Side>\n"
        f"  <Application>{application}</Application>\n"
        f"  <ApplicationVersion>{version}</ApplicationVersion>\n"
        f"  <Chemistry>{'XLEAP-SBS' if platform == 'novaseq-x' else 'SBS'}</Chemistry>\n"
        f"  <ExperimentName>sim-{info.flowcell}</ExperimentName>\n"
        f"  <InstrumentSerialNumber>{info.instrument}</InstrumentSerialNumber>\n"
        f"  <RtaVersion>4.6.7</RtaVersion>\n"
        "</RunParameters>\n"
    )


def render_sample_sheet(platform: str, info: RunInfo, seed: int) -> str:
    """A v1 (IEM) sheet on the MiSeq, as its runs are still set up; BCL Convert v2 elsewhere.
    Its own random draws, so the sheet changes nothing else the seed decides."""
    rng = random.Random(f"{seed}/{info.run_id}/samplesheet")
    reads = [(r.cycles, r.is_index) for r in info.reads]
    if platform == "miseq":
        return render_v1_sheet(info.run_id, reads, rng, info.run_number)
    name = PLATFORMS[platform].model.replace(" ", "")
    return render_v2_sheet(info.run_id, name, reads, info.lane_count, rng, info.run_number)


def _marker_content(marker: str, start: datetime) -> str:
    if marker.endswith(".xml"):
        return (
            '<?xml version="1.0"?>\n<RunCompletionStatus><CompletionStatus>CompletedAsPlanned'
            "</CompletionStatus></RunCompletionStatus>\n"
        )
    return f"{start:%Y-%m-%d %H:%M:%S}\n"


def _flowcell_id(platform: str, rng: random.Random) -> str:
    if platform == "miseq":
        return f"000000000-{alnum(rng, 5)}"
    if platform == "novaseq-x":
        return f"22{alnum(rng, 5)}LT{rng.randint(1, 9)}"
    if platform in ("nextseq-2000", "nextseq-1000"):
        return f"AA{alnum(rng, 5)}M5"
    if platform == "miniseq":
        return f"000H{alnum(rng, 5)}"
    if platform == "iseq-100":  # as in `20190730_FS10000507_18_BPC29604-1714`
        return f"BPC{rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}"
    if platform == "nextseq-550":
        return f"H{alnum(rng, 4)}BGX{rng.randint(1, 9)}"
    return f"H{alnum(rng, 4)}DSX{rng.choice('YZ')}"
