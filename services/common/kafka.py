"""Kafka delivery rules shared by every service.

- Producers: acks=all; a publish returns only when every in-sync replica has the event. A retried
  send may write an event twice; every handler is idempotent by event id. Order per key holds: the
  producer keeps one request in flight per broker and re-sends a failed batch before later ones, and
  events that must stay in order are published one after another, each after the previous ack.
- Consumers: batch subscribers with manual acknowledgement; the offset is committed only after the
  handler's effect is durable. Events of one case share a key, hence a partition, hence an order.
- Poison (bad JSON, unknown type, schema-invalid payload) and events that keep failing go to
  ``samad.deadletter.v1`` with the original key, value and headers plus the error; infrastructure
  failures (MongoDB or Kafka unreachable) are retried in place and then re-fetched, never dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import Counter, Gauge, Histogram
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError

from contracts.events import CONTENT_TYPE, TYPE_PREFIX, Envelope, EventData, EventDecodeError, decode
from contracts.headers import CONTENT_TYPE as CONTENT_TYPE_HEADER
from contracts.headers import REPLAY_RUN, TRACEPARENT, dlq
from contracts.topics import DEADLETTER
from services.common import tracing
from services.common.bounded import run_all
from services.common.publishing import BusUnavailable
from services.common.settings import ServiceSettings

log = logging.getLogger("samad.kafka")


EVENTS_CONSUMED = Counter("samad_events_consumed_total", "Events handled", ["service", "type"])
EVENTS_PUBLISHED = Counter("samad_events_published_total", "Events published", ["service", "type"])
EVENTS_DEADLETTERED = Counter(
    "samad_events_deadlettered_total", "Messages sent to the dead-letter topic", ["service", "reason"]
)
EVENTS_REPLAYED = Counter("samad_events_replayed_total", "Replayed events handled", ["service"])
CONSUMER_REWINDS = Counter(
    "samad_consumer_rewinds_total",
    "Batches rewound to be fetched again (an outage, or a failure to dead-letter)",
    ["service", "group"],
)
CONSUMER_STALLED = Gauge(
    "samad_consumer_stalled_seconds",
    "How long the consumer has been failing to finish a batch (0 when it is making progress)",
    ["service", "group"],
)
BATCH_SECONDS = Histogram(
    "samad_consumer_batch_seconds",
    "Time to handle one fetched batch",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CONSUMER_LAG = Gauge(
    "samad_consumer_lag",
    "Events on the partition after the last one this consumer handled (the partition's high watermark "
    "as last fetched, minus the handled position)",
    ["service", "group", "topic", "partition"],
)
OLDEST_UNPROCESSED = Gauge(
    "samad_consumer_oldest_unprocessed_seconds",
    "Age (by its Kafka timestamp) of the oldest event fetched and not yet handled; 0 when the consumer "
    "has nothing in hand",
    ["service", "group"],
)
EVENT_DELAY = Histogram(
    "samad_event_delay_seconds",
    "From an event's time (when its producer made it) to the end of its handling here; replayed "
    "copies are left out",
    ["service", "type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    AutoReconnect,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    KafkaError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def kafka_security(settings: ServiceSettings) -> BaseSecurity | None:
    """The broker's TLS/SASL settings from SAMAD_KAFKA_*; None for the plaintext local stack."""
    mechanism = settings.kafka_sasl_mechanism.upper()
    if not mechanism and not settings.kafka_tls:
        return None
    ssl_context = (
        ssl.create_default_context(cafile=settings.kafka_ca_file or None) if settings.kafka_tls else None
    )
    if not mechanism:
        return BaseSecurity(ssl_context=ssl_context, use_ssl=True)
    kinds: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    if mechanism not in kinds:
        raise ValueError(f"unsupported SAMAD_KAFKA_SASL_MECHANISM {mechanism!r}; use one of {sorted(kinds)}")
    return kinds[mechanism](
        settings.kafka_sasl_username,
        settings.kafka_sasl_password,
        ssl_context=ssl_context,
        use_ssl=settings.kafka_tls,
    )


def make_broker(settings: ServiceSettings, service: str) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=f"samad-{service}",
        security=kafka_security(settings),
        acks="all",
        # Not aiokafka's idempotent producer: when a partition has no leader for longer than
        # request_timeout_ms (a broker outage), aiokafka fails the waiting batch after giving it a
        # sequence number it never sends. The broker then answers OutOfOrderSequenceNumber to every
        # later batch of that partition, and the producer never recovers (the Java client bumps its
        # epoch; aiokafka does not). Duplicates from plain retries are absorbed by the handlers.
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=15_000,
        graceful_timeout=settings.graceful_timeout_seconds,
        logger=logging.getLogger(f"samad.{service}.broker"),
    )


