"""Where a webhook may go: the admin's allow-list, then the addresses the host resolves to.

Two checks, both before any connection is opened:

1. **The allow-list** (``XRM_WEBHOOK_ALLOW``): each entry is a host
   (``hooks.example.com``, ``hooks.example.com:8443``) or a URL prefix
   (``https://erp.example.com/in/``). A URL passes when its host (and port, if
   the entry names one) equals a host entry, or when it starts with a prefix
   entry at a path boundary. Only ``http`` and ``https``, no user name or
   password in the URL (``https://allowed@evil/`` is how that check is fooled).
2. **The addresses** (resolve, then decide): every address the host resolves
   to must be a public one. A private, loopback, link-local, shared, reserved
   or multicast address (``10.x``, ``127.x``, ``169.254.169.254``, ``::1``,
   an IPv4-mapped IPv6 of any of them) is refused unless the URL names it as
   an IP literal that the allow-list names too: a hostname never reaches an
   internal address, however it resolves (``localhost``, ``127.0.0.1.nip.io``,
   ``2130706433``).

The delivery then connects to the address checked here, not to a fresh
lookup, so a DNS answer that changes between check and connect (rebinding)
cannot move it; redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from xrm.plugins.spec import PluginError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


class Refused(PluginError):
    """A webhook URL the guard will not send to; the message says why."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed: where to connect (``address``) and what to call it (``host``)."""

    url: str
    scheme: str
    host: str
    port: int
    address: Address

    def connect_url(self) -> str:
        """The URL with its host replaced by the checked address (the Host header and TLS
        name keep the original)."""
        parts = urlsplit(self.url)
        shown = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return parts._replace(netloc=f"{shown}:{self.port}").geturl()

    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _plain(address: Address) -> Address:
    """An IPv4-mapped (``::ffff:a.b.c.d``) or 6to4/NAT64-free view: the IPv4 inside."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: Address) -> bool:
    """Whether ``address`` is on the public internet (not private, loopback, link-local...)."""
    plain = _plain(address)
    return plain.is_global and not plain.is_multicast


def _split(url: str) -> SplitResult:
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise Refused("a webhook URL is a text of at most 2000 characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise Refused("a webhook URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise Refused(f"{url!r} is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise Refused(f"{url!r}: only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Refused(f"{url!r}: a webhook URL carries no user name or password")
    if not parts.hostname:
        raise Refused(f"{url!r} names no host")
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class AllowList:
    """The admin's allow-list, parsed once (``XRM_WEBHOOK_ALLOW``)."""

    hosts: frozenset[tuple[str, int | None]]
    prefixes: tuple[str, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[tuple[str, int | None]] = set()
        prefixes: list[str] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            if "://" in entry:
                parts = _split(entry)
                prefixes.append(_normal(parts))
                continue
            parts = _split(f"http://{entry}")
            hosts.add((_host(parts), parts.port))
        return cls(frozenset(hosts), tuple(prefixes))

    def allows(self, parts: SplitResult) -> bool:
        host = _host(parts)
        if (host, None) in self.hosts or (host, _port(parts)) in self.hosts:
            return True
        url = _normal(parts)
        return any(
            url == prefix
            or (url.startswith(prefix) and (prefix.endswith("/") or url[len(prefix)] in "/?#"))
            for prefix in self.prefixes
        )

    @property
    def literals(self) -> frozenset[Address]:
        """The IP literals the list names: the only non-public addresses it lets through."""
        return frozenset(
            _plain(address) for host, _ in self.hosts if (address := _literal(host)) is not None
        ) | frozenset(
            _plain(address)
            for prefix in self.prefixes
            if (address := _literal(_host(urlsplit(prefix)))) is not None
        )


def _host(parts: SplitResult) -> str:
    host = (parts.hostname or "").rstrip(".").lower()
    literal = _literal(host)
    return str(literal) if literal is not None else host


def _normal(parts: SplitResult) -> str:
    """scheme://host:port/path?query with the host lowercased and the port spelled out."""
    host = _host(parts)
    shown = f"[{host}]" if ":" in host else host
    url = f"{parts.scheme}://{shown}:{_port(parts)}{parts.path or '/'}"
    return f"{url}?{parts.query}" if parts.query else url


def check(url: str, allow: AllowList, resolve: Resolver = system_resolver) -> Target:
    """The target of ``url`` if it may be sent to; raises :class:`Refused` saying why not."""
    parts = _split(url)
    if not allow.allows(parts):
        raise Refused(
            f"{parts.hostname} is not in the webhook allow-list (XRM_WEBHOOK_ALLOW); "
            "an administrator must allow it first"
        )
    host, port = _host(parts), _port(parts)
    literal = _literal(host)
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        found: list[Address] = []
        for raw in resolve(host, port):
            address = _literal(str(raw).split("%", 1)[0])
            if address is None:
                raise Refused(f"{host} resolved to something that is not an address")
            found.append(address)
        addresses = found
    if not addresses:
        raise Refused(f"{host} does not resolve to any address")
    for address in addresses:
        if is_public(address):
            continue
        if literal is not None and _plain(address) in allow.literals:
            continue  # the admin named this very address: a local test receiver, say
        raise Refused(
            f"{host} resolves to {address}, an internal address; webhooks go to public "
            "addresses only (or to an IP address the allow-list names)"
        )
    return Target(url=url, scheme=parts.scheme, host=host, port=port, address=addresses[0])
