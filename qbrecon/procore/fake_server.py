"""A local stand-in for Procore's REST API, for tests and the demo (loopback only, never the internet).

It serves a Procore export folder (``qbrecon fixtures generate``) through the endpoints of
``procore.resources`` in Procore's documented response shapes: JSON arrays, ``page``/``per_page`` with the
``Total``, ``Per-Page`` and ``Link`` headers, ``filters[updated_at]=start...end``, line items on their own
endpoints, OAuth 2 (client credentials, authorization code, refresh token) and the sync actions
(``PATCH .../sync`` with ``{"updates": [...]}`` -> ``{"entities": [...], "errors": [...]}``), which change its
data so a later pull shows them. ``Faults`` makes it answer like a busy Procore: a 429 with ``Retry-After``, a
500 before succeeding, an access token expired before its time.

    with FakeProcore("fixtures/small/procore") as fake:
        client = ProcoreClient(fake.company_id, client_id=fake.client_id, client_secret=fake.client_secret,
                               base_url=fake.url, login_url=fake.url)
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ..loaders.procore import read_json_records, resource_files
from ..loaders.procore_shapes import ERP_TOOL, LINE_RESOURCES
from .client import SYNC_LIMIT
from .resources import ENDPOINTS, EXTERNAL_DATA_SYNC, Endpoint

LINKABLE = ("origin_id", "origin_data", "origin_code")


@dataclass
class Faults:
    """Answers a real Procore gives now and then; each fires once per matching path."""

    rate_limit: tuple[str, ...] = ()  # paths answered once with 429 and Retry-After
    server_error: tuple[str, ...] = ()  # paths answered once with 500
    expire_token_after: int | None = None  # after this many API calls, tokens issued so far are refused once
    retry_after: str | None = "1"  # None: the 429 carries only the rate-limit headers (X-Rate-Limit-Reset)
    reset_in: int = 2  # seconds to X-Rate-Limit-Reset
    fired: list[str] = field(default_factory=list)


def _pattern(template: str) -> re.Pattern:
    regex = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(template))
    return re.compile(regex + "$")


_EXTERNAL = _pattern(EXTERNAL_DATA_SYNC)
_ITEM_TYPE_FOLDERS = {
    "requisition": "requisitions",
    "change_order": "commitment_change_orders",
    "contract_payment": "contract_payments",
    "project": "projects",
    "vendor": "vendors",
    "work_order_contract": "commitments",
    "purchase_order_contract": "commitments",
    "cost_code": "cost_codes",
    "standard_cost_code": "cost_codes",
}
_CREATE = {"/rest/v1.0/vendors": ("vendors", "vendor"), "/rest/v1.0/projects": ("projects", "project")}
_LIST_ROUTES = [(_pattern(e.path), e) for e in ENDPOINTS]
_SYNC_ROUTES = [(_pattern(e.sync), e) for e in ENDPOINTS if e.sync]


class FakeProcore:
    """The fake Procore company. ``start()`` serves it on 127.0.0.1 (a free port) in a background thread."""

    def __init__(
        self,
        export_dir: str | Path,
        *,
        company_id: int = 9,
        client_id: str = "qbrecon-local",
        client_secret: str = "local-secret",
        max_per_page: int = 100,
        token_lifetime: int = 7200,
        faults: Faults | None = None,
    ) -> None:
        self.company_id = company_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.max_per_page = max_per_page
        self.token_lifetime = token_lifetime
        self.faults = faults or Faults()
        self.data = _read_export(Path(export_dir))
        self.templates = _as_procore_users(self.data)
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self.changes = 0  # records a sync action changed
        self._tokens: dict[str, bool] = {}  # access token -> still valid
        self._refresh: dict[str, str] = {}
        self._codes: set[str] = set()
        self._api_calls = 0
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Procore is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeProcore:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-procore", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeProcore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def statuses(self, status: int) -> list[str]:
        """Paths answered with ``status`` (what a test checks happened)."""
        return [p for _m, p, s in self.log if s == status]

    # -- records --------------------------------------------------------------------------------------------------
    def collection(self, e: Endpoint, project_id: str | None, parent_id: str | None) -> list[dict] | None:
        """The stored records an endpoint lists (the objects themselves, so a sync changes them)."""
        d = self.data
        pid = _int(project_id)
        by_project = (
            [r for r in d.get(e.folder, []) if _project_of(r) == pid] if e.scope == "project" else None
        )
        if e.name in ("users", "vendors", "projects"):
            return d.get(e.folder, [])
        if e.name in ("company_permission_templates", "project_permission_templates"):
            return self.templates[e.name.split("_")[0] + "_tools"]
        if e.name == "standard_cost_codes":
            return [r for r in d.get("cost_codes", []) if r.get("project_id") is None]
        if e.name in ("work_order_contracts", "purchase_order_contracts"):
            kind = "WorkOrderContract" if e.name == "work_order_contracts" else "PurchaseOrderContract"
            return [r for r in by_project or [] if r.get("type") == kind]
        if e.scope == "lines":
            parent_e = next(p for p in ENDPOINTS if p.name == e.parent)
            _parent, key, _fk = LINE_RESOURCES[e.folder]
            parents = [r for r in d.get(parent_e.folder, []) if str(r.get("id")) == str(parent_id)]
            if not parents or (pid is not None and _project_of(parents[0]) not in (pid, None)):
                return None
            return parents[0].setdefault(key, [])
        return by_project

    def apply_sync(self, records: list[dict], updates: list) -> tuple[list[dict], list[dict]]:
        entities, errors = [], []
        with self._lock:
            by_id = {str(r.get("id")): r for r in records}
            by_origin = {str(r.get("origin_id")): r for r in records if r.get("origin_id") is not None}
            for u in updates:
                if not isinstance(u, dict):
                    errors.append({"update": u, "errors": {"base": ["must be an object"]}})
                    continue
                rec = (
                    by_id.get(str(u.get("id")))
                    if u.get("id") is not None
                    else by_origin.get(str(u.get("origin_id")))
                )
                if rec is None:
                    errors.append({**u, "errors": {"id": ["Entity with this ID not found"]}})
                    continue
                self._link(rec, u)
                entities.append(_strip_lines(rec))
        return entities, errors

    def _link(self, rec: dict, update: dict) -> None:
        changed = False
        for k in LINKABLE:
            if k in update and rec.get(k) != update[k]:
                rec[k] = update[k]
                changed = True
        if changed:
            rec["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.changes += 1

    def external_data_sync(self, updates: list) -> tuple[list[dict], list[dict]]:
        """ERP External Data sync: the link of any object by ``item_type`` and ``item_id``."""
        entities, errors = [], []
        with self._lock:
            for u in updates:
                rec = self._find(u.get("item_type"), u.get("item_id")) if isinstance(u, dict) else None
                if rec is None:
                    errors.append(
                        {
                            **(u if isinstance(u, dict) else {"update": u}),
                            "errors": {"item_id": ["Entity with this ID not found"]},
                        }
                    )
                    continue
                self._link(rec, u)
                entities.append(
                    {
                        "id": len(entities) + 1,
                        "item_type": u["item_type"],
                        "item_id": rec["id"],
                        **{k: rec.get(k) for k in LINKABLE},
                    }
                )
        return entities, errors

    def _find(self, item_type: Any, item_id: Any) -> dict | None:
        d = self.data
        if item_type == "line_item":  # commitment and change order lines (Procore's LineItem objects)
            pools = [
                li
                for f in ("commitments", "commitment_change_orders")
                for r in d.get(f, [])
                for li in r.get("line_items") or []
            ]
        else:
            folder = _ITEM_TYPE_FOLDERS.get(str(item_type))
            pools = d.get(folder, []) if folder else []
        return next((r for r in pools if str(r.get("id")) == str(item_id)), None)

    # -- tokens ---------------------------------------------------------------------------------------------------
    def issue_token(self, with_refresh: bool) -> dict:
        with self._lock:
            access = secrets.token_urlsafe(24)
            self._tokens[access] = True
            token = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "created_at": int(datetime.now(UTC).timestamp()),
            }
            if with_refresh:
                refresh = secrets.token_urlsafe(24)
                self._refresh[refresh] = access
                token["refresh_token"] = refresh
            return token

    def new_code(self) -> str:
        code = secrets.token_urlsafe(12)
        self._codes.add(code)
        return code

    def check_token(self, header: str) -> bool:
        with self._lock:
            self._api_calls += 1
            after = self.faults.expire_token_after
            if after is not None and self._api_calls > after and "expire_token" not in self.faults.fired:
                self.faults.fired.append("expire_token")
                for t in self._tokens:
                    self._tokens[t] = False
            token = header[7:] if header.startswith("Bearer ") else ""
            return self._tokens.get(token, False)

    def fault_for(self, path: str) -> int | None:
        with self._lock:
            for status, paths in ((429, self.faults.rate_limit), (500, self.faults.server_error)):
                key = f"{status} {path}"
                if path in paths and key not in self.faults.fired:
                    self.faults.fired.append(key)
                    return status
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProcore
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body in one write: no delayed-ACK stall per request

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the fake keeps its own log

    def _send(self, status: int, body: Any, headers: dict | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()  # compact, as Procore's API answers
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.fake.log.append((self.command, urlsplit(self.path).path, status))

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/oauth/authorize":  # the person "signs in" at once; back to qbrecon with a code
            target = query.get("redirect_uri", "urn:ietf:wg:oauth:2.0:oob")
            sep = "&" if "?" in target else "?"
            location = (
                target + sep + urlencode({"code": self.fake.new_code(), "state": query.get("state", "")})
            )
            self._send(302, {}, {"Location": location})
            return
        self._api("GET", parts.path, query, None)

    def do_PATCH(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(self._body() or b"{}")
        except ValueError:
            self._send(400, {"errors": "body is not JSON"})
            return
        self._api("PATCH", parts.path, query, body)

    def do_POST(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        if parts.path in _CREATE:
            self._create(parts.path)
            return
        if parts.path != "/oauth/token":
            self._send(404, {"errors": "not found"})
            return
        form = {k: v[-1] for k, v in parse_qs(self._body().decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if (client_id, client_secret) != (self.fake.client_id, self.fake.client_secret):
            self._send(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
            return
        grant = form.get("grant_type")
        if grant == "client_credentials":
            self._send(200, self.fake.issue_token(with_refresh=False))
        elif grant == "authorization_code" and form.get("code") in self.fake._codes:
            self.fake._codes.discard(form["code"])
            self._send(200, self.fake.issue_token(with_refresh=True))
        elif grant == "refresh_token" and form.get("refresh_token") in self.fake._refresh:
            self.fake._refresh.pop(form["refresh_token"])
            self._send(200, self.fake.issue_token(with_refresh=True))
        else:
            self._send(400, {"error": "invalid_grant", "error_description": "The provided grant is invalid"})

    def _allowed(self) -> bool:
        fake = self.fake
        if not fake.check_token(self.headers.get("Authorization", "")):
            self._send(401, {"errors": "The access token is invalid or expired"})
            return False
        if str(self.headers.get("Procore-Company-Id")) != str(fake.company_id):
            self._send(403, {"errors": "Procore-Company-Id does not name this company"})
            return False
        return True

    def _create(self, path: str) -> None:
        """``POST /rest/v1.0/vendors`` / ``/projects``: a new record with a new id, as Procore answers."""
        try:
            body = json.loads(self._body() or b"{}")
        except ValueError:
            self._send(400, {"errors": "body is not JSON"})
            return
        if not self._allowed():
            return
        folder, key = _CREATE[path]
        fields = body.get(key) if isinstance(body, dict) else None
        if not isinstance(fields, dict) or not fields.get("name"):
            self._send(422, {"errors": {key: ["name can't be blank"]}})
            return
        with self.fake._lock:
            records = self.fake.data.setdefault(folder, [])
            new_id = max((_int(r.get("id")) or 0 for r in records), default=0) + 1
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            record = {
                **{k: v for k, v in fields.items() if k != "erp_integrated"},
                "id": new_id,
                "created_at": now,
                "updated_at": now,
            }
            if key == "project":
                record["is_erp_integrated"] = bool(fields.get("erp_integrated"))
            records.append(record)
        self._send(201, record)

    def _api(self, method: str, path: str, query: dict, body: Any) -> None:
        fake = self.fake
        if not self._allowed():
            return
        status = fake.fault_for(path)
        if status == 429:
            headers = {"X-Rate-Limit-Limit": "3600", "X-Rate-Limit-Remaining": "0"}
            if fake.faults.retry_after is not None:
                headers["Retry-After"] = fake.faults.retry_after
            else:
                reset = datetime.now(UTC).timestamp() + fake.faults.reset_in
                headers["X-Rate-Limit-Reset"] = str(int(reset))
            self._send(429, {"errors": "Rate limit exceeded"}, headers)
            return
        if status == 500:
            self._send(500, {"errors": "Internal Server Error"})
            return
        if method == "PATCH" and _EXTERNAL.match(path):
            updates = body.get("updates") if isinstance(body, dict) else None
            if not isinstance(updates, list) or len(updates) > SYNC_LIMIT:
                self._send(
                    422, {"errors": f'body must be {{"updates": [...]}} with at most {SYNC_LIMIT} items'}
                )
                return
            entities, errors = fake.external_data_sync(updates)
            self._send(200, {"entities": entities, "errors": errors})
            return
        routes = _LIST_ROUTES if method == "GET" else _SYNC_ROUTES
        matches = [(m, e) for pattern, e in routes if (m := pattern.match(path))]
        # endpoints sharing a path differ by their fixed query (permission templates by filters[type])
        found = next((x for x in matches if all(query.get(k) == v for k, v in x[1].query)), None)
        found = found or next(iter(matches), None)
        if found is None:
            self._send(404, {"errors": f"no such endpoint: {method} {path}"})
            return
        m, e = found
        v = m.groupdict()
        project_id = v.get("project_id") or query.get("project_id")
        if e.scope == "project" and project_id is None:
            self._send(400, {"errors": "project_id is required"})
            return
        if method == "GET":
            self._list(e, project_id, v.get("id"), query)
        else:
            self._sync(e, project_id, v.get("id"), body)

    def _list(self, e: Endpoint, project_id: str | None, parent_id: str | None, query: dict) -> None:
        records = self.fake.collection(e, project_id, parent_id)
        if records is None:
            self._send(404, {"errors": "not found"})
            return
        window = query.get("filters[updated_at]")
        if window:
            start, _, end = window.partition("...")
            records = [r for r in records if _within(r.get("updated_at"), start, end)]
        per_page = max(1, min(int(query.get("per_page", 10)), self.fake.max_per_page))
        page = max(1, int(query.get("page", 1)))
        total = len(records)
        chunk = [_strip_lines(r) for r in records[(page - 1) * per_page : page * per_page]]
        last = max(1, -(-total // per_page))
        links = []
        base = f"{self.fake.url}{urlsplit(self.path).path}"
        other = {k: v for k, v in query.items() if k not in ("page", "per_page")}
        rels = [("first", 1), ("last", last)] + ([("prev", page - 1)] if page > 1 else [])
        rels += [("next", page + 1)] if page < last else []
        for rel, p in rels:
            links.append(f'<{base}?{urlencode({**other, "page": p, "per_page": per_page})}>; rel="{rel}"')
        self._send(200, chunk, {"Total": str(total), "Per-Page": str(per_page), "Link": ", ".join(links)})

    def _sync(self, e: Endpoint, project_id: str | None, parent_id: str | None, body: Any) -> None:
        updates = body.get("updates") if isinstance(body, dict) else None
        if not isinstance(updates, list):
            self._send(400, {"errors": 'body must be {"updates": [...]}'})
            return
        if len(updates) > SYNC_LIMIT:
            self._send(422, {"errors": f"at most {SYNC_LIMIT} updates per call"})
            return
        records = self.fake.collection(e, project_id, parent_id)
        if records is None:
            self._send(404, {"errors": "not found"})
            return
        entities, errors = self.fake.apply_sync(records, updates)
        self._send(200, {"entities": entities, "errors": errors})


def _read_export(root: Path) -> dict[str, list[dict]]:
    found, _ignored = resource_files(root)
    data: dict[str, list[dict]] = {}
    for resource, files in found.items():
        for f in files:
            data.setdefault(resource, []).extend(copy.deepcopy(read_json_records(f, f.name)))
    return data


# How the local Procore splits the tools between company and project permission templates.
_COMPANY_TOOLS = {"directory", "admin", "projects", ERP_TOOL}


def _as_procore_users(data: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Users as Procore's company users list returns them: the ERP level and tool levels of the export (qbrecon's
    own layout) become permission templates the users hold, the accounting privilege
    ``erp_integrated_accountant``. The templates by type (``company_tools`` / ``project_tools``)."""
    levels: dict[str, dict[str, str]] = {}
    for row in data.pop("user_tool_permissions", []):
        user = row.get("user") if isinstance(row.get("user"), dict) else {}
        uid = user.get("id", row.get("user_id"))
        levels.setdefault(str(uid), {})[str(row.get("tool"))] = str(row.get("level"))
    templates: dict[str, list[dict]] = {"company_tools": [], "project_tools": []}
    ids: dict[tuple, int] = {}
    for user in data.get("users", []):
        tools = dict(levels.get(str(user.get("id")), {}))
        erp = user.pop("erp_integrations_permission", None)
        if erp is not None:
            tools[ERP_TOOL] = erp
        push = user.pop("can_push_to_accounting", None)
        if push is not None:
            user["erp_integrated_accountant"] = push
        for kind, key in (
            ("company_tools", "company_permission_template_id"),
            ("project_tools", "default_permission_template_id"),
        ):
            mine = {
                t: _LEVEL_NUMBER.get(lv, lv)
                for t, lv in tools.items()
                if (t in _COMPANY_TOOLS) == (kind == "company_tools")
            }
            if not mine:
                user[key] = None
                continue
            shape = (kind, tuple(sorted(mine.items())))
            if shape not in ids:
                ids[shape] = len(ids) + 1
                templates[kind].append(
                    {
                        "id": ids[shape],
                        "name": f"{'Company' if kind == 'company_tools' else 'Project'} template {ids[shape]}",
                        "type": kind if kind == "company_tools" else "global",
                        "project_specific": False,
                        "category": "internal",
                        "user_access_levels": mine,
                    }
                )
            user[key] = ids[shape]
    return templates


