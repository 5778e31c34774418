"""Changing and removing a many-to-many relationship from a type's page (server side).

The edit page (``/admin/types/{type}/relationships/{name}``) changes labels and
attributes through the plan, like the type designer; the removal form drops
the link table only with the box ticked that says how many links go. Posted
as a browser would: CSRF token of the page, the form's own inputs.
"""

from __future__ import annotations

import html
import re
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_signin import csrf_of
from test_type_designer import _inputs_of, _planned, _steps

from xrm.entities.catalog import demo_workflows
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.platform.identity import find_user

pytest_plugins = ["admin_clients"]

EDIT = "/admin/types/contract/relationships/contract_contacts"


def form_of(client: TestClient, path: str = EDIT) -> dict[str, str]:
    """The edit form as the page fills it (without the removal form's inputs)."""
    page = client.get(path).text
    return _inputs_of(page.split('<div class="card" data-remove>')[0])


def post(client: TestClient, form: dict[str, str], action: str, path: str = EDIT) -> Any:
    return client.post(
        path, data={**form, "csrf": csrf_of(client.get(path).text), "action": action}
    )


def apply(client: TestClient, form: dict[str, str], path: str = EDIT) -> Any:
    shown = post(client, form, "plan", path)
    assert shown.status_code == 200, shown.text
    data = {**form, "csrf": csrf_of(shown.text), "action": "apply", "planned": _planned(shown.text)}
    return client.post(path, data=data)


def remove(client: TestClient, confirm: bool, links: int, path: str = EDIT) -> Any:
    page = client.get(path).text
    version = re.search(r"<span data-version>(\d+)</span>", page)
    assert version
    data = {"csrf": csrf_of(page), "version": version.group(1), "links": str(links)}
    if confirm:
        data["confirm"] = "1"
    return client.post(path + "/remove", data=data)


def link_contacts(service: RecordService, db: Database, n: int) -> None:
    with db.read() as conn:
        ann = find_user(conn, "ann@example.com")
    assert ann is not None
    with service.session(ann, "api") as records:
        customer = records.create("customer", {"name": "Acme"})["id"]
        contract = records.create("contract", {"title": "Support", "customer": customer})["id"]
        for i in range(n):
            contact = records.create("contact", {"full_name": f"P{i}", "customer": customer})["id"]
            records.link("contract_contacts", contract, contact, {"role": "billing"})


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_only_type_designers_reach_the_pages_and_every_post_needs_its_token(
    ann: TestClient, vic: TestClient, registry: Registry
) -> None:
    assert vic.get(EDIT).status_code == 403
    token = csrf_of(vic.get("/admin/").text)
    assert vic.post(EDIT, data={"csrf": token, "action": "plan"}).status_code == 403
    refused = vic.post(EDIT + "/remove", data={"csrf": token, "confirm": "1", "links": "0"})
    assert refused.status_code == 403
    form = {**form_of(ann), "label_en": "Hijacked"}
    assert ann.post(EDIT, data={**form, "action": "apply"}).status_code == 403
    assert ann.post(EDIT + "/remove", data={"confirm": "1", "links": "0"}).status_code == 403
    rel = registry.current().relationships["contract_contacts"]
    assert rel.definition["label"]["en"] == "Contract contacts"
    page = ann.get("/admin/types/contact").text  # either end's page links to it
    assert 'href="/admin/types/contact/relationships/contract_contacts"' in page
    assert ann.get("/admin/types/partner/relationships/contract_contacts").status_code == 404
    assert ann.get("/admin/types/contract/relationships/no_such").status_code == 404
    assert "New relationship" in ann.get("/admin/types/contract/relationships/new").text


