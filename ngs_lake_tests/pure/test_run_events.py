"""The gateway's EventBridge messages in AWS's published shapes (ARCHITECTURE §3), built by the
software gateway and parsed by the sensor; anything else is rejected with a reason naming the
field. Keys are what S3 allows (at most 1,024 bytes of UTF-8) and what the lake can store safely."""

import json
from datetime import UTC, datetime

import pytest

from ngs_lake.runs.events import (
    EventRejected,
    ObjectUpload,
    RefreshComplete,
    UploadNotification,
    event_source,
    iso,
    object_upload_entry,
    parse_gateway_message,
    refresh_cache_entry,
    upload_notification_entry,
    validate_key,
)

SHARE = "arn:aws:storagegateway:us-east-1:123456789012:share/share-F123D451"
GATEWAY = "arn:aws:storagegateway:us-east-1:123456789012:gateway/sgw-712345DA"
AT = datetime(2026, 11, 28, 12, 34, 56, tzinfo=UTC)  # 1,795,869,296 s after the epoch

# The object upload event as AWS documents it (ARCHITECTURE §3).
OBJECT_UPLOAD = {
    "version": "0",
    "id": "2d4b1b1e-4f6e-4a9b-8c49-123456789abc",
    "detail-type": "Storage Gateway Object Upload Event",
    "source": "aws.storagegateway",
    "account": "123456789012",
    "time": "2026-11-28T12:34:56Z",
    "region": "us-east-1",
    "resources": [SHARE, GATEWAY, "arn:aws:s3:::bucket-name"],
    "detail": {
        "object-size": 1024,
        "modification-time": "2026-11-28T12:30:00Z",
        "object-key": "RUN/RunInfo.xml",
        "event-type": "object-upload-complete",
        "prefix": "",
        "bucket-name": "bucket-name",
    },
}
FILE_UPLOAD = OBJECT_UPLOAD | {
    "detail-type": "Storage Gateway File Upload Event",
    "resources": [SHARE, GATEWAY],
    "detail": {
        "event-type": "upload-complete",
        "notification-id": "5c5c9e37-7b33-4a1f-9d8e-0123456789ab",
        "request-received": "2026-11-28T21:34:42Z",
        "completed": "2026-11-28T21:34:53Z",
    },
}
REFRESH = OBJECT_UPLOAD | {
    "detail-type": "Storage Gateway Refresh Cache Event",
    "resources": [SHARE, GATEWAY],
    "detail": {
        "event-type": "refresh-complete",
        "notification-id": "8a9b",
        "started": "2026-11-28T12:34:56Z",
        "completed": "2026-11-28T12:34:56Z",
    },
}


def body(event: dict, **detail) -> str:
    return json.dumps(event | {"detail": event["detail"] | detail})


def rejection(message: str) -> str:
    with pytest.raises(EventRejected) as caught:
        parse_gateway_message(message)
    assert caught.value.reason == str(caught.value)
    return caught.value.reason


def test_an_object_upload_is_parsed():
    assert parse_gateway_message(json.dumps(OBJECT_UPLOAD)) == ObjectUpload(
        event_id="2d4b1b1e-4f6e-4a9b-8c49-123456789abc",
        time=AT,
        share_arn=SHARE,
        gateway_arn=GATEWAY,
        bucket="bucket-name",
        key="RUN/RunInfo.xml",
        size=1024,
        modified_at=datetime(2026, 11, 28, 12, 30, tzinfo=UTC),
    )


def test_the_software_gateways_own_source_is_accepted():
    event = parse_gateway_message(json.dumps(OBJECT_UPLOAD | {"source": "ngs-lake.file-gateway"}))
    assert event.key == "RUN/RunInfo.xml"


def test_a_share_is_found_wherever_it_is_listed_and_the_gateway_may_be_missing():
    event = parse_gateway_message(
        json.dumps(OBJECT_UPLOAD | {"resources": ["arn:aws:s3:::b", SHARE]})
    )
    assert (event.share_arn, event.gateway_arn) == (SHARE, "")


def test_directories_arrive_as_objects():
    event = parse_gateway_message(
        body(OBJECT_UPLOAD, **{"object-key": "RUN/Data/", "object-size": 0})
    )
    assert event.is_directory
    assert not parse_gateway_message(json.dumps(OBJECT_UPLOAD)).is_directory


