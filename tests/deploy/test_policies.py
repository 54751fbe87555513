"""Policies the manifests keep: security, probes, limits, secrets, autoscaling bounds and Kafka/MongoDB shape."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pymongo.uri_parser import parse_uri

from contracts.topics import TOPICS
from services.common.settings import ServiceSettings
from tests.deploy.conftest import SERVICES, objects, one

Rendered = dict[str, list[dict[str, Any]]]
OVERLAYS = ("overlays/dev", "overlays/prod")
PARTITIONS = {t.name: t.partitions for t in TOPICS}
SECRET_WORDS = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|APIKEY|PRIVATE|CREDENTIAL|_KEYS?$", re.I)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def pod_specs(objs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(ref, pod template metadata, pod spec) of every workload."""
    found = []
    for obj in objs:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        if obj["kind"] == "CronJob":
            template = obj["spec"]["jobTemplate"]["spec"]["template"]
        else:
            template = obj["spec"]["template"]
        found.append(
            (f"{obj['kind']}/{obj['metadata']['name']}", template.get("metadata", {}), template["spec"])
        )
    return found


def all_pods(rendered: Rendered) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [pod for objs in rendered.values() for pod in pod_specs(objs)]


def test_there_are_workloads_to_check(rendered: Rendered) -> None:
    refs = {ref for ref, _, _ in all_pods(rendered)}
    assert {f"Deployment/samad-{s}" for s in SERVICES} <= refs
    assert {"Job/samad-offsets-show", "Job/samad-replay-rebuild-tracking"} <= refs


def test_every_container_is_non_root_read_only_and_unprivileged(rendered: Rendered) -> None:
    for ref, _, spec in all_pods(rendered):
        pod_ctx = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, ref
        for container in spec.get("initContainers", []) + spec["containers"]:
            ctx = container.get("securityContext", {})
            where = f"{ref} {container['name']}"
            assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, where
            assert (ctx.get("runAsUser", pod_ctx.get("runAsUser")) or 0) > 0, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("privileged", False) is False, where
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not ctx.get("capabilities", {}).get("add"), where
            seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", where
            # A read-only root needs a writable /tmp (Python, uvicorn and TLS libraries write there).
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]], where


def test_every_container_has_requests_and_limits(rendered: Rendered) -> None:
    for ref, _, spec in all_pods(rendered):
        for container in spec["containers"]:
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), (
                    f"{ref} {container['name']} {bound}"
                )


def test_every_service_has_liveness_readiness_and_startup_probes(rendered: Rendered) -> None:
    for overlay in OVERLAYS:
        for svc, port in SERVICES.items():
            deployment = one(rendered, overlay, "Deployment", f"samad-{svc}")
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            assert container["command"] == ["python", "-m", f"services.{svc}", "--port", str(port)]
            assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_the_grace_period_outlasts_the_graceful_shutdown(rendered: Rendered) -> None:
    graceful = ServiceSettings().graceful_timeout_seconds
    for overlay in OVERLAYS:
        common = next(
            c
            for c in objects(rendered, overlay, "ConfigMap")
            if c["metadata"]["name"].startswith("samad-common")
        )
        configured = float(common["data"]["SAMAD_GRACEFUL_TIMEOUT_SECONDS"])
        assert configured == graceful
        for ref, _, spec in pod_specs(rendered[overlay]):
            pre_stop = (
                spec["containers"][0]
                .get("lifecycle", {})
                .get("preStop", {})
                .get("sleep", {})
                .get("seconds", 0)
            )
            # SIGTERM arrives after preStop; the consumers then need graceful_timeout to finish and commit.
            assert spec["terminationGracePeriodSeconds"] > pre_stop + configured, ref
            assert spec["terminationGracePeriodSeconds"] >= pre_stop + configured + 10, (
                f"{ref}: leave time to commit"
            )


def test_no_image_uses_latest_or_floats(rendered: Rendered) -> None:
    for ref, _, spec in all_pods(rendered):
        for container in spec.get("initContainers", []) + spec["containers"]:
            image = container["image"]
            name, _, tag = image.partition("@")[0].rpartition(":")
            assert name and "/" in name, f"{ref}: {image} is not a full image reference"
            assert tag and tag != "latest" and re.search(r"\d", tag), f"{ref}: {image} has no pinned tag"
            assert container.get("imagePullPolicy") == "IfNotPresent", ref


