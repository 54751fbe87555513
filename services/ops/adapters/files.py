"""Dump files (a port): where ``samad events dump`` writes and ``samad events load`` reads.

``LocalFiles`` uses the file system, with ``-`` (load) and no path (dump) meaning the standard streams;
``InMemoryFiles`` is the fake. Text is UTF-8 with ``\\n`` line ends on every platform.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Protocol, TextIO

STDIN = "-"


class DumpFiles(Protocol):
    def writer(self, path: str | None) -> AbstractContextManager[TextIO]:
        """A text stream to write the dump to: the file at ``path``, or standard output."""
        ...

    def reader(self, path: str) -> AbstractContextManager[Iterable[str]]:
        """The lines of the file at ``path``, or of standard input for ``-``."""
        ...


def utf8_stdout() -> TextIO:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        return sys.stdout
    return io.TextIOWrapper(buffer, encoding="utf-8", newline="\n", write_through=True)


class LocalFiles:
    @contextmanager
    def writer(self, path: str | None) -> Iterator[TextIO]:
        if path is None:
            yield utf8_stdout()
            return
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            yield fh

    @contextmanager
    def reader(self, path: str) -> Iterator[Iterable[str]]:
        if path == STDIN:
            yield sys.stdin
            return
        with open(path, encoding="utf-8") as fh:
            yield fh


class InMemoryFiles:
    """Files as strings by path; ``stdout`` collects what is written without a path, ``stdin`` is read
    for ``-``."""

    def __init__(self, files: dict[str, str] | None = None, stdin: str = "") -> None:
        self.files = dict(files or {})
        self.stdin = stdin
        self.stdout = ""

    @contextmanager
    def writer(self, path: str | None) -> Iterator[TextIO]:
        buffer = io.StringIO(newline="\n")
        yield buffer
        if path is None:
            self.stdout += buffer.getvalue()
        else:
            self.files[path] = buffer.getvalue()

    @contextmanager
    def reader(self, path: str) -> Iterator[Iterable[str]]:
        if path == STDIN:
            yield io.StringIO(self.stdin)
            return
        if path not in self.files:
            raise FileNotFoundError(path)
        yield io.StringIO(self.files[path])


if TYPE_CHECKING:  # both keep up with the port
    _real: DumpFiles = LocalFiles()
    _fake: DumpFiles = InMemoryFiles()
