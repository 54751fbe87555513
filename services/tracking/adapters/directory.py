"""Who works where: the staff directory of the identity provider, for assignments and escalations.

The ``Directory`` port answers who works for an agency (to assign a case only to a colleague), who
heads it and who supervises the governorate (to escalate a late case), with the mobile number of each
person's profile (for their SMS). The real one reads Keycloak's admin API with the services' own
account (client credentials; realm-management ``view-users`` and ``query-users`` only): a search by
the ``agency`` or ``province`` attribute, then each person's realm roles. Answers are kept for a
while (``cache_seconds``): people change agency rarely, and a late case must not wait on the provider.
In production the governorate's provider holds the same: the ``agency`` and ``phone`` attributes
(from its LDAP directory: department and mobile), and the ``agency_head`` and ``supervisor`` roles.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from services.common.bounded import run_all

log = logging.getLogger("samad.tracking.directory")
AGENCY_STAFF, AGENCY_HEAD, SUPERVISOR = "agency_staff", "agency_head", "supervisor"
PAGE = 500
ROLE_LOOKUPS = 8


@dataclass(frozen=True)
class Person:
    id: str  # the username, as tokens name the person
    name: str | None = None
    agency: str | None = None
    province: str | None = None
    phone: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)


class DirectoryUnavailable(Exception):
    """The directory could not be read (the provider is down or refused the services' account)."""


class Directory(Protocol):
    async def staff_of(self, agency: str) -> list[Person]:
        """The agency's staff (role agency_staff, its heads among them)."""
        ...

    async def heads_of(self, agency: str) -> list[Person]:
        """The people heading the agency (roles agency_staff and agency_head, same agency)."""
        ...

    async def supervisors(self, province: str) -> list[Person]:
        """The governorate's supervisors (role supervisor, people only: no service account)."""
        ...


def _person(user: dict[str, Any], roles: Iterable[str]) -> Person:
    attrs = user.get("attributes") or {}

    def one(name: str) -> str | None:
        values = attrs.get(name) or []
        return str(values[0]) if values else None

    name = " ".join(p for p in (user.get("firstName"), user.get("lastName")) if p).strip()
    return Person(
        id=str(user["username"]),
        name=name or None,
        agency=one("agency"),
        province=one("province"),
        phone=one("phone"),
        roles=frozenset(roles),
    )


class KeycloakDirectory:
    """The directory in Keycloak's admin API (``admin_url``: ``.../admin/realms/<realm>``)."""

    def __init__(
        self,
        admin_url: str,
        token: Callable[[], Awaitable[str]],
        cache_seconds: float = 120.0,
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.token = token
        self.cache_seconds = cache_seconds
        self.http = http or httpx.AsyncClient(timeout=timeout)
        self._cache: dict[str, tuple[float, list[Person]]] = {}
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self.http.aclose()

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            r = await self.http.get(
                self.admin_url + path,
                params=params,
                headers={"Authorization": f"Bearer {await self.token()}"},
            )
            r.raise_for_status()
        except (httpx.HTTPError, RuntimeError) as exc:
            log.warning("directory unavailable at %s: %r", path, exc)
            raise DirectoryUnavailable(path) from exc
        return r.json()

    async def _search(self, query: str) -> list[Person]:
        """Every enabled person the attribute query finds, with their realm roles (cached)."""
        now = time.monotonic()
        hit = self._cache.get(query)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        async with self._lock:
            hit = self._cache.get(query)
            if hit is not None and time.monotonic() - hit[0] < self.cache_seconds:
                return hit[1]
            users: list[dict[str, Any]] = []
            while True:
                page = await self._get(
                    "/users",
                    {"q": query, "briefRepresentation": "false", "first": len(users), "max": PAGE},
                )
                users += [u for u in page if u.get("enabled", True) and not u.get("serviceAccountClientId")]
                if len(page) < PAGE:
                    break
            users = [u for u in users if not str(u.get("username", "")).startswith("service-account-")]

            async def with_roles(user: dict[str, Any]) -> Person:
                mapped = await self._get(f"/users/{user['id']}/role-mappings/realm/composite")
                return _person(user, (str(r.get("name")) for r in mapped))

            people = await run_all(with_roles, users, ROLE_LOOKUPS)
            self._cache[query] = (time.monotonic(), people)
            return people

    async def staff_of(self, agency: str) -> list[Person]:
        return [p for p in await self._search(f"agency:{agency}") if AGENCY_STAFF in p.roles]

    async def heads_of(self, agency: str) -> list[Person]:
        return [p for p in await self.staff_of(agency) if AGENCY_HEAD in p.roles]

    async def supervisors(self, province: str) -> list[Person]:
        # Supervisors work for the governorate, not an agency: people of the province without one.
        found = await self._search(f"province:{province}")
        return [p for p in found if SUPERVISOR in p.roles and not p.agency]


class InMemoryDirectory:
    """The ``Directory`` fake: people in a list; ``down`` makes every question fail."""

    def __init__(self, people: Iterable[Person] = ()) -> None:
        self.people = list(people)
        self.down = False
        self.questions = 0

    def _ask(self) -> None:
        self.questions += 1
        if self.down:
            raise DirectoryUnavailable("fake directory down")

    async def staff_of(self, agency: str) -> list[Person]:
        self._ask()
        return [p for p in self.people if p.agency == agency and AGENCY_STAFF in p.roles]

    async def heads_of(self, agency: str) -> list[Person]:
        return [p for p in await self.staff_of(agency) if AGENCY_HEAD in p.roles]

    async def supervisors(self, province: str) -> list[Person]:
        self._ask()
        return [p for p in self.people if SUPERVISOR in p.roles and (p.province in (None, province))]