def test_labels_and_a_new_attribute_are_planned_then_applied(
    ann: TestClient, registry: Registry
) -> None:
    form = form_of(ann)
    assert form["label_en"] == "Contract contacts" and form["f0_name"] == "role"
    changed = {
        **form,
        "label_en": "People on the contract",
        "label_ko": "계약 담당자",
        "f1_name": "since",
        "f1_kind": "date",
        "f1_label_en": "Since",
        "f1_label_ko": "시작일",
    }
    shown = post(ann, changed, "plan")
    assert _steps(shown.text) == ["Adds the field 'Since' (Date)."]
    assert registry.current().relationships["contract_contacts"].version == 1
    done = apply(ann, changed)
    assert done.status_code == 303 and done.headers["location"] == "/admin/types/contract?applied=1"
    rel = registry.current().relationships["contract_contacts"]
    assert rel.version == 2 and rel.definition["label"] == {
        "en": "People on the contract",
        "ko": "계약 담당자",
    }
    assert rel.properties["since"].label == {"en": "Since", "ko": "시작일"}
    assert rel.definition["fromLabel"]["en"] == "Contacts"  # what the form has no input for
    assert (rel.from_entity, rel.to_entity) == ("contract", "contact")


def test_an_attribute_is_retired_with_its_values_and_restored_with_them(
    ann: TestClient, registry: Registry, service: RecordService, db: Database
) -> None:
    link_contacts(service, db, 2)
    form = form_of(ann)
    without = {k: v for k, v in form.items() if not k.startswith("f0_")}
    shown = post(ann, without, "plan")
    assert _steps(shown.text) == ["Retires 'Role' (its data is kept and can be restored)."]
    assert apply(ann, without).status_code == 303
    assert "role" in registry.current().relationships["contract_contacts"].retired
    page = ann.get(EDIT).text
    assert 'data-retired-field="role"' in page
    restored = post(ann, form_of(ann), "restore:role")
    assert _steps(restored.text) == ["Restores 'Role' with its data."]
    data = {**_inputs_of(restored.text.split('<div class="card" data-remove>')[0])}
    data.update(csrf=csrf_of(restored.text), action="apply", planned=_planned(restored.text))
    assert ann.post(EDIT, data=data).status_code == 303
    assert "role" in registry.current().relationships["contract_contacts"].properties
    with db.read() as conn:
        roles = conn.execute(sa.text("SELECT role FROM r_contract_contacts")).scalars().all()
    assert roles == ["billing", "billing"]


def test_a_change_made_meanwhile_is_a_conflict_explained_and_nothing_is_overwritten(
    ann: TestClient, bob: TestClient, registry: Registry
) -> None:
    mine = {**form_of(ann), "label_en": "Mine"}
    assert apply(bob, {**form_of(bob), "label_en": "Theirs"}).status_code == 303
    answer = post(ann, mine, "plan")
    assert answer.status_code == 409
    assert "Someone else changed this relationship since you opened it" in text_of(answer.text)
    rel = registry.current().relationships["contract_contacts"]
    assert rel.definition["label"]["en"] == "Theirs"


def test_removing_needs_the_ticked_box_that_says_how_many_links_go(
    ann: TestClient, registry: Registry, service: RecordService, db: Database
) -> None:
    link_contacts(service, db, 3)
    page = ann.get(EDIT).text
    assert "Yes, remove it and delete the links it holds: 3." in text_of(page)
    unticked = remove(ann, confirm=False, links=3)
    assert unticked.status_code == 400
    assert 'id="e-confirm"' in unticked.text and 'aria-describedby="e-confirm"' in unticked.text
    stale = remove(ann, confirm=True, links=2)  # the admin saw another number
    assert stale.status_code == 409 and "read the number again" in text_of(stale.text)
    assert "contract_contacts" in registry.current().relationships
    done = remove(ann, confirm=True, links=3)
    assert done.status_code == 303 and done.headers["location"] == "/admin/types/contract?removed=1"
    assert "contract_contacts" not in registry.current().relationships
    assert "The relationship is removed, with its links." in ann.get(done.headers["location"]).text
    with db.read() as conn:
        row = conn.execute(
            sa.select(platform.audit.c.action, platform.audit.c.channel).where(
                platform.audit.c.entity == "contract_contacts", platform.audit.c.action == "purge"
            )
        ).one()
    assert tuple(row) == ("purge", "admin")
    assert ann.get(EDIT).status_code == 404


