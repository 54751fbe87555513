"""The console as the overlays deploy it: its Deployment and Service, who may reach it and whom it may
reach (NetworkPolicies evaluated as Kubernetes does), its production settings (an https address, a
Secure session cookie, the proxies it and tracking believe), the identity provider's client for it,
its Kafka and MongoDB identities, and that every variable the manifests set is one a service reads."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic_settings import BaseSettings
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.testclient import TestClient

from contracts.topics import CASES, NOTIFICATIONS
from services.common.auth import AuthSettings
from services.console.adapters.platform import HttpPlatform
from services.console.adapters.stores import InMemoryCounters, InMemorySessionStore
from services.console.bootstrap import bootstrap
from services.console.entrypoints.http import create_app
from services.console.entrypoints.web import client_address
from services.console.settings import ConsoleSettings
from services.intake.settings import IntakeSettings
from services.notify.settings import NotifySettings
from services.routing.settings import RoutingSettings
from services.tracking.settings import TrackingSettings
from tests.deploy.conftest import ROOT, SERVICES, container_env, objects, one, service_container

Rendered = dict[str, list[dict[str, Any]]]
PROD = "overlays/prod"
DEV = "overlays/dev"
OVERLAYS = (DEV, PROD)
CONSOLE = "samad-console"
PORT = SERVICES["console"]
# The base's placeholder for the ingress controller's range (TEST-NET-1, matches no pod).
PLACEHOLDER_PROXIES = ["192.0.2.0/24"]


def literals(rendered: Rendered, target: str, name: str) -> dict[str, str]:
    """The literal environment a service's container starts with (ConfigMaps and `value`s)."""
    env = container_env(rendered, target, service_container(rendered, target, name))
    return {k: v["value"] for k, v in env.items() if "value" in v}


def console_host(rendered: Rendered, target: str) -> str:
    """The Ingress host whose every path goes to the console."""
    ingress = one(rendered, target, "Ingress", "samad")
    hosts = [
        rule["host"]
        for rule in ingress["spec"]["rules"]
        if {p["backend"]["service"]["name"] for p in rule["http"]["paths"]} == {CONSOLE}
    ]
    assert len(hosts) == 1, f"{target}: expected one console host, found {hosts}"
    return hosts[0]


# --- Deployment, Service ---------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "replicas"), [(PROD, 2), (DEV, 1)])
def test_the_console_runs_behind_its_service(rendered: Rendered, target: str, replicas: int) -> None:
    deployment = one(rendered, target, "Deployment", CONSOLE)
    assert deployment["spec"]["replicas"] == replicas
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-m", "services.console", "--port", str(PORT)]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert pod["spec"]["serviceAccountName"] == CONSOLE
    service = one(rendered, target, "Service", CONSOLE)
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}
    ]
    assert one(rendered, target, "PodDisruptionBudget", CONSOLE)["spec"]["maxUnavailable"] == 1


# --- NetworkPolicies, evaluated --------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace and labels, and its named container ports) or an address outside the cluster."""

    what: str
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    ports: dict[str, int] = field(default_factory=dict, hash=False)
    address: str | None = None

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"selector kind not evaluated here: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        # Meant for addresses outside the cluster; pods are matched by selectors.
        if other.is_pod or other.address is None:
            return False
        ip = ipaddress.ip_address(other.address)
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if not other.is_pod:
        return False
    if "namespaceSelector" in peer:
        namespace_ok = _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace})
    else:
        namespace_ok = other.namespace == policy_namespace
    return namespace_ok and _selects(peer.get("podSelector", {}), other.labels)


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str, target: Endpoint) -> bool:
    if ports is None:
        return True
    for rule_port in ports:
        assert "endPort" not in rule_port, rule_port
        number = rule_port.get("port")
        if isinstance(number, str):
            number = target.ports.get(number)
        if rule_port.get("protocol", "TCP") == protocol and number in (None, port):
            return True
    return False


def _admitted(
    policies: list[dict[str, Any]], pod: Endpoint, direction: str, other: Endpoint, port: int, protocol: str
) -> bool:
    """Whether the policies selecting ``pod`` let ``other`` through in ``direction`` (a pod no policy
    of that direction selects is not isolated)."""
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    target = pod if direction == "Ingress" else other
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and direction in p["spec"]["policyTypes"]
        and _selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    return any(
        _port_matches(rule.get("ports"), port, protocol, target)
        and (
            peers_key not in rule
            or any(_peer_matches(peer, p["metadata"]["namespace"], other) for peer in rule[peers_key])
        )
        for p in selecting
        for rule in p["spec"].get(key, [])
    )


