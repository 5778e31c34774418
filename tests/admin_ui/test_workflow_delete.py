"""Deleting a workflow from its page: confirmed, permitted, audited, its runs kept readable.

Through the real application with signed-in cookies (SQLite or PostgreSQL as the run is
configured). The delete is the registry's ``delete_workflow``, the service GraphQL's
``deleteWorkflow`` uses; the runs it leaves behind are listed under "Deleted workflows" on
the list and shown read-only at the workflow's old address until retention prunes them.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_signin import csrf_of
from test_workflow_builder import NEEDS_DESCRIPTION, create, new_grievance, post, text_of
from test_workflow_form import FIXTURES

from xrm.entities.registry import Registry
from xrm.platform import tables
from xrm.platform.db import Database
from xrm.workflows import runs

pytest_plugins = ["admin_clients"]

PAGE = "/admin/workflows/needs_description"


def test_deleting_needs_the_box_ticked_and_keeps_the_runs_readable(
    ann: TestClient, registry: Registry, db: Database
) -> None:
    assert create(ann, {**NEEDS_DESCRIPTION, "enabled": "1"}).status_code == 303
    assert new_grievance(ann, "Broken meter").status_code == 400  # a rejected run
    html = ann.get(PAGE).text
    assert "Yes, delete this workflow" in html and f'action="{PAGE}/delete"' in html

    unticked = post(ann, PAGE, {}, PAGE + "/delete")
    assert unticked.status_code == 400
    assert 'id="e-confirm"' in unticked.text and "Tick" in unticked.text
    assert "needs_description" in registry.current().workflows

    deleted = post(ann, PAGE, {"confirm": "1"}, PAGE + "/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/admin/workflows?deleted=1"
    assert "needs_description" not in registry.current().workflows
    assert new_grievance(ann, "Quiet meter").status_code == 303  # it no longer refuses

    listed = ann.get("/admin/workflows?deleted=1")
    shown = text_of(listed.text)
    assert "The workflow is deleted." in shown and "Deleted workflows" in shown
    assert re.search(rf'href="{PAGE}#runs">Grievances need a description<', listed.text)
    kept = ann.get(PAGE)
    assert kept.status_code == 200
    assert 'data-run="rejected"' in kept.text and "This workflow is deleted" in kept.text
    assert "<h1>Grievances need a description</h1>" in kept.text  # its title, from the audit
    assert "(deleted, or never saved)" in kept.text  # the refused grievance, of a known type
    assert "Describe the grievance, please." in text_of(kept.text)  # the run's error
    assert "/delete" not in kept.text and "Save changes" not in kept.text
    with db.read() as conn:
        audited = conn.execute(
            sa.select(tables.audit.c.action, tables.audit.c.channel).where(
                tables.audit.c.entity == "needs_description"
            )
        ).all()
    assert ("delete", "admin") in [tuple(row) for row in audited]
    again = post(ann, "/admin/workflows", {"confirm": "1"}, PAGE + "/delete")
    assert again.status_code == 404


def test_a_deleted_workflow_without_runs_is_simply_gone(ann: TestClient) -> None:
    assert create(ann, NEEDS_DESCRIPTION).status_code == 303
    assert post(ann, PAGE, {"confirm": "1"}, PAGE + "/delete").status_code == 303
    assert ann.get(PAGE).status_code == 404
    assert "Deleted workflows" not in ann.get("/admin/workflows").text


def test_deleting_takes_the_right_and_the_csrf_token(
    ann: TestClient, vic: TestClient, registry: Registry
) -> None:
    assert create(ann, NEEDS_DESCRIPTION).status_code == 303
    token = csrf_of(vic.get("/admin/").text)
    refused = vic.post(PAGE + "/delete", data={"csrf": token, "confirm": "1"})
    assert refused.status_code == 403
    assert ann.post(PAGE + "/delete", data={"confirm": "1"}).status_code == 403  # no token
    assert "needs_description" in registry.current().workflows


@settings(max_examples=30, suppress_health_check=FIXTURES, deadline=None)
@given(
    confirm=st.one_of(st.text(max_size=20), st.sampled_from(["0", "on", "yes", " 1", "1 "])),
    name=st.one_of(st.text(max_size=30), st.sampled_from(["needs_description", "new", ".."])),
)
def test_only_the_ticked_box_deletes_and_any_name_is_answered(
    ann: TestClient, registry: Registry, confirm: str, name: str
) -> None:
    """Model: the workflow goes only when ``confirm`` is exactly "1"; any other value keeps
    it (400, said at the box); a posted name of no workflow answers 404 (or 405 when it is
    no name at all); never a crash."""
    if "needs_description" not in registry.current().workflows:
        assert create(ann, NEEDS_DESCRIPTION).status_code == 303
    token = csrf_of(ann.get(PAGE).text)
    answer = ann.post(PAGE + "/delete", data={"csrf": token, "confirm": confirm})
    if confirm == "1":
        assert answer.status_code == 303
        assert "needs_description" not in registry.current().workflows
    else:
        assert answer.status_code == 400 and 'id="e-confirm"' in answer.text
        assert "needs_description" in registry.current().workflows
    other = ann.post(f"/admin/workflows/{quote(name, safe='')}/delete", data={"csrf": token})
    assert other.status_code in (303, 400, 404, 405), other.status_code
    assert "Traceback" not in other.text


def test_the_kept_runs_go_when_retention_prunes_them(ann: TestClient, db: Database) -> None:
    assert create(ann, {**NEEDS_DESCRIPTION, "enabled": "1"}).status_code == 303
    assert new_grievance(ann, "Broken meter").status_code == 400  # a rejected run
    assert post(ann, PAGE, {"confirm": "1"}, PAGE + "/delete").status_code == 303
    assert ann.get(PAGE).status_code == 200
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    with db.write() as conn:
        assert runs.prune(conn, now=later, retention=dt.timedelta(days=30)) == 1
    assert ann.get(PAGE).status_code == 404
    assert "Deleted workflows" not in ann.get("/admin/workflows").text