def test_no_secret_values_in_configmaps_or_manifests(rendered: Rendered) -> None:
    for target, objs in rendered.items():
        # Secrets are created in the cluster (docs/deploy.md), never rendered from the repository.
        assert not [o for o in objs if o["kind"] == "Secret"], target
        for cm in (o for o in objs if o["kind"] == "ConfigMap"):
            for key, value in cm.get("data", {}).items():
                assert not SECRET_WORDS.search(key), f"{target} {cm['metadata']['name']}: {key}"
                assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", value), (
                    f"{target}: credentials in a URL ({key})"
                )
        for ref, _, spec in pod_specs(objs):
            for container in spec["containers"]:
                for env in container.get("env", []):
                    if SECRET_WORDS.search(env["name"]) or env["name"] == "SAMAD_MONGO_URL":
                        assert "value" not in env, f"{target} {ref}: {env['name']} must come from a Secret"
                        assert "secretKeyRef" in env["valueFrom"], f"{target} {ref}: {env['name']}"


def test_every_workload_is_fenced_by_network_policies(rendered: Rendered) -> None:
    for target in OVERLAYS:
        policies = objects(rendered, target, "NetworkPolicy")
        for ref, meta, _ in pod_specs(rendered[target]) + pod_specs(rendered["jobs/offsets-show"]):
            labels = meta.get("labels", {})
            covering = [
                p
                for p in policies
                if p["spec"]["podSelector"].get("matchLabels")
                and all(labels.get(k) == v for k, v in p["spec"]["podSelector"]["matchLabels"].items())
            ]
            types = {t for p in covering for t in p["spec"]["policyTypes"]}
            assert {"Ingress", "Egress"} <= types, f"{target} {ref} is not fenced both ways"


def test_network_policies_allow_only_the_needed_paths(rendered: Rendered) -> None:
    def ports(policy: dict[str, Any], direction: str) -> set[int]:
        return {p["port"] for rule in policy["spec"].get(direction, []) for p in rule.get("ports", [])}

    prod = "overlays/prod"
    for svc, port in SERVICES.items():
        policy = one(rendered, prod, "NetworkPolicy", f"samad-{svc}")
        assert ports(policy, "ingress") == {port}
        egress = ports(policy, "egress")
        assert {53, 9093, 27017} <= egress
        expected_extra = {
            "intake": {8002},
            # SMPP plain and over TLS (ssmpp); tracking's read audit.
            "notify": {443, 2775, 3550, 8002},
            # The console calls the four services' APIs.
            "console": {port for other, port in SERVICES.items() if other != "console"},
        }.get(svc, set())
        assert egress - {53, 9093, 27017} == expected_extra, svc

    def pod_sources(svc: str) -> set[str]:
        """The pods of the namespace (by name label) the service's policy admits."""
        return {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in one(rendered, prod, "NetworkPolicy", f"samad-{svc}")["spec"]["ingress"]
            for peer in rule["from"]
            if "namespaceSelector" not in peer
        }

    assert pod_sources("tracking") == {"samad-intake", "samad-console", "samad-notify"}
    for svc in ("intake", "routing", "notify"):
        assert pod_sources(svc) == {"samad-console"}, svc
    # Nothing in the namespace calls the console: browsers come through the ingress controller.
    assert pod_sources("console") == set()


def test_every_service_has_a_service_a_pdb_and_a_servicemonitor(rendered: Rendered) -> None:
    for overlay in OVERLAYS:
        for svc, port in SERVICES.items():
            name = f"samad-{svc}"
            selector = one(rendered, overlay, "Deployment", name)["spec"]["selector"]["matchLabels"]
            service = one(rendered, overlay, "Service", name)
            assert service["spec"]["selector"] == selector
            assert service["spec"]["ports"][0]["port"] == port
            assert (
                one(rendered, overlay, "PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"]
                == selector
            )
            monitor = one(rendered, overlay, "ServiceMonitor", name)
            assert monitor["spec"]["selector"]["matchLabels"] == selector
            assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
            assert monitor["spec"]["endpoints"][0]["port"] == "http"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_match_the_contracts(rendered: Rendered, overlay: str) -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in objects(rendered, overlay, "KafkaTopic")}
    assert set(topics) == {t.name for t in TOPICS}
    for spec in TOPICS:
        topic = topics[spec.name]
        assert topic["partitions"] == spec.partitions
        for key, value in spec.config.items():
            assert str(topic["config"][key]) == value, (spec.name, key)
        assert "min.insync.replicas" in topic["config"]


