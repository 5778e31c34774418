"""The workflow builder: /admin/workflows, /admin/workflows/new and /admin/workflows/{name}.

Through the real application with signed-in cookies, on SQLite or PostgreSQL
as the run is configured: who may build workflows, CSRF, compile errors at
their line, saving through the registry (versioned, audited), enabling,
test runs that keep nothing, and the run history with its logs and retry.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from test_signin import csrf_of

from xrm.admin_ui import workflow_runs
from xrm.entities.registry import Registry
from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.jobs import Worker, WorkerConfig

pytest_plugins = ["admin_clients"]

NEEDS_DESCRIPTION = {
    "name": "needs_description",
    "title": "Grievances need a description",
    "entity": "grievance",
    "on": ["create", "update"],
    "stage": "before",
    "when": "not record['description']",
    "actions.0.type": "reject",
    "actions.0.message.en": "Describe the grievance, please.",
    "actions.0.message.ko": "불만 내용을 적어 주세요.",
}


def post(client: TestClient, page: str, form: dict[str, Any], action: str = "") -> httpx.Response:
    """Post ``form`` with the CSRF token of ``page`` (to ``action``, else to ``page``)."""
    token = csrf_of(client.get(page).text)
    return client.post(action or page, data={"csrf": token, **form})


def create(client: TestClient, form: dict[str, Any]) -> httpx.Response:
    return post(client, "/admin/workflows/new", form)


def text_of(html: str) -> str:
    """The page's visible text, roughly: tags dropped, spaces squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def my_id(client: TestClient) -> str:
    """The signed-in user's id, from the menu's "My account" link."""
    found = re.search(r'href="/admin/users/([0-9a-f-]{36})"', client.get("/admin/").text)
    assert found
    return found.group(1)


def new_grievance(client: TestClient, subject: str, description: str = "") -> httpx.Response:
    form = {"subject": subject, "description": description}
    return post(client, "/admin/records/grievance/new", form)


def test_only_users_who_may_define_workflows_reach_the_builder(
    ann: TestClient, vic: TestClient, registry: Registry
) -> None:
    assert 'href="/admin/workflows"' in ann.get("/admin/").text
    assert 'href="/admin/workflows"' not in vic.get("/admin/").text
    assert create(ann, {**NEEDS_DESCRIPTION}).status_code == 303
    for path in ("/admin/workflows", "/admin/workflows/new", "/admin/workflows/needs_description"):
        assert vic.get(path).status_code == 403, path
    token = csrf_of(vic.get("/admin/").text)
    for path in (
        "/admin/workflows/new",
        "/admin/workflows/needs_description",
        "/admin/workflows/needs_description/enabled",
        "/admin/workflows/needs_description/test",
    ):
        answer = vic.post(path, data={"csrf": token, **NEEDS_DESCRIPTION, "enabled": "1"})
        assert answer.status_code == 403, path
    workflow = registry.current().workflows["needs_description"]
    assert (workflow.version, workflow.enabled) == (1, False)


def test_a_form_without_its_csrf_token_changes_nothing(ann: TestClient, registry: Registry) -> None:
    answer = ann.post("/admin/workflows/new", data=NEEDS_DESCRIPTION)
    assert answer.status_code == 403
    assert "needs_description" not in registry.current().workflows
    assert create(ann, NEEDS_DESCRIPTION).status_code == 303
    answer = ann.post("/admin/workflows/needs_description/enabled", data={"enabled": "1"})
    assert answer.status_code == 403
    assert registry.current().workflows["needs_description"].enabled is False


def test_a_saved_rule_is_listed_enabled_and_refuses_in_the_record_form(
    ann: TestClient, registry: Registry, db: Database
) -> None:
    saved = create(ann, NEEDS_DESCRIPTION)
    assert saved.headers["location"] == "/admin/workflows/needs_description?saved=1"
    listed = text_of(ann.get("/admin/workflows").text)
    assert "Grievances need a description" in listed and "never" in listed
    assert new_grievance(ann, "Noisy line").status_code == 303  # disabled: nothing refuses
    page = "/admin/workflows/needs_description"
    assert post(ann, page, {"enabled": "1"}, page + "/enabled").status_code == 303
    assert registry.current().workflows["needs_description"].enabled is True
    refused = new_grievance(ann, "Broken meter")
    assert refused.status_code == 400
    assert "Describe the grievance, please." in refused.text
    assert new_grievance(ann, "Broken meter", "It runs backwards").status_code == 303
    listed = text_of(ann.get("/admin/workflows").text)
    assert "rejected" in listed  # the last run
    with db.read() as conn:
        audited = conn.execute(
            sa.select(tables.audit.c.channel, tables.audit.c.changes).where(
                tables.audit.c.entity == "needs_description"
            )
        ).all()
    assert [(row[0], row[1]["version"]) for row in audited] == [("admin", 1), ("admin", 2)]
    assert post(ann, page, {"enabled": "0"}, page + "/enabled").status_code == 303
    assert new_grievance(ann, "Silent").status_code == 303


