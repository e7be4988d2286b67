"""Procore connections kept in the workspace: base URLs, client id and the OAuth token, the token encrypted.

The token is encrypted with Fernet (AES-128-CBC + HMAC) under a key that is NOT in the workspace: the
``QBRECON_PROCORE_KEY`` environment variable, else a key file beside the workspace (``<workspace>.procore-key``,
created owner-only on first use). A copied workspace file alone does not give access to Procore. Tokens are
never printed; ``describe`` shows only whether one is kept and when it expires.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from ..errors import QbreconError

KEY_ENV = (
    "QBRECON_PROCORE_KEY"  # the table, procore_connections, is declared in migrations/0002_procore_api.sql
)


def _key(workspace_path: str | Path | None) -> bytes:
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    if workspace_path is None or str(workspace_path) == ":memory:":
        raise QbreconError(f"set ${KEY_ENV} (a Fernet key) to keep a Procore token in an in-memory workspace")
    path = Path(f"{workspace_path}.procore-key")
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
    return path.read_bytes().strip()


def save_connection(
    con: Any,
    workspace_path: str | Path | None,
    company_id: int,
    *,
    base_url: str,
    login_url: str,
    client_id: str,
    token: dict | None,
) -> None:
    """Keep (or replace) the connection to a Procore company; ``token`` is encrypted before it is stored."""
    blob = Fernet(_key(workspace_path)).encrypt(json.dumps(token).encode()).decode() if token else None
    con.execute(
        "INSERT OR REPLACE INTO procore_connections VALUES (?, ?, ?, ?, ?, ?)",
        [int(company_id), base_url, login_url, client_id, blob, datetime.now(UTC)],
    )


def load_connection(con: Any, workspace_path: str | Path | None, company_id: int) -> dict | None:
    """The kept connection (``token`` decrypted) or None."""
    row = con.execute(
        "SELECT base_url, login_url, client_id, token_encrypted FROM procore_connections WHERE company_id = ?",
        [int(company_id)],
    ).fetchall()
    if not row:
        return None
    base_url, login_url, client_id, blob = row[0]
    token = None
    if blob:
        try:
            token = json.loads(Fernet(_key(workspace_path)).decrypt(blob.encode()))
        except (InvalidToken, ValueError):
            raise QbreconError(
                f"the kept Procore token cannot be decrypted with this key (${KEY_ENV} or the .procore-key file "
                "beside the workspace); sign in again with --sign-in"
            ) from None
    return {"base_url": base_url, "login_url": login_url, "client_id": client_id, "token": token}
