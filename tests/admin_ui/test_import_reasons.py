"""An import's rejection reasons are said in the user's language (Korean here), never in English.

The importer writes one English line per rejected row (the CLI's words). The
wizard and the rejected-rows file it offers say it again through the admin UI's
message layer: each fault's field by its Korean label, its problem in Korean.
The property runs real dry-run imports of sensible and hostile files on the
test database and checks every reason they produce: said in full (no part left
to the "not accepted" fallback), not empty, and with no English word in it
that the row's own cells or the Korean catalog do not hold.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xrm.admin_ui
from xrm.admin_ui import i18n
from xrm.admin_ui.imports import reason_labels
from xrm.admin_ui.messages import file_problem, import_reason
from xrm.entities.imports import BadFile, BadImport
from xrm.entities.imports.run import Importer, Options
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_user, first_admin

PO = Path(xrm.admin_ui.__file__).parent / "locale" / "ko" / "LC_MESSAGES" / "messages.po"
CLERK = {
    "role": "clerk",
    "title": "Clerk",
    "entities": {
        "customer": {
            "read": "own",
            "create": "all",
            "update": "own",
            "fields": {"tier": "read_only"},
        },
        "partner": {"read": "all"},
    },
}
COLUMNS = ["name", "email", "tier", "phone", "revenue", "since", "partner", "employee_count", "id"]
CELLS = [
    "",
    " ",
    "Acme",
    "Twin",
    "a@b.co",
    "taken@x.com",
    "not mail",
    "gold",
    "VIP",
    "골드",
    "02-312-3456",
    "12",
    "1e400",
    "9" * 40,
    "2026-02-30",
    "2026-01-31",
    "Same",
    "Nobody",
    "x; email: y",
    "<b>&",
    'it\'s "quoted"',
    "n" * 201,
    "01a24c73-c5e5-72fd-864b-0dc95c69e147",
]


def _korean() -> tuple[Any, set[str]]:
    i18n.translations.cache_clear()
    gettext = i18n.translations("ko").gettext
    with PO.open("rb") as source:
        catalog = read_po(source, locale="ko")
    words = {w for m in catalog if m.id for w in re.findall(r"[A-Za-z]+", str(m.string))}
    return gettext, words


KO, CATALOG_WORDS = _korean()


def english_left(text: str, cells: list[Any]) -> list[str]:
    """ASCII words of ``text`` that neither the row's cells nor the Korean catalog hold."""
    quoted = [*map(str, cells), *map(repr, cells)]  # the importer quotes a cell as repr() does
    own = {w.lower() for c in quoted for w in re.findall(r"[A-Za-z]+", c)}
    allowed = own | {w.lower() for w in CATALOG_WORDS}
    return [w for w in re.findall(r"[A-Za-z]+", text) if w.lower() not in allowed]


@pytest.fixture
def people(catalog_service: RecordService, db: Database, registry: Registry) -> dict[str, Actor]:
    registry.apply([CLERK])
    with db.write() as conn:
        admin = first_admin(conn)
        clerk = create_user(conn, "clerk@example.com", ("clerk",))
    with catalog_service.session(admin) as records:
        records.create_many(
            "customer",
            [{"name": "Twin"}, {"name": "Twin"}, {"name": "Taken", "email": "taken@x.com"}],
        )
        records.create_many("partner", [{"name": "Same"}, {"name": "Same"}, {"name": "Solo"}])
    return {"admin": admin, "clerk": clerk}


def rejects_of(service: RecordService, actor: Actor, rows: list[list[str]], key: str | None) -> Any:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerows([COLUMNS, *rows])
    importer = Importer(service, actor)
    plan = importer.prepare("f.csv", out.getvalue().encode(), Options("customer", key=key))
    return importer.run(plan, dry_run=True).rejects


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.lists(st.sampled_from(CELLS) | st.text(max_size=8), min_size=1, max_size=11),
        min_size=1,
        max_size=4,
    ),
    key=st.sampled_from([None, "email", "name", "id"]),
    who=st.sampled_from(["admin", "clerk"]),
)
def test_every_reason_an_import_gives_is_said_in_korean(
    catalog_service: RecordService,
    people: dict[str, Actor],
    rows: list[list[str]],
    key: str | None,
    who: str,
) -> None:
    # A file with control characters is refused whole (not a row's reason): printable cells only.
    rows = [["".join(ch for ch in c if ch.isprintable()) for c in r] for r in rows]
    et = catalog_service.registry.current().entity("customer")
    labels = reason_labels(et, "ko", KO)
    for _number, cells, reason in rejects_of(catalog_service, people[who], rows, key):
        said = import_reason(reason, labels, KO)
        assert said.translated, reason
        assert said.text.strip(), reason
        assert english_left(said.text, cells) == [], (reason, said.text)


