"""Host checks of the http plugin, on address literals: no lookup, no traffic."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from helixnet.plugins.netguard import AllowedHost, HostRefused, check_url, parse_allowed_hosts

S = "HELIXNET_HTTP_ALLOWED_HOSTS"


def test_entries_parse_with_and_without_port() -> None:
    assert parse_allowed_hosts(["API.Example.org.", "127.0.0.1:8123", "[::1]:80", "[0:0::1]"]) == [
        AllowedHost("api.example.org", None),
        AllowedHost("127.0.0.1", 8123),
        AllowedHost("::1", 80),
        AllowedHost("::1", None),
    ]
    assert parse_allowed_hosts(["fe80::1"]) == [AllowedHost("fe80::1", None)]
    for bad in ["http://x/", "x:99999", "x/path", "user@x", ""]:
        with pytest.raises(ValueError):
            parse_allowed_hosts([bad])


def test_public_address_listed_is_the_target() -> None:
    target = check_url("https://8.8.8.8/dns", parse_allowed_hosts(["8.8.8.8"]), setting=S)
    assert (target.address, target.port, target.scheme, target.host) == ("8.8.8.8", 443, "https", "8.8.8.8")


@pytest.mark.parametrize(
    ("url", "allowed", "reason"),
    [
        ("http://127.0.0.1:8123/", [], "is empty"),
        ("http://127.0.0.1:8124/", ["127.0.0.1:8123"], "127.0.0.1:8124 is not allowed"),
        ("http://8.8.4.4/", ["8.8.8.8"], "8.8.4.4:80 is not allowed"),
        ("gopher://8.8.8.8/", ["8.8.8.8"], "only http and https"),
    ],
)
def test_refusals_say_why(url: str, allowed: list[str], reason: str) -> None:
    with pytest.raises(HostRefused, match=reason):
        check_url(url, parse_allowed_hosts(allowed), setting=S)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "169.254.169.254",
        "192.168.1.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
    ],
)
def test_a_non_public_address_matched_by_a_name_entry_is_refused(address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a rebinding name looks like: listed by name, answering with an inner address."""
    import socket

    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, **kw: [(0, 0, 0, "", (address, port))])
    with pytest.raises(HostRefused, match="non-public address"):
        check_url("http://rebind.example.org/", parse_allowed_hosts(["rebind.example.org"]), setting=S)
    listed = check_url("http://rebind.example.org/", parse_allowed_hosts(["rebind.example.org", address]), setting=S)
    assert ip_address(listed.address) == ip_address(address) and listed.host == "rebind.example.org"
