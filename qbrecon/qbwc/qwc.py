"""The ``.qwc`` file a QuickBooks user adds to the Web Connector to connect it to this workspace's service.

OwnerID and FileID are GUIDs created once per workspace (kept in ``qbrecon_meta``) so that re-generating the file
never makes the Web Connector think it talks to a different application or company file.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from ..errors import InputError
from ..store import Store

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def workspace_guids(store: Store) -> tuple[str, str]:
    """(OwnerID, FileID) of this workspace, created on first use and stable afterwards."""
    with store.transaction() as con:
        ids = []
        for key in ("qbwc.owner_id", "qbwc.file_id"):
            value = store.scalar("SELECT value FROM qbrecon_meta WHERE key = ?", [key])
            if value is None:
                value = "{" + str(uuid.uuid4()).upper() + "}"
                con.execute("INSERT INTO qbrecon_meta VALUES (?, ?)", [key, value])
            ids.append(value)
    return ids[0], ids[1]


def check_app_url(url: str) -> str:
    """The Web Connector accepts only https:// URLs, except http:// on the machine itself."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"AppURL {url!r} is not an http(s) URL", field="url")
    if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        raise InputError(
            f"AppURL {url!r}: the Web Connector refuses plain http:// except for localhost; "
            "put the service behind HTTPS (e.g. a TLS-terminating proxy) and give that https:// URL",
            field="url",
        )
    return url


def qwc_xml(
    *,
    app_name: str,
    url: str,
    user_name: str,
    owner_id: str,
    file_id: str,
    support_url: str | None = None,
    description: str = "Exports accepted Procore items to QuickBooks Desktop (qbrecon).",
    run_every_minutes: int | None = 15,
) -> bytes:
    """The QBWCXML document (element order as in Intuit's examples)."""
    check_app_url(url)
    root = etree.Element("QBWCXML")

    def add(tag: str, text: str | None) -> etree._Element:
        el = etree.SubElement(root, tag)
        el.text = text
        return el

    add("AppName", app_name)
    add("AppID", "")
    add("AppURL", url)
    add("AppDescription", description)
    add("AppSupport", support_url or f"{url}?support")
    add("UserName", user_name)
    add("OwnerID", owner_id)
    add("FileID", file_id)
    add("QBType", "QBFS")
    add("Style", "Document")
    if run_every_minutes:
        sched = add("Scheduler", None)
        etree.SubElement(sched, "RunEveryNMinutes").text = str(int(run_every_minutes))
    add("IsReadOnly", "false")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


_FROM_SETTINGS: Any = object()


def workspace_qwc(
    store: Store,
    url: str | None,
    user_name: str,
    *,
    app_name: str | None = None,
    run_every_minutes: int | None = _FROM_SETTINGS,
    out: str | Path | None = None,
) -> bytes:
    """The ``.qwc`` for this workspace's service; written to ``out`` when given.

    ``url`` None: the "Service URL" setting. ``run_every_minutes`` left out: from the "Sync schedule" setting
    (hourly -> 60, daily -> 1440, never -> no Scheduler element)."""
    from ..erp.settings import SCHEDULE_MINUTES, get_setting, require_setting

    if url is None:
        url = require_setting(
            store, "service_url", "the .qwc names the URL the Web Connector calls (or give --url)"
        )
    if run_every_minutes is _FROM_SETTINGS:
        run_every_minutes = SCHEDULE_MINUTES[get_setting(store, "sync_schedule")]
    owner_id, file_id = workspace_guids(store)
    name = app_name or (f"qbrecon {store.path.stem}" if store.path else "qbrecon")
    data = qwc_xml(
        app_name=name,
        url=url,
        user_name=user_name,
        owner_id=owner_id,
        file_id=file_id,
        run_every_minutes=run_every_minutes,
    )
    if out is not None:
        Path(out).write_bytes(data)
    return data
