"""``livefilter ui``: a local web page to run, watch and review.

A Starlette app served by uvicorn on 127.0.0.1. Security, since any web page
the user visits can reach a local port:

* a random token is in the page's URL; every request must carry it (query
  ``token`` or header ``X-Livefilter-Token``): 401 without, 403 if wrong;
* the ``Host`` header must name the bound address (DNS rebinding: a foreign
  name resolving to 127.0.0.1 gets 403);
* whatever changes state is a POST with the token in the *header*, which a
  page of another origin cannot send without a CORS preflight we never
  answer;
* uploads go only into a private temporary folder (mode 0700) removed at
  exit; no raw frame is ever written anywhere;
* no access log (URLs carry the token; a stream URL carries its key).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from livefilter.errors import LivefilterError

__all__ = ["UiConfig", "UiState", "build_app", "serve"]

logger = logging.getLogger(__name__)

TOKEN_HEADER = "x-livefilter-token"
_STATIC = {"app.css": "text/css", "app.js": "text/javascript", "live.js": "text/javascript",
           "review.js": "text/javascript", "photos.js": "text/javascript"}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, kw_only=True)
class UiConfig:
    host: str = "127.0.0.1"
    port: int = 0
    open_browser: bool = True


class UiState:
    """What the page's three views share: the token, the private folder, and
    the live, review and photo sessions.
    """

    def __init__(self, token: str, workdir: Path, detector_factory: Callable[..., Any]) -> None:
        from livefilter.ui.live import LiveSession
        from livefilter.ui.photos import PhotoSession
        from livefilter.ui.review import ReviewSession

        self.token = token
        self.workdir = workdir
        self.detector_factory = detector_factory
        self.live = LiveSession(detector_factory)
        self.review = ReviewSession(workdir / "review", detector_factory)
        self.photos = PhotoSession(workdir / "photos", detector_factory)
        self.allowed_hosts: set[str] = set()
        self.any_address_port: int | None = None  # bound to 0.0.0.0 or ::
        # Set by serve(): tells open event streams to end when the server stops.
        self.stopping: Callable[[], bool] = lambda: False

    def host_allowed(self, host: str) -> bool:
        """The ``Host`` header names the bound address, or (bound to every
        address) any IP literal with our port. A DNS-rebinding page always
        sends a *name*, so it never passes.
        """
        if host in self.allowed_hosts:
            return True
        if self.any_address_port is None:
            return False
        import ipaddress

        name, _, port = host.rpartition(":")
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return False
        return port == str(self.any_address_port)

    def close(self) -> None:
        self.live.stop(wait=True)
        self.review.close()


class _Guard:
    """ASGI middleware: Host check, token check, security headers."""

    def __init__(self, app: Any, state: UiState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        host = request.headers.get("host", "").lower()
        if not self.state.host_allowed(host):
            await PlainTextResponse("forbidden host", 403)(scope, receive, send)
            return
        header = request.headers.get(TOKEN_HEADER)
        given = header if header is not None else request.query_params.get("token")
        if not given:
            await PlainTextResponse("token required", 401)(scope, receive, send)
            return
        if not hmac.compare_digest(given.encode(), self.state.token.encode()):
            await PlainTextResponse("wrong token", 403)(scope, receive, send)
            return
        if request.method not in ("GET", "HEAD") and header is None:
            # A form or image of another site can put the token in a URL it
            # learnt; it cannot set a header. State changes need the header.
            await PlainTextResponse("state changes need the token header", 403)(
                scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode())
                            for k, v in _SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error(exc: BaseException, status: int = 400) -> JSONResponse:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return JSONResponse({"error": SECRET_FILTER.mask(text)}, status_code=status)


Endpoint = Callable[[Request], Awaitable[Response]]


def handler(fn: Endpoint) -> Endpoint:
    """Errors become ``{"error": one line}`` (400 for bad input), never a traceback."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except (LivefilterError, ValueError, KeyError, TypeError) as exc:
            return _error(exc)
        except Exception as exc:  # the page shows one line; the log has the rest
            logger.exception("ui request failed")
            return _error(exc, 500)

    return wrapped


