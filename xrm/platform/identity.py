"""Who is acting: actors, users and API tokens.

Every write carries an ``Actor``. Tokens are 256 random bits shown once and
stored as SHA-256, so checking one is an indexed lookup, not a password hash.
Passwords are argon2id hashes; sessions and sign-in throttling come with the admin UI.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from xrm.errors import Conflict, Fault, NotFound, ValidationFailed
from xrm.platform import tables
from xrm.platform.ids import new_id

if TYPE_CHECKING:
    from argon2 import PasswordHasher

TOKEN_PREFIX = "xrm_"
BUILTIN_ROLES = ("admin", "editor", "viewer")


@dataclass(frozen=True, slots=True)
class Actor:
    """The user (or the system) on whose behalf something happens."""

    id: str | None
    email: str
    roles: tuple[str, ...] = ()
    # The user's language, for what rules say to them (a reject message per language).
    locale: str | None = field(default=None, compare=False)

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
    return Actor(row.id, row.email, roles_of_user(conn, row.id), row.locale)


def actor_by_id(conn: Connection, user_id: str) -> Actor | None:
    """The active user with ``user_id`` as an actor (a queued run acts as its user), or None."""
    try:
        key = str(uuid.UUID(user_id))
    except ValueError:
        return None
    row = conn.execute(
        sa.select(tables.users.c.id, tables.users.c.email, tables.users.c.locale).where(
            tables.users.c.id == key, tables.users.c.active.is_(True)
        )
    ).first()
    if row is None:
        return None
    return Actor(str(row.id), row.email, roles_of_user(conn, row.id), row.locale)


def user_names(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    """``{id: name}`` of users referred to by records (a reference to ``user``): the user's
    name, else their e-mail, as the API's ``User`` shows them to any reader."""
    keys = []
    for user_id in ids:
        try:
            keys.append(str(uuid.UUID(user_id)))
        except ValueError:
            continue  # not a user's id: nothing to name
    if not keys:
        return {}
    t = tables.users
    rows = conn.execute(sa.select(t.c.id, t.c.name, t.c.email).where(t.c.id.in_(keys)))
    return {str(r.id): r.name or r.email for r in rows}


def user_choices(conn: Connection, limit: int) -> tuple[list[tuple[str, str]], bool]:
    """Active users ``(id, name)`` by name, at most ``limit``, and whether there are more:
    the choices for a reference to ``user`` in a form."""
    t = tables.users
    shown = sa.func.coalesce(t.c.name, t.c.email)
    rows = conn.execute(
        sa.select(t.c.id, shown.label("shown"))
        .where(t.c.active.is_(True))
        .order_by(shown, t.c.id)
        .limit(limit + 1)
    ).all()
    return [(str(r.id), r.shown) for r in rows[:limit]], len(rows) > limit


def roles_of_user(conn: Connection, user_id: str) -> tuple[str, ...]:
    """The role names a user holds, sorted."""
    rows = conn.execute(
        sa.select(tables.user_roles.c.role).where(tables.user_roles.c.user_id == user_id)
    )
    return tuple(sorted(r.role for r in rows))


_hashers: list[PasswordHasher] = []  # made on first use: most commands never hash a password
_dummy_hash: list[str] = []


def _hasher() -> PasswordHasher:
    if not _hashers:
        from argon2 import PasswordHasher

        _hashers.append(PasswordHasher())
    return _hashers[0]


def _dummy() -> str:
    if not _dummy_hash:
        _dummy_hash.append(_hasher().hash(secrets.token_urlsafe(16)))
    return _dummy_hash[0]


def hash_password(password: str) -> str:
    """An argon2id hash (the library's current recommended parameters)."""
    return _hasher().hash(password)


