"""Run errors and platform log lines in the run history are in the page's language (Korean),
while what a rule wrote itself (its log, its refusal message) is shown as it is.

Real runs on a real database (SQLite or PostgreSQL as configured) produce the platform's
messages, through the builder's test runs: a condition that is false, a script that
raises, a write the record's validation refuses, a rule that refuses. A property test
holds the model for any text: a refusal and any shape no rule knows pass through
unchanged, a known shape keeps its values.
"""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_workflow_builder import create, new_grievance, post, text_of

from xrm.admin_ui import i18n
from xrm.admin_ui.run_messages import RULES, log_line, run_error
from xrm.plugins.spec import not_installed
from xrm.workflows.runs import RunStatus

pytest_plugins = ["admin_clients"]

KOREAN = re.compile("[가-힣]")


def korean_runs(client: TestClient, name: str) -> str:
    page = client.get(f"/admin/workflows/{name}", headers={"Accept-Language": "ko"}).text
    runs = page.split('id="runs"', 1)[1]
    return html.unescape(text_of(runs))


def test_platform_errors_and_notes_are_korean_and_a_rules_own_words_are_kept(
    ann: TestClient,
) -> None:
    assert new_grievance(ann, "Flicker", "Lights").status_code == 303
    rule = {
        "name": "checks",
        "entity": "grievance",
        "on": ["update"],
        "stage": "after",
        "when": "record['subject'] == 'nothing'",
        "actions.0.type": "script",
        "actions.0.code": "log('my own words')",
    }
    assert create(ann, rule).status_code == 303
    page = "/admin/workflows/checks"
    assert post(ann, page, {"record": "Flicker"}, page + "/test").status_code == 200
    failing = {**rule, "when": "", "actions.0.code": "log('my own words')\n1 / 0", "version": "1"}
    assert post(ann, page, failing).status_code == 303
    assert post(ann, page, {"record": "Flicker"}, page + "/test").status_code == 200
    invalid = {**rule, "when": "", "actions.0.type": "update", "version": "2"}
    invalid["actions.0.values"] = "severity = apocalyptic"
    assert post(ann, page, invalid).status_code == 303
    assert post(ann, page, {"record": "Flicker"}, page + "/test").status_code == 200
    refusing = {**rule, "when": "", "actions.0.type": "reject", "version": "3"}
    refusing["actions.0.message.en"] = "Not on my watch"
    assert post(ann, page, refusing).status_code == 303
    assert post(ann, page, {"record": "Flicker"}, page + "/test").status_code == 200

    shown = korean_runs(ann, "checks")
    assert "(조건이 맞지 않음)" in shown and "(condition not met)" not in shown
    assert "2행: ZeroDivisionError: division by zero" in shown
    assert "my own words" in shown  # the rule's log, as written
    assert "레코드를 저장하지 않았습니다: 심각도: " in shown  # the field by its label
    assert "validation failed" not in shown
    assert "Not on my watch" in shown  # a refusal is the rule's own message
    english = html.unescape(text_of(ann.get(page).text))
    assert "(condition not met)" in english and "Line 2: ZeroDivisionError" in english


KNOWN = [
    not_installed("email", "email"),
    not_installed("acme_stamp"),
    "the rule used more than 2.5 s of CPU time and was stopped",
    "the rule ran longer than 5 s and was stopped",
    "the rule needed more than 128 MB of memory",
    "the sandbox worker running the rule stopped unexpectedly",
    "the sandbox worker broke the protocol and was replaced",
    "the sandbox could not start a worker to run the rule",
    "the sandbox is not running",
    "all 4 sandbox workers stayed busy for 10 s",
    "workflow escalate was deleted or disabled before it ran",
    "workflows fired workflows more than 8 deep, so the change was undone "
    "(does a rule change what fires it?): a -> b -> a",
    "update of customer: the record has none to update",
    "this action needs the triggering record, and there is none",
    "webhook cannot run in this process",
    "the condition gave a str; it must give True or False",
]


def test_every_known_platform_error_is_said_in_korean_with_its_values() -> None:
    i18n.translations.cache_clear()
    _ = i18n.translations("ko").gettext
    for text in KNOWN:
        said = run_error(text, RunStatus.FAILED, _)
        assert said != text and KOREAN.search(said), text
        for value in re.findall(r"\d+(?:\.\d+)?|'[a-z_]+'", text):
            assert value.strip("'") in said, (text, said)
    assert len(KNOWN) + 1 == len(RULES)  # every rule here, but "line N:"


@given(text=st.text(max_size=80), status=st.sampled_from(list(RunStatus)))
def test_any_text_passes_through_unless_it_is_a_platform_shape(
    text: str, status: RunStatus
) -> None:
    _ = i18n.translations("ko").gettext
    said = run_error(text, status, _)
    known = any(pattern.match(text) for pattern, _speak in RULES)
    if status is RunStatus.REJECTED:
        assert said == text or text == "rejected by a rule"
    elif not known:
        assert said == text
    line = log_line(text, _)
    assert line == text or text == "(condition not met)" or text.startswith("… ")
