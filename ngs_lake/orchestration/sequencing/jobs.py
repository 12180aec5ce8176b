"""`announce_run`: publish one lifecycle message for one run (recorded, published, marked)."""

from dagster import (
    Config,
    OpExecutionContext,
    define_asset_job,
    in_process_executor,
    job,
    op,
)

from ngs_lake.config.names import LakeNames
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.runs.announcements import RunAnnouncer
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import RunEventType


class AnnounceConfig(Config):
    run_key: str
    event_type: str = RunEventType.STARTED.value
    occurrence: int = 1


@op(description="Build, record and publish one run lifecycle message to the FIFO topic.")
def announce(
    context: OpExecutionContext,
    config: AnnounceConfig,
    lake: LakeConfigResource,
    aws: AwsConnection,
) -> None:
    document = lake.load()
    clients = aws.clients(document.lake.region)
    names = LakeNames.of(document)
    ledger = RunLedger(clients, names, document.lake.events_ttl_days)
    announcer = RunAnnouncer(clients, names, ledger)
    # The requested message, and every other one due for the run, oldest first.
    results = announcer.catch_up(config.run_key) or [
        announcer.announce(config.run_key, RunEventType(config.event_type), config.occurrence)
    ]
    for result in results:
        context.log.info(
            f"{result.message_id} (sequence {result.sequence}) "
            + ("published" if result.published_now else "was already published")
        )
    context.add_output_metadata(
        {
            "message_ids": ", ".join(r.message_id for r in results),
            "published_now": sum(r.published_now for r in results),
        }
    )


@job(executor_def=in_process_executor, tags={"ngs_lake/kind": "lifecycle"})
def announce_run() -> None:
    announce()


def announce_run_config(run_key: str, event_type: RunEventType, occurrence: int = 1) -> dict:
    return {
        "ops": {
            "announce": {
                "config": {
                    "run_key": run_key,
                    "event_type": event_type.value,
                    "occurrence": occurrence,
                }
            }
        }
    }


complete_run = define_asset_job(
    "complete_run",
    selection=["sequencing_run"],
    executor_def=in_process_executor,
    tags={"ngs_lake/kind": "lifecycle"},
    description="Verify a confirmed run in S3; complete it or record it incomplete.",
)


refresh_manifest = define_asset_job(
    "refresh_manifest",
    selection=["run_manifest"],
    executor_def=in_process_executor,
    tags={"ngs_lake/kind": "lifecycle"},
    description="Write a run's manifest again (after late files amended it).",
)
