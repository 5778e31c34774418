"""The import wizard, /admin/import: upload, map, check, run as a job, progress, rejects, undo.

Through the real application with a signed-in cookie: what a business admin
does with a spreadsheet of customers, and what a user without the right to
create records cannot do.
"""

from __future__ import annotations

import csv
import html as htmlmod
import io
import re
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_navigation import crumbs_of
from test_record_screens import sam  # noqa: F401 (fixture)
from test_signin import csrf_of

from xrm.entities.imports import store
from xrm.entities.imports.job import import_job
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform import jobs
from xrm.platform.db import Database
from xrm.platform.settings import Settings

pytest_plugins = ["admin_clients"]

FILE = (
    "고객명,E-mail,등급,Fax\nAcme,ACME@X.COM ,골드,1\nBad,not mail,VIP,2\nBeta,beta@x.com,일반,3\n"
).encode("cp949")


def upload(
    client: TestClient, data: bytes = FILE, name: str = "고객.csv", entity: str = "customer"
) -> Any:
    csrf = csrf_of(client.get("/admin/import").text)
    return client.post(
        "/admin/import",
        data={"csrf": csrf, "entity": entity},
        files={"file": (name, data, "text/csv")},
    )


def mapping_form(html: str) -> dict[str, str]:
    """The mapping form's chosen values, as the browser would post them."""
    form = {"csrf": csrf_of(html)}
    for select in re.finditer(
        r'<select id="(column\d+|import-key)" name="([^"]+)">(.*?)</select>', html, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected>', select.group(3))
        form[select.group(2)] = chosen.group(1) if chosen else ""
    return form


def test_an_admin_uploads_maps_checks_runs_and_undoes_an_import(
    ann: TestClient, app_settings: Settings, db: Database, registry: Registry
) -> None:
    home = ann.get("/admin/").text
    assert 'href="/admin/import"' in home
    done = upload(ann)
    assert done.status_code == 303
    page_url = done.headers["location"]
    html = ann.get(page_url).text
    form = mapping_form(html)
    assert (form["column0"], form["column1"], form["column2"], form["column3"]) == (
        "name",
        "email",
        "tier",
        "",
    )
    assert "Acme, Bad" in html  # the first values of each column help choose

    checked = ann.post(page_url + "/check", data={**form, "key": "email"})
    assert checked.status_code == 200
    assert "3 rows: 2 would be created, 0 updated, 0 unchanged, 1 rejected" in checked.text
    assert "not mail" in checked.text and "is not an e-mail address" in checked.text
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM e_customer").scalar_one() == 0

    started = ann.post(page_url + "/run", data={**form, "key": "email"})
    assert started.status_code == 303
    running = ann.get(page_url).text
    assert "data-running" in running and "<progress" in running
    with db.read() as conn:
        [job] = [j for j in jobs.list_jobs(conn) if j.kind == "import.run"]
        import_id = page_url.rsplit("/", 1)[-1]
        row = store.get(conn, import_id)
    assert row is not None and row.options["key"] == "email"
    import_job(RecordService(db, registry, app_settings))(job.payload, None)

    finished = ann.get(page_url).text
    assert "data-running" not in finished
    assert re.search(r"<dt>Created</dt><dd>2</dd>", finished)
    rejected = ann.get(page_url + "/rejected.csv")
    assert rejected.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(rejected.text.lstrip("\ufeff"))))
    assert rows[0] == ["고객명", "E-mail", "등급", "Fax", "Reason"]
    assert (
        rows[1][1] == "not mail"
        and rows[1][4] == "Row 3: Email: 'not mail' is not an e-mail address."
    )

    # A Korean user downloads the same rows with the reasons in Korean.
    korean = ann.get(page_url + "/rejected.csv", headers={"Accept-Language": "ko"}).text
    rows = list(csv.reader(io.StringIO(korean.lstrip("\ufeff"))))
    assert rows[0][-1] == "사유"
    assert rows[1][4] == "3행: 이메일: 'not mail'은(는) 이메일 주소가 아닙니다."

    undone = ann.post(page_url + "/undo", data={"csrf": csrf_of(finished)})
    assert undone.status_code == 303
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM e_customer").scalar_one() == 0
    assert "Undone" in ann.get(page_url).text