def test_prod_kafka_survives_a_broker_loss_and_dev_fits_one_node(rendered: Rendered) -> None:
    for overlay, nodes, rf, isr in (("overlays/prod", 3, 3, 2), ("overlays/dev", 1, 1, 1)):
        pool = one(rendered, overlay, "KafkaNodePool", "dual-role")
        assert pool["spec"]["replicas"] == nodes
        assert set(pool["spec"]["roles"]) == {"controller", "broker"}
        kafka = one(rendered, overlay, "Kafka", "samad")
        assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
        assert "zookeeper" not in kafka["spec"]
        config = kafka["spec"]["kafka"]["config"]
        assert config["default.replication.factor"] == rf
        assert config["min.insync.replicas"] == isr
        assert config["auto.create.topics.enable"] is False
        for topic in objects(rendered, overlay, "KafkaTopic"):
            assert topic["spec"]["replicas"] == rf
            assert topic["spec"]["config"]["min.insync.replicas"] == isr
        listeners = kafka["spec"]["kafka"]["listeners"]
        assert all(lsn["tls"] and lsn["authentication"]["type"] == "scram-sha-512" for lsn in listeners)
        assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"


ACCESS = {
    # service: (reads, writes) on top of the dead-letter topic every service writes to.
    "intake": ({"samad.cases.v1"}, {"samad.calls.v1", "samad.cases.v1"}),
    "routing": ({"samad.cases.v1"}, {"samad.cases.v1"}),
    "tracking": ({"samad.calls.v1", "samad.cases.v1", "samad.notifications.v1"}, {"samad.cases.v1"}),
    "notify": ({"samad.cases.v1"}, {"samad.notifications.v1"}),
}


def test_each_kafka_user_may_touch_only_its_own_topics_and_group(rendered: Rendered) -> None:
    for svc, (reads, writes) in ACCESS.items():
        user = one(rendered, "overlays/prod", "KafkaUser", f"samad-{svc}")
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        granted: dict[tuple[str, str], set[str]] = {}
        for acl in user["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            assert resource.get("patternType", "literal") == "literal", (svc, resource)
            key = (resource["type"], resource["name"])
            granted.setdefault(key, set()).update(acl["operations"])
        read_topics = {name for (kind, name), ops in granted.items() if kind == "topic" and "Read" in ops}
        write_topics = {name for (kind, name), ops in granted.items() if kind == "topic" and "Write" in ops}
        groups = {name for (kind, name) in granted if kind == "group"}
        assert read_topics == reads, svc
        assert write_topics == writes | {"samad.deadletter.v1"}, svc
        assert groups == {ServiceSettings().group(svc)}, svc
        assert all(ops <= {"Read", "Write", "Describe"} for ops in granted.values()), svc
        assert not [k for k in granted if k[0] == "cluster"], svc


def test_replay_jobs_use_their_own_groups(rendered: Rendered) -> None:
    ops = one(rendered, "overlays/prod", "KafkaUser", "samad-ops")
    group_acls = [a for a in ops["spec"]["authorization"]["acls"] if a["resource"]["type"] == "group"]
    readable = [a["resource"] for a in group_acls if "Read" in a["operations"]]
    assert readable == [{"type": "group", "name": "samad.replay", "patternType": "prefix"}]


def test_lag_autoscaling_never_exceeds_the_partitions(rendered: Rendered) -> None:
    for overlay in OVERLAYS:
        scaled = {o["metadata"]["name"]: o for o in objects(rendered, overlay, "ScaledObject")}
        assert set(scaled) == {"samad-routing", "samad-tracking", "samad-notify"}
        for name, obj in scaled.items():
            svc = name.removeprefix("samad-")
            spec = obj["spec"]
            assert spec["scaleTargetRef"]["name"] == name
            topics = set()
            for trigger in spec["triggers"]:
                assert trigger["type"] == "kafka"
                assert trigger["metadata"]["consumerGroup"] == ServiceSettings().group(svc)
                topics.add(trigger["metadata"]["topic"])
                assert (
                    trigger["metadata"]["sasl"] == "scram_sha512" and trigger["metadata"]["tls"] == "enable"
                )
            assert topics == ACCESS[svc][0], name
            assert (
                1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= max(PARTITIONS[t] for t in topics)
            )


@pytest.mark.parametrize("svc", ["intake", "console"])
def test_the_http_services_scale_on_cpu(rendered: Rendered, svc: str) -> None:
    for overlay, least in (("overlays/prod", 2), ("overlays/dev", 1)):
        hpa = one(rendered, overlay, "HorizontalPodAutoscaler", f"samad-{svc}")
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"samad-{svc}"
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert hpa["spec"]["minReplicas"] == least <= hpa["spec"]["maxReplicas"]
        deployment = one(rendered, overlay, "Deployment", f"samad-{svc}")
        assert deployment["spec"]["replicas"] == least
        assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]


