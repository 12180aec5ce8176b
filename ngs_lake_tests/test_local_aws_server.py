"""The local stand-in's memoized moto: same answers, computed once."""

from __future__ import annotations

import jsonpath_ng.ext
import moto.backends
import moto.core.utils

from ngs_lake.local.aws_server import memoize_moto_parsers

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
