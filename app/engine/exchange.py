"""One exchange: a request and the redirects it is sent on, with the iteration's RFC 6265 cookies.

The transport sends one request at a time (no redirects of its own), so the engine sees every hop: the
cookies a hop sets (a login that answers 302 sets its session there), where it pointed, and when it leaves
the origin (credentials stay behind). Cookies live in aiohttp's CookieJar (domain, path, Max-Age/Expires,
deletion by an expired cookie), one per iteration, never shared between iterations.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

from aiohttp import CookieJar
from yarl import URL

from app.engine.clock import SYSTEM_CLOCK, Clock
from app.engine.taint import Taint
from app.engine.transport import PreparedRequest, Response, Transport, TransportError

MAX_REDIRECTS = 10
FRESH = 0.001  # seconds: a request sent within this of the exchange's start gets the whole step timeout
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})


class RedirectRefused(Exception):
    """A redirect would take a secret to another origin: the exchange stops before sending it."""


class CookieState:
    """An iteration's cookies. The jar is made on the first Set-Cookie, so a run without cookies pays nothing.

    A fan-out row gets a copy (the Set-Cookie headers seen so far, replayed into a jar of its own), so what
    one row's responses set is never seen by another row or by the steps after it.
    """

    __slots__ = ("_jar", "_seen")

    def __init__(self, seen: list[tuple[list[str], URL]] | None = None) -> None:
        self._jar: CookieJar | None = None
        self._seen: list[tuple[list[str], URL]] = list(seen or ())

    def copy(self) -> CookieState:
        return CookieState(self._seen)

    def _the_jar(self) -> CookieJar:
        if self._jar is None:
            self._jar = CookieJar(unsafe=True)  # unsafe: targets on IP addresses keep their cookies too
            for values, url in self._seen:
                self._jar.update_cookies_from_headers(values, url)
        return self._jar

    def store(self, values: list[str], response_url: str) -> None:
        values = [_epoch_expires_deletes(value) for value in values]
        url = URL(response_url)
        self._seen.append((values, url))
        self._the_jar().update_cookies_from_headers(values, url)

    def header(self, request_url: str) -> str | None:
        """The Cookie header for a URL (domain, path, secure and expiry rules applied), or None."""
        if not self._seen:
            return None
        cookies = self._the_jar().filter_cookies(URL(request_url))
        return "; ".join(f"{name}={morsel.coded_value}" for name, morsel in cookies.items()) or None


_EXPIRES = re.compile(r";\s*expires\s*=\s*([^;]*)", re.IGNORECASE)
_MAX_AGE = re.compile(r";\s*max-age\s*=", re.IGNORECASE)


def _epoch_expires_deletes(value: str) -> str:
    """`Expires=Thu, 01 Jan 1970 00:00:00 GMT`, the usual way to delete a cookie, deletes it (RFC 6265 5.3).

    aiohttp (3.14) reads a date of exactly the epoch (0) as "no date" and keeps the cookie for the session;
    Max-Age=0 says the same thing in a way it reads right (Max-Age wins over Expires, so only add it when absent).
    """
    match = _EXPIRES.search(value)
    if match is None or _MAX_AGE.search(value) is not None:
        return value
    if CookieJar._parse_date(match.group(1).strip()) == 0:
        return f"{value}; Max-Age=0"
    return value


NEXT_IN_ORDER = object()


class IterationState:
    """What one iteration keeps between its steps besides its variables: cookies and what it derived from secrets."""

    __slots__ = ("cookies", "next_request", "taint", "variable_scopes")

    def __init__(self, taint: Taint | None = None, cookies: CookieState | None = None) -> None:
        self.taint = taint or Taint()
        self.cookies = cookies or CookieState()
        # A script's postman.setNextRequest(name | null), read (and reset) once its step ended; NEXT_IN_ORDER: none.
        self.next_request: str | object | None = NEXT_IN_ORDER
        # Which Postman scope a script set each run-time value through ("environment", "collection"...).
        self.variable_scopes: dict[str, str] = {}

    def copy(self) -> IterationState:
        copied = IterationState(Taint(self.taint), self.cookies.copy())
        copied.variable_scopes = dict(self.variable_scopes)
        return copied


def origin(url: str) -> str:
    """scheme://host:port of a URL (the default port spelled out), as a request's destination."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number
        return url
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def _with_cookies(request: PreparedRequest, cookies: CookieState, own_cookie: bool) -> PreparedRequest:
    """The case's own Cookie header wins; otherwise the jar's cookies for this URL are sent."""
    if own_cookie:
        return request
    header = cookies.header(request.url)
    if header is None:
        return request
    return PreparedRequest(
        request.method, request.url, [*request.headers, ("Cookie", header)], request.body, request.body_text
    )


