"""Opting out: a citizen's stop word by SMS, and staff opting a number out or back in.

The senders ask right before calling the gateway, so the latest answer counts for every record,
waiting or new."""

from __future__ import annotations

import logging

from services.common.clock import Clock
from services.common.logs import mask_phone
from services.notify.adapters.optouts import OptOuts
from services.notify.adapters.providers.base import InboundSms
from services.notify.domain.optouts import OptOut, OptOutSource
from services.notify.domain.policy import is_opt_out
from services.notify.service.metrics import OPT_OUTS

log = logging.getLogger("samad.notify")


class OptOutRequests:
    def __init__(self, *, optouts: OptOuts, clock: Clock) -> None:
        self.optouts = optouts
        self.clock = clock

    async def on_inbound(self, message: InboundSms) -> None:
        """An SMS from a citizen: a stop word opts the sender out; anything else is ignored."""
        if not is_opt_out(message.text):
            log.info("inbound sms from %s is not an opt-out; ignored", mask_phone(message.sender))
            return
        await self.optouts.set(
            message.sender,
            True,
            source=OptOutSource.sms.value,
            by=message.sender,
            reason=message.text,
            now=self.clock.now(),
        )
        OPT_OUTS.labels("sms", "opt_out").inc()
        log.info("%s opted out by SMS", mask_phone(message.sender))

    async def set_by_staff(self, phone: str, opted_out: bool, *, by: str, reason: str) -> OptOut:
        """``phone`` in E.164; ``by``: the staff member (or tool) who asked."""
        state = await self.optouts.set(
            phone, opted_out, source=OptOutSource.staff.value, by=by, reason=reason, now=self.clock.now()
        )
        OPT_OUTS.labels("staff", "opt_out" if opted_out else "opt_in").inc()
        return state

    async def status(self, phone: str) -> OptOut | None:
        """The number's last opt-out or opt-in; None when it never had one (it receives SMS)."""
        return await self.optouts.get(phone)
