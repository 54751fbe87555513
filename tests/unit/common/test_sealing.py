"""Sealing personal fields: per-citizen keys found by an HMAC of the phone, bound to field and case,
wrapped under rotating KEKs, destroyed on erasure."""

from __future__ import annotations

import base64

import pytest

from contracts.sealed import Sealed
from services.common.keystore import InMemoryKeyStore
from services.common.sealing import (
    KeyConfigError,
    KeyRing,
    Sealer,
    citizen_key_id,
    make_sealer,
    new_key_text,
    parse_keks,
)

PHONE = "+989121234567"


def _sealer(
    store: InMemoryKeyStore | None = None, keks: str | None = None, index: bytes = b"i" * 32
) -> Sealer:
    keks = keks or f"k1:{new_key_text()}"
    return Sealer(store or InMemoryKeyStore(), KeyRing(parse_keks(keks)), index)


def test_key_id_is_the_same_for_every_way_of_writing_a_phone_and_holds_no_phone() -> None:
    index = b"x" * 32
    kid = citizen_key_id(index, PHONE)
    assert citizen_key_id(index, "09121234567") == kid
    assert citizen_key_id(index, "۰۹۱۲۱۲۳۴۵۶۷") == kid
    assert "1234567" not in kid
    assert citizen_key_id(b"y" * 32, PHONE) != kid
    assert citizen_key_id(index, "+989121234568") != kid


async def test_a_sealed_value_opens_for_its_field_and_case_only() -> None:
    sealer = _sealer()
    kid = sealer.key_id(PHONE)
    sealed = await sealer.seal(kid, "description", "case-1", "چاله در خیابان")
    assert sealed is not None
    assert "چاله" not in sealed.model_dump_json()
    assert await sealer.open(sealed, "description", "case-1") == "چاله در خیابان"
    assert await sealer.open(sealed, "citizen.name", "case-1") is None
    assert await sealer.open(sealed, "description", "case-2") is None
    moved = Sealed(kid=sealer.key_id("+989121234568"), nonce=sealed.nonce, ct=sealed.ct)
    assert await sealer.open(moved, "description", "case-1") is None


async def test_erasure_makes_every_value_of_the_citizen_unopenable_and_spares_others() -> None:
    store = InMemoryKeyStore()
    sealer = _sealer(store)
    mine, other = sealer.key_id(PHONE), sealer.key_id("+989351112233")
    a = await sealer.seal(mine, "description", "case-1", "one")
    b = await sealer.seal(other, "description", "case-2", "two")
    assert await sealer.erase(mine)
    assert await sealer.open(a, "description", "case-1") is None
    assert await sealer.open(b, "description", "case-2") == "two"
    # A process that had the key cached loses it once its cache expires; a new key for the same
    # citizen (they call again) does not open what the old one sealed.
    again = await sealer.seal(mine, "description", "case-3", "three")
    assert await sealer.open(again, "description", "case-3") == "three"
    assert await sealer.open(a, "description", "case-1") is None


async def test_other_processes_forget_an_erased_key_when_their_cache_expires() -> None:
    store = InMemoryKeyStore()
    now = [0.0]
    keks = f"k1:{new_key_text()}"
    ring = KeyRing(parse_keks(keks))
    writer = Sealer(store, ring, b"i" * 32, cache_seconds=60, monotonic=lambda: now[0])
    reader = Sealer(store, ring, b"i" * 32, cache_seconds=60, monotonic=lambda: now[0])
    kid = writer.key_id(PHONE)
    sealed = await writer.seal(kid, "description", "c", "text")
    assert await reader.open(sealed, "description", "c") == "text"
    await writer.erase(kid)
    now[0] = 61.0
    assert await reader.open(sealed, "description", "c") is None


async def test_the_store_holds_data_keys_only_wrapped() -> None:
    store = InMemoryKeyStore()
    sealer = _sealer(store)
    kid = sealer.key_id(PHONE)
    await sealer.seal(kid, "description", "c", "text")
    stored = store.docs[kid]
    key = await sealer.data_key(kid)
    assert key is not None and key not in stored.wrapped
    assert stored.kek == "k1"


async def test_rotation_rewraps_every_key_under_the_newest_kek_and_old_values_still_open() -> None:
    store = InMemoryKeyStore()
    old_kek = f"k1:{new_key_text()}"
    before = _sealer(store, old_kek)
    sealed = [
        await before.seal(before.key_id(f"+98912123456{i}"), "description", f"c{i}", f"t{i}")
        for i in range(3)
    ]
    both = f"k2:{new_key_text()},{old_kek}"
    rotating = _sealer(store, both)
    assert await rotating.rotate() == (3, 0)
    assert {k.kek for k in store.docs.values()} == {"k2"}
    assert await rotating.rotate() == (0, 3)
    # Only the new KEK is needed from now on.
    after = _sealer(store, both.split(",")[0])
    for i, s in enumerate(sealed):
        assert await after.open(s, "description", f"c{i}") == f"t{i}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "k1",
        ":abc",
        f"k1:{base64.b64encode(b'short').decode()}",
        "k1:not base64!",
        f"k1:{new_key_text()},k1:{new_key_text()}",
    ],
)
def test_malformed_keks_are_refused(text: str) -> None:
    with pytest.raises(KeyConfigError):
        parse_keks(text)


def test_no_keys_is_plain_mode_and_half_the_keys_is_an_error() -> None:
    assert make_sealer("", "", InMemoryKeyStore()) is None
    with pytest.raises(KeyConfigError):
        make_sealer(f"k1:{new_key_text()}", "", InMemoryKeyStore())
    assert make_sealer(f"k1:{new_key_text()}", new_key_text(), InMemoryKeyStore()) is not None
