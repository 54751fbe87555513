"""Comparing a rebuilt (shadow) projection with the live one: which documents differ, and where."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


def differences(live: Any, shadow: Any, path: str = "", limit: int = 20) -> list[str]:
    """Human-readable paths where two documents differ, e.g. ``status: 'routed' != 'resolved'``."""
    out: list[str] = []
    _diff(live, shadow, path, out, limit)
    return out


def _diff(a: Any, b: Any, path: str, out: list[str], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a:
                out.append(f"{sub}: missing in live")
            elif key not in b:
                out.append(f"{sub}: missing in shadow")
            else:
                _diff(a[key], b[key], sub, out, limit)
            if len(out) >= limit:
                return
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items in live, {len(b)} in shadow")
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", out, limit)
        return
    if a != b:
        out.append(f"{path or '(document)'}: live {_short(a)} != shadow {_short(b)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Comparison:
    live_count: int
    shadow_count: int
    only_live: list[str] = field(default_factory=list)
    only_shadow: list[str] = field(default_factory=list)
    compared: int = 0
    differing: dict[str, list[str]] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return (
            self.live_count == self.shadow_count
            and not self.only_live
            and not self.only_shadow
            and not self.differing
        )


def compare_ids(live_ids: Iterable[Any], shadow_ids: Iterable[Any]) -> tuple[list[str], list[str]]:
    live = {str(i) for i in live_ids}
    shadow = {str(i) for i in shadow_ids}
    return sorted(live - shadow), sorted(shadow - live)


def without(doc: Mapping[str, Any] | None, fields: Iterable[str]) -> dict[str, Any] | None:
    """The document minus the fields that may legitimately differ (a projection's volatile fields)."""
    if doc is None:
        return None
    drop = set(fields)
    return {k: v for k, v in doc.items() if k not in drop}
