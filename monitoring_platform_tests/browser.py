"""Open pages in Debian's headless Chromium, driven by Playwright (which downloads no browser)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium)")
    return path


@dataclass
class PageVisit:
    text: str
    title: str
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    evaluated: object = None


def visit(
    url_or_path: str | Path,
    evaluate: str | None = None,
    wait_for: str | None = None,
    screenshot: Path | None = None,
    full_page_screenshot: Path | None = None,
    dismiss: str | None = None,
) -> PageVisit:
    """Load a page, let its scripts run, and report what a person (and the console) would see."""
    from playwright.sync_api import sync_playwright

    url = Path(url_or_path).resolve().as_uri() if isinstance(url_or_path, Path) else url_or_path
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            console: list[str] = []
            dialogs: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: console.append(msg.text) if msg.type == "error" else None,
            )

            def on_dialog(dialog):
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.goto(url, wait_until="load")
            if wait_for:
                page.wait_for_selector(wait_for, timeout=30_000)
            page.wait_for_timeout(500)
            if dismiss and page.locator(dismiss).count():
                page.locator(dismiss).first.click()  # a dialog in front of the page
                page.wait_for_timeout(500)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=False)
            if full_page_screenshot is not None:
                page.screenshot(path=str(full_page_screenshot), full_page=True)
            result = page.evaluate(evaluate) if evaluate else None
            return PageVisit(
                text=page.inner_text("body"),
                title=page.title(),
                page_errors=errors,
                console_errors=console,
                dialogs=dialogs,
                evaluated=result,
            )
        finally:
            browser.close()