def headers_of(record: Any) -> dict[str, str]:
    return {
        k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for k, v in (record.headers or ())
    }


@dataclass(frozen=True)
class Incoming:
    """One decoded event with where it came from."""

    event: Envelope
    topic: str
    partition: int
    offset: int
    headers: dict[str, str]

    @property
    def replay_run(self) -> str | None:
        return self.headers.get(REPLAY_RUN)

    def traced(self) -> tracing.Handled:
        return tracing.Handled(
            event=self.event,
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            replay_run=self.replay_run,
            replay_traceparent=self.headers.get(TRACEPARENT) if self.replay_run else None,
        )


async def consumers_positioned(broker: KafkaBroker) -> bool:
    """Every consumer has partitions and a resolved fetch position on each of them.

    A new group that starts at the log's end resolves that position lazily; until it has, an event
    published meanwhile would be skipped. Tests wait for this before they publish.
    """
    for sub in broker.subscribers:
        consumer = getattr(sub, "consumer", None)
        if consumer is None or not consumer.assignment():
            return False
        for tp in consumer.assignment():
            await consumer.position(tp)
    return True


class UndeclaredEvent(TypeError):
    """A service published an event type it did not declare: a programming error, never retried."""


def _short(event_type: str) -> str:
    return event_type.removeprefix(TYPE_PREFIX)


class EventPublisher:
    """Publishes envelopes to their topics, keyed by subject, waiting for acks=all.

    Every event type a service produces is declared here once, as a FastStream publisher: the same
    objects publish the events and describe them in the service's AsyncAPI document, so the two
    cannot drift. Publishing an undeclared type raises ``UndeclaredEvent``.
    """

    def __init__(
        self,
        broker: KafkaBroker,
        service: str,
        produces: Sequence[type[EventData]] = (),
        *,
        timeout_seconds: float | None = None,
        deadletter_topic: str = DEADLETTER,
    ) -> None:
        self.broker = broker
        self.service = service
        self.source = f"/samad/{service}"
        self.timeout_seconds = timeout_seconds
        self._publishers: dict[str, Any] = {}
        for data in produces:
            if data.event_type in self._publishers:
                continue
            doc = (data.__doc__ or "").strip().splitlines()
            self._publishers[data.event_type] = broker.publisher(
                data.topic,
                title=f"{service}:{_short(data.event_type)}",
                schema=data,
                description=doc[0] if doc else _short(data.event_type),
            )
        self._deadletter = broker.publisher(
            deadletter_topic,
            title=f"{service}:deadletter",
            description="A message that could not be handled: the original key, value and headers, "
            "plus samad-dlq-* headers saying where it came from and why",
        )

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._publishers)

    def _publisher_of(self, event: Envelope) -> Any:
        try:
            return self._publishers[event.type]
        except KeyError:
            raise UndeclaredEvent(
                f"{self.service} publishes {event.type} without declaring it; add its payload to "
                f"the service's produced events"
            ) from None

    async def publish(self, events: Iterable[Envelope], headers: dict[str, str] | None = None) -> None:
        """Publish and wait for every ack. Events that share a key go out one after another, in the
        order given (so a case's events stay in order); different keys go out concurrently.

        With ``timeout_seconds`` set, a send that is not confirmed in time (or any broker failure)
        raises ``BusUnavailable``; a send that still lands later carries the same event id as the
        caller's retry, which every consumer absorbs."""
        batch = list(events)
        if not batch:
            return
        targets = [(e, self._publisher_of(e)) for e in batch]
        extra = {CONTENT_TYPE_HEADER: CONTENT_TYPE, **(headers or {})}
        by_key: dict[bytes, list[tuple[Envelope, Any]]] = {}
        for e, target in targets:
            by_key.setdefault(e.key, []).append((e, target))

        async def in_order(chain: list[tuple[Envelope, Any]]) -> None:
            for e, target in chain:
                # With tracing on, a producer span per event, whose trace context the event carries.
                with tracing.publishing(e, self.service) as stamped:
                    await target.publish(stamped.to_json(), key=e.key, headers=extra)

        # No chain is left publishing after a failure: the caller's retry then publishes in order.
        sending = run_all(in_order, by_key.values())
        if self.timeout_seconds is None:
            await sending
        else:
            try:
                await asyncio.wait_for(sending, timeout=self.timeout_seconds)
            except Exception as exc:
                log.warning("publish of %d event(s) failed: %r", len(batch), exc)
                raise BusUnavailable(str(exc) or type(exc).__name__) from exc
        for e in batch:
            EVENTS_PUBLISHED.labels(self.service, e.type).inc()

    async def dead_letter(self, record: Any, error: str, reason: str, group: str) -> None:
        headers = headers_of(record)
        headers.update(
            {
                dlq("original-topic"): record.topic,
                dlq("original-partition"): str(record.partition),
                dlq("original-offset"): str(record.offset),
                dlq("original-timestamp"): str(record.timestamp),
                dlq("reason"): reason,
                dlq("error"): error[:2000],
                dlq("service"): self.service,
                dlq("group"): group,
                dlq("failed-at"): datetime.now(UTC).isoformat(),
            }
        )
        await self._deadletter.publish(
            record.value if record.value is not None else b"", key=record.key, headers=headers
        )
        EVENTS_DEADLETTERED.labels(self.service, reason).inc()
        spans = tracing.current_batch()
        if spans is not None:
            spans.dead_lettered(record.topic, record.partition, record.offset, reason, error)
        log.warning(
            "dead-lettered %s[%s]@%s: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
            error[:300],
        )


