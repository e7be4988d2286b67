"""Procore connections kept in the workspace: base URLs, client id and the OAuth token, the token encrypted.

The token is encrypted with Fernet (AES-128-CBC + HMAC) under a key that is NOT in the workspace: the
``QBRECON_PROCORE_KEY`` environment variable, else a key file beside the workspace (``<workspace>.procore-key``,
created owner-only) when one exists, else the OS keyring when the optional ``keyring`` package is installed and
has a working backend (``pip install qbrecon[keyring]``; the key is kept under the service ``qbrecon-procore``,
named by the workspace's absolute path), else a new key file. A key file, once made, stays the key (a token
encrypted under it stays readable after keyring is installed). A copied workspace file alone does not give
access to Procore. Tokens are never printed.
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
    "QBRECON_PROCORE_KEY"  # the table, procore_connections, is declared in migrations/0003_procore_api.sql
)
KEYRING_SERVICE = "qbrecon-procore"


def _key(workspace_path: str | Path | None) -> bytes:
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    if workspace_path is None or str(workspace_path) == ":memory:":
        raise QbreconError(f"set ${KEY_ENV} (a Fernet key) to keep a Procore token in an in-memory workspace")
    path = Path(f"{workspace_path}.procore-key")
    if not path.exists():
        kept = _keyring_key(str(Path(workspace_path).resolve()))
        if kept is not None:
            return kept
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
    return path.read_bytes().strip()


def _keyring_key(name: str) -> bytes | None:
    """The workspace's key from the OS keyring (made there on first use), or None when there is no keyring:
    the package missing, no usable backend (its priority below 1, e.g. ``fail.Keyring`` on a headless machine)
    or the backend failing."""
    try:
        import keyring
    except ImportError:
        return None
    try:
        if getattr(keyring.get_keyring(), "priority", 0) < 1:
            return None
        value = keyring.get_password(KEYRING_SERVICE, name)
        if not value:
            value = Fernet.generate_key().decode()
            keyring.set_password(KEYRING_SERVICE, name, value)
            if keyring.get_password(KEYRING_SERVICE, name) != value:  # a backend that drops what it is given
                return None
        return value.encode()
    except Exception:  # noqa: BLE001 - any keyring failure falls back to the key file
        return None


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
                f"the kept Procore token cannot be decrypted with this key (${KEY_ENV}, the .procore-key file "
                "beside the workspace or the OS keyring); sign in again with --sign-in"
            ) from None
    return {"base_url": base_url, "login_url": login_url, "client_id": client_id, "token": token}
