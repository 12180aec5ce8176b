"""`ngs-lake runs list | show | reverify | abort`: the run ledger for operators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ngs_lake.cli.choices import not_found, require_known
from ngs_lake.cli.options import (
    config_option,
    load_in_force,
)
from ngs_lake.cli.target import connect
from ngs_lake.runs.model import RunState


@click.group("runs")
def runs_group() -> None:
    """Sequencing runs in the ledger."""


def _ledger(config_path: Path, in_force: Any = None):  # noqa: ANN202 - (config, clients, ledger)
    from ngs_lake.config.names import LakeNames
    from ngs_lake.runs.ledger import RunLedger

    in_force = in_force or load_in_force(config_path)
    if in_force.falls_back:
        click.echo(in_force.status_line(), err=True)
    config = in_force.document
    clients = connect(config)  # names the target on stderr first
    return config, clients, RunLedger(clients, LakeNames.of(config))


@runs_group.command("list")
@config_option
@click.option("--state", type=click.Choice([s.value for s in RunState]), help="Only this state.")
@click.option("--site", help="Only runs at this site.")
def runs_list(config_path: Path, state: str | None, site: str | None) -> None:
    """Runs, newest activity first, with their state and file count."""
    from ngs_lake.operations.run_views import runs_table

    in_force = load_in_force(config_path)
    if site:  # before any AWS call: a typo is refused, never answered with "no runs"
        require_known(site, (s.id for s in in_force.document.sites), "site", "--site")
    _, _, ledger = _ledger(config_path, in_force)
    if state:
        runs = ledger.runs_in_state(RunState(state))
    elif site:
        runs = ledger.runs_at_site(site)
    else:
        runs = [r for s in RunState for r in ledger.runs_in_state(s)]
    if site:
        runs = [r for r in runs if r.site == site]
    click.echo(runs_table(runs, {r.run_key: ledger.file_count(r.run_key) for r in runs}))


@runs_group.command("show")
@config_option
@click.argument("run_key")
def runs_show(config_path: Path, run_key: str) -> None:
    """State, progress, each step's time and the notifications sent, for one run."""
    from ngs_lake.operations.run_views import run_report

    _, _, ledger = _ledger(config_path)
    run = _run(ledger, run_key)
    click.echo(run_report(run, ledger.files(run_key), ledger.log.outbox(run_key)))


@runs_group.command("reverify")
@config_option
@click.argument("run_key")
def runs_reverify(config_path: Path, run_key: str) -> None:
    """Ask the gateway again and verify once it confirms (also for a final INCOMPLETE run)."""
    from ngs_lake.aws.storage_gateway import GatewayCallFailed, StorageGatewayShares
    from ngs_lake.runs.model import TransitionNotAllowed, Trigger, transition_for
    from ngs_lake.runs.upload_requests import UploadRequests

    _, clients, ledger = _ledger(config_path)
    run = _run(ledger, run_key)
    refused = f"{run_key} is {run.state}; only runs past their marker can be re-verified"
    try:  # before asking the gateway: a refused run gets no notification
        transition_for(run.state, Trigger.OPERATOR_REVERIFY)
    except TransitionNotAllowed:
        raise click.ClickException(refused) from None
    shares = StorageGatewayShares(clients.storagegateway())
    requests = UploadRequests(ledger.ddb, ledger.names.events_table, shares, ledger.events_ttl_days)
    try:
        request = requests.ask(run.run_key, run.share_arn, ledger.clock.now())
    except GatewayCallFailed as exc:  # a retired share, a gateway not connected: the run stays
        raise click.ClickException(
            f"{run_key} stays {run.state}: the gateway did not take the request ({exc}); "
            "fix the gateway and re-verify, or `ngs-lake runs abort` a run whose share is retired"
        ) from None
    fields = {
        "notification_id": request.notification_id,
        "notification_requested_at": request.requested_at,
        "notify_requests": 1,
        "final": False,
    }
    _apply(ledger, run, Trigger.OPERATOR_REVERIFY, refused, fields=fields)
    click.echo(f"{run_key}: asked the gateway again (notification {request.notification_id})")


@runs_group.command("abort")
@config_option
@click.argument("run_key")
@click.option("--reason", default="aborted by an operator", show_default=True)
def runs_abort(config_path: Path, run_key: str, reason: str) -> None:
    """Mark a run ABORTED; `run.aborted` follows on the next sensor tick."""
    from ngs_lake.runs.model import Trigger

    _, _, ledger = _ledger(config_path)
    run = _run(ledger, run_key)
    _apply(
        ledger,
        run,
        Trigger.OPERATOR_ABORT,
        f"{run_key} is already {run.state}",
        fields={"abort_reason": reason},
        details={"reason": reason},
    )
    click.echo(f"{run_key}: ABORTED ({reason})")


@runs_group.command("retry")
@config_option
@click.argument("run_key")
def runs_retry(config_path: Path, run_key: str) -> None:
    """Put a NEEDS_ATTENTION run back where it was; its lifecycle runs are tried afresh."""
    from ngs_lake.runs.model import Trigger

    _, _, ledger = _ledger(config_path)
    run = _run(ledger, run_key)
    refused = f"{run_key} is {run.state}; only a NEEDS_ATTENTION run is retried"
    _apply(ledger, run, Trigger.OPERATOR_RETRY, refused, fields={"attention_reason": None})
    back = run.attention_from.value if run.attention_from else "STARTED"
    click.echo(f"{run_key}: back to {back}; its lifecycle runs are tried afresh")


def _apply(ledger, run, trigger, refused: str, **change: Any) -> None:  # noqa: ANN001
    """An operator's step, as the transition table allows it: `refused` if the table has no
    such step from the run's state, "try again" if the run moved meanwhile."""
    from ngs_lake.runs.ledger import TransitionConflict
    from ngs_lake.runs.model import TransitionNotAllowed

    try:
        ledger.apply(run, trigger, **change)
    except TransitionNotAllowed:
        raise click.ClickException(refused) from None
    except TransitionConflict as exc:
        raise click.ClickException(f"{exc}; try again") from None


def _run(ledger, run_key: str):  # noqa: ANN001, ANN202 - (RunLedger) -> Run
    run = ledger.get_run(run_key)
    if run is None:
        raise not_found(run_key, (r.run_key for s in RunState for r in ledger.runs_in_state(s)))
    return run