async def _no_decode(_msg: Any) -> list[None]:
    """Skip FastStream's body decoding: contracts.events.decode parses each record once."""
    return []


BatchHandler = Callable[[Sequence[Incoming]], Awaitable[None]]
HealthCheck = Callable[[], Awaitable[bool]]


def subscribe_events(
    broker: KafkaBroker,
    publisher: EventPublisher,
    settings: ServiceSettings,
    *,
    topics: Sequence[str],
    group: str,
    handler: BatchHandler,
    wanted: Callable[[Envelope], bool] = lambda _e: True,
    description: str = "",
    healthy: HealthCheck | None = None,
) -> None:
    """Register a batch consumer that decodes, filters, handles, dead-letters and commits.

    ``healthy`` answers whether the handler's own dependencies (the service's database) are
    reachable. When a batch keeps failing with what looks like an outage (a connection error, a
    timeout) while ``healthy`` says they are reachable, the failure is the events' own: the batch is
    isolated and the event that keeps failing is dead-lettered (reason ``persistent_error``) instead
    of blocking its partition for ever. Without ``healthy`` such a batch is rewound and retried.
    """
    service = publisher.service
    stalled = CONSUMER_STALLED.labels(service, group)
    # When this consumer began failing to finish a batch (None while it makes progress).
    failing_since: float | None = None
    # The Kafka timestamp (seconds) of the oldest record of the batch in hand, until it is finished.
    oldest_in_hand: float | None = None
    OLDEST_UNPROCESSED.labels(service, group).set_function(
        lambda: max(time.time() - oldest_in_hand, 0.0) if oldest_in_hand is not None else 0.0
    )
    lag = _Lag(service, group)

    subscriber = broker.subscriber(  # type: ignore[call-overload]
        *topics,
        group_id=group,
        batch=True,
        max_records=settings.consumer_batch_size,
        batch_timeout_ms=50,
        auto_offset_reset=settings.consumer_offset_reset,
        ack_policy=AckPolicy.MANUAL,
        decoder=_no_decode,
        title=f"{service}:{group}",
        description=description or f"{service} consumes {', '.join(topics)}",
    )

    @subscriber  # type: ignore[untyped-decorator]
    async def consume(body: list[bytes], msg: KafkaMessage) -> None:
        nonlocal failing_since, oldest_in_hand
        records = msg.raw_message if isinstance(msg.raw_message, (tuple, list)) else (msg.raw_message,)
        started = time.perf_counter()
        stamps = [r.timestamp for r in records if isinstance(getattr(r, "timestamp", None), int)]
        if stamps and oldest_in_hand is None:
            oldest_in_hand = min(stamps) / 1000
        batch: list[tuple[Incoming, Any]] = []
        try:
            batch = await _decode(records, publisher, group, wanted)
            traced = [item.traced() for item, _ in batch] if tracing.enabled() else []
            with tracing.consuming(service, group, traced) as spans:
                done = not batch or await _handle(batch, handler, publisher, settings, group, healthy)
                if not done:
                    tracing.rewound(spans)
        except Exception as exc:
            # Nothing of this batch may be committed past: dead-lettering failed (Kafka down, say) or
            # the handling raised. Without the rewind the next batch's commit would move past these
            # records and they would be lost without a trace.
            log.error("batch of %d record(s) not finished (%r); rewinding it", len(records), exc)
            done = False
            await asyncio.sleep(settings.consumer_rewind_pause_seconds)
        if not done:
            CONSUMER_REWINDS.labels(service, group).inc()
            failing_since = failing_since or time.time()
            stalled.set(time.time() - failing_since)
            await msg.nack()  # rewind to the first record of the batch; it will be fetched again
            await lag.update(getattr(subscriber, "consumer", None), ())
            return
        await msg.ack()
        failing_since = None
        oldest_in_hand = None
        stalled.set(0)
        BATCH_SECONDS.labels(service).observe(time.perf_counter() - started)
        finished = time.time()
        for item, _ in batch:
            EVENTS_CONSUMED.labels(service, item.event.type).inc()
            if item.replay_run:
                EVENTS_REPLAYED.labels(service).inc()
            else:
                EVENT_DELAY.labels(service, item.event.type).observe(
                    max(finished - item.event.time.timestamp(), 0.0)
                )
        await lag.update(getattr(subscriber, "consumer", None), records)


