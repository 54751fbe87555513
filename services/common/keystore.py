"""The key store: every citizen's data key, wrapped under a key-encryption key, in its own database.

A port (``KeyStore``) with a MongoDB adapter and an in-memory fake. The store never sees a data key in
clear nor a phone: documents are ``{_id: kid, kek: <KEK id>, nonce, wrapped, created_at}`` where
``kid`` is the HMAC key id of ``services/common/sealing.py``. Deleting a document is erasure: every
value sealed under that key can no longer be opened, wherever a copy of it lives (topics, dumps,
dead letters, projections rebuilt later).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo.errors import DuplicateKeyError

KEYS_DATABASE = "samad_keys"


@dataclass(frozen=True)
class WrappedKey:
    kid: str
    kek: str  # the id of the key-encryption key that wrapped it
    nonce: bytes
    wrapped: bytes
    created_at: datetime


class KeyStore(Protocol):
    async def setup(self) -> None: ...

    async def get(self, kid: str) -> WrappedKey | None:
        """The wrapped data key, or None when there is none (never made, or destroyed)."""
        ...

    async def put_new(self, key: WrappedKey) -> WrappedKey:
        """Store a new key unless one exists for its kid; the one stored (a concurrent writer may win)."""
        ...

    async def destroy(self, kid: str) -> bool:
        """Erase the key; whether there was one."""
        ...

    async def rewrap(self, old: WrappedKey, new: WrappedKey) -> bool:
        """Replace ``old`` by ``new`` (the same data key under another KEK) if it is still stored."""
        ...

    def keys(self) -> AsyncIterator[WrappedKey]:
        """Every stored key."""
        ...

    async def ping(self) -> bool: ...


class InMemoryKeyStore:
    def __init__(self) -> None:
        self.docs: dict[str, WrappedKey] = {}

    async def setup(self) -> None:
        return None

    async def get(self, kid: str) -> WrappedKey | None:
        return self.docs.get(kid)

    async def put_new(self, key: WrappedKey) -> WrappedKey:
        return self.docs.setdefault(key.kid, key)

    async def destroy(self, kid: str) -> bool:
        return self.docs.pop(kid, None) is not None

    async def rewrap(self, old: WrappedKey, new: WrappedKey) -> bool:
        if self.docs.get(old.kid) != old:
            return False
        self.docs[old.kid] = new
        return True

    async def keys(self) -> AsyncIterator[WrappedKey]:
        for key in list(self.docs.values()):
            yield key

    async def ping(self) -> bool:
        return True


def _doc(key: WrappedKey) -> dict[str, Any]:
    return {
        "_id": key.kid,
        "kek": key.kek,
        "nonce": key.nonce,
        "wrapped": key.wrapped,
        "created_at": key.created_at,
    }


def _key(doc: dict[str, Any]) -> WrappedKey:
    return WrappedKey(
        kid=doc["_id"],
        kek=doc["kek"],
        nonce=bytes(doc["nonce"]),
        wrapped=bytes(doc["wrapped"]),
        created_at=doc["created_at"],
    )


class MongoKeyStore:
    """Data keys in ``samad_keys.data_keys``: a database of their own, so a dump or a grant of a
    service's database holds no key, and erasure is one delete."""

    def __init__(self, client: Any, database: str = KEYS_DATABASE) -> None:
        self.client = client
        self.col = client[database]["data_keys"]

    async def setup(self) -> None:
        return None  # _id is the only key looked up

    async def get(self, kid: str) -> WrappedKey | None:
        doc = await self.col.find_one({"_id": kid})
        return _key(doc) if doc else None

    async def put_new(self, key: WrappedKey) -> WrappedKey:
        try:
            await self.col.insert_one(_doc(key))
            return key
        except DuplicateKeyError:
            stored = await self.get(key.kid)
            if stored is None:  # destroyed between the two: try once more
                await self.col.insert_one(_doc(key))
                return key
            return stored

    async def destroy(self, kid: str) -> bool:
        result = await self.col.delete_one({"_id": kid})
        return bool(result.deleted_count)

    async def rewrap(self, old: WrappedKey, new: WrappedKey) -> bool:
        result = await self.col.update_one(
            {"_id": old.kid, "kek": old.kek, "nonce": old.nonce},
            {"$set": {"kek": new.kek, "nonce": new.nonce, "wrapped": new.wrapped}},
        )
        return bool(result.modified_count)

    async def keys(self) -> AsyncIterator[WrappedKey]:
        async for doc in self.col.find({}):
            yield _key(doc)

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
            return True
        except Exception:  # noqa: BLE001 - readiness answers, it does not raise
            return False
