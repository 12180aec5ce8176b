"""Per-site event queues (`lake.event_queues: per-site`): one queue, DLQ, rule and sensor per
site, derived from the document; each site's events reach only its own queue and sensor."""

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.document import load_lake_config, parse_lake_document
from ngs_lake.config.model import LakeConfig, LakeConfigError
from ngs_lake.config.names import LakeNames, event_shards
from ngs_lake.operations.status import collect_status, render_status
from ngs_lake.orchestration.sequencing.sensors import build_storage_gateway_events_sensor
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.provisioning.plan import Action
from ngs_lake.runs.ingest import IngestSettings
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake_tests.conftest import (
    REPO,
    SMALL_CONFIG,
    Gateway,
    dagster_resources,
    edited_config,
    lake_clients,
    run_cli,
    start_daemon,
)
from ngs_lake_tests.lake_fixtures import drain_queue
from ngs_lake_tests.test_gateway_uploads import wait_for

FAST = IngestSettings(wait_seconds=0, budget_seconds=10)


def two_sites(document: dict) -> None:
    """small.yaml plus a Boston site with its own gateway and MiSeq, on per-site queues."""
    document["lake"]["event_queues"] = "per-site"
    document["lake"]["settling_time_seconds"] = 1
    document["sites"].append(
        {"id": "boston", "name": "Boston Core", "timezone": "America/New_York"}
    )
    document["gateways"].append(
        {
            "id": "gw-c",
            "site": "boston",
            "ip": "10.40.1.11",
            "cache": "4 TiB",
            "smb": {"authentication": "GuestAccess"},
        }
    )
    document["sequencers"].append(
        {"id": "MIS-BOS-01", "gateway": "gw-c", "platform": "miseq", "data_rate": "0.5 GB/h"}
    )


def test_per_site_queues_are_named_from_the_document(tmp_path):
    config = load_lake_config(edited_config(tmp_path, SMALL_CONFIG, two_sites, "lake.yaml"))
    shards = event_shards(config)
    assert [(s.site, s.queue, s.dead_letter_queue, s.rule, s.sensor_name) for s in shards] == [
        (
            "madison",
            "small-lake-madison-gateway-events",
            "small-lake-madison-gateway-events-dlq",
            "small-lake-madison-gateway-events",
            "storage_gateway_events_madison",
        ),
        (
            "boston",
            "small-lake-boston-gateway-events",
            "small-lake-boston-gateway-events-dlq",
            "small-lake-boston-gateway-events",
            "storage_gateway_events_boston",
        ),
    ]
    assert shards[0].sequencer_ids(config) == {"NVX-MAD-01", "MIS-MAD-01", "PRM-MAD-01"}
    assert shards[1].sequencer_ids(config) == {"MIS-BOS-01"}
    shipped = yaml.safe_load((REPO / "config" / "lake.yaml").read_text())
    shipped["lake"]["event_queues"] = "per-site"
    sites = [s.site for s in event_shards(parse_lake_document(shipped))]
    assert sites == [s["id"] for s in shipped["sites"]] and len(sites) >= 3
    (lake_wide,) = event_shards(load_lake_config(SMALL_CONFIG))
    assert (lake_wide.site, lake_wide.queue, lake_wide.sensor_name) == (
        None,
        "small-lake-gateway-events",
        "storage_gateway_events",
    )


def test_a_site_id_too_long_for_a_rule_name_is_refused_by_name():
    document = yaml.safe_load(SMALL_CONFIG.read_text())
    document["lake"]["event_queues"] = "per-site"
    site = "madison-biotechnology-core-east-campus-2"  # 40 characters: a valid id
    document["sites"][0]["id"] = site
    for gateway in document["gateways"]:
        gateway["site"] = site
    with pytest.raises(LakeConfigError) as error:
        parse_lake_document(document)
    assert (
        f"sites[{site}].id: with lake.event_queues per-site, its rule name "
        f"'small-lake-{site}-gateway-events' would exceed EventBridge's 64 characters; "
        "use a shorter site id or lake prefix"
    ) in str(error.value)


