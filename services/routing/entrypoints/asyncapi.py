"""Routing's AsyncAPI document (`make docs`): the same subscriber and publishers the service runs with."""

from __future__ import annotations

from faststream import FastStream
from faststream.specification import AsyncAPI

from services.routing.bootstrap import bootstrap
from services.routing.entrypoints import consumer
from services.routing.entrypoints.http import DESCRIPTION, TITLE, VERSION


def asyncapi() -> FastStream:
    container = bootstrap()
    consumer.register(container)
    assert container.broker is not None
    return FastStream(
        container.broker, specification=AsyncAPI(title=TITLE, version=VERSION, description=DESCRIPTION)
    )