async def exchange(
    transport: Transport,
    prepared: PreparedRequest,
    timeout_s: float,
    cookies: CookieState,
    follow_redirects: bool,
    throttle: Callable[[str], Awaitable[None]],
    carries_secret: Callable[[PreparedRequest], bool],
    max_body_bytes: int,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[PreparedRequest, Response]:
    """Send a request and follow its redirects (at most MAX_REDIRECTS): what was first sent, and the last response.

    301/302/303 continue as GET without a body (HEAD stays HEAD), 307/308 keep the method and body. A hop to
    another origin drops Authorization and the case's own Cookie header; if what is left still carries a
    secret (in the URL or a 307's body), RedirectRefused is raised and nothing more is sent. The timeout
    covers all hops together (its budget is read on `clock`; each hop's I/O timeout is real); the response's
    elapsed_ms too.
    """
    started = clock.now()
    deadline = started + timeout_s
    own_cookie = any(name.lower() == "cookie" for name, _ in prepared.headers)
    request = first = _with_cookies(prepared, cookies, own_cookie)
    hops: list[dict[str, Any]] = []
    hop_cookies: list[str] = []
    while True:
        await throttle(request.url)
        now = clock.now()
        # Sent at once, a request gets the step's timeout itself (the transport builds its timeout object once
        # per step timeout, not per request); after a rate-limit wait or a redirect, what is left of it.
        remaining = timeout_s if now - started < FRESH else deadline - now
        if remaining <= 0:
            raise TransportError(f"timed out after {timeout_s * 1000:.0f} ms (after {len(hops)} redirects)")
        response = await transport.send(request, remaining, max_body_bytes)
        set_cookies = [value for name, value in response.headers if name.lower() == "set-cookie"]
        if set_cookies:
            cookies.store(set_cookies, response.url or request.url)
        location = response.header("location") if follow_redirects and response.status in REDIRECT_STATUSES else None
        if location is None:
            break
        if len(hops) == MAX_REDIRECTS:
            raise TransportError(f"more than {MAX_REDIRECTS} redirects")
        target = urljoin(response.url or request.url, location)
        hops.append({"status": response.status, "url": request.url, "location": location})
        hop_cookies.extend(set_cookies)
        request = _next_hop(request, response.status, target, own_cookie)
        if origin(target) != origin(first.url):
            own_cookie = False  # the case's own Cookie header was meant for the first origin only
            if carries_secret(request):
                raise RedirectRefused(
                    f"redirect {len(hops)} goes to another origin ({target}) and the request would still carry a "
                    "secret there; nothing was sent to it"
                )
        request = _with_cookies(request, cookies, own_cookie)
    if hops:
        response.hops = hops
        response.redirect_cookies = hop_cookies
        response.elapsed_ms = (clock.now() - started) * 1000
    return first, response


def _next_hop(request: PreparedRequest, status: int, target: str, own_cookie: bool) -> PreparedRequest:
    cross_origin = origin(target) != origin(request.url)
    method, body, body_text = request.method, request.body, request.body_text
    drop: set[str] = set(CREDENTIAL_HEADERS) if cross_origin else set()
    if not own_cookie or cross_origin:
        drop.add("cookie")  # the jar's cookies are chosen again for the new URL
    if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
        method = "GET" if method != "HEAD" else "HEAD"
        body = body_text = None
        drop |= BODY_HEADERS
    headers = [(name, value) for name, value in request.headers if name.lower() not in drop]
    return PreparedRequest(method, target, headers, body, body_text)
