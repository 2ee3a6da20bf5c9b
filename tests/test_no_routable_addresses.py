"""No test fixture or doc example carries a routable address (issue 21, item 5).

A test, or a person trying an example, that runs animate against a fixture must never send a
request to a real host: examples name servers ``*.invalid`` (RFC 6761: never resolves) or
loopback. This scans tests/, docs/, README.md and every ``*.example`` for IPv4 and IPv6
literals and fails listing any that is not loopback (127.0.0.0/8, ::1), the unspecified
address (0.0.0.0 / ::, a bind example) or in a documentation range (RFC 5737 / RFC 3849: never
routed; tests/test_serve_cli.py binds to one to see the bind refused, where a name cannot do). Tests that need a private address as the *input* of a
rule build it at run time (see tests/test_heratio_rules.py), so it is never written down here.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".md", ".sql", ".toml", ".txt", ".json", ".yml", ".yaml", ".cfg", ".ini"}
TEXT_SUFFIXES |= {".example", ".html", ".js", ".css", ".sh", ".service", ".conf", ".csv"}

_V4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.]*\d)")
_V6 = re.compile(r"(?<![\w:.])\[?([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})\]?(?![\w:])")


def _files() -> list[Path]:
    found = [ROOT / "README.md", *ROOT.glob("*.example"), *ROOT.glob("**/*.example")]
    for folder in (ROOT / "tests", ROOT / "docs"):
        found += [
            p
            for p in folder.rglob("*")
            if p.is_file() and (p.suffix in TEXT_SUFFIXES or p.name.endswith(".example"))
        ]
    return sorted({p for p in found if p.is_file() and "__pycache__" not in p.parts})


DOCUMENTATION = [
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.is_loopback or address.is_unspecified:
        return True
    return any(address.version == n.version and address in n for n in DOCUMENTATION)


def routable_literals(text: str) -> list[str]:
    """The IPv4/IPv6 literals in ``text`` that are neither loopback nor unspecified."""
    bad: list[str] = []
    for match in _V4.finditer(text):
        try:
            address = ipaddress.IPv4Address(match.group(1))
        except ValueError:
            continue  # 1.2.3.999: a version number or the like, not an address
        if not _allowed(address):
            bad.append(match.group(1))
    for match in _V6.finditer(text):
        literal = match.group(1)
        if literal.count(":") < 2 or not re.search(r"[0-9A-Fa-f]", literal):
            continue  # "::" alone, times (12:30:00) have too few colons or are not hex-only
        try:
            address6 = ipaddress.IPv6Address(literal)
        except ValueError:
            continue
        if not _allowed(address6):
            bad.append(literal)
    return bad


def test_the_scanner_finds_what_it_must() -> None:
    private = ".".join(["192", "168", "0", "40"])  # built here: this file is scanned too
    public = ".".join(["8", "8", "8", "8"])
    v6 = ":".join(["fd00", "", "1"])
    text = f"url = http://{private}:5052\nsee {public} and [{v6}]:80"
    assert routable_literals(text) == [private, public, v6]
    fine = "--host 192.0.2.1 http://127.0.0.1:5052 http://[::1]:80 --host 0.0.0.0 v1.2.3 12:30:45 std::vector"
    assert routable_literals(fine) == []


def test_no_fixture_or_example_names_a_routable_address() -> None:
    """Failed on bef0327: tests/heratio/heratio_install.sql seeded ar_server_url with a LAN
    address (and tests asserted it)."""
    found = []
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for literal in routable_literals(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {literal}")
    assert not found, "routable addresses in tests/docs/examples:\n" + "\n".join(found)
