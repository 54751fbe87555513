"""Read the SMS templates from their data file (the shipped one, or another named in settings)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from services.notify.domain.templates import Template, TemplateError, TemplateKey, parse_templates

SHIPPED = "messages.yaml"


def load_templates(path: Path | None = None) -> dict[TemplateKey, Template]:
    if path is None:
        text = resources.files("services.notify.templates").joinpath(SHIPPED).read_text(encoding="utf-8")
        where = SHIPPED
    else:
        text = path.read_text(encoding="utf-8")
        where = str(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{where}: not valid YAML: {exc}") from exc
    try:
        return parse_templates(doc)
    except TemplateError as exc:
        raise TemplateError(f"{where}: {exc}") from exc
