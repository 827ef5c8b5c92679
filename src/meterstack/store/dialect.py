"""Backends by URL: the SQLAlchemy engine for SQLite or PostgreSQL, and the few places they differ.

``sqlite:///path`` (the embedded default; ``?durability=full`` survives power loss), a bare path,
or ``postgresql://…`` (``?schema=name`` keeps meterstack's tables in their own schema).
The hot path speaks to the driver directly through :class:`Dialect`; SQL text is written with
``:name`` parameters and translated once per statement for the driver.
"""

from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from meterstack.errors import InvalidInputError
from meterstack.store.checkpoints import BACKSTOP_PAGES

#: Seconds the store waits for the database by default (pool, locks, statements).
DEFAULT_TIMEOUT = 5.0
#: The longest wait a store URL may ask for.
MAX_TIMEOUT = 3600.0

_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
#: SQLITE_TIME_FORMAT in %-formatting, for :meth:`Dialect.ts`.
_SQLITE_TIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL."""

    backend: str  # "sqlite" or "postgresql"
    sqlalchemy_url: str
    durability: str = "normal"
    schema: str | None = None
    memory: bool = False
    #: Seconds the store waits for the database: a connection from the pool, a lock, a
    #: statement, a whole unit of work on PostgreSQL (``?timeout=``; 503 past it).
    timeout: float = DEFAULT_TIMEOUT


def parse_store_url(url: str) -> StoreUrl:
    if "://" not in url:
        return StoreUrl("sqlite", f"sqlite:///{Path(url)}")
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    scheme = parts.scheme.split("+")[0]
    timeout = _timeout(query.pop("timeout", None))
    if scheme == "sqlite":
        durability = query.pop("durability", "normal")
        if durability not in {"normal", "full"}:
            raise InvalidInputError(f"durability must be 'normal' or 'full', got {durability!r}")
        path = url.split("://", 1)[1].split("?", 1)[0].removeprefix("/")
        memory = path in {"", ":memory:"}
        return StoreUrl(
            "sqlite",
            "sqlite://" if memory else f"sqlite:///{path}",
            durability=durability,
            memory=memory,
            timeout=timeout,
        )
    if scheme in {"postgresql", "postgres"}:
        schema = query.pop("schema", None)
        if schema is not None and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise InvalidInputError(f"schema must be a plain lower-case identifier, got {schema!r}")
        rebuilt = urlunsplit(
            ("postgresql+psycopg", parts.netloc, parts.path, urlencode(query), parts.fragment)
        )
        return StoreUrl("postgresql", rebuilt, schema=schema, timeout=timeout)
    raise InvalidInputError(
        f"unsupported database URL scheme {parts.scheme!r}: use sqlite:///path or postgresql://…"
    )


def _timeout(text: str | None) -> float:
    return DEFAULT_TIMEOUT if text is None else store_timeout(text)


def store_timeout(value: object) -> float:
    """A store timeout in seconds: above 0, at most an hour."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not 0 < seconds <= MAX_TIMEOUT:
        raise InvalidInputError(
            f"timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, "
            f"got {value!r}"[:200]
        )
    return seconds


def create_sql_engine(store_url: StoreUrl, pool_size: int = 20) -> Engine:
    if store_url.backend == "sqlite":
        return _sqlite_engine(store_url, pool_size)
    return _postgres_engine(store_url, pool_size)


def _sqlite_engine(store_url: StoreUrl, pool_size: int) -> Engine:
    if store_url.memory:
        engine = create_engine(
            store_url.sqlalchemy_url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False, "isolation_level": None},
        )
    else:
        engine = create_engine(
            store_url.sqlalchemy_url,
            pool_size=pool_size,
            max_overflow=pool_size,
            # Every unit of work ends in COMMIT or ROLLBACK; no reset is needed on return.
            pool_reset_on_return=None,
            pool_timeout=store_url.timeout,
            connect_args={
                "check_same_thread": False,
                "isolation_level": None,
                "timeout": store_url.timeout,
            },
        )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # isolation_level=None: the driver opens no transaction of its own; we BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        _sqlite_pragmas(dbapi_connection, store_url)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _sqlite_pragmas(connection: sqlite3.Connection, store_url: StoreUrl) -> None:
    cursor = connection.cursor()
    if not store_url.memory:
        cursor.execute("PRAGMA journal_mode=WAL")
        # The store's thread checkpoints (store/checkpoints.py); commits only past the backstop.
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cursor.execute(f"PRAGMA synchronous={'FULL' if store_url.durability == 'full' else 'NORMAL'}")
    # A file locked by another writer past the store's timeout is 503 store_unavailable.
    cursor.execute(f"PRAGMA busy_timeout={round(store_url.timeout * 1000)}")
    cursor.close()


def sqlite_file_connection(store_url: StoreUrl) -> sqlite3.Connection:
    """A connection of its own to a SQLite file store, with the store's pragmas."""
    path = store_url.sqlalchemy_url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    _sqlite_pragmas(connection, store_url)
    return connection


def _postgres_engine(store_url: StoreUrl, pool_size: int) -> Engine:
    # The server cancels a statement, or a wait for a lock, past the timeout (an error the
    # store reports as 503); connecting is bounded too (libpq counts whole seconds, at least 2).
    milliseconds = round(store_url.timeout * 1000)
    options = [f"-cstatement_timeout={milliseconds}", f"-clock_timeout={milliseconds}"]
    if store_url.schema is not None:
        options.append(f"-csearch_path={store_url.schema}")
    connect_args: dict[str, Any] = {
        "options": " ".join(options),
        "connect_timeout": max(2, math.ceil(store_url.timeout)),
    }
    return create_engine(
        store_url.sqlalchemy_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=store_url.timeout,
        pool_pre_ping=False,
        pool_reset_on_return=None,
        connect_args=connect_args,
    )


class Dialect:
    """Driver-level differences: parameter style, timestamps, transaction start."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.is_sqlite = backend == "sqlite"

    def sql(self, text: str) -> str:
        return _translate(text, self.is_sqlite)

    def begin(self, cursor: Any) -> None:
        if self.is_sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        # psycopg opens the transaction with the first statement.

    def ts(self, instant: datetime) -> Any:
        """A timestamp as the driver stores it (UTC)."""
        if instant.tzinfo is not UTC:
            instant = instant.astimezone(UTC)
        if self.is_sqlite:
            # The SQLITE_TIME_FORMAT text, written field by field: twice as fast as isoformat
            # of an aware instant, and several times strftime.
            return _SQLITE_TIME % (
                instant.year,
                instant.month,
                instant.day,
                instant.hour,
                instant.minute,
                instant.second,
                instant.microsecond,
            )
        return instant

    def from_ts(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        # The stored text is ISO 8601 with a space: fromisoformat reads it, and fast.
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


@lru_cache(maxsize=512)
def _translate(text: str, is_sqlite: bool) -> str:
    if is_sqlite:
        return text
    return _PARAM.sub(r"%(\1)s", text)
