"""What one actor may do, worked out once from the roles it holds.

Several roles combine by the most permissive grant: the widest scope of any
role for an action; a field is hidden only if every role that can read the
type hides it, and read-only only if no role that can write the type lets
it be written. The record service asks these questions at its one door, so
every channel (API, admin UI, imports, scripts, plugins) obeys the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from xrm.errors import Forbidden
from xrm.platform.identity import Actor
from xrm.schemas.roles import ANY_TYPE, BUILTIN_ROLES, SCOPES, Grant, Role

_REACH = {scope: i for i, scope in enumerate(SCOPES)}


class Hidden:
    """Stands for a value the actor may not read (the API answers FORBIDDEN at its path)."""

    _instance: Hidden | None = None

    def __new__(cls) -> Hidden:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "HIDDEN"

    def __bool__(self) -> bool:
        return False


HIDDEN = Hidden()


def roles_of(actor: Actor, defined: Mapping[str, Role]) -> tuple[Role, ...]:
    """The roles an actor holds that exist (built-in, or defined in the catalog)."""
    out = []
    for name in actor.roles:
        role = BUILTIN_ROLES.get(name) or defined.get(name)
        if role is not None:
            out.append(role)
    return tuple(out)


@dataclass
class Permissions:
    """The combined rights of one actor; answers are cached per entity type."""

    actor: Actor
    roles: tuple[Role, ...]
    _hidden: dict[str, frozenset[str]] = field(default_factory=dict)
    _read_only: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, actor: Actor, defined: Mapping[str, Role]) -> Permissions:
        return cls(actor, roles_of(actor, defined))

    def _grants(self, entity: str) -> Iterable[Grant]:
        for role in self.roles:
            grant = role.entities.get(entity) or role.entities.get(ANY_TYPE)
            if grant is not None:
                yield grant

    def _scope_of(self, grant: Grant, action: str) -> str:
        return grant.scopes.get(action, "none")

    def scope(self, entity: str, action: str) -> str:
        """``none``, ``own`` or ``all``: the widest any role grants for ``action`` on ``entity``."""
        best = "none"
        for grant in self._grants(entity):
            scope = self._scope_of(grant, action)
            if _REACH[scope] > _REACH[best]:
                best = scope
        return best

    def require(self, entity: str, action: str) -> str:
        """The scope of ``action``, or ``FORBIDDEN`` when it is ``none``."""
        scope = self.scope(entity, action)
        if scope == "none":
            verb = {"read": "read", "create": "create", "update": "change", "delete": "delete"}
            raise Forbidden(
                f"{self.actor.email} may not {verb.get(action, action)} {entity} records",
                entity=entity,
                action=action,
            )
        return scope

    def hidden(self, entity: str) -> frozenset[str]:
        """Fields no role that can read ``entity`` shows."""
        found = self._hidden.get(entity)
        if found is None:
            readers = [g for g in self._grants(entity) if self._scope_of(g, "read") != "none"]
            sets = [frozenset(f for f, r in g.fields.items() if r == "hidden") for g in readers]
            found = frozenset.intersection(*sets) if sets else frozenset()
            self._hidden[entity] = found
        return found

    def read_only(self, entity: str) -> frozenset[str]:
        """Fields no role that can write ``entity`` lets be written (hidden ones included)."""
        found = self._read_only.get(entity)
        if found is None:
            writers = [
                g
                for g in self._grants(entity)
                if self._scope_of(g, "create") != "none" or self._scope_of(g, "update") != "none"
            ]
            sets = [frozenset(g.fields) for g in writers]  # hidden or read_only: not writable
            found = frozenset.intersection(*sets) if sets else frozenset()
            self._read_only[entity] = found
        return found

    def may(self, right: str) -> bool:
        """An administrative right: define_types, define_workflows, manage_users."""
        return any(right in role.admin for role in self.roles)

    def require_right(self, right: str) -> None:
        if not self.may(right):
            raise Forbidden(f"{self.actor.email} lacks the right {right!r}", right=right)
