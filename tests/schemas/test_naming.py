"""The naming rules: what a name may be, and the page names a new definition may not take."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from xrm.schemas.naming import MAX_NAME, PAGE_NAMES, name_problem, new_name_problem

# The model: a name is lower snake_case ASCII (single underscores, starting with a letter).
MODEL = re.compile(r"[a-z](?:[a-z0-9]|_(?=[a-z0-9]))*")
identifiers = st.from_regex(r"\A[a-z][a-z0-9]{0,8}(_[a-z0-9]{1,6}){0,3}\Z")
hostile = st.text(
    st.sampled_from(list("anewN_-1 é\x00'\"/.\u200b한")) | st.characters(), max_size=50
)


@given(name=identifiers | hostile)
@example(name="new")
@example(name="New")
@example(name="new_")
@example(name="news")
@example(name="new\x00")
@example(name="a" * (MAX_NAME + 1))
def test_a_name_is_accepted_exactly_when_it_is_a_short_snake_case_identifier(name: str) -> None:
    problem = name_problem(name)
    valid = bool(MODEL.fullmatch(name)) and len(name) <= MAX_NAME
    assert (problem is None) == valid, (name, problem)
    if problem is not None:
        assert repr(name) in problem or "longer" in problem


@given(name=identifiers | hostile)
@example(name="new")
@example(name="new_thing")
@example(name="renew")
@example(name="NEW")
def test_only_the_admin_uis_page_names_are_refused_to_new_definitions(name: str) -> None:
    problem = new_name_problem(name)
    assert (problem is None) == (name not in PAGE_NAMES)
    if problem is not None:
        assert repr(name) in problem and "reserved" in problem


def test_new_is_a_page_name() -> None:
    assert "new" in PAGE_NAMES
    assert name_problem("new") is None  # a valid identifier: stored ones still load
