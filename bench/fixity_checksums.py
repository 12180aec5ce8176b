"""Reading the checksums of a 10,000-object run, as verification does (runs/fixity_checksums.py):
one GetObjectAttributes per object on a bounded thread pool, against a moto server.

Prints the calls per object (counted by a botocore hook on the client, so a retry or a second
call would show), the objects per second, the parallelism (threads, and the most calls seen in
flight at once), and, against the tick's verification budget (`tick_verify_seconds`, 8 s by
default), the largest run whose checksums fit in a tick: larger runs go to `complete_run`,
which has no such budget. Baseline: the same reads one at a time (parallel=1), in the same run.

    .venv/bin/python bench/fixity_checksums.py [--objects 10000] [--parallel 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.local.processes import ManagedProcess, free_port, http_ok, moto_server_argv
from ngs_lake.runs.fixity_checksums import PARALLEL_READS, read_checksums
from ngs_lake.runs.verification import OverBudget

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
BUCKET = "bench-fixity"
TICK_VERIFY_SECONDS = 8.0  # LakeSettings.tick_verify_seconds' default


class CallCounter:
    """GetObjectAttributes calls made, and the most in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = self.in_flight = self.most = 0

    def start(self, **_: object) -> None:
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)

    def end(self, **_: object) -> None:
        with self.lock:
            self.in_flight -= 1


def put_run(s3: object, keys: dict[str, str]) -> None:
    def put(key: str) -> None:
        s3.put_object(
            Bucket=BUCKET, Key=key, Body=b"@r\nACGT\n+\nIIII\n", ChecksumAlgorithm="SHA256"
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, keys.values()))


def measure(s3: object, keys: dict[str, str], parallel: int) -> dict:
    counter = CallCounter()
    s3.meta.events.register("before-call.s3.GetObjectAttributes", counter.start)
    s3.meta.events.register("after-call.s3.GetObjectAttributes", counter.end)
    started = time.perf_counter()
    reads = read_checksums(s3, BUCKET, keys, parallel=parallel)
    seconds = time.perf_counter() - started
    s3.meta.events.unregister("before-call.s3.GetObjectAttributes", counter.start)
    s3.meta.events.unregister("after-call.s3.GetObjectAttributes", counter.end)
    assert not reads.errors and len(reads.checksums) == len(keys), reads.errors
    assert all(c.algorithm == "SHA256" for c in reads.checksums.values())
    return {
        "seconds": seconds,
        "objects_per_s": len(keys) / seconds,
        "calls_per_object": counter.calls / len(keys),
        "threads": parallel,
        "most_in_flight": counter.most,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--parallel", type=int, default=PARALLEL_READS)
    parser.add_argument("--baseline-objects", type=int, default=1_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-fixity-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    target = AwsTarget("us-east-1", url, name="local")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    moto = ManagedProcess("moto", moto_server_argv(port), env, work / "moto.log")
    try:
        moto.start().wait_ready(lambda: http_ok(f"{url}/moto-api/"))
        s3 = AwsClients(target, CREDENTIALS).s3()
        s3.create_bucket(Bucket=BUCKET)
        keys = {f"pod5/batch_{i}.pod5": f"run/pod5/batch_{i}.pod5" for i in range(args.objects)}
        put_run(s3, keys)
        print(f"load average before: {os.getloadavg()}")
        ours = measure(s3, keys, args.parallel)
        few = dict(list(keys.items())[: args.baseline_objects])
        one = measure(s3, few, 1)
        fits = int(ours["objects_per_s"] * TICK_VERIFY_SECONDS)
        print(f"load average after: {os.getloadavg()}")
        print(
            f"{args.objects} objects: {ours['seconds']:.1f} s, {ours['objects_per_s']:.0f} "
            f"objects/s, {ours['calls_per_object']:.2f} calls per object, {ours['threads']} "
            f"threads ({ours['most_in_flight']} calls seen in flight at once)"
        )
        print(
            f"baseline, one at a time ({args.baseline_objects} objects): "
            f"{one['objects_per_s']:.0f} objects/s, {one['calls_per_object']:.2f} calls per object"
        )
        print(
            f"tick budget {TICK_VERIFY_SECONDS:g} s: runs of up to about {fits} objects have their "
            f"checksums read in the tick; larger ones go to complete_run"
        )
        clock_deadline = time.monotonic() + TICK_VERIFY_SECONDS
        try:
            read_checksums(s3, BUCKET, keys, deadline=clock_deadline)
            print("the whole run fitted the tick's budget")
        except Exception as exc:  # ChecksumReadOverBudget, raised as OverBudget by verify_run
            moved = isinstance(exc, OverBudget) or type(exc).__name__ == "ChecksumReadOverBudget"
            print(
                f"the {args.objects}-object run is over the tick's budget -> complete_run: {moved}"
            )
        print(
            json.dumps(
                {
                    "bench": "fixity_checksums",
                    "objects": args.objects,
                    **{k: round(v, 3) for k, v in ours.items()},
                    "baseline_objects_per_s": round(one["objects_per_s"], 1),
                    "fits_in_tick": fits,
                }
            )
        )
    finally:
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
