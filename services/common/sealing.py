"""Crypto-shredding: personal fields sealed with AES-GCM under a data key per citizen.

Why a key per citizen and not per case: erasure is asked for a citizen ("forget me"), and one citizen
may have many cases and calls over the years, some of them repeat calls linked to another case. With
a key per case, erasing a citizen means finding every case that was ever theirs, which is only
possible by their phone, i.e. by keeping an index of phones next to the keys; a case missed is data
kept. A key per citizen is found from the phone alone (its id is an HMAC of the phone), so
destroying one key forgets every case, call and SMS of that citizen at once, including events not yet
seen by any projection. Retention by case age (``samad privacy purge``) works on citizens too: a
citizen's data goes when all their cases closed long enough ago.

The key hierarchy:
- the index key (``SAMAD_INDEX_KEY``, base64, 32 bytes) turns a normalised phone into the citizen's
  key id: HMAC-SHA256, base64url. Nothing stores the phone to find a key, and lookups by phone
  (tracking's citizen lookups, intake's repeat calls) compare key ids.
- data keys (AES-256-GCM, one per citizen) seal the values; they live in the key store
  (``services/common/keystore.py``) wrapped with
- the key-encryption keys (``SAMAD_KEKS``: ``id:base64key,...``; the first wraps new keys, all of
  them unwrap), from a Kubernetes Secret, never from the repository. ``samad privacy rotate-kek``
  rewraps every data key under the first.

A sealed value's associated data names the field and the case or call id it belongs to, so a value
cannot be copied into another field or case. Unwrapped data keys are kept in memory for a short
while (``key_cache_seconds``): after an erasure, another process may still open that citizen's
values for at most that long.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.events import (
    PERSONAL_FIELDS,
    CallReceived,
    CaseRegistered,
    Envelope,
    EventData,
    SmsSent,
    subject_of,
)
from contracts.sealed import Sealed
from services.common.keystore import KeyStore, MongoKeyStore, WrappedKey
from services.common.settings import ServiceSettings

NONCE_BYTES = 12
KEY_BYTES = 32
AD_PREFIX = b"samad.sealed.v1"
WRAP_AD_PREFIX = b"samad.dek.v1"


class KeyConfigError(ValueError):
    """The key-encryption keys or the index key in the environment are missing or malformed."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def parse_keks(text: str) -> dict[str, bytes]:
    """``id:base64key,...`` -> {id: key}, in order (the first wraps). Each key is 32 bytes."""
    keks: dict[str, bytes] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        kek_id, sep, b64 = item.partition(":")
        if not sep or not kek_id:
            raise KeyConfigError("SAMAD_KEKS: each entry is id:base64key")
        try:
            key = _unb64(b64)
        except ValueError as exc:
            raise KeyConfigError(f"SAMAD_KEKS: key {kek_id!r} is not base64") from exc
        if len(key) != KEY_BYTES:
            raise KeyConfigError(f"SAMAD_KEKS: key {kek_id!r} has {len(key)} bytes, not {KEY_BYTES}")
        if kek_id in keks:
            raise KeyConfigError(f"SAMAD_KEKS: key id {kek_id!r} given twice")
        keks[kek_id] = key
    if not keks:
        raise KeyConfigError("SAMAD_KEKS is empty")
    return keks


