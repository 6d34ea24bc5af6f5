"""The DuckDB side of the lakehouse: the warehouse file that SQL clients and BI tools open, and the
read-only SQL surface of ``retail-pipeline sql``.

DuckDB never reads Delta itself here (its delta extension would have to be downloaded, and the pipeline runs
offline): tables are read through polars and handed to DuckDB as Arrow.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from retail_pipeline.lakehouse import Lakehouse

# The gold tables copied into the warehouse, under these names (their table name without the layer).
WAREHOUSE_TABLES = (
    "fact_sales",
    "dim_date",
    "dim_product",
    "dim_customer",
    "dim_country",
    "daily_sales",
    "monthly_kpis",
    "country_sales",
    "product_performance",
    "product_features",
    "customer_rfm",
    "dq_scorecard",
)
# What ``retail-pipeline sql`` can query: gold tables by their names, the others as <layer>_<name>.
SQL_TABLES: dict[str, str] = {
    **{name: f"gold/{name}" for name in WAREHOUSE_TABLES},
    **{
        f"silver_{name}": f"silver/{name}"
        for name in ("transactions", "quarantine", "partition_stats", "fx_daily", "dim_country")
    },
    **{
        f"bronze_{name}": f"bronze/{name}"
        for name in ("transactions", "landed_files", "fx_rates", "countries", "erased_rows", "erased_customers")
    },
}
# Statements that only read. Everything else (INSERT, COPY ... TO, ATTACH, SET, PRAGMA ...) is refused.
READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class SqlError(ValueError):
    """A query ``retail-pipeline sql`` cannot run: bad SQL, an unknown table, or a statement that writes."""


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
            for name in WAREHOUSE_TABLES:
                table = f"gold/{name}"
                if not lakehouse.exists(table):
                    continue
                # One table at a time: memory follows the largest table, not the warehouse.
                frame = lakehouse.read(table)
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


def referenced_tables(sql: str) -> dict[str, str]:
    """The known tables a query names (``SQL_TABLES`` names as whole words, any case)."""
    return {
        name: table for name, table in SQL_TABLES.items() if re.search(rf"(?<![\w.]){name}(?!\w)", sql, re.IGNORECASE)
    }


def _statement(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlError(str(exc)) from exc
    if len(statements) != 1:
        raise SqlError(f"give exactly one SQL statement (got {len(statements)})")
    kind = statements[0].type
    if kind not in READ_ONLY:
        raise SqlError(
            f"retail-pipeline sql only reads: a {kind.name} statement is refused (tables change only through "
            "the pipeline; to export a result, use --format csv or json)"
        )


def query(lakehouse: Lakehouse, sql: str) -> pl.DataFrame:
    """Run one read-only SQL statement over the lakehouse's tables (``SQL_TABLES`` names) with DuckDB."""
    _statement(sql)
    conn = duckdb.connect(":memory:")
    try:
        for name, table in referenced_tables(sql).items():
            if lakehouse.exists(table):
                conn.register(name, lakehouse.read(table).to_arrow())
        # No file, network or extension access, and the setting cannot be undone by the query.
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        try:
            return conn.sql(sql).pl()
        except duckdb.CatalogException as exc:
            known = ", ".join(sorted(n for n, t in SQL_TABLES.items() if lakehouse.exists(t)))
            raise SqlError(f"{exc}\nTables you can query here: {known or 'none yet (run the pipeline first)'}") from exc
        except duckdb.Error as exc:
            raise SqlError(str(exc)) from exc
    finally:
        conn.close()


# A text cell a spreadsheet would run as a formula (=, +, -, @, and tab or carriage return before them).
FORMULA_START = r"^[=+\-@\t\r]"
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would evaluate get a leading ``'`` (shown as text, not run); text that
    is a plain number (``-1`` in a raw bronze field) and numeric columns are left as they are."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    risky = lambda c: pl.col(c).str.contains(FORMULA_START) & ~pl.col(c).str.contains(NUMBER)  # noqa: E731
    return frame.with_columns(
        pl.when(risky(c)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c) for c in text
    )


def render(frame: pl.DataFrame, fmt: str, max_rows: int = 100) -> Iterator[str]:
    """A query result as text: an aligned table (at most ``max_rows`` rows shown), CSV (spreadsheet formulas
    neutralised), or JSON rows."""
    if fmt == "csv":
        nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
        if nested:
            raise SqlError(f"CSV cannot hold the nested column(s) {', '.join(nested)}: select other columns or use --format json")
        yield neutralise_formulas(frame).write_csv().rstrip("\n")
    elif fmt == "json":
        yield frame.write_json()
    else:
        with pl.Config(
            tbl_rows=max_rows,
            tbl_cols=-1,
            tbl_width_chars=240,
            tbl_hide_column_data_types=True,
            fmt_str_lengths=60,
            thousands_separator=",",
            float_precision=2,
        ):
            yield str(frame)
        if frame.height > max_rows:
            yield f"({frame.height:,} rows, {max_rows} shown: --max-rows N or --format csv for all)"
