"""The job queue screen, ``/admin/jobs`` (CONTRACT §2): what the background workers are doing.

An admin sees how many jobs are in each status, and the failed and dead ones
first (DESIGN decision 6: parked jobs are "visible in the admin UI"): what
each was for, in words, its attempts, its last error and when it last
changed. Any status can be listed instead (``?status=done``), a page at a
time by id (``?before=<id>``), so the list stays cheap however many jobs are
kept. "Retry" puts a failed or dead job back in the queue at once, with a
fresh set of attempts, through ``xrm.platform.jobs.retry``; a workflow run
waiting on that job says "queued" again in the same transaction.

Who may: ``auth.JOBS_RIGHT`` (the users' managers). What a job was for names
records only as the signed-in user may read them (through the record
service); a record they may not read is named by its type alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui import workflows
from xrm.admin_ui.auth import JOBS_RIGHT, admin_form, admin_view, forbidden, may, message, page
from xrm.admin_ui.navigation import Crumb, path_for, trail
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_fields import in_language, type_label, when
from xrm.admin_ui.record_views import names_of
from xrm.entities.imports import store as import_store
from xrm.entities.imports.job import IMPORT_JOB
from xrm.entities.records import RecordService, RecordSession
from xrm.platform import jobs, sessions
from xrm.platform.jobs import Job, JobError, JobStatus
from xrm.plugins.spec import ACTION_JOB
from xrm.plugins.webhook import DELIVER_JOB
from xrm.workflows import runs
from xrm.workflows.engine import RUN_JOB
from xrm.workflows.schedule import SCHEDULE_JOB

Gettext = Callable[[str], str]
PAGE = 50
PROBLEMS = "problems"  # the default view: failed and dead jobs
_RETRIABLE = (JobStatus.FAILED, JobStatus.DEAD)


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as the page shows it."""

    id: str
    kind: str
    purpose: str
    status: str
    status_label: str
    attempts: str
    error: str
    changed: str
    retriable: bool


def status_labels(_: Gettext) -> dict[str, str]:
    return {
        JobStatus.QUEUED: _("Queued"),
        JobStatus.RUNNING: _("Running"),
        JobStatus.DONE: _("Done"),
        JobStatus.FAILED: _("Failed, will try again"),
        JobStatus.DEAD: _("Dead, gave up"),
    }


def kind_label(job: Job, records: RecordSession, lang: str, _: Gettext) -> str:
    """What kind of work ``job`` is, in words: never the queue's internal name.

    A kind no part of xrm knows (a third-party plugin's, ``billing.sync_invoices``) is
    spelled as words (``Billing: sync invoices``): readable, though not translated.
    """
    known = {
        RUN_JOB: _("Workflow run"),
        SCHEDULE_JOB: _("Scheduled workflow run"),
        IMPORT_JOB: _("Import"),
        DELIVER_JOB: _("Webhook delivery"),
    }
    if job.kind in known:
        return known[job.kind]
    if job.kind == ACTION_JOB:
        workflow = str(_payload(job).get("workflow") or "")
        if not workflow:
            return _("Workflow action")
        title = workflow_title(records, workflow, lang)
        return _("Workflow action: %(workflow)s") % {"workflow": title}
    return humanized(job.kind)


def humanized(kind: str) -> str:
    """``billing.sync_invoices`` -> ``Billing: sync invoices`` (words, whatever the spelling)."""
    parts = [" ".join(re.split(r"[_\-\s]+", part)).strip() for part in kind.split(".")]
    parts = [part for part in parts if part]
    if not parts:
        return "—"
    text = ": ".join(parts)
    first = text[:1].upper()
    return (first if len(first) == 1 else text[:1]) + text[1:]


def _payload(job: Job) -> Mapping[str, Any]:
    return job.payload if isinstance(job.payload, Mapping) else {}


