"""The agency's inbox as staff read and work it: the list's filters as typed in the address, the
deadline badges (colour and words: «دیرکرد» is never colour alone), which actions a case allows in its
state, each action's form and what it says once done, and the agency's ready answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from contracts.persian import to_persian_digits
from services.console.domain.forms import Form

PAGE_SIZE = 25
OPEN_STATUSES = ("routed", "in_progress", "waiting_for_citizen", "reopened")  # the agency holds the case
STATUSES = (*OPEN_STATUSES, "resolved", "rejected", "closed")
# The list's two wider views: every case the agency still holds (the default: the work to do), and
# every case, finished ones included.
OPEN, ALL = "open", "all"
VIEWS = {OPEN: "باز (در جریان)", ALL: "همه، با بسته‌شده‌ها"}
SORTS = {"newest": "تازه‌ترین", "urgent": "فوری‌ترین (نزدیک‌ترین مهلت)"}
OVERDUE = {"": "همه", "yes": "فقط دیرکردها", "no": "بدون دیرکرد"}
ME, NOBODY = "me", "none"


@dataclass(frozen=True)
class Filters:
    """The list's filters, as the address carries them (a bookmarked view is a saved filter)."""

    status: str = OPEN
    overdue: str = ""
    county: str = ""
    assignee: str = ""  # "", "me", "none" or a colleague's username
    sort: str = "newest"
    page: int = 1

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        """Anything unknown in the address falls back to its default rather than failing the page."""

        def pick(name: str, allowed: Any, default: str = "") -> str:
            value = str(query.get(name) or "").strip()
            return value if value in allowed else default

        page = str(query.get("page") or "1")
        return cls(
            status=pick("status", (*STATUSES, *VIEWS), OPEN),
            overdue=pick("overdue", OVERDUE),
            county=str(query.get("county") or "").strip()[:100],
            assignee=str(query.get("assignee") or "").strip()[:100],
            sort=pick("sort", SORTS, "newest"),
            page=max(1, min(int(page), 100_000)) if page.isdigit() else 1,
        )

    @property
    def plain(self) -> bool:
        """The default view (newest first, page one, nothing filtered): a new case belongs at its top."""
        return self == Filters()

    def api_params(self, me: str) -> dict[str, Any]:
        """The query for tracking's queue."""
        params: dict[str, Any] = {"sort": self.sort, "page": self.page, "page_size": PAGE_SIZE}
        if self.status != ALL:
            params["status"] = self.status
        if self.overdue:
            params["overdue"] = "true" if self.overdue == "yes" else "false"
        if self.county:
            params["county"] = self.county
        if self.assignee:
            params["assignee"] = me if self.assignee == ME else self.assignee
        return params

    def query(self, **changes: Any) -> str:
        """This view's address query, with ``changes`` (e.g. another page)."""
        view = replace(self, **changes)
        pairs = {
            "status": view.status if view.status != OPEN else "",
            "overdue": view.overdue,
            "county": view.county,
            "assignee": view.assignee,
            "sort": view.sort if view.sort != "newest" else "",
            "page": str(view.page) if view.page != 1 else "",
        }
        return urlencode({k: v for k, v in pairs.items() if v})


@dataclass(frozen=True)
class Badge:
    """A deadline as the list shows it: words first, colour second."""

    text: str
    tone: str  # ok, amber, red, grey
    words: str = ""  # the time left in words, beside the badge


def badge(deadline: Mapping[str, Any] | None) -> Badge | None:
    """The badge of one deadline of tracking's staff view (``sla.acknowledge`` or ``sla.resolve``)."""
    if not deadline:
        return None
    state = deadline.get("state")
    left = deadline.get("working_days_left")
    if state == "met":
        return Badge("انجام شد", "ok")
    if state == "met_late":
        return Badge("انجام شد با دیرکرد", "grey")
    if state == "closed":
        return Badge("بسته شد", "grey")
    if state == "paused":
        return Badge("متوقف", "grey", "در انتظار پاسخ شهروند")
    if state == "overdue":
        late = -int(left or 0)
        return Badge("دیرکرد", "red", f"{fa_number(late)} روز کاری گذشته" if late else "امروز گذشت")
    days = int(left or 0)
    if days <= 0:
        return Badge("نزدیک مهلت", "amber", "امروز")
    if days == 1:
        return Badge("نزدیک مهلت", "amber", "۱ روز کاری مانده")
    return Badge("در مهلت", "ok", f"{fa_number(days)} روز کاری مانده")


def fa_number(n: int) -> str:
    return to_persian_digits(str(n))


# --- actions ----------------------------------------------------------------------------------------

