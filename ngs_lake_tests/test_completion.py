"""Run completion end to end: gateway process, simulator, sensor ticks and lifecycle jobs."""

import io
import json
import threading

import dagster as dg
import pyarrow.parquet as pq

from ngs_lake.local.processes import http_ok
from ngs_lake.orchestration.sequencing.assets import run_manifest, sequencing_run
from ngs_lake.orchestration.sequencing.jobs import complete_run, refresh_manifest
from ngs_lake.orchestration.sequencing.sensors import build_storage_gateway_events_sensor
from ngs_lake.runs.ingest import IngestSettings
from ngs_lake.runs.model import RunState
from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake_tests.conftest import dagster_resources
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.lake_fixtures import upload_event
from ngs_lake_tests.test_gateway_uploads import wait_for
from ngs_lake_tests.test_ingest import resources_for

SETTINGS = IngestSettings(budget_seconds=10, wait_seconds=0, flush_every=100)


class Driver:
    """Plays the daemon: ticks the sensor, stores its asset events, applies partition adds, runs
    what it requests."""

    def __init__(self, lake, instance, config_path=None):
        self.lake = lake
        self.instance = instance
        self.sensor = build_storage_gateway_events_sensor(5, SETTINGS)
        self.resources = dagster_resources(
            lake.moto.endpoint, lake.gateway.endpoint, config_path or lake.config_path
        )
        self.defs = dg.Definitions(
            assets=[sequencing_run, run_manifest],
            jobs=[complete_run, refresh_manifest],
            resources=self.resources,
        )
        self.seen_keys: set[str] = set()
        self.cursor: str | None = None

    def tick(self) -> None:
        context = dg.build_sensor_context(
            instance=self.instance, resources=self.resources, cursor=self.cursor
        )
        result = self.sensor(context)
        self.cursor = result.cursor  # stored with the events, as the daemon does
        for event in result.asset_events:  # as the daemon stores them, after the tick
            self.instance.report_runless_asset_event(event)
        for request in result.dynamic_partitions_requests:
            self.instance.add_dynamic_partitions("sequencing_runs", list(request.partition_keys))
        for request in result.run_requests:
            if request.run_key in self.seen_keys:  # Dagster skips a run key it has seen
                continue
            self.seen_keys.add(request.run_key)
            job = self.defs.resolve_job_def(request.job_name)
            job.execute_in_process(
                run_config=request.run_config or None,
                instance=self.instance,
                partition_key=request.partition_key,
                tags=request.tags,
                raise_on_error=False,
            )

    def until(self, condition, what, timeout=120):
        def step():
            self.tick()
            return condition()

        return wait_for(step, timeout=timeout, interval=0.5, what=what)


def test_a_novaseq_x_run_goes_from_started_to_completed(lake):
    (run,) = plan_simulation(
        RunSpec(platform="novaseq-x", scale=0.01, duration_seconds=4, seed=8, max_file_bytes=2048)
    )
    assert len(run.files) >= 300
    simulate([run], lake.share_folder("NVX-MAD-01"), seed=8)
    run_key = f"NVX-MAD-01/{run.run_folder}"
    with dg.instance_for_test() as instance:
        driver = Driver(lake, instance)
        driver.until(
            lambda: (r := lake.ledger().get_run(run_key)) and r.state == RunState.COMPLETED,
            what="COMPLETED",
        )
        driver.tick()  # publishes anything still pending
        materialized = instance.get_materialized_partitions(dg.AssetKey("sequencing_run"))
        assert run_key in materialized
        checks = {
            name: instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey("sequencing_run"), name), limit=1
            )
            for name in ("file_count_matches_geometry", "no_object_missing")
        }
        assert all(
            history and history[0].status.value == "SUCCEEDED" for history in checks.values()
        ), checks
        result = dg.materialize(
            [run_manifest, sequencing_run.to_source_asset()],
            partition_key=run_key,
            instance=instance,
            resources=resources_for(lake),
            selection=[run_manifest],
        )
        assert result.success
    messages = [json.loads(m["Body"]) for m in lake.consumer_messages("lims")]
    assert [m["event_type"] for m in messages] == [
        "run.started",
        "run.copy_complete",
        "run.completed",
    ]
    assert [m["sequence"] for m in messages] == [1, 2, 3]
    # The Illumina QC consumer subscribed to run.completed of Illumina platforms only.
    qc = [json.loads(m["Body"]) for m in lake.consumer_messages("illumina-qc")]
    assert [(m["event_type"], m["run"]["run_key"]) for m in qc] == [("run.completed", run_key)]
    completed = messages[-1]
    assert completed["upload"]["files"] == len(run.files)
    assert completed["run"]["flowcell"] == run.metadata["flowcell"]
    ledger_run = lake.ledger().get_run(run_key)
    assert ledger_run.completion["files"] == len(run.files)
    assert ledger_run.flowcell == run.metadata["flowcell"]
    s3 = lake.moto.client("s3")
    manifest = s3.get_object(Bucket="small-lake-catalog", Key=f"manifests/{run_key}.parquet")
    table = pq.read_table(io.BytesIO(manifest["Body"].read())).to_pylist()
    file_rows = [row for row in table if not row["key"].endswith("/")]
    assert {row["key"] for row in file_rows} == {f"{run.run_folder}/{f}" for f in run.files}
    assert all(row["version_id"] and row["etag"] for row in file_rows)
    assert sum(row["size"] for row in file_rows) == completed["upload"]["bytes"]


