"""The identity service: every change to users and API tokens, checked and audited in one place.

The CLI and the admin users screens used to write users and their audit rows
by hand, each its own way. Now both call :class:`Accounts`, which decides who
may do what (``manage_users``, or a user's own name, language and tokens),
checks every field at once (the faults name ``email``, ``name``, ``locale``,
``roles``, ``password``, ``active``), applies the change and writes its audit
row in the caller's transaction, so a change and its record commit together
or not at all. Deactivating a user ends their sessions at once; their API
tokens stop working while they are inactive (checking a token reads the
user's ``active`` flag).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.errors import Fault, Forbidden, NotFound, ValidationFailed
from xrm.platform import audit, sessions, tables
from xrm.platform.access import Permissions
from xrm.platform.identity import (
    Actor,
    TokenInfo,
    UserInfo,
    create_token,
    first_admin,
    hash_password,
    insert_user,
    list_tokens,
    list_users,
    normal_email,
    normal_locale,
    revoke_token,
    token_id,
)
from xrm.schemas.roles import BUILTIN_ROLES, Role

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1000  # argon2 takes any length; a megabyte "password" is an attack
MAX_NAME_LENGTH = 200


class _Unset:
    """Stands for "leave this as it is" where ``None`` means "clear it"."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


@dataclass(frozen=True, slots=True)
class UserChange:
    """What to change about a user; a field left ``UNSET`` stays as it is.

    ``name=None`` / ``locale=None`` clear them (the admin UI then follows the
    browser's language); ``roles`` replaces the whole set.
    """

    roles: Sequence[str] | _Unset = UNSET
    name: str | _Unset | None = UNSET
    locale: str | _Unset | None = UNSET
    active: bool | _Unset = UNSET
    password: str | _Unset = UNSET


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be a password, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    return None


def _clean_name(name: str | None, faults: list[Fault]) -> str | None:
    if name is None:
        return None
    name = name.strip()
    if "\x00" in name:
        faults.append(Fault("name", "a name may not contain NUL characters"))
    elif len(name) > MAX_NAME_LENGTH:
        faults.append(Fault("name", f"a name has at most {MAX_NAME_LENGTH} characters"))
    return name or None


