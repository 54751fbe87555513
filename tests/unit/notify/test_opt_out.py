"""Opting out: a citizen's stop word by SMS, staff opting a number out and back in; the senders ask
right before they call the gateway, so the latest answer counts."""

from __future__ import annotations

from datetime import timedelta

from services.notify.domain.ledger import SmsState
from tests.unit.notify.conftest import Rig
from tests.unit.notify.factory import PHONE, registered, resolved


async def test_a_stop_word_by_sms_opts_the_sender_out_and_their_next_sms_is_skipped(rig: Rig) -> None:
    await rig.provider.inbound(PHONE, " لغو ")
    state = await rig.notify.opt_out.status(PHONE)
    assert state is not None and state.opted_out and (state.source, state.by) == ("sms", PHONE)
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    assert rig.only().state is SmsState.skipped_opted_out and rig.provider.calls == []


async def test_any_other_inbound_text_changes_nothing(rig: Rig) -> None:
    await rig.provider.inbound(PHONE, "سلام، پرونده من چه شد؟")
    assert await rig.notify.opt_out.status(PHONE) is None
    assert rig.optouts.history == {}


async def test_staff_opt_a_number_out_and_back_in_and_the_latest_choice_counts(rig: Rig) -> None:
    await rig.handle(registered("case-1"))  # recorded before the opt-out, sent after it
    out = await rig.notify.opt_out.set_by_staff(PHONE, True, by="staff-7", reason="به اپراتور گفت")
    assert (out.opted_out, out.source, out.by, out.reason) == (True, "staff", "staff-7", "به اپراتور گفت")
    await rig.send_queued()
    assert rig.only().state is SmsState.skipped_opted_out

    rig.clock.advance(timedelta(minutes=5))
    back = await rig.notify.opt_out.set_by_staff(PHONE, False, by="supervisor-1", reason="opted back in")
    assert back.opted_out is False and back.updated_at == rig.clock.now()
    assert [s.opted_out for s in rig.optouts.history[PHONE]] == [True, False]
    await rig.handle(resolved("case-1", at=rig.clock.now()))
    await rig.send_queued()
    assert rig.record("resolved").state is SmsState.submitted
    assert len(rig.provider.accepted) == 1
