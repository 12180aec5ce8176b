"""The local AWS stand-in: moto's server, with three of its pure lookups memoized and its
DynamoDB transactions rolled back by item rather than by table.

moto 5.2 spends much of its time on work that never changes between calls:
- to route every request it lists moto's own package folder (about 150 `isdir` calls), an
  eighth of its CPU under the gateway's load;
- it builds a fresh JSONPath parser (a ply yacc table) for every field of every event it hands
  to a rule's target: about 5 of the 8 ms it takes per event, measured on this 2-core machine;
- SQS checks each received message's retention period by re-deriving attribute names from
  camel case, character by character.

All three are pure functions of their arguments and of the installed moto, so caching
their results changes no answer moto gives; it only stops routing and the local EventBridge
from starving uploads of moto's one CPU (the gateway benchmark went from 35 to 62 MB/s).

TransactWriteItems deep-copies every table it touches before it starts, to restore them if the
transaction is cancelled: a cost that grows with the table, 171 ms a transition once a run log
held 1,000 entries. A transaction only ever changes the items it names, so keeping a copy of
those items, and putting them back on a cancellation, restores the same state
(`ngs_lake_tests/test_local_aws_server.py` replays the same calls against plain moto).
It also serves the S3 Control subset moto lacks (Batch Operations compute-checksum jobs:
`batch_operations.py`). Nothing here changes what the product code calls: this is the server
side of the stand-in, started by `processes.moto_server_argv` for `make run`, the tests and benches.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonpath_ng.ext
import moto.backends
import moto.core.utils
import moto.dynamodb.models
import moto.sqs.models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import main

from ngs_lake.local.batch_operations import serve_batch_operations

PARSED_EXPRESSIONS = 1024


def memoize_moto_parsers() -> None:
    """Cache the module list, JSONPath parsing and camel-case names, where moto looks them up."""
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    jsonpath_ng.ext.parse = functools.lru_cache(PARSED_EXPRESSIONS)(jsonpath_ng.ext.parse)
    names = functools.lru_cache(PARSED_EXPRESSIONS)(moto.core.utils.camelcase_to_underscores)
    moto.core.utils.camelcase_to_underscores = names
    moto.sqs.models.camelcase_to_underscores = names  # type: ignore[attr-defined]


class _CopyKeepingTables:
    """moto's `copy` in its DynamoDB backend, but a Table is not copied (items are, by us)."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _named_item(backend: Any, entry: dict[str, Any]) -> tuple[Table, Any, Any, Any] | None:
    """(table, hash value, range value, a copy of the item or None) for one transaction entry."""
    _, op = next(iter(entry.items()))
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None
    key = op.get("Key") or op.get("Item") or {}
    if table.hash_key_attr not in key:
        return None  # moto refuses the entry itself, before it changes anything
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in key:
            return None
        range_value = DynamoType(key[table.range_key_attr])
    current = table.get_item(hash_value, range_value)
    return table, hash_value, range_value, copy.deepcopy(current)


def _put_back(table: Table, hash_value: Any, range_value: Any, item: Any) -> None:
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    if item is not None:
        table.items[hash_value][range_value] = item
        return
    entries = table.items.get(hash_value)
    if entries is not None:
        entries.pop(range_value, None)
        if not entries:
            table.items.pop(hash_value, None)


def roll_back_transactions_by_item() -> None:
    """Copy and restore only the items a TransactWriteItems names, not whole tables."""
    backend = moto.dynamodb.models.DynamoDBBackend
    transact = backend.transact_write_items
    moto.dynamodb.models.copy = _CopyKeepingTables  # type: ignore[assignment]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = [_named_item(self, entry) for entry in transact_items]
        try:
            transact(self, transact_items)
        except Exception:
            for named in reversed(saved):
                if named is not None:
                    _put_back(*named)
            raise

    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


if __name__ == "__main__":
    memoize_moto_parsers()
    roll_back_transactions_by_item()
    serve_batch_operations()
    main()