def test_a_relationship_a_workflow_uses_names_the_workflow_and_is_kept(
    ann: TestClient, registry: Registry
) -> None:
    registry.apply(demo_workflows())
    path = "/admin/types/contract/relationships/contract_assets"
    page = ann.get(path).text
    assert 'href="/admin/workflows/vip_asset_service_level"' in page
    assert "Priority service for assets under VIP contracts" in page
    assert 'name="confirm"' not in page  # no removal form to tick
    crafted = remove(ann, confirm=True, links=0, path=path)
    assert crafted.status_code == 409
    assert "Workflows use this relationship" in text_of(crafted.text)
    assert "contract_assets" in registry.current().relationships
    korean = ann.get(path, headers={"Accept-Language": "ko"}).text
    assert "VIP 계약 자산의 우선 서비스" in korean
    assert "data-untranslated" not in korean


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    confirm=st.sampled_from(["1", "", "0", "yes", "1 ", "١"]),
    links=st.sampled_from(["0", "00", "²", "-0", "", "0.0", "9" * 30]) | st.text(max_size=12),
    version=st.sampled_from(["1", "2", "", "¹", "1e0"]) | st.text(max_size=10),
)
@example(confirm="1", links="0", version="1")
@example(confirm="1", links="²", version="1")
@example(confirm="1", links="0", version="¹")
def test_hostile_removal_posts_remove_only_what_was_confirmed(
    ann: TestClient, registry: Registry, confirm: str, links: str, version: str
) -> None:
    """The model: removed exactly when the box is ticked ("1"), the count posted is the
    links it holds (0, in ASCII digits) and the version is the stored one; else refused
    with a page (never a server error), and it is still there."""
    before = registry.current().relationships.get("contract_contacts")
    token = csrf_of(ann.get("/admin/types/contract").text)
    data = {"csrf": token, "confirm": confirm, "links": links, "version": version}
    answer = ann.post(EDIT + "/remove", data=data)
    if before is None:
        assert answer.status_code == 404
        return
    digits = re.fullmatch(r"[0-9]{1,9}", links) and re.fullmatch(r"[0-9]{1,9}", version)
    wanted = confirm == "1" and digits and int(links) == 0 and int(version) == before.version
    if wanted:
        assert answer.status_code == 303
        assert "contract_contacts" not in registry.current().relationships
    else:
        assert answer.status_code in (400, 409), answer.text
        assert "contract_contacts" in registry.current().relationships


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(label=st.sampled_from(["Contacts", " 담당자 ", "", "<b>x</b>", "a\x00b"]) | st.text())
@example(label="a\x00b")
@example(label="x" * 3000)
def test_any_label_is_applied_as_typed_or_refused_at_its_input(
    ann: TestClient, registry: Registry, label: str
) -> None:
    form = {**form_of(ann), "label_ko": label}
    before = registry.current().relationships["contract_contacts"]
    shown = post(ann, form, "plan")
    assert shown.status_code in (200, 400), shown.text
    if shown.status_code == 400:
        assert (
            'id="e-label_ko"' in shown.text or "data-errors" in shown.text or "error" in shown.text
        )
        assert registry.current().relationships["contract_contacts"].version == before.version
        return
    data = {**form, "csrf": csrf_of(shown.text), "action": "apply", "planned": _planned(shown.text)}
    done = ann.post(EDIT, data=data)
    assert done.status_code in (200, 303)
    labels = registry.current().relationships["contract_contacts"].definition.get("label", {})
    assert labels.get("ko") == (label.strip() or None)
    assert labels.get("en") == "Contract contacts"


def test_a_new_relationship_may_not_be_named_new(ann: TestClient, registry: Registry) -> None:
    path = "/admin/types/partner/relationships/new"
    form = {
        "relationship": "new",
        "other": "asset",
        "from_field": "serviced_assets",
        "to_field": "service_partners",
    }
    answer = post(ann, form, "plan", path)
    assert answer.status_code == 400
    said = re.search(r'id="e-relationship">([^<]*)<', answer.text)
    assert said and "is reserved by the system" in html.unescape(said.group(1))
    assert "new" not in registry.current().relationships
