"""The builder's "Test run of this form": what the form holds now runs, unsaved, rolled back.

Through the real application with signed-in cookies (SQLite or PostgreSQL as the run is
configured): a new workflow's form and an edited one are tried against a chosen record; the
result, its log and changes appear beside the form, the form comes back as typed, nothing is
saved (no workflow, no version, no record change); compile errors are named at the condition
and the script with their line, as on save. Hostile posts get an answer, never a crash.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from hypothesis import given, settings
from starlette.testclient import TestClient
from test_signin import csrf_of
from test_workflow_builder import NEEDS_DESCRIPTION, create, new_grievance, post, text_of
from test_workflow_form import FIXTURES, hostile_posts

from xrm.entities.registry import Registry
from xrm.platform.db import Database

pytest_plugins = ["admin_clients"]

NEW = "/admin/workflows/new"
ESCALATE = {
    "name": "escalate",
    "title": "Escalate serious grievances",
    "entity": "grievance",
    "on": ["update"],
    "stage": "after",
    "actions.0.type": "update",
    "actions.0.values": "severity = critical",
    "actions.1.type": "script",
    "actions.1.code": "log('escalating', record['subject'])",
}


def tried(html: str) -> str:
    """The text of the form's test run result."""
    found = re.search(r"data-tried>(.*?)<div class=\"fields\">", html, re.S)
    assert found, html
    return text_of(found.group(1))


def grievance_rows(db: Database) -> list[tuple[Any, ...]]:
    with db.read() as conn:
        table = sa.table("e_grievance", sa.column("subject"), sa.column("severity"))
        return sorted(tuple(row) for row in conn.execute(sa.select(table)).all())


def test_a_new_form_is_tried_unsaved_and_comes_back_as_typed(
    ann: TestClient, registry: Registry, db: Database
) -> None:
    assert new_grievance(ann, "Power cut", "Since Monday").status_code == 303
    before = grievance_rows(db)
    answer = post(ann, NEW, {**ESCALATE, "try.record": "Power cut"}, NEW + "/try")
    assert answer.status_code == 200
    result = tried(answer.text)
    assert "Nothing was saved" in result
    assert "Changes Power cut (Grievance): Severity: Medium → Critical" in result
    assert "escalating Power cut" in result  # the log
    assert 'value="Escalate serious grievances"' in answer.text  # the form as typed
    assert "log(&#39;escalating&#39;, record[&#39;subject&#39;])" in answer.text
    assert registry.current().workflows == {}
    assert grievance_rows(db) == before
    choice = re.search(r'<option value="([0-9a-f-]{36})">Power cut · ', answer.text)
    assert choice, "the recently changed records of the form's type are offered"
    again = post(ann, NEW, {**ESCALATE, "try.recent": choice.group(1)}, NEW + "/try")
    assert "Severity: Medium → Critical" in tried(again.text)
    unnamed = post(ann, NEW, {**ESCALATE, "name": "", "try.record": "Power cut"}, NEW + "/try")
    assert unnamed.status_code == 200  # a name is only needed to save
    assert "escalating Power cut" in tried(unnamed.text)
    assert "Deleted workflows" not in ann.get("/admin/workflows").text  # test runs only


def test_an_edited_form_is_tried_as_it_stands_not_as_saved(
    ann: TestClient, registry: Registry
) -> None:
    assert create(ann, ESCALATE).status_code == 303
    assert new_grievance(ann, "Gas smell", "Kitchen").status_code == 303
    page = "/admin/workflows/escalate"
    html = ann.get(page).text
    assert f'formaction="{page}/try#try"' in html
    changed = {**ESCALATE, "actions.0.values": "severity = low", "version": "1"}
    answer = post(ann, page, {**changed, "try.record": "Gas smell"}, page + "/try")
    assert answer.status_code == 200
    assert "Severity: Medium → Low" in tried(answer.text)
    assert "severity = low" in answer.text  # the form keeps the unsaved change
    stored = registry.current().workflows["escalate"]
    assert stored.version == 1
    assert stored.definition["actions"][0]["values"] == {"severity": "critical"}
    history = ann.get(page).text
    assert 'data-run="done"' in history and "test run" in history  # listed, marked


def test_compile_errors_stop_the_test_at_their_inputs(ann: TestClient, registry: Registry) -> None:
    assert new_grievance(ann, "Leak", "x").status_code == 303
    broken = {
        **NEEDS_DESCRIPTION,
        "when": "(record['description'] is None or\n  record['subject'] ==)",
        "actions.0.type": "script",
        "actions.0.code": "x = 1\nimport os\n",
        "try.record": "Leak",
    }
    answer = post(ann, NEW, broken, NEW + "/try")
    assert answer.status_code == 400
    assert "The test did not run" in tried(answer.text)
    assert re.search(r'id="e-when">Line 2, column \d+: ', answer.text)
    assert re.search(r'id="e-actions-0-code">Line 2, column \d+: ', answer.text)
    assert 'data-error-lines="2"' in answer.text
    assert registry.current().workflows == {}
    unchosen = post(ann, NEW, {**broken, "try.record": ""}, NEW + "/try")  # no record yet
    assert unchosen.status_code == 400 and re.search(r'id="e-when">Line 2, ', unchosen.text)


