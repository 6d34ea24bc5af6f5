"""The read-only SQL surface of ``retail-pipeline sql``: one statement over the lakehouse's tables (gold by
name, the others as ``<layer>_<name>``) in an in-memory DuckDB with no file or network access, and the
result as a table, CSV (spreadsheet formulas neutralised) or JSON.

A query only reads: a SELECT, or EXPLAIN of a SELECT (EXPLAIN ANALYZE runs its statement). Only the tables
it reads as tables (DuckDB's parse tree, not its text) are loaded, streamed from their files, and it is
bounded by the ``RETAIL_SQL_*`` settings: the rows and stored bytes of those tables, DuckDB's memory limit
(no spilling to disk) and a time limit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from retail_pipeline.adapters.lakehouse import MONTH_COLUMN, Lakehouse
from retail_pipeline.core.tables import SQL_TABLES
from retail_pipeline.core.text_table import text_table
from retail_pipeline.settings import Settings

# Statements that only read. Everything else (INSERT, COPY ... TO, ATTACH, SET, PRAGMA ...) is refused, and
# EXPLAIN only of a SELECT.
READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}

# Where a query's name resolves to a table registered on the connection (a temporary view): (catalog,
# schema) as written, lowercased. ``memory.main.x`` or ``other.x`` name something else (checked on DuckDB 2.0).
REGISTERED = {("", ""), ("", "main"), ("", "temp"), ("temp", "main")}

# Reader features a table's files can be read with plain Parquet readers under: not deletion vectors or
# column mapping, which change what the files mean.
PLAIN_READER_FEATURES = {"timestampNtz"}

NO_ACCESS = {"enable_external_access": False}


class SqlError(ValueError):
    """A query ``retail-pipeline sql`` cannot run: bad SQL, an unknown table, a statement that writes, or a
    query over one of its limits."""


def _parse(sql: str) -> list[duckdb.Statement]:
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlError(str(exc)) from exc


def _explained(sql: str) -> tuple[str | None, str]:
    """The statement an EXPLAIN explains: (its text if it is a SELECT, else None; its kind). DuckDB's parser
    does not expose it, so it is what follows ``EXPLAIN [ANALYZE]`` and, when that opens with options in
    parentheses (``EXPLAIN (ANALYZE, FORMAT JSON) ...``), what follows them: a parenthesis may also open
    the query (``EXPLAIN (SELECT 1) UNION (SELECT 2)``), so both readings are tried."""
    found = duckdb.tokenize(sql)  # (offset, kind) of each token
    ends = [offset for offset, _ in found[1:]] + [len(sql)]
    tokens = [
        (offset, sql[offset:end].strip(), kind)
        for (offset, kind), end in zip(found, ends)
        if kind != duckdb.token_type.comment
    ]
    rest = tokens[1:]  # after EXPLAIN
    if rest and rest[0][1].upper() in ("ANALYZE", "ANALYSE"):
        rest = rest[1:]
    candidates = [sql[rest[0][0]:]] if rest else []
    if rest and rest[0][1].startswith("("):
        depth = 0
        for index, (_, text, kind) in enumerate(rest):
            if kind == duckdb.token_type.operator:
                depth += text.count("(") - text.count(")")
            if depth <= 0:
                if index + 1 < len(rest):
                    candidates.append(sql[rest[index + 1][0]:])
                break
    kind = "unknown"
    for candidate in candidates:
        try:
            statements = duckdb.extract_statements(candidate)
        except duckdb.Error:
            continue
        if len(statements) == 1:
            if statements[0].type == duckdb.StatementType.SELECT:
                return candidate, "SELECT"
            kind = statements[0].type.name
    return None, kind


def _select(sql: str) -> str:
    """The SELECT that ``sql`` runs or explains; SqlError for any other statement."""
    statements = _parse(sql)
    if len(statements) != 1:
        raise SqlError(f"give exactly one SQL statement (got {len(statements)})")
    kind = statements[0].type
    if kind not in READ_ONLY:
        raise SqlError(
            f"retail-pipeline sql only reads: a {kind.name} statement is refused (tables change only through "
            "the pipeline; to export a result, use --format csv or json)"
        )
    if kind == duckdb.StatementType.SELECT:
        return sql
    select, explained = _explained(sql)
    if select is None:
        raise SqlError(
            f"retail-pipeline sql only reads: EXPLAIN of a {explained} statement is refused (EXPLAIN ANALYZE "
            "runs the statement it explains); EXPLAIN a SELECT"
        )
    return select


def _base_tables(node: Any, ctes: frozenset[str]) -> set[str]:
    """The registered-table names a parse tree (``json_serialize_sql``) reads, lowercased: table references
    that are not a CTE in scope. DuckDB's scoping, checked on 2.0: a CTE sees the CTEs before it (not itself
    unless recursive), the query and its subqueries see them all, and a qualified name is never a CTE."""
    if isinstance(node, list):
        return set().union(*(_base_tables(item, ctes) for item in node))
    if not isinstance(node, dict):
        return set()
    found: set[str] = set()
    if "cte_map" in node:
        visible = set(ctes)
        for entry in node["cte_map"]["map"]:
            found |= _base_tables(entry["value"], frozenset(visible))
            visible.add(entry["key"].lower())
        ctes = frozenset(visible)
    if node.get("type") == "RECURSIVE_CTE_NODE":
        ctes = ctes | {node["cte_name"].lower()}
    if node.get("type") == "BASE_TABLE":
        name, where = node["table_name"].lower(), (node["catalog_name"].lower(), node["schema_name"].lower())
        if where in REGISTERED and not (where == ("", "") and name in ctes):
            found.add(name)
        return found
    for key, value in node.items():
        if key != "cte_map":
            found |= _base_tables(value, ctes)
    return found


def referenced_tables(sql: str) -> dict[str, str]:
    """The known tables (``SQL_TABLES``) that the SELECT ``sql`` reads as tables: a name in a comment, a
    string literal (``query_table('x')`` included) or a CTE's name is not one."""
    with duckdb.connect(":memory:", config=NO_ACCESS) as probe:
        tree = json.loads(probe.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
    if tree.get("error"):
        raise SqlError(f"cannot tell which tables this query reads: {tree.get('error_message')}")
    names = _base_tables(tree["statements"], frozenset())
    return {name: SQL_TABLES[name] for name in sorted(names) if name in SQL_TABLES}


@dataclass(frozen=True)
class _Source:
    """A table as the query reads it, with what it would load: rows and stored bytes of its current files."""

    data: Any  # a pyarrow dataset or a polars LazyFrame: DuckDB scans either, pushing projections and filters
    rows: int
    bytes: int


def _source(lakehouse: Lakehouse, table: str) -> _Source:
    """``table`` streamed from its files. A local table of plain Parquet files (this pipeline's) is a pyarrow
    dataset over them: DuckDB reads it batch by batch. Not deltalake's own ``to_pyarrow_dataset()``: after a
    partial scan of it (``LIMIT``) the process crashed (SIGSEGV, SIGABRT) or hung at exit here, in most runs.
    Another table (object store, deletion vectors) is a polars scan: the columns and rows a query needs, read
    whole."""
    delta = lakehouse.table(table)
    rows, stored = lakehouse.size(table, delta)
    protocol = delta.protocol()
    plain = (
        not lakehouse.remote
        and set(protocol.reader_features or ()) <= PLAIN_READER_FEATURES
        and set(delta.metadata().partition_columns) <= {MONTH_COLUMN}
    )
    if not plain:
        return _Source(lakehouse.scan(table), rows, stored)
    schema = pa.schema(delta.schema().to_arrow())
    if MONTH_COLUMN in schema.names:  # a partition value, not in the files; the scans hide it too
        schema = schema.remove(schema.get_field_index(MONTH_COLUMN))
    # An explicit schema: files written before a column was added read it as null.
    return _Source(ds.dataset(delta.file_uris(), schema=schema, format="parquet"), rows, stored)


def _check_bounds(sources: dict[str, _Source], settings: Settings) -> None:
    """Refuse before loading anything when the tables together exceed what a query may load."""
    for measure, variable, limit in (
        ("rows", "RETAIL_SQL_MAX_ROWS", settings.sql_max_rows),
        ("bytes", "RETAIL_SQL_MAX_BYTES", settings.sql_max_bytes),
    ):
        sizes = {name: getattr(source, measure) for name, source in sources.items()}
        if sum(sizes.values()) > limit:
            what = ", ".join(f"{name} {size:,} {measure}" for name, size in sizes.items())
            stored = " stored" if measure == "bytes" else ""
            raise SqlError(
                f"this query reads {sum(sizes.values()):,}{stored} {measure} ({what}), more than "
                f"{variable}={limit:,} allows: query fewer or smaller tables, or raise {variable}"
            )


def query(lakehouse: Lakehouse, sql: str, settings: Settings | None = None) -> pl.DataFrame:
    """Run one read-only SQL statement over the lakehouse's tables (``SQL_TABLES`` names) with DuckDB, within
    the ``RETAIL_SQL_*`` limits of ``settings`` (default: their defaults)."""
    settings = settings or Settings()
    tables = referenced_tables(_select(sql))
    sources = {}
    for name, table in tables.items():
        try:
            if lakehouse.exists(table):  # if not, the query's catalog error lists the tables that do exist
                sources[name] = _source(lakehouse, table)
        except Exception as exc:  # a damaged or unreachable table: one line naming it, not a traceback
            raise SqlError(f"cannot read {name} ({lakehouse.uri(table)}): {str(exc).splitlines()[0]}") from exc
    _check_bounds(sources, settings)
    try:
        # No file, network or extension access; no spilling to disk (an in-memory database spills to .tmp
        # under the current directory), so the memory limit bounds the query.
        conn = duckdb.connect(
            ":memory:", config={**NO_ACCESS, "memory_limit": settings.sql_memory_limit, "temp_directory": ""}
        )
    except duckdb.Error as exc:
        raise SqlError(f"DuckDB cannot start with RETAIL_SQL_MEMORY_LIMIT={settings.sql_memory_limit}: {exc}") from exc
    try:
        for name, source in sources.items():
            conn.register(name, source.data)
        conn.execute("SET lock_configuration = true")  # the query cannot undo the settings
        return _run(conn, sql, lakehouse, settings)
    finally:
        conn.close()


def _run(conn: duckdb.DuckDBPyConnection, sql: str, lakehouse: Lakehouse, settings: Settings) -> pl.DataFrame:
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        conn.interrupt()

    timer = threading.Timer(settings.sql_timeout_s, stop)
    timer.daemon = True
    timer.start()
    try:
        return conn.sql(sql).pl()
    except duckdb.InterruptException as exc:
        if timed_out.is_set():
            raise SqlError(
                f"the query ran longer than RETAIL_SQL_TIMEOUT_S={settings.sql_timeout_s:g} s and was stopped: "
                "make it cheaper (fewer rows, a filter, no cross join), or raise RETAIL_SQL_TIMEOUT_S"
            ) from exc
        raise SqlError(str(exc)) from exc
    except duckdb.OutOfMemoryException as exc:
        raise SqlError(
            f"the query needs more memory than RETAIL_SQL_MEMORY_LIMIT={settings.sql_memory_limit} allows "
            f"({str(exc).splitlines()[0]}): make it lighter, or raise RETAIL_SQL_MEMORY_LIMIT"
        ) from exc
    except duckdb.CatalogException as exc:
        known = ", ".join(sorted(n for n, t in SQL_TABLES.items() if lakehouse.exists(t)))
        raise SqlError(f"{exc}\nTables you can query here: {known or 'none yet (run the pipeline first)'}") from exc
    except duckdb.Error as exc:
        raise SqlError(str(exc)) from exc
    finally:
        timer.cancel()
        timer.join()  # a timer already firing has finished with the connection before it closes


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
