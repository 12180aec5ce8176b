"""What `ngs-lake runs` prints: a run's state, progress, steps and notifications, in plain words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ngs_lake.config.units import format_size
from ngs_lake.runs.lifecycle import parse_iso


def ago(text: str | None, now: datetime | None = None) -> str:
    if not text:
        return "-"
    return elapsed(((now or datetime.now(UTC)) - parse_iso(text)).total_seconds()) + " ago"


def elapsed(seconds: float) -> str:
    """A duration in its largest whole unit: `45s`, `12m`, `3h`, `2d`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def runs_table(runs: list[dict[str, Any]], file_counts: dict[str, int]) -> str:
    if not runs:
        return "no runs"
    width = max(len(r["run_key"]) for r in runs)
    lines = [
        f"{'run':<{width}}  {'state':<16} {'platform':<13} {'site':<10} {'files':>6}  last activity"
    ]
    for run in sorted(runs, key=lambda r: r.get("last_activity_at", ""), reverse=True):
        lines.append(
            f"{run['run_key']:<{width}}  {run['state']:<16} {run['platform']:<13} "
            f"{run['site']:<10} {file_counts.get(run['run_key'], 0):>6}  "
            f"{ago(run.get('last_activity_at'))}"
        )
    return "\n".join(lines)


def run_report(run: dict[str, Any], files: list[dict[str, Any]]) -> str:
    total = sum(int(f["size"]) for f in files)
    lines = [
        f"run       {run['run_key']}",
        f"state     {run['state']}" + ("  (final)" if run.get("final") else ""),
        f"where     s3://{run['bucket']}/{run['run_folder']}/  ({run['platform']}, {run['site']})",
        f"progress  {len(files)} files, {format_size(total)}; last activity "
        f"{ago(run.get('last_activity_at'))} ({run.get('last_activity_at', '-')})",
        "steps",
    ]
    steps = run.get("steps", {})
    for name, at in sorted(steps.items(), key=lambda item: item[1]):
        lines.append(f"  {name:<17} {at}  ({ago(at)})")
    if run.get("verification"):
        v = run["verification"]
        lines.append(
            f"verification  {v.get('missing_count')} missing of {v.get('expected')} expected; "
            f"first: {', '.join(v.get('first_missing', [])[:5])}"
        )
    lines.append("notifications")
    outbox = run.get("outbox", {})
    if not outbox:
        lines.append("  none yet")
    for message_id, entry in sorted(outbox.items(), key=lambda item: int(item[1]["sequence"])):
        sent = entry.get("published_at")
        lines.append(
            f"  {int(entry['sequence']):>2}. {message_id.removeprefix(run['run_key'] + '#'):<20} "
            + (f"published {sent}" if sent else "RECORDED, NOT YET PUBLISHED")
        )
    return "\n".join(lines)
