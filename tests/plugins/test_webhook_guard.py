"""Where a webhook may go, tested on the address check itself: IP literals and a stubbed
resolver, so that no test can ever send traffic off the machine (resolve, then decide)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from xrm.plugins.webhook.guard import AllowList, Refused, check, is_public

PUBLIC = "93.184.215.14"
INTERNAL = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",  # the cloud metadata service
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "224.0.0.1",
]


def resolver(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    asked: list[str] = []

    def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return table.get(host, ())

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


ALLOW = AllowList.parse(
    ["hooks.example.com", "https://erp.example.com/in/", "http://127.0.0.1:8765/", "rebind.test"]
)


def test_an_allowed_public_host_passes_and_is_pinned_to_the_checked_address() -> None:
    resolve = resolver({"hooks.example.com": [PUBLIC]})
    target = check("https://hooks.example.com/x?y=1", ALLOW, resolve)
    assert str(target.address) == PUBLIC
    assert target.connect_url() == f"https://{PUBLIC}:443/x?y=1"
    assert target.host_header() == "hooks.example.com"


def test_an_explicitly_allowed_loopback_literal_passes() -> None:
    target = check("http://127.0.0.1:8765/hook", ALLOW, resolver({}))
    assert str(target.address) == "127.0.0.1"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data", "allow-list"),
        ("http://10.1.2.3/", "allow-list"),
        ("http://evil.example.com/", "allow-list"),
        ("http://hooks.example.com.evil.com/", "allow-list"),
        ("https://erp.example.com/input", "allow-list"),  # a prefix ends at a path boundary
        ("https://erp.example.com/", "allow-list"),
        ("http://127.0.0.1:8766/hook", "allow-list"),  # the allowed literal, another port
        ("http://hooks.example.com@127.0.0.1:8765/", "user name"),
        ("ftp://hooks.example.com/", "only http and https"),
        ("http://hooks.example.com:99999/", "not a URL"),
        ("http://hooks.example.com/a b", "spaces"),
        ("javascript:alert(1)", "only http and https"),
    ],
)
def test_urls_outside_the_allow_list_are_refused_before_any_lookup(url: str, why: str) -> None:
    resolve = resolver({"hooks.example.com": [PUBLIC]})
    with pytest.raises(Refused, match=why):
        check(url, ALLOW, resolve)
    assert resolve.asked == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("internal", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "::1"])
def test_an_allowed_name_that_resolves_inside_is_refused(internal: str) -> None:
    # localhost by another name: the allow-list names a host, DNS answers with an inside one
    resolve = resolver({"rebind.test": [PUBLIC, internal]})
    with pytest.raises(Refused, match="internal address"):
        check("http://rebind.test/hook", ALLOW, resolve)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(Refused, match="does not resolve"):
        check("https://hooks.example.com/", ALLOW, resolver({}))


@pytest.mark.parametrize("address", INTERNAL)
def test_no_internal_address_counts_as_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


hostile_hosts = st.one_of(
    st.sampled_from(INTERNAL).map(lambda a: f"[{a}]" if ":" in a else a),
    st.sampled_from(["localhost", "2130706433", "0x7f000001", "127.1", "metadata.google.internal"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-:@[]%", min_size=1, max_size=30),
)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp", "file", "gopher"]),
    userinfo=st.sampled_from(["", "hooks.example.com@", "user:pw@", "@"]),
    host=hostile_hosts,
    path=st.text(max_size=20),
    answers=st.lists(st.sampled_from([*INTERNAL, PUBLIC]), max_size=3),
)
@settings(max_examples=50)
@example(scheme="http", userinfo="", host="rebind.test", path="/", answers=["127.0.0.1"])
@example(scheme="http", userinfo="hooks.example.com@", host="10.0.0.1", path="", answers=[])
def test_whatever_the_url_no_internal_address_is_ever_returned(
    scheme: str, userinfo: str, host: str, path: str, answers: list[str]
) -> None:
    """The model: check() either refuses, or returns a target whose address is public, or is
    the very loopback literal the allow-list names, and whose host passed the allow-list."""
    url = f"{scheme}://{userinfo}{host}{path}"
    resolve = resolver({h: answers for h in ("rebind.test", "hooks.example.com", host)})
    try:
        target = check(url, ALLOW, resolve)
    except Refused as refused:
        assert str(refused)  # a reason in words, never an empty message
        return
    assert is_public(target.address) or str(target.address) == "127.0.0.1"
    if not is_public(target.address):
        assert target.host == "127.0.0.1" and target.port == 8765
    assert target.host in {"hooks.example.com", "erp.example.com", "127.0.0.1", "rebind.test"}
