"""Playwright driving Debian's Chromium (installed by `make test` through scripts/ensure-chromium.sh)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("HUB_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-gpu", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def launch(playwright):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium) or set HUB_CHROMIUM.")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)


class Shots:
    """Numbered screenshots of one test, in artifacts/screenshots/<test name>/ (git-ignored)."""

    def __init__(self, page, test_name: str):
        self.page = page
        self.folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:120]
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def __call__(self, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


# --- Content-Security-Policy: a page that breaks the policy fails its test ----------------------------------
CSP_MARKERS = ("Content Security Policy", "Content-Security-Policy", "Refused to")
# Runs before any script of every page (injected by the browser, so the page's own policy does not block it):
# each violation the page reports is written to the console, where the watch below reads it.
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("Content Security Policy violation: " + e.effectiveDirective + " blocked " + (e.blockedURI || "?") +
                " in " + e.documentURI + (e.lineNumber ? ":" + e.lineNumber : "") +
                (e.sample ? " (" + e.sample + ")" : ""));
}, true);
"""


class CspWatch:
    """Records every Content-Security-Policy violation reported in a browser context (console or page error).

    The `page` fixture fails the test at teardown when anything was recorded; a test that provokes a
    violation on purpose reads `page.csp_violations` and empties it.
    """

    def __init__(self, context):
        self.violations: list[str] = []
        context.add_init_script(_REPORT_VIOLATIONS)
        context.on("console", self._on_console)
        context.on("weberror", self._on_error)

    @staticmethod
    def _is_violation(text: str) -> bool:
        return any(marker in text for marker in CSP_MARKERS)

    def _on_console(self, message) -> None:
        if self._is_violation(message.text):
            where = message.page.url if message.page else "?"
            self.violations.append(f"[console {message.type} on {where}] {message.text}")

    def _on_error(self, web_error) -> None:
        text = str(web_error.error)
        if self._is_violation(text):
            self.violations.append(f"[page error] {text}")

    def failure(self) -> str | None:
        if not self.violations:
            return None
        return "The page broke its Content-Security-Policy:\n" + "\n".join(f"  - {v}" for v in self.violations)
