"""E-mail notifications: rejection notices and the "ERP Integrations Daily Summary", through an outbox.

Mail is first written to the ``outbox`` table in the same transaction as the decision that caused it, so a
rejection and its notice commit (or roll back) together. ``deliver_mail`` then sends queued rows over real
SMTP (host, port, STARTTLS and login from the ERP settings). When the server is down the rows stay queued with
the error and the attempt count and go out on a later call: nothing is lost, nothing is sent twice.
"""

from __future__ import annotations

import datetime as dt
import email.errors
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import duckdb
import pandas as pd

from .. import pairs as _pairs
from ..store import Store, register_tables
from .settings import read_settings, require_setting
from .states import STATUSES  # noqa: F401  (erp tables are registered first)

register_tables(
    """CREATE SEQUENCE IF NOT EXISTS outbox_seq START 1""",
    """CREATE TABLE IF NOT EXISTS outbox (
        mail_id BIGINT PRIMARY KEY, created_at TIMESTAMPTZ NOT NULL,
        kind VARCHAR NOT NULL,               -- rejection | daily_summary
        dedupe_key VARCHAR UNIQUE,           -- one daily summary per approver per day
        recipients VARCHAR NOT NULL, subject VARCHAR NOT NULL, body VARCHAR NOT NULL,
        item_type VARCHAR, procore_id BIGINT,
        status VARCHAR NOT NULL,             -- queued | sent | failed (gave up after max_attempts)
        attempts INTEGER NOT NULL DEFAULT 0, last_error VARCHAR, last_attempt_at TIMESTAMPTZ, sent_at TIMESTAMPTZ,
        message_id VARCHAR)""",
)

DAILY_SUMMARY_SUBJECT = "ERP Integrations Daily Summary"
SUMMARY_MAX_LINES = 500  # a summary lists at most this many items, then "... and N more"

# the item in a rejection mail, in Procore's words: each pair module's own (its mail noun, else its dashboard's
# singular: a project and a CCO are named otherwise in Procore's mails than on the ERP tab)
_NOUNS = {m.item_type: m.mail_noun or m.singular for m in _pairs.registered()}
_NOUN_SQL = "CASE b.item_type " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _NOUNS.items()) + " END"


def _header_sql(expr: str) -> str:
    """A header value built in SQL with every control character (CR, LF, TAB, NUL...) turned into one space.

    Names and numbers come from Procore; a line break in one would make the header unwritable (Python's mail
    library refuses it, which used to stop all mail) or, sent raw, inject headers. The body keeps the text."""
    return f"trim(regexp_replace({expr}, '[[:cntrl:]]+', ' ', 'g'))"


_APPROVER_SQL = """coalesce(u.is_active, true) AND u.erp_integrations_permission IN ('standard', 'admin')
                   AND coalesce(u.can_push_to_accounting, false) AND nullif(trim(u.email_address), '') IS NOT NULL"""


def enqueue_rejections(con: duckdb.DuckDBPyConnection, batch: str, actor: dict) -> int:
    """Queue one rejection notice per rejected item (batch rows in the registered relation ``batch``).

    It goes to the item's creator and to the person who sent it, with the approver's reason. Called inside
    the rejecting transaction.
    """
    return con.execute(
        f"""INSERT INTO outbox (mail_id, created_at, kind, dedupe_key, recipients, subject, body, item_type,
                                procore_id, status, attempts)
            SELECT nextval('outbox_seq'), now(), 'rejection',
                   'rejection:' || b.item_type || ':' || b.procore_id || ':' || epoch_us(now()),
                   {
            _header_sql('''concat_ws(', ', nullif(trim(cu.email_address), ''),
                             CASE WHEN lower(trim(su.email_address)) IS DISTINCT FROM lower(trim(cu.email_address))
                                  THEN nullif(trim(su.email_address), '') END)''')
        },
                   {
            _header_sql(
                "'Rejected for export to QuickBooks: ' || q.item_label || ' ' || "
                "coalesce(q.name, b.procore_id::VARCHAR)"
            )
        },
                   'Your ' || {_NOUN_SQL} || ' "' || coalesce(q.name, b.procore_id::VARCHAR) || '"'
                   || coalesce(' (project ' || q.project || ')', '')
                   || ' was rejected for export to QuickBooks by ' || ? || '.' || chr(10) || chr(10)
                   || 'Reason: ' || b.reason || chr(10) || chr(10)
                   || 'It is editable again in Procore. Correct it, then re-send it to ERP Integrations.',
                   b.item_type, b.procore_id, 'queued', 0
            FROM {batch} b
            JOIN erp_queue q ON q.item_type = b.item_type AND q.procore_id = b.procore_id
            LEFT JOIN users cu ON cu.id = q.created_by_id
            LEFT JOIN users su ON su.id = q.sent_by
            WHERE nullif(trim(cu.email_address), '') IS NOT NULL OR nullif(trim(su.email_address), '') IS NOT NULL""",
        [actor["name"]],
    ).fetchall()[0][0]


