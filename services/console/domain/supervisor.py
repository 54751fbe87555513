"""The governorate supervisor's screens, decided without I/O: the days typed (Jalali or Gregorian, in
any digits), the dashboard's period and trend, where each number links, what the charts draw, and the
duty roster's form (a week, its seven days' hours) as routing takes it and as routing refuses it."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

import jdatetime

from contracts.persian import to_ascii_digits, to_persian_digits
from services.console.domain.display import TEHRAN, as_datetime
from services.console.domain.forms import Form

SATURDAY = 5  # date.weekday()
TREND_WEEKS = 12
WEEKDAYS_FA = ("شنبه", "یکشنبه", "دوشنبه", "سه‌شنبه", "چهارشنبه", "پنجشنبه", "جمعه")
MONTHS_FA = (
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
)
_DAY = re.compile(r"^\s*(\d{2,4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*$")
_TIME = re.compile(r"^\s*(\d{1,2})(?:\s*[:٫.]\s*(\d{1,2}))?\s*$")


# --- days --------------------------------------------------------------------------------------------


def read_day(text: str) -> date:
    """A day as people type it: ۱۴۰۵/۰۹/۰۱, 1405-9-1 or 2026-11-22 (a year before 1700 is Jalali; a
    two-digit year is of the 1400s). Raises ValueError."""
    found = _DAY.match(to_ascii_digits(text))
    if not found:
        raise ValueError(text)
    y, m, d = (int(g) for g in found.groups())
    if y < 100:
        y += 1400
    if y < 1700:
        g = jdatetime.date(y, m, d).togregorian()
        return date(g.year, g.month, g.day)
    return date(y, m, d)


def jalali_short(day: date) -> str:
    """۱۴۰۵/۰۹/۰۱: how the supervisor types and reads a day."""
    j = jdatetime.date.fromgregorian(date=day)
    return to_persian_digits(f"{j.year:04d}/{j.month:02d}/{j.day:02d}")


def jalali_day(day: date, weekday: bool = True) -> str:
    """«شنبه ۱ آذر ۱۴۰۵» (or without the weekday)."""
    j = jdatetime.date.fromgregorian(date=day)
    text = f"{j.day} {MONTHS_FA[j.month - 1]} {j.year}"
    if weekday:
        text = f"{WEEKDAYS_FA[(day.weekday() - SATURDAY) % 7]} {text}"
    return to_persian_digits(text)


def jalali_month_day(day: date) -> str:
    """«۱ آذر»: a short label for a chart's axis."""
    j = jdatetime.date.fromgregorian(date=day)
    return to_persian_digits(f"{j.day} {MONTHS_FA[j.month - 1]}")


def week_of(day: date) -> date:
    """The Saturday starting the Iranian week of ``day``."""
    return day - timedelta(days=(day.weekday() - SATURDAY) % 7)


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included."""

    first: date
    last: date

    @property
    def params(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    @property
    def fa(self) -> str:
        if self.first == self.last:
            return jalali_day(self.first)
        return f"{jalali_day(self.first)} تا {jalali_day(self.last)}"

    def clip(self, first: date, last: date) -> Period:
        return Period(max(first, self.first), min(last, self.last))


def this_week(today: date) -> Period:
    start = week_of(today)
    return Period(start, start + timedelta(days=6))


def trend_of(period: Period) -> Period:
    """The weeks the trend shows: the last twelve Iranian weeks up to the period's end, or the whole
    period when it is longer."""
    last_week = week_of(period.last)
    first = min(week_of(period.first), last_week - timedelta(weeks=TREND_WEEKS - 1))
    return Period(first, period.last)


DASHBOARD_FIELDS = ("from", "to", "session", "county")


def read_dashboard(form: Form, today: date, county_codes: set[str]) -> Period | None:
    """The period the supervisor asked for (this Iranian week by default), with ``form.errors`` filled
    for what cannot be read; None when the period cannot be made."""
    typed_from, typed_to = form.get("from"), form.get("to")
    week = this_week(today)
    first = last = None
    try:
        first = read_day(typed_from) if typed_from else week.first
    except ValueError:
        form.add("from", "روز آغاز را به شکل ۱۴۰۵/۰۹/۰۱ بنویسید (رقم فارسی یا لاتین)")
    try:
        last = read_day(typed_to) if typed_to else (week.last if not typed_from else today)
    except ValueError:
        form.add("to", "روز پایان را به شکل ۱۴۰۵/۰۹/۰۷ بنویسید (رقم فارسی یا لاتین)")
    if first and last and first > last:
        form.add("to", "روز پایان باید همان روز آغاز یا پس از آن باشد")
    if len(form.get("session")) > 200:
        form.add("session", "شناسهٔ جلسهٔ کشیک بیش از ۲۰۰ نویسه است؛ آن را از فهرست انتخاب کنید")
    if form.get("county") and form.get("county") not in county_codes:
        form.add("county", "شهرستان را از فهرست انتخاب کنید")
    if not form.ok or first is None or last is None:
        return None
    return Period(first, last)


def cases_url(
    report: str,
    measure: str,
    period: Period | None = None,
    *,
    session: str | None = None,
    agency: str | None = None,
    county: str | None = None,
    overdue: bool = False,
) -> str:
    """The console's list of the cases behind one number."""
    params: dict[str, str] = {"report": report, "measure": measure}
    if session:
        params["session"] = session
    elif period is not None:
        params.update(period.params)
    if agency:
        params["agency"] = agency
    if county:
        params["county"] = county
    if overdue:
        params["overdue"] = "true"
    return "/dashboard/cases?" + urlencode(params)


