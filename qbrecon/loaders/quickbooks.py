"""Reading a folder of qbXML responses (or one file) into raw table batches plus every response's status."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..qbxml import parse as qbxml_parse
from ..schemas.values import Batch

XML_SUFFIXES = {".xml", ".qbxml"}


@dataclass
class QuickBooksResponses:
    batches: dict[str, Batch]
    files: list[str]
    statuses: list[qbxml_parse.ResponseStatus] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def response_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise InputError("no such file or folder", file=str(root))
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in XML_SUFFIXES)
    if not files:
        raise InputError("no qbXML response files (*.xml) found", file=str(root))
    return files


def read_responses(path: str | Path) -> QuickBooksResponses:
    """Stream every response file; rows of all files are gathered per table (groups numbered across files)."""
    root = Path(path)
    base = root if root.is_dir() else root.parent
    batches: dict[str, Batch] = {}
    files: list[str] = []
    statuses: list[qbxml_parse.ResponseStatus] = []
    group = 0
    for file in response_files(root):
        label = str(file.relative_to(base))
        result = qbxml_parse.read_query_response(file, name=label, first_group=group)
        group += result.groups
        for name, batch in result.batches.items():
            batch.source_file = [label] * len(batch)
            if name in batches:
                batches[name].extend(batch)
            else:
                batches[name] = batch
        for s in result.statuses:
            s.file = label
        statuses.extend(result.statuses)
        files.append(label)
    return QuickBooksResponses(batches, files, statuses)
