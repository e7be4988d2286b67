"""``qbrecon pull procore``: read every resource qbrecon uses from Procore's REST API and keep every page as
received, in the export layout the loader reads (``<folder>/<endpoint>/[project_<id>/][<parent>_<id>/]
page_0001.json``, each page with its request), so a pull can be loaded, replayed and audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .client import Page, ProcoreApiError, ProcoreClient
from .resources import ENDPOINTS, Endpoint, fill

if TYPE_CHECKING:
    from ..loaders.report import LoadReport


@dataclass
class PullResult:
    out_dir: Path
    pages: int = 0
    records: dict[str, int] = field(default_factory=dict)  # endpoint -> records received
    projects: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # rate limits, retries, token refreshes
    links: list[dict] = field(default_factory=list)  # the link Procore holds per linkable record read
    report: LoadReport | None = None

    def summary(self) -> str:
        got = ", ".join(f"{n} {name}" for name, n in self.records.items() if n)
        lines = [
            f"pulled {self.pages} page(s) from Procore into {self.out_dir} "
            f"({len(self.projects)} project(s)): {got or 'nothing changed'}"
        ]
        lines += [f"  {e}" for e in self.events]
        return "\n".join(lines)


def since_window(since: date | datetime | str, now: datetime | None = None) -> str:
    """Procore's ``filters[updated_at]`` range: ``<since>...<now>`` in UTC."""
    if isinstance(since, str):
        try:
            since = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"not a date or date-time: {since!r}", field="since") from None
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day, tzinfo=UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return f"{since.astimezone(UTC).strftime(fmt)}...{now.astimezone(UTC).strftime(fmt)}"


def pull(
    client: ProcoreClient,
    out_dir: str | Path,
    *,
    projects: list[int] | None = None,
    since: date | datetime | str | None = None,
    per_page: int = 100,
    progress: bool = False,
) -> PullResult:
    """Pull the company (all its projects, or ``projects``) into ``out_dir``; only records updated since
    ``since`` when given (projects and line items are always listed whole: lines come with their parent)."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = PullResult(out)
    window = since_window(since) if since is not None else None
    bar = tqdm(unit=" page", desc="Procore", disable=not progress, leave=False)

    def fetch(
        e: Endpoint,
        *,
        project_id: int | None = None,
        parent_id: int | None = None,
        parent_name: str | None = None,
    ) -> list[dict]:
        path = fill(e.path, company_id=client.company_id, project_id=project_id, id=parent_id)
        params: dict = dict(e.query)
        if "company_id" in e.params:
            params["company_id"] = client.company_id
        if "project_id" in e.params and project_id is not None:
            params["project_id"] = project_id
        if window and e.incremental and e.name != "projects":
            params["filters[updated_at]"] = window
        folder = out / e.folder / e.name
        if project_id is not None:
            folder /= f"project_{project_id}"
        if parent_id is not None:
            folder /= f"{parent_name}_{parent_id}"
        records: list[dict] = []
        before = result.pages
        try:
            for n, page in enumerate(client.pages(path, params, per_page), start=1):
                keep(e, folder / f"page_{n:04d}.json", page, records)
        except ProcoreApiError as exc:
            if not (e.optional and exc.status in (403, 404) and result.pages == before):
                raise
            where = f" in project {project_id}" if project_id is not None else ""
            client.events.append(f"{e.name}: not available{where} (HTTP {exc.status}); skipped")
        result.records[e.name] = result.records.get(e.name, 0) + len(records)
        return records

    def keep(e: Endpoint, file: Path, page: Page, records: list[dict]) -> None:
        """Write a page received and note what it holds."""
        _write_page(file, page)
        records.extend(r for r in page.records if isinstance(r, dict))
        if e.table:
            result.links += [
                {
                    "table_name": e.table,
                    "procore_id": r["id"],
                    "origin_id": r.get("origin_id"),
                    "origin_data": r.get("origin_data"),
                    "origin_code": r.get("origin_code"),
                }
                for r in page.records
                if isinstance(r, dict) and _is_id(r.get("id"))
            ]
        result.pages += 1
        bar.update(1)
        bar.set_postfix_str(e.name)

    try:
        for e in ENDPOINTS:
            if e.scope != "company":
                continue
            listed = fetch(e)
            if e.name == "projects":
                all_ids = [int(r["id"]) for r in listed if r.get("id") is not None]
                missing = sorted(set(projects or []) - set(all_ids))
                if missing:
                    raise InputError(
                        f"no such project in company {client.company_id}: {', '.join(map(str, missing))}",
                        field="project",
                    )
                result.projects = [p for p in all_ids if not projects or p in projects]
        for project_id in result.projects:
            for e in ENDPOINTS:
                if e.scope != "project":
                    continue
                parents = fetch(e, project_id=project_id)
                for line_e in (x for x in ENDPOINTS if x.parent == e.name):
                    for rec in parents:
                        if rec.get("id") is not None:
                            fetch(
                                line_e, project_id=project_id, parent_id=rec["id"], parent_name=_singular(e)
                            )
    finally:
        bar.close()
        result.events = list(client.events)
    return result


def pull_into(ws: Any, client: ProcoreClient, out_dir: str | Path, **options: Any) -> PullResult:
    """Pull (``pull``), load the pages into the workspace and remember the links Procore holds (what the next
    ``push`` compares with). Options as for ``pull``."""
    from .push import remember_links

    result = pull(client, out_dir, **options)
    result.report = ws.load_procore(result.out_dir)
    remember_links(ws, result.links, "pull")
    return result


def _is_id(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


def _singular(e: Endpoint) -> str:
    return {"requisitions": "requisition", "budget_changes": "budget_change"}.get(e.name, e.name.rstrip("s"))


def _write_page(path: Path, page: Page) -> None:
    """Write a page whole or not at all (a pull stopped half-way leaves no half file for the loader)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(page.to_text(), encoding="utf-8")
    tmp.replace(path)
