"""Serving the dashboard on its own (tests, ``panel serve``-less runs). ``qbrecon.server`` serves it together
with the Web Connector endpoint in one process; this helper is the same ``pn.serve`` call without it."""

from __future__ import annotations

import socket
from typing import Any

import panel as pn

from .app import create_app


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for tests that start a server)."""
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def serve_dashboard(
    workspace: Any,
    *,
    port: int = 5006,
    address: str = "127.0.0.1",
    show: bool = False,
    threaded: bool = False,
    start: bool = True,
    extra_patterns: list | None = None,
    page_size: int = 25,
) -> Any:
    """Serve ``create_app(workspace)`` at ``/`` on ``address:port``; returns Panel's server object.

    ``threaded=True`` runs the server in a background thread (``server.stop()`` ends it), as tests do.
    """
    app = create_app(workspace, page_size=page_size)
    return pn.serve(
        {"/": app},
        port=port,
        address=address,
        show=show,
        threaded=threaded,
        start=start,
        websocket_origin=[f"{address}:{port}", f"localhost:{port}"],
        extra_patterns=extra_patterns or [],
        title="qbrecon dashboard",
    )