def enqueue_daily_summaries(store: Store, day: dt.date | None = None) -> int:
    """Queue one "ERP Integrations Daily Summary" per accounting approver for ``day`` (default today) while
    anything is Ready to Export. Idempotent: a second call on the same day adds nothing."""
    day = day or dt.date.today()
    with store.transaction() as con:
        return con.execute(
            f"""WITH waiting AS (
                    SELECT item_label, name, number, project, amount, sent_by_name, sent_at,
                           row_number() OVER (ORDER BY item_type, sent_at, procore_id) AS n
                    FROM erp_queue WHERE status = 'ready_to_export'),
                listing AS (
                    SELECT count(*) AS total,
                           string_agg('- ' || item_label || ': ' || coalesce(name, '?')
                                      || CASE WHEN number IS DISTINCT FROM name THEN coalesce(' #' || number, '') ELSE '' END
                                      || coalesce(' | project ' || project, '')
                                      || coalesce(' | amount ' || amount::VARCHAR, '')
                                      || coalesce(' | sent by ' || sent_by_name, ''), chr(10) ORDER BY n)
                               FILTER (WHERE n <= {SUMMARY_MAX_LINES}) AS lines
                    FROM waiting)
                INSERT INTO outbox (mail_id, created_at, kind, dedupe_key, recipients, subject, body, status, attempts)
                SELECT nextval('outbox_seq'), now(), 'daily_summary',
                       'daily_summary:' || u.id || ':' || ?::VARCHAR, {_header_sql("u.email_address")}, ?,
                       'Hello ' || u.name || ',' || chr(10) || chr(10)
                       || l.total || ' item(s) are waiting for your response in ERP Integrations (Ready to Export):'
                       || chr(10) || chr(10) || l.lines
                       || CASE WHEN l.total > {SUMMARY_MAX_LINES}
                               THEN chr(10) || '... and ' || (l.total - {SUMMARY_MAX_LINES}) || ' more' ELSE '' END
                       || chr(10) || chr(10) || 'Accept or reject them: qbrecon queue --status ready_to_export',
                       'queued', 0
                FROM users u, listing l
                WHERE l.total > 0 AND {_APPROVER_SQL}
                ON CONFLICT DO NOTHING""",
            [day.isoformat(), DAILY_SUMMARY_SUBJECT],
        ).fetchall()[0][0]


