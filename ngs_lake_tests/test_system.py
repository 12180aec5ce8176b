"""The whole system with real processes under fault (ARCHITECTURE §9), then the Dagster UI in a
real browser.

Processes: a moto server, a fault-injecting proxy in front of it (for the Dagster side), the
software gateway, a Dagster code server and a `dagster-daemon` that runs the sensors and launches
runs through the code server. Three runs of over 500 files each are written on two sequencers
(NovaSeq X flow cells A and B at once, and a MiSeq) while, mid-run:

- the daemon is SIGKILLed and restarted;
- the gateway is SIGKILLed and restarted;
- moto is SIGSTOPped for 20 s, then SIGCONTed;
- SNS Publish and SQS DeleteMessageBatch fail at the proxy for 15 s;
- real gateway events, tapped from the EventBridge rule, are sent again, duplicated and shuffled;
- a poison message lands on the events queue.

Afterwards every run has completed, each consumer FIFO queue holds exactly one message per
lifecycle step per run, in order, and the DLQ holds only the poison message. The local stack's
inventory delivery (a report a few seconds after a run completes, here) runs throughout, so the
manual's catalogue queries return every run within minutes of its completion; the browser then
checks the lineage is one graph, the capacity asset's per-site table and the report's link.
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.names import LakeNames
from ngs_lake.local.inventory_writer import InventoryDelivery
from ngs_lake.local.processes import (
    ManagedProcess,
    dagster_daemon_argv,
    dagster_environment,
    free_port,
    gateway_argv,
    http_ok,
    moto_server_argv,
)
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import RunState
from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake_tests.conftest import CREDENTIALS, REPO, SMALL_CONFIG, run_cli
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.lake_fixtures import drain_queue
from ngs_lake_tests.test_gateway_uploads import wait_for
from ngs_lake_tests.test_runs_in_flight import split_at_marker

# Fixture setup (the whole scenario) counts against each test's timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

POISON = "this is not an EventBridge event"
# The runs write over two minutes: at about 14 files/s the events queue stays shallow enough for
# moto's SQS (which slows sharply with depth) even through the outages below.
RUN_SECONDS = 120
LIFECYCLE = ["run.started", "run.copy_complete", "run.completed"]
INVENTORY_DELAY_SECONDS = 5  # `make run` waits minutes after a completion; tests, seconds


class InventoryThread(threading.Thread):
    """The local stack's inventory delivery, ticking beside the test (a report
    INVENTORY_DELAY_SECONDS after a run completes); errors during the outages are retried."""

    def __init__(self, delivery: InventoryDelivery) -> None:
        super().__init__(name="inventory-delivery", daemon=True)
        self.delivery = delivery
        self.stopped = threading.Event()
        self.reports: list[float] = []  # when each round of reports was written

    def run(self) -> None:
        while not self.stopped.wait(2):
            try:
                if self.delivery.tick():
                    self.reports.append(time.time())
            except Exception:  # moto stopped, a timeout: the next tick tries again
                continue


@dataclass
class System:
    work: Path
    config_path: Path
    moto: ManagedProcess
    moto_url: str
    proxy: FaultProxy
    gateway: ManagedProcess
    gateway_url: str
    code_server: ManagedProcess
    daemon: ManagedProcess
    dagster_home: Path
    workspace: Path
    env: dict[str, str]
    run_keys: list[str]
    tap_url: str
    inventory: InventoryThread

    def clients(self) -> AwsClients:
        target = AwsTarget("us-east-1", self.moto_url, self.gateway_url, name="local")
        return AwsClients(
            target, {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        )


def _config(work: Path) -> Path:
    document = yaml.safe_load(SMALL_CONFIG.read_text())
    document["lake"]["settling_time_seconds"] = 2
    document["lake"]["events_visibility_timeout_seconds"] = 65
    lims = next(c for c in document["consumers"] if c["name"] == "lims")
    lims["event_types"] = ["run.started", "run.copy_complete", "run.completed"]
    path = work / "lake.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _tap_events(clients: AwsClients, names: LakeNames) -> str:
    """A second target on the lake's rule: a copy of every real gateway event, to replay."""
    sqs = clients.sqs()
    url = sqs.create_queue(QueueName="system-test-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    clients.events().put_targets(Rule=names.events_rule, Targets=[{"Id": "tap", "Arn": arn}])
    return url


def _replay_shuffled(clients: AwsClients, tap_url: str, queue_url: str, limit: int = 120) -> int:
    """Send tapped events again: each twice, in shuffled order."""
    sqs = clients.sqs()
    bodies: list[str] = []
    while len(bodies) < limit:
        batch = sqs.receive_message(QueueUrl=tap_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            break
        bodies += [m["Body"] for m in batch]
    copies = bodies * 2
    random.Random(5).shuffle(copies)
    for start in range(0, len(copies), 10):
        sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": b} for i, b in enumerate(copies[start : start + 10])
            ],
        )
    return len(copies)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    work = tmp_path_factory.mktemp("system")
    config_path = _config(work)
    moto_port, gateway_port, code_port = free_port(), free_port(), free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    base_env = {**os.environ, **CREDENTIALS, "AWS_REGION": "us-east-1"}
    moto = ManagedProcess("moto", moto_server_argv(moto_port), base_env, work / "moto.log")
    moto.start().wait_ready(lambda: http_ok(f"{moto_url}/moto-api/"))
    proxy = FaultProxy(moto_port).__enter__()
    gateway_env = {
        **base_env,
        **AwsTarget("us-east-1", moto_url, gateway_url, name="local").environment(),
    }
    gateway = ManagedProcess(
        "gateway",
        gateway_argv(config_path, work / "state", gateway_port),
        gateway_env,
        work / "gateway.log",
    )
    gateway.start().wait_ready(lambda: http_ok(f"{gateway_url}/health"))
    clients = AwsClients(
        AwsTarget("us-east-1", moto_url, gateway_url, name="local"),
        {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
    )
    config = load_lake_config(config_path)
    apply_plan(plan_lake(config, clients))
    names = LakeNames.of(config)
    tap_url = _tap_events(clients, names)

    # The Dagster side reaches AWS through the proxy, so its calls can be made to fail.
    home = work / "dagster"
    env = {
        **base_env,
        **AwsTarget("us-east-1", proxy.endpoint, gateway_url, name="local").environment(),
        **dagster_environment(home, REPO, config_path, sensor_interval_seconds=3),
        "NGS_LAKE_INVENTORY_SENSOR_INTERVAL_SECONDS": "3",
    }
    bin_dir = Path(sys.executable).parent
    code_server = ManagedProcess(
        "code-server",
        [
            str(bin_dir / "dagster"),
            "code-server",
            "start",
            "-m",
            "ngs_lake.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(code_port),
            "--location-name",
            "ngs_lake",
        ],
        env,
        work / "code-server.log",
        cwd=REPO,
    ).start()
    workspace = work / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "grpc_server": {
                            "host": "127.0.0.1",
                            "port": code_port,
                            "location_name": "ngs_lake",
                        }
                    }
                ]
            }
        )
    )
    daemon = ManagedProcess(
        "dagster-daemon",
        dagster_daemon_argv(workspace),
        env,
        work / "daemon.log",
        cwd=REPO,
    )
    system = System(
        work,
        config_path,
        moto,
        moto_url,
        proxy,
        gateway,
        gateway_url,
        code_server,
        daemon,
        home,
        workspace,
        env,
        [],
        tap_url,
        # The start-up report is left out (the fast test covers it): its catalogue run would
        # only compete with the scenario for the two cores.
        InventoryThread(
            InventoryDelivery(
                clients,
                config,
                INVENTORY_DELAY_SECONDS,
                last_report=datetime.now(UTC),
                covered_until=datetime.now(UTC),
            )
        ),
    )
    try:
        wait_for(
            lambda: code_server.exit_code() is None and _grpc_up(code_port),
            timeout=120,
            what="the code server",
        )
        daemon.start()
        system.inventory.start()
        _drive(system, clients, names)
        yield system
    finally:
        system.inventory.stopped.set()
        system.inventory.join(timeout=60)
        for process in (daemon, code_server, gateway):
            process.stop()
        proxy.__exit__(None, None, None)
        moto.stop()


