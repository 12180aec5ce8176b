"""A simulated run as a timed list of file writes, planned before anything touches the disk.

Planning is pure (a seeded RNG, no I/O), so tests can inspect the exact order an instrument would
write in, and scenarios are small transforms of the plan: stop early, pause, let the marker race
the last writes, rewrite files, interleave two flow cells.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

Scenario = Literal[
    "normal",
    "aborted",
    "stalled-then-resumed",
    "tiny",
    "marker-race",
    "rewritten",
    "concurrent",
    "sheet-revised",
]
SCENARIOS: tuple[str, ...] = (
    "normal",
    "aborted",
    "stalled-then-resumed",
    "tiny",
    "marker-race",
    "rewritten",
    "concurrent",
    "sheet-revised",  # issue #31: the sample sheet written again after the marker
)
WriteKind = Literal["create", "append", "replace"]

# Files above this are written in several appends, as instruments grow them in place.
GROW_IN_PLACE_BYTES = 256 * 1024
GROW_CHUNKS = 4


@dataclass(frozen=True)
class RunSpec:
    """What to simulate. `scale` shrinks geometry (file count ~ scale) and file sizes (~ scale)."""

    platform: str
    scale: float = 0.01
    duration_seconds: float = 60.0
    seed: int = 0
    scenario: Scenario = "normal"
    max_file_bytes: int | None = None
    stall_seconds: float = 30.0
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    instrument: str | None = None
    run_number: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 1:
            raise ValueError(f"scale must be in (0, 1], not {self.scale}")
        if self.duration_seconds < 0:
            raise ValueError(f"duration must not be negative, not {self.duration_seconds}")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; one of: {', '.join(SCENARIOS)}")


@dataclass(frozen=True)
class WriteStep:
    """One write at `at` seconds after the simulation starts, to `path` relative to the share.

    Content is explicit (metadata files), rendered from the share at write time (files that
    describe other files, such as an ONT hash list), or else a seeded pseudo-random payload.
    """

    at: float
    path: str
    kind: WriteKind
    size: int
    content: bytes | None = None
    render: Callable[[Path], bytes] | None = field(default=None, compare=False, repr=False)


@dataclass
class PlannedRun:
    """One run's folder (within the share), its writes, and what the instrument would report."""

    platform: str
    run_folder: str
    steps: list[WriteStep]
    metadata: dict[str, object]
    completion_marker: str | None  # path relative to the run folder; None when never written

    @property
    def files(self) -> set[str]:
        prefix = f"{self.run_folder}/"
        return {s.path.removeprefix(prefix) for s in self.steps}

    @property
    def total_bytes(self) -> int:
        final: dict[str, int] = {}
        for step in sorted(self.steps, key=lambda s: s.at):
            if step.kind == "append":
                final[step.path] = final.get(step.path, 0) + step.size
            else:
                final[step.path] = step.size
        return sum(final.values())


class Timeline:
    """Collects a run's writes with their times, splitting large files into growing appends."""

    def __init__(
        self, run_folder: str, rng: random.Random, spec: RunSpec, offset: float = 0.0
    ) -> None:
        self.run_folder = run_folder
        self.rng = rng
        self.spec = spec
        self.offset = offset
        self.steps: list[WriteStep] = []

    def size(self, nominal_bytes: float) -> int:
        """A file's size at this scale, jittered a little as real files are, capped if asked."""
        size = max(1, int(nominal_bytes * self.spec.scale * self.rng.uniform(0.9, 1.1)))
        return min(size, self.spec.max_file_bytes) if self.spec.max_file_bytes else size

    def write(self, at: float, relative: str, size: int, spread: float = 0.0) -> None:
        """Write a payload file; large ones grow over `spread` seconds in a few appends."""
        path = f"{self.run_folder}/{relative}"
        at += self.offset
        if size <= GROW_IN_PLACE_BYTES or spread <= 0:
            self.steps.append(WriteStep(at, path, "create", size))
            return
        chunk = size // GROW_CHUNKS
        for index in range(GROW_CHUNKS):
            part = chunk if index < GROW_CHUNKS - 1 else size - chunk * (GROW_CHUNKS - 1)
            kind: WriteKind = "create" if index == 0 else "append"
            self.steps.append(WriteStep(at + spread * index / GROW_CHUNKS, path, kind, part))

    def text(
        self, at: float, relative: str, content: str | bytes, kind: WriteKind = "create"
    ) -> None:
        data = content.encode() if isinstance(content, str) else content
        self.steps.append(
            WriteStep(at + self.offset, f"{self.run_folder}/{relative}", kind, len(data), data)
        )

    def rendered(self, at: float, relative: str, render: Callable[[Path], bytes]) -> None:
        """A file whose content depends on files already written (hash lists, transfer lists)."""
        path = f"{self.run_folder}/{relative}"
        self.steps.append(WriteStep(at + self.offset, path, "create", 0, render=render))

    def append(self, at: float, relative: str, size: int) -> None:
        self.steps.append(
            WriteStep(at + self.offset, f"{self.run_folder}/{relative}", "append", size)
        )


