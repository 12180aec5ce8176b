"""`ngs-lake simulate`: realistic run folders written into a share."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from ngs_lake.cli.choices import plural, require_known
from ngs_lake.cli.options import (
    config_option,
    load_document,
)
from ngs_lake.config.units import UnitError, parse_duration, parse_size
from ngs_lake.platforms import PLATFORM_IDS
from ngs_lake.simulator.plan import SCENARIOS


@click.command("simulate")
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
@click.option("--force", is_flag=True, help="Write into a folder that is no share of a local lake.")
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
    force: bool,
    config_path: Path,
) -> None:
    """Write realistic run folders into a share folder, in each platform's real order."""
    from ngs_lake.simulator import RunSpec, plan_unused, simulate
    from ngs_lake.simulator.writer import terminal_progress

    if sequencer and duration:
        raise click.UsageError("--sequencer sets the pace from its data rate; drop --duration")
    rate = None
    if sequencer:
        config = load_document(config_path)
        require_known(sequencer, (s.id for s in config.sequencers), "sequencer", "--sequencer")
        configured = config.sequencer(sequencer)
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
        runs = plan_unused(spec, share_dir)  # numbered after the share's runs, never reused
        if rate:
            # The sequencer's full-time data rate sets the pace: bytes / (bytes per second).
            seconds = sum(r.total_bytes for r in runs) / (rate / 3600)
            runs = plan_unused(replace(spec, duration_seconds=seconds), share_dir)
    except (UnitError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    refusal = None if force else share_refusal(share_dir)
    if refusal:
        raise click.BadParameter(
            f"{refusal}; pass --force to write there anyway", param_hint="--into"
        )
    stats = simulate(runs, share_dir, seed, terminal_progress())
    for run in runs:
        click.echo(f"{run.platform} {share_dir / run.run_folder}")
    click.echo(
        f"wrote {plural(stats.files, 'file')}, {stats.bytes / 1e6:.1f} MB in {stats.seconds:.1f} s",
        err=True,
    )


def share_refusal(folder: Path) -> str | None:
    """Why `folder` is no share of a local lake, or None when it is one.

    A local lake's share is `<state>/gateways/<gateway>/<share>`, listed in that state folder's
    gateway registry. A typo in --into would otherwise fill a folder no gateway watches, and
    nothing written there would ever reach S3.
    """
    from ngs_lake.gateway.registry import ShareRegistry
    from ngs_lake.gateway.server import registry_path, share_root

    resolved = folder.resolve()
    gateway_folder = resolved.parent
    state = gateway_folder.parent.parent
    if gateway_folder.parent != share_root(state) or not registry_path(state).is_file():
        return (
            f"{folder} is no share of a local lake; shares are <state>/gateways/<gateway>/<share>,"
            " as `ngs-lake local up` prints them"
        )
    registry = ShareRegistry(registry_path(state))
    try:
        gateway = next((g for g in registry.gateways() if g.name == gateway_folder.name), None)
        shares = [] if gateway is None else [s.name for s in registry.shares(gateway.arn)]
    finally:
        registry.close()
    if resolved.name in shares:
        return None
    return (
        f"{folder} is no share of the local lake in {state}: gateway {gateway_folder.name} serves "
        + (", ".join(shares) or "no share")
    )