def _record_of(job: Job) -> tuple[str, str] | None:
    """(entity, id) of the record a workflow run or action job was about, if any."""
    payload = _payload(job)
    record = payload.get("record") if job.kind in (RUN_JOB, ACTION_JOB) else None
    entity = payload.get("entity")
    if (
        isinstance(record, Mapping)
        and isinstance(entity, str)
        and isinstance(record.get("id"), str)
    ):
        return entity, record["id"]
    return None


def purposes(records: RecordSession, found: list[Job], lang: str, _: Gettext) -> dict[str, str]:
    """What each job was for, in words; records named by their display field where the
    user may read them (one query per type)."""
    wanted: dict[str, set[str]] = {}
    for job in found:
        about = _record_of(job)
        if about is not None:
            wanted.setdefault(about[0], set()).add(about[1])
    names = names_of(records, wanted, _)
    out: dict[str, str] = {}
    for job in found:
        payload = _payload(job)
        workflow = workflow_title(records, str(payload.get("workflow") or ""), lang)
        about = _record_of(job)
        if job.kind == SCHEDULE_JOB:
            tick = when(payload.get("tick")) if payload.get("tick") else ""
            out[job.id] = _("Workflow “%(workflow)s”, scheduled for %(when)s UTC") % {
                "workflow": workflow,
                "when": tick,
            }
        elif job.kind == RUN_JOB and about is not None:
            et = records.catalog.types.get(about[0])
            label = type_label(et, lang) if et is not None else about[0]
            name = names.get(about[1])
            out[job.id] = (
                _("Workflow “%(workflow)s” for %(type)s “%(name)s”")
                % {"workflow": workflow, "type": label, "name": name}
                if name is not None
                else _("Workflow “%(workflow)s” for a record of %(type)s")
                % {"workflow": workflow, "type": label}
            )
        elif job.kind == RUN_JOB:
            out[job.id] = _("Workflow “%(workflow)s”") % {"workflow": workflow}
        elif job.kind == ACTION_JOB and about is not None:
            et = records.catalog.types.get(about[0])
            label = type_label(et, lang) if et is not None else about[0]
            name = names.get(about[1])
            out[job.id] = (
                _("For %(type)s “%(name)s”") % {"type": label, "name": name}
                if name is not None
                else _("For a record of %(type)s") % {"type": label}
            )
        elif job.kind == IMPORT_JOB and isinstance(payload.get("import"), str):
            row = import_store.get(records.conn, payload["import"])
            if row is None:
                out[job.id] = "—"
                continue
            et = records.catalog.types.get(row.entity)
            out[job.id] = _("The file “%(file)s” into %(type)s") % {
                "file": row.file_name,
                "type": type_label(et, lang) if et is not None else row.entity,
            }
        elif job.kind == DELIVER_JOB and isinstance(payload.get("destination"), str):
            out[job.id] = _("To the destination “%(destination)s”") % {
                "destination": payload["destination"]
            }
        else:
            out[job.id] = "—"
    return out


def workflow_title(records: RecordSession, name: str, lang: str) -> str:
    """A workflow by its label or title in the page's language, else its name."""
    found = records.catalog.workflows.get(name)
    if found is None:
        return name
    title = found.definition.get("title")
    if isinstance(title, Mapping):
        return in_language(title, lang, name)
    return workflows.workflow_title(found.definition, name, lang)


def _chosen(request: Request) -> str:
    asked = request.query_params.get("status", PROBLEMS)
    return asked if asked in {PROBLEMS, *(s.value for s in JobStatus)} else PROBLEMS


