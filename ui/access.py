"""Who may use `rag serve`: one key, RAG_API_KEY, guards the page, its endpoints and the API.

With a key set, the page asks for a login through gradio's own auth (any user name, the
key as the password) and the API (ui.api) wants the key as a Bearer token. Gradio checks
the login on the routes that run events, upload files or serve them, and on its config and
schema, but not on every route: in gradio 6.31 /gradio_api/heartbeat, /cancel, /stream/*,
/startup-events and /reset answer anyone, and so does the FastAPI schema at /openapi.json;
and the login page itself holds what /gradio_api/info guards, the page's endpoints with the
defaults of its fields. So the app launch() makes also gets LoginRequired, which refuses
every request without the login except the few the login page loads (and /v1, which checks
the key itself), and cuts the endpoints out of the login page: a route a later gradio adds
stays closed until someone opens it here.

A server reachable from other machines (a host other than loopback, or --share) does not
start without a key unless asked to (--no-key). Jupyter and Open WebUI work the same way: a
login is on unless switched off on purpose, and text-generation-webui, which starts open,
only warns. Such a server's page loads a model by name or from the models folder only, and
refuses any other path with one message, whether or not a file is there.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from rag.errors import RagError
from rag.models import spec
from rag.settings import Settings
from ui.api import HEALTH_PATH, PREFIX as API_PREFIX

LOGIN_MESSAGE = "Log in with any user name and this server's key (RAG_API_KEY) as the password."
NOT_LOGGED_IN = "Not logged in: log in on the page with this server's key (RAG_API_KEY)."
OTHER_SITE = "Refused: this request came from another site's page (its Origin is not this server)."
MODEL_REFUSED = ("This server can be reached from other machines, so its page loads only a model "
                 "named in `rag models` or a .gguf file in the server's models folder (RAG_MODELS_DIR).")

# What the login page loads before anyone has logged in (read off a browser's requests), and
# startup-events, which gradio's launch() calls itself, without a login, to start the queue
# (later calls do nothing).
LOGIN_PAGE = frozenset({"/", "/login", "/login/", "/logout", "/theme.css", "/favicon.ico",
                        "/manifest.json", "/robots.txt", "/gradio_api/startup-events"})
LOGIN_PAGE_FOLDERS = ("/assets/", "/static/", "/svelte/")
API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)


def key_login(key: str) -> Callable[[str, str], bool]:
    """Gradio's auth check: any user name, and the key as the password."""
    def check(username: str, password: str) -> bool:
        return secrets.compare_digest(password.encode(), key.encode())
    return check


def open_without_login(path: str) -> bool:
    """True for the login page's own files, the API, which checks the key itself, and the
    health check a load balancer asks (it says ready or not, and why, nothing more)."""
    return path in LOGIN_PAGE or path.startswith(LOGIN_PAGE_FOLDERS) or path == HEALTH_PATH or is_api(path)


def is_api(path: str) -> bool:
    """True for the HTTP API's paths (/v1 and below)."""
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def logged_in(scope: Scope) -> bool:
    """True when the request carries a login cookie of gradio's that its app knows.

    Read as gradio's own get_current_user reads it; tests/test_auth.py logs in through
    /login and uses the page, so a change in how gradio keeps logins fails there.
    """
    app = scope["app"]  # gradio's App: Starlette puts the app in the scope before its middleware
    cookies = HTTPConnection(scope).cookies
    token = (cookies.get(f"access-token-{app.cookie_id}")
             or cookies.get(f"access-token-unsecure-{app.cookie_id}"))
    return token is not None and token in app.tokens


class LoginRequired:
    """ASGI middleware for gradio's app: no login, no route but the login page's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not same_origin(scope):
            await JSONResponse({"detail": OTHER_SITE}, status_code=403)(scope, receive, send)
        elif scope["type"] not in ("http", "websocket") or logged_in(scope):
            await self.app(scope, receive, send)
        elif scope["path"] == "/":
            await self.app(scope, receive, without_api_info(send))
        elif open_without_login(scope["path"]):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await WebSocketClose(code=1008)(scope, receive, send)
        else:
            await JSONResponse({"detail": NOT_LOGGED_IN}, status_code=401)(scope, receive, send)


def same_origin(scope: Scope) -> bool:
    """False for a browser request sent by another site's page: its Origin is not the host it
    was sent to (or is "null", from a sandboxed frame). A logged-in user's cookie must not let
    any page they visit act on the server (CSRF; gradio's CORS headers allow any origin, with
    cookies, on a host other than localhost). /v1 takes a Bearer key, not the cookie, so a
    browser client elsewhere may use it. Behind a reverse proxy, the proxy must pass the
    original Host (nginx: proxy_set_header Host $http_host). X-Forwarded-Host is not trusted:
    any page can send it through gradio's CORS."""
    headers = dict(scope.get("headers", ()))
    origin = headers.get(b"origin")
    if origin is None or is_api(scope["path"]):
        return True  # not a browser's cross-site request, or one a cookie does not authorise
    if scope["type"] == "http" and scope["method"] in ("GET", "HEAD", "OPTIONS"):
        return True  # changes nothing
    host = urlsplit(origin.decode("latin-1")).netloc.lower()
    return bool(host) and host == headers.get(b"host", b"").decode("latin-1").lower()


def without_api_info(send: Send) -> Send:
    """send, with the description of the page's endpoints cut out of the login page.

    Gradio writes it into the login page, though its /gradio_api/info wants the login, and it
    holds the defaults of the page's fields, such as the configured model's path.
    """
    start: Message = {}
    body = bytearray()

    async def send_login_page(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                page = API_INFO.sub(b"window.gradio_api_info = {};</script>", bytes(body))
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(page)).encode())]})
                await send({"type": "http.response.body", "body": page})
        else:
            await send(message)
    return send_login_page


def is_loopback(host: str) -> bool:
    """True when host only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_exposed(host: str, share: bool) -> bool:
    """True when other machines can reach the server."""
    return share or not is_loopback(host)


def check_exposure(settings: Settings, host: str, share: bool, no_key: bool) -> str | None:
    """RagError when the server would be reachable from other machines without a key; the
    warning to log when no_key says that is meant; None when a key guards it or none can reach it."""
    if settings.api_key.get_secret_value() or not is_exposed(host, share):
        return None
    where = "a public share link" if share else host
    if not no_key:
        raise RagError(
            f"Serving on {where} lets other machines reach the page and the API, so it needs a key: "
            "set RAG_API_KEY to a secret (e.g. `export RAG_API_KEY=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))')`) and log in on the page with it. On a network you "
            "trust, --no-key serves it open: anyone reaching it can then use the page and the API, "
            "add documents, switch collections and load models.")
    return (f"Serving on {where} with no key (--no-key): anyone who can reach it can use the page "
            "and the HTTP API (/v1/), add and remove documents, switch collections and load models "
            "from the models folder. Set RAG_API_KEY to require a login.")


def exposed_model_choice(choice: str, models_dir: Path) -> str | None:
    """What an exposed page may load for choice: a name from `rag models` ("" for the standard
    model) as it is, a path as the file it names inside models_dir (a relative one is taken
    from there), and None for a path that leads anywhere else (links followed), whether or
    not a file is there."""
    if not choice or spec(choice):
        return choice
    try:
        folder = Path(models_dir).expanduser().resolve()
        target = (folder / Path(choice).expanduser()).resolve()  # an absolute choice replaces folder
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL byte
        return None
    return str(target) if target.is_relative_to(folder) else None
