"""A bounded property pass over the five parsers that read what others write: whatever arrives,
each either parses it or raises its own named error, and nothing else escapes.

| input | parser | its one error |
| --- | --- | --- |
| an SQS body from the gateway's EventBridge rule | `parse_gateway_message` | `EventRejected` |
| an instrument's RunInfo.xml | `parse_run_info` | `PlatformFileError` |
| the lake config document | `load_lake_config`, `parse_lake_document` | `LakeConfigError` |
| an S3 Inventory manifest.json | `parse_manifest` | `InventoryReportError` |
| a Storage Gateway API request | `StorageGatewayApi.handle`, `settling_seconds` | `GatewayApiError`, `ValueError` |

Inputs are real documents with a value put at one path, at several or at every leaf, or a path
removed; and plain noise. The values include those a parser meets in its fields: digits that are
not ASCII, time zone folders, figures too large for a float, negative numbers. `derandomize` makes
each run try the same examples, so a failure reproduces and the pass costs the same each time;
EXAMPLES bounds it (about 10 s in all).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ngs_lake.config.document import load_lake_config, parse_lake_document
from ngs_lake.config.model import LakeConfigError
from ngs_lake.gateway.api import TARGET_PREFIX, GatewayApiError, StorageGatewayApi
from ngs_lake.gateway.api_requests import settling_seconds
from ngs_lake.gateway.registry import GatewayRecord, ShareRegistry
from ngs_lake.inventory.report import InventoryReportError, parse_manifest
from ngs_lake.platforms.base import PlatformFileError
from ngs_lake.platforms.illumina import MAX_TILES, parse_run_info
from ngs_lake.runs.events import EventRejected, parse_gateway_message
from ngs_lake_tests.conftest import SMALL_CONFIG

DATA = Path(__file__).parent / "data" / "real_runs"
# Example counts per property; with `derandomize`, each run tries exactly these.
EXAMPLES = {
    "events": 600,
    "run_info": 600,
    "config_document": 1000,
    "config_file": 200,
    "manifest": 1500,
    "gateway_api": 500,
    "notification_policy": 300,
}


def bounded(name: str) -> Callable[[Any], Any]:
    return settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Values that have broken parsers like these: non-ASCII digits ("²".isdigit() is True, int("²")
# fails), tz database folders, figures past a float, negative or huge numbers, the empty string.
AWKWARD = st.sampled_from(
    [
        "",
        " ",
        "²",
        "٣",
        "-1",
        "0",
        "1e999",
        "9" * 400,
        "9" * 400 + " TB",
        "-12 GB/h",
        "America",
        "America/Madison",
        "Etc",
        "../etc/passwd",
        "\x00",
        "\ud800",
        "*",
        "${aws:username}",
        "GOVERNANCE",
        "ORC",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        10**30,
        -(10**30),
        -1,
        0,
        1.5,
        float("inf"),
        float("nan"),
        True,
        None,
        [],
        {},
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | AWKWARD,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """`document` with one or two values put at some of its paths, or those paths removed.

    A value goes to one path (a parser that stops at its first error meets it there), to up to
    twelve, or to every leaf: a document that reports every problem at once (the config) then
    tries the value in each of its fields in one example. Values come from AWKWARD twice as often
    as from any JSON value: a parser meets its trouble in a field's own awkward values more often
    than in arbitrary structure.
    """
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 2))):
        paths = list(_paths(document))
        if not paths:
            break
        spread = draw(st.sampled_from(["one", "some", "every leaf"]))
        if spread == "every leaf":
            chosen = [path for path, leaf in paths if leaf]
            remove = False
        else:
            size = 1 if spread == "one" else 12
            chosen = draw(
                st.lists(
                    st.sampled_from([path for path, _ in paths]),
                    min_size=1,
                    max_size=size,
                    unique=True,
                )
            )
            remove = draw(st.integers(0, 4)) == 0
        value = None if remove else draw(st.one_of(AWKWARD, AWKWARD, JSON_VALUES))
        for *parents, key in chosen:
            try:
                node = document
                for part in parents:
                    node = node[part]
                if remove:
                    del node[key]
                else:
                    node[key] = copy.deepcopy(value)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change of this round replaced or removed a parent
    return document


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Any:
    """Every path below `node`, containers and leaves alike, each with whether it is a leaf."""
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in children:
        container = isinstance(child, dict | list) and bool(child)
        yield (*prefix, key), not container
        if container:
            yield from _paths(child, (*prefix, key))


def only(
    error: type[BaseException] | tuple[type[BaseException], ...], call: Callable[[], Any]
) -> Any:
    """Call; the named error is an answer, anything else escapes and fails the property."""
    try:
        return call()
    except error:
        return None


# 1. The gateway's events, as the sensor receives them.

SHARE = "arn:aws:storagegateway:us-east-1:123456789012:share/share-F123D451"
GATEWAY = "arn:aws:storagegateway:us-east-1:123456789012:gateway/sgw-712345DA"
ENVELOPE = {
    "version": "0",
    "id": "2d4b1b1e-4f6e-4a9b-8c49-123456789abc",
    "source": "aws.storagegateway",
    "account": "123456789012",
    "time": "2026-11-28T12:34:56Z",
    "region": "us-east-1",
    "resources": [SHARE, GATEWAY, "arn:aws:s3:::bucket-name"],
}
EVENTS = [
    ENVELOPE
    | {
        "detail-type": "Storage Gateway Object Upload Event",
        "detail": {
            "object-size": 1024,
            "modification-time": "2026-11-28T12:30:00Z",
            "object-key": "RUN/RunInfo.xml",
            "event-type": "object-upload-complete",
            "prefix": "",
            "bucket-name": "bucket-name",
        },
    },
    ENVELOPE
    | {
        "detail-type": "Storage Gateway File Upload Event",
        "detail": {
            "event-type": "upload-complete",
            "notification-id": "5c5c9e37-7b33-4a1f-9d8e-0123456789ab",
            "request-received": "2026-11-28T21:34:42Z",
            "completed": "2026-11-28T21:34:53Z",
        },
    },
    ENVELOPE
    | {
        "detail-type": "Storage Gateway Refresh Cache Event",
        "detail": {"event-type": "refresh-complete", "notification-id": "n-1"},
    },
]
EVENT_BODIES = st.one_of(
    st.sampled_from(EVENTS).flatmap(mutated).map(json.dumps),
    JSON_VALUES.map(json.dumps),
    st.text(max_size=40),
)


@bounded("events")
@given(EVENT_BODIES)
def test_a_gateway_message_is_an_event_or_event_rejected(body):
    event = only(EventRejected, lambda: parse_gateway_message(body))
    if event is not None and hasattr(event, "key"):
        assert not event.key.startswith("/") and ".." not in event.key.split("/")


# 2. RunInfo.xml, from any instrument generation, or damaged on the way.

REAL_RUN_INFOS = [p.read_bytes() for p in sorted(DATA.glob("**/RunInfo.xml"))]
# A RunInfo.xml as a document to mutate: attributes and texts by name; None is left out.
RUN_INFO = {
    "Version": "3",
    "Id": "150602_M01270_0108_000000000-ADWKV",
    "Number": "108",
    "Flowcell": "000000000-ADWKV",
    "Instrument": "M01270",
    "Date": "150602",
    "Reads": [
        {"Number": "1", "NumCycles": "151", "IsIndexedRead": "N"},
        {"Number": "2", "NumCycles": "8", "IsIndexedRead": "Y"},
    ],
    "FlowcellLayout": {
        "LaneCount": "2",
        "SurfaceCount": "2",
        "SwathCount": "1",
        "TileCount": "3",
        "SectionPerLane": "1",
    },
    "TileNamingConvention": "FourDigit",
    "Tiles": ["1_1101", "1_1102"],
}


def render_run_info(doc: Any) -> bytes:
    """The XML an instrument would write for `doc` (a RUN_INFO, mutated)."""
    doc = doc if isinstance(doc, dict) else {}

    def attrs(element: Any, names: tuple[str, ...]) -> str:
        element = element if isinstance(element, dict) else {}
        return "".join(
            f" {n}={quoteattr(_xml_safe(str(element[n])))}"
            for n in names
            if element.get(n) is not None
        )

    def text(value: Any) -> str:
        return escape(_xml_safe(str(value))) if value is not None else ""

    reads = doc.get("Reads") if isinstance(doc.get("Reads"), list) else []
    tiles = doc.get("Tiles") if isinstance(doc.get("Tiles"), list) else []
    layout = ("LaneCount", "SurfaceCount", "SwathCount", "TileCount", "SectionPerLane")
    return (
        f"<?xml version='1.0'?><RunInfo{attrs(doc, ('Version',))}><Run{attrs(doc, ('Id', 'Number'))}>"
        f"<Flowcell>{text(doc.get('Flowcell'))}</Flowcell>"
        f"<Instrument>{text(doc.get('Instrument'))}</Instrument><Date>{text(doc.get('Date'))}</Date>"
        "<Reads>"
        + "".join(f"<Read{attrs(r, ('Number', 'NumCycles', 'IsIndexedRead'))}/>" for r in reads)
        + f"</Reads><FlowcellLayout{attrs(doc.get('FlowcellLayout'), layout)}>"
        f"<TileSet{attrs(doc, ('TileNamingConvention',))}><Tiles>"
        + "".join(f"<Tile>{text(t)}</Tile>" for t in tiles)
        + "</Tiles></TileSet></FlowcellLayout></Run></RunInfo>"
    ).encode()


def _xml_safe(text: str) -> str:
    """XML 1.0 has no way to write most control characters or lone surrogates."""
    return "".join(
        c for c in text if c in "\t\n\r" or (" " <= c < "\ud800") or ("\ue000" <= c <= "\ufffd")
    )


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with a slice replaced by drawn bytes (truncation is a slice replaced by nothing)."""
    start = draw(st.integers(0, len(data)))
    end = draw(st.integers(start, min(len(data), start + 40)))
    return data[:start] + draw(st.binary(max_size=12)) + data[end:]