@admin_view
async def jobs_page(request: Request, session: sessions.Session) -> Response:
    """``GET /admin/jobs?status=&before=``: counts by status and one page of jobs."""
    if not may(request, session, JOBS_RIGHT):
        return forbidden(request, session)
    _ = gettext_for(request, session.locale)
    lang = language(request, session.locale)
    chosen = _chosen(request)
    before = request.query_params.get("before") or None
    service: RecordService = request.app.state.records

    def load() -> tuple[dict[JobStatus, int], list[Job], dict[str, str], dict[str, str]]:
        with service.db.read() as conn:
            counts = jobs.count_by_status(conn)
            try:
                found = jobs.list_jobs(
                    conn,
                    status=None if chosen == PROBLEMS else chosen,
                    statuses=_RETRIABLE if chosen == PROBLEMS else (),
                    before=before,
                    limit=PAGE + 1,
                )
            except ValueError:  # an edited ?before=: start from the newest
                found = jobs.list_jobs(
                    conn,
                    status=None if chosen == PROBLEMS else chosen,
                    statuses=_RETRIABLE if chosen == PROBLEMS else (),
                    limit=PAGE + 1,
                )
        with service.session(session.actor, "admin", write=False) as records:
            said = purposes(records, found[:PAGE], lang, _)
            kinds = {job.id: kind_label(job, records, lang, _) for job in found[:PAGE]}
        return counts, found, said, kinds

    counts, found, said, kinds = await run_in_threadpool(load)
    labels = status_labels(_)
    base = path_for(request, "jobs")
    rows = [
        JobRow(
            id=job.id,
            kind=kinds[job.id],
            purpose=said[job.id],
            status=job.status.value,
            status_label=labels[job.status],
            attempts=_("%(n)s of %(max)s") % {"n": job.attempts, "max": job.max_attempts},
            error=job.last_error or "",
            changed=when(job.updated_at) + " UTC",
            retriable=job.status in _RETRIABLE,
        )
        for job in found[:PAGE]
    ]
    more = len(found) > PAGE
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "retried"]
    query = {"status": chosen} if chosen != PROBLEMS else {}
    context = {
        "counts": [(s.value, labels[s], counts[s]) for s in JobStatus],
        "problems": counts[JobStatus.FAILED] + counts[JobStatus.DEAD],
        "chosen": chosen,
        "rows": rows,
        "base": base,
        "next_href": f"{base}?{urlencode({**query, 'before': rows[-1].id})}" if more else None,
        "first_href": (f"{base}?{urlencode(query)}" if query else base) if before else None,
        "here": f"{base}?{urlencode(kept)}" if kept else base,
        "retried": request.query_params.get("retried") == "1",
        "crumbs": trail(request, _("Home"), Crumb(_("Jobs"))),
    }
    return page(request, session, "jobs.html", context)


def _back(request: Request, form: FormData) -> str:
    """Where to return after a retry: the jobs page as it was (only ever a jobs address)."""
    base = path_for(request, "jobs")
    back = str(form.get("back") or "")
    if back == base or (back.startswith(base + "?") and "//" not in back):
        return back
    return base


def _add_retried(address: str) -> str:
    return address + ("&" if "?" in address else "?") + "retried=1"


@admin_form
async def retry_job(request: Request, session: sessions.Session, form: FormData) -> Response:
    """``POST /admin/jobs/{id}/retry``: a failed or dead job queued again now."""
    if not may(request, session, JOBS_RIGHT):
        return forbidden(request, session)
    _ = gettext_for(request, session.locale)
    service: RecordService = request.app.state.records
    job_id = request.path_params["job_id"]

    def retry() -> None:
        with service.db.write() as conn:
            job = jobs.retry(conn, job_id)
            run_id = _payload(job).get("run")
            if job.kind in (RUN_JOB, SCHEDULE_JOB) and isinstance(run_id, str):
                runs.requeue(conn, run_id)  # the run says "queued" again, with its job

    try:
        await run_in_threadpool(retry)
    except jobs.JobNotFound:
        return message(request, session, _("There is no such job (any more)."), 404)
    except JobError:
        return message(
            request,
            session,
            _("Only a failed or dead job can be retried; this one is queued, running or done."),
            409,
        )
    return RedirectResponse(_add_retried(_back(request, form)), status_code=303)
