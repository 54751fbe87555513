"""A local stand-in for the Kavenegar REST API, following its documented requests and answers.

``POST /v1/{api_key}/sms/send.json`` (form: receptor, message, sender, localid) answers
``{"return": {"status": 200, "message": "تایید شد"}, "entries": [{messageid, message, status,
statustext, sender, receptor, date, cost}]}``; an error answers with the error code as HTTP status
and ``return.status`` and ``entries: null`` (403 bad API key, 411 bad receptor, 409 cannot answer
now, 418 no credit). A repeated ``localid`` returns the earlier message instead of sending again.
``sms/status.json`` (messageid) and ``sms/statuslocalmessageid.json`` (localid) answer the status
of each message (1 queued ... 10 delivered, 11 undelivered, 100 unknown id).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

API_KEY = "test-api-key"
RECEPTOR = re.compile(r"^09\d{9}$")


@dataclass
class Gateway:
    messages: list[dict[str, Any]] = field(default_factory=list)
    by_localid: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)  # error codes for the next send calls
    delay_next_send: float = 0.0  # seconds to wait before answering the next send (after storing it)
    deliver_on_status: bool = True
    send_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _answer(handler: BaseHTTPRequestHandler, code: int, message: str, entries: Any) -> None:
    body = json.dumps(
        {"return": {"status": code, "message": message}, "entries": entries}, ensure_ascii=False
    )
    data = body.encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def make_handler(gw: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            return None

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            match = re.fullmatch(r"/v1/([^/]+)/sms/(\w+)\.json", self.path)
            if not match:
                return _answer(self, 404, "متد تعریف نشده است", None)
            key, method = match.groups()
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if key != API_KEY:
                return _answer(self, 403, "کد شناسائی API-Key معتبر نمی‌باشد", None)
            if method == "send":
                return self.send_sms(form)
            if method == "status":
                ids = form.get("messageid", "").split(",")
                return _answer(
                    self, 200, "تایید شد", [self.status_of(gw_find(gw, "messageid", i)) for i in ids]
                )
            if method == "statuslocalmessageid":
                entry = gw.by_localid.get(form.get("localid", ""))
                out = self.status_of(entry)
                out["localid"] = form.get("localid", "")
                return _answer(self, 200, "تایید شد", [out])
            return _answer(self, 404, "متد تعریف نشده است", None)

        def status_of(self, entry: dict[str, Any] | None) -> dict[str, Any]:
            if entry is None:
                return {"messageid": 0, "status": 100, "statustext": "شناسه پیامک نامعتبر است"}
            if gw.deliver_on_status:
                entry["status"], entry["statustext"] = 10, "رسیده به گیرنده"
            return {
                "messageid": entry["messageid"],
                "status": entry["status"],
                "statustext": entry["statustext"],
            }

        def send_sms(self, form: dict[str, str]) -> None:
            with gw.lock:
                gw.send_calls += 1
                if gw.fail_next:
                    code = gw.fail_next.pop(0)
                    return _answer(
                        self,
                        code,
                        {409: "سرور قادر به پاسخگوئی نیست", 418: "اعتبار کافی نیست"}.get(code, "خطا"),
                        None,
                    )
                if not form.get("message"):
                    return _answer(self, 413, "متن پیام خالی است", None)
                if not RECEPTOR.match(form.get("receptor", "")):
                    return _answer(self, 411, "دریافت کننده نامعتبر است", None)
                localid = form.get("localid", "")
                entry = gw.by_localid.get(localid) if localid else None
                if entry is None:
                    entry = {
                        "messageid": 8792343 + len(gw.messages),
                        "message": form["message"],
                        "status": 1,
                        "statustext": "در صف ارسال",
                        "sender": form.get("sender", "10004346"),
                        "receptor": form["receptor"],
                        "date": int(time.time()),
                        "cost": 120,
                    }
                    gw.messages.append(entry)
                    if localid:
                        gw.by_localid[localid] = entry
                delay, gw.delay_next_send = gw.delay_next_send, 0.0
            if delay:
                time.sleep(delay)
            _answer(self, 200, "تایید شد", [dict(entry)])

    return Handler


def gw_find(gw: Gateway, key: str, value: str) -> dict[str, Any] | None:
    return next((m for m in gw.messages if str(m[key]) == value), None)


class KavenegarServer:
    def __init__(self) -> None:
        self.gateway = Gateway()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.gateway))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> KavenegarServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
