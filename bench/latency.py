"""Lifecycle latency with everything real: moto, the gateway, a dagster-daemon running the sensor
every 5 s, and simulated runs on three sequencers; the same five runs under two run launchers.

- `default`: Dagster's DefaultRunLauncher, a run process on this machine (what `make run` uses);
- `delayed`: `bench.delayed_launcher.DelayedRunLauncher`, the default launcher behind a 30 s start
  delay, as an ECS/Fargate task start (deploy/dagster.yaml). The instance is otherwise the repo's
  dagster.yaml, so its run queue (3 at a time) also holds runs waiting out their delay.

For each launcher, from outside the lake:
- last object in S3 (the newest LastModified under the run's prefix) -> `run.completed` received
  from the consumer queue; the completion marker's mtime -> `run.completed`;
- first object in S3 (the oldest LastModified) -> `run.started` received;
- Dagster runs launched per sequencing run, by job, from the instance's run records, counted once
  the queue is quiet;
- the events sensor's tick durations (end - start of each tick record in the instance).
The default launcher is the baseline the delayed one is compared with, measured in the same run.
The load average is printed before each launcher: the figures are noisy on a shared machine.

    .venv/bin/python bench/latency.py [--runs 5] [--launchers default delayed] [--delay 30]
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
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import boto3
import yaml
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.instance.ref import InstanceRef
from dagster._core.scheduler.instigation import InstigatorType

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.names import LAKE_WIDE_SENSOR, LakeNames
from ngs_lake.local.processes import (
    ManagedProcess,
    dagster_daemon_argv,
    dagster_environment,
    free_port,
    gateway_argv,
    http_ok,
    moto_server_argv,
    unwind_on_stop_signals,
)
from ngs_lake.local.stack import LOCAL_CREDENTIALS
from ngs_lake.platforms import family_of
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.runs.ledger import RunLedger
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
GOAL_P50_SECONDS = 10.0
# Where the time from the last object to run.completed goes, from the ledger's step times (the
# tick that made each transition) and the notification request: (label, from, to).
PHASES = (
    ("last object -> marker seen by a tick", "last_object", "MARKER_SEEN"),
    ("marker seen -> NotifyWhenUploaded asked", "MARKER_SEEN", "notification_requested"),
    ("asked -> confirmation seen by a tick", "notification_requested", "UPLOAD_CONFIRMED"),
    ("confirmed -> verified (COMPLETED)", "UPLOAD_CONFIRMED", "COMPLETED"),
    ("COMPLETED -> run.completed received", "COMPLETED", "received"),
)
QUIET_SECONDS = 45  # a few automation-sensor ticks (15 s apart) with no new Dagster run
IN_FLIGHT = {
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--settling", type=int, default=2)
    parser.add_argument("--scale", type=float, default=0.001)
    parser.add_argument("--stagger", type=float, default=10.0)
    parser.add_argument(
        "--launchers", nargs="+", choices=("default", "delayed"), default=["default", "delayed"]
    )
    parser.add_argument("--delay", type=float, default=30.0, help="the delayed launcher's delay")
    parser.add_argument(
        "--sensor-interval",
        type=int,
        default=4,
        help="the sensors' minimum_interval_seconds (NGS_LAKE_SENSOR_INTERVAL_SECONDS); 4, the product's default, ticks every 5 s",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and the instance")
    args = parser.parse_args()
    unwind_on_stop_signals()  # so that `finally` stops the servers and the daemon
    results = {}
    for launcher in args.launchers:
        print(f"latency [{launcher}]: load average {load_average()} (1, 5, 15 min)", flush=True)
        results[launcher] = measure(launcher, args)
        report(launcher, results[launcher], args)
    summary: dict = {
        "bench": "latency",
        "settling_seconds": args.settling,
        "delay": args.delay,
        "sensor_interval_seconds": args.sensor_interval,
    }
    for launcher, figures in results.items():
        summary[launcher] = {k: v for k, v in figures.items() if not isinstance(v, list)}
    if "default" in results:  # the figures run_all.py has always read
        summary.update(
            {k: results["default"].get(k) for k in ("s3_to_completed_p50", "s3_to_completed_p95")}
        )
    if {"default", "delayed"} <= results.keys() and results["default"].get("s3_to_completed_p50"):
        summary["delayed_over_default_p50"] = (
            results["delayed"]["s3_to_completed_p50"] / results["default"]["s3_to_completed_p50"]
        )
        print(
            f"latency: delayed / default p50 (S3 -> run.completed) "
            f"{summary['delayed_over_default_p50']:.2f}"
        )
    print(json.dumps(summary))


def measure(launcher: str, args: argparse.Namespace) -> dict:
    """Start moto, the gateway and a daemon with `launcher`, write the runs, and collect figures."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-latency-{launcher}-"))
    moto_port, gateway_port = free_port(), free_port()
    moto_url, gateway_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{gateway_port}"
    document = yaml.safe_load((REPO / "config/examples/small.yaml").read_text())
    document["lake"]["settling_time_seconds"] = args.settling
    config_path = work / "lake.yaml"
    config_path.write_text(yaml.safe_dump(document))
    home = work / "dagster"
    env = {
        **os.environ,
        **LOCAL_CREDENTIALS,
        **AwsTarget("us-east-1", moto_url, gateway_url, name="local").environment(),
        **dagster_environment(
            home, REPO, config_path, sensor_interval_seconds=args.sensor_interval
        ),
        # The daemon imports the launcher as `bench.delayed_launcher`.
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    }
    if launcher == "delayed":
        instance_config = yaml.safe_load((REPO / "dagster.yaml").read_text())
        instance_config["run_launcher"] = {
            "module": "bench.delayed_launcher",
            "class": "DelayedRunLauncher",
            "config": {"delay_seconds": args.delay},
        }
        (home / "dagster.yaml").unlink()
        (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config))
    moto = ManagedProcess("moto", moto_server_argv(moto_port), env, work / "moto.log")
    gateway = ManagedProcess(
        "gateway",
        gateway_argv(config_path, work / "state", gateway_port),
        env,
        work / "gateway.log",
    )
    daemon = ManagedProcess(
        "daemon", dagster_daemon_argv(REPO / "workspace.yaml"), env, work / "daemon.log", cwd=REPO
    )
    try:
        moto.start().wait_ready(lambda: http_ok(f"{moto_url}/moto-api/"))
        gateway.start().wait_ready(lambda: http_ok(f"{gateway_url}/health"))
        clients = AwsClients(
            AwsTarget("us-east-1", moto_url, gateway_url, name="local"), CREDENTIALS
        )
        apply_plan(plan_lake(load_lake_config(config_path), clients))
        daemon.start()
        time.sleep(10)  # the daemon loads the code location
        started = time.time()
        planned, seen = write_runs(work, moto_url, args)
        finished = time.time()
        instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home), config_dir=str(REPO)))
        runs = count_runs_when_quiet(instance, [f"{s}/{r.run_folder}" for s, _, r in planned])
        figures = lag_figures(work, moto_url, planned, seen)
        figures["phases"] = phase_figures(clients, config_path, moto_url, planned, seen)
        figures.update(runs)
        figures.update(tick_figures(instance, started, finished))
        figures["completed"] = len(figures["s3_lag"])
        figures["load_after"] = load_average()
    finally:
        daemon.stop()
        gateway.stop()
        moto.stop()
        if args.keep:
            print(f"  kept {work} (daemon.log, dagster/)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return figures


def write_runs(work: Path, moto_url: str, args: argparse.Namespace) -> tuple[list, dict]:
    """Write the runs a stagger apart and wait for every `run.completed` (bounded)."""
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
    seen: dict[tuple[str, str], float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_events, args=(moto_url, seen, stop), daemon=True)
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
    deadline = time.time() + 300 + 10 * args.delay
    while time.time() < deadline and not all((k, "run.completed") in seen for k in keys):
        time.sleep(0.5)
    stop.set()
    watcher.join()
    return planned, seen


def lag_figures(work: Path, moto_url: str, planned: list, seen: dict) -> dict:
    s3_lag, marker_lag, started_lag = [], [], []
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", **CREDENTIALS)
    for sequencer, gateway_id, run in planned:
        key = f"{sequencer}/{run.run_folder}"
        modified = [
            o["LastModified"].timestamp()
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=f"small-lake-{sequencer.lower()}", Prefix=f"{run.run_folder}/"
            )
            for o in page.get("Contents", [])
        ]
        if (key, "run.started") in seen:
            started_lag.append(seen[key, "run.started"] - min(modified))
        if (key, "run.completed") not in seen:
            print(f"  {key}: not completed in time")
            continue
        share = work / "state" / "gateways" / gateway_id / sequencer / run.run_folder
        s3_lag.append(seen[key, "run.completed"] - max(modified))
        marker_lag.append(seen[key, "run.completed"] - (share / marker_path(run)).stat().st_mtime)
    figures: dict = {"s3_lag": s3_lag, "marker_lag": marker_lag, "started_lag": started_lag}
    if s3_lag:
        figures["s3_to_completed_p50"] = statistics.median(s3_lag)
        figures["s3_to_completed_p95"] = percentile(s3_lag, 0.95)
        figures["marker_to_completed_p50"] = statistics.median(marker_lag)
    if started_lag:
        figures["first_object_to_started_p50"] = statistics.median(started_lag)
    return figures