def test_a_compile_error_is_shown_at_its_line_and_nothing_is_saved(
    ann: TestClient, registry: Registry
) -> None:
    broken = {
        **NEEDS_DESCRIPTION,
        "when": "(record['description'] is None or\n  record['subject'] ==)",
        "actions.0.type": "script",
        "actions.0.code": "x = 1\nimport os\n",
    }
    answer = create(ann, broken)
    assert answer.status_code == 400
    assert "needs_description" not in registry.current().workflows
    html = answer.text
    assert 'data-error-lines="2"' in html  # the condition's line 2 and the script's line 2
    assert re.search(r'id="e-when">Line 2, column \d+: ', html)
    assert re.search(r'id="e-actions-0-code">Line 2, column \d+: ', html)
    assert 'aria-invalid="true"' in html
    assert "(record[&#39;description&#39;] is None or" in html  # what was typed is kept


def test_form_problems_are_named_at_their_inputs(ann: TestClient, registry: Registry) -> None:
    answer = create(
        ann,
        {
            "name": "Bad Name",
            "entity": "grievance",
            "stage": "before",
            "order": "soon",
            "actions.0.type": "set",
            "actions.0.values": "severity high",
            "actions.1.type": "set",
            "actions.1.values": "nonexistent = 1",
        },
    )
    assert answer.status_code == 400
    html = answer.text
    for name in ("on", "order", "actions-0-values"):
        assert f'id="e-{name}"' in html, name
    answer = create(
        ann,
        {**NEEDS_DESCRIPTION, "name": "Bad Name"},
    )
    assert answer.status_code == 400 and 'id="e-name"' in answer.text
    answer = create(ann, {**NEEDS_DESCRIPTION, "name": "new"})  # /admin/workflows/new is a page
    assert answer.status_code == 400
    said = re.search(r'id="e-name">([^<]+)<', answer.text)
    assert said and "&#39;new&#39; is reserved by the system" in said.group(1)
    answer = create(
        ann,
        {
            **NEEDS_DESCRIPTION,
            "actions.0.type": "",  # a block cleared: the next one is the definition's first
            "actions.1.type": "set",
            "actions.1.values": "nonexistent = 1",
        },
    )
    assert answer.status_code == 400
    error = re.search(r'id="e-actions-1-values">([^<]+)<', answer.text)
    assert error and "nonexistent" in error.group(1)
    assert registry.current().workflows == {}


def test_a_test_run_shows_what_would_change_and_keeps_nothing(
    ann: TestClient, registry: Registry
) -> None:
    escalate = {
        "name": "escalate",
        "entity": "grievance",
        "on": ["update"],
        "stage": "after",
        "actions.0.type": "update",
        "actions.0.values": "severity = critical\nstatus = escalated",
        "actions.1.type": "script",
        "actions.1.code": "log('escalating', record['subject'])",
        "actions.2.type": "create",
        "actions.2.entity": "task",
        "actions.2.values": f"title = Call back\nassignee = {my_id(ann)}",  # a user, no type
    }
    assert create(ann, escalate).status_code == 303
    assert new_grievance(ann, "Power cut", "Since Monday").status_code == 303
    page = "/admin/workflows/escalate"
    answer = post(ann, page, {"record": "Power cut"}, page + "/test")
    assert answer.status_code == 200
    result = text_of(answer.text.split("data-test-result>", 1)[1].split('class="card"', 1)[0])
    assert "Nothing was saved" in result
    assert "Changes Power cut (Grievance)" in result
    assert "Severity: Medium → Critical; Status: Open → Escalated" in result
    assert "escalating Power cut" in result
    assert "Creates a record of Task: Title: Call back; Assignee: a user" in result
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", result)  # names, never ids
    listing = ann.get("/admin/records/grievance?q=Power").text
    record = re.search(r'href="(/admin/records/grievance/[0-9a-f-]{36})"', listing)
    assert record, listing
    kept = ann.get(record.group(1)).text
    assert '<option value="medium" selected>' in kept  # rolled back
    assert '<option value="open" selected>' in kept
    choice = re.search(r'<option value="([0-9a-f-]{36})">Power cut · ', ann.get(page).text)
    assert choice, "the recently changed records are offered by name"
    again = post(ann, page, {"recent": choice.group(1)}, page + "/test")
    assert "Severity: Medium → Critical" in text_of(again.text)
    missing = post(ann, page, {"record": "No such thing"}, page + "/test")
    assert missing.status_code == 400 and "No record is named No such thing." in missing.text
    nothing = post(ann, page, {"record": ""}, page + "/test")
    assert nothing.status_code == 400 and "Choose the record to try it on." in nothing.text


