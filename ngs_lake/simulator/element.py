"""Element AVITI runs: RunParameters.json first, one base-call archive per read cycle, and
RunUploaded.json, carrying the outcome, last.
"""

from __future__ import annotations

import json
import random

from ngs_lake.platforms.element import (
    RUN_MANIFEST,
    RUN_PARAMETERS,
    RUN_UPLOADED,
    cycle_archive,
)
from ngs_lake.simulator.plan import PlannedRun, RunSpec, Timeline, hex_id, scaled
from ngs_lake.simulator.sample_sheets import render_run_manifest

FULL_CYCLES = {"I1": 8, "I2": 8, "R1": 151, "R2": 151}
ARCHIVE_BYTES = 800e6


def plan_element(spec: RunSpec, rng: random.Random, offset: float = 0.0) -> PlannedRun:
    instrument = spec.instrument or "AV224503"
    run_name = f"Sim-{hex_id(rng, 4)}"
    folder = f"{spec.start:%Y%m%d}_{instrument}_{run_name}"
    tiny = spec.scenario == "tiny"
    cycles = {r: (2 if tiny else scaled(c, spec.scale)) for r, c in FULL_CYCLES.items()}
    flowcell = f"{rng.randint(2200000000, 2299999999)}"
    parameters = {
        "FileVersion": "5.0.0",
        "RunName": run_name,
        "RunType": "Sequencing",
        "Side": "SideA",
        "FlowcellID": flowcell,
        "Date": spec.start.isoformat(),
        "InstrumentName": instrument,
        "RunFolderName": folder,
        "Cycles": cycles,
        "ReadOrder": "I1,I2,R1,R2",
        "PlatformVersion": "3.2.0",
        "AnalysisLanes": "1+2",
        "LibraryType": "Linear",
    }
    timeline = Timeline(folder, rng, spec, offset)
    duration = spec.duration_seconds
    timeline.text(0.0, RUN_PARAMETERS, json.dumps(parameters, indent=2) + "\n")
    timeline.text(0.0, RUN_MANIFEST, json.dumps({"Samples": [{"SampleName": "S1"}]}) + "\n")
    sheet_rng = random.Random(f"{spec.seed}/{folder}/samplesheet")  # leaves `rng`'s draws alone
    manifest = render_run_manifest(run_name, "1+2", sheet_rng, sheet_rng.randint(1, 9999))
    timeline.text(0.0, "RunManifest.csv", manifest)
    order = [(read, c) for read in ("I1", "I2", "R1", "R2") for c in range(1, cycles[read] + 1)]
    step = duration * 0.9 / len(order)
    size = timeline.size(ARCHIVE_BYTES)
    for index, (read, cycle) in enumerate(order, start=1):
        timeline.write(index * step, cycle_archive(read, cycle), size, spread=step * 0.8)
    uploaded = {"Outcome": "OutcomeCompleted", "Timestamp": spec.start.isoformat()}
    timeline.text(duration, RUN_UPLOADED, json.dumps(uploaded) + "\n")
    metadata = {
        "run_id": folder,
        "run_name": run_name,
        "instrument": instrument,
        "flowcell": flowcell,
        "cycles": cycles,
    }
    return PlannedRun(spec.platform, folder, timeline.steps, metadata, RUN_UPLOADED)
