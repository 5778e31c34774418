"""A record's related records in tabs, paged by keyset, and many-to-many links with attributes.

Server tests through the real application (SQLite or PostgreSQL as the run is
configured); links are made and read through the record service as the
signed-in user, so access and audit hold as in the API.
"""

from __future__ import annotations

import html as htmlmod
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_record_screens import actor, make, service  # noqa: F401 (fixture)
from test_signin import csrf_of

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


# --- linking, changing a link, unlinking ---------------------------------------------------------

ROLES = {"signatory": "Signatory", "billing": "Billing", "technical": "Technical"}


def linked_roles(
    service: RecordService,  # noqa: F811
    db: Database,
    contract_id: str,
) -> dict[str, Any]:
    """The contract's contacts by name with their link's role, read by the record service."""
    with service.session(actor(db, "ann@example.com"), "api") as records:
        page = records.children(
            "contract", "contacts", [contract_id], fields=frozenset({"full_name"})
        )[contract_id]
        return {
            r["full_name"]: (a or {}).get("role")
            for r, a in zip(page.items, page.attributes, strict=True)
        }


def attribute_error(html: str, key: str, name: str) -> str:
    """The problem shown beside the link form's input ``name`` in tab ``key`` ('' when none)."""
    block = re.search(
        rf'<div class="field[^"]*" data-attribute="{name}">(.*?)</div>', tab(html, key), re.S
    )
    assert block, name
    found = re.search(r'<p class="field-error" id="[^"]+">([^<]*)</p>', block.group(1))
    return htmlmod.unescape(found.group(1)) if found else ""


def test_a_contact_is_linked_changed_and_unlinked_from_the_contracts_page(
    ann: TestClient,
    vic: TestClient,
    service: RecordService,  # noqa: F811
    db: Database,
) -> None:
    acme = make(service, db, "customer", name="Acme")
    contract = make(service, db, "contract", title="Support", customer=acme["id"])
    kim = make(service, db, "contact", full_name="Kim Minji", customer=acme["id"])
    page_url = f"/admin/records/contract/{contract['id']}"
    page = ann.get(page_url).text
    form = tab(page, "contacts")
    assert "Link a record" in form and f'<option value="{kim["id"]}">Kim Minji</option>' in form
    assert 'name="a.role"' in form
    csrf = csrf_of(page)
    link = f"{page_url}/link"
    assert ann.post(link, data={"field": "contacts", "other": kim["id"]}).status_code == 403
    done = ann.post(
        link, data={"csrf": csrf, "field": "contacts", "other": kim["id"], "a.role": "signatory"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"{page_url}?linked=saved#rel-contacts"
    assert linked_roles(service, db, contract["id"]) == {"Kim Minji": "signatory"}
    shown = ann.get(done.headers["location"]).text
    assert "The link is saved." in shown and "Role: Signatory" in tab(shown, "contacts")
    changed = ann.post(
        link, data={"csrf": csrf, "field": "contacts", "editing": kim["id"], "a.role": "billing"}
    )
    assert changed.status_code == 303
    assert linked_roles(service, db, contract["id"]) == {"Kim Minji": "billing"}
    # A viewer sees the links but no form to change them, and cannot post one.
    assert "Link a record" not in vic.get(page_url).text
    viewer = vic.get(page_url).text
    assert (
        vic.post(
            link, data={"csrf": csrf_of(viewer), "field": "contacts", "other": kim["id"]}
        ).status_code
        == 403
    )
    unlink = f"{page_url}/unlink"
    unconfirmed = ann.post(unlink, data={"csrf": csrf, "field": "contacts", "other": kim["id"]})
    assert (
        unconfirmed.status_code == 400
        and "Tick the box to confirm the unlinking." in unconfirmed.text
    )
    assert linked_roles(service, db, contract["id"]) == {"Kim Minji": "billing"}
    gone = ann.post(
        unlink, data={"csrf": csrf, "field": "contacts", "other": kim["id"], "confirm": "1"}
    )
    assert gone.status_code == 303 and linked_roles(service, db, contract["id"]) == {}
    # The contact's page shows the same relationship from its side, with the history of both.
    with service.session(actor(db, "ann@example.com"), "api") as records:
        actions = [
            h["action"]
            for h in records.history("contract_contacts", [f"{contract['id']}:{kim['id']}"]).get(
                f"{contract['id']}:{kim['id']}", []
            )
        ]
    assert actions.count("link") == 2 and actions.count("unlink") == 1


def test_a_refused_link_names_the_problem_beside_its_input_and_keeps_what_was_typed(
    ann: TestClient,
    service: RecordService,  # noqa: F811
    db: Database,
) -> None:
    acme = make(service, db, "customer", name="Acme")
    contract = make(service, db, "contract", title="Support", customer=acme["id"])
    page_url = f"/admin/records/contract/{contract['id']}"
    csrf = csrf_of(ann.get(page_url).text)
    nobody = ann.post(
        f"{page_url}/link",
        data={"csrf": csrf, "field": "contacts", "other": "Nobody", "a.role": "billing"},
    )
    assert nobody.status_code == 400
    assert attribute_error(nobody.text, "contacts", "other") == "No record is named Nobody."
    assert "data-link-new open" in nobody.text
    make(service, db, "contact", full_name="Kim Minji", customer=acme["id"])
    wrong = ann.post(
        f"{page_url}/link",
        data={"csrf": csrf, "field": "contacts", "other": "Kim Minji", "a.role": "boss"},
    )
    assert wrong.status_code == 400
    assert attribute_error(wrong.text, "contacts", "role")
    assert linked_roles(service, db, contract["id"]) == {}
    assert (
        ann.post(
            f"{page_url}/link", data={"csrf": csrf, "field": "nothing", "other": "Kim Minji"}
        ).status_code
        == 404
    )


ROLE_VALUES = ["signatory", "decision_maker", "billing", "technical", "other"]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    role=st.one_of(
        st.sampled_from([*ROLE_VALUES, ""]),
        st.sampled_from(["Signatory", "boss", " billing", "billing\x00", "x" * 5000, "null"]),
        st.text(max_size=12),
    )
)
def test_any_role_typed_is_linked_as_is_or_refused_beside_the_role(
    ann: TestClient,
    service: RecordService,  # noqa: F811
    db: Database,
    role: str,
) -> None:
    acme = make(service, db, "customer", name="Acme")
    contract = make(service, db, "contract", title="Support", customer=acme["id"])
    kim = make(service, db, "contact", full_name="Kim Minji", customer=acme["id"])
    page_url = f"/admin/records/contract/{contract['id']}"
    answer = ann.post(
        f"{page_url}/link",
        data={
            "csrf": csrf_of(ann.get(page_url).text),
            "field": "contacts",
            "other": kim["id"],
            "a.role": role,
        },
    )
    assert "Traceback" not in answer.text
    if role.strip() in ROLE_VALUES or not role.strip():
        assert answer.status_code == 303, answer.text[:300]
        expected = role.strip() or None
        assert linked_roles(service, db, contract["id"]) == {"Kim Minji": expected}
    else:
        assert answer.status_code == 400
        assert attribute_error(answer.text, "contacts", "role")
        assert linked_roles(service, db, contract["id"]) == {}
