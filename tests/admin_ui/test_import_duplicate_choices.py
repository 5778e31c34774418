"""The import wizard's duplicates choice: flag, skip or merge, on the check and on the import.

Through the real application with a signed-in cookie: customers get a
``same phone`` rule; a file whose rows repeat a stored customer's phone, and
each other's, in other spellings.
"""

from __future__ import annotations

import copy
import re

import pytest
from starlette.testclient import TestClient
from test_import_screens import mapping_form, upload

from xrm.entities.catalog import definitions
from xrm.entities.imports.job import import_job
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform import jobs
from xrm.platform.db import Database
from xrm.platform.identity import first_admin
from xrm.platform.settings import Settings

pytest_plugins = ["admin_clients"]

# Row 2 has the stored Gamma's phone; row 4 has row 3's phone in another spelling.
FILE = (
    "고객명,전화번호,등급\nGamma Korea,02-123-4567,골드\nDelta,010-5555-6666,일반\n"
    "Delta Two,+82 10 5555 6666,\n"
).encode()


@pytest.fixture
def customers(app_settings: Settings, registry: Registry, db: Database) -> RecordService:
    """Customers with a ``same phone`` rule, and one stored customer, Gamma Ltd."""
    found = copy.deepcopy(definitions())
    customer = next(d for d in found if d.get("x-xrm", {}).get("name") == "customer")
    customer["x-xrm"]["duplicates"] = [
        {
            "name": "same phone",
            "label": {"en": "Same phone", "ko": "같은 전화"},
            "match": [{"field": "phone"}],
            "action": "warn",
        }
    ]
    registry.apply(found)
    service = RecordService(db, registry, app_settings)
    with db.read() as conn:
        admin = first_admin(conn)
    with service.session(admin) as session:
        session.create("customer", {"name": "Gamma Ltd", "phone": "02-123-4567", "tier": "vip"})
    return service


def _names(db: Database) -> list[tuple[str, str]]:
    with db.read() as conn:
        rows = conn.exec_driver_sql("SELECT name, tier FROM e_customer ORDER BY name").all()
    return [(str(n), str(t)) for n, t in rows]


def test_the_check_flags_or_skips_and_says_what_each_row_duplicates(
    ann: TestClient, customers: RecordService, db: Database
) -> None:
    page_url = upload(ann, FILE, "phones.csv").headers["location"]
    html = ann.get(page_url).text
    assert "Rows that look like a duplicate" in html
    assert re.search(r'<input type="radio" name="duplicates" value="flag" checked>', html)
    form = mapping_form(html)
    flagged = ann.post(page_url + "/check", data={**form, "duplicates": "flag"}).text
    assert "3 rows: 3 would be created" in flagged
    table = flagged.split("Possible duplicates", 1)[1]
    assert re.search(
        r"<td>2</td><td><a href=\"/admin/records/customer/[^\"]+\">Gamma Ltd</a>", table
    )
    assert "<td>4</td><td>row 3 of the file</td><td>Same phone</td><td>100%</td>" in table
    skipped = ann.post(page_url + "/check", data={**form, "duplicates": "skip"}).text
    assert "3 rows: 1 would be created, 0 updated, 0 unchanged, 2 rejected" in skipped
    # Each skipped row says what it duplicates, by name and rule label, in the page's words.
    assert (
        '<td>2</td><td class="reason">This looks like a duplicate of Gamma Ltd'
        " (rule: Same phone).</td>" in skipped
    )
    assert (
        '<td>4</td><td class="reason">This looks like a duplicate of row 3 of the file'
        " (rule: Same phone).</td>" in skipped
    )
    assert re.search(r'value="skip" checked', skipped)  # the choice stays chosen
    korean = ann.post(
        page_url + "/check",
        data={**form, "duplicates": "flag"},
        headers={"Accept-Language": "ko"},
    ).text
    assert "중복 후보" in korean and "파일의 3행" in korean and "같은 전화" in korean
    bad = ann.post(page_url + "/check", data={**form, "duplicates": "<b>all</b>"})
    assert bad.status_code == 400 and "Duplicates: choose flag, skip or merge." in bad.text
    assert "<b>all</b>" not in bad.text
    assert _names(db) == [("Gamma Ltd", "vip")]


def test_merge_runs_as_a_job_lists_the_merges_and_is_undone(
    ann: TestClient, customers: RecordService, app_settings: Settings, db: Database
) -> None:
    page_url = upload(ann, FILE, "phones.csv").headers["location"]
    form = mapping_form(ann.get(page_url).text)
    assert ann.post(page_url + "/run", data={**form, "duplicates": "merge"}).status_code == 303
    with db.read() as conn:
        [job] = [j for j in jobs.list_jobs(conn) if j.kind == "import.run"]
    import_job(customers)(job.payload, None)
    finished = ann.get(page_url).text
    assert re.search(r"<dt>Created</dt><dd>1</dd>", finished)
    assert re.search(r"<dt>Updated</dt><dd>2</dd>", finished)
    assert finished.count("<td>Merged</td>") == 2
    assert "Review them on the duplicates page" not in finished  # nothing left to review
    # Row 2 went into Gamma Ltd; row 4 into the record row 3 created (an empty cell kept its
    # tier).
    assert _names(db) == [("Delta Two", "standard"), ("Gamma Korea", "gold")]
    assert (
        ann.post(page_url + "/undo", data={"csrf": mapping_form(finished)["csrf"]}).status_code
        == 303
    )
    assert _names(db) == [("Gamma Ltd", "vip")]
