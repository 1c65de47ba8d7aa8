"""Sending one delivery: where it may go, how it is signed, how long to wait after a failure.

Plain functions, no Flask: the worker (``flask worker``) composes them.

* :func:`check_endpoint`: http(s) only; the host is resolved and every address must be a
  public one (loopback, private, link-local, multicast and reserved ranges are refused)
  unless private targets are allowed (tests, a receiver on the same machine).
* :func:`post`: connects to the address that was checked (a second DNS answer cannot
  swap in another), sends the body, follows no redirect, gives up when the timeout (for
  the whole exchange) is up.
* :func:`signed_headers`: Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``), signed with every secret that is valid (two during a rotation).
* :func:`backoff`: exponential from the base, capped, with jitter.
"""
from __future__ import annotations

import base64
import datetime as dt
import http.client
import ipaddress
import random
import secrets
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


class EndpointRefused(ValueError):
    """An endpoint the service will not send to; ``reason`` says why (shown to officers)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the vetted IP to connect to


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def valid_secret(value: str) -> bool:
    if not value.startswith(SECRET_PREFIX):
        return False
    try:
        return len(base64.b64decode(value[len(SECRET_PREFIX):], validate=True)) >= 24
    except ValueError:
        return False


def check_url(url: str) -> tuple[str, str, int, str]:
    """Syntax only: an absolute http(s) URL with a host; returns scheme, host, port, path."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise EndpointRefused("not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise EndpointRefused("the endpoint must be an http:// or https:// URL")
    if not parts.hostname:
        raise EndpointRefused("the endpoint URL has no host")
    if parts.username or parts.password:
        raise EndpointRefused("credentials in the URL are not allowed; the signature authenticates us")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    # An IPv4 address inside IPv6 (mapped ::ffff:a.b.c.d, 6to4 2002:aabb:ccdd::) is judged
    # as that IPv4 address: 2002:7f00:1:: reaches 127.0.0.1 through a 6to4 relay.
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip.sixtofour):
        ip = ip.ipv4_mapped or ip.sixtofour
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_unspecified)


def check_endpoint(url: str, *, allow_private: bool) -> Endpoint:
    scheme, host, port, path = check_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise EndpointRefused(f"the host {host!r} does not resolve") from None
    addresses = [info[4][0] for info in infos]
    if not allow_private:
        refused = [a for a in addresses if not _public(a)]
        if refused:
            raise EndpointRefused(f"{host} resolves to a loopback, private or reserved address ({refused[0]})")
    return Endpoint(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, endpoint: Endpoint, timeout: float):
        super().__init__(endpoint.host, endpoint.port, timeout=timeout)
        self._address = endpoint.address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, endpoint: Endpoint, timeout: float):
        super().__init__(endpoint.host, endpoint.port, timeout=timeout, context=ssl.create_default_context())
        self._address = endpoint.address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # one deadline for the handshake


def post(endpoint: Endpoint, body: bytes, headers: dict, *, timeout: float) -> tuple[int, str]:
    """POST and return (status, a short excerpt of the answer); redirects are not followed
    (a 3xx is just a failed attempt).  Raises OSError / http.client errors on network failure.

    ``timeout`` bounds the whole exchange, not each socket operation: a receiver that
    trickles its answer a byte at a time is cut off when the time is up (``TimeoutError``).
    An answer read completely counts, even if the time ran out just after.
    """
    connection = (_PinnedHTTPS if endpoint.scheme == "https" else _PinnedHTTP)(endpoint, timeout)
    expired = threading.Event()

    def cut_off():
        expired.set()
        sock = connection.sock
        if sock is not None:
            try:  # the socket's own shutdown (not SSLSocket's): wakes a blocked send or receive
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(timeout, cut_off)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.connect()  # bounded by the socket timeout; the deadline is checked right after
        if expired.is_set():
            raise TimeoutError(f"no connection within {timeout:g} s")
        connection.request("POST", endpoint.path, body=body,
                           headers={**headers, "Content-Type": "application/json",
                                    "User-Agent": "ocop-marketplace-push/1"})
        response = connection.getresponse()
        excerpt = response.read(2048).decode("utf-8", "replace")
        return response.status, excerpt
    except (OSError, http.client.HTTPException):
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {timeout:g} s") from None
        raise
    finally:
        watchdog.cancel()
        connection.close()


def signed_headers(signing_secrets: list[str], message_id: str, moment: dt.datetime, body: str) -> dict:
    signatures = [Webhook(secret).sign(message_id, moment.astimezone(dt.timezone.utc).replace(tzinfo=None), body)
                  for secret in signing_secrets]
    return {"webhook-id": message_id, "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": " ".join(signatures)}


def backoff(attempts: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: base·2^(attempts−1), at most ``cap``, times a
    random factor in [0.5, 1] so failed deliveries do not all come back at once."""
    delay = min(cap, base * 2 ** min(max(attempts - 1, 0), 40))  # 2**40·base is past any cap
    return delay * (rng or random).uniform(0.5, 1.0)
