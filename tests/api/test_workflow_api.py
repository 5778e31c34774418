"""Workflows over GraphQL: define, list, test, run by hand and dry, read runs, delete —
with the rights each needs, and definitions of another kind refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_graphql import Api

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.identity import create_token, create_user, first_admin
from xrm.platform.jobs import Worker, WorkerConfig
from xrm.platform.settings import Settings

# A builder of workflows who may also read grievances and make tasks (a test run acts as them).
BUILDER = {
    "role": "builder",
    "admin": ["define_workflows"],
    "entities": {"grievance": {"read": "all"}, "task": {"read": "all", "create": "all"}},
}
# Takes grievances in, and may not make tasks: an after rule making one fails for them.
CLERK = {"role": "clerk", "entities": {"grievance": {"read": "all", "create": "all"}}}
FOLLOW_UP: dict[str, Any] = {
    "name": "follow_up",
    "entity": "grievance",
    "on": ["manual"],
    "actions": [
        {
            "type": "script",
            "code": "create('task', {'title': 'Follow up ' + record['subject'],"
            " 'grievance': record['id']})\nlog('done')",
        }
    ],
}
RUN_FIELDS = "id workflow trigger status durationMs log error recordId dryRun changes"
DEFINE = "mutation($d: JSON!) { defineWorkflow(definition: $d) { name entity enabled version } }"
RUN = (
    "mutation($n: String!, $r: ID, $dry: Boolean) { runWorkflow(name: $n, recordId: $r, "
    f"dryRun: $dry) {{ {RUN_FIELDS} }} }}"
)


@pytest.fixture
def client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    registry.apply([*definitions(), BUILDER, CLERK])
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def apis(client: TestClient, db: Database) -> dict[str, Api]:
    with db.write() as conn:
        tokens = {
            "admin": create_token(conn, first_admin(conn)),
            "builder": create_token(conn, create_user(conn, "bo@example.com", ("builder",))),
            "editor": create_token(conn, create_user(conn, "ed@example.com", ("editor",))),
        }
    return {who: Api(client, token) for who, token in tokens.items()}


def grievance(api: Api) -> str:
    made = api('mutation { createGrievance(input: {subject: "Noise"}) { id } }')
    return str(made["createGrievance"]["id"])


def task_titles(api: Api) -> list[str]:
    return [n["title"] for n in api("{ tasks { nodes { title } } }")["tasks"]["nodes"]]


def test_a_builder_defines_tests_and_runs_a_workflow(apis: dict[str, Api]) -> None:
    admin, builder, editor = apis["admin"], apis["builder"], apis["editor"]
    record = grievance(admin)
    tested = builder(
        f"mutation($d: JSON!, $r: ID) {{ testWorkflow(definition: $d, recordId: $r) "
        f"{{ {RUN_FIELDS} }} }}",
        {"d": FOLLOW_UP, "r": record},
    )["testWorkflow"]
    assert (tested["status"], tested["dryRun"], tested["log"]) == ("done", True, ["done"])
    assert tested["changes"][0]["values"]["title"] == "Follow up Noise"
    assert task_titles(admin) == []
    assert builder("{ workflows { name } }") == {"workflows": []}

    defined = builder(DEFINE, {"d": FOLLOW_UP})["defineWorkflow"]
    assert defined == {"name": "follow_up", "entity": "grievance", "enabled": True, "version": 1}
    # Any user may run a manual workflow; it acts with that user's rights.
    ran = editor(RUN, {"n": "follow_up", "r": record})["runWorkflow"]
    assert (ran["status"], ran["recordId"], ran["dryRun"]) == ("done", record, False)
    assert task_titles(admin) == ["Follow up Noise"]

    runs = builder('{ workflowRuns(workflow: "follow_up") { status dryRun } }')["workflowRuns"]
    # Newest first; the test run before saving is in the history too, marked as a dry run.
    assert runs == [{"status": "done", "dryRun": False}, {"status": "done", "dryRun": True}]
    assert builder('mutation { deleteWorkflow(name: "follow_up") }') == {"deleteWorkflow": True}
    assert builder("{ workflows { name } }") == {"workflows": []}
    error = builder.error('mutation { deleteWorkflow(name: "follow_up") }')
    assert error["extensions"]["code"] == "NOT_FOUND"


def test_only_the_define_workflows_right_defines_reads_tests_and_dry_runs(
    apis: dict[str, Api],
) -> None:
    editor = apis["editor"]
    record = grievance(apis["admin"])
    apis["admin"](DEFINE, {"d": FOLLOW_UP})
    for query, variables in [
        (DEFINE, {"d": FOLLOW_UP}),
        ("{ workflows { name } }", {}),
        ("{ workflowRuns { id } }", {}),
        (RUN, {"n": "follow_up", "r": record, "dry": True}),
        ('mutation { deleteWorkflow(name: "follow_up") }', {}),
    ]:
        assert editor.error(query, variables)["extensions"]["code"] == "FORBIDDEN", query
    assert task_titles(apis["admin"]) == []


def test_define_workflow_takes_only_a_workflow(apis: dict[str, Api]) -> None:
    role = {"role": "sneaky", "admin": ["manage_users"], "entities": {}}
    error = apis["builder"].error(DEFINE, {"d": role})
    assert error["extensions"]["code"] == "BAD_DEFINITION"
    assert apis["admin"]("{ roles { name } }")["roles"][-1]["name"] != "sneaky"


def test_a_failing_manual_run_answers_the_run_and_keeps_nothing(apis: dict[str, Api]) -> None:
    admin = apis["admin"]
    record = grievance(admin)
    broken = {
        **FOLLOW_UP,
        "actions": [*FOLLOW_UP["actions"], {"type": "script", "code": "log('x')\n{}['nope']"}],
    }
    admin(DEFINE, {"d": broken})
    ran = admin(RUN, {"n": "follow_up", "r": record})["runWorkflow"]
    assert ran["status"] == "failed"
    assert ran["log"] == ["done", "x"]
    assert "KeyError" in ran["error"]
    assert task_titles(admin) == []


def test_bad_run_arguments_get_clear_errors(apis: dict[str, Api]) -> None:
    admin = apis["admin"]
    assert admin.error(RUN, {"n": "nothing"})["extensions"]["code"] == "NOT_FOUND"
    error = admin.error('{ workflowRuns(status: "bogus") { id } }')
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    error = admin.error("{ workflowRuns(first: 0) { id } }")
    assert error["extensions"]["code"] == "VALIDATION_FAILED"


def test_writes_through_the_api_fire_rules_as_the_user_who_writes(
    apis: dict[str, Api], client: TestClient, db: Database
) -> None:
    """A ``before`` rule fills and refuses, an ``after`` rule writes as the caller: a clerk
    who may not make tasks gets RULE_FAILED saying so, and nothing of the write is kept."""
    admin = apis["admin"]
    with db.write() as conn:
        clerk = Api(client, create_token(conn, create_user(conn, "cl@example.com", ("clerk",))))
        korean = create_user(conn, "ko@example.com", ("clerk",), locale="ko")
        korean_clerk = Api(client, create_token(conn, korean))
    rules = [
        {
            "name": "no_anonymous_letters",
            "entity": "grievance",
            "on": ["create"],
            "stage": "before",
            "when": "record.get('channel') == 'letter' and not record.get('contact')",
            "actions": [
                {
                    "type": "reject",
                    "message": {
                        "en": "a letter needs the contact who wrote it",
                        "ko": "편지에는 보낸 연락처가 필요합니다",
                    },
                }
            ],
        },
        {
            "name": "subject_by_default",
            "entity": "grievance",
            "on": ["create"],
            "stage": "before",
            "when": "not record.get('subject')",
            "actions": [{"type": "set", "values": {"subject": "(no subject)"}}],
        },
        {
            "name": "task_for_high",
            "entity": "grievance",
            "on": ["create"],
            "when": "record['severity'] == 'high'",
            "actions": [{"type": "create", "entity": "task", "values": {"title": "Call back"}}],
        },
    ]
    for rule in rules:
        admin(DEFINE, {"d": rule})
    made = admin('mutation { createGrievance(input: {channel: "web"}) { subject } }')
    assert made["createGrievance"]["subject"] == "(no subject)"
    error = admin.error(
        'mutation { createGrievance(input: {subject: "S", channel: "letter"}) { id } }'
    )
    assert error["extensions"]["code"] == "RULE_REJECTED"
    assert error["message"] == "a letter needs the contact who wrote it"
    error = korean_clerk.error(
        'mutation { createGrievance(input: {subject: "S", channel: "letter"}) { id } }'
    )
    assert error["message"] == "편지에는 보낸 연락처가 필요합니다"  # in the user's language
    error = clerk.error(
        'mutation { createGrievance(input: {subject: "Loud", severity: "high"}) { id } }'
    )
    assert error["extensions"]["code"] == "RULE_FAILED"
    assert "task_for_high" in error["message"] and "task" in error["message"]
    subjects = [
        n["subject"] for n in admin("{ grievances { nodes { subject } } }")["grievances"]["nodes"]
    ]
    assert subjects == ["(no subject)"]
    runs = admin("{ workflowRuns { workflow status } }")["workflowRuns"]
    assert {(r["workflow"], r["status"]) for r in runs} == {
        ("subject_by_default", "done"),
        ("no_anonymous_letters", "rejected"),
        ("task_for_high", "failed"),
    }


def test_a_builder_retries_a_dead_async_run_from_the_api(
    apis: dict[str, Api], client: TestClient, db: Database
) -> None:
    admin, builder, editor = apis["admin"], apis["builder"], apis["editor"]
    admin(
        DEFINE,
        {
            "d": {
                "name": "needs_description",
                "entity": "grievance",
                "on": ["create"],
                "stage": "async",
                "actions": [{"type": "script", "code": "log(len(record['description']))"}],
            }
        },
    )
    made = admin('mutation { createGrievance(input: {subject: "Quiet"}) { id } }')
    engine = client.app.state.workflows  # type: ignore[attr-defined]
    with db.write() as conn:
        conn.execute(tables.jobs.update().values(max_attempts=1))
    config = WorkerConfig(poll_seconds=0.02, concurrency=1, lease=dt.timedelta(seconds=30))
    jobs = Worker(db, engine.job_handlers(), config, on_failure=engine.failure_hooks())
    assert jobs.drain() == 1
    (dead,) = builder(f"{{ workflowRuns {{ {RUN_FIELDS} }} }}")["workflowRuns"]
    assert dead["status"] == "dead" and "TypeError" in dead["error"]
    retry = f"mutation($id: ID!) {{ retryWorkflowRun(id: $id) {{ {RUN_FIELDS} }} }}"
    assert editor.error(retry, {"id": dead["id"]})["extensions"]["code"] == "FORBIDDEN"
    admin(
        'mutation($id: ID!) { updateGrievance(id: $id, input: {description: "Loud"}) { id } }',
        {"id": made["createGrievance"]["id"]},
    )
    assert builder(retry, {"id": dead["id"]})["retryWorkflowRun"]["status"] == "queued"
    assert jobs.drain() == 1
    (done,) = builder(f"{{ workflowRuns {{ {RUN_FIELDS} }} }}")["workflowRuns"]
    assert (done["id"], done["status"], done["log"]) == (dead["id"], "done", ["4"])
    error = builder.error(retry, {"id": dead["id"]})
    assert (
        error["extensions"]["code"] == "VALIDATION_FAILED" and "only a failed" in error["message"]
    )
    error = builder.error(retry, {"id": "nope"})
    assert error["extensions"]["code"] == "NOT_FOUND"


def test_run_history_arguments_that_no_run_can_match_are_named(apis: dict[str, Api]) -> None:
    """Found by the schema fuzzer: on PostgreSQL these were internal errors (a non-UUID
    compared with a uuid column, NUL sent to a text column)."""
    admin = apis["admin"]
    for record_id in ("not-a-uuid", "", "a\x00b"):
        error = admin.error("query($r: ID) { workflowRuns(recordId: $r) { id } }", {"r": record_id})
        assert error["extensions"]["code"] == "VALIDATION_FAILED", error
        assert [e["field"] for e in error["extensions"]["errors"]] == ["recordId"]
    error = admin.error('{ workflowRuns(workflow: "a\\u0000b", first: 0, recordId: "x") { id } }')
    assert [e["field"] for e in error["extensions"]["errors"]] == ["first", "workflow", "recordId"]
    record = grievance(admin)
    assert admin(f'{{ workflowRuns(recordId: " {record} ") {{ id }} }}') == {"workflowRuns": []}
    error = admin.error('mutation { deleteWorkflow(name: "a\\u0000b") }')
    assert error["extensions"]["code"] == "NOT_FOUND", error
