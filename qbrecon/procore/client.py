"""A thin Procore REST client: OAuth 2 (client credentials, or authorization code + refresh token), the
``Procore-Company-Id`` header, page/per_page pagination with the ``Total`` and ``Link`` headers, 429 with
``Retry-After`` (or the ``X-Rate-Limit-Reset`` time), retries with backoff on 5xx and lost connections, and
sync actions in chunks of at most 1,000 items.

Tokens never appear in messages, reprs or logs; ``on_token`` receives each new token so the caller can keep it
(encrypted, see ``procore.tokens``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session

from ..errors import QbreconError

DEFAULT_BASE_URL = "https://api.procore.com"
DEFAULT_LOGIN_URL = "https://login.procore.com"
SYNC_LIMIT = 1000  # Procore's sync actions take at most 1,000 items per call
RETRY_STATUSES = {500, 502, 503, 504}


class ProcoreApiError(QbreconError):
    """Procore answered with an error (or could not be reached after the retries); ``status`` is the HTTP
    status of a refusal (None when Procore could not be reached)."""

    exit_code = 1
    status: int | None = None


@dataclass
class Page:
    """One page of a list endpoint as received: what was asked, the answer's headers that matter, the records."""

    method: str
    url: str
    params: dict
    status: int
    headers: dict
    records: list
    body: str | None = None  # the answer's body as received (None: ``records`` are written instead)

    def to_json(self) -> dict:
        """The page as kept in the export layout (``loaders.procore_shapes.unwrap_page`` reads it back)."""
        return {
            "request": {"method": self.method, "url": self.url, "params": self.params},
            "response": {"status": self.status, "headers": self.headers},
            "data": self.records,
        }

    def to_text(self) -> str:
        """``to_json`` as text, the body under ``data`` exactly as Procore sent it (an audit compares the
        bytes; a number is never re-printed)."""
        head = json.dumps({k: v for k, v in self.to_json().items() if k != "data"}, ensure_ascii=False)
        if self.body is None:
            return head[:-1] + ', "data": ' + json.dumps(self.records, ensure_ascii=False) + "}"
        return head[:-1] + ', "data": ' + self.body.strip() + "}"


