"""A field format from a plugin xrm knows nothing about (the sample plugin's
``sample.voucher``) normalises on every write path exactly as ``phone`` does: the record
service, GraphQL, the admin form, an import and a workflow. A plugin that breaks refuses
the write with a generic message; a plugin switched off keeps its fields readable."""

from __future__ import annotations

import dataclasses
import html
import logging
import re
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.imports.run import Importer, Options, Outcome
from xrm.entities.records import RecordService
from xrm.errors import DefinitionError, Duplicate, FaultsError, ValidationFailed, XrmError
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_token, create_user, first_admin
from xrm.platform.settings import PluginSettings, Settings
from xrm.plugins.manager import Plugins
from xrm.plugins.spec import FieldFormat, hookimpl

if TYPE_CHECKING:
    from plugin_fixtures import Wired

pytest_plugins = ["plugin_fixtures"]

PASSWORD = "correct horse battery"

COUPON: dict[str, Any] = {
    "type": "object",
    "title": "Coupon",
    "x-xrm": {
        "name": "coupon",
        "plural": "coupons",
        "label": {"en": "Coupon", "ko": "쿠폰"},
        "display": "title",
        "unique": [["code"]],
    },
    "properties": {
        "title": {"type": "string", "x-xrm-label": {"en": "Title", "ko": "제목"}},
        "code": {
            "type": "string",
            "format": "sample.voucher",
            "x-xrm-label": {"en": "Code", "ko": "코드"},
        },
    },
    "required": ["title"],
}


def coupons(wired: Wired, admin: Actor) -> list[dict[str, Any]]:
    with wired.records.session(admin, write=False) as session:
        return session.query("coupon", first=100, with_total=False).items


def refused(call: Callable[[], Any]) -> dict[str, str]:
    with pytest.raises(FaultsError) as failed:
        call()
    return {f.field: f.message for f in failed.value.faults}


@pytest.fixture
def wired(sample_installed: None, make_wired: Callable[..., Wired]) -> Wired:
    on = make_wired()
    on.records.registry.apply([COUPON])
    return on


def test_the_record_service_stores_the_plugins_spelling_and_keys_compare_it(
    wired: Wired, admin: Actor
) -> None:
    with wired.records.session(admin) as session:
        first = session.create("coupon", {"title": "Spring", "code": "  abcd 1234 "})
    assert first["code"] == "ABCD-1234"
    # The unique key compares normal forms: another spelling of the same code is taken.
    with pytest.raises(Duplicate) as taken, wired.records.session(admin) as session:
        session.create("coupon", {"title": "Again", "code": "AbCd-1234"})
    assert "the value of code is already taken" in str(taken.value)
    with wired.records.session(admin) as session:
        faults = refused(lambda: session.create("coupon", {"title": "Bad", "code": "abc"}))
    assert faults == {
        "code": "'abc' is refused by format sample.voucher: is not a voucher code "
        "(eight letters or digits, like ABCD-1234)"
    }
    with wired.records.session(admin) as session:
        changed = session.update("coupon", first["id"], {"code": "wxyz5678"})
    assert changed["code"] == "WXYZ-5678"
    assert [c["code"] for c in coupons(wired, admin)] == ["WXYZ-5678"]


def test_a_duplicate_rule_compares_the_normal_form(
    sample_installed: None, make_wired: Callable[..., Wired], admin: Actor
) -> None:
    ruled = {
        **COUPON,
        "x-xrm": {
            **COUPON["x-xrm"],
            "unique": [],
            "duplicates": [{"name": "same_code", "match": [{"field": "code"}], "action": "block"}],
        },
    }
    wired = make_wired()
    wired.records.registry.apply([ruled])
    with wired.records.session(admin) as session:
        session.create("coupon", {"title": "One", "code": "abcd1234"})
        matches = session.find_duplicates("coupon", {"code": "ABCD 1234"})
    assert len(matches) == 1
    with pytest.raises(XrmError) as blocked, wired.records.session(admin) as session:
        session.create("coupon", {"title": "Two", "code": "abcd-1234"})
    assert "same_code" in str(blocked.value)


