"""Builders of case events for tracking's tests: every event a case can see, with controllable times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    CallOutcome,
    CallReceived,
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
    Envelope,
    EscalationTarget,
    EventData,
    Recipient,
    RouteReason,
    SlaKind,
    SmsDelivered,
    SmsFailed,
    SmsSent,
    TriageReason,
    make_event,
)
from contracts.tracking_code import from_seed

# A Wednesday morning in Mashhad (1405-09-05), outside any holiday.
T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC) - timedelta(days=1)
STAFF = Actor(kind=ActorKind.agency_staff, id="staff-1", agency=AgencyCode.water_wastewater)
PHONE = "+989151234567"


class CaseEvents:
    """Events for one case, each a minute after the previous unless told otherwise."""

    def __init__(
        self, case_id: str = "case-1", start: datetime = T0, duty_session_id: str | None = None
    ) -> None:
        self.case_id = case_id
        self.code = from_seed(case_id)
        self.clock = start
        self.duty_session_id = duty_session_id
        self.count = 0

    def _wrap(self, data: EventData, at: datetime | None = None, event_id: str | None = None) -> Envelope:
        self.count += 1
        if at is None:
            self.clock += timedelta(minutes=1)
            at = self.clock
        return make_event(
            data, source="/samad/test", time=at, event_id=event_id or f"{self.case_id}-e{self.count}"
        )

    def registered(
        self,
        county: str = "mashhad",
        category: str | None = None,
        call_started_at: datetime | None = None,
        **kw: object,
    ) -> Envelope:
        return self._wrap(
            CaseRegistered(
                case_id=self.case_id,
                tracking_code=self.code,
                county=county,
                citizen=Citizen(phone=PHONE, name="مریم رضایی"),
                category=category,
                subject="قطعی آب",
                description="سه روز است آب محله قطع است.",
                operator_id="op-7",
                duty_session_id=self.duty_session_id,
                registered_at=self.clock,
                call_id=f"call-{self.case_id}" if call_started_at else None,
                call_started_at=call_started_at,
            ),
            **kw,  # type: ignore[arg-type]
        )

    def routed(
        self,
        agency: AgencyCode = AgencyCode.water_wastewater,
        reason: RouteReason = RouteReason.classifier,
        **kw: object,
    ) -> Envelope:
        return self._wrap(
            CaseRouted(
                case_id=self.case_id,
                agency=agency,
                reason=reason,
                confidence=0.9,
                explanation=["آب"],
                duty_session_id=self.duty_session_id,
            ),
            **kw,  # type: ignore[arg-type]
        )

    def triage(self, **kw: object) -> Envelope:
        return self._wrap(
            CaseTriageRequired(case_id=self.case_id, reason=TriageReason.low_confidence, explanation=["?"]),
            **kw,  # type: ignore[arg-type]
        )

    def status(
        self,
        status: CaseStatus,
        agency: AgencyCode | None = AgencyCode.water_wastewater,
        answer: str | None = None,
        reason: str | None = None,
        actor: Actor = STAFF,
        **kw: object,
    ) -> Envelope:
        return self._wrap(
            CaseStatusChanged(
                case_id=self.case_id, status=status, agency=agency, answer=answer, reason=reason, actor=actor
            ),
            **kw,  # type: ignore[arg-type]
        )

    def asked(self, question: str = "نشانی دقیق محل را بفرمایید", **kw: object) -> Envelope:
        return self._wrap(
            CaseStatusChanged(
                case_id=self.case_id,
                status=CaseStatus.waiting_for_citizen,
                agency=AgencyCode.water_wastewater,
                question=question,
                actor=STAFF,
            ),
            **kw,  # type: ignore[arg-type]
        )

    def resumed(self, text: str | None = "بدون پاسخ ادامه می‌دهیم", **kw: object) -> Envelope:
        return self._wrap(
            CaseResumed(case_id=self.case_id, agency=AgencyCode.water_wastewater, text=text, actor=STAFF),
            **kw,  # type: ignore[arg-type]
        )

    def assigned(
        self,
        assignee: str | None = "staff-3",
        agency: AgencyCode = AgencyCode.water_wastewater,
        **kw: object,
    ) -> Envelope:
        return self._wrap(
            CaseAssigned(
                case_id=self.case_id,
                agency=agency,
                assignee=assignee,
                assignee_name="سارا امینی" if assignee else None,
                actor=STAFF,
            ),
            **kw,  # type: ignore[arg-type]
        )

    def escalated(
        self,
        level: int,
        to: EscalationTarget,
        deadline: datetime,
        sla: SlaKind = SlaKind.acknowledge,
        **kw: object,
    ) -> Envelope:
        return self._wrap(
            CaseEscalated(
                case_id=self.case_id,
                tracking_code=self.code,
                agency=AgencyCode.water_wastewater,
                sla=sla,
                deadline=deadline,
                level=level,
                to=to,
                recipients=[Recipient(id="head-water", name="محمود صادقی", phone="+989150000501")],
            ),
            **kw,  # type: ignore[arg-type]
        )

    def acknowledged(self, **kw: object) -> Envelope:
        return self.status(CaseStatus.in_progress, **kw)  # type: ignore[arg-type]

    def resolved(self, answer: str = "لوله تعمیر شد و آب وصل است.", **kw: object) -> Envelope:
        return self.status(CaseStatus.resolved, answer=answer, **kw)  # type: ignore[arg-type]

    def rejected(self, reason: str = "درخواست تکراری است", **kw: object) -> Envelope:
        return self.status(CaseStatus.rejected, reason=reason, **kw)  # type: ignore[arg-type]

    def reopened(self, reason: str = "هنوز آب قطع است", **kw: object) -> Envelope:
        return self.status(
            CaseStatus.reopened, reason=reason, actor=Actor(kind=ActorKind.operator, id="op-7"), **kw
        )  # type: ignore[arg-type]

    def closed(self, **kw: object) -> Envelope:
        return self.status(
            CaseStatus.closed, agency=None, actor=Actor(kind=ActorKind.system, id="samad"), **kw
        )  # type: ignore[arg-type]

    def reroute(
        self, agency: AgencyCode = AgencyCode.water_wastewater, reason: str = "مربوط به ما نیست", **kw: object
    ) -> Envelope:
        return self._wrap(
            CaseRerouteRequested(case_id=self.case_id, agency=agency, reason=reason, actor=STAFF),
            **kw,  # type: ignore[arg-type]
        )

    def note(self, text: str = "با شهروند تماس گرفته شد", **kw: object) -> Envelope:
        return self._wrap(CaseNoteAdded(case_id=self.case_id, text=text, actor=STAFF), **kw)  # type: ignore[arg-type]

    def repeat_call(self, **kw: object) -> Envelope:
        return self._wrap(
            CaseRepeatCall(
                case_id=self.case_id, tracking_code=self.code, description="باز هم قطع است", similarity=0.93
            ),
            **kw,  # type: ignore[arg-type]
        )

    def breached(
        self, sla: SlaKind, deadline: datetime, agency: AgencyCode = AgencyCode.water_wastewater, **kw: object
    ) -> Envelope:
        return self._wrap(
            CaseSlaBreached(case_id=self.case_id, agency=agency, sla=sla, deadline=deadline), **kw
        )  # type: ignore[arg-type]

    def sms_sent(self, sms_id: str = "sms-1", source_event_id: str = "x", **kw: object) -> Envelope:
        return self._wrap(
            SmsSent(
                sms_id=sms_id,
                case_id=self.case_id,
                source_event_id=source_event_id,
                template="registered",
                recipient=PHONE,
                text=f"پرونده شما با کد {self.code} ثبت شد",
                parts=1,
                provider="file",
            ),
            **kw,  # type: ignore[arg-type]
        )

    def sms_delivered(self, sms_id: str = "sms-1", **kw: object) -> Envelope:
        return self._wrap(
            SmsDelivered(sms_id=sms_id, case_id=self.case_id, provider="file", delivered_at=self.clock),
            **kw,  # type: ignore[arg-type]
        )

    def sms_failed(self, sms_id: str = "sms-2", **kw: object) -> Envelope:
        return self._wrap(
            SmsFailed(
                sms_id=sms_id,
                case_id=self.case_id,
                source_event_id="y",
                template="routed",
                provider="file",
                error="number blocked",
                permanent=True,
            ),
            **kw,  # type: ignore[arg-type]
        )


def call(call_id: str, outcome: CallOutcome, session: str | None = None, at: datetime = T0) -> Envelope:
    return make_event(
        CallReceived(
            call_id=call_id, outcome=outcome, started_at=at, duration_seconds=60, duty_session_id=session
        ),
        source="/samad/test",
        time=at,
    )
