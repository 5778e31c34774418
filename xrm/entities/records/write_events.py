"""What a write leaves behind and whom it tells: its audit rows and its write events.

Every write (create, update, delete with its cascades, link, unlink, erase)
notes its audit rows (``_note``) and writes them inside its transaction
(``_flush_audit``), and hands its events (events.py) to the service's
listener: ``_before`` the change (a listener may refuse it, or, for create and
update, change the values: ``_changed_by_rules``) and ``_after`` it, in the
same transaction. This is the one place where rules hook into writes, kept
apart from the writes themselves so that it is easy to see. After a
rollback the ``on_rollback`` hooks run, each in its own transaction: how a
rule that refused a write still leaves its run in the history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from xrm.entities.events import WriteEvent, WriteListener, reference_name
from xrm.entities.records.pages import Record
from xrm.entities.records.shape import ShapeMixin
from xrm.platform import audit
from xrm.schemas.model import EntityType

if TYPE_CHECKING:
    from xrm.entities.records import RecordSession


log = logging.getLogger(__name__)


class WriteEventsMixin(ShapeMixin):
    """The audit rows and listener events of a session's writes, and its rollback hooks."""

    def _front(self) -> RecordSession:
        """This session as listeners are given it: the mixins are only ever parts of one."""
        return cast("RecordSession", self)

    def _note(
        self, action: str, entity: str, record_id: str | None, changes: Mapping[str, Any] | None
    ) -> None:
        self._audit.append(
            audit.entry(
                self.actor, self.channel, action, entity, record_id, changes, self.request_id
            )
        )

    def _flush_audit(self) -> None:
        if self._audit:
            audit.write(self.conn, self._audit)
            self._audit = []

    def forget_unwritten(self) -> None:
        """Drop audit rows noted but not yet written: after a write failed inside a savepoint
        its caller rolled back (an import's rejected row), they describe nothing."""
        self._audit = []

    def on_rollback(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` after this session's transaction is rolled back (never after a commit)."""
        self._rollback_hooks.append(hook)

    def rolled_back(self) -> None:
        """Run the rollback hooks, each in its own right: one that fails is logged, not raised."""
        hooks, self._rollback_hooks = self._rollback_hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception:
                log.exception("request %s: a rollback hook failed", self.request_id)

    def _listening(
        self, trigger: str, entity: str, relationship: str | None = None
    ) -> WriteListener | None:
        """The listener, when it wants this kind of write; None costs the write nothing."""
        listener = self.listener
        if listener is None or not listener.wants(self.catalog, trigger, entity, relationship):
            return None
        return listener

    def _reference_events(
        self, et: EntityType, record: Mapping[str, Any] | None, old: Mapping[str, Any] | None
    ) -> list[WriteEvent]:
        """The ``unlink``/``link`` of every reference whose target this write changes."""
        events: list[WriteEvent] = []
        seen = record if record is not None else old
        assert seen is not None
        for prop in et.references:
            was = old.get(prop.name) if old is not None else None
            now = record.get(prop.name) if record is not None else None
            if was == now:
                continue
            name = reference_name(et.name, prop.name)
            for trigger, target in (("unlink", was), ("link", now)):
                if target is not None and self._listening(trigger, et.name, name) is not None:
                    ends = {"fromId": str(seen["id"]), "toId": str(target), "attributes": None}
                    events.append(
                        WriteEvent(trigger, et.name, seen, old, relationship=name, link=ends)
                    )
        return events

    def _before(self, events: Iterable[WriteEvent]) -> None:
        """Let the listener refuse each of ``events`` before the write (changes are ignored)."""
        for event in events:
            listener = self._listening(event.trigger, event.entity, event.relationship)
            if listener is not None:
                listener.before(self._front(), event)

    def _after(self, events: Iterable[WriteEvent]) -> None:
        """Tell the listener about each of ``events``, after the write, in its transaction."""
        for event in events:
            listener = self._listening(event.trigger, event.entity, event.relationship)
            if listener is not None:
                listener.after(self._front(), event)

    def _changed_by_rules(
        self,
        listener: WriteListener,
        event: WriteEvent,
        given: Mapping[str, Any],
        et: EntityType,
    ) -> dict[str, Any]:
        """``given`` with what ``before`` rules changed in the record (its properties only)."""
        record = listener.before(self._front(), event)
        if record is None:
            return dict(given)
        assert event.record is not None
        out = dict(given)
        for key, value in record.items():
            if key in et.properties and (key in given or value != event.record.get(key)):
                out[key] = value
        return out

    def _stored(self, et: EntityType, record_id: str) -> Record | None:
        """A record as stored (not masked): what rules see of the record a link starts from."""
        table = self.catalog.tables[et.name]
        row = self.conn.execute(sa.select(table).where(table.c.id == record_id)).mappings().first()
        return self._record(et, row) if row is not None else None