def parse_index_key(text: str) -> bytes:
    try:
        key = _unb64(text.strip())
    except ValueError as exc:
        raise KeyConfigError("SAMAD_INDEX_KEY is not base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyConfigError(f"SAMAD_INDEX_KEY has {len(key)} bytes, not {KEY_BYTES}")
    return key


def new_key_text() -> str:
    """A fresh 32-byte key as base64 (for a KEK or the index key)."""
    return _b64(os.urandom(KEY_BYTES))


def normalise_phone(phone: str) -> str:
    """A phone in E.164 (Iranian numbers may be written 09…, with Persian digits); the input of the
    key id, so every way of writing one number finds the same key."""
    try:
        number = phonenumbers.parse(phone, "IR")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from exc
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def citizen_key_id(index_key: bytes, phone: str) -> str:
    """The citizen's key id: HMAC-SHA256 of the normalised phone under the index key, base64url."""
    mac = hmac.new(index_key, normalise_phone(phone).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _ad(kid: str, field: str, subject: str) -> bytes:
    return b"\x1f".join((AD_PREFIX, kid.encode(), field.encode(), subject.encode()))


def seal_with(key: bytes, kid: str, field: str, subject: str, value: str) -> Sealed:
    nonce = os.urandom(NONCE_BYTES)
    ct = AESGCM(key).encrypt(nonce, value.encode(), _ad(kid, field, subject))
    return Sealed(kid=kid, nonce=_b64(nonce), ct=_b64(ct))


def open_with(key: bytes, sealed: Sealed, field: str, subject: str) -> str | None:
    """The value, or None when the key is not the one it was sealed with, or the value was moved."""
    try:
        plain = AESGCM(key).decrypt(_unb64(sealed.nonce), _unb64(sealed.ct), _ad(sealed.kid, field, subject))
    except (InvalidTag, ValueError):
        return None
    return plain.decode()


class KeyRing:
    """The key-encryption keys: wraps data keys with the first, unwraps with any."""

    def __init__(self, keks: dict[str, bytes]) -> None:
        if not keks:
            raise KeyConfigError("no key-encryption key")
        self.keks = keks
        self.current = next(iter(keks))

    def wrap(self, kid: str, data_key: bytes, created_at: datetime) -> WrappedKey:
        nonce = os.urandom(NONCE_BYTES)
        wrapped = AESGCM(self.keks[self.current]).encrypt(nonce, data_key, WRAP_AD_PREFIX + kid.encode())
        return WrappedKey(kid=kid, kek=self.current, nonce=nonce, wrapped=wrapped, created_at=created_at)

    def unwrap(self, key: WrappedKey) -> bytes:
        kek = self.keks.get(key.kek)
        if kek is None:
            raise KeyConfigError(
                f"data key {key.kid[:8]}… is wrapped with KEK {key.kek!r}, not in SAMAD_KEKS"
            )
        return AESGCM(kek).decrypt(key.nonce, key.wrapped, WRAP_AD_PREFIX + key.kid.encode())

    def rewrapped(self, key: WrappedKey) -> WrappedKey:
        """The same data key wrapped under the current KEK."""
        fresh = self.wrap(key.kid, self.unwrap(key), key.created_at)
        return replace(fresh, created_at=key.created_at)


@dataclass
class _Cached:
    key: bytes
    until: float


class Sealer:
    """Seals and opens citizens' personal fields; one per process, shared by its use cases."""

    def __init__(
        self,
        store: KeyStore,
        ring: KeyRing,
        index_key: bytes,
        *,
        cache_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ring = ring
        self.index_key = index_key
        self.cache_seconds = cache_seconds
        self.monotonic = monotonic
        self._cache: dict[str, _Cached] = {}

    def key_id(self, phone: str) -> str:
        return citizen_key_id(self.index_key, phone)

    def national_id_index(self, national_id: str) -> str:
        """The lookup key of a national id (ten digits): an HMAC under the index key, never the id."""
        mac = hmac.new(self.index_key, b"nid:" + national_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def _cached(self, kid: str) -> bytes | None:
        hit = self._cache.get(kid)
        if hit is None:
            return None
        if hit.until < self.monotonic():
            del self._cache[kid]
            return None
        return hit.key

    def _remember(self, kid: str, key: bytes) -> bytes:
        if len(self._cache) > 100_000:  # bounded: forget everything rather than grow without end
            self._cache.clear()
        self._cache[kid] = _Cached(key, self.monotonic() + self.cache_seconds)
        return key

    async def data_key(self, kid: str, *, create: bool = False) -> bytes | None:
        """The citizen's data key in clear, made when ``create`` and there is none; None when erased."""
        cached = self._cached(kid)
        if cached is not None:
            return cached
        stored = await self.store.get(kid)
        if stored is None:
            if not create:
                return None
            stored = await self.store.put_new(self.ring.wrap(kid, os.urandom(KEY_BYTES), datetime.now(UTC)))
        return self._remember(kid, self.ring.unwrap(stored))

    async def seal(self, kid: str, field: str, subject: str, value: str | None) -> Sealed | None:
        """``value`` sealed under the citizen's key (made on first use) for ``field`` of ``subject``."""
        if value is None:
            return None
        key = await self.data_key(kid, create=True)
        assert key is not None
        return seal_with(key, kid, field, subject, value)

    async def open(self, sealed: Sealed | None, field: str, subject: str) -> str | None:
        """The value, or None when there is none or it can no longer be opened (the key was erased)."""
        if sealed is None:
            return None
        key = await self.data_key(sealed.kid)
        if key is None:
            return None
        return open_with(key, sealed, field, subject)

    async def erase(self, kid: str) -> bool:
        """Destroy the citizen's data key: every value sealed under it is gone for good."""
        self._cache.pop(kid, None)
        return await self.store.destroy(kid)

    async def rotate(self) -> tuple[int, int]:
        """Rewrap every data key not yet under the current KEK: (rewrapped, already current)."""
        done = current = 0
        async for key in self.store.keys():
            if key.kek == self.ring.current:
                current += 1
                continue
            if await self.store.rewrap(key, self.ring.rewrapped(key)):
                done += 1
        return done, current


def make_sealer(keks: str, index_key: str, store: KeyStore, *, cache_seconds: float = 60.0) -> Sealer | None:
    """The process's sealer from the settings' key text; None when no keys are configured (plain mode).
    One key given without the other is a configuration error, not plain mode."""
    if not keks.strip() and not index_key.strip():
        return None
    if not keks.strip() or not index_key.strip():
        raise KeyConfigError("SAMAD_KEKS and SAMAD_INDEX_KEY go together")
    return Sealer(store, KeyRing(parse_keks(keks)), parse_index_key(index_key), cache_seconds=cache_seconds)


# --- events --------------------------------------------------------------------------------------

# The field of each event type whose phone names the citizen, when the event carries one.
_PHONE_OF: dict[type[EventData], str] = {
    CallReceived: "caller_phone",
    CaseRegistered: "citizen.phone",
    SmsSent: "recipient",
}


def _get(doc: dict[str, Any], path: str) -> Any:
    head, _, rest = path.partition(".")
    value = doc.get(head)
    return _get(value, rest) if rest and isinstance(value, dict) else (None if rest else value)


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if rest:
        _set(doc.setdefault(head, {}), rest, value)
    else:
        doc[head] = value


def is_sealed(data: EventData) -> bool:
    """Whether the event carries any sealed personal field."""
    doc = data.model_dump(include={p.split(".")[0] for p in PERSONAL_FIELDS.get(type(data), ())})
    return any(_get(doc, f"{path}_sealed") is not None for path in PERSONAL_FIELDS.get(type(data), ()))


async def seal_event(sealer: Sealer, data: EventData, kid: str | None = None) -> EventData:
    """The payload with every personal field sealed under the citizen's key and its plain form
    dropped. ``kid``: the citizen's key id, when the event names no phone of theirs (a repeat call);
    otherwise taken from the phone it carries. An event with no citizen (a withheld caller id) and no
    ``kid`` is returned as it is: it holds nothing personal to seal."""
    paths = PERSONAL_FIELDS.get(type(data))
    if not paths:
        return data
    doc = data.model_dump(mode="json")
    if kid is None:
        phone_path = _PHONE_OF.get(type(data))
        phone = _get(doc, phone_path) if phone_path else None
        if phone is None:
            return data
        kid = sealer.key_id(phone)
    subject = subject_of(data)
    if isinstance(data, CaseRegistered) and data.citizen.national_id:
        doc["citizen"]["national_id_index"] = sealer.national_id_index(data.citizen.national_id)
    for path in paths:
        value = _get(doc, path)
        if value is None:
            continue
        sealed = await sealer.seal(kid, path, subject, str(value))
        _set(doc, path, None)
        _set(doc, f"{path}_sealed", sealed.model_dump() if sealed is not None else None)
    return type(data).model_validate(doc)


async def open_event(sealer: Sealer | None, data: EventData) -> tuple[EventData, bool]:
    """The payload with its sealed fields opened into their plain form, and whether any of them could
    not be opened (the citizen's key was erased: that field is left empty). A plain (old) event comes
    back as it is."""
    paths = PERSONAL_FIELDS.get(type(data))
    if not paths:
        return data, False
    doc = data.model_dump(mode="json")
    subject = subject_of(data)
    erased = changed = False
    for path in paths:
        raw = _get(doc, f"{path}_sealed")
        if raw is None:
            continue
        changed = True
        value = await sealer.open(Sealed.model_validate(raw), path, subject) if sealer is not None else None
        erased |= value is None
        _set(doc, path, value)
    return (type(data).model_validate(doc) if changed else data), erased


async def seal_envelope(sealer: Sealer | None, event: Envelope, kid: str | None = None) -> Envelope:
    """The event with its payload sealed (``seal_event``); as it is without a sealer (plain mode)."""
    if sealer is None:
        return event
    return event.model_copy(update={"data": await seal_event(sealer, event.data, kid)})


def sealer_from_settings(settings: ServiceSettings, app: str, store: KeyStore | None = None) -> Sealer | None:
    """The process's sealer, its keys from the settings and its key store the ``samad_keys`` database
    of the settings' MongoDB (or ``store``); None without keys (plain mode)."""
    if not settings.keks.strip() and not settings.index_key.strip():
        return None
    if store is None:
        from services.common.mongo import make_client

        store = MongoKeyStore(make_client(settings.mongo_url, f"{app}-keys"))
    return make_sealer(settings.keks, settings.index_key, store, cache_seconds=settings.key_cache_seconds)