# --- numbers and charts ------------------------------------------------------------------------------


def number_fa(value: int | float | None) -> str:
    """۱۲٬۳۴۵ or ۱۲٫۵; a dash for nothing."""
    if value is None:
        return "—"
    text = f"{value:,.1f}" if isinstance(value, float) and not value.is_integer() else f"{int(value):,}"
    return to_persian_digits(text.replace(",", "٬").replace(".", "٫"))


def hours_fa(value: float | None) -> str:
    """A duration in hours as read aloud: «۳٫۵ ساعت», «۲ روز و ۴ ساعت»."""
    if value is None:
        return "—"
    if value < 24:
        return f"{number_fa(round(value, 1))} ساعت"
    days, hours = divmod(round(value), 24)
    return f"{number_fa(days)} روز" + (f" و {number_fa(hours)} ساعت" if hours else "")


def share_fa(part: int, whole: int) -> str:
    return "—" if not whole else to_persian_digits(f"{round(100 * part / whole)}٪")


FUNNEL_STAGES = (
    ("calls_received", "تماس دریافتی"),
    ("calls_answered", "تماس پاسخ‌داده‌شده"),
    ("cases_registered", "پرونده ثبت‌شده"),
    ("cases_referred", "ارجاع به دستگاه"),
)
COUNTY_STAGES = (
    ("registered", "پرونده ثبت‌شده"),
    ("referred", "ارجاع به دستگاه"),
    ("resolved", "پاسخ داده شده"),
)


def chart(
    kind: str, labels: list[str], series: list[tuple[str, list[int]]], horizontal: bool = False
) -> dict[str, Any]:
    """What charts.js draws: the same numbers as the table beside it."""
    return {
        "type": kind,
        "horizontal": horizontal,
        "labels": labels,
        "series": [{"label": name, "data": data} for name, data in series],
    }


def chart_label(title: str, labels: list[str], values: list[int]) -> str:
    """The chart's accessible name: its title and its numbers (the table beside it has them too)."""
    pairs = "، ".join(f"{label}: {number_fa(v)}" for label, v in zip(labels, values, strict=True))
    return f"{title} — {pairs}"


# --- the duty roster's form --------------------------------------------------------------------------

DAYS = range(7)
ROSTER_FIELDS = (
    "week_start",
    "agency",
    "director_name",
    "director_title",
    *(f"day{d}_{edge}" for d in DAYS for edge in ("start", "end")),
    "hours",
)


def read_time(text: str) -> time:
    """۹، ۹:۳۰، 09:30 or ۱۴٫۱۵: an hour of the day. Raises ValueError."""
    found = _TIME.match(to_ascii_digits(text))
    if not found:
        raise ValueError(text)
    return time(int(found.group(1)), int(found.group(2) or 0))


