"""Many-to-many links between records: ``link`` (with the link's attributes) and ``unlink``.

A link changes both records, so the actor must be allowed to update each;
it is audited under the relationship's name with ``<from id>:<to id>`` as
its id, and its events carry the ``from`` record (CONTRACT §5).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from xrm.entities.events import WriteEvent
from xrm.entities.records.access import AccessMixin
from xrm.entities.records.shape import formats_uuid
from xrm.entities.records.write_events import WriteEventsMixin
from xrm.errors import Fault, ValidationFailed
from xrm.schemas.formats import json_value
from xrm.schemas.model import Relationship


class LinksMixin(AccessMixin, WriteEventsMixin):
    """``link`` and ``unlink`` of many-to-many relationships."""

    def link(
        self,
        relationship: str,
        from_id: str,
        to_id: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> bool:
        """Link two records; both must exist.

        Linking a linked pair again replaces its attributes when ``attributes``
        are given, and keeps them when they are not (None).
        """
        rel = self.catalog.relationship(relationship)
        self.permissions.require(rel.from_entity, "update")
        self.permissions.require(rel.to_entity, "update")
        validator = self.catalog.link_validators[relationship]
        given = attributes or {}
        faults = [
            Fault(f"attributes.{k}", f"{relationship} has no attribute {k!r}")
            for k in given
            if k not in rel.properties
        ]
        clean, own = validator.for_create(
            {k: v for k, v in given.items() if k in rel.properties}, "attributes."
        )
        keys: dict[str, str] = {}
        for name, value, entity in (
            ("fromId", from_id, rel.from_entity),
            ("toId", to_id, rel.to_entity),
        ):
            try:
                keys[name] = formats_uuid(value)
            except ValueError:
                faults.append(Fault(name, "not an id"))
                continue
            if not self._existing(entity, [keys[name]]):
                faults.append(Fault(name, f"no {entity} with id {value}"))
        if faults:
            raise ValidationFailed([*faults, *own])
        self._may_link(rel, keys["fromId"], keys["toId"])
        table = self.catalog.link_tables[relationship]
        match = sa.and_(table.c.from_id == keys["fromId"], table.c.to_id == keys["toId"])
        existing = self.conn.execute(sa.select(table.c.from_id).where(match)).first()
        if existing is not None and attributes is None:
            return True  # linked already, and nothing to change
        if own:  # a new link, or new attributes: they must hold
            raise ValidationFailed(own)
        events = self._link_events("link", rel, keys["fromId"], keys["toId"], clean)
        self._before(events)
        columns = {p.column: clean.get(p.name) for p in rel.properties.values()}
        if existing is None:
            self.conn.execute(
                table.insert().values(
                    from_id=keys["fromId"],
                    to_id=keys["toId"],
                    created_at=dt.datetime.now(dt.UTC),
                    created_by=self.actor.id,
                    **columns,
                )
            )
        elif columns:
            self.conn.execute(table.update().where(match).values(columns))
        self._note(
            "link",
            relationship,
            f"{keys['fromId']}:{keys['toId']}",
            {k: json_value(v) for k, v in clean.items()},
        )
        self._flush_audit()
        self._after(events)
        return True

    def _link_events(
        self,
        trigger: str,
        rel: Relationship,
        from_id: str,
        to_id: str,
        attributes: Mapping[str, Any] | None,
    ) -> list[WriteEvent]:
        """The ``link``/``unlink`` event of a many-to-many pair, when a listener wants it;
        its record is the ``from`` record (CONTRACT §5)."""
        if self._listening(trigger, rel.from_entity, rel.name) is None:
            return []
        record = self._stored(self.catalog.entity(rel.from_entity), from_id)
        ends = {
            "fromId": from_id,
            "toId": to_id,
            "attributes": {k: json_value(v) for k, v in (attributes or {}).items()},
        }
        return [WriteEvent(trigger, rel.from_entity, record, relationship=rel.name, link=ends)]

    def _may_link(self, rel: Relationship, from_id: str, to_id: str) -> None:
        """Linking changes both records: the actor must be allowed to update each."""
        for entity, key in ((rel.from_entity, from_id), (rel.to_entity, to_id)):
            if self.permissions.scope(entity, "update") == "own":
                table = self.catalog.tables[entity]
                owner = self.conn.execute(
                    sa.select(table.c.owner_id).where(table.c.id == key)
                ).scalar()
                self._may(entity, "update", owner)

    def unlink(self, relationship: str, from_id: str, to_id: str) -> bool:
        """Remove a link; False when there was none."""
        rel = self.catalog.relationship(relationship)
        self.permissions.require(rel.from_entity, "update")
        self.permissions.require(rel.to_entity, "update")
        table = self.catalog.link_tables[relationship]
        try:
            keys = formats_uuid(from_id), formats_uuid(to_id)
        except ValueError:
            return False
        for entity, key in ((rel.from_entity, keys[0]), (rel.to_entity, keys[1])):
            if not self._existing(entity, [key]):
                return False  # an endpoint the actor cannot read: no link it can see
        self._may_link(rel, *keys)
        match = sa.and_(table.c.from_id == keys[0], table.c.to_id == keys[1])
        events: list[WriteEvent] = []
        if self._listening("unlink", rel.from_entity, rel.name) is not None:
            attributes = self.conn.execute(sa.select(table).where(match)).mappings().first()
            if attributes is None:
                return False
            given = {p.name: attributes[p.column] for p in rel.properties.values()}
            events = self._link_events("unlink", rel, keys[0], keys[1], given)
            self._before(events)
        done = self.conn.execute(table.delete().where(match))
        if done.rowcount:
            self._note("unlink", relationship, f"{keys[0]}:{keys[1]}", None)
            self._flush_audit()
            self._after(events)
        return bool(done.rowcount)
