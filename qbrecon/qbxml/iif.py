"""Time activities as an IIF file, for QuickBooks Desktop's File > Utilities > Import > IIF Files.

The layout follows Intuit's IIF reference for timer activities: a ``TIMERHDR`` header block first, then a
``!TIMEACT`` header row and one ``TIMEACT`` row per entry, tab-separated, with the columns
``DATE JOB EMP ITEM PITEM DURATION PROJ NOTE BILLINGSTATUS``:

* DATE ``MM/DD/YY``; JOB the customer:job full name; EMP the employee; ITEM the service item; PITEM the payroll item
  (``payroll_item_wage``, mapped by ``erp/payroll.py``; blank when unmapped); DURATION ``H:MM`` (at most 23:59); PROJ the class (blank unless given); NOTE one line of
  at most 1000 characters (line breaks written as ``/n``); BILLINGSTATUS ``0`` not billable, ``1`` billable.

Rows that cannot be written as they are (no job, no employee, a day longer than 23:59, a character the
Windows-1252 file cannot hold) come back as per-row errors; nothing is truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .build import BuildContext, _coalesce, _col, _errors_frame, _items, _job_list_ids, _lookup, _missing

TIMEACT_COLUMNS = ["DATE", "JOB", "EMP", "ITEM", "PITEM", "DURATION", "PROJ", "NOTE", "BILLINGSTATUS"]
TIMERHDR_COLUMNS = ["VER", "REL", "COMPANYNAME", "IMPORTEDBEFORE", "FROMTIMER", "COMPANYCREATETIME"]
NOTE_MAXLEN = 1000
ENCODING = "cp1252"  # QuickBooks Desktop reads IIF as Windows text


@dataclass
class IIFResult:
    text: str  # the file content (CRLF line ends)
    rows: int  # TIMEACT rows written
    errors: pd.DataFrame  # procore_id, item_type, field, message

    def write(self, path: str | Path) -> Path:
        """Write the file in Windows-1252 (every row was checked to fit)."""
        path = Path(path)
        path.write_bytes(self.text.encode(ENCODING))
        return path


def _clean(value: object) -> str:
    if _missing(value):
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "/n").replace("\t", " ")
    return "".join(ch for ch in text if ch >= " ")


def _duration(hours: object) -> str | None:
    if _missing(hours):
        return None
    minutes = int((Decimal(str(hours)) * 60).quantize(Decimal(1)))
    return f"{minutes // 60}:{minutes % 60:02d}"


def timeact_iif(
    rows: pd.DataFrame,
    context: BuildContext | None = None,
    *,
    company_name: str = "",
    company_create_time: str = "",
) -> IIFResult:
    """The IIF text for timecard entries (``timecard_entries`` columns; ``job_full_name`` may be given per row,
    otherwise the job's full name comes from the QuickBooks ``customers`` frame through the project's ListID).
    """
    ctx = context or BuildContext()
    if "id" not in rows.columns:
        raise InputError("timecard entries need the Procore 'id' column", field="id")
    job_list = _job_list_ids(_col(rows, "project_id"), ctx)
    job_name = _coalesce(
        _col(rows, "job_full_name"), _lookup(job_list, ctx.frame("customers"), "ListID", "FullName")
    )
    item_list, item_name = _items(_col(rows, "cost_code_id"), ctx)
    # The item's FullName as QuickBooks has it (a sub-item's path) when the items were imported.
    item_name = _coalesce(_lookup(item_list, ctx.frame("items"), "ListID", "FullName"), item_name)
    frame = pd.DataFrame(
        {
            "id": rows["id"].tolist(),
            "DATE": [None if _missing(d) else d.strftime("%m/%d/%y") for d in _col(rows, "date").tolist()],
            "JOB": job_name.tolist(),
            "EMP": _col(rows, "party_name").tolist(),
            "ITEM": item_name.tolist(),
            "PITEM": _col(rows, "payroll_item_wage").tolist(),
            "DURATION": [_duration(h) for h in _col(rows, "hours").tolist()],
            "PROJ": _col(rows, "class_name").tolist(),
            "NOTE": _col(rows, "description").tolist(),
            "BILLINGSTATUS": [
                "1" if (not _missing(b) and bool(b)) else "0" for b in _col(rows, "billable").tolist()
            ],
        }
    )
    for col in TIMEACT_COLUMNS:
        frame[col] = frame[col].map(_clean)
    errors: list[dict] = []

    def refuse(mask: pd.Series, field: str, message: str) -> None:
        for pid in frame.loc[mask.to_numpy(), "id"].tolist():
            errors.append(
                {"procore_id": int(pid), "item_type": "timecard_entry", "field": field, "message": message}
            )

    refuse(frame["DATE"] == "", "date", "the entry has no date")
    refuse(frame["EMP"] == "", "party_name", "the entry has no employee")
    refuse(
        frame["JOB"] == "", "project_id", "the project is not synced to a QuickBooks job (no job full name)"
    )
    refuse(frame["DURATION"] == "", "hours", "the entry has no hours")
    long_day = frame["DURATION"].map(lambda d: bool(d) and (int(d.split(":")[0]) > 23))
    refuse(long_day, "hours", "IIF time activities cannot be longer than 23:59")
    refuse(
        frame["NOTE"].str.len() > NOTE_MAXLEN,
        "description",
        f"IIF notes hold at most {NOTE_MAXLEN} characters; shorten the description",
    )
    sources = {
        "JOB": "project_id",
        "EMP": "party_name",
        "ITEM": "cost_code_id",
        "PROJ": "class_name",
        "NOTE": "description",
    }
    for col, source in sources.items():
        unencodable = frame[col].map(lambda v: not _encodes(v))
        refuse(unencodable, source, f"{col} has characters a Windows-1252 IIF file cannot hold")
    bad = {e["procore_id"] for e in errors}
    good = frame[~frame["id"].isin(bad)]
    lines = [
        "!TIMERHDR\t" + "\t".join(TIMERHDR_COLUMNS),
        "\t".join(["TIMERHDR", "8", "0", _clean(company_name), "N", "Y", _clean(company_create_time)]),
        "!TIMEACT\t" + "\t".join(TIMEACT_COLUMNS),
    ]
    body = ("TIMEACT\t" + good[TIMEACT_COLUMNS].agg("\t".join, axis=1)).tolist() if len(good) else []
    text = "\r\n".join(lines + body) + "\r\n"
    return IIFResult(text, len(good), _errors_frame(errors))


def _encodes(value: str) -> bool:
    try:
        value.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


__all__ = ["IIFResult", "TIMEACT_COLUMNS", "TIMERHDR_COLUMNS", "timeact_iif"]
