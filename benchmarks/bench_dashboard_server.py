"""Dashboard benchmark, the server's share of a sign-in in CPU time: ``python -m benchmarks.bench_dashboard_server
100000 [rounds]`` prints JSON.

Each round opens a fresh session of the dashboard app in a Bokeh document of its own (as the server does for a
browser), signs in as the approver of ``bench_dashboard``'s workspace through the page's Sign in button, and reads:
the CPU time of the handler's thread (the password check, the signed-in page's widgets and Bokeh models; the queue's
first page is read on another thread at the same time and not counted), the CPU time to write the message the
browser gets (Bokeh's PATCH-DOC, as the server serialises it), its size, and how many Bokeh models it carries (each
is a view the browser builds, styles and lays out). Round 1 is the first sign-in of the process: ``warm`` says
whether the app was made as ``qbrecon.server`` makes it (built once at start, ``create_app(..., warm=True)``).
Before the click, each round runs what the server runs once the browser has the sign-in form (the session's
on-load callbacks: since dash7, an approver's signed-in page made ahead, ``page_loaded_cpu_ms``), as a person
types for seconds before signing in; ``... 100000 9 unloaded`` leaves that out (the click then makes the page).
Thread CPU does not grow while the process waits for a core, so code before and after a change compare on a loaded
machine.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_dashboard import PASSWORD, build


def sign_in_once(app: Any, loaded: bool = True) -> dict[str, float]:
    import panel as pn
    from bokeh.core.serialization import Serializer
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    doc = Document()
    with set_curdoc(doc):
        root = app()
        root.server_doc(doc)
        known = set(doc.models)  # the sign-in page: in the browser already
        # what runs once the browser has the sign-in form, before anyone types (the page made ahead, if any)
        cpu = time.thread_time()
        for callback, _threaded in pn.state._onload.pop(doc, []) if loaded else []:
            callback()
        for callback in list(doc.session_callbacks) if loaded else []:
            doc.remove_next_tick_callback(callback)
            callback.callback()
        ahead = time.thread_time() - cpu
        form = root.objects[1]
        login, password, button = form.objects[1], form.objects[2], form.objects[3]
        login.value = "ann@example.com"
        password.value_input = PASSWORD
        cpu = time.thread_time()
        button.clicks += 1
        handler = time.thread_time() - cpu
        # what the server writes for the browser: the page's root with every model new to the browser in full
        cpu = time.thread_time()
        page = root._models[next(iter(root._models))][0]  # noqa: SLF001 (the session's root model)
        encoded = Serializer(references=known - {page}).serialize(page)
        text = json.dumps(
            encoded.content, default=lambda b: b.to_base64()
        )  # binary arrays as the page gets them
        serialise = time.thread_time() - cpu
        models = len([m for m in doc.models if m not in known])
        assert "Page 1 of" in text, "sign-in did not show the queue"
    return {
        "page_loaded_cpu_ms": round(ahead * 1000, 1),
        "handler_cpu_ms": round(handler * 1000, 1),
        "message_cpu_ms": round(serialise * 1000, 1),
        "message_bytes": len(text),
        "new_models": models,
    }


def measure(n: int, rounds: int = 9, warm: bool = True, loaded: bool = True) -> dict:
    from qbrecon.dashboard.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        ws = build(Path(tmp) / "bench.duckdb", n)
        try:
            try:
                app = create_app(ws, warm=warm)
            except TypeError:  # code from before the warm-up: made as the server made it then
                app = create_app(ws)
            runs = [sign_in_once(app, loaded) for _ in range(rounds)]
        finally:
            ws.close()
    later = runs[1:]
    return {
        "first": runs[0],
        "median_of_later": {k: statistics.median(r[k] for r in later) for k in runs[0]},
        "each_handler_cpu_ms": [r["handler_cpu_ms"] for r in runs],
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    loaded = "unloaded" not in sys.argv[3:]
    print(
        json.dumps(
            {
                "benchmark": "dashboard_server",
                "items": n,
                "rounds": rounds,
                "page_loaded_before_sign_in": loaded,
                **measure(n, rounds, loaded=loaded),
            },
            indent=2,
        )
    )
