"""Reading a call log: a telephony export as a UTF-8 CSV file, or rows held in memory for unit tests.

The columns and what they mean are in domain/call_log.py; this module only opens the file, checks its
header before anything is published, and hands the lines on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from services.intake.domain.call_log import LogLine, missing_columns

# The source document's duty session (1396-12-08): 110 calls, 81 answered, 65 cases.
SCENARIO = Path(__file__).resolve().parents[1] / "data" / "duty-session-1396-12-08.csv"


class FileProblem(Exception):
    """The file cannot be read as a call log at all (missing header columns, not UTF-8 CSV)."""


class CallLog(Protocol):
    def lines(self) -> Iterator[LogLine]:
        """The log's lines; the header is checked now (``FileProblem``), before any line is read."""
        ...

    def count(self) -> int:
        """How many lines the log has (for progress)."""
        ...


class CsvCallLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> Iterator[LogLine]:
        try:
            handle = self.path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise FileProblem(f"cannot open {self.path}: {exc.strerror}") from exc
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except (csv.Error, UnicodeDecodeError) as exc:
            handle.close()
            raise FileProblem(f"{self.path} is not a UTF-8 CSV file: {exc}") from exc
        missing = missing_columns(header)
        if missing:
            handle.close()
            raise FileProblem(
                f"{self.path}: the header lacks {', '.join(missing)} (has: {', '.join(header)})"
            )
        return self._lines(handle, reader)

    def _lines(self, handle: Any, reader: csv.DictReader[str]) -> Iterator[LogLine]:
        try:
            for raw in reader:
                yield LogLine(reader.line_num, raw)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise FileProblem(f"{self.path} line {reader.line_num}: {exc}") from exc
        finally:
            handle.close()

    def count(self) -> int:
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            return sum(1 for _ in csv.DictReader(handle))


class InMemoryCallLog:
    """Rows as a CSV reader would give them; lines are numbered from 2, after the header."""

    def __init__(self, rows: Sequence[Mapping[str, str]], header: Sequence[str] | None = None) -> None:
        self.rows = list(rows)
        self.header = list(header) if header is not None else list(dict.fromkeys(k for r in rows for k in r))

    def lines(self) -> Iterator[LogLine]:
        missing = missing_columns(self.header)
        if missing:
            raise FileProblem(f"the header lacks {', '.join(missing)}")
        return iter([LogLine(n, row) for n, row in enumerate(self.rows, start=2)])

    def count(self) -> int:
        return len(self.rows)
