"""The read-only SQL surface of ``retail-pipeline sql``: one statement over the lakehouse's tables (gold by
name, the others as ``<layer>_<name>``) in an in-memory DuckDB with no file or network access, and the
result as a table, CSV (spreadsheet formulas neutralised) or JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import duckdb
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core.tables import SQL_TABLES
from retail_pipeline.core.text_table import text_table

# Statements that only read. Everything else (INSERT, COPY ... TO, ATTACH, SET, PRAGMA ...) is refused.
READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class SqlError(ValueError):
    """A query ``retail-pipeline sql`` cannot run: bad SQL, an unknown table, or a statement that writes."""


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
        yield text_table(frame, max_rows)
        if frame.height > max_rows:
            yield f"({frame.height:,} rows, {max_rows} shown: --max-rows N or --format csv for all)"
