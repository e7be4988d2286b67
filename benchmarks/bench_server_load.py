"""A bounded load test of the one-process server (issue 18): dashboard sessions and Web Connector clients at
once, against one workspace, on loopback, for a fixed time; every answer is checked.

    python benchmarks/bench_server_load.py            # 60 s, 8 dashboard sessions, 32 Web Connector clients
    python benchmarks/bench_server_load.py 10         # a short run
    from benchmarks.bench_server_load import run; run(seconds=60)

- **Web Connector clients** (32): each speaks raw SOAP over its own HTTP connection from its own loopback
  address (127.0.0.2, 127.0.0.3, ... as separate machines would), looping serverVersion -> clientVersion ->
  authenticate -> (sendRequestXML -> simulated QuickBooks -> receiveResponseXML)* -> closeConnection. One session
  at a time may export (the service tells the others "busy" with the seconds to wait); they try again after 5-10 s
  (not the whole wait they are told), so the endpoint is under constant load. Answers are checked against the protocol: a ticket or "none"/"busy" (never
  "nvu"), qbXML or "" from sendRequestXML, 0..100 from receiveResponseXML (never -1), "OK..." from closeConnection.
- **Dashboard sessions** (8): each loads the dashboard page over HTTP every 20 s (a new Bokeh session on the
  server; status 200, the security headers, the Bokeh document) and, as its signed-in callbacks do on the server, signs in and
  reads queue pages, tab counts, item details and the connection status from the shared store. Checked: a page
  holds at most its page size of rows, all of the status asked for; the counts add up to the number of items
  (status changes never change the total); a detail belongs to the item asked for.

Any error, a wrong answer, an HTTP status other than 200, or a timeout counts as an error; the run reports
latency percentiles per kind of call and the items synced.
"""

from __future__ import annotations

import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_qbwc import PASSWORD, queue_companies  # noqa: E402

USER_PASSWORD = "dashboard password"
SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}


