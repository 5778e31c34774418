"""An import as a background job (``import.run``): how the admin UI's imports run.

The job only names the import; the file and the options are in its
``xrm_imports`` row. The handler runs the import's remaining batches, each in
its own transaction (not the job's), so a worker that dies mid-import leaves
whole batches, and the job's retry, or another worker after the lease ran
out, resumes after the last one committed: the same path as ``xrm import``
on the same file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from xrm.entities.imports import store
from xrm.entities.imports.run import Importer, Options
from xrm.entities.records import RecordService
from xrm.errors import NotFound
from xrm.platform.identity import actor_by_id

IMPORT_JOB = "import.run"


def import_job(service: RecordService) -> Callable[[Mapping[str, Any], Any], None]:
    """The handler of ``import.run`` jobs, running imports through ``service``."""

    def handle(payload: Mapping[str, Any], context: Any) -> None:
        import_id = str(payload.get("import"))
        with service.db.read() as conn:
            row = store.get(conn, import_id)
            if row is None or row.status != store.RUNNING:
                return  # undone, finished by another run, or gone: nothing left to do
            data = store.source(conn, row.id)
            actor = actor_by_id(conn, str(row.actor_id)) if row.actor_id else None
        if actor is None:
            raise NotFound(f"the user who started import {row.id} no longer exists or is inactive")
        importer = Importer(service, actor)
        plan = importer.prepare(row.file_name, data, Options.from_stored(row.entity, row.options))
        importer.run(plan, resume=row)

    return handle
