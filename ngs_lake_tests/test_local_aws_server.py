"""The local stand-in's moto: memoized lookups and transactions rolled back by item give the
same answers as plain moto."""

from __future__ import annotations

import os
import sys
from typing import Any

import boto3
import jsonpath_ng.ext
import moto.backends
import moto.core.utils
from botocore.exceptions import ClientError

from ngs_lake.local.aws_server import memoize_moto_parsers
from ngs_lake.local.processes import ManagedProcess, free_port, http_ok
from ngs_lake_tests.conftest import CREDENTIALS

EVENT = {"detail-type": "Storage Gateway Object Upload Event", "resources": ["a", "b"]}


def test_memoized_parsers_give_moto_the_same_answers_once() -> None:
    modules_before = set(moto.backends.list_of_moto_modules())
    memoize_moto_parsers()

    assert {"s3", "sqs", "events", "sns", "dynamodb"} <= set(moto.backends.list_of_moto_modules())
    assert set(moto.backends.list_of_moto_modules()) == modules_before
    first = jsonpath_ng.ext.parse("$.detail-type")
    assert jsonpath_ng.ext.parse("$.detail-type") is first  # parsed once, reused
    assert [m.value for m in first.find(EVENT)] == ["Storage Gateway Object Upload Event"]
    assert [m.value for m in jsonpath_ng.ext.parse("$.resources").find(EVENT)] == [["a", "b"]]
    assert moto.core.utils.camelcase_to_underscores("ApproximateNumberOfMessages") == (
        "approximate_number_of_messages"
    )
    assert moto.core.utils.camelcase_to_underscores("VisibilityTimeout") == "visibility_timeout"


TABLE = "transactions"
LOG = "transactions-log"


def _transaction_calls() -> list[tuple[str, dict[str, Any]]]:
    """Tables, then transactions that commit, cancel on a condition, name one item twice, or
    put new items before a later entry fails, each followed by reads of every item."""
    s = lambda v: {"S": v}  # noqa: E731
    run = lambda key, version: {"run_key": s(key), "version": {"N": str(version)}}  # noqa: E731
    update = lambda key, version: {  # noqa: E731
        "Update": {
            "TableName": TABLE,
            "Key": {"run_key": s(key)},
            "UpdateExpression": "SET version = :next",
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": {":v": {"N": str(version)}, ":next": {"N": "9"}},
        }
    }
    log = lambda key, entry: {  # noqa: E731
        "Put": {
            "TableName": LOG,
            "Item": {"run_key": s(key), "entry": s(entry), "body": s("x" * 10)},
            "ConditionExpression": "attribute_not_exists(run_key)",
        }
    }
    reads = [
        ("scan", {"TableName": TABLE}),
        ("scan", {"TableName": LOG}),
        (
            "query",
            {
                "TableName": LOG,
                "KeyConditionExpression": "run_key = :r",
                "ExpressionAttributeValues": {":r": s("a")},
            },
        ),
    ]
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            "create_table",
            {
                "TableName": TABLE,
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "run_key", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "run_key", "AttributeType": "S"}],
            },
        ),
        (
            "create_table",
            {
                "TableName": LOG,
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [
                    {"AttributeName": "run_key", "KeyType": "HASH"},
                    {"AttributeName": "entry", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    {"AttributeName": "run_key", "AttributeType": "S"},
                    {"AttributeName": "entry", "AttributeType": "S"},
                ],
            },
        ),
        ("put_item", {"TableName": TABLE, "Item": run("a", 1)}),
        ("put_item", {"TableName": TABLE, "Item": run("b", 1)}),
        ("transact_write_items", {"TransactItems": [update("a", 1), log("a", "outbox#1")]}),
        *reads,
        # the version condition fails after a new log entry was put: nothing stays
        ("transact_write_items", {"TransactItems": [log("a", "outbox#2"), update("a", 1)]}),
        *reads,
        # an existing entry's condition fails after another run's update: both undone
        ("transact_write_items", {"TransactItems": [update("b", 1), log("a", "outbox#1")]}),
        *reads,
        # one item named twice: refused, the first change undone
        ("transact_write_items", {"TransactItems": [update("b", 1), update("b", 1)]}),
        *reads,
        ("transact_write_items", {"TransactItems": [update("b", 1), log("b", "outbox#1")]}),
        *reads,
    ]
    return calls


def _answer(client: Any, operation: str, params: dict[str, Any]) -> Any:
    try:
        answer = getattr(client, operation)(**params)
    except ClientError as exc:
        error = exc.response
        return {"error": error["Error"], "reasons": error.get("CancellationReasons")}
    answer.pop("ResponseMetadata", None)
    if "TableDescription" in answer:  # creation times and ids differ between two servers
        return {"TableStatus": answer["TableDescription"]["TableStatus"]}
    if "Items" in answer:
        answer["Items"] = sorted(answer["Items"], key=repr)
    return answer


def test_transactions_rolled_back_by_item_answer_as_plain_moto(moto, tmp_path):
    port = free_port()
    plain = ManagedProcess(
        "plain moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        {**os.environ, **CREDENTIALS},
        tmp_path / "plain-moto.log",
    ).start()
    try:
        plain.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/moto-api/"))
        ours = moto.client("dynamodb")
        theirs = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        codes = []
        for operation, params in _transaction_calls():
            answer = _answer(ours, operation, params)
            assert answer == _answer(theirs, operation, params), (operation, params)
            if operation == "transact_write_items":
                codes.append(answer.get("error", {}).get("Code"))
        assert codes == [  # the cases are real: three of five transactions are refused
            None,
            "TransactionCanceledException",
            "TransactionCanceledException",
            "ValidationException",
            None,
        ], codes
    finally:
        plain.stop()
