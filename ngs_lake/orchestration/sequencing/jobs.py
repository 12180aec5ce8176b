"""`announce_run`: publish a run's recorded lifecycle messages (rendered, published, marked);
`complete_run` and `refresh_manifest`: the run's assets as jobs."""

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


class AnnounceConfig(Config):
    run_key: str


@op(description="Publish a run's recorded lifecycle messages to the FIFO topic, oldest first.")
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
    results = RunAnnouncer(clients, names, ledger).publish_pending(config.run_key)
    for result in results:
        context.log.info(f"{result.message_id} (sequence {result.sequence}) published")
    context.add_output_metadata(
        {
            "message_ids": ", ".join(r.message_id for r in results),
            "published_now": len(results),
        }
    )


@job(executor_def=in_process_executor, tags={"ngs_lake/kind": "lifecycle"})
def announce_run() -> None:
    announce()


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
