"""Procore's REST API: the client (``client``), pull into the export layout (``pull``), links back with sync
actions (``push``), import from QuickBooks (``imports``) and a local fake Procore (``fake_server``).

``open_client(ws, company_id)`` gives a client for a workspace: credentials from the arguments or
``$PROCORE_CLIENT_ID`` / ``$PROCORE_CLIENT_SECRET``, the kept token (decrypted) and new tokens kept again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..errors import InputError
from .client import DEFAULT_BASE_URL, DEFAULT_LOGIN_URL, ProcoreApiError, ProcoreClient
from .tokens import load_connection, save_connection

CLIENT_ID_ENV, CLIENT_SECRET_ENV = "PROCORE_CLIENT_ID", "PROCORE_CLIENT_SECRET"


def open_client(
    ws: Any,
    company_id: int,
    *,
    base_url: str | None = None,
    login_url: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ProcoreClient:
    """A client for ``company_id``; the connection (URLs, client id, encrypted token) is kept in the workspace."""
    with ws.store.transaction() as con:
        kept = load_connection(con, ws.path, company_id) or {}
    base_url = base_url or kept.get("base_url") or DEFAULT_BASE_URL
    login_url = (
        login_url
        or kept.get("login_url")
        or (DEFAULT_LOGIN_URL if base_url == DEFAULT_BASE_URL else base_url)
    )
    client_id = client_id or os.environ.get(CLIENT_ID_ENV) or kept.get("client_id")
    client_secret = client_secret or os.environ.get(CLIENT_SECRET_ENV)
    if not client_id:
        raise InputError(
            f"no Procore client id: set ${CLIENT_ID_ENV} (and ${CLIENT_SECRET_ENV})", field="client_id"
        )
    token = kept.get("token") if kept.get("base_url") in (None, base_url) else None

    def keep(new_token: dict | None) -> None:
        with ws.store.transaction() as con:
            save_connection(
                con,
                ws.path,
                company_id,
                base_url=base_url,
                login_url=login_url,
                client_id=client_id,
                token=new_token,
            )

    extra = {"sleep": sleep} if sleep else {}
    client = ProcoreClient(
        company_id,
        client_id=client_id,
        client_secret=client_secret,
        base_url=base_url,
        login_url=login_url,
        token=token,
        on_token=keep,
        redirect_uri="urn:ietf:wg:oauth:2.0:oob",
        **extra,
    )
    if not kept:
        keep(None)
    return client


__all__ = ["ProcoreApiError", "ProcoreClient", "open_client"]
