"""What a write tells whoever listens: the one place where rules hook into record writes.

The record session knows nothing of workflows (DESIGN.md's layering: the
entities layer sits below them). It describes each write as a
:class:`WriteEvent` and hands it to the :class:`WriteListener` its service was
given: ``before`` the values are normalised and validated (the listener may
hand back changed values, or raise to refuse the write), and ``after`` the
write, inside the same transaction (the listener may write more through the
same session, or queue work that must exist exactly when the write does).

A reference is a relationship too: setting, changing or clearing one is an
``update`` of the referencing record and an ``unlink``/``link`` on
``<entity>.<property>``, so a rule on "a grievance is linked to a contract"
fires whichever way the link was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from xrm.entities.catalog_state import Catalog
    from xrm.entities.records import RecordSession

RECORD_WRITES = ("create", "update", "delete")
LINK_WRITES = ("link", "unlink")


@dataclass(frozen=True, slots=True)
class WriteEvent:
    """One write, as rules see it.

    ``entity`` is the record's type (for ``link``/``unlink``: the relationship's
    ``from`` side, whose record is ``record``); ``record`` holds property names
    and ``id``; ``old`` the stored version (None on create); ``changed`` the
    fields an update really changes; ``relationship`` names a many-to-many
    relationship or a reference (``<entity>.<property>``), and ``link`` carries
    ``fromId``, ``toId`` and ``attributes``.
    """

    trigger: str
    entity: str
    record: Mapping[str, Any] | None
    old: Mapping[str, Any] | None = None
    changed: frozenset[str] = frozenset()
    relationship: str | None = None
    link: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """CONTRACT §5's ``event``: ``type``, and for links the relationship and both ids."""
        out: dict[str, Any] = {"type": self.trigger}
        if self.relationship is not None:
            out["relationship"] = self.relationship
        if self.link is not None:
            out.update(self.link)
        if self.changed:
            out["changed"] = sorted(self.changed)
        return out


class WriteListener(Protocol):
    """What the record session calls around its writes (the workflow engine implements it)."""

    def wants(
        self, catalog: Catalog, trigger: str, entity: str, relationship: str | None = None
    ) -> bool:
        """Whether anything listens for this kind of write: when nothing does, the session
        builds no event (a write no rule watches costs nothing more)."""
        ...

    def before(self, session: RecordSession, event: WriteEvent) -> Mapping[str, Any] | None:
        """Runs before validation; may return the record's new values, or raise to refuse."""
        ...

    def after(self, session: RecordSession, event: WriteEvent) -> None:
        """Runs after the write, in its transaction; may raise to undo the whole write."""
        ...


def reference_name(entity: str, prop: str) -> str:
    """The relationship name of a reference property, as triggers name it."""
    return f"{entity}.{prop}"


class Listeners:
    """Several write listeners heard as one: the workflow engine first, then plugins'.

    ``before`` hands each the values the previous one returned; ``after`` tells
    every listener that wants the write, in order, in the write's transaction.
    """

    def __init__(self, *listeners: WriteListener | None) -> None:
        self.listeners = tuple(listener for listener in listeners if listener is not None)

    def wants(
        self, catalog: Catalog, trigger: str, entity: str, relationship: str | None = None
    ) -> bool:
        return any(li.wants(catalog, trigger, entity, relationship) for li in self.listeners)

    def before(self, session: RecordSession, event: WriteEvent) -> Mapping[str, Any] | None:
        changed: Mapping[str, Any] | None = None
        for listener in self.listeners:
            if not listener.wants(session.catalog, event.trigger, event.entity, event.relationship):
                continue
            current = event if changed is None else _with_record(event, changed)
            changed = listener.before(session, current) or changed
        return changed

    def after(self, session: RecordSession, event: WriteEvent) -> None:
        for listener in self.listeners:
            if listener.wants(session.catalog, event.trigger, event.entity, event.relationship):
                listener.after(session, event)


def _with_record(event: WriteEvent, record: Mapping[str, Any]) -> WriteEvent:
    return replace(event, record=record)
