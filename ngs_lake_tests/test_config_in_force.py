"""A typo saved into the config document while the lake runs: a real Dagster daemon keeps
ingesting, announcing and alerting on the last valid document, which the lake recorded in the
catalogue bucket; one `config_invalid` alert names the file, the problem and the digest in
force, and is resolved once the file is fixed. The daemon is SIGKILLed and started again while
the file is invalid, and no longer YAML at all: its new code server finds the record only
through the catalogue bucket the deployment pins (NGS_LAKE_CATALOG_BUCKET), and runs on it.

One scenario for the module (a daemon's start is the expensive part); each test checks one
promise of it. The stack (lake_fixtures.module_lake_with_daemon) runs on the session's moto
server, which no other test resets while this module runs: the module stays whole on one worker.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.scheduler.instigation import TickStatus

from ngs_lake.local.processes import ManagedProcess
from ngs_lake.provisioning.document_in_force import CATALOG_BUCKET_ENV, RECORD_KEY
from ngs_lake_tests.conftest import SMALL_CONFIG, MotoServer, edited_config, local_environment
from ngs_lake_tests.lake_fixtures import Lake, module_lake_with_daemon, upload_event
from ngs_lake_tests.test_gateway_uploads import wait_for

# A broken lake waits out each step (3 to 4 minutes, for a loaded machine) before its tests say
# what is missing.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
RUN_BEFORE = "20261201_LH00123_0101_A22CFGLT1"  # sent while the file is invalid
RUN_AFTER = "20261201_LH00123_0102_A22CFGLT2"  # sent after the SIGKILL and restart
PROBLEM = (
    "sequencers[MIS-MAD-01].platform: unknown platform 'nextseq550'; expected one of: novaseq-x, "
    "novaseq-6000, nextseq-2000, nextseq-1000, nextseq-550, miniseq, miseq, iseq-100, promethion, "
    "gridion, minion, revio, sequel-2, aviti"
)
SENSORS = ("storage_gateway_events", "operations_alerts")
NOT_YAML = "sequencers: [\n"  # saved over the typo while the daemon is down: names no bucket


def _edit(document: dict) -> None:
    document["lake"]["settling_time_seconds"] = 1
    document["alerts"] = {
        "evaluate_every": "2s",
        "subscriptions": [
            {"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:123456789012:small-lake-ops"}
        ],
    }


def _typo(text: str) -> str:
    document = yaml.safe_load(text)
    document["sequencers"][1]["platform"] = "nextseq550"
    return yaml.safe_dump(document, sort_keys=False)


@dataclass
class Scenario:
    lake: Lake
    valid_sha256: str
    recorded: dict | None  # s3://small-lake-catalog/lake-config/in-force.json before the typo
    invalid_since: float  # epoch seconds: the typo saved
    alerts: list[dict]  # every message on the operations queue, in order
    started: list[str]  # message ids the LIMS heard while the file was invalid, in order
    status: str  # `ngs-lake status` while the file was invalid
    runs_list: str  # `ngs-lake runs list` then
    status_after_restart: str  # `ngs-lake status` after the restart, the file not YAML
    runs_list_after_restart: str
    ticks: dict[str, list[TickStatus]]  # each sensor's ticks while the file was invalid


@pytest.fixture(scope="module")
def stack(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Lake, ManagedProcess]]:
    work = tmp_path_factory.mktemp("config-in-force")
    config_path = edited_config(work, SMALL_CONFIG, _edit, "lake.yaml")
    with module_lake_with_daemon(moto_server, work, config_path, ("small-lake-ops",)) as stack:
        yield stack


class Reader:
    """Reads (and deletes) what arrives on a queue, keeping every body in order."""

    def __init__(self, lake: Lake, queue: str) -> None:
        self.sqs, self.url, self.read = lake.moto.client("sqs"), lake.queue_url(queue), []

    def poll(self) -> list[dict]:
        batch = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        for m in batch:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
            self.read.append(json.loads(m["Body"]))
        return self.read

    def until(self, predicate, timeout: float = 180) -> list[dict]:
        """What was read once `predicate` holds, or after `timeout`: the tests then say what
        is missing, each for its own promise."""
        deadline = time.monotonic() + timeout
        while not predicate(self.poll()) and time.monotonic() < deadline:
            pass
        return self.read


def _recorded(lake: Lake) -> dict | None:
    try:
        body = lake.moto.client("s3").get_object(Bucket="small-lake-catalog", Key=RECORD_KEY)
    except lake.moto.client("s3").exceptions.NoSuchKey:
        return None
    return json.loads(body["Body"].read())


def _start_run(lake: Lake, run: str) -> None:
    share = lake.share("NVX-MAD-01")
    lake.send_raw([upload_event(share, f"{run}/{n}") for n in ("RunInfo.xml", "RunParameters.xml")])


def _ticks_since(home, since: float) -> dict[str, list[TickStatus]]:
    with DagsterInstance.from_config(str(home)) as instance:
        out: dict[str, list[TickStatus]] = {}
        for state in instance.all_instigator_state():
            if state.instigator_name in SENSORS:
                ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=200)
                out.setdefault(state.instigator_name, []).extend(
                    t.status for t in ticks if t.timestamp > since + 1
                )
        return out


def _has(status: str):
    return lambda read: any(
        m["condition"] == "config_invalid" and m["status"] == status for m in read
    )


@pytest.fixture(scope="module")
def scenario(stack) -> Scenario:
    lake, daemon = stack
    home = daemon.log_path.parent / "dagster_home"
    alerts, lims = Reader(lake, "small-lake-ops"), Reader(lake, "small-lake-lims.fifo")
    valid = lake.config_path.read_text()
    valid_sha256 = hashlib.sha256(valid.encode()).hexdigest()
    deadline = time.monotonic() + 90  # the daemon's sensors record the valid document
    while (_recorded(lake) or {}).get("sha256") != valid_sha256 and time.monotonic() < deadline:
        time.sleep(1)
    recorded = _recorded(lake)
    lake.config_path.write_text(_typo(valid))
    invalid_since = time.time()
    _start_run(lake, RUN_BEFORE)
    alerts.until(_has("alert"))
    lims.until(lambda read: len(read) >= 1)  # run.started of the run sent meanwhile
    status = lake.cli("status").stdout
    runs_list = lake.cli("runs", "list").stdout
    daemon.signal(signal.SIGKILL)
    wait_for(lambda: daemon.exit_code() is not None, 10, what="the daemon gone")
    lake.config_path.write_text(NOT_YAML)
    daemon.start()
    _start_run(lake, RUN_AFTER)
    # run.started from the restarted daemon: a new code server's start is slow on a loaded machine
    lims.until(lambda read: len(read) >= 2, 240)
    ticks = _ticks_since(home, invalid_since)
    status_after, runs_after = _cli_deployed(lake, "status"), _cli_deployed(lake, "runs", "list")
    started = [m["message_id"] for m in lims.read]  # all while the file was invalid
    lake.config_path.write_text(valid)
    alerts.until(_has("resolved"))
    time.sleep(6)  # three more alert intervals: anything sent twice would arrive by now
    alerts.poll()
    return Scenario(
        lake,
        valid_sha256,
        recorded,
        invalid_since,
        alerts.read,
        started,
        status,
        runs_list,
        status_after,
        runs_after,
        ticks,
    )


def _cli_deployed(lake: Lake, *args: str) -> str:
    """`ngs-lake <args>` as an operator's shell on the deployment runs it: with the catalogue
    bucket the deployment pins (deploy/env/lake.env)."""
    env = {
        **local_environment(lake.moto.endpoint, lake.gateway.endpoint),
        CATALOG_BUCKET_ENV: "small-lake-catalog",
        "PATH": "/usr/bin:/bin",
    }
    argv = [sys.executable, "-m", "ngs_lake.cli", *args, "--config", str(lake.config_path)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False).stdout


def test_the_valid_document_is_recorded_in_the_catalogue_bucket(scenario):
    assert scenario.recorded is not None
    assert scenario.recorded["sha256"] == scenario.valid_sha256
    assert scenario.recorded["text"] == scenario.lake.config_path.read_text()
    assert scenario.recorded["schema"] == "ngs-lake/document-in-force/v1"


def test_a_typo_leaves_ingest_and_announcements_running_across_a_sigkill(scenario):
    assert scenario.started == [
        f"NVX-MAD-01/{RUN_BEFORE}#run.started",
        f"NVX-MAD-01/{RUN_AFTER}#run.started",
    ]


def test_no_sensor_tick_failed_while_the_file_was_invalid(scenario):
    for sensor in SENSORS:
        statuses = scenario.ticks.get(sensor, [])
        assert TickStatus.FAILURE not in statuses, (sensor, statuses)
        assert statuses, f"{sensor} did not tick while the file was invalid"


def test_config_invalid_alerts_once_names_the_problem_and_resolves_after_the_fix(scenario):
    messages = [m for m in scenario.alerts if m["condition"] == "config_invalid"]
    assert [(m["status"], m["subject"]) for m in messages] == [
        ("alert", str(scenario.lake.config_path)),
        ("resolved", str(scenario.lake.config_path)),
    ]
    alert, resolved = messages
    assert alert["alert_id"] == resolved["alert_id"]
    assert alert["severity"] == "critical"
    assert alert["summary"] == (
        f"{scenario.lake.config_path} is invalid (1 problem(s)): {PROBLEM}. The lake runs on "
        f"the last valid document, sha256 {scenario.valid_sha256}, until the file is fixed"
    )
    assert alert["command"] == "ngs-lake config validate"
    began = datetime.fromisoformat(alert["began_at"].replace("Z", "+00:00"))
    assert began >= datetime.fromtimestamp(int(scenario.invalid_since), UTC)


def test_status_says_the_file_is_invalid_in_one_line_then_everything_else(scenario):
    first, *rest = scenario.status.splitlines()
    assert first == (
        f"config: {scenario.lake.config_path} is INVALID (1 problem(s): {PROBLEM}); the lake runs "
        f"on the recorded document sha256 {scenario.valid_sha256}; fix the file "
        "(`ngs-lake config validate`)"
    )
    assert rest[0].startswith("ngs_lake status at ")
    assert any(line.startswith("events queue ") for line in rest)
    assert f"NVX-MAD-01/{RUN_BEFORE}" in scenario.runs_list


def test_after_a_restart_with_a_file_that_is_not_yaml_status_and_runs_list_work(scenario):
    first, *rest = scenario.status_after_restart.splitlines()
    assert first.startswith(f"config: {scenario.lake.config_path} is INVALID (1 problem(s): ")
    assert first.endswith(
        f"the lake runs on the recorded document sha256 {scenario.valid_sha256}; fix the file "
        "(`ngs-lake config validate`)"
    )
    assert rest[0].startswith("ngs_lake status at ")
    assert f"NVX-MAD-01/{RUN_AFTER}" in scenario.runs_list_after_restart
