"""What the console's browser tests share: the platform's ports, signing in through the real provider,
and the SMS outbox of the platform's notify."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.async_api import Page

from tests.support.identity import state
from tests.support.processes import ServiceProcess

# The realm lets the console's test address (and only it, beside the local one) receive sign-ins.
CONSOLE_PORT = 18005
SERVICES = ("intake", "routing", "tracking", "notify")


async def sign_in(page: Page, console: str, username: str, then: str = "/desk") -> None:
    await page.goto(console + then)
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(state()["users"][username]["password"])
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(re.escape(console) + ".*"))


def outbox(procs: dict[str, ServiceProcess]) -> list[dict[str, str]]:
    path = Path(procs["notify"].env["SAMAD_SMS_FILE_PATH"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
