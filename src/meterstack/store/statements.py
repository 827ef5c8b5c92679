"""The statements of one transaction: what every domain's SQL runs through."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SqlAlchemyTimeout

from meterstack.errors import NulCharacterError
from meterstack.store.dialect import Dialect

#: A unique constraint refused the statement (the driver's own error, on either backend).
UNIQUE_VIOLATION = (sqlite3.IntegrityError, psycopg.IntegrityError)

#: What SQLite says when the file is busy, locked, full or unreachable: worth a retry.
_TRANSIENT_SQLITE = ("locked", "busy", "disk i/o", "unable to open", "is full")


def unavailable(error: BaseException) -> bool:
    """Whether a driver error means the database could not do the work, rather than a fault.

    PostgreSQL's operational errors are about the connection and the server; SQLite reports
    its own statement errors (a missing table…) with that class too, so only its busy, locked,
    I/O and full conditions count.
    """
    if isinstance(error, SqlAlchemyTimeout):
        return True  # no connection came free in the pool within the store's timeout
    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig  # SQLAlchemy's wrapper of the driver's error (opening a connection)
    if isinstance(error, psycopg.OperationalError):
        return True
    if isinstance(error, sqlite3.OperationalError):
        message = str(error).lower()
        return any(sign in message for sign in _TRANSIENT_SQLITE)
    return False


def conflict(error: BaseException) -> bool:
    """Whether the database undid the transaction to break a deadlock or a serialization
    conflict (SQLSTATE class 40): nothing was recorded, and running it again succeeds."""
    return isinstance(error, psycopg.Error) and (error.sqlstate or "").startswith("40")


def refuse_nul(params: dict[str, Any]) -> None:
    """Refuse a text holding NUL before the driver sees it, on both backends alike.

    PostgreSQL cannot store NUL in text (the driver fails the statement, which would surface as
    a fault); SQLite would keep it, and an id that only one backend accepts is a trap. Ids,
    keys, names and emails all come through here, whatever door they came in by.
    """
    for name, value in params.items():
        if isinstance(value, str):
            if "\x00" in value:
                raise _nul(name)
        elif isinstance(value, list | tuple) and any(
            isinstance(item, str) and "\x00" in item for item in value
        ):
            raise _nul(name)


def _nul(name: str) -> NulCharacterError:
    return NulCharacterError(
        "text must not contain a NUL character (\\x00)", parameter=name.rstrip("0123456789")
    )


class Statements:
    """The cursor of the open transaction, shared by every port adapter of a connection."""

    __slots__ = ("_instant", "_stamp", "cursor", "dialect")

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect
        self._instant: datetime | None = None
        self._stamp: Any = None

    def execute(self, text: str, params: dict[str, Any] | None = None) -> Any:
        if params:
            refuse_nul(params)
        self.cursor.execute(self.dialect.sql(text), params or {})
        return self.cursor

    def one(self, text: str, params: dict[str, Any] | None = None) -> Any:
        return self.execute(text, params).fetchone()

    def all(self, text: str, params: dict[str, Any] | None = None) -> list[Any]:
        return list(self.execute(text, params).fetchall())

    def ts(self, instant: datetime) -> Any:
        """The timestamp as the driver stores it; the last one is kept, as one request's rows
        (its idempotency record, its ledger entry) share their instant."""
        if instant is self._instant:
            return self._stamp
        stamp = self.dialect.ts(instant)
        self._instant, self._stamp = instant, stamp
        return stamp

    def one_of(self, column: str, values: Sequence[Any], name: str) -> tuple[str, dict[str, Any]]:
        """``column`` among ``values``, as SQL and its parameters.

        On PostgreSQL one array parameter, so the statement's text (and its prepared plan) stay
        the same for any number of values; on SQLite one named parameter per value.
        """
        if not self.dialect.is_sqlite:
            return f"{column} = ANY(:{name})", {name: list(values)}
        params = {f"{name}{index}": value for index, value in enumerate(values)}
        return f"{column} IN ({', '.join(':' + key for key in params)})", params
