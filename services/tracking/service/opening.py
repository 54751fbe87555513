"""Opening a case's sealed personal fields for the staff who are shown it (docs/privacy.md).

Tracking stores the citizen's phone, name, national id, the description, repeat calls' texts and the
free text staff wrote about the citizen (answers, reasons, questions, notes) sealed under the
citizen's key; a use case that shows a case to staff opens a copy here. A field
whose key was erased reads «حذف‌شده به درخواست شهروند», never an error; the ciphertext and the key
ids are left out of what is shown.
"""

from __future__ import annotations

from typing import Any

from contracts.sealed import ERASED_FA, Sealed
from services.common.sealing import Sealer
from services.tracking.domain.model import Case, with_quote

_HIDDEN = ("_sealed", "key_id", "_index")


def _without_ciphertext(data: dict[str, Any]) -> dict[str, Any]:
    """An event's payload as staff see it in the timeline: no sealed values, no key ids."""
    return {
        k: _without_ciphertext(v) if isinstance(v, dict) else v
        for k, v in data.items()
        if not k.endswith(_HIDDEN)
    }


class CaseOpener:
    def __init__(self, sealer: Sealer | None) -> None:
        self.sealer = sealer

    async def _open(self, sealed: Sealed | None, field: str, case_id: str) -> str | None:
        if sealed is None or self.sealer is None:
            return ERASED_FA if sealed is not None else None
        value = await self.sealer.open(sealed, field, case_id)
        return value if value is not None else ERASED_FA

    async def __call__(self, case: Case) -> Case:
        """A copy of the case with its sealed fields opened (or shown as erased); a plain case as it is."""
        citizen = case.citizen
        sealed_entries = [n for n, e in enumerate(case.timeline) if e.sealed is not None]
        staff_texts = (
            case.answer_sealed,
            case.rejection_reason_sealed,
            case.reopen_reason_sealed,
            case.waiting.question_sealed if case.waiting else None,
            *(h.note_sealed for h in case.agencies),
        )
        if (
            case.description_sealed is None
            and not sealed_entries
            and all(s is None for s in staff_texts)
            and (citizen is None or citizen.key_id is None)
        ):
            return case
        opened = case.model_copy(deep=True)
        if opened.citizen is not None:
            c = opened.citizen
            c.phone = c.phone or await self._open(c.phone_sealed, "citizen.phone", case.id)
            c.name = c.name or await self._open(c.name_sealed, "citizen.name", case.id)
            c.national_id = c.national_id or await self._open(
                c.national_id_sealed, "citizen.national_id", case.id
            )
            c.phone_sealed = c.name_sealed = c.national_id_sealed = None
            c.key_id = c.national_id_index = None
        if opened.description_sealed is not None:
            opened.description = await self._open(opened.description_sealed, "description", case.id)
            opened.description_sealed = None
        # Staff's free text about the citizen (the answer, reasons, the question, a decline's reason).
        if opened.answer_sealed is not None:
            opened.answer = await self._open(opened.answer_sealed, "answer", case.id)
        if opened.rejection_reason_sealed is not None:
            opened.rejection_reason = await self._open(opened.rejection_reason_sealed, "reason", case.id)
        if opened.reopen_reason_sealed is not None:
            opened.reopen_reason = await self._open(opened.reopen_reason_sealed, "reason", case.id)
        opened.answer_sealed = opened.rejection_reason_sealed = opened.reopen_reason_sealed = None
        if opened.waiting is not None and opened.waiting.question_sealed is not None:
            opened.waiting.question = (
                await self._open(opened.waiting.question_sealed, "question", case.id) or ""
            )
            opened.waiting.question_sealed = None
        for holding in opened.agencies:
            if holding.note_sealed is not None:
                holding.note = await self._open(holding.note_sealed, "reason", case.id)
                holding.note_sealed = None
        for n in sealed_entries:
            entry = opened.timeline[n]
            field = entry.sealed_field or "description"
            value = await self._open(entry.sealed, field, case.id) or ERASED_FA
            entry.text = with_quote(entry, value)
            # The payload as the plain event had it, so every view reads the field where it always was.
            entry.data[field] = value
            entry.sealed = entry.sealed_field = None
        for entry in opened.timeline:
            entry.data = _without_ciphertext(entry.data)
        return opened

    async def phone(self, case_id: str, plain: str | None, sealed: Sealed | None) -> str | None:
        """The citizen's phone to compare (the status page's second factor); None when erased."""
        if plain is not None or sealed is None or self.sealer is None:
            return plain
        return await self.sealer.open(sealed, "citizen.phone", case_id)
