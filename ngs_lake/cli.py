"""`ngs-lake`: the operator's command line. Each command is a thin shell over a library function."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from ngs_lake.aws import AwsClients, AwsTarget
from ngs_lake.config import LakeConfig, LakeConfigError, load_lake_config
from ngs_lake.lifecycle import RunState
from ngs_lake.platforms import PLATFORM_IDS
from ngs_lake.simulator.lab import DEFAULT_MIX
from ngs_lake.simulator.plan import SCENARIOS
from ngs_lake.units import UnitError, format_size, parse_duration, parse_size

DEFAULT_CONFIG = os.environ.get("NGS_LAKE_CONFIG", "config/lake.yaml")
DEFAULT_STATE = os.environ.get("NGS_LAKE_STATE_DIR", ".ngs-lake")

config_option = click.option(
    "--config",
    "config_path",
    default=DEFAULT_CONFIG,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The lake config document ($NGS_LAKE_CONFIG).",
)
state_option = click.option(
    "--state",
    "state_dir",
    default=DEFAULT_STATE,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The local state folder ($NGS_LAKE_STATE_DIR).",
)


def _load(config_path: Path) -> LakeConfig:
    try:
        return load_lake_config(config_path)
    except LakeConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at debug level.")
def main(verbose: bool) -> None:
    """ngs_lake: a sequencing data lake on S3, Storage Gateway and Dagster."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Their INFO lines (each AWS call; the Dagster instance's SQLite migrations) bury ours.
    for noisy in ("botocore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


@main.group("config")
def config_group() -> None:
    """Work with the lake config document."""


@config_group.command("validate")
@config_option
def config_validate(config_path: Path) -> None:
    """Validate the document; print a summary (exit 0) or every problem (exit 1)."""
    config = _load(config_path)
    click.echo(
        f"{config_path}: valid. {len(config.sites)} sites, {len(config.gateways)} gateways, "
        f"{len(config.sequencers)} sequencers, {len(config.consumers)} consumers."
    )
    click.echo(
        f"\n{'gateway':<12} {'site':<10} {'sequencers':>10} {'cache':>9} {'per day':>10} "
        f"{'buffer days':>11}  (target {config.lake.cache_buffer_days:g})"
    )
    maximum = config.lake.max_sequencers_per_gateway
    for g in config.gateways:
        attached = config.sequencers_on(g.id)
        per_day = sum(s.data_rate for s in attached) * 24
        click.echo(
            f"{g.id:<12} {g.site:<10} {len(attached):>4} / {maximum:<3} "
            f"{format_size(g.cache, iec=True):>9} {format_size(per_day):>10} "
            f"{config.buffer_days(g.id):>11.1f}"
        )


@main.command("provision")
@config_option
@click.option("--plan", "mode", flag_value="plan", default=True, help="Show the plan only.")
@click.option("--apply", "mode", flag_value="apply", help="Apply the plan.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--show-noop", is_flag=True, help="List resources that are already up to date.")
def provision(config_path: Path, mode: str, as_json: bool, show_noop: bool) -> None:
    """Compute the plan from the document against what exists, and apply it with --apply."""
    from ngs_lake.provisioning import ProvisioningRefused, apply_plan, plan_lake

    config = _load(config_path)
    clients = AwsClients(AwsTarget.from_environment(config.lake.region))
    try:
        plan = plan_lake(config, clients)
    except ProvisioningRefused as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(plan.as_dict(), indent=2))
    else:
        click.echo(plan.render(show_noop=show_noop))
    if mode == "apply":
        applied = apply_plan(plan)
        click.echo(f"applied {len(applied)} change(s)", err=as_json)


@main.group("gateway")
def gateway_group() -> None:
    """The software file gateway."""


