"""A provisioned small lake on the session's moto server with a running gateway, and a way to
feed its events queue the AWS-shaped events a gateway would send."""

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames
from ngs_lake.local.processes import ManagedProcess, free_port, gateway_argv, http_ok
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import EVENT_TYPES, NewRun
from ngs_lake_tests.conftest import (
    CREDENTIALS,
    GATEWAY_CREDENTIALS,
    SMALL_CONFIG,
    Gateway,
    MotoServer,
    edited_config,
    lake_clients,
    run_cli,
    start_daemon,
)


@dataclass
class Lake:
    moto: MotoServer
    gateway: Gateway
    config: LakeConfig
    config_path: Path
    clients: AwsClients

    @property
    def names(self) -> LakeNames:
        return LakeNames.of(self.config)

    def ledger(self) -> RunLedger:
        return RunLedger(self.clients, self.names)

    def start_run(self, run_key: str, started_at: datetime) -> None:
        """Record a run as STARTED in the ledger, as the sensor would on its first file."""
        sequencer_id, run_folder = run_key.split("/", 1)
        sequencer = self.config.sequencer(sequencer_id)
        self.ledger().start_run(
            NewRun(
                run_key=run_key,
                run_folder=run_folder,
                sequencer_id=sequencer_id,
                platform=sequencer.platform,
                site=self.config.site_of(sequencer).id,
                lab=self.config.site_of(sequencer).id,
                timezone=self.config.site_of(sequencer).timezone,
                bucket=self.config.bucket_name(sequencer_id),
                share_arn=self.share(sequencer_id)["share_arn"],
                started_at=started_at,
                gateway_id=sequencer.gateway,
            )
        )

    def share(self, sequencer_id: str) -> dict:
        item = self.moto.client("dynamodb").get_item(
            TableName=self.names.shares_table, Key={"sequencer_id": {"S": sequencer_id}}
        )["Item"]
        return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}

    def share_folder(self, sequencer_id: str) -> Path:
        entry = self.share(sequencer_id)
        return self.gateway.state_dir / "gateways" / entry["gateway_id"] / sequencer_id

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`ngs-lake <args> --config <this lake>` in a child process pointed at this moto server."""
        return run_cli(self.moto.endpoint, self.gateway.endpoint, self.config_path, *args)

    def queue_url(self, name: str) -> str:
        return self.moto.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]

    def send_raw(self, bodies: list[str]) -> None:
        sqs = self.moto.client("sqs")
        url = self.queue_url(self.names.events_queue)
        for start in range(0, len(bodies), 10):
            sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "MessageBody": b}
                    for i, b in enumerate(bodies[start : start + 10])
                ],
            )

    def consumer_messages(self, consumer: str, wait_rounds: int = 2) -> list[dict]:
        url = self.queue_url(self.names.consumer_queue(consumer))
        return drain_queue(self.moto.client("sqs"), url, wait_rounds)


def drain_queue(sqs: Any, url: str, wait_rounds: int = 2) -> list[dict]:
    """Receive and delete until `wait_rounds` long polls in a row come back empty."""
    out, idle = [], 0
    while idle < wait_rounds:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            idle += 1
            continue
        out += batch
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return out


def upload_event(
    share: dict,
    key: str,
    size: int = 100,
    modified: datetime | None = None,
    source: str = "aws.storagegateway",
    event_id: str | None = None,
    gateway_arn: str = "arn:aws:storagegateway:us-east-1:123456789012:gateway/sgw-12A3456B",
    time: datetime | None = None,
) -> str:
    """An EventBridge-delivered object upload event, in AWS's exact envelope; `time` is when
    the gateway sent it (now, unless the test plays a late delivery)."""
    modified = modified or datetime.now(UTC)
    return json.dumps(
        {
            "version": "0",
            "id": event_id or str(uuid.uuid4()),
            "detail-type": "Storage Gateway Object Upload Event",
            "source": source,
            "account": "123456789012",
            "time": (time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [share["share_arn"], gateway_arn, f"arn:aws:s3:::{share['bucket']}"],
            "detail": {
                "object-size": size,
                "modification-time": modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "object-key": key,
                "event-type": "object-upload-complete",
                "prefix": "",
                "bucket-name": share["bucket"],
            },
        }
    )


def _small_lake(document: dict) -> None:
    document["lake"]["settling_time_seconds"] = 1
    lims = next(c for c in document["consumers"] if c["name"] == "lims")
    lims["event_types"] = list(EVENT_TYPES)  # the LIMS hears every lifecycle step
    document["lake"]["abort_after_stall_windows"] = 3
    promethion = next(s for s in document["sequencers"] if s["id"] == "PRM-MAD-01")
    promethion["stall_window"] = "4s"  # compressed time for stall and abort tests
    document["lake"]["lifecycle_run_attempts"] = 3  # and for retries that end
    document["lake"]["lifecycle_retry_backoff"] = "1s"
    document["lake"]["gateway_silence"] = "8s"


@pytest.fixture
def lake_with(moto, start_gateway, tmp_path) -> Callable[[Callable[[dict], None]], Lake]:
    """The small lake with one more edit of its document (more sequencers, say)."""

    def build(more: Callable[[dict], None]) -> Lake:
        def edit(document: dict) -> None:
            _small_lake(document)
            more(document)

        path = edited_config(tmp_path, SMALL_CONFIG, edit, "lake.yaml")
        gateway = start_gateway(path)
        clients = lake_clients(moto, gateway)
        config = load_lake_config(path)
        apply_plan(plan_lake(config, clients))
        return Lake(moto, gateway, config, path, clients)

    return build


@pytest.fixture
def lake(lake_with) -> Lake:
    return lake_with(lambda document: None)


@contextmanager
def module_lake(
    moto: MotoServer,
    work: Path,
    config_path: Path,
    gateway_config: Path | None = None,
    queues: tuple[str, ...] = (),
) -> Iterator[Lake]:
    """A module's own lake, for a module-scoped stack: `moto` (the session's server) emptied,
    `queues` created (an alert subscription's, before provisioning subscribes it), the software
    gateway started on `gateway_config` (the lake's document unless given) with its state in
    `work`, and the lake provisioned; the gateway stops at the end. A module with a fixture of
    module scope runs whole on one worker (scheduling.py), so no other test resets the server
    while the stack runs between the module's tests."""
    moto.reset()
    port = free_port()
    env = {
        **os.environ,
        **CREDENTIALS,
        **GATEWAY_CREDENTIALS,
        "NGS_LAKE_AWS_ENDPOINT_URL": moto.endpoint,
        "NGS_LAKE_TARGET": "local",
    }
    gateway_config = gateway_config or config_path
    gateway = Gateway(
        f"http://127.0.0.1:{port}",
        work / "state",
        ManagedProcess(
            "gateway", gateway_argv(gateway_config, work / "state", port), env, work / "gateway.log"
        ),
        gateway_config,
    )
    try:
        gateway.process.start().wait_ready(lambda: http_ok(f"{gateway.endpoint}/health"))
        for queue in queues:
            moto.client("sqs").create_queue(QueueName=queue)
        clients = lake_clients(moto, gateway)
        config = load_lake_config(config_path)
        apply_plan(plan_lake(config, clients))
        yield Lake(moto, gateway, config, config_path, clients)
    finally:
        gateway.process.stop()


@contextmanager
def module_lake_with_daemon(
    moto: MotoServer, work: Path, config_path: Path, queues: tuple[str, ...] = ()
) -> Iterator[tuple[Lake, ManagedProcess]]:
    """`module_lake` with a real `dagster-daemon` on it (conftest.start_daemon), stopped first."""
    with module_lake(moto, work, config_path, queues=queues) as lake:
        daemon = start_daemon(work, moto.endpoint, lake.gateway.endpoint, config_path)
        try:
            yield lake, daemon
        finally:
            daemon.stop()
