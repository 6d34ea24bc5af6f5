"""Reading the DuckDB warehouse file for the API: a read-only connection to the file as it stands, reopened
when a refresh renames a new file over it (``adapters/warehouse.py`` swaps whole files, so a reader sees
one version of every mart, never half of a refresh), and answers kept per file until it changes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl


class WarehouseMissing(RuntimeError):
    """The warehouse file does not exist or cannot be opened (no run has built it yet)."""


class WarehouseReader:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._identity: tuple[int, int, int] | None = None
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._answers: dict[Any, Any] = {}

    def _current(self) -> tuple[duckdb.DuckDBPyConnection, dict]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError as exc:
            raise WarehouseMissing(f"no warehouse at {self.path}: run `retail-pipeline run` first") from exc
        identity = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if identity != self._identity or self._conn is None:
                try:
                    conn = duckdb.connect(str(self.path), read_only=True)
                except duckdb.Error as exc:
                    raise WarehouseMissing(f"the warehouse {self.path} cannot be opened: {str(exc).splitlines()[0]}") from exc
                # The old connection is dropped, not closed: a query still running on it has a cursor of
                # its own, which keeps that file's database open until it ends.
                self._conn, self._identity, self._answers = conn, identity, {}
            return self._conn, self._answers

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """One query on the current file (a cursor of its own: threads query at once)."""
        conn, _ = self._current()
        with conn.cursor() as cursor:
            return cursor.sql(sql, params=params or None).pl()

    def cached(self, key: Any, compute: Callable[["WarehouseReader"], Any]) -> Any:
        """``compute(self)`` once per warehouse file: later calls get the same answer until the file changes."""
        _, answers = self._current()
        if key not in answers:
            answers[key] = compute(self)
        return answers[key]

    def check(self) -> None:
        """``WarehouseMissing`` unless the file is there and opens (one ``stat`` when it did not change)."""
        self._current()