def test_graphql_normalises_and_names_the_field(
    wired: Wired, settings: Settings, db: Database
) -> None:
    with db.write() as conn:
        headers = {"Authorization": f"Bearer {create_token(conn, first_admin(conn))}"}
    mutation = 'mutation($c: String) { createCoupon(input: {title: "T", code: $c}) { code } }'
    with TestClient(create_app(settings)) as client:
        good = client.post(
            "/graphql", json={"query": mutation, "variables": {"c": "ab12 cd34"}}, headers=headers
        ).json()
        bad = client.post(
            "/graphql", json={"query": mutation, "variables": {"c": "ab12"}}, headers=headers
        ).json()
    assert good == {"data": {"createCoupon": {"code": "AB12-CD34"}}}
    [error] = bad["errors"]
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert [e["field"] for e in error["extensions"]["errors"]] == ["code"]
    assert "voucher code" in error["extensions"]["errors"][0]["message"]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


@pytest.fixture
def ann(wired: Wired, settings: Settings, db: Database) -> Iterator[TestClient]:
    with db.write() as conn:
        create_user(conn, "ann@example.com", ("admin",), password=PASSWORD)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        form = {"email": "ann@example.com", "password": PASSWORD}
        form["csrf"] = csrf_of(client.get("/admin/login").text)
        assert client.post("/admin/login", data=form).status_code == 303
        yield client


def test_the_admin_form_normalises_and_says_what_is_wrong_in_korean(
    ann: TestClient, wired: Wired, admin: Actor
) -> None:
    page = ann.get("/admin/records/coupon/new")
    assert 'name="code"' in page.text
    saved = ann.post(
        "/admin/records/coupon/new",
        data={"csrf": csrf_of(page.text), "title": "Form", "code": "qrst 9876"},
    )
    assert saved.status_code == 303
    assert [c["code"] for c in coupons(wired, admin)] == ["QRST-9876"]
    ann.headers["Accept-Language"] = "ko"
    page = ann.get("/admin/records/coupon/new")
    wrong = ann.post(
        "/admin/records/coupon/new",
        data={"csrf": csrf_of(page.text), "title": "Form", "code": "nope"},
    )
    assert wrong.status_code == 400
    said = "&#39;nope&#39; 값은 여기에 쓸 수 없습니다: 바우처 코드가 아닙니다(ABCD-1234처럼"
    assert said in wrong.text
    assert "data-untranslated" not in wrong.text
    assert len(coupons(wired, admin)) == 1


def run_import(wired: Wired, admin: Actor, rows: list[list[str]], key: str) -> Outcome:
    data = "\n".join(",".join(row) for row in rows).encode()
    importer = Importer(wired.records, admin)
    return importer.run(importer.prepare("coupons.csv", data, Options("coupon", key=key)))


def test_an_import_normalises_keys_by_the_normal_form_and_rejects_bad_rows(
    wired: Wired, admin: Actor
) -> None:
    rows = [["title", "code"], ["A", "abcd 1234"], ["B", "bad"], ["C", "efgh5678"]]
    outcome = run_import(wired, admin, rows, key="code")
    assert (outcome.created, outcome.rejected) == (2, 1)
    assert "code" in str(outcome.rejects[0]) and "voucher code" in str(outcome.rejects[0])
    outcome = run_import(wired, admin, [["title", "code"], ["A renamed", "ABCD-1234"]], "code")
    assert (outcome.created, outcome.updated) == (0, 1)
    stored = {c["code"]: c["title"] for c in coupons(wired, admin)}
    assert stored == {"ABCD-1234": "A renamed", "EFGH-5678": "C"}