def check_password(conn: Connection, email: str, password: str) -> Actor | None:
    """The active user with this e-mail and password, else None (never says which was wrong)."""
    from argon2.exceptions import InvalidHashError, VerifyMismatchError

    row = conn.execute(
        sa.select(tables.users).where(tables.users.c.email == email.strip().lower())
    ).first()
    try:
        # Unknown and password-less users cost one hash too, so timing tells nothing.
        _hasher().verify(row.password_hash if row and row.password_hash else _dummy(), password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    if row is None or not row.active or not row.password_hash:
        return None
    return Actor(row.id, row.email, roles_of_user(conn, row.id), row.locale)


def create_user(
    conn: Connection,
    email: str,
    roles: tuple[str, ...],
    name: str | None = None,
    password: str | None = None,
    locale: str | None = None,
) -> Actor:
    """A new active user; a bad e-mail or locale is VALIDATION_FAILED, a taken e-mail CONFLICT."""
    faults: list[Fault] = []
    try:
        email = normal_email(email)
    except ValueError as exc:
        faults.append(Fault("email", str(exc)))
    if locale is not None:
        try:
            locale = normal_locale(locale)
        except ValueError as exc:
            faults.append(Fault("locale", str(exc)))
    if faults:
        raise ValidationFailed(faults)
    return insert_user(conn, email, roles, name, password, locale)


def normal_email(email: str) -> str:
    """An e-mail address as stored: trimmed, lowercased, checked offline (ValueError if bad)."""
    from xrm.schemas import formats  # phonenumbers and email-validator load on first use

    return formats.email(email)


def normal_locale(tag: str) -> str:
    """A locale tag as stored, e.g. ``ko`` or ``en-GB``: one Babel knows, hyphen-separated.

    The admin UI picks its language from the tag's first part; keeping the
    region lets later features (number and date formats) use it.
    """
    from babel import Locale as BabelLocale
    from babel import UnknownLocaleError

    try:
        parsed = BabelLocale.parse(tag.strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        raise ValueError(f"{tag!r} is not a known locale (e.g. 'en', 'ko', 'en-GB')") from None
    return "-".join(part for part in (parsed.language, parsed.script, parsed.territory) if part)


def insert_user(
    conn: Connection,
    email: str,
    roles: tuple[str, ...],
    name: str | None,
    password: str | None = None,
    locale: str | None = None,
) -> Actor:
    if find_user(conn, email) is not None:
        raise Conflict(f"a user with e-mail {email!r} exists already", email=email)
    user_id = new_id()
    conn.execute(
        tables.users.insert().values(
            id=user_id,
            email=email,
            name=name,
            locale=locale,
            active=True,
            created_at=_now(),
            password_hash=hash_password(password) if password else None,
        )
    )
    for role in roles:
        conn.execute(tables.user_roles.insert().values(user_id=user_id, role=role))
    return Actor(user_id, email, tuple(sorted(roles)), locale)


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
        return Actor(row.id, row.email, roles_of_user(conn, row.id))
    # A bootstrap address, not a deliverable one: it skips the e-mail check on purpose.
    return insert_user(conn, "admin@localhost", ("admin",), "Administrator")


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


TOUCH_EVERY = dt.timedelta(minutes=1)  # last_used_at precision: one write per token per minute


@dataclass(frozen=True, slots=True)
class TokenUse:
    """A checked token: whose it is, and whether its last use needs recording."""

    actor: Actor
    token_id: str
    stale: bool  # last_used_at is unset or older than TOUCH_EVERY
    also: Mapping[str, Any] = field(default_factory=dict)  # the ``also`` values asked for


def token_id(conn: Connection, token: str) -> str | None:
    """The id of a token given as text (to audit or revoke it), else None."""
    t = tables.tokens
    found = conn.execute(sa.select(t.c.id).where(t.c.token_hash == hash_token(token))).scalar()
    return None if found is None else str(found)


def token_query(
    token_hash: str | sa.BindParameter[str], also: Mapping[str, ColumnElement[Any]] | None = None
) -> sa.Select[Any]:
    """The row ``token_use`` reads: a token by its hash, with its user and the user's roles.

    ``also`` adds scalar expressions to that one statement (the GraphQL view
    reads the schema version with it: one round trip instead of two).
    """
    t, u, r = tables.tokens, tables.users, tables.user_roles
    # The roles come along in the same statement: one round trip per request, not two.
    roles = (
        sa.select(sa.func.aggregate_strings(r.c.role, ","))
        .where(r.c.user_id == u.c.id)
        .scalar_subquery()
    )
    return (
        sa.select(
            t.c.id,
            t.c.expires_at,
            t.c.revoked_at,
            t.c.last_used_at,
            u.c.id.label("user_id"),
            u.c.email,
            u.c.locale,
            u.c.active,
            roles.label("roles"),
            *(expr.label(f"also_{name}") for name, expr in (also or {}).items()),
        )
        .join(u, u.c.id == t.c.user_id)
        .where(t.c.token_hash == token_hash)
    )


def token_use(row: Mapping[Any, Any] | None, also: Iterable[str] = ()) -> TokenUse | None:
    """What a ``token_query`` row means: None unless the token is valid and its user active."""
    if row is None or row["revoked_at"] is not None or not row["active"]:
        return None
    now = _now()
    expires, last_used = row["expires_at"], row["last_used_at"]
    if expires is not None and expires <= now:
        return None
    stale = last_used is None or now - last_used >= TOUCH_EVERY
    held = tuple(sorted(row["roles"].split(","))) if row["roles"] else ()
    extra = {name: row[f"also_{name}"] for name in also}
    actor = Actor(str(row["user_id"]), row["email"], held, row["locale"])
    return TokenUse(actor, str(row["id"]), stale, extra)


def actor_for_token(
    conn: Connection, token: str, also: Mapping[str, ColumnElement[Any]] | None = None
) -> TokenUse | None:
    """The active user a valid, unexpired, unrevoked token belongs to.

    A read only: the caller records the use with :func:`touch_token` when
    ``stale``, at most once a minute, so checking a token stays one indexed
    read on almost every request and never queues behind writers.
    """
    row = conn.execute(token_query(hash_token(token), also)).mappings().first()
    return token_use(row, also or ())


def touch_token(conn: Connection, token_id: str) -> None:
    """Record that a token was used just now."""
    t = tables.tokens
    conn.execute(t.update().where(t.c.id == token_id).values(last_used_at=_now()))


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What may be shown about a token: never the token itself."""

    id: str
    user_email: str
    name: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= _now():
            return "expired"
        return "active"


def list_tokens(conn: Connection, email: str | None = None) -> list[TokenInfo]:
    """Every token (of one user, if ``email``), newest first."""
    t, u = tables.tokens, tables.users
    query = (
        sa.select(
            t.c.id,
            u.c.email,
            t.c.name,
            t.c.created_at,
            t.c.expires_at,
            t.c.last_used_at,
            t.c.revoked_at,
        )
        .join(u, u.c.id == t.c.user_id)
        .order_by(t.c.created_at.desc(), t.c.id)
    )
    if email is not None:
        query = query.where(u.c.email == email.strip().lower())
    return [TokenInfo(*(str(r[0]), *r[1:])) for r in conn.execute(query)]


def revoke_token(conn: Connection, token_id: str) -> TokenInfo:
    """Revoke a token by its id (idempotent); NOT_FOUND for an unknown id."""
    t = tables.tokens
    try:
        key = str(uuid.UUID(token_id))
    except ValueError:
        raise NotFound(f"no token with id {token_id!r}", id=token_id) from None
    conn.execute(
        t.update().where(t.c.id == key, t.c.revoked_at.is_(None)).values(revoked_at=_now())
    )
    found = [i for i in list_tokens(conn) if i.id == key]
    if not found:
        raise NotFound(f"no token with id {token_id!r}", id=token_id)
    return found[0]


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as the user screens show it (never the password hash)."""

    id: str
    email: str
    name: str | None
    locale: str | None
    roles: tuple[str, ...]
    active: bool
    has_password: bool
    created_at: dt.datetime


def list_users(conn: Connection, user_id: str | None = None) -> list[UserInfo]:
    """Every user (or the one with ``user_id``), by e-mail, with their roles, in two queries."""
    u, r = tables.users, tables.user_roles
    query = sa.select(u).order_by(u.c.email)
    roles_query = sa.select(r.c.user_id, r.c.role).order_by(r.c.role)
    if user_id is not None:
        try:
            key = str(uuid.UUID(user_id))
        except ValueError:
            return []
        query = query.where(u.c.id == key)
        roles_query = roles_query.where(r.c.user_id == key)
    held: dict[str, list[str]] = {}
    for row in conn.execute(roles_query):
        held.setdefault(str(row.user_id), []).append(row.role)
    return [
        UserInfo(
            str(row.id),
            row.email,
            row.name,
            row.locale,
            tuple(held.get(str(row.id), ())),
            bool(row.active),
            bool(row.password_hash),
            row.created_at,
        )
        for row in conn.execute(query)
    ]
