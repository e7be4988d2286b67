"""The dashboard's app factory: ``create_app(workspace)`` returns the function Panel calls once per browser
session. Each session starts at the sign-in page; after sign-in it builds the views for that user.

The workspace is opened once per process and shared by every session (and by the Web Connector endpoint
when ``qbrecon.server`` hosts both): DuckDB allows one process per file, and the store serialises threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import panel as pn
from panel.io.resources import LOCAL_DIST, patch_model_css
from panel.io.state import set_curdoc

from .audit_view import AuditView
from .auth import DashboardUser, sign_in
from .format import esc, when_text
from .queue_view import READS, QueueView, batched, first_read
from .reconcile_view import ReconciliationView

log = logging.getLogger(__name__)

TITLE = "qbrecon · ERP Integrations for QuickBooks Desktop"

# The dashboard's own browser scripts (served by ``qbrecon.server`` from STATIC_DIR, loaded after Panel's): page
# name -> file. tabulator_first_draw.js: a table is drawn once when built, not three times (see the file).
STATIC_DIR = Path(__file__).parent / "static"
SCRIPTS = {"qbrecon_tabulator_first_draw": "tabulator_first_draw.js"}

_HEADER_STYLE = {"background": "#24313f", "color": "white", "padding": "0 12px", "border-radius": "4px"}
_WHITE = {"color": "white"}


def open_workspace(workspace: Any) -> Any:
    """A ``Workspace`` from a path, or the given workspace object unchanged."""
    if isinstance(workspace, str | Path):
        from .. import Workspace

        return Workspace(workspace)
    return workspace


def connection_text(ws: Any) -> str:
    """The header's QuickBooks status: "Connected" only while a Web Connector session is live, the last contact
    as a local time, and the last error escaped (a remote caller can write it)."""
    try:
        status = ws.connection_status()
    except Exception as exc:  # the status line must never take the page down
        log.warning("connection status unavailable: %s", exc)
        return "QuickBooks: status unavailable"
    get = status.get if isinstance(status, dict) else lambda k, d=None: getattr(status, k, d)
    live = bool(get("session_open", False))
    text = "QuickBooks: **Connected**" if live else "QuickBooks: **Not Connected**"
    last = get("last_contact") or get("last_contact_at")
    text += f" · last contact {esc(when_text(last))}" if last else " · no contact yet"
    error = get("last_error")
    if error:
        text += f" · last error: {esc(error)}"
    return text


def _user_text(user: DashboardUser) -> str:
    return f"**{esc(user.name)}** ({user.role})"


@dataclass
class _Page:
    """The signed-in page's parts (``Session._page``); ``parts``: what the session's root shows."""

    queue: QueueView
    slots: dict[str, pn.Column]
    tabs: pn.Tabs
    status: pn.pane.Markdown
    user_text: pn.pane.Markdown
    sign_out: pn.widgets.Button
    parts: tuple[Any, ...]


# Whom a page made ahead is for: an accounting approver (the dashboard's daily user); anyone else signing in gets
# a page made for them at sign-in. Nothing of this user reaches a browser (``QueueView.start`` sets the real one).
_AHEAD_USER = DashboardUser(0, "", "", "standard", can_push_to_accounting=True)


class Session:
    """One browser session: the sign-in page, then the views of the signed-in user."""

    def __init__(self, ws: Any, page_size: int = 25):
        self.ws, self.page_size = ws, page_size
        self.user: DashboardUser | None = None
        self.root = pn.Column(sizing_mode="stretch_width", margin=(0, 10))
        self._ahead: _Page | None = None  # an approver's signed-in page, made while the sign-in form shows
        self.show_sign_in()

    # -- sign-in -----------------------------------------------------------------------------------------
    def show_sign_in(self, message: str | None = None) -> None:
        login = pn.widgets.TextInput(name="Login (e-mail)", placeholder="you@example.com", width=320)
        password = pn.widgets.PasswordInput(name="Password", width=320)
        button = pn.widgets.Button(name="Sign in", button_type="primary", width=320)
        feedback = pn.Column(width=340)
        if message:
            feedback.append(pn.pane.Alert(message, alert_type="info"))

        @batched
        def attempt(_event: Any = None) -> None:
            if self.user is not None:
                return
            # The queue's first page is read while the password is checked (DuckDB and scrypt both run outside
            # Python's lock, so on two cores they overlap); nothing of it reaches the browser unless sign-in succeeds.
            name, secret = login.value_input or login.value, password.value_input or password.value
            first = READS.submit(first_read, self.ws, self.page_size) if name and secret else None
            user = None
            try:
                user = sign_in(self.ws, name, secret)
            finally:
                if first is not None and (user is None or user.permission == "none"):
                    first.cancel()
            if user is None:
                feedback.objects = [
                    pn.pane.Alert("Sign-in failed: unknown login or wrong password.", alert_type="danger")
                ]
                return
            if user.permission == "none":
                feedback.objects = [
                    pn.pane.Alert(
                        f"{esc(user.name)} has no permission on the ERP Integrations tool.",
                        alert_type="danger",
                    )
                ]
                return
            self.user = user
            self.show_dashboard(first)

        button.on_click(attempt)
        # Enter signs in: in the login field (enter_pressed), in the password field (its value is set on Enter)
        login.param.watch(lambda _e: password.value_input and attempt(), "enter_pressed")
        password.param.watch(lambda e: e.new and (login.value_input or login.value) and attempt(), "value")
        self.root.objects = [
            pn.Row(
                pn.pane.Markdown(f"## {TITLE}", styles=_WHITE),
                styles=_HEADER_STYLE,
                sizing_mode="stretch_width",
            ),
            pn.Column(pn.pane.Markdown("### Sign in"), login, password, button, feedback, margin=(30, 30)),
        ]
        self._make_ahead_later()

    def sign_out(self, _event: Any = None) -> None:
        self.user = None
        self.show_sign_in("Signed out.")

    # -- the signed-in page, made ahead ------------------------------------------------------------------
    def _make_ahead_later(self) -> None:
        """Make an approver's signed-in page (its widgets and Bokeh models; no data read, nothing sent) once the
        sign-in form is in the browser, while the person types: signing in then only checks the password, reads
        the first view and sends the page (~90 ms less server CPU at the click). Only in a page (a document)."""
        doc = pn.state.curdoc
        if self._ahead is not None or doc is None:
            return
        if pn.state.loaded:  # after a sign-out: once the sign-in form has been sent
            doc.add_next_tick_callback(self._make_ahead)
        else:  # a new session: once the browser has the sign-in page
            pn.state.onload(self._make_ahead)

    def _make_ahead(self) -> None:
        if self.user is not None or self._ahead is not None or not self.root._models:
            return
        page = None
        try:
            page = self._page(_AHEAD_USER, ahead=True)
            ref = next(iter(self.root._models))
            root, _parent = self.root._models[ref]
            with set_curdoc(root.document):  # the models the parts will have once shown in this root
                for part in page.parts:
                    part._get_model(root.document, root, root, None)
            self._local_stylesheets(page)
            self._ahead = page
        except Exception as exc:  # signing in then makes the page, as without this
            log.warning("dashboard page not made ahead: %s", exc)
            if page is not None:
                self._drop(page)

    def _local_stylesheets(self, page: _Page) -> None:
        """Point the stylesheets of a page made ahead at this server, as Panel does for the models of a page it
        serves: models made or changed outside a change of the page point at Panel's CDN, which the content
        policy blocks and a closed network cannot reach."""
        dist = f"{pn.state.rel_path}/{LOCAL_DIST}" if pn.state.rel_path else LOCAL_DIST
        for ref in self.root._models:
            for part in page.parts:
                if ref in part._models:
                    patch_model_css(part._models[ref][0], dist_url=dist)

    def _drop(self, page: _Page) -> None:
        """Forget a page made ahead that no one will see (its models were never in the browser)."""
        for ref, (root, _parent) in list(self.root._models.items()):
            for part in page.parts:
                if ref in part._models:
                    part._cleanup(root)

    # -- dashboard ---------------------------------------------------------------------------------------
    def show_dashboard(self, first: Future | None = None) -> None:
        """The signed-in page. Only the queue (the tab shown first) is built now; the audit log, reconciliation
        and settings are built on their first visit, so sign-in costs one queue page, not every view. An
        approver gets the page made ahead while the sign-in form showed (``_make_ahead``), filled now."""
        assert self.user is not None
        user = self.user
        page, self._ahead = self._ahead, None
        made_ahead = page is not None and user.can_decide
        if made_ahead:  # the same controls as the page was made for
            page.queue.start(user, first)
            page.user_text.object = _user_text(user)
            page.status.object = connection_text(self.ws)
        else:
            if page is not None:
                self._drop(page)
            page = self._page(user, first=first)
        self.audit: AuditView | None = None
        self.reconciliation: ReconciliationView | None = None
        self.settings: Any = None
        self.queue, self._slots, self.tabs, self.status = page.queue, page.slots, page.tabs, page.status
        self.tabs.param.watch(self._on_tab, "active")
        page.sign_out.on_click(self.sign_out)
        self.root.objects = list(page.parts)
        if (
            made_ahead
        ):  # what changed in it since points some stylesheets at Panel's CDN again: at this server
            self._local_stylesheets(page)

    def _page(self, user: DashboardUser, first: Future | None = None, ahead: bool = False) -> _Page:
        """The signed-in page's parts for ``user``; ``ahead``: for a user not signed in yet (no data read)."""
        queue = QueueView(
            self.ws, user, on_change=self._changed, page_size=self.page_size, first=first, ahead=ahead
        )
        # Settings: the whole page for an ERP admin; an approver gets its ERP tools (archive companies, budgets,
        # cost types ...: 'Standard' + Can Push in Procore's matrix), the library checking each action
        names = ["ERP Integrations", "Audit log", "Reconciliation"]
        names += ["Settings"] if user.is_admin or user.can_decide else []
        slots = {name: pn.Column(sizing_mode="stretch_width") for name in names[1:]}
        views: list[tuple[str, Any]] = [("ERP Integrations", queue.panel)]
        views += [(name, slots[name]) for name in names[1:]]
        tabs = pn.Tabs(*views, dynamic=False, sizing_mode="stretch_width")
        sign_out = pn.widgets.Button(name="Sign out", button_type="light", width=90, align="center")
        status = pn.pane.Markdown(
            connection_text(self.ws), styles={"color": "white"}, align="center", sizing_mode="stretch_width"
        )
        user_text = pn.pane.Markdown(_user_text(user), styles={"color": "white"}, align="center", width=300)
        header = pn.Row(
            pn.pane.Markdown(f"## {TITLE}", styles=_WHITE, width=460),
            status,
            user_text,
            sign_out,
            styles=_HEADER_STYLE,
            sizing_mode="stretch_width",
        )
        return _Page(queue, slots, tabs, status, user_text, sign_out, (header, tabs))

    def _build(self, name: str) -> bool:
        """Build the view of tab ``name`` on its first visit; True when it was built just now."""
        assert self.user is not None
        if name == "Audit log" and self.audit is None:
            self.audit = AuditView(self.ws)
            self._slots[name].objects = [self.audit.panel]
        elif name == "Reconciliation" and self.reconciliation is None:
            self.reconciliation = ReconciliationView(self.ws)
            self._slots[name].objects = [self.reconciliation.panel]
        elif name == "Settings" and self.settings is None and self.user.is_admin:
            from .settings_view import SettingsView

            self.settings = SettingsView(self.ws, self.user)
            self._slots[name].objects = [self.settings.panel]
        elif name == "Settings" and self.settings is None and self.user.can_decide:
            from .erp_admin_view import ErpAdminView

            self.settings = ErpAdminView(self.ws, self.user)
            self._slots[name].objects = [self.settings.panel]
        else:
            return False
        return True

    @batched
    def _on_tab(self, event: Any) -> None:
        name = self.tabs._names[event.new] if hasattr(self.tabs, "_names") else None
        built = self._build(name) if name else False
        if name == "Audit log" and not built and self.audit is not None:
            self.audit.refresh()
        elif name == "ERP Integrations":
            self.queue.refresh()
        elif name == "Reconciliation" and self.reconciliation is not None:
            self.reconciliation.start_once()
        self.status.object = connection_text(self.ws)

    @batched
    def _changed(self) -> None:
        if self.audit is not None:  # not yet visited: it reads the log when first shown
            self.audit.refresh()
        self.status.object = connection_text(self.ws)


