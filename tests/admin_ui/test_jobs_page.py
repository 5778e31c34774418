"""The job queue screen, /admin/jobs: counts, failed and dead jobs in words, filters, retry.

Jobs are put in the queue and failed the way a worker fails them
(``xrm.platform.jobs``), then looked at and retried through the page as a
signed-in admin, with the CSRF token a browser would send.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_signin import PASSWORD, csrf_of

from xrm.admin_ui import jobs as jobs_screen
from xrm.entities.catalog import demo_workflows
from xrm.entities.imports import store as import_store
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform import jobs, tables
from xrm.platform.db import Database
from xrm.platform.identity import create_user, find_user
from xrm.platform.jobs import Backoff, JobStatus
from xrm.platform.settings import Settings
from xrm.workflows import runs
from xrm.workflows.engine import RUN_JOB
from xrm.workflows.runs import Run, RunStatus

pytest_plugins = ["admin_clients"]

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=1)


def failed_job(
    db: Database, kind: str, payload: Any, *, attempts: int, max_attempts: int = 3
) -> str:
    """A job that failed ``attempts`` times (dead when that is ``max_attempts``)."""
    with db.write() as conn:
        job = jobs.enqueue(conn, kind, payload, max_attempts=max_attempts, now=NOW)
    for attempt in range(attempts):
        at = NOW + dt.timedelta(hours=attempt + 1)
        with db.write() as conn:
            [claim] = jobs.claim(conn, "test-worker", now=at, lease=LEASE)
            assert claim.job.id == job.id
            jobs.fail(
                conn,
                claim,
                f"the mail server said no (try {attempt + 1})",
                now=at,
                backoff=Backoff(base=dt.timedelta(seconds=1)),
            )
    return job.id


def rows(html: str) -> dict[str, str]:
    """{job id: status} of the jobs listed."""
    return dict(re.findall(r'<tr data-job="([^"]+)" data-status="([^"]+)">', html))


def retry(client: TestClient, job_id: str, page: str = "/admin/jobs") -> Any:
    html = client.get(page).text
    return client.post(f"/admin/jobs/{job_id}/retry", data={"csrf": csrf_of(html), "back": page})


@pytest.fixture
def service(app_settings: Settings, db: Database, registry: Registry) -> RecordService:
    registry.apply(demo_workflows())  # grievance_sla, titled "Due date by severity"
    return RecordService(db, registry, app_settings)


def acme_by_ann(db: Database, service: RecordService) -> dict[str, Any]:
    """The customer "Acme Corp", created by Ann (so she may read it)."""
    with db.read() as conn:
        ann_user = find_user(conn, "ann@example.com")
    assert ann_user is not None
    with service.session(ann_user, "api") as records:
        return records.create("customer", {"name": "Acme Corp"})


def test_failed_and_dead_jobs_are_listed_in_words_with_counts(
    ann: TestClient, db: Database, service: RecordService
) -> None:
    acme = acme_by_ann(db, service)
    dead = failed_job(
        db,
        RUN_JOB,
        {
            "run": "r1",
            "workflow": "grievance_sla",
            "entity": "customer",
            "record": {"id": acme["id"]},
        },
        attempts=3,
    )
    failing = failed_job(db, "mail.send", {"to": "x@example.com"}, attempts=1)
    with db.write() as conn:
        waiting = jobs.enqueue(conn, "mail.send", {"to": "y@example.com"}, now=NOW).id
    page = ann.get("/admin/jobs")
    assert page.status_code == 200
    assert rows(page.text) == {dead: "dead", failing: "failed"}  # not the queued one
    assert re.search(r'data-status="queued"[^>]*>.*?<strong>1</strong>', page.text)
    assert re.search(r"Failed and dead <strong>2</strong>", page.text)
    row = re.search(rf'<tr data-job="{dead}".*?</tr>', page.text, re.S)
    assert row
    text = row.group(0)
    assert "Workflow run" in text
    assert "Workflow “Due date by severity” for Customer “Acme Corp”" in text
    assert "3 of 3" in text and "the mail server said no (try 3)" in text
    assert "2026-03-01 12:30 UTC" in text  # when it last changed, in UTC
    assert acme["id"] not in text  # the record by its name, not its id
    # Every status can be listed on its own, and the address says which.
    queued = ann.get("/admin/jobs?status=queued").text
    assert rows(queued) == {waiting: "queued"} and "Retry" not in queued.split("<table", 1)[1]
    assert rows(ann.get("/admin/jobs?status=nonsense").text) == {dead: "dead", failing: "failed"}
    korean = ann.get("/admin/jobs", headers={"Accept-Language": "ko"}).text
    assert "백그라운드 작업" in korean and "다시 시도" in korean


def test_retry_queues_a_dead_job_again_and_its_workflow_run_too(
    ann: TestClient, db: Database
) -> None:
    dead = failed_job(db, RUN_JOB, {"run": "placeholder", "workflow": "grievance_sla"}, attempts=3)
    with db.write() as conn:
        run = runs.record(
            conn,
            Run(
                workflow="grievance_sla",
                trigger="update",
                stage="async",
                status=RunStatus.DEAD,
                started_at=NOW,
                job_id=dead,
            ),
        )
        conn.execute(
            tables.jobs.update()
            .where(tables.jobs.c.id == dead)
            .values(payload={"run": run.id, "workflow": "grievance_sla"})
        )
    answer = retry(ann, dead, "/admin/jobs?status=dead")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/jobs?status=dead&retried=1"
    with db.read() as conn:
        job = jobs.get_job(conn, dead)
        again = runs.get_run(conn, run.id)
    assert job.status == JobStatus.QUEUED and job.attempts == 0
    assert again is not None and again.status == RunStatus.QUEUED
    shown = ann.get(answer.headers["location"]).text
    assert "The job is queued again" in shown and rows(shown) == {}
    # A job that is queued now cannot be retried again: the page says why, nothing changes.
    refused = retry(ann, dead)
    assert refused.status_code == 409 and "Only a failed or dead job" in refused.text
    assert retry(ann, "00000000-0000-0000-0000-000000000000").status_code == 404
    assert retry(ann, "not-an-id").status_code == 404


def test_retry_needs_the_csrf_token_and_the_right(
    ann: TestClient, vic: TestClient, db: Database
) -> None:
    dead = failed_job(db, "mail.send", {}, attempts=1, max_attempts=1)
    assert ann.post(f"/admin/jobs/{dead}/retry", data={"csrf": "forged"}).status_code == 403
    assert vic.get("/admin/jobs").status_code == 403
    assert "/admin/jobs" not in vic.get("/admin/").text.split("</nav>", 1)[0]
    vic_csrf = csrf_of(vic.get("/admin/").text)
    assert vic.post(f"/admin/jobs/{dead}/retry", data={"csrf": vic_csrf}).status_code == 403
    with db.read() as conn:
        assert jobs.get_job(conn, dead).status == JobStatus.DEAD
    # "back" leads only to the jobs page, never elsewhere.
    html = ann.get("/admin/jobs").text
    answer = ann.post(
        f"/admin/jobs/{dead}/retry", data={"csrf": csrf_of(html), "back": "https://evil.example/"}
    )
    assert answer.headers["location"] == "/admin/jobs?retried=1"


def test_a_record_the_admin_may_not_read_is_named_by_its_type_alone(
    app_settings: Settings, registry: Registry, db: Database, service: RecordService
) -> None:
    from admin_clients import client_for

    registry.apply(
        [{"role": "ops", "title": "Operations", "entities": {}, "admin": ["manage_users"]}]
    )
    with db.write() as conn:
        create_user(conn, "ops@example.com", ("ops",), password=PASSWORD)
    with db.read() as conn:
        ann_user = find_user(conn, "ann@example.com")
    assert ann_user is not None
    with service.session(ann_user, "api") as records:
        secret = records.create("customer", {"name": "Secret Holdings"})
    failed_job(
        db,
        RUN_JOB,
        {
            "run": "r",
            "workflow": "grievance_sla",
            "entity": "customer",
            "record": {"id": secret["id"]},
        },
        attempts=1,
    )
    for ops in client_for(app_settings, "ops@example.com"):
        page = ops.get("/admin/jobs").text
        assert "Secret Holdings" not in page and secret["id"] not in page
        assert "Workflow “Due date by severity” for a record of Customer" in page


def test_the_list_pages_by_id_newest_first(
    ann: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [failed_job(db, "mail.send", {"n": n}, attempts=1, max_attempts=1) for n in range(3)]
    monkeypatch.setattr(jobs_screen, "PAGE", 2)
    first = ann.get("/admin/jobs").text
    assert list(rows(first)) == [made[2], made[1]]
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older
    second = ann.get(older.group(1).replace("&amp;", "&")).text
    assert list(rows(second)) == [made[0]]
    assert 'rel="next"' not in second and "Newest jobs" in second


def test_every_kind_of_job_is_named_in_words_in_both_languages(
    ann: TestClient, db: Database, service: RecordService
) -> None:
    acme = acme_by_ann(db, service)
    action = {
        "action": "email.send",
        "settings": {},
        "workflow": "grievance_sla",
        "entity": "customer",
        "record": {"id": acme["id"], "name": "Acme Corp"},
    }
    with db.write() as conn:
        ann_user = find_user(conn, "ann@example.com")
        assert ann_user is not None
        imported = import_store.start(
            conn,
            entity="customer",
            file_name="vendors.csv",
            source=b"name\nAcme\n",
            options={},
            batch_size=100,
            total_rows=1,
            actor=ann_user,
        ).id
    made = {
        failed_job(db, "plugin.action", action, attempts=1): (
            "Workflow action: Due date by severity",
            "For Customer “Acme Corp”",
        ),
        failed_job(db, "import.run", {"import": imported}, attempts=1): (
            "Import",
            "The file “vendors.csv” into Customer",
        ),
        failed_job(db, "import.run", {"import": "gone"}, attempts=1): ("Import", "—"),
        failed_job(db, "webhook.deliver", {"destination": "crm", "payload": {}}, attempts=1): (
            "Webhook delivery",
            "To the destination “crm”",
        ),
        failed_job(db, "billing.sync_invoices", {}, attempts=1): ("Billing: sync invoices", "—"),
    }
    page = ann.get("/admin/jobs").text
    for job_id, (kind, purpose) in made.items():
        row = re.search(rf'<tr data-job="{job_id}".*?</tr>', page, re.S)
        assert row, job_id
        cells = [
            " ".join(c.split()) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(0))
        ]
        assert cells[:2] == [kind, purpose]
    for raw in ("plugin.action", "import.run", "webhook.deliver", "billing.sync_invoices"):
        assert f">{raw}<" not in page
    korean = ann.get("/admin/jobs", headers={"Accept-Language": "ko"}).text
    for said in (
        "가져오기",
        "웹훅 전송",
        "워크플로 동작: 심각도에 따른 처리 기한",  # the workflow's Korean label
        "대상 “crm”",
        "“vendors.csv” 파일",
    ):
        assert said in korean, said


@given(kind=st.text(st.sampled_from(list("ab_-. éß한")) | st.characters(exclude_characters=":")))
@example(kind="billing.sync_invoices")
@example(kind="._-")
@example(kind="")
def test_an_unknown_kind_is_its_own_words_without_separators(kind: str) -> None:
    """The model: the kind's words, in order, joined by spaces (a colon between the parts);
    only the first letter may change (to upper case)."""
    shown = jobs_screen.humanized(kind)

    def words(text: str, separators: str) -> list[str]:
        found = [w for w in re.split(separators, text) if w]
        return ["?" + found[0][1:], *found[1:]] if found else []

    expected = words(kind, r"[._\-\s]+")
    assert words(shown, r"[:\s]+") == expected if expected else shown == "—"
    assert "_" not in shown and "." not in shown
