"""The Xero sandbox as the hub's tests use it: behind Xero's OpenAPI description, the hub's settings pointing at it."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sandboxes.xero.app import RunningSandbox, start_sandbox
from tests.support.xero_spec import SpecChecked


@contextmanager
def checked_sandbox(settings=None, *, speed: float = 1.0, **options) -> Iterator[RunningSandbox]:
    """A sandbox whose every request and answer is checked against Xero's description; the hub's Xero settings
    point at it (when `settings` is pytest-django's fixture). Any violation fails the test when it ends."""
    holder: dict = {}

    def wrap(app):
        holder["checker"] = SpecChecked(app)
        return holder["checker"]

    with start_sandbox(seed=options.pop("seed", "demo"), speed=speed, wrap=wrap, **options) as running:
        running.checker = holder["checker"]
        if settings is not None:
            settings.HUB_XERO_LOGIN_URL = settings.HUB_XERO_IDENTITY_URL = settings.HUB_XERO_API_URL = running.url
            settings.HUB_XERO_CLOCK_SPEED = speed
        yield running
    assert holder["checker"].violations == [], holder["checker"].report()


def each_test_checked(running: RunningSandbox) -> Iterator[RunningSandbox]:
    """For a sandbox shared by a module: each test starts with no violation on record and must end with none.
    Use as `yield from each_test_checked(running)` in a function-scoped fixture."""
    running.checker.clear()
    yield running
    assert running.checker.violations == [], running.checker.report()
