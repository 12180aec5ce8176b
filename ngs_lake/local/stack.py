"""The embedded default: the whole lake on one machine, as the deployment target named `local`.

Starts, in order: a moto server (the AWS stand-in), the software gateway, provisioning from the
config document (through the gateway's Storage Gateway API, as on AWS), and `dagster dev` with the
repo's instance config. moto keeps its state in memory, so every start resets the local state
folder (only one that carries its marker: `state_folder`): a gateway database or Dagster history
that outlived its AWS would describe resources that are gone. However it ends, every process it
started is stopped: by itself on Ctrl-C, SIGTERM or SIGHUP, by its watchdog if it is killed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ngs_lake.aws.clients import (
    ENDPOINT_ENV,
    STORAGEGATEWAY_ENDPOINT_ENV,
    TARGET_ENV,
    AwsClients,
    AwsTarget,
)
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.model import LOCAL_TARGET, LakeConfig
from ngs_lake.config.units import format_size, plural
from ngs_lake.gateway.server import share_root
from ngs_lake.local.inventory_writer import DEFAULT_DELAY_SECONDS, InventoryDelivery
from ngs_lake.local.process_groups import ProcessWatchdog, WatchdogGone
from ngs_lake.local.processes import (
    ManagedProcess,
    ProcessFailed,
    dagster_daemon_argv,
    gateway_argv,
    http_ok,
    ignore_stop_signals,
    link_dagster_home,
    moto_server_argv,
    port_open,
    unwind_on_stop_signals,
)
from ngs_lake.local.state_folder import StackGroup, StateClaim, claim_state_folder
from ngs_lake.simulator.lab import LabSettings, SimulatedLab, plan_lab

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
INVENTORY_DELAY_ENV = "NGS_LAKE_INVENTORY_DELAY_SECONDS"
# Start-up runs each job once, from the sensors alone: `lake_config_changed` provisions (its
# first tick) and `inventory_reports_arrived` catalogues the start-up inventory delivery and
# refreshes the capacity report (one `catalogue_refresh_job`). The stack launches none itself:
# its own launches made capacity_report three runs on a 2-core machine.


@dataclass(frozen=True)
class LocalStackPorts:
    moto: int = 4566
    gateway: int = 4570
    dagster: int = 3000


@dataclass
class LocalStack:
    config_path: Path
    state_dir: Path
    ports: LocalStackPorts = LocalStackPorts()
    project_dir: Path = field(default_factory=Path.cwd)
    echo: Callable[[str], None] = print
    processes: list[ManagedProcess] = field(default_factory=list)
    # Reports daily, as S3, and this long after a run completes (so the catalogue keeps up).
    inventory_delay_seconds: float = field(
        default_factory=lambda: float(os.environ.get(INVENTORY_DELAY_ENV, DEFAULT_DELAY_SECONDS))
    )
    inventory: InventoryDelivery | None = None
    lab: LabSettings | None = None  # simulated sequencers to start once Dagster is up
    status_every_seconds: float = 30.0
    simulated: SimulatedLab | None = None
    claim: StateClaim | None = None  # the state folder, locked while this stack runs
    watchdog: ProcessWatchdog | None = None
    ports_in_use: dict[str, int] = field(default_factory=dict)

    @property
    def config(self) -> LakeConfig:
        return load_lake_config(self.config_path, target=LOCAL_TARGET)

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster"

    def environment(self) -> dict[str, str]:
        """What any process needs to reach this stack: endpoints, target, test credentials."""
        from ngs_lake.provisioning.document_in_force import CATALOG_BUCKET_ENV

        target = AwsTarget(
            region=self.config.lake.region,
            endpoint_url=f"http://127.0.0.1:{self.ports.moto}",
            storagegateway_endpoint_url=f"http://127.0.0.1:{self.ports.gateway}",
            name="local",
        )
        return {
            **target.environment(),
            **LOCAL_CREDENTIALS,
            # The key pair the gateway's API checks SigV4 signatures against: the same test pair.
            "NGS_LAKE_GATEWAY_ACCESS_KEY_ID": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "NGS_LAKE_GATEWAY_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "NGS_LAKE_CONFIG": str(self.config_path),
            # where the document in force is recorded, pinned as a deployment pins it
            CATALOG_BUCKET_ENV: self.config.lake.catalog_bucket,
            "NGS_LAKE_STATE_DIR": str(self.state_dir),
            "DAGSTER_HOME": str(self.dagster_home),
        }

    def claim_state(self, with_ui: bool) -> StateClaim:
        """Lock the state folder, check the ports, then empty the folder: a folder that is not
        ours, a stack already running from it or a busy port stops us before anything starts."""
        self.claim = claim_state_folder(self.state_dir)
        self.ports_in_use = {"moto": self.ports.moto, "gateway": self.ports.gateway}
        if with_ui:
            self.ports_in_use["dagster"] = self.ports.dagster
        for port in self.ports_in_use.values():
            if port_open("127.0.0.1", port):
                raise ProcessFailed(
                    f"port {port} is already in use; stop what holds it or choose another port"
                )
        self.claim.reset()
        self.claim.record(self.ports_in_use, [])
        # `dagster dev` reads $DAGSTER_HOME/dagster.yaml: the repo's is linked there.
        link_dagster_home(self.dagster_home, self.project_dir)
        return self.claim

    def start(self, with_dagster: bool = True, headless: bool = False) -> None:
        """Start everything; `headless` runs the Dagster daemon alone, without the UI."""
        claim = self.claim_state(with_ui=with_dagster and not headless)
        env = {**os.environ, **self.environment()}
        logs = self.state_dir / "logs"
        bin_dir = Path(sys.executable).parent
        # It holds the folder's lock until the last group is stopped, however this process ends.
        self.watchdog = ProcessWatchdog(logs / "watchdog.log", hold_fds=(claim.fd,))

        moto = self._spawn(
            "moto",
            moto_server_argv(self.ports.moto),
            env,
            logs,
        )
        moto.wait_ready(lambda: http_ok(f"http://127.0.0.1:{self.ports.moto}/moto-api/"))
        self.echo(f"moto (local AWS)       http://127.0.0.1:{self.ports.moto}")

        gateway = self._spawn(
            "gateway",
            gateway_argv(self.config_path, self.state_dir, self.ports.gateway),
            env,
            logs,
        )
        gateway.wait_ready(lambda: http_ok(f"http://127.0.0.1:{self.ports.gateway}/health"))
        self.echo(f"gateway API            http://127.0.0.1:{self.ports.gateway}")

        self.provision(env)
        self.write_inventory()

        if with_dagster and headless:
            self._spawn(
                "dagster-daemon",
                dagster_daemon_argv(self.project_dir / "workspace.yaml"),
                env,
                logs,
                cwd=self.project_dir,
            )
            self.echo("Dagster daemon         running (no UI)")
        elif with_dagster:
            dagster = self._spawn(
                "dagster",
                [
                    str(bin_dir / "dagster"),
                    "dev",
                    "-w",
                    str(self.project_dir / "workspace.yaml"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.ports.dagster),
                ],
                env,
                logs,
                cwd=self.project_dir,
            )
            dagster.wait_ready(
                lambda: http_ok(f"http://127.0.0.1:{self.ports.dagster}/server_info"), timeout=180
            )
            self.echo(f"Dagster UI             http://127.0.0.1:{self.ports.dagster}")
        self._print_guide(logs)
        if self.lab is not None:
            runs = plan_lab(self.config, share_root(self.state_dir), self.lab)
            self.simulated = SimulatedLab(runs, echo=self.echo).start()
            platforms = sorted({r.run.platform for r in runs})
            self.echo(f"simulating {plural(len(runs), 'run')} ({', '.join(platforms)})")

    def provision(self, env: dict[str, str]) -> None:
        from ngs_lake.provisioning import apply_plan, plan_lake

        os.environ.update({k: env[k] for k in self.environment()})
        clients = AwsClients(AwsTarget.from_environment(self.config.lake.region))
        started = time.monotonic()
        applied = apply_plan(plan_lake(self.config, clients))
        self.echo(
            f"provisioned            {plural(len(applied), 'change')} in "
            f"{time.monotonic() - started:.1f} s "
            f"({plural(len(self.config.sequencers), 'sequencer')})"
        )

    def echo_status(self) -> None:
        """One compact status block: runs by state, upload backlog, latest notifications."""
        from ngs_lake.operations.status import collect_status
        from ngs_lake.provisioning.document_in_force import load_document_in_force

        def clients(region: str) -> AwsClients:
            return AwsClients(AwsTarget.from_environment(region))

        try:  # the document in force: an invalid file must not blind the status
            in_force = load_document_in_force(
                self.config_path, lambda region: clients(region).s3(), LOCAL_TARGET, record=False
            )
            if in_force.falls_back:
                self.echo(f"[status] {in_force.status_line()}")
            document = in_force.document
            status = collect_status(clients(document.lake.region), document, 3)
        except Exception as exc:  # a status line must never stop the lake
            self.echo(f"[status] unavailable: {exc}")
            return
        states = "  ".join(f"{s} {n}" for s, n in status.runs_by_state.items() if n) or "none"
        dirty = sum(g.dirty_bytes for g in status.gateways or [])
        ages = [g.oldest_dirty_age_seconds for g in status.gateways or []]
        oldest = max((a for a in ages if a is not None), default=None)
        self.echo(
            f"[{status.taken_at:%H:%M:%S}] runs: {states} | upload backlog "
            f"{format_size(dirty)}"
            + (f", oldest {oldest:.0f} s" if oldest is not None else "")
            + f" | events waiting {status.events_waiting}, DLQ {status.dead_letter_count}"
        )
        for n in status.latest:
            self.echo(f"    {n.message_id}" + ("" if n.published_at else " (not yet published)"))

    def write_inventory(self) -> None:
        """Deliver S3 Inventory reports when due, as S3 would (moto never does): at start-up,
        daily, and `inventory_delay_seconds` after a run completes."""
        if self.inventory is None:
            clients = AwsClients(AwsTarget.from_environment(self.config.lake.region))
            self.inventory = InventoryDelivery(clients, self.config, self.inventory_delay_seconds)
        started = time.monotonic()
        try:
            written = self.inventory.tick()
        except Exception as exc:  # a report is retried on the next pass; the lake keeps running
            self.echo(f"[inventory] not written: {exc}")
            return
        if written:
            self.echo(
                f"inventory reports      {len(written)} written in "
                f"{time.monotonic() - started:.1f} s"
            )

    def stop(self) -> list[str]:
        """Stop each group, newest first (Dagster, the gateway, moto), then free the folder;
        the names of the processes stopped."""
        stopped = [process.name for process in reversed(self.processes)]
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if self.watchdog is not None:
            self.watchdog.close()
            self.watchdog = None
        if self.claim is not None:
            self.claim.release()
            self.claim = None
        return stopped

    def run_until_interrupted(self, with_dagster: bool = True) -> None:
        """`make run`: start everything, then wait; Ctrl-C, SIGTERM or SIGHUP stops every
        child."""
        unwind_on_stop_signals()
        failed = False
        try:
            self.start(with_dagster)
            self.echo(
                "running; press Ctrl-C to stop everything, or run "
                f"`ngs-lake local down --state {self.state_dir}` in another shell"
            )
            last_status = last_inventory = time.monotonic()
            while True:
                if time.monotonic() - last_inventory >= 5:  # one ledger query per pass
                    self.write_inventory()
                    last_inventory = time.monotonic()
                if time.monotonic() - last_status >= self.status_every_seconds:
                    self.echo_status()
                    last_status = time.monotonic()
                for process in self.processes:
                    if process.exit_code() is not None:
                        raise ProcessFailed(
                            f"{process.name} exited with code {process.exit_code()}; "
                            f"see {process.log_path}"
                        )
                time.sleep(1)
        except KeyboardInterrupt:
            self.echo("stopping")
        except (ProcessFailed, WatchdogGone) as exc:
            self.echo(f"error: {exc}")
            failed = True
        finally:
            ignore_stop_signals()
            stopped = self.stop()
            # One line saying it is over, so whoever pressed Ctrl-C knows nothing is left; none
            # after a start refused before it began anything (its error is the last line).
            if stopped or not failed:
                self.echo(f"stopped everything ({', '.join(stopped) or 'nothing was running'})")
        if failed:
            sys.exit(1)

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str], logs: Path, cwd: Path | None = None
    ) -> ManagedProcess:
        process = ManagedProcess(
            name, argv, env, logs / f"{name}.log", cwd=cwd, watchdog=self.watchdog
        )
        self.processes.append(process)  # before it starts: a Ctrl-C in between still stops it
        process.start()
        if self.claim is not None:  # the pid file `local down` reads
            groups = [StackGroup(p.name, p.pid, p.started or 0) for p in self.processes]
            self.claim.record(self.ports_in_use, groups)
        return process

    def _print_guide(self, logs: Path) -> None:
        config = self.config
        self.echo("\nshare folders (write run folders here; the gateway uploads them):")
        for s in config.sequencers:
            self.echo(f"  {s.id:<12} {share_root(self.state_dir) / s.gateway / s.id}")
        self.echo(f"\nlogs: {logs}")
        self.echo("\nto reach this lake from another shell:")
        for key in (
            ENDPOINT_ENV,
            STORAGEGATEWAY_ENDPOINT_ENV,
            TARGET_ENV,
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "NGS_LAKE_GATEWAY_ACCESS_KEY_ID",
            "NGS_LAKE_GATEWAY_SECRET_ACCESS_KEY",
            "NGS_LAKE_CONFIG",
        ):
            self.echo(f"  export {key}={self.environment()[key]}")
        self.echo("")
