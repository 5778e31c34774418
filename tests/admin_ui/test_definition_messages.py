"""Every naming fault a definition can meet is said in the page's language, by one list.

The type designer, its relationship form, the role editor and the workflow
builder all explain faults through ``xrm.admin_ui.messages``; these names,
from sensible to hostile, never reach a business admin in the schema layer's
English (``bad property name: ...``) nor untranslated.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from xrm.admin_ui.i18n import translations
from xrm.admin_ui.messages import shown
from xrm.errors import DefinitionError, Fault
from xrm.schemas.naming import RESERVED_PROPERTIES, RESERVED_TYPES, new_name_problem
from xrm.schemas.parse import parse_entity_type

names = (
    st.from_regex(r"\A[a-z][a-z0-9_]{0,45}\Z")
    | st.sampled_from(sorted(RESERVED_TYPES | RESERVED_PROPERTIES))
    | st.text(max_size=50)
)
KOREAN = translations("ko").gettext


def _faults(name: str, field: str) -> list[Fault]:
    definition = {
        "type": "object",
        "x-xrm": {"name": name, "plural": "things_of_" + name[:20]},
        "properties": {field: {"type": "string"}},
    }
    try:
        parse_entity_type(definition)
    except DefinitionError as exc:
        return [f for f in exc.faults if f.field in ("x-xrm.name", f"properties.{field}")]
    return []


@given(name=names, field=names)
@example(name="Vendor!", field="id")
@example(name="a" * 41, field="bad name")
@example(name="user", field="owner_id")
def test_naming_faults_are_translated_at_their_path(name: str, field: str) -> None:
    for fault in _faults(name, field):
        english = shown(fault, str)
        assert english.translated, fault
        assert "bad property name" not in english.text and "snake_case" not in english.text
        korean = shown(fault, KOREAN)
        assert korean.translated and korean.text != english.text, fault
        assert korean.field == fault.field


def test_the_page_name_rule_is_said_like_the_other_reserved_names() -> None:
    problem = new_name_problem("new")
    assert problem is not None
    said = shown(Fault("x-xrm.name", problem), KOREAN)
    assert said.translated and said.text.startswith("'new'") and "시스템" in said.text