def roster_body(form: Form) -> tuple[dict[str, Any], list[int]] | None:
    """The body routing takes for the entry typed, and which day row each of its hours came from;
    None with ``form.errors`` filled for what cannot be read (routing checks the rest: a Saturday, an
    end after its start, no overlap)."""
    week: date | None = None
    try:
        week = read_day(form.get("week_start"))
    except ValueError:
        form.add("week_start", "تاریخ شنبهٔ آغاز هفته را به شکل ۱۴۰۵/۰۹/۰۱ بنویسید")
    if not form.get("agency"):
        form.add("agency", "دستگاهی را که مدیرکل آن کشیک است انتخاب کنید")
    if len(form.get("director_name")) < 2:
        form.add("director_name", "نام مدیرکل کشیک را بنویسید")
    hours: list[dict[str, str]] = []
    rows: list[int] = []
    for d in DAYS:
        start, end = form.get(f"day{d}_start"), form.get(f"day{d}_end")
        if not start and not end:
            continue
        times: list[time] = []
        for edge, typed in (("start", start), ("end", end)):
            try:
                times.append(read_time(typed))
            except ValueError:
                form.add(
                    f"day{d}_{edge}",
                    f"ساعت {'شروع' if edge == 'start' else 'پایان'} {WEEKDAYS_FA[d]} را مثل ۹:۰۰ یا ۱۲:۳۰ بنویسید",
                )
        if len(times) == 2 and week is not None:
            hours.append(
                {
                    "date": (week + timedelta(days=d)).isoformat(),
                    "start": times[0].strftime("%H:%M"),
                    "end": times[1].strftime("%H:%M"),
                }
            )
            rows.append(d)
    if not hours and not any(f"day{d}_start" in form.errors or f"day{d}_end" in form.errors for d in DAYS):
        form.add("day0_start", "دست‌کم برای یک روز ساعت شروع و پایان حضور را بنویسید")
    if not form.ok or week is None:
        return None
    body = {
        "week_start": week.isoformat(),
        "agency": form.get("agency"),
        "director_name": form.get("director_name"),
        "director_title": form.get("director_title") or None,
        "hours": hours,
    }
    return body, rows


def roster_form(entry: dict[str, Any]) -> Form:
    """An entry as the form shows it, to move it."""
    week = date.fromisoformat(entry["week_start"])
    values = {
        "week_start": jalali_short(week),
        "agency": entry["agency"],
        "director_name": entry["director_name"],
        "director_title": entry.get("director_title") or "",
    }
    for h in entry.get("hours", []):
        d = (date.fromisoformat(h["date"]) - week).days
        if d in DAYS:
            values[f"day{d}_start"] = to_persian_digits(h["start"])
            values[f"day{d}_end"] = to_persian_digits(h["end"])
    return Form(values, ROSTER_FIELDS)


_HOURS_FIELD = re.compile(r"^hours\.(\d+)(?:\.(date|start|end))?$")


def roster_refusal(form: Form, errors: list[dict[str, Any]], rows: list[int], fallback: str) -> None:
    """Routing's 422 on the fields of the form: ``hours.2.end`` is the end of the third day sent."""
    for e in errors:
        field = str(e.get("field", ""))
        message = str(e.get("message") or e.get("message_en") or fallback)
        found = _HOURS_FIELD.match(field)
        if found and int(found.group(1)) < len(rows):
            edge = "end" if found.group(2) == "end" else "start"
            form.add(f"day{rows[int(found.group(1))]}_{edge}", message)
        elif field in ("week_start", "agency", "director_name", "director_title"):
            form.add(field, message)
        elif field == "hours":
            form.add("day0_start", message)
        else:
            form.add("week_start", message)


def overlapping_days(body: dict[str, Any], other: dict[str, Any]) -> list[int]:
    """The rows of the typed entry whose hours overlap the other entry's hours on the same day."""
    week = date.fromisoformat(body["week_start"])
    theirs = [(h["date"], h["start"], h["end"]) for h in other.get("hours", [])]
    found = []
    for h in body["hours"]:
        for day, start, end in theirs:
            if h["date"] == day and h["start"] < end and start < h["end"]:
                found.append((date.fromisoformat(day) - week).days)
                break
    return sorted(set(found))


def roster_overlap(
    form: Form,
    body: dict[str, Any],
    rows: list[int],
    doc: dict[str, Any],
    other: dict[str, Any] | None,
    detail: str,
) -> None:
    """Routing's 409: beside the week when the agency has the week already, else beside each day whose
    hours overlap the other director-general's."""
    conflicts = doc.get("conflicts") or [{}]
    reason = str(conflicts[0].get("reason") or "")
    what = f"{detail}؛ هفته یا ساعت دیگری را انتخاب کنید" if detail else "با برنامهٔ دیگری هم‌پوشانی دارد"
    if "this week" in reason:
        form.add("week_start", what)
        return
    days = overlapping_days(body, other) if other else []
    for d in days or rows[:1] or [0]:
        form.add(f"day{d}_start", f"{WEEKDAYS_FA[d]}: {what}")


