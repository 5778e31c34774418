"""Who is acting: actors, users and API tokens.

Every write carries an ``Actor``. Tokens are 256 random bits shown once and
stored as SHA-256, so checking one is an indexed lookup, not a password hash.
(Roles, sessions and password sign-in grow here with the access issue.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.platform import tables
from xrm.platform.ids import new_id

TOKEN_PREFIX = "xrm_"
BUILTIN_ROLES = ("admin", "editor", "viewer")


@dataclass(frozen=True, slots=True)
class Actor:
    """The user (or the system) on whose behalf something happens."""

    id: str | None
    email: str
    roles: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


SYSTEM_ACTOR = Actor(None, "system", ("admin",))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_user(conn: Connection, email: str) -> Actor | None:
    row = conn.execute(
        sa.select(tables.users).where(tables.users.c.email == email.strip().lower())
    ).first()
    if row is None:
        return None
    return Actor(row.id, row.email, _roles(conn, row.id))


def _roles(conn: Connection, user_id: str) -> tuple[str, ...]:
    rows = conn.execute(
        sa.select(tables.user_roles.c.role).where(tables.user_roles.c.user_id == user_id)
    )
    return tuple(sorted(r.role for r in rows))


def create_user(
    conn: Connection, email: str, roles: tuple[str, ...], name: str | None = None
) -> Actor:
    user_id = new_id()
    email = email.strip().lower()
    conn.execute(
        tables.users.insert().values(
            id=user_id, email=email, name=name, active=True, created_at=_now()
        )
    )
    for role in roles:
        conn.execute(tables.user_roles.insert().values(user_id=user_id, role=role))
    return Actor(user_id, email, tuple(sorted(roles)))


def first_admin(conn: Connection) -> Actor:
    """The oldest admin user, created as ``admin@localhost`` when there is none."""
    row = conn.execute(
        sa.select(tables.users.c.id, tables.users.c.email)
        .join(tables.user_roles, tables.user_roles.c.user_id == tables.users.c.id)
        .where(tables.user_roles.c.role == "admin", tables.users.c.active.is_(True))
        .order_by(tables.users.c.created_at, tables.users.c.id)
        .limit(1)
    ).first()
    if row is not None:
        return Actor(row.id, row.email, _roles(conn, row.id))
    return create_user(conn, "admin@localhost", ("admin",), name="Administrator")


def create_token(
    conn: Connection, user: Actor, name: str | None = None, expires_in_days: float | None = None
) -> str:
    """A new API token for ``user``; the plain text is returned once and never stored."""
    if user.id is None:
        raise ValueError("the system actor cannot hold tokens")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = _now() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    conn.execute(
        tables.tokens.insert().values(
            id=new_id(),
            user_id=user.id,
            name=name,
            token_hash=hash_token(token),
            created_at=_now(),
            expires_at=expires,
        )
    )
    return token


def actor_for_token(conn: Connection, token: str) -> Actor | None:
    """The active user a valid, unexpired, unrevoked token belongs to."""
    t, u = tables.tokens, tables.users
    row = conn.execute(
        sa.select(
            t.c.id, t.c.expires_at, t.c.revoked_at, u.c.id.label("user_id"), u.c.email, u.c.active
        )
        .join(u, u.c.id == t.c.user_id)
        .where(t.c.token_hash == hash_token(token))
    ).first()
    if row is None or row.revoked_at is not None or not row.active:
        return None
    if row.expires_at is not None and row.expires_at <= _now():
        return None
    return Actor(row.user_id, row.email, _roles(conn, row.user_id))
