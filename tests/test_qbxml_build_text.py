"""The fast text path of the request builder writes exactly what the element-by-element path writes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qbrecon.qbxml import build
from qbrecon.qbxml.build import build_requests, message_sets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_qbxml_build import scenario  # noqa: E402


def _documents(item_type: str, rows, lines, context) -> list[bytes]:
    result = build_requests(item_type, rows, lines, context)
    assert result.requests, item_type
    return [m.xml for m in message_sets(result.requests, max_requests=1000)]


@pytest.mark.parametrize(
    "item_type",
    ["project", "company", "cost_code", "budget", "commitment", "change_order", "invoice", "timecard_entry"],
)
def test_text_path_matches_element_path(monkeypatch, item_type):
    context, inputs = scenario()
    rows, lines = inputs[item_type]
    if "name" in rows.columns:  # markup, an ampersand, a carriage return and non-ASCII in one value
        rows = rows.copy()
        rows["name"] = rows["name"].astype(object).where(rows["name"].isna(), rows["name"] + " <&>\r\u00e9")
    fast = _documents(item_type, rows, lines, context)
    if item_type in ("project", "company"):
        assert b"&lt;&amp;&gt;&#13;&#233;" in b"".join(fast)  # escaped, and kept through the parse
    monkeypatch.setattr(build, "_compile_text", lambda steps: None)  # every message element by element
    slow = _documents(item_type, rows, lines, context)
    assert fast == slow
