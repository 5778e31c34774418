"""The designer's form and the definition are two views of one thing: nothing is lost between them.

A definition shown as the form and posted back unchanged is the same
definition (the built-in catalog's types, and any the form can express);
hostile form input is refused by input name, never with an exception.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from xrm.admin_ui import type_form as tf
from xrm.entities.catalog import definitions
from xrm.schemas.parse import parse_entity_type


def same(_: str) -> str:
    return _


def round_trip(definition: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    posted = tf.state_of(definition).inputs()
    return tf.definition_of(tf.state_from(posted), same)


def test_every_built_in_type_survives_the_form_unchanged() -> None:
    for definition in definitions():
        if "x-xrm" not in definition:
            continue
        back, errors = round_trip(definition)
        assert errors == {}
        assert back == definition
        assert list(back["properties"]) == list(definition["properties"])


names = st.from_regex(r"[a-z][a-z0-9]{0,7}(_[a-z0-9]{1,4})?", fullmatch=True)
words = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12)
    .map(str.strip)
    .filter(bool)
)
plain_words = words.filter(lambda w: "|" not in w)
labels = st.fixed_dictionaries({}, optional={"en": words, "ko": words, "ja": words})
numbers = st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False))


@st.composite
def property_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """A property schema of any kind, with the options the form offers and some it keeps."""
    kind = draw(st.sampled_from(tf.KINDS))
    schema: dict[str, Any] = dict(tf._BASE[kind])
    if kind in tf.NUMBER_KINDS:
        for key in ("minimum", "maximum"):
            if draw(st.booleans()):
                schema[key] = draw(numbers)
    if kind in tf.LENGTH_KINDS and draw(st.booleans()):
        schema["maxLength"] = draw(st.integers(0, 500))
    if kind in tf.PATTERN_KINDS and draw(st.booleans()):
        schema["pattern"] = draw(st.sampled_from(["^[A-Z]{2}$", "x|y", "[0-9]+"]))
    if kind == "enum":
        values = draw(st.lists(plain_words, min_size=1, max_size=4, unique=True))
        schema["enum"] = values
        chosen = draw(st.lists(st.sampled_from(values), unique=True))
        if chosen:
            schema["x-xrm-enumLabels"] = {
                v: draw(st.fixed_dictionaries({"en": plain_words}, optional={"ko": plain_words}))
                for v in chosen
            }
        if draw(st.booleans()):
            schema["default"] = values[0]
    if kind in ("integer", "int64") and draw(st.booleans()):
        schema["default"] = draw(st.integers(-1000, 1000))
    if kind == "boolean" and draw(st.booleans()):
        schema["default"] = draw(st.booleans())
    if kind == "text" and draw(st.booleans()):
        schema["default"] = draw(words)
    if kind == "list" and draw(st.booleans()):
        schema["items"] = {"type": "string", "enum": ["a", "b"]}
    if kind == "reference":
        ref: dict[str, Any] = {"entity": draw(names)}
        if draw(st.booleans()):
            ref["onDelete"] = draw(st.sampled_from(tf.ON_DELETE))
        if draw(st.booleans()):
            ref["inverse"] = draw(names)
        if draw(st.booleans()):
            ref["label"] = {"en": "Owner"}
        schema["x-xrm-ref"] = ref
    if kind == "autonumber":
        schema["x-xrm-autonumber"] = "N-{seq:4}"
    if draw(st.booleans()):
        schema["x-xrm-label"] = draw(labels.filter(bool))
    if draw(st.booleans()):
        schema["description"] = draw(words)
    return schema


@st.composite
def entity_types(draw: st.DrawFn) -> dict[str, Any]:
    """An entity type the form can express: any kinds, required and unique fields in order."""
    props = draw(st.dictionaries(names, property_schemas(), min_size=1, max_size=5))
    order = list(props)
    meta: dict[str, Any] = {"name": draw(names), "plural": draw(names)}
    if draw(st.booleans()):
        meta["label"] = draw(labels.filter(bool))
    if draw(st.booleans()):
        meta["display"] = order[0]
    singles = [[n] for n in order if draw(st.booleans())]
    multis = [order[:2]] if len(order) > 1 and draw(st.booleans()) else []
    if singles or multis:
        meta["unique"] = singles + multis
    if len(order) > 1 and draw(st.booleans()):
        meta["indexes"] = [order[1:]]
    definition: dict[str, Any] = {"type": "object", "x-xrm": meta, "properties": props}
    required = [n for n in order if draw(st.booleans())]
    if required:
        definition["required"] = required
    if draw(st.booleans()):
        definition["title"] = draw(words)
    if draw(st.booleans()):
        definition["description"] = draw(words)
    return definition


@settings(max_examples=50, deadline=None)
@given(entity_types())
def test_a_definition_comes_back_from_the_form_exactly(definition: dict[str, Any]) -> None:
    back, errors = round_trip(definition)
    assert errors == {}
    assert back == definition
    assert json.dumps(back, sort_keys=True) == json.dumps(definition, sort_keys=True)  # 1 vs 1.0
    assert list(back["properties"]) == list(definition["properties"])


ROW_INPUT = re.compile(r"^f[0-9]+_(" + "|".join(tf.ROW_KEYS) + ")$")
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", " ", "-0", "1e999", "nan", "{", "[]", '{"of": "text", "keep": 3}', "\x00"]
    ),
    st.sampled_from(tf.KINDS),
)
input_names = st.one_of(
    st.sampled_from(tf.HEAD_KEYS),
    st.builds(lambda i, k: tf.row_input(i, k), st.integers(0, 4), st.sampled_from(tf.ROW_KEYS)),
    st.text(max_size=10),
)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(input_names, hostile_text, max_size=25))
def test_hostile_form_input_is_refused_by_input_name(posted: dict[str, str]) -> None:
    state = tf.state_from(posted)
    definition, errors = tf.definition_of(state, same)
    for where in errors:
        assert where in tf.HEAD_KEYS or ROW_INPUT.match(where), where
        if where not in tf.HEAD_KEYS:
            index = int(where[1:].split("_")[0])
            assert index < len(state.rows)
    # What the form builds is always a JSON object the registry can judge (never a crash),
    # and a form without faults has every named row as a field.
    json.dumps(definition)
    if not errors:
        named = [r["name"].strip() for r in state.rows if r["name"].strip()]
        assert list(definition["properties"]) == named
        try:
            parse_entity_type(definition)
        except Exception as exc:  # the registry names the fault; the form did not crash
            assert type(exc).__name__ == "DefinitionError"


def test_faults_of_the_registry_land_on_the_input_they_are_about() -> None:
    state = tf.state_of(
        {
            "type": "object",
            "x-xrm": {"name": "x", "plural": "xs"},
            "properties": {"a": {"type": "string"}, "size": {"type": "integer"}},
        }
    )
    assert tf.input_for("properties.size.maximum", state) == "f1_max"
    assert tf.input_for("properties.a.x-xrm-ref.inverse", state) == "f0_ref_inverse"
    assert tf.input_for("x-xrm.plural", state) == "plural"
    assert tf.input_for("x-xrm.unique.0", state) is None
