"""Completion latency with everything real: moto, the gateway, a dagster-daemon running the sensor
every 5 s, and simulated runs on three sequencers.

For each run it measures, from outside:
- last object in S3 (the newest LastModified under the run's prefix) -> `run.completed` received
  from the consumer queue;
- the completion marker written (its file mtime) -> `run.completed` received.

    .venv/bin/python bench/latency.py [--runs 5] [--settling 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import yaml

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.local.processes import (
    ManagedProcess,
    dagster_daemon_argv,
    dagster_environment,
    free_port,
    gateway_argv,
    http_ok,
    moto_server_argv,
)
from ngs_lake.local.stack import LOCAL_CREDENTIALS
from ngs_lake.platforms import family_of
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.simulator import RunSpec, plan_simulation, simulate

REPO = Path(__file__).resolve().parent.parent
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
RUNS = [
    ("NVX-MAD-01", "gw-a", "novaseq-x"),
    ("MIS-MAD-01", "gw-a", "miseq"),
    ("PRM-MAD-01", "gw-b", "promethion"),
    ("NVX-MAD-01", "gw-a", "novaseq-x"),
    ("MIS-MAD-01", "gw-a", "miseq"),
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--settling", type=int, default=2)
    parser.add_argument("--scale", type=float, default=0.001)
    parser.add_argument("--stagger", type=float, default=10.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    moto_port, gateway_port = free_port(), free_port()
    moto_url, gateway_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{gateway_port}"
    document = yaml.safe_load((REPO / "config/examples/small.yaml").read_text())
    document["lake"]["settling_time_seconds"] = args.settling
    config_path = work / "lake.yaml"
    config_path.write_text(yaml.safe_dump(document))
    env = {
        **os.environ,
        **LOCAL_CREDENTIALS,
        **AwsTarget("us-east-1", moto_url, gateway_url, name="local").environment(),
        **dagster_environment(work / "dagster", REPO, config_path, sensor_interval_seconds=5),
    }
    moto = ManagedProcess(
        "moto",
        moto_server_argv(moto_port),
        env,
        work / "moto.log",
    )
    gateway = ManagedProcess(
        "gateway",
        gateway_argv(config_path, work / "state", gateway_port),
        env,
        work / "gateway.log",
    )
    daemon = ManagedProcess(
        "daemon",
        dagster_daemon_argv(REPO / "workspace.yaml"),
        env,
        work / "daemon.log",
        cwd=REPO,
    )
    completed_at: dict[str, float] = {}
    try:
        moto.start().wait_ready(lambda: http_ok(f"{moto_url}/moto-api/"))
        gateway.start().wait_ready(lambda: http_ok(f"{gateway_url}/health"))
        clients = AwsClients(
            AwsTarget("us-east-1", moto_url, gateway_url, name="local"), CREDENTIALS
        )
        apply_plan(plan_lake(load_lake_config(config_path), clients))
        daemon.start()
        time.sleep(10)  # the daemon loads the code location
        planned = []
        for index, (sequencer, gateway_id, platform) in enumerate(RUNS[: args.runs]):
            (run,) = plan_simulation(
                RunSpec(
                    platform=platform,
                    scale=args.scale,
                    duration_seconds=10,
                    seed=100 + index,
                    max_file_bytes=2048,
                    run_number=index + 1,
                )
            )
            planned.append((sequencer, gateway_id, run))
        stop = threading.Event()
        watcher = threading.Thread(
            target=watch_completions, args=(moto_url, completed_at, stop), daemon=True
        )
        watcher.start()
        writers = []
        for offset, (sequencer, gateway_id, run) in enumerate(planned):
            share = work / "state" / "gateways" / gateway_id / sequencer
            writer = threading.Thread(
                target=simulate, args=([run], share), kwargs={"seed": 100 + offset}
            )
            writer.start()
            writers.append(writer)
            time.sleep(args.stagger)
        for writer in writers:
            writer.join()
        keys = [f"{s}/{r.run_folder}" for s, _, r in planned]
        deadline = time.time() + 300
        while time.time() < deadline and not all(k in completed_at for k in keys):
            time.sleep(0.5)
        stop.set()
        s3_lag, marker_lag = [], []
        s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", **CREDENTIALS)
        for (sequencer, gateway_id, run), key in zip(planned, keys, strict=True):
            if key not in completed_at:
                print(f"  {key}: not completed within 300 s")
                continue
            bucket = f"small-lake-{sequencer.lower()}"
            last = max(
                o["LastModified"].timestamp()
                for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=f"{run.run_folder}/"
                )
                for o in page.get("Contents", [])
            )
            marker = (
                work
                / "state"
                / "gateways"
                / gateway_id
                / sequencer
                / run.run_folder
                / marker_path(run)
            )
            s3_lag.append(completed_at[key] - last)
            marker_lag.append(completed_at[key] - marker.stat().st_mtime)
    finally:
        daemon.stop()
        gateway.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"latency: {len(s3_lag)} of {args.runs} runs completed; sensor every 5 s; "
        f"settling time {args.settling} s"
    )
    if s3_lag:
        print(
            f"  last object in S3 -> run.completed   p50 {statistics.median(s3_lag):5.1f} s   "
            f"p95 {percentile(s3_lag, 0.95):5.1f} s   (goal p50 <= 20 s)"
        )
        print(
            f"  marker written    -> run.completed   p50 {statistics.median(marker_lag):5.1f} s   "
            f"p95 {percentile(marker_lag, 0.95):5.1f} s"
        )
        print(
            json.dumps(
                {
                    "bench": "latency",
                    "s3_to_completed_p50": statistics.median(s3_lag),
                    "s3_to_completed_p95": percentile(s3_lag, 0.95),
                    "marker_to_completed_p50": statistics.median(marker_lag),
                    "settling_seconds": args.settling,
                }
            )
        )


def marker_path(run) -> str:
    marker = run.completion_marker or ""
    if "*" not in marker:
        return marker
    family = family_of(run.platform)
    return next(
        s.path.removeprefix(f"{run.run_folder}/")
        for s in run.steps
        if family.is_completion_marker(run.platform, family.locate(s.path))
    )


def watch_completions(moto_url: str, completed_at: dict[str, float], stop: threading.Event) -> None:
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1", **CREDENTIALS)
    url = sqs.get_queue_url(QueueName="small-lake-lims.fifo")["QueueUrl"]
    while not stop.is_set():
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            body = json.loads(message["Body"])
            if body["event_type"] == "run.completed":
                completed_at.setdefault(body["run"]["run_key"], datetime.now(UTC).timestamp())
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


if __name__ == "__main__":
    main()