_LEVEL_NUMBER = {"none": 0, "read_only": 1, "standard": 2, "admin": 3}


def _project_of(rec: dict) -> int | None:
    pid = rec.get("project_id")
    if pid is None and isinstance(rec.get("project"), dict):
        pid = rec["project"].get("id")
    return _int(pid)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _strip_lines(rec: dict) -> dict:
    keys = {key for _p, key, _fk in LINE_RESOURCES.values()}
    return {k: v for k, v in rec.items() if k not in keys}


def _within(value: Any, start: str, end: str) -> bool:
    if not isinstance(value, str):
        return False
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        lo = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None
        hi = datetime.fromisoformat(end.replace("Z", "+00:00")) if end else None
    except ValueError:
        return False
    if lo is not None and lo.tzinfo is None:
        lo = lo.replace(tzinfo=UTC)
    if hi is not None and hi.tzinfo is None:
        hi = hi.replace(tzinfo=UTC)
    return (lo is None or t >= lo) and (hi is None or t <= hi)


def main(argv: list[str] | None = None) -> None:
    """``python -m qbrecon.procore.fake_server EXPORT_DIR``: serve an export as a local Procore until Ctrl+C."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("export", type=Path, help="a Procore export folder (qbrecon fixtures generate)")
    parser.add_argument("--company-id", type=int, default=9)
    args = parser.parse_args(argv)
    fake = FakeProcore(args.export, company_id=args.company_id).start()
    print(f"local Procore for company {fake.company_id} at {fake.url} (127.0.0.1 only); try:")
    print(f"  PROCORE_CLIENT_ID={fake.client_id} PROCORE_CLIENT_SECRET={fake.client_secret} \\")
    print(f"  qbrecon pull procore -w company.duckdb --company-id {fake.company_id} --base-url {fake.url}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
