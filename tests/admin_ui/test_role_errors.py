"""The role editor refuses a bad definition with every fault translated (issue 10, point 28).

Definitions are generated, sensible and hostile alike, and saved through the
editor of a Korean page: the answer is a save or a list of faults, each at
its JSON path and each in Korean (the page marks any message it could not
translate, and there must be none).
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_signin import csrf_of

pytest_plugins = ["admin_clients"]

HANGUL = re.compile("[가-힣]")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["", "none", "own", "all", "hidden", "read_only", "maybe", "Bad Name", "*"]),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
scope = st.one_of(st.sampled_from(["none", "own", "all"]), json_values)
grant = st.fixed_dictionaries(
    {},
    optional={
        "read": scope,
        "create": scope,
        "update": scope,
        "delete": scope,
        "fields": st.one_of(
            st.dictionaries(
                st.sampled_from(["name", "email", "revenue", "nosuch"]),
                st.one_of(st.sampled_from(["hidden", "read_only"]), json_values),
                max_size=2,
            ),
            json_values,
        ),
        "bogus": json_values,
    },
)
role_definition = st.fixed_dictionaries(
    {
        "role": st.one_of(
            st.sampled_from(["support", "admin", "Bad Name", "x" * 41, "sales_rep"]),
            json_values,
        )
    },
    optional={
        "title": json_values,
        "label": st.one_of(
            st.dictionaries(st.sampled_from(["en", "ko", "EN!", "pt-BR"]), json_values, max_size=2),
            json_values,
        ),
        "entities": st.one_of(
            st.dictionaries(
                st.sampled_from(["*", "customer", "contact", "nosuch", "Bad Type"]),
                st.one_of(grant, json_values),
                max_size=3,
            ),
            json_values,
        ),
        "admin": st.one_of(
            st.lists(
                st.one_of(
                    st.sampled_from(["manage_users", "define_types", "rule_the_world"]), scalars
                ),
                max_size=3,
            ),
            json_values,
        ),
        "unknown_keyword": json_values,
    },
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(definition=role_definition)
def test_every_fault_of_a_role_definition_is_said_in_korean(
    ann: TestClient, definition: dict[str, Any]
) -> None:
    headers = {"Accept-Language": "ko"}
    csrf = csrf_of(ann.get("/admin/roles/new", headers=headers).text)
    response = ann.post(
        "/admin/roles",
        data={"csrf": csrf, "name": "", "version": "0", "definition": json.dumps(definition)},
        headers=headers,
    )
    assert response.status_code in (303, 400, 409), response.text
    if response.status_code == 303:
        return
    alert = response.text.split('role="alert"', 1)[1].split("</ul>", 1)[0]
    assert "data-untranslated" not in alert, alert
    items = re.findall(r"<li>(.*?)</li>", alert, re.S)
    assert items and all(HANGUL.search(item) for item in items), alert
