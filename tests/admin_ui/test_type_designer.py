"""The type designer screens: who may use them, the plan in words, the JSON view, Korean labels.

Everything goes through the real application with a signed-in cookie; the
registry underneath is the one ``defineEntityType`` uses, so what the page
says is what the API would do.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_signin import csrf_of

from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import find_user

pytest_plugins = ["admin_clients"]

VENDOR_FORM = {
    "name": "vendor",
    "plural": "vendors",
    "label_en": "Vendor",
    "label_ko": "공급업체",
    "display": "name",
    "f0_name": "name",
    "f0_kind": "text",
    "f0_required": "1",
    "f0_label_en": "Name",
    "f0_label_ko": "이름",
    "f1_name": "rating",
    "f1_kind": "integer",
    "f1_min": "1",
    "f1_max": "5",
    "f1_label_en": "Rating",
    "f1_label_ko": "평점",
}


def _post(client: TestClient, path: str, form: dict[str, str], action: str) -> Any:
    csrf = csrf_of(client.get(path).text)
    return client.post(path, data={**form, "csrf": csrf, "action": action})


def _planned(page: str) -> str:
    found = re.search(r'name="planned" value="([^"]*)"', page)
    assert found is not None
    return html.unescape(found.group(1))


def _steps(page: str) -> list[str]:
    found = re.findall(r"<li[^>]*data-step=\"[a-z_]+\"[^>]*>([^<]*)", page)
    return [" ".join(html.unescape(s).split()) for s in found]


def _apply(client: TestClient, path: str, form: dict[str, str]) -> Any:
    shown = _post(client, path, form, "plan")
    assert shown.status_code == 200, shown.text
    csrf = csrf_of(shown.text)
    data = {**form, "csrf": csrf, "action": "apply", "planned": _planned(shown.text)}
    return client.post(path, data=data)


def _form_of(client: TestClient, name: str) -> dict[str, str]:
    """The designer form of a stored type as the page fills it (what a browser would post)."""
    return _inputs_of(client.get(f"/admin/types/{name}").text)


def _inputs_of(page: str) -> dict[str, str]:
    """The inputs of a designer page as a browser posts them (not the JSON view's textarea)."""
    form: dict[str, str] = {}
    for tag in re.findall(r"<input [^>]*>", page):
        named = re.search(r'name="([^"]+)"', tag)
        if not named or named.group(1) in ("csrf", "planned"):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag and "checked" not in tag:
            continue
        form[named.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        form[name] = html.unescape(chosen.group(1)) if chosen else ""
    boxes = re.findall(r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S)
    for name, body in boxes:
        if name != "definition":
            form[name] = html.unescape(body)
    return form


def test_only_users_who_define_types_see_the_menu_and_the_pages(
    ann: TestClient, vic: TestClient
) -> None:
    assert 'href="/admin/types"' in ann.get("/admin/").text
    assert 'href="/admin/types"' not in vic.get("/admin/").text
    for path in ("/admin/types", "/admin/types/new", "/admin/types/customer"):
        assert vic.get(path).status_code == 403
    csrf = csrf_of(vic.get("/admin/").text)
    refused = vic.post("/admin/types/new", data={**VENDOR_FORM, "csrf": csrf, "action": "plan"})
    assert refused.status_code == 403
    listed = ann.get("/admin/types")
    assert listed.status_code == 200
    assert 'href="/admin/types/customer"' in listed.text
    assert 'href="/admin/types/new"' in listed.text


def test_a_post_without_its_csrf_token_changes_nothing(ann: TestClient, registry: Registry) -> None:
    answer = ann.post("/admin/types/new", data={**VENDOR_FORM, "action": "apply"})
    assert answer.status_code == 403
    assert "vendor" not in registry.current().types


def test_a_new_type_shows_its_plan_then_applies_with_korean_labels(
    ann: TestClient, registry: Registry
) -> None:
    shown = _post(ann, "/admin/types/new", VENDOR_FORM, "plan")
    assert shown.status_code == 200
    assert _steps(shown.text) == ["Creates the type 'Vendor'."]
    assert "vendor" not in registry.current().types  # only shown, not applied
    done = _apply(ann, "/admin/types/new", VENDOR_FORM)
    assert done.status_code == 303 and done.headers["location"] == "/admin/types/vendor?applied=1"
    vendor = registry.current().types["vendor"]
    assert vendor.label == {"en": "Vendor", "ko": "공급업체"}
    assert vendor.properties["rating"].label == {"en": "Rating", "ko": "평점"}
    assert vendor.properties["rating"].schema["maximum"] == 5
    assert vendor.properties["name"].required
    korean = ann.get("/admin/types/vendor", headers={"Accept-Language": "ko"})
    assert 'value="공급업체"' in korean.text and 'value="평점"' in korean.text


def _make(service: RecordService, db: Database, entity: str, **values: Any) -> str:
    with db.read() as conn:
        ann = find_user(conn, "ann@example.com")
    assert ann is not None
    with service.session(ann, "api") as records:
        return str(records.create(entity, values)["id"])


def test_the_plan_says_what_a_change_does_to_stored_data(
    ann: TestClient, registry: Registry, service: RecordService, db: Database
) -> None:
    definition = {
        "type": "object",
        "x-xrm": {"name": "gadget", "plural": "gadgets", "display": "name"},
        "properties": {
            "name": {"type": "string"},
            "amount": {"type": "string", "x-xrm-label": {"en": "Amount", "ko": "금액"}},
            "fax": {"type": "string", "x-xrm-label": {"en": "Fax"}},
        },
    }
    registry.define(definition)
    good = _make(service, db, "gadget", name="good", amount="12", fax="123")
    bad = _make(service, db, "gadget", name="Broken one", amount="twelve")
    form = _form_of(ann, "gadget")
    amount = next(k for k, v in form.items() if v == "amount").removesuffix("_name")
    fax = next(k for k, v in form.items() if v == "fax").removesuffix("_name")
    form[f"{amount}_kind"] = "integer"
    form[f"{fax}_name"] = ""  # a row left without a name and kind: the field is removed
    form = {k: v for k, v in form.items() if not k.startswith(f"{fax}_")}
    form["f9_name"] = "region"
    form["f9_kind"] = "text"
    form["f9_label_en"] = "Region"
    shown = _post(ann, "/admin/types/gadget", form, "plan")
    steps = _steps(shown.text)
    assert "Adds the field 'Region' (Text)." in steps
    assert "Retires 'Fax' (its data is kept and can be restored)." in steps
    assert "Converts 'Amount' from Text to Whole number. Stored values to convert: 2." in steps
    assert "Stored values that do not convert: 1." in shown.text
    assert f'href="/admin/records/gadget/{bad}">Broken one</a>' in shown.text
    assert 'value="apply"' not in shown.text  # a blocked change has no Apply button
    assert registry.current().types["gadget"].properties["amount"].kind == "string"

    # Without the blocking value the same change applies, and Fax is retired with its data.
    with service.session(find_user_ann(db), "api") as session:
        session.update("gadget", bad, {"amount": "7"})
    done = _apply(ann, "/admin/types/gadget", form)
    assert done.status_code == 303, done.text
    gadget = registry.current().types["gadget"]
    assert gadget.properties["amount"].kind == "integer" and "fax" in gadget.retired

    # The type's page offers the retired field back; restoring shows the plan first.
    page = ann.get("/admin/types/gadget").text
    assert 'data-retired-field="fax"' in page and "Restore with its data" in page
    form = _form_of(ann, "gadget")
    restore = _post(ann, "/admin/types/gadget", form, "restore:fax")
    assert "Restores 'Fax' with its data." in _steps(restore.text)
    data = {**form, "csrf": csrf_of(restore.text), "action": "apply"}
    data["planned"] = _planned(restore.text)
    data.update(_inputs_of(restore.text))
    assert ann.post("/admin/types/gadget", data=data).status_code == 303
    with service.session(find_user_ann(db), "api") as session:
        assert session.get("gadget", good)["fax"] == "123"


def find_user_ann(db: Database) -> Any:
    with db.read() as conn:
        found = find_user(conn, "ann@example.com")
    assert found is not None
    return found


def test_json_faults_are_placed_at_their_path_and_line_and_refill_the_form(
    ann: TestClient, registry: Registry
) -> None:
    csrf = csrf_of(ann.get("/admin/types/new").text)
    broken = ann.post(
        "/admin/types/new",
        data={"csrf": csrf, "action": "json", "definition": '{"type": "object",\n  "x-xrm": }'},
    )
    assert broken.status_code == 400
    assert "not valid JSON (line 2, column 12)" in broken.text
    definition = (
        '{"type": "object", "x-xrm": {"name": "widget", "plural": "widgets"},'
        ' "properties": {"size": {"type": "integer", "minimum": 9, "maximum": 2,'
        ' "x-xrm-label": {"en": "Size", "ko": "크기"}}}}'
    )
    faulty = ann.post(
        "/admin/types/new", data={"csrf": csrf, "action": "json", "definition": definition}
    )
    assert faulty.status_code == 400
    # Beside the form's input for the minimum, and in the JSON view by path and line.
    assert re.search(r'id="e-f0_min">[^<]*greater than', faulty.text)
    assert "properties.size.minimum (line 10)" in faulty.text
    assert 'value="크기"' in faulty.text  # the form is refilled from the JSON
    assert "widget" not in registry.current().types


def test_a_stale_version_is_a_conflict_that_overwrites_nothing(
    ann: TestClient, bob: TestClient, registry: Registry
) -> None:
    form = _form_of(ann, "partner")
    mine = {**form, "label_en": "Supplier"}
    theirs = {**_form_of(bob, "partner"), "label_en": "Reseller"}
    assert _apply(bob, "/admin/types/partner", theirs).status_code == 303
    answer = _post(ann, "/admin/types/partner", mine, "plan")
    assert answer.status_code == 409
    assert "Someone else changed this type since you opened it" in answer.text
    assert registry.current().types["partner"].label["en"] == "Reseller"


def test_rows_are_added_moved_and_removed_without_javascript(ann: TestClient) -> None:
    moved = _post(ann, "/admin/types/new", VENDOR_FORM, "down:0")
    assert moved.status_code == 200
    names = re.findall(r'name="f([0-9])_name" value="([^"]*)"', moved.text)
    assert names == [("0", "rating"), ("1", "name")]
    added = _post(ann, "/admin/types/new", VENDOR_FORM, "add_field")
    assert 'name="f2_name" value=""' in added.text
    removed = _post(ann, "/admin/types/new", VENDOR_FORM, "remove:0")
    assert re.findall(r'name="f([0-9])_name" value="([^"]*)"', removed.text) == [("0", "rating")]


@pytest.mark.parametrize(
    ("field", "typed", "said"),
    [
        ("f1_max", "five", "Enter a number."),
        ("f1_kind", "spreadsheet", "Choose a kind from the list."),
        ("name", "Vendor!", "is not a valid name"),
        ("plural", "vendor", "The plural name must differ from the name."),
        ("name", "new", "'new' is reserved by the system: choose another name."),
    ],
)
def test_bad_input_is_named_beside_its_field(
    ann: TestClient, field: str, typed: str, said: str
) -> None:
    answer = _post(ann, "/admin/types/new", {**VENDOR_FORM, field: typed}, "plan")
    assert answer.status_code == 400
    found = re.search(rf'id="e-{field}">([^<]*)<', answer.text)
    assert found is not None and said in html.unescape(found.group(1))


def test_a_relationship_with_an_attribute_is_added_from_the_types_page(
    ann: TestClient, registry: Registry
) -> None:
    page = ann.get("/admin/types/partner").text
    assert 'href="/admin/types/partner/relationships/new"' in page
    form = {
        "relationship": "partner_assets",
        "other": "asset",
        "from_field": "serviced_assets",
        "to_field": "service_partners",
        "label_en": "Serviced assets",
        "label_ko": "정비 자산",
        "f0_name": "since",
        "f0_kind": "date",
        "f0_label_en": "Since",
        "f0_label_ko": "시작일",
    }
    path = "/admin/types/partner/relationships/new"
    shown = _post(ann, path, form, "plan")
    assert _steps(shown.text) == ["Creates the relationship 'Serviced assets'."]
    assert "partner_assets" not in registry.current().relationships
    data = {**form, "csrf": csrf_of(shown.text), "action": "apply"}
    done = ann.post(path, data={**data, "planned": _planned(shown.text)})
    assert done.status_code == 303
    rel = registry.current().relationships["partner_assets"]
    assert (rel.from_entity, rel.to_entity) == ("partner", "asset")
    assert rel.properties["since"].label == {"en": "Since", "ko": "시작일"}
    assert 'data-relationship="partner_assets"' in ann.get("/admin/types/asset").text
    taken = _post(ann, path, {**form, "f0_kind": "reference"}, "plan")
    assert taken.status_code == 400 and 'id="e-f0_kind"' in taken.text


def test_a_text_field_holding_ids_becomes_a_reference_and_the_plan_names_the_strays(
    ann: TestClient, registry: Registry, service: RecordService, db: Database
) -> None:
    registry.define(
        {
            "type": "object",
            "x-xrm": {"name": "lead", "plural": "leads", "display": "name"},
            "properties": {"name": {"type": "string"}, "partner": {"type": "string"}},
        }
    )
    partner = _make(service, db, "partner", name="Acme")
    _make(service, db, "lead", name="Known", partner=partner)
    stray = _make(service, db, "lead", name="Stray", partner="not an id")
    form = _form_of(ann, "lead")
    row = next(k for k, v in form.items() if v == "partner" and k.endswith("_name"))
    index = row.removesuffix("_name")
    form.update({f"{index}_kind": "reference", f"{index}_ref_entity": "partner"})
    shown = _post(ann, "/admin/types/lead", form, "plan")
    assert (
        "Converts 'partner' from Text to Reference to a record. Stored values to convert: 2."
        in (_steps(shown.text))
    )
    assert "Values that point at no record: 1." in shown.text
    assert f'href="/admin/records/lead/{stray}">Stray</a>' in shown.text
    assert 'value="apply"' not in shown.text


def test_a_script_posting_only_the_definition_applies_a_change_that_touches_no_records(
    ann: TestClient, registry: Registry
) -> None:
    """CONTRACT §2: submitting applies; the plan is shown first only where stored data is
    touched."""
    csrf = csrf_of(ann.get("/admin/types/new").text)
    definition = {
        "type": "object",
        "x-xrm": {"name": "kiosk", "plural": "kiosks", "label": {"en": "Kiosk", "ko": "키오스크"}},
        "properties": {"name": {"type": "string"}},
    }
    done = ann.post("/admin/types/new", data={"csrf": csrf, "definition": json.dumps(definition)})
    assert done.status_code == 303 and registry.current().types["kiosk"].version == 1
    definition["properties"] = {}  # retiring 'name' touches stored data: the plan comes first
    shown = ann.post(
        "/admin/types/kiosk", data={"csrf": csrf, "definition": json.dumps(definition)}
    )
    assert shown.status_code == 200 and "Retires 'name'" in html.unescape(shown.text)
    assert "name" in registry.current().types["kiosk"].properties
