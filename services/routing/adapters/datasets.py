"""The labelled sets port: the labelled complaint sets, built once from the hand-written corpus and split
by a fixed seed. The files under services/routing/data/datasets, and an in-memory fake.

``data/datasets/complaints/<agency>.txt`` holds one hand-written complaint per line. ``build`` gives
every complaint a stable id, applies seeded orthographic variation to a share of them (Arabic letter
variants, dropped half-spaces, Persian or ASCII digits, a typo, a greeting) and assigns each to the
tuning part or the held-out part (30% per agency, seed 111). The split is written once; rebuilding
refuses to overwrite it unless forced, so the held-out part never moves towards the rules.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from contracts.catalogue import AgencyCode
from services.routing.domain.evaluation import Example

DATASETS = Path(__file__).resolve().parents[1] / "data" / "datasets"
COMPLAINTS = DATASETS / "complaints"
TUNE = DATASETS / "tune.jsonl"
HELDOUT = DATASETS / "heldout.jsonl"
DEV = DATASETS / "dev.jsonl"
SEED = 111
HELDOUT_SHARE = 0.3

_GREETINGS = ("سلام، ", "سلام وقت بخیر ", "با سلام و احترام، ", "ببخشید ", "خسته نباشید، ")
_CLOSINGS = (" لطفا پیگیری کنید", " ممنون میشم رسیدگی کنید.", " خواهش میکنم کمک کنید", " تشکر")
_ARABIC = str.maketrans({"ی": "ي", "ک": "ك"})
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_ASCII_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")


def _typo(text: str, rng: random.Random) -> str:
    """One keyboard slip in one longer word: two letters swapped or one dropped."""
    words = text.split(" ")
    longer = [i for i, w in enumerate(words) if len(w) >= 5]
    if not longer:
        return text
    i = rng.choice(longer)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :] if rng.random() < 0.5 else w[:j] + w[j + 1 :]
    return " ".join(words)


def vary(text: str, rng: random.Random) -> str:
    """Seeded orthographic variation as operators and citizens actually type."""
    if rng.random() < 0.35:
        text = text.translate(_ARABIC)
    if rng.random() < 0.5:
        text = text.replace("\u200c", "" if rng.random() < 0.5 else " ")
    # Half the texts get Persian digits, the others ASCII: operators type both.
    text = text.translate(_PERSIAN_DIGITS) if rng.random() < 0.5 else text.translate(_ASCII_DIGITS)
    if rng.random() < 0.2:
        text = _typo(text, rng)
    if rng.random() < 0.2 and not text.startswith("سلام"):
        text = rng.choice(_GREETINGS) + text
    if rng.random() < 0.15:
        text = text.rstrip(".") + rng.choice(_CLOSINGS)
    return text


def build(force: bool = False) -> tuple[int, int]:
    """Write tune.jsonl and heldout.jsonl from the corpus; returns their sizes."""
    if (TUNE.exists() or HELDOUT.exists()) and not force:
        raise FileExistsError("the split already exists; it is written once (use force to rebuild)")
    rng = random.Random(SEED)
    tune: list[Example] = []
    heldout: list[Example] = []
    for code in AgencyCode:
        lines = [
            line.strip()
            for line in (COMPLAINTS / f"{code.value}.txt").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        examples = [
            Example(f"{code.value}-{n:03d}", vary(line, rng), code) for n, line in enumerate(lines, 1)
        ]
        order = list(range(len(examples)))
        rng.shuffle(order)
        cut = round(len(examples) * HELDOUT_SHARE)
        held = set(order[:cut])
        for i, ex in enumerate(examples):
            (heldout if i in held else tune).append(ex)
    for path, rows in ((TUNE, tune), (HELDOUT, heldout)):
        path.write_text("".join(r.to_json() + "\n" for r in rows), encoding="utf-8")
    return len(tune), len(heldout)


def load(path: Path) -> list[Example]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        obj = json.loads(line)
        label = obj.get("agency")
        rows.append(
            Example(
                str(obj.get("id") or f"{path.stem}-{n}"), obj["text"], AgencyCode(label) if label else None
            )
        )
    return rows


class LabelledSets(Protocol):
    def load(self, name: str) -> list[Example]:
        """A set by name (heldout, tune, dev) or a path to a JSON-lines file; FileNotFoundError if none."""
        ...

    def where(self, name: str) -> str:
        """Where the set of this name is read from, for messages."""
        ...

    def build(self, force: bool = False) -> tuple[int, int]:
        """Write the tuning and held-out parts from the corpus; their sizes."""
        ...


SETS = {"heldout": HELDOUT, "tune": TUNE, "dev": DEV}


class DatasetFiles:
    def load(self, name: str) -> list[Example]:
        return load(SETS.get(name) or Path(name))

    def where(self, name: str) -> str:
        return str(SETS.get(name) or Path(name))

    def build(self, force: bool = False) -> tuple[int, int]:
        return build(force=force)


class InMemoryLabelledSets:
    def __init__(self, sets: Mapping[str, Sequence[Example]]) -> None:
        self.sets = {name: list(rows) for name, rows in sets.items()}

    def load(self, name: str) -> list[Example]:
        if name not in self.sets:
            raise FileNotFoundError(name)
        return list(self.sets[name])

    def where(self, name: str) -> str:
        return f"memory:{name}"

    def build(self, force: bool = False) -> tuple[int, int]:
        if ("tune" in self.sets or "heldout" in self.sets) and not force:
            raise FileExistsError("the split already exists; it is written once (use force to rebuild)")
        examples = [e for rows in self.sets.values() for e in rows]
        cut = round(len(examples) * HELDOUT_SHARE)
        self.sets["heldout"], self.sets["tune"] = examples[:cut], examples[cut:]
        return len(examples) - cut, cut