def test_an_upload_notification_is_parsed():
    assert parse_gateway_message(json.dumps(FILE_UPLOAD)) == UploadNotification(
        event_id="2d4b1b1e-4f6e-4a9b-8c49-123456789abc",
        time=AT,
        share_arn=SHARE,
        notification_id="5c5c9e37-7b33-4a1f-9d8e-0123456789ab",
        request_received=datetime(2026, 11, 28, 21, 34, 42, tzinfo=UTC),
        completed=datetime(2026, 11, 28, 21, 34, 53, tzinfo=UTC),
    )


def test_a_refresh_cache_event_is_parsed():
    assert parse_gateway_message(json.dumps(REFRESH)) == RefreshComplete(
        event_id="2d4b1b1e-4f6e-4a9b-8c49-123456789abc",
        time=AT,
        share_arn=SHARE,
        notification_id="8a9b",
    )


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("{", "malformed JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (None, "malformed JSON: the JSON object must be str, bytes or bytearray, not NoneType"),
        ("[1, 2]", "malformed event: the body is not a JSON object"),
        (json.dumps({k: v for k, v in OBJECT_UPLOAD.items() if k != "detail-type"}), "malformed event: detail-type: Field required"),
        (json.dumps(OBJECT_UPLOAD | {"id": ""}), "malformed event: id: String should have at least 1 character"),
        (json.dumps(OBJECT_UPLOAD | {"source": "aws.s3"}), "wrong source 'aws.s3'; expected one of: aws.storagegateway, ngs-lake.file-gateway"),
        (json.dumps(OBJECT_UPLOAD | {"resources": [GATEWAY]}), "malformed event: resources name no file share ARN"),
        (json.dumps(OBJECT_UPLOAD | {"resources": [SHARE, 7]}), "malformed event: resources.1: Input should be a valid string"),
        (json.dumps(OBJECT_UPLOAD | {"detail-type": "Storage Gateway Health Event"}), "unknown detail-type 'Storage Gateway Health Event'"),
        (body(OBJECT_UPLOAD, **{"object-size": -1}), "malformed Storage Gateway Object Upload Event: object-size: Input should be greater than or equal to 0"),
        (body(OBJECT_UPLOAD, **{"object-size": "1024"}), "malformed Storage Gateway Object Upload Event: object-size: Input should be a valid integer"),
        (body(OBJECT_UPLOAD, **{"event-type": "upload-complete"}), "malformed Storage Gateway Object Upload Event: event-type: Input should be 'object-upload-complete'"),
        (body(OBJECT_UPLOAD, **{"bucket-name": "ab"}), "malformed Storage Gateway Object Upload Event: bucket-name: String should have at least 3 characters"),
        (body(FILE_UPLOAD, **{"notification-id": ""}), "malformed Storage Gateway File Upload Event: notification-id: String should have at least 1 character"),
        (body(REFRESH, **{"event-type": "upload-complete"}), "malformed Storage Gateway Refresh Cache Event: event-type: Input should be 'refresh-complete'"),
        (body(OBJECT_UPLOAD, **{"object-key": "/etc/passwd"}), "unsafe key '/etc/passwd': leading '/'"),
        # EventBridge accepts any `time`; one without an offset cannot be ordered against the
        # lake's UTC times, so it is refused here rather than raising a TypeError later.
        (json.dumps(OBJECT_UPLOAD | {"time": "2026-01-01T00:00:01"}), "malformed event: time: Input should have timezone info"),
        (body(OBJECT_UPLOAD, **{"modification-time": "2026-01-01T00:00:01"}), "malformed Storage Gateway Object Upload Event: modification-time: Input should have timezone info"),
        (body(FILE_UPLOAD, **{"request-received": "2026-11-28T21:34:42"}), "malformed Storage Gateway File Upload Event: request-received: Input should have timezone info"),
        (body(FILE_UPLOAD, completed="2026-11-28T21:34:53"), "malformed Storage Gateway File Upload Event: completed: Input should have timezone info"),
    ],
)  # fmt: skip
def test_what_is_not_a_gateway_event_is_rejected_with_its_reason(message, reason):
    assert rejection(message) == reason


def test_a_key_of_1024_bytes_is_accepted():
    key = "é" * 512  # two bytes each in UTF-8
    assert validate_key(key) == key