def test_a_workflow_action_and_a_script_write_through_the_format(
    wired: Wired, admin: Actor
) -> None:
    wired.records.registry.apply(
        [
            {
                "name": "code_from_title",
                "entity": "coupon",
                "on": ["create"],
                "stage": "before",
                "when": "record.get('code') is None",
                "actions": [{"type": "set", "values": {"code": "zzzz 0000"}}],
            },
            {
                "name": "copy_coupon",
                "entity": "coupon",
                "on": ["create"],
                "stage": "after",
                "when": "record['title'] == 'copy me'",
                "actions": [
                    {
                        "type": "script",
                        "code": "create('coupon', {'title': 'copied', 'code': 'copy 1234'})",
                    }
                ],
            },
        ]
    )
    with wired.records.session(admin) as session:
        set_by_rule = session.create("coupon", {"title": "no code"})
        session.create("coupon", {"title": "copy me", "code": "orig 0001"})
    assert set_by_rule["code"] == "ZZZZ-0000"
    assert {c["title"]: c["code"] for c in coupons(wired, admin)}["copied"] == "COPY-1234"


def test_an_unknown_or_misspelt_format_is_a_definition_error_at_its_path(
    wired: Wired,
) -> None:
    registry = wired.records.registry
    for fmt, words in (
        ("sample.nothing", "no enabled plugin provides format 'sample.nothing'"),
        ("elsewhere.iban", "no enabled plugin provides format 'elsewhere.iban'"),
        ("iban", "unknown format 'iban'"),
    ):
        typed = {**COUPON, "x-xrm": {**COUPON["x-xrm"], "name": "other", "plural": "others"}}
        typed["properties"] = {**COUPON["properties"], "code": {"type": "string", "format": fmt}}
        with pytest.raises(DefinitionError) as bad:
            registry.apply([typed])
        assert [f.field for f in bad.value.faults] == ["properties.code.format"]
        assert words in bad.value.faults[0].message
    defaulted = {**COUPON, "x-xrm": {**COUPON["x-xrm"], "name": "other", "plural": "others"}}
    defaulted["properties"] = {
        "title": {"type": "string"},
        "code": {"type": "string", "format": "sample.voucher", "default": "short"},
    }
    with pytest.raises(DefinitionError) as bad:
        registry.apply([defaulted])
    assert [f.field for f in bad.value.faults] == ["properties.code.default"]


class Broken:
    """A plugin whose formats raise, answer junk, or normalise into junk."""

    @hookimpl
    def xrm_field_formats(self) -> list[FieldFormat]:
        def raising(value: str) -> str | None:
            raise RuntimeError("secret internals /etc/passwd")

        def junk_problem(value: str) -> Any:
            return 42

        def junk_normal(value: str) -> Any:
            return None if value == "none" else "bad\x00text"

        return [
            FieldFormat("raises", raising),
            FieldFormat("junk", junk_problem),
            FieldFormat("nul", lambda v: None, junk_normal),
        ]


BROKEN = Broken()


