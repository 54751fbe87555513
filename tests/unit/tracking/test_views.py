"""What each reader sees of a case: staff everything with overdue now, the citizen a public summary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.tracking.domain.projection import apply_all
from services.tracking.domain.views import citizen_view, mask_phone, phone_matches, staff_view
from tests.unit.tracking.factory import T0, CaseEvents


def _resolved_case() -> Any:
    c = CaseEvents("f")
    return apply_all(
        None,
        [
            c.registered(),
            c.routed(),
            c.note(text="شماره همسایه: 09121112233"),
            c.acknowledged(),
            c.resolved(),
        ],
    )


def test_the_citizen_sees_status_agency_and_answer_but_no_notes() -> None:
    case = _resolved_case()
    view = citizen_view(case)
    assert view["status"] == "resolved" and view["status_fa"] == "پاسخ داده شده"
    assert view["agency"]["code"] == "water_wastewater" and view["agency"]["fa"]
    assert view["answer"] == "لوله تعمیر شد و آب وصل است."
    assert view["phone"] == "+98915***4567"
    text = repr(view)
    assert "09121112233" not in text and "همسایه" not in text and "staff-1" not in text and "op-7" not in text
    assert [h["status"] for h in view["history"]] == ["registered", "routed", "in_progress", "resolved"]


def test_staff_see_everything_with_overdue_now() -> None:
    case = _resolved_case()
    view = staff_view(case, T0 + timedelta(days=30))
    assert view["case_id"] == "f" and not view["overdue"]
    assert any(e["text"].startswith("شماره همسایه") for e in view["timeline"])
    c = CaseEvents("g")
    open_case = apply_all(None, [c.registered(), c.routed()])
    assert staff_view(open_case, T0 + timedelta(days=30))["overdue"]
    assert not staff_view(open_case, T0 + timedelta(hours=1))["overdue"]


def test_phone_as_second_factor() -> None:
    stored = "+989151234567"
    for good in ("09151234567", "+989151234567", "۰۹۱۵ ۱۲۳ ۴۵۶۷", "00989151234567", "4567", "۴۵۶۷"):
        assert phone_matches(stored, good), good
    for bad in ("09151234568", "4568", "567", "", "1234567"):
        assert not phone_matches(stored, bad), bad
    assert not phone_matches(None, "4567")
    assert mask_phone("+989151234567") == "+98915***4567"
