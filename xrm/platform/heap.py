"""The garbage collector's settings for a serving process.

A plain query that cannot reuse an earlier plan builds its statement anew:
thousands of short-lived SQLAlchemy objects. With CPython's default
thresholds (700, 10, 10) that set off a collection every few requests, and
every tenth of those walked the whole heap: the generated GraphQL schema, the
catalog, the table metadata, a hundred thousand objects that live as long as
the process. Measured on the nested-list anchor with a new filter value per
request, collections cost about 4.5 ms of each request's ~12 ms.

``settle`` runs once the process has built what it keeps (its engine, its
services, the current schema): it moves all of that out of the collector's
sight (``gc.freeze``) and lets the youngest generation grow to 10,000
objects before a collection. The same measurement then spends about 1 ms
per request collecting. Objects frozen this way are never freed, which is
what long-lived ones are for; a schema retired later is collected normally
if it was built after the freeze, and kept if it was the one frozen (one
schema's worth, once: ``GeneratedSchema.retire`` empties its caches).
"""

from __future__ import annotations

import gc

YOUNG_OBJECTS = 10_000  # allocations, less deallocations, between two collections


def settle() -> None:
    """Freeze what the process holds so far and collect less often; see the module."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, older, oldest)