def test_a_plugin_that_raises_or_answers_junk_refuses_the_write_without_showing_why(
    sample_installed: None,
    settings: Settings,
    db: Database,
    admin: Actor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    points = [*entry_points(group="xrm.plugins"), EntryPoint("broken", f"{__name__}:BROKEN", "x")]
    plugins = Plugins(settings, points=points)
    service = RecordService(db, plugins.registry(db), settings)
    typed = {**COUPON, "x-xrm": {**COUPON["x-xrm"], "unique": []}}
    typed["properties"] = {
        "title": {"type": "string"},
        "a": {"type": "string", "format": "broken.raises"},
        "b": {"type": "string", "format": "broken.junk"},
        "c": {"type": "string", "format": "broken.nul"},
    }
    service.registry.apply([typed])
    with caplog.at_level(logging.ERROR, logger="xrm.plugins"), service.session(admin) as s:
        faults = refused(lambda: s.create("coupon", {"title": "t", "a": "x", "b": "y", "c": "z"}))
    assert set(faults) == {"a", "b", "c"}
    for name, message in faults.items():
        fmt = {"a": "broken.raises", "b": "broken.junk", "c": "broken.nul"}[name]
        assert message == f"could not be checked: format {fmt!r} failed on this value; " + (
            "nothing was stored"
        )
    assert "secret internals" in caplog.text  # the log has it...
    assert all("secret" not in m for m in faults.values())  # ...the user does not
    with service.session(admin) as s:
        assert refused(lambda: s.create("coupon", {"title": "t", "c": "none"})) == {
            "c": "could not be checked: format 'broken.nul' failed on this value; "
            "nothing was stored"
        }
        kept = s.create("coupon", {"title": "no plugin field set"})
    assert kept["a"] is None


def test_a_disabled_plugin_keeps_its_fields_readable_clearable_and_unchanged(
    wired: Wired, make_wired: Callable[..., Wired], admin: Actor
) -> None:
    with wired.records.session(admin) as session:
        one = session.create("coupon", {"title": "One", "code": "abcd1234"})
        two = session.create("coupon", {"title": "Two", "code": "efgh5678"})
    off = make_wired(disabled=("sample",))
    assert {c["code"] for c in coupons(off, admin)} == {"ABCD-1234", "EFGH-5678"}
    with off.records.session(admin) as session:
        faults = refused(lambda: session.create("coupon", {"title": "New", "code": "ijkl9012"}))
        assert faults == {
            "code": "format 'sample.voucher' comes from plugin 'sample', which is disabled "
            "(XRM_PLUGINS_DISABLED); the stored value can be kept or cleared"
        }
        faults = refused(lambda: session.update("coupon", one["id"], {"code": "mnop3456"}))
        assert list(faults) == ["code"]
        # A form sends every field back: the unchanged value passes; clearing works.
        renamed = session.update("coupon", one["id"], {"title": "One!", "code": "ABCD-1234"})
        cleared = session.update("coupon", two["id"], {"code": None})
        created = session.create("coupon", {"title": "No code"})
    assert (renamed["title"], renamed["code"]) == ("One!", "ABCD-1234")
    assert cleared["code"] is None and created["code"] is None
    # Another type cannot start using the format while its plugin is off.
    other = {**COUPON, "x-xrm": {**COUPON["x-xrm"], "name": "other", "plural": "others"}}
    with pytest.raises(DefinitionError) as bad:
        off.records.registry.apply([other])
    assert [f.field for f in bad.value.faults] == ["properties.code.format"]
    assert "plugin 'sample', which is disabled" in bad.value.faults[0].message
    # ...while the type that has it may still change its other fields.
    relabelled = {**COUPON, "title": "Coupons and vouchers"}
    assert not off.records.registry.apply([relabelled]).empty


def inputs_of(page: str) -> dict[str, str]:
    """Every input as the page fills it (what a browser would post back)."""
    found = re.findall(r'<input [^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in found}


def test_a_form_of_a_record_whose_format_plugin_is_off_saves_its_other_fields(
    wired: Wired, settings: Settings, db: Database, admin: Actor
) -> None:
    with wired.records.session(admin) as session:
        made = session.create("coupon", {"title": "Old", "code": "abcd1234"})
    with db.write() as conn:
        create_user(conn, "ann@example.com", ("admin",), password=PASSWORD)
    switched_off = dataclasses.replace(settings, plugins=PluginSettings(disabled=("sample",)))
    path = f"/admin/records/coupon/{made['id']}"
    with TestClient(create_app(switched_off), follow_redirects=False) as client:
        form = {"email": "ann@example.com", "password": PASSWORD}
        form["csrf"] = csrf_of(client.get("/admin/login").text)
        assert client.post("/admin/login", data=form).status_code == 303
        page = client.get(path).text
        assert 'value="ABCD-1234"' in page  # shown as stored
        # Every input as the page fills it, the title changed: the code goes back unchanged.
        saved = client.post(path, data={**inputs_of(page), "title": "New"})
        assert saved.status_code == 303, saved.text
        client.headers["Accept-Language"] = "ko"
        posted = inputs_of(client.get(path).text)
        changed = client.post(path, data={**posted, "title": "Newer", "code": "efgh5678"})
        assert changed.status_code == 400
        assert "이 필드를 검사하는 플러그인 sample이(가) 꺼져 있습니다" in changed.text
    assert [(c["title"], c["code"]) for c in coupons(wired, admin)] == [("New", "ABCD-1234")]


def voucher_model(raw: str) -> str | None:
    """What the sample plugin makes of ``raw`` once trimmed, or None when it refuses it."""
    bare = raw.strip().replace("-", "").replace(" ", "")
    if len(bare) != 8 or not (bare.isascii() and bare.isalnum()):
        return None
    return f"{bare[:4].upper()}-{bare[4:].upper()}"


codes = st.one_of(
    st.text(alphabet="abcdEFGH0123 -", min_size=0, max_size=14),  # mostly sensible
    st.text(max_size=30),  # anything: NUL, Hangul, emoji, control characters
    st.sampled_from(["ABCD-1234", " abcd 1234 ", "ABCD\x001234", "ＡＢＣＤ１２３４", "abcd12345"]),
)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=codes)
def test_any_text_is_stored_as_the_plugins_normal_form_or_refused_naming_the_field(
    wired: Wired, admin: Actor, raw: str
) -> None:
    with wired.records.session(admin) as session:
        try:
            made = session.create("coupon", {"title": "P", "code": raw})
        except ValidationFailed as exc:
            assert [f.field for f in exc.faults] == ["code"]
            assert voucher_model(raw) is None or "\x00" in raw
            return
        session.delete("coupon", made["id"])
    expected = None if not raw.strip() or "\x00" in raw else voucher_model(raw)
    assert made["code"] == expected


def _designer_apply(client: TestClient, form: dict[str, str]) -> Any:
    path = "/admin/types/new"
    shown = client.post(
        path, data={**form, "csrf": csrf_of(client.get(path).text), "action": "plan"}
    )
    assert shown.status_code == 200, shown.text
    planned = re.search(r'name="planned" value="([^"]*)"', shown.text)
    assert planned is not None
    data = {**form, "csrf": csrf_of(shown.text), "action": "apply"}
    return client.post(path, data={**data, "planned": html.unescape(planned.group(1))})


def test_the_type_designer_offers_the_plugins_formats_by_their_label(
    ann: TestClient, wired: Wired, make_wired: Callable[..., Wired]
) -> None:
    page = ann.get("/admin/types/new").text
    assert '<option value="sample.voucher">Voucher code (plugin sample)</option>' in page
    ann.headers["Accept-Language"] = "ko"
    page = ann.get("/admin/types/new").text
    assert '<option value="sample.voucher">바우처 코드 (플러그인 sample)</option>' in page
    form = {
        "name": "gift",
        "plural": "gifts",
        "label_en": "Gift",
        "label_ko": "선물",
        "display": "name",
        "f0_name": "name",
        "f0_kind": "text",
        "f0_label_en": "Name",
        "f0_label_ko": "이름",
        "f1_name": "voucher",
        "f1_kind": "sample.voucher",
        "f1_label_en": "Voucher",
        "f1_label_ko": "바우처",
    }
    assert _designer_apply(ann, form).status_code == 303
    gift = wired.records.registry.current().types["gift"]
    assert gift.definition["properties"]["voucher"]["format"] == "sample.voucher"
    # The stored type's page selects the plugin's format as the field's kind.
    assert 'value="sample.voucher" selected>바우처 코드' in ann.get("/admin/types/gift").text


def test_the_admin_says_every_plugin_format_refusal_in_korean() -> None:
    from xrm.admin_ui.i18n import translations
    from xrm.admin_ui.messages import say
    from xrm.plugins.formats import failed_message
    from xrm.schemas.plugin_formats import unavailable_message

    ko = translations("ko").gettext
    assert say(failed_message("broken.raises"), ko) == (
        "이 값을 확인하지 못했습니다(검사하는 플러그인이 실패했습니다). "
        "아무것도 저장하지 않았습니다."
    )
    assert say(unavailable_message("sample.voucher", disabled=True), ko) == (
        "이 필드를 검사하는 플러그인 sample이(가) 꺼져 있습니다. "
        "저장된 값을 그대로 두거나 지우세요."
    )
    assert say(unavailable_message("gone.voucher", disabled=False), ko) == (
        "이 필드를 검사하는 플러그인 gone이(가) 설치되어 있지 않습니다. "
        "저장된 값을 그대로 두거나 지우세요."
    )
    assert say("no enabled plugin provides format 'sample.x' (plugin formats: none)", ko) == (
        "sample.x 형식을 제공하는 켜진 플러그인이 없습니다."
    )
