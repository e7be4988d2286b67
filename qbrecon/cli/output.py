"""How listing commands print: ``table`` for people, ``csv`` and ``json`` for programs.

``table``: human headers, empty cells for missing values (never ``<NA>``, ``None`` or ``nan``), money as
``1,234.56`` (exact, from Decimal), long texts (blockers, reasons, QuickBooks errors) wrapped in full, never
cut. ``csv``: raw values, every text cell formula-safe (``qbrecon.formats.write_csv``: the one CSV writer).
``json``: raw records.
"""

from __future__ import annotations

from collections.abc import Mapping

import click
import pandas as pd

from ..formats import HEADERS, cell_text, csv_text, header, render_table


def emit(
    frame: pd.DataFrame, fmt: str, labels: Mapping[str, str] | None = None, empty: str = "(nothing)"
) -> None:
    """Print a frame in the chosen format (see the module's docstring)."""
    if fmt == "csv":
        click.echo(csv_text(frame), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", default_handler=str))
    else:
        click.echo(render_table(frame, labels, empty=empty))


__all__ = ["emit", "render_table", "cell_text", "header", "HEADERS"]
