"""`ngs-lake status` against a provisioned lake on moto with its gateway running."""

from datetime import UTC, datetime, timedelta

from ngs_lake.runs.model import Trigger


def test_status_shows_queues_backlog_runs_and_stalled_runs(lake):
    lake.send_raw(['{"not": "an event"}'] * 3)
    sqs = lake.moto.client("sqs")
    sqs.send_message(QueueUrl=lake.queue_url(lake.names.dead_letter_queue), MessageBody="poison")
    now = datetime.now(UTC)
    lake.start_run("NVX-MAD-01/20261129_LH00123_0001_A22STATLT3", now)
    stalled = "NVX-MAD-01/20261129_LH00123_0002_A22STALLT3"
    lake.start_run(stalled, now - timedelta(hours=3))
    lake.ledger().apply(lake.ledger().require_run(stalled), Trigger.SILENCE)

    result = lake.cli("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # moto keeps no CloudWatch SQS metrics, so the oldest message's age is not reported.
    assert "events queue   3 waiting, 0 in flight, oldest n/a, dead letters 1" in lines
    assert "dead letters   1  <- inspect: `ngs-lake dlq list`" in lines
    assert "runs           STARTED 1  STALLED 1" in lines
    assert f"  {stalled}  last activity 3h ago" in lines
    gateway_lines = [line for line in lines if line.startswith("  gw-")]
    assert [line.split()[0] for line in gateway_lines] == ["gw-a", "gw-b"]
    assert all("dirty       0 B" in line and "nothing waiting" in line for line in gateway_lines)
    # Recorded with their transitions, not yet published (no sensor has run).
    assert f"  {stalled}#run.stalled#1  NOT YET PUBLISHED" in lines
    assert f"  {stalled}#run.started  NOT YET PUBLISHED" in lines
