"""Sample sheets as the instruments' software writes them (issue #31): BCL Convert v2 sheets (with
`[Cloud_Data]`, as BaseSpace and the NovaSeq X control software export them) for Illumina, an
IEM v1 sheet on the MiSeq, an Element `RunManifest.csv`, and PacBio's WellSample with its
BioSamples. Indexes are drawn so every two in a lane differ in at least 3 places (a demultiplexer
allowing one mismatch tells them apart); OverrideCycles follows the run's own reads.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

SHEET_PATHS = ("SampleSheet.csv", "RunManifest.csv")
MIN_DISTANCE = 3


def draw_indexes(rng: random.Random, count: int, length: int) -> list[str]:
    """`count` indexes, 3 apart where the length allows it (a tiny run's 2-cycle index reads
    cannot: its sheet may then be invalid, as a real one would be)."""
    chosen: list[str] = []
    need = min(MIN_DISTANCE, length)
    for _ in range(count * 1000):
        if len(chosen) == count:
            break
        candidate = "".join(rng.choice("ACGT") for _ in range(length))
        if all(sum(a != b for a, b in zip(candidate, c, strict=True)) >= need for c in chosen):
            chosen.append(candidate)
    while len(chosen) < count:
        chosen.append("".join(rng.choice("ACGT") for _ in range(length)))
    return chosen


def index_pairs(
    rng: random.Random, count: int, index_reads: Sequence[int], longest: int
) -> tuple[list[str], list[str]]:
    """Index 1 (and 2) for `count` samples. A scaled-down run's index reads are a few cycles:
    then every (index, index2) pair is a different one (the sheet allows no mismatch), as many
    as there are; else indexes 3 apart."""
    lengths = [min(c, longest) for c in index_reads[:2]] or [8]
    if lengths[0] >= 6:
        i1 = draw_indexes(rng, count, lengths[0])
        return i1, draw_indexes(rng, count, lengths[1]) if len(lengths) > 1 else []
    combos = list(itertools.product(*(itertools.product("ACGT", repeat=n) for n in lengths)))
    rng.shuffle(combos)
    chosen = combos[:count] * (count // len(combos) + 1)  # never fewer rows than samples
    pairs = [tuple("".join(part) for part in combo) for combo in chosen[:count]]
    return [p[0] for p in pairs], [p[1] for p in pairs] if len(lengths) > 1 else []


def _samples(rng: random.Random, run_number: int, count: int) -> list[tuple[str, str]]:
    """(sample id, project): LIMS-style ids, two or three projects per run."""
    projects = [f"PRJ{rng.randint(100, 999)}" for _ in range(rng.randint(2, 3))]
    return [
        (f"R{run_number:04d}-S{n:03d}", projects[n % len(projects)]) for n in range(1, count + 1)
    ]


def render_v2_sheet(
    run_id: str,
    platform_name: str,
    reads: Sequence[tuple[int, bool]],
    lanes: int,
    rng: random.Random,
    run_number: int,
) -> str:
    """`reads`: (cycles, is_index) in RunInfo's order; samples in every lane."""
    index_reads = [c for c, is_index in reads if is_index]
    samples = _samples(rng, run_number, rng.randint(4, 12))
    i1, i2 = index_pairs(rng, len(samples), index_reads, 10)
    used = iter([len(i1[0]) if i1 else 0, len(i2[0]) if i2 else 0])
    override = ";".join(
        _override(c, is_index, next(used) if is_index else c) for c, is_index in reads
    )
    names = ["Read1Cycles", "Read2Cycles"]
    non_index = [c for c, is_index in reads if not is_index]
    lines = [
        "[Header]",
        "FileFormatVersion,2",
        f"RunName,{run_id}",
        f"InstrumentPlatform,{platform_name}",
        "IndexOrientation,Forward",
        "",
        "[Reads]",
    ]
    lines += [f"{n},{c}" for n, c in zip(names, non_index, strict=False)]
    lines += [f"Index{k + 1}Cycles,{c}" for k, c in enumerate(index_reads)]
    lines += [
        "",
        "[BCLConvert_Settings]",
        "SoftwareVersion,4.2.7",
        f"OverrideCycles,{override}",
        "FastqCompressionFormat,gzip",
        *_mismatches(i1),
        "",
        "[BCLConvert_Data]",
        "Lane,Sample_ID,Index" + (",Index2" if i2 else "") + ",Sample_Project",
    ]
    for lane in range(1, lanes + 1):
        for n, (sample, project) in enumerate(samples):
            second = f",{i2[n]}" if i2 else ""
            lines.append(f"{lane},{sample},{i1[n]}{second},{project}")
    lines += [
        "",
        "[Cloud_Settings]",
        "GeneratedVersion,1.12.0.202401022340",
        "",
        "[Cloud_Data]",
        "Sample_ID,ProjectName,LibraryName",
    ]
    lines += [f"{s},{p},{s}_{i1[n]}" for n, (s, p) in enumerate(samples)]
    return "\n".join(lines) + "\n"


