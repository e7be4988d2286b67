"""Throughput of the whole Web Connector loop: accepted items -> qbXML message sets -> SOAP over loopback HTTP
(zeep through the WSDL) -> simulated QuickBooks -> responses applied -> Synced.

    python benchmarks/bench_qbwc.py 10000        # prints the dict run() returns
    from benchmarks.bench_qbwc import run; run(10_000)

Items are Procore companies (VendorAdd), accepted in one batch; the clock runs from the first authenticate to
the last closeConnection, so it measures the service, the ledger, HTTP/SOAP and the simulator together. The
ledger's share is given in wall time (``shares``) and in CPU time (``cpu_shares``: the ledger calls' own thread
against the process over the loop), which moves much less between runs on a shared machine.
"""

from __future__ import annotations

import cProfile
import functools
import json
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path

PASSWORD = "benchmark password"


def _put(ws, table: str, rows: list[dict]) -> None:
    ws.store.put_rows(table, rows)


def queue_companies(ws, n: int) -> None:
    """``n`` Procore companies sent and accepted for export (an admin who may push to accounting decides)."""
    _put(
        ws,
        "users",
        [
            dict(
                id=1,
                name="Bench Admin",
                login="bench",
                email_address="bench@example.com",
                is_active=True,
                erp_integrations_permission="admin",
                can_push_to_accounting=True,
            )
        ],
    )
    _put(
        ws, "user_tool_permissions", [dict(user_id=1, tool="directory", level="admin")]
    )  # may send companies
    _put(
        ws,
        "companies",
        [
            dict(id=10_000 + i, name=f"Bench Vendor {i:06d}", is_active=True, created_by_id=1)
            for i in range(n)
        ],
    )
    ws.refresh_queue()
    ids = [("company", 10_000 + i) for i in range(n)]
    ws.send(ids, by=1)
    ws.accept(ids, by=1)


