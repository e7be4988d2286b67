"""The errors users see. Each names what is wrong and where (file, row, field), never just a stack trace."""

from __future__ import annotations


class QbreconError(Exception):
    """Base of every error qbrecon raises on purpose; the CLI prints these without a traceback."""

    exit_code = 2


class WorkspaceLocked(QbreconError):
    """Another process holds the workspace file (DuckDB allows one process per file)."""

    exit_code = 75  # EX_TEMPFAIL: a scheduler may retry


class InputError(QbreconError):
    """A file could not be read at all (malformed JSON/XML, hostile XML, wrong shape)."""

    def __init__(
        self, message: str, *, file: str | None = None, row: int | None = None, field: str | None = None
    ):
        where = ", ".join(
            x
            for x in [
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"field {field!r}" if field else "",
            ]
            if x
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.row, self.field = file, row, field


class BatchRejected(QbreconError):
    """A batch operation was refused as a whole; ``problems`` lists every offending row."""

    def __init__(self, action: str, problems: list[dict]):
        self.action, self.problems = action, problems
        lines = [f"{action} refused for {len(problems)} row(s); nothing was changed:"]
        for p in problems[:50]:
            lines.append("  - " + ", ".join(f"{k}={v}" for k, v in p.items()))
        if len(problems) > 50:
            lines.append(f"  ... and {len(problems) - 50} more")
        super().__init__("\n".join(lines))


class PermissionDenied(QbreconError):
    exit_code = 77


class SettingMissing(QbreconError):
    pass
