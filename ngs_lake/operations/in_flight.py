"""The runs not complete yet, as an operator asks "where is run X?": each with its full key, its
state, its site, its age and the step the lake waits for next.

Plain data from ledger records; the events sensor shows it in the UI (`runs_in_flight`), and each
state change as an observation of the run's partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ngs_lake.operations.run_views import elapsed
from ngs_lake.runs.model import Run, RunState, utc_iso

# Not complete, and not final: what an operator may still be waiting for.
IN_FLIGHT_STATES = (
    RunState.STARTED,
    RunState.MARKER_SEEN,
    RunState.UPLOAD_CONFIRMED,
    RunState.STALLED,
    RunState.INCOMPLETE,
    RunState.NEEDS_ATTENTION,
)


def next_step(run: Run) -> str:
    """What the lake waits for next, in the manual's words (docs/operators/ui.md)."""
    match run.state:
        case RunState.STARTED:
            return "files uploading; waits for the run's completion marker"
        case RunState.MARKER_SEEN:
            return "waits for the gateway to confirm the share's uploads (NotifyWhenUploaded)"
        case RunState.UPLOAD_CONFIRMED:
            return "verification against S3 (in the events sensor's tick or complete_run)"
        case RunState.STALLED:
            return "waits for uploads to resume; aborted after lake.abort_after_stall_windows"
        case RunState.INCOMPLETE if run.final:
            return "final: retries used up; an operator reverifies or aborts it"
        case RunState.INCOMPLETE:
            retry = f" at {utc_iso(run.retry_after)}" if run.retry_after else ""
            return f"asks the gateway again and reverifies{retry}"
        case RunState.NEEDS_ATTENTION:
            reason = f" ({run.attention_reason})" if run.attention_reason else ""
            return f"an operator: fix the cause, then `ngs-lake runs retry`{reason}"
        case _:
            return "none: the run is final"


@dataclass(frozen=True)
class InFlightRun:
    """One row of the in-flight list."""

    run_key: str
    state: str
    site: str
    age: str
    started_at: str
    next_step: str


def in_flight(runs: list[Run], now: datetime) -> list[InFlightRun]:
    """The runs not complete, oldest first; a key listed twice (read in two states) counts once."""
    by_key = {r.run_key: r for r in runs if r.state in IN_FLIGHT_STATES}
    return [
        InFlightRun(
            run.run_key,
            run.state.value,
            run.site,
            elapsed(max(0.0, (now - run.started_at).total_seconds())),
            utc_iso(run.started_at),
            next_step(run),
        )
        for run in sorted(by_key.values(), key=lambda r: (r.started_at, r.run_key))
    ]