def test_two_concurrent_runs_on_one_share_each_complete_once(lake):
    runs = plan_simulation(
        RunSpec(
            platform="novaseq-x",
            scenario="concurrent",
            scale=0.005,
            duration_seconds=4,
            seed=9,
            max_file_bytes=1024,
        )
    )
    simulate(runs, lake.share_folder("NVX-MAD-01"), seed=9)
    keys = [f"NVX-MAD-01/{r.run_folder}" for r in runs]
    with dg.instance_for_test() as instance:
        driver = Driver(lake, instance)
        driver.until(
            lambda: all(
                (r := lake.ledger().get_run(k)) and r.state == RunState.COMPLETED for k in keys
            ),
            what="both runs COMPLETED",
        )
        driver.tick()
    messages = [json.loads(m["Body"]) for m in lake.consumer_messages("lims")]
    for key in keys:
        mine = [m["event_type"] for m in messages if m["run"]["run_key"] == key]
        assert mine == ["run.started", "run.copy_complete", "run.completed"]


def test_marker_race_completes_only_after_the_late_files(lake):
    (run,) = plan_simulation(
        RunSpec(
            platform="novaseq-x",
            scenario="marker-race",
            scale=0.005,
            duration_seconds=6,
            seed=10,
            max_file_bytes=1024,
        )
    )
    simulate([run], lake.share_folder("NVX-MAD-01"), seed=10)
    run_key = f"NVX-MAD-01/{run.run_folder}"
    with dg.instance_for_test() as instance:
        Driver(lake, instance).until(
            lambda: (r := lake.ledger().get_run(run_key)) and r.state == RunState.COMPLETED,
            what="COMPLETED",
        )
    completed = [json.loads(m["Body"]) for m in lake.consumer_messages("lims")][-1]
    assert completed["event_type"] == "run.completed"
    assert completed["upload"]["files"] == len(run.files)


def events_of(lake, run_key):
    return [
        json.loads(m["Body"])["message_id"].removeprefix(f"{run_key}#")
        for m in lake.consumer_messages("lims")
        if json.loads(m["Body"])["run"]["run_key"] == run_key
    ]


class Heartbeat:
    """Another run on the same gateway, writing one event a second: its gateway's watermark
    moves on while the run under test is silent, as on a gateway with busy sequencers."""

    def __init__(self, lake, sequencer_id: str) -> None:
        self.lake, self.share = lake, lake.share(sequencer_id)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        folder = "heartbeat/sample/20261130_0900_3C_PAW99999_feedf00d"
        n = 0
        while not self.stop.wait(1.0):
            n += 1
            self.lake.send_raw([upload_event(self.share, f"{folder}/pod5/beat_{n}.pod5")])

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_an_aborted_run_stalls_then_is_aborted_and_never_completes(lake):
    (run,) = plan_simulation(
        RunSpec(
            platform="promethion",
            scenario="aborted",
            scale=0.003,
            duration_seconds=2,
            seed=11,
            max_file_bytes=1024,
        )
    )
    simulate([run], lake.share_folder("PRM-MAD-01"), seed=11)
    run_key = f"PRM-MAD-01/{run.run_folder}"
    with dg.instance_for_test() as instance, Heartbeat(lake, "PRM-MAD-01"):
        driver = Driver(lake, instance)
        driver.until(
            lambda: (r := lake.ledger().get_run(run_key)) and r.state == RunState.ABORTED,
            what="ABORTED",
        )
        driver.tick()
        driver.tick()
    assert events_of(lake, run_key) == ["run.started", "run.stalled#1", "run.aborted"]