def deliver_mail(store: Store, limit: int | None = None, max_attempts: int = 50) -> dict:
    """Send queued mail over SMTP. Returns counts {"sent", "failed_attempts", "gave_up", "queued"} and
    "given_up": why each row that can never be sent was given up in this call (naming its mail id).

    A connection failure leaves every row queued with the error and one more attempt; a row refused by the
    server on its own (bad recipient) is retried up to ``max_attempts`` times, then marked 'failed' (kept).
    """
    rows = store.frame(
        "SELECT mail_id, recipients, subject, body FROM outbox WHERE status = 'queued' ORDER BY mail_id"
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    result: dict = {"sent": 0, "failed_attempts": 0, "gave_up": 0, "queued": 0, "given_up": []}
    if rows.empty:
        return result
    cfg = read_settings(store, mask=False)
    require_setting(
        store, "smtp_host", "mail is queued in the outbox and cannot be delivered without a server"
    )
    ids = [int(i) for i in rows["mail_id"]]

    def failed(mail_ids: list[int], error: str, give_up: bool = False) -> None:
        with store.transaction() as con:
            con.execute(
                f"""UPDATE outbox SET attempts = attempts + 1, last_error = ?, last_attempt_at = now(),
                           status = CASE WHEN ? OR attempts + 1 >= ? THEN 'failed' ELSE 'queued' END
                    WHERE mail_id IN ({", ".join(str(i) for i in mail_ids)})""",
                [error[:2000], give_up, max_attempts],
            )
        if give_up:
            result["given_up"].append(error[:500])
        result["failed_attempts"] += len(mail_ids)

    try:
        smtp = smtplib.SMTP(
            cfg["smtp_host"], int(cfg["smtp_port"] or 25), timeout=float(cfg["smtp_timeout"] or 10)
        )
    except (OSError, smtplib.SMTPException) as exc:
        failed(ids, f"cannot connect to SMTP {cfg['smtp_host']}:{cfg['smtp_port']}: {exc}")
        result["queued"] = len(ids)
        return result
    try:
        try:
            if cfg["smtp_starttls"]:
                smtp.starttls(context=ssl.create_default_context())
            if cfg["smtp_username"]:
                smtp.login(cfg["smtp_username"], cfg["smtp_password"] or "")
        except (OSError, smtplib.SMTPException) as exc:
            failed(ids, f"SMTP session set-up failed: {exc}")
            result["queued"] = len(ids)
            return result
        for pos, row in enumerate(rows.itertuples(index=False)):  # one network message per row
            try:
                msg = EmailMessage()
                msg["From"] = cfg["smtp_from"] or "qbrecon@localhost"
                msg["To"] = row.recipients
                msg["Subject"] = row.subject
                msg["Date"] = formatdate(localtime=True)
                msg["Message-ID"] = make_msgid(domain="qbrecon")
                msg.set_content(row.body)
            except (ValueError, TypeError, email.errors.MessageError) as exc:
                # This row can never be sent as it is (e.g. a header with a line break queued by an older
                # version): give it up at once, named, and go on with the others.
                failed(
                    [int(row.mail_id)],
                    f"mail {int(row.mail_id)} cannot be written as e-mail: {exc}",
                    give_up=True,
                )
                continue
            try:
                smtp.send_message(msg)
            except smtplib.SMTPServerDisconnected as exc:
                failed(ids[pos:], f"SMTP connection lost: {exc}")
                break
            except smtplib.SMTPException as exc:
                failed([int(row.mail_id)], f"SMTP refused the message: {exc}")
                continue
            except (ValueError, TypeError, UnicodeError) as exc:  # e.g. an address smtplib cannot encode
                failed([int(row.mail_id)], f"mail {int(row.mail_id)} cannot be sent: {exc}", give_up=True)
                continue
            except OSError as exc:
                failed(ids[pos:], f"SMTP connection lost: {exc}")
                break
            with store.transaction() as con:
                con.execute(
                    """UPDATE outbox SET status = 'sent', sent_at = now(), last_attempt_at = now(),
                              attempts = attempts + 1, last_error = NULL, message_id = ? WHERE mail_id = ?""",
                    [msg["Message-ID"], int(row.mail_id)],
                )
            result["sent"] += 1
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    counts = store.execute(
        "SELECT count(*) FILTER (WHERE status='queued'), count(*) FILTER (WHERE status='failed') "
        f"FROM outbox WHERE mail_id IN ({', '.join(str(i) for i in ids)})"
    ).fetchall()[0]
    result["queued"], result["gave_up"] = int(counts[0]), int(counts[1])
    return result


class NotificationService:
    """The outbox (``ws.notifications``; the Workspace delegates ``ws.outbox()``, ``ws.queue_daily_summaries()``,
    ``ws.deliver_mail()``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def outbox(self, status: str | None = None) -> pd.DataFrame:
        """Outgoing mail, newest first (optionally only 'queued', 'sent' or 'failed')."""
        where = "WHERE status = ?" if status else ""
        return self.store.frame(
            f"SELECT * FROM outbox {where} ORDER BY mail_id DESC", [status] if status else None
        )

    def queue_daily_summaries(self, day: dt.date | None = None) -> int:
        """Queue today's "ERP Integrations Daily Summary" for each approver (idempotent per day)."""
        return enqueue_daily_summaries(self.store, day)

    def deliver_mail(self, limit: int | None = None, max_attempts: int = 50) -> dict:
        """Send queued mail now; see ``qbrecon.erp.notify.deliver_mail``."""
        return deliver_mail(self.store, limit=limit, max_attempts=max_attempts)