@bounded("run_info")
@given(
    st.one_of(
        mutated(RUN_INFO).map(render_run_info),
        st.sampled_from(REAL_RUN_INFOS).flatmap(damaged),
        st.binary(max_size=64),
        st.sampled_from(
            [
                b"<?xml version='1.0' encoding='bogus'?><RunInfo/>",
                b"<?xml version='1.0' encoding='shift_jis'?><RunInfo/>",
            ]
        ),
    )
)
def test_run_info_is_parsed_or_platform_file_error(data):
    info = only(PlatformFileError, lambda: parse_run_info(data))
    if info is not None:
        assert info.lane_count >= 0 and len(info.tiles) <= MAX_TILES


# 3. The lake config document, as a dict and as a file.

SMALL = yaml.safe_load(SMALL_CONFIG.read_text())


@bounded("config_document")
@given(mutated(SMALL))
def test_a_config_document_is_a_lake_or_lake_config_error(document):
    only(LakeConfigError, lambda: parse_lake_document(document))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config")


@bounded("config_file")
@given(
    st.one_of(
        mutated(SMALL).map(lambda d: yaml.safe_dump(d, allow_unicode=True).encode()),
        st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=60),
    )
)
def test_a_config_file_is_a_lake_or_lake_config_error(folder, content):
    path = folder / "lake.yaml"
    path.write_bytes(content)
    only(LakeConfigError, lambda: load_lake_config(path))


