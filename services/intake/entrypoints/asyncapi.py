"""Intake's AsyncAPI document: `faststream docs gen --factory services.intake.entrypoints.asyncapi:asyncapi`.

It is drawn from the same broker objects that publish and consume, so it cannot drift from them.
"""

from __future__ import annotations

from faststream import FastStream
from faststream.specification import AsyncAPI

from services.intake.bootstrap import bootstrap
from services.intake.entrypoints import consumer
from services.intake.entrypoints.http import DESCRIPTION, TITLE, VERSION


def asyncapi() -> FastStream:
    intake = bootstrap()
    consumer.register(intake)
    return FastStream(
        intake.broker, specification=AsyncAPI(title=TITLE, version=VERSION, description=DESCRIPTION)
    )
