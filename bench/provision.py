"""Provisioning speed: plan + apply of the shipped 25-sequencer lake against a moto server,
against the very same mutating calls issued raw with boto3 in the same run.

The raw baseline replays, one after another, exactly the create/put calls that ngs_lake made
(recorded by a botocore hook), on a freshly reset moto and gateway. ngs_lake's figure includes
all its reads (it plans by reading everything back), so the ratio is the whole cost of
planning, diffing and idempotency over doing only the writes.

    .venv/bin/python bench/provision.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from botocore import xform_name

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
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
CONFIG = REPO / "config" / "lake.yaml"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
READS = ("Get", "List", "Describe", "Head", "Scan", "Query")


class Stack:
    """A moto server and a gateway process, both resettable between repetitions."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.moto_port, self.gateway_port = free_port(), free_port()
        self.moto_url = f"http://127.0.0.1:{self.moto_port}"
        self.gateway_url = f"http://127.0.0.1:{self.gateway_port}"
        target = AwsTarget("us-east-1", self.moto_url, self.gateway_url, name="local")
        env = {**os.environ, **LOCAL_CREDENTIALS, **target.environment()}
        self.moto = ManagedProcess(
            "moto",
            moto_server_argv(self.moto_port),
            env,
            workdir / "moto.log",
        ).start()
        self.moto.wait_ready(lambda: http_ok(f"{self.moto_url}/moto-api/"))
        self.gateway = ManagedProcess(
            "gateway",
            gateway_argv(CONFIG, workdir / "state", self.gateway_port),
            env,
            workdir / "gateway.log",
        )

    def reset(self) -> None:
        """Empty moto and give the gateway a fresh state folder."""
        self.gateway.stop()
        shutil.rmtree(self.workdir / "state", ignore_errors=True)
        request = urllib.request.Request(f"{self.moto_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        self.gateway.start()
        self.gateway.wait_ready(lambda: http_ok(f"{self.gateway_url}/health"))

    def session(self) -> boto3.Session:
        return boto3.Session(region_name="us-east-1", **CREDENTIALS)

    def clients(self, session: boto3.Session) -> AwsClients:
        target = AwsTarget("us-east-1", self.moto_url, self.gateway_url, name="local")
        return AwsClients(target, CREDENTIALS, session)

    def stop(self) -> None:
        self.gateway.stop()
        self.moto.stop()


def record_mutations(session: boto3.Session) -> list[tuple[str, str, dict]]:
    recorded: list[tuple[str, str, dict]] = []

    def hook(params: dict, model, **_: object) -> None:
        if not model.name.startswith(READS):
            recorded.append(
                (
                    model.service_model.service_name,
                    model.name,
                    json.loads(json.dumps(params, default=str)),
                )
            )

    session.events.register("provide-client-params.*.*", hook)
    return recorded


def run_ngs_lake(stack: Stack) -> tuple[float, float, list[tuple[str, str, dict]]]:
    session = stack.session()
    recorded = record_mutations(session)
    config = load_lake_config(CONFIG)
    started = time.perf_counter()
    plan = plan_lake(config, stack.clients(session))
    planned = time.perf_counter()
    apply_plan(plan)
    done = time.perf_counter()
    return planned - started, done - planned, recorded


def run_raw(stack: Stack, calls: list[tuple[str, str, dict]]) -> float:
    """Replay the recorded writes with plain boto3, one after another."""
    session = stack.session()
    clients = {
        service: session.client(
            service,
            endpoint_url=stack.gateway_url if service == "storagegateway" else stack.moto_url,
        )
        for service in {c[0] for c in calls}
    }
    # After the reset CreateKey returns a new key id; later calls are given that one instead.
    old_key = next(p["TargetKeyId"] for _, op, p in calls if op == "CreateAlias")
    new_key = None
    started = time.perf_counter()
    for service, operation, params in calls:
        if new_key:
            params = json.loads(json.dumps(params).replace(old_key, new_key))
        answer = getattr(clients[service], xform_name(operation))(**params)
        if operation == "CreateKey":
            new_key = answer["KeyMetadata"]["KeyId"]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-provision-"))
    stack = Stack(workdir)
    ours, plans, applies, raws, second = [], [], [], [], []
    try:
        for _ in range(args.repeat):
            stack.reset()
            plan_s, apply_s, calls = run_ngs_lake(stack)
            plans.append(plan_s)
            applies.append(apply_s)
            ours.append(plan_s + apply_s)
            again = stack.session()
            again_calls = record_mutations(again)
            started = time.perf_counter()
            apply_plan(plan_lake(load_lake_config(CONFIG), stack.clients(again)))
            second.append((time.perf_counter() - started, len(again_calls)))
            stack.reset()
            raws.append(run_raw(stack, calls))
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    ours_m, raw_m = statistics.median(ours), statistics.median(raws)
    config = load_lake_config(CONFIG)
    print(
        f"provision: {len(config.sequencers)} sequencers, {len(calls)} mutating calls, "
        f"median of {args.repeat}"
    )
    print(
        f"  ngs_lake plan + apply   {ours_m:7.2f} s  (plan {statistics.median(plans):.2f} s, "
        f"apply {statistics.median(applies):.2f} s)"
    )
    print(f"  raw boto3, same writes  {raw_m:7.2f} s  (sequential)")
    print(f"  ratio ngs_lake / raw    {ours_m / raw_m:7.2f}")
    print(
        f"  second apply            {statistics.median(s for s, _ in second):7.2f} s, "
        f"{max(n for _, n in second)} mutating calls"
    )
    print(
        json.dumps(
            {
                "bench": "provision",
                "ngs_lake_s": ours_m,
                "raw_s": raw_m,
                "ratio": ours_m / raw_m,
                "calls": len(calls),
            }
        )
    )


if __name__ == "__main__":
    main()
