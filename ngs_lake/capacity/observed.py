"""Each sequencer's observed data rate over a recent window, from the run ledger.

The configured rate is output per hour of running, so the observed rate divides the bytes the
ledger saw uploaded in the window by the hours the sequencer's runs were active in it (start to
last activity, clipped to the window), not by the whole week: an idle day is not a slow day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ngs_lake.config.model import LakeConfig
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import Run, RunFile

WINDOW = timedelta(days=7)
TOLERANCE = 0.20  # flagged when more than 20% off the configured rate


@dataclass(frozen=True)
class ObservedRate:
    sequencer_id: str
    configured_bytes_per_hour: float
    bytes: int
    active_hours: float
    runs: int

    @property
    def bytes_per_hour(self) -> float | None:
        return self.bytes / self.active_hours if self.active_hours > 0 else None

    @property
    def ratio(self) -> float | None:
        rate = self.bytes_per_hour
        return None if rate is None else rate / self.configured_bytes_per_hour

    @property
    def flagged(self) -> bool:
        return self.ratio is not None and abs(self.ratio - 1) > TOLERANCE


def observed_rate(
    runs: list[Run], files_of: dict[str, list[RunFile]], since: datetime, until: datetime
) -> tuple[int, float, int]:
    """(bytes uploaded in the window, active hours in it, runs active in it)."""
    total = 0
    hours = 0.0
    active = 0
    for run in runs:
        start = max(run.started_at, since)
        end = min(run.last_activity_at, until)
        if end < since or start > until:
            continue
        active += 1
        hours += max(0.0, (end - start).total_seconds() / 3600)
        for row in files_of.get(run.run_key, []):
            if since <= row.uploaded_at <= until:
                total += row.size
    return total, hours, active


def observed_rates(config: LakeConfig, ledger: RunLedger, now: datetime) -> list[ObservedRate]:
    since = now - WINDOW
    out = []
    for sequencer in config.sequencers:
        runs = [r for r in ledger.runs_of_sequencer(sequencer.id) if r.last_activity_at >= since]
        files = {r.run_key: ledger.files(r.run_key) for r in runs}
        total, hours, active = observed_rate(runs, files, since, now)
        out.append(ObservedRate(sequencer.id, sequencer.data_rate, total, hours, active))
    return out