class Statements:
    """DuckDB statements (``execute`` and ``sql`` on the store's connections) made inside the ledger calls, counted
    per ledger call name: the ledger's cost is statements per message set, so the benchmark reports them."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._saved: dict[str, object] = {}

    def inside(self, name: str):  # noqa: ANN201
        stats = self

        class _Inside:
            def __enter__(self_inner) -> None:  # noqa: N805
                stack = getattr(stats._local, "stack", None)
                if stack is None:
                    stack = stats._local.stack = []
                stack.append(name)

            def __exit__(self_inner, *exc: object) -> None:  # noqa: N805
                stats._local.stack.pop()

        return _Inside()

    def _count(self) -> None:
        stack = getattr(self._local, "stack", None)
        if stack:
            with self._lock:
                self.counts[stack[0]] = self.counts.get(stack[0], 0) + 1

    def __enter__(self) -> Statements:
        from qbrecon.store import _Connection

        stats = self
        for attr in ("execute", "sql"):
            original = _Connection.__dict__.get(attr)
            self._saved[attr] = original

            def counted(con, *args, __attr=attr, __original=original, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                stats._count()
                if __original is not None:
                    return __original(con, *args, **kwargs)
                return getattr(con._con, __attr)(*args, **kwargs)

            setattr(_Connection, attr, counted)
        return self

    def __exit__(self, *exc: object) -> None:
        from qbrecon.store import _Connection

        for attr, original in self._saved.items():
            if original is None:
                delattr(_Connection, attr)
            else:
                setattr(_Connection, attr, original)


class TimeAccount:
    """Wall time spent inside chosen methods, whichever thread calls them (the SOAP handler runs on the
    server's pool): the benchmark's own instrumentation, patched in for one run and removed afterwards.

    With ``profile=True`` the ledger calls also run under cProfile (in the thread that makes them), for the
    profile summary; that slows them, so the timed run is made without it."""

    def __init__(
        self,
        targets: dict[str, tuple[type, str]],
        profile: bool = False,
        statements: Statements | None = None,
    ):
        self.statements = statements
        self.targets, self.seconds, self.calls = (
            targets,
            dict.fromkeys(targets, 0.0),
            dict.fromkeys(targets, 0),
        )
        # CPU seconds of the calling thread inside each target, and the process's over the whole account: on a
        # shared machine wall time moves by +-20 % between runs of the same code, CPU time much less. (DuckDB's
        # worker thread is not the caller's: a target's thread CPU leaves out what DuckDB ran beside it.)
        self.cpu = dict.fromkeys(targets, 0.0)
        self.process_cpu = 0.0
        self._lock = threading.Lock()
        self._saved: list[tuple[type, str, object]] = []
        self.profile = cProfile.Profile() if profile else None

    def __enter__(self) -> TimeAccount:
        self._process_cpu0 = time.process_time()
        for name, (cls, attr) in self.targets.items():
            original = cls.__dict__[attr]
            self._saved.append((cls, attr, original))
            setattr(cls, attr, self._wrap(name, original))
        return self

    def __exit__(self, *exc: object) -> None:
        self.process_cpu += time.process_time() - self._process_cpu0
        for cls, attr, original in reversed(self._saved):
            setattr(cls, attr, original)

    def _wrap(self, name: str, fn):  # noqa: ANN001, ANN202
        account = self
        profiled = self.profile is not None and name.startswith("ledger")

        @functools.wraps(fn)
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            t0, c0 = time.perf_counter(), time.thread_time()
            if profiled:
                with account._lock:
                    account.profile.enable()
            counting = account.statements is not None and name.startswith("ledger")
            try:
                if counting:
                    with account.statements.inside(name):
                        return fn(*args, **kwargs)
                return fn(*args, **kwargs)
            finally:
                if profiled:
                    with account._lock:
                        account.profile.disable()
                with account._lock:
                    account.seconds[name] += time.perf_counter() - t0
                    account.cpu[name] += time.thread_time() - c0
                    account.calls[name] += 1

        return timed

    def top(self, n: int = 15) -> list[dict]:
        """The profile's top functions by cumulative time inside the ledger calls."""
        if self.profile is None:
            return []
        stats = pstats.Stats(self.profile)
        rows = []
        for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            rows.append(
                {
                    "function": f"{Path(file).name}:{line}({func})",
                    "calls": nc,
                    "own_s": round(tt, 3),
                    "cumulative_s": round(ct, 3),
                }
            )
        rows.sort(key=lambda r: -r["cumulative_s"])
        return rows[:n]


def _targets() -> dict[str, tuple[type, str]]:
    from qbrecon.erp.export import ExportService
    from qbrecon.qbwc.service import QBWCService
    from qbrecon.qbwc.simulator import QuickBooksCompany

    return {
        "service": (QBWCService, "handle"),  # the whole SOAP operation, ledger included
        "ledger_next_export_batch": (ExportService, "next_export_batch"),
        "ledger_apply_export_response": (ExportService, "apply_export_response"),
        "ledger_mark_batch_sent": (ExportService, "mark_batch_sent"),
        "quickbooks_simulator": (QuickBooksCompany, "process"),
    }


def _loop(n: int, max_requests: int, account: TimeAccount) -> dict:
    from qbrecon import Workspace
    from qbrecon.qbwc.connector import WebConnectorClient
    from qbrecon.qbwc.service import ServiceConfig
    from qbrecon.qbwc.simulator import QuickBooksCompany
    from qbrecon.server import start_server

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "bench.duckdb")
        ws.set_service_credentials("qbwc", PASSWORD)
        t0 = time.perf_counter()
        queue_companies(ws, n)
        setup = time.perf_counter() - t0
        cfg = ServiceConfig.from_workspace(ws, max_requests=max_requests, max_messages_per_session=10**6)
        with (
            start_server(ws, port=0, config=cfg) as srv,
            QuickBooksCompany(Path(tmp) / "qb.duckdb") as company,
        ):
            client = WebConnectorClient(srv.url, "qbwc", PASSWORD, company)
            messages = requests = sessions = 0
            with account:
                t1 = time.perf_counter()
                while sessions < 1000:
                    report = client.run_once()
                    sessions += 1
                    messages += report.messages
                    requests += report.requests
                    if report.auth_status == "none" or report.last_error and not report.messages:
                        break
                seconds = time.perf_counter() - t1
            in_quickbooks = company.counts().get("vendor", 0)
        synced = ws.store.execute(
            "SELECT count(*) FROM erp_items WHERE item_type = 'company' AND status = 'synced'"
        ).fetchone()[0]
        ws.close()
    return {
        "items": n,
        "synced": int(synced),
        "in_quickbooks": int(in_quickbooks),
        "sessions": sessions,
        "message_sets": messages,
        "requests": requests,
        "requests_per_message": max_requests,
        "setup_seconds": round(setup, 2),
        "seconds": round(seconds, 2),
        "message_sets_per_second": round(messages / seconds, 2) if seconds else None,
        "items_per_second": round(requests / seconds, 1) if seconds else None,
    }