def scaled(count: int, scale: float, minimum: int = 1) -> int:
    """One geometry dimension at this scale: the cube root keeps the file count ~ scale."""
    return max(minimum, round(count * scale ** (1 / 3)))


def alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(n))


def hex_id(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def apply_scenario(
    run: PlannedRun, spec: RunSpec, is_marker: Callable[[WriteStep], bool]
) -> PlannedRun:
    """Reshape a normal run's writes into the asked-for scenario."""
    steps = sorted(run.steps, key=lambda s: s.at)
    duration = max(spec.duration_seconds, 1e-9)
    if spec.scenario == "aborted":
        # The instrument stops about midway: no more data, and never a completion marker.
        steps = [s for s in steps[: int(len(steps) * 0.55)] if not is_marker(s)]
        return replace(run, steps=steps, completion_marker=None)
    if spec.scenario == "stalled-then-resumed":
        middle = duration * 0.5
        steps = [replace(s, at=s.at + spec.stall_seconds) if s.at >= middle else s for s in steps]
    elif spec.scenario == "marker-race":
        # The marker lands while the last data files are still being flushed.
        markers = [s for s in steps if is_marker(s)]
        data = [s for s in steps if not is_marker(s)]
        if markers and data:
            last_data = max(s.at for s in data)
            flush_tail = [s for s in data if s.at >= last_data - duration * 0.05]
            race_at = min(s.at for s in flush_tail)
            steps = [replace(m, at=race_at) for m in markers] + [
                replace(s, at=s.at + duration * 0.02) if s in flush_tail else s for s in data
            ]
    elif spec.scenario == "rewritten":
        rewrites = [s for s in steps if s.content is not None and not is_marker(s)][:2]
        for original in rewrites:
            changed = original.content + b"\n" if original.content else b"\n"
            steps.append(
                WriteStep(
                    original.at + duration * 0.3, original.path, "replace", len(changed), changed
                )
            )
    elif spec.scenario == "sheet-revised":
        steps += _sheet_revisions(run, steps, is_marker, duration)
    return replace(run, steps=sorted(steps, key=lambda s: s.at))


def _sheet_revisions(
    run: PlannedRun, steps: list[WriteStep], is_marker: Callable[[WriteStep], bool], duration: float
) -> list[WriteStep]:
    """The lab corrects the sample sheet on the share once the run is done: a new version of
    the same file, after the marker."""
    from ngs_lake.platforms.sample_sheet_readers import is_sample_sheet
    from ngs_lake.simulator.sample_sheets import revised

    markers = [s.at for s in steps if is_marker(s)]
    if not markers:
        return []
    after = max(markers) + duration * 0.05 + 1.0
    out = []
    for step in steps:
        relative = step.path.removeprefix(f"{run.run_folder}/")
        if step.content is None or not is_sample_sheet(run.platform, relative):
            continue
        changed = revised(step.content)
        if changed is not None:
            out.append(WriteStep(after, step.path, "replace", len(changed), changed))
    return out
