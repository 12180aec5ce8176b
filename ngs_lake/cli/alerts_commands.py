"""`ngs-lake alerts list`: the alerts the lake has sent its operators, open ones first."""

from __future__ import annotations

from pathlib import Path

import click

from ngs_lake.cli.options import config_option, load_document
from ngs_lake.cli.target import connect
from ngs_lake.config.model import ALERT_CONDITIONS


@click.group("alerts")
def alerts_group() -> None:
    """Alerts on the operations topic, from the alert state."""


@alerts_group.command("list")
@config_option
@click.option("--condition", type=click.Choice(ALERT_CONDITIONS), help="Only this condition.")
@click.option("--all", "show_all", is_flag=True, help="Resolved alerts too (kept 30 days).")
def alerts_list(config_path: Path, condition: str | None, show_all: bool) -> None:
    """Each alert: its status, condition, subject, when it began, what is wrong and the command
    that shows it closer."""
    from ngs_lake.alerts.state import RESOLVED, AlertState
    from ngs_lake.config.names import LakeNames
    from ngs_lake.runs.model import utc_iso

    config = load_document(config_path)
    records = AlertState(connect(config), LakeNames.of(config)).records()
    shown = [
        r
        for r in records
        if (condition is None or r.alert.condition == condition)
        and (show_all or r.status != RESOLVED)
    ]
    shown.sort(key=lambda r: (r.status == RESOLVED, r.alert.began_at))
    if not shown:
        click.echo("no open alerts" if not show_all else "no alerts")
        return
    for r in shown:
        a = r.alert
        resolved = f", resolved {utc_iso(r.resolved_at)}" if r.resolved_at else ""
        click.echo(
            f"{r.status:<9} {a.severity:<8} {a.condition} {a.subject} "
            f"(since {utc_iso(a.began_at)}{resolved})\n"
            f"          {a.summary}\n          look closer: {a.command}"
        )