class _Lag:
    """Consumer lag per partition: the high watermark the last fetch saw, minus the position after
    the last record handled (the fetch position for a partition with nothing handled yet). Partitions
    the consumer no longer holds (a rebalance moved them) are dropped from the metric."""

    def __init__(self, service: str, group: str) -> None:
        self.service = service
        self.group = group
        self.handled: dict[tuple[str, int], int] = {}
        self.shown: set[tuple[str, int]] = set()

    async def update(self, consumer: Any, records: Sequence[Any]) -> None:
        for r in records:
            self.handled[(r.topic, r.partition)] = max(
                self.handled.get((r.topic, r.partition), 0), r.offset + 1
            )
        if consumer is None:
            return
        try:
            assigned = {(tp.topic, tp.partition): tp for tp in consumer.assignment()}
            for key, tp in assigned.items():
                high = consumer.highwater(tp)
                if high is None:
                    continue
                position = self.handled.get(key)
                if position is None:
                    position = await consumer.position(tp)
                CONSUMER_LAG.labels(self.service, self.group, key[0], str(key[1])).set(
                    max(high - position, 0)
                )
                self.shown.add(key)
        except Exception as exc:  # a rebalance under way: the next batch sets it
            log.debug("consumer lag not updated: %r", exc)
            return
        for key in self.shown - set(assigned):
            self.shown.discard(key)
            self.handled.pop(key, None)
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.service, self.group, key[0], str(key[1]))


async def _decode(
    records: Sequence[Any], publisher: EventPublisher, group: str, wanted: Callable[[Envelope], bool]
) -> list[tuple[Incoming, Any]]:
    batch: list[tuple[Incoming, Any]] = []
    for record in records:
        try:
            event = decode(record.value or b"")
        except EventDecodeError as exc:
            await publisher.dead_letter(record, str(exc), "undecodable", group)
            continue
        if wanted(event):
            batch.append(
                (Incoming(event, record.topic, record.partition, record.offset, headers_of(record)), record)
            )
    return batch


async def _handle(
    batch: list[tuple[Incoming, Any]],
    handler: BatchHandler,
    publisher: EventPublisher,
    settings: ServiceSettings,
    group: str,
    healthy: HealthCheck | None = None,
) -> bool:
    """True when every event is handled or dead-lettered; False to rewind after an infrastructure outage."""
    deadline = time.monotonic() + settings.consumer_retry_seconds
    delay = 0.2
    while True:
        try:
            await handler([item for item, _ in batch])
            return True
        except INFRASTRUCTURE_ERRORS as exc:
            if time.monotonic() > deadline:
                if await _reachable(healthy):
                    log.error(
                        "batch keeps failing with %r after %.0fs while the database answers: "
                        "isolating its events",
                        exc,
                        settings.consumer_retry_seconds,
                    )
                    break
                log.error(
                    "infrastructure still failing after %.0fs, rewinding batch: %r",
                    settings.consumer_retry_seconds,
                    exc,
                )
                return False
            log.warning("infrastructure failure, retrying in %.1fs: %r", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        except Exception:
            log.exception("batch of %d failed; handling its events one by one", len(batch))
            break
    # A handler bug or a bad event: isolate it so the rest of the batch still goes through.
    for item, record in batch:
        for attempt in range(1, settings.consumer_max_attempts + 1):
            try:
                await handler([item])
                break
            except INFRASTRUCTURE_ERRORS as exc:
                # An outage again, unless the dependencies answer: then it is this event's own.
                if not await _reachable(healthy):
                    return False
                if attempt == settings.consumer_max_attempts:
                    await publisher.dead_letter(
                        record, f"{type(exc).__name__}: {exc}", "persistent_error", group
                    )
                else:
                    await asyncio.sleep(0.5 * attempt)
            except Exception as exc:
                if attempt == settings.consumer_max_attempts:
                    await publisher.dead_letter(
                        record, f"{type(exc).__name__}: {exc}", "handler_failed", group
                    )
                else:
                    await asyncio.sleep(0.1 * attempt)
    return True


async def _reachable(healthy: HealthCheck | None) -> bool:
    if healthy is None:
        return False
    try:
        return bool(await asyncio.wait_for(healthy(), timeout=5.0))
    except Exception:
        return False
