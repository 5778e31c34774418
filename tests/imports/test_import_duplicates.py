"""Duplicate rules during an import: ``--duplicates flag|skip|merge``.

What an operator bringing in a spreadsheet full of duplicates relies on: a
row like a stored record, or like an earlier row of the same file (however
its e-mail or phone was spelled), is flagged, skipped with a reason naming
what it duplicates, or merged into that record, and a merge is undone with
the import; a ``block`` rule still refuses the row unless it is merged.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from import_support import csv_bytes, records, run_import

from xrm.entities.catalog import definitions
from xrm.entities.imports.run import Importer, Options
from xrm.entities.imports.values import cell_value
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_user

pytest_plugins = ["cli_fixtures"]

LEAD: dict[str, Any] = {
    "type": "object",
    "x-xrm": {
        "name": "lead",
        "plural": "leads",
        "label": {"en": "Lead", "ko": "잠재 고객"},
        "display": "name",
        "duplicates": [
            {"name": "same email", "match": [{"field": "email"}], "action": "warn"},
            {"name": "same phone", "match": [{"field": "phone"}], "action": "warn"},
        ],
    },
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "email": {"type": "string", "format": "email"},
        "phone": {"type": "string", "format": "phone"},
        "city": {"type": "string"},
    },
    "required": ["name"],
}

HEADER = ["name", "email", "phone", "city"]
# Row 2 is the stored Kim's e-mail spelled another way; row 4 has row 3's phone in another
# spelling; row 6 repeats row 5 exactly.
ROWS = [
    HEADER,
    ["Kim Minsu", "  LEAD7@Example.COM ", "", ""],
    ["Lee", "lee@example.com", "010-1234-5678", "Busan"],
    ["Lee Again", "other@example.com", "+82 10 1234 5678", ""],
    ["Park", "park@example.com", "", "Incheon"],
    ["Park", "park@example.com", "", "Incheon"],
]


def lead(action: str = "warn") -> dict[str, Any]:
    definition = copy.deepcopy(LEAD)
    for rule in definition["x-xrm"]["duplicates"]:
        rule["action"] = action
    return definition


@pytest.fixture
def catalog_db(test_database: Any, registry: Registry) -> Any:
    """The catalog and ``lead`` (the CLI fixture ``xrm`` runs on it)."""
    registry.apply([*definitions(), lead()])
    return test_database


@pytest.fixture
def leads(catalog_db: Any, service: RecordService, admin: Actor) -> RecordService:
    with service.session(admin) as session:
        session.create("lead", {"name": "Kim", "email": "lead7@example.com", "city": "Seoul"})
    return service


def _file(tmp_path: Path, rows: list[list[str]] = ROWS) -> Path:
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes(rows))
    return path


def _stored(service: RecordService, actor: Actor) -> list[tuple[Any, ...]]:
    return sorted(
        (r["name"], r["email"], r.get("phone"), r.get("city"))
        for r in records(service, actor, "lead")
    )


def _pairs(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(tables.duplicate_pairs)
            ).scalar_one()
        )


def test_flag_writes_every_row_and_names_what_each_duplicates(
    xrm: Any, leads: RecordService, admin: Actor, db: Database, tmp_path: Path
) -> None:
    path = _file(tmp_path)
    checked = xrm("import", "lead", str(path), "--dry-run")
    assert checked.lines[0].startswith("dry run: 5 rows: 5 would be created")
    flagged = [
        "duplicates: 3 rows flagged, 0 rows merged",
        "  row 2: duplicate of 'Kim' (rule 'same email', score 1.0)",
        "  row 4: duplicate of row 3 (rule 'same phone', score 1.0)",
        "  row 6: duplicate of row 5 (rule 'same email', score 1.0)",
    ]
    assert checked.lines[1:] == [*flagged, "rejected rows: none"]
    done = xrm("import", "lead", str(path))
    assert done.code == 0, done.err
    assert done.lines[0].endswith(": 5 rows: 5 created, 0 updated, 0 unchanged, 0 rejected")
    assert done.lines[1:] == [*flagged, "rejected rows: none"]
    assert len(_stored(leads, admin)) == 6
    assert _pairs(db) == 3  # on the duplicates page, beside what a scan finds


def test_skip_rejects_the_duplicates_with_what_they_duplicate(
    xrm: Any, leads: RecordService, admin: Actor, tmp_path: Path
) -> None:
    done = xrm("import", "lead", str(_file(tmp_path)), "--duplicates", "skip")
    assert done.code == 0, done.err
    assert done.lines[0].endswith(": 5 rows: 2 created, 0 updated, 0 unchanged, 3 rejected")
    rejected = Path(done.lines[1].removeprefix("rejected rows: "))
    table = list(csv.reader(io.StringIO(rejected.read_text(encoding="utf-8-sig"))))
    assert table[0] == [*HEADER, "reason"]
    assert [(r[0], r[-1]) for r in table[1:]] == [
        ("Kim Minsu", "row 2: duplicate of 'Kim' (rule 'same email', score 1.0)"),
        ("Lee Again", "row 4: duplicate of row 3 (rule 'same phone', score 1.0)"),
        ("Park", "row 6: duplicate of row 5 (rule 'same email', score 1.0)"),
    ]
    assert _stored(leads, admin) == [
        ("Kim", "lead7@example.com", None, "Seoul"),
        ("Lee", "lee@example.com", "+821012345678", "Busan"),
        ("Park", "park@example.com", None, "Incheon"),
    ]


def test_merge_writes_into_the_record_and_undo_restores_it(
    xrm: Any, leads: RecordService, admin: Actor, tmp_path: Path
) -> None:
    before = _stored(leads, admin)
    done = xrm("import", "lead", str(_file(tmp_path)), "--duplicates", "merge")
    assert done.code == 0, done.err
    # Row 2 updates Kim; row 4 updates the record row 3 created; row 6 changes nothing.
    assert done.lines[0].endswith(": 5 rows: 2 created, 2 updated, 1 unchanged, 0 rejected")
    assert done.lines[1:4] == [
        "duplicates: 0 rows flagged, 3 rows merged",
        "  row 2: merged into 'Kim' (rule 'same email', score 1.0)",
        "  row 4: merged into row 3 (rule 'same phone', score 1.0)",
    ]
    assert _stored(leads, admin) == [
        ("Kim Minsu", "lead7@example.com", None, "Seoul"),  # an empty cell keeps the value
        ("Lee Again", "other@example.com", "+821012345678", "Busan"),
        ("Park", "park@example.com", None, "Incheon"),
    ]
    import_id = done.lines[0].split()[1].rstrip(":")
    undone = xrm("imports", "undo", import_id)
    assert undone.lines == [f"undid import {import_id}: deleted 2 records, restored 1 record"]
    assert _stored(leads, admin) == before


def test_a_block_rule_refuses_the_row_unless_it_is_merged(
    leads: RecordService, registry: Registry, admin: Actor
) -> None:
    registry.apply([lead("block")])
    data = csv_bytes(ROWS)
    flagged = run_import(leads, admin, "lead", "leads.csv", data)
    assert [(n, reason) for n, _cells, reason in flagged.rejects] == [
        (2, "duplicate of 'Kim' (rule 'same email', score 1.0); the rule refuses duplicates"),
        (4, "duplicate of row 3 (rule 'same phone', score 1.0); the rule refuses duplicates"),
        (6, "duplicate of row 5 (rule 'same email', score 1.0); the rule refuses duplicates"),
    ]
    assert flagged.created == 2 and not flagged.flags
    merged = run_import(leads, admin, "lead", "leads.csv", data, duplicates="merge")
    assert merged.rejects == [] and merged.created == 0
    assert [(f.row, f.merged) for f in merged.flags] == [
        (2, True),
        (3, True),
        (4, True),
        (5, True),
        (6, True),
    ]
    assert len(_stored(leads, admin)) == 3


def test_a_key_comes_first_and_a_rerun_changes_nothing(leads: RecordService, admin: Actor) -> None:
    rows = [
        HEADER,
        ["Kim K", "lead7@example.com", "", "Daegu"],  # the key finds Kim: an update, no flag
        ["Choi", "choi@example.com", "02-123-4567", ""],
        ["Choi Jr", "choi.jr@example.com", "+82 2 123 4567", ""],  # row 3's phone: merged
    ]
    data = csv_bytes(rows)
    first = run_import(leads, admin, "lead", "l.csv", data, key="email", duplicates="merge")
    assert (first.created, first.updated, first.rejected) == (1, 2, 0)
    assert [(f.row, f.other_row) for f in first.flags] == [(4, 3)]
    stored = _stored(leads, admin)
    assert stored == [
        ("Choi Jr", "choi.jr@example.com", "+8221234567", None),
        ("Kim K", "lead7@example.com", None, "Daegu"),
    ]
    # Row 4's merge gave row 3's record row 4's e-mail: row 3's key finds no record now, and
    # it merges by phone again; row 4 then puts its values back. Nothing is created twice.
    again = run_import(leads, admin, "lead", "l.csv", data, key="email", duplicates="merge")
    assert (again.created, again.rejected) == (0, 0)
    assert _stored(leads, admin) == stored


def test_rows_of_earlier_batches_and_of_a_crashed_run_are_matched_as_stored(
    xrm: Any, leads: RecordService, admin: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xrm.entities.imports import store

    monkeypatch.setenv("XRM_IMPORT_BATCH_SIZE", "2")
    rows = [HEADER, *([f"P{n}", f"p{n}@example.com", "", ""] for n in range(4))]
    rows += [[f"Again {n}", f" P{n}@EXAMPLE.com", "", ""] for n in range(4)]
    path = _file(tmp_path, rows)
    real = store.advance
    calls: list[int] = []

    def power_cut(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("the power went out")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "advance", power_cut)
    crashed = xrm("import", "lead", str(path), "--duplicates", "skip")
    assert crashed.code == 1
    monkeypatch.setattr(store, "advance", real)
    resumed = xrm("import", "lead", str(path))  # resumes with the options it started with
    assert resumed.code == 0, resumed.err
    assert resumed.lines[0].endswith(": 8 rows: 4 created, 0 updated, 0 unchanged, 4 rejected")
    rejected = Path(resumed.lines[1].removeprefix("rejected rows: "))
    table = list(csv.reader(io.StringIO(rejected.read_text(encoding="utf-8-sig"))))
    assert [r[-1] for r in table[1:]] == [
        f"row {n + 6}: duplicate of 'P{n}' (rule 'same email', score 1.0)" for n in range(4)
    ]
    assert len(_stored(leads, admin)) == 5


EMAILS = ["kim@example.com", " KIM@Example.COM ", "lee@example.kr", "LEE@EXAMPLE.KR", "park@x.co"]
PHONES = ["010-1234-5678", "+82 10 1234 5678", "01012345678", "02-123-4567", "+8221234567"]
HOSTILE = ["", "   ", "not an e-mail", "12", '=HYPERLINK("x")', "'; DROP TABLE e_lead; --", "김"]
cells = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.sampled_from(["Kim", "Lee", "김민수"]), cells),
            st.one_of(st.sampled_from(EMAILS), cells),
            st.one_of(st.sampled_from(PHONES), cells),
        ),
        max_size=12,
    ),
    size=st.integers(1, 4),
)
def test_skip_leaves_no_two_records_alike_and_accounts_for_every_row(
    leads: RecordService, admin: Actor, rows: list[tuple[str, str, str]], size: int
) -> None:
    """Model: rows in order; one the validator refuses is rejected, one whose normalised
    e-mail or phone is already stored (or was taken by an earlier row) is rejected, and the
    rest are stored as they are. Batches of ``size`` rows make no difference."""
    et = leads.registry.current().entity("lead")
    validator = leads.registry.current().validators["lead"]
    before = records(leads, admin, "lead")
    emails = {r["email"] for r in before if r.get("email")}
    phones = {r["phone"] for r in before if r.get("phone")}
    expected: list[tuple[Any, ...]] = []
    refused: set[int] = set()
    for number, row in enumerate(rows, start=2):
        values = {
            name: value
            for name, cell in zip(HEADER, [*row, f"c{number}"], strict=True)
            if (value := cell_value(et.properties[name], cell)) is not None
        }
        clean, faults = validator.for_create(values)
        if faults or clean.get("email") in emails or clean.get("phone") in phones:
            refused.add(number)
            continue
        emails.add(clean.get("email"))
        phones.add(clean.get("phone"))
        expected.append((clean["name"], clean.get("email"), clean.get("phone"), clean["city"]))
    data = csv_bytes([HEADER, *([*row, f"c{n}"] for n, row in enumerate(rows, start=2))])
    importer = Importer(leads, admin)
    importer.settings = dataclasses.replace(leads.settings, import_batch_size=size)
    plan = importer.prepare("leads.csv", data, Options("lead", duplicates="skip"))
    outcome = importer.run(plan)
    assert {n for n, _cells, _reason in outcome.rejects} == refused
    assert all(reason for _n, _cells, reason in outcome.rejects)
    assert outcome.created == len(expected) and outcome.updated == 0
    after = records(leads, admin, "lead")
    assert sorted(
        (r["name"], r.get("email"), r.get("phone"), r.get("city"))
        for r in after
        if r["id"] not in {b["id"] for b in before}
    ) == sorted(expected, key=lambda t: tuple(str(v) for v in t))
    stored_emails = [r["email"] for r in after if r.get("email")]
    stored_phones = [r["phone"] for r in after if r.get("phone")]
    assert len(stored_emails) == len(set(stored_emails))
    assert len(stored_phones) == len(set(stored_phones))


def test_a_record_the_importer_may_not_read_is_matched_but_never_named(
    leads: RecordService, registry: Registry, db: Database
) -> None:
    registry.apply(
        [
            {
                "role": "lead_rep",
                "title": "Lead rep",
                "entities": {"lead": {"read": "own", "create": "all", "update": "own"}},
            }
        ]
    )
    with db.write() as conn:
        rep = create_user(conn, "rep@example.com", ("lead_rep",))
    data = csv_bytes(ROWS[:2])  # Kim's e-mail: Kim belongs to the admin
    skipped = run_import(leads, rep, "lead", "l.csv", data, duplicates="skip")
    assert [r[2] for r in skipped.rejects] == [
        "duplicate of a record you cannot see (rule 'same email', score 1.0)"
    ]
    merged = run_import(leads, rep, "lead", "l.csv", data, duplicates="merge")
    assert [r[2] for r in merged.rejects] == [
        "duplicate of a record you cannot see (rule 'same email', score 1.0)"
    ]
    flagged = run_import(leads, rep, "lead", "l.csv", data)
    assert flagged.created == 1
    assert [(f.record, f.name) for f in flagged.flags] == [(None, None)]


def test_a_fuzzy_rule_matches_a_batch_by_prefix_ranges_in_one_go(
    leads: RecordService, registry: Registry, admin: Actor
) -> None:
    similar = lead()
    similar["x-xrm"]["duplicates"] = [
        {"name": "similar name", "match": [{"field": "name", "fuzzy": 0.85}], "action": "warn"}
    ]
    registry.apply([similar])
    with leads.session(admin) as session:
        session.create("lead", {"name": "Samsung Electronics"})
    rows = [["name"], ["Samsung Electronic"], ["Hanbit Media"], ["Hanbit Medias"], ["Kakao"]]
    done = run_import(leads, admin, "lead", "l.csv", csv_bytes(rows))
    assert done.created == 4
    assert [(f.row, f.name, f.other_row, f.score) for f in done.flags] == [
        (2, "Samsung Electronics", None, 0.973),
        (4, None, 3, 0.96),
    ]


def test_a_choice_for_a_type_without_rules_is_pointed_out(
    xrm: Any, leads: RecordService, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(csv_bytes([["name"], ["Acme"], ["Acme"]]))
    done = xrm("import", "customer", str(path), "--duplicates", "skip")
    assert done.code == 0
    assert (
        "customer has no duplicate rules (x-xrm.duplicates): --duplicates skip changes nothing"
        in done.err
    )
    assert done.lines[0].endswith(": 2 rows: 2 created, 0 updated, 0 unchanged, 0 rejected")


def test_a_row_whose_original_is_rejected_is_created_in_its_place(
    leads: RecordService, admin: Actor
) -> None:
    rows = [HEADER, ["", "new@example.com", "", ""], ["New", " NEW@example.com", "", "Ulsan"]]
    done = run_import(leads, admin, "lead", "l.csv", csv_bytes(rows), duplicates="merge")
    assert [(n, reason) for n, _cells, reason in done.rejects] == [(2, "name: is required")]
    assert (done.created, done.flags) == (1, [])
    assert ("New", "new@example.com", None, "Ulsan") in _stored(leads, admin)
