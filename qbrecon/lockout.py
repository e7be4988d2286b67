"""Brute-force throttling of password checks: the dashboard sign-in and the Web Connector's ``authenticate``.

Failed attempts are counted in memory per account and per address (a failed guess writes nothing, so a flood of
guesses costs no disk writes); when either count reaches its limit within the window, that account or address is
locked out for ``LOCK_SECONDS``: one row in ``login_lockouts``. While locked, attempts are refused without
checking the password (no oracle, no hashing cost). An admin sees the lockouts and clears them with
``ws.login_lockouts()`` / ``ws.clear_login_lockouts()`` or ``qbrecon lockouts list|clear``.

    throttle = LoginThrottle.of(ws.store)
    result = throttle.attempt("qbwc", user, address, lambda: check_password(user, password))
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import pandas as pd

from .store import Store  # login_lockouts: qbrecon/migrations/0002

MAX_FAILURES_PER_USER = 5  # within WINDOW_SECONDS: then the account is locked
MAX_FAILURES_PER_ADDRESS = 20  # within WINDOW_SECONDS: then the address is locked (guessing many accounts)
WINDOW_SECONDS = 15 * 60
LOCK_SECONDS = 15 * 60
MAX_TRACKED = 10_000  # keys kept in memory; the oldest are dropped first (a flood of addresses stays bounded)

T = TypeVar("T")


class LoginThrottle:
    """Failure counts of one workspace's store (one per process, shared by dashboard and Web Connector)."""

    _by_store: weakref.WeakKeyDictionary[Store, LoginThrottle] = weakref.WeakKeyDictionary()
    _registry_lock = threading.Lock()

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str, str], deque[float]] = {}

    @classmethod
    def of(cls, store: Store) -> LoginThrottle:
        with cls._registry_lock:
            throttle = cls._by_store.get(store)
            if throttle is None:
                throttle = cls._by_store[store] = cls(store)
            return throttle

    # -- checking ----------------------------------------------------------------------------------------------
    def locked(self, channel: str, user: str, address: str | None) -> float:
        """Seconds until ``user`` / ``address`` may try again on ``channel``; 0 when not locked."""
        keys = [("user", _norm(user))] + ([("address", address)] if address else [])
        rows = self.store.execute(
            "SELECT max(epoch(locked_until)) FROM login_lockouts WHERE channel = ? AND locked_until > now() AND "
            "((kind = 'user' AND who = ?) OR (kind = 'address' AND who = ?))",
            [channel, keys[0][1], address or "\0"],
        ).fetchall()
        until = rows[0][0] if rows and rows[0][0] is not None else None
        return max(0.0, float(until) - time.time()) if until else 0.0

    def attempt(self, channel: str, user: str, address: str | None, check: Callable[[], T]) -> T | None:
        """Run the password ``check`` unless locked; count a falsy result as a failure. None when refused."""
        if self.locked(channel, user, address):
            return None
        result = check()
        if (
            result is None
            or result is False
            or (isinstance(result, pd.DataFrame | pd.Series) and result.empty)
        ):
            self.failed(channel, user, address)
        else:
            self.succeeded(channel, user)
        return result

    # -- counting ----------------------------------------------------------------------------------------------
    def failed(self, channel: str, user: str, address: str | None) -> None:
        now = time.time()
        to_lock: list[tuple[str, str, int]] = []
        with self._lock:
            for kind, who, limit in (
                ("user", _norm(user), MAX_FAILURES_PER_USER),
                ("address", address or "", MAX_FAILURES_PER_ADDRESS),
            ):
                if not who:
                    continue
                times = self._failures.pop((channel, kind, who), None) or deque()
                times.append(now)
                while times and times[0] < now - WINDOW_SECONDS:
                    times.popleft()
                if len(times) >= limit:
                    to_lock.append((kind, who, len(times)))
                else:
                    self._failures[(channel, kind, who)] = times  # re-inserted: most recent last
            while len(self._failures) > MAX_TRACKED:
                del self._failures[next(iter(self._failures))]
        for kind, who, count in to_lock:  # one write per lockout, not per attempt
            self.store.execute(
                "INSERT OR REPLACE INTO login_lockouts VALUES (?, ?, ?, ?, now(), now() + to_seconds(?))",
                [channel, kind, who, count, LOCK_SECONDS],
            )

    def succeeded(self, channel: str, user: str) -> None:
        with self._lock:
            self._failures.pop((channel, "user", _norm(user)), None)

    def forget(self, channel: str | None = None, who: str | None = None) -> None:
        with self._lock:
            for key in list(self._failures):
                if (channel is None or key[0] == channel) and (
                    who is None or key[2] == _norm(who) or key[2] == who
                ):
                    del self._failures[key]


def _norm(user: str | None) -> str:
    return str(user or "").strip().lower()


def login_lockouts(store: Store, *, include_expired: bool = False) -> pd.DataFrame:
    """Lockouts (newest first): channel, kind (user | address), who, failures, locked_at, locked_until."""
    where = "" if include_expired else "WHERE locked_until > now()"
    return store.frame(
        f"SELECT channel, kind, who, failures, locked_at, locked_until FROM login_lockouts {where} "
        "ORDER BY locked_at DESC"
    )


def clear_login_lockouts(store: Store, who: str | None = None, channel: str | None = None) -> int:
    """Lift lockouts (of one login or address when ``who`` is given; on one channel when given); returns how
    many were lifted. Their failure counts start again from zero."""
    where, params = ["true"], []
    if who is not None:
        where.append("(who = ? OR who = ?)")
        params += [who, _norm(who)]
    if channel is not None:
        where.append("channel = ?")
        params.append(channel)
    with store.transaction() as con:
        n = con.execute(
            f"SELECT count(*) FROM login_lockouts WHERE {' AND '.join(where)} AND locked_until > now()",
            params,
        ).fetchall()[0][0]
        con.execute(f"DELETE FROM login_lockouts WHERE {' AND '.join(where)}", params)
    LoginThrottle.of(store).forget(channel, who)
    return int(n)


class LockoutService:
    """``ws.login_lockouts()`` and ``ws.clear_login_lockouts()`` for the library, the CLI and the dashboard."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def login_lockouts(self, include_expired: bool = False) -> pd.DataFrame:
        """Accounts and addresses locked out after repeated failed sign-ins (dashboard) or logins (Web Connector)."""
        return login_lockouts(self.store, include_expired=include_expired)

    def clear_login_lockouts(
        self, who: str | None = None, channel: str | None = None, *, by: int | str | None = None
    ) -> int:
        """Lift lockouts (all, or of one login or address); ``by`` = the admin doing it (needs 'settings')."""
        if by is not None:
            from .erp import permissions

            permissions.require(self.store, by, "settings")
        return clear_login_lockouts(self.store, who, channel)
