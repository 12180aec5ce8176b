"""The simulation's own SQS and SNS (ngs_lake_tests/simulation) against moto: random call
sequences replayed on both, answers compared, except where moto departs from AWS. Each
departure is named, with the AWS document the fake follows, and left out of the comparison by
that name only; the time-dependent rules moto cannot show (it reads the wall clock) are checked
against the documents directly, on the virtual clock."""

import itertools
import random

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from ngs_lake_tests.simulation.clock import VirtualClock
from ngs_lake_tests.simulation.fake_sns import FakeSns
from ngs_lake_tests.simulation.fake_sqs import FakeSqs

# moto's departures from AWS, by name, each with the document the fakes follow.
DEPARTURES = {
    # moto hands a standard queue's messages out oldest first; SQS promises no order.
    "STANDARD_QUEUE_ORDER": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/"
    "SQSDeveloperGuide/standard-queues.html",
    # moto deletes a message by any receipt handle it ever gave; SQS needs the latest one
    # ("the request succeeds, but the message might not be deleted").
    "STALE_RECEIPT_HANDLE_DELETES": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/"
    "APIReference/API_DeleteMessage.html",
    # moto drops a FIFO duplicate only while the first copy is still in the subscribed queue;
    # SNS drops the same deduplication id for 5 minutes after it was accepted.
    "FIFO_DEDUP_ONLY_WHILE_QUEUED": "https://docs.aws.amazon.com/sns/latest/dg/"
    "fifo-message-dedup.html",
    # moto's Publish to a FIFO topic answers no SequenceNumber; SNS does.
    "FIFO_PUBLISH_WITHOUT_SEQUENCE_NUMBER": "https://docs.aws.amazon.com/sns/latest/api/"
    "API_Publish.html",
    # moto reads the wall clock: visibility timeouts, retention and the 5-minute window are
    # compared on the virtual clock against the documents instead (tests below).
    "WALL_CLOCK": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
    "sqs-visibility-timeout.html",
}
LEFT_OUT = frozenset(DEPARTURES)
_FRESH = itertools.count()  # a new moto queue and topic for each example


@pytest.fixture(scope="module")
def moto_session():
    with mock_aws():
        yield boto3.Session(
            region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )


SQS_CALLS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(0, 30)),
        st.tuples(st.just("receive"), st.integers(1, 10)),
        st.tuples(st.just("delete"), st.integers(0, 40)),
        st.tuples(st.just("release"), st.integers(0, 40)),
        st.tuples(st.just("count"), st.just(0)),
        st.tuples(st.just("garbage delete"), st.just(0)),
    ),
    max_size=30,
)


def _sqs_answers(sqs, url: str, calls: list[tuple[str, int]]) -> list:
    """Each call's answer, normalised to what AWS promises; receipt handles by receive order."""
    handles: list[tuple[str, str]] = []  # (body, handle), in the order received
    latest: dict[str, str] = {}
    answers: list = []
    for op, n in calls:
        try:
            if op == "send":
                sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
                answers.append(("sent",))
            elif op == "receive":
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, VisibilityTimeout=30)
                bodies = [m["Body"] for m in got.get("Messages", [])]
                for m in got.get("Messages", []):
                    handles.append((m["Body"], m["ReceiptHandle"]))
                    latest[m["Body"]] = m["ReceiptHandle"]
                answers.append(("received", bodies))
            elif op in ("delete", "release") and handles:
                body, handle = handles[n % len(handles)]
                if "STALE_RECEIPT_HANDLE_DELETES" in LEFT_OUT and latest.get(body) != handle:
                    answers.append(("skipped: STALE_RECEIPT_HANDLE_DELETES",))
                    continue
                if op == "delete":
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
                else:
                    sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0
                    )
                answers.append((op, body))
            elif op == "count":
                attributes = sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"]
                answers.append(("count", sorted(attributes.items())))
            elif op == "garbage delete":
                sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
                answers.append(("deleted garbage",))
        except ClientError as exc:
            answers.append(("error", op, exc.response["Error"]["Code"]))
    return answers


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(calls=SQS_CALLS, queue=st.integers(0, 10**9))
def test_the_fake_standard_queue_answers_as_moto_does_outside_the_named_departures(
    moto_session, calls, queue
):
    moto_sqs = moto_session.client("sqs")
    url = moto_sqs.create_queue(QueueName=f"q{next(_FRESH)}")["QueueUrl"]
    # STANDARD_QUEUE_ORDER left out: the fake receives oldest first here, as moto does.
    fake = FakeSqs(VirtualClock(), random.Random(queue), reorder=False)
    fake_url = fake.create_queue(QueueName=f"q{queue}")["QueueUrl"]
    assert _sqs_answers(fake, fake_url, calls) == _sqs_answers(moto_sqs, url, calls)


