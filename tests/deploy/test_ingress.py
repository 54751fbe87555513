"""What the Ingress exposes, on which host, and that the NetworkPolicies let the ingress controller through."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest
from fastapi import APIRouter

import services.console.entrypoints as console_entrypoints
from tests.deploy.conftest import objects, one

Rendered = dict[str, list[dict[str, Any]]]
OVERLAYS = ("overlays/dev", "overlays/prod")
# ingressClassName nginx: the ingress-nginx controller, in its own namespace (docs/deploy.md).
CONTROLLER_NAMESPACE = "ingress-nginx"

# Requests as the services define them, and the Service each must reach, by host (first label).
ROUTES = {
    "api": {
        "/v1/calls": "samad-intake",
        "/v1/calls/with-case": "samad-intake",
        "/v1/cases": "samad-intake",
        "/v1/categories": "samad-intake",
        "/open311/v2/requests.json": "samad-intake",
        "/open311/v2/services.json": "samad-intake",
    },
    "staff": {
        # routing: triage queue, routing history, classifier, duty roster (public and supervisor).
        "/v1/triage": "samad-routing",
        "/v1/triage/0f3c2a9e-case": "samad-routing",
        "/v1/routing/cases/0f3c2a9e-case": "samad-routing",
        "/v1/classify": "samad-routing",
        "/v1/roster": "samad-routing",
        "/v1/roster/current": "samad-routing",
        "/v1/roster/feed.json": "samad-routing",
        "/v1/roster/calendar.ics": "samad-routing",
        "/v1/roster/7d1e-entry": "samad-routing",
        # notify: opt-outs and the SMS ledger.
        "/v1/optouts": "samad-notify",
        "/v1/optouts/+989121234567": "samad-notify",
        "/v1/sms": "samad-notify",
        # tracking: everything else on the staff host.
        "/v1/cases/TRK-1403-000123": "samad-tracking",
        "/v1/cases/TRK-1403-000123/actions": "samad-tracking",
        "/v1/agencies/fire/cases": "samad-tracking",
        "/v1/reports/funnel.csv": "samad-tracking",
        # Prefixes match whole path segments: these are not routing's or notify's.
        "/v1/rosters": "samad-tracking",
        "/v1/smsx": "samad-tracking",
    },
    "status": {
        "/v1/status/TRK-1403-000123": "samad-tracking",
    },
    # The console's own host: the citizen's pages, the staff's, sign-in, live updates, its assets.
    "console": {
        "/": "samad-console",
        "/status": "samad-console",
        "/register/phone": "samad-console",
        "/register/done": "samad-console",
        "/desk": "samad-console",
        "/desk/cases/TRK-1403-000123": "samad-console",
        "/login": "samad-console",
        "/auth/callback": "samad-console",
        "/logout": "samad-console",
        "/live/cases/0f3c2a9e-case": "samad-console",
        "/static/fonts/Vazirmatn-Regular.woff2": "samad-console",
        "/static/vendor/htmx.min.js": "samad-console",
        # Segments, not strings: these are none of the console's prefixes.
        "/desktop": None,
        "/statusx": None,
    },
}
# Inside the cluster only, on every host: probes, metrics, the API docs, and a path no service serves.
INTERNAL_PATHS = (
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/v2/cases",
)
# Only the console serves a page at "/"; on the other hosts it is internal too.
ROOT_SERVED_BY = {"console": "samad-console"}


def _prefix_matches(prefix: str, request: str) -> bool:
    """Kubernetes' pathType Prefix: element-wise on "/"-separated segments (a trailing "/" ignored)."""
    want = [p for p in prefix.split("/") if p]
    have = [p for p in request.split("/") if p]
    return have[: len(want)] == want


def resolve(ingress: dict[str, Any], host_label: str, request: str) -> str | None:
    """The Service a request reaches on the host's rule, or None: the longest matching path wins, and
    of two equally long an Exact one (Kubernetes' Ingress precedence)."""
    (rule,) = [r for r in ingress["spec"]["rules"] if r["host"].split(".")[0] == host_label]
    best: tuple[int, bool, str] | None = None
    for path in rule["http"]["paths"]:
        kind = path["pathType"]
        assert kind in ("Prefix", "Exact"), path
        matched = request == path["path"] if kind == "Exact" else _prefix_matches(path["path"], request)
        if matched:
            candidate = (len(path["path"].rstrip("/")), kind == "Exact", path["backend"]["service"]["name"])
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    return best[2] if best else None


def test_resolve_follows_kubernetes_path_matching() -> None:
    ingress = {
        "spec": {
            "rules": [
                {
                    "host": "h.example",
                    "http": {
                        "paths": [
                            {"path": p, "pathType": t, "backend": {"service": {"name": n}}}
                            for p, t, n in (
                                ("/", "Exact", "root"),
                                ("/a", "Prefix", "a"),
                                ("/a/b", "Prefix", "ab"),
                                ("/a/b", "Exact", "ab-exact"),
                            )
                        ]
                    },
                }
            ]
        }
    }
    assert resolve(ingress, "h", "/") == "root"
    assert resolve(ingress, "h", "/x") is None  # an Exact "/" is not a catch-all
    assert resolve(ingress, "h", "/a/c") == "a"
    assert resolve(ingress, "h", "/ab") is None
    assert resolve(ingress, "h", "/a/b") == "ab-exact"
    assert resolve(ingress, "h", "/a/b/c") == "ab"


