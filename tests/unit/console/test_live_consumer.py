"""The console's live consumer: pages watching a case hear of its events; the events of cases nobody
watches here are passed over by their key, unread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from contracts.events import Actor, ActorKind, CaseNoteAdded, SmsDelivered, make_event
from contracts.topics import CASES, NOTIFICATIONS
from services.console.entrypoints import consumer
from services.console.service.live import Hub, case_topic


@dataclass
class Record:
    topic: str
    key: bytes | None
    value: bytes


def delivered(case_id: str) -> Record:
    event = make_event(
        SmsDelivered(
            sms_id="sms-1",
            case_id=case_id,
            provider="file",
            delivered_at=datetime(2026, 12, 5, 10, tzinfo=UTC),
        ),
        source="/test",
    )
    return Record(NOTIFICATIONS, event.key, event.to_json())


async def test_only_the_watched_cases_events_are_read_and_told(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[bytes] = []
    decode = consumer.decode

    def counting(raw: bytes) -> object:
        read.append(raw)
        return decode(raw)

    monkeypatch.setattr(consumer, "decode", counting)
    hub = Hub()
    async with hub.watch(case_topic("watched")) as page:
        told = consumer.tell_watchers(hub, [delivered("other-1"), delivered("watched"), delivered("other-2")])
        assert told == 1
        assert page.get_nowait() == {"event": "sms", "data": "ir.samad.sms.delivered"}
        assert len(read) == 1  # the two other cases' events were not parsed


async def test_an_event_without_a_key_is_read_to_find_its_case() -> None:
    hub = Hub()
    async with hub.watch(case_topic("watched")) as page:
        unkeyed = delivered("watched")
        unkeyed.key = None
        assert consumer.tell_watchers(hub, [unkeyed]) == 1
        assert page.get_nowait()["event"] == "sms"


async def test_a_case_event_is_left_to_the_inbox_feed_to_tell_once_tracking_applied_it() -> None:
    hub = Hub()
    note = make_event(
        CaseNoteAdded(case_id="watched", text="x", actor=Actor(kind=ActorKind.agency_staff, id="u1")),
        source="/t",
    )
    async with hub.watch(case_topic("watched")) as page:
        handed: list[object] = []
        told = consumer.tell_watchers(hub, [Record(CASES, note.key, note.to_json())], handed)
        assert told == 0 and page.empty()
        assert [e.id for e in handed] == [note.id]  # type: ignore[attr-defined]
