"""The role screens: roles are JSON definitions, checked, audited and never overwritten blind."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from starlette.testclient import TestClient
from test_signin import csrf_of

from xrm.entities.registry import Registry
from xrm.platform import tables
from xrm.platform.db import Database

SUPPORT = {
    "role": "support",
    "title": "Support desk",
    "entities": {"grievance": {"create": "all", "read": "all", "update": "own"}},
}


# The signed-in clients (a conftest.py here would shadow the root conftest module).
pytest_plugins = ["admin_clients"]


def editor_form(client: TestClient, page: str) -> dict[str, str]:
    """The hidden fields of the role editor at ``page``, as a browser would send them back."""
    html = client.get(page).text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))
    assert "version" in fields, html
    fields["csrf"] = csrf_of(html)
    return fields


def save(client: TestClient, page: str, definition: object) -> tuple[int, str]:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    response = client.post("/admin/roles", data={**editor_form(client, page), "definition": text})
    return response.status_code, response.text


def stored(registry: Registry, name: str) -> tuple[int, dict[str, object]] | None:
    role = registry.current().roles.get(name)
    return None if role is None else (role.version, dict(role.definition))


def test_an_admin_defines_a_role_that_users_can_then_hold(
    ann: TestClient, registry: Registry, db: Database
) -> None:
    listing = ann.get("/admin/roles")
    assert listing.status_code == 200
    assert all(f'data-role="{r}"' in listing.text for r in ("admin", "editor", "viewer"))
    status, _ = save(ann, "/admin/roles/new", SUPPORT)
    assert status == 303
    assert stored(registry, "support") == (1, SUPPORT)
    page = ann.get("/admin/roles/support").text
    assert "Support desk" in page and "data-version>1<" in page
    with db.read() as conn:
        audited = conn.execute(
            sa.select(
                tables.audit.c.action, tables.audit.c.channel, tables.audit.c.actor_email
            ).where(tables.audit.c.entity == "support")
        ).all()
    assert [tuple(r) for r in audited] == [("define", "admin", "ann@example.com")]
    # The new role is one users can be given.
    users = ann.get("/admin/users").text
    assert 'name="roles" value="support"' in users


def test_a_bad_definition_is_refused_with_every_fault_by_path(
    ann: TestClient, registry: Registry
) -> None:
    status, page = save(ann, "/admin/roles/new", '{"role": "x",')
    assert status == 400 and "not valid JSON" in page and "line 1" in page
    bad = {
        "role": "broken",
        "entities": {"customer": {"read": "everything"}},
        "admin": ["rule_the_world"],
    }
    status, page = save(ann, "/admin/roles/new", bad)
    assert status == 400
    assert "<li><strong>admin.0</strong>: " in page
    assert "<li><strong>entities.customer.read</strong>: " in page
    assert "&#34;rule_the_world&#34;" in page  # the text stays in the form, to be fixed
    status, page = save(ann, "/admin/roles/new", {"role": "broken", "entities": {"nosuch": {}}})
    assert status == 400 and "<li><strong>entities.nosuch</strong>: " in page
    assert stored(registry, "broken") is None


def test_a_stale_editor_cannot_overwrite_a_newer_save(
    ann: TestClient, bob: TestClient, registry: Registry
) -> None:
    assert save(ann, "/admin/roles/new", SUPPORT)[0] == 303
    anns_form = editor_form(ann, "/admin/roles/support")
    bobs_form = editor_form(bob, "/admin/roles/support")
    bobs = {**SUPPORT, "title": "Bob's support"}
    response = bob.post("/admin/roles", data={**bobs_form, "definition": json.dumps(bobs)})
    assert response.status_code == 303
    anns = {**SUPPORT, "title": "Ann's support"}
    response = ann.post("/admin/roles", data={**anns_form, "definition": json.dumps(anns)})
    assert response.status_code == 409 and "Someone else saved this role" in response.text
    assert "Ann&#39;s support" in response.text  # her text is still in the form
    assert stored(registry, "support") == (2, bobs)
    # Reloaded, her save goes through on top of Bob's.
    assert save(ann, "/admin/roles/support", anns)[0] == 303
    assert stored(registry, "support") == (3, anns)
    # A new role may not silently replace an existing one either.
    status, _page = save(ann, "/admin/roles/new", SUPPORT)
    assert status == 409 and stored(registry, "support") == (3, anns)


def test_built_in_roles_are_shown_but_not_editable(ann: TestClient, registry: Registry) -> None:
    page = ann.get("/admin/roles/viewer")
    assert page.status_code == 200 and "data-definition" in page.text
    assert 'name="definition"' not in page.text
    form = editor_form(ann, "/admin/roles/new")
    response = ann.post("/admin/roles", data={**form, "definition": json.dumps({"role": "viewer"})})
    assert response.status_code == 400 and "built-in" in response.text
    assert ann.get("/admin/roles/nosuch").status_code == 404


def test_without_manage_users_roles_are_read_only(
    vic: TestClient, ann: TestClient, registry: Registry
) -> None:
    assert save(ann, "/admin/roles/new", SUPPORT)[0] == 303
    listing = vic.get("/admin/roles").text
    assert 'data-role="support"' in listing and "/admin/roles/new" not in listing
    page = vic.get("/admin/roles/support").text
    assert "data-definition" in page and 'name="definition"' not in page
    assert vic.get("/admin/roles/new").status_code == 403
    csrf = csrf_of(vic.get("/admin/roles").text)
    takeover = {**SUPPORT, "admin": ["manage_users"]}
    response = vic.post(
        "/admin/roles",
        data={"csrf": csrf, "name": "support", "version": "1", "definition": json.dumps(takeover)},
    )
    assert response.status_code == 403
    # And no CSRF token, no change, even for an admin.
    response = ann.post(
        "/admin/roles",
        data={"name": "support", "version": "1", "definition": json.dumps(takeover)},
    )
    assert response.status_code == 403
    assert stored(registry, "support") == (1, SUPPORT)
