"""The duplicates screens: /admin/duplicates lists what a scan found, best first, and the merge
page shows two records side by side with a choice per field, merging through the record
service as the signed-in user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rules import LEAD_ROLE, SAME_EMAIL, SIMILAR_NAME, lead
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.duplicate_scan import scan
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_user
from xrm.platform.settings import Settings

PASSWORD = "correct horse battery"
VIEWER_ROLE = {"role": "lead_viewer", "title": "Reads leads", "entities": {"lead": {"read": "all"}}}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


@pytest.fixture
def leads(
    service: RecordService, registry: Registry, db: Database, admin: Actor
) -> list[dict[str, Any]]:
    """Three leads stored before the rules, two of them the same person; then a scan."""
    registry.apply([lead(), LEAD_ROLE, VIEWER_ROLE])
    with db.write() as conn:
        create_user(conn, "ann@example.com", ("admin",), password=PASSWORD)
        create_user(conn, "vic@example.com", ("lead_viewer",), password=PASSWORD)
    with service.session(admin) as session:
        made = session.create_many(
            "lead",
            [
                {"name": "Kim Minsu", "email": "minsu@example.com", "phone": "010-1111-2222"},
                {"name": "Kim Min-su", "phone": "01011112222", "visits": 3},
                {"name": "Lee Hana"},
            ],
        )
    registry.apply([lead(SAME_EMAIL, SIMILAR_NAME)])
    with service.session(admin) as session:
        assert scan(session, "lead") == 1
    return made


def signed_in(settings: Settings, email: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as client:
        login = client.get("/admin/login")
        form = {"email": email, "password": PASSWORD, "csrf": csrf_of(login.text)}
        assert client.post("/admin/login", data=form).status_code == 303
        yield client


@pytest.fixture
def ann(settings: Settings, leads: list[dict[str, Any]]) -> Iterator[TestClient]:
    yield from signed_in(settings, "ann@example.com")


@pytest.fixture
def vic(settings: Settings, leads: list[dict[str, Any]]) -> Iterator[TestClient]:
    yield from signed_in(settings, "vic@example.com")


def test_the_duplicates_page_lists_pairs_with_a_merge_link_in_both_languages(
    ann: TestClient, leads: list[dict[str, Any]]
) -> None:
    page = ann.get("/admin/duplicates")
    assert page.status_code == 200
    assert 'href="/admin/duplicates"' in page.text  # the menu leads here
    assert "Kim Minsu" in page.text and "Kim Min-su" in page.text and "Lee Hana" not in page.text
    assert "97%" in page.text and "similar name" in page.text
    merge = re.search(r'href="(/admin/records/lead/merge\?[^"]+)"', page.text)
    assert merge is not None
    korean = ann.get("/admin/duplicates", headers={"Accept-Language": "ko"})
    assert "비교하고 병합" in korean.text and "Compare and merge" not in korean.text


def test_a_reader_sees_the_pairs_but_may_not_merge(vic: TestClient) -> None:
    page = vic.get("/admin/duplicates")
    assert "Kim Min-su" in page.text
    assert "/merge?" not in page.text
    assert vic.post("/admin/duplicates/scan", data={"entity": "lead"}).status_code == 403


def test_scan_now_scans_again(ann: TestClient) -> None:
    page = ann.get("/admin/duplicates?entity=lead")
    done = ann.post("/admin/duplicates/scan", data={"entity": "lead", "csrf": csrf_of(page.text)})
    assert done.status_code == 303 and "found=1" in done.headers["location"]
    assert "Scan done. Pairs found: 1." in ann.get(done.headers["location"]).text


def test_merge_page_picks_values_and_merges(
    ann: TestClient, leads: list[dict[str, Any]], service: RecordService, admin: Actor
) -> None:
    keep, gone = leads[0]["id"], leads[1]["id"]
    path = f"/admin/records/lead/merge?keep={keep}&remove={gone}"
    page = ann.get(path)
    assert page.status_code == 200
    for name in ("name", "email", "visits"):
        assert f'name="pick.{name}" value="remove"' in page.text
    assert 'name="pick.phone"' not in page.text  # the same in both: nothing to pick
    form = {"csrf": csrf_of(page.text), "keep": keep, "remove": gone}
    refused = ann.post("/admin/records/lead/merge", data={**form, "pick.visits": "remove"})
    assert refused.status_code == 400 and "Tick the box" in refused.text
    done = ann.post(
        "/admin/records/lead/merge", data={**form, "pick.visits": "remove", "confirm": "1"}
    )
    assert done.status_code == 303 and done.headers["location"].startswith(
        f"/admin/records/lead/{keep}"
    )
    with service.session(admin, write=False) as session:
        kept = session.get("lead", keep)
        assert session.get("lead", gone) is None
    assert (kept["name"], kept["email"], kept["visits"]) == ("Kim Minsu", "minsu@example.com", 3)
    record_page = ann.get(f"/admin/records/lead/{keep}")
    assert "merged from Kim Min-su" in record_page.text
    assert ann.get(path).status_code == 404  # the pair is gone


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.dictionaries(
        st.sampled_from(["name", "email", "visits", "tags", "nope", "id", "owner", "ü\x00"]),
        st.sampled_from(["keep", "remove", "", "both", "<script>"]),
        max_size=4,
    ),
    remove=st.sampled_from(["real", "same", "garbage", "", "00000000-0000-0000-0000-000000000000"]),
)
def test_hostile_merge_forms_never_break_and_merge_only_what_they_may(
    ann: TestClient,
    leads: list[dict[str, Any]],
    service: RecordService,
    admin: Actor,
    picks: dict[str, str],
    remove: str,
) -> None:
    """Model: the answer is a redirect (merged) or a page saying why (never a 500 or a
    traceback); a merge happens only for two real, different records, and then the kept
    record holds, per field, the value picked (``remove`` picks the removed one's)."""
    with service.session(admin, write=False) as session:
        stored = session.query("lead", first=10).items
    if len(stored) < 2:
        return
    keep = stored[0]["id"]
    other = stored[1]
    removed_id = {"real": other["id"], "same": keep}.get(remove, remove)
    form = {"keep": keep, "remove": removed_id, "confirm": "1"}
    form.update({f"pick.{k}": v for k, v in picks.items()})
    page = ann.get("/admin/duplicates")
    answer = ann.post("/admin/records/lead/merge", data={**form, "csrf": csrf_of(page.text)})
    assert answer.status_code in (303, 400, 404), answer.text
    assert "Traceback" not in answer.text
    with service.session(admin, write=False) as session:
        kept = session.get("lead", keep)
        gone = session.get("lead", other["id"])
    assert kept is not None
    if answer.status_code == 303:
        assert remove == "real" and gone is None
        for name in ("name", "email", "visits"):
            expected = other.get(name) if picks.get(name) == "remove" else stored[0].get(name)
            assert kept.get(name) == expected, name
    else:
        assert gone is not None
