"""Which database failures mean "unavailable, retry" (503) and which are faults."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from meterstack.store.statements import unavailable


def _error_of(connection: sqlite3.Connection, statement: str) -> sqlite3.OperationalError:
    with pytest.raises(sqlite3.OperationalError) as raised:
        connection.execute(statement)
    return raised.value


def test_a_locked_sqlite_file_is_transient_and_a_missing_table_is_not(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        locked = _error_of(waiter, "INSERT INTO t VALUES (1)")
        missing = _error_of(holder, "SELECT * FROM no_such_table")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        waiter.close()

    assert "locked" in str(locked)
    assert unavailable(locked)
    assert not unavailable(missing)
