"""`ngs-lake demo` and `ngs-lake local up | down | inventory`: the embedded default."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ngs_lake.aws.clients import AwsTarget
from ngs_lake.cli.options import (
    config_option,
    load_document,
    state_option,
)
from ngs_lake.cli.target import connect
from ngs_lake.config.model import LOCAL_TARGET
from ngs_lake.config.units import UnitError, parse_duration
from ngs_lake.platforms import PLATFORM_IDS
from ngs_lake.simulator.lab import DEFAULT_MIX


@click.command("demo")
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
@click.option("--keep", is_flag=True, help="Keep the temporary folder (config, state, logs).")
def demo_command(
    config_path: Path, run_count: int, settling: int, timeout: float, keep: bool
) -> None:
    """The whole local stack, headless, with N simulated runs; exit 0 only if every run completed
    and every consumer received each message_id once."""
    from ngs_lake.local.demo import render_outcome, run_demo
    from ngs_lake.local.processes import ProcessFailed

    load_document(config_path, LOCAL_TARGET)  # a bad document fails here, with its problems
    try:
        outcome = run_demo(
            config_path.resolve(), run_count, settling, timeout, echo=click.echo, keep=keep
        )
    except KeyboardInterrupt:
        click.echo("demo: stopped before the runs completed", err=True)
        sys.exit(130)
    except ProcessFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("")
    click.echo(render_outcome(outcome))
    sys.exit(0 if outcome.passed else 1)


@click.group("local")
def local_group() -> None:
    """The embedded default: the whole lake on this machine."""


@local_group.command("inventory")
@config_option
def local_inventory(config_path: Path) -> None:
    """Write today's S3 Inventory report for every lake bucket (moto never delivers them)."""
    from ngs_lake.local.inventory_writer import produce_lake_inventory

    config = load_document(config_path)
    target = AwsTarget.from_environment(config.lake.region)
    if not target.is_local:
        raise click.ClickException(
            "ngs-lake local inventory writes reports only on the local target "
            "(NGS_LAKE_TARGET=local); on AWS, S3 delivers them itself"
        )
    written = produce_lake_inventory(connect(config), config)
    for key in written:
        click.echo(f"s3://{config.lake.inventory.bucket}/{key}")
    click.echo(f"{len(written)} inventory reports written")


@local_group.command("down")
@state_option
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    help="Seconds to wait for `local up` to stop before stopping its processes itself.",
)
def local_down(state_dir: Path, timeout: float) -> None:
    """Stop the local lake that `local up` runs from this state folder, in another terminal or in
    the background: Dagster, then the gateway, then moto."""
    from ngs_lake.local.state_folder import stop_stack

    if not stop_stack(state_dir.resolve(), click.echo, timeout):
        raise click.ClickException(f"the local lake from {state_dir} is still running")


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
    from ngs_lake.local.stack import LocalStack, LocalStackPorts
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
