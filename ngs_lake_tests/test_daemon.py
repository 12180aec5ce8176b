"""A real dagster-daemon process runs the storage_gateway_events sensor and launches announce_run."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from ngs_lake.processes import ManagedProcess
from ngs_lake_tests.conftest import CREDENTIALS, REPO
from ngs_lake_tests.lake_fixtures import upload_event
from ngs_lake_tests.test_gateway_uploads import wait_for

RUN = "20261129_LH00123_0077_A22DAEMLT3"


@pytest.mark.slow
def test_the_daemon_ingests_and_announces(lake, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        **CREDENTIALS,
        "DAGSTER_HOME": str(home),
        "AWS_REGION": "us-east-1",
        "NGS_LAKE_AWS_ENDPOINT_URL": lake.moto.endpoint,
        "NGS_LAKE_STORAGEGATEWAY_ENDPOINT_URL": lake.gateway.endpoint,
        "NGS_LAKE_TARGET": "local",
        "NGS_LAKE_CONFIG": str(lake.config_path),
        "NGS_LAKE_SENSOR_INTERVAL_SECONDS": "2",
    }
    share = lake.share("NVX-MAD-01")
    lake.send_raw(
        [upload_event(share, f"{RUN}/{name}") for name in ("RunInfo.xml", "RunParameters.xml")]
    )
    daemon = ManagedProcess(
        "dagster-daemon",
        [
            str(Path(sys.executable).parent / "dagster-daemon"),
            "run",
            "-w",
            str(REPO / "workspace.yaml"),
        ],
        env,
        tmp_path / "daemon.log",
        cwd=REPO,
    ).start()
    try:
        messages = wait_for(
            lambda: lake.consumer_messages("lims", wait_rounds=1),
            timeout=180,
            interval=1,
            what="run.started from a daemon-launched run",
        )
    finally:
        daemon.stop()
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [b["message_id"] for b in bodies] == [f"NVX-MAD-01/{RUN}#run.started"]
    assert lake.ledger().file_count(f"NVX-MAD-01/{RUN}") == 2