async def body_json(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"request body is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("request body: expected a JSON object")
    return data


def build_app(state: UiState) -> Any:
    from livefilter.ui import live, photos, review

    async def index(request: Request) -> Response:
        html = resources.files("livefilter.ui").joinpath("static/index.html").read_text("utf-8")
        return Response(html.replace("{{TOKEN}}", state.token), media_type="text/html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return PlainTextResponse("not found", 404)
        text = resources.files("livefilter.ui").joinpath(f"static/{name}").read_text("utf-8")
        return Response(text, media_type=_STATIC[name])

    async def events(request: Request) -> Response:
        """Server-sent events: live status and stats once a second-ish."""

        async def stream():
            while not state.stopping() and not await request.is_disconnected():
                payload = {"live": state.live.status(), "review": state.review.status()}
                yield f"data: {json.dumps(payload)}\n\n"
                await asyncio.sleep(0.5)

        return StreamingResponse(stream(), media_type="text/event-stream")

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/events", events),
        *live.routes(state),
        *review.routes(state),
        *photos.routes(state),
    ]
    return _Guard(Starlette(routes=routes), state)


def _test_detector_factory() -> Callable[..., Any] | None:
    """TEST ONLY: ``LIVEFILTER_UI_TEST_DETECTOR=miss`` makes every detector
    find nothing, so the browser tests can mark by hand a face the detector
    "missed". Announced loudly on stderr; never set it for real use.
    """
    import os

    if os.environ.get("LIVEFILTER_UI_TEST_DETECTOR") != "miss":
        return None
    from livefilter.detections import Detections

    class MissEverything:
        def detect(self, frame_bgr: Any) -> Detections:
            return Detections.empty()

    logger.warning("TEST ONLY: LIVEFILTER_UI_TEST_DETECTOR=miss: the detector finds nothing")
    return lambda *args, **kwargs: MissEverything()


def default_detector_factory(*, quality: str, video: bool, threads: int = 0) -> Any:
    from livefilter.detect import DetectorConfig, build_detector

    return build_detector(DetectorConfig(kind="auto", quality=quality, video=video,
                                         threads=threads))


class _MaskSecrets(logging.Filter):
    """Masks registered secrets (stream keys) in every log record."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "****")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = self.mask(record.getMessage()), None
        return True


SECRET_FILTER = _MaskSecrets()


def serve(config: UiConfig, on_url: Callable[[str], None]) -> None:
    """Run until interrupted; ``on_url`` gets the page's URL once listening."""
    import signal
    import socket
    import sys

    import uvicorn

    for handler_ in logging.getLogger().handlers:
        handler_.addFilter(SECRET_FILTER)
    # uvicorn re-raises SIGTERM once it has shut down; exit through the
    # ``finally`` blocks below so the private folder is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    token = secrets.token_urlsafe(24)
    workdir = Path(tempfile.mkdtemp(prefix="livefilter-ui-"))  # mode 0700
    try:
        factory = _test_detector_factory() or default_detector_factory
        state = UiState(token, workdir, factory)
        sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        port = sock.getsockname()[1]
        name = f"[{config.host}]" if ":" in config.host else config.host
        state.allowed_hosts = {f"{name}:{port}"}
        if config.host in ("0.0.0.0", "::"):
            state.any_address_port = port
        if config.host in ("127.0.0.1", "::1", "localhost"):
            state.allowed_hosts |= {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
        server = uvicorn.Server(uvicorn.Config(
            build_app(state), log_level="warning", access_log=False, lifespan="off",
            # An open page keeps its event stream open: do not wait on it at exit.
            timeout_graceful_shutdown=2))
        url = f"http://{name}:{port}/?token={token}"
        state.stopping = lambda: server.should_exit

        async def main() -> None:
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():
                await asyncio.sleep(0.05)
            if server.started:
                on_url(url)
            await task

        try:
            asyncio.run(main())
        finally:
            state.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