@gateway_group.command("run")
@config_option
@state_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=4570, show_default=True, type=int)
@click.option(
    "--gateway",
    "gateway_ids",
    multiple=True,
    help="Serve only these gateway ids from the document (default: all).",
)
@click.option("--account", help="AWS account id for ARNs (default: ask STS).")
@click.option(
    "--upload-workers",
    type=click.IntRange(1, 64),
    help="Concurrent uploads (default: 8 to AWS, 4 to the local stand-in).",
)
def gateway_run(
    config_path: Path,
    state_dir: Path,
    host: str,
    port: int,
    gateway_ids: tuple[str, ...],
    account: str | None,
    upload_workers: int | None,
) -> None:
    """Serve the Storage Gateway API for the document's gateways on loopback."""
    from ngs_lake.gateway.server import run_gateway

    config = _load(config_path)
    unknown = set(gateway_ids) - {g.id for g in config.gateways}
    if unknown:
        raise click.BadParameter(
            f"not in the document: {', '.join(sorted(unknown))}", param_hint="--gateway"
        )
    if account is None:
        account = AwsClients(AwsTarget.from_environment(config.lake.region)).account_id()
    only = set(gateway_ids) or None
    run_gateway(config, state_dir, account, host, port, only, upload_workers=upload_workers)


