"""The right to erasure, as rules on rows: which rows hold a customer, and bronze without the customers
of the erasure register (``bronze/erased_customers``) with a count of what was left out
(``bronze/erased_rows``). The command that applies them is ``app/erasure.py``.
"""

import re

import polars as pl

from retail_pipeline.core.contracts import ERASED_ROWS, ID_COLUMN, KEY_COLUMN, RAW_COLUMN, conform
from retail_pipeline.core.parsing import normalise_customer_id
from retail_pipeline.core.transforms.star import surrogate_key

# Where one landing record sits: what bronze/erased_rows counts by.
RECORD_KEYS = ["_partition_date", "_source_file", "_file_sha256"]

# The business-date columns of the tables that can hold a customer: the dates to rebuild.
DATE_COLUMNS = ("_partition_date", "invoice_date")


def normalise_id(text: str | None) -> str:
    """A customer id as silver writes it (``17850.0`` -> ``17850``); ``ValueError`` for an empty or spaced one."""
    raw = (text or "").strip()
    if not raw:
        raise ValueError("give a customer id, such as 17850 (it was empty)")
    if re.search(r"[\s,\"]", raw):
        raise ValueError(f"{text!r} is not a customer id: ids have no spaces, commas or quotes (such as 17850)")
    return pl.select(normalise_customer_id(pl.lit(raw))).item()


def _raw_holds(ids: list[str]) -> pl.Expr:
    """True for a record landed with its raw text (wrong field count) where any field is one of ``ids``: such
    a record's fields cannot be trusted to sit in their columns."""
    return (
        pl.col(RAW_COLUMN)
        .str.split(",")
        .list.eval(normalise_customer_id(pl.element().str.strip_chars(' "')).is_in(ids))
        .list.any()
        .fill_null(False)
    )


def is_erased(ids: pl.Series) -> pl.Expr:
    """True for a bronze-shaped row of one of ``ids``: its ``customer_id`` normalised as silver does (``17850``
    or ``17850.0``; both header variants land in ``customer_id``), or a field of its raw text."""
    if ids.len() == 0:
        return pl.lit(False)
    by_field = normalise_customer_id(pl.col(ID_COLUMN)).is_in(ids.implode()).fill_null(False)
    return by_field | _raw_holds(ids.to_list())


def drop_erased(rows: pl.LazyFrame, ids: pl.Series, run_id: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Bronze rows without the registered customers' records, and what was left out per business date and
    file version (``bronze/erased_rows``)."""
    flagged = rows.with_columns(is_erased(ids).alias("__erased"))
    kept = flagged.filter(~pl.col("__erased")).drop("__erased")
    erased = (
        flagged.filter(pl.col("__erased"))
        .group_by(RECORD_KEYS)
        .agg(
            pl.len().cast(pl.Int64).alias("rows_erased"),
            (pl.col("_last_line") - pl.col("_first_line") + 1).sum().cast(pl.Int64).alias("lines_erased"),
        )
        .with_columns(pl.lit(run_id, pl.String).alias("_run_id"))
        .sort(RECORD_KEYS)
    )
    return kept, conform(erased, ERASED_ROWS)


def customer_match(columns: list[str], customer_id: str, customer_key: int) -> pl.Expr | None:
    """True for a row of a table with ``columns`` that holds the customer; None if no column can hold one."""
    tests = []
    if ID_COLUMN in columns:
        tests.append((normalise_customer_id(pl.col(ID_COLUMN)) == customer_id).fill_null(False))
    if KEY_COLUMN in columns:
        tests.append((pl.col(KEY_COLUMN) == customer_key).fill_null(False))
    if RAW_COLUMN in columns:
        tests.append(_raw_holds([customer_id]))
    return pl.any_horizontal(tests) if tests else None


def customer_key(customer_id: str) -> int:
    """The star schema's surrogate key of the customer (``customer_key`` in fact_sales, dim_customer, RFM)."""
    return pl.select(surrogate_key(pl.lit(customer_id, pl.String))).item()
