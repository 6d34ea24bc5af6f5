"""The DuckDB warehouse file that SQL clients and BI tools open: every gold table under its own name,
rebuilt whole and swapped in atomically.

DuckDB never reads Delta itself here (its delta extension would have to be downloaded, and the pipeline runs
offline): tables are read through polars and handed to DuckDB as Arrow.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core.contracts import ID_COLUMN, KEY_COLUMN, RAW_COLUMN
from retail_pipeline.core.tables import WAREHOUSE_TABLES


@dataclass(frozen=True)
class WarehouseReport:
    path: Path
    rows: dict[str, int]
    size_bytes: int


Connect = Callable[[Path], AbstractContextManager[duckdb.DuckDBPyConnection]]


def rebuild_warehouse(lakehouse: Lakehouse, path: Path, connect: Connect) -> WarehouseReport:
    """Write every gold table that exists into a new DuckDB file beside ``path``, then rename it over
    ``path``: a reader that opened the old file keeps reading the old file, and nobody sees half a
    warehouse. ``connect(path)`` opens a read-write connection (the Dagster asset passes its
    ``DuckDBResource``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    rows: dict[str, int] = {}
    try:
        with connect(staging) as conn:
            for table in WAREHOUSE_TABLES:
                name = table.sql_name
                if not lakehouse.exists(table.path):
                    continue
                # One table at a time: memory follows the largest table, not the warehouse.
                frame = lakehouse.read(table.path)
                conn.register("__source", frame.to_arrow())
                conn.execute(f'CREATE TABLE "{name}" AS SELECT * FROM __source')
                conn.unregister("__source")
                rows[name] = frame.height
                del frame
            conn.execute("CHECKPOINT")  # everything in the file, no write-ahead log left beside it
        # A log left by another writer of the old file would be replayed onto the new one.
        Path(f"{path}.wal").unlink(missing_ok=True)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
    return WarehouseReport(path, rows, path.stat().st_size)


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