def strimzi_listener_policy(kafka: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The NetworkPolicy Strimzi makes for the brokers from each listener's networkPolicyPeers."""
    return {
        "metadata": {"name": "samad-network-policy-kafka", "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {"strimzi.io/cluster": "samad", "strimzi.io/kind": "Kafka"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"ports": [{"port": lsn["port"], "protocol": "TCP"}], "from": lsn["networkPolicyPeers"]}
                for lsn in kafka["spec"]["kafka"]["listeners"]
            ],
        },
    }


@dataclass
class Network:
    policies: list[dict[str, Any]]
    pods: dict[str, Endpoint]

    def allows(self, source: str, destination: str, port: int, protocol: str = "TCP") -> bool:
        src, dst = self.pods[source], self.pods[destination]
        return (not src.is_pod or _admitted(self.policies, src, "Egress", dst, port, protocol)) and (
            not dst.is_pod or _admitted(self.policies, dst, "Ingress", src, port, protocol)
        )


def network(rendered: Rendered, target: str) -> Network:
    namespace = one(rendered, target, "Deployment", CONSOLE)["metadata"]["namespace"]
    pods: dict[str, Endpoint] = {}
    for deployment in objects(rendered, target, "Deployment"):
        template = deployment["spec"]["template"]
        ports = {
            p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])
        }
        name = deployment["metadata"]["name"].removeprefix("samad-")
        pods[name] = Endpoint(name, namespace, dict(template["metadata"]["labels"]), ports)
    (job,) = [o for o in rendered["jobs/offsets-show"] if o["kind"] == "Job"]
    pods["ops-job"] = Endpoint("ops-job", namespace, dict(job["spec"]["template"]["metadata"]["labels"]))
    labels = {
        "kafka": (namespace, {"strimzi.io/cluster": "samad", "strimzi.io/kind": "Kafka"}),
        "mongodb": (namespace, {"app": "samad-mongodb-svc"}),
        "dns": ("kube-system", {"k8s-app": "kube-dns"}),
        "ingress-controller": ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}),
        "prometheus": ("monitoring", {"app.kubernetes.io/name": "prometheus"}),
        "stranger": ("default", {"app.kubernetes.io/name": "samad-intake"}),
    }
    for name, (ns, pod_labels) in labels.items():
        pods[name] = Endpoint(name, ns, pod_labels)
    # The identity provider: outside the cluster (TEST-NET-3).
    pods["identity-provider"] = Endpoint("identity-provider", address="203.0.113.10")
    policies = objects(rendered, target, "NetworkPolicy")
    policies.append(strimzi_listener_policy(one(rendered, target, "Kafka", "samad"), namespace))
    return Network(policies, pods)


CONSOLE_PATHS = [
    # (source, destination, port, protocol, allowed)
    ("ingress-controller", "console", PORT, "TCP", True),
    ("prometheus", "console", PORT, "TCP", True),
    ("console", "intake", SERVICES["intake"], "TCP", True),
    ("console", "tracking", SERVICES["tracking"], "TCP", True),
    ("console", "notify", SERVICES["notify"], "TCP", True),
    ("console", "routing", SERVICES["routing"], "TCP", True),
    ("console", "kafka", 9093, "TCP", True),
    ("console", "mongodb", 27017, "TCP", True),
    ("console", "dns", 53, "UDP", True),
    ("console", "dns", 53, "TCP", True),
    ("console", "identity-provider", 443, "TCP", True),
    # Nothing else reaches the console; it reaches nothing else.
    ("intake", "console", PORT, "TCP", False),
    ("tracking", "console", PORT, "TCP", False),
    ("ops-job", "console", PORT, "TCP", False),
    ("stranger", "console", PORT, "TCP", False),
    ("ingress-controller", "console", 8080, "TCP", False),
    ("console", "kafka", 9092, "TCP", False),
    ("console", "intake", 8080, "TCP", False),
    ("console", "identity-provider", 80, "TCP", False),
    ("console", "prometheus", 9090, "TCP", False),
    # The console's way in to the services is its own: other pods gained none.
    ("routing", "intake", SERVICES["intake"], "TCP", False),
    ("routing", "tracking", SERVICES["tracking"], "TCP", False),
    ("notify", "intake", SERVICES["intake"], "TCP", False),
    ("intake", "tracking", SERVICES["tracking"], "TCP", True),
    # Notify hands the reads of its SMS ledger to tracking's read audit.
    ("notify", "tracking", SERVICES["tracking"], "TCP", True),
]


