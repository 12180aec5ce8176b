"""The alerts sensor's tick: one alert pass (every source read, every change sent) with N runs
stalled at once, against a moto server and the software gateway, and the same pass again once
they are all alerted (the steady tick, which sends nothing).

Baselines, in the same run on the same endpoints: for the first pass, N raw SNS Publishes of the
same requests, one after another (what sending alone costs; the pass adds a claim and a mark per
alert, and its reads); for the steady pass, the reads it cannot avoid, issued raw: the three
by-state queries, the watermarks and alert-table scans, one long-polled receive on the empty DLQ
and DescribeCache per gateway.

    .venv/bin/python bench/alerts.py [--runs 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ngs_lake.alerts.conditions import run_findings
from ngs_lake.alerts.dispatch import alert_pass
from ngs_lake.alerts.messages import publish_request
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
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import NewRun, RunState, Trigger

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "examples" / "small.yaml"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def stalled_runs(clients: AwsClients, names: LakeNames, count: int) -> None:
    config = load_lake_config(CONFIG)
    ledger = RunLedger(clients, names)
    sequencer = config.sequencer("NVX-MAD-01")
    for n in range(count):
        key = f"NVX-MAD-01/20261130_LH00123_{n:04d}_A22F7KLT4"
        ledger.start_run(
            NewRun(
                run_key=key,
                run_folder=key.split("/", 1)[1],
                sequencer_id=sequencer.id,
                platform=sequencer.platform,
                site="madison",
                lab="madison",
                timezone="America/Chicago",
                bucket=config.bucket_name(sequencer.id),
                share_arn="arn:aws:storagegateway:us-east-1:123456789012:share/share-00000000",
                started_at=datetime.now(UTC) - timedelta(hours=5),
                gateway_id=sequencer.gateway,
            )
        )
        ledger.apply(ledger.require_run(key), Trigger.SILENCE)


def raw_reads(clients: AwsClients, names: LakeNames) -> None:
    ddb, sqs, sgw = clients.dynamodb(), clients.sqs(), clients.storagegateway()
    for state in ("STALLED", "INCOMPLETE", "NEEDS_ATTENTION"):
        pages = ddb.get_paginator("query").paginate(
            TableName=names.runs_table,
            IndexName="by-state",
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":s": {"S": state}},
        )
        for _ in pages:
            pass
    for table in (names.gateways_table, names.alerts_table):
        for _ in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            pass
    url = sqs.get_queue_url(QueueName=names.dead_letter_queue)["QueueUrl"]
    sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
    for gateway in sgw.list_gateways()["Gateways"]:
        sgw.describe_cache(GatewayARN=gateway["GatewayARN"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    moto_port, gateway_port = free_port(), free_port()
    moto_url, gateway_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{gateway_port}"
    target = AwsTarget("us-east-1", moto_url, gateway_url, name="local")
    env = {**os.environ, **LOCAL_CREDENTIALS, **target.environment()}
    moto = ManagedProcess("moto", moto_server_argv(moto_port), env, work / "moto.log")
    gateway = ManagedProcess(
        "gateway", gateway_argv(CONFIG, work / "state", gateway_port), env, work / "gateway.log"
    )
    try:
        moto.start().wait_ready(lambda: http_ok(f"{moto_url}/moto-api/"))
        gateway.start().wait_ready(lambda: http_ok(f"{gateway_url}/health"))
        clients = AwsClients(target, CREDENTIALS)
        config = load_lake_config(CONFIG)
        names = LakeNames.of(config)
        apply_plan(plan_lake(config, clients))
        stalled_runs(clients, names, args.runs)
        started = time.perf_counter()
        _, first = alert_pass(clients, config, datetime.now(UTC))
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        _, steady = alert_pass(clients, config, datetime.now(UTC))
        steady_s = time.perf_counter() - started
        assert len(first.opened) == args.runs and not steady.opened, (first, steady)
        runs = RunLedger(clients, names).runs_in_state(RunState.STALLED)
        topic = f"arn:aws:sns:us-east-1:{clients.account_id()}:{names.operations_topic}"
        sns = clients.sns()
        started = time.perf_counter()
        for alert in run_findings(runs):
            sns.publish(**publish_request(topic, alert, "alert", names.prefix))
        raw_publish_s = time.perf_counter() - started
        started = time.perf_counter()
        raw_reads(clients, names)
        raw_reads_s = time.perf_counter() - started
    finally:
        gateway.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"alerts: {args.runs} runs stalled at once, one alert pass each way")
    print(f"  first pass (sends {args.runs})    {first_s:7.2f} s")
    print(f"  raw Publish x {args.runs}           {raw_publish_s:7.2f} s")
    print(f"  ratio                         {first_s / raw_publish_s:7.2f}")
    print(f"  steady pass (sends 0)         {steady_s:7.2f} s")
    print(f"  raw reads of a pass           {raw_reads_s:7.2f} s")
    print(f"  ratio                         {steady_s / raw_reads_s:7.2f}")
    print(
        json.dumps(
            {
                "bench": "alerts",
                "runs": args.runs,
                "first_s": first_s,
                "raw_publish_s": raw_publish_s,
                "steady_s": steady_s,
                "raw_reads_s": raw_reads_s,
            }
        )
    )


if __name__ == "__main__":
    main()