def test_a_key_over_1024_bytes_is_refused():
    with pytest.raises(EventRejected) as caught:
        validate_key("é" * 512 + "a")
    assert caught.value.reason == "unsafe key: 1025 bytes, more than 1024"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("RUN/Run\nInfo.xml", r"unsafe key 'RUN/Run\nInfo.xml': control characters"),
        ("RUN/\x00", r"unsafe key 'RUN/\x00': control characters"),
        ("RUN/\x1f.txt", r"unsafe key 'RUN/\x1f.txt': control characters"),
        ("RUN/\x7f.txt", r"unsafe key 'RUN/\x7f.txt': control characters"),
        ("RUN/../other/x", "unsafe key 'RUN/../other/x': '..' segment"),
        ("..", "unsafe key '..': '..' segment"),
        ("/RUN/x", "unsafe key '/RUN/x': leading '/'"),
        ("RUN/\ud800", r"unsafe key 'RUN/\ud800': not valid UTF-8"),
    ],
)
def test_unsafe_keys_are_refused(key, reason):
    with pytest.raises(EventRejected) as caught:
        validate_key(key)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "key", ["RUN/a b.txt", "RUN/a..b", "RUN/~$x.tmp", "RUN/\x80\xa0ü.txt", "RUN/.hidden"]
)
def test_printable_keys_are_kept_as_they_are(key):
    assert validate_key(key) == key


@pytest.mark.usefixtures("machine_in_chicago")
def test_timestamps_are_iso_8601_utc_to_the_second():
    assert iso(0) == "1970-01-01T00:00:00Z"
    assert iso(1_795_869_296.9) == "2026-11-28T12:34:56Z"


def test_the_source_depends_on_the_event_bus():
    assert event_source(is_local=True) == "aws.storagegateway"
    assert event_source(is_local=False) == "ngs-lake.file-gateway"


def test_the_gateway_puts_object_uploads_in_aws_shape():
    entry = object_upload_entry(
        source="aws.storagegateway",
        share_arn=SHARE,
        gateway_arn=GATEWAY,
        bucket="bucket-name",
        prefix="",
        key="RUN/RunInfo.xml",
        size=1024,
        modified_at=1_795_869_000,
        uploaded_at=1_795_869_296,
    )
    assert entry == {
        "Time": AT,
        "Source": "aws.storagegateway",
        "DetailType": "Storage Gateway Object Upload Event",
        "Resources": [SHARE, GATEWAY, "arn:aws:s3:::bucket-name"],
        "Detail": json.dumps(OBJECT_UPLOAD["detail"]),
    }


def test_the_gateway_puts_upload_notifications_in_aws_shape():
    entry = upload_notification_entry(
        source="aws.storagegateway",
        share_arn=SHARE,
        gateway_arn=GATEWAY,
        notification_id="5c5c9e37-7b33-4a1f-9d8e-0123456789ab",
        requested_at=1_795_901_682,
        completed_at=1_795_901_693,
    )
    assert entry == {
        "Time": datetime(2026, 11, 28, 21, 34, 53, tzinfo=UTC),
        "Source": "aws.storagegateway",
        "DetailType": "Storage Gateway File Upload Event",
        "Resources": [SHARE, GATEWAY],
        "Detail": json.dumps(FILE_UPLOAD["detail"]),
    }


def test_the_gateway_puts_refresh_events_in_aws_shape():
    entry = refresh_cache_entry(
        source="ngs-lake.file-gateway",
        share_arn=SHARE,
        gateway_arn=GATEWAY,
        notification_id="8a9b",
        now=1_795_869_296,
    )
    assert entry == {
        "Time": AT,
        "Source": "ngs-lake.file-gateway",
        "DetailType": "Storage Gateway Refresh Cache Event",
        "Resources": [SHARE, GATEWAY],
        "Detail": json.dumps(REFRESH["detail"]),
    }


def test_what_the_gateway_puts_the_sensor_reads():
    """EventBridge delivers a PutEvents entry wrapped in version, id, account and region."""
    entry = object_upload_entry(
        source="ngs-lake.file-gateway",
        share_arn=SHARE,
        gateway_arn=GATEWAY,
        bucket="lake-nvx-mad-01",
        prefix="",
        key="RUN/Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl",
        size=7,
        modified_at=1_795_869_000,
        uploaded_at=1_795_869_296,
    )
    delivered = {
        "version": "0",
        "id": "e1",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": entry["Time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": entry["Resources"],
        "detail": json.loads(entry["Detail"]),
    }
    assert parse_gateway_message(json.dumps(delivered)) == ObjectUpload(
        event_id="e1",
        time=AT,
        share_arn=SHARE,
        gateway_arn=GATEWAY,
        bucket="lake-nvx-mad-01",
        key="RUN/Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl",
        size=7,
        modified_at=datetime(2026, 11, 28, 12, 30, tzinfo=UTC),
    )