class ResponseParses:
    """Counts how often a qbXML *response* document (``<QBXMLMsgsRs>``) is parsed by lxml, whoever parses it: the
    Web Connector loop should parse each response QuickBooks sends once. Streams count too: a file-like source
    is recognised by the bytes it holds (``getvalue``) or, for qbrecon's guarded reader, by the head it has
    already read (``_head``), so a streaming ``iterparse`` of a response is one more parse."""

    NAMES = ("fromstring", "XML", "iterparse", "parse")

    def __init__(self) -> None:
        self.parses = 0
        self._saved: dict = {}

    @staticmethod
    def _is_response(data: object) -> bool:
        if isinstance(data, str):
            data = data[:4096].encode("utf-8", "replace")
        if isinstance(data, bytes | bytearray):
            return b"<QBXMLMsgsRs" in bytes(data[:4096])
        return False

    def __enter__(self) -> ResponseParses:
        from lxml import etree

        for name in self.NAMES:
            fn = getattr(etree, name)
            self._saved[name] = fn

            def counted(source, *args, __fn=fn, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                if (
                    self._is_response(source)
                    or (hasattr(source, "getvalue") and self._is_response(source.getvalue()))
                    or self._is_response(getattr(source, "_head", None))
                ):
                    self.parses += 1
                return __fn(source, *args, **kwargs)

            setattr(etree, name, counted)
        return self

    def __exit__(self, *exc: object) -> None:
        from lxml import etree

        for name, fn in self._saved.items():
            setattr(etree, name, fn)


def run(n: int = 10_000, max_requests: int = 100, profile_items: int | None = None) -> dict:
    """Export ``n`` items through the full loop; returns counts, seconds, rates and where the time went.

    The time account splits the loop into: the export ledger (build and apply), the service's own work
    (SOAP operation minus ledger), the QuickBooks simulator, and the rest (zeep client, HTTP, Tornado, SOAP
    envelopes). A second, smaller run (``profile_items``, default n/5) profiles the ledger calls."""
    statements = Statements()
    account = TimeAccount(_targets(), statements=statements)
    with statements:
        out = _loop(n, max_requests, account)
    total = out["seconds"]
    sec = account.seconds
    ledger = sum(v for k, v in sec.items() if k.startswith("ledger"))
    service_own = sec["service"] - ledger
    rest = total - sec["service"] - sec["quickbooks_simulator"]
    out["time_account"] = {k: round(v, 2) for k, v in sec.items()} | {"calls": account.calls}
    sets = max(1, out["message_sets"])
    out["ledger_statements"] = {
        "total": sum(statements.counts.values()),
        "per_message_set": round(sum(statements.counts.values()) / sets, 1),
        "by_call_per_message_set": {k: round(v / sets, 1) for k, v in sorted(statements.counts.items())},
    }
    # the same split in CPU seconds: the ledger calls' own thread against the whole process over the loop
    ledger_cpu = sum(v for k, v in account.cpu.items() if k.startswith("ledger"))
    out["cpu_seconds"] = {"export_ledger": round(ledger_cpu, 2), "process": round(account.process_cpu, 2)}
    out["cpu_shares"] = {
        "export_ledger": round(ledger_cpu / account.process_cpu, 3) if account.process_cpu else None
    }
    out["shares"] = {
        "export_ledger": round(ledger / total, 3),
        "service_own": round(service_own / total, 3),
        "quickbooks_simulator": round(sec["quickbooks_simulator"] / total, 3),
        "client_http_soap": round(rest / total, 3),
    }
    # each response parsed once: a separate small run with lxml's entry points counted
    counter = ResponseParses()
    with counter:
        counted = _loop(max(max_requests * 5, n // 20), max_requests, TimeAccount({}))
    out["response_parses"] = {
        "message_sets": counted["message_sets"],
        "parses": counter.parses,
        "per_response": round(counter.parses / counted["message_sets"], 2)
        if counted["message_sets"]
        else None,
    }
    out["targets"] = {"ledger_share": "<= 0.30", "parses_per_response": "1"}
    out["targets_met"] = {
        "ledger_share": bool(out["shares"]["export_ledger"] <= 0.30),
        "parses_per_response": out["response_parses"]["per_response"] == 1,
    }
    pn = profile_items if profile_items is not None else max(max_requests, n // 5)
    prof = TimeAccount(_targets(), profile=True)
    _loop(pn, max_requests, prof)
    out["profile"] = {"items": pn, "service_share": out["shares"]["service_own"], "ledger_top": prof.top(15)}
    return out


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000), indent=2))