ACTION_NAMES = {
    "acknowledge": "پذیرش پرونده",
    "assign": "سپردن به همکار",
    "ask": "درخواست اطلاعات از شهروند",
    "resume": "ادامهٔ رسیدگی بدون پاسخ شهروند",
    "resolve": "پاسخ به شهروند",
    "reject": "رد پرونده",
    "reroute": "مربوط به ما نیست",
    "note": "یادداشت داخلی",
}
# Which actions a case allows in its state (tracking decides; the screen only offers what fits).
ACTIONS_IN: dict[str, tuple[str, ...]] = {
    "routed": ("acknowledge", "assign", "ask", "reject", "reroute", "note"),
    "reopened": ("acknowledge", "assign", "ask", "reject", "reroute", "note"),
    "in_progress": ("resolve", "assign", "ask", "reject", "reroute", "note"),
    "waiting_for_citizen": ("resume", "resolve", "assign", "reject", "reroute", "note"),
}
# The form field each action's text is typed in, and tracking's name for it.
TEXT_OF = {"ask": "question", "resolve": "answer", "reject": "reason", "reroute": "reason", "note": "text"}
# What to do when an action's text is missing, per action (the same field serves several).
REQUIRED = {
    "ask": "پرسش از شهروند را بنویسید؛ همین متن با پیامک برای او فرستاده می‌شود",
    "resolve": "پاسخ به شهروند را بنویسید؛ خلاصهٔ آن با پیامک برای او فرستاده می‌شود",
    "reject": "دلیل رد پرونده را بنویسید؛ با پیامک برای شهروند فرستاده می‌شود",
    "reroute": "بنویسید چرا این پرونده مربوط به دستگاه شما نیست",
    "note": "متن یادداشت را بنویسید",
}
LIMITS = {"question": 500, "answer": 2000, "reason": 2000, "text": 4000}
ACTION_FIELDS = ("action", "assignee", "question", "answer", "reason", "text", "form_key")


def actions_for(status: str | None) -> tuple[str, ...]:
    return ACTIONS_IN.get(str(status), ("note",))


def action_form(data: Mapping[str, Any]) -> Form:
    return Form.of(data, ACTION_FIELDS)


def check_action(form: Form, status: str | None) -> str | None:
    """The action the form asks for, once its text is there; None (with ``form.errors``) otherwise."""
    action = form.get("action")
    if action not in ACTION_NAMES:
        form.add("action", "کاری را که می‌خواهید انجام دهید انتخاب کنید")
        return None
    if action not in actions_for(status):
        form.add("action", f"«{ACTION_NAMES[action]}» در وضعیت کنونی پرونده ممکن نیست")
        return None
    name = TEXT_OF.get(action)
    if name is not None:
        text = form.get(name)
        if not text:
            form.add(name, REQUIRED[action])
        elif len(text) > LIMITS[name]:
            form.add(name, f"متن حداکثر {fa_number(LIMITS[name])} نویسه است؛ کوتاه‌ترش کنید")
    return action if form.ok else None


def action_body(form: Form, action: str, me: str) -> dict[str, Any]:
    """What tracking's action API takes."""
    body: dict[str, Any] = {"action": action}
    if action == "assign":
        assignee = form.get("assignee")
        body["assignee"] = me if assignee == ME else (assignee or None)
    name = TEXT_OF.get(action)
    if name is not None:
        body[name] = form.get(name)
    return body


def confirmation(action: str, assignee_name: str | None = None) -> str:
    """What staff read once the action is done (in place, Persian first)."""
    if action == "assign":
        return f"پرونده به {assignee_name} سپرده شد" if assignee_name else "پرونده به کارشناس خاصی سپرده نیست"
    return {
        "acknowledge": "پرونده پذیرفته شد و در حال رسیدگی است",
        "ask": "پرسش برای شهروند پیامک شد؛ مهلت‌ها تا پاسخ او متوقف است",
        "resume": "رسیدگی ادامه یافت و مهلت‌ها دوباره می‌گذرد",
        "resolve": "پاسخ ثبت شد و پیامک آن برای شهروند فرستاده می‌شود",
        "reject": "پرونده رد شد و دلیل آن برای شهروند پیامک می‌شود",
        "reroute": "پرونده برای ارجاع به دستگاه مسئول دیگر بازگشت",
        "note": "یادداشت داخلی ثبت شد (شهروند آن را نمی‌بیند)",
    }[action]


# --- ready answers ------------------------------------------------------------------------------------


class ResponsesError(ValueError):
    """The ready answers' data file is wrong: the message says where."""


@dataclass(frozen=True)
class ReadyAnswer:
    key: str
    title: str
    text: str


@dataclass(frozen=True)
class ReadyAnswers:
    """Answers an agency uses often (and ones every agency may use), edited before they are sent."""

    common: tuple[ReadyAnswer, ...] = ()
    agencies: Mapping[str, tuple[ReadyAnswer, ...]] = field(default_factory=dict)

    def of(self, agency: str | None) -> tuple[ReadyAnswer, ...]:
        return (*self.agencies.get(agency or "", ()), *self.common)

    @classmethod
    def from_mapping(cls, raw: Any, known_agencies: frozenset[str]) -> ReadyAnswers:
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping) or set(raw) - {"common", "agencies"}:
            raise ResponsesError("responses.yaml: the file has two sections, common and agencies")

        def answers(rows: Any, where: str) -> tuple[ReadyAnswer, ...]:
            if not isinstance(rows, list):
                raise ResponsesError(f"responses.yaml: {where}: a list of {{title, text}}")
            found = []
            for n, row in enumerate(rows):
                if (
                    not isinstance(row, Mapping)
                    or not str(row.get("title") or "").strip()
                    or not str(row.get("text") or "").strip()
                ):
                    raise ResponsesError(f"responses.yaml: {where}[{n}]: needs a title and a text")
                found.append(ReadyAnswer(f"{where}.{n}", str(row["title"]).strip(), str(row["text"]).strip()))
            return tuple(found)

        per_agency: dict[str, tuple[ReadyAnswer, ...]] = {}
        for code, rows in (raw.get("agencies") or {}).items():
            if str(code) not in known_agencies:
                raise ResponsesError(f"responses.yaml: agencies.{code}: not an agency code")
            per_agency[str(code)] = answers(rows, f"agencies.{code}")
        return cls(answers(raw.get("common") or [], "common"), per_agency)