class Accounts:
    """Users and tokens as one actor may change them, on one channel, in one transaction."""

    def __init__(
        self,
        conn: Connection,
        actor: Actor,
        channel: str,
        *,
        defined_roles: Mapping[str, Role],
        request_id: str | None = None,
    ) -> None:
        self.conn = conn
        self.actor = actor
        self.channel = channel
        self.request_id = request_id
        self.defined_roles = defined_roles
        self.permissions = Permissions.of(actor, defined_roles)

    # --- reading -----------------------------------------------------------------------------

    @property
    def manager(self) -> bool:
        """Whether the actor may manage users (``manage_users``)."""
        return self.permissions.may("manage_users")

    def role_names(self) -> list[str]:
        """Every role a user may be given: built-in and defined."""
        return sorted({*BUILTIN_ROLES, *self.defined_roles})

    def user(self, user_id: str) -> UserInfo:
        """One user by id: NOT_FOUND when there is none, FORBIDDEN unless it is the actor
        or the actor manages users."""
        found = list_users(self.conn, user_id)
        if not found:
            raise NotFound(f"no user with id {user_id!r}", id=user_id)
        if not (self.manager or found[0].id == self.actor.id):
            raise Forbidden(f"{self.actor.email} may not manage users", right="manage_users")
        return found[0]

    def user_by_email(self, email: str) -> UserInfo:
        """One user by e-mail (any spelling of it); NOT_FOUND when there is none."""
        wanted = email.strip().lower()
        row = self.conn.execute(
            sa.select(tables.users.c.id).where(tables.users.c.email == wanted)
        ).first()
        if row is None:
            raise NotFound(f"no user with e-mail {wanted!r}", email=wanted)
        return self.user(str(row.id))

    def history(self, user_id: str) -> list[dict[str, Any]]:
        """The audit entries about one user, oldest first (who, when, channel, what changed)."""
        self.user(user_id)
        t = tables.audit
        rows = self.conn.execute(
            sa.select(t.c.at, t.c.actor_email, t.c.channel, t.c.action, t.c.changes)
            .where(t.c.entity == "user", t.c.record_id == user_id)
            .order_by(t.c.id)
        ).mappings()
        return [dict(r) for r in rows]

    # --- users -------------------------------------------------------------------------------

    def _require_manager(self) -> None:
        if not self.manager:
            raise Forbidden(f"{self.actor.email} may not manage users", right="manage_users")

    def _role_faults(self, roles: Sequence[str]) -> tuple[tuple[str, ...], list[Fault]]:
        known = set(self.role_names())
        wanted = tuple(dict.fromkeys(r.strip() for r in roles))
        if not wanted:
            return wanted, [Fault("roles", "a user holds at least one role")]
        unknown = [r for r in wanted if r not in known]
        if unknown:
            listed = ", ".join(sorted(known))
            return wanted, [Fault("roles", f"no role named {unknown[0]!r} (roles: {listed})")]
        return wanted, []

    def create_user(
        self,
        email: str,
        roles: Sequence[str],
        *,
        name: str | None = None,
        password: str | None = None,
        locale: str | None = None,
    ) -> UserInfo:
        """A new active user; every bad field is one fault, a taken e-mail ``CONFLICT``."""
        self._require_manager()
        faults: list[Fault] = []
        try:
            email = normal_email(email)
        except ValueError as exc:
            faults.append(Fault("email", str(exc)))
        clean_name = _clean_name(name, faults)
        clean_roles, role_faults = self._role_faults(roles)
        faults.extend(role_faults)
        if locale is not None and locale.strip():
            try:
                locale = normal_locale(locale)
            except ValueError as exc:
                faults.append(Fault("locale", str(exc)))
        else:
            locale = None
        if password and (problem := password_problem(password)):
            faults.append(Fault("password", problem))
        if faults:
            raise ValidationFailed(faults)
        made = insert_user(self.conn, email, clean_roles, clean_name, password or None, locale)
        assert made.id is not None
        changes: dict[str, list[Any]] = {
            "email": [None, made.email],
            "roles": [None, list(clean_roles)],
            "active": [None, True],
        }
        if clean_name:
            changes["name"] = [None, clean_name]
        if locale:
            changes["locale"] = [None, locale]
        if password:
            changes["password"] = [None, "set"]
        self._audit("create", "user", made.id, changes)
        return self.user(made.id)

    def update_user(self, user_id: str, change: UserChange) -> UserInfo:
        """Apply ``change`` to a user (audited); returns the user as it is now.

        Roles, activity and passwords need ``manage_users``; anyone may change
        their own name and language. Nobody deactivates themselves or takes
        away their own right to manage users (the last door back in).
        """
        before = self.user(user_id)
        itself = before.id == self.actor.id
        touches_rights = any(
            not isinstance(v, _Unset) for v in (change.roles, change.active, change.password)
        )
        if touches_rights:
            self._require_manager()
        faults: list[Fault] = []
        after: dict[str, Any] = {}
        if not isinstance(change.name, _Unset):
            after["name"] = _clean_name(change.name, faults)
        if not isinstance(change.locale, _Unset):
            if change.locale is None or not change.locale.strip():
                after["locale"] = None
            else:
                try:
                    after["locale"] = normal_locale(change.locale)
                except ValueError as exc:
                    faults.append(Fault("locale", str(exc)))
        if not isinstance(change.roles, _Unset):
            roles, role_faults = self._role_faults(change.roles)
            faults.extend(role_faults)
            after["roles"] = tuple(sorted(roles))
            if itself and not role_faults and not self._manages_users(roles):
                faults.append(Fault("roles", "you would lose the right to manage users"))
        if not isinstance(change.active, _Unset):
            after["active"] = bool(change.active)
            if itself and not change.active:
                faults.append(Fault("active", "nobody deactivates themselves"))
        if not isinstance(change.password, _Unset) and (
            problem := password_problem(change.password)
        ):
            faults.append(Fault("password", problem))
        if faults:
            raise ValidationFailed(faults)
        old = {
            "name": before.name,
            "locale": before.locale,
            "roles": tuple(sorted(before.roles)),
            "active": before.active,
        }
        changes = {k: [_shown(old[k]), _shown(v)] for k, v in after.items() if old[k] != v}
        values = {k: v for k, v in after.items() if k in ("name", "locale", "active")}
        if not isinstance(change.password, _Unset):
            values["password_hash"] = hash_password(change.password)
            changes["password"] = ["set" if before.has_password else None, "set"]
        if values and changes:
            self.conn.execute(
                tables.users.update().where(tables.users.c.id == before.id).values(values)
            )
        if "roles" in changes:
            ur = tables.user_roles
            self.conn.execute(ur.delete().where(ur.c.user_id == before.id))
            self.conn.execute(
                ur.insert(), [{"user_id": before.id, "role": r} for r in after["roles"]]
            )
        ended = 0
        if after.get("active") is False or "password" in changes:
            # A deactivated user is out at once; a new password shuts out whoever had the old.
            ended = sessions.end_all(self.conn, before.id)
        if changes:
            if ended:
                changes["sessions"] = [ended, 0]
            self._audit("update", "user", before.id, changes)
        return self.user(before.id)

    def _manages_users(self, roles: Iterable[str]) -> bool:
        held = Actor(self.actor.id, self.actor.email, tuple(roles))
        return Permissions.of(held, self.defined_roles).may("manage_users")

    def first_admin(self) -> tuple[Actor, bool]:
        """The oldest active admin, and whether it was just created.

        ``admin@localhost`` is created (and audited) when there is no active admin.
        """
        self._require_manager()
        before = self.conn.execute(sa.select(sa.func.count()).select_from(tables.users)).scalar()
        admin = first_admin(self.conn)
        after = self.conn.execute(sa.select(sa.func.count()).select_from(tables.users)).scalar()
        if after != before:
            assert admin.id is not None
            changes = {"email": [None, admin.email], "roles": [None, ["admin"]]}
            self._audit("create", "user", admin.id, {**changes, "active": [None, True]})
        return admin, after != before

    # --- tokens ------------------------------------------------------------------------------

    def _require_own_or_manager(self, user: UserInfo) -> None:
        if user.id != self.actor.id:
            self._require_manager()

    def create_token(
        self, user_id: str, name: str | None = None, expires_in_days: float | None = None
    ) -> tuple[str, TokenInfo]:
        """A new API token for a user (their own, or anyone's for a user manager), audited."""
        owner = self.user(user_id)
        self._require_own_or_manager(owner)
        faults: list[Fault] = []
        clean = _clean_name(name, faults)
        if expires_in_days is not None and not 0 < expires_in_days <= 36_500:
            faults.append(Fault("expiresIn", "a number of days from 1 to 36500"))
        if faults:
            raise ValidationFailed(faults)
        token = create_token(
            self.conn, Actor(owner.id, owner.email, owner.roles), clean, expires_in_days
        )
        made = token_id(self.conn, token)
        assert made is not None
        info = next(i for i in list_tokens(self.conn, owner.email) if i.id == made)
        changes: dict[str, list[Any]] = {"name": [None, clean], "user": [None, owner.email]}
        if info.expires_at is not None:
            changes["expiresAt"] = [None, info.expires_at.isoformat()]
        self._audit("create", "token", made, changes)
        return token, info

    def tokens(self, user_id: str) -> list[TokenInfo]:
        """A user's tokens, newest first (never their text)."""
        owner = self.user(user_id)
        self._require_own_or_manager(owner)
        return list_tokens(self.conn, owner.email)

    def revoke_token(self, token: str, *, user_id: str | None = None) -> TokenInfo:
        """Revoke a token by id (idempotent, audited once); ``user_id``: it must be theirs."""
        found = next((i for i in list_tokens(self.conn) if i.id == token.strip().lower()), None)
        if found is None or (user_id is not None and found.user_email != self.user(user_id).email):
            raise NotFound(f"no token with id {token!r}", id=token)
        if found.user_email != self.actor.email:
            self._require_manager()
        info = revoke_token(self.conn, found.id)
        if found.revoked_at is None:
            changes = {"revoked": [None, True], "name": [found.name, found.name]}
            self._audit("revoke", "token", info.id, {**changes, "user": [None, info.user_email]})
        return info

    # --- audit -------------------------------------------------------------------------------

    def _audit(self, action: str, entity: str, record_id: str, changes: Mapping[str, Any]) -> None:
        entry = audit.entry(
            self.actor, self.channel, action, entity, record_id, changes, self.request_id
        )
        audit.write(self.conn, [entry])


def _shown(value: Any) -> Any:
    """A value as the audit trail stores it (JSON: tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value
