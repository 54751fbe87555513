"""Every event type round-trips through JSON inside a CloudEvents envelope, and a CloudEvents SDK reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from pydantic import ValidationError

from contracts.catalogue import AgencyCode
from contracts.events import (
    CONTENT_TYPE,
    EVENT_TYPES,
    Actor,
    ActorKind,
    CallOutcome,
    CallReceived,
    Candidate,
    CaseAssigned,
    CaseEscalated,
    CaseNoteAdded,
    CaseRegistered,
    CaseRepeatCall,
    CaseRerouteRequested,
    CaseResumed,
    CaseRouted,
    CaseSlaBreached,
    CaseStatus,
    CaseStatusChanged,
    CaseTriageRequired,
    Citizen,
    EscalationTarget,
    EventData,
    EventDecodeError,
    Recipient,
    ResumedBy,
    RouteReason,
    SlaKind,
    SmsDelivered,
    SmsFailed,
    SmsSent,
    TriageReason,
    decode,
    deterministic_id,
    make_event,
)
from contracts.topics import CALLS, CASES, NOTIFICATIONS

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=timezone(timedelta(hours=3, minutes=30)))
STAFF = Actor(kind=ActorKind.agency_staff, id="u-17", agency=AgencyCode.education)

SAMPLES: list[EventData] = [
    CallReceived(
        call_id="call-1",
        caller_phone="+985138001234",
        outcome=CallOutcome.missed,
        started_at=NOW,
        duration_seconds=0,
        county="mashhad",
        duty_session_id="duty-1",
    ),
    CaseRegistered(
        case_id="case-1",
        tracking_code="3714798763",
        county="neyshabur",
        citizen=Citizen(phone="+989121234567", name="زهرا محمدی", national_id="0084575948"),
        subject="حقوق معوقه",
        description="حقوق معلمان حق‌التدریس سه ماه است پرداخت نشده.",
        registered_at=NOW,
        operator_agency=AgencyCode.education,
    ),
    CaseRepeatCall(
        case_id="case-1", tracking_code="3714798763", description="دوباره تماس گرفتم", similarity=0.93
    ),
    CaseRouted(
        case_id="case-1",
        agency=AgencyCode.education,
        reason=RouteReason.operator,
        confidence=1.0,
        explanation=["انتخاب اپراتور"],
        live_session=True,
        duty_session_id="duty-1",
    ),
    CaseTriageRequired(
        case_id="case-2",
        reason=TriageReason.low_confidence,
        candidates=[Candidate(agency=AgencyCode.welfare, score=0.41)],
    ),
    CaseRerouteRequested(
        case_id="case-1", agency=AgencyCode.education, reason="مربوط به ما نیست", actor=STAFF
    ),
    CaseStatusChanged(
        case_id="case-1",
        status=CaseStatus.resolved,
        agency=AgencyCode.education,
        answer="پرداخت انجام شد.",
        actor=STAFF,
    ),
    CaseNoteAdded(case_id="case-1", text="یادداشت داخلی", actor=STAFF),
    CaseSlaBreached(case_id="case-1", agency=AgencyCode.education, sla=SlaKind.acknowledge, deadline=NOW),
    CaseStatusChanged(
        case_id="case-1",
        status=CaseStatus.waiting_for_citizen,
        agency=AgencyCode.education,
        question="نام مدرسه را بفرمایید",
        actor=STAFF,
    ),
    CaseAssigned(
        case_id="case-1",
        agency=AgencyCode.education,
        assignee="u-18",
        assignee_name="سارا امینی",
        actor=STAFF,
    ),
    CaseResumed(case_id="case-1", agency=AgencyCode.education, by=ResumedBy.staff, actor=STAFF),
    CaseEscalated(
        case_id="case-1",
        tracking_code="3714798763",
        agency=AgencyCode.education,
        sla=SlaKind.resolve,
        deadline=NOW,
        level=1,
        to=EscalationTarget.agency_head,
        recipients=[Recipient(id="head-education", name="لیلا نوری", phone="+989150000502")],
    ),
    SmsSent(
        sms_id="sms-1",
        case_id="case-1",
        source_event_id="e-1",
        template="case_registered",
        recipient="+989121234567",
        text="پرونده شما ثبت شد",
        parts=1,
        provider="file",
    ),
    SmsDelivered(sms_id="sms-1", case_id="case-1", provider="file", delivered_at=NOW),
    SmsFailed(
        sms_id="sms-1",
        case_id="case-1",
        source_event_id="e-1",
        template="case_registered",
        provider="smpp",
        error="ESME_RINVDSTADR",
        permanent=True,
    ),
]


def test_samples_cover_every_event_type() -> None:
    assert {type(s).event_type for s in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: type(d).event_type)
def test_round_trip_through_json(data: EventData) -> None:
    event = make_event(data, source="/samad/test", time=NOW)
    decoded = decode(event.to_json())
    assert decoded == event
    assert type(decoded.data) is type(data)
    assert decoded.specversion == "1.0"
    assert decoded.type == type(data).event_type
    assert decoded.subject == (getattr(data, "case_id", None) or getattr(data, "call_id", None))
    assert decoded.time.utcoffset() is not None
    assert decoded.correlationid == event.id and decoded.causationid is None


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: type(d).event_type)
def test_cloudevents_sdk_reads_our_kafka_messages(data: EventData) -> None:
    event = make_event(data, source="/samad/test", time=NOW)
    message = ce_kafka.KafkaMessage(
        headers={"content-type": CONTENT_TYPE.encode()}, key=event.key, value=event.to_json()
    )
    read = ce_kafka.from_kafka_event(message)
    attrs = read.get_attributes()
    assert attrs["id"] == event.id
    assert attrs["type"] == event.type
    assert attrs["source"] == "/samad/test"
    assert attrs["subject"] == event.subject
    assert attrs["specversion"] == "1.0"
    assert attrs["partitionkey"] == event.subject  # the Kafka key is the subject
    assert attrs["correlationid"] == event.id  # our extension attributes survive
    assert read.get_data() == event.model_dump(mode="json", exclude_none=True, serialize_as_any=True)["data"]


def test_topics_and_keys() -> None:
    assert CallReceived.topic == CALLS
    assert {t.topic for t in EVENT_TYPES.values() if t.event_type.startswith("ir.samad.case.")} == {CASES}
    assert {t.topic for t in EVENT_TYPES.values() if t.event_type.startswith("ir.samad.sms.")} == {
        NOTIFICATIONS
    }


def test_caused_event_carries_the_chain() -> None:
    cause = make_event(SAMPLES[1], source="/samad/intake")
    effect = make_event(
        SAMPLES[3], source="/samad/routing", cause=cause, event_id=deterministic_id("routed", cause.id)
    )
    assert effect.correlationid == cause.correlationid
    assert effect.causationid == cause.id
    assert effect.id == deterministic_id("routed", cause.id)  # a retry yields the same id


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "ir.samad.case.exploded", "id": "x"}', "unknown event type"),
    ],
)
def test_poison_is_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(EventDecodeError, match=reason):
        decode(raw)


def test_schema_invalid_payload_names_the_field() -> None:
    doc = make_event(SAMPLES[7], source="/samad/test").model_dump(mode="json", serialize_as_any=True)
    doc["data"]["text"] = ""
    with pytest.raises(EventDecodeError, match="text"):
        decode(doc)


def test_time_must_be_timezone_aware() -> None:
    with pytest.raises(ValidationError):
        CallReceived(
            call_id="c", outcome=CallOutcome.answered, started_at=datetime(2026, 1, 1), duration_seconds=3
        )
    assert (
        CallReceived(
            call_id="c",
            outcome=CallOutcome.answered,
            started_at=datetime(2026, 1, 1, tzinfo=UTC),
            duration_seconds=3,
        ).province
        == "khorasan_razavi"
    )


def test_unknown_fields_are_rejected() -> None:
    doc = make_event(SAMPLES[7], source="/samad/test").model_dump(mode="json", serialize_as_any=True)
    doc["data"]["surprise"] = 1
    with pytest.raises(EventDecodeError, match="extra"):
        decode(doc)


def test_events_written_before_the_inbox_still_decode() -> None:
    """Schemas grow additively: a status change and a case document's events written before the
    question, the assignee and the escalation existed read as they did."""
    old = {
        "specversion": "1.0",
        "id": "e-old",
        "source": "/samad/tracking",
        "type": "ir.samad.case.status_changed",
        "subject": "case-1",
        "time": "2026-03-10T06:00:00Z",
        "correlationid": "e-old",
        "data": {
            "case_id": "case-1",
            "status": "in_progress",
            "agency": "education",
            "actor": {"kind": "agency_staff", "id": "u-17", "agency": "education"},
        },
    }
    event = decode(old)
    assert isinstance(event.data, CaseStatusChanged) and event.data.question is None
    assert event.data.status == CaseStatus.in_progress


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_trace_context_travels_inside_the_event() -> None:
    """The CloudEvents distributed-tracing extension: a dumped or replayed value still names its trace,
    and a CloudEvents SDK reads it as an extension attribute."""
    event = make_event(SAMPLES[1], source="/samad/test", time=NOW).model_copy(
        update={"traceparent": TRACEPARENT, "tracestate": "samad=1"}
    )
    decoded = decode(event.to_json())
    assert (decoded.traceparent, decoded.tracestate) == (TRACEPARENT, "samad=1")
    read = ce_kafka.from_kafka_event(
        ce_kafka.KafkaMessage(
            headers={"content-type": CONTENT_TYPE.encode()}, key=event.key, value=event.to_json()
        )
    )
    assert read.get_attributes()["traceparent"] == TRACEPARENT


def test_an_event_without_trace_context_has_no_trace_attributes() -> None:
    """Tracing off: the value is what it was before the extension existed."""
    raw = make_event(SAMPLES[1], source="/samad/test", time=NOW).to_json()
    assert b"traceparent" not in raw and b"tracestate" not in raw


def test_a_malformed_traceparent_does_not_make_the_event_poison() -> None:
    """W3C Trace Context: a receiver ignores a trace context it cannot parse; the event itself is fine."""
    doc = make_event(SAMPLES[1], source="/samad/test").model_dump(mode="json", serialize_as_any=True)
    doc["traceparent"] = "not-a-traceparent"
    assert decode(doc).traceparent == "not-a-traceparent"
    doc["traceparent"] = "0" * 200
    with pytest.raises(EventDecodeError, match="traceparent"):
        decode(doc)
