"""The error vocabulary of CONTRACT §4, shared by every layer.

It sits at the root of the package (below ``schemas``) because the pure
definition layer raises ``BAD_DEFINITION`` and ``VALIDATION_FAILED`` too, and
imports may only point down. Each error carries its public code and the
structured details a client needs to fix the problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# The most record ids one refusal lists (per broken rule, and in all); counts say how many more.
MAX_REPORTED_RECORDS = 100


@dataclass(frozen=True, slots=True)
class Fault:
    """One problem at one place: a field of a record or a JSON path of a definition.

    A definition change refused because of stored rows names, per broken
    rule, the keyword it breaks (``rule``), how many records break it
    (``count``) and the first of them (``records``, at most
    ``MAX_REPORTED_RECORDS``), so whoever fixes the data sees every reason at once.
    """

    field: str
    message: str
    rule: str = ""
    records: tuple[str, ...] = ()
    count: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.count:
            out.update(rule=self.rule, records=list(self.records), count=self.count)
        return out

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class XrmError(Exception):
    """Base of every error that reaches a user; ``code`` is the public error code."""

    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def as_extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.extensions}


class FaultsError(XrmError):
    """An error that lists every fault found, not just the first."""

    label = "invalid"

    def __init__(self, faults: Iterable[Fault], message: str | None = None) -> None:
        self.faults: tuple[Fault, ...] = tuple(faults)
        text = message or f"{self.label}: " + "; ".join(str(f) for f in self.faults)
        super().__init__(text, errors=[f.as_dict() for f in self.faults])


class DefinitionError(FaultsError):
    """A definition was refused; each fault's ``field`` is a JSON path (``properties.email``)."""

    code = "BAD_DEFINITION"
    label = "bad definition"

    def __init__(
        self,
        faults: Iterable[Fault],
        message: str | None = None,
        records: Sequence[str] | None = None,
    ) -> None:
        super().__init__(faults, message)
        if records is None:
            blocking = dict.fromkeys(r for f in self.faults for r in f.records)
            records = list(blocking)[:MAX_REPORTED_RECORDS] if blocking else None
        if records is not None:
            self.extensions["records"] = list(records)


class ValidationFailed(FaultsError):
    """A record failed validation; every failing field is listed."""

    code = "VALIDATION_FAILED"
    label = "validation failed"


class NotFound(XrmError):
    code = "NOT_FOUND"


class Conflict(XrmError):
    """A stale ``expectedVersion``: somebody else changed the record first."""

    code = "CONFLICT"


class Duplicate(XrmError):
    code = "DUPLICATE"


class Restricted(XrmError):
    """A delete blocked by an ``onDelete: restrict`` reference."""

    code = "RESTRICTED"


class ConfirmationRequired(XrmError):
    code = "CONFIRMATION_REQUIRED"


class Forbidden(XrmError):
    code = "FORBIDDEN"


class Unauthenticated(XrmError):
    code = "UNAUTHENTICATED"


class LimitExceeded(XrmError):
    code = "LIMIT_EXCEEDED"
