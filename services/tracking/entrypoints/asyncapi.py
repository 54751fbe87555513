"""Tracking's AsyncAPI document (`make docs`): the consumer and the declared publishers, described by
the same objects that consume and publish."""

from __future__ import annotations

from faststream import FastStream
from faststream.specification import AsyncAPI

from services.tracking.bootstrap import bootstrap
from services.tracking.entrypoints import consumer
from services.tracking.entrypoints.about import DESCRIPTION, TITLE, VERSION


def asyncapi() -> FastStream:
    container = bootstrap()
    consumer.register(container)
    return FastStream(
        container.broker, specification=AsyncAPI(title=TITLE, version=VERSION, description=DESCRIPTION)
    )
