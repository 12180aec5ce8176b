"""A real dagster-daemon process runs the storage_gateway_events sensor, whose tick announces."""

import json

import pytest

from ngs_lake_tests.conftest import start_daemon
from ngs_lake_tests.lake_fixtures import upload_event
from ngs_lake_tests.test_gateway_uploads import wait_for

RUN = "20261129_LH00123_0077_A22DAEMLT3"


@pytest.mark.slow
def test_the_daemon_ingests_and_announces(lake, tmp_path):
    share = lake.share("NVX-MAD-01")
    lake.send_raw(
        [upload_event(share, f"{RUN}/{name}") for name in ("RunInfo.xml", "RunParameters.xml")]
    )
    daemon = start_daemon(tmp_path, lake.moto.endpoint, lake.gateway.endpoint, lake.config_path)
    try:
        messages = wait_for(
            lambda: lake.consumer_messages("lims", wait_rounds=1),
            timeout=180,
            interval=1,
            what="run.started from the daemon's sensor tick",
        )
    finally:
        daemon.stop()
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [b["message_id"] for b in bodies] == [f"NVX-MAD-01/{RUN}#run.started"]
    assert lake.ledger().file_count(f"NVX-MAD-01/{RUN}") == 2
