"""Notify's AsyncAPI document (``make docs``): the consumer and the publishers it really uses."""

from __future__ import annotations

from faststream import FastStream
from faststream.specification import AsyncAPI

from services.notify.bootstrap import VERSION, bootstrap
from services.notify.entrypoints import consumer


def asyncapi() -> FastStream:
    container = bootstrap()
    consumer.register(container)
    return FastStream(container.broker, specification=AsyncAPI(title="SAMAD-111 notify", version=VERSION))
