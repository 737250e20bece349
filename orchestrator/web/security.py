"""Who may use the dashboard: the holder of the token printed at start, from this origin.

The token comes once as ``?token=`` and is then kept in an HttpOnly, SameSite=Strict cookie,
so another local user (who can reach the port) or a web page open in the user's browser
(which can make it send requests) can neither read nor act. State changes are POST only
and must carry this server's own Origin.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlencode

from starlette.datastructures import URL
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp

from orchestrator.domain.errors import ValidationError

#: Shorter tokens are refused: the dashboard can change state (approve, retry, cancel).
MIN_TOKEN_LENGTH = 16
COOKIE = "orch_dashboard"
#: Methods that change nothing; every other one needs a matching Origin.
SAFE_METHODS = frozenset({"GET", "HEAD"})
#: Scripts and styles from our own static files only: an injected tag could not run.
CSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """A bind beyond loopback exposes the dashboard to the network: only with --token."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        # An empty or short token would be guessed; refuse it rather than pick one silently.
        raise ValidationError(f"--token must be at least {MIN_TOKEN_LENGTH} characters")
    if not is_loopback(host) and not token:
        raise ValidationError(
            f"--host {host} is not a loopback address: give --token TOKEN to serve beyond "
            "this machine"
        )


class TokenGuard(BaseHTTPMiddleware):
    """401 without the token, 403 for a state change from another origin or by GET."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        super().__init__(app)
        self.token = token

    def _holds(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(
            candidate.encode(), self.token.encode()
        )

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = request.query_params.get("token")
        if given is not None and request.method in SAFE_METHODS:
            if not self._holds(given):
                return PlainTextResponse("wrong token", status_code=401)
            # The token leaves the URL (history, Referer) and lives on in the cookie.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = URL(request.url.path).replace(query=urlencode(rest))
            response: Response = RedirectResponse(str(target), status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
            return response
        bearer = request.headers.get("authorization", "")
        if not (
            self._holds(request.cookies.get(COOKIE))
            or (bearer.startswith("Bearer ") and self._holds(bearer[7:]))
        ):
            return PlainTextResponse(
                "this dashboard needs its token: open the URL `orch dashboard` printed",
                status_code=401,
            )
        if request.method not in SAFE_METHODS and not _same_origin(request):
            return PlainTextResponse("refused: a state change from another origin", 403)
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin, not no-referrer: with that Chromium sends `Origin: null` on form posts.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    host = request.headers.get("host")
    if origin is None or host is None:
        return False
    return origin in {f"http://{host}", f"https://{host}"}
