"""The e-mail normaliser's cached-domain route answers exactly as email-validator does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xrm.schemas import formats

LOCALS = st.one_of(
    st.from_regex(r"[A-Za-z0-9._%+\-!#$&'*/=?^`{|}~]{0,70}", fullmatch=True),
    st.sampled_from(["a", "A.B", ".a", "a.", "a..b", '"quoted"', "ünï", "x" * 64, "x" * 65]),
)
DOMAINS = st.one_of(
    st.from_regex(r"[a-z0-9.\-]{0,30}", fullmatch=True),
    st.sampled_from(
        [
            "example.com",
            "EXAMPLE.COM",
            "bücher.de",
            "xn--bcher-kva.de",
            "localhost",
            "a..b",
            "-a.com",
            "[127.0.0.1]",
            "example.invalid",
            "d." + "a" * 240 + ".com",
            "한국.kr",
        ]
    ),
)


def outcome(function: object, raw: str) -> tuple[str, str]:
    try:
        return ("ok", function(raw))  # type: ignore[operator]
    except ValueError:
        return ("error", "")


@settings(max_examples=400, deadline=None)
@given(local=LOCALS, domain=DOMAINS, spaces=st.sampled_from(["", " ", "  \t"]))
def test_cached_route_equals_the_full_check(local: str, domain: str, spaces: str) -> None:
    raw = f"{spaces}{local}@{domain}{spaces}"
    assert outcome(formats.email, raw) == outcome(formats._full_email, raw.strip())


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Min.Kim@Example.COM ", "min.kim@example.com"),
        ("user+tag@sub.example.co.kr", "user+tag@sub.example.co.kr"),
        ("kim@bücher.de", "kim@bücher.de"),
    ],
)
def test_addresses_normalise(raw: str, stored: str) -> None:
    assert formats.email(raw) == stored