def phase_figures(
    clients: AwsClients, config_path: Path, moto_url: str, planned: list, seen: dict
) -> dict[str, float]:
    """The median of each of PHASES over the completed runs."""
    ledger = RunLedger(clients, LakeNames.of(load_lake_config(config_path)))
    keys = [
        f"{s}/{r.run_folder}"
        for s, _, r in planned
        if (f"{s}/{r.run_folder}", "run.completed") in seen
    ]
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", **CREDENTIALS)
    spans: dict[str, list[float]] = {label: [] for label, _, _ in PHASES}
    for key, run in ledger.get_runs(keys).items():
        moments = {state: at.timestamp() for state, at in run.steps.items()}
        if run.notification_requested_at:
            moments["notification_requested"] = run.notification_requested_at.timestamp()
        moments["received"] = seen[key, "run.completed"]
        moments["last_object"] = max(
            o["LastModified"].timestamp()
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=run.bucket, Prefix=f"{run.run_folder}/"
            )
            for o in page.get("Contents", [])
        )
        for label, start, end in PHASES:
            if start in moments and end in moments:
                spans[label].append(moments[end] - moments[start])
    return {label: statistics.median(v) for label, v in spans.items() if v}


def count_runs_when_quiet(instance: DagsterInstance, run_keys: list[str]) -> dict:
    """Wait (bounded) until no Dagster run is in flight and either every run has its manifest or
    no run was created for QUIET_SECONDS, so that the manifests the automation sensor requests
    after `run.completed` are counted; then count, by job, the runs for the sequencing runs
    (tagged with the run key, or of its partition). Others (the provisioning job, the capacity
    report) are counted apart."""
    deadline = time.time() + 240
    while time.time() < deadline:
        records = instance.get_run_records()
        newest = max((r.create_timestamp.timestamp() for r in records), default=0.0)
        busy = any(r.dagster_run.status in IN_FLIGHT for r in records)
        manifests = {
            r.dagster_run.tags.get("dagster/partition")
            for r in records
            if job_label(r.dagster_run) == "run_manifest"
        }
        # The automation sensor asks for several partitions at once as a backfill (its
        # emit_backfills), whose runs the backfill daemon launches later.
        backfilling = any(b.status == BulkActionStatus.REQUESTED for b in instance.get_backfills())
        quiet = time.time() - newest >= QUIET_SECONDS
        if not busy and not backfilling and (manifests >= set(run_keys) or quiet):
            break
        time.sleep(2)
    ours, others = [], []
    for record in instance.get_run_records():
        run = record.dagster_run
        keys = {run.tags.get("ngs_lake/run_key"), run.tags.get("dagster/partition")}
        (ours if keys & set(run_keys) else others).append(run)
    return {
        "backfills": len(instance.get_backfills()),
        "dagster_runs": len(ours),
        "dagster_runs_per_sequencing_run": len(ours) / len(run_keys),
        "dagster_runs_by_job": dict(Counter(job_label(r) for r in ours)),
        "dagster_runs_failed": sum(r.status == DagsterRunStatus.FAILURE for r in ours),
        "other_dagster_runs": dict(Counter(job_label(r) for r in others)),
    }


