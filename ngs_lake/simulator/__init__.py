"""A sequencer simulator: realistic run folders, written through the file system only.

runs = plan_simulation(RunSpec(platform="novaseq-x", scale=0.01, duration_seconds=60))
simulate(runs, share_dir)
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ngs_lake.platforms import PLATFORMS, Family, family_of
from ngs_lake.simulator.element import plan_element
from ngs_lake.simulator.illumina import plan_illumina
from ngs_lake.simulator.nanopore import plan_nanopore
from ngs_lake.simulator.pacbio import plan_pacbio
from ngs_lake.simulator.plan import PlannedRun, RunSpec, WriteStep, apply_scenario
from ngs_lake.simulator.run_numbers import existing_run_folders, unused_runs
from ngs_lake.simulator.writer import WriteStats, execute

DUAL_FLOW_CELL = ("novaseq-x", "novaseq-6000")

__all__ = ["PlannedRun", "RunSpec", "WriteStats", "plan_simulation", "plan_unused", "simulate"]


def plan_simulation(spec: RunSpec) -> list[PlannedRun]:
    """The runs this spec writes (two for `concurrent`, one per SMRT cell on Revio)."""
    if spec.platform not in PLATFORMS:
        raise ValueError(f"unknown platform {spec.platform!r}")
    rng = random.Random(spec.seed)
    family = PLATFORMS[spec.platform].family
    if spec.scenario == "concurrent":
        if spec.platform not in DUAL_FLOW_CELL:
            raise ValueError(
                f"the concurrent scenario needs a dual flow cell instrument "
                f"({', '.join(DUAL_FLOW_CELL)}), not {spec.platform}"
            )
        base = spec.run_number or rng.randint(1, 900)
        runs = [
            plan_illumina(replace(spec, run_number=base), rng, side="A"),
            plan_illumina(
                replace(spec, run_number=base + 1),
                rng,
                side="B",
                offset=spec.duration_seconds * 0.1,
            ),
        ]
    elif family == Family.ILLUMINA:
        runs = [plan_illumina(spec, rng)]
    elif family == Family.NANOPORE:
        runs = [plan_nanopore(spec, rng)]
    elif family == Family.PACBIO:
        runs = plan_pacbio(spec, rng)
    else:
        runs = [plan_element(spec, rng)]
    return [apply_scenario(run, spec, _marker_test(run)) for run in runs]


def plan_unused(spec: RunSpec, share: Path) -> list[PlannedRun]:
    """`plan_simulation`, numbered after the runs already in the share, never naming one of
    their folders (simulator/run_numbers.py)."""
    return unused_runs(spec, share, plan_simulation)


def simulate(
    runs: list[PlannedRun],
    share: Path,
    seed: int = 0,
    progress: TextIO | None = None,
    continuing: bool = False,
    stop: threading.Event | None = None,
) -> WriteStats:
    """Write the planned runs into a share folder, interleaved on one clock; a run folder that
    already exists is refused, as an instrument never writes into an old run, unless
    `continuing` says these are the later parts of runs this caller began (a run written in
    parts around a restart)."""
    taken = [] if continuing else existing_run_folders(runs, share)
    if taken:
        raise ValueError(
            f"run folder {taken[0]} already exists in {share}; an instrument never reuses one "
            "(plan with plan_unused, or `ngs-lake simulate`, which numbers runs after the share's)"
        )
    share.mkdir(parents=True, exist_ok=True)
    steps = [s for run in runs for s in run.steps]
    if stop is None:
        return execute(steps, share, seed, progress)
    return execute(steps, share, seed, progress, sleep=stop.wait, stopped=stop.is_set)


def _marker_test(run: PlannedRun) -> Callable[[WriteStep], bool]:
    family = family_of(run.platform)

    def is_marker(step: WriteStep) -> bool:
        location = family.locate(step.path)
        return location is not None and family.is_completion_marker(run.platform, location)

    return is_marker