def test_mongodb_users_are_confined_to_their_database(rendered: Rendered) -> None:
    for overlay, members in (("overlays/prod", 3), ("overlays/dev", 1)):
        mongo = one(rendered, overlay, "MongoDBCommunity", "samad-mongodb")
        assert mongo["spec"]["members"] == members
        assert mongo["spec"]["additionalConnectionStringConfig"]["w"] == "majority"
        users = {u["name"]: u for u in mongo["spec"]["users"]}
        for svc in SERVICES:
            user = users[f"samad-{svc}"]
            # Its own database, and the citizens' data keys where it seals or opens personal data
            # (docs/privacy.md): only intake makes keys.
            own, *keys = user["roles"]
            assert own == {"name": "readWrite", "db": f"samad_{svc}"}
            assert all(r["db"] == "samad_keys" for r in keys)
            assert all(r["name"] == "read" for r in keys) or svc == "intake"
            deployment = one(rendered, overlay, "Deployment", f"samad-{svc}")
            env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
            assert (
                env["SAMAD_MONGO_URL"]["valueFrom"]["secretKeyRef"]["name"]
                == user["connectionStringSecretName"]
            )
        assert all(r["name"] in {"read", "readWrite"} for u in users.values() for r in u["roles"])


def test_each_service_reads_its_own_database_and_kafka_credentials(rendered: Rendered) -> None:
    for overlay in OVERLAYS:
        maps = {c["metadata"]["name"]: c for c in objects(rendered, overlay, "ConfigMap")}
        for svc in SERVICES:
            (container,) = one(rendered, overlay, "Deployment", f"samad-{svc}")["spec"]["template"]["spec"][
                "containers"
            ]
            refs = [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
            own = [maps[r] for r in refs if r.startswith(f"samad-{svc}-")]
            assert own and own[0]["data"]["SAMAD_DB_NAME"] == f"samad_{svc}"
            env = {e["name"]: e for e in container["env"]}
            assert env["SAMAD_KAFKA_SASL_USERNAME"]["value"] == f"samad-{svc}"
            assert env["SAMAD_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
                "name": f"samad-{svc}",
                "key": "password",
            }


def test_dev_sends_no_sms_and_prod_does(rendered: Rendered) -> None:
    def notify_config(overlay: str) -> dict[str, str]:
        for cm in objects(rendered, overlay, "ConfigMap"):
            if cm["metadata"]["name"].startswith("samad-notify-"):
                return dict(cm["data"])
        raise AssertionError(overlay)

    assert notify_config("overlays/dev")["SAMAD_SMS_PROVIDER"] == "file"
    assert notify_config("overlays/prod")["SAMAD_SMS_PROVIDER"] in {"smpp", "kavenegar"}
    dev_notify = one(rendered, "overlays/dev", "Deployment", "samad-notify")["spec"]["template"]["spec"]
    outbox = notify_config("overlays/dev")["SAMAD_SMS_FILE_PATH"]
    mounts = [m["mountPath"] for m in dev_notify["containers"][0]["volumeMounts"]]
    assert any(outbox.startswith(m + "/") for m in mounts), "the SMS outbox must be on a writable volume"


def test_operator_jobs_run_the_samad_cli_once(rendered: Rendered) -> None:
    for target, args in (
        ("jobs/offsets-show", ["offsets", "show"]),
        ("jobs/replay-rebuild-tracking", ["replay", "rebuild", "tracking"]),
    ):
        (job,) = rendered[target]
        assert job["kind"] == "Job"
        assert job["metadata"]["namespace"] == "samad"
        spec = job["spec"]
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
        assert spec["backoffLimit"] == 0 and spec["ttlSecondsAfterFinished"] > 0
        (container,) = spec["template"]["spec"]["containers"]
        assert container["command"] == ["samad"] and container["args"] == args
        env = {e["name"]: e for e in container["env"]}
        assert env["SAMAD_KAFKA_SASL_USERNAME"]["value"] == "samad-ops"
        assert spec["template"]["spec"]["serviceAccountName"] == "samad-ops"


def test_every_service_is_watched_for_scrape_failures(rendered: Rendered) -> None:
    for overlay in OVERLAYS:
        rules = [
            r for g in one(rendered, overlay, "PrometheusRule", "samad")["spec"]["groups"] for r in g["rules"]
        ]
        (down,) = [r for r in rules if r.get("alert") == "SamadTargetDown"]
        match = re.search(r'service=~"([^"]+)"', down["expr"])
        assert match, down["expr"]
        for svc in SERVICES:
            assert re.fullmatch(match.group(1), f"samad-{svc}"), f"{overlay}: samad-{svc} is not watched"


def test_mongodb_takes_only_tls_with_scram_and_every_client_mounts_its_ca(
    rendered: Rendered, tmp_path: Path
) -> None:
    # PyMongo opens the CA file a connection string names: a stand-in for the one the pods mount.
    stand_in = tmp_path / "ca.crt"
    stand_in.write_text("-----BEGIN CERTIFICATE-----\n")

    for overlay in OVERLAYS:
        mongo = one(rendered, overlay, "MongoDBCommunity", "samad-mongodb")
        security = mongo["spec"]["security"]
        assert security["authentication"]["modes"] == ["SCRAM"]
        tls = security["tls"]
        assert tls["enabled"] is True and tls.get("optional", False) is False
        assert tls["certificateKeySecretRef"]["name"] and tls["caCertificateSecretRef"]["name"]
        options = mongo["spec"]["additionalConnectionStringConfig"]
        # The operator sets ssl itself from spec.security.tls and ignores tls/ssl given here.
        assert not {"tls", "ssl"} & set(options)
        ca_file = options["tlsCAFile"]
        # A user's connection string as the operator builds it: the client verifies the server by the CA.
        query = "&".join(
            f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items()
        ).replace(ca_file, str(stand_in))
        uri = f"mongodb://samad-tracking:pw@samad-mongodb-0:27017/admin?replicaSet=samad-mongodb&ssl=true&{query}"
        parsed = parse_uri(uri, validate=True)["options"]
        assert parsed["tls"] is True and parsed["tlsCAFile"] == str(stand_in)
        assert not parsed.get("tlsInsecure") and not parsed.get("tlsAllowInvalidCertificates")
        ca_dir, _, ca_name = ca_file.rpartition("/")
        clients = 0
        for target in (overlay, *(t for t in rendered if t.startswith("jobs/") or "/jobs/" in t)):
            for ref, _, spec in pod_specs(rendered[target]):
                volumes = {v["name"]: v for v in spec.get("volumes", [])}
                for container in spec["containers"]:
                    if "SAMAD_MONGO_URL" not in {e["name"] for e in container.get("env", [])}:
                        continue
                    clients += 1
                    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                    where = f"{target} {ref} {container['name']}"
                    assert ca_dir in mounts, f"{where} does not mount MongoDB's CA at {ca_dir}"
                    secret = volumes[mounts[ca_dir]]["secret"]
                    assert secret["secretName"] == tls["caCertificateSecretRef"]["name"], where
                    assert {"key": "ca.crt", "path": ca_name} in secret["items"], where
        assert clients >= len(SERVICES)


def test_notify_speaks_smpp_over_tls_with_the_gateway_ca_mounted(rendered: Rendered) -> None:
    overlay = "overlays/prod"
    maps = {c["metadata"]["name"]: c for c in objects(rendered, overlay, "ConfigMap")}
    spec = one(rendered, overlay, "Deployment", "samad-notify")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    config: dict[str, str] = {}
    for ref in container["envFrom"]:
        if "configMapRef" in ref:
            config |= maps[ref["configMapRef"]["name"]]["data"]
    assert config["SAMAD_SMS_PROVIDER"] == "smpp" and config["SAMAD_SMS_SMPP_TLS"] == "true"
    ca_dir, _, ca_name = config["SAMAD_SMS_SMPP_TLS_CA_FILE"].rpartition("/")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = {v["name"]: v for v in spec["volumes"]}[mounts[ca_dir]]
    assert volume["secret"]["secretName"] == "samad-smsc-ca"
    assert {"key": "ca.crt", "path": ca_name} in volume["secret"]["items"]
    egress = one(rendered, overlay, "NetworkPolicy", "samad-notify")["spec"]["egress"]
    assert 3550 in {p["port"] for rule in egress for p in rule.get("ports", [])}
