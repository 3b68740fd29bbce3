"""Which hosts a plugin may call, decided on the addresses a name resolves to, not on the name.

An allow-list of names alone is not enough against server-side request forgery: a listed (or
attacker-controlled) name can resolve to 127.0.0.1, a cloud metadata address or the office network,
and a second lookup at connect time can answer differently than the one that was checked (DNS
rebinding). So a URL is checked once, here, into a :class:`Target` that carries the exact address to
connect to; the caller connects to that address and sends the name only as Host header and TLS SNI.

Rules, for an allow-list of ``host`` or ``host:port`` entries (a bare host allows every port):

- the URL's host (and port) must match an entry, by name or by address;
- every address it resolves to that is loopback, link-local, private, reserved, multicast or
  unspecified is dropped unless that address itself is listed (with that port, if a port is given);
- the first address left is the target; none left is a refusal that says why.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from helixnet import PluginError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}


class HostRefused(PluginError):
    """The URL's host is not allowed (not listed, or it resolves to an address that is not)."""


@dataclass(frozen=True)
class AllowedHost:
    host: str  # lower-case name, or an address in its canonical form
    port: int | None  # None: any port

    def matches(self, host: str, port: int) -> bool:
        return self.host == host and (self.port is None or self.port == port)


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to ``address``:``port``, say ``host`` in the Host header and SNI."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def parse_allowed_hosts(entries: list[str]) -> list[AllowedHost]:
    """``["api.example.org", "127.0.0.1:8123", "[::1]:8080"]`` as matchers; a bad entry is a ValueError."""
    allowed = []
    for entry in entries:
        text = entry.strip()
        if (address := _address(text)) is not None:  # a bare IPv6 address: its colons are not a port
            allowed.append(AllowedHost(str(address), None))
            continue
        parts = urlsplit(f"//{text}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{entry!r}: the port is not a number from 0 to 65535") from None
        if not parts.hostname or parts.path or parts.query or parts.fragment or parts.username:
            raise ValueError(f"{entry!r} is not a host or host:port")
        allowed.append(AllowedHost(_canonical(parts.hostname), port))
    return allowed


def check_url(url: str, allowed: list[AllowedHost], *, setting: str) -> Target:
    """Resolve ``url``'s host once and return the address it may be fetched from, or raise HostRefused."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise HostRefused(f"{url!r}: only http and https URLs may be called")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise HostRefused(f"{url!r}: the port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise HostRefused(f"{url!r} has no host")
    host = _canonical(parts.hostname)
    if not allowed:
        raise HostRefused(f"host {host!r} is not allowed: {setting} is empty, so no host may be called")
    if not any(entry.matches(host, port) for entry in allowed):
        raise HostRefused(f"host {host}:{port} is not allowed (not listed in {setting})")
    refused = []
    for address in _resolve(host, port):
        if _is_public(address) or any(entry.matches(str(address), port) for entry in allowed):
            return Target(url=url, scheme=scheme, host=host, port=port, address=str(address))
        refused.append(str(address))
    raise HostRefused(
        f"host {host!r} resolves to {', '.join(refused)}, a non-public address; "
        f"list the address itself in {setting} to allow it"
    )


def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostRefused(f"host {host!r} could not be resolved: {exc}") from exc
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return not (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _canonical(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    address = _address(host)
    return str(address) if address is not None else host