# Shapes the property's files rarely reach: each English line the importer writes, in Korean.
SHAPES = {
    "the row has 5 cells but the header names 3 columns": "이 행에는 칸이 5개 있지만",
    "the row cannot be read": "이 행을 읽을 수 없습니다.",
    "email: the key is empty": "이메일: 저장된 레코드와 맞춰 보는 필드인데 비어 있습니다.",
    "partner: no partner is 'Nobody' (matched by id, by name and by each unique field)": (
        "파트너: Nobody인 레코드가 없습니다"
    ),
    "partner: 2 partner records match 'Same'; use the id or a unique field": (
        "파트너: Same에 해당하는 레코드가 2개입니다."
    ),
    "name: 2 records have this name; the key must pick one record": (
        "이 값을 가진 저장된 레코드가 2개"
    ),
    "id: no customer with this id": "레코드 ID: 이 ID를 가진 레코드가 없습니다.",
    "rejected by a rule: VIPs need a phone": "규칙이 이 행을 거부했습니다: VIPs need a phone",
    "clerk@example.com may not write customer.tier": "등급",
    "clerk@example.com may only update their own customer records": "자신의 레코드만",
    "clerk@example.com may not assign customer records to other users": "다른 사용자에게",
    "clerk@example.com may not create customer records": "권한이 없습니다",
    "email: x; email: y is not an e-mail address; tier: 'VIP' is not one of: standard, gold, vip": (
        "이메일: x; email: y은(는) 이메일 주소가 아닙니다."
    ),
}


@pytest.mark.parametrize("reason", list(SHAPES))
def test_each_shape_of_reason_reads_in_korean(catalog_service: RecordService, reason: str) -> None:
    et = catalog_service.registry.current().entity("customer")
    said = import_reason(reason, reason_labels(et, "ko", KO), KO)
    assert said.translated, reason
    assert SHAPES[reason] in said.text, said.text
    cells = ["Nobody", "Same", "VIPs need a phone", "x; email: y", "VIP"]
    assert english_left(said.text, cells) == [], said.text


# --- why a whole file is refused ----------------------------------------------------------------


def korean_labels(service: RecordService) -> dict[str, str]:
    return reason_labels(service.registry.current().entity("customer"), "ko", KO)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.one_of(
        st.binary(max_size=60),
        st.sampled_from(
            [
                b"",
                b"\n\n",
                b"PK\x03\x04zip",
                b"\xef\xbb\xbfname\n\xff\xfe",
                "나이,별명\n1,2\n".encode("utf-16-le"),
                b"nothing,matches\n1,2\n",
                b"name,Name\nA,B\n",
                b'name,email\n"unclosed,x\n',
            ]
        ),
        st.text(max_size=40).map(lambda t: ("name," + t).encode("utf-8")),
    ),
    file_name=st.sampled_from(["f.csv", "f.xlsx", "이름 있는 파일.csv"]),
    mapping=st.sampled_from([None, {"name": "email", "Name": "email"}]),
    key=st.sampled_from([None, "email"]),
)
def test_every_reason_a_file_is_refused_for_is_said_in_korean(
    catalog_service: RecordService,
    people: dict[str, Actor],
    data: bytes,
    file_name: str,
    mapping: dict[str, str] | None,
    key: str | None,
) -> None:
    importer = Importer(catalog_service, people["admin"])
    try:
        importer.prepare(file_name, data, Options("customer", mapping, key))
    except (BadFile, BadImport) as exc:
        said = file_problem(str(exc), korean_labels(catalog_service), KO)
        assert said.translated, str(exc)
        assert re.search("[가-힣]", said.text), said.text
        assert "--" not in said.text  # no command-line option offered to a business admin
        assert english_left(said.text, [file_name, *data.decode("utf-8", "replace").split()]) == []