def test_a_file_that_cannot_be_read_is_refused_on_the_upload_page(
    ann: TestClient, db: Database
) -> None:
    done = upload(ann, b"\x00\x01\x02binary", "x.csv")
    assert done.status_code == 400
    assert "This file cannot be imported: This does not look like CSV text" in done.text
    korean = ann.post(
        "/admin/import",
        data={"csrf": csrf_of(ann.get("/admin/import").text), "entity": "customer"},
        files={"file": ("x.csv", b"\x00\x01\x02binary", "text/csv")},
        headers={"Accept-Language": "ko"},
    )
    assert "CSV 텍스트로 보이지 않습니다" in korean.text and "binary file" not in korean.text
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM xrm_imports").scalar_one() == 0


def test_the_wizard_speaks_korean(ann: TestClient) -> None:
    page_url = upload(ann).headers["location"]
    html = ann.get(page_url, headers={"Accept-Language": "ko"}).text
    assert '<html lang="ko">' in html
    assert "파일의 열" in html and "가져오지 않음" in html
    # The check's rejected rows give their reasons in Korean too (fields by their labels).
    checked = ann.post(
        page_url + "/check", data=mapping_form(html), headers={"Accept-Language": "ko"}
    ).text
    reasons = re.findall(r'<td class="reason">([^<]*)</td>', checked)
    assert [htmlmod.unescape(r) for r in reasons] == [
        "이메일: 'not mail'은(는) 이메일 주소가 아닙니다."
    ]


def test_every_step_has_its_breadcrumbs_in_the_users_language(
    ann: TestClient,
    sam: TestClient,  # noqa: F811
) -> None:
    assert crumbs_of(ann.get("/admin/import").text) == [("/admin/", "Home"), (None, "Import")]
    page_url = upload(ann).headers["location"]
    mapping = ann.get(page_url).text
    wizard = [
        ("/admin/", "Home"),
        ("/admin/types", "Types"),
        ("/admin/types/customer", "Customer"),
        ("/admin/import", "Import"),
    ]
    assert crumbs_of(mapping) == [*wizard, (None, "Map the columns")]
    checked = ann.post(page_url + "/check", data=mapping_form(mapping)).text
    path = urlsplit(page_url).path
    assert crumbs_of(checked) == [*wizard, (path, "Map the columns"), (None, "Check result")]
    korean = ann.get(page_url, headers={"Accept-Language": "ko"}).text
    assert crumbs_of(korean) == [
        ("/admin/", "홈"),
        ("/admin/types", "유형"),
        ("/admin/types/customer", "고객"),
        ("/admin/import", "가져오기"),
        (None, "열 연결"),
    ]
    ann.post(page_url + "/run", data=mapping_form(mapping))
    assert crumbs_of(ann.get(page_url).text)[-1] == (None, "Progress")
    # Who may import but not define types goes from the type to its records instead.
    theirs = upload(sam).headers["location"]
    assert crumbs_of(sam.get(theirs).text) == [
        ("/admin/", "Home"),
        ("/admin/records/customer", "Customer"),
        ("/admin/import", "Import"),
        (None, "Map the columns"),
    ]


def test_a_viewer_has_no_import(vic: TestClient) -> None:
    assert 'href="/admin/import"' not in vic.get("/admin/").text
    assert vic.get("/admin/import").status_code == 403


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: ("name,email\n" + t).encode("utf-8")),
    ),
    choice=st.lists(st.sampled_from(["", "name", "email", "tier", "nope", "<b>x</b>"]), max_size=3),
    key=st.sampled_from(["", "email", "nothing"]),
)
def test_hostile_uploads_and_mappings_get_a_page_never_a_crash(
    ann: TestClient, data: bytes, choice: list[str], key: str
) -> None:
    done = upload(ann, data, "f.csv")
    assert done.status_code in (303, 400)
    assert "Traceback" not in done.text
    if done.status_code != 303:
        return
    page_url = done.headers["location"]
    form = {"csrf": csrf_of(ann.get(page_url).text), "key": key}
    form.update({f"column{i}": v for i, v in enumerate(choice)})
    checked = ann.post(page_url + "/check", data=form)
    assert checked.status_code in (200, 400)
    assert "Traceback" not in checked.text and "<b>x</b>" not in checked.text