def _grpc_up(port: int) -> bool:
    from dagster._grpc.client import DagsterGrpcClient

    try:
        DagsterGrpcClient(port=port, host="127.0.0.1").ping("x")
        return True
    except Exception:
        return False


def _drive(system: System, clients: AwsClients, names: LakeNames) -> None:
    shares = system.work / "state" / "gateways" / "gw-a"
    novaseq = plan_simulation(
        RunSpec(
            platform="novaseq-x",
            scenario="concurrent",
            scale=0.03,
            duration_seconds=RUN_SECONDS,
            seed=41,
            max_file_bytes=1024,
            run_number=41,
        )
    )
    (miseq,) = plan_simulation(
        RunSpec(
            platform="miseq",
            scale=0.003,
            duration_seconds=RUN_SECONDS,
            seed=42,
            max_file_bytes=1024,
            run_number=42,
        )
    )
    assert [len(r.files) >= 500 for r in (*novaseq, miseq)] == [True, True, True]
    system.run_keys += [f"NVX-MAD-01/{r.run_folder}" for r in novaseq]
    system.run_keys.append(f"MIS-MAD-01/{miseq.run_folder}")
    writers = [
        threading.Thread(
            target=simulate, args=(novaseq, shares / "NVX-MAD-01"), kwargs={"seed": 41}
        ),
        threading.Thread(
            target=simulate, args=([miseq], shares / "MIS-MAD-01"), kwargs={"seed": 42}
        ),
    ]
    for writer in writers:
        writer.start()
    sqs = clients.sqs()
    queue_url = sqs.get_queue_url(QueueName=names.events_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=POISON)

    time.sleep(15)
    _kill(system.daemon)  # mid-run, mid-tick
    time.sleep(3)
    system.daemon.start()
    time.sleep(12)
    _kill(system.gateway)  # with files settling and uploads in flight
    system.gateway.start().wait_ready(lambda: http_ok(f"{system.gateway_url}/health"))
    time.sleep(15)
    system.moto.signal(signal.SIGSTOP)  # AWS down but not wiped
    time.sleep(20)
    system.moto.signal(signal.SIGCONT)
    time.sleep(10)
    system.proxy.faults.set("Publish", "fail")
    system.proxy.faults.set("DeleteMessageBatch", "fail")
    time.sleep(15)
    system.proxy.faults.set("Publish", None)
    system.proxy.faults.set("DeleteMessageBatch", None)
    for writer in writers:
        writer.join()
    _replay_shuffled(clients, system.tap_url, queue_url, limit=60)

    ledger = RunLedger(clients, names)
    try:
        wait_for(
            lambda: all(
                (run := ledger.get_run(key)) and run.state == RunState.COMPLETED
                for key in system.run_keys
            ),
            timeout=420,
            interval=3,
            what="all three runs COMPLETED",
        )
    except AssertionError as exc:
        states = {k: getattr(ledger.get_run(k), "state", None) for k in system.run_keys}
        raise AssertionError(f"{exc}: {states}; logs in {system.work}") from None