def _mismatches(indexes: list[str]) -> list[str]:
    """A scaled-down run's index reads are a few cycles long: too short for one mismatch to
    keep samples apart, so the sheet allows none (as a lab would)."""
    if indexes and len(indexes[0]) < 6:
        return ["BarcodeMismatchesIndex1,0", "BarcodeMismatchesIndex2,0"]
    return []


def _override(cycles: int, is_index: bool, used: int) -> str:
    if not is_index:
        return f"Y{cycles}"
    return f"I{used}" + (f"N{cycles - used}" if cycles > used else "")


def render_v1_sheet(
    run_id: str, reads: Sequence[tuple[int, bool]], rng: random.Random, run_number: int
) -> str:
    """An Illumina Experiment Manager (v1) sheet, as MiSeq runs are still set up."""
    index_reads = [c for c, is_index in reads if is_index]
    samples = _samples(rng, run_number, rng.randint(4, 16))
    i1, i2 = index_pairs(rng, len(samples), index_reads, 8)
    lines = [
        "[Header]",
        "IEMFileVersion,4",
        f"Experiment Name,{run_id}",
        "Date,11/29/2026",
        "Workflow,GenerateFASTQ",
        "Application,FASTQ Only",
        "Assay,Nextera XT",
        "Chemistry,Amplicon",
        "",
        "[Reads]",
    ]
    lines += [str(c) for c, is_index in reads if not is_index]
    lines += [
        "",
        "[Settings]",
        "ReverseComplement,0",
        *_mismatches(i1),
        "",
        "[Data]",
        "Sample_ID,Sample_Name,Sample_Plate,Sample_Well,I7_Index_ID,index,I5_Index_ID,"
        "index2,Sample_Project,Description",
    ]
    for n, (sample, project) in enumerate(samples):
        second = i2[n] if i2 else ""
        lines.append(
            f"{sample},{sample},Plate1,A{n + 1:02d},N7{n:02d},{i1[n]},S5{n:02d},{second},{project},"
        )
    return "\n".join(lines) + "\n"


def render_run_manifest(run_name: str, lanes: str, rng: random.Random, run_number: int) -> str:
    """An Element AVITI RunManifest.csv: samples on both lanes (`1+2`)."""
    samples = _samples(rng, run_number, rng.randint(4, 12))
    i1, i2 = draw_indexes(rng, len(samples), 8), draw_indexes(rng, len(samples), 8)
    lines = [
        "[RUNVALUES]",
        "KeyName,Value",
        f"run_name,{run_name}",
        "",
        "[SETTINGS]",
        "SettingName,Value",
        "R1Adapter,AGATCGGAAGAGCACACGTCTGAACTCCAGTCA",
        "R2Adapter,AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT",
        "",
        "[SAMPLES]",
        "SampleName,Index1,Index2,Lane,Project",
    ]
    lines += [f"{s},{i1[n]},{i2[n]},{lanes},{p}" for n, (s, p) in enumerate(samples)]
    return "\n".join(lines) + "\n"


def well_sample_xml(well: str, rng: random.Random, prefix: str = "") -> str:
    """PacBio's WellSample (the library in the well) and its barcoded BioSamples."""
    count = rng.randint(1, 4)
    bios = "".join(
        f'<{prefix}BioSample Name="BS{rng.randint(10**7, 10**8 - 1)}"><{prefix}DNABarcodes>'
        f'<{prefix}DNABarcode Name="bc20{n:02d}--bc20{n:02d}"/></{prefix}DNABarcodes>'
        f"</{prefix}BioSample>"
        for n in range(1, count + 1)
    )
    return (
        f'<WellSample Name="Lib-{well}-{rng.randint(1000, 9999)}">'
        f'<BioSamples xmlns="http://pacificbiosciences.com/PacBioSampleInfo.xsd">{bios}</BioSamples>'
        "</WellSample>"
    )


def revised(content: bytes) -> bytes | None:
    """The sheet a lab writes again after the run, its first sample renamed (None: a sheet
    this cannot revise)."""
    header, newline, rows = content.partition(b"\n")
    for old, new in ((b"-S001,", b"-S001R,"), (b",sample_", b",sampleR_")):
        if old in rows:
            return header + newline + rows.replace(old, new, 1)
    return None