@pytest.mark.parametrize("target", OVERLAYS)
def test_network_policies_let_the_console_reach_what_it_calls_and_nothing_else(
    rendered: Rendered, target: str
) -> None:
    net = network(rendered, target)
    wrong = [
        f"{src} -> {dst}:{port}/{proto} {'blocked' if want else 'allowed'}"
        for src, dst, port, proto, want in CONSOLE_PATHS
        if net.allows(src, dst, port, proto) != want
    ]
    assert not wrong, wrong


def test_the_evaluator_isolates_only_selected_pods() -> None:
    policy = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "a"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "b"}}}], "ports": [{"port": 80}]}],
        },
    }
    pods = {
        "a": Endpoint("a", "ns", {"app": "a"}),
        "b": Endpoint("b", "ns", {"app": "b"}),
        "b-elsewhere": Endpoint("b-elsewhere", "other", {"app": "b"}),
        "c": Endpoint("c", "ns", {"app": "c"}),
    }
    net = Network([policy], pods)
    assert net.allows("b", "a", 80) and not net.allows("b", "a", 81)
    assert not net.allows("c", "a", 80) and not net.allows("b-elsewhere", "a", 80)
    assert net.allows("a", "c", 1234)  # c is selected by no policy: not isolated


# --- production settings ---------------------------------------------------------------------------


