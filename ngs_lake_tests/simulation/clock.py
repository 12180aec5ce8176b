"""The simulation's virtual clock: the run core's `Clock` interface (ngs_lake/runs/clock.py),
moved only by the simulation, so days of backlog take no real time and a seed replays exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(2026, 1, 5, tzinfo=UTC)


class VirtualClock:
    """`now()` and `monotonic()` both move only by `advance`; monotonic starts at 0."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self.start = start
        self.elapsed = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the virtual clock never goes back")
        self.elapsed += seconds
