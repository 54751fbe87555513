"""One-time codes by SMS: the console proves a citizen holds a phone before registering online.

The code is made and checked by the caller; notify only delivers it, at once (quiet hours do not apply:
the citizen is waiting on the page), and never writes the code to its ledger or logs.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from contracts.persian import to_persian_digits
from services.notify.adapters.providers.base import OutgoingSms, SmsProvider
from services.notify.domain.records import local_id_of
from services.notify.domain.segments import Encoding, segment

log = logging.getLogger("samad.notify.verification")

TEXT = "کد تأیید سامانهٔ ۱۱۱: {code}\nتا {minutes} دقیقه معتبر است؛ به کسی نگویید."


@dataclass(frozen=True)
class VerificationSent:
    sms_id: str
    parts: int
    provider: str


def verification_text(code: str, minutes: int) -> str:
    return TEXT.format(code=to_persian_digits(code), minutes=to_persian_digits(str(minutes)))


class SendVerification:
    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider

    async def __call__(self, phone: str, code: str, minutes: int) -> VerificationSent:
        """Send ``code`` to ``phone`` (E.164). Raises the provider's SendError when it refuses."""
        sms_id = str(uuid.uuid4())
        text = verification_text(code, minutes)
        parts = segment(text, Encoding.ucs2).parts
        await self.provider.send(OutgoingSms(sms_id, phone, text, parts, local_id_of(sms_id)))
        log.info("verification sms %s sent to %s***%s", sms_id, phone[:6], phone[-2:])
        return VerificationSent(sms_id, parts, self.provider.name)