def job_label(run: DagsterRun) -> str:
    """The job's name; for an implicit asset job, the assets it materializes."""
    if not run.job_name.startswith("__ASSET_JOB"):
        return run.job_name
    return "+".join(sorted(k.to_user_string() for k in run.asset_selection or ())) or run.job_name


def tick_figures(instance: DagsterInstance, since: float, until: float) -> dict:
    """Durations of the events sensor's ticks (each site's, if per-site), and the gaps between
    one tick's start and the next's, from the first run written to the last `run.completed`:
    idle ticks before and after would flatter the p50."""
    durations, gaps = [], []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if not state.instigator_name.startswith(LAKE_WIDE_SENSOR):
            continue
        ticks = instance.get_ticks(
            state.instigator_origin_id, state.selector_id, after=since, before=until
        )
        starts = sorted(t.timestamp for t in ticks)
        gaps += [b - a for a, b in pairwise(starts)]
        durations += [t.end_timestamp - t.timestamp for t in ticks if t.end_timestamp is not None]
    if not durations:
        return {"ticks": 0}
    return {
        "ticks": len(durations),
        "tick_p50": statistics.median(durations),
        "tick_p95": percentile(durations, 0.95),
        "tick_max": max(durations),
        "tick_gap_p50": statistics.median(gaps) if gaps else None,
        "tick_gap_mean": statistics.fmean(gaps) if gaps else None,
    }


