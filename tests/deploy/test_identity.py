"""Identity settings: production verifies RS256 tokens from the provider's JWKS and holds no development secret."""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.conftest import SERVICES, container_env, objects, service_container

Rendered = dict[str, list[dict[str, Any]]]
PROD = "overlays/prod"
DEV = "overlays/dev"
# Secrets a service may import whole with envFrom (every key becomes a variable, so nothing else does:
# a whole-Secret import is where a stray SAMAD_AUTH_SECRET would slip in unseen).
WHOLE_SECRETS = {"samad-notify": {"samad-notify-sms"}}
# Variables only ever read from a Secret, per Deployment that needs them.
SECRET_VARIABLES = {
    "samad-intake": ("SAMAD_AUTH_CLIENT_SECRET", "SAMAD_OPEN311_API_KEYS"),
    # The console's citizen pages call the services with the console's own client credentials.
    "samad-console": ("SAMAD_AUTH_CLIENT_SECRET",),
    # Tracking reads the staff directory with the services' account.
    "samad-tracking": ("SAMAD_AUTH_CLIENT_SECRET",),
}
# The base's placeholder for the ingress controller's range (TEST-NET-1): an overlay must replace it.
PLACEHOLDER_PROXIES = ["192.0.2.0/24"]


def deployments(rendered: Rendered, target: str) -> list[str]:
    names = [d["metadata"]["name"] for d in objects(rendered, target, "Deployment")]
    assert {f"samad-{svc}" for svc in SERVICES} <= set(names), names
    return names


def env_of(rendered: Rendered, target: str, name: str) -> dict[str, dict[str, Any]]:
    return container_env(rendered, target, service_container(rendered, target, name))


def literal(env: dict[str, dict[str, Any]], name: str, where: str) -> str:
    assert name in env, f"{where}: {name} is not set"
    assert "value" in env[name], f"{where}: {name} is not a literal: {env[name]}"
    value: str = env[name]["value"]
    return value


def test_every_prod_deployment_runs_in_production(rendered: Rendered) -> None:
    for name in deployments(rendered, PROD):
        assert literal(env_of(rendered, PROD, name), "SAMAD_ENVIRONMENT", name) == "production"


def test_the_dev_overlay_is_not_production(rendered: Rendered) -> None:
    for name in deployments(rendered, DEV):
        assert literal(env_of(rendered, DEV, name), "SAMAD_ENVIRONMENT", name) == "development"


def test_prod_verifies_rs256_tokens_from_the_providers_jwks_for_audience_samad(rendered: Rendered) -> None:
    for name in deployments(rendered, PROD):
        env = env_of(rendered, PROD, name)
        assert json.loads(literal(env, "SAMAD_AUTH_ALGORITHMS", name)) == ["RS256"], name
        issuer = literal(env, "SAMAD_AUTH_ISSUER", name)
        jwks = literal(env, "SAMAD_AUTH_JWKS_URL", name)
        assert urlsplit(issuer).scheme == "https", f"{name}: {issuer}"
        assert urlsplit(issuer).hostname not in {"127.0.0.1", "localhost"}, f"{name}: {issuer}"
        assert urlsplit(jwks).scheme == "https", f"{name}: {jwks}"
        assert jwks.startswith(issuer.rstrip("/") + "/"), f"{name}: {jwks} is not the issuer's"
        assert literal(env, "SAMAD_AUTH_AUDIENCE", name) == "samad", name
        assert literal(env, "SAMAD_AUTH_CLIENT_ID", name) == "samad-services", name
        # Unset, the token endpoint is derived from the issuer; set, it must be https too.
        if "SAMAD_AUTH_TOKEN_URL" in env:
            assert urlsplit(literal(env, "SAMAD_AUTH_TOKEN_URL", name)).scheme == "https", name


def test_prod_has_no_shared_signing_key_anywhere(rendered: Rendered) -> None:
    text = yaml.safe_dump_all(rendered[PROD])
    assert "SAMAD_AUTH_SECRET" not in text
    for name in deployments(rendered, PROD):
        container = service_container(rendered, PROD, name)
        assert "SAMAD_AUTH_SECRET" not in env_of(rendered, PROD, name), name
        whole = {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
        assert whole <= WHOLE_SECRETS.get(name, set()), f"{name} imports whole Secrets: {whole}"


@pytest.mark.parametrize("target", [PROD, DEV])
def test_client_secret_and_open311_keys_come_from_secrets(rendered: Rendered, target: str) -> None:
    for name, variables in SECRET_VARIABLES.items():
        env = env_of(rendered, target, name)
        for variable in variables:
            assert variable in env, f"{target} {name}: {variable} is not set"
            assert "value" not in env[variable], f"{target} {name}: {variable} is a literal"
            ref = env[variable]["valueFrom"]["secretKeyRef"]
            assert ref["name"] and ref["key"], ref
            # Without the Secret the pod must not start (it would start with development defaults).
            assert ref.get("optional", False) is False, f"{target} {name}: {variable} is optional"
    # Nowhere else as a literal either: not in any ConfigMap, not in any container's env.
    secret_names = {v for names in SECRET_VARIABLES.values() for v in names}
    for cm in objects(rendered, target, "ConfigMap"):
        assert not secret_names & set(cm.get("data", {})), cm["metadata"]["name"]
    for name in deployments(rendered, target):
        for var in service_container(rendered, target, name).get("env", []):
            if var["name"] in secret_names:
                assert "secretKeyRef" in var.get("valueFrom", {}), f"{target} {name}: {var['name']}"


def test_tracking_trusts_forwarded_addresses_only_from_the_ingress_range_in_prod(rendered: Rendered) -> None:
    env = env_of(rendered, PROD, "samad-tracking")
    ranges = json.loads(literal(env, "SAMAD_TRUSTED_PROXIES", "samad-tracking"))
    assert ranges and ranges != PLACEHOLDER_PROXIES, f"prod must set the controller's range: {ranges}"
    for cidr in ranges:
        network = ipaddress.ip_network(cidr)
        # A cluster's pod network, not the internet: a client must not be able to name its own address.
        assert network.is_private and network.prefixlen >= 8, cidr
    # The placeholder is harmless (it matches no pod) and stays recognisable in the base.
    dev = json.loads(literal(env_of(rendered, DEV, "samad-tracking"), "SAMAD_TRUSTED_PROXIES", "dev"))
    assert all(ipaddress.ip_network(c) for c in dev)
