"""An instrument never reuses a run folder: run numbers advance per sequencer.

A share belongs to one sequencer, so its next run number is one past the highest number among
the Illumina-named run folders already in it. A share with none starts from a number taken from
the clock, so a local lake rebuilt from scratch (`make run` resets its state) does not hand
consumers run ids they have already seen. Families without a run number (Nanopore, PacBio,
Element) name runs by time and random ids; a plan whose folder exists anyway is planned again
with the next seed and a second later, and `simulate` refuses to write into an existing one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from ngs_lake.platforms.illumina import RUN_FOLDER
from ngs_lake.simulator.plan import PlannedRun, RunSpec

MAX_RUN_NUMBER = 9999  # four digits in every Illumina folder name
PLAN_ATTEMPTS = 100


def next_run_number(share: Path, clock: Callable[[], float] = time.time) -> int:
    """One past the share's highest run number; from the clock (minutes) for a share with none."""
    numbers = [
        int(match["number"])
        for entry in (share.iterdir() if share.is_dir() else [])
        if entry.is_dir() and (match := RUN_FOLDER.match(entry.name))
    ]
    if numbers:
        return max(numbers) % MAX_RUN_NUMBER + 1
    return int(clock() // 60) % (MAX_RUN_NUMBER - 1000) + 1


def existing_run_folders(runs: list[PlannedRun], share: Path) -> list[str]:
    return [run.run_folder for run in runs if (share / run.run_folder).exists()]


def unused_runs(
    spec: RunSpec, share: Path, plan: Callable[[RunSpec], list[PlannedRun]]
) -> list[PlannedRun]:
    """`plan(spec)` with the share's next run number, planned again until no folder exists."""
    number = spec.run_number or next_run_number(share)
    for attempt in range(PLAN_ATTEMPTS):
        runs = plan(
            replace(
                spec,
                run_number=(number + attempt - 1) % MAX_RUN_NUMBER + 1,
                seed=spec.seed + attempt,
                start=spec.start + timedelta(seconds=attempt),
            )
        )
        if not existing_run_folders(runs, share):
            return runs
    raise ValueError(f"{share}: no unused run folder name in {PLAN_ATTEMPTS} attempts")
