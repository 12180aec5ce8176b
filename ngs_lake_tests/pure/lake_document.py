"""One literal lake document for the config tests: two sites, three gateways, five sequencers of
four families and four consumers, every value written as a lab admin would write it."""

import copy
from collections.abc import Callable

import pytest

from ngs_lake.config.document import parse_lake_document
from ngs_lake.config.model import LakeConfig, LakeConfigError

ARN = "arn:aws:iam::123456789012:role"

LAKE: dict = {
    "version": 1,
    "lake": {
        "region": "us-east-1",
        "prefix": "test-lake",
        "object_lock": {"mode": "COMPLIANCE", "retention_days": 365},
        "kms_key_alias": "alias/test-lake",
        "inventory": {"bucket": "test-lake-inventory"},
        "access_log_bucket": "test-lake-access-logs",
        "catalog_bucket": "test-lake-catalog",
        "gateway_role_arn": f"{ARN}/test-lake-file-gateway",
        "break_glass_role_arn": f"{ARN}/test-lake-break-glass",
    },
    "sites": [
        {"id": "madison", "name": "Madison Biotechnology Core", "timezone": "America/Chicago"},
        {"id": "boston", "name": "Boston Genomics", "timezone": "America/New_York"},
    ],
    "gateways": [
        {
            "id": "gw-a",
            "site": "madison",
            "ip": "10.30.1.11",
            "cache": "16 TiB",
            "smb": {"authentication": "GuestAccess"},
        },
        {
            "id": "gw-b",
            "site": "madison",
            "ip": "10.30.1.12",
            "cache": "8 TiB",
            "smb": {"authentication": "GuestAccess"},
        },
        {
            "id": "gw-c",
            "site": "boston",
            "ip": "10.40.1.11",
            "cache": "12 TiB",
            "smb": {"authentication": "ActiveDirectory", "domain": "BOS.LOCAL"},
        },
    ],
    "sequencers": [
        {"id": "NVX-MAD-01", "gateway": "gw-a", "platform": "novaseq-x", "data_rate": "20 GB/h"},
        {
            "id": "MIS-MAD-01",
            "gateway": "gw-a",
            "platform": "miseq",
            "data_rate": "0.5 GB/h",
            "stall_window": "30m",
        },
        {"id": "PRM-MAD-01", "gateway": "gw-b", "platform": "promethion", "data_rate": "10 GB/h"},
        {"id": "REV-BOS-01", "gateway": "gw-c", "platform": "revio", "data_rate": "6 GB/h"},
        {"id": "AVT-BOS-01", "gateway": "gw-c", "platform": "aviti", "data_rate": "5 GB/h"},
    ],
    "consumers": [
        {
            "name": "illumina-qc",
            "principal": f"{ARN}/illumina-qc",
            "event_types": ["run.completed"],
            "platforms": ["novaseq-x", "miseq"],
            "read_prefixes": ["reports/"],
        },
        {
            "name": "lims",
            "principal": f"{ARN}/lims",
            "event_types": ["run.started", "run.completed"],
            "read_prefixes": [""],
        },
        {
            "name": "boston-archive",
            "principal": f"{ARN}/boston-archive",
            "event_types": ["run.completed"],
            "sites": ["boston"],
            "read_prefixes": [""],
        },
        {
            "name": "boston-hifi",
            "principal": f"{ARN}/boston-hifi",
            "event_types": ["run.completed"],
            "platforms": ["revio", "promethion"],
            "sites": ["boston"],
            "read_prefixes": [""],
        },
    ],
}


def lake_config(edit: Callable[[dict], None] = lambda d: None) -> LakeConfig:
    """The document, validated, after `edit` changed a copy of it."""
    document = copy.deepcopy(LAKE)
    edit(document)
    return parse_lake_document(document)


def problems_after(edit: Callable[[dict], None]) -> list[str]:
    """The problems the document has once `edit` changed a copy of it."""
    document = copy.deepcopy(LAKE)
    edit(document)
    with pytest.raises(LakeConfigError) as caught:
        parse_lake_document(document)
    return caught.value.problems
