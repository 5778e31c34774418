"""Hostile definitions are BAD_DEFINITION at their JSON path, never an internal error.

The pure checks: ``xrm.schemas.admission`` (plain JSON, depth, limits) and the
pattern rule of ``xrm.schemas.parse``. tests/entities/test_definition_admission.py
sends the same definitions through the registry on a real database.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_parse import entity, faults_of

from xrm.errors import DefinitionError
from xrm.schemas.admission import MAX_DEPTH, MAX_PROPERTIES, admission_faults, admit


def faults(definition: Any) -> dict[str, str]:
    with pytest.raises(DefinitionError) as caught:
        admit(definition)
    assert caught.value.code == "BAD_DEFINITION"
    return {f.field: f.message for f in caught.value.faults}


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("text", "spelled"),
    [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "Infinity"), ("1e999", "Infinity")],
)
@pytest.mark.parametrize(
    ("template", "path"),
    [
        ('{"properties": {"n": {"type": "number", "minimum": %s}}}', "properties.n.minimum"),
        ('{"properties": {"n": {"type": "number", "default": %s}}}', "properties.n.default"),
        ('{"x-xrm": {"label": {"en": %s}}}', "x-xrm.label.en"),
        (
            '{"properties": {"o": {"type": "object", "default": {"k": [1, %s]}}}}',
            "properties.o.default.k.1",
        ),
        ('{"anything": %s}', "anything"),
    ],
)
def test_nan_and_infinity_anywhere_are_refused_at_their_path(
    text: str, spelled: str, template: str, path: str
) -> None:
    definition = json.loads(template % text)  # Python's JSON parser reads all of these
    found = faults(definition)
    assert list(found) == [path]
    assert found[path].startswith(spelled) and "is not a JSON number" in found[path]


def test_every_non_finite_number_is_listed_at_once() -> None:
    definition = json.loads('{"a": NaN, "b": [Infinity], "c": {"d": -Infinity}}')
    assert set(faults(definition)) == {"a", "b.0", "c.d"}


def test_finite_numbers_and_ordinary_values_pass() -> None:
    assert admission_faults(entity(properties={"n": {"type": "number", "minimum": 1e308}})) == []


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 5000, 50_000])
def test_nesting_beyond_the_limit_is_refused_once_without_recursion(depth: int) -> None:
    found = faults({"properties": {"o": {"type": "object", "default": nested(depth)}}})
    assert list(found) == ["properties.o.default.a.…"]
    assert found["properties.o.default.a.…"] == f"nested more than {MAX_DEPTH} levels deep"


def test_nesting_up_to_the_limit_passes() -> None:
    # The definition itself, then properties.o.default: 3 levels above the value.
    assert admission_faults({"properties": {"o": {"default": nested(MAX_DEPTH - 3)}}}) == []
    assert admission_faults({"properties": {"o": {"default": nested(MAX_DEPTH - 2)}}}) != []


def test_keys_that_are_not_text_are_refused() -> None:
    assert faults({"properties": {1: {"type": "string"}}}) == {
        "properties": "the key 1 is not text"
    }


def test_values_that_are_not_json_are_refused() -> None:
    assert faults({"x-xrm": {"label": {"en": {1, 2}}}}) == {
        "x-xrm.label.en": "a set is not a JSON value"
    }


def test_more_properties_than_the_limit_are_refused() -> None:
    many = {f"p{i}": {"type": "string"} for i in range(MAX_PROPERTIES + 1)}
    limit = f"a definition holds at most {MAX_PROPERTIES}"
    assert faults(entity(properties=many)) == {
        "properties": f"{MAX_PROPERTIES + 1} properties; {limit}"
    }
    del many["p0"]
    assert admission_faults(entity(properties=many)) == []


@pytest.mark.parametrize(
    ("unique", "path", "first"),
    [
        ([["code"], ["code"]], "x-xrm.unique.1", 0),
        ([["a", "b"], ["code"], ["b", "a"]], "x-xrm.unique.2", 0),
    ],
)
def test_the_same_unique_set_twice_is_refused(
    unique: list[list[str]], path: str, first: int
) -> None:
    props = {n: {"type": "string"} for n in ("a", "b", "code")}
    assert faults(entity(properties=props, unique=unique)) == {
        path: f"the same unique set as x-xrm.unique.{first}"
    }


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("a{99999999999}", "a repetition count is too large"),
        ("a{1,4294967296}", "a repetition count is too large"),
        ("(" * 2000 + ")" * 2000, "it nests too deeply"),
        ("([", "not a valid regular expression"),
    ],
)
def test_patterns_python_cannot_compile_are_refused(pattern: str, problem: str) -> None:
    for prop in (
        {"type": "string", "pattern": pattern},
        {"type": "array", "items": {"type": "string", "pattern": pattern}},
    ):
        found = faults_of(entity(properties={"code": prop}))
        where = "properties.code.pattern" if "pattern" in prop else "properties.code.items.pattern"
        assert list(found) == [where]
        assert problem in found[where]
