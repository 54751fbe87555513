"""Log an answered call and register its case in one request, once per Idempotency-Key.

What the operator's desk does for most calls: one request, one key reservation and one stored answer
instead of two of each (the database's commands are what an operator waits for). The events are the
same as when the call is logged and the case registered in two requests: ``call.received``, then
``case.registered`` (or ``case.repeat_call``), the case naming the call.

All or nothing, as the caller sees it: the call and the case are checked before anything is published
(a refused case logs no call either); a failure after the call's event went out releases the key, and
the retry publishes the same events again (the same ids, which consumers see once) and completes the
case with the code claimed the first time.
"""

from __future__ import annotations

from services.intake.domain.operators import Acting
from services.intake.domain.requests import CallIn, CaseIn
from services.intake.domain.validation import Invalid
from services.intake.service.idempotency import Answer
from services.intake.service.log_call import LogCall, Rejected
from services.intake.service.register_case import RegisterCase

SCOPE = "calls-with-case"


def _within(part: str, exc: Rejected) -> Rejected:
    """The refusal with each field named inside the request's part (``case.repeat_of``)."""
    return Rejected([(f"{part}.{name}", problem) for name, problem in exc.errors])


class LogCallWithCase:
    def __init__(self, log_call: LogCall, register_case: RegisterCase) -> None:
        self.log_call = log_call
        self.register_case = register_case

    async def __call__(self, call: CallIn, case: CaseIn, *, key: str, by: Acting | None = None) -> Answer:
        """201 with the call and the case registered (or the open case the call was linked to, its
        ``status`` then ``repeat_call``). ``by``: who sends it (an operator acts only as themselves)."""
        errors: list[tuple[str, Invalid]] = []
        if call.outcome.value != "answered":
            errors.append(
                (
                    "call.outcome",
                    Invalid(
                        "not_answered",
                        "only an answered call registers a case; log the call alone with POST /v1/calls",
                        "فقط برای تماس پاسخ‌داده پرونده ثبت می‌شود؛ تماس بی‌پاسخ را جداگانه ثبت کنید",
                    ),
                )
            )
        if case.call_id is not None:
            errors.append(
                (
                    "case.call_id",
                    Invalid(
                        "call_id_given",
                        "leave it out: the case is linked to the call this request logs",
                        "شناسهٔ تماس را نفرستید؛ پرونده به همین تماسی که ثبت می‌شود پیوند می‌خورد",
                    ),
                )
            )
        try:
            to_log = self.log_call.prepare(call, key=key, by=by, scope=SCOPE)
        except Rejected as exc:
            raise Rejected(errors + _within("call", exc).errors) from exc
        if errors:
            raise Rejected(errors)
        try:
            return await self.register_case(case, key=key, by=by, scope=SCOPE, call=to_log)
        except Rejected as exc:
            raise _within("case", exc) from exc