def entry_days(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """Each day of an entry as a line: («شنبه ۱ آذر»، «۹:۰۰ تا ۱۲:۰۰»)."""
    out = []
    for h in sorted(entry.get("hours", []), key=lambda h: (h["date"], h["start"])):
        day = date.fromisoformat(h["date"])
        out.append(
            (
                f"{WEEKDAYS_FA[(day.weekday() - SATURDAY) % 7]} {jalali_month_day(day)}",
                to_persian_digits(f"{h['start']} تا {h['end']}"),
            )
        )
    return out


def clock_fa(moment: datetime) -> str:
    """۱۴:۳۰ in the moment's own zone."""
    return to_persian_digits(moment.strftime("%H:%M"))


def clock_of(value: datetime | str | None) -> str:
    """The time of day in Tehran of a moment the services wrote: ۱۴:۳۰."""
    moment = as_datetime(value)
    return clock_fa(moment.astimezone(TEHRAN)) if moment else ""


def iso_day(text: str) -> date:
    return date.fromisoformat(text)


# --- what the dashboard's tables and charts show -----------------------------------------------------

MEASURE_FA: dict[tuple[str, str], str] = {
    ("funnel", "cases_registered"): "پرونده‌های ثبت‌شده",
    ("funnel", "cases_referred"): "پرونده‌های ارجاع‌شده به دستگاه",
    ("agencies", "received"): "پرونده‌های دریافتی دستگاه",
    ("agencies", "acknowledged"): "پرونده‌های پذیرفته‌شده",
    ("agencies", "acknowledged_within_sla"): "پرونده‌های پذیرفته‌شده در مهلت",
    ("agencies", "resolved"): "پرونده‌های پاسخ‌داده‌شده",
    ("agencies", "currently_overdue"): "پرونده‌های دارای دیرکرد",
    ("counties", "registered"): "پرونده‌های ثبت‌شده",
    ("counties", "referred"): "پرونده‌های ارجاع‌شده",
    ("counties", "resolved"): "پرونده‌های پاسخ‌داده‌شده",
    ("counties", "rejected"): "پرونده‌های ردشده",
    ("counties", "open"): "پرونده‌های باز",
    ("counties", "currently_overdue"): "پرونده‌های دارای دیرکرد",
    ("weeks", "cases_registered"): "پرونده‌های ثبت‌شده",
    ("weeks", "cases_referred"): "پرونده‌های ارجاع‌شده",
    ("weeks", "cases_resolved"): "پرونده‌های پاسخ‌داده‌شده",
}


@dataclass(frozen=True)
class Cell:
    """A number in a table, and the list of the cases behind it (none for calls, or for zero)."""

    value: int | None
    url: str | None = None

    @property
    def fa(self) -> str:
        return number_fa(self.value)


def _cell(value: Any, url: str) -> Cell:
    n = int(value or 0)
    return Cell(n, url if n else None)


def funnel_rows(funnel: dict[str, Any], period: Period, session: str | None) -> list[tuple[str, Cell, str]]:
    """(stage, number, share of the stage before) for the funnel of a period or a duty session."""
    rows: list[tuple[str, Cell, str]] = []
    before: int | None = None
    for key, label in FUNNEL_STAGES:
        value = int(funnel.get(key) or 0)
        if key.startswith("cases_"):
            cell = _cell(value, cases_url("funnel", key, period, session=session))
        else:
            cell = Cell(value)
        rows.append((label, cell, share_fa(value, before) if before is not None else ""))
        before = value
    return rows


def county_funnel_rows(
    row: dict[str, Any] | None, county: str, period: Period
) -> list[tuple[str, Cell, str]]:
    """The county's funnel: the cases registered there, referred, and answered (calls carry no county
    at the desk, where the caller's county is asked only for a case)."""
    row = row or {}
    rows: list[tuple[str, Cell, str]] = []
    before: int | None = None
    for key, label in COUNTY_STAGES:
        value = int(row.get(key) or 0)
        rows.append(
            (
                label,
                _cell(value, cases_url("counties", key, period, county=county)),
                share_fa(value, before) if before is not None else "",
            )
        )
        before = value
    return rows


def agency_rows(rows: list[dict[str, Any]], period: Period) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        code = r["agency"]

        def url(measure: str, code: str = code) -> str:
            return cases_url("agencies", measure, period, agency=code)

        out.append(
            {
                "agency": code,
                "agency_fa": r.get("agency_fa") or code,
                "received": _cell(r.get("received"), url("received")),
                "in_time": _cell(r.get("acknowledged_within_sla"), url("acknowledged_within_sla")),
                "in_time_pct": "—"
                if r.get("acknowledged_within_sla_pct") is None
                else to_persian_digits(f"{round(r['acknowledged_within_sla_pct'])}٪"),
                "resolved": _cell(r.get("resolved"), url("resolved")),
                "median": hours_fa(r.get("median_hours_to_resolve")),
                "overdue": _cell(
                    r.get("currently_overdue"),
                    cases_url("agencies", "currently_overdue", agency=code, overdue=True),
                ),
            }
        )
    return out


def week_rows(weeks: list[dict[str, Any]], trend: Period) -> list[dict[str, Any]]:
    out = []
    for w in weeks:
        start = date.fromisoformat(w["week_start"])
        days = trend.clip(start, start + timedelta(days=6))

        def url(measure: str, days: Period = days) -> str:
            return cases_url("weeks", measure, days)

        out.append(
            {
                "label": f"هفتهٔ {jalali_day(start, weekday=False)}",
                "short": jalali_month_day(start),
                "calls_received": Cell(int(w.get("calls_received") or 0)),
                "calls_answered": Cell(int(w.get("calls_answered") or 0)),
                "cases_registered": _cell(w.get("cases_registered"), url("cases_registered")),
                "cases_referred": _cell(w.get("cases_referred"), url("cases_referred")),
                "cases_resolved": _cell(w.get("cases_resolved"), url("cases_resolved")),
            }
        )
    return out


def county_rows(rows: list[dict[str, Any]], period: Period, names: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for r in sorted(rows, key=lambda r: -int(r.get("registered") or 0)):
        code = r["county"]

        def url(measure: str, code: str = code) -> str:
            return cases_url("counties", measure, period, county=code)

        out.append(
            {
                "county": code,
                "county_fa": names.get(code, "نامشخص" if code == "unknown" else code),
                **{
                    m: _cell(r.get(m), url(m))
                    for m in ("registered", "referred", "resolved", "open", "currently_overdue")
                },
            }
        )
    return out


def dashboard_charts(
    funnel: list[tuple[str, Cell, str]], agencies: list[dict[str, Any]], weeks: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The three charts, from the same rows as the tables beside them."""
    labels = [label for label, _cell, _share in funnel]
    values = [int(cell.value or 0) for _label, cell, _share in funnel]
    busy = [a for a in agencies if a["received"].value or a["overdue"].value]
    charts: dict[str, dict[str, Any]] = {
        "funnel": {
            **chart("bar", labels, [("تعداد", values)], horizontal=True),
            "aria": chart_label("نمودار قیف", labels, values),
        }
    }
    if busy:
        names = [a["agency_fa"] for a in busy]
        charts["agencies"] = {
            **chart(
                "bar",
                names,
                [
                    ("دریافتی", [int(a["received"].value or 0) for a in busy]),
                    ("پاسخ‌داده‌شده", [int(a["resolved"].value or 0) for a in busy]),
                    ("دیرکرد", [int(a["overdue"].value or 0) for a in busy]),
                ],
                horizontal=True,
            ),
            "aria": "نمودار سرویس‌دهی دستگاه‌ها (دریافتی، پاسخ‌داده‌شده و دیرکرد هر دستگاه)؛ اعداد در جدول کنار نمودار آمده است",
        }
    if weeks:
        charts["weeks"] = {
            **chart(
                "line",
                [w["short"] for w in weeks],
                [
                    ("تماس دریافتی", [int(w["calls_received"].value or 0) for w in weeks]),
                    ("پرونده ثبت‌شده", [int(w["cases_registered"].value or 0) for w in weeks]),
                    ("ارجاع به دستگاه", [int(w["cases_referred"].value or 0) for w in weeks]),
                    ("پاسخ داده شده", [int(w["cases_resolved"].value or 0) for w in weeks]),
                ],
            ),
            "aria": "نمودار روند هفتگی تماس‌ها و پرونده‌ها؛ اعداد هر هفته در جدول کنار نمودار آمده است",
        }
    return charts


def cases_title(params: dict[str, str], agency_fa: str | None, county_fa: str | None) -> str:
    """«پرونده‌های ارجاع‌شده به دستگاه — جلسهٔ کشیک …» for the list behind a number."""
    what = MEASURE_FA.get((params.get("report", ""), params.get("measure", "")), "پرونده‌ها")
    if params.get("overdue") == "true":
        what = MEASURE_FA[("agencies", "currently_overdue")]
    parts = [what]
    if agency_fa:
        parts.append(agency_fa)
    if county_fa:
        parts.append(f"شهرستان {county_fa}")
    if params.get("session"):
        parts.append(f"جلسهٔ کشیک {params['session']}")
    elif params.get("from") and params.get("to") and params.get("overdue") != "true":
        with contextlib.suppress(ValueError):
            parts.append(Period(date.fromisoformat(params["from"]), date.fromisoformat(params["to"])).fa)
    return " — ".join(parts)
