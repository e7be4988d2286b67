"""Secrets at rest: values sealed with a key kept outside the workspace.

The SMTP password (and any setting of kind ``secret``) is stored in the workspace as ``fernet:<token>``
(AES-128-CBC + HMAC-SHA256, ``cryptography``'s Fernet). The key lives in a file readable by its owner only:
``$QBRECON_KEY_FILE``, else ``$XDG_CONFIG_HOME/qbrecon/secret.key`` (``~/.config/qbrecon/secret.key``), created on
first use. A copy of the workspace alone therefore holds no usable secret; moving a workspace to another machine
means copying the key file too, or setting the secret again.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import InputError

PREFIX = "fernet:"
KEY_ENV = "QBRECON_KEY_FILE"


def key_path() -> Path:
    explicit = os.environ.get(KEY_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "qbrecon" / "secret.key"


def _key(create: bool) -> bytes | None:
    from cryptography.fernet import Fernet

    path = key_path()
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:  # O_EXCL: two processes creating it at once keep the first key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    with contextlib.suppress(OSError):
        path.chmod(0o600)
    return key


def seal(text: str | None) -> str | None:
    """``text`` encrypted for storage (None stays None; an already sealed value is kept)."""
    if text is None or str(text).startswith(PREFIX):
        return text
    from cryptography.fernet import Fernet

    return PREFIX + Fernet(_key(create=True)).encrypt(str(text).encode("utf-8")).decode("ascii")


def unseal(value: str | None, name: str = "secret") -> str | None:
    """The stored value in clear (a value stored before encryption is returned as it is)."""
    if value is None or not str(value).startswith(PREFIX):
        return value
    from cryptography.fernet import Fernet, InvalidToken

    key = _key(create=False)
    if key is None:
        raise InputError(
            f"this workspace's {name} is encrypted with a key that is not on this machine ({key_path()}); copy "
            f"the key file here (or point ${KEY_ENV} at it), or set the {name} again",
            field=name,
        )
    try:
        return Fernet(key).decrypt(str(value)[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        raise InputError(
            f"this workspace's {name} was encrypted with another key than {key_path()}; set the {name} again",
            field=name,
        ) from None
