"""Sign-in guesses sent all at once get no more password checks than guesses sent one by one.

Issue 10, point 10: 60 wrong passwords sent at once had 17 checked (3 when
sent one after another), because waiting, checking and recording a failure
were three transactions. Here the guesses really run at the same time (one
thread each, through the whole ASGI application, on either database); the
clock is held still so that no wait runs out while they queue, which makes
the one-after-another count exact.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from starlette.testclient import TestClient
from test_signin import PASSWORD, csrf_of

from xrm.app import create_app
from xrm.platform import throttle
from xrm.platform.db import Database
from xrm.platform.identity import create_user
from xrm.platform.settings import Settings

GUESSES = 60
STILL = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def app_settings(settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch) -> Settings:
    with db.write() as conn:
        for who in ("ann", "bob"):
            create_user(conn, f"{who}@example.com", ("admin",), password=PASSWORD)
    monkeypatch.setattr(throttle, "_now", lambda: STILL)
    return settings


@contextmanager
def browser(settings: Settings, address: str) -> Iterator[Callable[[str], int]]:
    """A ``guess(email)`` from ``address``: 401 when its password was checked, 429 when held off."""
    with TestClient(create_app(settings), follow_redirects=False, client=(address, 5000)) as c:
        csrf = csrf_of(c.get("/admin/login").text)

        def guess(email: str) -> int:
            form = {"email": email, "password": "a wrong guess", "csrf": csrf}
            return c.post("/admin/login", data=form).status_code

        yield guess


def at_once(guess: Callable[[str], int], emails: list[str]) -> Counter[int]:
    """Every guess in its own thread, all released together."""
    start = threading.Barrier(len(emails))
    statuses: list[int] = []
    lock = threading.Lock()

    def run(email: str) -> None:
        start.wait()
        status = guess(email)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=run, args=(email,)) for email in emails]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(statuses)


def one_by_one(guess: Callable[[str], int], emails: list[str]) -> Counter[int]:
    return Counter(guess(email) for email in emails)


def test_parallel_guesses_at_one_account_get_no_more_checks_than_serial_ones(
    app_settings: Settings,
) -> None:
    with browser(app_settings, "198.51.100.1") as guess:
        serial = one_by_one(guess, ["bob@example.com"] * GUESSES)
    with browser(app_settings, "198.51.100.2") as guess:
        parallel = at_once(guess, ["ann@example.com"] * GUESSES)
    checked = throttle.PAIR.free + 1  # the free ones, then the one that starts the wait
    assert serial == {401: checked, 429: GUESSES - checked}
    assert parallel == serial


def test_parallel_guesses_at_many_accounts_from_one_address_are_counted_too(
    app_settings: Settings,
) -> None:
    with browser(app_settings, "198.51.100.3") as guess:
        serial = one_by_one(guess, [f"s{i}@example.com" for i in range(30)])
    with browser(app_settings, "198.51.100.4") as guess:
        parallel = at_once(guess, [f"p{i}@example.com" for i in range(30)])
    checked = throttle.ADDRESS.free + 1
    assert serial == {401: checked, 429: 30 - checked}
    assert parallel == serial
