"""Admin UI sessions, kept on the server so signing out ends them everywhere.

The cookie holds a random 256-bit token, signed with the secret key; the
database holds only its SHA-256, the user, a CSRF token for the session's
forms, and its deadlines. A session ends when its user signs out (the row is
deleted, so a replayed cookie finds nothing), after ``IDLE`` without use, at
``LIFETIME`` whatever happens, or when its user is deactivated or given a new
password (:func:`end_all`; an inactive user's sessions are refused even before).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.platform import tables
from xrm.platform.identity import Actor, hash_token, roles_of_user

IDLE = dt.timedelta(hours=12)
LIFETIME = dt.timedelta(days=7)
TOUCH_EVERY = dt.timedelta(minutes=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: who, the CSRF token its forms carry, and whether to record use."""

    token_hash: str
    actor: Actor
    name: str | None
    locale: str | None
    csrf: str
    stale: bool


def start(conn: Connection, user: Actor, address: str | None) -> str:
    """A new session for ``user``; returns the token for the cookie (never stored as is)."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    now = _now()
    conn.execute(
        tables.sessions.insert().values(
            token_hash=hash_token(token),
            user_id=user.id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + LIFETIME,
            address=(address or "")[:64] or None,
        )
    )
    return token


def find(conn: Connection, token: str) -> Session | None:
    """The live session for a cookie's token, else None."""
    s, u = tables.sessions, tables.users
    row = conn.execute(
        sa.select(
            s.c.token_hash,
            s.c.csrf,
            s.c.last_seen_at,
            s.c.expires_at,
            u.c.id,
            u.c.email,
            u.c.name,
            u.c.locale,
            u.c.active,
        )
        .join(u, u.c.id == s.c.user_id)
        .where(s.c.token_hash == hash_token(token))
    ).first()
    now = _now()
    if row is None or not row.active or row.expires_at <= now or now - row.last_seen_at > IDLE:
        return None
    actor = Actor(str(row.id), row.email, roles_of_user(conn, str(row.id)), row.locale)
    stale = now - row.last_seen_at >= TOUCH_EVERY
    return Session(row.token_hash, actor, row.name, row.locale, row.csrf, stale)


def touch(conn: Connection, token_hash: str) -> None:
    """Record use now (keeps the session from idling out)."""
    s = tables.sessions
    conn.execute(s.update().where(s.c.token_hash == token_hash).values(last_seen_at=_now()))


def end(conn: Connection, token_hash: str) -> None:
    """Sign out: the session is gone, so its cookie is worthless even if replayed."""
    conn.execute(tables.sessions.delete().where(tables.sessions.c.token_hash == token_hash))


def end_all(conn: Connection, user_id: str) -> int:
    """End every session of a user (deactivated, or given a new password); returns how many."""
    s = tables.sessions
    done = conn.execute(s.delete().where(s.c.user_id == user_id))
    return int(done.rowcount or 0)