def test_a_stalled_run_resumes_and_completes(lake):
    (run,) = plan_simulation(
        RunSpec(
            platform="promethion",
            scenario="stalled-then-resumed",
            stall_seconds=9,
            scale=0.003,
            duration_seconds=2,
            seed=12,
            max_file_bytes=1024,
        )
    )
    run_key = f"PRM-MAD-01/{run.run_folder}"
    with dg.instance_for_test() as instance, Heartbeat(lake, "PRM-MAD-01"):
        driver = Driver(lake, instance)
        writer = threading.Thread(
            target=simulate, args=([run], lake.share_folder("PRM-MAD-01")), kwargs={"seed": 12}
        )
        writer.start()
        driver.until(
            lambda: (r := lake.ledger().get_run(run_key)) and r.state == RunState.COMPLETED,
            what="COMPLETED after resuming",
        )
        writer.join()
        driver.tick()
    assert events_of(lake, run_key) == [
        "run.started",
        "run.stalled#1",
        "run.resumed#1",
        "run.copy_complete",
        "run.completed",
    ]


def test_a_file_after_completion_amends_the_run_and_its_manifest(lake):
    (run,) = plan_simulation(
        RunSpec(platform="miseq", scenario="tiny", duration_seconds=1, seed=13, max_file_bytes=512)
    )
    share = lake.share_folder("MIS-MAD-01")
    simulate([run], share, seed=13)
    run_key = f"MIS-MAD-01/{run.run_folder}"
    with dg.instance_for_test() as instance:
        driver = Driver(lake, instance)
        driver.until(
            lambda: (r := lake.ledger().get_run(run_key)) and r.state == RunState.COMPLETED,
            what="COMPLETED",
        )
        (share / run.run_folder / "Reports").mkdir()
        (share / run.run_folder / "Reports" / "late_qc.html").write_text("<p>late</p>")
        driver.until(
            lambda: (
                (r := lake.ledger().get_run(run_key))
                and r.amended_count == 1
                and lake.ledger().log.amendment(run_key, 1) == ["Reports/late_qc.html"]
            ),
            what="amended",
        )
        driver.until(
            lambda: (
                f"{run_key}#run.amended#1"
                in [e.message_id for e in lake.ledger().log.outbox(run_key) if e.published_at]
            ),
            what="run.amended#1 published",
        )
        driver.until(
            lambda: any(
                "Reports/late_qc.html" in row["key"]
                for row in pq.read_table(
                    io.BytesIO(
                        lake.moto.client("s3")
                        .get_object(
                            Bucket="small-lake-catalog", Key=f"manifests/{run_key}.parquet"
                        )["Body"]
                        .read()
                    )
                ).to_pylist()
            ),
            what="the manifest rewritten with the late file",
        )
    amended = [
        json.loads(m["Body"])
        for m in lake.consumer_messages("lims")
        if json.loads(m["Body"])["event_type"] == "run.amended"
    ]
    assert [m["details"]["late_files"] for m in amended] == [["Reports/late_qc.html"]]


def test_an_object_withheld_from_s3_gives_incomplete_then_completes(lake):
    (run,) = plan_simulation(
        RunSpec(platform="miseq", scenario="tiny", duration_seconds=1, seed=14, max_file_bytes=512)
    )
    run_key = f"MIS-MAD-01/{run.run_folder}"
    withheld = f"{run.run_folder}/Data/Intensities/BaseCalls/L001/C1.1/s_1_1101.bcl"
    with FaultProxy(int(lake.moto.endpoint.rsplit(":", 1)[1])) as proxy:
        proxy.faults.set(f"PUT /small-lake-mis-mad-01/{withheld}", "withhold")
        gateway = lake.gateway
        gateway.process.stop()
        gateway.process.env["NGS_LAKE_AWS_ENDPOINT_URL"] = proxy.endpoint
        gateway.process.start()
        gateway.process.wait_ready(lambda: http_ok(f"{gateway.endpoint}/health"))
        simulate([run], lake.share_folder("MIS-MAD-01"), seed=14)
        with dg.instance_for_test() as instance:
            driver = Driver(lake, instance)
            driver.until(
                lambda: (r := lake.ledger().get_run(run_key)) and r.state == RunState.INCOMPLETE,
                what="INCOMPLETE",
            )
            run_row = lake.ledger().get_run(run_key)
            assert run_row.verification.first_missing == [withheld.split("/", 1)[1]]
            # The object arrives: the proxy lets it through and the file is written again.
            proxy.faults.set(f"PUT /small-lake-mis-mad-01/{withheld}", None)
            (lake.share_folder("MIS-MAD-01") / withheld).write_bytes(b"late but whole")
            driver.until(
                lambda: (r := lake.ledger().get_run(run_key)) and r.state == RunState.COMPLETED,
                what="COMPLETED after the retry",
                timeout=180,
            )
            driver.tick()
    assert events_of(lake, run_key) == [
        "run.started",
        "run.copy_complete",
        "run.incomplete#1",
        "run.completed",
    ]
