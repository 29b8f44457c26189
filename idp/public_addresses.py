"""Which resolved addresses the IdP may fetch a client metadata document from (`idp.cimd`).

Judged from explicit tables (IANA's special-purpose address registries), not from
`ipaddress.is_global`: its lists differ between Python patch releases, and on 3.11 it accepts
NAT64, 6to4, IPv4-compatible and site-local addresses without looking at what they carry.

An IPv6 address that carries an IPv4 address is judged by every IPv4 address inside it:
- IPv4-mapped `::ffff:a.b.c.d` and IPv4-compatible `::a.b.c.d` (the last 32 bits);
- NAT64 `64:ff9b::/96` (RFC 6052, the last 32 bits);
- 6to4 `2002:AABB:CCDD::/48` (bits 16 to 47);
- Teredo `2001:0::/32` (its server, and its client, stored inverted in the last 32 bits).
The local-use NAT64 prefix `64:ff9b:1::/48` (RFC 8215) is refused whatever it carries: where its
IPv4 address sits depends on the prefix length the local network chose, so it cannot be read safely.
Every other IPv6 address must be global unicast (`2000::/3`) outside the ranges below.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

NOT_PUBLIC_V4 = tuple(
    IPv4Network(network)
    for network in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata services live here)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
)
GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
NOT_PUBLIC_V6 = tuple(
    IPv6Network(network)
    for network in (
        "2001::/23",  # IETF protocol assignments (Teredo, inside it, is unwrapped before this table is read)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)
IPV4_MAPPED = IPv6Network("::ffff:0:0/96")
IPV4_COMPATIBLE = IPv6Network("::/96")
NAT64_WELL_KNOWN = IPv6Network("64:ff9b::/96")
SIX_TO_FOUR = IPv6Network("2002::/16")
TEREDO = IPv6Network("2001::/32")


def embedded_ipv4(ip: IPv6Address) -> list[IPv4Address] | None:
    """The IPv4 addresses an IPv6 address carries (all of them matter), or None when it carries none."""
    if ip in IPV4_MAPPED or ip in IPV4_COMPATIBLE or ip in NAT64_WELL_KNOWN:
        return [IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in SIX_TO_FOUR:
        return [IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)]
    if ip in TEREDO:
        server = IPv4Address((int(ip) >> 64) & 0xFFFFFFFF)
        client = IPv4Address(~int(ip) & 0xFFFFFFFF)  # obfuscated: stored with every bit flipped
        return [server, client]
    return None


def _public_v4(ip: IPv4Address) -> bool:
    return not any(ip in network for network in NOT_PUBLIC_V4)


def public_address(address: str) -> bool:
    """True for an address on the public internet: never loopback, private, link-local, site-local,
    multicast, reserved or documentation, directly or inside an IPv6 wrapper."""
    ip = ip_address(address.split("%")[0])  # a zone (`fe80::1%eth0`) only ever comes with link-local
    if isinstance(ip, IPv4Address):
        return _public_v4(ip)
    inner = embedded_ipv4(ip)
    if inner is not None:
        return all(_public_v4(v4) for v4 in inner)
    return ip in GLOBAL_UNICAST_V6 and not any(ip in network for network in NOT_PUBLIC_V6)


def loopback_address(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the IPv4-mapped form of a 127.x address."""
    ip = ip_address(address.split("%")[0])
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
