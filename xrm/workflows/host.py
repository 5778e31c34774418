"""The host side of a rule's reads and writes: every call goes through the caller's session.

A sandboxed script holds no database handle; its ``get``, ``find``,
``create``, ``update``, ``link`` and ``unlink`` arrive here as messages and
are carried out by the :class:`~xrm.entities.records.RecordSession` of the
write that fired the rule: the same transaction, the same user's
permissions, the same validation. The built-in actions (``create``,
``update``, ``link``, ``unlink``) use the same path, so a rule's write and a
script's write cannot differ. Every write is remembered as a change, which
is what a run reports (and what a dry run "would have changed").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xrm.entities.records import Record, RecordSession
from xrm.errors import Fault, ValidationFailed
from xrm.workflows.errors import ChainFailed, RuleRejected
from xrm.workflows.process import HostCall
from xrm.workflows.protocol import to_plain

WRITES = frozenset({"create", "update", "link", "unlink"})
FIND_LIMIT = 50
MAX_FIND_LIMIT = 500


class RuleHost:
    """Carries out one run's calls through ``session`` and keeps the list of its writes."""

    def __init__(self, session: RecordSession) -> None:
        self.session = session
        self.changes: list[dict[str, Any]] = []
        self.fatal: RuleRejected | ChainFailed | None = None

    # -- the calls a script makes (the sandbox's handler) ------------------------------------

    def __call__(self, call: HostCall) -> Any:
        """A script's call. A write that fails is undone on its own (a savepoint), so a script
        that catches the error goes on from a consistent state; a rejection or failure of
        the rules that write fired is also kept in ``fatal``, for the run to end with it when
        the script does not handle it."""
        try:
            if call.name in WRITES:
                with self.session.conn.begin_nested():
                    return self._call(call)
            return self._call(call)
        except (RuleRejected, ChainFailed) as exc:
            self.fatal = exc
            raise

    def _call(self, call: HostCall) -> Any:
        args = call.args
        if call.name == "get":
            return self.get(args["entity"], args["id"])
        if call.name == "find":
            return self.find(args["entity"], args["filter"], args.get("limit", FIND_LIMIT))
        if call.name == "create":
            return self.create(args["entity"], args["values"])
        if call.name == "update":
            return self.update(args["entity"], args["id"], args["values"])
        if call.name == "link":
            return self.link(
                args["relationship"], args["from_id"], args["to_id"], args.get("attributes")
            )
        if call.name == "unlink":
            return self.unlink(args["relationship"], args["from_id"], args["to_id"])
        raise ValueError(f"no host call named {call.name!r}")  # the protocol checked names

    # -- reads --------------------------------------------------------------------------------

    def get(self, entity: str, record_id: str) -> Record | None:
        return self.session.get(entity, record_id)

    def find(self, entity: str, filter: Mapping[str, Any], limit: int = FIND_LIMIT) -> list[Record]:
        if not 1 <= limit <= MAX_FIND_LIMIT:
            raise ValidationFailed(
                [Fault("limit", f"find() takes a limit from 1 to {MAX_FIND_LIMIT}, not {limit}")]
            )
        page = self.session.query(entity, filter=filter, first=limit, with_total=False)
        return list(page.items)

    # -- writes (remembered) ------------------------------------------------------------------

    def create(self, entity: str, values: Mapping[str, Any]) -> Record:
        record = self.session.create(entity, values)
        self.changes.append(
            {"action": "create", "entity": entity, "id": record["id"], "values": _plain(values)}
        )
        return record

    def update(self, entity: str, record_id: str, values: Mapping[str, Any]) -> Record:
        record = self.session.update(entity, record_id, values)
        self.changes.append(
            {"action": "update", "entity": entity, "id": record["id"], "values": _plain(values)}
        )
        return record

    def link(
        self,
        relationship: str,
        from_id: str,
        to_id: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> bool:
        done = bool(self.session.link(relationship, from_id, to_id, attributes))
        change: dict[str, Any] = {
            "action": "link",
            "relationship": relationship,
            "fromId": from_id,
            "toId": to_id,
        }
        if attributes is not None:
            change["attributes"] = _plain(attributes)
        self.changes.append(change)
        return done

    def unlink(self, relationship: str, from_id: str, to_id: str) -> bool:
        done = bool(self.session.unlink(relationship, from_id, to_id))
        if done:
            self.changes.append(
                {"action": "unlink", "relationship": relationship, "fromId": from_id, "toId": to_id}
            )
        return done


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as JSON data (dates and decimals as text), as a run's changes are stored."""
    return dict(to_plain(dict(values), "values"))
