"""Reading a folder of qbXML responses (or one file) into checked chunks plus every response's status.

``ResponseReader.chunks()`` streams: small files are gathered into one chunk (so a folder of pages is checked
together, as one batch per table), a large file is cut at ``*Ret`` boundaries (``qbxml.parse.split_response``)
and its parts are read, converted and validated in worker processes while this process writes the chunks
before them -- memory grows with the part, not the file, and both cores work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..qbxml import parse as qbxml_parse
from ..schemas import TABLES
from ..schemas.values import Batch
from .forking import ForkPool
from .forking import worker_count as _workers  # the parts of a large file
from .validate import Checked, LoadChunk, SourceRecords, check_chunk, failing_groups

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
    """Every response file read into memory at once; rows of all files gathered per table (groups numbered
    across files). ``ResponseReader`` is the streaming form that ``load_quickbooks`` uses."""
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
        _gather(batches, result, label)
        for s in result.statuses:
            s.file = label
        statuses.extend(result.statuses)
        files.append(label)
    return QuickBooksResponses(batches, files, statuses)


def _gather(batches: dict[str, Batch], result: qbxml_parse.QueryResult, label: str) -> None:
    for name, batch in result.batches.items():
        batch.source_file = [label] * len(batch)
        if name in batches:
            batches[name].extend(batch)
        else:
            batches[name] = batch


# -- the streaming reader -----------------------------------------------------------------------------------------
Packed = tuple[dict[str, tuple], list, int]  # tables, statuses, groups


def _check_part(path: str, part: qbxml_parse.ResponsePart) -> Packed:
    """Read, convert and validate one part (in a worker process); only what the writer needs goes back:
    typed tables, problems, and the source records of rows that will be held back."""
    result = qbxml_parse.read_part(path, part)
    chunk = check_chunk(result.batches)
    bad = failing_groups(chunk.checked)
    tables: dict[str, tuple] = {}
    for name, c in chunk.checked.items():
        b = c.batch
        records = {i: b.record(i) for i, g in enumerate(b.group) if g in bad} if bad else {}
        tables[name] = (c.table, c.problems, c.merged_duplicates, c.drop, b.source_row, b.group, records)
    return tables, result.statuses, result.groups


def _unpack(packed: Packed, label: str, first_group: int) -> tuple[LoadChunk, list, int]:
    tables, statuses, groups = packed
    checked: dict[str, Checked] = {}
    for name, (table, problems, merged, drop, source_row, group, records) in tables.items():
        if first_group:
            group = [g + first_group for g in group]
        batch = Batch(
            TABLES[name], {}, [label] * len(source_row), source_row, group, SourceRecords(records, table)
        )
        checked[name] = Checked(batch, table, problems, merged, drop)
    return LoadChunk(checked), statuses, groups


class ResponseReader:
    """Streams a folder of response files (or one file) as checked chunks; ``files`` and ``statuses`` are
    complete once ``chunks()`` is exhausted."""

    def __init__(self, path: str | Path, *, part_bytes: int | None = None, workers: int | None = None):
        self.root = Path(path)
        self.part_bytes = part_bytes or qbxml_parse.PART_BYTES
        self.workers = _workers() if workers is None else workers
        self.files: list[str] = []
        self.statuses: list[qbxml_parse.ResponseStatus] = []
        self.notes: list[str] = []
        self._group = 0

    def chunks(self) -> Iterator[LoadChunk]:
        root = self.root
        base = root if root.is_dir() else root.parent
        pending: dict[str, Batch] = {}
        pending_bytes = 0
        for file in response_files(root):
            label = str(file.relative_to(base))
            size = file.stat().st_size
            if size > self.part_bytes * 3 // 2:
                if pending:
                    yield check_chunk(pending)
                    pending, pending_bytes = {}, 0
                yield from self._large_file(file, label)
            else:
                result = qbxml_parse.read_query_response(file, name=label, first_group=self._group)
                self._group += result.groups
                _gather(pending, result, label)
                self._add_statuses(result.statuses, label, continued=False)
                pending_bytes += size
                if pending_bytes >= self.part_bytes:
                    yield check_chunk(pending)
                    pending, pending_bytes = {}, 0
            self.files.append(label)
        if pending:
            yield check_chunk(pending)

    def _add_statuses(self, statuses: list, label: str, continued: bool) -> None:
        for s in statuses:
            s.file = label
        if continued and statuses and self.statuses:
            # the part began inside the response the previous part ended in: one response, its Rets added up
            self.statuses[-1].rets += statuses[0].rets
            statuses = statuses[1:]
        self.statuses.extend(statuses)

    def _large_file(self, file: Path, label: str) -> Iterator[LoadChunk]:
        """The parts of one large file, read in worker processes (at most two parts ahead of the writer)."""
        parts = qbxml_parse.split_response(file, self.part_bytes)
        first_ret = 0  # Rets of this file before the part (source_row counts from the file's start)
        pool = ForkPool(self.workers) if self.workers else None
        queue: deque[tuple[qbxml_parse.ResponsePart, Future | None]] = deque()
        try:
            for part in _ahead(parts, queue, pool, str(file), self.workers + 1):
                part_, future = part
                try:
                    packed = _result(future, str(file), part_)
                except InputError:
                    # A part that does not read may be a cut in the wrong place: the whole file, read
                    # serially, names the true error (with its real line); if it reads, so does the rest.
                    if pool is not None:
                        pool.shutdown(cancel_futures=True)
                        pool = None
                    queue.clear()
                    qbxml_parse.read_query_response(file, name=label)
                    rest = qbxml_parse.ResponsePart(
                        part_.start, file.stat().st_size, part_.opening, b"", part_.rets_split
                    )
                    packed = _check_part(str(file), rest)
                    yield self._chunk(packed, label, first_ret, rest.rets_split)
                    return
                chunk = self._chunk(packed, label, first_ret, part_.rets_split)
                first_ret += packed[2]
                yield chunk
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)

    def _chunk(self, packed: Packed, label: str, first_ret: int, continued: bool) -> LoadChunk:
        chunk, statuses, groups = _unpack(packed, label, self._group)
        if first_ret:
            for c in chunk.checked.values():
                c.batch.source_row = [r + first_ret for r in c.batch.source_row]
        self._group += groups
        self._add_statuses(statuses, label, continued)
        return chunk


def _submit(pool: ProcessPoolExecutor | None, path: str, part: qbxml_parse.ResponsePart) -> Future | None:
    """The part's future in a worker, or None (read here) when there is no pool or a worker process died."""
    if pool is None:
        return None
    try:
        return pool.submit(_check_part, path, part)
    except BrokenProcessPool:
        return None


def _result(future: Future | None, path: str, part: qbxml_parse.ResponsePart) -> Packed:
    """A part's rows from its worker; a worker process that died (killed, out of memory, crashed) loses nothing:
    the part is read here instead, and so is every part after it (the pool is broken for good)."""
    if future is not None:
        try:
            return future.result()
        except BrokenProcessPool:
            pass
    return _check_part(path, part)


def _ahead(
    parts: Iterator[qbxml_parse.ResponsePart],
    queue: deque,
    pool: ProcessPoolExecutor | None,
    path: str,
    depth: int,
) -> Iterator[tuple[qbxml_parse.ResponsePart, Any]]:
    """The parts in order, each with its worker's future, keeping ``depth`` parts submitted ahead."""
    for part in parts:
        queue.append((part, _submit(pool, path, part)))
        while len(queue) >= depth or (pool is None and queue):
            yield queue.popleft()
    while queue:
        yield queue.popleft()
