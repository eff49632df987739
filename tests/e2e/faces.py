"""Tools for the browser tests (issue 11): headless Chromium driven by Playwright, the
system's own browser (``apt-get install chromium``; Playwright's download is not reachable
here), the pages' servers as real processes, bounded waits everywhere."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bianmin.procs import ServerProcess
from tests.incli import setup

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
WAIT_MS = 15_000
DESK_PASSWORD = "desk-pass-2026"
CONSOLE_PASSWORD = "console-pass-2026"
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it (apt-get install "
                        "chromium fonts-noto-cjk)")
        pytest.skip("chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    return found


@contextmanager
def browser_session() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                    timeout=WAIT_MS * 2)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any) -> Any:
    """A fresh browser profile (its own cookies) at 1366x768, in Chinese."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (d.type == "alert" and dialogs.append(d.message), d.accept()))
    page.dialogs = dialogs  # a script run by an injected name would show here
    return page


def eventually(check: Callable[[], bool], *, within_s: float = 30, every_s: float = 0.5,
               what: str = "") -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    pytest.fail(f"not within {within_s:.0f} s: {what}")


def login(page: Any, base: str, name: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def desk_account(home: Path, name: str = "wang", display: str = "王小红") -> None:
    setup("node", "account", "add", name, "--display-name", display, "--password",
          DESK_PASSWORD, "--home", str(home))


def console_account(hub_home: Path, name: str) -> None:
    setup("hub", "operator", "password", name, "--password", CONSOLE_PASSWORD, "--home",
          str(hub_home))


def node_run(home: Path, log: Path) -> ServerProcess:
    """``node run`` with the desk; its first line (JSON) names the desk's address."""
    return ServerProcess(["node", "run", "--home", str(home), "--interval", "2",
                          "--log-format", "json"], log=log)


def shoot(page: Any, name: str) -> None:
    """A screenshot for docs/screens/ when BIANMIN_SCREENS=1 (the README shows them)."""
    if os.environ.get("BIANMIN_SCREENS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)
