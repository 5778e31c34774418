"""Throttling failed sign-ins: slower and slower guesses, never a lockout.

Failures are counted under three keys: the account from one address, the
address for any account, and the account from anywhere. Past a free allowance
each further failure doubles the wait before the next attempt under that key,
up to a ceiling. The account-wide key has a low ceiling on purpose: a
stranger hammering the admin's e-mail slows the admin's own sign-in by
seconds at most, while the same stranger's own address is held off for up
to a quarter of an hour. A successful sign-in clears the account's keys.

Admitting an attempt is one atomic step: in one write transaction the keys'
rows are locked, the wait is checked and, when there is none, the attempt is
counted as a failure *before* its password is checked. Guesses sent in
parallel therefore queue on those rows and each sees the ones before it, so
no more of them get a password check than if they had been sent one after
another. A right password then gives its provisional failure back
(:func:`succeeded`). The password hash itself runs outside the transaction,
so a flood of sign-ins never holds the database's write lock for the length
of an argon2 round.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from xrm.platform import tables


@dataclass(frozen=True, slots=True)
class Rule:
    """Failures allowed free under one kind of key, and the ceiling of the wait after."""

    free: int
    ceiling: dt.timedelta

    def blocked_until(self, failures: int, now: dt.datetime) -> dt.datetime | None:
        """When the next attempt may come after ``failures`` failures (None: at once)."""
        if failures <= self.free:
            return None
        seconds = min(2.0 ** (failures - self.free - 1), self.ceiling.total_seconds())
        return now + dt.timedelta(seconds=seconds)


PAIR = Rule(free=3, ceiling=dt.timedelta(minutes=15))  # this account from this address
ADDRESS = Rule(free=10, ceiling=dt.timedelta(minutes=15))  # any account from this address
ACCOUNT = Rule(free=10, ceiling=dt.timedelta(seconds=30))  # this account from anywhere


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _keys(email: str, address: str) -> dict[str, Rule]:
    """The three keys of an attempt with their rules, sorted (the order their rows are locked)."""
    email = email.strip().lower()[:320]
    keys = {
        f"pair:{email}|{address}": PAIR,
        f"address:{address}": ADDRESS,
        f"account:{email}": ACCOUNT,
    }
    return dict(sorted(keys.items()))


def attempt(conn: Connection, email: str, address: str) -> dt.timedelta | None:
    """Admit one sign-in attempt (None), or say how long it must wait first.

    Call inside a write transaction and commit before checking the password:
    an admitted attempt is already counted as a failure under every key.
    A refused attempt counts nothing (waiting is not guessing).
    """
    t = tables.signin_failures
    keys = _keys(email, address)
    now = _now()
    # Every key gets a row first, so the rows can be locked even on a first attempt;
    # keys are inserted and locked in one order, so two attempts never deadlock.
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(t)
    conn.execute(
        insert.on_conflict_do_nothing(),
        [{"key": k, "failures": 0, "last_failure_at": now, "blocked_until": None} for k in keys],
    )
    rows = conn.execute(
        sa.select(t.c.key, t.c.failures, t.c.blocked_until)
        .where(t.c.key.in_(list(keys)))
        .order_by(t.c.key)
        .with_for_update()
    ).all()
    waits = [r.blocked_until - now for r in rows if r.blocked_until and r.blocked_until > now]
    if waits:
        return max(waits)
    for row in rows:
        failures = row.failures + 1
        conn.execute(
            t.update()
            .where(t.c.key == row.key)
            .values(
                failures=failures,
                last_failure_at=now,
                blocked_until=keys[row.key].blocked_until(failures, now),
            )
        )
    return None


def succeeded(conn: Connection, email: str, address: str) -> None:
    """A right password clears the account's counters and gives back the address's one.

    The address keeps the failures of other attempts (a guesser signing in to
    an account of their own must not wipe their record); only the failure
    :func:`attempt` counted in advance for this one is taken back.
    """
    t = tables.signin_failures
    keys = _keys(email, address)
    account = [k for k, rule in keys.items() if rule is not ADDRESS]
    conn.execute(t.delete().where(t.c.key.in_(account)))
    for key, rule in keys.items():
        if rule is ADDRESS:
            # Right-hand sides read the old row, so ``failures - 1`` is the count after this.
            conn.execute(
                t.update()
                .where(t.c.key == key, t.c.failures > 0)
                .values(
                    failures=t.c.failures - 1,
                    blocked_until=sa.case(
                        (t.c.failures - 1 <= rule.free, sa.null()), else_=t.c.blocked_until
                    ),
                )
            )