def _kill(process: ManagedProcess) -> None:
    pid = process.pid
    process.signal(signal.SIGKILL)
    wait_for(lambda: process.exit_code() is not None, timeout=10, what=f"{process.name} {pid} gone")


def test_every_run_completes_once_and_in_order_under_faults(system):
    clients = system.clients()
    names = LakeNames.of(load_lake_config(system.config_path))
    sqs = clients.sqs()
    time.sleep(10)  # announcements re-requested by the sensor after the Publish failures
    ledger = RunLedger(clients, names)
    wait_for(
        lambda: all(
            (run := ledger.get_run(k)) is not None and not run.unpublished for k in system.run_keys
        ),
        timeout=180,
        interval=3,
        what="every recorded notification published",
    )
    lims = [
        json.loads(m["Body"])
        for m in drain_queue(
            sqs, sqs.get_queue_url(QueueName=names.consumer_queue("lims"))["QueueUrl"]
        )
    ]
    for key in system.run_keys:
        mine = [m for m in lims if m["run"]["run_key"] == key]
        assert [m["event_type"] for m in mine] == LIFECYCLE, key
        assert [m["sequence"] for m in mine] == [1, 2, 3], key
    assert len(lims) == 3 * len(system.run_keys)
    qc = [
        json.loads(m["Body"])
        for m in drain_queue(
            sqs, sqs.get_queue_url(QueueName=names.consumer_queue("illumina-qc"))["QueueUrl"]
        )
    ]
    assert sorted(m["message_id"] for m in qc) == sorted(
        f"{k}#run.completed" for k in system.run_keys
    )
    dead = drain_queue(sqs, sqs.get_queue_url(QueueName=names.dead_letter_queue)["QueueUrl"])
    assert [m["Body"] for m in dead] == [POISON]
    assert system.proxy.faults.seen.get("Publish", 0) > 0
    assert system.proxy.faults.seen.get("DeleteMessageBatch", 0) > 0


@pytest.fixture(scope="module")
def webserver(system: System) -> Iterator[tuple[int, ManagedProcess]]:
    """dagster-webserver on the system's instance, started as soon as a test asks for it (the
    catalogue test does, so its start-up overlaps that test's wait)."""
    port = free_port()
    web = ManagedProcess(
        "dagster-webserver",
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            str(system.workspace),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        system.env,
        system.work / "webserver.log",
        cwd=REPO,
    ).start()
    yield port, web
    web.stop()