class ProcoreClient:
    """Requests to one Procore company. ``token`` is a stored OAuth token (dict) or None to fetch one with the
    client credentials grant; ``sleep`` is injectable so tests do not wait."""

    def __init__(
        self,
        company_id: int,
        *,
        client_id: str,
        client_secret: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        login_url: str = DEFAULT_LOGIN_URL,
        token: dict | None = None,
        on_token: Callable[[dict], None] | None = None,
        redirect_uri: str | None = None,
        max_attempts: int = 6,
        backoff: float = 0.5,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.company_id = int(company_id)
        self.base_url = base_url.rstrip("/")
        self.token_url = login_url.rstrip("/") + "/oauth/token"
        self.authorize_url = login_url.rstrip("/") + "/oauth/authorize"
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.timeout = timeout
        self.sleep = sleep
        self._on_token = on_token
        self.events: list[str] = []  # what happened besides plain successes (rate limits, retries, refreshes)
        self.session = OAuth2Session(
            client_id,
            client_secret,
            token=token,
            token_endpoint=self.token_url,
            redirect_uri=redirect_uri,
            grant_type=None if token and token.get("refresh_token") else "client_credentials",
            update_token=self._updated,
        )

    def __repr__(self) -> str:  # never the token
        return f"ProcoreClient(company_id={self.company_id}, base_url={self.base_url!r})"

    # -- tokens ---------------------------------------------------------------------------------------------------
    def _updated(
        self, token: dict, refresh_token: str | None = None, access_token: str | None = None
    ) -> None:
        if self._on_token:
            self._on_token(dict(token))

    def authorization_url(self, state: str | None = None) -> str:
        """Where a person signs in to Procore and allows qbrecon (authorization code grant)."""
        url, _state = self.session.create_authorization_url(self.authorize_url, state=state)
        return url

    def fetch_token_from_code(self, code: str) -> None:
        """Exchange an authorization code for an access token and a refresh token."""
        token = self._token_call(
            lambda: self.session.fetch_token(self.token_url, grant_type="authorization_code", code=code)
        )
        self.session.metadata["grant_type"] = None
        self._updated(token)

    def _fetch_client_token(self) -> None:
        token = self._token_call(
            lambda: self.session.fetch_token(self.token_url, grant_type="client_credentials")
        )
        self._updated(token)

    def _renew(self) -> None:
        """A new access token after Procore refused the current one (expired or revoked early)."""
        refresh = (self.session.token or {}).get("refresh_token")
        if refresh:
            token = self._token_call(
                lambda: self.session.refresh_token(self.token_url, refresh_token=refresh)
            )
            self._updated(token)
            self.events.append("access token expired: refreshed with the refresh token")
        else:
            self._fetch_client_token()
            self.events.append("access token expired: fetched a new one (client credentials)")

    def _token_call(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except requests.RequestException as exc:
            raise ProcoreApiError(
                f"cannot reach Procore's sign-in at {self.token_url}: {type(exc).__name__}"
            ) from None
        except Exception as exc:  # authlib raises OAuthError subclasses with Procore's error code
            desc = getattr(exc, "description", None) or getattr(exc, "error", None) or type(exc).__name__
            raise ProcoreApiError(f"Procore refused the sign-in: {desc}") from None

    # -- requests -------------------------------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, params: dict | None = None, json_body: Any = None
    ) -> requests.Response:
        """One call with the company header, retried on 429 (after Retry-After), 5xx and lost connections
        (exponential backoff) and once after a refused token. Other 4xx raise ``ProcoreApiError``."""
        if not self.session.token:
            self._fetch_client_token()
        url = path if path.startswith("http") else self.base_url + path
        renewed = False
        last = ""
        for attempt in range(self.max_attempts):
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    timeout=self.timeout,
                    headers={"Procore-Company-Id": str(self.company_id), "Accept": "application/json"},
                )
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}"
                self.events.append(f"{method} {path}: {last}; retrying")
                self.sleep(self.backoff * 2**attempt)
                continue
            if resp.status_code == 401 and not renewed:
                renewed = True
                self._renew()
                continue
            if resp.status_code == 429:
                wait = retry_after(resp.headers)
                self.events.append(f"{method} {path}: rate limited (429); waited {wait:g} s")
                self.sleep(wait)
                continue
            if resp.status_code in RETRY_STATUSES:
                last = f"HTTP {resp.status_code}"
                self.events.append(f"{method} {path}: {last}; retrying")
                self.sleep(self.backoff * 2**attempt)
                continue
            if resp.status_code >= 400:
                refused = ProcoreApiError(
                    f"Procore refused {method} {path}: HTTP {resp.status_code} {_brief(resp)}"
                )
                refused.status = resp.status_code
                raise refused
            return resp
        raise ProcoreApiError(
            f"{method} {path}: gave up after {self.max_attempts} attempts ({last or 'rate limited'})"
        )

    def pages(self, path: str, params: dict | None = None, per_page: int = 100) -> Iterator[Page]:
        """Every page of a list endpoint, following ``Link: rel="next"`` (or counting up to ``Total``)."""
        page = 1
        seen = 0
        while True:
            query = {**(params or {}), "page": page, "per_page": per_page}
            resp = self.request("GET", path, params=query)
            records = _json(resp, path)
            if isinstance(records, dict) and isinstance(records.get("data"), list):
                records = records["data"]
            if not isinstance(records, list):
                raise ProcoreApiError(
                    f"GET {path}: expected a JSON array of records, got {type(records).__name__}"
                )
            keep = {
                k: v
                for k, v in resp.headers.items()
                if k.lower() in ("total", "per-page", "link", "x-rate-limit-limit", "x-rate-limit-remaining")
            }
            yield Page("GET", path, query, resp.status_code, keep, records, resp.text)
            seen += len(records)
            total = resp.headers.get("Total")
            has_next = 'rel="next"' in resp.headers.get("Link", "")
            if not records or (not has_next and (total is None or seen >= int(total))):
                return
            page += 1

    def sync(
        self, path: str, updates: list[dict], params: dict | None = None
    ) -> tuple[list[dict], list[dict]]:
        """A sync action: ``PATCH path`` with ``{"updates": [...]}`` in chunks of at most 1,000; the entities
        Procore wrote and the errors it reported (each with the update it refused)."""
        entities: list[dict] = []
        errors: list[dict] = []
        for start in range(0, len(updates), SYNC_LIMIT):
            chunk = updates[start : start + SYNC_LIMIT]
            resp = self.request("PATCH", path, params=params, json_body={"updates": chunk})
            body = _json(resp, path)
            if not isinstance(body, dict):
                raise ProcoreApiError(
                    f"PATCH {path}: expected {{entities, errors}}, got {type(body).__name__}"
                )
            entities.extend(e for e in body.get("entities") or [] if isinstance(e, dict))
            errors.extend(e for e in body.get("errors") or [] if isinstance(e, dict))
        return entities, errors

    def close(self) -> None:
        self.session.close()


def retry_after(headers: Any, now: datetime | None = None, cap: float = 300.0) -> float:
    """Seconds to wait after a 429: ``Retry-After`` (seconds or an HTTP date), else ``X-Rate-Limit-Reset``
    (Unix time), else 1 s; never negative, at most ``cap``."""
    now = now or datetime.now(UTC)
    value = headers.get("Retry-After")
    wait = None
    if value:
        try:
            wait = float(value)
        except ValueError:
            try:
                wait = (parsedate_to_datetime(value) - now).total_seconds()
            except (TypeError, ValueError):
                wait = None
    if wait is None and headers.get("X-Rate-Limit-Reset"):
        try:
            wait = float(headers["X-Rate-Limit-Reset"]) - now.timestamp()
        except ValueError:
            wait = None
    return min(max(wait if wait is not None else 1.0, 0.0), cap)


def _json(resp: requests.Response, path: str) -> Any:
    try:
        return resp.json()
    except (ValueError, json.JSONDecodeError):
        raise ProcoreApiError(
            f"{resp.request.method} {path}: the answer is not JSON ({_brief(resp)})"
        ) from None


def _brief(resp: requests.Response) -> str:
    text = resp.text[:200].replace("\n", " ")
    return repr(text)  # repr escapes control characters: an answer never reaches a terminal raw
