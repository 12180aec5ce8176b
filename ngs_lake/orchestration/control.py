"""Dagster as the local stack and the demo see it from outside: a job submitted over the
webserver's GraphQL, and the partitions an instance has materialised. Kept here so that only
`orchestration/` imports Dagster."""

from __future__ import annotations

import time
from pathlib import Path

from dagster import AssetKey, DagsterInstance
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError


def submit_job_once_loaded(
    port: int, job: str, tags: dict[str, str], timeout: float
) -> tuple[str | None, str | None]:
    """Submit `job` through the webserver on `port`, retrying while the code location loads.

    Returns (run id, None), or (None, the last error) once `timeout` seconds have passed.
    """
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.submit_job_execution(job, tags=tags), None
        except DagsterGraphQLClientError as exc:
            if time.monotonic() > deadline:
                return None, str(exc)
            time.sleep(2)  # the code location is still loading


def materialized_partitions(dagster_home: Path, asset: str) -> set[str]:
    """The partitions of `asset` that the instance at `dagster_home` records as materialised."""
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        return set(instance.get_materialized_partitions(AssetKey(asset)))