@main.command("simulate")
@click.option("--platform", type=click.Choice(PLATFORM_IDS), help="Platform id to simulate.")
@click.option(
    "--into",
    "share_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The share folder to write run folders into.",
)
@click.option(
    "--scale",
    default=0.01,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Geometry (file count) and file sizes, as a fraction of a real run.",
)
@click.option("--duration", help='Wall time of the run, e.g. "60s" (default 60s).')
@click.option("--sequencer", help="Take platform and pace (its data rate) from the config.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--scenario", default="normal", show_default=True, type=click.Choice(SCENARIOS))
@click.option("--max-file-size", help='Cap every file, e.g. "64 KiB" (keeps local S3 small).')
@click.option("--stall", default="30s", show_default=True, help="Pause of stalled-then-resumed.")
@config_option
def simulate_command(
    platform: str | None,
    share_dir: Path,
    scale: float,
    duration: str | None,
    sequencer: str | None,
    seed: int,
    scenario: str,
    max_file_size: str | None,
    stall: str,
    config_path: Path,
) -> None:
    """Write realistic run folders into a share folder, in each platform's real order."""
    from ngs_lake.simulator import RunSpec, plan_simulation, simulate
    from ngs_lake.simulator.writer import terminal_progress

    if sequencer and duration:
        raise click.UsageError("--sequencer sets the pace from its data rate; drop --duration")
    rate = None
    if sequencer:
        config = _load(config_path)
        try:
            configured = config.sequencer(sequencer)
        except StopIteration:
            raise click.BadParameter(
                f"{sequencer!r} is not in {config_path}", param_hint="--sequencer"
            ) from None
        if platform and platform != configured.platform:
            raise click.UsageError(f"{sequencer} is a {configured.platform}, not a {platform}")
        platform, rate = configured.platform, configured.data_rate
    if platform is None:
        raise click.UsageError("give --platform or --sequencer")
    try:
        spec = RunSpec(
            platform=platform,
            scale=scale,
            duration_seconds=parse_duration(duration or "60s"),
            seed=seed,
            scenario=scenario,  # type: ignore[arg-type]
            max_file_bytes=parse_size(max_file_size) if max_file_size else None,
            stall_seconds=parse_duration(stall),
        )
        runs = plan_simulation(spec)
        if rate:
            # The sequencer's full-time data rate sets the pace: bytes / (bytes per second).
            seconds = sum(r.total_bytes for r in runs) / (rate / 3600)
            runs = plan_simulation(replace(spec, duration_seconds=seconds))
    except (UnitError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    stats = simulate(runs, share_dir, seed, terminal_progress())
    for run in runs:
        click.echo(f"{run.platform} {share_dir / run.run_folder}")
    click.echo(
        f"wrote {stats.files} files, {stats.bytes / 1e6:.1f} MB in {stats.seconds:.1f} s",
        err=True,
    )


@main.group("dlq")
def dlq_group() -> None:
    """The dead-letter queue: rejected gateway events, each with its reason."""


def _event_queues(config_path: Path, site: str | None) -> tuple[object, list[tuple[str, str, str]]]:
    """The SQS client and, per event queue (one site's with `site`): label, DLQ and queue URLs."""
    from ngs_lake.naming import event_shards

    config = _load(config_path)
    shards = event_shards(config)
    if site is not None:
        shards = tuple(s for s in shards if s.site == site)
        if not shards:
            per_site = sorted(x.site for x in event_shards(config) if x.site)
            raise click.UsageError(
                f"--site {site}: no event queue of its own; "
                + (f"sites: {', '.join(per_site)}" if per_site else "lake.event_queues is 'one'")
            )
    sqs = AwsClients(AwsTarget.from_environment(config.lake.region)).sqs()
    return sqs, [
        (
            shard.site or "lake",
            sqs.get_queue_url(QueueName=shard.dead_letter_queue)["QueueUrl"],
            sqs.get_queue_url(QueueName=shard.queue)["QueueUrl"],
        )
        for shard in shards
    ]


site_option = click.option("--site", help="Only this site's event queue (per-site queues).")


@dlq_group.command("list")
@config_option
@site_option
@click.option("--body", "show_body", is_flag=True, help="Print each message body too.")
def dlq_list(config_path: Path, site: str | None, show_body: bool) -> None:
    """Show each parked message with its reason; nothing is consumed."""
    from ngs_lake.dlq import list_parked

    sqs, queues = _event_queues(config_path, site)
    for label, dlq_url, _ in queues:
        parked = list_parked(sqs, dlq_url)
        prefix = "" if len(queues) == 1 else f"{label}: "
        click.echo(f"{prefix}{len(parked)} parked message(s)")
        for message in parked:
            click.echo(
                f"- {message.message_id}  {message.rejected_at or '-'}\n  reason: {message.reason}"
            )
            if show_body:
                click.echo(f"  body: {message.body[:2000]}")


@dlq_group.command("redrive")
@config_option
@site_option
@click.option("--reason", help="Only messages whose reason contains this text.")
def dlq_redrive(config_path: Path, site: str | None, reason: str | None) -> None:
    """Send parked messages back to their event queue, after the cause is fixed."""
    from ngs_lake.dlq import redrive

    sqs, queues = _event_queues(config_path, site)
    moved = sum(redrive(sqs, dlq_url, queue_url, reason) for _, dlq_url, queue_url in queues)
    click.echo(f"redrove {moved} message(s)")


@main.group("runs")
def runs_group() -> None:
    """Sequencing runs in the ledger."""


def _ledger(config_path: Path):  # noqa: ANN202 - (config, clients, ledger)
    from ngs_lake.ledger import RunLedger
    from ngs_lake.naming import LakeNames

    config = _load(config_path)
    clients = AwsClients(AwsTarget.from_environment(config.lake.region))
    return config, clients, RunLedger(clients, LakeNames.of(config))


@runs_group.command("list")
@config_option
@click.option("--state", type=click.Choice([s.value for s in RunState]), help="Only this state.")
@click.option("--site", help="Only runs at this site.")
def runs_list(config_path: Path, state: str | None, site: str | None) -> None:
    """Runs, newest activity first, with their state and file count."""
    from ngs_lake.operator_views import runs_table

    _, _, ledger = _ledger(config_path)
    if state:
        runs = ledger.runs_in_state(RunState(state))
    elif site:
        runs = ledger.runs_at_site(site)
    else:
        runs = [r for s in RunState for r in ledger.runs_in_state(s)]
    if site:
        runs = [r for r in runs if r["site"] == site]
    click.echo(runs_table(runs, {r["run_key"]: ledger.file_count(r["run_key"]) for r in runs}))


@runs_group.command("show")
@config_option
@click.argument("run_key")
def runs_show(config_path: Path, run_key: str) -> None:
    """State, progress, each step's time and the notifications sent, for one run."""
    from ngs_lake.operator_views import run_report

    _, _, ledger = _ledger(config_path)
    run = ledger.get_run(run_key)
    if run is None:
        raise click.ClickException(f"no run {run_key!r} in the ledger (see `ngs-lake runs list`)")
    click.echo(run_report(run, ledger.files(run_key)))


@runs_group.command("reverify")
@config_option
@click.argument("run_key")
def runs_reverify(config_path: Path, run_key: str) -> None:
    """Ask the gateway again and verify once it confirms (also for a final INCOMPLETE run)."""
    from ngs_lake.gateway_client import StorageGatewayShares
    from ngs_lake.ledger import TransitionConflict, utc_iso

    _, clients, ledger = _ledger(config_path)
    run = ledger.get_run(run_key)
    if run is None:
        raise click.ClickException(f"no run {run_key!r} in the ledger")
    allowed = [RunState.INCOMPLETE, RunState.UPLOAD_CONFIRMED, RunState.MARKER_SEEN]
    if run["state"] not in allowed:
        raise click.ClickException(
            f"{run_key} is {run['state']}; only runs past their marker can be re-verified"
        )
    notification_id = StorageGatewayShares(clients.storagegateway()).notify_when_uploaded(
        run["share_arn"]
    )
    try:
        ledger.transition(
            run_key,
            allowed,
            RunState.MARKER_SEEN,
            int(run["version"]),
            {
                "notification_id": notification_id,
                "notification_requested_at": utc_iso(),
                "final": False,
            },
        )
    except TransitionConflict as exc:
        raise click.ClickException(f"{exc}; try again") from None
    click.echo(f"{run_key}: asked the gateway again (notification {notification_id})")


@runs_group.command("abort")
@config_option
@click.argument("run_key")
@click.option("--reason", default="aborted by an operator", show_default=True)
def runs_abort(config_path: Path, run_key: str, reason: str) -> None:
    """Mark a run ABORTED; `run.aborted` follows on the next sensor tick."""
    from ngs_lake.ledger import TransitionConflict

    _, _, ledger = _ledger(config_path)
    run = ledger.get_run(run_key)
    if run is None:
        raise click.ClickException(f"no run {run_key!r} in the ledger")
    if run["state"] in (RunState.COMPLETED, RunState.ABORTED):
        raise click.ClickException(f"{run_key} is already {run['state']}")
    try:
        ledger.transition(
            run_key,
            [RunState(run["state"])],
            RunState.ABORTED,
            int(run["version"]),
            {"abort_reason": reason},
        )
    except TransitionConflict as exc:
        raise click.ClickException(f"{exc}; try again") from None
    click.echo(f"{run_key}: ABORTED ({reason})")


@main.command("status")
@config_option
@click.option("--watch", type=float, metavar="SECONDS", help="Refresh every SECONDS until Ctrl-C.")
def status_command(config_path: Path, watch: float | None) -> None:
    """Queues, dead letters, gateway backlog, runs by state, stalled runs, latest notifications."""
    import time

    from ngs_lake.status import collect_status, render_status

    config = _load(config_path)
    clients = AwsClients(AwsTarget.from_environment(config.lake.region))
    while True:
        text = render_status(collect_status(clients, config))
        if watch is None:
            click.echo(text)
            return
        click.clear()
        click.echo(text)
        time.sleep(watch)


@main.group("catalog")
def catalog_group() -> None:
    """The inventory catalogue (objects, runs, sequencers) in the catalogue bucket."""


@catalog_group.command("query")
@config_option
@state_option
@click.argument("sql")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
def catalog_query(config_path: Path, state_dir: Path, sql: str, output: str) -> None:
    """Run SQL (DuckDB) over the views `objects`, `runs` and `sequencers`.

    \b
    Examples:
      ngs-lake catalog query "SELECT site, strftime(first_modified, '%Y-%m') AS month,
                                     count(*) AS runs FROM runs GROUP BY ALL ORDER BY ALL"
      ngs-lake catalog query "SELECT platform, sum(bytes) FROM sequencers GROUP BY ALL"
    """
    import csv

    import duckdb

    from ngs_lake.inventory.query import format_table, mirror_catalogue, open_catalogue, run_query

    config = _load(config_path)
    clients = AwsClients(AwsTarget.from_environment(config.lake.region))
    mirror = mirror_catalogue(clients.s3(), config.lake.catalog_bucket, state_dir / "catalog")
    with open_catalogue(mirror) as db:
        try:
            columns, rows = run_query(db, sql)
        except duckdb.Error as exc:
            raise click.ClickException(f"query failed: {exc}") from None
    if output == "table":
        click.echo(format_table(columns, rows))
    elif output == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        click.echo(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))


