"""PacBio Revio plate runs: each SMRT cell's files arrive when the cell finishes, and its
`.transferdone`, listing them, is written last.
"""

from __future__ import annotations

import random
from pathlib import Path

from ngs_lake.platforms.pacbio import movie_name
from ngs_lake.simulator.plan import PlannedRun, RunSpec, Timeline, scaled

WELLS = ("A01", "B01", "C01", "D01")
HIFI_BAM_BYTES = 5e9
FAIL_BAM_BYTES = 2e9


def plan_pacbio(spec: RunSpec, rng: random.Random, offset: float = 0.0) -> list[PlannedRun]:
    """One PlannedRun per SMRT cell: each cell is a run of its own downstream."""
    instrument = spec.instrument or "84046"
    run = f"r{instrument}_{spec.start:%Y%m%d_%H%M%S}"
    tiny = spec.scenario == "tiny"
    cells = 1 if tiny else min(4, scaled(4, spec.scale))
    barcodes = 1 if tiny else scaled(8, spec.scale)
    duration = spec.duration_seconds
    runs = []
    for slot, well in enumerate(WELLS[:cells], start=1):
        folder = f"{run}/1_{well}"
        movie = movie_name(instrument, f"{spec.start:%y%m%d_%H%M%S}", slot)
        timeline = Timeline(folder, rng, spec, offset)
        finish = duration * (0.5 + 0.4 * slot / cells)
        files = [f"metadata/{movie}.metadata.xml"]
        timeline.text(finish - duration * 0.05, files[0], _metadata_xml(movie, well))
        for barcode in range(1, barcodes + 1):
            bam = f"hifi_reads/{movie}.hifi_reads.bc20{barcode:02d}.bam"
            timeline.write(
                finish - duration * 0.04,
                bam,
                timeline.size(HIFI_BAM_BYTES / barcodes),
                spread=duration * 0.02,
            )
            timeline.write(
                finish - duration * 0.015,
                f"{bam}.pbi",
                timeline.size(HIFI_BAM_BYTES / barcodes / 200),
            )
            files += [bam, f"{bam}.pbi"]
        fail = f"fail_reads/{movie}.fail_reads.bam"
        timeline.write(finish - duration * 0.03, fail, timeline.size(FAIL_BAM_BYTES))
        summary = f"statistics/{movie}.summary.json"
        timeline.text(
            finish - duration * 0.01, summary, f'{{"movie": "{movie}", "well": "{well}"}}\n'
        )
        files += [fail, summary]
        listed = list(files)

        def render(share: Path, listed: list[str] = listed) -> bytes:
            return ("\n".join(listed) + "\n").encode()

        marker = f"metadata/{movie}.transferdone"
        timeline.rendered(finish, marker, render)
        metadata = {
            "run_id": movie,
            "movie": movie,
            "instrument": instrument,
            "well": well,
            "files_listed": len(listed),
        }
        runs.append(PlannedRun(spec.platform, folder, timeline.steps, metadata, marker))
    return runs


def _metadata_xml(movie: str, well: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<PacBioDataModel><CollectionMetadata Context="{movie}">'
        f'<WellSample Name="{well}"/></CollectionMetadata></PacBioDataModel>\n'
    )
