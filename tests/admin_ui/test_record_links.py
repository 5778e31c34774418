"""A record's related records in tabs, paged by keyset, and many-to-many links with attributes.

Server tests through the real application (SQLite or PostgreSQL as the run is
configured); links are made and read through the record service as the
signed-in user, so access and audit hold as in the API.
"""

from __future__ import annotations

import html as htmlmod
import re

from starlette.testclient import TestClient
from test_record_screens import actor, make, service  # noqa: F401 (fixture)

from xrm.entities.records import RecordService
from xrm.platform.db import Database

pytest_plugins = ["admin_clients"]


def tab(html: str, key: str) -> str:
    found = re.search(rf'<section id="rel-{key}" .*?</section>', html, re.S)
    assert found, key
    return found.group(0)


def names_in(section: str) -> list[str]:
    return [htmlmod.unescape(n) for n in re.findall(r'<li><a href="[^"]+">([^<]+)</a>', section)]


def link_of(section: str, text: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)"(?: rel="next")?>{text}</a>', section)
    return htmlmod.unescape(found.group(1)) if found else None


def test_related_records_are_tabs_of_ten_with_their_own_more_pages(
    ann: TestClient,
    service: RecordService,  # noqa: F811
    db: Database,
) -> None:
    acme = make(service, db, "customer", name="Acme")
    titles = [f"Contract {n:02d}" for n in range(12)]
    for title in titles:
        make(service, db, "contract", title=title, customer=acme["id"])
    make(service, db, "contact", full_name="Kim Minji", customer=acme["id"])
    page = ann.get(f"/admin/records/customer/{acme['id']}").text
    tablist = re.search(r"<ul class=\"tabs\" data-tablist.*?</ul>", page, re.S)
    assert tablist
    assert 'href="#rel-contracts"' in tablist.group(0) and ">Contracts</a>" in tablist.group(0)
    first = tab(page, "contracts")
    assert names_in(first) == titles[:10]
    assert names_in(tab(page, "contacts")) == ["Kim Minji"]
    more = link_of(first, "More")
    assert more and more.endswith("#rel-contracts") and "rel.contracts.after=" in more
    second = ann.get(more.split("#")[0]).text
    assert names_in(tab(second, "contracts")) == titles[10:]
    assert link_of(tab(second, "contracts"), "More") is None
    assert link_of(tab(second, "contracts"), "First page")
    assert names_in(tab(second, "contacts")) == ["Kim Minji"]  # the other tabs keep their page
    stale = ann.get(f"/admin/records/customer/{acme['id']}?rel.contracts.after=garbage").text
    assert "That page no longer exists" in tab(stale, "contracts")
    assert names_in(tab(stale, "contracts")) == titles[:10]


def test_a_many_to_many_tab_lists_the_linked_records_with_the_links_attributes(
    ann: TestClient,
    service: RecordService,  # noqa: F811
    db: Database,
) -> None:
    acme = make(service, db, "customer", name="Acme")
    contract = make(service, db, "contract", title="Support", customer=acme["id"])
    kim = make(service, db, "contact", full_name="Kim Minji", customer=acme["id"])
    with service.session(actor(db, "ann@example.com"), "api") as records:
        records.link("contract_contacts", contract["id"], kim["id"], {"role": "signatory"})
    page = ann.get(f"/admin/records/contract/{contract['id']}").text
    contacts = tab(page, "contacts")
    assert names_in(contacts) == ["Kim Minji"]
    assert "Role: Signatory" in contacts
    korean = ann.get(f"/admin/records/contact/{kim['id']}", headers={"Accept-Language": "ko"}).text
    assert names_in(tab(korean, "contracts")) == ["Support"]
    assert "역할: 서명자" in tab(korean, "contracts")