# 4. manifest.json of an S3 Inventory report.

MANIFEST = {
    "sourceBucket": "small-lake-nvx-mad-01",
    "destinationBucket": "arn:aws:s3:::small-lake-inventory",
    "version": "2016-11-30",
    "creationTimestamp": "1795869296000",
    "fileFormat": "CSV",
    "fileSchema": "Bucket, Key, Size, LastModifiedDate, ETag",
    "files": [{"key": "inventory/data/a.csv.gz", "size": 100, "MD5checksum": "0" * 32}],
}


@bounded("manifest")
@given(
    st.one_of(
        mutated(MANIFEST).map(lambda m: json.dumps(m).encode()),
        st.binary(max_size=40),
    )
)
def test_a_manifest_is_read_or_inventory_report_error(body):
    manifest = only(InventoryReportError, lambda: parse_manifest(body, "manifest.json"))
    if manifest is not None:
        assert manifest.created_at.year >= 1970 and manifest.columns


# 5. The gateway's Storage Gateway API requests.

GATEWAY_ARN = "arn:aws:storagegateway:us-east-1:123456789012:gateway/sgw-12A3456B"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageGatewayApi]:
    """The API over a registry that knows one gateway, so share requests reach their handlers."""
    folder = tmp_path_factory.mktemp("gateway")
    registry = ShareRegistry(folder / "gateway.db")
    registry.upsert_gateway(GatewayRecord(GATEWAY_ARN, "gw-a", "10.0.0.1", 2**40))
    yield StorageGatewayApi(registry, "us-east-1", "123456789012", folder / "gateways")
    registry.close()


