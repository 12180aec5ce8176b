"""`ngs-lake local up` (what `make run` calls): the local lake comes up; Ctrl-C stops it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient

from ngs_lake.local.processes import free_port, http_ok, port_open
from ngs_lake_tests.conftest import REPO, SHIPPED_CONFIG
from ngs_lake_tests.test_gateway_uploads import wait_for

FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def wait_for_line(log_path, text, process, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log_path.read_text() if log_path.exists() else ""
        if text in content:
            return content
        if process.poll() is not None:
            pytest.fail(f"local up exited with {process.returncode}:\n{content}")
        time.sleep(0.5)
    pytest.fail(f"{text!r} not printed within {timeout} s:\n{log_path.read_text()}")


@pytest.mark.slow
def test_local_up_provisions_serves_dagster_and_stops_on_ctrl_c(tmp_path):
    ports = {"moto": free_port(), "gateway": free_port(), "dagster": free_port()}
    state = tmp_path / "state"
    state.mkdir()
    (state / ".ngs-lake-state").write_text("")  # a state folder of an earlier `local up`
    (state / "leftover-from-last-run").write_text("stale")
    log_path = tmp_path / "local-up.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ngs_lake.cli",
                "local",
                "up",
                "--config",
                str(SHIPPED_CONFIG),
                "--state",
                str(state),
                "--moto-port",
                str(ports["moto"]),
                "--gateway-port",
                str(ports["gateway"]),
                "--dagster-port",
                str(ports["dagster"]),
                "--no-simulate",  # the demo and the system test drive runs through the stack
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith(("NGS_LAKE_", "AWS_"))},
        )
    try:
        output = wait_for_line(log_path, "press Ctrl-C", process, timeout=240)
        assert not (state / "leftover-from-last-run").exists()  # the state folder was reset
        assert http_ok(f"http://127.0.0.1:{ports['dagster']}/server_info")
        assert (state / "dagster" / "dagster.yaml").resolve() == REPO / "dagster.yaml"
        assert "/gateways/gw-mad-01/NVX-MAD-01" in output

        exports = dict(
            line.removeprefix("  export ").split("=", 1)
            for line in output.splitlines()
            if line.startswith("  export ")
        )
        assert exports["NGS_LAKE_AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{ports['moto']}"
        plan = subprocess.run(
            [sys.executable, "-m", "ngs_lake.cli", "provision", "--plan", "--json"],
            cwd=REPO,
            env={**os.environ, **exports},
            capture_output=True,
            text=True,
            check=True,
        )
        summary = json.loads(plan.stdout)["summary"]
        assert summary["create"] == summary["update"] == summary["move"] == 0
        assert summary["no-op"] > 300

        # S3 Inventory reports for all 25 buckets, then the catalogue and capacity report
        # materialised once so the UI shows them at once.
        assert "inventory reports      25 written" in output
        client = DagsterGraphQLClient("127.0.0.1", port_number=ports["dagster"])
        for job in ("inventory_catalog_job", "capacity_report_job"):
            (line,) = [
                x for x in output.splitlines() if x.startswith(f"launched               {job}")
            ]
            run_id = line.rsplit("(run ", 1)[1].rstrip(")")
            status = wait_for(
                lambda run_id=run_id: (s := client.get_run_status(run_id)) in FINISHED and s,
                timeout=180,
                interval=2,
                what=f"{job} to finish",
            )
            assert status == DagsterRunStatus.SUCCESS, job
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    time.sleep(1)
    assert not [name for name, port in ports.items() if port_open("127.0.0.1", port)]
