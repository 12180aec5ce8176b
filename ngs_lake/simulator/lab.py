"""A lab of simulated sequencers: a mix of runs across several sequencers and platforms of the
config document, started a little apart, compressed to minutes, with small payloads.

`make run` and `ngs-lake demo` use it to give the local lake something to do. Each run writes
into its sequencer's share folder on the software gateway, exactly as an instrument would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ngs_lake.config.model import LakeConfig
from ngs_lake.simulator import PlannedRun, RunSpec, plan_simulation, simulate
from ngs_lake.simulator.run_numbers import next_run_number

DEFAULT_MIX = ("novaseq-x", "miseq", "promethion", "aviti", "nextseq-2000")


@dataclass(frozen=True)
class LabRun:
    sequencer_id: str
    share: Path
    run: PlannedRun
    start_after_seconds: float
    seed: int

    @property
    def run_key(self) -> str:
        return f"{self.sequencer_id}/{self.run.run_folder}"


@dataclass(frozen=True)
class LabSettings:
    platforms: Sequence[str] = DEFAULT_MIX
    runs: int = 5
    scale: float = 0.001
    duration_seconds: float = 60.0
    stagger_seconds: float = 15.0
    max_file_bytes: int = 2048
    seed: int = 1


def plan_lab(config: LakeConfig, shares: Path, settings: LabSettings) -> list[LabRun]:
    """Run i uses platform i (cycling through the mix) on that platform's sequencers in turn.

    Platforms the document has no sequencer for are skipped, so any lake gets a working mix.
    """
    by_platform = {
        p: [s for s in config.sequencers if s.platform == p]
        for p in settings.platforms
        if any(s.platform == p for s in config.sequencers)
    }
    if not by_platform:
        raise ValueError(f"no sequencer in the config runs any of: {', '.join(settings.platforms)}")
    platforms = list(by_platform)
    planned: list[LabRun] = []
    for index in range(settings.runs):
        platform = platforms[index % len(platforms)]
        candidates = by_platform[platform]
        sequencer = candidates[(index // len(platforms)) % len(candidates)]
        share = shares / sequencer.gateway / sequencer.id
        spec = RunSpec(
            platform=platform,
            scale=settings.scale,
            duration_seconds=settings.duration_seconds,
            seed=settings.seed + index,
            max_file_bytes=settings.max_file_bytes,
            run_number=next_run_number(share) + index,  # never a run id already handed out
        )
        for run in plan_simulation(spec):
            planned.append(
                LabRun(sequencer.id, share, run, index * settings.stagger_seconds, spec.seed)
            )
    return planned


class SimulatedLab:
    """Writes the planned runs, each in its own thread from its start time."""

    def __init__(self, runs: list[LabRun], echo: Callable[[str], None] = print) -> None:
        self.runs = runs
        self.echo = echo
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.failures: list[str] = []

    def start(self) -> SimulatedLab:
        started = time.monotonic()
        for lab_run in self.runs:
            thread = threading.Thread(
                target=self._write, args=(lab_run, started), name=lab_run.run_key, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _write(self, lab_run: LabRun, started: float) -> None:
        if self._stop.wait(max(0.0, started + lab_run.start_after_seconds - time.monotonic())):
            return
        self.echo(f"sequencer {lab_run.sequencer_id} started {lab_run.run.run_folder}")
        try:
            stats = simulate([lab_run.run], lab_run.share, seed=lab_run.seed, stop=self._stop)
        except OSError as exc:  # a stopped stack removes the shares under a running writer
            self.failures.append(f"{lab_run.run_key}: {exc}")
            return
        self.echo(
            f"sequencer {lab_run.sequencer_id} finished {lab_run.run_key} ({stats.files} files)"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop writing at each run's next step, and wait for the writers (a torn-down stack
        removes the shares, which a writer would otherwise create again)."""
        self._stop.set()
        self.join(timeout)

    def done(self) -> bool:
        return all(not t.is_alive() for t in self._threads)

    def join(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)
