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
lifecycle step per run, in order, and the DLQ holds only the poison message.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.names import LakeNames
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
from ngs_lake_tests.conftest import CREDENTIALS, REPO, SMALL_CONFIG
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.lake_fixtures import drain_queue
from ngs_lake_tests.test_gateway_uploads import wait_for

# Fixture setup (the whole scenario) counts against each test's timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

POISON = "this is not an EventBridge event"
# The runs write over two minutes: at about 14 files/s the events queue stays shallow enough for
# moto's SQS (which slows sharply with depth) even through the outages below.
RUN_SECONDS = 120
LIFECYCLE = ["run.started", "run.copy_complete", "run.completed"]


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
    )
    try:
        wait_for(
            lambda: code_server.exit_code() is None and _grpc_up(code_port),
            timeout=120,
            what="the code server",
        )
        daemon.start()
        _drive(system, clients, names)
        yield system
    finally:
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


def test_the_dagster_ui_shows_lineage_and_materialised_partitions(system):
    """Playwright drives Debian's chromium, headless, against dagster-webserver on this instance."""
    from playwright.sync_api import sync_playwright

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
    try:
        web.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/server_info"), timeout=120)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=["--no-sandbox", "--disable-dev-shm-usage"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
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
            browser.close()
    finally:
        web.stop()
