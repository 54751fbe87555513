"""The citizen's pages: their case's status by tracking code and phone, and a request registered online
once a one-time code proves they hold the phone."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.common.clock import Clock
from services.common.logs import mask_phone
from services.console.adapters.platform import ApiRefused, Platform
from services.console.adapters.stores import Counters
from services.console.domain.forms import Form, check_status, digits, looks_like_mobile
from services.console.domain.otp import Challenge, Verdict

log = logging.getLogger("samad.console.citizen")
HOUR = timedelta(hours=1)


class TooMany(Exception):
    """Asked too often; ``minutes``: when to try again."""

    def __init__(self, minutes: int) -> None:
        super().__init__(minutes)
        self.minutes = minutes


@dataclass(frozen=True)
class OtpRules:
    minutes: int
    attempts: int
    per_phone_hour: int
    per_address_hour: int


class CitizenPages:
    def __init__(
        self,
        platform: Platform,
        counters: Counters,
        clock: Clock,
        rules: OtpRules,
        service_token: Callable[[], Awaitable[str]],
    ) -> None:
        self.platform = platform
        self.counters = counters
        self.clock = clock
        self.rules = rules
        self.service_token = service_token

    async def status(self, form: Form, client: str) -> dict[str, Any] | None:
        """The case, or None with the form's errors saying why (the same words for a wrong code and a
        wrong phone: tracking answers both alike)."""
        check_status(form)
        if not form.ok:
            return None
        try:
            return await self.platform.citizen_status(
                digits(form.get("tracking_code")), digits(form.get("phone")), client
            )
        except ApiRefused as exc:
            if exc.status == 429:
                form.add("tracking_code", "تعداد تلاش‌ها زیاد بود؛ چند دقیقه دیگر دوباره امتحان کنید")
            elif exc.status == 422 and exc.errors:
                form.add_api_errors(exc.errors, "tracking_code")
            else:
                form.add(
                    "tracking_code",
                    "پرونده‌ای با این کد رهگیری و این شماره همراه پیدا نشد؛ هر دو را دوباره بررسی کنید",
                )
            return None

    async def send_code(self, form: Form, client: str) -> Challenge | None:
        """A new one-time code to the phone in ``form``; the challenge to keep in the session."""
        phone = form.get("phone")
        if not looks_like_mobile(phone):
            form.add("phone", "شماره همراه را با ۱۱ رقم وارد کنید، مثلاً ۰۹۱۵۱۲۳۴۵۶۷")
            return None
        now = self.clock.now()
        national = normal_mobile(phone)
        if await self.counters.hit(f"otp-phone:{national}", HOUR, now) > self.rules.per_phone_hour or (
            await self.counters.hit(f"otp-addr:{client}", HOUR, now) > self.rules.per_address_hour
        ):
            form.add("phone", "برای این شماره بیش از حد کد خواسته شده است؛ یک ساعت دیگر دوباره امتحان کنید")
            return None
        challenge, code = Challenge.new(national, now, self.rules.minutes, self.rules.attempts)
        try:
            await self.platform.send_code(await self.service_token(), national, code, self.rules.minutes)
        except ApiRefused as exc:
            form.add_api_errors(exc.errors, "phone")
            if not exc.errors:
                form.add("phone", "پیامک کد فرستاده نشد؛ چند لحظه بعد دوباره امتحان کنید")
            return None
        log.info("one-time code sent to %s", mask_phone(national))
        return challenge

    def check_code(self, challenge: Challenge, form: Form) -> tuple[Verdict, Challenge]:
        verdict, after = challenge.check(digits(form.get("code")), self.clock.now())
        if verdict is Verdict.wrong:
            form.add(
                "code", f"کد درست نیست؛ کد ۶ رقمی پیامک را دوباره وارد کنید ({after.attempts_left} تلاش دیگر)"
            )
        elif verdict is Verdict.expired:
            form.add("code", "زمان این کد گذشته است؛ «فرستادن دوبارهٔ کد» را بزنید")
        elif verdict is Verdict.exhausted:
            form.add("code", "تلاش‌ها تمام شد؛ «فرستادن دوبارهٔ کد» را بزنید")
        return verdict, after

    async def register(
        self, details: dict[str, str], phone: str, key: str, form: Form
    ) -> dict[str, Any] | None:
        """The same registration every channel uses, as channel ``web``, with the console's service
        account; None with the form's errors when intake refuses a field."""
        body = {
            "channel": "web",
            "phone": phone,
            "name": details.get("name") or None,
            "county": details.get("county"),
            "subject": details.get("subject"),
            "description": details.get("description"),
        }
        try:
            return await self.platform.register_case(await self.service_token(), body, key)
        except ApiRefused as exc:
            form.add_api_errors(exc.errors, "description")
            if not exc.errors:
                form.add("description", exc.title or "درخواست ثبت نشد")
            return None


def normal_mobile(text: str) -> str:
    """09151234567 in any digits or prefix -> +989151234567."""
    d = digits(text)
    if d.startswith("+98"):
        d = "0" + d[3:]
    elif d.startswith("0098"):
        d = "0" + d[4:]
    return "+98" + d[1:]
