"""The erasure register (``bronze/erased_customers``) and where a customer appears: the lakehouse side of
``retail-pipeline forget-customer``.
"""

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.warehouse import warehouse_rows
from retail_pipeline.core import tables
from retail_pipeline.core.contracts import ERASED_CUSTOMERS, ID_COLUMN, conform
from retail_pipeline.core.erasure import DATE_COLUMNS, customer_key, customer_match

REGISTER = tables.ERASED_CUSTOMERS.path


def registered(lakehouse: Lakehouse) -> pl.Series:
    """The customer ids of the erasure register (empty when nobody asked)."""
    if not lakehouse.exists(REGISTER):
        return pl.Series(ID_COLUMN, [], dtype=pl.String)
    return lakehouse.scan(REGISTER).select(ID_COLUMN).unique().collect().to_series().drop_nulls()


def register(lakehouse: Lakehouse, customer_id: str, now: datetime) -> bool:
    """Add the customer to the register; False if they were there already (the first request is kept)."""
    if customer_id in registered(lakehouse).to_list():
        return False
    row = pl.DataFrame({ID_COLUMN: [customer_id], "requested_at": [now]})
    lakehouse.append(REGISTER, conform(row.lazy(), ERASED_CUSTOMERS).collect())
    return True


@dataclass(frozen=True)
class Found:
    """Where one customer appears: rows per table (tables with a customer column only) and business dates."""

    rows: dict[str, int]
    dates: list[date]
    warehouse: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values()) + sum(self.warehouse.values())

    def holding(self) -> list[str]:
        return [t for t, n in self.rows.items() if n] + [f"warehouse {t}" for t, n in self.warehouse.items() if n]


def find_customer(lakehouse: Lakehouse, customer_id: str, warehouse: Path | None) -> Found:
    """Rows of the customer in every table that can hold a customer id (the register aside), the business
    dates they sit in, and their rows in the DuckDB warehouse file."""
    key = customer_key(customer_id)
    rows: dict[str, int] = {}
    dates: set[date] = set()
    for table in tables.catalogue():
        if table == REGISTER or not lakehouse.exists(table):
            continue
        frame = lakehouse.scan(table)
        columns = frame.collect_schema().names()
        match = customer_match(columns, customer_id, key)
        if match is None:
            continue
        day = next((c for c in DATE_COLUMNS if c in columns), None)
        hits = frame.filter(match).select(day or columns[0]).collect()
        rows[table] = hits.height
        if day:
            dates |= set(hits.to_series().drop_nulls().to_list())
    return Found(rows, sorted(dates), warehouse_rows(warehouse, customer_id, key))
