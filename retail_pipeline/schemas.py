"""The names shared by the whole pipeline: the business fields, the header variants of the shop exports, and
how a frame is made to match a table's schema.

Transforms end with ``conform(frame, SCHEMA)``, SCHEMA derived from the table's contract (``contracts.py``),
so a table's columns never drift and empty frames still carry their types.
"""

from __future__ import annotations

import polars as pl

# The eight business fields of a transaction record, named as in DESIGN.md section 5.
BUSINESS_COLUMNS = [
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_ts",
    "unit_price",
    "customer_id",
    "country",
]

# Header variants of the Online Retail exports found in the wild -> our names.
HEADER_VARIANTS: dict[str, dict[str, str]] = {
    "online_retail_i": {
        "InvoiceNo": "invoice_no",
        "StockCode": "stock_code",
        "Description": "description",
        "Quantity": "quantity",
        "InvoiceDate": "invoice_ts",
        "UnitPrice": "unit_price",
        "CustomerID": "customer_id",
        "Country": "country",
    },
    "online_retail_ii": {
        "Invoice": "invoice_no",
        "StockCode": "stock_code",
        "Description": "description",
        "Quantity": "quantity",
        "InvoiceDate": "invoice_ts",
        "Price": "unit_price",
        "Customer ID": "customer_id",
        "Country": "country",
    },
}

# Columns that differ between two runs over the same input by design.
PER_RUN_COLUMNS = ["_ingested_at", "_run_id"]

def conform(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """Select exactly ``schema``'s columns, in its order, cast to its types.

    A missing column is a bug in the transform, not something to paper over with nulls: it raises.
    """
    missing = [name for name in schema.names() if name not in frame.collect_schema().names()]
    if missing:
        raise ValueError(f"transform output lacks columns {missing}")
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def empty(schema: pl.Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)
