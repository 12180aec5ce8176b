"""PacBio plate runs: each SMRT cell's files arrive when the cell finishes, and its
`.transferdone` is written last. As real cells show (ngs_lake_tests/data/real_runs):
- Revio: `metadata/<movie>.transferdone` lists the cell's files by absolute instrument paths
  (`/data/icc/<movie>/...`) after two header lines; `metadata.xml` declares UTF-16 and is UTF-8.
- Sequel II/IIe: `<movie>.transferdone` (empty) beside `<movie>.consensusreadset.xml`, whose
  `ExternalResource`s name the cell's files; no `metadata/` folder.
"""

from __future__ import annotations

import random
from pathlib import Path

from ngs_lake.platforms.pacbio import movie_name
from ngs_lake.simulator.plan import PlannedRun, RunSpec, Timeline, scaled
from ngs_lake.simulator.sample_sheets import well_sample_xml

WELLS = ("A01", "B01", "C01", "D01")
HIFI_BAM_BYTES = 5e9
FAIL_BAM_BYTES = 2e9
ICC = "/data/icc"  # where a Revio keeps a cell's files before the transfer


def plan_pacbio(spec: RunSpec, rng: random.Random, offset: float = 0.0) -> list[PlannedRun]:
    """One PlannedRun per SMRT cell: each cell is a run of its own downstream."""
    sequel = spec.platform == "sequel-2"
    instrument = spec.instrument or ("64174e" if sequel else "84046")
    run = f"r{instrument}_{spec.start:%Y%m%d_%H%M%S}"
    tiny = spec.scenario == "tiny"
    cells = 1 if tiny else min(4, scaled(4, spec.scale))
    runs = []
    for slot, well in enumerate(WELLS[:cells], start=1):
        stamp = f"{spec.start:%y%m%d_%H%M%S}"
        movie = f"m{instrument}_{stamp}" if sequel else movie_name(instrument, stamp, slot)
        cell = _CellPlan(spec, rng, offset, f"{run}/1_{well}", movie, slot, cells)
        runs.append(cell.sequel() if sequel else cell.revio(well, tiny))
    return runs


class _CellPlan:
    def __init__(
        self,
        spec: RunSpec,
        rng: random.Random,
        offset: float,
        folder: str,
        movie: str,
        slot: int,
        cells: int,
    ) -> None:
        self.spec, self.folder, self.movie = spec, folder, movie
        self.timeline = Timeline(folder, rng, spec, offset)
        self.duration = spec.duration_seconds
        self.finish = self.duration * (0.5 + 0.4 * slot / cells)

    def _write(self, lead: float, path: str, nominal: float) -> str:
        self.timeline.write(self.finish - self.duration * lead, path, self.timeline.size(nominal))
        return path

    def revio(self, well: str, tiny: bool) -> PlannedRun:
        movie, timeline = self.movie, self.timeline
        barcodes = 1 if tiny else scaled(8, self.spec.scale)
        files = [f"metadata/{movie}.metadata.xml"]
        timeline.text(self.finish - self.duration * 0.05, files[0], _metadata_xml(movie, well))
        for barcode in range(1, barcodes + 1):
            bam = f"hifi_reads/{movie}.hifi_reads.bc20{barcode:02d}.bam"
            files.append(self._write(0.04, bam, HIFI_BAM_BYTES / barcodes))
            files.append(self._write(0.015, f"{bam}.pbi", HIFI_BAM_BYTES / barcodes / 200))
        files.append(self._write(0.03, f"fail_reads/{movie}.fail_reads.bam", FAIL_BAM_BYTES))
        summary = f"statistics/{movie}.summary.json"
        timeline.text(
            self.finish - self.duration * 0.01,
            summary,
            f'{{"movie": "{movie}", "well": "{well}"}}\n',
        )
        files.append(summary)
        listed = list(files)

        def render(share: Path, listed: list[str] = listed) -> bytes:
            header = [
                f"Transfer Manifest nfiles: {len(listed)}",
                f"AcqId {movie} transfer list size : {len(listed)}",
            ]
            return ("\n".join(header + [f"{ICC}/{movie}/{p}" for p in listed]) + "\n").encode()

        marker = f"metadata/{movie}.transferdone"
        timeline.rendered(self.finish, marker, render)
        metadata = {"run_id": movie, "movie": movie, "well": well, "files_listed": len(listed)}
        return PlannedRun(self.spec.platform, self.folder, timeline.steps, metadata, marker)

    def sequel(self) -> PlannedRun:
        movie, timeline = self.movie, self.timeline
        resources = [
            self._write(0.04, f"{movie}.reads.bam", HIFI_BAM_BYTES),
            self._write(0.015, f"{movie}.reads.bam.pbi", HIFI_BAM_BYTES / 200),
            self._write(0.01, f"{movie}.zmw_metrics.json.gz", 5e6),
        ]
        timeline.text(self.finish - self.duration * 0.01, f"{movie}.ccs_reports.json", "{}\n")
        resources.append(f"{movie}.ccs_reports.json")
        dataset = f"{movie}.consensusreadset.xml"
        timeline.text(self.finish - self.duration * 0.005, dataset, _dataset_xml(movie, resources))
        marker = f"{movie}.transferdone"
        timeline.text(self.finish, marker, "")
        metadata = {"run_id": movie, "movie": movie, "files_listed": 0}
        return PlannedRun(self.spec.platform, self.folder, timeline.steps, metadata, marker)


def _metadata_xml(movie: str, well: str) -> str:
    """As a Revio writes it: declared UTF-16, written as UTF-8."""
    return (
        '<?xml version="1.0" encoding="utf-16"?>\n'
        '<PacBioDataModel xmlns="http://pacificbiosciences.com/PacBioDataModel.xsd">'
        f'<CollectionMetadata Context="{movie}" InstrumentId="{movie[1:6]}">'
        f"{well_sample_xml(well, random.Random(f'{movie}/{well}'))}"
        "</CollectionMetadata></PacBioDataModel>\n"
    )


def _dataset_xml(movie: str, resources: list[str]) -> str:
    """A Sequel IIe dataset: a prefixed root, its files as ExternalResources."""
    items = "".join(
        f'<pbbase:ExternalResource MetaType="PacBio.FileTypes.File" ResourceId="{r}"/>'
        for r in resources
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<pbds:ConsensusReadSet xmlns:pbds="http://pacificbiosciences.com/PacBioDatasets.xsd" '
        'xmlns:pbbase="http://pacificbiosciences.com/PacBioBaseDataModel.xsd" '
        'xmlns:pbmeta="http://pacificbiosciences.com/PacBioCollectionMetadata.xsd">'
        f"<pbbase:ExternalResources>{items}</pbbase:ExternalResources>"
        f'<pbds:DataSetMetadata><pbmeta:Collections><pbmeta:CollectionMetadata Context="{movie}" '
        f'InstrumentId="{movie[1:].split("_")[0]}">{well_sample_xml("A01", random.Random(movie))}'
        "</pbmeta:CollectionMetadata></pbmeta:Collections></pbds:DataSetMetadata>"
        "</pbds:ConsensusReadSet>\n"
    )