SNS_CALLS = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.integers(0, 3)),
        st.tuples(st.just("drain"), st.just(0)),
    ),
    max_size=25,
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(calls=SNS_CALLS, topic=st.integers(0, 10**9))
def test_the_fake_fifo_topic_delivers_as_moto_does_outside_the_named_departures(
    moto_session, calls, topic
):
    """Within one 5-minute window (moto cannot move its clock), each publish's delivery."""
    sns, sqs = moto_session.client("sns"), moto_session.client("sqs")
    topic = next(_FRESH)
    arn = sns.create_topic(Name=f"t{topic}.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    queue = sqs.create_queue(QueueName=f"s{topic}.fifo", Attributes={"FifoQueue": "true"})
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue["QueueUrl"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    fake = FakeSns(VirtualClock(), random.Random(topic))
    fake_arn = fake.create_topic(Name=f"t{topic}.fifo", Attributes={"FifoTopic": "true"})[
        "TopicArn"
    ]
    moto_got: list[str] = []
    accepted: set[str] = set()
    drained_since: set[str] = set()
    for index, (op, dedup) in enumerate(calls):
        if op == "drain":
            moto_got += _drain(sqs, queue["QueueUrl"])
            drained_since |= accepted
            continue
        body, dedup_id = f"b{index}", f"d{dedup}"
        fake_answer = fake.publish(
            TopicArn=fake_arn, Message=body, MessageGroupId="g", MessageDeduplicationId=dedup_id
        )
        moto_answer = sns.publish(
            TopicArn=arn, Message=body, MessageGroupId="g", MessageDeduplicationId=dedup_id
        )
        assert bool(fake_answer["MessageId"]) == bool(moto_answer["MessageId"])
        assert "SequenceNumber" in fake_answer  # FIFO_PUBLISH_WITHOUT_SEQUENCE_NUMBER: moto's
        if dedup_id in drained_since and "FIFO_DEDUP_ONLY_WHILE_QUEUED" in LEFT_OUT:
            moto_got += [b for b in _drain(sqs, queue["QueueUrl"]) if b != body]
            continue  # and moto's copy is drained again, so the departure holds on
        accepted.add(dedup_id)
    moto_got += _drain(sqs, queue["QueueUrl"])
    assert [d.body for d in fake.delivered_to(fake_arn)] == moto_got


def _drain(sqs, url: str) -> list[str]:
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        for message in got:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_the_fake_fifo_topic_drops_a_deduplication_id_for_five_minutes_then_delivers_it():
    """WALL_CLOCK / FIFO_DEDUP_ONLY_WHILE_QUEUED: the rule as SNS documents it."""
    clock = VirtualClock()
    sns = FakeSns(clock, random.Random(0))
    arn = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    for seconds, body in ((0, "first"), (299, "dropped"), (2, "again")):
        clock.advance(seconds)
        sns.publish(TopicArn=arn, Message=body, MessageGroupId="g", MessageDeduplicationId="d")
    assert [d.body for d in sns.deliveries] == ["first", "again"]


def test_the_fake_queue_redelivers_after_the_visibility_timeout_and_redrives_to_its_dlq():
    """WALL_CLOCK: visibility timeout, maxReceiveCount and the DLQ keeping the send time."""
    clock = VirtualClock()
    sqs = FakeSqs(clock, random.Random(0))
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    url = sqs.create_queue(
        QueueName="q",
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{sqs.queues[dlq].arn}", '
            '"maxReceiveCount": 2}',
        },
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    sent = sqs.queues[url].messages[0].sent_at
    assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1
    clock.advance(29)
    assert sqs.receive_message(QueueUrl=url) == {}  # still hidden
    clock.advance(1)
    assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1  # redelivered
    clock.advance(30)
    assert sqs.receive_message(QueueUrl=url) == {}  # a third receive: redriven instead
    parked = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["SentTimestamp"])
    assert parked["Messages"][0]["Attributes"]["SentTimestamp"] == str(int(sent * 1000))


def test_every_departure_names_the_aws_document_the_fake_follows():
    assert all(url.startswith("https://docs.aws.amazon.com/") for url in DEPARTURES.values())
