"""Column names and types of every lakehouse table, in one place.

Transforms end with ``conform(frame, SCHEMA)`` so a table's columns never drift from what is written here,
and empty frames still carry their types (tables exist with their schema even when empty).
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

LANDED_FILES = pl.Schema(
    {
        "path": pl.String,  # relative to the landing root
        "size_bytes": pl.Int64,
        "mtime": pl.Datetime("us", "UTC"),
        "sha256": pl.String,
        "format": pl.String,
        "extra_columns": pl.List(pl.String),  # header columns beyond the variant's: schema drift
        "rows": pl.Int64,
        "business_dates": pl.List(pl.Date),
        "min_date": pl.Date,
        "max_date": pl.Date,
        "status": pl.String,  # active | duplicate | missing | rejected
        "duplicate_of": pl.String,
        "reason": pl.String,
        "first_seen": pl.Datetime("us", "UTC"),
    }
)

# Reference data: as the source gave it (bronze) and as the transforms use it (silver).
FX_RATES = pl.Schema(
    {
        "rate_date": pl.Date,
        "currency": pl.String,
        "rate_per_eur": pl.Float64,
        "source": pl.String,
        "source_name": pl.String,
        "payload_sha256": pl.String,
    }
)

FX_DAILY = pl.Schema(
    {
        "date": pl.Date,
        "fixing_date": pl.Date,
        "gbp_eur": pl.Float64,
        "gbp_usd": pl.Float64,
        "source": pl.String,
    }
)

COUNTRIES = pl.Schema(
    {
        "alpha_2": pl.String,
        "alpha_3": pl.String,
        "numeric": pl.String,
        "name": pl.String,
        "official_name": pl.String,
        "common_name": pl.String,
        "un_region": pl.String,
        "continent": pl.String,
        "source": pl.String,
        "source_name": pl.String,
    }
)

DIM_COUNTRY = pl.Schema(
    {
        "country_key": pl.String,
        "country_iso2": pl.String,
        "country_iso3": pl.String,
        "country_name": pl.String,
        "region": pl.String,
        "continent": pl.String,
        "match": pl.String,
    }
)


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
