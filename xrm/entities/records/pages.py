"""Pages, batches and kept statements: what every reader of records shares.

A list comes back as a ``Page`` cut by ``page_size`` (the record session's
``query`` and ``children``, and the one-statement JSON plan, all check
``first`` the same way); ids go to the database ``CHUNK`` at a time; and
statements worth keeping across sessions live in a ``StatementCache``. None
of this is about one kind of read or write, so it sits apart from the
session's concepts, importable without them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from xrm.errors import Fault, ValidationFailed
from xrm.platform.settings import Settings

Record = dict[str, Any]

CHUNK = 500  # ids per IN (...) list


@dataclass(slots=True)
class Page:
    """One page of a list: its records, where the list goes on, and cursors on demand.

    Cursors are computed only when asked for: building one per record costs
    as much as reading the record, and most lists never show them.
    """

    items: list[Record]
    has_next_page: bool
    total_count: int | None = None
    attributes: list[Record | None] = field(default_factory=list)  # many-to-many link values
    cursor_of: Callable[[int], str] | None = None

    def cursor(self, index: int) -> str:
        assert self.cursor_of is not None
        return self.cursor_of(index)

    @property
    def cursors(self) -> list[str]:
        return [self.cursor(i) for i in range(len(self.items))]

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(len(self.items) - 1) if self.items else None


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def page_size(first: int | None, settings: Settings) -> int:
    """``first`` checked against the page settings every reader shares; the default if None."""
    if first is None:
        return settings.page_size
    if first < 0:
        raise ValidationFailed([Fault("first", "must not be negative")])
    if first > settings.max_page_size:
        raise ValidationFailed(
            [Fault("first", f"at most {settings.max_page_size} records per page")]
        )
    return first


class StatementCache:
    """Built statements worth keeping across sessions, for the newest schema version only.

    Keys start with the catalog version; a newer version empties the cache, so
    statements of retired tables never linger. Bounded, since keys include
    page sizes callers choose.
    """

    LIMIT = 512

    def __init__(self) -> None:
        self._version = -1
        self._items: dict[tuple[Any, ...], Any] = {}

    def get(self, key: tuple[Any, ...]) -> Any:
        return self._items.get(key) if key[0] == self._version else None

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        if key[0] != self._version:
            if key[0] < self._version:
                return  # a session still on an older version: don't evict the newer ones
            self._version, self._items = key[0], {}
        if len(self._items) >= self.LIMIT:
            self._items.clear()
        self._items[key] = value
