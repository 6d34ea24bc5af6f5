"""Paging a table in a stable order: each table's page key, the cursor that resumes after a page, and the
JSON form of a page's rows. Pure: the reads are ``adapters/table_pages.py``'s.

A page is the next ``limit`` rows of one Delta version of a table in its page key's order (nulls first). The
cursor names that version, the key of the page's last row and how many rows with exactly that key were
served (a key that is not unique, or a table with no key a reader may see, still resumes exactly: the ties
of one version are read in the same order each time). So a run that rewrites the table while a client
pages it changes nothing for that client: every row of the version it started on, exactly once.

No personal value is ever part of a key, so a cursor (plain base64 of JSON, readable by anyone who holds it)
carries no customer id: a table keyed by its customers (``gold/dim_customer``) is paged by offset.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import polars as pl

from retail_pipeline.core.preview import PERSONAL_COLUMNS
from retail_pipeline.core.tables import Table

# Lineage columns that identify a landed record: the tie-breaking end of a daily table's key.
RECORD = ("_source_file", "_source_sheet", "_source_row")

# Columns a rows request may filter on by equality, where the table has them (besides its key columns).
FILTER_COLUMNS = ("country", "country_iso2", "stock_code", "invoice_no", "customer_id", "reason_code", "line_type")


class RequestError(ValueError):
    """A rows request this table cannot answer: an unknown column, a filter it has no column for, a value
    that is not of the column's type."""


class CursorError(RequestError):
    """A cursor that cannot be used with this request (malformed, from another table or query)."""


@cache
def page_key(table: Table) -> tuple[str, ...]:
    """The columns a table is paged in: its business date first (a daily table), then its unique key as the
    contract declares it, or the landed record's lineage; never a personal column."""
    schema = table.contract.to_schema()
    names = list(table.schema.names())
    if schema.unique:
        key = list(schema.unique)
    else:
        unique = [name for name, column in schema.columns.items() if column.unique and name not in PERSONAL_COLUMNS]
        key = unique[:1] or [c for c in RECORD if c in names]
    if table.date_column and table.date_column not in key:
        key.insert(0, table.date_column)
    return tuple(c for c in key if c not in PERSONAL_COLUMNS)


@cache
def date_filter_column(table: Table) -> str | None:
    """The column ``from`` and ``to`` filter: a daily table's business date, else the first date column of
    its key (``month`` of a monthly mart, ``date`` of a calendar)."""
    if table.date_column:
        return table.date_column
    schema, contract = table.schema, table.contract.to_schema()
    unique = [name for name, column in contract.columns.items() if column.unique]
    return next((c for c in (*page_key(table), *unique) if schema[c] == pl.Date), None)


@cache
def filter_columns(table: Table) -> tuple[str, ...]:
    """Columns of ``table`` a request may filter on by equality."""
    names = table.schema.names()
    return tuple(dict.fromkeys(c for c in (*page_key(table), *FILTER_COLUMNS) if c in names))


def typed_filter(table: Table, column: str, text: str) -> Any:
    """A filter's text as the column's type (``RequestError`` when it is not one)."""
    if column not in filter_columns(table):
        raise RequestError(
            f"{table.layer}.{table.name} cannot be filtered on {column!r}; it can on: {', '.join(filter_columns(table)) or 'nothing'}"
        )
    dtype = table.schema[column]
    if dtype == pl.String:
        return text
    try:
        if dtype == pl.Date:
            return date.fromisoformat(text)
        if dtype.is_integer():
            return pl.Series([int(text)]).cast(dtype, strict=True)[0]  # out of the type's range: refused
        if dtype == pl.Boolean and text in ("true", "false"):
            return text == "true"
    except (ValueError, OverflowError, pl.exceptions.PolarsError):
        pass
    raise RequestError(f"{column}={text!r} is not a {_kind(dtype)}")


def _kind(dtype: pl.DataType) -> str:
    return "date like 2011-03-01" if dtype == pl.Date else f"whole number that fits {dtype}" if dtype.is_integer() else f"{dtype} value"


def _after(key: tuple[str, ...], values: list[Any]) -> pl.Expr:
    """Rows whose key is at or after ``values`` in the page order (nulls first)."""
    expr = pl.lit(True)
    for column, value in reversed(list(zip(key, values))):
        col = pl.col(column)
        if value is None:
            greater, equal = col.is_not_null(), col.is_null()
        else:
            greater, equal = col > value, col == value
        expr = greater.fill_null(False) | (equal.fill_null(False) & expr)
    return expr


def seek(key: tuple[str, ...], values: list[Any] | None) -> pl.Expr:
    return pl.lit(True) if not values else _after(key, values)


@dataclass(frozen=True)
class Cursor:
    version: int
    values: list[Any]  # the last row's key values (JSON-ready: dates as ISO text)
    ties: int  # rows with exactly that key already served
    query: str  # fingerprint of the table, filters and columns it belongs to

    def encode(self) -> str:
        text = json.dumps({"v": self.version, "k": self.values, "n": self.ties, "q": self.query}, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, query: str) -> Cursor:
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            cursor = cls(int(data["v"]), list(data["k"]), int(data["n"]), str(data["q"]))
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            raise CursorError("the cursor is not one this API gave out: pass next_cursor as it was returned") from exc
        if cursor.query != query:
            raise CursorError("the cursor belongs to another table, filter or column list: page with the same query")
        if cursor.version < 0 or cursor.ties < 0:
            raise CursorError("the cursor is not one this API gave out: pass next_cursor as it was returned")
        return cursor


def fingerprint(table: Table, filters: dict[str, Any], columns: list[str] | None, personal: bool) -> str:
    text = json.dumps([table.path, sorted(filters.items()), columns, personal], default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def key_values(frame: pl.DataFrame, key: tuple[str, ...], row: int) -> list[Any]:
    return [_json_value(frame[c][row]) for c in key]


def _typed(value: Any, dtype: pl.DataType) -> Any:
    if value is None:
        return None
    if dtype == pl.Date and isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(dtype, pl.Datetime) and isinstance(value, str):
        return datetime.fromisoformat(value)
    if dtype == pl.String and isinstance(value, str):
        return value
    if dtype.is_integer() and isinstance(value, int) and not isinstance(value, bool):
        return value
    if dtype.is_float() and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{value!r} is not a {dtype}")


def typed_values(values: list[Any], key: tuple[str, ...], schema: pl.Schema) -> list[Any]:
    """A cursor's key values as the key columns' types; ``CursorError`` for a value that is not one."""
    if len(values) not in (0, len(key)):
        raise CursorError("the cursor belongs to another table: page with the same query")
    try:
        return [_typed(value, schema[column]) for value, column in zip(values, key)]
    except ValueError as exc:
        raise CursorError("the cursor is not one this API gave out: pass next_cursor as it was returned") from exc


def ties_at_end(frame: pl.DataFrame, key: tuple[str, ...]) -> int:
    """Rows at the end of ``frame`` with the same key as its last row."""
    if not key:
        return frame.height
    last = frame.tail(1)
    same = pl.all_horizontal([pl.col(c).eq_missing(last[c][0]) for c in key])
    return int(frame.select(same.sum()).item())


def rows_json(frame: pl.DataFrame) -> str:
    """The rows as a JSON array of objects: dates ``YYYY-MM-DD``, times ISO 8601 (``T``), NaN as null."""
    formats = {}
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            formats[name] = pl.col(name).dt.to_string("%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if dtype.time_zone else ""))
    return frame.with_columns(**formats).write_json() if formats else frame.write_json()