def test_the_code_location_has_one_events_sensor_per_site(tmp_path):
    path = edited_config(tmp_path, SMALL_CONFIG, two_sites, "lake.yaml")
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ngs_lake.definitions import defs; "
            "print(sorted(s.name for s in defs().get_repository_def().sensor_defs))",
        ],
        capture_output=True,
        text=True,
        env={"NGS_LAKE_CONFIG": str(path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=True,
    )
    sensors = listed.stdout.strip().splitlines()[-1]
    assert sensors == str(
        [
            "inventory_reports_arrived",
            "lake_automation",
            "lake_config_changed",
            "operations_alerts",
            "storage_gateway_events_boston",
            "storage_gateway_events_madison",
        ]
    )


@dataclass
class TwoSiteLake:
    path: Path
    config: LakeConfig
    gateway: Gateway
    clients: AwsClients

    def simulate_miseq_runs(self) -> dict[str, str]:
        """A tiny MiSeq run written into MIS-MAD-01's share and one into MIS-BOS-01's."""
        runs = {}
        for sequencer_id, seed in (("MIS-MAD-01", 1), ("MIS-BOS-01", 2)):
            (run,) = plan_simulation(
                RunSpec(platform="miseq", scenario="tiny", duration_seconds=1, seed=seed)
            )
            gateway_id = self.config.sequencer(sequencer_id).gateway
            folder = self.gateway.state_dir / "gateways" / gateway_id / sequencer_id
            simulate([run], folder, seed=seed)
            runs[sequencer_id] = f"{sequencer_id}/{run.run_folder}"
        return runs


@pytest.fixture
def two_site_lake(moto, start_gateway, tmp_path) -> TwoSiteLake:
    path = edited_config(tmp_path, SMALL_CONFIG, two_sites, "lake.yaml")
    gateway = start_gateway(path)
    clients = lake_clients(moto, gateway)
    config = load_lake_config(path)
    apply_plan(plan_lake(config, clients))
    return TwoSiteLake(path, config, gateway, clients)


def test_each_site_drains_only_its_own_gateways_events(moto, two_site_lake):
    path, config = two_site_lake.path, two_site_lake.config
    gateway, clients = two_site_lake.gateway, two_site_lake.clients
    madison, boston = event_shards(config)

    events = moto.client("events")
    arns = {g["GatewayName"]: g["GatewayARN"] for g in gateway_list(clients)}
    pattern = json.loads(events.describe_rule(Name=boston.rule)["EventPattern"])
    assert pattern["resources"] == [arns["gw-c"]]
    pattern = json.loads(events.describe_rule(Name=madison.rule)["EventPattern"])
    assert pattern["resources"] == sorted([arns["gw-a"], arns["gw-b"]])
    sqs = moto.client("sqs")
    queues = {u.rsplit("/", 1)[-1] for u in sqs.list_queues()["QueueUrls"]}
    assert "small-lake-gateway-events" not in queues  # no lake-wide queue in per-site mode
    assert {madison.queue, madison.dead_letter_queue, boston.queue, boston.dead_letter_queue} <= (
        queues
    )

    runs = two_site_lake.simulate_miseq_runs()
    ledger = RunLedger(clients, LakeNames.of(config))
    resources = dagster_resources(moto.endpoint, gateway.endpoint, path)
    with dg.instance_for_test() as instance:
        boston_sensor = build_storage_gateway_events_sensor(5, FAST, boston)
        partitions: set[str] = set()

        def boston_started():
            result = boston_sensor(dg.build_sensor_context(instance=instance, resources=resources))
            for request in result.dynamic_partitions_requests:
                partitions.update(request.partition_keys)
            return ledger.get_run(runs["MIS-BOS-01"]) is not None

        wait_for(boston_started, what="the Boston run recorded by Boston's sensor")
        # Madison's events wait in Madison's queue: Boston's sensor never saw them.
        assert ledger.get_run(runs["MIS-MAD-01"]) is None
        assert partitions == {runs["MIS-BOS-01"]}
        waiting = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=madison.queue)["QueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]["ApproximateNumberOfMessages"]
        assert int(waiting) > 0

        madison_sensor = build_storage_gateway_events_sensor(5, FAST, madison)

        def madison_started():
            madison_sensor(dg.build_sensor_context(instance=instance, resources=resources))
            return ledger.get_run(runs["MIS-MAD-01"]) is not None

        wait_for(madison_started, what="the Madison run recorded by Madison's sensor")
    assert plan_lake(config, clients).mutations == []  # provisioning again changes nothing

    lines = render_status(collect_status(clients, config)).splitlines()
    shown = r"\d+ waiting, \d+ in flight, oldest n/a, dead letters 0"
    assert re.fullmatch(f"events madison {shown}", lines[2]), lines
    assert re.fullmatch(f"events boston  {shown}", lines[3]), lines
    sqs.send_message(
        QueueUrl=sqs.get_queue_url(QueueName=boston.dead_letter_queue)["QueueUrl"],
        MessageBody="poison",
    )
    listed = run_cli(moto.endpoint, gateway.endpoint, path, "dlq", "list", "--wait", "1")
    shown = listed.stdout.splitlines()
    assert shown[0] == "madison: 0 parked messages", listed.stdout
    assert shown[1] == "boston: 1 parked message", listed.stdout
    unknown = run_cli(moto.endpoint, gateway.endpoint, path, "dlq", "list", "--site", "chicago")
    assert unknown.returncode == 2
    assert (
        "Invalid value for --site: unknown site 'chicago' (known: boston, madison)"
        in unknown.stderr
    )


def gateway_list(clients):
    return clients.storagegateway().list_gateways()["Gateways"]


def test_switching_to_per_site_retires_the_lake_wide_rule_and_no_other_lakes(lake, tmp_path):
    events = lake.moto.client("events")
    # Another lake whose prefix extends ours: its rule must survive our switch.
    other = events.put_rule(
        Name="small-lake-two-gateway-events",
        EventPattern=json.dumps({"source": ["aws.storagegateway"]}),
        Tags=[{"Key": "ngs-lake:lake", "Value": "small-lake-two"}],
    )["RuleArn"]
    assert other

    def per_site(document: dict) -> None:
        document["lake"]["event_queues"] = "per-site"

    per_site_config = load_lake_config(
        edited_config(tmp_path, lake.config_path, per_site, "ps.yaml")
    )
    plan = plan_lake(per_site_config, lake.clients)
    removed = [(c.resource, c.name) for c in plan.changes if c.action == Action.REMOVE]
    assert removed == [("events-rule", "small-lake-gateway-events")]
    created = {(c.resource, c.name) for c in plan.changes if c.action == Action.CREATE}
    assert ("events-rule", "small-lake-madison-gateway-events") in created
    assert ("sqs-queue", "small-lake-madison-gateway-events") in created
    apply_plan(plan)
    names = {r["Name"] for r in events.list_rules(NamePrefix="small-lake")["Rules"]}
    assert names == {"small-lake-madison-gateway-events", "small-lake-two-gateway-events"}

    back = plan_lake(lake.config, lake.clients)
    assert [(c.name) for c in back.changes if c.action == Action.REMOVE] == [
        "small-lake-madison-gateway-events"
    ]
    apply_plan(back)
    names = {r["Name"] for r in events.list_rules(NamePrefix="small-lake")["Rules"]}
    assert names == {"small-lake-gateway-events", "small-lake-two-gateway-events"}


@pytest.mark.slow
def test_a_real_daemon_runs_one_sensor_per_site(moto, two_site_lake, tmp_path):
    """From workspace.yaml, as `make run` loads it: both sites' runs are announced, although
    each site's events reach only its own queue."""
    daemon = start_daemon(
        tmp_path, moto.endpoint, two_site_lake.gateway.endpoint, two_site_lake.path
    )
    runs = two_site_lake.simulate_miseq_runs()
    sqs = moto.client("sqs")
    lims = sqs.get_queue_url(QueueName="small-lake-lims.fifo")["QueueUrl"]
    announced: list[str] = []

    started = {f"{key}#run.started" for key in runs.values()}

    def both_started() -> bool:
        announced.extend(
            json.loads(m["Body"])["message_id"] for m in drain_queue(sqs, lims, wait_rounds=1)
        )
        return started <= set(announced)

    try:
        wait_for(both_started, timeout=240, interval=1, what="run.started for both sites' runs")
    finally:
        daemon.stop()
    assert sorted(m for m in announced if m.endswith("#run.started")) == sorted(started)
