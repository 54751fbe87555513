"""The services can reach the production Kafka: Strimzi's SCRAM-SHA-512 listener over TLS."""

from __future__ import annotations

import ssl

import pytest
from faststream.kafka.security import parse_security

from services.common.kafka import kafka_security
from services.common.settings import ServiceSettings


def test_local_stack_stays_plaintext() -> None:
    assert kafka_security(ServiceSettings()) is None


def test_scram_over_tls_gives_aiokafka_a_verified_tls_context() -> None:
    settings = ServiceSettings(
        kafka_sasl_mechanism="scram-sha-512",
        kafka_sasl_username="samad-routing",
        kafka_sasl_password="from-the-kafkauser-secret",
        kafka_tls=True,
    )
    options = parse_security(kafka_security(settings))
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "samad-routing"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_tls_without_sasl_is_plain_ssl() -> None:
    options = parse_security(kafka_security(ServiceSettings(kafka_tls=True)))
    assert options["security_protocol"] == "SSL"


def test_an_unknown_mechanism_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="SAMAD_KAFKA_SASL_MECHANISM"):
        kafka_security(ServiceSettings(kafka_sasl_mechanism="GSSAPI-ish"))