FILE_SHAPES = {
    "f.csv is larger than 20 MB (XRM_IMPORT_MAX_FILE_MB)": "파일이 20MB보다 큽니다.",
    "columns 'E-mail' and 'mail' both fill the field email; leave one out with --map mail=": (
        "E-mail 열과 mail 열이 모두 이메일 필드를 채웁니다."
    ),
    "--key email: no column of the file fills email; map one with --map COLUMN=email": (
        "저장된 레코드와 맞춰 볼 필드 이메일을(를) 채우는 열이 없습니다."
    ),
    "f.xlsx unpacks to more than 20 MB (XRM_IMPORT_MAX_FILE_MB); refusing it": "20MB를 넘습니다",
    "f.xlsx: the sheet cannot be read (KeyError)": "첫 시트를 읽을 수 없습니다.",
    "f.csv, line 3: field larger than field limit (131072)": "3번째 줄을 CSV로 읽을 수 없습니다.",
}


@pytest.mark.parametrize("problem", list(FILE_SHAPES))
def test_each_shape_of_file_problem_reads_in_korean(
    catalog_service: RecordService, problem: str
) -> None:
    said = file_problem(problem, korean_labels(catalog_service), KO)
    assert said.translated and FILE_SHAPES[problem] in said.text, said.text


# --- rows left out as duplicates ---------------------------------------------------------------

LEAD = {
    "type": "object",
    "x-xrm": {
        "name": "lead",
        "plural": "leads",
        "label": {"en": "Lead", "ko": "잠재 고객"},
        "display": "name",
        "duplicates": [
            {
                "name": "same email",
                "label": {"en": "Same e-mail", "ko": "같은 이메일"},
                "match": [{"field": "email"}],
                "action": "block",
            },
            {
                "name": "similar name",
                "label": {"en": "Similar name", "ko": "비슷한 이름"},
                "match": [{"field": "name", "fuzzy": 0.85}],
                "action": "warn",
            },
        ],
    },
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "email": {"type": "string", "format": "email"},
    },
    "required": ["name"],
}
LEAD_CELLS = ["", "Acme Corp", "Acme Corp.", "Bolt", "a@x.com", "b@x.com", "not mail", "'quoted'"]


@pytest.fixture
def leads(catalog_service: RecordService, registry: Registry, people: dict[str, Actor]) -> None:
    registry.apply([LEAD])
    with catalog_service.session(people["admin"]) as records:
        records.create_many("lead", [{"name": "Acme Corp", "email": "a@x.com"}])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(LEAD_CELLS), st.sampled_from(LEAD_CELLS)), min_size=1, max_size=4
    ),
    mode=st.sampled_from(["flag", "skip", "merge"]),
)
def test_a_row_left_out_as_a_duplicate_says_so_in_korean_by_the_rules_label(
    catalog_service: RecordService,
    people: dict[str, Actor],
    leads: None,
    rows: list[tuple[str, str]],
    mode: str,
) -> None:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerows([("name", "email"), *rows])
    importer = Importer(catalog_service, people["admin"])
    plan = importer.prepare("l.csv", out.getvalue().encode(), Options("lead", duplicates=mode))
    et = catalog_service.registry.current().entity("lead")
    rules = {"same email": "같은 이메일", "similar name": "비슷한 이름"}
    for _number, cells, reason in importer.run(plan, dry_run=True).rejects:
        said = import_reason(reason, reason_labels(et, "ko", KO), KO, rules)
        assert said.translated, reason
        stored = ["Acme Corp"]  # a duplicate's reason names the stored record it is like
        assert english_left(said.text, [*cells, *stored]) == [], (reason, said.text)
        if reason.startswith("duplicate of"):
            assert "중복으로 보입니다" in said.text and "(규칙: " in said.text, said.text
            assert "same email" not in said.text and "similar name" not in said.text


@pytest.mark.parametrize(
    ("reason", "korean"),
    [
        (
            "duplicate of row 3 (rule 'similar name', score 0.9)",
            "파일의 3행와(과) 중복으로 보입니다(규칙: 비슷한 이름).",
        ),
        (
            "duplicate of a record you cannot see (rule 'same email', score 1.0); "
            "the rule refuses duplicates",
            "볼 수 없는 레코드와(과) 중복으로 보입니다(규칙: 같은 이메일). "
            "이 규칙은 중복을 허용하지 않습니다.",
        ),
        (
            "duplicate of record 01a24c73-c5e5-72fd-864b-0dc95c69e147 (rule 'same email', "
            "score 1.0)",
            "중복으로 보입니다(규칙: 같은 이메일).",
        ),
    ],
)
def test_each_shape_of_duplicate_reads_in_korean_without_ids(reason: str, korean: str) -> None:
    rules = {"same email": "같은 이메일", "similar name": "비슷한 이름"}
    said = import_reason(reason, {"name": "이름"}, KO, rules)
    assert said.translated and korean in said.text, said.text
    assert "01a24c73" not in said.text