@main.command("demo")
@config_option
@click.option("--runs", "run_count", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option(
    "--settling",
    default=5,
    show_default=True,
    type=click.IntRange(0, 3600),
    help="Settling time for the demo's shares, in seconds.",
)
@click.option("--timeout", default=900.0, show_default=True, help="Seconds to wait for the runs.")
def demo_command(config_path: Path, run_count: int, settling: int, timeout: float) -> None:
    """The whole local stack, headless, with N simulated runs; exit 0 only if every run completed
    and every consumer received each message_id once."""
    from ngs_lake.demo import render_outcome, run_demo

    _load(config_path)  # a bad document fails here, with its problems listed
    outcome = run_demo(config_path.resolve(), run_count, settling, timeout, echo=click.echo)
    click.echo("")
    click.echo(render_outcome(outcome))
    sys.exit(0 if outcome.passed else 1)


@main.group("local")
def local_group() -> None:
    """The embedded default: the whole lake on this machine."""


@local_group.command("inventory")
@config_option
def local_inventory(config_path: Path) -> None:
    """Write today's S3 Inventory report for every lake bucket (moto never delivers them)."""
    from ngs_lake.inventory.producer import produce_lake_inventory

    config = _load(config_path)
    target = AwsTarget.from_environment(config.lake.region)
    if not target.is_local:
        raise click.ClickException(
            "ngs-lake local inventory writes reports only on the local target "
            "(NGS_LAKE_TARGET=local); on AWS, S3 delivers them itself"
        )
    written = produce_lake_inventory(AwsClients(target), config)
    for key in written:
        click.echo(f"s3://{config.lake.inventory.bucket}/{key}")
    click.echo(f"{len(written)} inventory reports written")


@local_group.command("up")
@config_option
@state_option
@click.option("--moto-port", default=4566, show_default=True, type=int)
@click.option("--gateway-port", default=4570, show_default=True, type=int)
@click.option("--dagster-port", default=3000, show_default=True, type=int)
@click.option("--no-dagster", is_flag=True, help="Start AWS, the gateway and provisioning only.")
@click.option(
    "--simulate/--no-simulate",
    default=True,
    show_default=True,
    help="Run simulated sequencers once Dagster is up.",
)
@click.option(
    "--mix",
    default=",".join(DEFAULT_MIX),
    show_default=True,
    help="Platforms the simulated runs cycle through (comma-separated).",
)
@click.option("--runs", "run_count", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option(
    "--run-duration", default="90s", show_default=True, help="How long each simulated run writes."
)
def local_up(
    config_path: Path,
    state_dir: Path,
    moto_port: int,
    gateway_port: int,
    dagster_port: int,
    no_dagster: bool,
    simulate: bool,
    mix: str,
    run_count: int,
    run_duration: str,
) -> None:
    """Reset the local state, then start moto, the gateway, provisioning, Dagster and the
    simulated sequencers, and show a live status every 30 s."""
    from ngs_lake.local_stack import LocalStack, LocalStackPorts
    from ngs_lake.simulator.lab import LabSettings

    lab = None
    if simulate:
        platforms = tuple(p.strip() for p in mix.split(",") if p.strip())
        unknown = [p for p in platforms if p not in PLATFORM_IDS]
        if unknown:
            raise click.BadParameter(
                f"unknown platform(s) {', '.join(unknown)}; one of: {', '.join(PLATFORM_IDS)}",
                param_hint="--mix",
            )
        try:
            duration = parse_duration(run_duration)
        except UnitError as exc:
            raise click.BadParameter(str(exc), param_hint="--run-duration") from None
        lab = LabSettings(platforms=platforms, runs=run_count, duration_seconds=duration)
    stack = LocalStack(
        config_path=config_path.resolve(),
        state_dir=state_dir.resolve(),
        ports=LocalStackPorts(moto=moto_port, gateway=gateway_port, dagster=dagster_port),
        echo=click.echo,
        lab=lab,
    )
    stack.run_until_interrupted(with_dagster=not no_dagster)


if __name__ == "__main__":
    main()