def as_pod(rendered: Rendered, target: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's SAMAD_ environment made that of a console pod of ``target`` (its literal
    variables; the Secrets' values are not known here)."""
    env = literals(rendered, target, CONSOLE)
    for key in [k for k in os.environ if k.startswith("SAMAD_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def console_env(rendered: Rendered, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The environment of a prod console pod."""
    yield as_pod(rendered, PROD, monkeypatch)


def test_prod_console_is_served_over_https_on_its_ingress_host(
    rendered: Rendered, console_env: dict[str, str]
) -> None:
    settings = ConsoleSettings()
    url = urlsplit(settings.console_url)
    assert url.scheme == "https", settings.console_url
    host = console_host(rendered, PROD)
    assert url.hostname == host and url.path in ("", "/")
    ingress = one(rendered, PROD, "Ingress", "samad")
    assert host in {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    # The console calls each service at its Service's name and port.
    for svc, port in SERVICES.items():
        if svc == "console":
            continue
        service = one(rendered, PROD, "Service", f"samad-{svc}")
        assert getattr(settings, f"{svc}_url") == f"http://{service['metadata']['name']}:{port}", svc
        assert service["spec"]["ports"][0]["port"] == port
    assert console_env["SAMAD_DB_NAME"] == "samad_console"


def _console(identity: Any = None) -> TestClient:
    container = bootstrap(
        sessions=InMemorySessionStore(),
        counters=InMemoryCounters(),
        identity=identity,
        with_broker=False,
    )
    return TestClient(create_app(container), base_url=container.settings.console_url)


def test_prod_console_starts_and_its_session_cookie_is_secure(console_env: dict[str, str]) -> None:
    # The lifespan refuses development secrets in production: the prod settings pass.
    with _console() as client:
        response = client.get("/status")
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite"} <= attributes, cookie
    assert "samesite=lax" in cookie.lower()


def test_over_plain_http_the_cookie_is_not_secure(
    console_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other half of the rule: the Secure flag follows SAMAD_CONSOLE_URL (compose, `make up`)."""
    monkeypatch.setenv("SAMAD_ENVIRONMENT", "development")
    monkeypatch.setenv("SAMAD_CONSOLE_URL", "http://127.0.0.1:8005")
    with _console() as client:
        cookie = client.get("/status").headers["set-cookie"]
    assert "secure" not in {part.strip().lower() for part in cookie.split(";")}, cookie


class RecordingIdentity:
    """An identity provider that records where the console asks it to send the browser back."""

    def __init__(self) -> None:
        self.redirects: list[str] = []

    async def start(self, request: Request, redirect_uri: str) -> RedirectResponse:
        self.redirects.append(redirect_uri)
        return RedirectResponse("https://sso.invalid/auth", status_code=302)

    async def finish(self, request: Request) -> dict[str, Any]:
        raise NotImplementedError

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        raise NotImplementedError

    async def logout_url(self, id_token: str | None, redirect_uri: str) -> str:
        raise NotImplementedError


def keycloak_client(target: str) -> dict[str, Any]:
    path = ROOT / "deploy" / "k8s" / target / "keycloak" / "samad-console.json"
    client: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return client


@pytest.mark.parametrize("target", OVERLAYS)
def test_the_providers_console_client_returns_sign_ins_to_the_overlays_host(
    rendered: Rendered, target: str
) -> None:
    env = literals(rendered, target, CONSOLE)
    url = env["SAMAD_CONSOLE_URL"].rstrip("/")
    client = keycloak_client(target)
    assert url == f"https://{console_host(rendered, target)}"
    assert client["clientId"] == env["SAMAD_CONSOLE_CLIENT_ID"] == "samad-console"
    # Exactly the callback, no wildcard: the provider sends codes nowhere else.
    assert client["redirectUris"] == [f"{url}/auth/callback"]
    assert client["attributes"]["post.logout.redirect.uris"] == f"{url}/"
    assert client["webOrigins"] == [url]
    # A public client with the authorisation code flow and PKCE only, as the local realm's.
    realm = json.loads((ROOT / "deploy" / "local" / "keycloak" / "samad-realm.json").read_text())
    (local,) = [c for c in realm["clients"] if c["clientId"] == "samad-console"]
    addresses = {"redirectUris", "webOrigins", "description", "attributes"}
    assert {k: v for k, v in client.items() if k not in addresses} == {
        k: v for k, v in local.items() if k not in addresses
    }
    assert client["publicClient"] and client["standardFlowEnabled"]
    assert not (client["implicitFlowEnabled"] or client["directAccessGrantsEnabled"])
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    # The realm is the one the console signs in with.
    issuer = literals(rendered, target, CONSOLE)["SAMAD_AUTH_ISSUER"]
    assert urlsplit(issuer).scheme == "https" and issuer.rstrip("/").endswith("/realms/samad")


def test_prod_console_asks_for_the_registered_redirect_uri(console_env: dict[str, str]) -> None:
    identity = RecordingIdentity()
    with _console(identity) as client:
        response = client.get("/login", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert identity.redirects == keycloak_client(PROD)["redirectUris"]


# --- forwarded addresses: the console behind the controller, tracking behind the console ------------


def _networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(c) for c in json.loads(value)]


def _request(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 443)})


def test_prod_console_counts_each_citizen_by_the_address_the_controller_saw(rendered: Rendered) -> None:
    trusted = json.loads(literals(rendered, PROD, CONSOLE)["SAMAD_TRUSTED_PROXIES"])
    assert trusted and trusted != PLACEHOLDER_PROXIES, f"prod must set the controller's range: {trusted}"
    for cidr in trusted:
        network_ = ipaddress.ip_network(cidr)
        assert network_.is_private and network_.prefixlen >= 8, cidr
    controller = str(next(ipaddress.ip_network(trusted[0]).hosts()))
    citizen = "198.51.100.7"
    assert client_address(_request(controller, citizen), trusted) == citizen
    # ingress-nginx appends the address it saw: what the client wrote before it is not believed.
    assert client_address(_request(controller, f"203.0.113.99, {citizen}"), trusted) == citizen
    # Not from the controller: the peer itself, whatever it claims.
    assert client_address(_request("198.51.100.200", citizen), trusted) == "198.51.100.200"
    # The base's placeholder is still in dev: it matches no pod, nothing is believed there.
    dev = json.loads(literals(rendered, DEV, CONSOLE)["SAMAD_TRUSTED_PROXIES"])
    assert client_address(_request(controller, citizen), dev) == controller


def test_prod_tracking_trusts_the_console_pods_that_forward_each_citizens_address(rendered: Rendered) -> None:
    """The console forwards each citizen's address to tracking in X-Forwarded-For. SAMAD_TRUSTED_PROXIES
    is a list of networks and cannot name pods: the console's pods get their addresses from the
    cluster's pod network, the same network prod names for the ingress controller's pods (the console's
    own SAMAD_TRUSTED_PROXIES). Tracking's list must cover it; its NetworkPolicy narrows who may connect
    (test_network_policies_let_the_console_reach_what_it_calls_and_nothing_else)."""
    tracking = _networks(literals(rendered, PROD, "samad-tracking")["SAMAD_TRUSTED_PROXIES"])
    console_pod_network = _networks(literals(rendered, PROD, CONSOLE)["SAMAD_TRUSTED_PROXIES"])
    for network_ in console_pod_network:
        assert any(network_.subnet_of(t) for t in tracking if t.version == network_.version), (
            f"tracking does not trust the console's pods ({network_}): {tracking}"
        )
    # Who may connect to tracking and send the header: the controller and the console (Prometheus and
    # intake connect too; intake sends no X-Forwarded-For).
    net = network(rendered, PROD)
    assert net.allows("console", "tracking", SERVICES["tracking"])
    assert net.allows("ingress-controller", "tracking", SERVICES["tracking"])


async def test_the_console_forwards_the_citizens_address_to_tracking_as_prod_configures_it(
    rendered: Rendered,
) -> None:
    env = literals(rendered, PROD, CONSOLE)
    seen: list[httpx.Request] = []

    def tracking(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"tracking_code": "TRK-1403-000123"})

    platform = HttpPlatform(
        intake=env["SAMAD_INTAKE_URL"],
        tracking=env["SAMAD_TRACKING_URL"],
        routing=env["SAMAD_ROUTING_URL"],
        notify=env["SAMAD_NOTIFY_URL"],
        timeout=5.0,
        http=httpx.AsyncClient(transport=httpx.MockTransport(tracking)),
    )
    try:
        await platform.citizen_status("TRK-1403-000123", "1234", "198.51.100.7")
    finally:
        await platform.close()
    (request,) = seen
    assert request.url.host == "samad-tracking" and request.url.port == SERVICES["tracking"]
    assert request.headers["x-forwarded-for"] == "198.51.100.7"


# --- Kafka and MongoDB identities ------------------------------------------------------------------


@pytest.mark.parametrize("target", OVERLAYS)
def test_the_console_reads_the_case_and_sms_topics_in_groups_of_its_own_and_writes_nothing(
    rendered: Rendered, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = one(rendered, target, "KafkaUser", CONSOLE)
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    acls = user["spec"]["authorization"]["acls"]
    topics = {a["resource"]["name"] for a in acls if a["resource"]["type"] == "topic"}
    assert topics == {CASES, NOTIFICATIONS}
    assert all(set(a["operations"]) <= {"Read", "Describe"} for a in acls), "the console writes nothing"
    assert all(
        a["resource"].get("patternType", "literal") == "literal"
        for a in acls
        if a["resource"]["type"] == "topic"
    )
    (group,) = [a["resource"] for a in acls if a["resource"]["type"] == "group"]
    assert not [a for a in acls if a["resource"]["type"] not in ("topic", "group")]
    # Each replica's group is the console's group plus its pod name: the ACL's prefix must be exactly
    # the console's group and a dot, so no other service's group shares it.
    as_pod(rendered, target, monkeypatch)
    monkeypatch.setattr("socket.gethostname", lambda: "samad-console-7d9c8-x2x4q")
    container = bootstrap(sessions=InMemorySessionStore(), counters=InMemoryCounters(), with_broker=False)
    asyncio.run(container.shutdown())
    assert group == {
        "type": "group",
        "name": f"{ConsoleSettings().group('console')}.",
        "patternType": "prefix",
    }
    assert container.consumer_group == f"{group['name']}samad-console-7d9c8-x2x4q"
    env = {e["name"]: e for e in service_container(rendered, target, CONSOLE)["env"]}
    assert env["SAMAD_KAFKA_SASL_USERNAME"]["value"] == CONSOLE
    assert env["SAMAD_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": CONSOLE,
        "key": "password",
    }


# --- every variable set is read ----------------------------------------------------------------------

SETTINGS: dict[str, type[BaseSettings]] = {
    "intake": IntakeSettings,
    "tracking": TrackingSettings,
    "notify": NotifySettings,
    "routing": RoutingSettings,
    "console": ConsoleSettings,
}
# Read outside a settings class: the port `python -m services.<name>` listens on by default.
READ_ELSEWHERE = {"SAMAD_HTTP_PORT"}


def variables_read(settings: type[BaseSettings]) -> set[str]:
    names = set(READ_ELSEWHERE)
    for cls in (settings, AuthSettings):
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            names.add((alias if isinstance(alias, str) else prefix + name).upper())
    return names


@pytest.mark.parametrize("svc", list(SETTINGS))
def test_every_variable_the_manifests_set_is_one_the_service_reads(rendered: Rendered, svc: str) -> None:
    """A misspelt or stale variable is silently ignored by the service (extra="ignore"): catch it here."""
    assert set(SETTINGS) == set(SERVICES)
    read = variables_read(SETTINGS[svc])
    for target in OVERLAYS:
        env = container_env(rendered, target, service_container(rendered, target, f"samad-{svc}"))
        unread = sorted(name for name in env if name.startswith("SAMAD_") and name.upper() not in read)
        assert not unread, f"{target} samad-{svc} sets variables it never reads: {unread}"