def test_a_rule_that_refuses_shows_its_message_and_a_missing_record_is_named(
    ann: TestClient,
) -> None:
    assert new_grievance(ann, "Hum", "").status_code == 303
    answer = post(ann, NEW, {**NEEDS_DESCRIPTION, "try.record": "Hum"}, NEW + "/try")
    assert answer.status_code == 200
    result = tried(answer.text)
    assert "rejected" in result and "Describe the grievance, please." in result
    missing = post(ann, NEW, {**NEEDS_DESCRIPTION, "try.record": "Nope"}, NEW + "/try")
    assert missing.status_code == 400
    assert "No record is named Nope." in tried(missing.text)
    nothing = post(ann, NEW, NEEDS_DESCRIPTION, NEW + "/try")
    assert "Choose the record to try it on." in tried(nothing.text)
    form_problem = post(
        ann, NEW, {**NEEDS_DESCRIPTION, "on": [], "try.record": "Hum"}, NEW + "/try"
    )
    assert form_problem.status_code == 400 and 'id="e-on"' in form_problem.text


def test_trying_takes_the_right_and_the_csrf_token(ann: TestClient, vic: TestClient) -> None:
    assert create(ann, ESCALATE).status_code == 303
    token = csrf_of(vic.get("/admin/").text)
    for path in (NEW + "/try", "/admin/workflows/escalate/try"):
        assert vic.post(path, data={"csrf": token, **ESCALATE}).status_code == 403, path
        assert ann.post(path, data=ESCALATE).status_code == 403, path  # no token
    assert post(ann, NEW, ESCALATE, "/admin/workflows/nothing/try").status_code == 404


@settings(max_examples=30, suppress_health_check=FIXTURES, deadline=None)
@given(posted=hostile_posts())
def test_trying_any_post_answers_and_saves_nothing(
    ann: TestClient, registry: Registry, db: Database, posted: dict[str, list[str]]
) -> None:
    """Model: whatever is posted, the answer is the form with a result or a problem (200 or
    400, never a crash or a database message), and no workflow or record is stored."""
    token = csrf_of(ann.get(NEW).text)
    rows = grievance_rows(db)
    form = [(k, v) for k, values in posted.items() if k != "csrf" for v in values]
    answer = ann.post(
        NEW + "/try",
        content=urlencode([*form, ("try.record", "x"), ("csrf", token)]),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code in (200, 400), answer.text
    assert "Traceback" not in answer.text and "sqlalchemy" not in answer.text.lower()
    assert "data-tried" in answer.text
    assert registry.current().workflows == {}
    assert grievance_rows(db) == rows


def test_a_before_rule_that_sets_fields_shows_the_change_in_words(
    ann: TestClient, registry: Registry
) -> None:
    assert new_grievance(ann, "Sparks", "From the socket").status_code == 303
    rule = {
        **NEEDS_DESCRIPTION,
        "when": "",
        "actions.0.type": "set",
        "actions.0.values": "severity = critical\nstatus = escalated",
        "try.record": "Sparks",
    }
    answer = post(ann, NEW, rule, NEW + "/try")
    assert answer.status_code == 200
    result = tried(answer.text)
    assert "Changes Sparks (Grievance): Severity: Medium → Critical; Status: Open → Escalated" in (
        result
    )
    assert "{" not in result and "critical" not in result  # words and labels, not raw values
    assert create(ann, {**rule, "enabled": "1"}).status_code == 303  # the saved one, tried
    page = "/admin/workflows/needs_description"
    saved = post(ann, page, {"record": "Sparks"}, page + "/test")
    assert "Severity: Medium → Critical" in text_of(saved.text)


def test_enter_in_an_input_still_saves(ann: TestClient) -> None:
    """A browser submits a form by Enter with its first submit button: Save, not the test."""
    assert create(ann, ESCALATE).status_code == 303
    for page in (NEW, "/admin/workflows/escalate"):
        form = ann.get(page).text.split('class="workflow">', 1)[1].split("</form>", 1)[0]
        first = re.search(r"<button [^>]*>([^<]+)</button>", form)
        assert first and first.group(1) in ("Create workflow", "Save changes"), page


def test_a_run_that_fails_shows_its_error_at_the_input_it_failed_at(ann: TestClient) -> None:
    assert new_grievance(ann, "Drip", "Tap").status_code == 303
    script = {
        **ESCALATE,
        "actions.0.type": "script",
        "actions.0.code": "log('before')\n1 / 0",
        "actions.1.type": "",
        "try.record": "Drip",
    }
    answer = post(ann, NEW, script, NEW + "/try")
    assert answer.status_code == 200  # it ran, and failed
    assert re.search(
        r'id="e-actions-0-code">Line 2: ZeroDivisionError: division by zero<', answer.text
    )
    assert 'data-error-lines="2"' in answer.text
    assert "before" in tried(answer.text)  # the log up to the failure
    condition = {**script, "when": "record['no_such_field']"}
    answer = post(ann, NEW, condition, NEW + "/try")
    assert re.search(r'id="e-when">Line 1: KeyError', answer.text), answer.text
    write = {**script, "actions.0.type": "update", "actions.0.values": "severity = apocalyptic"}
    answer = post(ann, NEW, write, NEW + "/try")
    error = re.search(r'id="e-actions-0-type">([^<]+)<', answer.text)
    assert error and html.unescape(error.group(1)).startswith(
        "The record was not saved: Severity: "
    )
