"""Run a service with a census of its MongoDB commands and, optionally, under pyinstrument.

    python -m bench.instrument --out DIR [--profile] -m services.tracking --port 8002

The census (a PyMongo command listener) counts every write statement by collection, command and the
keys of its filter, so the raw MongoDB ceiling can replay exactly the writes the services made per
case. Results are written to DIR/<service>-census.json (and DIR/<service>-profile.{txt,html}) when the
process exits after SIGTERM (uvicorn's graceful shutdown), and the census every few seconds meanwhile.
"""

from __future__ import annotations

import argparse
import json
import runpy
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pymongo import monitoring

WRITE_COMMANDS = {"insert": "documents", "update": "updates", "delete": "deletes"}


def _shape(filter_doc: Any) -> str:
    if not isinstance(filter_doc, dict) or not filter_doc:
        return "{}"
    return ",".join(sorted(str(k) for k in filter_doc))


class Census(monitoring.CommandListener):
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.commands: Counter[str] = Counter()
        # Server time (as the driver saw it, round trip included) by command and filter shape: where
        # the database's time goes, reads included ("find" by its filter's fields).
        self.micros: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._pending: dict[int, str] = {}
        self.lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        coll = event.command.get(name)
        db = event.database_name
        if name == "find":
            timed = f"{db}|{coll}|find|{_shape(event.command.get('filter'))}"
        elif name in WRITE_COMMANDS:
            stmts = event.command.get(WRITE_COMMANDS[name]) or ()
            first = stmts[0] if stmts else {}
            timed = f"{db}|{coll}|{name}|{_shape(first.get('q')) if name != 'insert' else ''}"
        elif name == "findAndModify":
            timed = f"{db}|{coll}|findAndModify|{_shape(event.command.get('query'))}"
        else:
            timed = f"{db}|{coll}|{name}|"
        with self.lock:
            self._pending[event.request_id] = timed
            self.commands[f"{db}|{coll}|{name}"] += 1
            if name in WRITE_COMMANDS:
                for stmt in event.command.get(WRITE_COMMANDS[name]) or ():
                    if name == "insert":
                        key = f"{db}|{coll}|insert|"
                    elif name == "update":
                        kind = "upsert" if stmt.get("upsert") else "update"
                        replace = not any(str(k).startswith("$") for k in (stmt.get("u") or {}))
                        key = f"{db}|{coll}|{'replace' if replace and kind == 'update' else kind}|{_shape(stmt.get('q'))}"
                    else:
                        key = f"{db}|{coll}|delete|{_shape(stmt.get('q'))}"
                    self.counts[key] += 1
            elif name == "findAndModify":
                kind = "find_and_upsert" if event.command.get("upsert") else "find_and_modify"
                self.counts[f"{db}|{coll}|{kind}|{_shape(event.command.get('query'))}"] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._finished(event.request_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._finished(event.request_id, event.duration_micros)

    def _finished(self, request_id: int, micros: int) -> None:
        with self.lock:
            key = self._pending.pop(request_id, None)
            if key is not None:
                self.micros[key] += micros
                self.calls[key] += 1

    def dump(self, path: Path) -> None:
        with self.lock:
            data = {
                "writes": dict(self.counts),
                "commands": dict(self.commands),
                "time_ms": {k: round(v / 1000, 1) for k, v in self.micros.most_common()},
                "calls": dict(self.calls),
            }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("-m", dest="module", required=True)
    args, rest = parser.parse_known_args()
    service = args.module.split(".")[-1]
    args.out.mkdir(parents=True, exist_ok=True)
    census = Census()
    monitoring.register(census)
    census_path = args.out / f"{service}-census.json"

    def keep_dumping() -> None:
        while True:
            time.sleep(2)
            census.dump(census_path)

    threading.Thread(target=keep_dumping, daemon=True).start()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    # uvicorn re-raises the SIGTERM it turned into a graceful shutdown once it is done; with the
    # default handler that would end the process before the final census and the profile are written.
    signal.signal(signal.SIGTERM, _exit_quietly)
    sys.argv = [args.module, *rest]
    try:
        runpy.run_module(args.module, run_name="__main__", alter_sys=True)
    finally:
        census.dump(census_path)
        if profiler is not None:
            profiler.stop()
            (args.out / f"{service}-profile.txt").write_text(
                profiler.output_text(unicode=True, color=False, show_all=False)
            )
            (args.out / f"{service}-profile.html").write_text(profiler.output_html())


if __name__ == "__main__":
    main()
