"""What one GraphQL request carries: the caller, its services, and its read session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from xrm.api.names import Translator
from xrm.entities.catalog_state import Catalog
from xrm.entities.records import RecordService, RecordSession
from xrm.entities.registry import Registry
from xrm.errors import Unauthenticated
from xrm.platform.identity import Actor


@dataclass(frozen=True)
class Services:
    """The process-wide services resolvers reach."""

    registry: Registry
    records: RecordService


@dataclass
class RequestContext:
    """One request: opened read session on first use, closed when execution ends.

    Queries share one read transaction, so every list and relation in a
    response comes from the same snapshot; each mutation field writes in its
    own transaction, committed when the field is resolved.
    """

    services: Services
    actor: Actor | None
    request_id: str
    catalog: Catalog | None = None
    translator: Translator = field(init=False)
    _stack: ExitStack = field(default_factory=ExitStack)
    _reader: RecordSession | None = None

    def bind(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.translator = Translator(catalog)

    def caller(self) -> Actor:
        if self.actor is None:
            raise Unauthenticated("authentication required: send Authorization: Bearer <token>")
        return self.actor

    def reader(self) -> RecordSession:
        if self._reader is None:
            self._reader = self._stack.enter_context(
                self.services.records.session(
                    self.caller(), "api", request_id=self.request_id, write=False
                )
            )
        return self._reader

    @contextmanager
    def writer(self) -> Iterator[RecordSession]:
        with self.services.records.session(
            self.caller(), "api", request_id=self.request_id
        ) as session:
            yield session

    def close(self) -> None:
        self._stack.close()
        self._reader = None
