"""What `ngs-lake runs` prints: a run's state, progress, steps and notifications, in plain words."""

from __future__ import annotations

from datetime import UTC, datetime

from ngs_lake.config.units import format_size
from ngs_lake.runs.model import OutboxEntry, Run, RunFile, parse_iso


def ago(moment: str | datetime | None, now: datetime | None = None) -> str:
    if not moment:
        return "-"
    when = parse_iso(moment) if isinstance(moment, str) else moment
    return elapsed(((now or datetime.now(UTC)) - when).total_seconds()) + " ago"


def elapsed(seconds: float) -> str:
    """A duration in its largest whole unit: `45s`, `12m`, `3h`, `2d`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def runs_table(runs: list[Run], file_counts: dict[str, int]) -> str:
    if not runs:
        return "no runs"
    width = max(len(r.run_key) for r in runs)
    lines = [
        f"{'run':<{width}}  {'state':<16} {'platform':<13} {'site':<10} {'files':>6}  last activity"
    ]
    for run in sorted(runs, key=lambda r: r.last_activity_at, reverse=True):
        lines.append(
            f"{run.run_key:<{width}}  {run.state:<16} {run.platform:<13} "
            f"{run.site:<10} {file_counts.get(run.run_key, 0):>6}  "
            f"{ago(run.last_activity_at)}"
        )
    return "\n".join(lines)


# What runs/run_facts.py stores, in the order a person reads a run by.
FACT_ORDER = ("run_id", "instrument", "flowcell", "run_date", "geometry", "facts_error")


def run_report(run: Run, files: list[RunFile], outbox: list[OutboxEntry]) -> str:
    total = sum(f.size for f in files)
    lines = [
        f"run       {run.run_key}",
        f"state     {run.state}" + ("  (final)" if run.final else ""),
        f"where     s3://{run.bucket}/{run.run_folder}/  ({run.platform}, {run.site})",
        f"progress  {len(files)} files, {format_size(total)}; last activity "
        f"{ago(run.last_activity_at)} ({run.last_activity_at:%Y-%m-%dT%H:%M:%SZ})",
    ]
    if run.flowcell:
        lines.append(f"flowcell  {run.flowcell}")
    facts = [f"{k} {run.facts[k]}" for k in FACT_ORDER if run.facts.get(k)]
    if facts:
        lines.append(f"facts     {'; '.join(facts)}")
    if run.samplesheet:  # issue #31: counts and the reason, never a sample
        sheet = run.samplesheet
        said = sheet.get("status", "") + (f": {sheet['reason']}" if sheet.get("reason") else "")
        lines.append(
            f"samplesheet {said} ({sheet.get('path')}, {sheet.get('sample_count', 0)} samples; "
            "`ngs-lake runs sheets` lists its versions)"
        )
    if run.attention_reason:
        lines.append(
            f"attention {run.attention_reason} (in {run.attention_from}); "
            "fix the cause, then `ngs-lake runs retry`"
        )
    if run.gateway_failure:
        g = run.gateway_failure
        lines.append(
            f"gateway   {g.call} failed {g.count} time(s) in a row, last {ago(g.at)}: "
            f"{g.code}: {g.message}"
        )
    lines.append("steps")
    for name, at in sorted(run.steps.items(), key=lambda item: item[1]):
        lines.append(f"  {name:<17} {at:%Y-%m-%dT%H:%M:%SZ}  ({ago(at)})")
    if run.verification:
        v = run.verification
        lines.append(
            f"verification  {v.missing_count} missing of {v.expected} expected; "
            f"first: {', '.join(v.first_missing[:5])}"
        )
        lines += [f"  {reason}" for reason in v.reasons]
    lines.append("notifications")
    if not outbox:
        lines.append("  none yet")
    for entry in outbox:
        label = entry.message_id.removeprefix(run.run_key + "#")
        sent = entry.published_at
        lines.append(
            f"  {entry.sequence:>2}. {label:<20} "
            + (f"published {sent:%Y-%m-%dT%H:%M:%SZ}" if sent else "RECORDED, NOT YET PUBLISHED")
        )
    return "\n".join(lines)
