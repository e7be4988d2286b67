"""One process that owns the workspace and serves the Panel dashboard and the Web Connector endpoint.

DuckDB lets one process hold the workspace file, so the dashboard (browser sessions) and the Web Connector
(``/qbwc``, SOAP) share one ``Workspace`` here; its ``Store`` serialises the threads with a lock. SOAP calls run
on a small thread pool so that building or applying a large message set never blocks the Tornado loop that also
drives the dashboard's websockets.

    qbrecon serve --workspace company.duckdb               # dashboard at /, Web Connector at /qbwc
    serve("company.duckdb", host="127.0.0.1", port=8080)   # the same from Python (blocks)
    with start_server(ws, port=0) as srv: srv.url           # background thread, for tests and notebooks
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import logging
import re
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web
from tornado.ioloop import IOLoop, PeriodicCallback

from .qbwc.service import QBWCService, ServiceConfig, unexpected_error
from .qbwc.soap import (
    CONTENT_TYPE,
    SoapCall,
    SoapFault,
    parse_call,
    write_fault,
    write_result,
    wsdl_with_address,
)

log = logging.getLogger(__name__)

QBWC_PATH = "/qbwc"


# Panel and Bokeh serve every script, style and font from this server (static/...), so nothing needs another
# origin. Inline <script> blocks of a page are allowed by their hashes only (SecurityHeaders adds them per page):
# markup injected later (an <img onerror>, a <script> in an HTML pane) matches no hash and does not run.
# blob: scripts are made by Panel's module loader (es-module-shims) from script already allowed to run.
# Inline styles stay allowed: Bokeh positions and themes its widgets with style attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' blob:{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def content_security_policy(html: bytes | None = None) -> str:
    """The policy for a response; for an HTML page, its own inline scripts are allowed by SHA-256 hash."""
    hashes = ""
    if html:
        digests = {
            base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()
            for m in _INLINE_SCRIPT.finditer(html)
        }
        hashes = "".join(f" 'sha256-{d}'" for d in sorted(digests))
    return CONTENT_SECURITY_POLICY.format(hashes=hashes)


class SecurityHeaders(tornado.web.OutputTransform):
    """Frame, sniffing and content-security headers on every response of the server (dashboard, static files,
    the Web Connector endpoint): no other site may frame the dashboard or run script in it."""

    def transform_first_chunk(
        self, status_code: int, headers: tornado.httputil.HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, tornado.httputil.HTTPHeaders, bytes]:
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        html = headers.get("Content-Type", "").startswith("text/html")
        headers["Content-Security-Policy"] = content_security_policy(chunk if html else None)
        return status_code, headers, chunk


def packaged_wsdl() -> bytes:
    """The Web Connector WSDL shipped with qbrecon (Intuit's public service description)."""
    return resources.files("qbrecon.qbwc").joinpath("QBWebConnectorSvc.wsdl").read_bytes()


def read_call(body: bytes, max_body: int, remote_ip: str | None) -> tuple[SoapCall | None, int, bytes]:
    """Parse one SOAP request (in a worker thread): the call, or (None, status, fault envelope)."""
    try:
        return parse_call(body, max_body), 200, b""
    except SoapFault as fault:
        log.info("SOAP request refused from %s: %s", remote_ip, fault.message[:200])
        return None, 500, write_fault(fault.message, fault.code)


def answer_call(service: QBWCService, call: SoapCall, remote_ip: str | None) -> tuple[int, bytes]:
    """Run one operation and write its answer (in a worker thread, never on the event loop)."""
    try:
        result = service.handle(call, remote_ip)
    except Exception as exc:  # a bug or a broken workspace must answer with a fault, not drop the caller
        log.exception("Web Connector %s failed", call.operation)
        return 500, write_fault(unexpected_error(exc), code="Server")
    return 200, write_result(call.operation, result)


@tornado.web.stream_request_body
class QBWCHandler(tornado.web.RequestHandler):
    """``POST /qbwc``: SOAP 1.1 calls of the Web Connector. ``GET /qbwc?wsdl``: the WSDL, addressed to us.

    The body is streamed and capped (``max_body_bytes``): beyond the cap the rest is discarded and the answer
    is a SOAP fault, so a huge body costs neither memory nor a hang. Each address may have only
    ``max_calls_per_client`` calls in progress (more get 503 at once), and the HTTP server cuts off a client that
    takes longer than ``body_timeout`` seconds to send its request.
    """

    def initialize(
        self,
        service: QBWCService,
        executor: ThreadPoolExecutor,
        max_body_bytes: int,
        calls: dict[str, int],
        login_executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.service, self.executor, self.max_body = service, executor, int(max_body_bytes)
        # Password checks (scrypt, by design slow) run on a pool of their own: logins told "busy", or a flood of
        # guesses, never make the live session's sendRequestXML/receiveResponseXML wait behind them.
        self.login_executor = login_executor or executor
        self.calls = calls  # calls in progress per remote address; touched on the event loop only
        self._chunks: list[bytes] = []
        self._size = 0
        self._too_big = False
        self._counted: str | None = None

    def prepare(self) -> None:
        if self.request.method != "POST":
            return
        ip = self.request.remote_ip or ""
        if self.calls.get(ip, 0) >= max(1, int(self.service.config.max_calls_per_client)):
            log.info("SOAP request from %s refused: too many calls in progress", ip)
            self.set_header("Retry-After", "5")
            self._fault("too many calls in progress from this address; retry shortly", "Server", status=503)
            return
        self.calls[ip] = self.calls.get(ip, 0) + 1
        self._counted = ip
        # Tornado reads up to twice the cap and discards what is past the cap (data_received), so a moderately
        # oversized request still gets a clean fault; beyond that it is answered at once and the connection closed.
        limit = 2 * self.max_body + 1024
        self.request.connection.set_max_body_size(limit)
        length = self.request.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            self._fault(
                f"request body of {length} bytes exceeds the limit of {self.max_body} bytes", status=413
            )

    def _release(self) -> None:
        if self._counted is not None:
            left = self.calls.get(self._counted, 1) - 1
            if left > 0:
                self.calls[self._counted] = left
            else:
                self.calls.pop(self._counted, None)
            self._counted = None

    def on_finish(self) -> None:
        self._release()

    def on_connection_close(self) -> None:
        self._release()  # the client went away mid-request (or was cut off by the body timeout)

    def data_received(self, chunk: bytes) -> None:
        if self._too_big:
            return
        self._size += len(chunk)
        if self._size > self.max_body:
            self._too_big, self._chunks = True, []
            return
        self._chunks.append(chunk)

    def _fault(self, message: str, code: str = "Client", status: int = 500) -> None:
        self.set_status(status)
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(write_fault(message, code))

    async def post(self) -> None:
        if self._too_big:
            self._fault(f"request body exceeds the limit of {self.max_body} bytes", status=413)
            return
        body = b"".join(self._chunks)
        self._chunks = []
        loop = asyncio.get_running_loop()
        ip = self.request.remote_ip
        call, status, answer = await loop.run_in_executor(self.executor, read_call, body, self.max_body, ip)
        if call is not None:
            pool = self.login_executor if call.operation == "authenticate" else self.executor
            status, answer = await loop.run_in_executor(pool, answer_call, self.service, call, ip)
        if self.request.connection.stream is not None and self.request.connection.stream.closed():
            return  # the caller has gone; nothing to answer
        self.set_status(status)
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(answer)

    def _bound_url(self) -> str:
        """This endpoint at the local address the request arrived on. Never from the ``Host`` header: a client
        chooses that, and the WSDL's address tells other clients where to send their SOAP calls."""
        try:
            host, port = self.request.connection.stream.socket.getsockname()[:2]  # type: ignore[union-attr]
        except (AttributeError, OSError):
            return f"http://127.0.0.1{QBWC_PATH}"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{QBWC_PATH}"

    def get(self) -> None:
        query = self.request.query.lower()
        if query.startswith("wsdl") or "wsdl" in self.request.arguments:
            address = self.service.config.public_url or self._bound_url()
            self.set_header("Content-Type", CONTENT_TYPE)
            self.finish(wsdl_with_address(packaged_wsdl(), address))
            return
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(
            "qbrecon QuickBooks Web Connector service.\n"
            "Add the .qwc file from `qbrecon qwc` to the QuickBooks Web Connector; it posts SOAP here.\n"
            f"Service description: {self.request.path}?wsdl\n"
        )


def qbwc_patterns(
    service: QBWCService,
    executor: ThreadPoolExecutor | None = None,
    login_executor: ThreadPoolExecutor | None = None,
) -> list[tuple]:
    """Tornado URL patterns for the Web Connector endpoint (for ``pn.serve(..., extra_patterns=...)``)."""
    executor = executor or ThreadPoolExecutor(max_workers=2, thread_name_prefix="qbwc")
    args = {
        "service": service,
        "executor": executor,
        "max_body_bytes": service.config.max_body_bytes,
        "calls": {},
        "login_executor": login_executor,
    }
    return [(QBWC_PATH, QBWCHandler, args)]


def http_server_options(config: ServiceConfig) -> dict[str, Any]:
    """Options of the HTTP server for the whole process: body size and how long a client may take to send a
    request (a request that stalls after a few bytes would otherwise hold its connection indefinitely)."""
    timeout = float(config.body_timeout)
    return {
        "max_body_size": 2 * config.max_body_bytes + 1024,
        "body_timeout": timeout,
        "idle_connection_timeout": timeout,  # also bounds the wait for a request's headers
    }


def _panel_styles_from_this_server() -> None:
    """Panel's Divider builds its model without the step that points stylesheets at the serving server, so it
    would load divider.css from cdn.holoviz.org, which the policy above (rightly) blocks. Point it here."""
    from panel.io.resources import CDN_DIST, LOCAL_DIST
    from panel.layout import Divider

    Divider._stylesheets = [s.replace(CDN_DIST, LOCAL_DIST) for s in Divider._stylesheets]


def _dashboard_scripts() -> dict[str, str]:
    """The dashboard's own browser scripts, served by this server (``static_dirs``) and added to every page after
    Panel's (``pn.config.js_files``): URL path -> the folder it is served from."""
    import panel as pn

    from .dashboard import SCRIPTS, STATIC_DIR

    for name, file in SCRIPTS.items():
        pn.config.js_files[name] = f"{STATIC_URL}/{file}"
    return {STATIC_URL: str(STATIC_DIR)}


STATIC_URL = "qbrecon-static"


def _freeze_startup_objects() -> bool:
    """Leave what the process holds at start (Python, pandas, Bokeh, Panel, the warmed-up page: ~250,000 objects)
    out of the garbage collector's full passes: a full pass over them takes 0.2-0.7 s, and landing in a sign-in or a
    click it was that step's slowest time. Objects made later (sessions, pages) are collected as before."""
    gc.collect()  # nothing unreachable is kept for good
    gc.freeze()
    return True


def _dashboard_app(ws: Any) -> Any | None:
    """The dashboard's app factory, or None when the dashboard package is not importable."""
    try:
        from .dashboard import create_app
    except ImportError as exc:
        log.warning("dashboard not available (%s); serving the Web Connector endpoint only", exc)
        return None
    return create_app(ws, warm=True)  # the first sign-in after a start then costs what every later one does


@dataclass
class RunningServer:
    """A server running in a background thread (``start_server``)."""

    host: str
    port: int
    workspace: Any
    service: QBWCService
    _loop: IOLoop | None = None
    _thread: threading.Thread | None = None
    _stop: Any = None
    _executor: ThreadPoolExecutor | None = None
    _login_executor: ThreadPoolExecutor | None = None
    _owns_workspace: bool = False
    _frozen: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The Web Connector endpoint (the ``AppURL`` of the ``.qwc``)."""
        return self.base_url + QBWC_PATH

    def stop(self) -> None:
        """Stop serving and wait for the thread; closes the workspace if this server opened it."""
        if self._loop is not None and self._stop is not None:
            self._loop.add_callback(self._stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        for pool in (self._executor, self._login_executor):
            if pool is not None:
                pool.shutdown(wait=True)
        if self._owns_workspace:
            self.workspace.close()
        if self._frozen:
            gc.unfreeze()  # what was alive at start is the garbage collector's again (tests, notebooks)
            self._frozen = False

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


DAILY_SUMMARY_CHECK_SECONDS = 300.0
_MAIL_TICK = threading.Lock()


def daily_summary_tick(ws: Any) -> int:
    """Queue today's "ERP Integrations Daily Summary" for each accounting approver while anything is Ready to
    Export (once per approver per day: the outbox dedupes), then deliver queued mail when SMTP is configured.
    ``qbrecon serve`` runs this every few minutes so the summary needs no cron job."""
    if not _MAIL_TICK.acquire(blocking=False):
        return (
            0  # the previous tick is still talking to the mail server: never send the same mail twice at once
        )
    try:
        with (
            ws.store.transaction()
        ):  # holds the workspace lock: the dashboard and QBWC calls share the connection
            queued = ws.queue_daily_summaries()
            waiting = int(ws.store.scalar("SELECT count(*) FROM outbox WHERE status = 'queued'"))
            smtp = ws.settings.get("smtp_host")
        if waiting and smtp:
            ws.deliver_mail()
        return queued
    except Exception:  # a mail server that is down must never stop the Web Connector service
        log.exception("daily summary mail failed; the outbox keeps it for the next try")
        return 0
    finally:
        _MAIL_TICK.release()


def _open(workspace: Any) -> tuple[Any, bool]:
    if isinstance(workspace, str | Path):
        from . import Workspace

        return Workspace(workspace), True
    return workspace, False


def start_server(
    workspace: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    dashboard: bool = False,
    config: ServiceConfig | None = None,
    daily_summary_every: float | None = None,
) -> RunningServer:
    """Serve in a background thread; ``port=0`` picks a free port (see ``.port``/``.url``). With
    ``daily_summary_every`` (seconds), the daily summary mail is queued and sent from this process."""
    ws, owns = _open(workspace)
    service = QBWCService(ws, config or ServiceConfig.from_workspace(ws))
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qbwc")
    login_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qbwc-login")
    sockets = tornado.netutil.bind_sockets(port, address=host)
    real_port = sockets[0].getsockname()[1]
    running = RunningServer(
        host, real_port, ws, service, _executor=executor, _login_executor=login_executor, _owns_workspace=owns
    )
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        try:
            patterns = qbwc_patterns(service, executor, login_executor)
            app = _dashboard_app(ws) if dashboard else None
            if app is not None:
                import panel as pn

                running._frozen = _freeze_startup_objects()

                _panel_styles_from_this_server()
                static = _dashboard_scripts()
                for s in sockets:
                    s.close()  # Bokeh binds the port itself (we bound it first only to learn a free port)

                server = pn.serve(
                    {"/": app},
                    port=real_port,
                    address=host,
                    show=False,
                    start=False,
                    loop=loop,
                    extra_patterns=patterns,
                    websocket_origin=[f"{host}:{real_port}", f"localhost:{real_port}"],
                    title="qbrecon",
                    verbose=False,
                    http_server_kwargs=http_server_options(service.config),
                    transforms=[SecurityHeaders],
                    static_dirs=static,
                )
                server.start()
                running._stop = lambda: (server.stop(), loop.stop())
            else:
                http = tornado.httpserver.HTTPServer(
                    tornado.web.Application(patterns, transforms=[SecurityHeaders]),
                    **http_server_options(service.config),
                )
                http.add_sockets(sockets)
                running._stop = lambda: (http.stop(), loop.stop())
            running._loop = loop
            if daily_summary_every:
                mail = PeriodicCallback(
                    lambda: executor.submit(daily_summary_tick, ws), daily_summary_every * 1000
                )
                mail.start()
                loop.add_callback(lambda: executor.submit(daily_summary_tick, ws))
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.start()
        loop.close(all_fds=False)

    thread = threading.Thread(target=run, name=f"qbrecon-server-{real_port}", daemon=True)
    running._thread = thread
    thread.start()
    started.wait(timeout=30)
    if failure:
        executor.shutdown(wait=False)
        login_executor.shutdown(wait=False)
        if owns:
            ws.close()
        raise failure[0]
    return running


def serve(
    workspace_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    dashboard: bool = True,
    config: ServiceConfig | None = None,
) -> None:
    """Run the dashboard (at ``/``, when available and wanted) and the Web Connector endpoint (``/qbwc``) in
    this process until interrupted. Listens on loopback unless ``host`` says otherwise."""
    running = start_server(
        workspace_path,
        host,
        port,
        dashboard=dashboard,
        config=config,
        daily_summary_every=DAILY_SUMMARY_CHECK_SECONDS,
    )
    log.info(
        "serving %s: Web Connector at %s%s",
        workspace_path,
        running.url,
        f", dashboard at {running.base_url}/" if dashboard else "",
    )

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM (service managers) ends the server as cleanly as Ctrl+C

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        running._thread.join()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()  # closes the workspace: DuckDB checkpoints and releases the file