def warm_up(ws: Any, page_size: int = 25) -> None:
    """Build the signed-in page once, for no one, in a document no browser sees: done by the server at start, so
    the first sign-in after a restart does not also pay for the imports, Bokeh's first models and DuckDB's first
    reads of the queue (about 0.2 s of CPU, once per process). Reads only; nothing is stored or sent."""
    from bokeh.document import Document

    doc = Document()
    with set_curdoc(doc):
        session = Session(ws, page_size=page_size)
        root = session.root.get_root(doc)
        doc.add_root(root)
        # an approver's page has every control of the first view (a read-only user's has fewer); made ahead as
        # while a sign-in form shows, then filled as at the click
        session._make_ahead()
        session.user = DashboardUser(0, "warm-up", "", "standard", can_push_to_accounting=True)
        session.show_dashboard()
        pn.state._onload.pop(doc, None)  # no browser will load this page
        doc.to_json()  # the serialisation a sign-in's message goes through
        session.root._cleanup(root)
        pn.state._views.pop(root.ref["id"], None)  # get_root registered it; no session will ever destroy it


def create_app(
    workspace: Any, *, page_size: int = 25, warm: bool = False
) -> Callable[[], pn.viewable.Viewable]:
    """The Panel app for ``workspace`` (a ``Workspace`` or a path): call it once per session. ``warm``: build the
    signed-in page once now (``warm_up``), as a server does at start.

    ``pn.serve({"/": create_app(ws)})`` or ``qbrecon.server`` (which adds the Web Connector endpoint).
    """
    ws = open_workspace(workspace)
    pn.extension("tabulator", "modal", notifications=False)
    if warm:
        try:
            warm_up(ws, page_size)
        except Exception as exc:  # a cold first sign-in is slower, not broken: serve anyway
            log.warning("dashboard warm-up failed: %s", exc)

    def app() -> pn.viewable.Viewable:
        session = Session(ws, page_size=page_size)
        return session.root

    app.workspace = ws  # type: ignore[attr-defined]
    return app
