"""Ingest throughput: 10,000 AWS-shaped upload events for 10 runs through the events sensor's
tick, `runs.tick.run_tick` called back to back (receive, parse, classify, ledger writes, delete;
then the tick's lifecycle work: stalls, what is due, and whatever the tick publishes itself, here
each run's `run.started`), against the floor of raw receive-10 plus delete-batch on the same moto
server, with the same feeder and queue depth.

moto's SQS slows sharply as a queue gets deep, so the feeder keeps at most 100 messages waiting
for both. DynamoDB write calls are counted with a botocore hook.

    .venv/bin/python bench/ingest.py [--events 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import boto3

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.names import LakeNames
from ngs_lake.local.processes import (
    ManagedProcess,
    free_port,
    gateway_argv,
    http_ok,
    moto_server_argv,
)
from ngs_lake.local.stack import LOCAL_CREDENTIALS
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.runs.ingest import IngestSettings
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.tick import run_tick

REPO = Path(__file__).resolve().parent.parent
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
MAX_DEPTH = 100
WRITES = ("BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")


class Feeder(threading.Thread):
    """Sends the events in batches of 10, never letting more than MAX_DEPTH wait unconsumed."""

    def __init__(self, sqs, url: str, bodies: list[str]) -> None:
        super().__init__(daemon=True)
        self.sqs, self.url, self.bodies = sqs, url, bodies
        self.sent = 0
        self.consumed = 0
        self.lock = threading.Lock()

    def consumed_more(self, n: int) -> None:
        with self.lock:
            self.consumed += n

    def run(self) -> None:
        while self.sent < len(self.bodies):
            with self.lock:
                room = MAX_DEPTH - (self.sent - self.consumed)
            if room < 10:
                time.sleep(0.005)
                continue
            batch = self.bodies[self.sent : self.sent + 10]
            self.sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(batch)],
            )
            self.sent += len(batch)


def events_for(share: dict, runs: int, per_run: int) -> list[str]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    bodies = []
    for run in range(runs):
        folder = f"20261129_LH00123_{run:04d}_A22BNCH{run}LT3"
        for index in range(per_run):
            key = f"{folder}/Data/Intensities/BaseCalls/L00{index % 8 + 1}/C{index}.1/L001_1.cbcl"
            bodies.append(
                json.dumps(
                    {
                        "version": "0",
                        "id": str(uuid.uuid4()),
                        "detail-type": "Storage Gateway Object Upload Event",
                        "source": "aws.storagegateway",
                        "account": "123456789012",
                        "time": now,
                        "region": "us-east-1",
                        "resources": [
                            share["share_arn"],
                            "arn:aws:storagegateway:us-east-1:123456789012:gateway/sgw-12A3456B",
                            f"arn:aws:s3:::{share['bucket']}",
                        ],
                        "detail": {
                            "object-size": 1000 + index,
                            "modification-time": now,
                            "object-key": key,
                            "event-type": "object-upload-complete",
                            "prefix": "",
                            "bucket-name": share["bucket"],
                        },
                    }
                )
            )
    # Interleave runs, as several sequencers' uploads would arrive.
    return [bodies[r * per_run + i] for i in range(per_run) for r in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    moto_port, gateway_port = free_port(), free_port()
    moto_url, gateway_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{gateway_port}"
    target = AwsTarget("us-east-1", moto_url, gateway_url, name="local")
    env = {**os.environ, **LOCAL_CREDENTIALS, **target.environment()}
    moto = ManagedProcess(
        "moto",
        moto_server_argv(moto_port),
        env,
        work / "moto.log",
    )
    gateway = ManagedProcess(
        "gateway",
        gateway_argv(REPO / "config/examples/small.yaml", work / "state", gateway_port),
        env,
        work / "gateway.log",
    )
    try:
        moto.start().wait_ready(lambda: http_ok(f"{moto_url}/moto-api/"))
        gateway.start().wait_ready(lambda: http_ok(f"{gateway_url}/health"))
        config = load_lake_config(REPO / "config/examples/small.yaml")
        apply_plan(plan_lake(config, AwsClients(target, CREDENTIALS)))
        # The gateway stays up, idle: the tick's first message of a run carries the share's tags,
        # which it reads from the gateway's API (ListTagsForResource).
        names = LakeNames.of(config)
        ddb = boto3.client(
            "dynamodb", endpoint_url=moto_url, region_name="us-east-1", **CREDENTIALS
        )
        share_item = ddb.get_item(
            TableName=names.shares_table, Key={"sequencer_id": {"S": "NVX-MAD-01"}}
        )["Item"]
        share = {"share_arn": share_item["share_arn"]["S"], "bucket": share_item["bucket"]["S"]}
        bodies = events_for(share, args.runs, args.events // args.runs)

        floor_seconds = raw_floor(moto_url, names, bodies)
        ours_seconds, writes, ticks = sensor_path(moto_url, gateway_url, config, names, bodies)
        files = sum(
            RunLedger(AwsClients(target, CREDENTIALS), names).file_count(
                f"NVX-MAD-01/20261129_LH00123_{r:04d}_A22BNCH{r}LT3"
            )
            for r in range(args.runs)
        )
    finally:
        gateway.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    n = len(bodies)
    print(
        f"ingest: {n} events for {args.runs} runs, queue depth <= {MAX_DEPTH}, {ticks} sensor ticks"
    )
    print(
        f"  sensor ticks (drain, ledger, lifecycle work)   {n / ours_seconds:7.0f} events/s  ({ours_seconds:.1f} s)"
    )
    print(
        f"  floor: receive-10 + delete-batch               {n / floor_seconds:7.0f} events/s  ({floor_seconds:.1f} s)"
    )
    print(
        f"  ratio sensor / floor                           {floor_seconds / ours_seconds:7.2f}  (goal >= 0.7)"
    )
    print(
        f"  DynamoDB write calls per event                 {sum(writes.values()) / n:7.3f}  (goal <= 0.1) {dict(writes)}"
    )
    print(f"  ledger files recorded                          {files:7d}  (of {n})")
    print(
        json.dumps(
            {
                "bench": "ingest",
                "sensor_events_s": n / ours_seconds,
                "floor_events_s": n / floor_seconds,
                "ratio": floor_seconds / ours_seconds,
                "writes_per_event": sum(writes.values()) / n,
            }
        )
    )


def raw_floor(moto_url: str, names: LakeNames, bodies: list[str]) -> float:
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1", **CREDENTIALS)
    url = sqs.get_queue_url(QueueName=names.events_queue)["QueueUrl"]
    feeder = Feeder(sqs, url, bodies)
    started = time.perf_counter()
    feeder.start()
    done = 0
    while done < len(bodies):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            continue
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
        done += len(messages)
        feeder.consumed_more(len(messages))
    return time.perf_counter() - started


def sensor_path(moto_url, gateway_url, config, names, bodies) -> tuple[float, Counter, int]:
    session = boto3.Session(region_name="us-east-1")
    writes: Counter = Counter()
    received = Counter()

    def count(model, **_):
        if model.service_model.service_name == "dynamodb" and model.name in WRITES:
            writes[model.name] += 1
        if model.service_model.service_name == "sns" and model.name == "Publish":
            received["published"] += 1

    def count_received(parsed, model, **_):
        if model.name == "ReceiveMessage":
            received["n"] += len(parsed.get("Messages", []))
            feeder.consumed_more(len(parsed.get("Messages", [])))

    session.events.register("before-call.*.*", count)
    session.events.register("after-call.sqs.ReceiveMessage", count_received)
    clients = AwsClients(
        AwsTarget("us-east-1", moto_url, gateway_url, name="local"), CREDENTIALS, session
    )
    url = clients.sqs().get_queue_url(QueueName=names.events_queue)["QueueUrl"]
    feeder = Feeder(
        boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1", **CREDENTIALS),
        url,
        bodies,
    )
    started = time.perf_counter()
    feeder.start()
    ticks = 0
    while received["n"] < len(bodies):
        run_tick(clients, config, lambda _key: [], settings=IngestSettings())
        ticks += 1
    print(f"  sensor ticks published {received['published']} messages")
    return time.perf_counter() - started, writes, ticks


if __name__ == "__main__":
    main()