def console_pages() -> set[str]:
    """Every path the console's page routers serve (auth, citizen, desk, live, and any added later),
    with each {parameter} filled in, plus a file under its /static mount."""
    paths = {"/static/fonts/vazirmatn.css"}
    for info in pkgutil.iter_modules(console_entrypoints.__path__):
        module = importlib.import_module(f"{console_entrypoints.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            for route in router.routes:
                paths.add(re.sub(r"\{[^}]+\}", "x1", getattr(route, "path", "")))
    return paths


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_request_reaches_the_service_that_serves_it(rendered: Rendered, overlay: str) -> None:
    ingress = one(rendered, overlay, "Ingress", "samad")
    wrong = {
        (host, request): (resolve(ingress, host, request), service)
        for host, routes in ROUTES.items()
        for request, service in routes.items()
        if resolve(ingress, host, request) != service
    }
    assert not wrong, f"(host, path): (reached, expected): {wrong}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_console_page_is_reachable_on_the_console_host(rendered: Rendered, overlay: str) -> None:
    ingress = one(rendered, overlay, "Ingress", "samad")
    pages = console_pages()
    assert {"/", "/status", "/register", "/desk", "/login", "/auth/callback", "/logout"} <= pages
    unreachable = sorted(p for p in pages if resolve(ingress, "console", p) != "samad-console")
    assert not unreachable, f"console pages the Ingress does not route to the console: {unreachable}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_host_reaches_only_its_own_services(rendered: Rendered, overlay: str) -> None:
    ingress = one(rendered, overlay, "Ingress", "samad")
    backends = {
        rule["host"].split(".")[0]: {p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
        for rule in ingress["spec"]["rules"]
    }
    assert backends == {
        "api": {"samad-intake"},
        "staff": {"samad-routing", "samad-notify", "samad-tracking"},
        "status": {"samad-tracking"},
        "console": {"samad-console"},
    }
    assert {h for t in ingress["spec"]["tls"] for h in t["hosts"]} == {
        r["host"] for r in ingress["spec"]["rules"]
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_metrics_and_docs_stay_inside_the_cluster(rendered: Rendered, overlay: str) -> None:
    ingress = one(rendered, overlay, "Ingress", "samad")
    for rule in ingress["spec"]["rules"]:
        host = rule["host"].split(".")[0]
        exposed = {path: resolve(ingress, host, path) for path in INTERNAL_PATHS}
        assert not {p: s for p, s in exposed.items() if s}, f"{host}: {exposed}"
        assert resolve(ingress, host, "/") == ROOT_SERVED_BY.get(host), host


def _admits(policy: dict[str, Any], port: int, port_name: str, namespace: str) -> bool:
    """Whether one of the policy's ingress rules admits TCP to the pod port from pods in namespace."""
    for rule in policy["spec"].get("ingress", []):
        ports = rule.get("ports")
        port_ok = ports is None or any(
            p.get("protocol", "TCP") == "TCP" and p.get("port") in (None, port, port_name) for p in ports
        )
        peers = rule.get("from")
        peer_ok = peers is None or any(
            peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            == namespace
            for peer in peers
        )
        if port_ok and peer_ok:
            return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_ingress_backend_admits_the_ingress_controller_on_its_http_port(
    rendered: Rendered, overlay: str
) -> None:
    ingress = one(rendered, overlay, "Ingress", "samad")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    backends = {
        (path["backend"]["service"]["name"], path["backend"]["service"]["port"]["name"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert {name for name, _ in backends} >= {"samad-routing", "samad-notify", "samad-console"}
    policies = objects(rendered, overlay, "NetworkPolicy")
    for service_name, port_name in sorted(backends):
        service = one(rendered, overlay, "Service", service_name)
        (service_port,) = [p for p in service["spec"]["ports"] if p["name"] == port_name]
        selector = service["spec"]["selector"]
        # The pods behind the Service, and the container port the Service's targetPort names.
        deployments = [
            d
            for d in objects(rendered, overlay, "Deployment")
            if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        assert len(deployments) == 1, f"{service_name}: {len(deployments)} Deployments behind it"
        template = deployments[0]["spec"]["template"]
        labels = template["metadata"]["labels"]
        (container_port,) = [
            p
            for c in template["spec"]["containers"]
            for p in c.get("ports", [])
            if service_port["targetPort"] in (p["name"], p["containerPort"])
        ]
        covering = [
            p
            for p in policies
            if "Ingress" in p["spec"]["policyTypes"]
            and all(labels.get(k) == v for k, v in p["spec"]["podSelector"].get("matchLabels", {}).items())
        ]
        assert covering, f"{service_name}: no NetworkPolicy selects its pods"
        assert any(
            _admits(p, container_port["containerPort"], container_port["name"], CONTROLLER_NAMESPACE)
            for p in covering
        ), (
            f"{overlay}: the ingress routes to {service_name}, but no NetworkPolicy admits "
            f"{CONTROLLER_NAMESPACE} on port {container_port['containerPort']}"
        )