def _readme_catalogue_queries() -> list[list[str]]:
    """The `ngs-lake catalog query` commands of the manual's catalogue page, as arguments."""
    text = (REPO / "docs" / "operators" / "catalogue-and-capacity.md").read_text()
    block = text.split("Query the catalogue with DuckDB SQL", 1)[1].split("```sh", 1)[1]
    block = block.split("```", 1)[0]
    commands = [c for c in block.split("ngs-lake ") if c.strip()]
    out = []
    for command in commands:
        args = shlex.split(command)
        if "--format" in args:  # the test reads JSON
            del args[args.index("--format") : args.index("--format") + 2]
        out.append(args)
    return out


def test_the_readme_catalogue_queries_return_each_run_within_five_minutes_of_completing(
    system, tmp_path, webserver
):
    clients = system.clients()
    ledger = RunLedger(clients, LakeNames.of(load_lake_config(system.config_path)))
    completed = max(ledger.get_run(k).completed_at for k in system.run_keys)
    deadline = completed.timestamp() + 300
    runs, by_month, by_platform = _readme_catalogue_queries()

    def query(args: list[str]) -> list[dict]:
        answer = run_cli(
            system.moto_url,
            system.gateway_url,
            system.config_path,
            *args,
            "--format",
            "json",
            "--state",
            str(tmp_path),
        )
        return json.loads(answer.stdout) if answer.returncode == 0 else []

    wait_for(
        lambda: {r["run_key"] for r in query(runs)} >= set(system.run_keys),
        timeout=max(1, deadline - time.time()),
        interval=5,
        what="the manual's first catalogue query to list every completed run",
    )
    # Delivered by the local stack's inventory delivery after the runs completed.
    assert any(t >= completed.timestamp() for t in system.inventory.reports)
    assert sum(r["runs"] for r in query(by_month)) == 3
    assert {r["site"] for r in query(by_month)} == {"madison"}
    written = {r["platform"]: list(r.values())[1] for r in query(by_platform)}
    assert written["novaseq-x"] > 0 and written["miseq"] > 0


# What an operator acts on first: capacity_report's `sites` table leads with these.
FIRST_COLUMNS = ("site", "lowest buffer days", "meets target", "headroom")
SCROLLED_SIDEWAYS = """(cell) => { let n = cell, x = window.scrollX;
    for (; n; n = n.parentElement) x += n.scrollLeft; return x; }"""
LINEAGE_QUERY = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"


def _one_graph(nodes: list[dict]) -> tuple[set[str], set[str]]:
    """(every asset, those reached from lake_config walking edges either way), as the UI's
    GraphQL API serves the lineage."""
    edges = [
        ("/".join(n["assetKey"]["path"]), "/".join(d["path"]))
        for n in nodes
        for d in n["dependencyKeys"]
    ]
    assets = {"/".join(n["assetKey"]["path"]) for n in nodes}
    seen, todo = {"lake_config"}, ["lake_config"]
    while todo:
        at = todo.pop()
        for a, b in edges:
            for here, there in ((a, b), (b, a)):
                if here == at and there not in seen:
                    seen.add(there)
                    todo.append(there)
    return assets, seen


def _check_lineage_and_capacity(page, base: str, shots: Path) -> None:
    from playwright.sync_api import expect

    # The global lineage, every group expanded (the UI's Alt+E): one graph, config to reports.
    page.goto(f"{base}/asset-groups")
    page.get_by_text("Materialize all").first.wait_for(timeout=60_000)
    page.keyboard.press("Alt+e")
    for name in ("lake_config", "provisioned_lake", "inventory_catalog", "capacity_report"):
        page.get_by_text(name, exact=True).first.wait_for(timeout=30_000)
    page.screenshot(path=str(shots / "lineage.png"))
    answer = page.evaluate(
        """async (query) => (await (await fetch('/graphql', {method: 'POST',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({query})})).json())""",
        LINEAGE_QUERY,
    )
    assets, reached = _one_graph(answer["data"]["assetNodes"])
    assert reached == assets, assets - reached
    assert {"capacity_report", "sequencing_run", "sequencer_bucket", "runs_in_flight"} <= reached
    # The capacity asset: the per-site table, then the report link, opened as a browser would.
    page.goto(f"{base}/assets/capacity_report")
    page.get_by_text("appliances", exact=True).first.wait_for(timeout=60_000)
    body = page.inner_text("body")
    for text in ("lowest buffer days", "cache used", "gw-a (8 slots free), gw-b (9 slots free)"):
        assert text in body, text
    for column in FIRST_COLUMNS:  # in view at 1600x1000, without scrolling sideways
        header = page.locator("th", has_text=re.compile(f"^{column}$")).first
        header.scroll_into_view_if_needed()
        assert header.evaluate(SCROLLED_SIDEWAYS) == 0, column
        expect(header).to_be_in_viewport(ratio=1)
    page.screenshot(path=str(shots / "capacity_report.png"), full_page=True)
    link = page.locator("a[href*='index.html']").first.get_attribute("href")
    page.goto(link)
    page.get_by_role("heading", name="Capacity report").wait_for(timeout=30_000)
    page.screenshot(path=str(shots / "report_index.png"), full_page=True)
    page.get_by_role("link", name="madison").click()
    page.get_by_role("heading", name="Site madison").wait_for(timeout=30_000)
    assert page.locator("img[alt='buffer days trend at madison']").is_visible()
    page.screenshot(path=str(shots / "report_madison.png"), full_page=True)