def test_runs_are_shown_with_logs_and_records_by_name_and_paged(
    ann: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = {
        "name": "logger",
        "entity": "grievance",
        "on": ["create"],
        "stage": "before",
        "enabled": "1",
        "actions.0.type": "script",
        "actions.0.code": "log('saw', record['subject'])",
    }
    assert create(ann, logger).status_code == 303
    for subject in ("First", "Second", "Third"):
        assert new_grievance(ann, subject, "x").status_code == 303
    monkeypatch.setattr(workflow_runs, "PAGE", 2)
    html = ann.get("/admin/workflows/logger").text
    shown = text_of(html)
    assert "saw Third" in shown and "saw Second" in shown and "saw First" not in shown
    assert html.count('data-run="done"') == 2
    assert re.search(r'href="/admin/records/grievance/[0-9a-f-]{36}">Third</a>', html)
    older = re.search(r'href="(/admin/workflows/logger\?before=[^"#]+)#runs"', html)
    assert older, html
    second_page = ann.get(older.group(1)).text
    assert "saw First" in text_of(second_page) and "saw Third" not in text_of(second_page)
    assert "Older runs" not in second_page


def test_a_failed_background_run_can_be_retried(
    ann: TestClient, db: Database, registry: Registry
) -> None:
    flaky = {
        "name": "flaky",
        "entity": "grievance",
        "on": ["create"],
        "stage": "async",
        "enabled": "1",
        "actions.0.type": "script",
        "actions.0.code": "log('trying')\n1 / 0",
    }
    assert create(ann, flaky).status_code == 303
    assert new_grievance(ann, "Flickering", "x").status_code == 303
    with db.write() as conn:
        conn.execute(tables.jobs.update().values(max_attempts=1))
    engine = ann.app.state.workflows  # type: ignore[attr-defined]
    config = WorkerConfig(poll_seconds=0.02, concurrency=1, lease=dt.timedelta(seconds=30))
    Worker(db, engine.job_handlers(), config, on_failure=engine.failure_hooks()).drain()
    page = "/admin/workflows/flaky"
    html = ann.get(page).text
    assert 'data-run="dead"' in html and "division by zero" in html and "trying" in html
    run_id = re.search(r'action="/admin/workflows/flaky/runs/([^/]+)/retry"', html)
    assert run_id, html
    retried = post(ann, page, {}, f"{page}/runs/{run_id.group(1)}/retry")
    assert retried.headers["location"] == f"{page}?retried=1"
    html = ann.get(page).text
    assert 'data-run="queued"' in html and "/retry" not in html
    again = post(ann, page, {}, f"{page}/runs/{run_id.group(1)}/retry")
    assert again.status_code == 400
    for elsewhere in (f"/admin/workflows/other/runs/{run_id.group(1)}", f"{page}/runs/nonsense"):
        assert post(ann, page, {}, f"{elsewhere}/retry").status_code == 404


def test_a_form_saved_by_someone_else_meanwhile_is_refused_not_overwritten(
    ann: TestClient, bob: TestClient, registry: Registry
) -> None:
    assert create(ann, NEEDS_DESCRIPTION).status_code == 303
    page = "/admin/workflows/needs_description"
    opened = ann.get(page).text
    retitled = {**NEEDS_DESCRIPTION, "title": "Bob's title", "version": "1"}
    assert post(bob, page, retitled).status_code == 303
    token = csrf_of(opened)
    version = re.search(r'name="version" value="(\d+)"', opened)
    assert version and version.group(1) == "1"
    mine = {**NEEDS_DESCRIPTION, "title": "Ann's title", "version": "1", "csrf": token}
    answer = ann.post(page, data=mine)
    assert answer.status_code == 400 and "Someone else saved this workflow" in answer.text
    assert "Ann&#39;s title" in answer.text  # what she typed is kept
    stored = registry.current().workflows["needs_description"]
    assert (stored.version, stored.definition["title"]) == (2, "Bob's title")


def test_a_plugin_action_is_built_from_its_settings_schema(
    ann: TestClient, registry: Registry
) -> None:
    html = ann.get("/admin/workflows/new").text
    assert '<option value="webhook">' in html  # the built-in webhook plugin's action
    assert 'name="actions.0.settings.destination"' in html
    hook = {
        **NEEDS_DESCRIPTION,
        "stage": "after",
        "when": "",
        "actions.0.type": "webhook",
        "actions.0.settings.destination": "billing",
        "actions.0.message.en": "",
    }
    missing = create(ann, {**hook, "actions.0.settings.destination": " "})
    assert missing.status_code == 400  # the schema requires a destination
    error = re.search(r'id="e-actions-0-type">([^<]+)<', missing.text)
    assert error and "destination" in error.group(1)
    assert create(ann, hook).status_code == 303
    stored = registry.current().workflows["needs_description"].definition["actions"]
    assert stored == [{"type": "webhook", "destination": "billing"}]
    page = ann.get("/admin/workflows/needs_description").text
    assert re.search(r'name="actions.0.settings.destination"[^>]*value="billing"', page)
