"""deploy/dagster.yaml, the instance for running past one machine, is a valid Dagster instance
config: Postgres storage, the QueuedRunCoordinator, the EcsRunLauncher and S3 compute logs, each
section checked against its class's own config schema."""

import importlib

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config_schema
from dagster_postgres import PostgresRunStorage

from ngs_lake_tests.conftest import REPO

ENVIRONMENT = {
    "DAGSTER_PG_HOST": "dagster.cluster-abc.us-east-1.rds.amazonaws.com",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "from-secrets-manager",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_PORT": "5432",
    "NGS_LAKE_COMPUTE_LOG_BUCKET": "ngs-lake-dagster-logs",
    "NGS_LAKE_COMPUTE_LOG_ENDPOINT_URL": "https://s3.us-east-1.amazonaws.com",
    "NGS_LAKE_RUN_TASK_ROLE_ARN": "arn:aws:iam::123456789012:role/ngs-lake-dagster-run",
    "NGS_LAKE_RUN_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/ngs-lake-dagster-execution",
    "NGS_LAKE_RUN_LOG_GROUP": "/ecs/ngs-lake-dagster-runs",
    "DAGSTER_PG_PASSWORD_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:pg",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture
def document(monkeypatch: pytest.MonkeyPatch) -> dict:
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    return yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())


def _section_errors(section: dict) -> list[str]:
    klass = getattr(importlib.import_module(section["module"]), section["class"])
    result = process_config(klass.config_type(), section.get("config", {}))
    return [e.message for e in result.errors or []]


def test_the_production_instance_config_validates(document):
    result = process_config(dagster_instance_config_schema(), document)
    assert result.success, [e.message for e in result.errors]
    assert result.value["storage"]["postgres"]["postgres_db"]["hostname"] == (
        "dagster.cluster-abc.us-east-1.rds.amazonaws.com"
    )
    postgres = process_config(PostgresRunStorage.config_type(), document["storage"]["postgres"])
    assert postgres.success
    named = {
        name: (document[name]["module"], document[name]["class"])
        for name in ("run_coordinator", "run_launcher", "compute_logs")
    }
    assert named == {
        "run_coordinator": ("dagster._core.run_coordinator", "QueuedRunCoordinator"),
        "run_launcher": ("dagster_aws.ecs", "EcsRunLauncher"),
        "compute_logs": ("dagster_aws.s3.compute_log_manager", "S3ComputeLogManager"),
    }
    for name in named:
        assert _section_errors(document[name]) == [], name


def test_a_mistake_in_a_section_is_caught(document):
    document["run_launcher"]["config"]["use_current_ecs_task_config"] = "sometimes"
    assert any(
        "use_current_ecs_task_config" in e for e in _section_errors(document["run_launcher"])
    )
    document["compute_logs"]["config"]["upload_every"] = 30
    assert any("upload_every" in e for e in _section_errors(document["compute_logs"]))


def test_the_postgres_password_must_come_from_the_environment(monkeypatch, document):
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    result = process_config(dagster_instance_config_schema(), document)
    assert not result.success
    assert "DAGSTER_PG_PASSWORD" in result.errors[0].message