def _hold_a_run_in_flight(system: System) -> str:
    """A fourth run, written without its completion marker: in flight from here on."""
    (run,) = plan_simulation(
        RunSpec(
            platform="miseq",
            scenario="tiny",
            duration_seconds=1,
            seed=44,
            max_file_bytes=256,
            run_number=44,
        )
    )
    before_marker, _ = split_at_marker(run)
    simulate([before_marker], system.work / "state" / "gateways" / "gw-a" / "MIS-MAD-01", seed=44)
    return f"MIS-MAD-01/{run.run_folder}"


def _check_a_run_in_flight(page, base: str, run_key: str, shots: Path) -> None:
    """Its state before it completes, among sequencing_run's events (the newest: selected by
    its partition key, shown whole); its full key in runs_in_flight's table."""

    from playwright.sync_api import TimeoutError as PageTimeout

    def listed() -> bool:  # the list shows what was there when the page loaded
        page.goto(f"{base}/assets/sequencing_run?view=events")
        try:  # a loaded webserver can take longer than one wait to render the events: load again
            page.get_by_text("events sensor tick").first.wait_for(timeout=30_000)
        except PageTimeout:
            return False
        return page.get_by_text(run_key, exact=True).count() > 0

    wait_for(listed, timeout=240, interval=2, what=f"{run_key}'s state among the events")
    page.get_by_text(run_key, exact=True).first.click()
    detail = page.get_by_text("STARTED: files uploading; waits for the run's completion marker")
    detail.wait_for(timeout=30_000)
    assert page.get_by_role("link", name=run_key).count() == 1  # "Partition <key> observed"
    page.screenshot(path=str(shots / "run_in_flight.png"))
    page.goto(f"{base}/assets/runs_in_flight")
    page.get_by_text("files uploading; waits for the run's completion marker").first.wait_for(
        timeout=60_000
    )
    cells = page.locator("td").all_inner_texts()
    assert run_key in ["".join(c.split()) for c in cells], cells  # whole, however it wraps
    page.screenshot(path=str(shots / "runs_in_flight.png"))


def test_the_dagster_ui_shows_one_lineage_graph_the_capacity_sites_and_the_report(
    system, webserver
):
    """Playwright drives Debian's chromium, headless, against dagster-webserver on this instance.
    Screenshots (partitions, lineage, capacity_report, report_index, report_madison,
    run_in_flight and runs_in_flight, .png) go to the system's work folder, printed."""
    from playwright.sync_api import sync_playwright

    port, web = webserver
    held = _hold_a_run_in_flight(system)
    web.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/server_info"), timeout=120)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        # Dagster's first-visit newsletter dialog, whenever it shows, is dismissed.
        page.add_locator_handler(
            page.get_by_text("Join the Dagster community"),
            lambda: page.get_by_role("button", name="Skip").click(),
        )
        page.goto(f"http://127.0.0.1:{port}/assets/sequencing_run?view=lineage")
        graph = page.get_by_text("run_manifest", exact=True).first
        graph.wait_for(timeout=60_000)
        assert page.get_by_text("sequencing_run", exact=True).first.is_visible()
        page.goto(f"http://127.0.0.1:{port}/assets/sequencing_run?view=partitions")
        materialised = page.get_by_text(f"Materialized ({len(system.run_keys)})")
        materialised.wait_for(timeout=60_000)
        body = page.inner_text("body")
        for key in system.run_keys:
            assert key in body, key
        page.screenshot(path=str(system.work / "partitions.png"))
        print(f"screenshots in {system.work}")
        _check_lineage_and_capacity(page, f"http://127.0.0.1:{port}", system.work)
        _check_a_run_in_flight(page, f"http://127.0.0.1:{port}", held, system.work)
        browser.close()
