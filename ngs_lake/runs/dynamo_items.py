"""DynamoDB items to and from plain values: the run tables' one codec."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ngs_lake.runs.model import utc_iso

_SERIALIZE = TypeSerializer().serialize
_DESERIALIZE = TypeDeserializer().deserialize


def _dynamo_safe(value: Any) -> Any:
    """DynamoDB numbers are decimals and it has no time type: floats go in as their exact
    decimal text, datetimes as UTC ISO text (sortable, as the by-state index needs)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, dict):
        return {k: _dynamo_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_dynamo_safe(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZE(_dynamo_safe(v)) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZE(v) for k, v in item.items()}


def plain(value: Any) -> Any:
    """DynamoDB's Decimals back to ints and floats, for message bodies."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
