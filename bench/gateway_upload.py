"""Gateway upload throughput against `aws s3 cp --recursive`, on the same moto server in one run.

One run folder of mixed sizes (about 1,000 small files, dozens of CBCL-sized ones and a few that
go multipart; over 500 MB in all) is uploaded twice: once by moving it into a share of the
software gateway (which also emits one event per object and sends SHA-256 checksums and the
share's SSE-KMS settings, and checks the SigV4 signature of every API call), once by
awscli into another lake bucket. moto is the bottleneck on both paths. The gateway's time runs
from the move until every object is in S3 and announced; its peak RSS is read from /proc.

A third phase has awscli do the gateway's whole job: it copies the folder into a third bucket
while the gateway's own event for each object is sent as awscli reports the object uploaded.
That shows what the events alone cost on this moto server, apart from the gateway.

    .venv/bin/python bench/gateway_upload.py
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import yaml

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.gateway.signatures import ACCESS_KEY_ENV, SECRET_KEY_ENV
from ngs_lake.local.processes import (
    ManagedProcess,
    free_port,
    gateway_argv,
    http_ok,
    moto_server_argv,
)
from ngs_lake.local.stack import LOCAL_CREDENTIALS
from ngs_lake.provisioning import apply_plan, plan_lake

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def write_run_folder(root: Path, seed: int) -> tuple[int, int]:
    """~1,000 small files, 48 of 8 MiB and 3 of 40 MiB (multipart): (files, bytes)."""
    rng = random.Random(seed)
    block = rng.randbytes(64 * MIB)
    sizes = [
        ("Data/Intensities/BaseCalls/L001/C{}.1/s_1_{}.filter", rng.randint(1_000, 64_000))
        for _ in range(960)
    ]
    sizes += [("Data/Intensities/BaseCalls/L00{}/C{}.1/L00{}_1.cbcl", 8 * MIB) for _ in range(48)]
    sizes += [("Thumbnail_Images/big_{}.tif", 40 * MIB) for _ in range(3)]
    total = 0
    for index, (pattern, size) in enumerate(sizes):
        path = root / pattern.format(index % 4 + 1, index, index % 4 + 1).replace("{}", str(index))
        path.parent.mkdir(parents=True, exist_ok=True)
        start = rng.randrange(0, len(block) - size)
        path.write_bytes(block[start : start + size])
        total += size
    return len(sizes), total


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process so far, from /proc (moto is the shared bottleneck)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    moto_port, gateway_port = free_port(), free_port()
    moto_url, gateway_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{gateway_port}"
    target = AwsTarget("us-east-1", moto_url, gateway_url, name="local")
    env = {
        **os.environ,
        **LOCAL_CREDENTIALS,
        **target.environment(),
        # The key pair the gateway's API checks signatures against; `clients` below signs with it.
        ACCESS_KEY_ENV: LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        SECRET_KEY_ENV: LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }
    document = yaml.safe_load((REPO / "config/examples/small.yaml").read_text())
    document["lake"]["settling_time_seconds"] = 1
    config_path = work / "lake.yaml"
    config_path.write_text(yaml.safe_dump(document))
    moto = ManagedProcess(
        "moto",
        moto_server_argv(moto_port),
        env,
        work / "moto.log",
    ).start()
    gateway = ManagedProcess(
        "gateway",
        gateway_argv(config_path, work / "state", gateway_port),
        env,
        work / "gateway.log",
    )
    try:
        moto.wait_ready(lambda: http_ok(f"{moto_url}/moto-api/"))
        gateway.start().wait_ready(lambda: http_ok(f"{gateway_url}/health"))
        clients = AwsClients(
            target,
            {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
        )
        apply_plan(plan_lake(load_lake_config(config_path), clients))
        staging = work / "staging" / "20261129_LH00123_0001_A22BENCHLT3"
        files, total = write_run_folder(staging, args.seed)
        share = work / "state" / "gateways" / "gw-a" / "NVX-MAD-01"

        # The lake's sensor drains the events queue as it fills; so does this bench, because
        # moto's SQS slows down sharply as a queue gets deep.
        drainer = EventDrainer(moto_url, "small-lake-gateway-events")
        drainer.start()
        cpu0 = (cpu_seconds(moto.pid), cpu_seconds(gateway.pid))
        started = time.perf_counter()
        staging.rename(share / staging.name)  # as a sequencer's finished run folder moved in
        wait_until(gateway_url, files, announced=False)
        stored_seconds = time.perf_counter() - started
        wait_until(gateway_url, files, announced=True)
        announced_seconds = time.perf_counter() - started
        cpu1 = (cpu_seconds(moto.pid), cpu_seconds(gateway.pid))
        moto_cpu_gateway, gateway_cpu = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        rss = peak_rss_mib(gateway.pid)
        drainer.stop(after=files)
        first_event = drainer.first_event

        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_seconds = aws_s3_cp(share / staging.name, moto_url, "small-lake-mis-mad-01", env)
        moto_cpu_cli = cpu_seconds(moto.pid) - cpu1[0]
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        awscli_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        # The same awscli copy again, into a third bucket, with the gateway's own event sent for
        # each object as awscli reports it uploaded: what a gateway that announces every object
        # on this moto server could reach at best.
        drainer = EventDrainer(moto_url, "small-lake-gateway-events")
        drainer.start()
        replay = EventReplay(moto_url, first_event, share / staging.name)
        replay.start()
        cli_events_seconds = aws_s3_cp(
            share / staging.name, moto_url, "small-lake-prm-mad-01", env, replay.uploaded.put
        )
        replay.uploaded.put(None)
        replay.join()
        backlog = files - drainer.received
        drainer.stop(after=files)
        event_ms = moto_ms_per_event(moto_url)
        uploaded = count_objects(moto_url, "small-lake-nvx-mad-01")
    finally:
        gateway.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    mb = total / 1e6
    print(f"gateway_upload: {files} files, {mb:.0f} MB ({uploaded} objects via the gateway)")
    print(
        f"  gateway, all in S3      {mb / stored_seconds:6.1f} MB/s  ({stored_seconds:.1f} s, "
        "events flowing meanwhile)"
    )
    print(
        f"  gateway, all announced  {mb / announced_seconds:6.1f} MB/s  "
        f"({announced_seconds:.1f} s), peak RSS {rss:.0f} MiB"
    )
    print(f"  aws s3 cp --recursive   {mb / cli_seconds:6.1f} MB/s  ({cli_seconds:.1f} s)")
    print(
        f"  aws s3 cp + events      {mb / cli_events_seconds:6.1f} MB/s  ({cli_events_seconds:.1f} s, "
        f"with the gateway's event for each object as awscli reports it; {backlog} still "
        "queued at the end)"
    )
    print(f"  ratio, all in S3        {cli_seconds / stored_seconds:6.2f}  (goal >= 0.9)")
    print(f"  ratio, all announced    {cli_seconds / announced_seconds:6.2f}")
    print(
        f"  ratio, awscli + events  {cli_seconds / cli_events_seconds:6.2f}  (awscli doing the "
        "gateway's whole job, uploads and events, against awscli alone)"
    )
    print(
        f"  moto CPU                gateway phase {moto_cpu_gateway:.1f} s, awscli phase "
        f"{moto_cpu_cli:.1f} s (gateway process {gateway_cpu:.1f} s, awscli {awscli_cpu:.1f} s)"
    )
    print(
        f"  moto per event          {event_ms:6.1f} ms  (x {files} events = "
        f"{event_ms * files / 1000:.1f} s of moto time that awscli does not spend)"
    )
    print(
        json.dumps(
            {
                "bench": "gateway_upload",
                "gateway_mb_s": mb / stored_seconds,
                "announced_mb_s": mb / announced_seconds,
                "awscli_mb_s": mb / cli_seconds,
                "ratio": cli_seconds / stored_seconds,
                "awscli_with_events_mb_s": mb / cli_events_seconds,
                "awscli_with_events_ratio": cli_seconds / cli_events_seconds,
                "peak_rss_mib": rss,
                "moto_ms_per_event": event_ms,
                "moto_cpu_gateway_s": moto_cpu_gateway,
                "moto_cpu_awscli_s": moto_cpu_cli,
                "gateway_cpu_s": gateway_cpu,
                "awscli_cpu_s": awscli_cpu,
            }
        )
    )


def moto_client(service: str, moto_url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class EventDrainer(threading.Thread):
    """Receive and delete from the events queue, as the sensor does, counting what arrives."""

    def __init__(self, moto_url: str, queue: str) -> None:
        super().__init__(daemon=True)
        self.sqs = moto_client("sqs", moto_url)
        self.url = self.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        self.received = 0
        self.first_event: dict = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            messages = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if messages:
                self.first_event = self.first_event or json.loads(messages[0]["Body"])
                self.received += len(messages)
                self.sqs.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )

    def stop(self, after: int, timeout: float = 300.0) -> None:
        """Stop once `after` events have arrived, so the next phase starts on an empty queue."""
        deadline = time.monotonic() + timeout
        while self.received < after and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop_event.set()
        self.join()
        if self.received < after:
            raise SystemExit(f"only {self.received} of {after} events arrived in {timeout:.0f} s")


class EventReplay(threading.Thread):
    """The gateway's own event for each object awscli reports uploaded, sent as the gateway's
    announce loop sends: what is pending, ten per PutEvents, then a 0.2 s pause when idle."""

    def __init__(self, moto_url: str, template: dict, folder: Path) -> None:
        super().__init__(daemon=True)
        self.events = moto_client("events", moto_url)
        self.template = template
        self.sizes = {
            f"{folder.name}/{path.relative_to(folder)}": path.stat().st_size
            for path in folder.rglob("*")
            if path.is_file()
        }
        self.uploaded: queue.Queue[str | None] = queue.Queue()  # None: awscli has finished

    def run(self) -> None:
        finished = False
        while not finished:
            keys: list[str] = []
            while not finished and not self.uploaded.empty():
                key = self.uploaded.get()
                finished = key is None
                keys += [key] if key is not None else []
            for start in range(0, len(keys), 10):
                answer = self.events.put_events(
                    Entries=[self._entry(k) for k in keys[start : start + 10]]
                )
                if answer["FailedEntryCount"]:
                    raise RuntimeError(f"PutEvents refused entries: {answer}")
            if not keys and not finished:
                time.sleep(0.2)

    def _entry(self, key: str) -> dict:
        detail = {**self.template["detail"], "object-key": key, "object-size": self.sizes[key]}
        return {
            "Source": self.template["source"],
            "DetailType": self.template["detail-type"],
            "Resources": self.template["resources"],
            "Detail": json.dumps(detail),
        }


def aws_s3_cp(
    folder: Path,
    moto_url: str,
    bucket: str,
    env: dict[str, str],
    uploaded: Callable[[str], None] = lambda key: None,
) -> float:
    """Seconds for `aws s3 cp --recursive` of `folder` into `bucket` on the moto server;
    `uploaded` is called with each object key as awscli reports the object done."""
    started = time.perf_counter()
    with subprocess.Popen(
        [
            str(Path(sys.executable).parent / "aws"),
            "--endpoint-url",
            moto_url,
            "--region",
            "us-east-1",
            "s3",
            "cp",
            "--recursive",
            "--no-progress",
            str(folder),
            f"s3://{bucket}/{folder.name}/",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:  # "upload: <path> to s3://<bucket>/<key>"
            if line.startswith("upload: "):
                uploaded(line.rstrip("\n").rsplit(f" to s3://{bucket}/", 1)[1])
    if process.returncode:
        raise SystemExit(f"aws s3 cp exited with {process.returncode}")
    return time.perf_counter() - started


def wait_until(gateway_url: str, files: int, announced: bool) -> None:
    """Every file seen and in S3 (and, if `announced`, its event accepted by EventBridge)."""
    while True:
        with urllib.request.urlopen(f"{gateway_url}/v1/cache") as answer:
            figures = json.load(answer)
        share = next(
            s for g in figures["gateways"] for s in g["shares"] if s["share_name"] == "NVX-MAD-01"
        )
        uploaded = share["files"] >= files and share["dirty_files"] == 0
        if uploaded and (not announced or share["events_pending"] == 0):
            return
        time.sleep(0.1)


def moto_ms_per_event(moto_url: str) -> float:
    """What moto itself spends on one event (rule matching, SQS delivery), timed here."""
    events = moto_client("events", moto_url)
    entry = {
        "Source": "aws.storagegateway",
        "DetailType": "Storage Gateway Object Upload Event",
        "Detail": json.dumps({"object-key": "probe"}),
        "Resources": ["arn:aws:s3:::x"],
    }
    started = time.perf_counter()
    for _ in range(20):
        events.put_events(Entries=[entry] * 10)
    return (time.perf_counter() - started) * 1000 / 200


def count_objects(moto_url: str, bucket: str) -> int:
    s3 = moto_client("s3", moto_url)
    return sum(
        1
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
        if not o["Key"].endswith("/")
    )


if __name__ == "__main__":
    main()
