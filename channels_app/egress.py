"""Where the hub's outbound requests may go.

Merchants type URLs (a WooCommerce site, a supplier's feed, a Shopify shop domain) and the hub then
connects there with their credentials and shows what came back. Pointed at the hub's own network
(loopback, Redis, a cloud's metadata service, the LAN) that is a request forgery. So every outbound
connection is made here, to an address checked when the socket connects (the address actually
connected to, so a DNS answer that changes between a check and the connect changes nothing), and
refused unless it is a public unicast address or inside a network ops allowed
(HUB_OUTBOUND_ALLOW_NETWORKS, for a platform self-hosted on a private network). Redirects connect
through the same check; URLs with another scheme or with credentials in them are refused before.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family, create_connection

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = ("http", "https")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
OPEN_SETTING = "HUB_OUTBOUND_ALLOW_NETWORKS"


class AddressRefused(Exception):
    """A request the hub does not send: not an OSError, so that neither urllib3 nor requests wrap
    it as a connection error worth retrying."""


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(network.strip(), strict=False) for network in allowed if network.strip()
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo, NAT64): it reaches that host."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address: Address) -> str:
    """What sort of non-public address this is, or "" for a public unicast one."""
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind = _kind(embedded)
            return f"{kind}, as {embedded}" if kind else ""
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"  # shared (CGNAT), reserved, documentation ranges
    return ""


def address_refusal(text: str) -> str:
    """Why the hub does not connect to the IP address `text`, or "" when it may."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    allowed = _networks(tuple(getattr(settings, OPEN_SETTING, ())))
    if any(address.version == network.version and address in network for network in allowed):
        return ""
    kind = _kind(address)
    if not kind:
        return ""
    return (
        f"{address} is {kind}; the hub connects only to public addresses unless ops allow "
        f"its network in {OPEN_SETTING}"
    )


def url_refusal(url: str, *, resolve: bool = False) -> str:
    """Why the hub does not send a request to `url`, or "". With `resolve`, a host name is looked up
    too (for a form: the connection itself is checked again, whatever the name resolves to then)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.scheme.lower() not in SCHEMES:
        return f"only http and https URLs are allowed, not {parts.scheme or 'a URL without a scheme'}"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "a URL may not carry a user name or password (give credentials in their own fields)"
    host = parts.hostname
    if not host:
        return "the URL has no host"
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        return address_refusal(host)
    if not resolve:
        return ""
    try:
        infos = socket.getaddrinfo(
            host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError):
        # Unresolvable now: the request itself fails as a connection error, or works later, and its
        # connection is checked then.
        return ""
    for info in infos:
        refusal = address_refusal(str(info[4][0]))
        if refusal:
            return f"{host} resolves to {refusal}"
    return ""


def _connect(conn: HTTPConnection) -> socket.socket:
    """urllib3's HTTPConnection._new_conn, connecting only to addresses this module allows: each
    address the name resolves to is checked before it is connected to, and the peer after."""
    host = conn._dns_host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, conn.port, allowed_gai_family(), socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    refusals: list[str] = []
    error: Exception | None = None
    for *_, sockaddr in infos:
        refusal = address_refusal(str(sockaddr[0]))
        if refusal:
            refusals.append(refusal)
            continue
        try:
            sock = create_connection(
                (str(sockaddr[0]), conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            error = ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
            )
            error.__cause__ = exc
            continue
        except OSError as exc:
            error = NewConnectionError(conn, f"Failed to establish a new connection: {exc}")
            error.__cause__ = exc
            continue
        peer = sock.getpeername()[0]
        refusal = address_refusal(str(peer))
        if refusal:
            sock.close()
            raise AddressRefused(f"{conn.host}: {refusal}")
        sys.audit("http.client.connect", conn, conn.host, conn.port)
        return sock
    if error is not None:
        raise error
    raise AddressRefused(f"{conn.host}: {refusals[0] if refusals else 'no address'}")


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # Through a proxy the proxy connects, and the address check would see only the proxy.
        raise AddressRefused("outbound requests are not sent through proxies")


class _GuardedSession(requests.Session):
    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target:
            refusal = url_refusal(requests.compat.urljoin(resp.url, target))
            if refusal:
                raise AddressRefused(f"redirect refused: {refusal}")
        return target


def session() -> requests.Session:
    """A requests session that connects only where this module allows."""
    guarded = _GuardedSession()
    # Nothing from the environment: a proxy there would connect for us, unchecked, and ~/.netrc
    # would lend its credentials to whatever host a merchant names.
    guarded.trust_env = False
    adapter = _GuardedAdapter()
    for scheme in SCHEMES:
        guarded.mount(f"{scheme}://", adapter)
    return guarded
