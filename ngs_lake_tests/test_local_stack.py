"""`ngs-lake local up` (what `make run` calls): the local lake comes up; Ctrl-C stops it."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from ngs_lake.local.processes import free_port, http_ok, port_open
from ngs_lake_tests.conftest import REPO, SHIPPED_CONFIG
from ngs_lake_tests.test_gateway_uploads import wait_for

FINISHED_NAMES = {"SUCCESS", "FAILURE", "CANCELED"}


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["data"]


def _runs(port: int) -> list[tuple[str, str]]:
    data = _graphql(port, "{ runsOrError { ... on Runs { results { jobName status } } } }")
    return [(r["jobName"], r["status"]) for r in data["runsOrError"]["results"]]


def _materializations(port: int, asset: str) -> int:
    query = (
        f'{{ assetOrError(assetKey: {{path: ["{asset}"]}}) '
        "{ ... on Asset { assetMaterializations { runId } } } }"
    )
    return len(_graphql(port, query)["assetOrError"]["assetMaterializations"])


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

        # S3 Inventory reports for all 25 buckets, then each start-up job once: provisioning
        # (the config sensor's first tick) and one catalogue refresh (the inventory sensor),
        # which materializes the catalogue and the capacity report, once each.
        assert "inventory reports      25 written" in output
        runs = wait_for(
            lambda: (
                (r := _runs(ports["dagster"]))
                and all(status in FINISHED_NAMES for _, status in r)
                and {job for job, _ in r} >= {"provision_lake", "catalogue_refresh_job"}
                and r
            ),
            timeout=240,
            interval=2,
            what="the start-up runs to finish",
        )
        assert sorted(runs) == [
            ("catalogue_refresh_job", "SUCCESS"),
            ("provision_lake", "SUCCESS"),
        ]
        assert _materializations(ports["dagster"], "capacity_report") == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    last = log_path.read_text().strip().splitlines()[-1]
    assert last == "stopped everything (dagster, gateway, moto)", last
    time.sleep(1)
    assert not [name for name, port in ports.items() if port_open("127.0.0.1", port)]
