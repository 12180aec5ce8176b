"""The local AWS stand-in: moto's server, with three of its pure lookups memoized.

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
Nothing here touches boto3 or anything the product code calls: this is the server side of
the stand-in, started by `processes.moto_server_argv` for `make run`, the tests and benches.
"""

from __future__ import annotations

import functools

import jsonpath_ng.ext
import moto.backends
import moto.core.utils
import moto.sqs.models
from moto.server import main

PARSED_EXPRESSIONS = 1024


def memoize_moto_parsers() -> None:
    """Cache the module list, JSONPath parsing and camel-case names, where moto looks them up."""
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    jsonpath_ng.ext.parse = functools.lru_cache(PARSED_EXPRESSIONS)(jsonpath_ng.ext.parse)
    names = functools.lru_cache(PARSED_EXPRESSIONS)(moto.core.utils.camelcase_to_underscores)
    moto.core.utils.camelcase_to_underscores = names
    moto.sqs.models.camelcase_to_underscores = names  # type: ignore[attr-defined]


if __name__ == "__main__":
    memoize_moto_parsers()
    main()
