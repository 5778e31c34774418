"""Record validation: formats normalise, limits hold, nulls follow the contract."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from xrm.errors import DefinitionError
from xrm.schemas import formats
from xrm.schemas.parse import parse_entity_type
from xrm.schemas.validate import RecordValidator

PROPERTIES: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 20},
    "email": {"type": "string", "format": "email"},
    "phone": {"type": "string", "format": "phone"},
    "since": {"type": "string", "format": "date"},
    "seen_at": {"type": "string", "format": "date-time"},
    "revenue": {"type": "string", "format": "decimal", "minimum": 0},
    "big": {"type": "integer", "format": "int64"},
    "count": {"type": "integer", "minimum": 1, "maximum": 10},
    "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "tier": {"type": "string", "enum": ["standard", "gold", "vip"], "default": "standard"},
    "code": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[A-Z]+$"},
    "country": {"type": "string", "pattern": "^[A-Z]{2}$", "default": "KR"},
    "active": {"type": "boolean", "default": True},
    "website": {"type": "string", "format": "uri"},
    "key": {"type": "string", "format": "uuid"},
    "tags": {
        "type": "array",
        "items": {"type": "string", "maxLength": 5},
        "maxItems": 3,
        "uniqueItems": True,
    },
    "extra": {"type": "object"},
}


def validator(region: str = "KR", **overrides: Any) -> RecordValidator:
    definition = {
        "type": "object",
        "x-xrm": {"name": "sample", "plural": "samples"},
        "properties": {**PROPERTIES, **overrides},
        "required": ["name"],
    }
    return RecordValidator(parse_entity_type(definition).properties, region)


V = validator()


def create(**values: Any) -> dict[str, Any]:
    """The clean values of a valid create (``name`` supplied unless given)."""
    clean, faults = V.for_create({"name": "Acme", **values})
    assert faults == [], faults
    return clean


def fault(**values: Any) -> dict[str, str]:
    """The faults of a refused create, as {field: message}."""
    _clean, faults = V.for_create({"name": "Acme", **values})
    assert faults, "expected a validation fault"
    return {f.field: f.message for f in faults}


# --- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("USER@BÜCHER.de", "user@bücher.de"),
        ("홍길동@예시.한국", "홍길동@예시.한국"),
        ("José@Ejemplo.ES", "josé@ejemplo.es"),
    ],
)
def test_email_is_trimmed_and_lowercased(raw: str, stored: str) -> None:
    assert create(email=raw)["email"] == stored


@pytest.mark.parametrize("raw", ["no-at-sign", "two@@example.com", "a@", "a b@example.com"])
def test_bad_email_is_a_fault_naming_the_field(raw: str) -> None:
    faults = fault(email=raw)
    assert list(faults) == ["email"]
    assert "is not an e-mail address" in faults["email"]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("010-1234-5678", "+821012345678"),
        ("01012345678", "+821012345678"),
        (" 02-123-4567 ", "+8221234567"),
        ("+82 10 1234 5678", "+821012345678"),
        ("+1 (650) 253-0000", "+16502530000"),
    ],
)
def test_phone_becomes_e164_with_korea_as_default_region(raw: str, stored: str) -> None:
    assert create(phone=raw)["phone"] == stored


def test_phone_default_region_is_configurable() -> None:
    clean, faults = validator("US").for_create({"name": "Acme", "phone": "(650) 253-0000"})
    assert faults == []
    assert clean["phone"] == "+16502530000"


@pytest.mark.parametrize("raw", ["hello", "123", "+82", "010-1234-5678-9999-0000"])
def test_unparsable_phone_is_a_fault_naming_the_field(raw: str) -> None:
    faults = fault(phone=raw)
    assert list(faults) == ["phone"]
    assert repr(raw.strip()) in faults["phone"]


def test_date() -> None:
    assert create(since="2024-02-29")["since"] == dt.date(2024, 2, 29)
    assert create(since=dt.date(2020, 1, 2))["since"] == dt.date(2020, 1, 2)
    for bad in ("2023-02-29", "29/02/2024", "tomorrow"):
        assert "is not a date" in fault(since=bad)["since"]


def test_date_time_is_stored_in_utc() -> None:
    seoul = create(seen_at="2024-03-01T09:00:00+09:00")["seen_at"]
    assert seoul == dt.datetime(2024, 3, 1, 0, 0, tzinfo=dt.UTC)
    assert seoul.utcoffset() == dt.timedelta(0)
    assert create(seen_at="2024-03-01T09:00:00Z")["seen_at"] == dt.datetime(
        2024, 3, 1, 9, tzinfo=dt.UTC
    )
    # Without an offset, a date-time is taken as UTC.
    naive = create(seen_at="2024-03-01T09:00:00")["seen_at"]
    assert naive == dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC)
    assert "ISO 8601" in fault(seen_at="yesterday at noon")["seen_at"]


def test_decimal_is_exact() -> None:
    exact = create(revenue="12345678901234567890.12345678")["revenue"]
    assert exact == Decimal("12345678901234567890.12345678")
    assert str(exact) == "12345678901234567890.12345678"
    assert create(revenue=0.1)["revenue"] == Decimal("0.1")
    assert create(revenue=42)["revenue"] == Decimal(42)
    assert create(revenue=" 1,234.50 ")["revenue"] == Decimal("1234.50")
    assert "is not a decimal number" in fault(revenue="12abc")["revenue"]
    assert "finite" in fault(revenue="NaN")["revenue"]
    assert "at least 0" in fault(revenue="-0.000000001")["revenue"]


def test_int64_bounds() -> None:
    top, bottom = 2**63 - 1, -(2**63)
    assert create(big=top)["big"] == top
    assert create(big=str(bottom))["big"] == bottom
    assert create(big="9007199254740993")["big"] == 9007199254740993  # beyond a double
    assert "does not fit in 64 bits" in fault(big=top + 1)["big"]
    assert "does not fit in 64 bits" in fault(big=bottom - 1)["big"]


def test_integer_is_32_bits() -> None:
    v = validator(count={"type": "integer"})
    top, bottom = 2**31 - 1, -(2**31)
    for ok in (top, bottom, "17", 3.0):
        clean, faults = v.for_create({"name": "x", "count": ok})
        assert faults == []
        assert clean["count"] == int(ok)
    for bad, words in (
        (top + 1, "does not fit in 32 bits"),
        (bottom - 1, "does not fit in 32 bits"),
        (1.5, "is not an integer"),
        ("1.5", "is not an integer"),
        (True, "boolean"),
    ):
        _clean, faults = v.for_create({"name": "x", "count": bad})
        assert [f.field for f in faults] == ["count"]
        assert words in faults[0].message


def test_number_and_boolean() -> None:
    assert create(ratio="0.5")["ratio"] == 0.5
    assert "greater than 0" in fault(ratio=0)["ratio"]
    assert "less than 1" in fault(ratio=1)["ratio"]
    assert create(active="yes")["active"] is True
    assert create(active=0)["active"] is False
    assert "true or false" in fault(active="maybe")["active"]


def test_uri_and_uuid() -> None:
    assert create(website=" https://example.com/a ")["website"] == "https://example.com/a"
    assert "absolute URI" in fault(website="example.com")["website"]
    key = "550E8400-E29B-41D4-A716-446655440000"
    assert create(key=key)["key"] == key.lower()
    assert "is not a UUID" in fault(key="550e8400")["key"]


def test_enum() -> None:
    assert create(tier="gold")["tier"] == "gold"
    assert create(tier=" vip ")["tier"] == "vip"
    assert fault(tier="platinum") == {"tier": "'platinum' is not one of: standard, gold, vip"}
    assert "is not one of" in fault(tier="Gold")["tier"]


def test_minimum_and_maximum() -> None:
    assert create(count=1)["count"] == 1
    assert create(count=10)["count"] == 10
    assert fault(count=0) == {"count": "must be at least 1"}
    assert fault(count=11) == {"count": "must be at most 10"}


def test_min_length_max_length_and_pattern() -> None:
    assert create(code=" AB ")["code"] == "AB"
    assert fault(code="A") == {"code": "must be at least 2 characters long"}
    assert fault(code="ABCDE") == {"code": "must be at most 4 characters long (is 5)"}
    assert fault(code="ab") == {"code": "'ab' does not match the pattern ^[A-Z]+$"}
    # Lengths count characters, not bytes.
    v = validator(name={"type": "string", "maxLength": 3})
    assert v.for_create({"name": "홍길동"})[1] == []
    assert [f.field for f in v.for_create({"name": "홍길동님"})[1]] == ["name"]


def test_text_is_trimmed() -> None:
    assert create(name="  Acme Corp \n")["name"] == "Acme Corp"
    assert "expected text" in fault(name=12)["name"]


def test_arrays_of_strings() -> None:
    assert create(tags=[" a ", "b"])["tags"] == ["a", "b"]
    assert fault(tags=["a", "a"]) == {"tags": "items must be unique"}
    assert fault(tags=["a", "b", "c", "d"]) == {"tags": "takes at most 3 items"}
    assert fault(tags=["toolong"]) == {"tags": "item 0: must be at most 5 characters long (is 7)"}
    assert fault(tags="a") == {"tags": "expected a list of strings"}


def test_objects() -> None:
    assert create(extra={"a": [1, 2]})["extra"] == {"a": [1, 2]}
    assert fault(extra=[1]) == {"extra": "expected a JSON object"}


# --- defaults and nulls --------------------------------------------------------------------------


def test_defaults_fill_what_is_missing() -> None:
    clean = create()
    assert clean == {"name": "Acme", "tier": "standard", "country": "KR", "active": True}


def test_given_values_win_over_defaults() -> None:
    clean = create(tier="vip", country="US", active=False)
    assert (clean["tier"], clean["country"], clean["active"]) == ("vip", "US", False)


def test_null_on_create_is_the_same_as_absent() -> None:
    clean = create(tier=None, country=None, email=None)
    assert clean["tier"] == "standard"
    assert clean["country"] == "KR"
    assert clean.get("email") is None


def test_blank_text_on_create_is_the_same_as_absent() -> None:
    # An empty form input or CSV cell: no value, whatever the field's rules.
    clean = create(tier="", country="  ", email="", phone=" ", code="", since="", count="")
    assert clean["tier"] == "standard"
    assert clean["country"] == "KR"
    for name in ("email", "phone", "code", "since", "count"):
        assert clean[name] is None


def test_null_for_a_required_property_is_an_error() -> None:
    for value in (None, "", "   "):
        _clean, faults = V.for_create({"name": value})
        assert [(f.field, f.message) for f in faults] == [("name", "is required")]
    _clean, faults = V.for_create({})
    assert [(f.field, f.message) for f in faults] == [("name", "is required")]


def test_null_in_a_patch_clears_and_defaults_do_not_apply() -> None:
    clean, faults = V.for_patch({"tier": None, "email": None, "phone": ""})
    assert faults == []
    assert clean == {"tier": None, "email": None, "phone": None}


def test_a_patch_holds_only_what_it_names() -> None:
    clean, faults = V.for_patch({"email": " A@B.CO "})
    assert faults == []
    assert clean == {"email": "a@b.co"}


def test_null_in_a_patch_for_a_required_property_is_an_error() -> None:
    for value in (None, " "):
        _clean, faults = V.for_patch({"name": value})
        assert [(f.field, f.message) for f in faults] == [
            ("name", "is required and cannot be cleared")
        ]


def test_unknown_fields_are_faults() -> None:
    assert fault(nickname="x") == {"nickname": "unknown field"}
    _clean, faults = V.for_patch({"id": "x"})
    assert [f.field for f in faults] == ["id"]


# --- every fault at once -------------------------------------------------------------------------


def test_every_failing_field_is_reported_at_once() -> None:
    _clean, faults = V.for_create(
        {
            "email": "nope",
            "phone": "hello",
            "since": "2024-13-01",
            "big": 2**64,
            "count": 0,
            "tier": "platinum",
            "code": "x",
            "unknown": 1,
        }
    )
    assert [f.field for f in faults] == [
        "email",
        "phone",
        "since",
        "big",
        "count",
        "tier",
        "code",
        "unknown",
        "name",
    ]


def test_a_bulk_prefix_names_each_input() -> None:
    _clean, faults = V.for_create({"email": "nope"}, prefix="inputs.3.")
    assert [f.field for f in faults] == ["inputs.3.email", "inputs.3.name"]
    _clean, faults = V.for_patch({"name": None}, prefix="inputs.0.")
    assert [f.field for f in faults] == ["inputs.0.name"]


# --- defaults are checked when the definition is parsed -----------------------------------------


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "string", "enum": ["a", "b"], "default": "c"}, "is not one of"),
        ({"type": "integer", "default": "many"}, "is not an integer"),
        ({"type": "string", "maxLength": 2, "default": "abc"}, "at most 2"),
        ({"type": "string", "format": "email", "default": "nobody"}, "e-mail"),
        ({"type": "string", "default": None}, "null is not a default"),
    ],
)
def test_a_default_the_property_refuses_is_a_bad_definition(
    schema: dict[str, Any], words: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_entity_type(
            {
                "type": "object",
                "x-xrm": {"name": "sample", "plural": "samples"},
                "properties": {"field": schema},
            }
        )
    [only] = caught.value.faults
    assert only.field == "properties.field.default"
    assert words in only.message


def test_normalise_one_value_for_filters_and_imports() -> None:
    assert V.normalise("email", " X@Y.Z ") == "x@y.z"
    with pytest.raises(ValueError, match="not a phone number"):
        V.normalise("phone", "nope")


def test_json_value_spells_stored_values_for_json() -> None:
    assert formats.json_value(Decimal("1.10")) == "1.10"
    assert formats.json_value(dt.date(2024, 1, 2)) == "2024-01-02"
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert formats.json_value(when) == "2024-01-02T03:04:05+00:00"
    assert formats.json_value(3) == 3