class Recorder:
    """Latencies per kind of call and every error, from all threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.counts: dict[str, int] = defaultdict(int)

    def time(self, kind: str, seconds: float) -> None:
        with self._lock:
            self.latency[kind].append(seconds)

    def error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text[:300])

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n


def _p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class SoapClient:
    """One Web Connector: its own connection from its own loopback address."""

    def __init__(self, host: str, port: int, source: str, rec: Recorder):
        self.host, self.port, self.source, self.rec = host, port, source, rec
        self.con: http.client.HTTPConnection | None = None

    def call(self, operation: str, **params):  # noqa: ANN003, ANN201
        from qbrecon.qbwc.soap import read_result, write_call

        body = write_call(operation, **params)
        t0 = time.perf_counter()
        for attempt in (1, 2):
            try:
                if self.con is None:
                    self.con = http.client.HTTPConnection(
                        self.host, self.port, timeout=60, source_address=(self.source, 0)
                    )
                self.con.request("POST", "/qbwc", body=body, headers=SOAP_HEADERS)
                resp = self.con.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.HTTPException):
                # A kept-alive connection the server closed while idle: reconnect once, as HTTP clients do.
                if self.con is not None:
                    self.con.close()
                self.con = None
                if attempt == 2:
                    raise
        self.rec.time(f"soap {operation}", time.perf_counter() - t0)
        if resp.status != 200:
            raise AssertionError(f"{operation}: HTTP {resp.status}: {data[:200]!r}")
        return read_result(data)

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


def web_connector(n: int, host: str, port: int, company, deadline: float, rec: Recorder) -> None:  # noqa: ANN001
    from qbrecon.qbwc.simulator import RequestProcessorError

    client = SoapClient(host, port, f"127.0.0.{n + 2}", rec)
    try:
        while time.monotonic() < deadline:
            if "qbrecon" not in client.call("serverVersion", strVersion="2.3.0.215"):
                rec.error(f"client {n}: serverVersion answer")
            if client.call("clientVersion", strVersion="2.3.0.215") not in ("", None):
                rec.error(f"client {n}: clientVersion refused")
            answer = client.call("authenticate", strUserName="qbwc", strPassword=PASSWORD)
            status = answer[1] if len(answer) > 1 else None
            if status == "busy":
                if len(answer) != 3 or not answer[2].isdigit() or not answer[0]:
                    rec.error(f"client {n}: busy answer {answer}")
                rec.count("busy")
                # The Web Connector waits the seconds it is told before trying again; a shorter wait (5-10 s, not
                # the whole ticket lifetime) keeps the endpoint loaded. Every try costs a password check (scrypt).
                time.sleep(min(int(answer[2]) if answer[2].isdigit() else 5, random.uniform(5.0, 10.0)))
                continue
            if status == "none":
                rec.count("nothing to do")
                time.sleep(1.0)
                continue
            if status != "" or not answer[0]:
                rec.error(f"client {n}: authenticate answered {answer}")
                time.sleep(0.2)
                continue
            ticket = answer[0]
            rec.count("sessions")
            while True:
                xml = client.call(
                    "sendRequestXML",
                    ticket=ticket,
                    strHCPResponse="",
                    strCompanyFileName="",
                    qbXMLCountry="US",
                    qbXMLMajorVers=13,
                    qbXMLMinorVers=0,
                )
                if not xml:
                    why = client.call("getLastError", ticket=ticket)
                    if "No requests are waiting" not in why and "limit" not in why:
                        rec.error(f"client {n}: empty sendRequestXML: {why}")
                    break
                if not xml.lstrip().startswith("<?xml") or "<QBXMLMsgsRq" not in xml:
                    rec.error(f"client {n}: sendRequestXML is not qbXML: {xml[:80]!r}")
                    break
                try:
                    response, hresult, message = company.process(xml).decode(), "", ""
                except RequestProcessorError as exc:
                    response, hresult, message = "", exc.hresult, str(exc)
                    rec.error(f"client {n}: QuickBooks refused a message set: {exc}")
                percent = client.call(
                    "receiveResponseXML", ticket=ticket, response=response, hresult=hresult, message=message
                )
                rec.count("message sets")
                if not 0 <= int(percent) <= 100:
                    rec.error(
                        f"client {n}: receiveResponseXML {percent}: {client.call('getLastError', ticket=ticket)}"
                    )
                    break
                if int(percent) == 100 or time.monotonic() > deadline:
                    break
            closed = client.call("closeConnection", ticket=ticket)
            if not str(closed).startswith("OK"):
                rec.error(f"client {n}: closeConnection {closed!r}")
    except Exception as exc:  # noqa: BLE001 - every failure is a finding of the load test
        rec.error(f"client {n}: {type(exc).__name__}: {exc}")
    finally:
        client.close()


def dashboard_session(n: int, ws, base_url: str, items: int, deadline: float, rec: Recorder) -> None:  # noqa: ANN001
    from qbrecon.dashboard import queries
    from qbrecon.dashboard.auth import sign_in

    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    rng = random.Random(n)
    statuses = ["ready_to_export", "exporting", "synced", "accepted", None]
    next_page_load = 0.0
    try:
        t0 = time.perf_counter()
        user = sign_in(ws, "bench", USER_PASSWORD)
        rec.time("dashboard sign-in", time.perf_counter() - t0)
        if user is None:
            rec.error(f"dashboard {n}: sign-in refused")
            return
        while time.monotonic() < deadline:
            if time.monotonic() >= next_page_load:  # a browser opening the dashboard: a new Bokeh session
                con = http.client.HTTPConnection(host, int(port), timeout=60)
                t0 = time.perf_counter()
                con.request("GET", "/")
                resp = con.getresponse()
                body = resp.read()
                rec.time("dashboard page", time.perf_counter() - t0)
                con.close()
                if resp.status != 200 or b"bokeh" not in body.lower():
                    rec.error(f"dashboard {n}: page HTTP {resp.status}")
                if resp.getheader("X-Frame-Options") != "DENY" or not resp.getheader(
                    "Content-Security-Policy"
                ):
                    rec.error(f"dashboard {n}: page without security headers")
                next_page_load = time.monotonic() + 20  # a browser reopening the page now and then
            status = rng.choice(statuses)
            query = queries.QueueQuery(
                item_type="company", status=status, page=rng.randint(1, 5), page_size=25
            )
            t0 = time.perf_counter()
            frame, total = queries.queue_page(ws, query)
            rec.time("dashboard queue page", time.perf_counter() - t0)
            if len(frame) > 25 or total < len(frame) or (status and set(frame["status"]) - {status}):
                rec.error(f"dashboard {n}: queue page for {status}: {len(frame)} rows of {total}")
            t0 = time.perf_counter()
            counts = queries.status_counts(ws)
            rec.time("dashboard tab counts", time.perf_counter() - t0)
            if queries.count_of(counts, "company") != items:
                rec.error(
                    f"dashboard {n}: counts add up to {queries.count_of(counts, 'company')}, not {items}"
                )
            pid = 10_000 + rng.randrange(items)
            t0 = time.perf_counter()
            detail = queries.item_detail(ws, "company", pid)
            rec.time("dashboard item detail", time.perf_counter() - t0)
            if detail.header.get("id") != pid or detail.queue.get("procore_id") != pid:
                rec.error(f"dashboard {n}: detail of {pid} shows {detail.header.get('id')}")
            t0 = time.perf_counter()
            status_now = ws.connection_status()
            rec.time("dashboard connection status", time.perf_counter() - t0)
            if "session_open" not in status_now:
                rec.error(f"dashboard {n}: connection status {status_now}")
            rec.count("dashboard rounds")
            time.sleep(0.05)
    except Exception as exc:  # noqa: BLE001
        rec.error(f"dashboard {n}: {type(exc).__name__}: {exc}")


def run(
    seconds: float = 60, dashboard_sessions: int = 8, qbwc_clients: int = 32, items: int | None = None
) -> dict:
    """Run the load for ``seconds`` and return errors, counts and latency percentiles (seconds)."""
    from qbrecon import Workspace
    from qbrecon.qbwc.service import ServiceConfig
    from qbrecon.qbwc.simulator import QuickBooksCompany
    from qbrecon.server import start_server

    items = items or int(200 * seconds)
    rec = Recorder()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "load.duckdb")
        ws.set_service_credentials("qbwc", PASSWORD)
        queue_companies(ws, items)
        ws.set_user_password("bench", USER_PASSWORD)
        cfg = ServiceConfig.from_workspace(ws, max_requests=25, max_messages_per_session=10**6)
        with (
            start_server(ws, port=0, dashboard=True, config=cfg) as srv,
            QuickBooksCompany(Path(tmp) / "qb.duckdb", validate=False) as company,
        ):
            t0 = time.monotonic()
            deadline = t0 + seconds
            threads = [
                threading.Thread(target=web_connector, args=(i, srv.host, srv.port, company, deadline, rec))
                for i in range(qbwc_clients)
            ] + [
                threading.Thread(target=dashboard_session, args=(i, ws, srv.base_url, items, deadline, rec))
                for i in range(dashboard_sessions)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=seconds + 120)
            hung = sum(t.is_alive() for t in threads)
            if hung:
                rec.error(f"{hung} client thread(s) still running {seconds + 120:g} s after the deadline")
            wall = time.monotonic() - t0
        synced = int(ws.store.scalar("SELECT count(*) FROM erp_items WHERE status = 'synced'"))
        ws.close()
    kinds = {}
    for kind, values in sorted(rec.latency.items()):
        kinds[kind] = {
            "calls": len(values),
            "p50_ms": round(1000 * statistics.median(values), 1),
            "p95_ms": round(1000 * _p(values, 0.95), 1),
            "max_ms": round(1000 * max(values), 1),
        }
    soap = [v for k, vs in rec.latency.items() if k.startswith("soap") for v in vs]
    dash = [v for k, vs in rec.latency.items() if k.startswith("dashboard") for v in vs]
    return {
        "seconds": round(wall, 1),
        "dashboard_sessions": dashboard_sessions,
        "qbwc_clients": qbwc_clients,
        "items_queued": items,
        "items_synced": synced,
        "errors": len(rec.errors),
        "first_errors": rec.errors[:10],
        "counts": dict(rec.counts),
        "soap_calls": len(soap),
        "soap_p95_ms": round(1000 * _p(soap, 0.95), 1),
        "dashboard_calls": len(dash),
        "dashboard_p95_ms": round(1000 * _p(dash, 0.95), 1),
        "by_kind": kinds,
    }


if __name__ == "__main__":
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    print(json.dumps(run(seconds=secs), indent=2))