REQUESTS = {
    "CreateSMBFileShare": {
        "ClientToken": "token-1",
        "GatewayARN": GATEWAY_ARN,
        "Role": "arn:aws:iam::123456789012:role/gw",
        "LocationARN": "arn:aws:s3:::small-lake-nvx-mad-01",
        "FileShareName": "NVX-MAD-01",
        "NotificationPolicy": '{"Upload": {"SettlingTimeInSeconds": 60}}',
        "Tags": [{"Key": "site", "Value": "madison"}],
    },
    "UpdateSMBFileShare": {"FileShareARN": SHARE, "ReadOnly": True},
    "DescribeSMBFileShares": {"FileShareARNList": [SHARE]},
    "ListFileShares": {"GatewayARN": GATEWAY_ARN, "Limit": 10},
    "ListGateways": {"Limit": 10},
    "DescribeCache": {"GatewayARN": GATEWAY_ARN},
    "DeleteFileShare": {"FileShareARN": SHARE, "ForceDelete": False},
    "NotifyWhenUploaded": {"FileShareARN": SHARE},
    "RefreshCache": {"FileShareARN": SHARE, "FolderList": ["/"], "Recursive": True},
    "ListTagsForResource": {"ResourceARN": SHARE},
    "AddTagsToResource": {"ResourceARN": SHARE, "Tags": [{"Key": "a", "Value": "b"}]},
    "RemoveTagsFromResource": {"ResourceARN": SHARE, "TagKeys": ["a"]},
}


@st.composite
def api_requests(draw: st.DrawFn) -> tuple[str, Any]:
    action = draw(st.sampled_from([*REQUESTS, "StartGateway"]))
    target = draw(st.sampled_from([TARGET_PREFIX + action, action, ""]))
    body = draw(
        st.one_of(
            mutated(REQUESTS.get(action, {})),
            st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3),
        )
    )
    return target, body


@bounded("gateway_api")
@given(api_requests())
def test_a_gateway_api_request_is_answered_or_gateway_api_error(api, call):
    target, body = call
    only(GatewayApiError, lambda: api.handle(target, body))


@bounded("notification_policy")
@given(
    st.one_of(
        mutated({"Upload": {"SettlingTimeInSeconds": 60}}).map(json.dumps),
        st.text(max_size=30),
    )
)
def test_a_notification_policy_is_read_or_value_error(policy):
    only(ValueError, lambda: settling_seconds(policy))