def report(launcher: str, f: dict, args: argparse.Namespace) -> None:
    print(
        f"latency [{launcher}]: {f['completed']} of {args.runs} runs completed; sensor interval "
        f"{args.sensor_interval} s; "
        f"settling time {args.settling} s"
        + (f"; launch delay {args.delay:g} s" if launcher == "delayed" else "")
    )
    if f["s3_lag"]:
        print(
            f"  last object in S3  -> run.completed  p50 {f['s3_to_completed_p50']:5.1f} s   "
            f"p95 {f['s3_to_completed_p95']:5.1f} s   (goal p50 <= {GOAL_P50_SECONDS:g} s)"
        )
        print(f"  marker written     -> run.completed  p50 {f['marker_to_completed_p50']:5.1f} s")
    if f["started_lag"]:
        print(
            f"  first object in S3 -> run.started    p50 {f['first_object_to_started_p50']:5.1f} s"
        )
    print(
        f"  Dagster runs {f['dagster_runs']} ({f['dagster_runs_per_sequencing_run']:.1f} per "
        f"sequencing run; {f['dagster_runs_failed']} failed; {f['backfills']} backfills): "
        f"{f['dagster_runs_by_job']}; "
        f"besides: {f['other_dagster_runs']}"
    )
    if f["ticks"]:
        print(
            f"  events sensor ticks {f['ticks']}: p50 {f['tick_p50']:.2f} s   "
            f"p95 {f['tick_p95']:.2f} s   max {f['tick_max']:.2f} s; start to next start "
            f"p50 {f['tick_gap_p50'] or 0:.1f} s, mean {f['tick_gap_mean'] or 0:.1f} s"
        )
    if f["phases"]:
        print("  from the last object, step by step (p50 of each):")
    for label, seconds in f["phases"].items():
        print(f"    {label:<42} p50 {seconds:5.1f} s")
    print(f"  load average after {f['load_after']}")


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


def watch_events(moto_url: str, seen: dict[tuple[str, str], float], stop: threading.Event) -> None:
    """Record when each run's lifecycle messages first reach the consumer queue."""
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1", **CREDENTIALS)
    url = sqs.get_queue_url(QueueName="small-lake-lims.fifo")["QueueUrl"]
    while not stop.is_set():
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            body = json.loads(message["Body"])
            now = datetime.now(UTC).timestamp()
            seen.setdefault((body["run"]["run_key"], body["event_type"]), now)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


if __name__ == "__main__":
    main()
