"""The caller's address, for sign-in throttling and the audit trail: the connection's peer, unless it is a
proxy named in FORWARDED_ALLOW_IPS, whose X-Forwarded-For then says who it forwards for.

X-Forwarded-For is text any caller can write. Only the entries appended by proxies we trust mean anything:
read from the right, skipping trusted hops, the first other entry is the client. With no proxy configured
the header is ignored.

uvicorn and gunicorn trust X-Forwarded-For from 127.0.0.1 unless told otherwise (`--forwarded-allow-ips`)
and then hand the app the header's address as the peer. When no proxy is configured here but the peer is
one of the header's own entries, the server did that: the real peer is unknown, so all such callers share
one address (UNVERIFIED) instead of each taking a name it chose. Start the server with the same list
(README, "Production") and this never happens.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNVERIFIED = "unverified-forwarded"
MAX_LENGTH = 64  # the audit trail's `ip` column


@dataclass(frozen=True)
class TrustedProxies:
    any: bool
    networks: tuple[IPNetwork, ...]

    def __bool__(self) -> bool:
        return self.any or bool(self.networks)

    def __contains__(self, address: str | None) -> bool:
        parsed = parse_address(address)
        if parsed is None:
            return False
        return self.any or any(parsed in network for network in self.networks)


@lru_cache(maxsize=16)
def trusted_proxies(spec: str) -> TrustedProxies:
    """`10.0.0.5, 10.1.0.0/16, ::1` (or `*`) as a set of networks; a bad entry is a configuration error."""
    entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
    if "*" in entries:
        return TrustedProxies(any=True, networks=())
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"FORWARDED_ALLOW_IPS: {entry!r} is not an IP address or network") from exc
    return TrustedProxies(any=False, networks=tuple(networks))


def _host(hop: str) -> str:
    """`1.2.3.4:5678` -> `1.2.3.4`, `[::1]:80` -> `::1`; anything else as written."""
    hop = hop.strip()
    if hop.startswith("["):
        end = hop.find("]")
        return hop[1:end] if end > 0 else hop
    if hop.count(":") == 1:
        return hop.split(":", 1)[0]
    return hop


def parse_address(text: str | None) -> IPAddress | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(_host(text))
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: list[str], proxies: TrustedProxies) -> str | None:
    """Who is calling, as this server can vouch for it (see the module's docstring)."""
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    if not hops:
        return peer[:MAX_LENGTH] if peer else peer
    if proxies and peer in proxies:
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:  # not what a proxy appends: the chain is the caller's text from here on
                break
            if str(address) not in proxies:
                return str(address)
        else:
            first = parse_address(hops[0])  # every hop is a trusted proxy: the first one called
            return str(first) if first is not None else peer
        return peer
    if not proxies:
        claimed = {_host(hop) for hop in hops} | {str(a) for a in map(parse_address, hops) if a is not None}
        if parse_address(peer) is None or peer in claimed or str(parse_address(peer)) in claimed:
            return UNVERIFIED
    return peer[:MAX_LENGTH] if peer else peer
