"""Throttling failed sign-ins: slower and slower guesses, never a lockout.

Failures are counted under three keys: the account from one address, the
address for any account, and the account from anywhere. Past a free allowance
each further failure doubles the wait before the next attempt under that key,
up to a ceiling. The account-wide key has a low ceiling on purpose: a
stranger hammering the admin's e-mail slows the admin's own sign-in by
seconds at most, while the same stranger's own address is held off for up
to a quarter of an hour. A successful sign-in clears the account's keys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.platform import tables


@dataclass(frozen=True, slots=True)
class Rule:
    """Failures allowed free under one kind of key, and the ceiling of the wait after."""

    free: int
    ceiling: dt.timedelta


PAIR = Rule(free=3, ceiling=dt.timedelta(minutes=15))  # this account from this address
ADDRESS = Rule(free=10, ceiling=dt.timedelta(minutes=15))  # any account from this address
ACCOUNT = Rule(free=10, ceiling=dt.timedelta(seconds=30))  # this account from anywhere


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _keys(email: str, address: str) -> list[tuple[str, Rule]]:
    email = email.strip().lower()[:320]
    return [
        (f"pair:{email}|{address}", PAIR),
        (f"address:{address}", ADDRESS),
        (f"account:{email}", ACCOUNT),
    ]


def wait(conn: Connection, email: str, address: str) -> dt.timedelta | None:
    """How long this attempt must wait (None: go ahead). Checked before any password hash."""
    t = tables.signin_failures
    keys = [k for k, _ in _keys(email, address)]
    now = _now()
    longest = None
    for (blocked,) in conn.execute(sa.select(t.c.blocked_until).where(t.c.key.in_(keys))):
        if blocked is not None and blocked > now:
            left = blocked - now
            longest = left if longest is None or left > longest else longest
    return longest


def failed(conn: Connection, email: str, address: str) -> None:
    """Count one failure under every key; past the allowance, double the wait."""
    t = tables.signin_failures
    now = _now()
    for key, rule in _keys(email, address):
        found = conn.execute(sa.select(t.c.failures).where(t.c.key == key)).scalar()
        failures = (found or 0) + 1
        blocked = None
        if failures > rule.free:
            seconds = min(2.0 ** (failures - rule.free - 1), rule.ceiling.total_seconds())
            blocked = now + dt.timedelta(seconds=seconds)
        values = {"failures": failures, "last_failure_at": now, "blocked_until": blocked}
        if found is not None:
            conn.execute(t.update().where(t.c.key == key).values(values))
            continue
        try:
            with conn.begin_nested():
                conn.execute(t.insert().values(key=key, **values))
        except sa.exc.IntegrityError:  # a concurrent failure counted first: count on top
            conn.execute(
                t.update()
                .where(t.c.key == key)
                .values(failures=t.c.failures + 1, last_failure_at=now)
            )


def succeeded(conn: Connection, email: str, address: str) -> None:
    """A right password clears the account's counters (the address's stay)."""
    t = tables.signin_failures
    keys = [k for k, rule in _keys(email, address) if rule is not ADDRESS]
    conn.execute(t.delete().where(t.c.key.in_(keys)))
