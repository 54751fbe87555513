"""Every state of notify's SMS ledger has a Persian name on the console's pages."""

from services.console.domain.display import SMS_STATE_FA
from services.notify.domain.ledger import SmsState


def test_every_ledger_state_has_a_persian_name() -> None:
    assert {s.value for s in SmsState} == set(SMS_STATE_FA)
