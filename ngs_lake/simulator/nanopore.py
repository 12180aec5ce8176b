"""ONT runs as MinKNOW writes them: growing throughput logs, POD5 and FASTQ batches, the
sequencing summary and reports, the output hash list, and final_summary last. A MinION runs a
Flongle: its position is the device id and the flow cell is three letters and three digits
(`20231108_1411_MN32284_AOZ898_35873099`, ngs_lake_tests/data/real_runs).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from ngs_lake.platforms.nanopore import final_summary_name, output_hash_name, run_stem
from ngs_lake.simulator.plan import PlannedRun, RunSpec, Timeline, hex_id

FULL_BATCHES = {"promethion": 3000, "gridion": 600, "minion": 60}
POD5_BYTES = 400e6
FASTQ_BYTES = 60e6


def plan_nanopore(spec: RunSpec, rng: random.Random, offset: float = 0.0) -> PlannedRun:
    position, flowcell = _position_and_flowcell(spec, rng)
    promethion, minion = spec.platform == "promethion", spec.platform == "minion"
    protocol, acquisition = hex_id(rng), hex_id(rng)
    instrument = spec.instrument or (
        position if minion else "PC24B243" if promethion else "GXB02001"
    )
    experiment, sample = "sim_experiment", f"sample_{hex_id(rng, 4)}"
    run_dir = f"{spec.start:%Y%m%d_%H%M}_{position}_{flowcell}_{protocol}"
    run_folder = f"{experiment}/{sample}/{run_dir}"
    stem = run_stem(flowcell, protocol, acquisition)
    batches = (
        3 if spec.scenario == "tiny" else max(2, round(FULL_BATCHES[spec.platform] * spec.scale))
    )
    timeline = Timeline(run_folder, rng, spec, offset)
    duration = spec.duration_seconds
    batch_seconds = duration * 0.9 / batches

    timeline.text(
        0.0,
        f"sample_sheet_{flowcell}_{spec.start:%Y%m%d_%H%M}_{protocol}.csv",
        f"flow_cell_id,sample_id,experiment_id\n{flowcell},{sample},{experiment}\n",
    )
    timeline.text(0.0, f"throughput_{stem}.csv", "Experiment Time (minutes),Reads\n")
    pod5_size, fastq_size = timeline.size(POD5_BYTES), timeline.size(FASTQ_BYTES)
    outputs = []
    for index in range(batches):
        at = (index + 1) * batch_seconds
        pod5 = f"pod5/{stem}_{index}.pod5"
        fastq = f"fastq_pass/{flowcell}_pass_{protocol}_{acquisition}_{index}.fastq.gz"
        timeline.write(at - batch_seconds * 0.8, pod5, pod5_size, spread=batch_seconds * 0.7)
        timeline.write(at, fastq, fastq_size)
        timeline.append(at, f"throughput_{stem}.csv", 24)
        outputs += [pod5, fastq]
    finished = duration * 0.95
    summary = f"sequencing_summary_{stem}.txt"
    report = f"report_{flowcell}_{spec.start:%Y%m%d_%H%M}_{protocol}.json"
    timeline.write(finished, summary, timeline.size(2e9))
    timeline.text(
        finished, report, f'{{"protocol_run_id": "{protocol}", "flow_cell_id": "{flowcell}"}}\n'
    )
    outputs += [summary, report]
    folder = run_folder

    def render_hashes(share: Path) -> bytes:
        rows = ["filename,sha256"] + [
            f"{name},{hashlib.sha256((share / folder / name).read_bytes()).hexdigest()}"
            for name in outputs
        ]
        return ("\n".join(rows) + "\n").encode()

    timeline.rendered(duration * 0.98, output_hash_name(stem), render_hashes)
    protocol_run_id = f"{protocol}-{hex_id(rng, 4)}-{hex_id(rng, 4)}-{hex_id(rng, 12)}"
    final = (
        f"instrument={instrument}\nposition={position}\nflow_cell_id={flowcell}\n"
        f"sample_id={sample}\nprotocol_group_id={experiment}\n"
        "protocol=sequencing/sequencing_PRO114_DNA_e8_2_400K:FLO-PRO114M:SQK-LSK114:400\n"
        f"protocol_run_id={protocol_run_id}\n"
        f"acquisition_run_id={acquisition}{hex_id(rng, 32)}\n"
        f"started={spec.start.isoformat()}\nbasecalling_enabled=1\n"
        f"sequencing_summary_file={summary}\n"
        f"pod5_files_in_final_dest={batches}\npod5_files_in_fallback=0\n"
        f"fastq_files_in_final_dest={batches}\nfastq_files_in_fallback=0\n"
    )
    marker = final_summary_name(stem)
    timeline.text(duration, marker, final)
    metadata = {
        "run_id": protocol_run_id,
        "flowcell": flowcell,
        "instrument": instrument,
        "position": position,
        "sample_id": sample,
        "pod5_files": batches,
    }
    return PlannedRun(spec.platform, run_folder, timeline.steps, metadata, marker)


def _position_and_flowcell(spec: RunSpec, rng: random.Random) -> tuple[str, str]:
    """A MinION's position is its device id and it runs a Flongle (three letters, three digits);
    a PromethION's is a bay (`1A`), a GridION's a slot (`X1`)."""
    if spec.platform == "minion":
        position = spec.instrument or f"MN{rng.randint(10000, 99999)}"
        letters = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))
        return position, f"{letters}{rng.randint(100, 999)}"
    if spec.platform == "promethion":
        return f"{rng.randint(1, 3)}{rng.choice('ABCDEFGH')}", f"PAQ{rng.randint(10000, 99999)}"
    return f"X{rng.randint(1, 5)}", f"FAW{rng.randint(10000, 99999)}"
