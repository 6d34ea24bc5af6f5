"""The DuckDB warehouse file that SQL clients and BI tools open: every gold table under its own name,
refreshed in a copy that is swapped in atomically (only what changed is loaded into the copy).

DuckDB never reads Delta itself here (its delta extension would have to be downloaded, and the pipeline runs
offline): tables are read through polars and handed to DuckDB as Arrow.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core.contracts import ID_COLUMN, KEY_COLUMN, RAW_COLUMN
from retail_pipeline.core.tables import WAREHOUSE_TABLES


@dataclass(frozen=True)
class WarehouseReport:
    path: Path
    rows: dict[str, int]
    size_bytes: int


Connect = Callable[[Path], AbstractContextManager[duckdb.DuckDBPyConnection]]


# Inside the warehouse file, so that it is replaced with the data it describes: which version of each gold
# table (each month's data files, for a daily table) the file holds.
LOADED = "_pipeline.loaded"


def _parts(lakehouse: Lakehouse, table: str) -> dict[str, str]:
    """A digest of the data files of each month of a daily table ("" for a whole table): a month whose
    files did not change holds the same rows."""
    return {
        "" if month is None else month.isoformat(): hashlib.sha256("|".join(sorted(paths)).encode()).hexdigest()
        for month, paths in lakehouse.month_files(table).items()
    }


def _loaded(path: Path) -> dict[str, dict[str, str]] | None:
    """What the warehouse file at ``path`` holds (table -> month -> digest), None if it cannot say."""
    if not path.is_file():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            rows = conn.execute(f"SELECT table_path, part, digest FROM {LOADED}").fetchall()
    except duckdb.Error:
        return None  # written by a release that did not record it, or not a warehouse at all
    loaded: dict[str, dict[str, str]] = {}
    for table, part, digest in rows:
        loaded.setdefault(table, {})[part] = digest
    return loaded


def _sql(conn: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> list:
    # DuckDB 2 refuses a statement while the previous one's result is unread: each is read to its end.
    return conn.execute(query, params or []).fetchall()


def rebuild_warehouse(lakehouse: Lakehouse, path: Path, connect: Connect, full: bool = False) -> WarehouseReport:
    """Bring the DuckDB file at ``path`` to the gold tables as they stand, in a copy that is then renamed over
    ``path``: a reader that opened the old file keeps reading the old file, and nobody sees half a
    warehouse. Only what changed is loaded into the copy: a whole table whose files changed, and of a daily
    table the months whose files changed (a new day costs its month, not the history); ``full``, or a file
    that does not say what it holds, is written from nothing. ``connect(path)`` opens a read-write
    connection (the Dagster asset passes its ``DuckDBResource``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    previous = None if full else _loaded(path)
    if previous is not None:
        shutil.copyfile(path, staging)
    previous = previous or {}
    rows: dict[str, int] = {}
    try:
        with connect(staging) as conn:
            _sql(conn, "CREATE SCHEMA IF NOT EXISTS _pipeline")
            _sql(conn, f"CREATE OR REPLACE TABLE {LOADED} (table_path VARCHAR, part VARCHAR, digest VARCHAR)")
            for table in WAREHOUSE_TABLES:
                name = table.sql_name
                if not lakehouse.exists(table.path):
                    _sql(conn, f'DROP TABLE IF EXISTS "{name}"')
                    continue
                parts = _parts(lakehouse, table.path)
                _load(conn, lakehouse, table.path, name, table.date_column, parts, previous.get(table.path))
                loaded = pl.DataFrame({"table_path": table.path, "part": list(parts), "digest": list(parts.values())})
                conn.register("__loaded", loaded.to_arrow())
                _sql(conn, f"INSERT INTO {LOADED} SELECT * FROM __loaded")
                conn.unregister("__loaded")
                rows[name] = _sql(conn, f'SELECT count(*) FROM "{name}"')[0][0]
            _sql(conn, "CHECKPOINT")  # everything in the file, no write-ahead log left beside it
        # A log left by another writer of the old file would be replayed onto the new one.
        Path(f"{path}.wal").unlink(missing_ok=True)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
    return WarehouseReport(path, rows, path.stat().st_size)


def _load(conn, lakehouse: Lakehouse, table: str, name: str, date_column: str | None, parts: dict[str, str], held) -> None:
    """Load ``table`` into ``name``: nothing if its files are the ones ``held``, the changed months of a
    daily table whose columns are unchanged, else the whole table. Memory follows the largest whole table or
    month loaded (30M rows of the fact table at once took the run past 7 GiB), not the warehouse."""
    if held == parts:
        return
    source = lakehouse.scan(table)
    columns = list(source.collect_schema().names())
    exists = _sql(
        conn, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [name]
    )[0][0]
    same_columns = exists and [r[0] for r in _sql(conn, f'DESCRIBE "{name}"')] == columns
    monthly = date_column is not None and "" not in parts
    if held is None or not monthly or not same_columns or "" in held:
        # Written from nothing; a daily table month by month, so memory follows a month, not the table.
        _sql(conn, f'DROP TABLE IF EXISTS "{name}"')
        chunks = [
            source.filter(pl.col(date_column).dt.truncate("1mo") == date.fromisoformat(m)) for m in sorted(parts)
        ] if monthly and parts else [source]
        for i, chunk in enumerate(chunks):
            _insert(conn, name, chunk.collect(), create=i == 0)
        return
    months = sorted({m for m in parts if held.get(m) != parts[m]} | (set(held) - set(parts)))
    days = [date.fromisoformat(m) for m in months]
    _sql(
        conn, f'DELETE FROM "{name}" WHERE date_trunc(\'month\', "{date_column}") IN (SELECT unnest(?::DATE[]))', [days]
    )
    for day in days:
        _insert(conn, name, source.filter(pl.col(date_column).dt.truncate("1mo") == day).collect(), create=False)


def _insert(conn, name: str, frame: pl.DataFrame, create: bool) -> None:
    conn.register("__source", frame.to_arrow())
    if create:
        _sql(conn, f'CREATE TABLE "{name}" AS SELECT * FROM __source')
    else:
        _sql(conn, f'INSERT INTO "{name}" BY NAME SELECT * FROM __source')
    conn.unregister("__source")


def warehouse_rows(path: Path | None, customer_id: str, key: int) -> dict[str, int]:
    """Rows of the customer per table of the DuckDB warehouse file (empty if there is no file)."""
    if path is None or not path.is_file():
        return {}
    out: dict[str, int] = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE column_name IN (?, ?, ?)",
            [ID_COLUMN, KEY_COLUMN, RAW_COLUMN],
        ).fetchall()
        by_table: dict[str, list[str]] = {}
        for table, column in columns:
            by_table.setdefault(table, []).append(column)
        for table, names in sorted(by_table.items()):
            tests = []
            if ID_COLUMN in names:
                tests.append(f"regexp_replace(trim(\"{ID_COLUMN}\"), '\\.0+$', '') = $id")
            if KEY_COLUMN in names:
                tests.append(f'"{KEY_COLUMN}" = $key')
            if RAW_COLUMN in names:
                tests.append(f"list_contains(list_transform(string_split(\"{RAW_COLUMN}\", ','), lambda x: regexp_replace(trim(x, ' \"'), '\\.0+$', '')), $id)")
            sql = f'SELECT count(*) FROM "{table}" WHERE ' + " OR ".join(f"coalesce({t}, false)" for t in tests)
            params = {name: value for name, value in (("id", customer_id), ("key", key)) if f"${name}" in sql}
            count = conn.execute(sql, params).fetchall()[0][0]
            out[table] = int(count)
    return out
