"""Signing in with the identity provider: OpenID Connect authorisation code with PKCE (S256), through
Authlib's Starlette client, as the public client ``samad-console``."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth
from starlette.requests import Request
from starlette.responses import RedirectResponse


class SignInFailed(Exception):
    """The provider's answer could not be used (a forged or replayed state, an error it sent back)."""


class IdentityProvider(Protocol):
    async def start(self, request: Request, redirect_uri: str) -> RedirectResponse:
        """Send the browser to the provider's login page (state, nonce and the PKCE verifier go into
        the session)."""
        ...

    async def finish(self, request: Request) -> dict[str, Any]:
        """The tokens the provider gives for the code the browser brought back."""
        ...

    async def refresh(self, refresh_token: str) -> dict[str, Any]: ...

    async def logout_url(self, id_token: str | None, redirect_uri: str) -> str: ...


class OidcProvider:
    def __init__(self, issuer: str, client_id: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.oauth = OAuth()
        self.client = self.oauth.register(
            "samad",
            client_id=client_id,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": "openid",
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "none",
            },
        )

    async def start(self, request: Request, redirect_uri: str) -> RedirectResponse:
        response: RedirectResponse = await self.client.authorize_redirect(request, redirect_uri)
        return response

    async def finish(self, request: Request) -> dict[str, Any]:
        try:
            token: dict[str, Any] = await self.client.authorize_access_token(request)
        except Exception as exc:  # Authlib raises its own OAuthError / MismatchingStateError family
            raise SignInFailed(str(exc)) from exc
        return token

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        token: dict[str, Any] = await self.client.fetch_access_token(
            grant_type="refresh_token", refresh_token=refresh_token
        )
        return token

    async def logout_url(self, id_token: str | None, redirect_uri: str) -> str:
        metadata = await self.client.load_server_metadata()
        params = {"post_logout_redirect_uri": redirect_uri, "client_id": self.client.client_id}
        if id_token:
            params["id_token_hint"] = id_token
        return f"{metadata['end_session_endpoint']}?{urlencode(params)}"


class FakeProvider:
    """The ``IdentityProvider`` fake: the login page answers at once with a code for ``user``'s
    claims; state is checked as the real flow checks it."""

    def __init__(self, access_token: str = "token-of-the-person") -> None:
        self.access_token = access_token
        self.refreshed = 0

    async def start(self, request: Request, redirect_uri: str) -> RedirectResponse:
        state = f"state-{len(request.session) + 1}"
        request.session["_fake_state"] = state
        return RedirectResponse(f"{redirect_uri}?code=fake-code&state={state}", status_code=302)

    async def finish(self, request: Request) -> dict[str, Any]:
        if request.query_params.get("state") != request.session.pop("_fake_state", None):
            raise SignInFailed("state does not match")
        return {
            "access_token": self.access_token,
            "refresh_token": "refresh",
            "expires_in": 300,
            "id_token": "id",
        }

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        self.refreshed += 1
        return {"access_token": self.access_token, "refresh_token": refresh_token, "expires_in": 300}

    async def logout_url(self, id_token: str | None, redirect_uri: str) -> str:
        return f"https://sso.invalid/logout?{urlencode({'post_logout_redirect_uri': redirect_uri})}"
